/* SPDX-License-Identifier: GPL-2.0-or-later */
/* archive_vmdk.c: a streamOptimized vmdk read straight from an archive stream (an OVA's disk),
 * without a temporary copy.
 *
 * A streamOptimized extent is a header, the embedded descriptor, then sector-aligned markers:
 * a grain marker (LBA in sectors, compressed size, zlib data) or a metadata marker (size 0,
 * then a type: end of stream, grain table, grain directory, footer, followed by that many
 * sectors). VMware, VirtualBox, qemu-img and dimg write the grains in increasing LBA order, so
 * the guest disk can be produced front to back: zeros up to the next grain, the grain, and so
 * on, skipping the tables. A grain out of order makes reads fail with -ESPIPE; arc_convert then
 * falls back to a temporary copy. Every field is checked before use (grain size, capacity,
 * overhead, marker sizes); buffers are grain-sized (at most 32 MiB).
 * Talks to: archive.c (the reader), img.h (a read-only handle), zlib. Never prints.
 */
#include "core/archive/archive.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "core/base/bytes.h"
#include "core/block/driver.h"
#include "core/base/io.h"

/* On-disk facts of sparse extents (VMware's Virtual Disk Format 5.0). */
#define AV_SECTOR 512u
#define AV_FLAG_COMPRESSED (1u << 16)
#define AV_FLAG_MARKERS (1u << 17)
#define AV_MARKER_EOS 0u
#define AV_GRAIN_MAX_SECTORS 0x10000u /* 32 MiB grains */
#define AV_CAPACITY_MAX (1ull << 42)  /* sectors: 2 PiB, far beyond any real disk */
#define AV_OVERHEAD_MAX (1ull << 21)  /* sectors before the first marker: 1 GiB */
#define AV_META_MAX (1ull << 22)      /* sectors of one metadata block: 2 GiB */

struct av {
    struct arc_reader *r;
    uint8_t head[IMG_PROBE_BYTES];
    size_t headlen;
    uint64_t spos;      /* bytes of the member consumed (head included) */
    uint64_t grain;     /* bytes per grain */
    uint64_t cur_off;   /* guest offset of the decoded grain in buf */
    size_t cur_len;     /* its length (0: none yet) */
    uint64_t next_off;  /* guest offset of the next grain, UINT64_MAX after the end */
    uint32_t next_zlen; /* its compressed size */
    uint64_t last_read; /* reads must not go backwards */
    uint8_t *buf, *zbuf;
    size_t zcap;
    uint8_t skip[64 << 10];
};

/* Read exactly n bytes of the stream (the head first); -EIO when it ends early, except that
 * with eof set, an end before the first byte sets *eof and returns 0. */
static int av_take_eof(struct img *img, struct av *s, void *out, size_t n, bool *eof)
{
    uint8_t *o = out;
    bool first = true;
    while (n) {
        size_t k;
        if (s->spos < s->headlen) {
            k = s->headlen - (size_t)s->spos < n ? s->headlen - (size_t)s->spos : n;
            if (o)
                memcpy(o, s->head + s->spos, k);
        } else {
            size_t want = n;
            uint8_t *dst = o;
            if (!o) {
                want = n < sizeof s->skip ? n : sizeof s->skip;
                dst = s->skip;
            }
            ssize_t got = arc_reader_read(s->r, dst, want, &img->err);
            if (got < 0)
                return (int)got;
            if (got == 0 && eof && first) {
                *eof = true;
                return 0;
            }
            if (got == 0)
                return img_fail(img, -EIO,
                                "%s: streamOptimized vmdk ends inside a grain "
                                "or a table",
                                img->path);
            k = (size_t)got;
        }
        s->spos += k;
        n -= k;
        first = false;
        if (o)
            o += k;
    }
    return 0;
}

static int av_take(struct img *img, struct av *s, void *out, size_t n)
{
    return av_take_eof(img, s, out, n, NULL);
}

/* Advance to the next grain marker (skipping metadata) and note where its grain goes. */
static int av_next(struct img *img, struct av *s)
{
    for (;;) {
        /* Markers start on sector boundaries. */
        uint64_t pad = (AV_SECTOR - s->spos % AV_SECTOR) % AV_SECTOR;
        bool eof = false;
        uint8_t m[16];
        int r = av_take_eof(img, s, NULL, (size_t)pad, &eof);
        if (r == 0 && !eof)
            r = av_take_eof(img, s, m, 12, &eof);
        if (r < 0)
            return r;
        if (eof) {
            /* qemu-img ends its streams after the last grain, without an end marker. */
            s->next_off = UINT64_MAX;
            return 0;
        }
        uint64_t val = le64_load(m);
        uint32_t size = le32_load(m + 8);
        if (size) {
            uint64_t end;
            if (size > s->zcap || val % (s->grain / AV_SECTOR) ||
                __builtin_mul_overflow(val, (uint64_t)AV_SECTOR, &end) || end >= img->size)
                return img_fail(img, -EINVAL,
                                "%s: grain marker (lba %llu, %u bytes) is "
                                "invalid",
                                img->path, (unsigned long long)val, size);
            if (s->cur_len && end < s->cur_off + s->cur_len)
                return img_fail(img, -ESPIPE,
                                "%s: grains are not in disk order; the vmdk "
                                "cannot be streamed",
                                img->path);
            s->next_off = end;
            s->next_zlen = size;
            return 0;
        }
        if ((r = av_take(img, s, m + 12, 4)) < 0)
            return r;
        uint32_t type = le32_load(m + 12);
        if (type == AV_MARKER_EOS) {
            s->next_off = UINT64_MAX;
            return 0;
        }
        if (val > AV_META_MAX)
            return img_fail(img, -EINVAL, "%s: metadata block of %llu sectors", img->path,
                            (unsigned long long)val);
        /* The rest of the marker's sector, then the table itself: not needed for streaming. */
        if ((r = av_take(img, s, NULL, AV_SECTOR - 16)) < 0)
            return r;
        for (uint64_t left = val * AV_SECTOR; left;) {
            size_t k = left < (1u << 20) ? (size_t)left : (1u << 20);
            if ((r = av_take(img, s, NULL, k)) < 0)
                return r;
            left -= k;
        }
    }
}

/* Decode the pending grain into buf. */
static int av_decode(struct img *img, struct av *s)
{
    int r = av_take(img, s, s->zbuf, s->next_zlen);
    if (r < 0)
        return r;
    uint64_t left = img->size - s->next_off;
    size_t want = (size_t)(left < s->grain ? left : s->grain);
    /* The last grain may hold a whole grain's worth or only the part inside the capacity:
     * stop when the output is full or the stream ends. */
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit(&z) != Z_OK)
        return img_fail(img, -ENOMEM, "out of memory");
    z.next_in = s->zbuf;
    z.avail_in = s->next_zlen;
    z.next_out = s->buf;
    z.avail_out = (uInt)want;
    int zr = inflate(&z, Z_FINISH);
    size_t out = want - z.avail_out;
    inflateEnd(&z);
    if (zr != Z_STREAM_END && !(z.avail_out == 0 && (zr == Z_OK || zr == Z_BUF_ERROR)))
        return img_fail(img, -EIO, "%s: grain at %llu does not decompress", img->path,
                        (unsigned long long)s->next_off);
    memset(s->buf + out, 0, want - out);
    s->cur_off = s->next_off;
    s->cur_len = (size_t)want;
    return av_next(img, s);
}

static int av_read(struct img *img, uint64_t off, void *buf, size_t len)
{
    struct av *s = img->priv;
    uint8_t *o = buf;
    if (off < s->last_read && !(s->cur_len && off >= s->cur_off))
        return img_fail(img, -ESPIPE, "%s: a streamed vmdk cannot be read backwards", img->path);
    s->last_read = off;
    while (len) {
        size_t n;
        if (s->cur_len && off >= s->cur_off && off < s->cur_off + s->cur_len) {
            n = (size_t)(s->cur_off + s->cur_len - off);
            n = n < len ? n : len;
            memcpy(o, s->buf + (off - s->cur_off), n);
        } else if (off < s->next_off) {
            uint64_t gap = s->next_off - off;
            n = gap < len ? (size_t)gap : len;
            memset(o, 0, n);
        } else {
            int r = av_decode(img, s);
            if (r < 0)
                return r;
            continue;
        }
        o += n;
        off += n;
        len -= n;
    }
    return 0;
}

/* What the stream says without reading ahead: the decoded grain is data, the gap before the
 * next grain marker is zeros (one run however long: a 2 PiB capacity with one grain is two
 * steps, not 2^35 chunks of zeros), and from the next grain on it is data until read (the
 * caller's zero detection keeps a target sparse there). Never consumes the stream. */
static int av_block_status(struct img *img, uint64_t off, uint64_t len, struct img_bs *bs)
{
    struct av *s = img->priv;
    uint64_t end = off + len;
    bs->host_off = 0;
    if (s->cur_len && off >= s->cur_off && off < s->cur_off + s->cur_len) {
        bs->flags = IMG_BS_DATA | IMG_BS_ALLOCATED;
        end = s->cur_off + s->cur_len;
    } else if (off < s->next_off && off >= s->last_read) {
        bs->flags = IMG_BS_ZERO;
        end = s->next_off;
    } else {
        bs->flags = IMG_BS_DATA | IMG_BS_ALLOCATED;
        if (s->next_off != UINT64_MAX && off >= s->next_off && off - s->next_off < s->grain)
            end = s->next_off + s->grain; /* the next grain only: the gap after it may be zeros */
    }
    bs->len = end - off < len ? end - off : len;
    return 0;
}

static void av_close(struct img *img)
{
    struct av *s = img->priv;
    if (!s)
        return;
    arc_reader_close(s->r);
    free(s->buf);
    free(s->zbuf);
}

static int av_get_info(struct img *img, struct img_info *info)
{
    int r = arc_stream_get_info(img, info);
    info->compressed = true; /* streamOptimized grains */
    return r;
}

static const struct img_driver av_driver = {
    .abi = IMG_DRIVER_ABI,
    .name = "vmdk",
    .desc = "streamOptimized vmdk read from an archive stream",
    .read = av_read,
    .block_status = av_block_status,
    .get_info = av_get_info,
    .close = av_close,
};

bool arc_vmdk_streamable(const uint8_t *h, size_t n)
{
    if (n < 512 || memcmp(h, "KDMV", 4) != 0)
        return false;
    uint32_t flags = le32_load(h + 8);
    return (flags & AV_FLAG_COMPRESSED) && (flags & AV_FLAG_MARKERS) && le16_load(h + 77) == 1;
}

struct img *arc_vmdk_stream_open(struct arc_reader *r, const uint8_t *head, size_t headlen,
                                 const char *name, const char *dir, struct img_err *err)
{
    uint64_t cap = le64_load(head + 12), gs = le64_load(head + 20), over = le64_load(head + 64);
    if (!arc_vmdk_streamable(head, headlen))
        goto bad_hdr;
    if (gs < 1 || gs > AV_GRAIN_MAX_SECTORS || (gs & (gs - 1)) || cap == 0 ||
        cap > AV_CAPACITY_MAX || over < 1 || over > AV_OVERHEAD_MAX) {
        err_set(err, -EINVAL,
                "%s: vmdk header: grain %llu, capacity %llu, overhead %llu "
                "sectors out of range",
                name, (unsigned long long)gs, (unsigned long long)cap, (unsigned long long)over);
        arc_reader_close(r);
        return NULL;
    }
    struct av *s = calloc(1, sizeof *s);
    struct img *img = calloc(1, sizeof *img);
    if (!s || !img)
        goto oom;
    s->r = r;
    memcpy(s->head, head, headlen);
    s->headlen = headlen;
    s->grain = gs * AV_SECTOR;
    s->zcap = (size_t)s->grain + (size_t)s->grain / 1000 + 64 + AV_SECTOR;
    if (!(s->buf = malloc(s->grain)) || !(s->zbuf = malloc(s->zcap)))
        goto oom;
    img->drv = &av_driver;
    img->priv = s;
    img->fd = -1;
    img->flags = IMG_OPEN_UNTRUSTED;
    img->probed = true;
    img->size = cap * AV_SECTOR;
    if (!(img->path = strdup(name)) || !(img->dir = strdup(dir))) {
        img_close(img);
        err_set(err, -ENOMEM, "out of memory");
        return NULL;
    }
    /* Skip the header and descriptor, then find the first grain. */
    if (av_take(img, s, NULL, (size_t)(over * AV_SECTOR)) < 0 || av_next(img, s) < 0) {
        *err = img->err;
        img_close(img);
        return NULL;
    }
    return img;
oom:
    if (s) {
        free(s->buf);
        free(s->zbuf);
    }
    free(s);
    free(img);
    arc_reader_close(r);
    err_set(err, -ENOMEM, "out of memory");
    return NULL;
bad_hdr:
    arc_reader_close(r);
    err_set(err, -ENOTSUP, "%s: not a streamOptimized vmdk", name);
    return NULL;
}

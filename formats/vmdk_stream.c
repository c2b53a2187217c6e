/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vmdk_stream.c: a streamOptimized vmdk read front to back from a source without random
 * access (an archive member being inflated: src_stream.c), with no temporary copy.
 *
 * A streamOptimized extent is a header, the embedded descriptor, then sector-aligned markers:
 * a grain marker (LBA in sectors, compressed size, zlib data) or a metadata marker (size 0,
 * then a type: end of stream, grain table, grain directory, footer, followed by that many
 * sectors). VMware, VirtualBox, qemu-img and dimg write the grains in increasing LBA order, so
 * the disk can be produced front to back: zeros up to the next grain, the grain, and so on,
 * skipping the tables. A grain out of order fails with -ESPIPE (the caller may then copy the
 * member for random access). Every field is checked before use (grain size, capacity,
 * overhead, marker sizes); buffers are grain-sized (at most 32 MiB).
 * Talks to: the handle's byte source (core/block/src.h), zlib; vmdk.c dispatches here when
 * its source has no SRC_CAP_RANDOM.
 */
#include "formats/vmdk.h"

#include "core/base/bytes.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define ULL(x) ((unsigned long long)(x))
#define VS_CAPACITY_MAX (1ull << 42) /* sectors: 2 PiB, far beyond any real disk */
#define VS_OVERHEAD_MAX (1ull << 21) /* sectors before the first marker: 1 GiB */
#define VS_META_MAX (1ull << 22)     /* sectors of one metadata block: 2 GiB */

struct vmdk_stream {
    uint64_t spos;      /* stream offset of the next byte to take */
    uint64_t grain;     /* bytes per grain */
    uint64_t cur_off;   /* guest offset of the decoded grain in buf */
    size_t cur_len;     /* its length (0: none yet) */
    uint64_t next_off;  /* guest offset of the next grain, UINT64_MAX after the end */
    uint32_t next_zlen; /* its compressed size */
    uint64_t last_read; /* reads must not go backwards */
    uint8_t *buf, *zbuf;
    size_t zcap;
};

bool vmdk_stream_head(const uint8_t *h, size_t n)
{
    if (n < VMDK_SECTOR || memcmp(h, VMDK_MAGIC, 4) != 0)
        return false;
    uint32_t flags = le32_load(h + 8);
    return (flags & VMDK_FLAG_COMPRESSED) && (flags & VMDK_FLAG_MARKERS) && le16_load(h + 77) == 1;
}

/* The stream's end: known once a read met it (or declared), and at or before at. */
static bool at_end(struct img *img, uint64_t at)
{
    uint64_t size;
    return src_size(img->src, &size) == 0 && at >= size;
}

/* n bytes at the stream position into out (NULL: skipped); *eof (when given) is set instead
 * of failing when the stream ends exactly here. */
static int take(struct img *img, struct vmdk_stream *v, void *out, size_t n, bool *eof)
{
    if (eof && (*eof = at_end(img, v->spos)))
        return 0;
    int r = 0;
    if (out)
        r = src_pread(img->src, out, n, v->spos);
    else if (n) /* the last byte: the source skips forward to it */
        r = src_pread(img->src, &(uint8_t){0}, 1, v->spos + n - 1);
    if (r < 0) {
        if (eof && at_end(img, v->spos)) {
            *eof = true;
            return 0;
        }
        if (r == -EIO && at_end(img, v->spos + n))
            return img_fail(img, -EIO, "%s: streamOptimized vmdk ends inside a grain or a table",
                            img->path);
        return img_fail(img, r, "%s: %s", img->path, src_errmsg(img->src, r));
    }
    v->spos += n;
    return 0;
}

/* Skip a metadata block of val sectors after its marker's first 16 bytes. */
static int skip_meta(struct img *img, struct vmdk_stream *v, uint64_t val)
{
    if (val > VS_META_MAX)
        return img_fail(img, -EINVAL, "%s: metadata block of %llu sectors", img->path, ULL(val));
    /* The rest of the marker's sector, then the table itself: not needed for streaming. */
    int r = take(img, v, NULL, VMDK_SECTOR - 16, NULL);
    for (uint64_t left = val * VMDK_SECTOR; r == 0 && left;) {
        size_t k = left < (1u << 20) ? (size_t)left : (1u << 20);
        r = take(img, v, NULL, k, NULL);
        left -= k;
    }
    return r;
}

/* Advance to the next grain marker (skipping metadata) and note where its grain goes. */
static int next_grain(struct img *img, struct vmdk_stream *v)
{
    for (;;) {
        /* Markers start on sector boundaries. */
        uint64_t pad = (VMDK_SECTOR - v->spos % VMDK_SECTOR) % VMDK_SECTOR;
        bool eof = false;
        uint8_t m[16];
        int r = take(img, v, NULL, (size_t)pad, &eof);
        if (r == 0 && !eof)
            r = take(img, v, m, 12, &eof);
        if (r < 0)
            return r;
        if (eof) {
            /* qemu-img ends its streams after the last grain, without an end marker. */
            v->next_off = UINT64_MAX;
            return 0;
        }
        uint64_t val = le64_load(m), end;
        uint32_t size = le32_load(m + 8);
        if (size) {
            if (size > v->zcap || val % (v->grain / VMDK_SECTOR) ||
                u64_mul_overflow(val, VMDK_SECTOR, &end) || end >= img->size)
                return img_fail(img, -EINVAL, "%s: grain marker (lba %llu, %u bytes) is invalid",
                                img->path, ULL(val), size);
            if (v->cur_len && end < v->cur_off + v->cur_len)
                return img_fail(img, -ESPIPE,
                                "%s: grains are not in disk order; the vmdk cannot be streamed",
                                img->path);
            v->next_off = end;
            v->next_zlen = size;
            return 0;
        }
        if ((r = take(img, v, m + 12, 4, NULL)) < 0)
            return r;
        if (le32_load(m + 12) == VMDK_MARKER_EOS) {
            v->next_off = UINT64_MAX;
            return 0;
        }
        if ((r = skip_meta(img, v, val)) < 0)
            return r;
    }
}

/* Decode the pending grain into buf, then find the next one. */
static int decode(struct img *img, struct vmdk_stream *v)
{
    int r = take(img, v, v->zbuf, v->next_zlen, NULL);
    if (r < 0)
        return r;
    uint64_t left = img->size - v->next_off;
    size_t want = (size_t)(left < v->grain ? left : v->grain);
    /* The last grain may hold a whole grain's worth or only the part inside the capacity:
     * stop when the output is full or the stream ends. */
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit(&z) != Z_OK)
        return img_fail(img, -ENOMEM, "%s: out of memory", img->path);
    z.next_in = v->zbuf;
    z.avail_in = v->next_zlen;
    z.next_out = v->buf;
    z.avail_out = (uInt)want;
    int zr = inflate(&z, Z_FINISH);
    size_t out = want - z.avail_out;
    inflateEnd(&z);
    if (zr != Z_STREAM_END && !(z.avail_out == 0 && (zr == Z_OK || zr == Z_BUF_ERROR)))
        return img_fail(img, -EIO, "%s: grain at %llu does not decompress", img->path,
                        ULL(v->next_off));
    memset(v->buf + out, 0, want - out);
    v->cur_off = v->next_off;
    v->cur_len = want;
    return next_grain(img, v);
}

int vmdk_stream_read(struct img *img, uint64_t off, void *buf, size_t len)
{
    struct vmdk_stream *v = ((struct vmdk *)img->priv)->sr;
    uint8_t *o = buf;
    if (off < v->last_read && !(v->cur_len && off >= v->cur_off))
        return img_fail(img, -ESPIPE, "%s: a streamed vmdk cannot be read backwards", img->path);
    v->last_read = off;
    while (len) {
        size_t n;
        if (v->cur_len && off >= v->cur_off && off < v->cur_off + v->cur_len) {
            n = (size_t)(v->cur_off + v->cur_len - off);
            n = n < len ? n : len;
            memcpy(o, v->buf + (off - v->cur_off), n);
        } else if (off < v->next_off) {
            uint64_t gap = v->next_off - off;
            n = gap < len ? (size_t)gap : len;
            memset(o, 0, n);
        } else {
            int r = decode(img, v);
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
int vmdk_stream_block_status(struct img *img, uint64_t off, uint64_t len, struct img_bs *bs)
{
    struct vmdk_stream *v = ((struct vmdk *)img->priv)->sr;
    uint64_t end = off + len;
    bs->host_off = 0;
    if (v->cur_len && off >= v->cur_off && off < v->cur_off + v->cur_len) {
        bs->flags = IMG_BS_DATA | IMG_BS_ALLOCATED;
        end = v->cur_off + v->cur_len;
    } else if (off < v->next_off && off >= v->last_read) {
        bs->flags = IMG_BS_ZERO;
        end = v->next_off;
    } else {
        bs->flags = IMG_BS_DATA | IMG_BS_ALLOCATED;
        if (v->next_off != UINT64_MAX && off >= v->next_off && off - v->next_off < v->grain)
            end = v->next_off + v->grain; /* the next grain only: the gap after it may be zeros */
    }
    bs->len = end - off < len ? end - off : len;
    return 0;
}

int vmdk_stream_get_info(struct img *img, struct img_info *info)
{
    memset(info, 0, sizeof *info);
    info->format = img->drv->name;
    info->virtual_size = img->size;
    info->compressed = true; /* streamOptimized grains */
    return 0;
}

void vmdk_stream_close(struct img *img)
{
    struct vmdk_stream *v = ((struct vmdk *)img->priv)->sr;
    if (!v)
        return;
    free(v->buf);
    free(v->zbuf);
    free(v);
}

int vmdk_stream_open(struct img *img)
{
    struct vmdk *s = img->priv;
    uint8_t h[VMDK_SECTOR];
    int r = src_pread(img->src, h, sizeof h, 0);
    if (r < 0)
        return img_fail(img, r, "%s: reading the header: %s", img->path, src_errmsg(img->src, r));
    if (!vmdk_stream_head(h, sizeof h))
        return img_error(img, -ENOTSUP,
                         "only a streamOptimized vmdk can be read as a stream; this one needs "
                         "random access");
    if (img->flags & IMG_OPEN_RW)
        return img_fail(img, -EROFS, "%s: a streamed vmdk is read-only", img->path);
    uint64_t cap = le64_load(h + 12), gs = le64_load(h + 20), over = le64_load(h + 64);
    if (gs < 1 || gs > VMDK_GRAIN_MAX_SECTORS || (gs & (gs - 1)) || cap == 0 ||
        cap > VS_CAPACITY_MAX || over < 1 || over > VS_OVERHEAD_MAX)
        return img_fail(img, -EINVAL,
                        "%s: vmdk header: grain %llu, capacity %llu, overhead %llu sectors out "
                        "of range",
                        img->path, ULL(gs), ULL(cap), ULL(over));
    struct vmdk_stream *v = calloc(1, sizeof *v);
    if (!v)
        return img_fail(img, -ENOMEM, "%s: out of memory", img->path);
    s->sr = v;
    v->grain = gs * VMDK_SECTOR;
    v->zcap = (size_t)v->grain + (size_t)v->grain / 1000 + 64 + VMDK_SECTOR;
    if (!(v->buf = malloc(v->grain)) || !(v->zbuf = malloc(v->zcap)))
        return img_fail(img, -ENOMEM, "%s: out of memory", img->path);
    img->size = cap * VMDK_SECTOR;
    /* Skip the header and descriptor, then find the first grain. */
    if ((r = take(img, v, NULL, (size_t)(over * VMDK_SECTOR), NULL)) < 0)
        return r;
    return next_grain(img, v);
}

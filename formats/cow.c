/* SPDX-License-Identifier: GPL-2.0-or-later */
/* cow.c: the legacy QEMU "cow" format driver (removed from QEMU in 2.2; dimg keeps it): probe,
 * open (the x86-64 header layout, or the i386 one when only its sectorsize field says 512),
 * reads and block status from the sector bitmap, writes (data, fsync, then bitmap bits),
 * write_zeroes (data punched, then bits cleared, or set over a backing file), create
 * (header, zeroed bitmap, backing name and its mtime), grow (in place within the bitmap's
 * slack, else by rewriting the image next to itself), layout.
 *
 * Layout (FORMATS.md §3): header (1056 bytes on x86-64, 1048 on i386), then one bit per
 * 512-byte sector (LSB first; 1 = the sector lives in this file), then the data area at the
 * next 512-byte boundary, sector n at data_off + n * 512 (sparse). The bitmap can be large
 * (1 bit per sector), so it is read through a small window, never held whole.
 * The image's bytes go only through its byte source (core/block/src.h): a cow on a block
 * device or an NBD export reads and writes as one in a file, except a grow past the bitmap's
 * slack, which rewrites the image as a new file and so needs one.
 * Talks to: core/block/src.h, core/block/rewrite.c (grow's new file), core/block/img.c
 * (img_read_backing, img_rewrite_begin/commit).
 */
#include "core/base/bytes.h"
#include "core/base/io.h"
#include "formats/drivers.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define COW_MAGIC 0x4f4f4f4du
#define COW_VERSION 2u
#define COW_NAME_LEN 1024u
#define COW_HDR64 1056u           /* x86-64 struct size: size at 1040, sectorsize at 1048 */
#define COW_HDR32 1048u           /* i386 struct size: size at 1036, sectorsize at 1044 */
#define COW_MAX_SIZE (1ull << 50) /* 1 PiB: the bitmap stays <= 256 GiB */
#define COW_WIN 4096u             /* bitmap window: 32768 sectors (16 MiB of guest data) */
#define ULL(x) ((unsigned long long)(x))

struct cow {
    uint64_t hsize;    /* where the bitmap starts (the header size for QEMU's layout) */
    uint64_t hdr_len;  /* the header proper (UML v3 pads it to the alignment) */
    uint64_t bm_limit; /* bitmap bytes before the data area: bits past them read as clear */
    unsigned uml;      /* UML COW version (1..3), 0 for QEMU's cow */
    uint32_t mtime, align;
    uint64_t size_field; /* offset of the size field (for grow) */
    uint64_t sectors;
    uint64_t bm_len; /* bitmap bytes */
    uint64_t data_off;
    uint64_t win_off; /* bitmap byte index of the window; UINT64_MAX = empty */
    uint8_t win[COW_WIN];
};

static struct cow *cow_st(struct img *img)
{
    return img->priv;
}

static uint64_t cow_data_off(uint64_t hsize, uint64_t sectors)
{
    return u64_align_up(hsize + u64_div_round_up(sectors, 8), 512);
}

/* QEMU's cow and UML's version 2 share magic and version; QEMU's has sectorsize 512 at 1048
 * (x86-64) or 1044 (i386), where UML's has the middle of its 4096-byte backing file name. */
static bool cow_qemu_layout(const uint8_t *buf, size_t len)
{
    return len >= COW_HDR64 && (be32_load(buf + 1048) == 512 || be32_load(buf + 1044) == 512);
}

static int cow_probe(const uint8_t *buf, size_t len)
{
    if (len < 8 || be32_load(buf) != COW_MAGIC || be32_load(buf + 4) != COW_VERSION)
        return 0;
    /* A damaged QEMU header still goes here (for a clear message), unless UML's claims it. */
    return cow_qemu_layout(buf, len) ? 100 : 50;
}

/* The file's size and its first n bytes (zeros past its end). */
static int cow_read_head(struct img *img, uint8_t *h, size_t n, uint64_t *fsize)
{
    int r = src_size(img->src, fsize);
    if (r == 0)
        r = src_pread_zero(img->src, h, n, 0);
    return r < 0 ? img_error(img, r, "reading the header: %s", src_errmsg(img->src, r)) : 0;
}

static int cow_open(struct img *img, unsigned flags)
{
    struct cow *s = cow_st(img);
    uint8_t h[COW_HDR64];
    uint64_t fsize;
    int r = cow_read_head(img, h, sizeof h, &fsize);
    if (r < 0)
        return r;
    if (fsize < 8 || be32_load(h) != COW_MAGIC)
        return img_error(img, -EINVAL, "magic: not a cow image");
    if (be32_load(h + 4) != COW_VERSION)
        return img_error(img, -EINVAL, "version %u is not 2", be32_load(h + 4));
    /* The header is a C struct with host alignment: x86-64 pads before the u64 size. */
    if (be32_load(h + 1048) == 512) {
        s->hsize = COW_HDR64;
        s->size_field = 1040;
    } else if (be32_load(h + 1044) == 512) {
        s->hsize = COW_HDR32;
        s->size_field = 1036;
    } else {
        return img_error(img, -EINVAL, "sectorsize %u is not 512", be32_load(h + 1048));
    }
    if (fsize < s->hsize)
        return img_error(img, -EINVAL, "header: file is shorter than %llu bytes", ULL(s->hsize));
    uint64_t size = be64_load(h + s->size_field);
    if (size > COW_MAX_SIZE)
        return img_error(img, -EFBIG, "size %llu is too large (limit %llu)", ULL(size),
                         ULL(COW_MAX_SIZE));
    if (!memchr(h + 8, 0, COW_NAME_LEN))
        return img_error(img, -EINVAL,
                         "backing file name is not NUL-terminated within "
                         "%u bytes",
                         COW_NAME_LEN);
    s->sectors = size / 512; /* like QEMU: a partial last sector is not part of the disk */
    s->bm_len = u64_div_round_up(s->sectors, 8);
    s->data_off = cow_data_off(s->hsize, s->sectors);
    s->hdr_len = s->hsize;
    s->bm_limit = UINT64_MAX;
    s->win_off = UINT64_MAX;
    if (h[8] && !(img->backing_name = strdup((const char *)h + 8)))
        return img_error(img, -ENOMEM, "out of memory");
    img->size = s->sectors * 512;
    return 0;
}

/* ---- bitmap ---- */

/* Bitmap byte i through the window; past the end of the file the bitmap reads as zeros. */
static int cow_bm_byte(struct img *img, uint64_t i, uint8_t *out)
{
    struct cow *s = cow_st(img);
    if (s->win_off == UINT64_MAX || i < s->win_off || i >= s->win_off + COW_WIN) {
        uint64_t w = i / COW_WIN * COW_WIN;
        s->win_off = UINT64_MAX;
        int r = src_pread_zero(img->src, s->win, COW_WIN, s->hsize + w);
        if (r < 0)
            return img_fail(img, r, "cow: reading the bitmap: %s", src_errmsg(img->src, r));
        if (w + COW_WIN > s->bm_limit) /* UML v1/v2: the last bits may fall in the data area */
            memset(s->win + (s->bm_limit > w ? s->bm_limit - w : 0), 0,
                   COW_WIN - (s->bm_limit > w ? s->bm_limit - w : 0));
        s->win_off = w;
    }
    *out = s->win[i - s->win_off];
    return 0;
}

/* Bitmap bytes from i on lie past the end of the file, so they all read as zeros. */
static bool cow_bm_past_eof(struct img *img, uint64_t i)
{
    uint64_t size;
    return src_size(img->src, &size) == 0 && cow_st(img)->hsize + i >= size;
}

/* State of sector n and how many sectors from n (at most max) share it. */
static int cow_run(struct img *img, uint64_t n, uint64_t max, bool *set, uint64_t *run)
{
    uint8_t b;
    int r = cow_bm_byte(img, n / 8, &b);
    if (r < 0)
        return r;
    *set = (b >> (n % 8)) & 1;
    uint64_t k = 0;
    while (k < max) {
        uint64_t sec = n + k;
        if (sec % 8 == 0 && max - k >= 8) {
            struct cow *s = cow_st(img);
            /* A clear run reaching the end of the file goes on to max: a sparse terabyte
             * image must not cost a scan of gigabytes of zeros read window by window. */
            if (!*set && (s->win_off == UINT64_MAX || sec / 8 >= s->win_off + COW_WIN) &&
                cow_bm_past_eof(img, sec / 8)) {
                k = max;
                break;
            }
            /* Whole bytes at a time, straight from the window, while all-set or all-clear. */
            if ((r = cow_bm_byte(img, sec / 8, &b)) < 0)
                return r;
            uint8_t fill = *set ? 0xff : 0x00;
            uint64_t i = sec / 8 - s->win_off, k0 = k;
            while (i < COW_WIN && max - k >= 8 && s->win[i] == fill) {
                i++;
                k += 8;
            }
            if (k != k0)
                continue;
        } else if ((r = cow_bm_byte(img, sec / 8, &b)) < 0) {
            return r;
        }
        if (((b >> (sec % 8)) & 1) != *set)
            break;
        k++;
    }
    *run = k;
    return 0;
}

/* Set (on) or clear the bits of sectors [n, n + cnt) in the bitmap at hsize of src. */
static int cow_bm_put(struct img_src *src, uint64_t hsize, uint64_t n, uint64_t cnt, bool on)
{
    uint8_t buf[COW_WIN];
    while (cnt > 0) {
        uint64_t first = n / 8, last = (n + cnt - 1) / 8;
        if (last - first >= COW_WIN)
            last = first + COW_WIN - 1;
        size_t nb = (size_t)(last - first + 1);
        int r = src_pread_zero(src, buf, nb, hsize + first);
        uint64_t done = 0;
        for (uint64_t sec = n; r == 0 && sec < n + cnt && sec / 8 <= last; sec++, done++) {
            uint8_t bit = (uint8_t)(1u << (sec % 8));
            buf[sec / 8 - first] = on ? buf[sec / 8 - first] | bit : buf[sec / 8 - first] & ~bit;
        }
        if (r == 0)
            r = src_pwrite(src, buf, nb, hsize + first);
        if (r < 0)
            return r;
        n += done;
        cnt -= done;
    }
    return 0;
}

/* Set the bits of sectors [n, n + cnt). */
static int cow_bm_set(struct img *img, uint64_t n, uint64_t cnt)
{
    struct cow *s = cow_st(img);
    int r = cow_bm_put(img->src, s->hsize, n, cnt, true);
    s->win_off = UINT64_MAX;
    return r < 0 ? img_fail(img, r, "cow: writing the bitmap: %s", src_errmsg(img->src, r)) : 0;
}

static int cow_flush(struct img *img)
{
    int r = src_flush(img->src);
    return r < 0 ? img_fail(img, r, "cow: flush: %s", src_errmsg(img->src, r)) : 0;
}

/* ---- read ---- */

static int cow_read(struct img *img, uint64_t off, void *buf, size_t len)
{
    struct cow *s = cow_st(img);
    uint8_t *p = buf;
    while (len > 0) {
        uint64_t n = off / 512, end = u64_div_round_up(off + len, 512), run;
        bool set;
        int r = cow_run(img, n, end - n, &set, &run);
        if (r < 0)
            return r;
        uint64_t stop = (n + run) * 512;
        size_t k = stop - off < len ? (size_t)(stop - off) : len;
        if (set) {
            r = src_pread_zero(img->src, p, k, s->data_off + off);
            if (r < 0)
                r = img_fail(img, r, "cow: read at %llu: %s", ULL(off), src_errmsg(img->src, r));
        } else {
            r = img_read_backing(img, off, p, k);
        }
        if (r < 0)
            return r;
        p += k;
        off += k;
        len -= k;
    }
    return 0;
}

static int cow_block_status(struct img *img, uint64_t off, uint64_t len, struct img_bs *bs)
{
    struct cow *s = cow_st(img);
    uint64_t n = off / 512, end = u64_div_round_up(off + len, 512), run;
    bool set;
    int r = cow_run(img, n, end - n, &set, &run);
    if (r < 0)
        return r;
    uint64_t l = (n + run) * 512 - off;
    bs->len = l < len ? l : len;
    bs->flags = set ? IMG_BS_DATA | IMG_BS_ALLOCATED | IMG_BS_OFFSET_VALID : 0;
    bs->host_off = set ? s->data_off + off : 0;
    return 0;
}

/* ---- write ---- */

/* Read-modify-write of a partial sector: its current content (this file, backing or zeros)
 * with [in, in + k) replaced. */
static int cow_write_partial(struct img *img, uint64_t sec, size_t in, const uint8_t *p, size_t k)
{
    struct cow *s = cow_st(img);
    uint8_t b[512];
    int r = cow_read(img, sec * 512, b, 512);
    if (r < 0)
        return r;
    memcpy(b + in, p, k);
    r = src_pwrite(img->src, b, 512, s->data_off + sec * 512);
    return r < 0 ? img_fail(img, r, "cow: write: %s", src_errmsg(img->src, r)) : 0;
}

static int cow_write(struct img *img, uint64_t off, const void *buf, size_t len)
{
    struct cow *s = cow_st(img);
    const uint8_t *p = buf;
    uint64_t n0 = off / 512, n1 = u64_div_round_up(off + len, 512);
    int r = 0;
    /* Data first: the head and tail sectors merged with their old content. */
    size_t head = off % 512;
    if (head || len < 512) {
        size_t k = 512 - head < len ? 512 - head : len;
        if ((r = cow_write_partial(img, n0, head, p, k)) < 0)
            return r;
        p += k;
        off += k;
        len -= k;
    }
    size_t mid = len / 512 * 512;
    if (mid && (r = src_pwrite(img->src, p, mid, s->data_off + off)) < 0)
        return img_fail(img, r, "cow: write at %llu: %s", ULL(off), src_errmsg(img->src, r));
    p += mid;
    off += mid;
    len -= mid;
    if (len && (r = cow_write_partial(img, off / 512, 0, p, len)) < 0)
        return r;
    /* Then the bitmap, once the data is on disk. */
    uint64_t run;
    bool set;
    if ((r = cow_run(img, n0, n1 - n0, &set, &run)) < 0)
        return r;
    if (set && run == n1 - n0)
        return 0; /* every sector already present: nothing to record */
    if ((r = cow_flush(img)) < 0)
        return r;
    return cow_bm_set(img, n0, n1 - n0);
}

/* ---- write zeroes ---- */

static bool cow_has_backing(const struct img *img)
{
    return img->backing_name && img->backing_name[0];
}

/* Zeros in part of sectors, one sector at a time: real zeros through cow_write, except where
 * there is no backing file and the sector is absent (it reads as zeros already). */
static int cow_zero_part(struct img *img, uint64_t off, uint64_t len)
{
    static const uint8_t zero[512];
    while (len > 0) {
        uint64_t k = 512 - off % 512 < len ? 512 - off % 512 : len, run;
        bool set = true;
        int r = cow_has_backing(img) ? 0 : cow_run(img, off / 512, 1, &set, &run);
        if (r == 0 && set)
            r = cow_write(img, off, zero, (size_t)k);
        if (r < 0)
            return r;
        off += k;
        len -= k;
    }
    return 0;
}

/* Whole sectors [n0, n1) read as zeros. Under a backing file their data is zeroed (punched
 * where the source can), flushed, then their bits are set, so that the zeros hide the backing
 * file. Without one a clear bit reads as zeros: the bits are cleared and flushed first, then
 * the data is discarded, which only gives the space back. Partial sectors at either end get
 * real zeros. */
static int cow_write_zeroes(struct img *img, uint64_t off, uint64_t len)
{
    struct cow *s = cow_st(img);
    bool backing = cow_has_backing(img);
    uint64_t end = off + len, n0 = u64_div_round_up(off, 512), n1 = end / 512;
    if (end == img->size)
        n1 = u64_div_round_up(end, 512); /* a partial last sector counts as whole */
    int r = 0;
    if (n0 >= n1) /* within two sectors, none of them whole */
        return cow_zero_part(img, off, len);
    if (off < n0 * 512 && (r = cow_zero_part(img, off, n0 * 512 - off)) < 0)
        return r;
    if (end > n1 * 512 && (r = cow_zero_part(img, n1 * 512, end - n1 * 512)) < 0)
        return r;
    uint64_t host = s->data_off + n0 * 512, hlen = (n1 - n0) * 512;
    if (backing && (r = src_zero(img->src, host, hlen, SRC_ZERO_MAY_PUNCH)) < 0)
        return img_fail(img, r, "cow: write at %llu: %s", ULL(off), src_errmsg(img->src, r));
    if (backing && (r = cow_flush(img)) < 0)
        return r;
    r = cow_bm_put(img->src, s->hsize, n0, n1 - n0, backing);
    s->win_off = UINT64_MAX;
    if (r < 0)
        return img_fail(img, r, "cow: writing the bitmap: %s", src_errmsg(img->src, r));
    if (!backing && (r = cow_flush(img)) == 0)
        (void)src_discard(img->src, host, hlen); /* a hint: the sectors read as zeros now */
    return r;
}

/* ---- create, grow ---- */

static int cow_create(struct img_create_ctx *c, const struct img_create_req *req,
                      struct img_err *err)
{
    const char *path = img_create_path(c);
    int r = img_opts_check_all_taken(req->opts, "cow", err);
    if (r < 0)
        return r;
    if (req->size > COW_MAX_SIZE)
        return img_drv_error(&img_driver_cow, err, -EFBIG, "size %llu is too large (limit %llu)",
                             ULL(req->size), ULL(COW_MAX_SIZE));
    uint64_t size = u64_align_up(req->size, 512);
    const char *bf = req->backing_file;
    if (bf && strlen(bf) >= COW_NAME_LEN)
        return img_drv_error(&img_driver_cow, err, -EINVAL,
                             "backing file name longer than %u bytes", COW_NAME_LEN - 1);
    uint8_t h[COW_HDR64];
    memset(h, 0, sizeof h);
    be32_store(h, COW_MAGIC);
    be32_store(h + 4, COW_VERSION);
    if (bf && *bf) {
        memcpy(h + 8, bf, strlen(bf));
        /* The backing file's mtime, as QEMU recorded it (never checked on open). */
        char *dir = io_dirname(path), *full = dir ? io_path_join(dir, bf) : NULL;
        struct stat st;
        if (full && stat(full, &st) == 0)
            be32_store(h + 1032, (uint32_t)st.st_mtime);
        free(dir);
        free(full);
    }
    be64_store(h + 1040, size);
    be32_store(h + 1048, 512);
    struct img_src *s;
    if ((r = img_create_src(c, &s)) < 0)
        return r;
    r = src_pwrite(s, h, sizeof h, 0);
    /* The bitmap is all zeros: a sparse extension of the file, as QEMU's truncate did. On a
     * device the stale bytes there would be read as bits: they are zeroed. */
    uint64_t end = COW_HDR64 + u64_div_round_up(size / 512, 8);
    if (r == 0)
        r = img_create_truncate(s, end);
    if (r == 0 && !(src_caps(s) & SRC_CAP_TRUNCATE))
        r = src_zero(s, COW_HDR64, end - COW_HDR64, 0);
    if (r < 0)
        return img_drv_error(&img_driver_cow, err, r, "writing %s: %s", path, src_errmsg(s, r));
    return 0;
}

/* Sectors of the backing file (rounded up), or 0 without one. resize opens no chain, so the
 * image is opened again read-only with its chain: the core's rules for following backing
 * names apply (--untrusted, protocols, non-regular files, loops). */
static int cow_backing_sectors(struct img *img, uint64_t *sectors)
{
    *sectors = 0;
    if (img->backing) {
        *sectors = u64_div_round_up(img->backing->size, 512);
        return 0;
    }
    if (!img->backing_name || !img->backing_name[0])
        return 0;
    struct img_err err = {0};
    struct img *self = img_open(img->path, img->drv->name,
                                IMG_OPEN_BACKING | (img->flags & IMG_OPEN_UNTRUSTED), &err);
    if (!self)
        return img_error(img, err.code ? err.code : -EIO,
                         "growing needs the length of "
                         "the backing file, which could not be opened: %s",
                         err.msg);
    *sectors = u64_div_round_up(self->backing->size, 512);
    img_close(self);
    return 0;
}

/* Copy the sectors present in the old image to their place in the new data area (zero chunks
 * stay holes in the new, sparse file). */
static int cow_copy_data(struct img *img, struct img_src *dst, uint64_t new_data_off)
{
    struct cow *s = cow_st(img);
    enum { CHUNK = 1 << 16 };
    static const uint8_t zero[CHUNK];
    uint8_t *buf = malloc(CHUNK);
    if (!buf)
        return -ENOMEM;
    int r = 0;
    for (uint64_t sec = 0; r == 0 && sec < s->sectors;) {
        uint64_t run;
        bool set;
        if ((r = cow_run(img, sec, s->sectors - sec, &set, &run)) < 0)
            break;
        for (uint64_t off = sec * 512, end = (sec + run) * 512; set && r == 0 && off < end;) {
            size_t n = end - off < CHUNK ? (size_t)(end - off) : CHUNK;
            r = src_pread_zero(img->src, buf, n, s->data_off + off);
            if (r == 0 && memcmp(buf, zero, n) != 0)
                r = src_pwrite(dst, buf, n, new_data_off + off);
            off += n;
        }
        sec += run;
    }
    free(buf);
    return r;
}

/* The grown image's bytes into dst: the header with the new size, the old bitmap (all-zero
 * windows left as holes), the bits past the old end, the present sectors at their new
 * offsets; at least header and bitmap long, as create makes it. */
static int cow_grow_write(struct img *img, struct img_src *dst, uint64_t sectors, uint64_t zero_to)
{
    struct cow *s = cow_st(img);
    static const uint8_t zero[COW_WIN];
    uint8_t h[COW_HDR64], win[COW_WIN];
    int r = src_pread_zero(img->src, h, s->hsize, 0);
    if (r == 0) {
        be64_store(h + s->size_field, sectors * 512);
        r = src_pwrite(dst, h, s->hsize, 0);
    }
    for (uint64_t i = 0; r == 0 && i < s->bm_len; i += COW_WIN) {
        size_t n = s->bm_len - i < COW_WIN ? (size_t)(s->bm_len - i) : COW_WIN;
        r = src_pread_zero(img->src, win, n, s->hsize + i);
        if (r == 0 && memcmp(win, zero, n) != 0)
            r = src_pwrite(dst, win, n, s->hsize + i);
    }
    /* Bits past the old end: clear (a hostile file may have set some in its last byte), then
     * set where a longer backing file must be hidden (the sparse data area reads zeros). */
    if (r == 0 && s->sectors % 8)
        r = cow_bm_put(dst, s->hsize, s->sectors, 8 - s->sectors % 8, false);
    if (r == 0 && zero_to > s->sectors)
        r = cow_bm_put(dst, s->hsize, s->sectors, zero_to - s->sectors, true);
    if (r == 0)
        r = cow_copy_data(img, dst, cow_data_off(s->hsize, sectors));
    uint64_t fsize, min = s->hsize + u64_div_round_up(sectors, 8);
    if (r == 0 && (r = src_size(dst, &fsize)) == 0 && fsize < min)
        r = src_truncate(dst, min);
    return r;
}

/* Grow past the bitmap's slack. The data area starts right after the bitmap, so a longer
 * bitmap moves every data sector, and the header's size alone decides where the data area is:
 * no single write can switch from the old positions to the new ones, and the two overlap, so
 * no in-place order keeps the image valid while its data moves. Instead the grown image is
 * written whole to NAME.part next to the original (cow_grow_write), synced and renamed over
 * the original, keeping its mode (and owner, where allowed). A crash leaves the original as it
 * was. The handle's source then follows the new file. Hard links to the old file keep the old
 * one. Only a regular file can be replaced so (cow_truncate refuses the others). */
static int cow_grow_copy(struct img *img, uint64_t sectors, uint64_t zero_to)
{
    struct cow *s = cow_st(img);
    struct img_rewrite *rw;
    struct img_src *dst;
    int r = img_rewrite_begin(img, &rw, &dst);
    if (r < 0)
        return r;
    if ((r = cow_grow_write(img, dst, sectors, zero_to)) < 0) {
        img_rewrite_abort(rw);
        return img_error(img, r, "writing the grown image: %s", strerror(-r));
    }
    if ((r = img_rewrite_commit(img, rw)) < 0)
        return r;
    s->data_off = cow_data_off(s->hsize, sectors);
    return 0;
}

/* Grow within the bitmap's slack, in place: the new sectors' bits, then the size field. */
static int cow_grow_in_place(struct img *img, uint64_t sectors, uint64_t zero_to)
{
    struct cow *s = cow_st(img);
    /* Stale data past the old end would show through bits set below: cut it off (zero it
     * where the source has a fixed size). */
    uint64_t fsize, end = s->data_off + s->sectors * 512, nend = s->data_off + sectors * 512;
    int r = src_size(img->src, &fsize);
    if (r == 0 && fsize > end)
        r = (src_caps(img->src) & SRC_CAP_TRUNCATE)
                ? src_truncate(img->src, end)
                : src_zero(img->src, end, (fsize < nend ? fsize : nend) - end, SRC_ZERO_MAY_PUNCH);
    if (r == 0 && sectors > s->sectors)
        r = cow_bm_put(img->src, s->hsize, s->sectors, sectors - s->sectors, false);
    if (r == 0 && zero_to > s->sectors)
        r = cow_bm_put(img->src, s->hsize, s->sectors, zero_to - s->sectors, true);
    s->win_off = UINT64_MAX;
    uint8_t f[8];
    be64_store(f, sectors * 512);
    if (r == 0)
        r = src_flush(img->src);
    if (r == 0)
        r = src_pwrite(img->src, f, 8, s->size_field);
    if (r == 0)
        r = src_flush(img->src);
    return r < 0 ? img_error(img, r, "growing: %s", src_errmsg(img->src, r)) : 0;
}

/* Grow (shrinking is not supported). The new sectors must read as zeros: their bits are cleared
 * (a hostile file could have set them), except where a longer backing file would show
 * through, where they are set over a data area that reads zeros. Within the bitmap's slack
 * that happens in place and the size field is written last; past it, see cow_grow_copy. */
static int cow_truncate(struct img *img, uint64_t size, enum img_prealloc prealloc)
{
    struct cow *s = cow_st(img);
    if (prealloc != IMG_PREALLOC_OFF)
        return img_error(img, -ENOTSUP, "preallocation is not supported");
    if (size < img->size)
        return img_error(img, -ENOTSUP, "shrinking is not supported");
    if (size % 512)
        return img_error(img, -EINVAL, "size must be a multiple of 512 bytes");
    if (size > COW_MAX_SIZE)
        return img_error(img, -EFBIG, "size %llu is too large", ULL(size));
    uint64_t sectors = size / 512, bsec;
    bool move = cow_data_off(s->hsize, sectors) != s->data_off;
    if (move && src_kind(img->src) != SRC_FILE)
        return img_error(img, -ENOTSUP,
                         "growing past %llu bytes moves the data area, which rewrites the image "
                         "as a new file: not possible on a block device or an NBD export",
                         ULL((s->data_off - s->hsize) * 8 * 512));
    int r = cow_backing_sectors(img, &bsec);
    if (r < 0)
        return r;
    uint64_t zero_to = bsec < sectors ? bsec : sectors;
    r = move ? cow_grow_copy(img, sectors, zero_to) : cow_grow_in_place(img, sectors, zero_to);
    if (r < 0)
        return r;
    s->win_off = UINT64_MAX;
    s->sectors = sectors;
    s->bm_len = u64_div_round_up(sectors, 8);
    img->size = size;
    return 0;
}

/* ---- layout ---- */

static int cow_layout(struct img *img, struct img_region **out, size_t *n)
{
    struct cow *s = cow_st(img);
    size_t cap = 16, cnt = 0;
    struct img_region *v = malloc(cap * sizeof *v);
    if (!v)
        return img_fail(img, -ENOMEM, "cow: out of memory");
    v[cnt++] = (struct img_region){0, s->hdr_len, IMG_R_HEADER};
    uint64_t bm = s->bm_len < s->bm_limit ? s->bm_len : s->bm_limit;
    if (bm)
        v[cnt++] = (struct img_region){s->hsize, bm, IMG_R_BITMAP};
    for (uint64_t sec = 0; sec < s->sectors;) {
        uint64_t run;
        bool set;
        int r = cow_run(img, sec, s->sectors - sec, &set, &run);
        if (r < 0) {
            free(v);
            return r;
        }
        if (set) {
            if (cnt == cap) {
                struct img_region *nv = realloc(v, 2 * cap * sizeof *v);
                if (!nv) {
                    free(v);
                    return img_fail(img, -ENOMEM, "cow: out of memory");
                }
                v = nv;
                cap *= 2;
            }
            v[cnt++] = (struct img_region){s->data_off + sec * 512, run * 512, IMG_R_DATA};
        }
        sec += run;
    }
    *out = v;
    *n = cnt;
    return 0;
}

/* ---- User-Mode-Linux COW (driver "ucow") ----
 *
 * The original COW files of UML's ubd driver (facts from Linux arch/um/drivers/cow_user.c),
 * read and written with the same bitmap and data code as QEMU's cow. Magic 0x4f4f4f4d; the
 * header is packed:
 *   v1: host byte order (taken from the magic's), backing name 256 bytes at 8, mtime u32 at
 *       264, size u64 at 268, sectorsize at 276; 280 bytes.
 *   v2: big-endian, backing name 4096 bytes at 8, mtime at 4104, size at 4108, sectorsize at
 *       4116; 4120 bytes.
 *   v3: big-endian, mtime at 8, size u64 at 12, sectorsize 20, alignment 24, cow_format 28,
 *       backing name 4096 bytes at 32; 4128 bytes. 64-bit builds before 2006 padded mtime to
 *       8 bytes (size at 16 ... backing name at 36, 4136 bytes); their cow_format then sits
 *       where the packed layout's name starts, which is how UML tells them apart (4 zero
 *       bytes there).
 * The bitmap follows the header (v3: at the header rounded up to alignment), one bit per
 * sector, LSB first; then the data area at the bitmap's end rounded up to sectorsize (v1, v2)
 * or alignment (v3), sector n at data_off + n * 512. v1/v2 compute the bitmap's length one
 * byte short for a partial last byte (UML's "rounding bug"): those bits are read where they
 * fall if that is still before the data area, else as clear, and such an image opens
 * read-only. The backing file is a raw image named by its absolute path; its mtime and size
 * are recorded, not checked. */

#define UCOW_HDR_MAX 4136u
#define UCOW_NAME_V1 256u
#define UCOW_NAME 4096u
#define UCOW_MAX_ALIGN (1u << 20)

static uint32_t ucow_u32(const uint8_t *p, bool be)
{
    return be ? be32_load(p) : le32_load(p);
}

/* Where UML's fields are for a header of version v (broken: the padded v3). */
struct ucow_fields {
    unsigned name, name_len, mtime, size, ss, align, fmt, hdr;
};

static bool ucow_fields(unsigned v, const uint8_t *h, struct ucow_fields *f)
{
    static const struct ucow_fields v1 = {8, UCOW_NAME_V1, 264, 268, 276, 0, 0, 280},
                                    v2 = {8, UCOW_NAME, 4104, 4108, 4116, 0, 0, 4120},
                                    v3 = {32, UCOW_NAME, 8, 12, 20, 24, 28, 4128},
                                    v3b = {36, UCOW_NAME, 8, 16, 24, 28, 32, 4136};
    switch (v) {
    case 1: *f = v1; return true;
    case 2: *f = v2; return true;
    case 3: *f = be32_load(h + 32) ? v3 : v3b; return true;
    default: return false;
    }
}

static int ucow_probe(const uint8_t *buf, size_t len)
{
    if (len < 8)
        return 0;
    bool be = be32_load(buf) == COW_MAGIC;
    if (!be && le32_load(buf) != COW_MAGIC)
        return 0;
    uint32_t v = ucow_u32(buf + 4, be);
    if (v == 1 || (v == 3 && be))
        return 100;
    if (v != 2 || !be || len < COW_HDR64 || cow_qemu_layout(buf, len))
        return 0;
    /* Version 2 whose bytes 1032..1055 are name, not QEMU's mtime, size and sectorsize: the
     * name runs past them, or they are its zero padding. */
    if (!memchr(buf + 8, 0, 1056 - 8))
        return 60;
    for (size_t i = 1032; i < 1056; i++)
        if (buf[i])
            return 0;
    return 60;
}

static int ucow_open(struct img *img, unsigned flags)
{
    struct cow *s = cow_st(img);
    uint8_t h[UCOW_HDR_MAX];
    uint64_t fsize;
    int r = cow_read_head(img, h, sizeof h, &fsize);
    if (r < 0)
        return r;
    bool be = be32_load(h) == COW_MAGIC;
    if (fsize < 8 || (!be && le32_load(h) != COW_MAGIC))
        return img_error(img, -EINVAL, "magic: not a User-Mode-Linux COW image");
    uint32_t v = ucow_u32(h + 4, be);
    struct ucow_fields f;
    if (!ucow_fields(v, h, &f))
        return img_error(img, -EINVAL, "version %u is not 1, 2 or 3", v);
    if (!be && v != 1)
        return img_error(img, -EINVAL,
                         "version %u with a little-endian magic (only version 1 was "
                         "written in host byte order)",
                         v);
    if (fsize < f.hdr)
        return img_error(img, -EINVAL, "header: file is shorter than %u bytes", f.hdr);
    uint64_t size = be ? be64_load(h + f.size) : le64_load(h + f.size);
    uint32_t ss = ucow_u32(h + f.ss, be), align = f.align ? be32_load(h + f.align) : ss;
    if (ss != 512)
        return img_error(img, -EINVAL, "sectorsize %u is not 512", ss);
    if (f.fmt && be32_load(h + f.fmt) != 0)
        return img_error(img, -EINVAL, "cow_format %u is unknown (0 is the bitmap)",
                         be32_load(h + f.fmt));
    if (align == 0 || align > UCOW_MAX_ALIGN)
        return img_error(img, -EINVAL, "alignment %u out of range (1..%u)", align, UCOW_MAX_ALIGN);
    if (size > COW_MAX_SIZE)
        return img_error(img, -EFBIG, "size %llu is too large (limit %llu)", ULL(size),
                         ULL(COW_MAX_SIZE));
    if (!memchr(h + f.name, 0, f.name_len))
        return img_error(img, -EINVAL, "backing file name is not NUL-terminated within %u bytes",
                         f.name_len);
    uint64_t sectors = u64_div_round_up(size, 512);
    uint64_t bm_off = f.align ? u64_div_round_up(f.hdr, align) * align : f.hdr;
    /* UML's bitmap length: v3 one bit per sector rounded up, v1/v2 rounded down. */
    uint64_t uml_bm = v == 3 ? u64_div_round_up(sectors, 8) : (size + 511) / (8 * 512);
    s->uml = v;
    s->hsize = bm_off;
    s->hdr_len = f.hdr;
    s->sectors = sectors;
    s->bm_len = u64_div_round_up(sectors, 8);
    s->data_off = u64_div_round_up(bm_off + uml_bm, align) * align;
    s->bm_limit = s->data_off - bm_off;
    s->mtime = ucow_u32(h + f.mtime, be);
    s->align = align;
    s->win_off = UINT64_MAX;
    if ((flags & IMG_OPEN_RW) && s->bm_limit < s->bm_len)
        return img_error(img, -EROFS,
                         "the bitmap of this version %u image has no room for its "
                         "last sectors (UML's rounding bug): open it read-only",
                         v);
    if (h[f.name] && !(img->backing_name = strdup((const char *)h + f.name)))
        return img_error(img, -ENOMEM, "out of memory");
    if (img->backing_name && !(img->backing_fmt = strdup("raw")))
        return img_error(img, -ENOMEM, "out of memory"); /* ubd backs with raw files */
    img->size = size;
    return 0;
}

static int ucow_get_info(struct img *img, struct img_info *info)
{
    struct cow *s = cow_st(img);
    img_info_int(info, "version", s->uml);
    img_info_int(info, "backing-mtime", s->mtime);
    if (s->uml == 3)
        img_info_int(info, "alignment", s->align);
    img_info_int(info, "bitmap-offset", (int64_t)s->hsize);
    img_info_int(info, "data-offset", (int64_t)s->data_off);
    return 0;
}

const struct img_driver img_driver_ucow = {
    .abi = IMG_DRIVER_ABI,
    .name = "ucow",
    .desc = "User-Mode-Linux COW (versions 1, 2 and 3)",
    .priv_size = sizeof(struct cow),
    .caps = IMG_CAP_BACKING | IMG_CAP_SOURCES,
    .probe = ucow_probe,
    .open = ucow_open,
    .get_info = ucow_get_info,
    .read = cow_read,
    .block_status = cow_block_status,
    .write = cow_write,
    .write_zeroes = cow_write_zeroes,
    .flush = cow_flush,
    .layout = cow_layout,
};

/* ---- backing chains ---- */

/* The name is a fixed 1024-byte field: written whole (NUL-padded) in one write. */
static int cow_set_backing(struct img *img, const char *name, const char *fmt)
{
    (void)fmt; /* cow records no backing format */
    uint8_t field[COW_NAME_LEN];
    size_t nl = name ? strlen(name) : 0;
    if (nl >= COW_NAME_LEN)
        return img_error(img, -EINVAL, "backing file name longer than %u bytes", COW_NAME_LEN - 1);
    char *copy = name ? strdup(name) : NULL;
    if (name && !copy)
        return img_error(img, -ENOMEM, "out of memory");
    memset(field, 0, sizeof field);
    memcpy(field, name ? name : "", nl);
    int r = src_pwrite(img->src, field, sizeof field, 8);
    if (r == 0)
        r = src_flush(img->src);
    if (r < 0) {
        free(copy);
        return img_error(img, r, "writing the backing file name: %s", src_errmsg(img->src, r));
    }
    free(img->backing_name);
    img->backing_name = copy;
    return 0;
}

/* Every sector reads from the backing file again: the bitmap is cleared (the data area keeps
 * its bytes, unreferenced). */
static int cow_make_empty(struct img *img)
{
    struct cow *s = cow_st(img);
    int r = src_zero(img->src, s->hsize, s->bm_len, SRC_ZERO_MAY_PUNCH);
    if (r == 0)
        r = src_flush(img->src);
    s->win_off = UINT64_MAX;
    return r < 0 ? img_error(img, r, "clearing the bitmap: %s", src_errmsg(img->src, r)) : 0;
}

const struct img_driver img_driver_cow = {
    .abi = IMG_DRIVER_ABI,
    .name = "cow",
    .desc = "legacy QEMU cow (User-Mode-Linux style, QEMU <= 2.1)",
    .priv_size = sizeof(struct cow),
    .caps = IMG_CAP_BACKING | IMG_CAP_ZERO_INIT | IMG_CAP_SOURCES,
    .probe = cow_probe,
    .open = cow_open,
    .read = cow_read,
    .block_status = cow_block_status,
    .write = cow_write,
    .write_zeroes = cow_write_zeroes,
    .flush = cow_flush,
    .create = cow_create,
    .truncate = cow_truncate,
    .layout = cow_layout,
    .set_backing = cow_set_backing,
    .make_empty = cow_make_empty,
};

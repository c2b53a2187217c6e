/* SPDX-License-Identifier: GPL-2.0-or-later */
/* bochs.c: read-only driver for Bochs "growing" redolog images (bximage -imgmode=growing), as
 * qemu-img reads them: probe, open with header and catalog checks, reads, block status, the
 * host layout. Writing and creating are refused by the core (no write/create slot).
 *
 * Layout (little-endian): a 512-byte header ("Bochs Virtual HD Image", type "Redolog",
 * subtype "Growing", version 1 or 2, header size, catalog entries, bitmap bytes, extent bytes,
 * disk size), then the catalog (one u32 per extent: its index in the data area, or
 * 0xffffffff when unallocated) at the header size, then the data area: each allocated extent
 * is a sector bitmap (one bit per 512-byte sector, rounded up to whole sectors) followed by
 * the extent's sectors. A clear bit or an unallocated extent reads as zeros.
 * Talks to: core/block/src.h (the image's bytes), core/block/driver.h.
 */
#include "core/base/bytes.h"
#include "formats/drivers.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define BOCHS_HDR 512u
#define BOCHS_V1 0x00010000u
#define BOCHS_V2 0x00020000u
#define BOCHS_FREE 0xffffffffu
#define BOCHS_MAX_CATALOG (1u << 24) /* entries (a 64 MiB catalog) */
#define BOCHS_MAX_EXTENT (8u << 20)  /* bytes per extent, as qemu */
#define BOCHS_MAX_BITMAP (1u << 20)  /* bytes of one extent's sector bitmap */
#define ULL(x) ((unsigned long long)(x))

struct bochs {
    uint32_t *catalog;
    uint32_t ncat;
    uint64_t cat_off, data_off; /* catalog and data area offsets */
    uint64_t extent;            /* bytes per extent */
    uint64_t bm_bytes;          /* bitmap size rounded up to whole sectors */
    uint64_t file_size;
    uint8_t *bm;    /* the bitmap of one extent */
    uint32_t bm_ix; /* its catalog entry + 1; 0 = none cached */
};

static int bochs_probe(const uint8_t *b, size_t len)
{
    if (len < BOCHS_HDR || memcmp(b, "Bochs Virtual HD Image", 23) != 0 ||
        memcmp(b + 32, "Redolog", 8) != 0 || memcmp(b + 48, "Growing", 8) != 0)
        return 0;
    uint32_t v = le32_load(b + 64);
    return v == BOCHS_V1 || v == BOCHS_V2 ? 100 : 0;
}

/* The disk size field moved when version 2 added a timestamp before it. */
static uint64_t bochs_disk(const uint8_t *h)
{
    return le64_load(h + (le32_load(h + 64) == BOCHS_V1 ? 84 : 88));
}

static uint64_t bochs_head_size(const uint8_t *b, size_t len)
{
    return bochs_probe(b, len) ? bochs_disk(b) / 512 * 512 : 0;
}

static int bochs_check_header(struct img *img, const uint8_t *h, uint64_t fsize)
{
    struct bochs *s = img->priv;
    if (!bochs_probe(h, BOCHS_HDR))
        return img_error(img, -EINVAL, "not a growing Bochs redolog (magic, type or version)");
    uint64_t hsize = le32_load(h + 68), ncat = le32_load(h + 72), bm = le32_load(h + 76),
             ext = le32_load(h + 80), size = bochs_disk(h) / 512 * 512;
    if (ext < 512 || ext > BOCHS_MAX_EXTENT || ext % 512)
        return img_error(img, -EINVAL, "extent size %llu is not a multiple of 512 in 512..%u",
                         ULL(ext), BOCHS_MAX_EXTENT);
    if (bm * 8 < ext / 512 || bm > BOCHS_MAX_BITMAP)
        return img_error(img, -EINVAL, "bitmap size %llu does not fit extents of %llu bytes",
                         ULL(bm), ULL(ext));
    if (ncat > BOCHS_MAX_CATALOG)
        return img_error(img, -EFBIG, "catalog of %llu entries (limit %u)", ULL(ncat),
                         BOCHS_MAX_CATALOG);
    if (hsize < BOCHS_HDR || hsize > fsize || ncat * 4 > fsize - hsize)
        return img_error(img, -EINVAL, "catalog at %llu (%llu entries) lies outside the file",
                         ULL(hsize), ULL(ncat));
    if ((size + ext - 1) / ext > ncat)
        return img_error(img, -EINVAL, "catalog of %llu entries is too small for %llu bytes",
                         ULL(ncat), ULL(size));
    s->ncat = (uint32_t)ncat;
    s->cat_off = hsize;
    s->data_off = hsize + ncat * 4;
    s->extent = ext;
    s->bm_bytes = (bm + 511) / 512 * 512;
    s->file_size = fsize;
    img->size = size;
    return 0;
}

static uint64_t bochs_extent_off(const struct bochs *s, uint32_t e)
{
    return s->data_off + (uint64_t)e * (s->bm_bytes + s->extent);
}

static int bochs_open(struct img *img, unsigned flags)
{
    struct bochs *s = img->priv;
    uint8_t h[BOCHS_HDR];
    uint64_t fsize;
    (void)flags;
    int r = src_size(img->src, &fsize);
    if (r == 0 && fsize < BOCHS_HDR)
        r = -EINVAL;
    if (r == 0)
        r = src_pread(img->src, h, BOCHS_HDR, 0);
    if (r < 0)
        return img_error(img, r, "reading the header: %s", strerror(-r));
    if ((r = bochs_check_header(img, h, fsize)) < 0)
        return r;
    s->catalog = malloc(s->ncat ? (size_t)s->ncat * 4 : 1);
    s->bm = malloc(s->bm_bytes);
    if (!s->catalog || !s->bm)
        return img_error(img, -ENOMEM, "out of memory");
    if ((r = src_pread(img->src, s->catalog, (size_t)s->ncat * 4, s->cat_off)) < 0)
        return img_error(img, r, "reading the catalog: %s", strerror(-r));
    for (uint32_t i = 0; i < s->ncat; i++) {
        uint32_t e = le32_load(&s->catalog[i]);
        s->catalog[i] = e;
        /* The extent's bitmap must lie in the file (a short last extent reads zeros). */
        if (e != BOCHS_FREE && bochs_extent_off(s, e) + s->bm_bytes > fsize)
            return img_error(img, -EINVAL, "catalog entry %u: extent %u lies outside the file", i,
                             e);
    }
    return 0;
}

static void bochs_close(struct img *img)
{
    struct bochs *s = img->priv;
    free(s->catalog);
    free(s->bm);
}

/* The state of the sector at off: *host its data (0: reads as zeros), *run how many bytes
 * from off share that state within the extent. */
static int bochs_lookup(struct img *img, uint64_t off, uint64_t *host, uint64_t *run)
{
    struct bochs *s = img->priv;
    uint64_t ix = off / s->extent, in = off % s->extent;
    uint32_t e = s->catalog[ix];
    *host = 0;
    if (e == BOCHS_FREE) {
        *run = s->extent - in;
        return 0;
    }
    uint64_t base = bochs_extent_off(s, e);
    if (s->bm_ix != e + 1) {
        s->bm_ix = 0;
        int r = src_pread(img->src, s->bm, s->bm_bytes, base);
        if (r < 0)
            return img_error(img, r, "reading the bitmap of extent %u: %s", e, strerror(-r));
        s->bm_ix = e + 1;
    }
    uint64_t sec = in / 512, nsec = s->extent / 512;
    bool set = (s->bm[sec / 8] >> (sec % 8)) & 1;
    uint64_t end = sec + 1;
    while (end < nsec && (bool)((s->bm[end / 8] >> (end % 8)) & 1) == set)
        end++;
    *run = end * 512 - in;
    if (set)
        *host = base + s->bm_bytes + in;
    return 0;
}

static int bochs_read(struct img *img, uint64_t off, void *buf, size_t len)
{
    uint8_t *p = buf;
    while (len > 0) {
        uint64_t host, run;
        int r = bochs_lookup(img, off, &host, &run);
        if (r < 0)
            return r;
        size_t n = run < len ? (size_t)run : len;
        if (!host)
            memset(p, 0, n);
        else if ((r = src_pread_zero(img->src, p, n, host)) < 0)
            return img_error(img, r, "read at 0x%llx: %s", ULL(host), strerror(-r));
        p += n;
        off += n;
        len -= n;
    }
    return 0;
}

static int bochs_block_status(struct img *img, uint64_t off, uint64_t len, struct img_bs *bs)
{
    uint64_t host0 = 0, done = 0;
    while (done < len) {
        uint64_t host, run;
        int r = bochs_lookup(img, off + done, &host, &run);
        if (r < 0)
            return r;
        if (done == 0)
            host0 = host;
        else if (!host != !host0 || (host && host != host0 + done))
            break;
        done += run;
    }
    bs->len = done < len ? done : len;
    bs->flags = host0 ? IMG_BS_DATA | IMG_BS_ALLOCATED | IMG_BS_OFFSET_VALID : IMG_BS_ZERO;
    bs->host_off = host0;
    return 0;
}

static int bochs_layout(struct img *img, struct img_region **out, size_t *n)
{
    struct bochs *s = img->priv;
    struct img_regions rl = {0};
    img_regions_add(&rl, 0, s->cat_off, IMG_R_HEADER);
    img_regions_add(&rl, s->cat_off, (uint64_t)s->ncat * 4, IMG_R_BLOCK_MAP);
    for (uint32_t i = 0; i < s->ncat; i++) {
        if (s->catalog[i] == BOCHS_FREE)
            continue;
        uint64_t b = bochs_extent_off(s, s->catalog[i]);
        img_regions_add(&rl, b, s->bm_bytes, IMG_R_BITMAP);
        uint64_t dlen = s->file_size - (b + s->bm_bytes); /* a short last extent */
        img_regions_add(&rl, b + s->bm_bytes, dlen < s->extent ? dlen : s->extent, IMG_R_DATA);
    }
    int r = img_regions_finish(&rl, out, n);
    return r < 0 ? img_error(img, r, "out of memory") : 0;
}

/* qemu's bochs driver has no info: qemu-img prints neither a cluster size nor a dirty flag. */
static int bochs_get_info(struct img *img, struct img_info *info)
{
    (void)img;
    info->no_dirty_flag = true;
    return 0;
}

const struct img_driver img_driver_bochs = {
    .abi = IMG_DRIVER_ABI,
    .name = "bochs",
    .desc = "Bochs growing redolog (read-only)",
    .priv_size = sizeof(struct bochs),
    .caps = IMG_CAP_SOURCES,
    .probe = bochs_probe,
    .open = bochs_open,
    .close = bochs_close,
    .get_info = bochs_get_info,
    .read = bochs_read,
    .block_status = bochs_block_status,
    .layout = bochs_layout,
    .head_size = bochs_head_size,
};

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* cloop.c: read-only driver for cloop V2.0 compressed loopback images (create_compressed_fs),
 * as qemu-img reads them: probe, open with header and offsets-table checks, reads (one block
 * inflated and cached), block status, the host layout. Writing and creating are refused by
 * the core (no write/create slot).
 *
 * Layout (big-endian): a 128-byte shell-script preamble whose second line is "#V2.0 Format",
 * the block size (u32) and block count (u32), then count + 1 u64 file offsets: block i is the
 * zlib stream between offsets i and i + 1 and inflates to exactly one block; the virtual size
 * is count blocks.
 * Talks to: core/block/src.h (the image's bytes), core/ops/compress.h (zlib_inflate_exact).
 */
#include "core/base/bytes.h"
#include "core/ops/compress.h"
#include "formats/drivers.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define CLOOP_PREAMBLE 128u
#define CLOOP_HDR 136u              /* preamble, block size, block count */
#define CLOOP_MAX_BLOCK (64u << 20) /* bytes per block, as qemu */
#define CLOOP_MAX_BLOCKS (1u << 26) /* a 512 MiB offsets table, as qemu */
#define ULL(x) ((unsigned long long)(x))

struct cloop {
    uint64_t bsize; /* bytes per block */
    uint32_t n;     /* blocks */
    uint64_t *offs; /* n + 1 offsets */
    uint64_t zmax;  /* largest compressed block */
    uint8_t *zin, *blk;
    uint64_t cached; /* block index + 1 in blk; 0 = none */
};

static int cloop_probe(const uint8_t *b, size_t len)
{
    static const char magic[] = "#!/bin/sh\n#V2.0 Format\n";
    return len >= CLOOP_HDR && memcmp(b, magic, sizeof magic - 1) == 0 ? 100 : 0;
}

static uint64_t cloop_head_size(const uint8_t *b, size_t len)
{
    return cloop_probe(b, len) ? (uint64_t)be32_load(b + 128) * be32_load(b + 132) : 0;
}

/* Offsets rise, stay inside the file and after the table; a block's stream is bounded by
 * twice the block size (zlib's stored blocks add a few bytes per 64 KiB). */
static int cloop_check_offsets(struct img *img, uint64_t fsize)
{
    struct cloop *s = img->priv;
    uint64_t table_end = CLOOP_HDR + ((uint64_t)s->n + 1) * 8;
    for (uint64_t i = 0; i <= s->n; i++) {
        uint64_t o = be64_load(&s->offs[i]);
        s->offs[i] = o;
        if (o < table_end || o > fsize)
            return img_error(img, -EINVAL, "offset %llu (0x%llx) lies outside the data area",
                             ULL(i), ULL(o));
        if (i == 0)
            continue;
        if (o < s->offs[i - 1])
            return img_error(img, -EINVAL, "offsets %llu and %llu go backwards", ULL(i - 1),
                             ULL(i));
        uint64_t z = o - s->offs[i - 1];
        if (z == 0 || z > 2 * s->bsize)
            return img_error(img, -EINVAL,
                             "block %llu: %llu compressed bytes for a %llu-byte block", ULL(i - 1),
                             ULL(z), ULL(s->bsize));
        if (z > s->zmax)
            s->zmax = z;
    }
    return 0;
}

static int cloop_open(struct img *img, unsigned flags)
{
    struct cloop *s = img->priv;
    uint8_t h[CLOOP_HDR];
    uint64_t fsize;
    (void)flags;
    int r = src_size(img->src, &fsize);
    if (r == 0 && fsize < CLOOP_HDR)
        r = -EINVAL;
    if (r == 0)
        r = src_pread(img->src, h, CLOOP_HDR, 0);
    if (r < 0)
        return img_error(img, r, "reading the header: %s", strerror(-r));
    if (!cloop_probe(h, CLOOP_HDR))
        return img_error(img, -EINVAL, "not a cloop V2.0 image");
    s->bsize = be32_load(h + 128);
    uint64_t n = be32_load(h + 132);
    if (s->bsize == 0 || s->bsize % 512 || s->bsize > CLOOP_MAX_BLOCK)
        return img_error(img, -EINVAL, "block size %llu is not a multiple of 512 in 512..%u",
                         ULL(s->bsize), CLOOP_MAX_BLOCK);
    if (n > CLOOP_MAX_BLOCKS)
        return img_error(img, -EFBIG, "%llu blocks (limit %u)", ULL(n), CLOOP_MAX_BLOCKS);
    if ((n + 1) * 8 > fsize - CLOOP_HDR)
        return img_error(img, -EINVAL, "offsets table of %llu blocks lies outside the file",
                         ULL(n));
    s->n = (uint32_t)n;
    if (!(s->offs = malloc((n + 1) * 8)))
        return img_error(img, -ENOMEM, "out of memory");
    if ((r = src_pread(img->src, s->offs, (n + 1) * 8, CLOOP_HDR)) < 0)
        return img_error(img, r, "reading the offsets table: %s", strerror(-r));
    if ((r = cloop_check_offsets(img, fsize)) < 0)
        return r;
    s->zin = malloc(s->zmax ? s->zmax : 1);
    s->blk = malloc(s->bsize);
    if (!s->zin || !s->blk)
        return img_error(img, -ENOMEM, "out of memory");
    img->size = n * s->bsize;
    return 0;
}

static void cloop_close(struct img *img)
{
    struct cloop *s = img->priv;
    free(s->offs);
    free(s->zin);
    free(s->blk);
}

static int cloop_load(struct img *img, uint64_t i)
{
    struct cloop *s = img->priv;
    if (s->cached == i + 1)
        return 0;
    s->cached = 0;
    uint64_t z = s->offs[i + 1] - s->offs[i];
    int r = src_pread(img->src, s->zin, z, s->offs[i]);
    if (r < 0)
        return img_error(img, r, "reading block %llu: %s", ULL(i), strerror(-r));
    /* Inflates into exactly one block, never more: a stream that ends short is corrupt. */
    if (zlib_inflate_exact(s->zin, z, s->blk, s->bsize) < 0)
        return img_error(img, -EIO, "block %llu: corrupt or short zlib stream", ULL(i));
    s->cached = i + 1;
    return 0;
}

static int cloop_read(struct img *img, uint64_t off, void *buf, size_t len)
{
    struct cloop *s = img->priv;
    uint8_t *p = buf;
    while (len > 0) {
        uint64_t i = off / s->bsize, in = off % s->bsize;
        size_t n = s->bsize - in < len ? (size_t)(s->bsize - in) : len;
        int r = cloop_load(img, i);
        if (r < 0)
            return r;
        memcpy(p, s->blk + in, n);
        p += n;
        off += n;
        len -= n;
    }
    return 0;
}

/* Every block is stored, compressed: data with no host offset, as qemu-img map shows it. */
static int cloop_block_status(struct img *img, uint64_t off, uint64_t len, struct img_bs *bs)
{
    (void)img, (void)off;
    bs->len = len;
    bs->flags = IMG_BS_DATA | IMG_BS_ALLOCATED | IMG_BS_COMPRESSED;
    bs->host_off = 0;
    return 0;
}

static int cloop_layout(struct img *img, struct img_region **out, size_t *n)
{
    struct cloop *s = img->priv;
    struct img_regions rl = {0};
    img_regions_add(&rl, 0, CLOOP_HDR, IMG_R_HEADER);
    img_regions_add(&rl, CLOOP_HDR, ((uint64_t)s->n + 1) * 8, IMG_R_BLOCK_MAP);
    if (s->n)
        img_regions_add(&rl, s->offs[0], s->offs[s->n] - s->offs[0], IMG_R_COMPRESSED);
    int r = img_regions_finish(&rl, out, n);
    return r < 0 ? img_error(img, r, "out of memory") : 0;
}

/* qemu's cloop driver has no info: qemu-img prints neither a cluster size nor a dirty flag. */
static int cloop_get_info(struct img *img, struct img_info *info)
{
    (void)img;
    info->no_dirty_flag = true;
    return 0;
}

const struct img_driver img_driver_cloop = {
    .abi = IMG_DRIVER_ABI,
    .name = "cloop",
    .desc = "cloop V2.0 compressed loopback (read-only)",
    .priv_size = sizeof(struct cloop),
    .caps = IMG_CAP_SOURCES,
    .probe = cloop_probe,
    .open = cloop_open,
    .close = cloop_close,
    .get_info = cloop_get_info,
    .read = cloop_read,
    .block_status = cloop_block_status,
    .layout = cloop_layout,
    .head_size = cloop_head_size,
};

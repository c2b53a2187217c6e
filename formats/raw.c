/* SPDX-License-Identifier: GPL-2.0-or-later */
/* raw.c: the raw format driver. The file is the disk; holes (SEEK_DATA/SEEK_HOLE) are the
 * block status; create makes a sparse file unless preallocation asks otherwise.
 * Talks to: the handle's byte source (core/block/src.h), the create sources core opens
 * (core/block/create.c). */
#include "formats/drivers.h"

#include <errno.h>
#include <stdlib.h>
#include <linux/falloc.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int raw_probe(const uint8_t *buf, size_t len)
{
    return 1; /* anything is a raw image; every other driver outbids this */
}

/* A raw image reads front to back from a stream whatever it holds. */
static bool raw_stream_head(const uint8_t *head, size_t n)
{
    return true;
}

static int raw_open(struct img *img, unsigned flags)
{
    uint64_t size;
    int r = src_size(img->src, &size);
    if (r < 0)
        return img_error(img, r, "%s", src_errmsg(img->src, r));
    img->size = size;
    return 0;
}

static int raw_io_error(struct img *img, int r, const char *what, uint64_t off)
{
    return img_error(img, r, "%s at %llu: %s", what, (unsigned long long)off,
                     src_errmsg(img->src, r));
}

static int raw_read(struct img *img, uint64_t off, void *buf, size_t len)
{
    /* Zero-fill past EOF: another process may have truncated the file under us. */
    int r = src_pread_zero(img->src, buf, len, off);
    return r < 0 ? raw_io_error(img, r, "read", off) : 0;
}

static int raw_write(struct img *img, uint64_t off, const void *buf, size_t len)
{
    int r = src_pwrite(img->src, buf, len, off);
    return r < 0 ? raw_io_error(img, r, "write", off) : 0;
}

static int raw_write_zeroes(struct img *img, uint64_t off, uint64_t len)
{
    /* Punching a hole keeps the file sparse; the source writes zeros where it cannot. */
    int r = src_zero(img->src, off, len, SRC_ZERO_MAY_PUNCH);
    return r < 0 ? raw_io_error(img, r, "write", off) : 0;
}

static int raw_block_status(struct img *img, uint64_t off, uint64_t len, struct img_bs *bs)
{
    uint64_t fsize, end;
    unsigned state = SRC_EXT_ZERO;
    int r = src_size(img->src, &fsize);
    if (r == 0)
        r = src_extent(img->src, off, fsize, &state, &end);
    if (r < 0)
        return img_error(img, r, "%s", src_errmsg(img->src, r));
    if (off >= fsize) {
        state = SRC_EXT_ZERO;
        end = off + len;
    }
    if (end <= off)
        end = off + len;
    bs->len = end - off < len ? end - off : len;
    bs->flags = IMG_BS_ALLOCATED | IMG_BS_OFFSET_VALID |
                ((state & SRC_EXT_DATA) ? IMG_BS_DATA : 0) |
                ((state & SRC_EXT_ZERO) ? IMG_BS_ZERO : 0);
    bs->host_off = off;
    return 0;
}

static int raw_flush(struct img *img)
{
    int r = src_flush(img->src);
    return r < 0 ? img_error(img, r, "flush: %s", src_errmsg(img->src, r)) : 0;
}

static int raw_truncate(struct img *img, uint64_t size, enum img_prealloc prealloc)
{
    if (prealloc == IMG_PREALLOC_METADATA)
        return img_error(img, -EINVAL, "preallocation=metadata is not supported");
    uint64_t old = img->size;
    int r = src_truncate(img->src, size);
    if (r == 0 && size > old &&
        (prealloc == IMG_PREALLOC_FALLOC || prealloc == IMG_PREALLOC_FULL)) {
        r = src_allocate(img->src, old, size - old, prealloc == IMG_PREALLOC_FULL);
        /* A full disk must not leave the file grown (and half zero-filled). */
        if (r < 0 && src_truncate(img->src, old) == 0)
            src_flush(img->src);
    }
    if (r < 0)
        return img_error(img, r, "resize: %s", src_errmsg(img->src, r));
    img->size = size;
    return 0;
}

static int raw_create(struct img_create_ctx *c, const struct img_create_req *req,
                      struct img_err *err)
{
    enum img_prealloc pre = IMG_PREALLOC_OFF;
    const char *p = img_opts_take(req->opts, "preallocation");
    if (p && (img_prealloc_parse(p, &pre) < 0 || pre == IMG_PREALLOC_METADATA))
        return img_drv_error(&img_driver_raw, err, -EINVAL,
                             "invalid preallocation '%s' (off, falloc or full)", p);
    int r = img_opts_check_all_taken(req->opts, "raw", err);
    struct img_src *s;
    if (r < 0 || (r = img_create_src(c, &s)) < 0)
        return r;
    const char *path = img_create_path(c);
    if ((r = img_create_truncate(s, req->size)) == -ENOSPC)
        return err_set(err, r, "%s: %s is smaller than the image (%llu bytes)", path,
                       src_kind(s) == SRC_NBD ? "the export" : "the device",
                       (unsigned long long)req->size);
    if (r == 0 && (pre == IMG_PREALLOC_FALLOC || pre == IMG_PREALLOC_FULL))
        r = img_create_allocate(s, 0, req->size, pre == IMG_PREALLOC_FULL);
    return r < 0 ? err_set(err, r, "%s: %s", path, src_errmsg(s, r)) : 0;
}

static int raw_layout(struct img *img, struct img_region **out, size_t *n)
{
    /* The host view of a raw file is its data extents and holes. */
    struct img_regions rl = {0};
    uint64_t fsize, off = 0;
    int r = src_size(img->src, &fsize);
    while (r == 0 && off < fsize) {
        unsigned state;
        uint64_t end;
        if ((r = src_extent(img->src, off, fsize, &state, &end)) < 0)
            break;
        img_regions_add(&rl, off, end - off, (state & SRC_EXT_DATA) ? IMG_R_DATA : IMG_R_FREE);
        off = end;
    }
    if (r < 0) {
        free(rl.v);
        return img_error(img, r, "%s", src_errmsg(img->src, r));
    }
    if (img_regions_finish(&rl, out, n) < 0)
        return img_fail(img, -ENOMEM, "out of memory");
    return 0;
}

static const struct img_opt_desc raw_create_opts[] = {
    {"preallocation", "enum:off|falloc|full", "preallocation mode"},
    {NULL, NULL, NULL},
};

const struct img_driver img_driver_raw = {
    .abi = IMG_DRIVER_ABI,
    .name = "raw",
    .desc = "raw disk image",
    .caps = IMG_CAP_ZERO_INIT | IMG_CAP_RAW | IMG_CAP_SOURCES,
    .stream_head = raw_stream_head,
    .create_opts = raw_create_opts,
    .probe = raw_probe,
    .open = raw_open,
    .read = raw_read,
    .block_status = raw_block_status,
    .write = raw_write,
    .write_zeroes = raw_write_zeroes,
    .flush = raw_flush,
    .create = raw_create,
    .truncate = raw_truncate,
    .layout = raw_layout,
};

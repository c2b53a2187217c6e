/* SPDX-License-Identifier: GPL-2.0-or-later */
/* raw.c: the raw format driver. The file is the disk; holes (SEEK_DATA/SEEK_HOLE) are the
 * block status; create makes a sparse file unless preallocation asks otherwise.
 * Talks to: core/base/io.c only. */
#include "core/base/io.h"
#include "formats/drivers.h"

#include <errno.h>
#include <stdlib.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int raw_probe(const uint8_t *buf, size_t len)
{
    return 1; /* anything is a raw image; every other driver outbids this */
}

static int raw_open(struct img *img, unsigned flags)
{
    uint64_t size;
    int r = io_file_size(img->fd, &size);
    if (r < 0)
        return img_error(img, r, "%s", strerror(-r));
    img->size = size;
    return 0;
}

static int raw_read(struct img *img, uint64_t off, void *buf, size_t len)
{
    /* Zero-fill past EOF: another process may have truncated the file under us. */
    int r = io_pread_zero(img->fd, buf, len, off);
    return r < 0 ? img_error(img, r, "read at %llu: %s", (unsigned long long)off, strerror(-r)) : 0;
}

static int raw_write(struct img *img, uint64_t off, const void *buf, size_t len)
{
    int r = io_pwrite_all(img->fd, buf, len, off);
    return r < 0 ? img_error(img, r, "write at %llu: %s", (unsigned long long)off, strerror(-r))
                 : 0;
}

static int raw_write_zeroes(struct img *img, uint64_t off, uint64_t len)
{
    /* Punching a hole keeps the file sparse; fall back to real zeros where unsupported. */
    if (fallocate(img->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len) == 0)
        return 0;
    int r = io_pwrite_zeroes(img->fd, off, len);
    return r < 0 ? img_error(img, r, "write at %llu: %s", (unsigned long long)off, strerror(-r))
                 : 0;
}

static int raw_block_status(struct img *img, uint64_t off, uint64_t len, struct img_bs *bs)
{
    uint64_t fsize, end;
    int is_data;
    int r = io_file_size(img->fd, &fsize);
    if (r == 0)
        r = io_seek_extent(img->fd, off, fsize, &is_data, &end);
    if (r < 0)
        return img_error(img, r, "%s", strerror(-r));
    if (off >= fsize) {
        is_data = 0;
        end = off + len;
    }
    if (end <= off)
        end = off + len;
    bs->len = end - off < len ? end - off : len;
    bs->flags = IMG_BS_ALLOCATED | IMG_BS_OFFSET_VALID | (is_data ? IMG_BS_DATA : IMG_BS_ZERO);
    bs->host_off = off;
    return 0;
}

static int raw_flush(struct img *img)
{
    int r = io_sync(img->fd);
    return r < 0 ? img_error(img, r, "flush: %s", strerror(-r)) : 0;
}

static int raw_resize_fd(int fd, uint64_t old, uint64_t size, enum img_prealloc prealloc)
{
    if (ftruncate(fd, (off_t)size) < 0)
        return -errno;
    if (size > old && (prealloc == IMG_PREALLOC_FALLOC || prealloc == IMG_PREALLOC_FULL)) {
        int r = io_preallocate(fd, old, size - old, prealloc == IMG_PREALLOC_FULL);
        /* A full disk must not leave the file grown (and half zero-filled). */
        if (r < 0 && ftruncate(fd, (off_t)old) == 0)
            fsync(fd);
        return r;
    }
    return 0;
}

static int raw_truncate(struct img *img, uint64_t size, enum img_prealloc prealloc)
{
    if (prealloc == IMG_PREALLOC_METADATA)
        return img_error(img, -EINVAL, "preallocation=metadata is not supported");
    int r = raw_resize_fd(img->fd, img->size, size, prealloc);
    if (r < 0)
        return img_error(img, r, "resize: %s", strerror(-r));
    img->size = size;
    return 0;
}

static int raw_create(const char *path, const struct img_create_req *req, struct img_err *err)
{
    enum img_prealloc pre = IMG_PREALLOC_OFF;
    const char *p = img_opts_take(req->opts, "preallocation");
    if (p && (img_prealloc_parse(p, &pre) < 0 || pre == IMG_PREALLOC_METADATA))
        return img_drv_error(&img_driver_raw, err, -EINVAL,
                             "invalid preallocation '%s' (off, falloc or full)", p);
    int r = img_opts_check_all_taken(req->opts, "raw", err);
    if (r < 0)
        return r;
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return err_set(err, -errno, "%s: %s", path, strerror(errno));
    r = raw_resize_fd(fd, 0, req->size, pre);
    if (r == 0 && fsync(fd) < 0)
        r = -errno;
    if (close(fd) < 0 && r == 0)
        r = -errno;
    if (r < 0) {
        unlink(path);
        return err_set(err, r, "%s: %s", path, strerror(-r));
    }
    return 0;
}

static int raw_layout(struct img *img, struct img_region **out, size_t *n)
{
    /* The host view of a raw file is its data extents and holes. */
    size_t cap = 16, cnt = 0;
    struct img_region *v = malloc(cap * sizeof *v);
    uint64_t fsize, off = 0;
    int r = io_file_size(img->fd, &fsize);
    if (!v)
        return img_fail(img, -ENOMEM, "out of memory");
    while (r == 0 && off < fsize) {
        int is_data;
        uint64_t end;
        r = io_seek_extent(img->fd, off, fsize, &is_data, &end);
        if (r < 0)
            break;
        if (cnt == cap) {
            struct img_region *nv = realloc(v, 2 * cap * sizeof *v);
            if (!nv) {
                r = -ENOMEM;
                break;
            }
            v = nv;
            cap *= 2;
        }
        v[cnt++] = (struct img_region){off, end - off, is_data ? IMG_R_DATA : IMG_R_FREE};
        off = end;
    }
    if (r < 0) {
        free(v);
        return img_error(img, r, "%s", strerror(-r));
    }
    *out = v;
    *n = cnt;
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
    .caps = IMG_CAP_ZERO_INIT | IMG_CAP_RAW,
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

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* src.c: byte sources: the calls drivers make, dispatched to a backend. File and device
 * sources take the direct path (one pread or pwrite on the descriptor, as the drivers did
 * before the layer existed): the local path gains no copy and no syscall.
 * Talks to: src_file.c, src_nbd.c through struct src_ops; core/base/io.h.
 */
#include "core/block/src_impl.h"
#include "core/base/io.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct img_src *src_new(const char *name, const struct src_ops *ops, enum src_kind kind)
{
    struct img_src *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    if (!(s->name = strdup(name))) {
        free(s);
        return NULL;
    }
    s->ops = ops;
    s->kind = kind;
    s->fd = -1;
    return s;
}

bool src_name_is_uri(const char *name)
{
    static const char *const schemes[] = {"nbd://",       "nbd+unix://",  "nbds://",
                                          "nbds+unix://", "nbd+vsock://", "nbds+vsock://"};
    for (size_t i = 0; i < sizeof schemes / sizeof *schemes; i++)
        if (strncmp(name, schemes[i], strlen(schemes[i])) == 0)
            return true;
    return false;
}

int src_open(const char *name, unsigned flags, struct img_src **out, struct img_err *err)
{
    *out = NULL;
    if (src_name_is_uri(name))
        return src_nbd_open(name, flags, out, err);
    return src_file_open(name, flags, out, err);
}

void src_close(struct img_src *s)
{
    if (!s)
        return;
    if (s->ops->close)
        s->ops->close(s);
    free(s->name);
    free(s);
}

enum src_kind src_kind(const struct img_src *s)
{
    return s->kind;
}

unsigned src_caps(const struct img_src *s)
{
    return s->caps;
}

const char *src_name(const struct img_src *s)
{
    return s->name;
}

int src_fd(const struct img_src *s)
{
    return s->fd;
}

bool src_same_file(const struct img_src *a, const struct img_src *b)
{
    struct stat sa, sb;
    if (!a || !b || a->fd < 0 || b->fd < 0 || fstat(a->fd, &sa) < 0 || fstat(b->fd, &sb) < 0)
        return false;
    return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

const char *src_errmsg(const struct img_src *s, int code)
{
    if (s->err.code == code && s->err.msg[0])
        return s->err.msg;
    return strerror(code < 0 ? -code : code);
}

int src_pread(struct img_src *s, void *buf, size_t len, uint64_t off)
{
    if (s->fd >= 0)
        return io_pread_exact(s->fd, buf, len, off);
    return s->ops->pread(s, buf, len, off);
}

int src_pread_zero(struct img_src *s, void *buf, size_t len, uint64_t off)
{
    if (s->fd >= 0)
        return io_pread_zero(s->fd, buf, len, off);
    uint64_t size;
    int r = s->ops->size(s, &size);
    if (r < 0)
        return r;
    size_t n = off >= size ? 0 : (size - off < len ? (size_t)(size - off) : len);
    if (n && (r = s->ops->pread(s, buf, n, off)) < 0)
        return r;
    memset((uint8_t *)buf + n, 0, len - n);
    return 0;
}

int src_pwrite(struct img_src *s, const void *buf, size_t len, uint64_t off)
{
    if (!(s->caps & SRC_CAP_WRITE))
        return err_set(&s->err, -EROFS, "the source is read-only");
    if (s->fd >= 0)
        return io_pwrite_all(s->fd, buf, len, off);
    return s->ops->pwrite(s, buf, len, off);
}

int src_size(struct img_src *s, uint64_t *size)
{
    return s->ops->size(s, size);
}

int src_alloc(struct img_src *s, uint64_t *bytes)
{
    *bytes = 0;
    return s->ops->alloc ? s->ops->alloc(s, bytes) : -ENOTSUP;
}

int src_truncate(struct img_src *s, uint64_t size)
{
    if (!(s->caps & SRC_CAP_TRUNCATE) || !s->ops->truncate)
        return err_set(&s->err, -ENOTSUP, "the size of a%s cannot be changed",
                       s->kind == SRC_NBD ? "n NBD export" : " block device");
    return s->ops->truncate(s, size);
}

int src_allocate(struct img_src *s, uint64_t off, uint64_t len, bool full)
{
    if (!(s->caps & SRC_CAP_TRUNCATE) || s->fd < 0)
        return err_set(&s->err, -ENOTSUP, "preallocation needs a regular file");
    return io_preallocate(s->fd, off, len, full);
}

int src_flush(struct img_src *s)
{
    if (!(s->caps & SRC_CAP_WRITE))
        return 0;
    if (s->fd >= 0)
        return io_sync(s->fd);
    return s->ops->flush ? s->ops->flush(s) : 0;
}

int src_zero(struct img_src *s, uint64_t off, uint64_t len, unsigned zflags)
{
    if (!(s->caps & SRC_CAP_WRITE))
        return err_set(&s->err, -EROFS, "the source is read-only");
    if (len == 0)
        return 0;
    int r = s->ops->zero ? s->ops->zero(s, off, len, zflags) : -ENOTSUP;
    return r != -ENOTSUP ? r : src_write_zeros(s, off, len);
}

int src_write_zeros(struct img_src *s, uint64_t off, uint64_t len)
{
    if (!(s->caps & SRC_CAP_WRITE))
        return err_set(&s->err, -EROFS, "the source is read-only");
    if (s->fd >= 0)
        return io_pwrite_zeroes(s->fd, off, len);
    static const uint8_t zero[65536];
    while (len > 0) {
        size_t n = len < sizeof zero ? (size_t)len : sizeof zero;
        int r = s->ops->pwrite(s, zero, n, off);
        if (r < 0)
            return r;
        off += n;
        len -= n;
    }
    return 0;
}

int src_discard(struct img_src *s, uint64_t off, uint64_t len)
{
    if (!(s->caps & SRC_CAP_WRITE))
        return err_set(&s->err, -EROFS, "the source is read-only");
    if (!(s->caps & SRC_CAP_PUNCH) || !s->ops->discard)
        return -ENOTSUP;
    return len ? s->ops->discard(s, off, len) : 0;
}

int src_extent(struct img_src *s, uint64_t off, uint64_t size, unsigned *state, uint64_t *end)
{
    if (off >= size) {
        *state = SRC_EXT_ZERO;
        *end = size;
        return 0;
    }
    if (!(s->caps & SRC_CAP_HOLES) || !s->ops->extent) {
        *state = SRC_EXT_DATA;
        *end = size;
        return 0;
    }
    int r = s->ops->extent(s, off, size, state, end);
    if (r == 0 && (*end <= off || *end > size))
        return err_set(&s->err, -EIO, "bad extent at %llu", (unsigned long long)off);
    return r;
}

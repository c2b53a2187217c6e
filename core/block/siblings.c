/* SPDX-License-Identifier: GPL-2.0-or-later */
/* siblings.c: files beside an open image. img_add_file makes a new one for a driver that
 * grows its image into more files (vmdk's split extents): core creates it (new, never
 * through a symlink), the driver fills it through a source, core flushes it and removes it
 * again on any failure. img_scan_siblings is for drivers that find a related file by its
 * content rather than by name (vdi's parent, named only by UUID): core walks the
 * image's directory and reads the first bytes of each regular file there; the driver sees
 * only the name and those bytes, never a descriptor. Only regular files directly in the
 * directory are opened (resolve_openat_beneath: never a device or a FIFO, never through a
 * symlink leading elsewhere, through none at all for an untrusted image), at most max
 * entries are looked at. Nothing here prints.
 * Talks to: core/block/resolve.h, core/base/io.h, the drivers through their callback.
 */
#include "core/block/driver.h"
#include "core/base/io.h"
#include "core/block/resolve.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The first len bytes of name below dfd into buf; false when it is no regular file there,
 * is shorter, or cannot be read. */
static bool sibling_head(int dfd, const char *name, bool untrusted, void *buf, size_t len)
{
    struct stat st;
    struct img_err err;
    int fd = resolve_openat_beneath(dfd, name, O_RDONLY, untrusted ? RESOLVE_OPEN_NOSYMLINKS : 0,
                                    &st, &err);
    if (fd < 0)
        return false;
    bool ok = (uint64_t)st.st_size >= len && io_pread_exact(fd, buf, len, 0) == 0;
    close(fd);
    return ok;
}

int img_scan_siblings(struct img *img, size_t head_len, unsigned max, img_sibling_fn fn, void *ctx,
                      bool *capped)
{
    *capped = false;
    if (head_len == 0 || head_len > IMG_SIBLING_HEAD_MAX)
        return img_fail(img, -EINVAL, "%s: a sibling's head of %zu bytes", img->path, head_len);
    if (!img->src || src_kind(img->src) == SRC_NBD)
        return img_fail(img, -ENOTSUP, "%s: an NBD export has no directory", img->path);
    uint8_t *buf = malloc(head_len);
    if (!buf)
        return img_fail(img, -ENOMEM, "out of memory");
    DIR *d = opendir(img->dir);
    if (!d) {
        int r = -errno;
        free(buf);
        return img_fail(img, r, "%s: %s", img->dir, strerror(-r));
    }
    bool untrusted = img->flags & IMG_OPEN_UNTRUSTED;
    unsigned seen = 0;
    int r = 0;
    struct dirent *e;
    while (r == 0 && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (++seen > max) {
            *capped = true;
            break;
        }
        if (e->d_type != DT_UNKNOWN && e->d_type != DT_REG && e->d_type != DT_LNK)
            continue;
        if (sibling_head(dirfd(d), e->d_name, untrusted, buf, head_len))
            r = fn(ctx, e->d_name, buf, head_len);
    }
    closedir(d);
    free(buf);
    return r;
}

int img_add_file(struct img *img, const char *name, const char *what, img_fill_fn fill, void *ctx)
{
    /* A file beside a device node or an NBD export would land in /dev, or nowhere. */
    if (!img->src || src_kind(img->src) != SRC_FILE)
        return img_fail(img, -ENOTSUP, "%s: no new %s beside a block device or NBD export",
                        img->path, what);
    char *full = io_path_join(img->dir, name);
    if (!full)
        return img_fail(img, -ENOMEM, "out of memory");
    /* O_EXCL: a new file only, and never through a symlink at its name. */
    int fd = open(full, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
        int e = errno;
        int r = e == EEXIST
                    ? img_fail(img, -e, "%s: %s %s already exists", img->drv->name, what, full)
                    : img_fail(img, -e, "%s: %s %s: %s", img->drv->name, what, full, strerror(e));
        free(full);
        return r;
    }
    struct img_src *s;
    struct img_err e = {0};
    int r = src_from_fd(fd, full, SRC_OPEN_RW, &s, &e); /* closes fd on failure */
    if (r < 0) {
        img_fail(img, r, "%s", e.msg);
    } else {
        if ((r = fill(ctx, s)) == 0 && (r = src_flush(s)) < 0)
            img_fail(img, r, "%s: writing %s %s: %s", img->drv->name, what, full, src_errmsg(s, r));
        src_close(s);
    }
    if (r < 0)
        unlink(full);
    free(full);
    return r;
}

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* siblings.c: a look at the files beside an open image, for drivers that find a related
 * file by its content rather than by name (vdi's parent, named only by UUID). Core walks the
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

int img_scan_siblings(struct img *img, size_t head_len, unsigned max, img_sibling_fn fn,
                      void *ctx, bool *capped)
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

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* rewrite.c: replacing an open image's file by a new one, for drivers that cannot change
 * their image in place (cow's grow past the bitmap's room, vmdk's descriptor rewrite). The
 * new file is PATH.part beside the image (a symlink's target, not the link), with the
 * image's mode and, where allowed, its owner; the driver writes it through a source; commit
 * syncs it, locks it when the handle holds a lock, renames it over the old file, syncs the
 * directory and makes it the handle's source. A failure anywhere removes the .part and
 * leaves the original untouched. Regular files only: a device or an NBD export has no name
 * to rename over. No driver opens, syncs or renames a file for this.
 * Talks to: core/block/src.h, core/block/lock.h, core/base/io.h (tmp file, rename, dir sync).
 */
#include "core/block/driver.h"
#include "core/base/io.h"
#include "core/block/lock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct img_rewrite {
    struct io_tmpfile t;   /* the .part (its own descriptor, for the sync and the rename) */
    struct img_src *src;   /* the same file as the driver's source */
    struct lock_ref *lock; /* taken on the new file at commit */
};

/* The .part with the image's mode and owner (root keeps the owner; others get the file, as
 * with cp), as a read-write source. */
static int rewrite_open(struct img *img, struct img_rewrite *rw)
{
    struct stat st;
    if (fstat(src_fd(img->src), &st) < 0)
        return img_fail(img, -errno, "%s: %s", img->path, strerror(errno));
    char *real = realpath(img->path, NULL);
    if (!real)
        return img_fail(img, -errno, "%s: %s", img->path, strerror(errno));
    int r = io_tmp_create(&rw->t, real);
    free(real);
    if (r < 0)
        return img_fail(img, r, "creating %s.part: %s", img->path, strerror(-r));
    if (fchmod(rw->t.fd, st.st_mode & 07777) < 0)
        r = -errno;
    if (r == 0 && fchown(rw->t.fd, st.st_uid, st.st_gid) < 0 && errno != EPERM)
        r = -errno;
    int fd = r < 0 ? -1 : fcntl(rw->t.fd, F_DUPFD_CLOEXEC, 0);
    if (r == 0 && fd < 0)
        r = -errno;
    if (r < 0) {
        io_tmp_abort(&rw->t);
        return img_fail(img, r, "creating %s.part: %s", img->path, strerror(-r));
    }
    struct img_err e = {0};
    if ((r = src_from_fd(fd, img->path, SRC_OPEN_RW, &rw->src, &e)) < 0) { /* fd closed */
        io_tmp_abort(&rw->t);
        return img_fail(img, r, "%s", e.msg);
    }
    return 0;
}

int img_rewrite_begin(struct img *img, struct img_rewrite **out, struct img_src **src)
{
    *out = NULL;
    *src = NULL;
    if (!img->src || src_kind(img->src) != SRC_FILE || src_fd(img->src) < 0)
        return img_fail(img, -ENOTSUP,
                        "%s: only a regular file can be rewritten as a new file (not a device "
                        "or an NBD export)",
                        img->path);
    struct img_rewrite *rw = calloc(1, sizeof *rw);
    if (!rw)
        return img_fail(img, -ENOMEM, "out of memory");
    int r = rewrite_open(img, rw);
    if (r < 0) {
        free(rw);
        return r;
    }
    *out = rw;
    *src = rw->src;
    return 0;
}

void img_rewrite_abort(struct img_rewrite *rw)
{
    if (!rw)
        return;
    src_close(rw->src);
    io_tmp_abort(&rw->t);
    lock_release(rw->lock);
    free(rw);
}

int img_rewrite_commit(struct img *img, struct img_rewrite *rw)
{
    struct img_err e = {0};
    int r = 0;
    /* Locked before it gets the name, so that no other opener finds it unlocked. */
    if (img->lock && (r = lock_acquire(src_fd(rw->src), rw->t.tmp_path, true, &rw->lock, &e)) < 0) {
        img_rewrite_abort(rw);
        return img_fail(img, r, "%s", e.msg);
    }
    if ((r = io_tmp_commit(&rw->t)) < 0) { /* fsync, rename, directory sync; .part removed */
        img_rewrite_abort(rw);
        return img_fail(img, r, "replacing %s: %s", img->path, strerror(-r));
    }
    /* The rename is done: from here on the new file is the image. */
    img_replace_src(img, rw->src);
    if (rw->lock) {
        lock_release(img->lock);
        img->lock = rw->lock;
    }
    free(rw);
    return 0;
}

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* ops_append.c: ops_append(), the dd/cat extension of raw images: grow a raw file by zeros
 * (a hole, or real zeros with dense) or by another raw image's contents, in place or into a
 * new file (`cat a b > c`).
 *
 * Raw only: any header or footer format would be broken by bytes appended after it, so FILE
 * (and OTHER) are probed first and everything else is refused. Data moves extent by extent
 * (SEEK_DATA/SEEK_HOLE): holes are never read or written. A new file is first cloned with
 * FICLONE where the file system can; copies use copy_file_range (which may share extents
 * itself), falling back to read/write. In place, a failure or cancellation truncates FILE back
 * to its old size; a new file is written as NEW.part and renamed when complete and flushed.
 * Talks to: img.h (probing), io.h (extents, tmp files). Never prints.
 */
#include "core/ops/ops.h"
#include "core/block/driver.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/base/bytes.h"
#include "core/base/io.h"
#include "core/block/lock.h"
#include "core/block/resolve.h"

#define APPEND_CHUNK (4u << 20) /* bytes per batch between progress/cancel checks */

struct app {
    const struct ops_append_req *req;
    struct img_err *err;
    int dfd;           /* the file being grown or written */
    const char *dname; /* its name, for messages */
    uint64_t done;     /* progress: bytes walked so far */
    bool no_cfr;       /* copy_file_range unusable here: read/write */
    uint8_t *buf;      /* read/write fallback buffer */
};

static int app_cancelled(struct app *a)
{
    const struct ops_progress *p = a->req->progress;
    if (p && p->cancel && atomic_load(p->cancel))
        return err_set(a->err, -ECANCELED, "%s: append cancelled", a->dname);
    return 0;
}

static void app_progress(struct app *a, uint64_t n)
{
    struct ops_progress *p = a->req->progress;
    a->done += n;
    if (!p)
        return;
    p->done = a->done;
    if (p->cb)
        p->cb(p->ctx, p);
}

/* Probe path and refuse anything that is not a raw image in a regular file. */
static int app_check_raw(const struct ops_append_req *req, const char *path, const char *fmt,
                         uint64_t *size, struct img_err *err)
{
    if (fmt && !img_format_is_raw(fmt))
        return err_set(err, -ENOTSUP,
                       "%s: append works on raw images only, not %s; use 'dimg resize' to grow "
                       "it",
                       path, fmt);
    /* Only a probe: the descriptors ops_append then uses take the locks. */
    struct img *img =
        img_open(path, fmt, (req->open_flags & ~IMG_OPEN_RW) | IMG_OPEN_FORCE_SHARE, err);
    if (!img)
        return err->code ? err->code : -EIO;
    int r = 0;
    if (!(img->drv->caps & IMG_CAP_RAW))
        r = err_set(err, -ENOTSUP,
                    "%s is a %s image: append works on raw images only; use 'dimg resize' to "
                    "grow it",
                    path, img->drv->name);
    else if (!img->src || src_kind(img->src) != SRC_FILE || !(src_caps(img->src) & SRC_CAP_FD))
        r = err_set(err, -EINVAL, "%s: append needs a regular file", path);
    else if ((r = src_size(img->src, size)) < 0)
        err_set(err, r, "%s: %s", path, src_errmsg(img->src, r));
    img_close(img);
    return r;
}

/* Copy [soff, soff+n) of sfd to doff of a->dfd (all data: the caller skips holes). */
static int app_copy_data(struct app *a, int sfd, uint64_t soff, uint64_t doff, uint64_t n)
{
    while (n > 0) {
        int r = app_cancelled(a);
        if (r < 0)
            return r;
        size_t len = n < APPEND_CHUNK ? (size_t)n : APPEND_CHUNK;
        size_t moved = 0;
        if (!a->no_cfr) {
            loff_t so = (loff_t)soff, dof = (loff_t)doff;
            ssize_t k = copy_file_range(sfd, &so, a->dfd, &dof, len, 0);
            if (k > 0) {
                moved = (size_t)k;
            } else if (k < 0 && errno != EXDEV && errno != ENOSYS && errno != EINVAL &&
                       errno != EOPNOTSUPP && errno != EINTR) {
                return err_set(a->err, -errno, "%s: copy at %llu: %s", a->dname,
                               (unsigned long long)doff, strerror(errno));
            } else if (k < 0 && errno != EINTR) {
                a->no_cfr = true;
            } else if (k == 0) {
                a->no_cfr = true; /* source shorter than expected: let pread zero-fill */
            }
        }
        if (a->no_cfr && moved == 0) {
            if (!a->buf && !(a->buf = malloc(APPEND_CHUNK)))
                return err_set(a->err, -ENOMEM, "out of memory");
            r = io_pread_zero(sfd, a->buf, len, soff);
            if (r == 0)
                r = io_pwrite_all(a->dfd, a->buf, len, doff);
            if (r < 0)
                return err_set(a->err, r, "%s: copy at %llu: %s", a->dname,
                               (unsigned long long)doff, strerror(-r));
            moved = len;
        }
        soff += moved;
        doff += moved;
        n -= moved;
        app_progress(a, moved);
    }
    return 0;
}

/* Copy the data extents of sfd's [0, ssize) to doff of a->dfd, skipping holes (the target
 * range is already a hole, so skipped ranges read as zeros). */
static int app_copy_file(struct app *a, int sfd, uint64_t ssize, uint64_t doff)
{
    uint64_t off = 0;
    while (off < ssize) {
        int is_data;
        uint64_t end;
        int r = io_seek_extent(sfd, off, ssize, &is_data, &end);
        if (r < 0)
            return err_set(a->err, r, "%s: %s", a->dname, strerror(-r));
        if (end <= off)
            end = ssize;
        if (is_data) {
            r = app_copy_data(a, sfd, off, doff + off, end - off);
            if (r < 0)
                return r;
        } else {
            app_progress(a, end - off);
        }
        off = end;
    }
    return 0;
}

/* Make [off, off+len) of the target read as zeros: a hole already, or written for dense. */
static int app_zeros(struct app *a, uint64_t off, uint64_t len)
{
    if (!a->req->dense) {
        app_progress(a, len);
        return 0;
    }
    while (len > 0) {
        int r = app_cancelled(a);
        if (r < 0)
            return r;
        uint64_t n = len < APPEND_CHUNK ? len : APPEND_CHUNK;
        r = io_pwrite_zeroes(a->dfd, off, n);
        if (r < 0)
            return err_set(a->err, r, "%s: writing zeros at %llu: %s", a->dname,
                           (unsigned long long)off, strerror(-r));
        off += n;
        len -= n;
        app_progress(a, n);
    }
    return 0;
}

/* Would the result's first sector make a later probe guess another format (a planted qcow2
 * header with a backing name)? Only matters when the appended data lands in the probe area. */
static int app_check_probe(const struct ops_append_req *req, int ffd, uint64_t fsize, int ofd,
                           struct img_err *err)
{
    if (fsize >= IMG_PROBE_BYTES || ofd < 0 || (req->fmt && img_format_is_raw(req->fmt)))
        return 0;
    uint8_t buf[IMG_PROBE_BYTES];
    int r = io_pread_zero(ffd, buf, (size_t)fsize, 0);
    if (r == 0)
        r = io_pread_zero(ofd, buf + fsize, (size_t)(IMG_PROBE_BYTES - fsize), 0);
    if (r < 0)
        return err_set(err, r, "%s: %s", req->path, strerror(-r));
    const struct img_driver *d = img_probe_buf(buf, IMG_PROBE_BYTES, NULL);
    if (d && !(d->caps & IMG_CAP_RAW))
        return err_set(err, -EPERM,
                       "%s: the result would look like a %s image; name the format with -f raw "
                       "to append anyway",
                       req->path, d->name);
    return 0;
}

/* -o OUT: OUT.part begins as a copy of FILE at the new size, sharing FILE's extents outright
 * where the file system can (btrfs, xfs). */
static int app_new_target(struct app *a, struct io_tmpfile *tmp, int ffd, uint64_t fsize,
                          uint64_t nsize)
{
    const char *out = a->req->out;
    int r = io_tmp_create(tmp, out);
    if (r == -EEXIST)
        return err_set(a->err, r,
                       "%s.part already exists (left from an interrupted run?); remove it", out);
    if (r < 0)
        return err_set(a->err, r, "%s.part: %s", out, strerror(-r));
    a->dfd = tmp->fd;
    a->dname = tmp->tmp_path;
    bool cloned = fsize > 0 && ioctl(a->dfd, FICLONE, ffd) == 0;
    if (cloned)
        app_progress(a, fsize);
    if (ftruncate(a->dfd, (off_t)nsize) < 0)
        return err_set(a->err, -errno, "%s: %s", a->dname, strerror(errno));
    return cloned ? 0 : app_copy_file(a, ffd, fsize, 0);
}

/* Open FILE (and OTHER) as regular files without blocking (the probe's file may have been
 * replaced by a FIFO since), take QEMU-compatible locks (FILE changes in place unless -o;
 * OTHER is only read) and read the sizes again from these descriptors. What was opened is
 * in *ffd, *ofd, *lk_f, *lk_o even on failure: the caller closes them. */
static int app_open(const struct ops_append_req *req, int *ffd, int *ofd, struct lock_ref **lk_f,
                    struct lock_ref **lk_o, uint64_t *fsize, uint64_t *osize, struct img_err *err)
{
    bool share = req->open_flags & IMG_OPEN_FORCE_SHARE;
    int r;
    *ffd = resolve_open_file(req->path, req->out ? O_RDONLY : O_RDWR, 0, NULL, err);
    if (*ffd < 0)
        return *ffd;
    if (req->other && (*ofd = resolve_open_file(req->other, O_RDONLY, 0, NULL, err)) < 0)
        return *ofd;
    if ((r = lock_take(*ffd, req->path, !req->out, share, lk_f, NULL, err)) < 0 ||
        (*ofd >= 0 && (r = lock_take(*ofd, req->other, false, share, lk_o, NULL, err)) < 0))
        return r;
    if ((r = io_file_size(*ffd, fsize)) < 0 || (*ofd >= 0 && (r = io_file_size(*ofd, osize)) < 0))
        return err_set(err, r, "%s: %s", req->path, strerror(-r));
    return 0;
}

int ops_append(const struct ops_append_req *req, struct ops_append_res *res, struct img_err *err)
{
    struct app a = {.req = req, .err = err, .dfd = -1};
    struct io_tmpfile tmp = {.fd = -1};
    uint64_t fsize = 0, osize = 0;
    int ffd = -1, ofd = -1, r;
    struct lock_ref *lk_f = NULL, *lk_o = NULL;
    bool truncate_back = false;

    err_clear(err);
    memset(res, 0, sizeof *res);
    r = app_check_raw(req, req->path, req->fmt, &fsize, err);
    if (r < 0)
        return r;
    if (req->other && (r = app_check_raw(req, req->other, NULL, &osize, err)) < 0)
        return r;
    uint64_t add = req->other ? osize : req->zeros, nsize;
    if (u64_add_overflow(fsize, add, &nsize) || nsize > (uint64_t)INT64_MAX)
        return err_set(err, -EFBIG, "%s: the result would exceed the largest file size", req->path);
    res->old_size = fsize;

    struct stat st;
    if (req->out && lstat(req->out, &st) == 0)
        return err_set(err, -EEXIST, "%s already exists; remove it or choose another name",
                       req->out);
    if ((r = app_open(req, &ffd, &ofd, &lk_f, &lk_o, &fsize, &osize, err)) < 0)
        goto out;
    add = req->other ? osize : req->zeros;
    if (u64_add_overflow(fsize, add, &nsize) || nsize > (uint64_t)INT64_MAX) {
        r = err_set(err, -EFBIG, "%s: the result would exceed the largest file size", req->path);
        goto out;
    }
    res->old_size = fsize;
    if ((r = app_check_probe(req, ffd, fsize, ofd, err)) < 0)
        goto out;

    struct ops_progress *p = req->progress;
    if (p) {
        p->total = (req->out ? fsize : 0) + add;
        p->done = 0;
        if (p->cb)
            p->cb(p->ctx, p);
    }

    if (req->out) {
        if ((r = app_new_target(&a, &tmp, ffd, fsize, nsize)) < 0)
            goto out;
    } else {
        a.dfd = ffd;
        a.dname = req->path;
        truncate_back = true; /* from here on a failure restores the old size */
        if (ftruncate(a.dfd, (off_t)nsize) < 0) {
            r = err_set(err, -errno, "%s: %s", a.dname, strerror(errno));
            goto out;
        }
    }

    r = ofd >= 0 ? app_copy_file(&a, ofd, osize, fsize) : app_zeros(&a, fsize, add);
    if (r < 0)
        goto out;
    if (req->out) {
        a.dfd = -1;
        r = io_tmp_commit(&tmp);
        if (r < 0) {
            err_set(err, r, "%s: %s", req->out, strerror(-r));
            goto out;
        }
    } else if ((r = io_sync(ffd)) < 0) {
        err_set(err, r, "%s: flush: %s", req->path, strerror(-r));
        goto out;
    }
    truncate_back = false;
    res->new_size = nsize;
    res->virtual_size = u64_align_up(nsize, 512);

out:
    if (truncate_back && ftruncate(ffd, (off_t)res->old_size) == 0)
        fsync(ffd);
    if (tmp.tmp_path)
        io_tmp_abort(&tmp);
    if (ffd >= 0)
        close(ffd);
    if (ofd >= 0)
        close(ofd);
    free(a.buf);
    lock_release(lk_f);
    lock_release(lk_o);
    return r;
}

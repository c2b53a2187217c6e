/* SPDX-License-Identifier: GPL-2.0-or-later */
/* create.c: the create lifecycle, owned by core so that no driver opens, syncs or removes a
 * file. A driver's create slot asks for the image's source (opened on first use, after the
 * driver has checked its options: a refused option leaves an existing file untouched) and
 * for extra files beside the image (vmdk extents, a qcow2 external data file), and writes
 * into them; core records every file it made, flushes and closes them all when the driver
 * succeeds, and removes every one of them when anything fails: at create time, or later
 * when the operation that created the image (convert) fails and calls img_create_undo.
 * A block device or an NBD export named as the image is written in place, never removed.
 * Talks to: core/block/src.h (the sources), core/block/lock.h, core/base/io.h (rename, dir
 * sync), the drivers through their create slot.
 */
#include "core/block/driver.h"
#include "core/base/io.h"
#include "core/block/lock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* One file (or device, or export) a create opened. */
struct create_file {
    char *path;
    struct img_src *src; /* NULL once closed */
    bool remove;         /* made or truncated by this create: removed on failure */
};

struct img_create_ctx {
    const struct img_driver *drv;
    char *path;  /* where the image is written (NAME.part in a convert) */
    char *final; /* the name it ends up with */
    bool excl;   /* a convert's target: every file must be new */
    struct img_opts *opts;
    bool checked; /* the options left untaken were refused (before the first file) */
    struct img_err *err;
    struct create_file *v;
    size_t n;
    struct img_src *main; /* v[0].src once opened */
};

static int ctx_add(struct img_create_ctx *c, const char *path, struct img_src *s, bool remove)
{
    struct create_file *v = realloc(c->v, (c->n + 1) * sizeof *v);
    char *p = strdup(path);
    if (!v || !p) {
        if (v)
            c->v = v;
        free(p);
        src_close(s);
        if (remove)
            unlink(path);
        return err_set(c->err, -ENOMEM, "out of memory");
    }
    c->v = v;
    v[c->n++] = (struct create_file){p, s, remove};
    return 0;
}

/* The error of opening path; what names the file ("" for the image itself). */
static int create_open_error(struct img_create_ctx *c, const char *path, const char *what, int e)
{
    if (e == EEXIST)
        return err_set(c->err, -e, "%s: %s%s already exists; remove it or choose another name",
                       c->drv->name, what, path);
    if (e == ELOOP)
        return err_set(c->err, -e, "%s: %s%s is a symlink (not followed)", c->drv->name, what,
                       path);
    if (!what[0]) /* the image itself: named as every open failure names it */
        return err_set(c->err, -e, "%s: %s", path, strerror(e));
    return err_set(c->err, -e, "%s: %s%s: %s", c->drv->name, what, path, strerror(e));
}

/* Open path for a new file: created (must be new when excl), else an existing regular file
 * truncated, or (dev_ok) an existing block device as it is. *made: it did not exist before
 * (and is removed again should this fail). what names the file in messages. */
static int create_open(struct img_create_ctx *c, const char *path, const char *what, bool excl,
                       bool dev_ok, struct img_src **out, bool *made)
{
    int nofollow = dev_ok ? 0 : O_NOFOLLOW; /* extras: never through a symlink */
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    *made = fd >= 0;
    if (fd < 0 && errno == EEXIST && !excl)
        fd = open(path, O_RDWR | O_CLOEXEC | O_NONBLOCK | nofollow);
    if (fd < 0)
        return create_open_error(c, path, what, errno);
    struct stat st;
    int r = fstat(fd, &st) < 0 ? -errno : 0;
    if (r == 0 && S_ISREG(st.st_mode) && !*made && ftruncate(fd, 0) < 0)
        r = -errno;
    if (r < 0)
        err_set(c->err, r, "%s: %s", path, strerror(-r));
    else if (!S_ISREG(st.st_mode) && !(dev_ok && S_ISBLK(st.st_mode)))
        r = err_set(c->err, -EINVAL, "%s: %s%s is not a regular file%s", c->drv->name, what, path,
                    dev_ok ? " or block device" : "");
    if (r < 0)
        close(fd);
    else
        r = src_from_fd(fd, path, SRC_OPEN_RW, out, c->err); /* closes fd on failure */
    if (r < 0 && *made)
        unlink(path);
    return r;
}

/* Before the first file is touched: every option the driver knows is taken by now; refuse
 * the rest before a byte changes. */
static int ctx_first_file(struct img_create_ctx *c)
{
    if (c->checked || !c->opts)
        return 0;
    c->checked = true;
    return img_opts_check_all_taken(c->opts, c->drv->name, c->err);
}

int img_create_src(struct img_create_ctx *c, struct img_src **out)
{
    if (c->main) {
        *out = c->main;
        return 0;
    }
    *out = NULL;
    int r = ctx_first_file(c);
    if (r < 0)
        return r;
    struct img_src *s = NULL;
    bool made = false;
    r = src_name_is_uri(c->path) ? src_open(c->path, SRC_OPEN_RW, &s, c->err)
                                 : create_open(c, c->path, "", c->excl, true, &s, &made);
    if (r < 0)
        return r;
    /* A device or an export is written in place: never removed. */
    if ((r = ctx_add(c, c->path, s, src_kind(s) == SRC_FILE)) < 0)
        return r;
    *out = c->main = s;
    return 0;
}

const char *img_create_path(const struct img_create_ctx *c)
{
    return c->path;
}

const char *img_create_final(const struct img_create_ctx *c)
{
    return c->final;
}

int img_create_extra(struct img_create_ctx *c, const char *name, const char *what,
                     struct img_src **out)
{
    *out = NULL;
    /* A file beside a device node or an NBD export would land in /dev, or nowhere. */
    struct stat st;
    if (src_name_is_uri(c->path) || (stat(c->path, &st) == 0 && S_ISBLK(st.st_mode)))
        return err_set(c->err, -ENOTSUP,
                       "%s: no %s%s beside a block device or NBD export (a regular file only)",
                       c->final, what,
                       strcmp(what, "extent file") == 0 ? "s (flat or split vmdk)" : "");
    int r = ctx_first_file(c);
    if (r < 0)
        return r;
    char *dir = io_dirname(c->final), *full = dir ? io_path_join(dir, name) : NULL;
    free(dir);
    if (!full)
        return err_set(c->err, -ENOMEM, "out of memory");
    struct img_src *s = NULL;
    bool made;
    char w[64];
    snprintf(w, sizeof w, "%s ", what);
    r = create_open(c, full, w, c->excl, false, &s, &made);
    if (r == 0 && (r = ctx_add(c, full, s, true)) == 0)
        *out = s;
    free(full);
    return r;
}

int img_create_truncate(struct img_src *s, uint64_t size)
{
    if (src_caps(s) & SRC_CAP_TRUNCATE)
        return src_truncate(s, size);
    /* A device or an export keeps its size: it must hold the image. */
    uint64_t have;
    int r = src_size(s, &have);
    return r < 0 ? r : have < size ? -ENOSPC : 0;
}

int img_create_allocate(struct img_src *s, uint64_t off, uint64_t len, bool full)
{
    if (src_caps(s) & SRC_CAP_TRUNCATE)
        return src_allocate(s, off, len, full);
    /* The space of a device is there already; full preallocation means zeros. */
    return full ? src_zero(s, off, len, 0) : 0;
}

/* Flush and close every source: 0 or the first failure, with err set. */
static int ctx_close(struct img_create_ctx *c, bool flush)
{
    int r = 0;
    for (size_t i = 0; i < c->n; i++) {
        struct img_src *s = c->v[i].src;
        if (!s)
            continue;
        /* A file or device: fsync, the new inode too; an export: its flush. */
        int f = !flush || r < 0 ? 0 : src_fd(s) >= 0 ? io_sync_new(src_fd(s)) : src_flush(s);
        if (f < 0)
            r = err_set(c->err, f, "%s: fsync: %s", c->v[i].path, src_errmsg(s, f));
        src_close(s);
        c->v[i].src = NULL;
    }
    c->main = NULL;
    return r;
}

void img_create_undo(struct img_create_ctx *c)
{
    if (!c)
        return;
    ctx_close(c, false);
    for (size_t i = c->n; i-- > 0;)
        if (c->v[i].remove)
            unlink(c->v[i].path);
    img_create_done(c);
}

void img_create_done(struct img_create_ctx *c)
{
    if (!c)
        return;
    ctx_close(c, false);
    for (size_t i = 0; i < c->n; i++)
        free(c->v[i].path);
    free(c->v);
    free(c->path);
    free(c->final);
    free(c);
}

int img_create_commit(struct img_create_ctx *c, struct img_err *err)
{
    if (strcmp(c->path, c->final) != 0) {
        int r = io_replace(c->path, c->final);
        if (r < 0)
            return err_set(err, r, "%s: rename from %s: %s", c->final, c->path, strerror(-r));
        (void)io_sync_dir(c->final); /* the new name made durable: best effort, as the data is */
    }
    img_create_done(c);
    return 0;
}

/* The driver for fmt, when it can create what req asks for. */
static const struct img_driver *create_driver(const char *fmt, const struct img_create_req *req,
                                              struct img_err *err)
{
    const struct img_driver *drv = img_driver_find(fmt);
    if (!drv && img_foreign_refuse(fmt, NULL, err) < 0)
        return NULL;
    if (!drv)
        err_set(err, -EINVAL, "unknown format '%s'", fmt);
    else if (!drv->create)
        err_set(err, -ENOTSUP, "%s: creating images is not supported", fmt);
    else if (req->backing_file && !(drv->caps & IMG_CAP_BACKING))
        err_set(err, -ENOTSUP, "%s: backing files are not supported", fmt);
    else
        return drv;
    return NULL;
}

int img_create_keep(const char *fmt, const char *path, const struct img_create_req *req,
                    struct img_create_ctx **made, struct img_err *err)
{
    *made = NULL;
    err_clear(err);
    const struct img_driver *drv = create_driver(fmt, req, err);
    if (!drv)
        return err->code;
    /* Creating truncates: never under a VM or qemu-img that has the file open. */
    int r = src_name_is_uri(path) ? 0 : lock_check_free(path, err);
    if (r < 0)
        return r;
    struct img_create_ctx *c = calloc(1, sizeof *c);
    if (!c || !(c->path = strdup(path)) ||
        !(c->final = strdup(req->final_path ? req->final_path : path))) {
        img_create_done(c);
        return err_set(err, -ENOMEM, "out of memory");
    }
    c->drv = drv;
    c->excl = req->final_path != NULL;
    c->opts = req->opts;
    c->err = err;
    r = drv->create(c, req, err);
    if (r == 0 && !c->main) /* every image has its own file, even if empty */
        r = err_set(err, -EIO, "%s: create wrote no image", drv->name);
    if (r == 0 && req->opts)
        r = img_opts_check_all_taken(req->opts, fmt, err);
    if (r == 0)
        r = ctx_close(c, true);
    if (r < 0) {
        if (!err->msg[0])
            err_set(err, r, "%s: %s", path, strerror(-r));
        img_create_undo(c);
        return r;
    }
    *made = c;
    return 0;
}

int img_create(const char *fmt, const char *path, const struct img_create_req *req,
               struct img_err *err)
{
    struct img_create_ctx *c;
    int r = img_create_keep(fmt, path, req, &c, err);
    img_create_done(c);
    return r;
}

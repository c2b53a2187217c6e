/* SPDX-License-Identifier: GPL-2.0-or-later */
/* ops_commit.c: ops_commit(), qemu-img commit: the data of an overlay (and of every layer
 * between it and the chosen base) written down into the base, then the overlay emptied.
 *
 * The chain is opened read-only through the overlay; the base is opened a second time,
 * read-write (with its own chain, for copy-on-write of partial clusters). Only ranges that
 * a layer above the base allocates are read through the overlay, so the read-only handle
 * never sees the base change under it. Order for crashes: every byte goes into the base,
 * the base is flushed, a link that records the base's content ID (vmdk) is recorded again,
 * and only then is the overlay emptied (img_make_empty).
 * Talks to: img.h (block status per layer, read, write, write_zeroes, truncate, flush,
 * make_empty), io.h (paths). Never prints.
 */
#include "core/ops/ops.h"
#include "core/block/driver.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/base/io.h"

#define COMMIT_CHUNK (2u << 20)

static int commit_fail(struct img *img, int r, struct img_err *err)
{
    *err = img->err;
    if (!err->code)
        err->code = r;
    return r;
}

/* Whether name designates layer, the backing file of parent: the name as parent records it,
 * or a path (from the current directory or from parent's) to the same file. */
static bool commit_names_layer(const struct img *parent, const struct img *layer, const char *name)
{
    struct stat st;
    if (parent->backing_name && strcmp(parent->backing_name, name) == 0)
        return true;
    if (stat(name, &st) == 0 && st.st_dev == layer->st_dev && st.st_ino == layer->st_ino)
        return true;
    char *full = io_path_join(parent->dir, name);
    bool hit =
        full && stat(full, &st) == 0 && st.st_dev == layer->st_dev && st.st_ino == layer->st_ino;
    free(full);
    return hit;
}

/* The run at off (at most len) that some layer from top down to base (excluded) allocates
 * (*alloc), or that none does. Past the end of a layer the layer above reads zeros: that
 * hides the base too, so it counts as allocated. */
static int commit_above(struct img *top, struct img *base, uint64_t off, uint64_t *len, bool *alloc,
                        struct img_err *err)
{
    *alloc = false;
    for (struct img *l = top; l && l != base; l = l->backing) {
        if (off >= l->size) {
            *alloc = true;
            return 0;
        }
        if (*len > l->size - off)
            *len = l->size - off;
        struct img_bs bs;
        int r = img_block_status_layer(l, off, *len, &bs);
        if (r < 0)
            return commit_fail(l, r, err);
        *len = bs.len;
        if (bs.flags & IMG_BS_ALLOCATED) {
            *alloc = true;
            return 0;
        }
    }
    return 0;
}

/* Copy [off, off+len) of top's view into the base: zero runs as zero writes (they hide the
 * base's data), the rest read and written. */
static int commit_copy(struct img *top, struct img *bw, uint64_t off, uint64_t len, uint8_t *buf,
                       struct img_err *err)
{
    while (len > 0) {
        struct img_bs bs;
        int r = img_block_status(top, off, len, &bs);
        if (r < 0)
            return commit_fail(top, r, err);
        uint64_t m = bs.len;
        if (bs.flags & IMG_BS_ZERO) {
            if ((r = img_write_zeroes(bw, off, m)) < 0)
                return commit_fail(bw, r, err);
        } else {
            for (uint64_t k = 0; k < m;) {
                size_t n = m - k < COMMIT_CHUNK ? (size_t)(m - k) : COMMIT_CHUNK;
                if ((r = img_read(top, off + k, buf, n)) < 0)
                    return commit_fail(top, r, err);
                if ((r = img_write(bw, off + k, buf, n)) < 0)
                    return commit_fail(bw, r, err);
                k += n;
            }
        }
        off += m;
        len -= m;
    }
    return 0;
}

/* The layer of top's chain that base names (the backing file when base is NULL). */
static struct img *commit_find_base(struct img *top, const char *base, struct img_err *err)
{
    if (!base)
        return top->backing;
    for (struct img *p = top; p->backing; p = p->backing)
        if (commit_names_layer(p, p->backing, base))
            return p->backing;
    err_set(err, -ENOENT, "Did not find '%s' in the backing chain of '%s'", base, top->path);
    return NULL;
}

/* The layer right above base records base's content ID in its link (vmdk): base was just
 * written, so the link is recorded again with base's new ID. A crash before this leaves the
 * layer refusing to read through base (the IDs differ), as after qemu-img's commit;
 * `dimg rebase -u` with the same name repairs it. */
static int commit_relink(struct img *top, struct img *base, bool keep, unsigned open_flags,
                         struct img_err *err)
{
    struct img *above = top;
    while (above->backing != base)
        above = above->backing;
    if (!(above->drv->caps & IMG_CAP_PARENT_ID) || !above->backing_name)
        return 0;
    struct img *w = above;
    if (above != top || keep) {
        w = img_open(above->path, above->drv->name,
                     IMG_OPEN_RW | (open_flags & ~(IMG_OPEN_RW | IMG_OPEN_BACKING)), err);
        if (!w) {
            err_prefix(err, "could not open %s to record its parent's new ID", above->path);
            return err->code ? err->code : -EIO;
        }
    }
    char *name = strdup(above->backing_name);
    char *fmt = above->backing_fmt ? strdup(above->backing_fmt) : NULL;
    int r = name ? img_set_backing(w, name, fmt) : img_fail(w, -ENOMEM, "out of memory");
    if (r < 0) {
        commit_fail(w, r, err);
        err_prefix(err, "Could not record the new ID of %s in %s", base->path, above->path);
    }
    free(name);
    free(fmt);
    if (w != above)
        img_close(w);
    return r;
}

int ops_commit(const struct ops_commit_req *req, struct ops_commit_res *res, struct img_err *err)
{
    err_clear(err);
    memset(res, 0, sizeof *res);
    bool keep = req->keep || req->base; /* -b implies -d, as in qemu-img */
    /* The chain's read-only layers take no locks here (no "in use" warning): the base is
     * opened for writing next, and that is where a holder is reported, as one error. */
    unsigned flags = IMG_OPEN_BACKING | (req->open_flags & ~IMG_OPEN_RW) |
                     (keep ? 0 : IMG_OPEN_RW) | IMG_OPEN_FORCE_SHARE;
    struct img *top = img_open(req->path, req->fmt, flags, err), *bw = NULL;
    if (!top)
        return err->code ? err->code : -EIO;
    uint8_t *buf = NULL;
    int r;
    if (!top->backing_name || !top->backing_name[0] || !top->backing) {
        r = err_set(err, -EINVAL, "%s: Image does not have a backing file", req->path);
        goto out;
    }
    struct img *base = commit_find_base(top, req->base, err);
    if (!base) {
        r = err->code;
        goto out;
    }
    if (!keep && !top->drv->make_empty) {
        r = err_set(err, -ENOTSUP,
                    "%s: format %s cannot empty itself into its backing file; "
                    "use -d to keep its data",
                    req->path, top->drv->name);
        goto out;
    }
    snprintf(res->base_path, sizeof res->base_path, "%s", base->path);
    /* A base whose format was guessed is probed again, so a guessed raw keeps sector 0. */
    bw = img_open(base->path, base->probed ? NULL : base->drv->name,
                  IMG_OPEN_RW | IMG_OPEN_BACKING | (req->open_flags & ~IMG_OPEN_RW), err);
    if (!bw) {
        r = err->code ? err->code : -EIO;
        err_prefix(err, "could not open the base image for writing");
        goto out;
    }
    if (top->size > bw->size && (r = img_truncate(bw, top->size, IMG_PREALLOC_OFF)) < 0) {
        r = err_set(err, r,
                    "Top image %s is larger than base image %s, and resize of base "
                    "image failed: %s",
                    req->path, base->path, img_errmsg(bw));
        goto out;
    }
    if (!(buf = malloc(COMMIT_CHUNK))) {
        r = err_set(err, -ENOMEM, "out of memory");
        goto out;
    }
    struct ops_progress *p = req->progress;
    if (p)
        p->total = top->size;
    uint64_t off = 0;
    while (off < top->size) {
        if (ops_progress_step(p, off)) {
            r = err_set(err, -ECANCELED,
                        "%s: commit cancelled (the base holds part of the "
                        "data; the overlay is unchanged)",
                        req->path);
            break;
        }
        uint64_t n = top->size - off < COMMIT_CHUNK ? top->size - off : COMMIT_CHUNK;
        bool alloc;
        if ((r = commit_above(top, base, off, &n, &alloc, err)) < 0 ||
            (alloc && (r = commit_copy(top, bw, off, n, buf, err)) < 0))
            break;
        off += n;
    }
    /* Flushed whatever happened: what reached the base stays consistent. */
    int fr = img_flush(bw);
    if (r < 0)
        goto out;
    if (fr < 0) {
        r = commit_fail(bw, fr, err);
        goto out;
    }
    if ((r = commit_relink(top, base, keep, req->open_flags, err)) < 0)
        goto out;
    if (!keep) {
        if ((r = img_make_empty(top)) < 0 || (r = img_flush(top)) < 0) {
            commit_fail(top, r, err);
            err_prefix(err, "Could not empty %s", req->path);
            goto out;
        }
        res->emptied = true;
    }
    r = 0;
    ops_progress_step(p, top->size);
out:
    free(buf);
    img_close(bw);
    img_close(top);
    return r;
}

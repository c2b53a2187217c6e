/* SPDX-License-Identifier: GPL-2.0-or-later */
/* ops_rebase.c: ops_rebase(), qemu-img rebase: give an overlay a new backing file.
 *
 * Safe mode opens the overlay read-write with its old chain and the new backing chain
 * read-only, and copies into the overlay every 512-byte sector it does not allocate itself
 * whose content differs between the two (runs both chains report as zeros are skipped
 * without reading); the overlay is flushed, and only then is the name rewritten through the
 * driver's set_backing slot, so a crash or a cancel leaves the old name with content that
 * reads the same. Unsafe mode (-u) only rewrites the name; an empty name flattens.
 * Talks to: img.h (block status, read, write, flush, set_backing), io.h (paths). Never
 * prints.
 */
#include "core/ops/ops.h"
#include "core/block/driver.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/io.h"

#define REBASE_CHUNK (1u << 20)
#define REBASE_SECTOR 512u

struct rebase {
    struct img *top, *nb; /* the overlay; the new backing chain (NULL: none) */
    uint8_t *a, *b;       /* old and new content of one chunk */
    struct img_err *err;
};

static int rebase_fail(struct rebase *rb, struct img *img, int r)
{
    *rb->err = img->err;
    if (!rb->err->code)
        rb->err->code = r;
    return r;
}

/* Length of the zero run at off in img's view (at most len), 0 when it is not zero there.
 * NULL or past the end: zeros. */
static int rebase_zero_run(struct rebase *rb, struct img *img, uint64_t off, uint64_t len,
                           uint64_t *run)
{
    *run = len;
    if (!img || off >= img->size)
        return 0;
    if (len > img->size - off)
        len = img->size - off;
    struct img_bs bs;
    int r = img_block_status(img, off, len, &bs);
    if (r < 0)
        return rebase_fail(rb, img, r);
    *run = (bs.flags & IMG_BS_ZERO) ? bs.len : 0;
    return 0;
}

/* img's content at [off, off+len), zeros past its end (or everywhere for NULL). */
static int rebase_read(struct rebase *rb, struct img *img, uint64_t off, uint8_t *buf, size_t len)
{
    size_t k = 0;
    if (img && off < img->size)
        k = img->size - off < len ? (size_t)(img->size - off) : len;
    int r = k ? img_read(img, off, buf, k) : 0;
    if (r < 0)
        return rebase_fail(rb, img, r);
    memset(buf + k, 0, len - k);
    return 0;
}

/* An unallocated run [off, off+len) of the overlay: copy the sectors that differ. */
static int rebase_run(struct rebase *rb, uint64_t off, size_t len)
{
    int r;
    if ((r = img_read_backing(rb->top, off, rb->a, len)) < 0)
        return rebase_fail(rb, rb->top, r);
    if ((r = rebase_read(rb, rb->nb, off, rb->b, len)) < 0)
        return r;
    for (size_t i = 0; i < len;) {
        size_t s = len - i < REBASE_SECTOR ? len - i : REBASE_SECTOR;
        if (memcmp(rb->a + i, rb->b + i, s) == 0) {
            i += s;
            continue;
        }
        size_t j = i + s;
        while (j < len) {
            size_t t = len - j < REBASE_SECTOR ? len - j : REBASE_SECTOR;
            if (memcmp(rb->a + j, rb->b + j, t) == 0)
                break;
            j += t;
        }
        if ((r = img_write(rb->top, off + i, rb->a + i, j - i)) < 0)
            return rebase_fail(rb, rb->top, r);
        i = j;
    }
    return 0;
}

/* The length of the next step at off: an allocated run (skipped), a run zero on both sides
 * (skipped), or an unallocated run to compare. */
static int rebase_step(struct rebase *rb, uint64_t off, uint64_t *step)
{
    /* Ask about the whole rest: an allocated or zero-on-both-sides run is skipped in one step
     * however long (an empty 2^61-byte overlay is one step, not 2^41 chunks); only a run to
     * compare is cut to the buffers. */
    struct img_bs bs;
    int r = img_block_status_layer(rb->top, off, rb->top->size - off, &bs);
    if (r < 0)
        return rebase_fail(rb, rb->top, r);
    *step = bs.len;
    if (bs.flags & IMG_BS_ALLOCATED)
        return 0;
    uint64_t z1, z2;
    if ((r = rebase_zero_run(rb, rb->top->backing, off, bs.len, &z1)) < 0 ||
        (r = rebase_zero_run(rb, rb->nb, off, bs.len, &z2)) < 0)
        return r;
    if (z1 && z2) {
        *step = z1 < z2 ? z1 : z2;
        return 0;
    }
    uint64_t n = bs.len < REBASE_CHUNK ? bs.len : REBASE_CHUNK;
    *step = n;
    return rebase_run(rb, off, (size_t)n);
}

/* Refuse a new chain that reaches the overlay itself (it would read itself). */
static int rebase_check_loop(struct rebase *rb)
{
    for (struct img *l = rb->nb; l; l = l->backing)
        if (l->st_dev == rb->top->st_dev && l->st_ino == rb->top->st_ino)
            return err_set(rb->err, -ELOOP,
                           "%s: the new backing chain contains the image "
                           "itself",
                           rb->top->path);
    return 0;
}

int ops_rebase(const struct ops_rebase_req *req, struct img_err *err)
{
    err_clear(err);
    bool none = !req->backing || !req->backing[0];
    if (!none && !req->backing_fmt)
        return err_set(err, -EINVAL,
                       "Could not change the backing file to '%s': backing "
                       "format must be specified (-F)",
                       req->backing);
    /* A safe rebase copies from the backing chains: one another process writes is refused
     * (IMG_OPEN_LOCK_STRICT), as qemu-img refuses it; -U forces. */
    unsigned flags = IMG_OPEN_RW | (req->open_flags & ~IMG_OPEN_BACKING) |
                     (req->unsafe ? 0 : IMG_OPEN_BACKING | IMG_OPEN_LOCK_STRICT);
    struct rebase rb = {.err = err};
    rb.top = img_open(req->path, req->fmt, flags, err);
    if (!rb.top)
        return err->code ? err->code : -EIO;
    struct img *top = rb.top;
    const char *name = none ? NULL : req->backing, *fmt = none ? NULL : req->backing_fmt;
    int r = 0;
    if (!top->drv->set_backing || !(top->drv->caps & IMG_CAP_BACKING)) {
        r = err_set(err, -ENOTSUP, "%s: format %s cannot change its backing file", req->path,
                    top->drv->name);
        goto out;
    }
    if (name && (top->drv->caps & IMG_CAP_PARENT_SAME_FMT) && strcmp(fmt, top->drv->name) != 0) {
        r = err_set(err, -EINVAL, "%s: the backing file of a %s image must be a %s image, not %s",
                    req->path, top->drv->name, top->drv->name, fmt);
        goto out;
    }
    if (!req->unsafe) {
        if (name) {
            char *full = io_path_join(top->dir, name);
            if (!full) {
                r = err_set(err, -ENOMEM, "out of memory");
                goto out;
            }
            rb.nb = img_open(
                full, fmt,
                IMG_OPEN_BACKING | IMG_OPEN_LOCK_STRICT | (req->open_flags & ~IMG_OPEN_RW), err);
            free(full);
            if (!rb.nb) {
                r = err->code ? err->code : -EIO;
                err_prefix(err, "Could not open new backing file '%s'", name);
                goto out;
            }
            if ((r = rebase_check_loop(&rb)) < 0)
                goto out;
        }
        rb.a = malloc(REBASE_CHUNK);
        rb.b = malloc(REBASE_CHUNK);
        if (!rb.a || !rb.b) {
            r = err_set(err, -ENOMEM, "out of memory");
            goto out;
        }
        struct ops_progress *p = req->progress;
        if (p)
            p->total = top->size;
        uint64_t off = 0, step;
        while (off < top->size) {
            if (ops_progress_step(p, off)) {
                r = err_set(err, -ECANCELED,
                            "%s: rebase cancelled (the backing file is "
                            "unchanged)",
                            req->path);
                break;
            }
            if ((r = rebase_step(&rb, off, &step)) < 0)
                break;
            off += step;
        }
        /* What was copied is flushed either way: it reads the same under the old name. */
        int fr = img_flush(top);
        if (r < 0)
            goto out;
        if (fr < 0) {
            r = rebase_fail(&rb, top, fr);
            goto out;
        }
    }
    if ((r = img_set_backing(top, name, fmt)) < 0) {
        rebase_fail(&rb, top, r);
        goto out;
    }
    if (req->progress)
        ops_progress_step(req->progress, req->progress->total);
out:
    free(rb.a);
    free(rb.b);
    img_close(rb.nb);
    img_close(top);
    return r;
}

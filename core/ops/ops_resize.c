/* SPDX-License-Identifier: GPL-2.0-or-later */
/* ops_resize.c: ops_resize(), qemu-img resize on top of the driver's truncate slot, and the
 * optional move of a backup GPT to the new end of a grown disk.
 *
 * All checks come before anything is written: the size arithmetic (64-bit, overflow-checked),
 * --shrink, preallocation only when growing, whether the format can resize at all. The op only
 * calls img_truncate, so every driver that fills the slot (raw today, qcow2 next) gets resize.
 * Talks to: img.h, ptable.h (--fix-gpt). Never prints.
 */
#include "core/ops/ops.h"
#include "core/block/driver.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "core/base/bytes.h"
#include "core/block/ptable.h"

int ops_resize_target(uint64_t cur, int sign, uint64_t amount, uint64_t *out, struct img_err *err)
{
    uint64_t n;
    if (sign > 0) {
        if (u64_add_overflow(cur, amount, &n) || n > (uint64_t)INT64_MAX)
            return err_set(err, -EINVAL, "New image size must be positive");
    } else if (sign < 0) {
        if (amount >= cur)
            return err_set(err, -EINVAL, "New image size must be positive");
        n = cur - amount;
    } else {
        n = amount;
        if (n > (uint64_t)INT64_MAX)
            return err_set(err, -EINVAL, "New image size must be positive");
    }
    if (n == 0)
        return err_set(err, -EINVAL, "New image size must be positive");
    *out = n;
    return 0;
}

static int resize_img_err(struct img *img, int r, struct img_err *err)
{
    *err = img->err;
    if (!err->code)
        err->code = r;
    return r;
}

int ops_resize(const struct ops_resize_req *req, struct ops_resize_res *res, struct img_err *err)
{
    err_clear(err);
    memset(res, 0, sizeof *res);
    /* The pMBR rewrite of --fix-gpt touches sector 0 of a guessed raw image; it stays a pMBR
     * (only its size field changes), so the next probe still says raw. */
    unsigned flags = IMG_OPEN_RW | (req->open_flags & ~IMG_OPEN_BACKING) |
                     (req->fix_gpt ? IMG_OPEN_FORCE_RAW0 : 0);
    /* Moving a GPT reads the guest's first and last sectors, which an overlay may take from
     * its backing chain; without --fix-gpt the chain stays closed. */
    if (req->fix_gpt && !(req->open_flags & IMG_OPEN_UNTRUSTED))
        flags |= IMG_OPEN_BACKING;
    struct img *img = img_open(req->path, req->fmt, flags, err);
    if (!img)
        return err->code ? err->code : -EIO;
    int r;
    if (!img->drv->truncate) {
        r = err_set(err, -ENOTSUP, "%s: Image format driver does not support resize (%s)",
                    req->path, img->drv->name);
        goto out;
    }
    res->old_size = img->size;
    uint64_t n = 0;
    if ((r = ops_resize_target(img->size, req->sign, req->amount, &n, err)) < 0)
        goto out;
    res->new_size = n;
    if (n < img->size && !req->shrink) {
        r = err_set(err, -EINVAL, "Use the --shrink option to perform a shrink operation.");
        goto out;
    }
    if (n < img->size && req->prealloc != IMG_PREALLOC_OFF) {
        r = err_set(err, -EINVAL, "Preallocation can only be used for growing images");
        goto out;
    }
    struct ops_progress *p = req->progress;
    if (p) {
        p->total = n > img->size ? n - img->size : 1;
        p->done = 0;
        if (p->cb)
            p->cb(p->ctx, p);
        if (p->cancel && atomic_load(p->cancel)) {
            r = err_set(err, -ECANCELED, "%s: resize cancelled", req->path);
            goto out;
        }
    }
    if (n != img->size) {
        r = img_truncate(img, n, req->prealloc);
        if (r == 0)
            r = img_flush(img);
        if (r < 0) {
            resize_img_err(img, r, err);
            goto out;
        }
    }
    /* An overlay whose chain is not open has no readable guest view: no table to report. */
    bool guest_readable = (!img->backing_name && !img->backing_unresolved) || img->backing;
    if (n >= res->old_size && guest_readable) {
        struct ptable pt;
        r = ptable_read(img, &pt, err);
        if (r < 0)
            goto out;
        bool stale = pt.kind == PTABLE_GPT && !pt.backup_at_end && !pt.problem[0];
        ptable_free(&pt);
        if (stale && req->fix_gpt) {
            r = ptable_gpt_relocate(img, err);
            if (r < 0)
                goto out;
            res->gpt_moved = r > 0;
        } else {
            res->gpt_stale = stale;
        }
    }
    r = 0;
    if (p) {
        p->done = p->total;
        if (p->cb)
            p->cb(p->ctx, p);
    }
out:
    img_close(img);
    return r;
}

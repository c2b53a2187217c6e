/* SPDX-License-Identifier: GPL-2.0-or-later */
/* ops_compact.c: ops_compact(), in-place compaction through the driver's compact slot (vdi
 * today), with the job's progress and cancel flag turned into the slot's tick callback.
 * The image is opened read-write without its chain: compaction only moves this layer's own
 * blocks. Talks to: img.h (img_open, img_compact), src.h (the file's size on any source). Never
 * prints.
 */
#include "core/ops/ops.h"
#include "core/block/driver.h"

#include <errno.h>
#include <string.h>

#include "core/base/io.h"

static int compact_tick(void *ctx, uint64_t done, uint64_t total)
{
    struct ops_progress *p = ctx;
    p->done = done;
    p->total = total;
    if (p->cb)
        p->cb(p->ctx, p);
    return p->cancel && atomic_load(p->cancel);
}

int ops_compact(const struct ops_compact_req *req, struct ops_compact_res *res, struct img_err *err)
{
    err_clear(err);
    memset(res, 0, sizeof *res);
    unsigned flags = IMG_OPEN_RW | (req->open_flags & ~IMG_OPEN_BACKING);
    struct img *img = img_open(req->path, req->fmt, flags, err);
    if (!img)
        return err->code ? err->code : -EIO;
    int r = src_size(img->src, &res->old_file_size);
    if (r < 0) {
        err_set(err, r, "%s: %s", req->path, src_errmsg(img->src, r));
        goto out;
    }
    r = img_compact(img, req->progress ? compact_tick : NULL, req->progress);
    if (r == 0)
        r = img_flush(img);
    if (r == 0 && (r = src_size(img->src, &res->new_file_size)) < 0)
        img_fail(img, r, "%s: %s", req->path, src_errmsg(img->src, r));
    if (r < 0) {
        *err = img->err;
        if (!err->code)
            err->code = r;
    }
out:
    img_close(img);
    return r;
}

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* ops_sparsify.c: ops_sparsify(), sparsify in place: the guest ranges no filesystem uses
 * (fs_unused_ranges) are written as zeros through img_write_zeroes, so each driver gives the
 * space back its own way (qcow2 zero clusters, raw holes). Reading the filesystems happens
 * before the first write; a cancel stops between ranges, the image valid.
 * Talks to: img.h, core/fs/fs.h. Never prints.
 */
#include "core/ops/ops.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fs/fs.h"

#define SPARSIFY_STEP (64u << 20) /* bytes zeroed between progress reports and cancel checks */

int ops_sparsify(const struct ops_sparsify_req *req, struct ops_sparsify_res *res,
                 struct img_err *err)
{
    memset(res, 0, sizeof *res);
    err_clear(err);
    struct img *img =
        img_open(req->path, req->fmt, IMG_OPEN_RW | IMG_OPEN_BACKING | req->open_flags, err);
    if (!img)
        return err->code ? err->code : -EIO;
    struct fs_range *v = NULL;
    size_t n = 0;
    int r = fs_unused_ranges(img, req->swap, &v, &n, err);
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += v[i].len;
    if (req->progress)
        req->progress->total = total;
    uint64_t done = 0;
    for (size_t i = 0; r == 0 && i < n; i++) {
        for (uint64_t off = 0; r == 0 && off < v[i].len; off += SPARSIFY_STEP) {
            uint64_t k = v[i].len - off < SPARSIFY_STEP ? v[i].len - off : SPARSIFY_STEP;
            if (ops_progress_step(req->progress, done)) {
                r = err_set(err, -ECANCELED, "%s: sparsify cancelled", req->path);
                break;
            }
            if ((r = img_write_zeroes(img, v[i].off + off, k)) < 0)
                err_set(err, r, "%s", img_errmsg(img));
            done += k;
        }
        res->ranges += r == 0;
    }
    res->bytes = done;
    int f = img_flush(img);
    if (r == 0 && f < 0)
        r = err_set(err, f, "%s", img_errmsg(img));
    img_close(img);
    free(v);
    return r;
}

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* ops_compare.c: ops_compare(), comparing the guest contents of two image chains.
 *
 * Walks both images' block status in step; regions both report as zero are equal without
 * reading, everything else is read through the chains and compared. A mismatch is reported
 * at the 512-byte sector where it starts, as qemu-img compare does. When sizes differ the
 * extra part of the larger image must read as zeros (strict mode refuses different sizes and
 * different allocation outright). Talks to: img.h. Never prints.
 */
#include "core/ops/ops.h"
#include "core/block/driver.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define CMP_CHUNK (1u << 20)
#define CMP_SECTOR 512u
#define CMP_FLAGS (IMG_BS_ALLOCATED | IMG_BS_ZERO | IMG_BS_DATA)

struct cmp {
    struct img *a, *b;
    struct ops_compare_res *res;
    struct ops_progress *prog;
    struct img_err *err;
    uint8_t *ba, *bb;
};

static int cmp_fail(struct cmp *c, struct img *img, int r, bool status)
{
    *c->err = img->err;
    if (!c->err->code)
        c->err->code = r;
    c->res->status_failed = status;
    return r;
}

static int cmp_tick(struct cmp *c, uint64_t done)
{
    if (!c->prog)
        return 0;
    c->prog->done = done;
    if (c->prog->cb)
        c->prog->cb(c->prog->ctx, c->prog);
    if (c->prog->cancel && atomic_load(c->prog->cancel))
        return err_set(c->err, -ECANCELED, "comparison cancelled");
    return 0;
}

/* Report a mismatch at byte off+i, rounded down to its sector but not before off. */
static void cmp_mismatch(struct cmp *c, uint64_t off, size_t i)
{
    uint64_t at = off + i;
    at -= at % CMP_SECTOR;
    c->res->result = OPS_CMP_CONTENT;
    c->res->offset = at < off ? off : at;
}

static size_t first_diff(const uint8_t *x, const uint8_t *y, size_t n)
{
    /* memcmp per sector first (fast), then bytewise inside the differing sector. */
    size_t i = 0;
    while (i < n) {
        size_t k = n - i < CMP_SECTOR ? n - i : CMP_SECTOR;
        if (memcmp(x + i, y + i, k) != 0) {
            while (x[i] == y[i])
                i++;
            return i;
        }
        i += k;
    }
    return n;
}

/* Compare [off, off+len) of both; a side whose status says zero is not read. */
static int cmp_range(struct cmp *c, uint64_t off, uint64_t len, bool za, bool zb)
{
    while (len > 0) {
        size_t n = len < CMP_CHUNK ? (size_t)len : CMP_CHUNK;
        int r;
        if (za)
            memset(c->ba, 0, n);
        else if ((r = img_read(c->a, off, c->ba, n)) < 0)
            return cmp_fail(c, c->a, r, false);
        if (zb)
            memset(c->bb, 0, n);
        else if ((r = img_read(c->b, off, c->bb, n)) < 0)
            return cmp_fail(c, c->b, r, false);
        size_t i = first_diff(c->ba, c->bb, n);
        if (i < n) {
            cmp_mismatch(c, off, i);
            return 0;
        }
        off += n;
        len -= n;
        if ((r = cmp_tick(c, off)) < 0)
            return r;
    }
    return 0;
}

/* The part of the larger image past the smaller one's end must read as zeros. */
static int cmp_tail(struct cmp *c, struct img *big, uint64_t off)
{
    /* cmp_range compares big against zeros: put big on side a, zeros on side b. */
    struct img *save = c->a;
    c->a = big;
    int r = 0;
    while (off < big->size && c->res->result == OPS_CMP_IDENTICAL) {
        struct img_bs bs;
        r = img_block_status(big, off, big->size - off, &bs);
        if (r < 0) {
            r = cmp_fail(c, big, r, true);
            break;
        }
        if (!(bs.flags & IMG_BS_ZERO) && (r = cmp_range(c, off, bs.len, false, true)) < 0)
            break;
        off += bs.len;
    }
    c->a = save;
    return r;
}

int ops_compare(struct img *a, struct img *b, bool strict, struct ops_compare_res *res,
                struct ops_progress *progress, struct img_err *err)
{
    struct cmp c = {.a = a, .b = b, .res = res, .prog = progress, .err = err};
    memset(res, 0, sizeof *res);
    err_clear(err);
    res->size_mismatch = a->size != b->size;
    if (strict && res->size_mismatch) {
        res->result = OPS_CMP_SIZE;
        return 0;
    }
    uint64_t common = a->size < b->size ? a->size : b->size;
    if (progress)
        progress->total = a->size > b->size ? a->size : b->size;
    c.ba = malloc(CMP_CHUNK);
    c.bb = malloc(CMP_CHUNK);
    int r = 0;
    if (!c.ba || !c.bb) {
        r = err_set(err, -ENOMEM, "out of memory");
        goto out;
    }
    for (uint64_t off = 0; off < common && res->result == OPS_CMP_IDENTICAL;) {
        struct img_bs sa, sb;
        if ((r = img_block_status(a, off, common - off, &sa)) < 0) {
            r = cmp_fail(&c, a, r, true);
            goto out;
        }
        if ((r = img_block_status(b, off, common - off, &sb)) < 0) {
            r = cmp_fail(&c, b, r, true);
            goto out;
        }
        uint64_t n = sa.len < sb.len ? sa.len : sb.len;
        if (strict && (sa.flags & CMP_FLAGS) != (sb.flags & CMP_FLAGS)) {
            res->result = OPS_CMP_ALLOC;
            res->offset = off;
            break;
        }
        bool za = sa.flags & IMG_BS_ZERO, zb = sb.flags & IMG_BS_ZERO;
        if (!(za && zb) && (r = cmp_range(&c, off, n, za, zb)) < 0)
            goto out;
        off += n;
        if ((r = cmp_tick(&c, off)) < 0)
            goto out;
    }
    if (res->result == OPS_CMP_IDENTICAL && res->size_mismatch)
        r = cmp_tail(&c, a->size > b->size ? a : b, common);
out:
    free(c.ba);
    free(c.bb);
    return r;
}

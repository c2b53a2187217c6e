/* SPDX-License-Identifier: GPL-2.0-or-later */
/* sparse.c: the guest byte ranges of an image that no filesystem on it uses, for convert
 * --sparsify and sparsify --in-place (what virt-sparsify and zerofree do, without a VM).
 *
 * Every volume a reader opens gives its free blocks (the driver's free_ranges slot), mapped
 * through the volume's segments to guest offsets; with swap, a swap volume's pages after its
 * header count as unused too. A range is only ever given up when it is safe: whatever another
 * volume covers (a partition inside a disk that also looks like a filesystem, a volume no
 * reader knows) is taken out again, unless that volume contains this one (the partition
 * holding an LVM logical volume). Nothing is given up on a volume whose reader fails: an image
 * dimg cannot read completely loses nothing. Talks to fs.h (volumes, readers), img.h.
 */
#include "core/fs/fs.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define SPARSE_RANGES_MAX (16u << 20) /* ranges kept for one image (256 MiB of memory) */
#define SWAP_HEADER 4096              /* a swap area's first page: its signature stays */

struct rlist {
    struct fs_range *v;
    size_t n, cap;
    struct img_err *err;
};

static int rl_add(struct rlist *l, uint64_t off, uint64_t len)
{
    if (len == 0)
        return 0;
    if (l->n && l->v[l->n - 1].off + l->v[l->n - 1].len == off) {
        l->v[l->n - 1].len += len; /* readers give runs in order: most merge here */
        return 0;
    }
    if (l->n == l->cap) {
        if (l->cap >= SPARSE_RANGES_MAX)
            return err_set(l->err, -E2BIG, "more than %u free ranges", SPARSE_RANGES_MAX);
        size_t nc = l->cap ? l->cap * 2 : 256;
        struct fs_range *nv = realloc(l->v, nc * sizeof *nv);
        if (!nv)
            return err_set(l->err, -ENOMEM, "out of memory");
        l->v = nv;
        l->cap = nc;
    }
    l->v[l->n++] = (struct fs_range){off, len};
    return 0;
}

static int range_cmp(const void *a, const void *b)
{
    const struct fs_range *x = a, *y = b;
    return x->off < y->off ? -1 : x->off > y->off;
}

/* Sort and merge overlapping or touching ranges. */
static void rl_normalize(struct rlist *l)
{
    if (l->n < 2)
        return;
    qsort(l->v, l->n, sizeof l->v[0], range_cmp);
    size_t k = 0;
    for (size_t i = 1; i < l->n; i++) {
        struct fs_range *p = &l->v[k];
        if (l->v[i].off <= p->off + p->len) {
            uint64_t end = l->v[i].off + l->v[i].len;
            if (end > p->off + p->len)
                p->len = end - p->off;
        } else {
            l->v[++k] = l->v[i];
        }
    }
    l->n = k + 1;
}

/* Take [off, off+len) out of the sorted, merged list l. */
static int rl_remove(struct rlist *l, uint64_t off, uint64_t len)
{
    uint64_t end = off + len;
    for (size_t i = 0; i < l->n; i++) {
        struct fs_range *r = &l->v[i];
        uint64_t rend = r->off + r->len;
        if (rend <= off || r->off >= end)
            continue;
        if (r->off < off && rend > end) { /* split in two */
            uint64_t tail_off = end, tail_len = rend - end;
            r->len = off - r->off;
            int e = rl_add(l, tail_off, tail_len);
            if (e < 0)
                return e;
            rl_normalize(l);
            return 0;
        }
        if (r->off < off) {
            r->len = off - r->off;
        } else if (rend > end) {
            r->len = rend - end;
            r->off = end;
        } else {
            r->len = 0;
        }
    }
    size_t k = 0; /* drop the emptied ones */
    for (size_t i = 0; i < l->n; i++)
        if (l->v[i].len)
            l->v[k++] = l->v[i];
    l->n = k;
    return 0;
}

struct vol_map {
    const struct fs_vol *vol;
    struct rlist *out;
};

/* A free run of the volume, as guest ranges (it may cross segments). */
static int sparse_vol_cb(void *ctx, uint64_t vol_off, uint64_t len)
{
    struct vol_map *m = ctx;
    if (vol_off > m->vol->size || len > m->vol->size - vol_off)
        return err_set(m->out->err, -EIO, "a free range past the end of the volume");
    while (len > 0) {
        uint64_t at, run;
        int r = fs_vol_to_img(m->vol, vol_off, &at, &run);
        if (r < 0)
            return err_set(m->out->err, r, "a free range outside the volume's segments");
        uint64_t k = run < len ? run : len;
        if ((r = rl_add(m->out, at, k)) < 0)
            return r;
        vol_off += k;
        len -= k;
    }
    return 0;
}

/* Does volume w hold all of v (every segment of v inside one of w's)? */
static bool vol_contains(const struct fs_vol *w, const struct fs_vol *v)
{
    for (size_t i = 0; i < v->nseg; i++) {
        const struct fs_seg *s = &v->seg[i];
        bool in = false;
        for (size_t j = 0; j < w->nseg && !in; j++) {
            const struct fs_seg *t = &w->seg[j];
            in = s->img_off >= t->img_off && s->img_off + s->len <= t->img_off + t->len;
        }
        if (!in)
            return false;
    }
    return v->nseg > 0;
}

/* The unused ranges of volume k alone (nothing when it has no reader or the reader fails). */
static int sparse_one(struct fs_vol_info *vols, size_t nv, size_t k, bool swap, struct rlist *l)
{
    struct fs_vol *v = &vols[k].vol;
    struct vol_map m = {v, l};
    int r = 0;
    if (swap && strcmp(vols[k].fs, "swap") == 0 && v->size > SWAP_HEADER) {
        r = sparse_vol_cb(&m, SWAP_HEADER, v->size - SWAP_HEADER);
    } else if (vols[k].browsable) {
        struct fs *fs = NULL;
        struct img_err e = {0};
        if (fs_open(v, &fs, &e) < 0)
            return 0; /* not readable: nothing given up */
        r = fs->drv->free_ranges ? fs->drv->free_ranges(fs, sparse_vol_cb, &m) : 0;
        if (r < 0 && !l->err->msg[0])
            err_set(l->err, r, "%s", fs->err.msg);
        fs_close(fs);
    }
    if (r < 0)
        return r;
    rl_normalize(l);
    for (size_t j = 0; j < nv && r == 0; j++) {
        if (j == k || vol_contains(&vols[j].vol, v))
            continue;
        for (size_t s = 0; s < vols[j].vol.nseg && r == 0; s++)
            r = rl_remove(l, vols[j].vol.seg[s].img_off, vols[j].vol.seg[s].len);
    }
    return r;
}

int fs_unused_ranges(struct img *img, bool swap, struct fs_range **out, size_t *n,
                     struct img_err *err)
{
    *out = NULL;
    *n = 0;
    struct fs_vol_info *vols = NULL;
    size_t nv = 0;
    int r = fs_volumes(img, &vols, &nv, err);
    if (r < 0)
        return r;
    struct rlist all = {.err = err};
    for (size_t k = 0; k < nv && r == 0; k++) {
        struct rlist one = {.err = err};
        r = sparse_one(vols, nv, k, swap, &one);
        for (size_t i = 0; i < one.n && r == 0; i++)
            r = rl_add(&all, one.v[i].off, one.v[i].len);
        free(one.v);
    }
    fs_volumes_free(vols, nv);
    if (r < 0) {
        free(all.v);
        return r;
    }
    rl_normalize(&all);
    *out = all.v;
    *n = all.n;
    return 0;
}

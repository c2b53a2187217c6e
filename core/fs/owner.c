/* SPDX-License-Identifier: GPL-2.0-or-later */
/* owner.c: which guest file owns a byte of the image, for the map's cursor. Every volume a
 * reader opens is walked once; each regular file's extents (the driver's extents slot) are
 * mapped through the volume's segments to guest offsets and kept sorted, with the file's path;
 * the ranges no filesystem uses (sparse.c) are kept beside them. A query is a binary search.
 *
 * Bounded: at most FS_OWNER_EXTENTS_MAX extents and FS_OWNER_NAMES_BYTES of paths; past that
 * the index stops growing and says it is partial. Talks to fs.h, img.h. Never prints.
 */
#include "core/fs/fs.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FS_OWNER_EXTENTS_MAX (4u << 20)
#define FS_OWNER_NAMES_BYTES (64u << 20)

struct owner_walk {
    struct fs_owners *o;
    struct fs *fs;
    const char *vol; /* "" or the volume's name, prefixed to paths when there are several */
    uint32_t name;   /* the current file's index in o->names */
    size_t cap, ncap;
    size_t name_bytes;
};

static int owner_add(struct owner_walk *w, uint64_t off, uint64_t len)
{
    struct fs_owners *o = w->o;
    if (o->n >= FS_OWNER_EXTENTS_MAX) {
        o->partial = true;
        return 1;
    }
    if (o->n == w->cap) {
        size_t nc = w->cap ? w->cap * 2 : 1024;
        struct fs_owner *nv = realloc(o->v, nc * sizeof *nv);
        if (!nv)
            return -ENOMEM;
        o->v = nv;
        w->cap = nc;
    }
    o->v[o->n++] = (struct fs_owner){off, len, w->name};
    return 0;
}

static int owner_extent(void *ctx, uint64_t file_off, uint64_t vol_off, uint64_t len)
{
    struct owner_walk *w = ctx;
    const struct fs_vol *v = w->fs->vol;
    (void)file_off;
    if (vol_off > v->size || len > v->size - vol_off)
        return 0; /* the reader's business to refuse; never indexed */
    while (len > 0) {
        uint64_t at, run;
        if (fs_vol_to_img(v, vol_off, &at, &run) < 0)
            return 0;
        uint64_t k = run < len ? run : len;
        int r = owner_add(w, at, k);
        if (r)
            return r;
        vol_off += k;
        len -= k;
    }
    return 0;
}

/* A new name (a file's path, or a structure's "[what]") in o->names; its index in w->name. */
static int owner_name(struct owner_walk *w, const char *a, const char *b, const char *c)
{
    struct fs_owners *o = w->o;
    size_t len = strlen(w->vol) + strlen(a) + strlen(b) + strlen(c) + 2;
    if (w->name_bytes + len > FS_OWNER_NAMES_BYTES || o->nnames >= UINT32_MAX) {
        o->partial = true;
        return 1;
    }
    if (o->nnames == w->ncap) {
        size_t nc = w->ncap ? w->ncap * 2 : 1024;
        char **nn = realloc(o->names, nc * sizeof *nn);
        if (!nn)
            return -ENOMEM;
        o->names = nn;
        w->ncap = nc;
    }
    char *name = malloc(len);
    if (!name)
        return -ENOMEM;
    snprintf(name, len, "%s%s%s%s%s", w->vol[0] ? "#" : "", w->vol, a, b, c);
    o->names[o->nnames] = name;
    w->name = (uint32_t)o->nnames++;
    w->name_bytes += len;
    return 0;
}

static int owner_node(void *ctx, const char *path, const struct fs_dirent *e)
{
    struct owner_walk *w = ctx;
    if (e->st.type != FS_T_REG || !w->fs->drv->extents)
        return 0;
    int r = owner_name(w, "/", path, "");
    if (r)
        return r;
    r = w->fs->drv->extents(w->fs, e->st.ino, owner_extent, w);
    return r == 1 ? 1 : 0; /* a file the reader cannot map is left out, not the index */
}

#define OWNER_KINDS 16 /* distinct structure names one reader gives */

struct owner_kinds {
    struct owner_walk *w;
    const char *what[OWNER_KINDS];
    uint32_t name[OWNER_KINDS];
    size_t n;
};

/* A structure's range: named "[what]", one name per kind. */
static int owner_struct(void *ctx, uint64_t vol_off, uint64_t len, const char *what)
{
    struct owner_kinds *k = ctx;
    size_t i = 0;
    while (i < k->n && strcmp(k->what[i], what) != 0)
        i++;
    if (i == k->n) {
        if (k->n == OWNER_KINDS)
            return 0;
        int r = owner_name(k->w, "[", what, "]");
        if (r)
            return r;
        k->what[k->n] = what;
        k->name[k->n++] = k->w->name;
    }
    k->w->name = k->name[i];
    return owner_extent(k->w, 0, vol_off, len);
}

static int owner_cmp(const void *a, const void *b)
{
    const struct fs_owner *x = a, *y = b;
    return x->off < y->off ? -1 : x->off > y->off;
}

int fs_owners_build(struct img *img, struct fs_owners *o, struct img_err *err)
{
    memset(o, 0, sizeof *o);
    struct fs_vol_info *vols = NULL;
    size_t nv = 0;
    int r = fs_volumes(img, &vols, &nv, err);
    if (r < 0)
        return r;
    struct owner_walk w = {.o = o};
    size_t nbrowse = 0;
    for (size_t k = 0; k < nv; k++)
        nbrowse += vols[k].browsable;
    for (size_t k = 0; k < nv && r >= 0 && !o->partial; k++) {
        struct fs *fs = NULL;
        struct img_err e = {0};
        uint64_t root;
        if (!vols[k].browsable || fs_open(&vols[k].vol, &fs, &e) < 0)
            continue;
        w.fs = fs;
        w.vol = nbrowse > 1 ? vols[k].vol.name : "";
        if (fs->drv->root(fs, &root) == 0)
            r = fs_walk(fs, root, owner_node, &w);
        if (r >= 0 && fs->drv->structures) {
            struct owner_kinds kinds = {.w = &w};
            int sr = fs->drv->structures(fs, owner_struct, &kinds);
            r = sr < 0 && sr != -ENOMEM ? 0 : sr; /* a damaged structure: the files stand */
        }
        if (r > 0 || r == -ELOOP)
            r = 0; /* stopped at a bound, or a damaged tree: what was indexed stands */
        fs_close(fs);
    }
    fs_volumes_free(vols, nv);
    if (r == 0)
        r = fs_unused_ranges(img, false, &o->free, &o->nfree, err);
    if (r < 0) {
        fs_owners_free(o);
        return r == -ENOMEM ? err_set(err, r, "out of memory") : r;
    }
    if (o->n > 1) /* qsort's pointer must not be NULL, even for nothing */
        qsort(o->v, o->n, sizeof o->v[0], owner_cmp);
    return 0;
}

void fs_owners_free(struct fs_owners *o)
{
    for (size_t i = 0; i < o->nnames; i++)
        free(o->names[i]);
    free(o->names);
    free(o->v);
    free(o->free);
    memset(o, 0, sizeof *o);
}

/* The first entry of the sorted v[0..n) (by off) whose range may reach past off. */
static size_t owner_first(const struct fs_owners *o, uint64_t off)
{
    size_t lo = 0, hi = o->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (o->v[mid].off + o->v[mid].len <= off)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

bool fs_owners_is_free(const struct fs_owners *o, uint64_t off, uint64_t len)
{
    /* free is sorted and merged: the last range starting at or before off decides. */
    size_t lo = 0, hi = o->nfree;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (o->free[mid].off <= off)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo > 0 && off + len <= o->free[lo - 1].off + o->free[lo - 1].len;
}

const char *fs_owners_describe(const struct fs_owners *o, uint64_t off, uint64_t len, char *buf,
                               size_t n)
{
    buf[0] = 0;
    size_t used = 0, shown = 0, more = 0;
    uint32_t last = UINT32_MAX;
    /* Extents are disjoint and sorted: the ones before off end before it, except that one
     * file's extents may interleave with another's, so walk while they start before the end. */
    for (size_t i = owner_first(o, off); i < o->n && o->v[i].off < off + len; i++) {
        if (o->v[i].off + o->v[i].len <= off || o->v[i].name == last)
            continue;
        last = o->v[i].name;
        if (shown < 3 && used + 8 < n) {
            int k = snprintf(buf + used, n - used, "%s%s", shown ? ", " : "", o->names[last]);
            used += k > 0 ? (size_t)k : 0;
            if (used >= n)
                used = n - 1;
            shown++;
        } else {
            more++;
        }
    }
    if (more && used + 16 < n)
        snprintf(buf + used, n - used, " (+%zu more)", more);
    if (!shown && fs_owners_is_free(o, off, len))
        snprintf(buf, n, "free in the guest filesystem");
    return buf;
}

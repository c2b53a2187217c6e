/* SPDX-License-Identifier: GPL-2.0-or-later */
/* map.c: the allocation map model (see map.h): guest runs from ops_map's merged block-status
 * walk, host runs from the driver's layout, cells for the screen, zoom levels, partition
 * starts and a one-line description.
 * Talks to: img.h, ops.h (ops_map: the one chain walk, shared with `dimg map`), ptable.h,
 * esc.h (names read from image headers). Never prints.
 */
#include "core/ops/map.h"
#include "core/block/driver.h"
#include "core/ops/ops.h"
#include "core/block/ptable.h"
#include "core/base/esc.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/io.h"

static const struct {
    const char *name;
    int prio;
} map_states[MAP_STATE_COUNT] = {
    [MAP_NONE] = {"none", 0},
    [MAP_UNALLOC] = {"unallocated", 10},
    [MAP_BACKING] = {"backing", 15},
    [MAP_ZERO] = {"zero", 20},
    [MAP_COMPRESSED] = {"compressed", 30},
    [MAP_DATA] = {"data", 40},
    [MAP_FREE] = {"free", 5},
    [MAP_LEAKED] = {"leaked", 50},
    [MAP_META] = {"metadata", 55},
    [MAP_BITMAP] = {"bitmap", 60},
    [MAP_GRAIN_TABLE] = {"grain-table", 62},
    [MAP_REFBLOCK] = {"refcount-block", 65},
    [MAP_L2] = {"l2", 70},
    [MAP_BLOCK_MAP] = {"block-map", 76},
    [MAP_GRAIN_DIR] = {"grain-directory", 78},
    [MAP_SNAP_L1] = {"snapshot-l1", 80},
    [MAP_SNAPTABLE] = {"snapshot-table", 85},
    [MAP_REFTABLE] = {"refcount-table", 90},
    [MAP_L1] = {"l1", 95},
    [MAP_HEADER] = {"header", 100},
};

const char *map_state_name(enum map_state s)
{
    return (unsigned)s < MAP_STATE_COUNT ? map_states[s].name : "unknown";
}

int map_state_priority(enum map_state s)
{
    return (unsigned)s < MAP_STATE_COUNT ? map_states[s].prio : 0;
}

void map_runs_free(struct map_runs *r)
{
    free(r->v);
    for (size_t i = 0; i < r->nlayers; i++)
        free(r->layers[i]);
    free(r->layers);
    memset(r, 0, sizeof *r);
}

int map_runs_add(struct map_runs *r, uint64_t off, uint64_t len, enum map_state state,
                 uint64_t host, unsigned flags, unsigned depth)
{
    if (len == 0)
        return 0;
    struct map_run *last = r->n ? &r->v[r->n - 1] : NULL;
    if (last && last->state == state && last->depth == depth && last->flags == flags &&
        last->off + last->len == off &&
        (host == MAP_NO_HOST ? last->host == MAP_NO_HOST
                             : last->host != MAP_NO_HOST && last->host + last->len == host)) {
        last->len += len;
        return 0;
    }
    if (r->n == r->cap) {
        size_t nc = r->cap ? r->cap * 2 : 64;
        struct map_run *nv = realloc(r->v, nc * sizeof *nv);
        if (!nv)
            return -ENOMEM;
        r->v = nv;
        r->cap = nc;
    }
    r->v[r->n++] = (struct map_run){.off = off,
                                    .len = len,
                                    .host = host,
                                    .state = (uint8_t)state,
                                    .flags = (uint8_t)flags,
                                    .depth = (uint16_t)depth};
    return 0;
}

size_t map_find(const struct map_runs *r, uint64_t off)
{
    if (r->n == 0 || off >= r->v[r->n - 1].off + r->v[r->n - 1].len)
        return r->n;
    size_t lo = 0, hi = r->n; /* the answer is the last run with run.off <= off */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (r->v[mid].off <= off)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

/* ---- guest view ---- */

struct map_guest_ctx {
    struct map_runs *out;
    const atomic_int *cancel;
};

static enum map_state map_guest_state(const struct ops_map_entry *e)
{
    if (!e->present)
        return MAP_UNALLOC;
    if (e->depth > 0)
        return MAP_BACKING;
    if (e->compressed)
        return MAP_COMPRESSED;
    if (e->data)
        return MAP_DATA;
    return e->zero ? MAP_ZERO : MAP_DATA;
}

static int map_guest_cb(void *arg, const struct ops_map_entry *e)
{
    struct map_guest_ctx *c = arg;
    if (c->cancel && atomic_load(c->cancel))
        return -ECANCELED;
    unsigned flags = (e->present ? IMG_BS_ALLOCATED : 0) | (e->data ? IMG_BS_DATA : 0) |
                     (e->zero ? IMG_BS_ZERO : 0) | (e->compressed ? IMG_BS_COMPRESSED : 0) |
                     (e->has_offset ? IMG_BS_OFFSET_VALID : 0);
    /* The host view shows the layer's own file: an offset in another file has no place. */
    bool host = e->has_offset && !e->other_file;
    return map_runs_add(c->out, e->start, e->length, map_guest_state(e),
                        host ? e->offset : MAP_NO_HOST, flags, e->depth);
}

/* Names by depth: the top image's path, then each recorded backing name (escaped: they come
 * from image headers), including a recorded one that was not opened. */
static int map_layer_names(struct map_runs *out, const struct img *img)
{
    size_t n = 1;
    for (const struct img *l = img; l; l = l->backing)
        if (l->backing_name && l->backing_name[0])
            n++;
    if (!(out->layers = calloc(n, sizeof *out->layers)))
        return -ENOMEM;
    out->nlayers = n;
    size_t k = 0;
    if (!(out->layers[k++] = esc_dup(img->path, strlen(img->path))))
        return -ENOMEM;
    for (const struct img *l = img; l && k < n; l = l->backing)
        if (l->backing_name && l->backing_name[0] &&
            !(out->layers[k++] = esc_dup(l->backing_name, strlen(l->backing_name))))
            return -ENOMEM;
    return 0;
}

static int map_info(struct img *img, struct map_runs *out, struct img_err *err)
{
    struct img_info *in = malloc(sizeof *in);
    if (!in)
        return err_set(err, -ENOMEM, "out of memory");
    int r = img_get_info(img, in);
    if (r < 0)
        err_set(err, r, "%s", img_errmsg(img));
    else
        out->cluster_size = in->cluster_size;
    free(in);
    return r;
}

int map_build_guest_cancel(struct img *img, const atomic_int *cancel, struct map_runs *out,
                           struct img_err *err)
{
    memset(out, 0, sizeof *out);
    err_clear(err);
    out->view = MAP_VIEW_GUEST;
    out->size = img->size;
    int r = map_info(img, out, err);
    if (r < 0)
        return r;
    if (map_layer_names(out, img) < 0) {
        map_runs_free(out);
        return err_set(err, -ENOMEM, "out of memory");
    }
    struct map_guest_ctx c = {out, cancel};
    r = ops_map(img, 0, img->size, map_guest_cb, &c);
    if (r < 0) {
        if (r == -ECANCELED)
            err_set(err, r, "%s: map cancelled", img->path);
        else if (r == -ENOMEM)
            err_set(err, r, "%s: out of memory for the map", img->path);
        else
            err_set(err, r, "%s", img_errmsg(img));
        map_runs_free(out);
        out->view = MAP_VIEW_GUEST;
    }
    return r;
}

int map_build_guest(struct img *img, struct map_runs *out, struct img_err *err)
{
    return map_build_guest_cancel(img, NULL, out, err);
}

/* ---- host view ---- */

static enum map_state map_region_state(enum img_region_kind k)
{
    switch (k) {
    case IMG_R_FREE: return MAP_FREE;
    case IMG_R_HEADER: return MAP_HEADER;
    case IMG_R_L1: return MAP_L1;
    case IMG_R_L2: return MAP_L2;
    case IMG_R_REFTABLE: return MAP_REFTABLE;
    case IMG_R_REFBLOCK: return MAP_REFBLOCK;
    case IMG_R_SNAPTABLE: return MAP_SNAPTABLE;
    case IMG_R_SNAP_L1: return MAP_SNAP_L1;
    case IMG_R_DATA: return MAP_DATA;
    case IMG_R_COMPRESSED: return MAP_COMPRESSED;
    case IMG_R_LEAKED: return MAP_LEAKED;
    case IMG_R_META: return MAP_META;
    case IMG_R_GRAIN_DIR: return MAP_GRAIN_DIR;
    case IMG_R_GRAIN_TABLE: return MAP_GRAIN_TABLE;
    case IMG_R_BLOCK_MAP: return MAP_BLOCK_MAP;
    case IMG_R_BITMAP: return MAP_BITMAP;
    default: return MAP_META;
    }
}

static int map_region_cmp(const void *a, const void *b)
{
    const struct img_region *x = a, *y = b;
    return (x->off > y->off) - (x->off < y->off);
}

int map_build_host(struct img *img, struct map_runs *out, struct img_err *err)
{
    memset(out, 0, sizeof *out);
    err_clear(err);
    out->view = MAP_VIEW_HOST;
    uint64_t fsize;
    int r = img->src ? src_size(img->src, &fsize) : io_file_size(img->fd, &fsize);
    if (r < 0)
        return err_set(err, r, "%s: %s", img->path,
                       img->src ? src_errmsg(img->src, r) : strerror(-r));
    out->size = fsize;
    if ((r = map_info(img, out, err)) < 0)
        return r;
    struct img_region *reg;
    size_t nreg;
    if ((r = img_layout(img, &reg, &nreg)) < 0)
        return err_set(err, r, "%s", img_errmsg(img));
    /* The contract says sorted; a hostile image's tables may still overlap, so sort and
     * let an earlier region keep the bytes it already claimed. */
    qsort(reg, nreg, sizeof *reg, map_region_cmp);
    uint64_t pos = 0;
    for (size_t i = 0; i < nreg && r == 0 && pos < fsize; i++) {
        uint64_t a = reg[i].off, e = reg[i].off + reg[i].len;
        if (e < a || e > fsize)
            e = fsize; /* wrapped or past the end of the file: clip */
        if (a < pos)
            a = pos;
        if (a >= e)
            continue;
        if (a > pos)
            r = map_runs_add(out, pos, a - pos, MAP_FREE, MAP_NO_HOST, 0, 0);
        if (r == 0)
            r = map_runs_add(out, a, e - a, map_region_state(reg[i].kind), MAP_NO_HOST, 0, 0);
        pos = e;
    }
    if (r == 0 && pos < fsize)
        r = map_runs_add(out, pos, fsize - pos, MAP_FREE, MAP_NO_HOST, 0, 0);
    free(reg);
    if (r < 0) {
        map_runs_free(out);
        out->view = MAP_VIEW_HOST;
        return err_set(err, r, "%s: out of memory for the map", img->path);
    }
    return 0;
}

/* ---- cells ---- */

void map_cells(const struct map_runs *r, uint64_t start, uint64_t bytes_per_cell, size_t ncells,
               struct map_cell *out)
{
    uint64_t bpc = bytes_per_cell ? bytes_per_cell : 1;
    size_t ri = map_find(r, start);
    for (size_t c = 0; c < ncells; c++) {
        struct map_cell *cell = &out[c];
        memset(cell, 0, sizeof *cell);
        uint64_t coff, cend;
        if (__builtin_mul_overflow((uint64_t)c, bpc, &coff) ||
            __builtin_add_overflow(coff, start, &coff) || coff >= r->size) {
            cell->off = coff;
            continue; /* past the end: empty, MAP_NONE */
        }
        if (__builtin_add_overflow(coff, bpc, &cend) || cend > r->size)
            cend = r->size;
        cell->off = coff;
        cell->len = cend - coff;
        while (ri < r->n && r->v[ri].off < cend) {
            const struct map_run *run = &r->v[ri];
            uint64_t rend = run->off + run->len;
            uint64_t a = run->off > coff ? run->off : coff, b = rend < cend ? rend : cend;
            if (b > a)
                cell->bytes[run->state] += b - a;
            if (rend > cend)
                break; /* the run continues into the next cell */
            ri++;
        }
        int best = -1;
        for (unsigned s = 0; s < MAP_STATE_COUNT; s++)
            if (cell->bytes[s] && map_states[s].prio > best) {
                best = map_states[s].prio;
                cell->state = (uint8_t)s;
            }
    }
}

double map_cell_fraction(const struct map_cell *c, enum map_state s)
{
    if (!c->len || (unsigned)s >= MAP_STATE_COUNT)
        return 0.0;
    return (double)c->bytes[s] / (double)c->len;
}

size_t map_zoom_levels(uint64_t total, uint32_t cluster_size, size_t ncells, uint64_t *out,
                       size_t max)
{
    if (ncells == 0)
        return 0;
    uint64_t bpc = cluster_size ? cluster_size : 512;
    size_t k = 0;
    while (k < max) {
        out[k++] = bpc;
        uint64_t need = total / bpc + (total % bpc != 0);
        if (need <= ncells || bpc > UINT64_MAX / 2)
            break;
        bpc <<= 1;
    }
    return k;
}

/* ---- partitions ---- */

static int map_part_cmp(const void *a, const void *b)
{
    const struct map_part *x = a, *y = b;
    return (x->start > y->start) - (x->start < y->start);
}

int map_partitions(struct img *img, struct map_part **out, size_t *n, struct img_err *err)
{
    *out = NULL;
    *n = 0;
    err_clear(err);
    struct ptable pt;
    struct img_err perr = {0};
    if (ptable_read(img, &pt, &perr) < 0)
        return 0; /* unreadable there: no marks, which is not worth failing the map for */
    if (pt.n) {
        struct map_part *v = calloc(pt.n, sizeof *v);
        if (!v) {
            ptable_free(&pt);
            return err_set(err, -ENOMEM, "out of memory");
        }
        for (size_t i = 0; i < pt.n; i++)
            v[i] = (struct map_part){pt.parts[i].start, pt.parts[i].size, pt.parts[i].number};
        qsort(v, pt.n, sizeof *v, map_part_cmp);
        *out = v;
        *n = pt.n;
    }
    ptable_free(&pt);
    return 0;
}

/* ---- description ---- */

struct map_buf {
    char *p;
    size_t n, used;
};

static void map_put(struct map_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void map_put(struct map_buf *b, const char *fmt, ...)
{
    if (b->used + 1 >= b->n)
        return; /* full: the line is cut, never overrun */
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(b->p + b->used, b->n - b->used, fmt, ap);
    va_end(ap);
    if (w > 0)
        b->used = b->used + (size_t)w < b->n ? b->used + (size_t)w : b->n - 1;
}

const char *map_describe(const struct map_runs *r, uint64_t off, char *buf, size_t n)
{
    struct map_buf b = {buf, n, 0};
    char sz[32];
    if (n == 0)
        return buf;
    buf[0] = 0;
    size_t i = map_find(r, off);
    if (i >= r->n) {
        map_put(&b, "0x%llx: past the end (%s)", (unsigned long long)off,
                img_fmt_size(r->size, sz, sizeof sz));
        return buf;
    }
    const struct map_run *run = &r->v[i];
    map_put(&b, "0x%llx+0x%llx (%s) %s", (unsigned long long)run->off, (unsigned long long)run->len,
            img_fmt_size(run->len, sz, sizeof sz), map_state_name((enum map_state)run->state));
    if (r->view == MAP_VIEW_HOST)
        return buf;
    if (run->state == MAP_BACKING)
        map_put(&b, " (%s)",
                (run->flags & IMG_BS_COMPRESSED) ? "compressed"
                : (run->flags & IMG_BS_DATA)     ? "data"
                                                 : "zero");
    else if (run->state == MAP_UNALLOC && !(run->flags & IMG_BS_ZERO))
        map_put(&b, " (backing file not opened)");
    if (run->host != MAP_NO_HOST)
        map_put(&b, " at host 0x%llx", (unsigned long long)run->host);
    map_put(&b, ", depth %u", run->depth);
    if (run->depth < r->nlayers && r->layers[run->depth])
        map_put(&b, " (%s)", r->layers[run->depth]);
    return buf;
}

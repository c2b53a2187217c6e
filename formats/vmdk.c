/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vmdk.c: the VMware vmdk driver: probe, open, read, write, block status, info, layout, check.
 *
 * An image is a descriptor plus extents (see vmdk.h). Opening validates the sparse header of
 * every SPARSE extent field by field (grain size, table sizes, every table inside its file)
 * and opens extent files only by names that stay in the descriptor's directory. Grain tables
 * are read on demand into a small per-extent cache; changed tables are written back only
 * after the grains they point at are on disk (grain, fdatasync, tables, fdatasync, directory),
 * so a crash leaves at worst unreferenced grains. streamOptimized extents hold zlib grains
 * behind markers; with the directory at the end (VMware's layout) their tables live in memory
 * while writing and are written with the footer and end-of-stream marker on flush; with
 * QEMU's layout (tables up front) they are updated in place. A child image reads through its
 * parent only while the parent's CID still matches the child's parentCID. vmfsSparse (COWD)
 * and seSparse extents are opened read-only by formats/vmdk_cowd.c and vmdk_sesparse.c and
 * then read, mapped, laid out and checked here like hosted sparse ones.
 * Every byte goes through byte sources (core/block/src.h): the image's own (img->src, which a
 * monolithic file's extent shares) and one per extent file, so a monolithic vmdk reads and
 * writes over NBD like a local file.
 * Talks to: core/block/src.h, core/ops/compress.c, formats/vmdk_desc.c; formats/vmdk_create.c
 * creates and grows; formats/registry.c lists the driver.
 */
#include "formats/vmdk.h"

#include "core/base/bytes.h"
#include "core/ops/compress.h"
#include "core/base/io.h"
#include "formats/drivers.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#define ULL(x) ((unsigned long long)(x))

static struct vmdk *vmdk_st(struct img *img)
{
    return img->priv;
}

static const char *ext_name(struct img *img, const struct vmdk_extent *e)
{
    return vmdk_ext_own(img, e) ? e->file : img->path;
}

const char *vmdk_ext_name(struct img *img, const struct vmdk_extent *e)
{
    return ext_name(img, e);
}

/* Extents read through grain directory and tables (KDMV, COWD, seSparse). */
static bool ext_tabled(const struct vmdk_extent *e)
{
    return e->type == VMDK_SPARSE || e->type == VMDK_VMFSSPARSE || e->type == VMDK_SESPARSE;
}

/* Bytes of one directory or table entry on disk. */
static uint64_t entry_bytes(const struct vmdk_extent *e)
{
    return e->type == VMDK_SESPARSE ? 8 : 4;
}

/* ---- header ---- */

void vmdk_header_load(struct vmdk_header *h, const uint8_t *b)
{
    h->version = le32_load(b + 4);
    h->flags = le32_load(b + 8);
    h->capacity = le64_load(b + 12);
    h->grain = le64_load(b + 20);
    h->desc_off = le64_load(b + 28);
    h->desc_size = le64_load(b + 36);
    h->gtes = le32_load(b + 44);
    h->rgd_off = le64_load(b + 48);
    h->gd_off = le64_load(b + 56);
    h->overhead = le64_load(b + 64);
    h->unclean = b[72];
    h->compress = le16_load(b + 77);
}

void vmdk_header_store(const struct vmdk_header *h, uint8_t *b)
{
    memset(b, 0, VMDK_SECTOR);
    memcpy(b, VMDK_MAGIC, 4);
    le32_store(b + 4, h->version);
    le32_store(b + 8, h->flags);
    le64_store(b + 12, h->capacity);
    le64_store(b + 20, h->grain);
    le64_store(b + 28, h->desc_off);
    le64_store(b + 36, h->desc_size);
    le32_store(b + 44, h->gtes);
    le64_store(b + 48, h->rgd_off);
    le64_store(b + 56, h->gd_off);
    le64_store(b + 64, h->overhead);
    b[72] = h->unclean;
    memcpy(b + 73, "\n \r\n", 4);
    le16_store(b + 77, h->compress);
}

static uint64_t gt_sectors(const struct vmdk_extent *e)
{
    return u64_div_round_up((uint64_t)e->h.gtes * entry_bytes(e), VMDK_SECTOR);
}

/* [sector, sector + bytes) lies inside the extent's file. */
static bool in_file(const struct vmdk_extent *e, uint64_t sector, uint64_t bytes)
{
    uint64_t off, end;
    return !u64_mul_overflow(sector, VMDK_SECTOR, &off) && !u64_add_overflow(off, bytes, &end) &&
           end <= e->file_size;
}

bool vmdk_in_file(const struct vmdk_extent *e, uint64_t sector, uint64_t bytes)
{
    return in_file(e, sector, bytes);
}

bool vmdk_footer_markers(const uint8_t *b)
{
    static const uint8_t zero12[12];
    return le32_load(b + 8) == 0 && le32_load(b + 12) == VMDK_MARKER_FOOTER &&
           memcmp(b + VMDK_SECTOR, VMDK_MAGIC, 4) == 0 &&
           memcmp(b + 2 * VMDK_SECTOR, zero12, 12) == 0 &&
           le32_load(b + 2 * VMDK_SECTOR + 12) == VMDK_MARKER_EOS;
}

/* The footer of a streamOptimized extent whose header says GD_AT_END: footer marker, footer
 * (a header copy with the real directory offset) and end-of-stream marker, in the last three
 * sectors. */
static int read_footer(struct img *img, struct vmdk_extent *e)
{
    uint8_t b[3 * VMDK_SECTOR];
    uint64_t end = e->file_size & ~(uint64_t)(VMDK_SECTOR - 1);
    if (end < 4 * VMDK_SECTOR)
        return img_error(img, -EINVAL,
                         "%s: streamOptimized extent too short for its "
                         "footer",
                         ext_name(img, e));
    int r = src_pread(e->src, b, sizeof b, end - sizeof b);
    if (r < 0)
        return img_error(img, r, "%s: reading the footer: %s", ext_name(img, e),
                         vmdk_ext_msg(e, r));
    if (!vmdk_footer_markers(b))
        return img_error(img, -EINVAL,
                         "%s: grain directory is at the end but the footer "
                         "and end-of-stream markers are missing",
                         ext_name(img, e));
    struct vmdk_header f;
    vmdk_header_load(&f, b + VMDK_SECTOR);
    if (f.capacity != e->h.capacity || f.grain != e->h.grain || f.gtes != e->h.gtes ||
        f.gd_off == VMDK_GD_AT_END)
        return img_error(img, -EINVAL, "%s: footer does not match the header", ext_name(img, e));
    e->h.gd_off = f.gd_off;
    e->h.rgd_off = 0; /* VMware's streams keep one directory */
    /* New grains go where the tail starts: at the directory's marker when it sits in front
     * of the footer as VMware and dimg write it, else at the footer's marker. */
    e->tail_off = end - sizeof b;
    uint64_t gdm = f.gd_off - 1;
    uint8_t mk[16];
    if (f.gd_off > e->h.overhead && gdm * VMDK_SECTOR < e->tail_off &&
        src_pread(e->src, mk, sizeof mk, gdm * VMDK_SECTOR) == 0 && le32_load(mk + 8) == 0 &&
        le32_load(mk + 12) == VMDK_MARKER_GD)
        e->tail_off = gdm * VMDK_SECTOR;
    return 0;
}

static int load_dir(struct img *img, struct vmdk_extent *e, uint64_t sector, uint32_t **out,
                    const char *what)
{
    uint64_t bytes = (uint64_t)e->n_gd * 4;
    if (sector == 0 || !in_file(e, sector, bytes))
        return img_error(img, -EINVAL,
                         "%s: %s at sector %llu (%u entries) lies outside "
                         "the file",
                         ext_name(img, e), what, ULL(sector), e->n_gd);
    uint32_t *d = malloc(bytes ? bytes : 1);
    if (!d)
        return img_error(img, -ENOMEM, "out of memory for the %s", what);
    int r = src_pread(e->src, d, bytes, sector * VMDK_SECTOR);
    if (r < 0) {
        free(d);
        return img_error(img, r, "%s: reading the %s: %s", ext_name(img, e), what,
                         vmdk_ext_msg(e, r));
    }
    for (uint32_t i = 0; i < e->n_gd; i++) {
        d[i] = le32_load(&d[i]);
        if (d[i] && !in_file(e, d[i], (uint64_t)e->h.gtes * 4)) {
            uint32_t bad = d[i];
            free(d);
            return img_error(img, -EINVAL,
                             "%s: %s entry %u (sector %u) points past the "
                             "end of the file",
                             ext_name(img, e), what, i, bad);
        }
    }
    *out = d;
    return 0;
}

static int alias_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* For each directory entry of gd, the first entry naming the same grain table (itself when
 * none does), malloc'd. A hostile directory points thousands of entries at one table: each
 * table is walked (and counted) once, so layout and check stay bounded by the file. */
static int gd_aliases(struct img *img, const struct vmdk_extent *e, const uint32_t *gd,
                      uint32_t **out)
{
    size_t n = e->n_gd ? e->n_gd : 1;
    uint64_t *v = malloc(n * sizeof *v);
    uint32_t *first = malloc(n * sizeof *first);
    if (!v || !first) {
        free(v);
        free(first);
        return img_error(img, -ENOMEM, "out of memory");
    }
    for (uint32_t i = 0; i < e->n_gd; i++) {
        v[i] = (uint64_t)gd[i] << 32 | i;
        first[i] = i;
    }
    qsort(v, e->n_gd, sizeof *v, alias_cmp);
    for (uint32_t i = 1; i < e->n_gd; i++)
        if ((v[i] >> 32) && (v[i] >> 32) == (v[i - 1] >> 32))
            first[(uint32_t)v[i]] = first[(uint32_t)v[i - 1]];
    free(v);
    *out = first;
    return 0;
}

int vmdk_gd_load(struct img *img, struct vmdk_extent *e)
{
    /* Sparse extent files cost nothing to fake: bound the directories of all of them. */
    struct vmdk *s = vmdk_st(img);
    uint64_t need = (uint64_t)e->n_gd * (4 * 2 + (e->tail_mode ? sizeof *e->pinned : 0));
    if (s->dir_mem + need > VMDK_DIR_MEM_MAX)
        return img_error(img, -EFBIG,
                         "%s: the grain directories of this image need more "
                         "than %llu MiB",
                         ext_name(img, e), ULL(VMDK_DIR_MEM_MAX >> 20));
    s->dir_mem += need;
    free(e->gd);
    free(e->rgd);
    e->gd = e->rgd = NULL;
    int r;
    if (e->type == VMDK_SESPARSE) {
        if (!(e->gd = malloc(e->n_gd ? (size_t)e->n_gd * 4 : 1)))
            return img_error(img, -ENOMEM, "out of memory for the grain directory");
        r = vmdk_sesparse_gd_read(img, e, e->gd);
    } else {
        r = load_dir(img, e, e->h.gd_off, &e->gd, "grain directory");
    }
    if (r == 0 && (e->h.flags & VMDK_FLAG_RGD) && e->h.rgd_off)
        r = load_dir(img, e, e->h.rgd_off, &e->rgd, "redundant grain directory");
    for (int i = 0; i < VMDK_GT_CACHE; i++)
        e->cache[i].idx = UINT32_MAX;
    return r;
}

int vmdk_sparse_parse(struct img *img, struct vmdk_extent *e, const uint8_t *b)
{
    struct vmdk_header *h = &e->h;
    const char *f = ext_name(img, e);
    if (memcmp(b, VMDK_MAGIC, 4) != 0)
        return img_error(img, -EINVAL, "%s: not a sparse extent (no KDMV magic)", f);
    vmdk_header_load(h, b);
    if (h->version < 1 || h->version > 3)
        return img_error(img, -ENOTSUP, "%s: sparse extent version %u unsupported", f, h->version);
    if ((h->flags & VMDK_FLAG_NL_TEST) && memcmp(b + 73, "\n \r\n", 4) != 0)
        return img_error(img, -EINVAL,
                         "%s: newline test bytes are damaged (the file "
                         "was probably copied in text mode)",
                         f);
    if (!u64_is_pow2(h->grain) || h->grain > VMDK_GRAIN_MAX_SECTORS)
        return img_error(img, -EINVAL,
                         "%s: grain size %llu sectors is not a power of "
                         "two of at most %u",
                         f, ULL(h->grain), VMDK_GRAIN_MAX_SECTORS);
    if (h->gtes == 0 || h->gtes > VMDK_GTES_MAX)
        return img_error(img, -EINVAL, "%s: %u entries per grain table (1 to %u allowed)", f,
                         h->gtes, VMDK_GTES_MAX);
    uint64_t span = (uint64_t)h->gtes * h->grain;
    if (h->capacity > (uint64_t)VMDK_GD_MAX * span)
        return img_error(img, -EINVAL,
                         "%s: capacity %llu sectors needs more than %u "
                         "grain tables",
                         f, ULL(h->capacity), VMDK_GD_MAX);
    e->n_gd = (uint32_t)u64_div_round_up(h->capacity, span);
    e->grain = h->grain * VMDK_SECTOR;
    e->stream = (h->flags & VMDK_FLAG_COMPRESSED) != 0;
    if (e->stream && h->compress != 1)
        return img_error(img, -ENOTSUP,
                         "%s: compression algorithm %u unknown (1 is "
                         "deflate)",
                         f, h->compress);
    if (e->stream && !(h->flags & VMDK_FLAG_MARKERS))
        return img_error(img, -ENOTSUP,
                         "%s: compressed grains without markers are not "
                         "supported",
                         f);
    if (!e->stream && h->version == 3 && (img->flags & IMG_OPEN_RW))
        return img_error(img, -EROFS,
                         "%s: uncompressed version-3 extents (change "
                         "tracking) open read-only",
                         f);
    if (h->desc_off && (h->desc_size == 0 || h->desc_size > (VMDK_DESC_MAX + 1) / VMDK_SECTOR ||
                        !in_file(e, h->desc_off, h->desc_size * VMDK_SECTOR)))
        return img_error(img, -EINVAL,
                         "%s: embedded descriptor (sector %llu, %llu "
                         "sectors) is invalid or outside the file",
                         f, ULL(h->desc_off), ULL(h->desc_size));
    int r;
    if (h->gd_off == VMDK_GD_AT_END) {
        if (!e->stream)
            return img_error(img, -EINVAL,
                             "%s: grain directory at the end without "
                             "compressed grains",
                             f);
        if ((r = read_footer(img, e)) < 0)
            return r;
        e->tail_mode = (img->flags & IMG_OPEN_RW) != 0;
    }
    if ((r = vmdk_gd_load(img, e)) < 0)
        return r;
    if (e->tail_mode && !(e->pinned = calloc(e->n_gd ? e->n_gd : 1, sizeof *e->pinned)))
        return img_error(img, -ENOMEM, "out of memory");
    if (e->tail_mode) {
        /* Written, every table is kept in memory: one table per entry, so that what is kept
         * stays bounded by the file (entries sharing a table would each pin a copy). */
        uint32_t *first;
        if ((r = gd_aliases(img, e, e->gd, &first)) < 0)
            return r;
        for (uint32_t i = 0; i < e->n_gd && r == 0; i++)
            if (first[i] != i)
                r = img_error(img, -EINVAL,
                              "%s: the image is damaged: grain directory entries %u "
                              "and %u share a grain table",
                              f, first[i], i);
        free(first);
    }
    return r;
}

/* ---- grain tables ---- */

static int gt_store(struct img *img, struct vmdk_extent *e, const uint32_t *t, uint64_t sector)
{
    size_t n = (size_t)e->h.gtes * 4;
    uint32_t *le = malloc(n);
    if (!le)
        return img_error(img, -ENOMEM, "out of memory");
    for (uint32_t i = 0; i < e->h.gtes; i++)
        le32_store(&le[i], t[i]);
    int r = src_pwrite(e->src, le, n, sector * VMDK_SECTOR);
    free(le);
    return r < 0 ? img_error(img, r, "%s: writing a grain table: %s", ext_name(img, e),
                             vmdk_ext_msg(e, r))
                 : 0;
}

/* A scratch target (convert's new .part files) needs no crash ordering: no fsync between
 * grains and the tables naming them, and new tables are written once, when they leave the
 * cache or at flush. */
static bool ext_scratch(const struct img *img)
{
    return (img->flags & IMG_OPEN_SCRATCH) != 0;
}

/* Write a cached table back (both copies): the grains it points at are synced first. */
static int gt_writeback(struct img *img, struct vmdk_extent *e, struct vmdk_gt *g)
{
    if (!g->dirty)
        return 0;
    int r = ext_scratch(img) ? 0 : src_flush(e->src);
    if (r < 0)
        return img_error(img, r, "flush: %s", vmdk_ext_msg(e, r));
    if ((r = gt_store(img, e, g->e, e->gd[g->idx])) < 0)
        return r;
    if (e->rgd && e->rgd[g->idx] && (r = gt_store(img, e, g->e, e->rgd[g->idx])) < 0)
        return r;
    g->dirty = false;
    return 0;
}

static uint64_t ext_end_sector(const struct vmdk_extent *e)
{
    return u64_div_round_up(e->file_size, VMDK_SECTOR);
}

/* A new zeroed table (and its redundant copy) at the end of the file; the directory entries
 * are changed in memory and reach the disk at flush, after the table. */
static int gt_create(struct img *img, struct vmdk_extent *e, uint32_t gi)
{
    uint64_t sec = ext_end_sector(e), n = gt_sectors(e);
    if (sec + n * 2 > UINT32_MAX)
        return img_error(img, -EFBIG, "%s: extent file too large for 32-bit sectors",
                         ext_name(img, e));
    /* A scratch target's new table is cached dirty (gt_get) and written whole later. */
    int r = ext_scratch(img)
                ? 0
                : src_write_zeros(e->src, sec * VMDK_SECTOR, n * VMDK_SECTOR * (e->rgd ? 2 : 1));
    if (r < 0)
        return img_error(img, r, "%s: writing a grain table: %s", ext_name(img, e),
                         vmdk_ext_msg(e, r));
    e->gd[gi] = (uint32_t)sec;
    if (e->rgd)
        e->rgd[gi] = (uint32_t)(sec + n);
    e->file_size = (sec + n * (e->rgd ? 2 : 1)) * VMDK_SECTOR;
    e->gd_dirty = true;
    return 0;
}

static int gt_read(struct img *img, struct vmdk_extent *e, uint32_t gi, uint32_t *t)
{
    if (e->type == VMDK_SESPARSE)
        return vmdk_sesparse_gt_read(img, e, gi, t);
    int r = src_pread(e->src, t, (size_t)e->h.gtes * 4, (uint64_t)e->gd[gi] * VMDK_SECTOR);
    if (r < 0)
        return img_error(img, r, "%s: reading grain table %u: %s", ext_name(img, e), gi,
                         vmdk_ext_msg(e, r));
    for (uint32_t i = 0; i < e->h.gtes; i++)
        t[i] = le32_load(&t[i]);
    return 0;
}

static struct vmdk_gt *gt_new(struct img *img, struct vmdk_extent *e, uint32_t gi)
{
    struct vmdk_gt *g = calloc(1, sizeof *g);
    uint32_t *t = calloc(e->h.gtes, 4);
    if (!g || !t) {
        free(g);
        free(t);
        img_error(img, -ENOMEM, "out of memory");
        return NULL;
    }
    g->idx = gi;
    g->e = t;
    return g;
}

/* The grain table for directory entry gi, or *out NULL when there is none and !create. */
static int gt_get(struct img *img, struct vmdk_extent *e, uint32_t gi, bool create,
                  struct vmdk_gt **out)
{
    int r;
    *out = NULL;
    if (e->tail_mode) {
        if (!e->pinned[gi] && (e->gd[gi] || create)) {
            if (!(e->pinned[gi] = gt_new(img, e, gi)))
                return -ENOMEM;
            if (e->gd[gi] && (r = gt_read(img, e, gi, e->pinned[gi]->e)) < 0)
                return r;
            e->pinned[gi]->dirty = !e->gd[gi];
        }
        *out = e->pinned[gi];
        return 0;
    }
    struct vmdk_gt *v = NULL;
    /* Tables of 4096 entries (COWD, seSparse) are 8 times larger: fewer of them are kept, so
     * that a descriptor listing 1024 such extents holds no more memory than KDMV ones. */
    int slots = e->h.gtes > VMDK_GTES_MAX ? VMDK_GT_CACHE / 8 : VMDK_GT_CACHE;
    for (int i = 0; i < slots; i++) {
        struct vmdk_gt *g = &e->cache[i];
        if (g->idx == gi) {
            g->used = ++e->tick;
            *out = g;
            return 0;
        }
        if (!v || g->idx == UINT32_MAX || (v->idx != UINT32_MAX && g->used < v->used))
            v = g;
    }
    if (!e->gd[gi] && !create)
        return 0;
    if (v->idx != UINT32_MAX && (r = gt_writeback(img, e, v)) < 0)
        return r;
    if (!v->e && !(v->e = malloc((size_t)e->h.gtes * 4)))
        return img_error(img, -ENOMEM, "out of memory");
    v->idx = UINT32_MAX;
    bool fresh = !e->gd[gi];
    if (fresh) {
        if ((r = gt_create(img, e, gi)) < 0)
            return r;
        memset(v->e, 0, (size_t)e->h.gtes * 4);
    } else if ((r = gt_read(img, e, gi, v->e)) < 0) {
        return r;
    }
    v->idx = gi;
    v->dirty = fresh && ext_scratch(img);
    v->used = ++e->tick;
    *out = v;
    return 0;
}

/* The grain-table entry of grain index gidx (0 where no table exists). */
static int gte_get(struct img *img, struct vmdk_extent *e, uint64_t gidx, uint32_t *gte)
{
    struct vmdk_gt *g;
    int r = gt_get(img, e, (uint32_t)(gidx / e->h.gtes), false, &g);
    *gte = (r == 0 && g) ? g->e[gidx % e->h.gtes] : 0;
    return r;
}

static bool gte_zero(const struct vmdk_extent *e, uint32_t gte)
{
    return gte == VMDK_GTE_ZEROED && (e->h.flags & VMDK_FLAG_ZEROED_GRAIN);
}

/* ---- compressed grains ---- */

static int scratch(struct img *img, uint8_t **p, size_t *have, size_t want)
{
    if (*have >= want)
        return 0;
    uint8_t *q = realloc(*p, want);
    if (!q)
        return img_error(img, -ENOMEM, "out of memory for a grain buffer");
    *p = q;
    *have = want;
    return 0;
}

static size_t zcap(const struct vmdk_extent *e)
{
    return (size_t)e->grain + e->grain / 1000 + 64 + VMDK_SECTOR;
}

/* Inflate the compressed grain gidx whose marker sits at sector gte into out (a whole
 * grain; NULL: s->gbuf). */
static int grain_inflate(struct img *img, struct vmdk_extent *e, uint64_t gidx, uint32_t gte,
                         uint8_t *out)
{
    struct vmdk *s = vmdk_st(img);
    uint8_t m[12];
    int r;
    if ((!out && (r = scratch(img, &s->gbuf, &s->gbuf_size, e->grain)) < 0) ||
        (r = scratch(img, &s->zbuf, &s->zbuf_size, zcap(e))) < 0)
        return r;
    if (!out)
        out = s->gbuf;
    if (!in_file(e, gte, sizeof m))
        return img_error(img, -EINVAL,
                         "%s: grain %llu marker at sector %u lies past the "
                         "end of the file",
                         ext_name(img, e), ULL(gidx), gte);
    if ((r = src_pread(e->src, m, sizeof m, (uint64_t)gte * VMDK_SECTOR)) < 0)
        return img_error(img, r, "%s: reading a grain marker: %s", ext_name(img, e),
                         vmdk_ext_msg(e, r));
    uint64_t lba = le64_load(m);
    uint32_t size = le32_load(m + 8);
    if (lba != gidx * e->h.grain || size == 0 || size > zcap(e) ||
        !in_file(e, gte, sizeof m + (uint64_t)size))
        return img_error(img, -EINVAL,
                         "%s: grain %llu has a bad marker (lba %llu, %u "
                         "bytes)",
                         ext_name(img, e), ULL(gidx), ULL(lba), size);
    if ((r = src_pread(e->src, s->zbuf, size, (uint64_t)gte * VMDK_SECTOR + sizeof m)) < 0)
        return img_error(img, r, "%s: reading a grain: %s", ext_name(img, e), vmdk_ext_msg(e, r));
    /* The last grain of an extent may hold only the part inside the capacity. */
    uint64_t left = e->h.capacity * VMDK_SECTOR - gidx * e->grain;
    size_t need = left < e->grain ? (size_t)left : (size_t)e->grain;
    memset(out + need, 0, e->grain - need);
    if (zlib_inflate(s->zbuf, size, out, need) < 0)
        return img_error(img, -EIO, "%s: grain %llu does not decompress", ext_name(img, e),
                         ULL(gidx));
    return 0;
}

/* ---- parent ---- */

/* A child reads through its parent only while the parent's CID is the one it was made from. */
static int read_parent(struct img *img, uint64_t off, void *buf, size_t len)
{
    struct vmdk *s = vmdk_st(img);
    if (!s->parent_checked && img->backing && img->backing->drv == &img_driver_vmdk) {
        const struct vmdk *p = img->backing->priv;
        if (p->desc.cid != s->desc.parent_cid)
            return img_error(img, -EINVAL,
                             "parent %s was changed after this child was "
                             "made (its CID %08x is not the child's parentCID %08x)",
                             img->backing->path, p->desc.cid, s->desc.parent_cid);
        s->parent_checked = true;
    }
    return img_read_backing(img, off, buf, len);
}

/* ---- read ---- */

/* An uncompressed grain's first bytes lie in the data area of its file. */
static int grain_check(struct img *img, const struct vmdk_extent *e, uint64_t gidx, uint32_t gte,
                       uint64_t bytes)
{
    if (gte >= e->h.overhead && in_file(e, gte, bytes))
        return 0;
    return img_error(img, -EINVAL,
                     "%s: grain %llu at sector %u lies outside the data "
                     "area of the file",
                     ext_name(img, e), ULL(gidx), gte);
}

static int sparse_read(struct img *img, struct vmdk_extent *e, uint64_t rel, uint8_t *p, size_t n)
{
    while (n) {
        uint64_t gidx = rel / e->grain, in = rel % e->grain;
        size_t chunk = e->grain - in < n ? (size_t)(e->grain - in) : n;
        uint32_t gte;
        int r = gte_get(img, e, gidx, &gte);
        if (r < 0)
            return r;
        if (gte == 0) {
            r = read_parent(img, e->start + rel, p, chunk);
        } else if (gte_zero(e, gte)) {
            memset(p, 0, chunk);
        } else if (e->stream && chunk == e->grain) {
            r = grain_inflate(img, e, gidx, gte, p); /* a whole grain: in place, no copy */
        } else if (e->stream) {
            if ((r = grain_inflate(img, e, gidx, gte, NULL)) == 0)
                memcpy(p, vmdk_st(img)->gbuf + in, chunk);
        } else {
            /* Grains stored one after another are read with one pread. */
            for (uint64_t k = 1; in == 0 && chunk < n; k++) {
                uint32_t next;
                if ((r = gte_get(img, e, gidx + k, &next)) < 0)
                    return r;
                if (next != gte + k * e->h.grain)
                    break;
                chunk += e->grain < n - chunk ? (size_t)e->grain : n - chunk;
            }
            if ((r = grain_check(img, e, gidx, gte, in + chunk)) < 0)
                return r;
            r = src_pread(e->src, p, chunk, (uint64_t)gte * VMDK_SECTOR + in);
            if (r < 0)
                r = img_error(img, r, "%s: read: %s", ext_name(img, e), vmdk_ext_msg(e, r));
        }
        if (r < 0)
            return r;
        p += chunk;
        rel += chunk;
        n -= chunk;
    }
    return 0;
}

/* The extent holding guest byte off (extents are sorted and contiguous). */
static struct vmdk_extent *ext_at(struct vmdk *s, uint64_t off)
{
    size_t lo = 0, hi = s->n_ext;
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (s->ext[mid].start <= off)
            lo = mid;
        else
            hi = mid;
    }
    return &s->ext[lo];
}

/* Call fn for each extent piece of [off, off + len), with the matching part of buf. */
typedef int (*ext_fn)(struct img *img, struct vmdk_extent *e, uint64_t rel, uint8_t *p, size_t n);
static int ext_each(struct img *img, uint64_t off, uint8_t *p, size_t len, ext_fn fn)
{
    struct vmdk *s = vmdk_st(img);
    while (len) {
        struct vmdk_extent *e = ext_at(s, off);
        uint64_t rel = off - e->start;
        size_t n = e->len - rel < len ? (size_t)(e->len - rel) : len;
        int r = fn(img, e, rel, p, n);
        if (r < 0)
            return r;
        p += n;
        off += n;
        len -= n;
    }
    return 0;
}

static int ext_read(struct img *img, struct vmdk_extent *e, uint64_t rel, uint8_t *p, size_t n)
{
    int r = 0;
    switch (e->type) {
    case VMDK_ZERO: memset(p, 0, n); break;
    case VMDK_SPARSE:
    case VMDK_VMFSSPARSE:
    case VMDK_SESPARSE: r = sparse_read(img, e, rel, p, n); break;
    default:
        if ((r = src_pread_zero(e->src, p, n, e->flat_off + rel)) < 0)
            r = img_error(img, r, "%s: read: %s", ext_name(img, e), vmdk_ext_msg(e, r));
    }
    return r;
}

static int vmdk_read(struct img *img, uint64_t off, void *buf, size_t len)
{
    if (vmdk_st(img)->sr)
        return vmdk_stream_read(img, off, buf, len);
    return ext_each(img, off, buf, len, ext_read);
}

/* ---- block status ---- */

/* State of one grain-table entry, as block-status flags (0: unallocated). */
static unsigned gte_flags(const struct vmdk_extent *e, uint32_t gte)
{
    if (gte == 0)
        return 0;
    if (gte_zero(e, gte))
        return IMG_BS_ZERO | IMG_BS_ALLOCATED;
    return IMG_BS_DATA | IMG_BS_ALLOCATED | (e->stream ? IMG_BS_COMPRESSED : 0);
}

/* Table by table: a missing table answers for all its grains at once. */
/* Offsets are within the extent's own file, as qemu-img map prints them. */
static void vmdk_bs_file(struct img *img, const struct vmdk_extent *e, struct img_bs *bs)
{
    if (vmdk_ext_own(img, e)) {
        bs->flags |= IMG_BS_HOST_FILE;
        bs->host_src = e->src;
        bs->host_name = e->file;
    }
}

static int sparse_status(struct img *img, struct vmdk_extent *e, uint64_t rel, uint64_t len,
                         struct img_bs *bs)
{
    uint64_t gidx = rel / e->grain, in = rel % e->grain, n = 0;
    uint32_t first = 0;
    for (uint64_t k = gidx;;) {
        struct vmdk_gt *g;
        int r = gt_get(img, e, (uint32_t)(k / e->h.gtes), false, &g);
        if (r < 0)
            return r;
        uint64_t end_k = (k / e->h.gtes + 1) * e->h.gtes;
        for (; k < end_k; k++) {
            uint32_t gte = g ? g->e[k % e->h.gtes] : 0;
            if (k == gidx) {
                first = gte;
            } else if (gte_flags(e, gte) != gte_flags(e, first) || (e->stream && gte) ||
                       ((gte_flags(e, gte) & IMG_BS_DATA) &&
                        gte != first + (k - gidx) * e->h.grain)) {
                goto done;
            }
            n += e->grain - (k == gidx ? in : 0);
            if (n >= len)
                goto done;
            if (!g) { /* the rest of this table is unallocated too */
                n += (end_k - k - 1) * e->grain;
                k = end_k;
                break;
            }
        }
        if (n >= len || k * e->grain >= e->len)
            break;
    }
done:
    bs->flags = gte_flags(e, first);
    if (bs->flags & IMG_BS_DATA) {
        bs->flags |= IMG_BS_OFFSET_VALID;
        bs->host_off = (uint64_t)first * VMDK_SECTOR + (e->stream ? 0 : in);
        vmdk_bs_file(img, e, bs);
    }
    bs->len = n < len ? n : len;
    return 0;
}

static int vmdk_block_status(struct img *img, uint64_t off, uint64_t len, struct img_bs *bs)
{
    struct vmdk *s = vmdk_st(img);
    if (s->sr)
        return vmdk_stream_block_status(img, off, len, bs);
    struct vmdk_extent *e = ext_at(s, off);
    uint64_t rel = off - e->start, left = e->len - rel;
    if (len > left)
        len = left;
    if (ext_tabled(e))
        return sparse_status(img, e, rel, len, bs);
    bs->len = len;
    if (e->type == VMDK_ZERO) {
        bs->flags = IMG_BS_ZERO | IMG_BS_ALLOCATED;
        return 0;
    }
    /* Flat data is data; holes in the extent file read as zeros too (as QEMU reports). */
    uint64_t at = e->flat_off + rel, end;
    unsigned st = SRC_EXT_DATA;
    int is_data = 1;
    if (at >= e->file_size) {
        is_data = 0;
        end = at + len;
    } else if (src_extent(e->src, at, e->file_size, &st, &end) < 0 || end <= at) {
        end = at + len;
    } else {
        is_data = (st & SRC_EXT_DATA) || !(st & SRC_EXT_ZERO);
    }
    bs->len = end - at < len ? end - at : len;
    bs->flags = IMG_BS_DATA | IMG_BS_ALLOCATED | IMG_BS_OFFSET_VALID | (is_data ? 0 : IMG_BS_ZERO);
    bs->host_off = at;
    vmdk_bs_file(img, e, bs);
    return 0;
}

/* ---- descriptor updates ---- */

int vmdk_write_desc(struct img *img)
{
    struct vmdk *s = vmdk_st(img);
    size_t n;
    char *t = vmdk_desc_format(&s->desc, &n);
    if (!t)
        return img_error(img, -ENOMEM, "out of memory");
    int r;
    if (!s->has_desc_file) {
        if (n > s->desc_cap) {
            free(t);
            return img_error(img, -ENOSPC,
                             "the descriptor (%zu bytes) no longer fits "
                             "its %llu-byte area",
                             n, ULL(s->desc_cap));
        }
        /* The whole area, zero-padded: a shorter text must not leave old lines behind. */
        char *area = calloc(1, s->desc_cap);
        if (!area) {
            free(t);
            return img_error(img, -ENOMEM, "out of memory");
        }
        memcpy(area, t, n);
        r = src_pwrite(img->src, area, s->desc_cap, s->desc_off);
        free(area);
    } else {
        /* Written in place, then cut: a crash between leaves old text past the new end only
         * when the text shrank, and the trailing lines are then blank-padded first. */
        uint64_t old = 0;
        src_size(img->src, &old);
        if (old > n) {
            char *pad = realloc(t, old);
            if (!pad) {
                free(t);
                return img_error(img, -ENOMEM, "out of memory");
            }
            t = pad;
            memset(t + n, '\n', old - n);
        }
        r = src_pwrite(img->src, t, old > n ? old : n, 0);
        if (r == 0 && old > n)
            r = src_truncate(img->src, n);
    }
    free(t);
    if (r == 0)
        r = src_flush(img->src);
    return r < 0 ? img_error(img, r, "writing the descriptor: %s", src_errmsg(img->src, r)) : 0;
}

/* The first write after an open gives the image a new content ID, as VMware and QEMU do, so
 * children made from the old content stop reading through it. */
static int bump_cid(struct img *img)
{
    struct vmdk *s = vmdk_st(img);
    if (s->cid_updated || (!s->has_desc_file && !s->desc_cap))
        return 0;
    uint32_t cid;
    do {
        if (getrandom(&cid, sizeof cid, 0) != sizeof cid)
            return img_error(img, -EIO, "no random numbers for a new CID");
    } while (cid == 0xffffffffu || cid == 0xfffffffeu || cid == s->desc.cid);
    s->desc.cid = cid;
    s->cid_updated = true;
    return vmdk_write_desc(img);
}

/* ---- write ---- */

/* Where a new grain of nbytes goes: the end of the file (or the stream tail). */
static uint64_t grain_home(struct img *img, struct vmdk_extent *e)
{
    if (e->tail_mode && !e->tail_dirty) {
        /* The tail (tables, footer) is about to be overwritten: every table stored in it must
         * be in memory and rewritten at the next flush. */
        for (uint32_t gi = 0; gi < e->n_gd; gi++) {
            if (!e->gd[gi] || (uint64_t)e->gd[gi] * VMDK_SECTOR < e->tail_off)
                continue;
            struct vmdk_gt *g;
            if (gt_get(img, e, gi, false, &g) < 0)
                return UINT64_MAX;
            g->dirty = true;
        }
        e->tail_dirty = true;
    }
    return e->tail_mode ? e->tail_off : ext_end_sector(e) * VMDK_SECTOR;
}

static void grain_placed(struct vmdk_extent *e, uint64_t at, uint64_t bytes)
{
    if (e->tail_mode)
        e->tail_off = at + bytes;
    if (at + bytes > e->file_size)
        e->file_size = at + bytes;
}

/* Fill s->gbuf with grain gidx as it reads now (parent or zeros), for a partial write. */
static int grain_base(struct img *img, struct vmdk_extent *e, uint64_t gidx, uint32_t gte)
{
    struct vmdk *s = vmdk_st(img);
    int r = scratch(img, &s->gbuf, &s->gbuf_size, e->grain);
    if (r < 0)
        return r;
    if (gte_zero(e, gte) || !img->backing_name) {
        memset(s->gbuf, 0, e->grain);
        return 0;
    }
    return read_parent(img, e->start + gidx * e->grain, s->gbuf, e->grain);
}

/* Write grain gidx's marker and the deflate stream s->zbuf[12..12+z) at the grain's home,
 * then point the table entry at it. */
static int stream_place(struct img *img, struct vmdk_extent *e, uint64_t gidx, size_t z)
{
    struct vmdk *s = vmdk_st(img);
    int r;
    le64_store(s->zbuf, gidx * e->h.grain);
    le32_store(s->zbuf + 8, (uint32_t)z);
    size_t total = (size_t)u64_align_up(12 + z, VMDK_SECTOR);
    memset(s->zbuf + 12 + z, 0, total - 12 - z);
    uint64_t at = grain_home(img, e);
    if (at == UINT64_MAX)
        return -EIO;
    if (at / VMDK_SECTOR > UINT32_MAX)
        return img_error(img, -EFBIG, "%s: extent file too large for 32-bit sectors",
                         ext_name(img, e));
    if ((r = src_pwrite(e->src, s->zbuf, total, at)) < 0)
        return img_error(img, r, "%s: writing a grain: %s", ext_name(img, e), vmdk_ext_msg(e, r));
    grain_placed(e, at, total);
    struct vmdk_gt *g;
    if ((r = gt_get(img, e, (uint32_t)(gidx / e->h.gtes), true, &g)) < 0)
        return r;
    g->e[gidx % e->h.gtes] = (uint32_t)(at / VMDK_SECTOR);
    g->dirty = true;
    return 0;
}

static int stream_put(struct img *img, struct vmdk_extent *e, uint64_t gidx, const uint8_t *grain)
{
    struct vmdk *s = vmdk_st(img);
    int r = scratch(img, &s->zbuf, &s->zbuf_size, zcap(e) + 12);
    if (r < 0)
        return r;
    size_t z = zlib_deflate(grain, e->grain, s->zbuf + 12, zcap(e) - 12);
    if (z == 0)
        return img_error(img, -EIO, "compressing a grain failed");
    return stream_place(img, e, gidx, z);
}

/* Count whole unallocated grains from gidx covered by n bytes, within one table. */
static int fresh_run(struct img *img, struct vmdk_extent *e, uint64_t gidx, size_t n,
                     uint64_t *count)
{
    uint64_t k = 0, lim = e->h.gtes - gidx % e->h.gtes;
    while (k < lim && (k + 1) * e->grain <= n) {
        uint32_t gte;
        int r = gte_get(img, e, gidx + k, &gte);
        if (r < 0)
            return r;
        if (gte != 0 && !gte_zero(e, gte))
            break;
        k++;
    }
    *count = k;
    return 0;
}

static int sparse_write(struct img *img, struct vmdk_extent *e, uint64_t rel, const uint8_t *p,
                        size_t n)
{
    struct vmdk *s = vmdk_st(img);
    while (n) {
        uint64_t gidx = rel / e->grain, in = rel % e->grain;
        size_t chunk = e->grain - in < n ? (size_t)(e->grain - in) : n;
        uint32_t gte;
        int r = gte_get(img, e, gidx, &gte);
        if (r < 0)
            return r;
        bool fresh = gte == 0 || gte_zero(e, gte);
        if (!fresh && e->stream)
            return img_error(img, -ENOTSUP,
                             "%s: streamOptimized grain %llu is already "
                             "written; such images only take writes to new grains",
                             ext_name(img, e), ULL(gidx));
        if (!fresh) {
            if ((r = grain_check(img, e, gidx, gte, in + chunk)) < 0)
                return r;
            if ((r = src_pwrite(e->src, p, chunk, (uint64_t)gte * VMDK_SECTOR + in)) < 0)
                return img_error(img, r, "%s: write: %s", ext_name(img, e), vmdk_ext_msg(e, r));
        } else if (e->stream) {
            const uint8_t *g = p;
            if (chunk != e->grain) {
                if ((r = grain_base(img, e, gidx, gte)) < 0)
                    return r;
                memcpy(s->gbuf + in, p, chunk);
                g = s->gbuf;
            }
            if ((r = stream_put(img, e, gidx, g)) < 0)
                return r;
        } else {
            uint64_t k = 0;
            if (in == 0 && (r = fresh_run(img, e, gidx, n, &k)) < 0)
                return r;
            const uint8_t *src = p;
            if (k == 0) { /* a partial grain: the rest comes from the parent (or zeros) */
                if ((r = grain_base(img, e, gidx, gte)) < 0)
                    return r;
                memcpy(s->gbuf + in, p, chunk);
                src = s->gbuf;
                k = 1;
            } else {
                chunk = (size_t)(k * e->grain);
            }
            uint64_t at = grain_home(img, e);
            if ((at + k * e->grain) / VMDK_SECTOR > UINT32_MAX)
                return img_error(img, -EFBIG,
                                 "%s: extent file too large for 32-bit "
                                 "sectors",
                                 ext_name(img, e));
            if ((r = src_pwrite(e->src, src, (size_t)(k * e->grain), at)) < 0)
                return img_error(img, r, "%s: write: %s", ext_name(img, e), vmdk_ext_msg(e, r));
            grain_placed(e, at, k * e->grain);
            struct vmdk_gt *g;
            if ((r = gt_get(img, e, (uint32_t)(gidx / e->h.gtes), true, &g)) < 0)
                return r;
            for (uint64_t i = 0; i < k; i++)
                g->e[(gidx + i) % e->h.gtes] = (uint32_t)(at / VMDK_SECTOR + i * e->h.grain);
            g->dirty = true;
        }
        p += chunk;
        rel += chunk;
        n -= chunk;
    }
    return 0;
}

static int ext_write(struct img *img, struct vmdk_extent *e, uint64_t rel, const uint8_t *p,
                     size_t n)
{
    int r;
    switch (e->type) {
    case VMDK_ZERO: return img_error(img, -ENOTSUP, "cannot write into a ZERO extent");
    case VMDK_SPARSE: return sparse_write(img, e, rel, p, n);
    case VMDK_VMFSSPARSE:
    case VMDK_SESPARSE: /* opened read-only; kept from reaching the flat path below */
        return img_error(img, -EROFS, "%s extents are read-only in dimg",
                         e->type == VMDK_SESPARSE ? "seSparse" : "vmfsSparse (COWD)");
    default:
        if ((r = src_pwrite(e->src, p, n, e->flat_off + rel)) < 0)
            return img_error(img, r, "%s: write: %s", ext_name(img, e), vmdk_ext_msg(e, r));
        if (e->flat_off + rel + n > e->file_size)
            e->file_size = e->flat_off + rel + n;
        return 0;
    }
}

static int ext_write_cb(struct img *img, struct vmdk_extent *e, uint64_t rel, uint8_t *p, size_t n)
{
    return ext_write(img, e, rel, p, n);
}

static int vmdk_write(struct img *img, uint64_t off, const void *buf, size_t len)
{
    int r = bump_cid(img);
    /* ext_each hands out buf's parts; writing never changes them. */
    return r < 0 ? r : ext_each(img, off, (uint8_t *)(uintptr_t)buf, len, ext_write_cb);
}

static int vmdk_write_compressed(struct img *img, uint64_t off, const void *buf, size_t len)
{
    struct vmdk_extent *e = ext_at(vmdk_st(img), off);
    if (e->type != VMDK_SPARSE || !e->stream)
        return img_error(img, -ENOTSUP,
                         "compressed grains need subformat "
                         "streamOptimized");
    return vmdk_write(img, off, buf, len);
}

/* Grains of a streamOptimized extent are zlib streams (RFC 1950) of a whole grain. */
static size_t vmdk_compress_cluster(struct img *img, const void *in, size_t len, void *out,
                                    size_t cap)
{
    return zlib_deflate(in, len, out, cap);
}

/* Place a grain vmdk_compress_cluster made of the cluster size get_info reports (the first
 * sparse extent's grain). Anything the stream cannot stand for as is (another grain size, a
 * short tail over a parent, a grain already written) takes the ordinary path, which
 * compresses again or refuses. */
static int vmdk_write_compressed_z(struct img *img, uint64_t off, const void *buf, size_t len,
                                   const void *z, size_t zlen)
{
    struct vmdk *s = vmdk_st(img);
    struct vmdk_extent *e = ext_at(s, off), *first = NULL;
    for (size_t i = 0; i < s->n_ext && !first; i++)
        if (s->ext[i].type == VMDK_SPARSE)
            first = &s->ext[i];
    uint64_t rel = off - e->start;
    uint32_t gte;
    int r;
    if (e->type != VMDK_SPARSE || !e->stream || e != first || zlen == 0 || rel % e->grain ||
        len > e->grain || len > e->len - rel || (len < e->grain && img->backing_name) ||
        zlen > zcap(e) - 12)
        return vmdk_write_compressed(img, off, buf, len);
    if ((r = gte_get(img, e, rel / e->grain, &gte)) < 0)
        return r;
    if (gte != 0 && !gte_zero(e, gte))
        return vmdk_write_compressed(img, off, buf, len); /* refuses, with the message */
    if ((r = bump_cid(img)) < 0 || (r = scratch(img, &s->zbuf, &s->zbuf_size, zcap(e) + 12)) < 0)
        return r;
    memcpy(s->zbuf + 12, z, zlen);
    return stream_place(img, e, rel / e->grain, zlen);
}

/* Zeros: a whole allocated grain has its space punched out (it then reads as zeros) and, where
 * the extent has zeroed-grain entries, is marked zeroed; an unallocated grain without a parent
 * already reads as zeros; everything else is written. */
static int zero_grain(struct img *img, struct vmdk_extent *e, uint64_t gidx, bool *done)
{
    uint32_t gte;
    int r = gte_get(img, e, gidx, &gte);
    *done = true;
    if (r < 0 || gte_zero(e, gte) || (gte == 0 && !img->backing_name))
        return r;
    if (gte != 0 && !e->stream) {
        /* Safe before the table changes: the old entry then points at zeros. */
        if (!(src_caps(e->src) & SRC_CAP_PUNCH) ||
            src_zero(e->src, (uint64_t)gte * VMDK_SECTOR, e->grain, SRC_ZERO_MAY_PUNCH) < 0) {
            *done = false;
            return 0;
        }
        if (!(e->h.flags & VMDK_FLAG_ZEROED_GRAIN))
            return 0;
    } else if (!(e->h.flags & VMDK_FLAG_ZEROED_GRAIN) || e->stream) {
        *done = false;
        return 0;
    }
    struct vmdk_gt *g;
    if ((r = gt_get(img, e, (uint32_t)(gidx / e->h.gtes), true, &g)) < 0)
        return r;
    g->e[gidx % e->h.gtes] = VMDK_GTE_ZEROED;
    g->dirty = true;
    return 0;
}

static int vmdk_write_zeroes(struct img *img, uint64_t off, uint64_t len)
{
    struct vmdk *s = vmdk_st(img);
    static const uint8_t zero[65536];
    int r = bump_cid(img);
    while (r == 0 && len) {
        struct vmdk_extent *e = ext_at(s, off);
        uint64_t rel = off - e->start, n = e->len - rel < len ? e->len - rel : len;
        bool done = e->type == VMDK_ZERO;
        if (e->type == VMDK_SPARSE) {
            uint64_t in = rel % e->grain;
            if (n > e->grain - in)
                n = e->grain - in;
            if (n == e->grain && (r = zero_grain(img, e, rel / e->grain, &done)) < 0)
                break;
        }
        if (!done) {
            if (n > sizeof zero)
                n = sizeof zero;
            r = ext_write(img, e, rel, zero, (size_t)n);
        }
        off += n;
        len -= n;
    }
    return r;
}

/* ---- flush ---- */

static int stream_tail(struct img *img, struct vmdk_extent *e)
{
    uint64_t pos = e->tail_off, gts = gt_sectors(e);
    int r;
    uint8_t m[VMDK_SECTOR];
    for (uint32_t gi = 0; gi < e->n_gd; gi++) {
        struct vmdk_gt *g = e->pinned[gi];
        if (!g || !g->dirty)
            continue;
        memset(m, 0, sizeof m);
        le64_store(m, gts);
        le32_store(m + 12, VMDK_MARKER_GT);
        if ((r = src_pwrite(e->src, m, sizeof m, pos)) < 0)
            goto fail;
        if ((r = gt_store(img, e, g->e, pos / VMDK_SECTOR + 1)) < 0)
            return r;
        /* A short last table still occupies whole sectors. */
        size_t tail = (size_t)(gts * VMDK_SECTOR - (uint64_t)e->h.gtes * 4);
        if (tail &&
            (r = src_write_zeros(e->src, pos + VMDK_SECTOR + (uint64_t)e->h.gtes * 4, tail)) < 0)
            goto fail;
        e->gd[gi] = (uint32_t)(pos / VMDK_SECTOR + 1);
        g->dirty = false;
        pos += (1 + gts) * VMDK_SECTOR;
    }
    uint64_t gds = u64_div_round_up((uint64_t)e->n_gd * 4, VMDK_SECTOR);
    memset(m, 0, sizeof m);
    le64_store(m, gds);
    le32_store(m + 12, VMDK_MARKER_GD);
    if ((r = src_pwrite(e->src, m, sizeof m, pos)) < 0)
        goto fail;
    size_t gdb = (size_t)(gds * VMDK_SECTOR);
    uint8_t *d = calloc(1, gdb ? gdb : 1);
    if (!d)
        return img_error(img, -ENOMEM, "out of memory");
    for (uint32_t i = 0; i < e->n_gd; i++)
        le32_store(d + 4 * (size_t)i, e->gd[i]);
    r = src_pwrite(e->src, d, gdb, pos + VMDK_SECTOR);
    free(d);
    if (r < 0)
        goto fail;
    uint64_t gd_sec = pos / VMDK_SECTOR + 1;
    pos += (1 + gds) * VMDK_SECTOR;
    uint8_t f[3 * VMDK_SECTOR];
    memset(f, 0, sizeof f);
    le32_store(f + 12, VMDK_MARKER_FOOTER);
    le64_store(f, 1);
    struct vmdk_header h = e->h;
    h.gd_off = gd_sec;
    h.rgd_off = 0;
    h.flags &= ~VMDK_FLAG_RGD;
    vmdk_header_store(&h, f + VMDK_SECTOR);
    if ((r = src_pwrite(e->src, f, sizeof f, pos)) < 0)
        goto fail;
    pos += sizeof f;
    if ((r = src_truncate(e->src, pos)) < 0)
        goto fail;
    e->file_size = pos;
    e->tail_dirty = false;
    return 0;
fail:
    return img_error(img, r, "%s: writing the stream's tables: %s", ext_name(img, e),
                     vmdk_ext_msg(e, r));
}

static int dir_store(struct img *img, struct vmdk_extent *e, const uint32_t *d, uint64_t sec)
{
    size_t n = (size_t)e->n_gd * 4;
    uint32_t *le = malloc(n ? n : 1);
    if (!le)
        return img_error(img, -ENOMEM, "out of memory");
    for (uint32_t i = 0; i < e->n_gd; i++)
        le32_store(&le[i], d[i]);
    int r = src_pwrite(e->src, le, n, sec * VMDK_SECTOR);
    free(le);
    return r < 0 ? img_error(img, r, "%s: writing the grain directory: %s", ext_name(img, e),
                             vmdk_ext_msg(e, r))
                 : 0;
}

int vmdk_ext_flush(struct img *img, struct vmdk_extent *e)
{
    int r;
    if (e->type == VMDK_ZERO || !e->src) /* !src: an open that failed before the file */
        return 0;
    if (e->type == VMDK_SPARSE && e->tail_mode) {
        bool dirty = e->tail_dirty;
        for (uint32_t gi = 0; gi < e->n_gd && !dirty; gi++)
            dirty = e->pinned[gi] && e->pinned[gi]->dirty;
        if (dirty && (r = src_flush(e->src)) == 0 && (r = stream_tail(img, e)) < 0)
            return r;
    } else if (e->type == VMDK_SPARSE) {
        /* Grains, then the tables pointing at them, then the directory pointing at those. */
        for (int i = 0; i < VMDK_GT_CACHE; i++)
            if (e->cache[i].idx != UINT32_MAX && (r = gt_writeback(img, e, &e->cache[i])) < 0)
                return r;
        if (e->gd_dirty) {
            if (!ext_scratch(img) && (r = src_flush(e->src)) < 0)
                return img_error(img, r, "flush: %s", vmdk_ext_msg(e, r));
            if ((r = dir_store(img, e, e->gd, e->h.gd_off)) < 0)
                return r;
            if (e->rgd && (r = dir_store(img, e, e->rgd, e->h.rgd_off)) < 0)
                return r;
            e->gd_dirty = false;
        }
    }
    r = src_flush(e->src);
    return r < 0 ? img_error(img, r, "flush: %s", vmdk_ext_msg(e, r)) : 0;
}

static int vmdk_flush(struct img *img)
{
    struct vmdk *s = vmdk_st(img);
    if (!(img->flags & IMG_OPEN_RW))
        return 0;
    for (size_t i = 0; i < s->n_ext; i++) {
        int r = vmdk_ext_flush(img, &s->ext[i]);
        if (r < 0)
            return r;
    }
    return 0;
}

/* ---- probe and open ---- */

/* A hosted sparse header's capacity (the other kinds are not read from their first bytes). */
static uint64_t vmdk_head_size(const uint8_t *buf, size_t len)
{
    if (len < 20 || memcmp(buf, VMDK_MAGIC, 4) != 0)
        return 0;
    uint64_t sec = le64_load(buf + 12);
    return sec < (1ull << 54) ? sec * VMDK_SECTOR : 0;
}

static int vmdk_probe(const uint8_t *buf, size_t len)
{
    if (len >= 4 && memcmp(buf, VMDK_MAGIC, 4) == 0)
        return 100;
    if (len >= 4 && memcmp(buf, "COWD", 4) == 0)
        return 100; /* vmfsSparse */
    if (vmdk_sesparse_magic(buf, len))
        return 100;
    /* A text descriptor: comments and blank lines, then version=N, and a createType. */
    static const char sig[] = "# Disk DescriptorFile";
    if (len >= sizeof sig - 1 && memcmp(buf, sig, sizeof sig - 1) == 0)
        return 100;
    size_t i = 0;
    while (i < len) {
        while (i < len && (buf[i] == ' ' || buf[i] == '\t' || buf[i] == '\r' || buf[i] == '\n'))
            i++;
        if (i < len && buf[i] == '#') {
            while (i < len && buf[i] != '\n')
                i++;
            continue;
        }
        break;
    }
    if (len - i >= 9 && memcmp(buf + i, "version=", 8) == 0 && buf[i + 8] >= '1' &&
        buf[i + 8] <= '3' && memmem(buf, len, "createType", 10))
        return 90;
    return 0;
}

/* The descriptor of a sparse file that has none: one extent, the file itself. */
static int synth_desc(struct img *img, const char *create_type)
{
    struct vmdk *s = vmdk_st(img);
    const struct vmdk_extent *e = &s->ext[0];
    const char *base = strrchr(img->path, '/');
    s->desc.version = 1;
    s->desc.cid = 0xfffffffeu;
    s->desc.parent_cid = 0xffffffffu;
    strcpy(s->desc.create_type, create_type);
    if (vmdk_desc_add_extent(&s->desc, VMDK_RW, e->h.capacity ? e->h.capacity : 1, e->type,
                             base ? base + 1 : img->path, 0) < 0)
        return img_error(img, -ENOMEM, "out of memory");
    return 0;
}

/* A vmfsSparse (COWD) or seSparse extent opened by itself; it has no descriptor. */
static int open_ro_sparse_file(struct img *img, enum vmdk_etype type, uint64_t fsize)
{
    struct vmdk *s = vmdk_st(img);
    if (!(s->ext = calloc(1, sizeof *s->ext)))
        return img_error(img, -ENOMEM, "out of memory");
    s->n_ext = 1;
    struct vmdk_extent *e = &s->ext[0];
    e->src = img->src;
    e->file_size = fsize;
    int r = type == VMDK_SESPARSE ? vmdk_sesparse_open(img, e) : vmdk_cowd_open(img, e);
    if (r < 0)
        return r;
    e->len = e->h.capacity * VMDK_SECTOR;
    return synth_desc(img, type == VMDK_SESPARSE ? "seSparse" : "vmfsSparse");
}

static int open_sparse_file(struct img *img, const uint8_t *hdr, uint64_t fsize)
{
    struct vmdk *s = vmdk_st(img);
    if (!(s->ext = calloc(1, sizeof *s->ext)))
        return img_error(img, -ENOMEM, "out of memory");
    s->n_ext = 1;
    struct vmdk_extent *e = &s->ext[0];
    e->type = VMDK_SPARSE;
    e->src = img->src;
    e->file_size = fsize;
    int r = vmdk_sparse_parse(img, e, hdr);
    if (r < 0)
        return r;
    e->len = e->h.capacity * VMDK_SECTOR;
    s->desc_off = e->h.desc_off * VMDK_SECTOR;
    s->desc_cap = e->h.desc_size * VMDK_SECTOR;
    char *text = NULL;
    if (s->desc_cap) {
        if (!(text = malloc(s->desc_cap)))
            return img_error(img, -ENOMEM, "out of memory");
        if ((r = src_pread(img->src, text, s->desc_cap, s->desc_off)) < 0) {
            free(text);
            return img_error(img, r, "reading the embedded descriptor: %s",
                             src_errmsg(img->src, r));
        }
    }
    if (text && text[0]) {
        r = vmdk_desc_parse(text, s->desc_cap, &s->desc, &img->err);
        free(text);
        if (r < 0)
            return r;
        if (s->desc.n_ext != 1 || s->desc.ext[0].type != VMDK_SPARSE)
            return img_error(img, -EINVAL,
                             "the embedded descriptor must list exactly "
                             "one SPARSE extent");
        /* The header's capacity rules, as for VMware and QEMU. */
        s->desc.ext[0].sectors = e->h.capacity;
        e->access = s->desc.ext[0].access;
    } else {
        /* A piece of a split image, or a sparse file without a descriptor. */
        free(text);
        if ((r = synth_desc(img, e->stream ? "streamOptimized" : "monolithicSparse")) < 0)
            return r;
    }
    if (e->access == VMDK_NOACCESS)
        return img_error(img, -EACCES, "the extent is marked NOACCESS");
    return 0;
}

static int open_extent(struct img *img, struct vmdk_extent *e, const struct vmdk_desc_extent *d)
{
    int r;
    e->type = d->type;
    e->access = d->access;
    if (d->access == VMDK_NOACCESS)
        return img_error(img, -EACCES, "extent '%s' is marked NOACCESS", d->file);
    if (d->access == VMDK_RDONLY && (img->flags & IMG_OPEN_RW))
        return img_error(img, -EROFS, "extent '%s' is read-only (RDONLY)", d->file);
    if (d->type == VMDK_ZERO)
        return 0;
    if (!(e->file = strdup(d->file)))
        return img_error(img, -ENOMEM, "out of memory");
    if ((r = img_open_ref(img, d->file, "extent file", IMG_REF_LOCAL, &e->src)) < 0)
        return r;
    if (src_same_file(e->src, img->src))
        return img_error(img, -EINVAL, "extent '%s' is the descriptor file itself", d->file);
    if ((r = src_size(e->src, &e->file_size)) < 0)
        return img_error(img, r, "%s: %s", d->file, vmdk_ext_msg(e, r));
    if (!ext_tabled(e)) {
        if (u64_mul_overflow(d->offset, VMDK_SECTOR, &e->flat_off) ||
            e->flat_off + e->len < e->flat_off)
            return img_error(img, -EINVAL, "extent '%s': offset %llu overflows", d->file,
                             ULL(d->offset));
        return 0;
    }
    uint8_t hdr[VMDK_SECTOR];
    if (e->file_size < VMDK_SECTOR)
        return img_error(img, -EINVAL, "extent '%s' is shorter than a sparse header", d->file);
    if ((r = src_pread(e->src, hdr, sizeof hdr, 0)) < 0)
        return img_error(img, r, "%s: %s", d->file, vmdk_ext_msg(e, r));
    /* As QEMU does, the file's magic decides between KDMV and COWD for either type. */
    if (d->type == VMDK_SESPARSE)
        r = vmdk_sesparse_open(img, e);
    else if (memcmp(hdr, VMDK_COWD_MAGIC, 4) == 0)
        r = vmdk_cowd_open(img, e);
    else {
        e->type = VMDK_SPARSE;
        r = vmdk_sparse_parse(img, e, hdr);
    }
    if (r < 0)
        return r;
    if (e->h.capacity < d->sectors)
        return img_error(img, -EINVAL,
                         "sparse extent '%s' holds %llu sectors, the "
                         "descriptor says %llu",
                         d->file, ULL(e->h.capacity), ULL(d->sectors));
    return 0;
}

static int open_descriptor_file(struct img *img, uint64_t fsize)
{
    struct vmdk *s = vmdk_st(img);
    if (fsize > VMDK_DESC_MAX)
        return img_error(img, -EINVAL,
                         "neither a sparse extent nor a descriptor of at "
                         "most %u bytes",
                         VMDK_DESC_MAX);
    char *text = malloc(fsize + 1);
    if (!text)
        return img_error(img, -ENOMEM, "out of memory");
    int r = src_pread(img->src, text, fsize, 0);
    if (r < 0) {
        free(text);
        return img_error(img, r, "reading the descriptor: %s", src_errmsg(img->src, r));
    }
    r = vmdk_desc_parse(text, fsize, &s->desc, &img->err);
    free(text);
    if (r < 0)
        return r;
    s->has_desc_file = true;
    if (!(s->ext = calloc(s->desc.n_ext, sizeof *s->ext)))
        return img_error(img, -ENOMEM, "out of memory");
    uint64_t start = 0;
    for (size_t i = 0; i < s->desc.n_ext; i++) {
        struct vmdk_extent *e = &s->ext[i];
        s->n_ext = i + 1;
        e->start = start;
        if (u64_mul_overflow(s->desc.ext[i].sectors, VMDK_SECTOR, &e->len) ||
            u64_add_overflow(start, e->len, &start) || start > (1ull << 62))
            return img_error(img, -EINVAL, "the extents add up to more than 4 EiB");
        if ((r = open_extent(img, e, &s->desc.ext[i])) < 0)
            return r;
    }
    return 0;
}

static void vmdk_close(struct img *img)
{
    struct vmdk *s = vmdk_st(img);
    if (!s)
        return;
    vmdk_stream_close(img);
    if (img->flags & IMG_OPEN_RW)
        vmdk_flush(img);
    for (size_t i = 0; i < s->n_ext; i++) {
        struct vmdk_extent *e = &s->ext[i];
        if (vmdk_ext_own(img, e))
            src_close(e->src);
        free(e->file);
        free(e->gd);
        free(e->rgd);
        for (int k = 0; k < VMDK_GT_CACHE; k++)
            free(e->cache[k].e);
        if (e->pinned) {
            for (uint32_t k = 0; k < e->n_gd; k++)
                if (e->pinned[k]) {
                    free(e->pinned[k]->e);
                    free(e->pinned[k]);
                }
            free(e->pinned);
        }
    }
    free(s->ext);
    free(s->gbuf);
    free(s->zbuf);
    vmdk_desc_free(&s->desc);
}

static int vmdk_open(struct img *img, unsigned flags)
{
    (void)flags;
    struct vmdk *s = vmdk_st(img);
    uint64_t fsize;
    uint8_t hdr[VMDK_SECTOR] = {0};
    if (!(src_caps(img->src) & SRC_CAP_RANDOM))
        return vmdk_stream_open(img);
    int r = src_size(img->src, &fsize);
    if (r < 0)
        return img_error(img, r, "%s", src_errmsg(img->src, r));
    if (fsize >= 4 &&
        (r = src_pread(img->src, hdr, fsize < sizeof hdr ? fsize : sizeof hdr, 0)) < 0)
        return img_error(img, r, "reading the header: %s", src_errmsg(img->src, r));
    if (memcmp(hdr, VMDK_MAGIC, 4) == 0) {
        if (fsize < VMDK_SECTOR)
            return img_error(img, -EINVAL, "file shorter than the sparse header");
        r = open_sparse_file(img, hdr, fsize);
    } else if (memcmp(hdr, VMDK_COWD_MAGIC, 4) == 0) {
        r = open_ro_sparse_file(img, VMDK_VMFSSPARSE, fsize);
    } else if (vmdk_sesparse_magic(hdr, fsize < sizeof hdr ? fsize : sizeof hdr)) {
        r = open_ro_sparse_file(img, VMDK_SESPARSE, fsize);
    } else {
        r = open_descriptor_file(img, fsize);
    }
    if (r < 0)
        return r;
    img->size = 0;
    for (size_t i = 0; i < s->n_ext; i++)
        img->size += s->ext[i].len;
    if (s->desc.parent_cid != 0xffffffffu && s->desc.parent_hint[0]) {
        if (!(img->backing_name = strdup(s->desc.parent_hint)) ||
            !(img->backing_fmt = strdup("vmdk")))
            return img_error(img, -ENOMEM, "out of memory");
    }
    return 0;
}

/* ---- info ---- */

static int vmdk_get_info(struct img *img, struct img_info *info)
{
    struct vmdk *s = vmdk_st(img);
    if (s->sr)
        return vmdk_stream_get_info(img, info);
    for (size_t i = 0; i < s->n_ext; i++) {
        const struct vmdk_extent *e = &s->ext[i];
        if (ext_tabled(e) && !info->cluster_size)
            info->cluster_size = (uint32_t)e->grain;
        if (e->type == VMDK_SPARSE && e->stream)
            info->compressed = true;
        if (vmdk_ext_own(img, e)) {
            uint64_t a;
            if (src_alloc(e->src, &a) == 0)
                info->actual_size += a;
        }
    }
    img_info_int(info, "cid", s->desc.cid);
    img_info_int(info, "parent-cid", s->desc.parent_cid);
    img_info_str(info, "create-type", s->desc.create_type);
    const char *adapter = vmdk_desc_get(&s->desc, "ddb.adapterType");
    if (adapter)
        img_info_str(info, "adapter-type", adapter);
    const char *hw = vmdk_desc_get(&s->desc, "ddb.virtualHWVersion");
    if (hw)
        img_info_str(info, "hwversion", hw);
    if (s->n_ext == 1 && s->ext[0].type == VMDK_SPARSE)
        img_info_bool(info, "zeroed-grain", s->ext[0].h.flags & VMDK_FLAG_ZEROED_GRAIN);
    return 0;
}

static int vmdk_extents(struct img *img, struct img_extent **out, size_t *n)
{
    struct vmdk *s = vmdk_st(img);
    struct img_extent *v = calloc(s->n_ext ? s->n_ext : 1, sizeof *v);
    if (!v)
        return img_fail(img, -ENOMEM, "out of memory");
    for (size_t i = 0; i < s->n_ext; i++) {
        const struct vmdk_extent *e = &s->ext[i];
        /* A hosted sparse file is its own (only) extent: qemu-img lists it with no type. */
        v[i].file = s->has_desc_file ? e->file : NULL;
        v[i].type = s->has_desc_file ? vmdk_etype_name(e->type) : "";
        v[i].virtual_size = e->len;
        v[i].cluster_size = ext_tabled(e) ? (uint32_t)e->grain : 0;
        v[i].compressed = e->type == VMDK_SPARSE && e->h.compress == 1;
    }
    *out = v;
    *n = s->n_ext;
    return 0;
}

/* ---- layout and check: walk every grain of a sparse extent ---- */

struct span {
    uint64_t off, len; /* bytes in the extent file */
    int kind;          /* IMG_R_* of a table, or -1 for a grain */
};

struct walk {
    struct img_regions rl; /* layout */
    struct img_check *chk; /* check (then grains are collected in v) */
    struct span *v;
    size_t n, cap;
};

static int walk_add(struct img *img, struct walk *w, uint64_t off, uint64_t len, int kind)
{
    if (w->n == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 1024;
        struct span *v = realloc(w->v, cap * sizeof *v);
        if (!v)
            return img_error(img, -ENOMEM, "out of memory");
        w->v = v;
        w->cap = cap;
    }
    w->v[w->n++] = (struct span){off, len, kind};
    return 0;
}

/* Bytes a compressed grain occupies (marker and data, whole sectors), 0 if unreadable. */
static uint64_t stream_grain_len(struct img *img, struct vmdk_extent *e, uint64_t gidx,
                                 uint32_t gte, struct walk *w)
{
    uint8_t m[12];
    if (!in_file(e, gte, sizeof m) ||
        src_pread(e->src, m, sizeof m, (uint64_t)gte * VMDK_SECTOR) < 0)
        return 0;
    if (w->chk && le64_load(m) != gidx * e->h.grain) {
        w->chk->corruptions++;
        img_check_report(w->chk, "ERROR: %s: grain %llu: its marker names sector %llu",
                         ext_name(img, e), ULL(gidx), ULL(le64_load(m)));
    }
    return u64_align_up(sizeof m + (uint64_t)le32_load(m + 8), VMDK_SECTOR);
}

#define VMDK_ALIAS_REPORTS 8 /* alias lines check prints before summing up the rest */

static int walk_grains(struct img *img, struct vmdk_extent *e, struct walk *w)
{
    uint64_t total = u64_div_round_up(e->h.capacity, e->h.grain), aliased = 0;
    uint32_t *first;
    int r = gd_aliases(img, e, e->gd, &first);
    if (r < 0)
        return r;
    for (uint32_t gi = 0; gi < e->n_gd; gi++) {
        struct vmdk_gt *g;
        if (first[gi] != gi) {
            /* Another entry's table: its grains are walked once, with that entry. */
            if (w->chk && aliased++ < VMDK_ALIAS_REPORTS) {
                w->chk->corruptions++;
                img_check_report(w->chk,
                                 "ERROR: %s: grain directory entry %u points at the grain "
                                 "table of entry %u",
                                 ext_name(img, e), gi, first[gi]);
            }
            continue;
        }
        if ((r = gt_get(img, e, gi, false, &g)) < 0)
            break;
        if (r < 0)
            return r;
        if (w->chk && img_check_tick(w->chk, (uint64_t)gi * e->h.gtes * e->grain, e->len)) {
            r = img_fail(img, -ECANCELED, "cancelled");
            break;
        }
        for (uint32_t t = 0; g && t < e->h.gtes; t++) {
            uint64_t gidx = (uint64_t)gi * e->h.gtes + t;
            uint32_t gte = g->e[t];
            if (gte == 0 || gte_zero(e, gte))
                continue;
            if (gidx >= total && w->chk) {
                w->chk->corruptions++;
                img_check_report(w->chk, "ERROR: %s: grain %llu lies past the capacity",
                                 ext_name(img, e), ULL(gidx));
                continue;
            }
            uint64_t len = e->stream ? stream_grain_len(img, e, gidx, gte, w) : e->grain;
            if (len == 0 || gte < e->h.overhead || !in_file(e, gte, len)) {
                if (w->chk) {
                    w->chk->corruptions++;
                    img_check_report(w->chk,
                                     "ERROR: %s: grain %llu at sector %u lies outside "
                                     "the data area of the file",
                                     ext_name(img, e), ULL(gidx), gte);
                }
                continue;
            }
            if (!w->chk) {
                img_regions_add(&w->rl, (uint64_t)gte * VMDK_SECTOR, len,
                                e->stream ? IMG_R_COMPRESSED : IMG_R_DATA);
                continue;
            }
            w->chk->allocated_clusters++;
            w->chk->compressed_clusters += e->stream;
            if ((r = walk_add(img, w, (uint64_t)gte * VMDK_SECTOR, len, -1)) < 0)
                break;
        }
        if (r < 0)
            break;
    }
    free(first);
    if (r == 0 && w->chk && aliased > VMDK_ALIAS_REPORTS) {
        w->chk->corruptions += aliased - VMDK_ALIAS_REPORTS;
        img_check_report(w->chk,
                         "ERROR: %s: %llu more grain directory entries point at another "
                         "entry's grain table",
                         ext_name(img, e), ULL(aliased - VMDK_ALIAS_REPORTS));
    }
    return r;
}

static int add_tables(struct img *img, struct vmdk_extent *e, struct img_regions *rl)
{
    uint64_t gdb = (uint64_t)e->n_gd * entry_bytes(e), gtb = gt_sectors(e) * VMDK_SECTOR;
    uint32_t *first = NULL, *rfirst = NULL;
    int r = gd_aliases(img, e, e->gd, &first);
    if (r == 0 && e->rgd)
        r = gd_aliases(img, e, e->rgd, &rfirst);
    if (r < 0) {
        free(first);
        return r;
    }
    img_regions_add(rl, 0, e->type == VMDK_VMFSSPARSE ? VMDK_COWD_HDR : VMDK_SECTOR, IMG_R_HEADER);
    if (e->type == VMDK_SESPARSE)
        vmdk_sesparse_regions(e, rl);
    img_regions_add(rl, e->h.desc_off * VMDK_SECTOR, e->h.desc_size * VMDK_SECTOR, IMG_R_META);
    img_regions_add(rl, e->h.gd_off * VMDK_SECTOR, gdb, IMG_R_GRAIN_DIR);
    if (e->rgd)
        img_regions_add(rl, e->h.rgd_off * VMDK_SECTOR, gdb, IMG_R_GRAIN_DIR);
    for (uint32_t i = 0; i < e->n_gd; i++) {
        if (e->gd[i] && first[i] == i)
            img_regions_add(rl, (uint64_t)e->gd[i] * VMDK_SECTOR, gtb, IMG_R_GRAIN_TABLE);
        if (e->rgd && e->rgd[i] && rfirst[i] == i)
            img_regions_add(rl, (uint64_t)e->rgd[i] * VMDK_SECTOR, gtb, IMG_R_GRAIN_TABLE);
    }
    if (e->stream && e->tail_off && e->tail_off + 3 * VMDK_SECTOR <= e->file_size)
        img_regions_add(rl, e->file_size - 3 * VMDK_SECTOR, 3 * VMDK_SECTOR, IMG_R_META);
    free(first);
    free(rfirst);
    return 0;
}

static int vmdk_layout(struct img *img, struct img_region **out, size_t *n)
{
    struct vmdk *s = vmdk_st(img);
    if (s->sr)
        return img_error(img, -ENOTSUP, "a streamed vmdk has no layout to show");
    struct walk w = {0};
    if (s->has_desc_file) {
        uint64_t fsize = 0;
        src_size(img->src, &fsize);
        img_regions_add(&w.rl, 0, fsize, IMG_R_META);
        return img_regions_finish(&w.rl, out, n);
    }
    struct vmdk_extent *e = &s->ext[0];
    int r = add_tables(img, e, &w.rl);
    if (r == 0)
        r = walk_grains(img, e, &w);
    if (r < 0) {
        free(w.rl.v);
        return r;
    }
    if ((r = img_regions_finish(&w.rl, out, n)) < 0)
        return img_error(img, r, "out of memory for the layout");
    return 0;
}

static int span_cmp(const void *a, const void *b)
{
    const struct span *x = a, *y = b;
    return x->off < y->off ? -1 : x->off > y->off;
}

/* Grains against each other and against the tables: one sweep over all spans by offset. */
static int check_overlaps(struct img *img, struct vmdk_extent *e, struct walk *w)
{
    struct img_regions meta = {0};
    int r = add_tables(img, e, &meta);
    if (r == 0 && meta.oom)
        r = img_error(img, -ENOMEM, "out of memory");
    for (size_t i = 0; r == 0 && i < meta.n; i++)
        r = walk_add(img, w, meta.v[i].off, meta.v[i].len, (int)meta.v[i].kind);
    free(meta.v);
    if (r < 0)
        return r;
    qsort(w->v, w->n, sizeof *w->v, span_cmp);
    size_t owner = 0;
    for (size_t i = 1; i < w->n; i++) {
        const struct span *a = &w->v[owner], *b = &w->v[i];
        if (b->off < a->off + a->len && (a->kind < 0 || b->kind < 0)) {
            w->chk->corruptions++;
            img_check_report(w->chk, "ERROR: %s: %s at byte %llu overlaps the %s at byte %llu",
                             ext_name(img, e), b->kind < 0 ? "grain" : img_region_name(b->kind),
                             ULL(b->off), a->kind < 0 ? "grain" : img_region_name(a->kind),
                             ULL(a->off));
        }
        if (b->off + b->len > a->off + a->len)
            owner = i;
    }
    return 0;
}

static int vmdk_check(struct img *img, struct img_check *res, unsigned fix)
{
    struct vmdk *s = vmdk_st(img);
    if (s->sr)
        return img_error(img, -ENOTSUP, "a streamed vmdk cannot be checked");
    if (fix)
        return img_error(img, -ENOTSUP, "check cannot repair vmdk images");
    uint64_t end = 0;
    for (size_t i = 0; i < s->n_ext; i++) {
        struct vmdk_extent *e = &s->ext[i];
        if (!ext_tabled(e))
            continue;
        struct walk w = {.chk = res};
        int r = walk_grains(img, e, &w);
        if (r == 0)
            r = check_overlaps(img, e, &w);
        free(w.v);
        if (r < 0)
            return r;
        res->total_clusters += u64_div_round_up(e->h.capacity, e->h.grain);
        if (!vmdk_ext_own(img, e))
            end = e->file_size;
    }
    /* Counted, but not qemu-img's: it prints no statistics for vmdk (has_stats false). */
    res->image_end_offset = end;
    if (img->backing && img->backing->drv == &img_driver_vmdk &&
        ((const struct vmdk *)img->backing->priv)->desc.cid != s->desc.parent_cid) {
        res->check_errors++;
        img_check_report(res, "ERROR: parent %s has CID %08x, this child expects %08x",
                         img->backing->path, ((const struct vmdk *)img->backing->priv)->desc.cid,
                         s->desc.parent_cid);
    }
    return 0;
}

static const struct img_opt_desc vmdk_create_opts[] = {
    {"subformat",
     "enum:monolithicSparse|monolithicFlat|twoGbMaxExtentSparse|"
     "twoGbMaxExtentFlat|streamOptimized",
     "vmdk subformat (createType)"},
    {"adapter_type", "enum:ide|lsilogic|buslogic|legacyESX", "virtual adapter type"},
    {"hwversion", "string", "ddb.virtualHWVersion (default 4)"},
    {"compat6", "bool", "VMDK version 6 image (hwversion 6)"},
    {"zeroed_grain", "bool", "enable zeroed-grain entries (sparse extents)"},
    {"toolsversion", "string", "ddb.toolsVersion"},
    {NULL, NULL, NULL},
};

static const char *const vmdk_qemu_info_keys[] = {"cid", "parent-cid", "create-type", "extents",
                                                  NULL};

const struct img_driver img_driver_vmdk = {
    .qemu_info_keys = vmdk_qemu_info_keys,
    .abi = IMG_DRIVER_ABI,
    .name = "vmdk",
    .desc = "VMware virtual disk",
    .priv_size = sizeof(struct vmdk),
    .caps = IMG_CAP_BACKING | IMG_CAP_ZERO_INIT | IMG_CAP_PARENT_ID | IMG_CAP_PARENT_SAME_FMT |
            IMG_CAP_SOURCES,
    .create_opts = vmdk_create_opts,
    .probe = vmdk_probe,
    .open = vmdk_open,
    .close = vmdk_close,
    .get_info = vmdk_get_info,
    .extents = vmdk_extents,
    .read = vmdk_read,
    .block_status = vmdk_block_status,
    .write = vmdk_write,
    .write_zeroes = vmdk_write_zeroes,
    .flush = vmdk_flush,
    .create = vmdk_create,
    .truncate = vmdk_truncate,
    .check = vmdk_check,
    .layout = vmdk_layout,
    .set_backing = vmdk_set_backing,
    .make_empty = vmdk_make_empty,
    .compress_cluster = vmdk_compress_cluster,
    .write_compressed_z = vmdk_write_compressed_z,
    .head_size = vmdk_head_size,
    .stream_head = vmdk_stream_head,
};

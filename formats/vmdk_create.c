/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vmdk_create.c: new vmdk images of every subformat, and growing them.
 *
 * create writes monolithicSparse (QEMU's layout: header, embedded descriptor, redundant and
 * primary grain directories with all grain tables reserved up front, grains from a grain-
 * aligned overhead), streamOptimized (VMware's layout: the directory, footer and end-of-stream
 * marker at the end), monolithicFlat and the twoGbMaxExtent* splits (a descriptor file plus
 * extent files named after the image). A child (-b) is a monolithicSparse image recording
 * its parent's CID and name. Growing works for every subformat: a sparse extent gets a larger
 * directory (moved to the end of the file when it no longer fits), flat extents are extended,
 * split images gain new pieces; the descriptor is rewritten last.
 * Talks to: core/base/io.c, core/block/opts.c, formats/vmdk.c and formats/vmdk_desc.c.
 */
#include "formats/vmdk.h"

#include "core/base/bytes.h"
#include "core/base/io.h"
#include "formats/drivers.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#define ULL(x) ((unsigned long long)(x))
#define DESC_SECTORS 20u   /* room for the embedded descriptor, as QEMU reserves */
#define GRAIN_SECTORS 128u /* 64 KiB grains */

/* Sparse layout of a new extent: directory entries, and the sectors of the redundant and
 * primary directories (each followed by its reserved tables) and of the first grain. */
struct vmdk_plan {
    uint64_t capacity, grain;        /* sectors */
    uint32_t gtes, n_gd, gd_sectors; /* gd_sectors: one directory copy */
    uint64_t rgd_off, gd_off, overhead;
};

static void vmdk_plan_sparse(struct vmdk_plan *p, uint64_t capacity, uint64_t grain,
                             uint64_t desc_end, bool tables)
{
    memset(p, 0, sizeof *p);
    p->capacity = capacity;
    p->grain = grain;
    p->gtes = VMDK_GTES_MAX;
    p->n_gd = (uint32_t)u64_div_round_up(capacity, (uint64_t)p->gtes * grain);
    p->gd_sectors = (uint32_t)u64_div_round_up((uint64_t)p->n_gd * 4, VMDK_SECTOR);
    if (!tables) {
        p->overhead = u64_align_up(desc_end, grain);
        return;
    }
    uint64_t gt = (uint64_t)p->gtes * 4 / VMDK_SECTOR;
    p->rgd_off = desc_end;
    p->gd_off = p->rgd_off + p->gd_sectors + p->n_gd * gt;
    p->overhead = u64_align_up(p->gd_off + p->gd_sectors + p->n_gd * gt, grain);
}

/* ---- option handling ---- */

struct vmdk_req {
    const char *subformat, *adapter, *hwversion, *toolsversion;
    bool zeroed_grain;
    uint64_t size; /* bytes, a multiple of 512 */
    const char *final_path;
    /* child */
    const char *parent_hint;
    uint32_t parent_cid;
};

static int take_opts(const struct img_create_req *req, struct vmdk_req *v, struct img_err *err)
{
    struct img_opts *o = req->opts;
    bool compat6 = false;
    int r;
    memset(v, 0, sizeof *v);
    v->subformat = o ? img_opts_take(o, "subformat") : NULL;
    v->adapter = o ? img_opts_take(o, "adapter_type") : NULL;
    v->hwversion = o ? img_opts_take(o, "hwversion") : NULL;
    v->toolsversion = o ? img_opts_take(o, "toolsversion") : NULL;
    if (o && ((r = img_opts_take_bool(o, "compat6", &compat6, err)) < 0 ||
              (r = img_opts_take_bool(o, "zeroed_grain", &v->zeroed_grain, err)) < 0))
        return r;
    if (req->compress && v->subformat && strcmp(v->subformat, "streamOptimized") != 0)
        return img_drv_error(&img_driver_vmdk, err, -EINVAL,
                             "compressed output needs subformat=streamOptimized, "
                             "not %s",
                             v->subformat);
    if (!v->subformat)
        v->subformat = req->compress ? "streamOptimized" : "monolithicSparse";
    bool ok = false;
    for (int i = 0; i < 5; i++)
        ok |= strcmp(v->subformat, vmdk_create_types[i]) == 0;
    if (!ok)
        return img_drv_error(&img_driver_vmdk, err, -EINVAL,
                             "unknown subformat '%s' (monolithicSparse, "
                             "monolithicFlat, twoGbMaxExtentSparse, twoGbMaxExtentFlat, "
                             "streamOptimized)",
                             v->subformat);
    if (v->zeroed_grain && strstr(v->subformat, "Flat"))
        return img_drv_error(&img_driver_vmdk, err, -EINVAL,
                             "flat images cannot have zeroed grains");
    if (!v->adapter)
        v->adapter = "ide";
    if (strcmp(v->adapter, "ide") && strcmp(v->adapter, "lsilogic") &&
        strcmp(v->adapter, "buslogic") && strcmp(v->adapter, "legacyESX"))
        return img_drv_error(&img_driver_vmdk, err, -EINVAL,
                             "unknown adapter type '%s' (ide, lsilogic, buslogic, "
                             "legacyESX)",
                             v->adapter);
    if (compat6 && v->hwversion)
        return img_drv_error(&img_driver_vmdk, err, -EINVAL,
                             "compat6 and hwversion cannot be given together");
    if (!v->hwversion)
        v->hwversion = compat6 ? "6" : "4";
    for (const char *c = v->hwversion; *c; c++)
        if (*c < '0' || *c > '9' || c - v->hwversion > 4)
            return img_drv_error(&img_driver_vmdk, err, -EINVAL,
                                 "hwversion '%s' is not a small number", v->hwversion);
    if (!v->toolsversion)
        v->toolsversion = "2147483647";
    if (req->size > (1ull << 62))
        return img_drv_error(&img_driver_vmdk, err, -EINVAL, "size too large");
    v->size = u64_align_up(req->size, VMDK_SECTOR);
    return 0;
}

/* The parent's CID, read by opening it as the child will find it. */
static int parent_info(const char *path, const struct img_create_req *req, struct vmdk_req *v,
                       struct img_err *err)
{
    if (req->backing_fmt && strcmp(req->backing_fmt, "vmdk") != 0)
        return img_drv_error(&img_driver_vmdk, err, -EINVAL,
                             "a child's parent must be a vmdk image, not %s", req->backing_fmt);
    if (strcmp(v->subformat, "monolithicSparse") != 0 &&
        strcmp(v->subformat, "twoGbMaxExtentSparse") != 0)
        return img_drv_error(&img_driver_vmdk, err, -EINVAL,
                             "a child image must be sparse (subformat %s)", v->subformat);
    char *dir = io_dirname(req->final_path ? req->final_path : path);
    char *full = dir ? io_path_join(dir, req->backing_file) : NULL;
    free(dir);
    if (!full)
        return err_set(err, -ENOMEM, "out of memory");
    struct img *p = img_open(full, "vmdk", 0, err);
    free(full);
    if (!p)
        return err->code ? err->code : -EIO;
    v->parent_cid = ((const struct vmdk *)p->priv)->desc.cid;
    v->parent_hint = req->backing_file;
    img_close(p);
    return 0;
}

/* ---- the descriptor of a new image ---- */

static int new_cid(uint32_t *cid)
{
    do {
        if (getrandom(cid, sizeof *cid, 0) != sizeof *cid)
            return -EIO;
    } while (*cid == 0xffffffffu || *cid == 0xfffffffeu);
    return 0;
}

static int desc_init(struct vmdk_desc *d, const struct vmdk_req *v)
{
    memset(d, 0, sizeof *d);
    d->version = 1;
    if (new_cid(&d->cid) < 0)
        return -EIO;
    d->parent_cid = v->parent_hint ? v->parent_cid : 0xffffffffu;
    snprintf(d->create_type, sizeof d->create_type, "%s", v->subformat);
    if (v->parent_hint && snprintf(d->parent_hint, sizeof d->parent_hint, "%s", v->parent_hint) >=
                              (int)sizeof d->parent_hint)
        return -EINVAL;
    unsigned heads = strcmp(v->adapter, "ide") == 0 ? 16 : 255;
    uint64_t cyl = u64_div_round_up(v->size, 63ull * heads * VMDK_SECTOR);
    char num[24];
    snprintf(num, sizeof num, "%llu", ULL(cyl > 16383 ? 16383 : cyl));
    int r = 0;
    r |= vmdk_desc_set(d, "ddb.virtualHWVersion", v->hwversion, true);
    r |= vmdk_desc_set(d, "ddb.geometry.cylinders", num, true);
    snprintf(num, sizeof num, "%u", heads);
    r |= vmdk_desc_set(d, "ddb.geometry.heads", num, true);
    r |= vmdk_desc_set(d, "ddb.geometry.sectors", "63", true);
    r |= vmdk_desc_set(d, "ddb.adapterType", v->adapter, true);
    r |= vmdk_desc_set(d, "ddb.toolsVersion", v->toolsversion, true);
    return r ? -ENOMEM : 0;
}

/* ---- sparse extents ---- */

/* Write a fresh sparse extent into s (empty): header, descriptor text (may be NULL),
 * directories and reserved tables, or for a stream its directory, footer and EOS marker. */
static int sparse_write_new(struct img_src *s, uint64_t capacity, bool stream, bool zeroed,
                            const char *text, size_t tlen)
{
    struct vmdk_plan p;
    vmdk_plan_sparse(&p, capacity, GRAIN_SECTORS, 1 + DESC_SECTORS, !stream);
    if (p.n_gd > VMDK_GD_MAX)
        return -EFBIG;
    if (p.overhead + (uint64_t)p.n_gd * 8 > UINT32_MAX && !stream)
        return -EFBIG;
    struct vmdk_header h = {
        .version = stream   ? 3
                   : zeroed ? 2
                            : 1,
        .flags =
            VMDK_FLAG_NL_TEST | (stream ? VMDK_FLAG_COMPRESSED | VMDK_FLAG_MARKERS
                                        : VMDK_FLAG_RGD | (zeroed ? VMDK_FLAG_ZEROED_GRAIN : 0)),
        .capacity = capacity,
        .grain = GRAIN_SECTORS,
        .desc_off = 1,
        .desc_size = DESC_SECTORS,
        .gtes = p.gtes,
        .rgd_off = p.rgd_off,
        .gd_off = stream ? VMDK_GD_AT_END : p.gd_off,
        .overhead = p.overhead,
        .compress = stream ? 1 : 0,
    };
    if (tlen > DESC_SECTORS * VMDK_SECTOR)
        return -ENAMETOOLONG;
    size_t dirb = (size_t)p.gd_sectors * VMDK_SECTOR;
    uint8_t *dir = calloc(1, dirb + 3 * VMDK_SECTOR + VMDK_SECTOR);
    if (!dir)
        return -ENOMEM;
    int r = 0;
    uint64_t end = p.overhead * VMDK_SECTOR;
    if (stream) {
        /* GD marker + an empty directory, then footer marker, footer, EOS. */
        uint8_t *m = dir;
        memset(m, 0, VMDK_SECTOR);
        le64_store(m, p.gd_sectors);
        le32_store(m + 12, VMDK_MARKER_GD);
        uint8_t *f = dir + VMDK_SECTOR + dirb;
        le64_store(f, 1);
        le32_store(f + 12, VMDK_MARKER_FOOTER);
        struct vmdk_header fh = h;
        fh.gd_off = p.overhead + 1;
        vmdk_header_store(&fh, f + VMDK_SECTOR);
        size_t total = VMDK_SECTOR + dirb + 3 * VMDK_SECTOR;
        r = src_pwrite(s, dir, total, end);
        end += total;
    } else {
        uint64_t gt = (uint64_t)p.gtes * 4 / VMDK_SECTOR;
        for (int copy = 0; copy < 2 && r == 0; copy++) {
            uint64_t at = copy ? p.gd_off : p.rgd_off, tables = at + p.gd_sectors;
            for (uint32_t i = 0; i < p.n_gd; i++)
                le32_store(dir + 4 * (size_t)i, (uint32_t)(tables + i * gt));
            r = src_pwrite(s, dir, dirb, at * VMDK_SECTOR);
        }
    }
    free(dir);
    if (r == 0 && text) {
        char *area = calloc(1, DESC_SECTORS * VMDK_SECTOR);
        if (!area)
            return -ENOMEM;
        memcpy(area, text, tlen);
        r = src_pwrite(s, area, DESC_SECTORS * VMDK_SECTOR, VMDK_SECTOR);
        free(area);
    }
    uint8_t hb[VMDK_SECTOR];
    vmdk_header_store(&h, hb);
    if (r == 0)
        r = src_pwrite(s, hb, sizeof hb, 0);
    if (r == 0)
        r = img_create_truncate(s, end);
    return r;
}

/* ---- create ---- */

/* The image name without its directory and a trailing ".vmdk", for naming extents. */
static char *stem_of(const char *path)
{
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    size_t n = strlen(b);
    if (n > 5 && strcmp(b + n - 5, ".vmdk") == 0)
        n -= 5;
    return strndup(b, n);
}

/* Name extent piece k (1-based) of kind "flat", 'f' or 's' in name (cap 600) and add it with
 * the given sectors to d. */
static int piece_add(struct vmdk_desc *d, char *name, const char *stem, const char *kind,
                     unsigned k, uint64_t sectors, struct img_err *err)
{
    if (strcmp(kind, "flat") == 0)
        snprintf(name, 600, "%s-flat.vmdk", stem);
    else
        snprintf(name, 600, "%s-%s%03u.vmdk", stem, kind, k);
    bool sparse = kind[0] == 's';
    if (vmdk_desc_add_extent(d, VMDK_RW, sectors, sparse ? VMDK_SPARSE : VMDK_FLAT, name, 0) < 0)
        return img_drv_error(&img_driver_vmdk, err, -EINVAL, "extent name too long");
    return 0;
}

/* The contents of a new piece: a fresh sparse extent, or a flat one's zeros (a hole). */
static int piece_fill(struct img_src *s, const char *kind, uint64_t sectors, bool zeroed)
{
    return kind[0] == 's' ? sparse_write_new(s, sectors, false, zeroed, NULL, 0)
                          : img_create_truncate(s, sectors * VMDK_SECTOR);
}

/* A new piece of an open image (grow), filled through img_add_file. */
struct piece_new {
    struct img *img;
    const char *name, *kind;
    uint64_t sectors;
};

static int piece_fill_new(void *ctx, struct img_src *s)
{
    struct piece_new *p = ctx;
    int r = piece_fill(s, p->kind, p->sectors, false);
    if (r < 0)
        img_error(p->img, r, "writing extent %s: %s", p->name, src_errmsg(s, r));
    return r;
}

/* Create piece k of a new image beside it (core removes it with the image on failure). */
static int create_piece(struct img_create_ctx *c, struct vmdk_desc *d, const char *stem,
                        const char *kind, unsigned k, uint64_t sectors, bool zeroed,
                        struct img_err *err)
{
    char name[600];
    struct img_src *s;
    int r = piece_add(d, name, stem, kind, k, sectors, err);
    if (r < 0 || (r = img_create_extra(c, name, "extent file", &s)) < 0)
        return r;
    if ((r = piece_fill(s, kind, sectors, zeroed)) < 0)
        return img_drv_error(&img_driver_vmdk, err, r, "writing extent %s: %s", name,
                             src_errmsg(s, r));
    return 0;
}

static int write_text_file(struct img_src *s, const struct vmdk_desc *d)
{
    size_t n;
    char *t = vmdk_desc_format(d, &n);
    if (!t)
        return -ENOMEM;
    int r = src_pwrite(s, t, n, 0);
    free(t);
    if (r == 0)
        r = img_create_truncate(s, n);
    return r;
}

/* The one extent of a monolithicSparse or streamOptimized image, its descriptor embedded. */
static int create_sparse(struct img_src *s, struct vmdk_desc *d, const struct vmdk_req *v,
                         bool stream, const char *path, struct img_err *err)
{
    uint64_t sectors = v->size / VMDK_SECTOR;
    const char *b = strrchr(v->final_path, '/');
    if (vmdk_desc_add_extent(d, VMDK_RW, sectors ? sectors : 1, VMDK_SPARSE,
                             b ? b + 1 : v->final_path, 0) < 0)
        return img_drv_error(&img_driver_vmdk, err, -EINVAL, "image name too long");
    size_t n;
    char *t = vmdk_desc_format(d, &n);
    int r = t ? sparse_write_new(s, sectors, stream, v->zeroed_grain, t, n) : -ENOMEM;
    free(t);
    if (r == -EFBIG)
        return img_drv_error(&img_driver_vmdk, err, r,
                             "%llu bytes is too large for one sparse extent; use "
                             "subformat=twoGbMaxExtentSparse",
                             ULL(v->size));
    if (r < 0)
        return err_set(err, r, "%s: %s", path,
                       r == -ENAMETOOLONG ? "descriptor too long for its area (shorten the "
                                            "parent name)"
                                          : src_errmsg(s, r));
    return 0;
}

/* A descriptor file and its flat or split extents, named after the image's final name. */
static int create_split(struct img_create_ctx *c, struct img_src *s, struct vmdk_desc *d,
                        const struct vmdk_req *v, const char *path, struct img_err *err)
{
    char *stem = stem_of(v->final_path);
    if (!stem)
        return err_set(err, -ENOMEM, "out of memory");
    bool split = strncmp(v->subformat, "twoGb", 5) == 0;
    bool sparse = strcmp(v->subformat, "twoGbMaxExtentSparse") == 0;
    uint64_t sectors = v->size / VMDK_SECTOR;
    uint64_t piece = split ? VMDK_SPLIT_BYTES / VMDK_SECTOR : sectors;
    unsigned k = 0;
    int r = 0;
    for (uint64_t left = sectors; r == 0 && (left || k == 0);) {
        uint64_t n = left < piece ? left : piece;
        r = create_piece(c, d, stem, split ? (sparse ? "s" : "f") : "flat", ++k, n ? n : 1,
                         v->zeroed_grain, err);
        left -= n;
    }
    free(stem);
    if (r == 0 && (r = write_text_file(s, d)) < 0)
        r = err_set(err, r, "%s: %s", path, src_errmsg(s, r));
    return r;
}

int vmdk_create(struct img_create_ctx *c, const struct img_create_req *req, struct img_err *err)
{
    const char *path = img_create_path(c);
    struct vmdk_req v;
    int r = take_opts(req, &v, err);
    if (r < 0)
        return r;
    v.final_path = img_create_final(c);
    if (req->backing_file && (r = parent_info(path, req, &v, err)) < 0)
        return r;
    struct vmdk_desc d;
    if ((r = desc_init(&d, &v)) < 0)
        return img_drv_error(&img_driver_vmdk, err, r, "cannot build the descriptor");
    struct img_src *s;
    bool stream = strcmp(v.subformat, "streamOptimized") == 0;
    if ((r = img_create_src(c, &s)) == 0)
        r = stream || strcmp(v.subformat, "monolithicSparse") == 0
                ? create_sparse(s, &d, &v, stream, path, err)
                : create_split(c, s, &d, &v, path, err);
    vmdk_desc_free(&d);
    return r;
}

/* ---- grow ---- */

/* Give sparse extent e new_cap sectors: a larger directory (in place while its sectors have
 * room, else written anew at the end of the file), then the header. New grain tables are made
 * when first written. */
/* Byte offset of a footer (footer marker, header copy, end-of-stream marker) ending the
 * extent file of a stream whose header names its directory itself, or 0: that copy must
 * follow the header (readers that look for it would see the old capacity). */
static uint64_t stale_footer_at(const struct vmdk_extent *e)
{
    uint8_t b[3 * VMDK_SECTOR];
    uint64_t end = e->file_size & ~(uint64_t)(VMDK_SECTOR - 1);
    if (!e->stream || e->tail_mode || end < e->h.overhead * VMDK_SECTOR + sizeof b ||
        src_pread(e->src, b, sizeof b, end - sizeof b) < 0 || !vmdk_footer_markers(b))
        return 0;
    return end - 2 * VMDK_SECTOR;
}

static int grow_sparse(struct img *img, struct vmdk_extent *e, uint64_t new_cap)
{
    uint64_t footer = stale_footer_at(e);
    uint64_t span = (uint64_t)e->h.gtes * e->h.grain;
    uint64_t ngd = u64_div_round_up(new_cap, span);
    int r;
    if (ngd > VMDK_GD_MAX)
        return img_error(img, -EFBIG, "%llu sectors need more than %u grain tables", ULL(new_cap),
                         VMDK_GD_MAX);
    if ((r = vmdk_ext_flush(img, e)) < 0)
        return r;
    uint32_t *gd = realloc(e->gd, ngd * 4 + 4);
    if (!gd)
        return img_error(img, -ENOMEM, "out of memory");
    e->gd = gd;
    memset(gd + e->n_gd, 0, (ngd - e->n_gd) * 4);
    if (e->rgd) {
        uint32_t *rgd = realloc(e->rgd, ngd * 4 + 4);
        if (!rgd)
            return img_error(img, -ENOMEM, "out of memory");
        e->rgd = rgd;
        memset(rgd + e->n_gd, 0, (ngd - e->n_gd) * 4);
    }
    if (e->tail_mode) {
        struct vmdk_gt **p = realloc(e->pinned, (ngd + 1) * sizeof *p);
        if (!p)
            return img_error(img, -ENOMEM, "out of memory");
        e->pinned = p;
        memset(p + e->n_gd, 0, (ngd - e->n_gd) * sizeof *p);
    }
    uint32_t old_n = e->n_gd;
    uint64_t room = u64_div_round_up((uint64_t)old_n * 4, VMDK_SECTOR) * VMDK_SECTOR / 4;
    struct vmdk_header h = e->h;
    h.capacity = new_cap;
    e->n_gd = (uint32_t)ngd;
    if (e->tail_mode) {
        /* The stream's tables are rewritten with its footer: the next flush does it. */
        e->h = h;
        e->tail_dirty = true;
        if ((r = vmdk_ext_flush(img, e)) < 0)
            return r;
    } else if (ngd > room) {
        /* Write both directory copies at the end, then point the header at them. */
        uint64_t secs = u64_div_round_up(ngd * 4, VMDK_SECTOR);
        uint64_t at = u64_div_round_up(e->file_size, VMDK_SECTOR);
        if (at + 2 * secs > UINT32_MAX)
            return img_error(img, -EFBIG, "extent file too large for 32-bit sectors");
        h.gd_off = at;
        if (e->rgd)
            h.rgd_off = at + secs;
        e->file_size = (at + secs * (e->rgd ? 2 : 1)) * VMDK_SECTOR;
        if ((r = src_truncate(e->src, e->file_size)) < 0)
            return img_error(img, r, "grow: %s", src_errmsg(e->src, r));
        e->h.gd_off = h.gd_off;
        e->h.rgd_off = h.rgd_off;
        e->gd_dirty = true;
        if ((r = vmdk_ext_flush(img, e)) < 0)
            return r;
    } else {
        e->gd_dirty = true;
        if ((r = vmdk_ext_flush(img, e)) < 0)
            return r;
    }
    uint8_t hb[VMDK_SECTOR];
    if (!e->tail_mode) {
        vmdk_header_store(&h, hb);
        if ((r = src_pwrite(e->src, hb, sizeof hb, 0)) < 0 ||
            (footer && (r = src_pwrite(e->src, hb, sizeof hb, footer)) < 0) ||
            (r = src_flush(e->src)) < 0)
            return img_error(img, r, "writing the header: %s", vmdk_ext_msg(e, r));
    } else {
        /* The header of a stream keeps GD_AT_END; only its capacity changes. */
        struct vmdk_header sh = h;
        sh.gd_off = VMDK_GD_AT_END;
        sh.rgd_off = 0;
        vmdk_header_store(&sh, hb);
        if ((r = src_pwrite(e->src, hb, sizeof hb, 0)) < 0 || (r = src_flush(e->src)) < 0)
            return img_error(img, r, "writing the header: %s", vmdk_ext_msg(e, r));
    }
    e->h.capacity = new_cap;
    e->len = new_cap * VMDK_SECTOR;
    return 0;
}

/* A new extent piece appended to an open split image. */
static int append_piece(struct img *img, const char *kind, uint64_t sectors)
{
    struct vmdk *s = img->priv;
    struct img_err err = {0};
    char *stem = stem_of(img->path);
    struct vmdk_extent *v = stem ? realloc(s->ext, (s->n_ext + 1) * sizeof *v) : NULL;
    if (!v) {
        free(stem);
        return img_error(img, -ENOMEM, "out of memory");
    }
    s->ext = v;
    bool sparse = kind[0] == 's';
    unsigned k = (unsigned)s->n_ext + 1;
    char name[600];
    int r = piece_add(&s->desc, name, stem, kind, k, sectors, &err);
    free(stem);
    if (r < 0) {
        img->err = err;
        return r;
    }
    /* core creates the file and removes it again should this fail */
    struct piece_new pn = {img, name, kind, sectors};
    if ((r = img_add_file(img, name, "extent file", piece_fill_new, &pn)) < 0)
        return r;
    struct vmdk_extent *e = &s->ext[s->n_ext];
    memset(e, 0, sizeof *e);
    e->start = img->size;
    e->len = sectors * VMDK_SECTOR;
    const struct vmdk_desc_extent *d = &s->desc.ext[s->desc.n_ext - 1];
    e->type = d->type;
    e->file = strdup(d->file);
    if (!e->file)
        return img_error(img, -ENOMEM, "out of memory");
    if ((r = img_open_ref(img, d->file, "extent file", IMG_REF_LOCAL, &e->src)) < 0)
        return r;
    s->n_ext++;
    if ((r = src_size(e->src, &e->file_size)) < 0)
        return img_error(img, r, "%s", vmdk_ext_msg(e, r));
    if (sparse) {
        uint8_t hdr[VMDK_SECTOR];
        if ((r = src_pread(e->src, hdr, sizeof hdr, 0)) < 0)
            return img_error(img, r, "%s", vmdk_ext_msg(e, r));
        if ((r = vmdk_sparse_parse(img, e, hdr)) < 0)
            return r;
    }
    img->size += e->len;
    return 0;
}

int vmdk_truncate(struct img *img, uint64_t size, enum img_prealloc prealloc)
{
    struct vmdk *s = img->priv;
    if (prealloc != IMG_PREALLOC_OFF)
        return img_error(img, -ENOTSUP, "preallocation is not supported");
    if (size < img->size)
        return img_error(img, -ENOTSUP, "shrinking is not supported");
    if (size % VMDK_SECTOR)
        return img_error(img, -EINVAL, "the size must be a multiple of 512 bytes");
    if (size == img->size)
        return 0;
    int r;
    struct vmdk_extent *e = &s->ext[s->n_ext - 1];
    uint64_t add = (size - img->size) / VMDK_SECTOR;
    bool split = strncmp(s->desc.create_type, "twoGb", 5) == 0;
    uint64_t piece = VMDK_SPLIT_BYTES / VMDK_SECTOR;
    /* First fill the last extent (up to a piece's size in split images). */
    uint64_t cur = e->len / VMDK_SECTOR;
    uint64_t take = split ? (cur < piece ? piece - cur : 0) : add;
    if (take > add)
        take = add;
    if (take) {
        if (e->type == VMDK_SPARSE) {
            r = grow_sparse(img, e, cur + take);
        } else if (e->type == VMDK_ZERO) {
            e->len += take * VMDK_SECTOR;
            r = 0;
        } else {
            uint64_t end = e->flat_off + (cur + take) * VMDK_SECTOR;
            r = end > e->file_size ? src_truncate(e->src, end) : 0;
            if (r < 0)
                return img_error(img, r, "growing %s: %s", e->file, src_errmsg(e->src, r));
            if (end > e->file_size)
                e->file_size = end;
            e->len += take * VMDK_SECTOR;
        }
        if (r < 0)
            return r;
        img->size += take * VMDK_SECTOR;
        s->desc.ext[s->n_ext - 1].sectors = cur + take;
        add -= take;
    }
    /* Then new pieces, named like the ones create makes (append_piece moves s->ext). */
    const char *kind = e->type == VMDK_SPARSE ? "s" : "f";
    while (add) {
        uint64_t n = add < piece ? add : piece;
        if ((r = append_piece(img, kind, n)) < 0)
            return r;
        add -= n;
    }
    /* The descriptor last: before it, the extra space is invisible but harmless. The image's
     * heads and sectors per track stay; only the cylinders follow the size (VMware caps
     * them at 16383). */
    unsigned heads = 16, secs = 63;
    const char *h = vmdk_desc_get(&s->desc, "ddb.geometry.heads");
    const char *sp = vmdk_desc_get(&s->desc, "ddb.geometry.sectors");
    if (h && atoi(h) > 0 && atoi(h) <= 255)
        heads = (unsigned)atoi(h);
    if (sp && atoi(sp) > 0 && atoi(sp) <= 255)
        secs = (unsigned)atoi(sp);
    uint64_t cyl = u64_div_round_up(img->size, (uint64_t)secs * heads * VMDK_SECTOR);
    char num[24];
    snprintf(num, sizeof num, "%llu", ULL(cyl > 16383 ? 16383 : cyl));
    if (vmdk_desc_get(&s->desc, "ddb.geometry.cylinders"))
        vmdk_desc_set(&s->desc, "ddb.geometry.cylinders", num, true);
    if (!s->has_desc_file && !s->desc_cap)
        return 0;
    return vmdk_write_desc(img);
}

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* qcow2_bitmap.c: persistent dirty bitmaps (header extension 0x23852875, autoclear bit 0)
 * kept valid across what dimg does to a qcow2 image.
 *
 * dimg does not record guest writes in bitmaps, so it keeps them by never changing what
 * they describe behind their back: writes of guest data, and applying a snapshot, are
 * refused while an enabled (auto), consistent bitmap exists (disabled ones record nothing,
 * as in qemu; emptying a committed overlay changes no guest data); metadata-only changes (internal
 * snapshots, backing links, repairs) leave the directory and its tables in place, counted by check
 * and by the refcount rebuilds (qcow2_check.c); a resize rewrites each bitmap for the new size, as
 * qemu-img resize does: the table grows or is cut, the bits past the new end are cleared.
 * Crash order of a resize: the bitmaps are first marked in use on disk (qemu's own mark of
 * an unfinished bitmap), then resized into new clusters, then one header write names the new
 * directory, then the old clusters are freed; a crash leaves them inconsistent or new.
 * Talks to: qcow2.h (state, refcounts, allocation, header writes), core/base/io.c.
 */
#include "formats/qcow2.h"

#include "core/base/io.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ULL(x) ((unsigned long long)(x))

#define BME_RESERVED_FLAGS (~7u)
#define BME_MAX_TABLE_SIZE 0x8000000u
#define BME_MAX_PHYS_SIZE 0x20000000ull
#define BME_TABLE_OFFSET_MASK 0x00fffffffffffe00ull
#define BME_TABLE_RESERVED 0xff000000000001feull
#define BME_TABLE_ALL_ONES 1ull

/* Bitmap clusters needed for a disk of size bytes at 2^gbits bytes per bit. */
static uint64_t table_entries(uint64_t size, unsigned gbits, uint32_t cluster_size)
{
    uint64_t bits = (size >> gbits) + ((size & ((1ull << gbits) - 1)) != 0);
    return u64_div_round_up(bits, (uint64_t)cluster_size * 8);
}

static int set_bad(struct img *img, const char *fmt, const char *name)
{
    struct qcow2 *s = qcow2_st(img);
    /* fmt holds one "%s", where the name goes (a table of messages, not a printf format). */
    const char *at = strstr(fmt, "%s");
    char buf[200];
    snprintf(buf, sizeof buf, "%.*s%s%s", at ? (int)(at - fmt) : (int)strlen(fmt), fmt,
             at && name ? name : "", at ? at + 2 : "");
    free(s->bm_bad);
    s->bm_bad = strdup(buf);
    return s->bm_bad ? 0 : img_error(img, -ENOMEM, "out of memory");
}

void qcow2_bitmaps_free(struct qcow2 *s)
{
    for (uint32_t i = 0; s->bm && i < s->nbm; i++)
        free(s->bm[i].name);
    free(s->bm);
    free(s->bm_dir);
    free(s->bm_bad);
    s->bm = NULL;
    s->bm_dir = NULL;
    s->bm_bad = NULL;
    s->nbm = 0;
}

/* Parse the directory d (dsz bytes) into s->bm; a reason for refusing it, or NULL. */
static const char *parse_dir(struct img *img, const uint8_t *d, uint64_t dsz, uint32_t *bad_i)
{
    struct qcow2 *s = qcow2_st(img);
    uint64_t p = 0;
    uint32_t i = 0;
    *bad_i = UINT32_MAX;
    while (p < dsz) {
        if (dsz - p < 24)
            return "bitmap directory is broken";
        if (i >= s->nb_bitmaps)
            return "bitmap directory holds more bitmaps than the header says";
        struct qcow2_bitmap *b = &s->bm[i];
        uint32_t extra = be32_load(d + p + 20);
        uint16_t nlen = be16_load(d + p + 18);
        uint64_t esz = u64_align_up(24ull + extra + nlen, 8);
        if (esz > dsz - p)
            return "bitmap directory is broken";
        b->table_off = be64_load(d + p);
        b->table_size = be32_load(d + p + 8);
        b->flags = be32_load(d + p + 12);
        b->gbits = d[p + 17];
        b->pos = p;
        if (!(b->name = strndup((const char *)d + p + 24 + extra, nlen)))
            return "out of memory";
        s->nbm = ++i;
        *bad_i = i - 1;
        if (extra)
            return "bitmap '%s' has extra data, which dimg does not support";
        uint64_t phys = (uint64_t)b->table_size * s->cluster_size;
        if (!b->table_size || !b->table_off || (b->table_off & (s->cluster_size - 1)) ||
            b->table_size > BME_MAX_TABLE_SIZE || b->gbits < 9 || b->gbits > 31 ||
            (b->flags & BME_RESERVED_FLAGS) || nlen > 1023 || d[p + 16] != 1 ||
            phys > BME_MAX_PHYS_SIZE)
            return "bitmap '%s' does not satisfy the constraints of the format";
        if (b->table_off > s->file_size ||
            (uint64_t)b->table_size * 8 > s->file_size - b->table_off)
            return "the table of bitmap '%s' lies past the end of the file";
        if (!(b->flags & QCOW2_BME_IN_USE) &&
            b->table_size != table_entries(s->size, b->gbits, s->cluster_size))
            return "the table of bitmap '%s' does not match the virtual size";
        p += esz;
    }
    *bad_i = UINT32_MAX;
    if (i != s->nb_bitmaps)
        return "bitmap directory holds fewer bitmaps than the header says";
    return NULL;
}

int qcow2_bitmaps_load(struct img *img)
{
    struct qcow2 *s = qcow2_st(img);
    if (s->version < 3 || !s->has_bitmaps_ext || !(s->autoclear & QCOW2_AUTOCLEAR_BITMAPS))
        return 0; /* qemu too ignores bitmaps whose autoclear bit a writer dropped */
    uint64_t dsz = s->bitmap_dir_size, doff = s->bitmap_dir_off;
    if (!s->nb_bitmaps || !dsz)
        return set_bad(img, "bitmaps extension with no bitmaps%s", NULL);
    if (doff > s->file_size || dsz > s->file_size - doff)
        return set_bad(img, "bitmap directory lies past the end of the file%s", NULL);
    s->bm_dir = malloc(dsz);
    s->bm = calloc(s->nb_bitmaps, sizeof *s->bm);
    if (!s->bm_dir || !s->bm)
        return img_error(img, -ENOMEM, "out of memory for the bitmap directory");
    int r = src_pread(img->src, s->bm_dir, dsz, doff);
    if (r < 0)
        return img_error(img, r, "reading the bitmap directory: %s", strerror(-r));
    uint32_t bi;
    const char *why = parse_dir(img, s->bm_dir, dsz, &bi);
    if (why)
        return set_bad(img, why, bi < s->nbm ? s->bm[bi].name : NULL);
    return 0;
}

int qcow2_bitmap_list(struct img *img, struct img_bitmap **out, size_t *n)
{
    struct qcow2 *s = qcow2_st(img);
    *out = NULL;
    *n = 0;
    if (s->bm_bad || !s->nbm)
        return 0;
    struct img_bitmap *v = calloc(s->nbm, sizeof *v);
    if (!v)
        return img_error(img, -ENOMEM, "out of memory");
    for (uint32_t i = 0; i < s->nbm; i++) {
        snprintf(v[i].name, sizeof v[i].name, "%s", s->bm[i].name);
        v[i].granularity = 1ull << s->bm[i].gbits;
        v[i].in_use = (s->bm[i].flags & QCOW2_BME_IN_USE) != 0;
        v[i].enabled = (s->bm[i].flags & QCOW2_BME_AUTO) != 0;
    }
    *out = v;
    *n = s->nbm;
    return 0;
}

/* "'a', 'b' and 3 more" for the bitmaps that match (all, or only the enabled consistent ones);
 * false when none does. */
static bool names(const struct qcow2 *s, bool enabled_only, char *buf, size_t len)
{
    size_t used = 0, shown = 0, more = 0;
    buf[0] = 0;
    for (uint32_t i = 0; i < s->nbm; i++) {
        const struct qcow2_bitmap *b = &s->bm[i];
        if (enabled_only && (!(b->flags & QCOW2_BME_AUTO) || (b->flags & QCOW2_BME_IN_USE)))
            continue;
        if (shown < 3 && used + strlen(b->name) + 8 < len) {
            int k = snprintf(buf + used, len - used, "%s'%s'", shown ? ", " : "", b->name);
            used += k > 0 ? (size_t)k : 0;
            shown++;
        } else {
            more++;
        }
    }
    if (more)
        snprintf(buf + used, len - used, " and %zu more", more);
    return shown + more > 0;
}

int qcow2_bitmaps_guard(struct img *img, const char *what)
{
    struct qcow2 *s = qcow2_st(img);
    char nm[256];
    if (s->bm_bad || !names(s, true, nm, sizeof nm))
        return 0; /* a damaged directory is refused by qcow2_prepare_write */
    return img_error(img, -ENOTSUP,
                     "refusing to %s: persistent dirty bitmap %s is "
                     "enabled and dimg cannot record the change in it (disable it first with "
                     "`qemu-img bitmap --disable`)",
                     what, nm);
}

int qcow2_bm_write(struct img *img, uint64_t off, const void *buf, size_t len)
{
    int r = qcow2_bitmaps_guard(img, "write guest data");
    return r < 0 ? r : qcow2_write(img, off, buf, len);
}

int qcow2_bm_write_zeroes(struct img *img, uint64_t off, uint64_t len)
{
    int r = qcow2_bitmaps_guard(img, "write guest data");
    return r < 0 ? r : qcow2_write_zeroes(img, off, len);
}

int qcow2_bm_write_compressed_z(struct img *img, uint64_t off, const void *buf, size_t len,
                                const void *z, size_t zlen)
{
    int r = qcow2_bitmaps_guard(img, "write guest data");
    return r < 0 ? r : qcow2_write_compressed_z(img, off, buf, len, z, zlen);
}

/* ---- resize ---- */

/* The directory's bytes with each entry's fields from s->bm, flags or'ed with extra. */
static void fill_dir(struct qcow2 *s, uint32_t extra)
{
    for (uint32_t i = 0; i < s->nbm; i++) {
        uint8_t *e = s->bm_dir + s->bm[i].pos;
        be64_store(e, s->bm[i].table_off);
        be32_store(e + 8, s->bm[i].table_size);
        be32_store(e + 12, s->bm[i].flags | extra);
    }
}

/* The directory written in place (flags or'ed with extra), synced. */
static int write_dir(struct img *img, uint64_t off, uint32_t extra)
{
    struct qcow2 *s = qcow2_st(img);
    fill_dir(s, extra);
    int r = qcow2_host_write(img, img->src, s->bm_dir, s->bitmap_dir_size, off);
    if (r == 0 && (r = src_flush(img->src)) < 0)
        r = img_error(img, r, "fsync: %s", strerror(-r));
    return r;
}

int qcow2_bitmaps_resize_begin(struct img *img, uint64_t size)
{
    struct qcow2 *s = qcow2_st(img);
    if (s->bm_bad || !s->nbm)
        return 0;
    for (uint32_t i = 0; i < s->nbm; i++) {
        const struct qcow2_bitmap *b = &s->bm[i];
        if (b->flags & QCOW2_BME_IN_USE)
            return img_error(img, -ENOTSUP,
                             "cannot resize: persistent dirty bitmap "
                             "'%s' is inconsistent (in use); remove it first (`qemu-img "
                             "bitmap --remove`)",
                             b->name);
        uint64_t nt = table_entries(size, b->gbits, s->cluster_size);
        if (nt > BME_MAX_TABLE_SIZE || nt * s->cluster_size > BME_MAX_PHYS_SIZE)
            return img_error(img, -EFBIG,
                             "cannot resize: persistent dirty bitmap '%s' "
                             "would be too big for the new size (granularity %llu)",
                             b->name, ULL(1ull << b->gbits));
    }
    return write_dir(img, s->bitmap_dir_off, QCOW2_BME_IN_USE);
}

/* Clear bits from..end of the bitmap cluster buf; true when any was set. */
static bool clear_tail(uint8_t *buf, uint64_t from, uint64_t nbytes)
{
    bool any = false;
    uint64_t byte = from / 8;
    if (from % 8) {
        uint8_t keep = (uint8_t)((1u << (from % 8)) - 1);
        any = (buf[byte] & ~keep) != 0;
        buf[byte] &= keep;
        byte++;
    }
    for (; byte < nbytes; byte++) {
        any |= buf[byte] != 0;
        buf[byte] = 0;
    }
    return any;
}

/* Clusters to free once the new directory is in the header. */
struct drops {
    uint64_t *v;
    size_t n, cap;
};
static int drop_add(struct img *img, struct drops *d, uint64_t off, uint64_t nclusters)
{
    struct qcow2 *s = qcow2_st(img);
    for (uint64_t k = 0; k < nclusters; k++) {
        if (d->n == d->cap) {
            size_t nc = d->cap ? 2 * d->cap : 64;
            uint64_t *v = realloc(d->v, nc * sizeof *v);
            if (!v)
                return img_error(img, -ENOMEM, "out of memory");
            d->v = v;
            d->cap = nc;
        }
        d->v[d->n++] = (off >> s->cluster_bits) + k;
    }
    return 0;
}

/* New clusters holding len bytes of buf (zero padded); *off their first byte. */
static int put_new(struct img *img, const uint8_t *buf, uint64_t len, uint64_t *off)
{
    struct qcow2 *s = qcow2_st(img);
    uint64_t nc = u64_div_round_up(len, s->cluster_size), c;
    uint64_t bytes = nc * s->cluster_size;
    uint8_t *pad = calloc(1, bytes);
    if (!pad)
        return img_error(img, -ENOMEM, "out of memory");
    memcpy(pad, buf, len);
    int r = qcow2_alloc_clusters(img, nc, &c);
    if (r == 0)
        r = qcow2_barrier(img);
    if (r == 0)
        r = qcow2_host_write(img, img->src, pad, bytes, c << s->cluster_bits);
    free(pad);
    *off = c << s->cluster_bits;
    return r;
}

/* Bitmap b rewritten for the current size into new clusters (b's fields then name them);
 * what only the old one used goes to d. *changed false when nothing had to change. */
static int resize_one(struct img *img, struct qcow2_bitmap *b, uint64_t old_size, struct drops *d,
                      bool *changed)
{
    struct qcow2 *s = qcow2_st(img);
    uint64_t cs = s->cluster_size, bpc = cs * 8;
    uint64_t ot = b->table_size, nt = table_entries(img->size, b->gbits, s->cluster_size);
    uint64_t g = 1ull << b->gbits;
    uint64_t bits_old = old_size / g + (old_size % g != 0);
    uint64_t bits_new = img->size / g + (img->size % g != 0);
    uint64_t m = bits_old < bits_new ? bits_old : bits_new, k = m / bpc, rem = m % bpc;
    uint64_t *t = calloc(ot > nt ? ot : nt, 8);
    uint8_t *raw = malloc((ot > nt ? ot : nt) * 8), *buf = malloc(cs);
    int r = (!t || !raw || !buf) ? img_error(img, -ENOMEM, "out of memory") : 0;
    if (r == 0 && (r = src_pread(img->src, raw, ot * 8, b->table_off)) < 0)
        r = img_error(img, r, "reading the table of bitmap '%s': %s", b->name, strerror(-r));
    for (uint64_t i = 0; r == 0 && i < ot; i++) {
        t[i] = be64_load(raw + 8 * i);
        uint64_t o = t[i] & BME_TABLE_OFFSET_MASK;
        if ((t[i] & BME_TABLE_RESERVED) || (o && (t[i] & BME_TABLE_ALL_ONES)) || (o & (cs - 1)) ||
            o >= s->file_size)
            r = img_error(img, -EINVAL,
                          "the table of bitmap '%s' has a corrupt entry "
                          "%llu (0x%llx)",
                          b->name, ULL(i), ULL(t[i]));
    }
    *changed = ot != nt;
    /* The cluster holding the last bit both sizes share: no bit past it may stay set. */
    if (r == 0 && rem && k < nt && t[k]) {
        uint64_t o = t[k] & BME_TABLE_OFFSET_MASK;
        if (o)
            r = src_pread(img->src, buf, cs, o);
        else
            memset(buf, 0xff, cs);
        if (r < 0)
            r = img_error(img, r, "reading bitmap '%s': %s", b->name, strerror(-r));
        if (r == 0 && clear_tail(buf, rem, cs)) {
            uint64_t no;
            if ((r = put_new(img, buf, cs, &no)) == 0 && o)
                r = drop_add(img, d, o, 1);
            t[k] = no;
            *changed = true;
        }
    }
    for (uint64_t i = nt; r == 0 && i < ot; i++)
        if (t[i] & BME_TABLE_OFFSET_MASK)
            r = drop_add(img, d, t[i] & BME_TABLE_OFFSET_MASK, 1);
    if (r == 0 && *changed) {
        uint64_t no;
        for (uint64_t i = 0; i < nt; i++)
            be64_store(raw + 8 * i, t[i]);
        r = put_new(img, raw, nt * 8, &no);
        if (r == 0)
            r = drop_add(img, d, b->table_off, u64_div_round_up(ot * 8, cs));
        if (r == 0) {
            b->table_off = no;
            b->table_size = (uint32_t)nt;
        }
    }
    free(t);
    free(raw);
    free(buf);
    return r;
}

int qcow2_bitmaps_resize_end(struct img *img, uint64_t old_size)
{
    struct qcow2 *s = qcow2_st(img);
    if (s->bm_bad || !s->nbm)
        return 0;
    struct drops d = {0};
    bool any = false, ch;
    /* A shrink flushes on its own, which ends a lazy-refcount write phase: start another. */
    int r = qcow2_prepare_write(img);
    for (uint32_t i = 0; r == 0 && i < s->nbm; i++) {
        r = resize_one(img, &s->bm[i], old_size, &d, &ch);
        any |= ch;
    }
    uint64_t cs = s->cluster_size, old_dir = s->bitmap_dir_off, no = 0;
    if (r == 0 && !any) {
        r = write_dir(img, old_dir, 0); /* same tables: only the in-use mark goes */
    } else if (r == 0) {
        uint8_t b[8];
        fill_dir(s, 0);
        r = put_new(img, s->bm_dir, s->bitmap_dir_size, &no);
        if (r == 0 && (r = src_flush(img->src)) < 0)
            r = img_error(img, r, "fsync: %s", strerror(-r));
        be64_store(b, no);
        if (r == 0)
            r = qcow2_write_header_field(img, s->bitmap_ext_off + 16, b, 8);
        if (r == 0 && (r = src_flush(img->src)) < 0)
            r = img_error(img, r, "fsync: %s", strerror(-r));
        if (r == 0) {
            s->bitmap_dir_off = no;
            r = drop_add(img, &d, old_dir, u64_div_round_up(s->bitmap_dir_size, cs));
        }
        for (size_t i = 0; r == 0 && i < d.n; i++)
            r = qcow2_update_refcount(img, d.v[i], -1);
    }
    free(d.v);
    if (r < 0 && !s->bm_bad) /* the on-disk mark stays: refuse further changes too */
        set_bad(img, "persistent dirty bitmaps were left in use by a failed resize%s", NULL);
    return r;
}

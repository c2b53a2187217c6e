/* SPDX-License-Identifier: GPL-2.0-or-later */
/* describe.c: the image half of describe.h. describe_image opens the image (and its chain),
 * collects what qemu-img info prints for each layer and the guest's partition table; the
 * renderers print it as qemu-img 7.2 does, byte for byte (human: fixed lines, then the
 * format-specific tree; JSON: a qtree printed in QDict's member order). Also the small
 * qemu-style helpers both faces use (sizes, path_combine, the snapshot table).
 * Talks to: img.h (img_open, img_get_info, img_snap_list, img_bitmap_list, img_extents),
 * ptable.h, esc.h, json.h, qtree.h, describe_archive.c (describe_write).
 */
#include "core/describe/describe.h"
#include "core/block/driver.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/base/esc.h"
#include "core/describe/json.h"
#include "core/describe/qtree.h"

const char *describe_size_str(uint64_t v, char *buf, size_t n)
{
    static const char *const suffixes[] = {"", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"};
    int i = 0;
    /* Switch units at 1000 of the smaller one so that "%0.3g" never needs an exponent (the
     * same rule as qemu's frexp(v / (1000.0 / 1024.0)) computation). */
    double d = (double)v / (1000.0 / 1024.0);
    while (i < 6 && d >= (double)(1ull << ((i + 1) * 10)))
        i++;
    snprintf(buf, n, "%0.3g %sB", (double)v / (double)(1ull << (i * 10)), suffixes[i]);
    return buf;
}

char *describe_path_combine(const char *base, const char *name)
{
    if (name[0] == '/')
        return strdup(name);
    const char *slash = strrchr(base, '/');
    size_t dl = slash ? (size_t)(slash - base + 1) : 0;
    size_t nl = strlen(name);
    char *p = malloc(dl + nl + 1);
    if (!p)
        return NULL;
    memcpy(p, base, dl);
    memcpy(p + dl, name, nl + 1);
    return p;
}

void describe_snap_table(FILE *f, const struct img_snap *v, size_t n)
{
    if (n == 0)
        return;
    fprintf(f, "Snapshot list:\n");
    fprintf(f, "%-10s%-17s%8s%20s%13s%11s\n", "ID", "TAG", "VM SIZE", "DATE", "VM CLOCK", "ICOUNT");
    for (size_t i = 0; i < n; i++) {
        const struct img_snap *s = &v[i];
        char date[64] = "", clock[64], size[32], icount[32] = "";
        time_t t = (time_t)s->date_sec;
        struct tm tm;
        if (localtime_r(&t, &tm))
            strftime(date, sizeof date, "%Y-%m-%d %H:%M:%S", &tm);
        uint64_t secs = s->vm_clock_nsec / 1000000000ull;
        snprintf(clock, sizeof clock, "%02llu:%02d:%02d.%03d", (unsigned long long)(secs / 3600),
                 (int)((secs / 60) % 60), (int)(secs % 60),
                 (int)((s->vm_clock_nsec / 1000000) % 1000));
        if (s->icount != UINT64_MAX) /* -1: recorded without icount */
            snprintf(icount, sizeof icount, "%llu", (unsigned long long)s->icount);
        char id[sizeof s->id * 4], name[sizeof s->name * 4];
        fprintf(f, "%-9s %-16s %8s%20s%13s%11s\n", esc_str(id, sizeof id, s->id),
                esc_str(name, sizeof name, s->name),
                describe_size_str(s->vm_state_size, size, sizeof size), date, clock, icount);
    }
}

/* The partition table, after qemu-img's fields so that those stay byte-identical. */
static void describe_ptable_human(FILE *f, const struct ptable *pt)
{
    if (pt->kind == PTABLE_NONE)
        return;
    fprintf(f, "Partition table: %s (disk id %s)\n", ptable_kind_name(pt->kind), pt->disk_id);
    if (pt->problem[0])
        fprintf(f, "    problem: %s\n", pt->problem);
    if (!pt->n)
        return;
    fprintf(f, "    %-3s %14s %14s %-10s  %s\n", "#", "START", "SIZE", "", "TYPE");
    for (size_t i = 0; i < pt->n; i++) {
        const struct ptable_part *p = &pt->parts[i];
        char sz[32];
        fprintf(f, "    %-3u %14llu %14llu %-10s  %s", p->number, (unsigned long long)p->start,
                (unsigned long long)p->size, describe_size_str(p->size, sz, sizeof sz),
                p->type_name[0] ? p->type_name : p->type);
        if (p->type_name[0])
            fprintf(f, " (%s)", p->type);
        char en[sizeof p->name * 4];
        if (p->name[0])
            fprintf(f, " \"%s\"", esc_str(en, sizeof en, p->name));
        if (p->bootable)
            fprintf(f, " bootable");
        fputc('\n', f);
    }
}

/* The partition table as dimg's own member of info's JSON. */
static void describe_ptable_tree(struct qtree *t, const struct ptable *pt)
{
    if (pt->kind == PTABLE_NONE)
        return;
    char k[96];
    qtree_str(t, "dimg-partition-table.type", pt->kind == PTABLE_GPT ? "gpt" : "mbr");
    qtree_str(t, "dimg-partition-table.disk-id", pt->disk_id);
    qtree_uint(t, "dimg-partition-table.sector-size", pt->sector_size);
    if (pt->problem[0])
        qtree_str(t, "dimg-partition-table.problem", pt->problem);
    for (size_t i = 0; i < pt->n; i++) {
        const struct ptable_part *p = &pt->parts[i];
#define PT_KEY(name) (snprintf(k, sizeof k, "dimg-partition-table.partitions.%zu." name, i), k)
        qtree_uint(t, PT_KEY("number"), p->number);
        qtree_uint(t, PT_KEY("start"), p->start);
        qtree_uint(t, PT_KEY("size"), p->size);
        qtree_str(t, PT_KEY("type"), p->type);
        if (p->type_name[0])
            qtree_str(t, PT_KEY("type-name"), p->type_name);
        if (pt->kind == PTABLE_GPT)
            qtree_str(t, PT_KEY("name"), p->name);
        qtree_bool(t, PT_KEY("bootable"), p->bootable);
#undef PT_KEY
    }
}

/* Whether qemu-img 7.2 prints key (by its first component) in the format's "format-specific"
 * data (the driver's qemu_info_keys). Any other value a driver reports is dimg's own: it goes
 * under "dimg-format-specific", so that no qemu-img key changes meaning. */
static bool describe_qemu_key(const char *fmt, const char *key)
{
    const struct img_driver *d = img_driver_find(fmt);
    const char *const *v = d ? d->qemu_info_keys : NULL;
    size_t n = strcspn(key, ".");
    for (; v && *v; v++)
        if (strlen(*v) == n && strncmp(*v, key, n) == 0)
            return true;
    return false;
}

/* The format's values into t: qemu-img's below qpre, dimg's own below opre. */
static void describe_specific(const struct describe_layer *l, struct qtree *t, const char *qpre,
                              const char *opre)
{
    const struct img_info *in = &l->info;
    char k[160];
    for (size_t i = 0; i < in->nkv; i++) {
        const struct img_kv *kv = &in->kv[i];
        snprintf(k, sizeof k, "%s%s", describe_qemu_key(in->format, kv->key) ? qpre : opre,
                 kv->key);
        switch (kv->type) {
        case IMG_KV_STR: qtree_str(t, k, kv->str); break;
        case IMG_KV_INT: qtree_int(t, k, kv->num); break;
        case IMG_KV_BOOL: qtree_bool(t, k, kv->num != 0); break;
        }
    }
    for (size_t i = 0; i < l->nbitmaps; i++) {
        const struct img_bitmap *b = &l->bitmaps[i];
        unsigned nf = 0;
#define BM_KEY(name) (snprintf(k, sizeof k, "%sbitmaps.%zu." name, qpre, i), k)
        qtree_array(t, BM_KEY("flags"));
        if (b->in_use)
            qtree_str(t, (snprintf(k, sizeof k, "%sbitmaps.%zu.flags.%u", qpre, i, nf++), k),
                      "in-use");
        if (b->enabled)
            qtree_str(t, (snprintf(k, sizeof k, "%sbitmaps.%zu.flags.%u", qpre, i, nf++), k),
                      "auto");
        qtree_str(t, BM_KEY("name"), b->name);
        qtree_uint(t, BM_KEY("granularity"), b->granularity);
#undef BM_KEY
    }
    for (size_t i = 0; i < l->next; i++) {
        const struct img_extent *e = &l->ext[i];
#define EXT_KEY(name) (snprintf(k, sizeof k, "%sextents.%zu." name, qpre, i), k)
        /* qemu-img names each file as it opened it: relative to the descriptor as given. */
        char *file = e->file ? describe_path_combine(l->name, e->file) : NULL;
        qtree_str(t, EXT_KEY("filename"), file ? file : l->name);
        free(file);
        qtree_str(t, EXT_KEY("format"), e->type);
        qtree_uint(t, EXT_KEY("virtual-size"), e->virtual_size);
        if (e->cluster_size)
            qtree_uint(t, EXT_KEY("cluster-size"), e->cluster_size);
        if (e->compressed)
            qtree_bool(t, EXT_KEY("compressed"), true);
#undef EXT_KEY
    }
}

static void describe_human(FILE *f, const struct describe_layer *l)
{
    const struct img_info *in = &l->info;
    char a[32], b[32];
    /* Names come from image metadata: escaped, so none can start a line of its own. */
    char *e1 = esc_dup(l->name, strlen(l->name));
    fprintf(f, "image: %s\n", e1 ? e1 : "?");
    free(e1);
    fprintf(f, "file format: %s\n", in->format);
    fprintf(f, "virtual size: %s (%llu bytes)\n", describe_size_str(in->virtual_size, a, sizeof a),
            (unsigned long long)in->virtual_size);
    fprintf(f, "disk size: %s\n",
            in->actual_unknown ? "unavailable" : describe_size_str(in->actual_size, b, sizeof b));
    if (in->encrypted)
        fprintf(f, "encrypted: yes\n");
    if (in->cluster_size)
        fprintf(f, "cluster_size: %u\n", in->cluster_size);
    if (in->has_dirty_field && in->dirty)
        fprintf(f, "cleanly shut down: no\n");
    if (in->backing_file[0]) {
        char *full = describe_path_combine(l->name, in->backing_file);
        char eb[sizeof in->backing_file * 4], ef[sizeof in->backing_fmt * 4];
        fprintf(f, "backing file: %s", esc_str(eb, sizeof eb, in->backing_file));
        if (full && strcmp(full, in->backing_file) != 0) {
            char *e2 = esc_dup(full, strlen(full));
            fprintf(f, " (actual path: %s)", e2 ? e2 : "?");
            free(e2);
        }
        fputc('\n', f);
        free(full);
        if (in->backing_fmt[0])
            fprintf(f, "backing file format: %s\n", esc_str(ef, sizeof ef, in->backing_fmt));
    }
    describe_snap_table(f, l->snaps, l->nsnaps);
    struct qtree *t = qtree_new();
    if (t) {
        describe_specific(l, t, "qemu.", "dimg-format-specific.");
        if (!qtree_empty(qtree_get(t, "qemu"))) {
            fprintf(f, "Format specific information:\n");
            qtree_human(f, qtree_get(t, "qemu"), 1);
        }
        if (!qtree_empty(qtree_get(t, "dimg-format-specific"))) {
            fprintf(f, "More format information (dimg):\n");
            qtree_human(f, qtree_get(t, "dimg-format-specific"), 1);
        }
        qtree_free(t);
    }
    describe_ptable_human(f, &l->pt);
}

static void describe_json(struct json *j, const struct describe_layer *l)
{
    const struct img_info *in = &l->info;
    struct qtree *t = qtree_new();
    if (!t)
        return;
    /* Members go in by name; qtree prints them in qemu-img 7.2's order. */
    if (in->backing_file[0] && in->backing_fmt[0])
        qtree_str(t, "backing-filename-format", in->backing_fmt);
    qtree_uint(t, "virtual-size", in->virtual_size);
    qtree_str(t, "filename", l->name);
    if (in->cluster_size)
        qtree_uint(t, "cluster-size", in->cluster_size);
    qtree_str(t, "format", in->format);
    if (!in->actual_unknown)
        qtree_uint(t, "actual-size", in->actual_size);
    if (in->encrypted)
        qtree_bool(t, "encrypted", true);
    char k[64];
    for (size_t i = 0; i < l->nsnaps; i++) {
        const struct img_snap *s = &l->snaps[i];
#define SNAP_KEY(name) (snprintf(k, sizeof k, "snapshots.%zu." name, i), k)
        if (s->icount != UINT64_MAX)
            qtree_uint(t, SNAP_KEY("icount"), s->icount);
        qtree_uint(t, SNAP_KEY("vm-clock-nsec"), s->vm_clock_nsec % 1000000000ull);
        qtree_str(t, SNAP_KEY("name"), s->name);
        qtree_uint(t, SNAP_KEY("date-sec"), s->date_sec);
        qtree_uint(t, SNAP_KEY("date-nsec"), s->date_nsec);
        qtree_uint(t, SNAP_KEY("vm-clock-sec"), s->vm_clock_nsec / 1000000000ull);
        qtree_str(t, SNAP_KEY("id"), s->id);
        qtree_uint(t, SNAP_KEY("vm-state-size"), s->vm_state_size);
#undef SNAP_KEY
    }
    describe_specific(l, t, "format-specific.data.", "dimg-format-specific.");
    if (qtree_get(t, "format-specific.data"))
        qtree_str(t, "format-specific.type", in->format);
    if (in->backing_file[0]) {
        char *full = describe_path_combine(l->name, in->backing_file);
        qtree_str(t, "full-backing-filename", full ? full : in->backing_file);
        free(full);
        qtree_str(t, "backing-filename", in->backing_file);
    }
    /* qemu-img prints the dirty flag for every format with info of its own (false where
     * there is no flag), but for raw over NBD (the export gives no block info). */
    if (!in->no_dirty_flag)
        qtree_bool(t, "dirty-flag", in->has_dirty_field && in->dirty);
    describe_ptable_tree(t, &l->pt);
    qtree_json(j, NULL, t);
    qtree_free(t);
}

/* The guest's partition table, read through the whole chain: an overlay opened alone reads
 * it through a second, read-only handle on its chain (its partitions usually live in the
 * base). A table that cannot be read is simply not shown (info is about the image). */
static void describe_ptable(struct img *top, const char *path, const char *fmt, unsigned flags,
                            struct ptable *pt)
{
    struct img_err perr;
    if (!top->backing_name || top->backing) {
        if (ptable_read(top, pt, &perr) < 0)
            ptable_free(pt);
        return;
    }
    struct img *chain =
        img_open(path, fmt ? fmt : top->drv->name,
                 (flags & ~IMG_OPEN_RW) | IMG_OPEN_BACKING | IMG_OPEN_FORCE_SHARE, &perr);
    if (chain && ptable_read(chain, pt, &perr) < 0)
        ptable_free(pt);
    img_close(chain);
}

void describe_image_free(struct img_describe *d)
{
    for (size_t i = 0; d->layer && i < d->n; i++) {
        struct describe_layer *l = &d->layer[i];
        free(l->name);
        free(l->snaps);
        free(l->ext);
        free(l->bitmaps);
        ptable_free(&l->pt);
    }
    free(d->layer);
    img_close(d->top);
    memset(d, 0, sizeof *d);
}

/* A parent named only by UUID (differencing vdi): the one the chain would open, so that
 * plain info prints the backing-file line --backing-chain prints. */
static void describe_unresolved_parent(struct describe_layer *l, const char *path, const char *fmt,
                                       unsigned flags)
{
    struct img_err berr;
    struct img *full = img_open(path, fmt, flags | IMG_OPEN_BACKING, &berr);
    if (full && full->backing_name) {
        snprintf(l->info.backing_file, sizeof l->info.backing_file, "%s", full->backing_name);
        snprintf(l->info.backing_fmt, sizeof l->info.backing_fmt, "%s",
                 full->backing_fmt ? full->backing_fmt : "");
    }
    img_close(full);
}

/* Layer i's facts (its name from the layer above); 0 or 1 with the reason in errbuf. */
static int describe_layer_fill(struct img_describe *d, size_t i, struct img *img, const char *path,
                               const char *fmt, unsigned flags, char *errbuf, size_t errlen)
{
    struct describe_layer *l = &d->layer[i];
    l->img = img;
    l->name = i == 0
                  ? strdup(path)
                  : describe_path_combine(d->layer[i - 1].name, d->layer[i - 1].img->backing_name);
    if (!l->name) {
        snprintf(errbuf, errlen, "out of memory");
        return 1;
    }
    if (img_get_info(img, &l->info) < 0 || img_snap_list(img, &l->snaps, &l->nsnaps) < 0 ||
        img_extents(img, &l->ext, &l->next) < 0 ||
        img_bitmap_list(img, &l->bitmaps, &l->nbitmaps) < 0) {
        snprintf(errbuf, errlen, "%s", img_errmsg(img));
        return 1;
    }
    if (i == 0) {
        describe_ptable(img, path, fmt, flags, &l->pt);
        if (!d->chain && !img->backing_name && img->backing_unresolved &&
            !(flags & IMG_OPEN_UNTRUSTED))
            describe_unresolved_parent(l, path, fmt, flags);
    }
    return 0;
}

int describe_image(struct img_describe *d, const char *path, const char *fmt, unsigned flags,
                   bool chain, char *errbuf, size_t errlen)
{
    struct img_err err;
    memset(d, 0, sizeof *d);
    d->chain = chain;
    flags |= chain ? IMG_OPEN_BACKING : 0;
    d->top = img_open(path, fmt, flags, &err);
    if (!d->top) {
        snprintf(errbuf, errlen, "%s", err.msg);
        return 1;
    }
    size_t n = 0;
    for (struct img *l = d->top; l; l = l->backing)
        n++;
    d->layer = calloc(n, sizeof *d->layer);
    if (!d->layer) {
        snprintf(errbuf, errlen, "out of memory");
        describe_image_free(d);
        return 1;
    }
    d->n = n;
    size_t i = 0;
    for (struct img *l = d->top; l; l = l->backing, i++) {
        if (describe_layer_fill(d, i, l, path, fmt, flags, errbuf, errlen)) {
            describe_image_free(d);
            return 1;
        }
    }
    return 0;
}

void describe_image_human(FILE *f, const struct img_describe *d)
{
    for (size_t i = 0; i < d->n; i++) {
        if (i)
            fputc('\n', f);
        describe_human(f, &d->layer[i]);
    }
}

void describe_image_json(FILE *f, const struct img_describe *d)
{
    struct json j;
    json_init(&j, f);
    if (d->chain)
        json_array_open(&j, NULL);
    for (size_t i = 0; i < d->n; i++)
        describe_json(&j, &d->layer[i]);
    if (d->chain)
        json_array_close(&j);
}

int describe_write(FILE *f, const char *path, const char *fmt, unsigned flags, bool chain,
                   bool json, char *errbuf, size_t errlen)
{
    int ar = describe_archive_write(f, path, fmt, json, false, errbuf, errlen);
    if (ar >= 0)
        return ar;
    struct img_describe d;
    if (describe_image(&d, path, fmt, flags, chain, errbuf, errlen))
        return 1;
    if (json)
        describe_image_json(f, &d);
    else
        describe_image_human(f, &d);
    describe_image_free(&d);
    return 0;
}

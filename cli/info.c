/* SPDX-License-Identifier: GPL-2.0-or-later */
/* cli/info.c: `dimg info`, qemu-img info's output (human and JSON) for one image or a whole
 * backing chain, followed by the guest's partition table (MBR or GPT) when it has one.
 * Talks to: img.h (img_open, img_get_info, img_snap_list, img_bitmap_list), ptable.h, json.h,
 * qtree.h, cli.h.
 */
#include "cli/cli.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/base/esc.h"
#include "core/block/img.h"
#include "core/block/ptable.h"
#include "cli/json.h"
#include "cli/qtree.h"

struct info_layer {
    struct img *img;
    char *name; /* as qemu shows it: given path, then path_combine'd backing names */
    struct img_info info;
    struct img_snap *snaps;
    size_t nsnaps;
    struct img_bitmap *bitmaps; /* qcow2 persistent dirty bitmaps */
    size_t nbitmaps;
    struct ptable pt;       /* the guest's partition table (top image only) */
    struct img_extent *ext; /* vmdk: the files the descriptor names */
    size_t next;
};

/* The partition table, after qemu-img's fields so that those stay byte-identical. */
static void info_ptable_human(FILE *f, const struct ptable *pt)
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
                (unsigned long long)p->size, cli_size_str(p->size, sz, sizeof sz),
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
static void info_ptable_tree(struct qtree *t, const struct ptable *pt)
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
 * data. Any other value a driver reports is dimg's own: it goes under "dimg-format-specific",
 * so that no qemu-img key changes meaning. */
static bool info_qemu_key(const char *fmt, const char *key)
{
    static const char *const qcow2[] = {
        "compat",    "compression-type", "lazy-refcounts", "refcount-bits", "corrupt",
        "data-file", "data-file-raw",    "extended-l2",    "encrypt",       "bitmaps",
        NULL};
    static const char *const vmdk[] = {"cid", "parent-cid", "create-type", "extents", NULL};
    const char *const *v = !strcmp(fmt, "qcow2") ? qcow2 : !strcmp(fmt, "vmdk") ? vmdk : NULL;
    size_t n = strcspn(key, ".");
    for (; v && *v; v++)
        if (strlen(*v) == n && strncmp(*v, key, n) == 0)
            return true;
    return false;
}

/* The format's values into t: qemu-img's below qpre, dimg's own below opre. */
static void info_specific(const struct info_layer *l, struct qtree *t, const char *qpre,
                          const char *opre)
{
    const struct img_info *in = &l->info;
    char k[160];
    for (size_t i = 0; i < in->nkv; i++) {
        const struct img_kv *kv = &in->kv[i];
        snprintf(k, sizeof k, "%s%s", info_qemu_key(in->format, kv->key) ? qpre : opre, kv->key);
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
        char *file = e->file ? cli_path_combine(l->name, e->file) : NULL;
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

static void info_human(FILE *f, const struct info_layer *l)
{
    const struct img_info *in = &l->info;
    char a[32], b[32];
    /* Names come from image metadata: escaped, so none can start a line of its own. */
    char *e1 = esc_dup(l->name, strlen(l->name));
    fprintf(f, "image: %s\n", e1 ? e1 : "?");
    free(e1);
    fprintf(f, "file format: %s\n", in->format);
    fprintf(f, "virtual size: %s (%llu bytes)\n", cli_size_str(in->virtual_size, a, sizeof a),
            (unsigned long long)in->virtual_size);
    fprintf(f, "disk size: %s\n", cli_size_str(in->actual_size, b, sizeof b));
    if (in->encrypted)
        fprintf(f, "encrypted: yes\n");
    if (in->cluster_size)
        fprintf(f, "cluster_size: %u\n", in->cluster_size);
    if (in->has_dirty_field && in->dirty)
        fprintf(f, "cleanly shut down: no\n");
    if (in->backing_file[0]) {
        char *full = cli_path_combine(l->name, in->backing_file);
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
    cli_snap_table(f, l->snaps, l->nsnaps);
    struct qtree *t = qtree_new();
    if (t) {
        info_specific(l, t, "qemu.", "dimg-format-specific.");
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
    info_ptable_human(f, &l->pt);
}

static void info_json(struct json *j, const struct info_layer *l)
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
    info_specific(l, t, "format-specific.data.", "dimg-format-specific.");
    if (qtree_get(t, "format-specific.data"))
        qtree_str(t, "format-specific.type", in->format);
    if (in->backing_file[0]) {
        char *full = cli_path_combine(l->name, in->backing_file);
        qtree_str(t, "full-backing-filename", full ? full : in->backing_file);
        free(full);
        qtree_str(t, "backing-filename", in->backing_file);
    }
    /* qemu-img prints the dirty flag for every format (false where there is none). */
    qtree_bool(t, "dirty-flag", in->has_dirty_field && in->dirty);
    info_ptable_tree(t, &l->pt);
    qtree_json(j, NULL, t);
    qtree_free(t);
}

/* The guest's partition table, read through the whole chain: an overlay opened alone reads
 * it through a second, read-only handle on its chain (its partitions usually live in the
 * base). A table that cannot be read is simply not shown (info is about the image). */
static void info_ptable(struct img *top, const char *path, const char *fmt, unsigned flags,
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

int cli_info_write(FILE *f, const char *path, const char *fmt, unsigned flags, bool chain,
                   bool json, char *errbuf, size_t errlen)
{
    struct img_err err;
    int ar = cli_archive_info_write(f, path, fmt, json, false, errbuf, errlen);
    if (ar >= 0)
        return ar;
    flags |= chain ? IMG_OPEN_BACKING : 0;
    struct img *top = img_open(path, fmt, flags, &err);
    if (!top) {
        snprintf(errbuf, errlen, "%s", err.msg);
        return 1;
    }
    size_t n = 0;
    for (struct img *l = top; l; l = l->backing)
        n++;
    struct info_layer *ls = calloc(n, sizeof *ls);
    int status = 0;
    if (!ls) {
        snprintf(errbuf, errlen, "out of memory");
        img_close(top);
        return 1;
    }
    size_t i = 0;
    for (struct img *l = top; l && !status; l = l->backing, i++) {
        ls[i].img = l;
        ls[i].name =
            i == 0 ? strdup(path) : cli_path_combine(ls[i - 1].name, ls[i - 1].img->backing_name);
        if (!ls[i].name) {
            snprintf(errbuf, errlen, "out of memory");
            status = 1;
        } else if (img_get_info(l, &ls[i].info) < 0 ||
                   img_snap_list(l, &ls[i].snaps, &ls[i].nsnaps) < 0 ||
                   img_extents(l, &ls[i].ext, &ls[i].next) < 0 ||
                   img_bitmap_list(l, &ls[i].bitmaps, &ls[i].nbitmaps) < 0) {
            snprintf(errbuf, errlen, "%s", img_errmsg(l));
            status = 1;
        } else if (i == 0) {
            info_ptable(l, path, fmt, flags, &ls[i].pt);
        }
        if (!status && i == 0 && !chain && !l->backing_name && l->backing_unresolved &&
            !(flags & IMG_OPEN_UNTRUSTED)) {
            /* A parent named only by UUID (differencing vdi): the one the chain would open,
             * so that plain info prints the backing-file line --backing-chain prints. */
            struct img_err berr;
            struct img *full = img_open(path, fmt, flags | IMG_OPEN_BACKING, &berr);
            if (full && full->backing_name) {
                snprintf(ls[0].info.backing_file, sizeof ls[0].info.backing_file, "%s",
                         full->backing_name);
                snprintf(ls[0].info.backing_fmt, sizeof ls[0].info.backing_fmt, "%s",
                         full->backing_fmt ? full->backing_fmt : "");
            }
            img_close(full);
        }
    }
    if (!status) {
        if (json) {
            struct json j;
            json_init(&j, f);
            if (chain)
                json_array_open(&j, NULL);
            for (i = 0; i < n; i++)
                info_json(&j, &ls[i]);
            if (chain)
                json_array_close(&j);
        } else {
            for (i = 0; i < n; i++) {
                if (i)
                    fputc('\n', f);
                info_human(f, &ls[i]);
            }
        }
    }
    for (i = 0; i < n; i++) {
        free(ls[i].name);
        free(ls[i].snaps);
        free(ls[i].ext);
        free(ls[i].bitmaps);
        ptable_free(&ls[i].pt);
    }
    free(ls);
    img_close(top);
    return status;
}

int cli_info(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"help", no_argument, NULL, 'h'},
        {"output", required_argument, NULL, 'O'},
        {"backing-chain", no_argument, NULL, 'B'},
        {"force-share", no_argument, NULL, 'U'},
        {NULL, 0, NULL, 0},
    };
    const char *fmt = NULL;
    bool json = false, chain = false;
    int c;
    while ((c = cli_getopt(argc, argv, "hf:U", longopts)) != -1) {
        switch (c) {
        case 'h': return cli_help("info");
        case 'f': fmt = optarg; break;
        case 'O':
            if (cli_parse_output("info", optarg, &json))
                return 1;
            break;
        case 'B': chain = true; break;
        case 'U': cli_open_flags |= IMG_OPEN_FORCE_SHARE; break; /* no locks, no warning */
        default: return 1;
        }
    }
    if (optind != argc - 1)
        return cli_usage_err("info", "expecting exactly one image file name");
    const char *path = argv[optind];

    char errbuf[512];
    FILE *f = json ? cli_out_begin() : cli_out_begin_text();
    int status = cli_info_write(f, path, fmt, cli_open_flags, chain, json, errbuf, sizeof errbuf);
    if (status) {
        cli_out_discard();
        cli_err("%s", errbuf);
        return status;
    }
    cli_out_commit();
    return 0;
}

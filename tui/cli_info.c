/* cli_info.c: `dimg info`, qemu-img info's output (human and JSON) for one image or a whole
 * backing chain, followed by the guest's partition table (MBR or GPT) when it has one.
 * Talks to: img.h (img_open, img_get_info, img_snap_list, img_bitmap_list), ptable.h, json.h,
 * cli.h.
 */
#include "tui/cli.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/esc.h"
#include "core/img.h"
#include "core/ptable.h"
#include "tui/json.h"

struct info_layer {
    struct img *img;
    char *name;          /* as qemu shows it: given path, then path_combine'd backing names */
    struct img_info info;
    struct img_snap *snaps;
    size_t nsnaps;
    struct img_bitmap *bitmaps; /* qcow2 persistent dirty bitmaps */
    size_t nbitmaps;
    struct ptable pt;    /* the guest's partition table (top image only) */
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

static void info_ptable_json(struct json *j, const struct ptable *pt)
{
    if (pt->kind == PTABLE_NONE)
        return;
    json_object_open(j, "partition-table");
    json_string(j, "type", pt->kind == PTABLE_GPT ? "gpt" : "mbr");
    json_string(j, "disk-id", pt->disk_id);
    json_uint(j, "sector-size", pt->sector_size);
    if (pt->problem[0])
        json_string(j, "problem", pt->problem);
    json_array_open(j, "partitions");
    for (size_t i = 0; i < pt->n; i++) {
        const struct ptable_part *p = &pt->parts[i];
        json_object_open(j, NULL);
        json_uint(j, "number", p->number);
        json_uint(j, "start", p->start);
        json_uint(j, "size", p->size);
        json_string(j, "type", p->type);
        if (p->type_name[0])
            json_string(j, "type-name", p->type_name);
        if (pt->kind == PTABLE_GPT)
            json_string(j, "name", p->name);
        json_bool(j, "bootable", p->bootable);
        json_object_close(j);
    }
    json_array_close(j);
    json_object_close(j);
}

static void info_kv_human(FILE *f, const struct img_kv *kv)
{
    char key[sizeof kv->key];
    snprintf(key, sizeof key, "%s", kv->key);
    for (char *p = key; *p; p++)
        if (*p == '-')
            *p = ' ';
    char v[sizeof kv->str * 4];
    switch (kv->type) {
    case IMG_KV_STR: fprintf(f, "    %s: %s\n", key, esc_str(v, sizeof v, kv->str)); break;
    case IMG_KV_INT: fprintf(f, "    %s: %lld\n", key, (long long)kv->num); break;
    case IMG_KV_BOOL: fprintf(f, "    %s: %s\n", key, kv->num ? "true" : "false"); break;
    }
}

/* qemu-img lists the bitmaps right before refcount-bits (or last). */
static bool info_bitmaps_here(const struct info_layer *l, size_t kv)
{
    const struct img_info *in = &l->info;
    if (!l->nbitmaps)
        return false;
    for (size_t i = 0; i < in->nkv; i++)
        if (strcmp(in->kv[i].key, "refcount-bits") == 0)
            return i == kv;
    return kv == in->nkv;
}

static void info_bitmaps_human(FILE *f, const struct info_layer *l)
{
    fprintf(f, "    bitmaps:\n");
    for (size_t i = 0; i < l->nbitmaps; i++) {
        const struct img_bitmap *b = &l->bitmaps[i];
        unsigned k = 0;
        fprintf(f, "        [%zu]:\n            flags:\n", i);
        if (b->in_use)
            fprintf(f, "                [%u]: in-use\n", k++);
        if (b->enabled)
            fprintf(f, "                [%u]: auto\n", k++);
        fprintf(f, "            name: %s\n            granularity: %llu\n", b->name,
                (unsigned long long)b->granularity);
    }
}

static void info_bitmaps_json(struct json *j, const struct info_layer *l)
{
    json_array_open(j, "bitmaps");
    for (size_t i = 0; i < l->nbitmaps; i++) {
        const struct img_bitmap *b = &l->bitmaps[i];
        json_object_open(j, NULL);
        json_array_open(j, "flags");
        if (b->in_use)
            json_string(j, NULL, "in-use");
        if (b->enabled)
            json_string(j, NULL, "auto");
        json_array_close(j);
        json_string(j, "name", b->name);
        json_uint(j, "granularity", b->granularity);
        json_object_close(j);
    }
    json_array_close(j);
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
    if (in->cluster_size)
        fprintf(f, "cluster_size: %u\n", in->cluster_size);
    if (in->encrypted)
        fprintf(f, "encrypted: yes\n");
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
    if (in->nkv) {
        fprintf(f, "Format specific information:\n");
        for (size_t i = 0; i <= in->nkv; i++) {
            if (info_bitmaps_here(l, i))
                info_bitmaps_human(f, l);
            if (i < in->nkv)
                info_kv_human(f, &in->kv[i]);
        }
    }
    info_ptable_human(f, &l->pt);
}

static void info_json(struct json *j, const struct info_layer *l)
{
    const struct img_info *in = &l->info;
    json_object_open(j, NULL);
    /* Key order follows what qemu-img 7.2 prints. */
    if (in->backing_file[0] && in->backing_fmt[0])
        json_string(j, "backing-filename-format", in->backing_fmt);
    json_uint(j, "virtual-size", in->virtual_size);
    json_string(j, "filename", l->name);
    if (in->cluster_size)
        json_uint(j, "cluster-size", in->cluster_size);
    json_string(j, "format", in->format);
    json_uint(j, "actual-size", in->actual_size);
    if (in->encrypted)
        json_bool(j, "encrypted", true);
    if (l->nsnaps) {
        json_array_open(j, "snapshots");
        for (size_t i = 0; i < l->nsnaps; i++) {
            const struct img_snap *s = &l->snaps[i];
            json_object_open(j, NULL);
            if (s->icount != UINT64_MAX)
                json_uint(j, "icount", s->icount);
            json_uint(j, "vm-clock-nsec", s->vm_clock_nsec % 1000000000ull);
            json_string(j, "name", s->name);
            json_uint(j, "date-sec", s->date_sec);
            json_uint(j, "date-nsec", s->date_nsec);
            json_uint(j, "vm-clock-sec", s->vm_clock_nsec / 1000000000ull);
            json_string(j, "id", s->id);
            json_uint(j, "vm-state-size", s->vm_state_size);
            json_object_close(j);
        }
        json_array_close(j);
    }
    if (in->nkv) {
        json_object_open(j, "format-specific");
        json_string(j, "type", in->format);
        json_object_open(j, "data");
        for (size_t i = 0; i <= in->nkv; i++) {
            if (info_bitmaps_here(l, i))
                info_bitmaps_json(j, l);
            if (i == in->nkv)
                break;
            const struct img_kv *kv = &in->kv[i];
            switch (kv->type) {
            case IMG_KV_STR: json_string(j, kv->key, kv->str); break;
            case IMG_KV_INT: json_int(j, kv->key, kv->num); break;
            case IMG_KV_BOOL: json_bool(j, kv->key, kv->num != 0); break;
            }
        }
        json_object_close(j);
        json_object_close(j);
    }
    if (in->backing_file[0]) {
        char *full = cli_path_combine(l->name, in->backing_file);
        json_string(j, "full-backing-filename", full ? full : in->backing_file);
        free(full);
        json_string(j, "backing-filename", in->backing_file);
    }
    /* qemu-img prints the dirty flag for every format (false where there is none). */
    json_bool(j, "dirty-flag", in->has_dirty_field && in->dirty);
    info_ptable_json(j, &l->pt);
    json_object_close(j);
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
        ls[i].name = i == 0 ? strdup(path)
                            : cli_path_combine(ls[i - 1].name, ls[i - 1].img->backing_name);
        if (!ls[i].name) {
            snprintf(errbuf, errlen, "out of memory");
            status = 1;
        } else if (img_get_info(l, &ls[i].info) < 0 ||
                   img_snap_list(l, &ls[i].snaps, &ls[i].nsnaps) < 0 ||
                   img_bitmap_list(l, &ls[i].bitmaps, &ls[i].nbitmaps) < 0) {
            snprintf(errbuf, errlen, "%s", img_errmsg(l));
            status = 1;
        } else if (i == 0 && (!l->backing_name || l->backing)) {
            /* Only where the guest view is complete; a table that cannot be read is simply
             * not shown (info is about the image, not the guest). */
            struct img_err perr;
            if (ptable_read(l, &ls[i].pt, &perr) < 0)
                ptable_free(&ls[i].pt);
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


/* SPDX-License-Identifier: GPL-2.0-or-later */
/* cli/map.c: `dimg map` (guest view: ops_map runs printed exactly like qemu-img map, JSON or
 * the human "Offset Length Mapped to File" table) and `dimg layout` (host view: img_layout
 * regions with a per-kind summary). Talks to: ops.h, img.h, json.h, cli.h.
 */
#include "cli/cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/esc.h"
#include "core/block/img.h"
#include "core/ops/ops.h"
#include "core/describe/describe.h"
#include "core/describe/json.h"

struct map_ctx {
    FILE *f;
    bool json, first;
    bool opened; /* the table header or the JSON '[' is out */
    const struct img *top;
    char **names; /* display name per chain depth */
    size_t nnames;
};

/* Runs are printed as they come (a map may have millions of them: buffering it all made memory
 * grow with the virtual size), so the header goes out only with the first line or at the end:
 * a map that fails before printing anything leaves stdout empty. */
static void map_open(struct map_ctx *m)
{
    if (m->opened)
        return;
    m->opened = true;
    if (m->json)
        fputc('[', m->f);
    else
        fprintf(m->f, "%-16s%-16s%-16s%s\n", "Offset", "Length", "Mapped to", "File");
}

static int map_entry(void *vctx, const struct ops_map_entry *e)
{
    struct map_ctx *m = vctx;
    if (m->json) {
        map_open(m);
        /* qemu-img writes the separator before the next entry: ",\n". */
        fprintf(m->f,
                "%s{ \"start\": %llu, \"length\": %llu, \"depth\": %u, \"present\": %s, "
                "\"zero\": %s, \"data\": %s",
                m->first ? "" : ",\n", (unsigned long long)e->start, (unsigned long long)e->length,
                e->depth, e->present ? "true" : "false", e->zero ? "true" : "false",
                e->data ? "true" : "false");
        if (e->has_offset)
            fprintf(m->f, ", \"offset\": %llu", (unsigned long long)e->offset);
        fputc('}', m->f);
        m->first = false;
        return 0;
    }
    if (e->data && (!e->has_offset || (e->other_file && !e->file_name))) {
        cli_err("%s: file contains external, encrypted or compressed clusters "
                "(try --output=json)",
                m->names[0]);
        return -ENOTSUP;
    }
    if (e->data && !e->zero) {
        map_open(m);
        const char *name = e->depth < m->nnames ? m->names[e->depth] : "";
        /* A data file or vmdk extent: named as qemu-img names it, beside its image. */
        char *other = e->other_file ? describe_path_combine(name, e->file_name) : NULL;
        char *eo = other ? esc_dup(other, strlen(other)) : NULL;
        fprintf(m->f, "%#-16llx%#-16llx%#-16llx%s\n", (unsigned long long)e->start,
                (unsigned long long)e->length, (unsigned long long)e->offset, eo ? eo : name);
        free(other);
        free(eo);
    }
    return 0;
}

/* `dimg map --help`. */
static const char map_usage[] =
    "usage: dimg map [-f FMT] [--output=human|json] [--start-offset=OFF] [--max-length=LEN]\n"
    "                FILE\n"
    "\n"
    "Show which guest ranges hold data, read as zeros or come from a backing file, and\n"
    "where they live, like qemu-img map.\n"
    "\n"
    "  -U                  force share: read an image another process holds (no locks, no\n"
    "                      warning)\n";

static int cli_map(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"help", no_argument, NULL, 'h'},
        {"output", required_argument, NULL, 'O'},
        {"start-offset", required_argument, NULL, 's'},
        {"max-length", required_argument, NULL, 'l'},
        {"force-share", no_argument, NULL, 'U'},
        {NULL, 0, NULL, 0},
    };
    const char *fmt = NULL;
    bool json = false;
    uint64_t start = 0, maxlen = UINT64_MAX;
    int c;
    while ((c = cli_getopt(argc, argv, "hf:U", longopts)) != -1) {
        switch (c) {
        case 'h': return cli_help("map");
        case 'f': fmt = optarg; break;
        case 'O':
            if (cli_parse_output("map", optarg, &json))
                return 1;
            break;
        case 's':
        case 'l':
            if (img_parse_size(optarg, c == 's' ? &start : &maxlen) < 0)
                return cli_usage_err("map", "invalid %s '%s'",
                                     c == 's' ? "--start-offset" : "--max-length", optarg);
            break;
        case 'U': cli_open_flags |= IMG_OPEN_FORCE_SHARE; break;
        default: return 1;
        }
    }
    if (optind != argc - 1)
        return cli_usage_err("map", "expecting exactly one image file name");
    const char *path = argv[optind];
    struct img_err err;
    struct img *img = img_open(path, fmt, cli_open_flags | IMG_OPEN_BACKING, &err);
    if (!img) {
        cli_err("%s", err.msg);
        return 1;
    }
    struct map_ctx m = {.json = json, .first = true, .top = img};
    for (struct img *l = img; l; l = img_backing(l))
        m.nnames++;
    m.names = calloc(m.nnames, sizeof *m.names);
    int status = 1;
    if (!m.names) {
        cli_err("out of memory");
        goto out;
    }
    /* Backing files shown as qemu-img shows them: relative to the overlay's name. */
    m.names[0] = strdup(path);
    size_t i = 1;
    for (struct img *l = img; img_backing(l) && m.names[i - 1]; l = img_backing(l), i++)
        m.names[i] = describe_path_combine(m.names[i - 1], img_backing_name(l));
    for (i = 0; i < m.nnames; i++) { /* names from image metadata: escaped for the table */
        char *e = m.names[i] ? esc_dup(m.names[i], strlen(m.names[i])) : NULL;
        free(m.names[i]);
        m.names[i] = e;
    }
    for (i = 0; i < m.nnames; i++)
        if (!m.names[i]) {
            cli_err("out of memory");
            goto out;
        }

    m.f = stdout;
    uint64_t len = start < img_size(img) ? img_size(img) - start : 0;
    if (maxlen < len)
        len = maxlen;
    int r = ops_map(img, start, len, map_entry, &m);
    if (r < 0) {
        fflush(stdout); /* what was printed comes before the error line */
        if (r != -ENOTSUP)
            cli_err("%s", img_errmsg(img));
        goto out;
    }
    map_open(&m);
    if (json)
        fputs("]\n", m.f);
    status = fflush(stdout) == 0 ? 0 : 1;
    if (status)
        cli_err("writing the map: %s", strerror(errno));
out:
    for (i = 0; m.names && i < m.nnames; i++)
        free(m.names[i]);
    free(m.names);
    img_close(img);
    return status;
}

const struct cli_cmd cli_cmd_map = {
    .name = "map",
    .fn = cli_map,
    .summary = "dump the guest allocation map",
    .usage = map_usage,
};

/* `dimg layout --help`. */
static const char layout_usage[] =
    "usage: dimg layout [-f FMT] [--output=human|json] FILE\n"
    "\n"
    "List the regions of the image file: headers, tables, data, free and leaked space.\n";

static int cli_layout(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"help", no_argument, NULL, 'h'},
        {"output", required_argument, NULL, 'O'},
        {NULL, 0, NULL, 0},
    };
    const char *fmt = NULL;
    bool json = false;
    int c;
    while ((c = cli_getopt(argc, argv, "hf:", longopts)) != -1) {
        switch (c) {
        case 'h': return cli_help("layout");
        case 'f': fmt = optarg; break;
        case 'O':
            if (cli_parse_output("layout", optarg, &json))
                return 1;
            break;
        default: return 1;
        }
    }
    if (optind != argc - 1)
        return cli_usage_err("layout", "expecting exactly one image file name");
    struct img_err err;
    struct img *img = img_open(argv[optind], fmt, cli_open_flags, &err);
    if (!img) {
        cli_err("%s", err.msg);
        return 1;
    }
    struct img_region *rg = NULL;
    size_t n = 0;
    struct img_info info;
    if (img_layout(img, &rg, &n) < 0 || img_get_info(img, &info) < 0) {
        cli_err("%s", img_errmsg(img));
        free(rg);
        img_close(img);
        return 1;
    }
    /* Gaps between regions (and up to the end of the file) are free space. */
    uint64_t per_kind[IMG_R_KIND_COUNT] = {0};
    FILE *f = cli_out_begin();
    struct json j;
    if (json) {
        json_init(&j, f);
        json_array_open(&j, NULL);
    } else {
        fprintf(f, "%-20s%-20s%s\n", "Offset", "Length", "Type");
    }
    uint64_t pos = 0;
    for (size_t i = 0; i <= n; i++) {
        uint64_t off = i < n ? rg[i].off : info.file_size;
        if (off > pos && (i < n || pos < info.file_size)) {
            struct img_region gap = {pos, off - pos, IMG_R_FREE};
            if (json) {
                json_object_open(&j, NULL);
                json_uint(&j, "offset", gap.off);
                json_uint(&j, "length", gap.len);
                json_string(&j, "type", img_region_name(gap.kind));
                json_object_close(&j);
            } else {
                fprintf(f, "%#-20llx%#-20llx%s\n", (unsigned long long)gap.off,
                        (unsigned long long)gap.len, img_region_name(gap.kind));
            }
            per_kind[IMG_R_FREE] += gap.len;
        }
        if (i == n)
            break;
        const struct img_region *r = &rg[i];
        if (json) {
            json_object_open(&j, NULL);
            json_uint(&j, "offset", r->off);
            json_uint(&j, "length", r->len);
            json_string(&j, "type", img_region_name(r->kind));
            json_object_close(&j);
        } else {
            fprintf(f, "%#-20llx%#-20llx%s\n", (unsigned long long)r->off,
                    (unsigned long long)r->len, img_region_name(r->kind));
        }
        if ((unsigned)r->kind < IMG_R_KIND_COUNT)
            per_kind[r->kind] += r->len;
        if (r->off + r->len > pos)
            pos = r->off + r->len;
    }
    if (json) {
        json_array_close(&j);
    } else {
        char sz[32];
        fprintf(f, "\nSummary:\n");
        for (int k = 0; k < IMG_R_KIND_COUNT; k++)
            if (per_kind[k])
                fprintf(f, "  %-16s %12llu bytes (%s)\n", img_region_name((enum img_region_kind)k),
                        (unsigned long long)per_kind[k],
                        describe_size_str(per_kind[k], sz, sizeof sz));
    }
    cli_out_commit();
    free(rg);
    img_close(img);
    return 0;
}

const struct cli_cmd cli_cmd_layout = {
    .name = "layout",
    .fn = cli_layout,
    .summary = "show the regions of the image file (host view)",
    .usage = layout_usage,
};

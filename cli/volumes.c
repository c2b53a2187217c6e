/* SPDX-License-Identifier: GPL-2.0-or-later */
/* cli/volumes.c: `dimg volumes`, the volumes of an image (the whole disk, partitions, LVM2
 * logical volumes) with their filesystems, labels, UUIDs, sizes and used space, as a table or
 * JSON. Labels and notes come from the image: escaped in the table. Talks to core/fs/fs.h,
 * describe.h (sizes), json.h, cli.h.
 */
#include "cli/cli.h"

#include <string.h>

#include "cli/fs_cli.h"
#include "core/base/esc.h"
#include "core/describe/describe.h"
#include "core/describe/json.h"

static const char volumes_usage[] =
    "usage: dimg volumes [-f FMT] [--output=human|json] [-U] IMAGE\n"
    "\n"
    "List the volumes of IMAGE: its partitions (MBR with logical ones, GPT), the LVM2 logical\n"
    "volumes on them, or the whole disk when it holds a filesystem itself; each with its\n"
    "filesystem, label, UUID, size and used space. The VOLUME column is what IMAGE#VOL takes\n"
    "in dimg ls, cat and get.\n"
    "\n"
    "  --output=json       a JSON array\n"
    "  -U                  force share: read an image another process holds\n";

static const char *vol_kind_name(enum fs_vol_kind k)
{
    return k == FS_VOL_DISK ? "disk" : k == FS_VOL_PART ? "partition" : "lv";
}

static void volumes_json(FILE *f, const struct fs_vol_info *v, size_t n)
{
    struct json j;
    json_init(&j, f);
    json_array_open(&j, NULL);
    for (size_t i = 0; i < n; i++) {
        const struct fs_vol_info *e = &v[i];
        json_object_open(&j, NULL);
        json_string(&j, "volume", e->vol.kind == FS_VOL_DISK ? "0" : e->vol.name);
        json_string(&j, "kind", vol_kind_name(e->vol.kind));
        json_string(&j, "type", e->type);
        if (e->vol.nseg)
            json_uint(&j, "start", e->vol.seg[0].img_off);
        json_uint(&j, "size", e->vol.size);
        json_string(&j, "filesystem", e->fs);
        json_string(&j, "label", e->label);
        json_string(&j, "uuid", e->uuid);
        if (e->used_known)
            json_uint(&j, "used", e->used);
        json_bool(&j, "browsable", e->browsable);
        if (e->note[0])
            json_string(&j, "note", e->note);
        json_object_close(&j);
    }
    json_array_close(&j);
}

static void volumes_table(FILE *f, const struct fs_vol_info *v, size_t n)
{
    fprintf(f, "%-12s %-20s %10s %10s %-10s %-16s %s\n", "VOLUME", "TYPE", "SIZE", "USED", "FS",
            "LABEL", "UUID");
    for (size_t i = 0; i < n; i++) {
        const struct fs_vol_info *e = &v[i];
        char name[132], size[32], used[32], label[4 * sizeof e->label], type[4 * sizeof e->type];
        snprintf(name, sizeof name, "#%s", e->vol.kind == FS_VOL_DISK ? "0" : e->vol.name);
        describe_size_str(e->vol.size, size, sizeof size);
        if (e->used_known)
            describe_size_str(e->used, used, sizeof used);
        else
            snprintf(used, sizeof used, "-");
        esc_str(label, sizeof label, e->label);
        esc_str(type, sizeof type, e->type);
        fprintf(f, "%-12s %-20s %10s %10s %-10s %-16s %s\n", name, type, size, used,
                e->fs[0] ? e->fs : "-", label[0] ? label : "-", e->uuid[0] ? e->uuid : "-");
        if (e->note[0]) {
            char note[4 * sizeof e->note];
            fprintf(f, "%-12s (%s)\n", "", esc_str(note, sizeof note, e->note));
        }
    }
}

static int cli_volumes(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"help", no_argument, NULL, 'h'},
        {"output", required_argument, NULL, 'O'},
        {"format", required_argument, NULL, 'f'},
        {"force-share", no_argument, NULL, 'U'},
        {NULL, 0, NULL, 0},
    };
    const char *fmt = NULL;
    bool json = false;
    int o;
    while ((o = cli_getopt(argc, argv, "hf:U", longopts)) != -1) {
        switch (o) {
        case 'h': return cli_help("volumes");
        case 'f': fmt = optarg; break;
        case 'O':
            if (cli_parse_output("volumes", optarg, &json))
                return 1;
            break;
        case 'U': cli_open_flags |= IMG_OPEN_FORCE_SHARE; break;
        default: return 1;
        }
    }
    if (optind != argc - 1)
        return cli_usage_err("volumes", "expecting one image file name");
    struct img_err err = {0};
    struct img *img = img_open(argv[optind], fmt, cli_open_flags | IMG_OPEN_BACKING, &err);
    if (!img) {
        cli_err("%s", err.msg);
        return 1;
    }
    struct fs_vol_info *v;
    size_t n;
    if (fs_volumes(img, &v, &n, &err) < 0) {
        cli_err("%s", err.msg);
        img_close(img);
        return 1;
    }
    FILE *f = json ? cli_out_begin() : cli_out_begin_text();
    if (json)
        volumes_json(f, v, n);
    else
        volumes_table(f, v, n);
    cli_out_commit();
    fs_volumes_free(v, n);
    img_close(img);
    return 0;
}

const struct cli_cmd cli_cmd_volumes = {
    .name = "volumes",
    .fn = cli_volumes,
    .summary = "list the partitions and volumes of an image and their filesystems",
    .usage = volumes_usage,
};

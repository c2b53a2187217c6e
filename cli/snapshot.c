/* SPDX-License-Identifier: GPL-2.0-or-later */
/* cli/snapshot.c: `dimg snapshot [-f FMT] [-l | -c NAME | -a NAME | -d NAME] FILE`, with
 * qemu-img snapshot's syntax and listing: -l (the default) prints the table exactly as
 * qemu-img does, and nothing when there are no snapshots; -c, -a and -d open the image
 * read-write and run as jobs, since each walks every table of the image.
 * Talks to: img.h (img_open, img_snap_*), progress.h (the job), cli.h.
 */
#include "cli/cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/base/esc.h"
#include "core/block/img.h"
#include "core/describe/describe.h"
#include "cli/progress.h"

struct snap_run {
    const char *path, *fmt, *name;
    char op; /* 'c', 'a' or 'd' */
};

static int snap_job(struct job *j, void *arg, struct img_err *err)
{
    struct snap_run *a = arg;
    struct img *img = img_open(a->path, a->fmt, cli_open_flags | IMG_OPEN_RW, err);
    if (!img)
        return err->code ? err->code : -EIO;
    int r = a->op == 'c'   ? img_snap_create(img, a->name)
            : a->op == 'a' ? img_snap_apply(img, a->name)
                           : img_snap_delete(img, a->name);
    if (r == 0)
        r = img_flush(img);
    if (r < 0)
        err_set(err, r, "Could not %s snapshot '%s': %s",
                a->op == 'c'   ? "create"
                : a->op == 'a' ? "apply"
                               : "delete",
                a->name, img_errmsg(img));
    img_close(img);
    return r;
}

static int snap_list(const char *path, const char *fmt)
{
    struct img_err err;
    struct img *img = img_open(path, fmt, cli_open_flags, &err);
    if (!img) {
        cli_err("%s", err.msg);
        return 1;
    }
    struct img_snap *v;
    size_t n;
    int r = img_snap_list(img, &v, &n);
    if (r < 0) {
        cli_err("%s", img_errmsg(img));
        img_close(img);
        return 1;
    }
    FILE *f = cli_out_begin_text();
    describe_snap_table(f, v, n);
    cli_out_commit();
    free(v);
    img_close(img);
    return 0;
}

/* `dimg snapshot --help`. */
static const char snapshot_usage[] =
    "usage: dimg snapshot [-f FMT] [-p] [-q] [-l | -c NAME | -a NAME | -d NAME] FILE\n"
    "\n"
    "Work on the internal snapshots of FILE (qcow2), like qemu-img snapshot. Without an\n"
    "action, list them as -l does. -a and -d take a snapshot's ID or name.\n"
    "\n"
    "  -f FMT              image format (default: probe)\n"
    "  -l                  list the snapshots\n"
    "  -c NAME             create snapshot NAME of the current disk\n"
    "  -a NAME             apply snapshot NAME: the disk (and its size) become the snapshot's\n"
    "  -d NAME             delete snapshot NAME\n"
    "  -p                  show progress on stderr\n"
    "  -q                  quiet\n";

static int cli_snapshot(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"help", no_argument, NULL, 'h'},
        {"force-share", no_argument, NULL, 'U'},
        {NULL, 0, NULL, 0},
    };
    struct snap_run a = {0};
    bool progress = false, quiet = false, list = false;
    int c;
    while ((c = cli_getopt(argc, argv, "hf:lc:a:d:pqU", longopts)) != -1) {
        switch (c) {
        case 'h': return cli_help("snapshot");
        case 'f': a.fmt = optarg; break;
        case 'l':
        case 'c':
        case 'a':
        case 'd':
            if (list || a.op)
                return cli_usage_err("snapshot", "cannot mix '-l', '-a', '-c', '-d'");
            if (c == 'l')
                list = true;
            else {
                a.op = (char)c;
                a.name = optarg;
            }
            break;
        case 'p': progress = true; break;
        case 'q': quiet = true; break;
        case 'U': cli_open_flags |= IMG_OPEN_FORCE_SHARE; break; /* -l only: writers lock */
        default: return 1;
        }
    }
    if (optind != argc - 1)
        return cli_usage_err("snapshot", "expecting exactly one image file name");
    a.path = argv[optind];
    if (!a.op)
        return snap_list(a.path, a.fmt);
    return progress_run_job(a.path, snap_job, &a, progress_wanted(progress, quiet), NULL);
}

const struct cli_cmd cli_cmd_snapshot = {
    .name = "snapshot",
    .fn = cli_snapshot,
    .summary = "list, create, apply or delete internal snapshots",
    .usage = snapshot_usage,
};

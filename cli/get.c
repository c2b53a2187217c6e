/* SPDX-License-Identifier: GPL-2.0-or-later */
/* cli/get.c: `dimg get`, copying a file or a directory tree out of a guest filesystem inside
 * an image onto the host (fs_get: never outside DEST, links as links, modes and times kept).
 * Talks to core/fs/fs.h (through fs_cli.h), cli.h.
 */
#include "cli/cli.h"

#include <stdio.h>

#include "cli/fs_cli.h"

static const char get_usage[] =
    "usage: dimg get [-f FMT] [--force] [-U] IMAGE[#VOL]:/PATH DEST\n"
    "\n"
    "Copy the file or directory PATH of the filesystem inside IMAGE to DEST: into it when DEST\n"
    "is a directory, else under that name. Symbolic links are copied as links, permission\n"
    "bits and times are kept, holes stay holes; devices, FIFOs and sockets are skipped with a\n"
    "warning. Nothing is written outside DEST and no symbolic link below it is followed; each\n"
    "file is written as NAME.part and renamed when complete.\n"
    "\n"
    "  --force             replace existing files and links\n"
    "  -U                  force share: read an image another process holds\n";

static void get_warn(void *ctx, const char *msg)
{
    cli_err("warning: %s", msg);
}

static int cli_get(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"help", no_argument, NULL, 'h'},
        {"format", required_argument, NULL, 'f'},
        {"force", no_argument, NULL, 'F'},
        {"force-share", no_argument, NULL, 'U'},
        {NULL, 0, NULL, 0},
    };
    const char *fmt = NULL;
    struct fs_get_opts go = {.warn = get_warn};
    int o;
    while ((o = cli_getopt(argc, argv, "hf:U", longopts)) != -1) {
        switch (o) {
        case 'h': return cli_help("get");
        case 'f': fmt = optarg; break;
        case 'F': go.overwrite = true; break;
        case 'U': cli_open_flags |= IMG_OPEN_FORCE_SHARE; break;
        default: return 1;
        }
    }
    if (argc - optind != 2)
        return cli_usage_err("get", "expecting IMAGE[#VOL]:/PATH and DEST");
    struct fs_addr a;
    struct fs_handle h;
    if (fs_cli_open(argv[optind], fmt, &a, &h) < 0)
        return 1;
    struct img_err err = {0};
    int r = fs_get(h.fs, a.path, argv[optind + 1], &go, &err);
    if (r < 0)
        cli_err("%s", err.msg);
    fs_cli_close(&a, &h);
    return r < 0 ? 1 : 0;
}

const struct cli_cmd cli_cmd_get = {
    .name = "get",
    .fn = cli_get,
    .summary = "copy files out of a filesystem inside an image",
    .usage = get_usage,
};

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* cli/info.c: `dimg info`, qemu-img info's output (human and JSON) for one image or a whole
 * backing chain, followed by the guest's partition table (MBR or GPT) when it has one; for an
 * archive, its members. The model and its rendering live in core/describe (the interactive
 * info pane shows the same); this file parses the options and sends the result to stdout.
 * Talks to: core/describe/describe.h (describe_write), cli.h.
 */
#include "cli/cli.h"

#include "core/block/img.h"
#include "core/describe/describe.h"

/* `dimg info --help`. */
static const char info_usage[] =
    "usage: dimg info [-f FMT] [--output=human|json] [--backing-chain] FILE\n"
    "\n"
    "Show the format, sizes, cluster size, backing file, snapshots and format-specific\n"
    "information of FILE, like qemu-img info.\n"
    "\n"
    "  -f FMT              image format (default: probe)\n"
    "  --output=FMT        human (default) or json\n"
    "  --backing-chain     also show every image of the backing chain\n"
    "  -U                  force share: read an image another process holds (no locks, no\n"
    "                      warning)\n"
    "\n"
    "FILE may be an archive (.ova, .tar[.gz|.xz|.zst|.bz2], .zip) or a compressed file\n"
    "(.gz, .xz, .bz2, .zst): its members with their formats and sizes, and an OVA's\n"
    "disks and virtual hardware; ARCHIVE/MEMBER shows one member.\n";

static int cli_info(int argc, char **argv)
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
    int status = describe_write(f, path, fmt, cli_open_flags, chain, json, errbuf, sizeof errbuf);
    if (status) {
        cli_out_discard();
        cli_err("%s", errbuf);
        return status;
    }
    cli_out_commit();
    return 0;
}

const struct cli_cmd cli_cmd_info = {
    .name = "info",
    .fn = cli_info,
    .summary = "show an image's metadata",
    .usage = info_usage,
};

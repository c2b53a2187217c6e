/* SPDX-License-Identifier: GPL-2.0-or-later */
/* cli/compare.c: `dimg compare`, ops_compare() with qemu-img compare's messages and exit
 * codes (0 identical, 1 different, 2 open error, 3 block-status error, 4 read error).
 * Talks to: ops.h, img.h, cli.h.
 */
#include "cli/cli.h"

#include "core/block/img.h"
#include "core/ops/ops.h"

/* `dimg compare --help`. */
static const char compare_usage[] =
    "usage: dimg compare [-f FMT_A] [-F FMT_B] [-s] [-q] A B\n"
    "\n"
    "Compare the guest contents of A and B. Without -s an extra part of the larger image\n"
    "must read as zeros; with -s (strict) sizes and allocation must match too.\n"
    "Exit status: 0 identical, 1 different, 2 open error, 3 allocation error, 4 read error.\n"
    "\n"
    "  -U                  force share: read an image another process holds (no locks, no\n"
    "                      warning)\n";

static int cli_compare(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"help", no_argument, NULL, 'h'},
        {"strict", no_argument, NULL, 's'},
        {"force-share", no_argument, NULL, 'U'},
        {NULL, 0, NULL, 0},
    };
    const char *fa = NULL, *fb = NULL;
    bool strict = false, quiet = false;
    int c;
    while ((c = cli_getopt(argc, argv, "hf:F:sqpU", longopts)) != -1) {
        switch (c) {
        case 'h': return cli_help("compare");
        case 'f': fa = optarg; break;
        case 'F': fb = optarg; break;
        case 's': strict = true; break;
        case 'q': quiet = true; break;
        case 'p': break;
        case 'U': cli_open_flags |= IMG_OPEN_FORCE_SHARE; break;
        default: return 2;
        }
    }
    if (argc - optind != 2) {
        cli_usage_err("compare", "expecting two image file names");
        return 2;
    }
    struct img_err err;
    struct img *a = img_open(argv[optind], fa, cli_open_flags | IMG_OPEN_BACKING, &err);
    if (!a) {
        cli_err("%s", err.msg);
        return 2;
    }
    struct img *b = img_open(argv[optind + 1], fb, cli_open_flags | IMG_OPEN_BACKING, &err);
    if (!b) {
        cli_err("%s", err.msg);
        img_close(a);
        return 2;
    }
    struct ops_compare_res res;
    int r = ops_compare(a, b, strict, &res, NULL, &err);
    int status;
    FILE *f = quiet ? NULL : stdout;
    if (r < 0) {
        cli_err("%s", err.msg);
        status = res.status_failed ? 3 : 4;
    } else {
        if (f && res.size_mismatch && !strict)
            fprintf(f, "Warning: Image size mismatch!\n");
        switch (res.result) {
        case OPS_CMP_IDENTICAL:
            if (f)
                fprintf(f, "Images are identical.\n");
            break;
        case OPS_CMP_CONTENT:
            if (f)
                fprintf(f, "Content mismatch at offset %llu!\n", (unsigned long long)res.offset);
            break;
        case OPS_CMP_SIZE:
            if (f)
                fprintf(f, "Strict mode: Image size mismatch!\n");
            break;
        case OPS_CMP_ALLOC:
            if (f)
                fprintf(f, "Strict mode: Offset %llu block status mismatch!\n",
                        (unsigned long long)res.offset);
            break;
        }
        status = res.result == OPS_CMP_IDENTICAL ? 0 : 1;
    }
    img_close(a);
    img_close(b);
    return status;
}

const struct cli_cmd cli_cmd_compare = {
    .name = "compare",
    .fn = cli_compare,
    .summary = "compare the contents of two images",
    .usage = compare_usage,
};

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* cli/append.c: `dimg append [-f raw] [--dense] [-o NEW] FILE SIZE|OTHER`, the dd/cat
 * extension of raw images, run as a job (progress bar, clean cancel). Tells a size from a file
 * name by looking: an argument that parses as a size and names no existing file is a size.
 * Reports the result's size as qemu-img sees it, warning when it is not a multiple of 512.
 * Talks to: ops.h (ops_append), img.h (sizes), progress.h (the job), cli.h.
 */
#include "cli/cli.h"

#include <string.h>
#include <sys/stat.h>

#include "core/block/img.h"
#include "core/describe/describe.h"
#include "core/ops/ops.h"
#include "cli/progress.h"

struct append_run {
    struct ops_append_req req;
    struct ops_append_res res;
};

static int append_job(struct job *j, void *arg, struct img_err *err)
{
    struct append_run *a = arg;
    a->req.progress = job_ops_progress(j);
    return ops_append(&a->req, &a->res, err);
}

/* `dimg append --help`. */
static const char append_usage[] =
    "usage: dimg append [-f raw] [--dense] [-o NEW] [-p] [-q] FILE SIZE|OTHER\n"
    "\n"
    "Grow the raw image FILE by SIZE bytes of zeros, or by the contents of the raw image\n"
    "OTHER (an argument naming an existing file is a file, else a size). Only allocated\n"
    "data is copied; holes stay holes. Other formats are refused: use 'dimg resize'.\n"
    "\n"
    "  -f raw              name the format instead of probing it\n"
    "  --dense             write real zeros instead of leaving a hole\n"
    "  -o NEW              leave FILE untouched and write FILE plus the appendix to NEW\n"
    "                      (written as NEW.part, renamed when complete)\n"
    "  -p                  show progress on stderr\n"
    "  -q                  quiet\n";

static int cli_append(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"help", no_argument, NULL, 'h'},
        {"dense", no_argument, NULL, 'D'},
        {NULL, 0, NULL, 0},
    };
    struct append_run a = {0};
    bool progress = false, quiet = false;
    int c;
    while ((c = cli_getopt(argc, argv, "hf:o:pq", longopts)) != -1) {
        switch (c) {
        case 'h': return cli_help("append");
        case 'f': a.req.fmt = optarg; break;
        case 'o': a.req.out = optarg; break;
        case 'D': a.req.dense = true; break;
        case 'p': progress = true; break;
        case 'q': quiet = true; break;
        default: return 1;
        }
    }
    if (argc - optind != 2)
        return cli_usage_err("append", "expecting an image and a size or a raw image to append");
    a.req.path = argv[optind];
    const char *what = argv[optind + 1];
    struct stat st;
    if (stat(what, &st) == 0) {
        a.req.other = what;
    } else if (img_parse_size(what, &a.req.zeros) == 0) {
        a.req.other = NULL;
    } else {
        cli_err("%s: no such file, and not a size", what);
        return 1;
    }
    a.req.open_flags = cli_open_flags;

    int status = progress_run_job(a.req.out ? a.req.out : a.req.path, append_job, &a,
                                  progress_wanted(progress, quiet), NULL);
    if (status)
        return status;
    const char *result = a.req.out ? a.req.out : a.req.path;
    uint64_t n = a.res.new_size;
    if (n % 512)
        cli_err("warning: %s: %llu bytes is not a multiple of 512; qemu-img sees %llu bytes "
                "(the last sector zero-padded)",
                result, (unsigned long long)n, (unsigned long long)a.res.virtual_size);
    if (!quiet) {
        char s[32];
        printf("%s: virtual size: %s (%llu bytes)\n", result,
               describe_size_str(a.res.virtual_size, s, sizeof s),
               (unsigned long long)a.res.virtual_size);
    }
    return 0;
}

const struct cli_cmd cli_cmd_append = {
    .name = "append",
    .fn = cli_append,
    .summary = "append zeros or another raw image to a raw image",
    .usage = append_usage,
};

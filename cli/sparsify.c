/* SPDX-License-Identifier: GPL-2.0-or-later */
/* cli/sparsify.c: `dimg sparsify --in-place [-f FMT] [--sparsify-swap] [-p] [-q] FILE`: what
 * no guest filesystem uses is made to read as zeros in the image itself (ops_sparsify), as a
 * job: a progress bar with -p or on a terminal; SIGINT stops it between ranges (exit 130). A
 * sparsified copy is `dimg convert --sparsify`.
 * Talks to: ops.h (ops_sparsify), progress.h (the job), cli.h.
 */
#include "cli/cli.h"

#include <string.h>

#include "core/ops/ops.h"
#include "cli/progress.h"

struct sparsify_run {
    struct ops_sparsify_req req;
    struct ops_sparsify_res res;
};

static int sparsify_job(struct job *j, void *arg, struct img_err *err)
{
    struct sparsify_run *a = arg;
    a->req.progress = job_ops_progress(j);
    job_status(j, "zeroing");
    return ops_sparsify(&a->req, &a->res, err);
}

/* `dimg sparsify --help`. */
static const char sparsify_usage[] =
    "usage: dimg sparsify --in-place [-f FMT] [--sparsify-swap] [-p] [-q] FILE\n"
    "\n"
    "Make what no guest filesystem uses (the free blocks of ext2/3/4, NTFS, FAT and exFAT\n"
    "volumes, found in partitions, LVM logical volumes or the whole disk) read as zeros in\n"
    "FILE itself: qcow2 clusters become zero clusters, raw files get holes. Nothing inside a\n"
    "volume dimg cannot read is touched. FILE must not be in use (a running VM holds it).\n"
    "For a sparsified copy instead, use dimg convert --sparsify.\n"
    "\n"
    "  --in-place          required: FILE is changed\n"
    "  -f FMT              image format (default: probe)\n"
    "  --sparsify-swap     swap volumes' contents too (their header stays)\n"
    "  -p                  show progress on stderr\n"
    "  -q                  quiet\n";

static int cli_sparsify(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"help", no_argument, NULL, 'h'},
        {"in-place", no_argument, NULL, 'i'},
        {"sparsify-swap", no_argument, NULL, 'w'},
        {NULL, 0, NULL, 0},
    };
    struct sparsify_run a = {0};
    bool progress = false, quiet = false, in_place = false;
    int c;
    while ((c = cli_getopt(argc, argv, "hf:pq", longopts)) != -1) {
        switch (c) {
        case 'h': return cli_help("sparsify");
        case 'i': in_place = true; break;
        case 'w': a.req.swap = true; break;
        case 'f': a.req.fmt = optarg; break;
        case 'p': progress = true; break;
        case 'q': quiet = true; break;
        default: return 1;
        }
    }
    if (argc - optind != 1)
        return cli_usage_err("sparsify", "expecting exactly one image file name");
    if (!in_place)
        return cli_usage_err("sparsify", "--in-place is required (a copy: dimg convert "
                                         "--sparsify)");
    a.req.path = argv[optind];
    a.req.open_flags = cli_open_flags;
    int status =
        progress_run_job(a.req.path, sparsify_job, &a, progress_wanted(progress, quiet), NULL);
    if (status)
        return status;
    if (!quiet)
        printf("Image sparsified: %llu bytes in %llu ranges now read as zeros.\n",
               (unsigned long long)a.res.bytes, (unsigned long long)a.res.ranges);
    return 0;
}

const struct cli_cmd cli_cmd_sparsify = {
    .name = "sparsify",
    .fn = cli_sparsify,
    .summary = "make what no guest filesystem uses read as zeros, in place",
    .usage = sparsify_usage,
};

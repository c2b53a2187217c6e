/* SPDX-License-Identifier: GPL-2.0-or-later */
/* cli/compact.c: `dimg compact [-f FMT] [-p] [-q] FILE`, in-place compaction as VBoxManage
 * modifymedium --compact does it (blocks holding only zeros given back, holes closed, the file
 * cut), run as a job: a progress bar with -p or on a terminal; SIGINT stops it at the next
 * safe point (exit 130, the image valid and reading the same).
 * Talks to: ops.h (ops_compact), progress.h (the job), cli.h.
 */
#include "cli/cli.h"

#include <string.h>

#include "core/ops/ops.h"
#include "cli/progress.h"

struct compact_run {
    struct ops_compact_req req;
    struct ops_compact_res res;
};

static int compact_job(struct job *j, void *arg, struct img_err *err)
{
    struct compact_run *a = arg;
    a->req.progress = job_ops_progress(j);
    job_status(j, "compacting");
    return ops_compact(&a->req, &a->res, err);
}

/* `dimg compact --help`. */
static const char compact_usage[] =
    "usage: dimg compact [-f FMT] [-p] [-q] FILE\n"
    "\n"
    "Compact FILE in place as VBoxManage modifymedium --compact does: blocks that hold only\n"
    "zeros are unmapped (they still read as zeros, also over a differencing image's parent),\n"
    "the remaining blocks are moved into the holes and the file is cut. A crash or Ctrl-C\n"
    "leaves an image that reads the same. Formats without in-place compaction (all but vdi)\n"
    "are refused: use dimg convert.\n"
    "\n"
    "  -f FMT              image format (default: probe)\n"
    "  -p                  show progress on stderr\n"
    "  -q                  quiet\n";

static int cli_compact(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct compact_run a = {0};
    bool progress = false, quiet = false;
    int c;
    while ((c = cli_getopt(argc, argv, "hf:pq", longopts)) != -1) {
        switch (c) {
        case 'h': return cli_help("compact");
        case 'f': a.req.fmt = optarg; break;
        case 'p': progress = true; break;
        case 'q': quiet = true; break;
        default: return 1;
        }
    }
    if (argc - optind != 1)
        return cli_usage_err("compact", "expecting exactly one image file name");
    a.req.path = argv[optind];
    a.req.open_flags = cli_open_flags;
    int status =
        progress_run_job(a.req.path, compact_job, &a, progress_wanted(progress, quiet), NULL);
    if (status)
        return status;
    if (!quiet)
        printf("Image compacted: file size %llu -> %llu bytes.\n",
               (unsigned long long)a.res.old_file_size, (unsigned long long)a.res.new_file_size);
    return 0;
}

const struct cli_cmd cli_cmd_compact = {
    .name = "compact",
    .fn = cli_compact,
    .summary = "give back the space of zero blocks in place (vdi)",
    .usage = compact_usage,
};

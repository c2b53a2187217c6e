/* SPDX-License-Identifier: GPL-2.0-or-later */
/* cli/resize.c: `dimg resize [-f FMT] [--shrink] [--preallocation=M] [--fix-gpt] FILE
 * [+|-]SIZE`, qemu-img resize's syntax and messages on top of ops_resize(), run as a job.
 * The size is taken off the end of argv before option parsing, as qemu-img does, so that
 * "-1G" is a size and not an option.
 * Talks to: ops.h (ops_resize), img.h (sizes), progress.h (the job), cli.h.
 */
#include "cli/cli.h"

#include <errno.h>
#include <string.h>

#include "core/block/img.h"
#include "core/ops/ops.h"
#include "cli/progress.h"

struct resize_run {
    struct ops_resize_req req;
    struct ops_resize_res res;
};

static int resize_job(struct job *j, void *arg, struct img_err *err)
{
    struct resize_run *a = arg;
    a->req.progress = job_ops_progress(j);
    return ops_resize(&a->req, &a->res, err);
}

/* `dimg resize --help`. */
static const char resize_usage[] =
    "usage: dimg resize [-f FMT] [--shrink] [--preallocation=off|falloc|full] [--fix-gpt]\n"
    "                   [-p] [-q] FILE [+|-]SIZE\n"
    "\n"
    "Set the virtual size of FILE to SIZE, or change it by +SIZE/-SIZE, like qemu-img resize.\n"
    "\n"
    "  -f FMT              image format (default: probe)\n"
    "  --shrink            allow making the image smaller (data past the new end is lost)\n"
    "  --preallocation=M   allocate the new area: off (default), falloc or full (raw)\n"
    "  --fix-gpt           after growing, move the backup GPT to the new end of the disk\n"
    "  -p                  show progress on stderr\n"
    "  -q                  quiet\n";

static int cli_resize(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"help", no_argument, NULL, 'h'},
        {"shrink", no_argument, NULL, 'S'},
        {"preallocation", required_argument, NULL, 'P'},
        {"fix-gpt", no_argument, NULL, 'G'},
        {NULL, 0, NULL, 0},
    };
    struct resize_run a = {0};
    bool progress = false, quiet = false;
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return cli_help("resize");
    if (argc < 3)
        return cli_usage_err("resize", "expecting an image file name and a size");
    const char *size = argv[--argc];
    int c;
    while ((c = cli_getopt(argc, argv, "hf:pq", longopts)) != -1) {
        switch (c) {
        case 'h': return cli_help("resize");
        case 'f': a.req.fmt = optarg; break;
        case 'S': a.req.shrink = true; break;
        case 'P':
            if (img_prealloc_parse(optarg, &a.req.prealloc) < 0) {
                cli_err("Invalid preallocation mode: '%s'", optarg);
                return 1;
            }
            break;
        case 'G': a.req.fix_gpt = true; break;
        case 'p': progress = true; break;
        case 'q': quiet = true; break;
        default: return 1;
        }
    }
    if (argc - optind != 1)
        return cli_usage_err("resize", "expecting an image file name and a size");
    a.req.path = argv[optind];
    a.req.open_flags = cli_open_flags;
    const char *num = size;
    if (*num == '+' || *num == '-') {
        a.req.sign = *num == '+' ? 1 : -1;
        num++;
    }
    int pr = img_parse_size(num, &a.req.amount);
    if (pr == -ERANGE) {
        /* qemu-img's wording for sizes past 2^63 ("+8E"). */
        cli_err("New image size must be positive");
        return 1;
    }
    if (pr < 0) {
        cli_err("Invalid image size specified: '%s'", size);
        return 1;
    }
    int status =
        progress_run_job(a.req.path, resize_job, &a, progress_wanted(progress, quiet), NULL);
    if (status)
        return status;
    if (a.res.gpt_stale)
        cli_err("warning: %s: the backup GPT is not at the end of the disk; "
                "use --fix-gpt to move it",
                a.req.path);
    if (!quiet) {
        printf("Image resized.\n");
        if (a.res.gpt_moved)
            printf("Backup GPT moved to the end of the disk.\n");
    }
    return 0;
}

const struct cli_cmd cli_cmd_resize = {
    .name = "resize",
    .fn = cli_resize,
    .summary = "grow or shrink an image",
    .usage = resize_usage,
};

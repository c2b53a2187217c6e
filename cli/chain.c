/* SPDX-License-Identifier: GPL-2.0-or-later */
/* cli/chain.c: `dimg commit` and `dimg rebase`, qemu-img's syntax and messages on top of
 * ops_commit() and ops_rebase(), each run as a job: -p (or a terminal on stderr) draws the
 * progress bar, SIGINT/SIGTERM cancel (exit 130/143) at a point where the chain still reads
 * the same.
 * Talks to: ops.h (ops_commit, ops_rebase), progress.h (the job), cli.h.
 */
#include "cli/cli.h"

#include <string.h>

#include "core/ops/ops.h"
#include "cli/progress.h"

struct commit_run {
    struct ops_commit_req req;
    struct ops_commit_res res;
};

static int commit_job(struct job *j, void *arg, struct img_err *err)
{
    struct commit_run *a = arg;
    a->req.progress = job_ops_progress(j);
    job_status(j, "committing into %s", a->req.base ? a->req.base : "the backing file");
    return ops_commit(&a->req, &a->res, err);
}

/* `dimg commit --help`. */
static const char commit_usage[] =
    "usage: dimg commit [-f FMT] [-b BASE] [-d] [-p] [-q] FILE\n"
    "\n"
    "Write the data FILE holds into its backing file (or into BASE, further down the chain:\n"
    "then every layer in between is written there too), like qemu-img commit. The base is\n"
    "grown when it is smaller, written and flushed, and only then is FILE emptied so that it\n"
    "reads from the base. Cancelled (Ctrl-C), the base holds part of the data and FILE is\n"
    "unchanged: the chain reads the same and a new commit finishes the work.\n"
    "\n"
    "  -f FMT              format of FILE (default: probe)\n"
    "  -b BASE             commit into BASE, a deeper image of the chain (implies -d)\n"
    "  -d                  leave FILE's data in place (do not empty it)\n"
    "  -p                  show progress on stderr\n"
    "  -q                  quiet\n";

static int cli_commit(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct commit_run a = {0};
    bool progress = false, quiet = false;
    int c;
    while ((c = cli_getopt(argc, argv, "hf:b:dpqt:", longopts)) != -1) {
        switch (c) {
        case 'h': return cli_help("commit");
        case 'f': a.req.fmt = optarg; break;
        case 'b': a.req.base = optarg; break;
        case 'd': a.req.keep = true; break;
        case 'p': progress = true; break;
        case 'q': quiet = true; break;
        case 't': break; /* qemu-img's cache mode: dimg always writes through and flushes */
        default: return 1;
        }
    }
    if (argc - optind != 1)
        return cli_usage_err("commit", "expecting exactly one image file name");
    a.req.path = argv[optind];
    a.req.open_flags = cli_open_flags;
    int status =
        progress_run_job(a.req.path, commit_job, &a, progress_wanted(progress, quiet), NULL);
    if (status == 0 && !quiet)
        printf("Image committed.\n");
    return status;
}

const struct cli_cmd cli_cmd_commit = {
    .name = "commit",
    .fn = cli_commit,
    .summary = "write an overlay's data into its backing file",
    .usage = commit_usage,
};

static int rebase_job(struct job *j, void *arg, struct img_err *err)
{
    struct ops_rebase_req *req = arg;
    req->progress = job_ops_progress(j);
    job_status(j, req->unsafe ? "rewriting the backing file name" : "copying what differs");
    return ops_rebase(req, err);
}

/* `dimg rebase --help`. */
static const char rebase_usage[] =
    "usage: dimg rebase [-f FMT] -b NEW [-F NEW_FMT] [-u] [-p] [-q] FILE\n"
    "\n"
    "Make NEW the backing file of FILE, like qemu-img rebase. The safe default copies into\n"
    "FILE every part whose content differs between the old chain and NEW, so that FILE reads\n"
    "the same afterwards; then the name is rewritten. -b \"\" flattens: FILE gets everything\n"
    "from its old chain and no backing file. NEW is relative to FILE's directory.\n"
    "\n"
    "  -f FMT              format of FILE (default: probe)\n"
    "  -b NEW              the new backing file (\"\": none)\n"
    "  -F NEW_FMT          format of NEW (required with a non-empty -b)\n"
    "  -u                  unsafe: only rewrite the name and format, copy nothing\n"
    "  -p                  show progress on stderr\n"
    "  -q                  quiet\n";

static int cli_rebase(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct ops_rebase_req req = {0};
    bool progress = false, quiet = false, have_b = false;
    int c;
    while ((c = cli_getopt(argc, argv, "hf:b:F:upqt:T:U", longopts)) != -1) {
        switch (c) {
        case 'h': return cli_help("rebase");
        case 'f': req.fmt = optarg; break;
        case 'b':
            req.backing = optarg;
            have_b = true;
            break;
        case 'F': req.backing_fmt = optarg; break;
        case 'u': req.unsafe = true; break;
        case 'p': progress = true; break;
        case 'q': quiet = true; break;
        case 't':
        case 'T': break; /* cache modes: nothing to choose in dimg */
        case 'U': cli_open_flags |= IMG_OPEN_FORCE_SHARE; break;
        default: return 1;
        }
    }
    if (!have_b)
        return cli_usage_err("rebase", "Must specify backing file (-b) or use '-b \"\"' to "
                                       "remove the backing file");
    if (argc - optind != 1)
        return cli_usage_err("rebase", "expecting exactly one image file name");
    req.path = argv[optind];
    req.open_flags = cli_open_flags;
    return progress_run_job(req.path, rebase_job, &req, progress_wanted(progress, quiet), NULL);
}

const struct cli_cmd cli_cmd_rebase = {
    .name = "rebase",
    .fn = cli_rebase,
    .summary = "change the backing file of an overlay",
    .usage = rebase_usage,
};

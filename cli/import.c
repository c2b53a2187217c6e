/* SPDX-License-Identifier: GPL-2.0-or-later */
/* cli/import.c: `dimg import ARCHIVE [DIR] [-O FMT]`: unpack an OVA's files into DIR (default:
 * the current directory) with the manifest's digests verified, optionally converting each disk,
 * as a job with progress; one line per file written.
 * Talks to: core/archive/archive.h (arc_import), progress.h (the job), cli.h.
 */
#include "cli/cli.h"

#include <stdlib.h>
#include <string.h>

#include "core/archive/archive.h"
#include "core/base/esc.h"
#include "core/block/img.h"
#include "core/ops/ops.h"
#include "cli/progress.h"

struct import_arg {
    struct arc_import_req req;
    struct arc_import_res *res;
};

static int import_job(struct job *j, void *arg, struct img_err *err)
{
    struct import_arg *a = arg;
    a->req.progress = job_ops_progress(j);
    return arc_import(&a->req, a->res, err);
}

/* `dimg import --help`. */
static const char import_usage[] =
    "usage: dimg import [-O FMT] [--no-manifest] [-p] [-q] ARCHIVE [DIR]\n"
    "\n"
    "Unpack the files of ARCHIVE (an .ova, tar or zip holding plain file names) into DIR\n"
    "(default: the current directory; created when missing). The .mf manifest's SHA-1/SHA-256 "
    "digests must match\n"
    "every member, or nothing is written. Members with '..', absolute names or links are\n"
    "refused, existing files are never overwritten, and each file is written as NAME.part\n"
    "and renamed when complete. Prints the files written.\n"
    "\n"
    "  -O FMT              convert each disk to FMT (DIR/DISK.FMT) instead of keeping it\n"
    "  --no-manifest       import an archive without a manifest, unverified; members a\n"
    "                      manifest does not cover (a .cert) are left out (else refused)\n"
    "  -p                  show progress on stderr\n"
    "  -q                  quiet\n"
    "\n"
    "Limit: a member declaring (or a compressed file inflating to) more than 4 TiB is\n"
    "refused; DIMG_ARCHIVE_LIMIT=SIZE in the environment sets another limit.\n";

static int cli_import(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"help", no_argument, NULL, 'h'},
        {"no-manifest", no_argument, NULL, 'M'},
        {NULL, 0, NULL, 0},
    };
    struct import_arg a = {.req = {.dir = "."}};
    bool progress = false, quiet = false;
    int c;
    while ((c = cli_getopt(argc, argv, "hO:pq", longopts)) != -1) {
        switch (c) {
        case 'h': return cli_help("import");
        case 'O': a.req.convert_fmt = optarg; break;
        case 'M': a.req.no_manifest = true; break;
        case 'p': progress = true; break;
        case 'q': quiet = true; break;
        default: return 1;
        }
    }
    if (argc - optind < 1 || argc - optind > 2)
        return cli_usage_err("import", "expecting an archive and optionally a directory");
    a.req.archive = argv[optind];
    if (argc - optind == 2)
        a.req.dir = argv[optind + 1];
    if (a.req.convert_fmt && !img_driver_find(a.req.convert_fmt))
        return cli_usage_err("import", "unknown output format '%s'", a.req.convert_fmt);
    a.res = calloc(1, sizeof *a.res);
    if (!a.res) {
        cli_err("out of memory");
        return 1;
    }
    int status =
        progress_run_job(a.req.archive, import_job, &a, progress_wanted(progress, quiet), NULL);
    if (status == 0 && !quiet) {
        if (!a.res->manifest)
            cli_err("warning: %s has no manifest; digests not verified", a.req.archive);
        if (a.res->left_out)
            cli_err("warning: %zu member%s not in the manifest left out", a.res->left_out,
                    a.res->left_out == 1 ? "" : "s");
        for (size_t i = 0; i < a.res->nwritten; i++) { /* names from the archive: escaped */
            char *e = esc_dup(a.res->written[i], strlen(a.res->written[i]));
            printf("%s\n", e ? e : a.res->written[i]);
            free(e);
        }
    }
    free(a.res);
    return status;
}

const struct cli_cmd cli_cmd_import = {
    .name = "import",
    .fn = cli_import,
    .summary = "unpack an OVA (or flat archive) with its manifest verified",
    .usage = import_usage,
};

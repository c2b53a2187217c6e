/* SPDX-License-Identifier: GPL-2.0-or-later */
/* cli/export.c: `dimg export --ova OUT.ova [--name NAME] [--cpus N] [--memory MiB] IMAGE...`:
 * packs images into an OVA appliance (core/archive/export.h) as a job with the progress bar; Ctrl-C
 * cancels and leaves neither OUT nor OUT.part.
 * Talks to: core/archive/export.h (export_ova), img.h (sizes), progress.h (the job), cli.h.
 */
#include "cli/cli.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "core/archive/export.h"
#include "core/block/img.h"
#include "cli/progress.h"

static int export_job(struct job *j, void *arg, struct img_err *err)
{
    struct export_ova_req *req = arg;
    req->progress = job_ops_progress(j);
    return export_ova(req, err);
}

/* `dimg export --help`. */
static const char export_usage[] =
    "usage: dimg export --ova OUT.ova [--name NAME] [--cpus N] [--memory MIB]\n"
    "                   [--controller=scsi|ide] [--network NAME] [-f FMT] [-p] [-q] IMAGE...\n"
    "\n"
    "Write an OVA (a tar that VirtualBox, VMware and ovftool import) holding NAME.ovf, an\n"
    "OVF 1.0 descriptor, each IMAGE converted to a streamOptimized vmdk, and NAME.mf with\n"
    "their SHA-256 digests. The disks are staged in OUT.ova.part.d beside OUT (removed\n"
    "afterwards); OUT is written as OUT.ova.part and renamed into place only when complete.\n"
    "\n"
    "  --ova OUT.ova       the appliance to write (required)\n"
    "  --name NAME         the virtual machine's name (default: OUT without .ova)\n"
    "  --cpus N            virtual CPUs (default 1)\n"
    "  --memory MIB        memory in MiB (default 1024)\n"
    "  --controller=C      scsi (LSI Logic, up to 15 disks; default) or ide (up to 4)\n"
    "  --network NAME      add a network adapter connected to network NAME\n"
    "  -f FMT              format of every IMAGE (default: probe each)\n"
    "  -p                  show progress on stderr\n"
    "  -q                  quiet\n";

static int cli_export(int argc, char **argv)
{
    enum { OPT_OVA = 256, OPT_NAME, OPT_CPUS, OPT_MEMORY, OPT_CONTROLLER, OPT_NETWORK };
    static const struct option longopts[] = {
        {"help", no_argument, NULL, 'h'},
        {"ova", required_argument, NULL, OPT_OVA},
        {"name", required_argument, NULL, OPT_NAME},
        {"cpus", required_argument, NULL, OPT_CPUS},
        {"memory", required_argument, NULL, OPT_MEMORY},
        {"controller", required_argument, NULL, OPT_CONTROLLER},
        {"network", required_argument, NULL, OPT_NETWORK},
        {NULL, 0, NULL, 0},
    };
    struct export_ova_req req = {0};
    bool progress = false, quiet = false;
    uint64_t v;
    int c;
    while ((c = cli_getopt(argc, argv, "hf:pq", longopts)) != -1) {
        switch (c) {
        case 'h': return cli_help("export");
        case 'f': req.fmt = optarg; break;
        case 'p': progress = true; break;
        case 'q': quiet = true; break;
        case OPT_OVA: req.out = optarg; break;
        case OPT_NAME: req.name = optarg; break;
        case OPT_CPUS:
            if (!export_parse_count(optarg, EXPORT_OVA_MAX_CPUS, &v))
                return cli_usage_err("export", "--cpus must be 1 to %u, not '%s'",
                                     EXPORT_OVA_MAX_CPUS, optarg);
            req.cpus = (unsigned)v;
            break;
        case OPT_MEMORY:
            if (!export_parse_count(optarg, EXPORT_OVA_MAX_MEMORY_MIB, &v))
                return cli_usage_err("export", "--memory must be 1 to %" PRIu64 " MiB, not '%s'",
                                     (uint64_t)EXPORT_OVA_MAX_MEMORY_MIB, optarg);
            req.memory_mib = v;
            break;
        case OPT_CONTROLLER:
            if (strcmp(optarg, "scsi") == 0)
                req.controller = EXPORT_CTL_SCSI;
            else if (strcmp(optarg, "ide") == 0)
                req.controller = EXPORT_CTL_IDE;
            else
                return cli_usage_err("export", "--controller must be scsi or ide, not '%s'",
                                     optarg);
            break;
        case OPT_NETWORK: req.network = optarg; break;
        default: return 1;
        }
    }
    if (!req.out)
        return cli_usage_err("export", "--ova OUT.ova is required");
    if (optind >= argc)
        return cli_usage_err("export", "expecting at least one image");
    if (req.name && !*req.name)
        return cli_usage_err("export", "--name must not be empty");
    req.images = (const char *const *)argv + optind;
    req.nimages = (size_t)(argc - optind);
    req.open_flags = cli_open_flags;
    for (size_t i = 0; i < req.nimages; i++)
        cli_secret_prepare(req.images[i], req.fmt, NULL);
    return progress_run_job(req.out, export_job, &req, progress_wanted(progress, quiet), NULL);
}

const struct cli_cmd cli_cmd_export = {
    .name = "export",
    .fn = cli_export,
    .summary = "pack images into an OVA appliance",
    .usage = export_usage,
};

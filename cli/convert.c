/* SPDX-License-Identifier: GPL-2.0-or-later */
/* cli/convert.c: `dimg convert`, qemu-img convert's options on top of ops_convert(), run as a
 * job: -p (or a terminal on stderr) draws the progress bar, SIGINT/SIGTERM cancel cleanly
 * (DST.part removed, exit 130/143).
 * Before converting an archive member that needs random access, a note says a temporary copy
 * is made.
 * Talks to: ops.h (ops_convert), img.h (option lists, sizes), core/archive/archive.h (the
 * note), progress.h (the job), cli.h.
 */
#include "cli/cli.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/archive/archive.h"
#include "core/archive/export.h"
#include "core/block/img.h"
#include "core/base/io.h"
#include "core/ops/ops.h"
#include "cli/progress.h"

/* The job: ops_convert with the job's progress and cancel flag. */
static int convert_job(struct job *j, void *arg, struct img_err *err)
{
    struct ops_convert_req *req = arg;
    req->progress = job_ops_progress(j);
    return arc_convert_any(req, err);
}

/* Before a convert from src: say (on stderr) when an archive member needs a temporary copy. */
static void convert_archive_note(const char *src, const char *src_fmt, const char *dst)
{
    char *archive = NULL, *member = NULL;
    if (arc_convert_source(src, &archive, &member) == 1 && !(member == NULL && src_fmt)) {
        const char *fmt = NULL;
        bool stream = false;
        struct img_err err = {0};
        /* A failure here is the convert's to report, once. */
        if (arc_member_format(archive, member, &fmt, &stream, &err) == 0) {
            if (src_fmt)
                stream = !strcmp(src_fmt, "raw") || (stream && !strcmp(src_fmt, fmt));
            if (!stream && !img_foreign_find(src_fmt ? src_fmt : fmt)) {
                char *dir = io_dirname(dst);
                cli_err("note: %s is %s, which needs random access: copying it to "
                        "a temporary file in %s first (removed afterwards)",
                        src, src_fmt ? src_fmt : fmt, dir ? dir : ".");
                free(dir);
            }
        }
    }
    free(archive);
    free(member);
}

/* `dimg convert --help`. */
static const char convert_usage[] =
    "usage: dimg convert [-f FMT] [-O OUTPUT_FMT] [-o OPTIONS] [-c] [-p] [-q] [-S BYTES]\n"
    "                    [-B BACKING -F BACKING_FMT] [-l SNAPSHOT] [--compress=F]\n"
    "                    [-m THREADS] [-t CACHE] [-n] [--sparsify [--sparsify-swap]] SRC DST\n"
    "\n"
    "Copy the guest contents of SRC (through its backing chain) into a new image DST.\n"
    "DST is written as DST.part and renamed into place only when complete.\n"
    "SRC may be ARCHIVE/MEMBER (cloud.tar.gz/disk.raw, vm.ova/disk1.vmdk) or a compressed\n"
    "file (disk.raw.xz): raw images are streamed; other formats are first copied to a\n"
    "temporary file beside DST (removed afterwards). Images in archives are opened as with\n"
    "--untrusted.\n"
    "\n"
    "  -f FMT              source format (default: probe)\n"
    "  -O FMT              output format (default: raw)\n"
    "  -o k=v,...          output format options\n"
    "  -c                  compress the output (formats with compression only)\n"
    "  -p                  show progress on stderr\n"
    "  -q                  quiet\n"
    "  -S BYTES            zero-detection block size (default 4k; 0 allocates everything)\n"
    "  -B BACKING          make DST an overlay of BACKING; copy only SRC's top layer\n"
    "  -F BACKING_FMT      format of BACKING (required with -B)\n"
    "  -l SNAPSHOT         copy SRC as its internal snapshot SNAPSHOT (ID or name) saw it\n"
    "  -n                  write into the existing DST in place (a file, a block device or an\n"
    "                      NBD export: nbd://HOST[:PORT]/EXPORT, nbd+unix:///EXPORT?socket=P);\n"
    "                      zeros are written, nothing is created or removed\n"
    "  --compress=F        -O raw only: write DST as one xz, gz, zst or bz2 stream (also\n"
    "                      chosen by a DST name ending in .xz, .gz, .zst or .bz2)\n"
    "  -U                  force share: read an image another process holds (no locks, no\n"
    "                      warning)\n"
    "  -m THREADS          threads that compress (-c) or read compressed sources\n"
    "                      (default: the online cores; 1: none)\n"
    "  --sparsify          what no guest filesystem uses (ext2/3/4, NTFS, FAT, exFAT free\n"
    "                      blocks) becomes unallocated in DST, as virt-sparsify does\n"
    "  --sparsify-swap     with --sparsify: swap volumes' contents too (their header stays)\n"
    "  -W                  accepted for qemu-img compatibility (writes stay in order)\n"
    "  -t CACHE            unsafe: do not sync DST before the rename (qemu-img's default;\n"
    "                      a crash may leave it incomplete); other modes sync (-T accepted)\n";

static int cli_convert(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"help", no_argument, NULL, 'h'},
        {"compress", required_argument, NULL, 'Z'},
        {"sparsify", no_argument, NULL, 's'},
        {"sparsify-swap", no_argument, NULL, 'w'},
        {NULL, 0, NULL, 0},
    };
    struct ops_convert_req req = {.dst_fmt = "raw", .sparse = OPS_CONVERT_DEFAULT_SPARSE};
    struct img_opts opts = {0};
    struct img_err err = {0};
    bool progress = false, quiet = false;
    int c, status = 1;
    while ((c = cli_getopt(argc, argv, "hf:O:o:cpqS:B:F:Ul:m:Wt:T:n", longopts)) != -1) {
        switch (c) {
        case 'h': img_opts_free(&opts); return cli_help("convert");
        case 'f': req.src_fmt = optarg; break;
        case 'O': req.dst_fmt = optarg; break;
        case 'o':
            if (img_opts_parse(&opts, optarg, &err) < 0) {
                cli_err("%s", err.msg);
                goto out;
            }
            break;
        case 'c': req.compress = true; break;
        case 'p': progress = true; break;
        case 'q': quiet = true; break;
        case 'S':
            if (img_parse_size(optarg, &req.sparse) < 0 || req.sparse % 512 ||
                req.sparse > (16u << 20)) {
                cli_err("invalid -S '%s': a multiple of 512 bytes up to 16 MiB, or 0", optarg);
                goto out;
            }
            break;
        case 'B': req.backing = optarg; break;
        case 'F': req.backing_fmt = optarg; break;
        case 's': req.sparsify = true; break;
        case 'w': req.sparsify_swap = true; break;
        case 'U': cli_open_flags |= IMG_OPEN_FORCE_SHARE; break;
        case 'Z':
            if (!(req.filter = export_filter_name(optarg))) {
                status = cli_usage_err("convert", "--compress must be xz, gz, zst or bz2, not '%s'",
                                       optarg);
                goto out;
            }
            break;
        case 'l':
            /* qemu-img's snapshot.id=X / snapshot.name=X, or just the ID or name. */
            req.snapshot = optarg;
            if (strncmp(optarg, "snapshot.id=", 12) == 0)
                req.snapshot = optarg + 12;
            else if (strncmp(optarg, "snapshot.name=", 14) == 0)
                req.snapshot = optarg + 14;
            break;
        case 'm': {
            char *end;
            unsigned long n = strtoul(optarg, &end, 10);
            if (*optarg < '1' || *optarg > '9' || *end || n > 64) {
                cli_err("invalid -m '%s': a number of threads from 1 to 64", optarg);
                goto out;
            }
            req.threads = (unsigned)n;
            break;
        }
        case 'n': req.no_create = true; break;
        case 'W': break; /* qemu-img's out-of-order writes: dimg's pipeline needs no leave */
        case 'T': break; /* qemu-img's source cache mode: reads go through the page cache */
        case 't':
            /* qemu-img's target cache mode. dimg syncs DST before the rename in every mode
             * but unsafe, which (as qemu-img's default) leaves that to the kernel. */
            if (strcmp(optarg, "unsafe") == 0) {
                io_set_unsafe(true);
            } else if (strcmp(optarg, "writeback") && strcmp(optarg, "writethrough") &&
                       strcmp(optarg, "none") && strcmp(optarg, "directsync")) {
                cli_err("invalid -t '%s': writeback, writethrough, none, directsync or unsafe",
                        optarg);
                goto out;
            }
            break;
        default: goto out;
        }
    }
    if (argc - optind != 2) {
        status = cli_usage_err("convert", "expecting one source and one target file name");
        goto out;
    }
    if (req.backing_fmt && !req.backing) {
        status = cli_usage_err("convert", "-F needs a backing file (-B)");
        goto out;
    }
    if (req.sparsify_swap && !req.sparsify) {
        status = cli_usage_err("convert", "--sparsify-swap goes with --sparsify");
        goto out;
    }
    req.src = argv[optind];
    req.dst = argv[optind + 1];
    /* A raw target named *.xz, *.gz, *.zst or *.bz2 is written compressed. */
    if (!req.filter && strcmp(req.dst_fmt, "raw") == 0)
        req.filter = export_filter_for_path(req.dst);
    if (req.filter &&
        (strcmp(req.dst_fmt, "raw") != 0 || req.compress || req.backing || req.sparsify)) {
        status = cli_usage_err(
            "convert", "--compress writes a raw image only (no -O FMT, -c, -B or --sparsify)");
        goto out;
    }
    req.opts = &opts;
    req.open_flags = cli_open_flags;

    cli_secret_warn_weak(&opts);
    cli_secret_prepare(req.src, req.src_fmt, &opts);
    if (!quiet)
        convert_archive_note(req.src, req.src_fmt, req.dst);
    /* qemu-img replaces an existing target without a word; so does dimg, but with -p it
     * says so first (the application refuses instead). */
    struct stat dst_st;
    if (progress && !quiet && !req.no_create && stat(req.dst, &dst_st) == 0 &&
        S_ISREG(dst_st.st_mode))
        cli_err("note: %s exists: it will be replaced, as qemu-img does", req.dst);
    /* Progress: with -p, or whenever stderr is a terminal; SIGINT/SIGTERM cancel. */
    status = progress_run_job(req.dst, convert_job, &req, progress_wanted(progress, quiet), NULL);
out:
    img_opts_free(&opts);
    return status;
}

const struct cli_cmd cli_cmd_convert = {
    .name = "convert",
    .fn = cli_convert,
    .summary = "copy an image into a new one, possibly of another format",
    .usage = convert_usage,
};

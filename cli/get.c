/* SPDX-License-Identifier: GPL-2.0-or-later */
/* cli/get.c: `dimg get`, copying a file or a directory tree out of a guest filesystem inside
 * an image onto the host (fs_get: never outside DEST, links as links, modes and times kept).
 * The image is opened (and unlocked) on the main thread; the copy runs as a job under the
 * progress bar, so that SIGINT/SIGTERM stop it cleanly (the file being written is removed).
 * Talks to core/fs/fs.h (through fs_cli.h), progress.h, cli.h.
 */
#include "cli/cli.h"

#include <stdio.h>

#include "cli/fs_cli.h"
#include "cli/progress.h"

static const char get_usage[] =
    "usage: dimg get [-f FMT] [--force] [-p] [-q] [-U] IMAGE[#VOL]:/PATH DEST\n"
    "\n"
    "Copy the file or directory PATH of the filesystem inside IMAGE to DEST: into it when DEST\n"
    "is a directory, else under that name. Symbolic links are copied as links, permission\n"
    "bits and times are kept, holes stay holes; devices, FIFOs and sockets are skipped with a\n"
    "warning. Nothing is written outside DEST and no symbolic link below it is followed; each\n"
    "file is written as NAME.part and renamed when complete.\n"
    "\n"
    "  --force             replace existing files and links\n"
    "  -p                  show progress on stderr (also whenever stderr is a terminal)\n"
    "  -q                  quiet: no progress, no warnings\n"
    "  -U                  force share: read an image another process holds\n";

struct get_job {
    struct fs *fs;
    const char *path, *dest;
    struct fs_get_opts go;
    struct job *j;
    uint64_t total; /* bytes of the regular files to copy */
};

static void get_warn(void *ctx, const char *msg)
{
    cli_err("warning: %s", msg);
}

static int get_tick(void *ctx, uint64_t done)
{
    struct get_job *g = ctx;
    job_progress(g->j, done, g->total > done ? g->total : done);
    return job_should_stop(g->j);
}

static int get_job_fn(struct job *j, void *arg, struct img_err *err)
{
    struct get_job *g = arg;
    g->j = j;
    job_progress(j, 0, g->total);
    return fs_get(g->fs, g->path, g->dest, &g->go, err);
}

static int get_sum(void *ctx, const char *path, const struct fs_dirent *e)
{
    if (e->st.type == FS_T_REG)
        *(uint64_t *)ctx += e->st.size;
    return 0;
}

/* The bytes to copy, for the progress bar (0 when the tree cannot be listed: fs_get will say
 * why). */
static uint64_t get_total(struct fs *fs, const char *path)
{
    struct fs_stat st;
    uint64_t total = 0;
    if (fs_lookup(fs, path, false, &st) < 0)
        return 0;
    if (st.type == FS_T_REG)
        return st.size;
    if (st.type == FS_T_DIR)
        (void)fs_walk(fs, st.ino, get_sum, &total);
    return total;
}

static int cli_get(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"help", no_argument, NULL, 'h'},
        {"format", required_argument, NULL, 'f'},
        {"force", no_argument, NULL, 'F'},
        {"force-share", no_argument, NULL, 'U'},
        {NULL, 0, NULL, 0},
    };
    const char *fmt = NULL;
    struct get_job g = {.go = {.warn = get_warn, .tick = get_tick}};
    bool progress = false, quiet = false;
    int o;
    while ((o = cli_getopt(argc, argv, "hf:pqU", longopts)) != -1) {
        switch (o) {
        case 'h': return cli_help("get");
        case 'f': fmt = optarg; break;
        case 'F': g.go.overwrite = true; break;
        case 'p': progress = true; break;
        case 'q': quiet = true; break;
        case 'U': cli_open_flags |= IMG_OPEN_FORCE_SHARE; break;
        default: return 1;
        }
    }
    if (argc - optind != 2)
        return cli_usage_err("get", "expecting IMAGE[#VOL]:/PATH and DEST");
    struct fs_addr a;
    struct fs_handle h;
    if (fs_cli_open(argv[optind], fmt, true, &a, &h) < 0)
        return 1;
    g.fs = h.fs;
    g.path = a.path;
    g.dest = argv[optind + 1];
    g.go.ctx = &g;
    if (quiet)
        g.go.warn = NULL;
    g.total = get_total(h.fs, a.path);
    int status = progress_run_job("get", get_job_fn, &g, progress_wanted(progress, quiet), NULL);
    fs_cli_close(&a, &h);
    return status;
}

const struct cli_cmd cli_cmd_get = {
    .name = "get",
    .fn = cli_get,
    .summary = "copy files out of a filesystem inside an image",
    .usage = get_usage,
};

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* cli/check.c: `dimg check`, img_check() reported like qemu-img check: the same human lines
 * and JSON keys, per-problem lines on stderr, repair with -r leaks|all followed by a second,
 * read-only-style pass, and qemu-img's exit codes (0, 1, 2, 3, 63). The check (and repair)
 * runs as a job: a progress bar with -p or on a terminal, and SIGINT stops it while it is
 * still counting (the driver writes nothing before that), exiting 130.
 * Talks to: img.h (img_open, img_check), progress.h (the job), json.h, cli.h.
 */
#include "cli/cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/esc.h"
#include "core/block/img.h"
#include "core/describe/json.h"
#include "cli/progress.h"

#define CHECK_EXIT_FAILED 1
#define CHECK_EXIT_CORRUPT 2
#define CHECK_EXIT_LEAKS 3
#define CHECK_EXIT_UNSUPPORTED 63

/* Problem lines go to stderr as they are found, or, while a progress bar owns stderr, to a
 * temporary file copied out afterwards (disk-bounded, unlike memory, on a wrecked image). */
static void check_report_line(void *ctx, const char *line)
{
    char *e = esc_dup(line, strlen(line)); /* lines may quote names from the image */
    fprintf(ctx ? ctx : stderr, "%s\n", e ? e : line);
    free(e);
}

struct check_run {
    struct img *img;
    unsigned fix;
    struct img_check res;
    FILE *lines; /* NULL: stderr */
    int r;       /* img_check's result, reported the qemu-img way by the caller */
    struct job *job;
};

static int check_tick(void *ctx, uint64_t done, uint64_t total)
{
    struct check_run *a = ctx;
    job_progress(a->job, done, total);
    return job_should_stop(a->job);
}

static void check_reset(struct check_run *a)
{
    memset(&a->res, 0, sizeof a->res);
    a->res.report = check_report_line;
    a->res.report_ctx = a->lines;
    a->res.tick = check_tick;
    a->res.tick_ctx = a;
}

/* The job: check, and after a repair check again keeping the counts of what was fixed. Only
 * a cancel fails the job; every other outcome is a check result the caller reports. */
static int check_job(struct job *j, void *arg, struct img_err *err)
{
    struct check_run *a = arg;
    a->job = j;
    check_reset(a);
    job_status(j, a->fix ? "checking and repairing" : "checking");
    int r = img_check(a->img, &a->res, a->fix);
    if (r == 0 && (a->res.corruptions_fixed || a->res.leaks_fixed)) {
        uint64_t cf = a->res.corruptions_fixed, lf = a->res.leaks_fixed;
        check_reset(a);
        a->res.tick = NULL; /* the image is already changed: finish the second pass */
        r = img_check(a->img, &a->res, 0);
        a->res.corruptions_fixed = cf;
        a->res.leaks_fixed = lf;
    }
    a->r = r;
    if (r == -ECANCELED)
        return err_set(err, r, "%s", img_errmsg(a->img));
    return 0;
}

/* Only where qemu-img prints them too (has_stats), unless --stats asks for dimg's counts. */
static bool check_stats;

static void check_human(FILE *f, const struct img_check *c)
{
    bool stats = c->has_stats || check_stats;
    if (!(c->corruptions || c->leaks || c->check_errors)) {
        fprintf(f, "No errors were found on the image.\n");
    } else {
        if (c->corruptions)
            fprintf(f,
                    "\n%llu errors were found on the image.\n"
                    "Data may be corrupted, or further writes to the image may corrupt it.\n",
                    (unsigned long long)c->corruptions);
        if (c->leaks)
            fprintf(f,
                    "\n%llu leaked clusters were found on the image.\n"
                    "This means waste of disk space, but no harm to data.\n",
                    (unsigned long long)c->leaks);
        if (c->check_errors)
            fprintf(f, "\n%llu internal errors have occurred during the check.\n",
                    (unsigned long long)c->check_errors);
    }
    if (stats && c->total_clusters && c->allocated_clusters)
        fprintf(f,
                "%llu/%llu = %0.2f%% allocated, %0.2f%% fragmented, %0.2f%% compressed "
                "clusters\n",
                (unsigned long long)c->allocated_clusters, (unsigned long long)c->total_clusters,
                (double)c->allocated_clusters * 100.0 / (double)c->total_clusters,
                (double)c->fragmented_clusters * 100.0 / (double)c->allocated_clusters,
                (double)c->compressed_clusters * 100.0 / (double)c->allocated_clusters);
    if (stats && c->image_end_offset)
        fprintf(f, "Image end offset: %llu\n", (unsigned long long)c->image_end_offset);
}

static void check_json(FILE *f, const struct img_check *c, const char *file, const char *fmt)
{
    struct json j;
    bool stats = c->has_stats || check_stats;
    json_init(&j, f);
    json_object_open(&j, NULL);
    /* qemu-img omits zero counters (except check-errors); key order as 7.2 prints them. */
    if (stats && c->image_end_offset)
        json_uint(&j, "image-end-offset", c->image_end_offset);
    if (stats && c->compressed_clusters)
        json_uint(&j, "compressed-clusters", c->compressed_clusters);
    if (stats && c->total_clusters)
        json_uint(&j, "total-clusters", c->total_clusters);
    if (c->corruptions)
        json_uint(&j, "corruptions", c->corruptions);
    json_uint(&j, "check-errors", c->check_errors);
    if (c->leaks)
        json_uint(&j, "leaks", c->leaks);
    if (c->corruptions_fixed)
        json_uint(&j, "corruptions-fixed", c->corruptions_fixed);
    if (c->leaks_fixed)
        json_uint(&j, "leaks-fixed", c->leaks_fixed);
    if (stats && c->allocated_clusters)
        json_uint(&j, "allocated-clusters", c->allocated_clusters);
    json_string(&j, "filename", file);
    json_string(&j, "format", fmt);
    if (stats && c->fragmented_clusters)
        json_uint(&j, "fragmented-clusters", c->fragmented_clusters);
    json_object_close(&j);
}

/* `dimg check --help`. */
/* The image to check, read-write when fix asks for repairs. 0, or the exit status after
 * saying why not. */
static int check_open(const char *path, const char *fmt, unsigned fix, struct img **out)
{
    struct img_err err;
    /* Read-only first: a format without a check must say so even when -r was given. */
    /* With -r the read-write open below takes the locks (and reports a holder). */
    struct img *img = img_open(path, fmt, cli_open_flags | (fix ? IMG_OPEN_FORCE_SHARE : 0), &err);
    if (!img) {
        cli_err("%s", err.msg);
        return CHECK_EXIT_FAILED;
    }
    if (!img_driver_has(img_get_driver(img), IMG_OP_CHECK)) {
        img_close(img);
        cli_err("This image format does not support checks");
        return CHECK_EXIT_UNSUPPORTED;
    }
    if (fix) {
        const char *drvname = img_format(img);
        img_close(img);
        img = img_open(path, fmt ? fmt : drvname, cli_open_flags | IMG_OPEN_RW, &err);
        if (!img) {
            cli_err("%s", err.msg);
            return CHECK_EXIT_FAILED;
        }
    }
    *out = img;
    return 0;
}

/* The check as a job (show: with the progress bar, the report lines kept until it is gone).
 * 0, or the exit status of a cancelled job or one that could not run (its line printed). */
static int check_run_job(const char *path, struct check_run *a, bool show)
{
    if (show)
        a->lines = tmpfile(); /* NULL: lines go straight to stderr */
    int status = progress_run_job(path, check_job, a, show, NULL);
    if (a->lines) {
        rewind(a->lines);
        char buf[4096];
        size_t n;
        while ((n = fread(buf, 1, sizeof buf, a->lines)) > 0)
            fwrite(buf, 1, n, stderr);
        fclose(a->lines);
        a->lines = NULL;
    }
    return status;
}

/* The result as qemu-img check prints it, and its exit status. */
static int check_report(const struct check_run *a, const char *path, bool json, bool quiet)
{
    const struct img_check *res = &a->res;
    int r = a->r, status;
    FILE *f = cli_out_begin();
    if (r == 0 && (res->corruptions_fixed || res->leaks_fixed) && !json && !quiet)
        fprintf(f,
                "The following inconsistencies were found and repaired:\n\n"
                "    %llu leaked clusters\n"
                "    %llu corruptions\n\n"
                "Double checking the fixed image now...\n",
                (unsigned long long)res->leaks_fixed, (unsigned long long)res->corruptions_fixed);
    if (r == -ENOTSUP) {
        cli_out_discard();
        cli_err("This image format does not support checks");
        return CHECK_EXIT_UNSUPPORTED;
    }
    if (r == 0 && !quiet) {
        if (json)
            check_json(f, res, path, img_format(a->img));
        else
            check_human(f, res);
    }
    cli_out_commit();
    if (r < 0 || res->check_errors) {
        if (r < 0)
            cli_err("Check failed: %s", img_errmsg(a->img));
        else
            cli_err("Check failed");
        status = CHECK_EXIT_FAILED;
    } else if (res->corruptions) {
        status = CHECK_EXIT_CORRUPT;
    } else if (res->leaks) {
        status = CHECK_EXIT_LEAKS;
    } else {
        status = 0;
    }
    return status;
}

static const char check_usage[] =
    "usage: dimg check [-f FMT] [-r leaks|all] [--output=human|json] [-p] [-q] [--stats]\n"
    "                  FILE\n"
    "\n"
    "Check the metadata of FILE; -r repairs leaks only or all errors (opens read-write).\n"
    "Exit status: 0 consistent, 1 check failed, 2 corruptions, 3 leaks only,\n"
    "63 the format has no check.\n"
    "\n"
    "  --stats             also print the allocation counts where qemu-img prints none\n"
    "                      (vmdk)\n"
    "  -U                  force share: read an image another process holds (no locks, no\n"
    "                      warning)\n";

static int cli_check(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"help", no_argument, NULL, 'h'},         {"output", required_argument, NULL, 'O'},
        {"repair", required_argument, NULL, 'r'}, {"force-share", no_argument, NULL, 'U'},
        {"stats", no_argument, NULL, 'S'},        {NULL, 0, NULL, 0},
    };
    const char *fmt = NULL;
    bool json = false, quiet = false, progress = false;
    unsigned fix = 0;
    int c;
    while ((c = cli_getopt(argc, argv, "hf:r:pqU", longopts)) != -1) {
        switch (c) {
        case 'h': return cli_help("check");
        case 'f': fmt = optarg; break;
        case 'r':
            if (strcmp(optarg, "leaks") == 0)
                fix = IMG_FIX_LEAKS;
            else if (strcmp(optarg, "all") == 0)
                fix = IMG_FIX_LEAKS | IMG_FIX_ERRORS;
            else
                return cli_usage_err("check", "-r must be leaks or all, not '%s'", optarg);
            break;
        case 'O':
            if (cli_parse_output("check", optarg, &json))
                return 1;
            break;
        case 'q': quiet = true; break;
        case 'p': progress = true; break;
        case 'U': cli_open_flags |= IMG_OPEN_FORCE_SHARE; break;
        case 'S': check_stats = true; break;
        default: return 1;
        }
    }
    if (optind != argc - 1)
        return cli_usage_err("check", "expecting exactly one image file name");
    const char *path = argv[optind];
    struct img *img;
    int status = check_open(path, fmt, fix, &img);
    if (status)
        return status;
    struct check_run a = {.img = img, .fix = fix};
    status = check_run_job(path, &a, progress_wanted(progress, quiet));
    if (!status)
        status = check_report(&a, path, json, quiet);
    img_close(img);
    return status;
}

const struct cli_cmd cli_cmd_check = {
    .name = "check",
    .fn = cli_check,
    .summary = "check an image's consistency",
    .usage = check_usage,
};

/* cli_check.c: `dimg check`, img_check() reported like qemu-img check: the same human lines
 * and JSON keys, per-problem lines on stderr, repair with -r leaks|all followed by a second,
 * read-only-style pass, and qemu-img's exit codes (0, 1, 2, 3, 63).
 * Talks to: img.h (img_open, img_check), json.h, cli.h.
 */
#include "tui/cli.h"

#include <errno.h>
#include <string.h>

#include "core/img.h"
#include "tui/json.h"

#define CHECK_EXIT_FAILED 1
#define CHECK_EXIT_CORRUPT 2
#define CHECK_EXIT_LEAKS 3
#define CHECK_EXIT_UNSUPPORTED 63

static void check_report_line(void *ctx, const char *line)
{
    (void)ctx;
    fprintf(stderr, "%s\n", line);
}

static void check_human(FILE *f, const struct img_check *c)
{
    if (!(c->corruptions || c->leaks || c->check_errors)) {
        fprintf(f, "No errors were found on the image.\n");
    } else {
        if (c->corruptions)
            fprintf(f, "\n%llu errors were found on the image.\n"
                       "Data may be corrupted, or further writes to the image may corrupt it.\n",
                    (unsigned long long)c->corruptions);
        if (c->leaks)
            fprintf(f, "\n%llu leaked clusters were found on the image.\n"
                       "This means waste of disk space, but no harm to data.\n",
                    (unsigned long long)c->leaks);
        if (c->check_errors)
            fprintf(f, "\n%llu internal errors have occurred during the check.\n",
                    (unsigned long long)c->check_errors);
    }
    if (c->total_clusters && c->allocated_clusters)
        fprintf(f, "%llu/%llu = %0.2f%% allocated, %0.2f%% fragmented, %0.2f%% compressed "
                   "clusters\n",
                (unsigned long long)c->allocated_clusters, (unsigned long long)c->total_clusters,
                (double)c->allocated_clusters * 100.0 / (double)c->total_clusters,
                (double)c->fragmented_clusters * 100.0 / (double)c->allocated_clusters,
                (double)c->compressed_clusters * 100.0 / (double)c->allocated_clusters);
    if (c->image_end_offset)
        fprintf(f, "Image end offset: %llu\n", (unsigned long long)c->image_end_offset);
}

static void check_json(FILE *f, const struct img_check *c, const char *file, const char *fmt)
{
    struct json j;
    json_init(&j, f);
    json_object_open(&j, NULL);
    /* qemu-img omits zero counters (except check-errors); key order as 7.2 prints them. */
    if (c->image_end_offset)
        json_uint(&j, "image-end-offset", c->image_end_offset);
    if (c->compressed_clusters)
        json_uint(&j, "compressed-clusters", c->compressed_clusters);
    if (c->total_clusters)
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
    if (c->allocated_clusters)
        json_uint(&j, "allocated-clusters", c->allocated_clusters);
    json_string(&j, "filename", file);
    json_string(&j, "format", fmt);
    if (c->fragmented_clusters)
        json_uint(&j, "fragmented-clusters", c->fragmented_clusters);
    json_object_close(&j);
}

int cli_check(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"help", no_argument, NULL, 'h'},
        {"output", required_argument, NULL, 'O'},
        {"repair", required_argument, NULL, 'r'},
        {"force-share", no_argument, NULL, 'U'},
        {NULL, 0, NULL, 0},
    };
    const char *fmt = NULL;
    bool json = false, quiet = false;
    unsigned fix = 0;
    int c;
    while ((c = cli_getopt(argc, argv, "hf:r:qU", longopts)) != -1) {
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
        case 'U': break;
        default: return 1;
        }
    }
    if (optind != argc - 1)
        return cli_usage_err("check", "expecting exactly one image file name");
    const char *path = argv[optind];
    struct img_err err;
    /* Read-only first: a format without a check must say so even when -r was given. */
    struct img *img = img_open(path, fmt, cli_open_flags, &err);
    if (!img) {
        cli_err("%s", err.msg);
        return CHECK_EXIT_FAILED;
    }
    if (!img->drv->check) {
        img_close(img);
        cli_err("This image format does not support checks");
        return CHECK_EXIT_UNSUPPORTED;
    }
    if (fix) {
        const char *drvname = img->drv->name;
        img_close(img);
        img = img_open(path, fmt ? fmt : drvname, cli_open_flags | IMG_OPEN_RW, &err);
        if (!img) {
            cli_err("%s", err.msg);
            return CHECK_EXIT_FAILED;
        }
    }
    struct img_check res;
    memset(&res, 0, sizeof res);
    res.report = check_report_line;
    int r = img_check(img, &res, fix);
    FILE *f = cli_out_begin();
    if (r == 0 && (res.corruptions_fixed || res.leaks_fixed)) {
        uint64_t cf = res.corruptions_fixed, lf = res.leaks_fixed;
        if (!json && !quiet)
            fprintf(f, "The following inconsistencies were found and repaired:\n\n"
                       "    %llu leaked clusters\n"
                       "    %llu corruptions\n\n"
                       "Double checking the fixed image now...\n",
                    (unsigned long long)lf, (unsigned long long)cf);
        memset(&res, 0, sizeof res);
        res.report = check_report_line;
        r = img_check(img, &res, 0);
        res.corruptions_fixed = cf;
        res.leaks_fixed = lf;
    }
    if (r == -ENOTSUP) {
        cli_out_discard();
        img_close(img);
        cli_err("This image format does not support checks");
        return CHECK_EXIT_UNSUPPORTED;
    }
    if (r == 0 && !quiet) {
        if (json)
            check_json(f, &res, path, img->drv->name);
        else
            check_human(f, &res);
    }
    cli_out_commit();
    int status;
    if (r < 0 || res.check_errors) {
        if (r < 0)
            cli_err("Check failed: %s", img_errmsg(img));
        else
            cli_err("Check failed");
        status = CHECK_EXIT_FAILED;
    } else if (res.corruptions) {
        status = CHECK_EXIT_CORRUPT;
    } else if (res.leaks) {
        status = CHECK_EXIT_LEAKS;
    } else {
        status = 0;
    }
    img_close(img);
    return status;
}

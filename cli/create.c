/* SPDX-License-Identifier: GPL-2.0-or-later */
/* cli/create.c: `dimg create`, a new image like qemu-img create (-f, -o, -b/-F, size
 * suffixes, -o help). Talks to: img.h (img_create, img_open for the backing size), cli.h.
 */
#include "cli/cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/block/img.h"
#include "core/describe/describe.h"

static int create_opts_help(const char *fmt)
{
    const struct img_driver *drv = img_driver_find(fmt);
    struct img_err err;
    if (!drv && img_foreign_refuse(fmt, NULL, &err) < 0) {
        cli_err("%s", err.msg);
        return 1;
    }
    if (!drv) {
        cli_err("unknown format '%s'", fmt);
        return 1;
    }
    if (!img_driver_has(drv, IMG_OP_CREATE)) {
        cli_err("%s: creating images is not supported", fmt);
        return 1;
    }
    printf("Supported %s options:\n", fmt);
    printf("  %-22s - %s\n", "size=<size>", "Virtual disk size");
    for (const struct img_opt_desc *d = img_driver_create_opts(drv); d && d->name; d++) {
        char lhs[96];
        const char *t = d->type ? d->type : "string";
        const char *shown = strcmp(t, "size") == 0   ? "size"
                            : strcmp(t, "bool") == 0 ? "bool (on/off)"
                            : strcmp(t, "int") == 0  ? "num"
                                                     : "str";
        snprintf(lhs, sizeof lhs, "%s=<%s>", d->name, shown);
        if (strncmp(t, "enum:", 5) == 0)
            printf("  %-22s - %s (allowed values: %s)\n", lhs, d->help ? d->help : "", t + 5);
        else
            printf("  %-22s - %s\n", lhs, d->help ? d->help : "");
    }
    return 0;
}

/* The usage text, then the formats that can be created, from the registry (as qemu-img
 * --help ends with its supported formats); scripts and tests enumerate formats from it. */
static int create_help(void)
{
    cli_help("create");
    size_t n;
    const struct img_driver *const *list = img_driver_list(&n);
    printf("\nSupported formats:");
    for (size_t i = 0; i < n; i++)
        if (img_driver_has(list[i], IMG_OP_CREATE))
            printf(" %s", img_driver_name(list[i]));
    printf("\n");
    return 0;
}

/* Size of the backing image, opened the way the new image will find it. */
static int create_backing_image_size(const char *file, const char *backing, const char *bfmt,
                                     uint64_t *size)
{
    char *full = describe_path_combine(file, backing);
    struct img_err err;
    if (!full) {
        cli_err("out of memory");
        return -ENOMEM;
    }
    struct img *b = img_open(full, bfmt, cli_open_flags & IMG_OPEN_UNTRUSTED, &err);
    free(full);
    if (!b) {
        cli_err("could not open backing file: %s", err.msg);
        return err.code ? err.code : -EIO;
    }
    *size = img_size(b);
    img_close(b);
    return 0;
}

/* `dimg create --help`. */
static const char create_usage[] =
    "usage: dimg create -f FMT [-o OPTIONS] [-b BACKING -F BACKING_FMT [-u]] FILE [SIZE]\n"
    "\n"
    "Create FILE of format FMT and SIZE bytes (suffixes k, M, G, T, P, E: powers of 1024).\n"
    "With -b, SIZE defaults to the backing image's size.\n"
    "\n"
    "  -f FMT              format of the new image\n"
    "  -o k=v,...          format options (-o help lists them; ',,' escapes a comma)\n"
    "  -b BACKING          backing file (relative names are relative to FILE's directory)\n"
    "  -F BACKING_FMT      format of the backing file (required with -b)\n"
    "  -u                  do not open the backing file (SIZE is then required)\n"
    "  -q                  quiet\n";

/* What the command line asked for. */
struct create_args {
    const char *fmt, *backing, *bfmt, *file;
    bool quiet, no_open, opts_help;
    uint64_t size;
    struct img_opts opts;
};

/* The options and FILE into a. Returns -1 to go on, else the exit status. */
static int create_parse(int argc, char **argv, struct create_args *a)
{
    static const struct option longopts[] = {
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct img_err err = {0};
    int c;
    while ((c = cli_getopt(argc, argv, "hf:o:b:F:uq", longopts)) != -1) {
        switch (c) {
        case 'h': return create_help();
        case 'f': a->fmt = optarg; break;
        case 'o':
            if (strcmp(optarg, "help") == 0 || strcmp(optarg, "?") == 0) {
                a->opts_help = true;
            } else if (img_opts_parse(&a->opts, optarg, &err) < 0) {
                cli_err("%s", err.msg);
                return 1;
            }
            break;
        case 'b': a->backing = optarg; break;
        case 'F': a->bfmt = optarg; break;
        case 'u': a->no_open = true; break;
        case 'q': a->quiet = true; break;
        default: return 1;
        }
    }
    if (!a->fmt)
        return cli_usage_err("create", "the format is required (-f FMT)");
    if (a->opts_help)
        return create_opts_help(a->fmt);
    if (optind >= argc || argc - optind > 2)
        return cli_usage_err("create", "expecting FILE [SIZE]");
    a->file = argv[optind];
    return -1;
}

/* The backing file, its format and the size, from -b, -F and SIZE (sizearg, or NULL) or from
 * their -o spellings; the backing image's size when none is given. -1 to go on, else the exit
 * status. */
static int create_backing_size(const char *sizearg, struct create_args *a)
{
    struct img_err err = {0};
    /* -o backing_file/backing_fmt/size are the same as -b/-F/SIZE. */
    const char *ob = img_opts_take(&a->opts, "backing_file");
    const char *obf = img_opts_take(&a->opts, "backing_fmt");
    if (ob && !a->backing)
        a->backing = ob;
    if (obf && !a->bfmt)
        a->bfmt = obf;
    int r = img_opts_take_size(&a->opts, "size", &a->size, &err);
    if (r < 0) {
        cli_err("%s", err.msg);
        return 1;
    }
    bool have_size = r == 1;
    if (sizearg) {
        if (img_parse_size(sizearg, &a->size) < 0) {
            cli_err("invalid image size '%s': use a number with an optional suffix k, M, G, "
                    "T, P or E (at most 8 EiB - 1)",
                    sizearg);
            return 1;
        }
        have_size = true;
    }
    /* A differencing vdi's parent is a vdi by definition: -F is optional there. */
    if (a->backing && !a->bfmt && strcmp(a->fmt, "vdi") == 0)
        a->bfmt = "vdi";
    if (a->backing && !a->bfmt) {
        cli_err("%s: backing file specified without backing format (add -F FMT)", a->file);
        return 1;
    }
    if (!a->backing && a->bfmt)
        return cli_usage_err("create", "-F needs a backing file (-b)");
    if (!have_size) {
        if (!a->backing || a->no_open)
            return cli_usage_err("create", "the image size is required");
        if (create_backing_image_size(a->file, a->backing, a->bfmt, &a->size) < 0)
            return 1;
    }
    return -1;
}

/* The line qemu-img prints, made before create takes (marks) the options. */
static void create_line(char *line, size_t n, const struct create_args *a)
{
    int k = snprintf(line, n, "Formatting '%s', fmt=%s size=%llu", a->file, a->fmt,
                     (unsigned long long)a->size);
    if (a->backing && k > 0 && (size_t)k < n)
        k += snprintf(line + k, n - (size_t)k, " backing_file=%s backing_fmt=%s", a->backing,
                      a->bfmt);
    for (size_t i = 0; i < a->opts.n && k > 0 && (size_t)k < n; i++)
        if (!a->opts.kv[i].taken)
            k += snprintf(line + k, n - (size_t)k, " %s=%s", a->opts.kv[i].key, a->opts.kv[i].val);
}

/* Create the image and say so; the exit status. */
static int create_run(struct create_args *a)
{
    struct img_err err = {0};
    char line[2048];
    create_line(line, sizeof line, a);
    struct img_create_req req = {
        .size = a->size,
        .backing_file = a->backing,
        .backing_fmt = a->bfmt,
        .opts = &a->opts,
    };
    cli_secret_warn_weak(&a->opts);
    if (img_create(a->fmt, a->file, &req, &err) < 0) {
        cli_err("%s", err.msg);
        return 1;
    }
    if (!a->quiet)
        printf("%s\n", line);
    return 0;
}

static int cli_create(int argc, char **argv)
{
    struct create_args a = {0};
    int status = create_parse(argc, argv, &a);
    if (status < 0)
        status = create_backing_size(optind + 1 < argc ? argv[optind + 1] : NULL, &a);
    if (status < 0)
        status = create_run(&a);
    img_opts_free(&a.opts);
    return status;
}

const struct cli_cmd cli_cmd_create = {
    .name = "create",
    .fn = cli_create,
    .summary = "create a new image",
    .usage = create_usage,
};

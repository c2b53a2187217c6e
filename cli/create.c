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
    if (!drv->create) {
        cli_err("%s: creating images is not supported", fmt);
        return 1;
    }
    printf("Supported %s options:\n", fmt);
    printf("  %-22s - %s\n", "size=<size>", "Virtual disk size");
    for (const struct img_opt_desc *d = drv->create_opts; d && d->name; d++) {
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
        if (list[i]->create)
            printf(" %s", list[i]->name);
    printf("\n");
    return 0;
}

/* Size of the backing image, opened the way the new image will find it. */
static int create_backing_size(const char *file, const char *backing, const char *bfmt,
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
    *size = b->size;
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

static int cli_create(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *fmt = NULL, *backing = NULL, *bfmt = NULL;
    bool quiet = false, no_open = false, help = false;
    struct img_opts opts = {0};
    struct img_err err = {0};
    int c, status = 1;
    while ((c = cli_getopt(argc, argv, "hf:o:b:F:uq", longopts)) != -1) {
        switch (c) {
        case 'h': img_opts_free(&opts); return create_help();
        case 'f': fmt = optarg; break;
        case 'o':
            if (strcmp(optarg, "help") == 0 || strcmp(optarg, "?") == 0) {
                help = true;
            } else if (img_opts_parse(&opts, optarg, &err) < 0) {
                cli_err("%s", err.msg);
                goto out;
            }
            break;
        case 'b': backing = optarg; break;
        case 'F': bfmt = optarg; break;
        case 'u': no_open = true; break;
        case 'q': quiet = true; break;
        default: goto out;
        }
    }
    if (!fmt) {
        status = cli_usage_err("create", "the format is required (-f FMT)");
        goto out;
    }
    if (help) {
        status = create_opts_help(fmt);
        goto out;
    }
    if (optind >= argc || argc - optind > 2) {
        status = cli_usage_err("create", "expecting FILE [SIZE]");
        goto out;
    }
    const char *file = argv[optind];
    /* -o backing_file/backing_fmt/size are the same as -b/-F/SIZE. */
    const char *ob = img_opts_take(&opts, "backing_file");
    const char *obf = img_opts_take(&opts, "backing_fmt");
    if (ob && !backing)
        backing = ob;
    if (obf && !bfmt)
        bfmt = obf;
    uint64_t size = 0;
    bool have_size = false;
    int r = img_opts_take_size(&opts, "size", &size, &err);
    if (r < 0) {
        cli_err("%s", err.msg);
        goto out;
    }
    have_size = r == 1;
    if (optind + 1 < argc) {
        if (img_parse_size(argv[optind + 1], &size) < 0) {
            cli_err("invalid image size '%s': use a number with an optional suffix k, M, G, "
                    "T, P or E (at most 8 EiB - 1)",
                    argv[optind + 1]);
            goto out;
        }
        have_size = true;
    }
    /* A differencing vdi's parent is a vdi by definition: -F is optional there. */
    if (backing && !bfmt && strcmp(fmt, "vdi") == 0)
        bfmt = "vdi";
    if (backing && !bfmt) {
        cli_err("%s: backing file specified without backing format (add -F FMT)", file);
        goto out;
    }
    if (!backing && bfmt) {
        status = cli_usage_err("create", "-F needs a backing file (-b)");
        goto out;
    }
    if (!have_size) {
        if (!backing || no_open) {
            status = cli_usage_err("create", "the image size is required");
            goto out;
        }
        if (create_backing_size(file, backing, bfmt, &size) < 0)
            goto out;
    }

    /* The line qemu-img prints, made before create takes (marks) the options. */
    char line[2048];
    int k = snprintf(line, sizeof line, "Formatting '%s', fmt=%s size=%llu", file, fmt,
                     (unsigned long long)size);
    if (backing && k > 0 && (size_t)k < sizeof line)
        k += snprintf(line + k, sizeof line - (size_t)k, " backing_file=%s backing_fmt=%s", backing,
                      bfmt);
    for (size_t i = 0; i < opts.n && k > 0 && (size_t)k < sizeof line; i++)
        if (!opts.kv[i].taken)
            k += snprintf(line + k, sizeof line - (size_t)k, " %s=%s", opts.kv[i].key,
                          opts.kv[i].val);

    struct img_create_req req = {
        .size = size,
        .backing_file = backing,
        .backing_fmt = bfmt,
        .opts = &opts,
    };
    cli_secret_warn_weak(&opts);
    if (img_create(fmt, file, &req, &err) < 0) {
        cli_err("%s", err.msg);
        goto out;
    }
    if (!quiet)
        printf("%s\n", line);
    status = 0;
out:
    img_opts_free(&opts);
    return status;
}

const struct cli_cmd cli_cmd_create = {
    .name = "create",
    .fn = cli_create,
    .summary = "create a new image",
    .usage = create_usage,
};

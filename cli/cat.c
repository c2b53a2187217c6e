/* SPDX-License-Identifier: GPL-2.0-or-later */
/* cli/cat.c: `dimg cat`, one file of a guest filesystem inside an image, to stdout exactly
 * (binary-safe), read-only. Talks to core/fs/fs.h (through fs_cli.h), cli.h.
 */
#include "cli/cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/fs_cli.h"

static const char cat_usage[] =
    "usage: dimg cat [-f FMT] [-U] IMAGE[#VOL]:/PATH\n"
    "\n"
    "Write the file PATH of the filesystem inside IMAGE to standard output, byte for byte\n"
    "(read-only; symbolic links are followed inside the image).\n"
    "\n"
    "  -U                  force share: read an image another process holds\n";

#define CAT_CHUNK (1u << 20)

static int cat_write(const uint8_t *p, size_t n)
{
    while (n) {
        ssize_t w = write(STDOUT_FILENO, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Copy the file at path to stdout: 0, or -1 after printing the error. */
static int cat_run(struct fs *fs, const char *image, const char *path)
{
    struct fs_stat st;
    if (fs_lookup(fs, path, true, &st) < 0) {
        cli_err("%s: %s", image, fs->err.msg);
        return -1;
    }
    if (st.type == FS_T_DIR) {
        cli_err("%s: is a directory", path);
        return -1;
    }
    if (st.type != FS_T_REG) {
        cli_err("%s: not a regular file (%s)", path, fs_cli_type_name(st.type));
        return -1;
    }
    uint8_t *buf = malloc(CAT_CHUNK);
    if (!buf) {
        cli_err("out of memory");
        return -1;
    }
    int r = 0;
    for (uint64_t off = 0; off < st.size;) {
        size_t want = st.size - off < CAT_CHUNK ? (size_t)(st.size - off) : CAT_CHUNK;
        ssize_t n = fs_read(fs, st.ino, off, buf, want);
        if (n <= 0) {
            cli_err("%s:%s: %s", image, path, n < 0 ? fs->err.msg : "file ends early");
            r = -1;
            break;
        }
        if (cat_write(buf, (size_t)n) < 0) {
            if (errno != EPIPE)
                cli_err("writing to standard output: %s", strerror(errno));
            r = -1;
            break;
        }
        off += (uint64_t)n;
    }
    free(buf);
    return r;
}

static int cli_cat(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"help", no_argument, NULL, 'h'},
        {"format", required_argument, NULL, 'f'},
        {"force-share", no_argument, NULL, 'U'},
        {NULL, 0, NULL, 0},
    };
    const char *fmt = NULL;
    int o;
    while ((o = cli_getopt(argc, argv, "hf:U", longopts)) != -1) {
        switch (o) {
        case 'h': return cli_help("cat");
        case 'f': fmt = optarg; break;
        case 'U': cli_open_flags |= IMG_OPEN_FORCE_SHARE; break;
        default: return 1;
        }
    }
    if (optind != argc - 1)
        return cli_usage_err("cat", "expecting one IMAGE[#VOL]:/PATH");
    struct fs_addr a;
    struct fs_handle h;
    if (fs_cli_open(argv[optind], fmt, true, &a, &h) < 0)
        return 1;
    int r = cat_run(h.fs, a.image, a.path);
    fs_cli_close(&a, &h);
    return r < 0 ? 1 : 0;
}

const struct cli_cmd cli_cmd_cat = {
    .name = "cat",
    .fn = cli_cat,
    .summary = "write a file of a filesystem inside an image to stdout",
    .usage = cat_usage,
};

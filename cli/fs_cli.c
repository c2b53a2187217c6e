/* SPDX-License-Identifier: GPL-2.0-or-later */
/* fs_cli.c: helpers of the commands that look inside images (see fs_cli.h). */
#include "cli/fs_cli.h"

#include <string.h>

#include "cli/cli.h"

int fs_cli_open(const char *addr, const char *fmt, bool need_path, struct fs_addr *a,
                struct fs_handle *h)
{
    struct img_err err = {0};
    memset(h, 0, sizeof *h);
    if (fs_addr_parse(addr, a, &err) < 0) {
        cli_err("%s", err.msg);
        return -1;
    }
    if (!a->path && need_path) {
        cli_err("%s: name a path inside the image: IMAGE[#VOL]:/PATH", a->image);
        fs_addr_free(a);
        return -1;
    }
    if (!a->path && !(a->path = strdup("/"))) {
        cli_err("out of memory");
        fs_addr_free(a);
        return -1;
    }
    if (fs_handle_open(a, fmt, cli_open_flags, h, &err) < 0) {
        cli_err("%s", err.msg);
        fs_addr_free(a);
        return -1;
    }
    return 0;
}

void fs_cli_close(struct fs_addr *a, struct fs_handle *h)
{
    fs_handle_close(h);
    fs_addr_free(a);
}

const char *fs_cli_type_name(enum fs_type t)
{
    static const char *const names[] = {"file", "dir",  "symlink", "chr",
                                        "blk",  "fifo", "socket",  "other"};
    return (unsigned)t < sizeof names / sizeof names[0] ? names[t] : "other";
}

void fs_cli_mode_str(const struct fs_stat *st, char buf[11])
{
    static const char types[] = "-dlcbps?";
    unsigned m = st->mode;
    buf[0] = (unsigned)st->type < sizeof types - 1 ? types[st->type] : '?';
    const char *rwx = "rwxrwxrwx";
    for (int i = 0; i < 9; i++)
        buf[1 + i] = (m & (0400u >> i)) ? rwx[i] : '-';
    if (m & 04000)
        buf[3] = (m & 0100) ? 's' : 'S';
    if (m & 02000)
        buf[6] = (m & 0010) ? 's' : 'S';
    if (m & 01000)
        buf[9] = (m & 0001) ? 't' : 'T';
    buf[10] = '\0';
}

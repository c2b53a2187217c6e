/* SPDX-License-Identifier: GPL-2.0-or-later */
/* fs_cli.h: what the commands that look inside images share (cli/ls.c, cli/cat.c, cli/get.c,
 * cli/volumes.c): opening IMAGE[#VOL][:/PATH] with one error line, and the names of node types
 * and modes as ls shows them. Talks to core/fs/fs.h and cli.h.
 */
#ifndef DIMG_FS_CLI_H
#define DIMG_FS_CLI_H

#include <stdbool.h>

#include "core/fs/fs.h"

/* Parse addr and open it (fmt: -f, or NULL); the path defaults to "/" unless need_path (then
 * its absence is the error). Prints the error line and returns -1 on failure. */
int fs_cli_open(const char *addr, const char *fmt, bool need_path, struct fs_addr *a,
                struct fs_handle *h);
void fs_cli_close(struct fs_addr *a, struct fs_handle *h);
/* "file", "dir", "symlink", "chr", "blk", "fifo", "socket", "other". */
const char *fs_cli_type_name(enum fs_type t);
/* "drwxr-xr-x" into buf (11 bytes). */
void fs_cli_mode_str(const struct fs_stat *st, char buf[11]);

#endif

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* ext.c: the ext2/3/4 reader (not written yet: recognises nothing). Talks to core/fs/fs.h. */
#include "core/fs/fs.h"

const struct fs_driver fs_driver_ext = {.name = "ext"};

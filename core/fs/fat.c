/* SPDX-License-Identifier: GPL-2.0-or-later */
/* fat.c: the FAT12/16/32 reader (not written yet: recognises nothing). Talks to core/fs/fs.h. */
#include "core/fs/fs.h"

const struct fs_driver fs_driver_fat = {.name = "fat"};

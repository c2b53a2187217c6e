/* SPDX-License-Identifier: GPL-2.0-or-later */
/* fs_drivers.h: the guest filesystem readers, in probe order. A reader is one file in core/fs/
 * defining `const struct fs_driver fs_driver_NAME` and one X(NAME) line here; fs.c expands the
 * list into its table. Included only by core/fs/fs.c.
 */
#ifndef DIMG_FS_DRIVERS_H
#define DIMG_FS_DRIVERS_H

#include "core/fs/fs.h"

#define FS_DRIVER_LIST                                                                             \
    X(ext)                                                                                         \
    X(ntfs)                                                                                        \
    X(exfat)                                                                                       \
    X(fat)                                                                                         \
    X(iso)

#define X(name) extern const struct fs_driver fs_driver_##name;
FS_DRIVER_LIST
#undef X

#endif

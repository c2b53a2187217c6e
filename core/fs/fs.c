/* SPDX-License-Identifier: GPL-2.0-or-later */
/* fs.c: the guest filesystem registry (fs_drivers.h). Called by cli/ and tui/ through
 * core/fs/fs.h. */
#include "core/fs/fs.h"
#include "core/fs/fs_drivers.h"

static const struct fs_driver *const fs_drivers[] = {
#define X(name) &fs_driver_##name,
    FS_DRIVER_LIST
#undef X
};

const struct fs_driver *const *fs_driver_list(size_t *n)
{
    *n = sizeof fs_drivers / sizeof fs_drivers[0];
    return fs_drivers;
}

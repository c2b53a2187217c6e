/* SPDX-License-Identifier: GPL-2.0-or-later */
/* iso.c: the ISO 9660 and UDF reader (not written yet: recognises nothing). Talks to core/fs/fs.h.
 */
#include "core/fs/fs.h"

const struct fs_driver fs_driver_iso = {.name = "iso"};

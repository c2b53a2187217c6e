/* SPDX-License-Identifier: GPL-2.0-or-later */
/* drivers.h: the driver objects formats/ export; only registry.c and tests use it. */
#ifndef DIMG_DRIVERS_H
#define DIMG_DRIVERS_H

#include "core/block/driver.h"

/* Every driver, in probe order: cheap magic checks first, raw last because it accepts
 * anything; ties in probe scores go to the earlier entry, and the first that can create
 * images is the application's default convert target. A new format is one file defining
 * img_driver_NAME and one X(NAME) line here. */
#define IMG_DRIVER_LIST(X)                                                                         \
    X(qcow2)                                                                                       \
    X(qcow)                                                                                        \
    X(cow)                                                                                         \
    X(ucow)                                                                                        \
    X(vdi)                                                                                         \
    X(vmdk)                                                                                        \
    X(vpc)                                                                                         \
    X(bochs)                                                                                       \
    X(cloop)                                                                                       \
    X(dmg)                                                                                         \
    X(luks)                                                                                        \
    X(raw)

#define IMG_DRIVER_DECLARE(n) extern const struct img_driver img_driver_##n;
IMG_DRIVER_LIST(IMG_DRIVER_DECLARE)
#undef IMG_DRIVER_DECLARE

#endif

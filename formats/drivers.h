/* SPDX-License-Identifier: GPL-2.0-or-later */
/* drivers.h: the driver objects formats/ export; only registry.c and tests use it. */
#ifndef DIMG_DRIVERS_H
#define DIMG_DRIVERS_H

#include "core/block/img.h"

extern const struct img_driver img_driver_raw;
extern const struct img_driver img_driver_qcow2;
extern const struct img_driver img_driver_qcow;
extern const struct img_driver img_driver_cow;
extern const struct img_driver img_driver_ucow;
extern const struct img_driver img_driver_vdi;
extern const struct img_driver img_driver_vmdk;

#endif

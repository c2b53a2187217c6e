/* SPDX-License-Identifier: GPL-2.0-or-later */
/* registry.c: the table of format drivers, made from IMG_DRIVER_LIST (drivers.h, where the
 * order is explained), and the lookups on it. */
#include "formats/drivers.h"

#include <string.h>

#define IMG_DRIVER_ENTRY(n) &img_driver_##n,
static const struct img_driver *const drivers[] = {IMG_DRIVER_LIST(IMG_DRIVER_ENTRY)};
#undef IMG_DRIVER_ENTRY

const struct img_driver *const *img_driver_list(size_t *n)
{
    *n = sizeof drivers / sizeof *drivers;
    return drivers;
}

const struct img_driver *img_driver_find(const char *name)
{
    for (size_t i = 0; i < sizeof drivers / sizeof *drivers; i++)
        if (strcmp(drivers[i]->name, name) == 0)
            return drivers[i];
    return NULL;
}

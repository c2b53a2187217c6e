/* SPDX-License-Identifier: GPL-2.0-or-later */
/* registry.c: the list of format drivers, in probe order (cheap magic checks first, raw last
 * because it accepts anything). Ties in probe scores go to the earlier entry. */
#include "formats/drivers.h"

#include <string.h>

static const struct img_driver *const drivers[] = {
    &img_driver_qcow2, &img_driver_qcow, &img_driver_cow, &img_driver_ucow,
    &img_driver_vdi,   &img_driver_vmdk, &img_driver_raw,
};

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

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* fuzz_ovf.c: libFuzzer target for the OVF descriptor reader (core/archive/ovf.c): any bytes parse
 * or give an error; what a parse returns is read whole (every string terminated, counts
 * within OVF_MAX_ITEMS), and the allocation-unit parser sees the same text.
 */
#include "core/archive/ovf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ovf *o = NULL;
    struct img_err err;
    if (ovf_parse((const char *)data, size, &o, &err) == 0) {
        if (o->nfiles > OVF_MAX_ITEMS || o->ndisks > OVF_MAX_ITEMS || o->nctrl > OVF_MAX_ITEMS)
            abort();
        size_t n = strlen(o->name) + strlen(o->os);
        for (size_t i = 0; i < o->nfiles; i++)
            n += strlen(o->files[i].id) + strlen(o->files[i].href);
        for (size_t i = 0; i < o->ndisks; i++)
            n += strlen(o->disks[i].id) + strlen(o->disks[i].file_ref) + strlen(o->disks[i].href) +
                 strlen(o->disks[i].format);
        for (size_t i = 0; i < o->nctrl; i++)
            n += strlen(o->ctrl[i].type);
        (void)n;
        ovf_free(o);
    }
    char *s = malloc(size + 1);
    if (s) {
        memcpy(s, data, size);
        s[size] = 0;
        uint64_t mult;
        (void)ovf_units(s, &mult);
        free(s);
    }
    return 0;
}

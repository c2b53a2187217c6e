/* SPDX-License-Identifier: GPL-2.0-or-later */
/* fuzz_vmdk_desc.c: libFuzzer target for the vmdk descriptor parser (formats/vmdk_desc.c).
 *
 * Parses the input as descriptor text; when that succeeds, renders it back and checks that the
 * rendering parses again and renders to the same text (what dimg writes when it rewrites a
 * descriptor must mean what it read), and exercises the key/extent setters on the result.
 */
#include "formats/vmdk.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct vmdk_desc d;
    struct img_err err;
    memset(&d, 0, sizeof d);
    if (vmdk_desc_parse((const char *)data, size, &d, &err) != 0) {
        vmdk_desc_free(&d);
        return 0;
    }
    (void)vmdk_desc_get(&d, "ddb.adapterType");
    size_t n1 = 0;
    char *t1 = vmdk_desc_format(&d, &n1);
    if (t1) {
        struct vmdk_desc d2;
        memset(&d2, 0, sizeof d2);
        if (vmdk_desc_parse(t1, n1, &d2, &err) != 0) {
            fprintf(stderr, "rendered descriptor does not parse: %s\n---\n%s\n", err.msg, t1);
            abort();
        }
        size_t n2 = 0;
        char *t2 = vmdk_desc_format(&d2, &n2);
        if (t2 && (n1 != n2 || memcmp(t1, t2, n1) != 0)) {
            fprintf(stderr, "descriptor rendering is not stable:\n---\n%s\n---\n%s\n", t1, t2);
            abort();
        }
        free(t2);
        vmdk_desc_free(&d2);
        free(t1);
    }
    (void)vmdk_desc_set(&d, "ddb.geometry.heads", "16", true);
    (void)vmdk_desc_add_extent(&d, VMDK_RW, 2048, VMDK_FLAT, "fuzz-flat.vmdk", 0);
    size_t n3 = 0;
    free(vmdk_desc_format(&d, &n3));
    vmdk_desc_free(&d);
    return 0;
}

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* fuzz_opts.c: libFuzzer target for the size and option parsers (core/block/opts.c) and the
 * preallocation names (formats/registry.c).
 *
 * The input is one NUL-terminated string: parsed as a size (and a parsed size formatted back),
 * and as a -o option list whose values are then taken as sizes and booleans, the way the
 * create drivers take them.
 */
#include "core/block/driver.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = 0;

    uint64_t v = 0;
    if (img_parse_size(s, &v) == 0) {
        char buf[64];
        (void)img_fmt_size(v, buf, sizeof buf);
    }
    enum img_prealloc pa;
    (void)img_prealloc_parse(s, &pa);

    struct img_opts o = {0};
    struct img_err err;
    if (img_opts_parse(&o, s, &err) == 0) {
        for (size_t i = 0; i < o.n; i++) {
            uint64_t sz;
            bool b;
            char *key = strdup(o.kv[i].key);
            if (!key)
                break;
            if (i & 1)
                (void)img_opts_take_bool(&o, key, &b, &err);
            else
                (void)img_opts_take_size(&o, key, &sz, &err);
            free(key);
        }
        (void)img_opts_take(&o, "cluster_size");
        (void)img_opts_check_all_taken(&o, "qcow2", &err);
    }
    img_opts_free(&o);
    free(s);
    return 0;
}

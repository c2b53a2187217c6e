/* SPDX-License-Identifier: GPL-2.0-or-later */
/* foreign.c: recognisers for image formats dimg does not read yet (VHDX, QED, Parallels), so
 * that such a file is refused by name instead of being read as raw bytes (a VHDX's guest data is
 * not its file's bytes; converting it as raw would write a wrong disk).
 *
 * Pure byte checks, no I/O: core/block/img.c hands over the file's first bytes (and its last
 * 512, which no format here needs today) and asks only when no driver claimed the
 * file, so a guest sector of a real image that happens to hold one of these magics never
 * matters. Names are qemu-img's format names, so "-f NAME" messages line up with qemu-img.
 */
#include "core/block/driver.h"

#include <string.h>

static bool foreign_at(const uint8_t *buf, size_t len, size_t off, const char *magic, size_t n)
{
    return off <= len && n <= len - off && memcmp(buf + off, magic, n) == 0;
}

static bool foreign_vhdx(const uint8_t *h, size_t hn, const uint8_t *t, size_t tn)
{
    (void)t, (void)tn;
    return foreign_at(h, hn, 0, "vhdxfile", 8);
}

static bool foreign_qed(const uint8_t *h, size_t hn, const uint8_t *t, size_t tn)
{
    (void)t, (void)tn;
    return foreign_at(h, hn, 0, "QED\0", 4);
}

static bool foreign_parallels(const uint8_t *h, size_t hn, const uint8_t *t, size_t tn)
{
    (void)t, (void)tn;
    return foreign_at(h, hn, 0, "WithoutFreeSpace", 16) ||
           foreign_at(h, hn, 0, "WithouFreSpacExt", 16);
}

static const struct img_foreign foreign_formats[] = {
    {"vhdx", "VHDX", foreign_vhdx},
    {"qed", "QED", foreign_qed},
    {"parallels", "Parallels", foreign_parallels},
};

const struct img_foreign *img_foreign_probe(const uint8_t *head, size_t hn, const uint8_t *tail,
                                            size_t tn)
{
    for (size_t i = 0; i < sizeof foreign_formats / sizeof *foreign_formats; i++)
        if (foreign_formats[i].match(head, hn, tail, tn))
            return &foreign_formats[i];
    return NULL;
}

const struct img_foreign *img_foreign_find(const char *name)
{
    for (size_t i = 0; i < sizeof foreign_formats / sizeof *foreign_formats; i++)
        if (strcmp(foreign_formats[i].name, name) == 0)
            return &foreign_formats[i];
    return NULL;
}

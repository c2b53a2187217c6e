/* SPDX-License-Identifier: GPL-2.0-or-later */
/* fuzz_theme.c: libFuzzer target for the theme parser (tui/theme.c, curses-free).
 *
 * The first byte picks the colour tier and the glyph set; the rest is parsed as a .theme file
 * named inside a directory that does not exist, so a relative `inherit` finds nothing and
 * `inherit = default` takes the built-in.
 */
#include "tui/theme.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const int tiers[] = {0, 2, 8, 16, 88, 256, 1 << 24, -1};
    if (size < 1)
        return 0;
    int colors = tiers[data[0] & 7];
    bool utf8 = data[0] & 8;
    struct theme t;
    memset(&t, 0, sizeof t);
    (void)theme_parse_buf(&t, (const char *)data + 1, size - 1, "/nonexistent-fuzz-dir/fuzz.theme",
                          colors, utf8);
    for (int g = 0; g < THEME_G_COUNT; g++)
        (void)strlen(theme_glyph(&t, (enum theme_glyph)g));
    theme_free(&t);
    return 0;
}

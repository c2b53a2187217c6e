/* SPDX-License-Identifier: GPL-2.0-or-later */
/* theme_curses.c: applies a resolved theme to ncurses (see theme_curses.h): one colour pair
 * per distinct (fg, bg), attributes mapped to A_*, direct colours on truecolor terminals.
 * Talks to: ncursesw, theme.h.
 */
#include "tui/theme_curses.h"

static attr_t attr_table[THEME_E_COUNT];

int theme_curses_colors(void)
{
    if (!has_colors())
        return 0;
    if (COLORS >= THEME_TRUECOLOR)
        return THEME_TRUECOLOR;
    if (COLORS >= 256)
        return 256;
    if (COLORS >= 16)
        return 16;
    return COLORS >= 8 ? 8 : 0;
}

/* xterm's colour for a palette index (8-255), for direct-colour terminals, which read every
 * colour number from 8 up as 0xrrggbb. 0-7 stay: the terminal's own ANSI colours. */
static int palette_rgb(int c)
{
    static const int ansi_bright[8] = {0x7f7f7f, 0xff0000, 0x00ff00, 0xffff00,
                                       0x5c5cff, 0xff00ff, 0x00ffff, 0xffffff};
    static const int cube[6] = {0x00, 0x5f, 0x87, 0xaf, 0xd7, 0xff};
    if (c < 8)
        return c;
    if (c < 16)
        return ansi_bright[c - 8];
    if (c >= 232) {
        int v = 8 + 10 * (c - 232);
        return v << 16 | v << 8 | v;
    }
    c -= 16;
    return cube[c / 36] << 16 | cube[c / 6 % 6] << 8 | cube[c % 6];
}

/* A theme colour as a curses colour number (-1 is the terminal default). */
static int curses_color(int32_t c, bool direct, bool have_default)
{
    if (c < 0)
        return have_default ? -1 : -2;
    if (!direct)
        return theme_is_rgb(c) ? -1 : c;
    if (theme_is_rgb(c)) {
        int v = c & 0xffffff;
        return v < 8 ? 0 : v; /* below 8 would be read as an ANSI index: near enough black */
    }
    return palette_rgb(c);
}

static attr_t curses_attrs(unsigned a)
{
    attr_t r = A_NORMAL;
    if (a & THEME_A_BOLD)
        r |= A_BOLD;
    if (a & THEME_A_DIM)
        r |= A_DIM;
    if (a & THEME_A_REVERSE)
        r |= A_REVERSE;
    if (a & THEME_A_UNDERLINE)
        r |= A_UNDERLINE;
    return r;
}

static int make_pair(int n, int fg, int bg)
{
#if defined(NCURSES_EXT_COLORS) && NCURSES_EXT_COLORS
    return init_extended_pair(n, fg, bg);
#else
    return init_pair((short)n, (short)fg, (short)bg);
#endif
}

int theme_curses_apply(const struct theme *t)
{
    bool color = t->colors >= 8 && has_colors();
    bool have_default = color && use_default_colors() == OK;
    bool direct = color && t->colors >= THEME_TRUECOLOR && COLORS >= THEME_TRUECOLOR;
    int pair_fg[THEME_E_COUNT], pair_bg[THEME_E_COUNT], npairs = 0;
    /* COLOR_PAIR() holds 8 bits of pair number inside an attr_t */
    int maxpairs = COLOR_PAIRS - 1 < 255 ? COLOR_PAIRS - 1 : 255;

    for (int e = 0; e < THEME_E_COUNT; e++) {
        const struct theme_color *tc = &t->c[e];
        attr_t a = curses_attrs(tc->attrs);
        int fg = color ? curses_color(tc->fg, direct, have_default) : -1;
        int bg = color ? curses_color(tc->bg, direct, have_default) : -1;
        /* Without use_default_colors a "default" is the classic white on black. */
        if (fg == -2)
            fg = COLOR_WHITE;
        if (bg == -2)
            bg = COLOR_BLACK;
        if (color && (fg != -1 || bg != -1)) {
            int p = 0;
            for (int i = 0; i < npairs && !p; i++)
                if (pair_fg[i] == fg && pair_bg[i] == bg)
                    p = i + 1;
            if (!p && npairs < maxpairs && make_pair(npairs + 1, fg, bg) == OK) {
                pair_fg[npairs] = fg;
                pair_bg[npairs] = bg;
                p = ++npairs;
            }
            if (p)
                a |= COLOR_PAIR(p);
            else if (tc->attrs == 0 && e != THEME_E_DEFAULT)
                a |= A_BOLD; /* out of pairs: at least stand out */
        }
        attr_table[e] = a;
    }
    return npairs;
}

attr_t theme_attr(enum theme_elem e)
{
    return (unsigned)e < THEME_E_COUNT ? attr_table[e] : A_NORMAL;
}

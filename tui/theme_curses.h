/* SPDX-License-Identifier: GPL-2.0-or-later */
/* theme_curses.h: the curses side of themes: turns a resolved struct theme (theme.h) into one
 * attr_t per element: a colour pair (shared between elements with the same colours) plus
 * A_BOLD/A_DIM/A_REVERSE/A_UNDERLINE. Without colours only the attributes are used, so the
 * mono theme (and any theme on a monochrome terminal) draws with reverse and bold alone.
 * Talks to: ncursesw, theme.h. Used by the interactive application's drawing code.
 */
#ifndef DIMG_THEME_CURSES_H
#define DIMG_THEME_CURSES_H

#include <curses.h>

#include "tui/theme.h"

/* The colour count to resolve themes for, after initscr+start_color: 0 (no colours), 8, 16,
 * 256 or THEME_TRUECOLOR (a direct-colour terminal such as TERM=xterm-direct). */
int theme_curses_colors(void);

/* Allocate colour pairs for t (use_default_colors first, so THEME_COLOR_DEFAULT is the
 * terminal's own colour) and fill the table theme_attr reads. Call after start_color, and
 * again after loading another theme. Returns the number of pairs used (0 without colour).
 * The caller sets the background: bkgd(theme_attr(THEME_E_DEFAULT)). */
int theme_curses_apply(const struct theme *t);

/* The attributes to draw element e with (0 before theme_curses_apply). */
attr_t theme_attr(enum theme_elem e);

#endif

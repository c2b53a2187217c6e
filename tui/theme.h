/* SPDX-License-Identifier: GPL-2.0-or-later */
/* theme.h: colour themes and glyph tables for the interactive application.
 *
 * A theme is a small INI-like text file (themes/NAME.theme; the format and every element name are
 * documented in themes/README.md). theme.c finds it (theme_find), parses it with its `inherit`
 * chain and `@element` references, picks the colour tier the terminal can show ([colors],
 * [colors.256], [colors.truecolor]) and downgrades whatever colour is still too rich
 * (rgb -> 256 -> 16 -> 8, tmux style). The result is a plain table: one resolved colour per
 * element and a UTF-8/ASCII pair per glyph. Nothing here includes curses, so the parser is
 * tested headless; theme_curses.h turns the table into curses attributes.
 *
 * Problems in a theme file never fail the load: each becomes one "file:line: message" string
 * in theme.warnings (the module prints nothing; the caller shows them) and the line is
 * skipped. Only a theme that cannot be found or read at all, or a file over THEME_FILE_MAX,
 * is an error.
 *
 * Talks to: libc only (files, environment, nl_langinfo). Used by main.c (choose/load) and
 * theme_curses.c (apply).
 */
#ifndef DIMG_THEME_H
#define DIMG_THEME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Attributes an element may carry (`bold dim reverse underline` in a theme file). */
#define THEME_A_BOLD 0x1u
#define THEME_A_DIM 0x2u
#define THEME_A_REVERSE 0x4u
#define THEME_A_UNDERLINE 0x8u

/* Elements: X(ENUM, "dotted.name", attributes used when a theme leaves the element out and
 * on terminals without colour). The dotted names are a stable interface: theme files use them.
 */
#define THEME_ELEMS(X)                                                                             \
    X(DEFAULT, "default", 0)                                                                       \
    X(HEADER, "header", THEME_A_REVERSE)                                                           \
    X(FOOTER, "footer", THEME_A_REVERSE)                                                           \
    X(STATUS, "status", 0)                                                                         \
    X(SELECTION, "selection", THEME_A_REVERSE)                                                     \
    X(SELECTION_INACTIVE, "selection.inactive", THEME_A_UNDERLINE)                                 \
    X(DIR, "dir", THEME_A_BOLD)                                                                    \
    X(IMAGE, "image", 0)                                                                           \
    X(IMAGE_UNKNOWN, "image.unknown", THEME_A_DIM)                                                 \
    X(IMAGE_ERROR, "image.error", THEME_A_BOLD)                                                    \
    X(SIZE, "size", 0)                                                                             \
    X(PERCENT, "percent", 0)                                                                       \
    X(MARKER, "marker", THEME_A_BOLD)                                                              \
    X(BORDER, "border", 0)                                                                         \
    X(TITLE, "title", THEME_A_BOLD)                                                                \
    X(DIALOG, "dialog", 0)                                                                         \
    X(DIALOG_BUTTON, "dialog.button", 0)                                                           \
    X(DIALOG_BUTTON_FOCUS, "dialog.button.focus", THEME_A_REVERSE)                                 \
    X(INPUT, "input", THEME_A_UNDERLINE)                                                           \
    X(FBAR_KEY, "fbar.key", THEME_A_BOLD)                                                          \
    X(FBAR_LABEL, "fbar.label", THEME_A_REVERSE)                                                   \
    X(PROGRESS_DONE, "progress.done", THEME_A_REVERSE)                                             \
    X(PROGRESS_TODO, "progress.todo", 0)                                                           \
    X(JOB_RUNNING, "job.running", 0)                                                               \
    X(JOB_DONE, "job.done", 0)                                                                     \
    X(JOB_FAILED, "job.failed", THEME_A_BOLD)                                                      \
    X(WARN, "warn", THEME_A_BOLD)                                                                  \
    X(ERROR, "error", THEME_A_BOLD | THEME_A_REVERSE)                                              \
    X(HELP_KEY, "help.key", THEME_A_BOLD)                                                          \
    X(MAP_DATA, "map.data", 0)                                                                     \
    X(MAP_ZERO, "map.zero", THEME_A_DIM)                                                           \
    X(MAP_UNALLOC, "map.unalloc", THEME_A_DIM)                                                     \
    X(MAP_COMPRESSED, "map.compressed", 0)                                                         \
    X(MAP_BACKING, "map.backing", 0)                                                               \
    X(MAP_MIXED, "map.mixed", 0)                                                                   \
    X(MAP_CURSOR, "map.cursor", THEME_A_REVERSE)                                                   \
    X(MAP_PARTITION, "map.partition", THEME_A_BOLD)                                                \
    X(MAP_HEADER, "map.header", THEME_A_BOLD)                                                      \
    X(MAP_L1, "map.l1", 0)                                                                         \
    X(MAP_L2, "map.l2", 0)                                                                         \
    X(MAP_REFCOUNT, "map.refcount", 0)                                                             \
    X(MAP_SNAPSHOT, "map.snapshot", 0)                                                             \
    X(MAP_META, "map.meta", 0)                                                                     \
    X(MAP_FREE, "map.free", THEME_A_DIM)                                                           \
    X(MAP_LEAKED, "map.leaked", THEME_A_BOLD)                                                      \
    X(TREE_LINE, "tree.line", 0)

#define THEME_ELEM_ENUM(e, name, attrs) THEME_E_##e,
enum theme_elem { THEME_ELEMS(THEME_ELEM_ENUM) THEME_E_COUNT };
#undef THEME_ELEM_ENUM

/* Glyphs: X(ENUM, "dotted.name", UTF-8 form, ASCII form): the built-in table a theme's
 * [glyphs] section overrides. The tree glyphs are two columns wide in both forms. */
#define THEME_GLYPHS(X)                                                                            \
    X(MAP_DATA, "map.data", "\u2588", "#")                                                         \
    X(MAP_COMPRESSED, "map.compressed", "\u2592", "%")                                             \
    X(MAP_ZERO, "map.zero", "\u2591", "0")                                                         \
    X(MAP_UNALLOC, "map.unalloc", "\u00b7", ".")                                                   \
    X(MAP_BACKING, "map.backing", "\u259a", "b")                                                   \
    X(MAP_MIXED, "map.mixed", "\u259e", "+")                                                       \
    X(MAP_META, "map.meta", "\u2593", "M")                                                         \
    X(MAP_FREE, "map.free", " ", "_")                                                              \
    X(MAP_LEAKED, "map.leaked", "\u00d7", "x")                                                     \
    X(TREE_BRANCH, "tree.branch", "\u251c\u2500", "|-")                                            \
    X(TREE_LAST, "tree.last", "\u2514\u2500", "`-")                                                \
    X(TREE_VERTICAL, "tree.vertical", "\u2502", "|")                                               \
    X(PROGRESS_FULL, "progress.full", "\u2588", "#")                                               \
    X(PROGRESS_EMPTY, "progress.empty", "\u2591", ".")                                             \
    X(MARKER_SNAPSHOT, "marker.snapshot", "S", "S")                                                \
    X(MARKER_BACKING, "marker.backing", "B", "B")                                                  \
    X(MARKER_ENCRYPTED, "marker.encrypted", "E", "E")                                              \
    X(MARKER_COMPRESSED, "marker.compressed", "C", "C")                                            \
    X(MARKER_LOCKED, "marker.locked", "L", "L")                                                    \
    X(JOB_RUNNING, "job.running", "\u25b6", ">")                                                   \
    X(JOB_DONE, "job.done", "\u2713", "+")                                                         \
    X(JOB_FAILED, "job.failed", "\u2717", "x")                                                     \
    X(ELLIPSIS, "ellipsis", "\u2026", "~")                                                         \
    X(ARROW_UP, "arrow.up", "\u2191", "^")                                                         \
    X(ARROW_DOWN, "arrow.down", "\u2193", "v")                                                     \
    X(ARROW_LEFT, "arrow.left", "\u2190", "<")                                                     \
    X(ARROW_RIGHT, "arrow.right", "\u2192", ">")

#define THEME_GLYPH_ENUM(g, name, utf8, ascii) THEME_G_##g,
enum theme_glyph { THEME_GLYPHS(THEME_GLYPH_ENUM) THEME_G_COUNT };
#undef THEME_GLYPH_ENUM

/* Colour values in struct theme_color: THEME_COLOR_DEFAULT is the terminal's own colour
 * (use_default_colors), 0-255 a palette index, THEME_RGB_FLAG|0xrrggbb a direct colour (only
 * left in place when the theme was resolved for a truecolor terminal). */
#define THEME_COLOR_DEFAULT (-1)
#define THEME_RGB_FLAG 0x1000000
#define THEME_TRUECOLOR (1 << 24) /* the `colors` value of a direct-colour terminal */

static inline int32_t theme_rgb(unsigned r, unsigned g, unsigned b)
{
    return THEME_RGB_FLAG | (int32_t)((r & 0xff) << 16 | (g & 0xff) << 8 | (b & 0xff));
}
static inline bool theme_is_rgb(int32_t c)
{
    return c >= 0 && (c & THEME_RGB_FLAG);
}

struct theme_color {
    int32_t fg, bg;
    unsigned attrs; /* THEME_A_* */
};

#define THEME_NAME_MAX 64
#define THEME_GLYPH_MAX 16         /* bytes of one glyph form, with the NUL */
#define THEME_FILE_MAX (64 * 1024) /* larger files are refused */
#define THEME_LINE_MAX 512         /* longer lines are skipped with a warning */
#define THEME_WARN_MAX 64          /* warnings kept; one more line says how many were dropped */
#define THEME_INHERIT_MAX 8        /* depth of an `inherit` chain */

struct theme {
    char name[THEME_NAME_MAX];
    int colors; /* the colour count it was resolved for (0 = no colour) */
    bool utf8;  /* theme_glyph returns the UTF-8 forms */
    struct theme_color c[THEME_E_COUNT];
    char glyph[THEME_G_COUNT][2][THEME_GLYPH_MAX]; /* [g][0] UTF-8, [g][1] ASCII */
    char **warnings;                               /* "file:line: message", owned */
    size_t nwarn;
};

static inline const char *theme_glyph(const struct theme *t, enum theme_glyph g)
{
    return t->glyph[g][t->utf8 ? 0 : 1];
}

/* Element and glyph names; *_find returns the enum value or -1 (case-insensitive). */
const char *theme_elem_name(enum theme_elem e);
int theme_elem_find(const char *name);
const char *theme_glyph_name(enum theme_glyph g);
int theme_glyph_find(const char *name);

/* The nearest colour a terminal with `colors` colours can show: colour is 0-255 or an rgb
 * value; colors is 8, 16, 256 or THEME_TRUECOLOR (anything below 8: no colour, returns
 * THEME_COLOR_DEFAULT). rgb -> 256 picks the nearer of the 6x6x6 cube and the grey ramp;
 * 256 -> 16 keeps the hue; 16 -> 8 drops brightness. THEME_COLOR_DEFAULT stays. */
int32_t theme_downgrade(int32_t color, int colors);

/* Which theme to load: opt_theme (--theme, or the config file) wins; else a non-empty
 * NO_COLOR (no_color_env) or a terminal without colours gives "mono"; else "default". */
const char *theme_choose(const char *opt_theme, bool no_color_env, bool has_colors);
/* NO_COLOR is set and not empty (https://no-color.org). */
bool theme_env_no_color(void);
/* UTF-8 glyphs: the locale's codeset is UTF-8 (after setlocale) and not --ascii. */
bool theme_want_utf8(bool ascii);

/* Locate a theme. A value with a '/' or ending in ".theme" is a path. A name is looked up as
 * NAME.theme in $XDG_CONFIG_HOME/dimg/themes (or ~/.config/dimg/themes), each
 * $XDG_DATA_DIRS entry + /dimg/themes (default /usr/local/share:/usr/share), the install
 * directory, the source tree's themes/, then the built-ins. Returns THEME_FOUND_FILE with the
 * path in path, THEME_FOUND_BUILTIN with the name in path, -EINVAL for a name with characters
 * other than [A-Za-z0-9._-], -ENAMETOOLONG, or -ENOENT. */
#define THEME_FOUND_FILE 0
#define THEME_FOUND_BUILTIN 1
int theme_find(const char *name_or_path, char *path, size_t pathlen);
/* The text of an embedded theme ("default" or "mono"), or NULL. */
const char *theme_builtin(const char *name, size_t *len);

/* Load: find, read, parse (with inherit), resolve for `colors` (see theme_downgrade) and
 * choose glyph forms by utf8. Returns 0, or a negative errno with a one-line message in err
 * (theme not found, unreadable, over THEME_FILE_MAX); t is then still usable (built-in
 * fallbacks: no colours, the attributes in THEME_ELEMS, the glyphs in THEME_GLYPHS).
 * Either way t may hold warnings and must be released with theme_free. t needs no setup. */
int theme_load(struct theme *t, const char *name_or_path, int colors, bool utf8, char *err,
               size_t errlen);
/* The same from a buffer (fname names it in warnings and its directory anchors a relative
 * `inherit` path). Returns 0, or -EFBIG for len > THEME_FILE_MAX (t holds the fallbacks). */
int theme_parse_buf(struct theme *t, const char *buf, size_t len, const char *fname, int colors,
                    bool utf8);
/* Release the warnings; t can be loaded again. */
void theme_free(struct theme *t);

#endif

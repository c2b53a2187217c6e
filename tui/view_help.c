/* SPDX-License-Identifier: GPL-2.0-or-later */
/* view_help.c: the help screen (? or F1 from any screen): the keys of every screen, generated
 * from the key table each time it is drawn, so help cannot drift from dispatch; a text to
 * scroll, with no selection.
 * Talks to: app.h, keymap.h, screen.h (the screens and the headings of their keys).
 */
#include "tui/app.h"

#include <stdio.h>

#define HELP_MAX_LINES 160
#define HELP_PAGE 10 /* PgUp/PgDn scroll this many lines */

static struct list help_list; /* only .top: the first line shown */

/* The lines of help into lines; returns how many. */
static int help_lines(struct app *a, char (*lines)[160])
{
    int n = 0;
    snprintf(lines[n++], sizeof lines[0],
             "dimg %s: disk images in a terminal. Keys by screen "
             "(F-keys and letters do the same):",
             DIMG_VERSION);
    /* The home screen's section also lists the keys every screen shares. */
    unsigned home = screen_table[0]->keys;
    for (int s = 0; s < screen_count && n < HELP_MAX_LINES - 10; s++) {
        const struct screen *sc = screen_table[s];
        if (!sc->keys_title)
            continue;
        snprintf(lines[n++], sizeof lines[0], " ");
        snprintf(lines[n++], sizeof lines[0], "%s", sc->keys_title);
        for (int act = 1; act < KM_A_COUNT && n < HELP_MAX_LINES - 2; act++) {
            const struct km_binding *b = keymap_binding((enum km_action)act);
            if (!(b->ctx & sc->keys))
                continue;
            if (b->ctx == KM_ALL && sc->keys != home)
                continue; /* movement and global keys: listed once, under the home screen */
            char keys[64];
            keymap_keys_text((enum km_action)act, keys, sizeof keys);
            snprintf(lines[n++], sizeof lines[0], "  %-22s %s%s", keys, b->help,
                     b->mutates && a->opts.read_only ? " (disabled: read-only)" : "");
        }
    }
    snprintf(lines[n++], sizeof lines[0], " ");
    snprintf(lines[n++], sizeof lines[0],
             "Flags column: S snapshots, B backing file, "
             "E encrypted, C compressed clusters, L in use by a running VM");
    return n;
}

static void help_draw(struct app *a, struct rect r)
{
    char lines[HELP_MAX_LINES][160];
    int n = help_lines(a, lines);
    int rows = r.h;
    if (help_list.top > (size_t)(n > rows ? n - rows : 0)) /* the terminal grew */
        help_list.top = n > rows ? (size_t)(n - rows) : 0;
    for (int i = 0; i < rows && (int)help_list.top + i < n; i++) {
        const char *l = lines[help_list.top + (size_t)i];
        bool head = l[0] != ' ' && i + (int)help_list.top > 0;
        app_put(
            r.y + i, r.x + 1, r.w - 1, l,
            app_attr(a, head ? THEME_E_TITLE : (l[2] != ' ' ? THEME_E_HELP_KEY : THEME_E_DEFAULT)),
            false);
    }
}

static void help_key(struct app *a, int ch, enum km_action act)
{
    (void)ch;
    char lines[HELP_MAX_LINES][160];
    int n = help_lines(a, lines);
    list_scroll(&help_list, (size_t)n, a->lay.body.h, HELP_PAGE, act);
}

/* Opened (again): at its first line. */
static void help_enter(struct app *a)
{
    (void)a;
    help_list.top = 0;
}

const struct screen screen_help = {
    .name = "help",
    .keys = KM_HELP,
    .opens = KM_A_HELP,
    .hint = "Up/Down scroll, g/G top/end, q back",
    .enter = help_enter,
    .draw = help_draw,
    .key = help_key,
};

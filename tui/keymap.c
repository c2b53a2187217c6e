/* SPDX-License-Identifier: GPL-2.0-or-later */
/* keymap.c: the key table (see keymap.h): the letters and named keys of every action, and
 * lookup, naming and the collision check built on it. vi motions (hjkl, g/G) and `/` only
 * ever move or search; capital letters mark actions that change images.
 * Talks to: curses.h (KEY_* codes).
 */
#include "tui/keymap.h"

#include <curses.h>
#include <stdio.h>
#include <string.h>

#define CTRL(c) ((c)&0x1f)
#define KEY_ESC 27

/* Letters and named keys per action; the F-key from KM_ACTIONS is added at lookup. */
static const int km_keys[KM_A_COUNT][KM_MAX_KEYS] = {
    [KM_A_UP] = {KEY_UP, 'k'},
    [KM_A_DOWN] = {KEY_DOWN, 'j'},
    [KM_A_LEFT] = {KEY_LEFT, 'h'},
    [KM_A_RIGHT] = {KEY_RIGHT, 'l'},
    [KM_A_PGUP] = {KEY_PPAGE, CTRL('b')},
    [KM_A_PGDN] = {KEY_NPAGE, CTRL('f'), ' '},
    [KM_A_HOME] = {KEY_HOME, 'g'},
    [KM_A_END] = {KEY_END, 'G'},
    [KM_A_OPEN] = {'\n', KEY_ENTER, KEY_RIGHT, 'l'},
    [KM_A_BACK] = {KEY_LEFT, 'h', KEY_BACKSPACE, 127},
    [KM_A_FILTER] = {'/'},
    [KM_A_HELP] = {'?'},
    [KM_A_INFO] = {'i'},
    [KM_A_MAP] = {'m'},
    [KM_A_TREE] = {'t'},
    [KM_A_CONVERT] = {'c'},
    [KM_A_RESIZE] = {'R'},
    [KM_A_APPEND] = {'A'},
    [KM_A_CHECK] = {'C'},
    [KM_A_JOBS] = {'J'},
    [KM_A_QUIT] = {'q'},
    [KM_A_OVERLAY] = {'O'},
    [KM_A_COMPACT] = {'Z'},
    [KM_A_EXPORT] = {'E'},
    [KM_A_COMMIT] = {'K'},
    [KM_A_REBASE] = {'B'},
    [KM_A_SNAP_NEW] = {'N'},
    [KM_A_SNAP_APPLY] = {'A'},
    [KM_A_SNAP_DELETE] = {'D'},
    [KM_A_VIEW_TOGGLE] = {'v', '\t'},
    [KM_A_ZOOM_IN] = {'+', '='},
    [KM_A_ZOOM_OUT] = {'-', '_'},
    [KM_A_LEGEND] = {'L'},
    [KM_A_CANCEL_JOB] = {'x'},
    [KM_A_CLEAR_JOBS] = {'X'},
    [KM_A_SORT_NAME] = {'s'},
    [KM_A_SORT_SIZE] = {'S'},
    [KM_A_SORT_FORMAT] = {'f'},
    [KM_A_SORT_TIME] = {'M'},
    [KM_A_HIDDEN] = {'.'},
    [KM_A_RESCAN] = {'r'},
    [KM_A_REDRAW] = {CTRL('l')},
    [KM_A_IMPORT] = {'I'},
    [KM_A_UNTRUSTED] = {'U'},
    [KM_A_FS_VIEW] = {'v'},
    [KM_A_FS_GET] = {'c'},
};

#define KM_ROW(e, c, f, l, m, h) {KM_A_##e, c, f, l, m, h, {0}},
static const struct km_binding km_table[KM_A_COUNT] = {{KM_A_NONE, 0, 0, NULL, false, "", {0}},
                                                       KM_ACTIONS(KM_ROW)};
#undef KM_ROW

const struct km_binding *keymap_binding(enum km_action a)
{
    if (a <= KM_A_NONE || a >= KM_A_COUNT)
        return &km_table[0];
    return &km_table[a];
}

static bool km_has_key(enum km_action a, int key)
{
    if (km_table[a].fkey && key == KEY_F(km_table[a].fkey))
        return true;
    for (int i = 0; i < KM_MAX_KEYS && km_keys[a][i]; i++)
        if (km_keys[a][i] == key)
            return true;
    return false;
}

enum km_action keymap_lookup(unsigned ctx, int key)
{
    if (key == '\r')
        key = '\n';
    for (int a = 1; a < KM_A_COUNT; a++)
        if ((km_table[a].ctx & ctx) && km_has_key((enum km_action)a, key))
            return (enum km_action)a;
    return KM_A_NONE;
}

const char *keymap_key_name(int key)
{
    static char buf[16];
    switch (key) {
    case KEY_UP: return "Up";
    case KEY_DOWN: return "Down";
    case KEY_LEFT: return "Left";
    case KEY_RIGHT: return "Right";
    case KEY_PPAGE: return "PgUp";
    case KEY_NPAGE: return "PgDn";
    case KEY_HOME: return "Home";
    case KEY_END: return "End";
    case KEY_ENTER:
    case '\n': return "Enter";
    case KEY_BACKSPACE:
    case 127: return "Backspace";
    case '\t': return "Tab";
    case ' ': return "Space";
    case KEY_ESC: return "Esc";
    }
    if (key >= KEY_F(1) && key <= KEY_F(12))
        snprintf(buf, sizeof buf, "F%d", key - KEY_F(0));
    else if (key > 0 && key < 32)
        snprintf(buf, sizeof buf, "^%c", key + '@');
    else if (key >= 32 && key < 127)
        snprintf(buf, sizeof buf, "%c", key);
    else
        snprintf(buf, sizeof buf, "#%d", key);
    return buf;
}

const char *keymap_keys_text(enum km_action a, char *buf, size_t n)
{
    size_t len = 0;
    buf[0] = 0;
    if (a <= KM_A_NONE || a >= KM_A_COUNT)
        return buf;
    for (int i = 0; i < KM_MAX_KEYS && km_keys[a][i]; i++) {
        if (km_keys[a][i] == KEY_ENTER)
            continue; /* shown as "Enter" already */
        int w =
            snprintf(buf + len, n - len, "%s%s", len ? " " : "", keymap_key_name(km_keys[a][i]));
        if (w < 0 || (size_t)w >= n - len)
            break;
        len += (size_t)w;
    }
    if (km_table[a].fkey)
        snprintf(buf + len, n - len, "%sF%d", len ? " " : "", km_table[a].fkey);
    return buf;
}

size_t keymap_collisions(char (*out)[96], size_t max)
{
    size_t found = 0;
    for (int a = 1; a < KM_A_COUNT; a++) {
        int keys[KM_MAX_KEYS + 1];
        int nk = 0;
        for (int i = 0; i < KM_MAX_KEYS && km_keys[a][i]; i++)
            keys[nk++] = km_keys[a][i];
        if (km_table[a].fkey)
            keys[nk++] = KEY_F(km_table[a].fkey);
        for (int b = a + 1; b < KM_A_COUNT; b++) {
            if (!(km_table[a].ctx & km_table[b].ctx))
                continue;
            for (int i = 0; i < nk; i++) {
                if (!km_has_key((enum km_action)b, keys[i]))
                    continue;
                if (out && found < max)
                    snprintf(out[found], sizeof out[found], "%s: %s / %s", keymap_key_name(keys[i]),
                             km_table[a].help, km_table[b].help);
                found++;
            }
        }
    }
    return found;
}

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* layout.h: where each part of the screen goes, as a pure function of the terminal size (so
 * it is unit-tested at 20x5, 80x24 and 200x60 without a terminal).
 *   row 0            header: program, directory, sort and filter
 *   rows 1..         the body: the list, and the info pane beside it (wide terminals) or
 *                    below it (tall ones), or the list alone (small ones; `i` then shows the
 *                    info full-screen)
 *   row h-2          status: a message, or the summary of running jobs
 *   row h-1          the function-key bar
 * Below LAYOUT_MIN_W x LAYOUT_MIN_H only a "terminal too small" line is drawn; jobs keep
 * running and q and resizing still work.
 * Also the one scrolling-list behaviour every list screen shares (browser, tree, jobs, help):
 * moves, the first row shown, and the "12/40" position.
 * Talks to: keymap.h (action names only; plain arithmetic). Used by app.c and the views.
 */
#ifndef DIMG_LAYOUT_H
#define DIMG_LAYOUT_H

#include <stdbool.h>
#include <stddef.h>

#include "tui/keymap.h"

#define LAYOUT_MIN_W 30
#define LAYOUT_MIN_H 6

struct rect {
    int x, y, w, h;
};

enum layout_mode {
    LAYOUT_TOO_SMALL, /* only the message */
    LAYOUT_LIST,      /* list only */
    LAYOUT_BELOW,     /* info pane below the list */
    LAYOUT_BESIDE     /* info pane right of the list */
};

struct layout {
    enum layout_mode mode;
    struct rect header, body, list, info, status, fbar;
};

/* info_wanted: the user has not hidden the info pane. */
struct layout layout_compute(int w, int h, bool info_wanted);

/* The function-key bar at width w: the column where key f (1..10) starts and, in *label_w, the
 * columns its label may use; labels are cut to fit and always followed by a blank, and
 * "10Quit" keeps its room however narrow the terminal. */
int layout_fkey_x(int w, int f, int *label_w);

/* The browser's columns after the name: format 8, virtual 10, on disk 10, used 5, flags 6.
 * How many of them fit at width w (dropped from the right, flags first) so that the name
 * keeps at least LAYOUT_NAME_MIN columns; *name_w gets the name column's width. */
#define LAYOUT_NAME_MIN 12
int layout_browser_cols(int w, int *name_w);
extern const int layout_browser_col_w[5];

/* ---- scrolling lists ---- */
/* Apply a movement action (up, down, page up/down, home/end: g/G, Home/End) to the cursor of a
 * list of n items of which rows are visible. false when act is not a movement. */
bool list_key(size_t *cur, size_t n, int rows, enum km_action act);
/* The first item to show so that cur is visible, moving from top as little as possible and
 * leaving no blank rows after the last item while the list is longer than the screen. */
size_t list_top(size_t cur, size_t top, size_t n, int rows);
/* "12/40" (1-based cursor / count) into buf; "0/0" for an empty list. */
void list_position(char *buf, size_t bufn, size_t cur, size_t n);

/* The list widget the list screens share (browser, tree, jobs, help): a list's selection and
 * first row shown. The screen owns the items; the widget only moves over n of them. */
struct list {
    size_t cur, top;
};
/* A movement action on n items of which `rows` fit (list_key); false when act is none. */
bool list_move(struct list *l, size_t n, int rows, enum km_action act);
/* Before drawing: the selection within the n items and on screen (after End: on the last
 * row, the screen full). */
void list_place(struct list *l, size_t n, int rows);
/* A list without a selection (text to read): act scrolls it a line, a page of `page` lines or
 * to either end, never past the last screenful; false when act is not a movement. */
bool list_scroll(struct list *l, size_t n, int rows, size_t page, enum km_action act);

#endif

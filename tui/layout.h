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
 * Talks to: nothing (plain arithmetic). Used by app.c and the views.
 */
#ifndef DIMG_LAYOUT_H
#define DIMG_LAYOUT_H

#include <stdbool.h>

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

#endif

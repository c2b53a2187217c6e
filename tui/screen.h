/* SPDX-License-Identifier: GPL-2.0-or-later */
/* screen.h: what a screen of the interactive application is, and the one list of them.
 *
 * A screen is data: a struct screen of callbacks that app.c's loop calls for whichever screen
 * is on top of the stack, as tmux calls its window modes and htop its panels. Each screen keeps
 * its own state private in its file (the map's runs, the tree's nodes, the help's scroll); the
 * loop knows no screen by name. The browser is the home screen: first in SCREEN_LIST, at the
 * bottom of the stack, never closed.
 *
 * A new screen is one new file (tui/view_NAME.c defining `const struct screen screen_NAME`)
 * and one X(NAME) line in SCREEN_LIST below. If it has keys of its own, they go in the key
 * table (keymap.h: a context bit and its actions), so that dispatch, the F-key bar, the help
 * screen and the manual page list them.
 * Talks to: keymap.h (contexts and actions), layout.h (rectangles). Implemented by view_*.c.
 */
#ifndef DIMG_SCREEN_H
#define DIMG_SCREEN_H

#include <stdbool.h>

#include "tui/keymap.h"
#include "tui/layout.h"

struct app;

struct screen {
    const char *name; /* the header's word after "dimg" ("tree"), unless header() draws it */
    unsigned keys;    /* enum km_ctx: the key table's context of this screen */
    /* The key that opens it from every screen (help: ?, jobs: J); KM_A_NONE when another
     * screen opens it (the browser opens the map and the tree). */
    enum km_action opens;
    const char *keys_title; /* the heading of its keys in the help screen; NULL: not listed */
    const char *hint;       /* the status line when there is no message: its main keys */
    /* Pushed on the stack (again when it is opened while on top: it starts over). Optional. */
    void (*enter)(struct app *a);
    /* Taken off the stack, or the application ends while it is on it. Optional. */
    void (*leave)(struct app *a);
    void (*draw)(struct app *a, struct rect body);
    /* A key, with the action the key table gives it on this screen (KM_A_NONE: none). */
    void (*key)(struct app *a, int ch, enum km_action act);
    /* The directory listing changed (the scan probed more entries, or the directory was read
     * again after a job). Called for every screen on the stack, the home screen first.
     * Optional. */
    void (*tick)(struct app *a);
    /* Optional: draws the header row itself (default: " dimg NAME  DIRECTORY"). */
    void (*header)(struct app *a, struct rect r);
    /* Optional: a screen reading text (the browser's filter) takes every key first; true when
     * it took ch. */
    bool (*input)(struct app *a, int ch);
    /* Optional: draws the status line itself while it reads text, leaving the last `keep`
     * columns (the job summary); true when it did. */
    bool (*prompt)(struct app *a, struct rect r, int keep);
    /* Optional (--mouse): a click at (y,x) in the body; returns a key to act on as if typed
     * (0: none). */
    int (*click)(struct app *a, int y, int x, bool twice);
};

/* Every screen: ONE LINE EACH. The first is the home screen; the help screen lists the keys
 * of each in this order. */
#define SCREEN_LIST(X)                                                                             \
    X(browser)                                                                                     \
    X(map)                                                                                         \
    X(tree)                                                                                        \
    X(inside)                                                                                      \
    X(jobs)                                                                                        \
    X(help)

#define SCREEN_DECLARE(n) extern const struct screen screen_##n;
SCREEN_LIST(SCREEN_DECLARE)
#undef SCREEN_DECLARE

/* The table of every screen, in SCREEN_LIST order, and its length (app.c). */
extern const struct screen *const screen_table[];
extern const int screen_count;

#endif

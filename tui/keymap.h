/* SPDX-License-Identifier: GPL-2.0-or-later */
/* keymap.h: the one key table of the interactive application. Each action has its keys, an
 * optional function key, the screens (contexts) it works in, a short label for the function-key
 * bar and a line of help. Dispatch (keymap_lookup), the F-key bar and the help screen are all
 * generated from it, so they cannot drift apart; keymap_collisions() proves no key means two
 * things on one screen (a unit test runs it).
 * Talks to: curses.h for the KEY_* codes only. Used by app.c and the views.
 */
#ifndef DIMG_KEYMAP_H
#define DIMG_KEYMAP_H

#include <stdbool.h>
#include <stddef.h>

/* Screens (a struct screen names its context, screen.h). A binding lists every screen it works
 * in; KM_ALL covers every bit, so a new screen's context has the shared keys (move, help, jobs,
 * quit) without more. */
enum km_ctx {
    KM_BROWSER = 1u << 0,
    KM_MAP = 1u << 1,
    KM_TREE = 1u << 2,
    KM_JOBS = 1u << 3,
    KM_HELP = 1u << 4,
    KM_INSIDE = 1u << 5, /* inside an image: volumes, directories, a file's text */
};
#define KM_ALL (~0u)
#define KM_LISTS (KM_BROWSER | KM_TREE | KM_JOBS | KM_HELP)

/* X(ENUM, contexts, fkey (0: none), fbar label, mutates, help text) */
#define KM_ACTIONS(X)                                                                              \
    X(UP, KM_ALL, 0, NULL, false, "move up")                                                       \
    X(DOWN, KM_ALL, 0, NULL, false, "move down")                                                   \
    X(LEFT, KM_MAP, 0, NULL, false, "move left")                                                   \
    X(RIGHT, KM_MAP, 0, NULL, false, "move right")                                                 \
    X(PGUP, KM_ALL, 0, NULL, false, "page up")                                                     \
    X(PGDN, KM_ALL, 0, NULL, false, "page down")                                                   \
    X(HOME, KM_ALL, 0, NULL, false, "first")                                                       \
    X(END, KM_ALL, 0, NULL, false, "last")                                                         \
    X(OPEN, KM_BROWSER | KM_INSIDE, 0, NULL, false,                                                \
      "enter a directory, an image's volumes or its map")                                          \
    X(BACK, KM_BROWSER | KM_INSIDE, 0, NULL, false, "parent directory")                            \
    X(FILTER, KM_BROWSER | KM_INSIDE, 0, NULL, false, "filter names (Esc clears)")                 \
    X(HELP, KM_ALL, 1, "Help", false, "this help")                                                 \
    X(INFO, KM_BROWSER | KM_INSIDE, 2, "Info", false, "show or hide the info pane")                \
    X(MAP, KM_BROWSER | KM_TREE, 3, "Map", false, "allocation map of the selected image")          \
    X(TREE, KM_BROWSER, 4, "Tree", false, "backing chains and snapshots of this directory")        \
    X(CONVERT, KM_BROWSER, 5, "Conv", true, "convert the image to another format (a job)")         \
    X(RESIZE, KM_BROWSER, 6, "Resize", true, "grow or shrink the image (a job)")                   \
    X(APPEND, KM_BROWSER, 7, "Append", true, "append zeros to a raw image, dd/cat style (a job)")  \
    X(CHECK, KM_BROWSER, 8, "Check", false, "check the image's consistency (repair offered)")      \
    X(JOBS, KM_ALL, 9, "Jobs", false, "the jobs screen")                                           \
    X(QUIT, KM_ALL, 10, "Quit", false, "close this screen; quit from the browser")                 \
    X(OVERLAY, KM_BROWSER | KM_TREE, 0, NULL, true, "new overlay (vmdk, vdi: differencing child)") \
    X(COMPACT, KM_BROWSER, 0, NULL, true, "compact a vdi in place (a job)")                        \
    X(EXPORT, KM_BROWSER, 0, NULL, true, "pack the image (and more) into an OVA (a job)")          \
    X(COMMIT, KM_BROWSER | KM_TREE, 0, NULL, true, "commit an overlay into its backing file")      \
    X(REBASE, KM_BROWSER | KM_TREE, 0, NULL, true, "give the image a new backing file")            \
    X(SNAP_NEW, KM_TREE, 0, NULL, true, "create a snapshot of the selected image")                 \
    X(SNAP_APPLY, KM_TREE, 0, NULL, true, "revert the image to the selected snapshot")             \
    X(SNAP_DELETE, KM_TREE, 0, NULL, true, "delete the selected snapshot")                         \
    X(VIEW_TOGGLE, KM_MAP, 0, NULL, false, "guest view / host file view")                          \
    X(ZOOM_IN, KM_MAP, 0, NULL, false, "zoom in (fewer bytes per cell)")                           \
    X(ZOOM_OUT, KM_MAP, 0, NULL, false, "zoom out (more bytes per cell)")                          \
    X(LEGEND, KM_MAP, 0, NULL, false, "show or hide the legend")                                   \
    X(CANCEL_JOB, KM_JOBS, 0, NULL, false, "cancel the selected job")                              \
    X(CLEAR_JOBS, KM_JOBS, 0, NULL, false, "remove finished jobs from the list")                   \
    X(SORT_NAME, KM_BROWSER | KM_INSIDE, 0, NULL, false, "sort by name (again: reverse)")          \
    X(SORT_SIZE, KM_BROWSER | KM_INSIDE, 0, NULL, false, "sort by size on disk (again: reverse)")  \
    X(SORT_FORMAT, KM_BROWSER, 0, NULL, false, "sort by format (again: reverse)")                  \
    X(SORT_TIME, KM_BROWSER | KM_INSIDE, 0, NULL, false,                                           \
      "sort by modification time (again: reverse)")                                                \
    X(HIDDEN, KM_BROWSER, 0, NULL, false, "show or hide hidden files")                             \
    X(RESCAN, KM_BROWSER | KM_TREE, 0, NULL, false, "read the directory again")                    \
    X(REDRAW, KM_ALL, 0, NULL, false, "redraw the screen")                                         \
    X(IMPORT, KM_BROWSER, 0, NULL, true, "unpack an archive (OVA) with its digests checked")       \
    X(UNTRUSTED, KM_BROWSER, 0, NULL, false,                                                       \
      "untrusted mode: follow no backing, extent or data file")                                    \
    X(FS_VIEW, KM_INSIDE, 3, "View", false, "read the selected file (a pager)")                    \
    X(FS_GET, KM_INSIDE, 5, "Copy", false, "copy the file or directory out, beside the image")

#define KM_ENUM(e, ctx, f, label, mut, help) KM_A_##e,
enum km_action { KM_A_NONE = 0, KM_ACTIONS(KM_ENUM) KM_A_COUNT };
#undef KM_ENUM

#define KM_MAX_KEYS 4

struct km_binding {
    enum km_action act;
    unsigned ctx;      /* enum km_ctx bits */
    int fkey;          /* 1..10, 0 for none */
    const char *label; /* function-key bar label, NULL for none */
    bool mutates;      /* changes an image: disabled by --read-only */
    const char *help;
    int keys[KM_MAX_KEYS]; /* curses key codes, 0-terminated (the F-key is added to these) */
};

/* The binding of action a (never NULL for a valid action). */
const struct km_binding *keymap_binding(enum km_action a);
/* The action key means on screen ctx, or KM_A_NONE. */
enum km_action keymap_lookup(unsigned ctx, int key);
/* A key's printable name ("q", "Enter", "F5", "^L", "PgDn"), in a static buffer. */
const char *keymap_key_name(int key);
/* The keys of an action joined for help ("k Up"), into buf. */
const char *keymap_keys_text(enum km_action a, char *buf, size_t n);
/* Pairs of bindings sharing a key on a screen; each one found is written to out (when not
 * NULL) as "KEY: action1 / action2". Returns how many. */
size_t keymap_collisions(char (*out)[96], size_t max);

#endif

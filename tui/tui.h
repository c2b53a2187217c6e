/* SPDX-License-Identifier: GPL-2.0-or-later */
/* tui.h: the interactive application's entry points, as main.c wires them into the command
 * line's dispatcher (cli/cli.h, struct cli_app): its own options and a run in a directory.
 * The command line and the application include nothing of each other.
 */
#ifndef DIMG_TUI_H
#define DIMG_TUI_H

#include <stdbool.h>

/* Take the application's option at argv[*i] (-r, --read-only, --ascii, --mouse, --theme NAME,
 * --theme=NAME): 1 taken (*i on its last word), 0 not one of them, -1 malformed (*why says
 * what). The options are kept for tui_main. */
int tui_take_opt(int argc, char **argv, int *i, const char **why);
/* Run the application in dir with the options taken: untrusted (--untrusted: it stays on),
 * ask_password (no password was given on the command line: its own box asks). */
int tui_main(const char *dir, bool untrusted, bool ask_password);

#endif

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* man_keys.c: prints the KEYS section of docs/dimg.1 (troff) from the one key table
 * (tui/keymap.h): every action with its keys and help line, grouped by screen. test_manpage.sh
 * compares its output with the page's text between the BEGIN KEYS and END KEYS markers, so
 * the page, the help screen and the function-key bar cannot disagree; to refresh the page
 * after a change to the table, paste this program's output there.
 * Talks to: tui/keymap.c only. Built with the tests (tests/CMakeLists.txt). */
#include <stdio.h>

#include "tui/keymap.h"

/* Text for troff: a hyphen is \-, a backslash \e, and \& guards a leading dot or quote. */
static void put_escaped(const char *s)
{
    if (*s == '.' || *s == '\'')
        fputs("\\&", stdout);
    for (; *s; s++) {
        if (*s == '-')
            fputs("\\-", stdout);
        else if (*s == '\\')
            fputs("\\e", stdout);
        else
            putchar(*s);
    }
}

static void section(const char *title, unsigned ctx, bool exact)
{
    printf(".SS %s\n", title);
    for (int a = KM_A_NONE + 1; a < KM_A_COUNT; a++) {
        const struct km_binding *b = keymap_binding((enum km_action)a);
        if (exact ? b->ctx != ctx : (b->ctx == KM_ALL || !(b->ctx & ctx)))
            continue;
        char keys[96];
        keymap_keys_text((enum km_action)a, keys, sizeof keys);
        fputs(".TP\n.B \"", stdout);
        put_escaped(keys);
        fputs("\"\n", stdout);
        put_escaped(b->help);
        puts(b->mutates ? " (changes an image: not with \\-\\-read\\-only)" : "");
    }
}

int main(void)
{
    section("Every screen", KM_ALL, true);
    section("Browser", KM_BROWSER, false);
    section("Map", KM_MAP, false);
    section("Tree", KM_TREE, false);
    section("Jobs", KM_JOBS, false);
    section("Inside an image", KM_INSIDE, false);
    return 0;
}

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* main.c: dimg's entry point, and the one file that knows both faces: it hands the command
 * line (cli/, which dispatches on the command word) the interactive application's entry
 * points (tui/tui.h), for no command word and for dimg demo.
 * Talks to: cli/cli.h, tui/tui.h. */
#include "cli/cli.h"
#include "tui/tui.h"

int main(int argc, char **argv)
{
    static const struct cli_app app = {tui_take_opt, tui_main};
    return cli_main(argc, argv, &app);
}

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* main.c: dimg's entry point. With a command word (info, create, convert, ...) it runs the
 * scriptable command line (cli_*.c); the interactive application arrives with its own issue.
 * Talks to: cli.h. */
#include "tui/cli.h"

#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    return cli_main(argc, argv);
}

/* cli.c: command dispatch, --help and --version. Placeholder until the commands land. */
#include "tui/cli.h"

#include <stdio.h>
#include <string.h>

int cli_main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--version") == 0) {
        printf("dimg %s\n", DIMG_VERSION);
        return 0;
    }
    fprintf(stderr, "usage: dimg COMMAND ...\n");
    return 1;
}

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* list_formats.c: a build tool (not installed) that prints the format names of the driver
 * registry for the shell completions: "read" lists every driver (-f), "create" those that
 * can create images (-O, create -f). CMakeLists.txt runs it and cmake/completions.cmake puts
 * its output into completions/dimg.bash.in and completions/_dimg.in.
 * Talks to: formats/registry.c (img_driver_list). */
#include <stdio.h>
#include <string.h>

#include "core/block/img.h"

int main(int argc, char **argv)
{
    int create = argc > 1 && strcmp(argv[1], "create") == 0;
    size_t n;
    const struct img_driver *const *d = img_driver_list(&n);
    const char *sep = "";
    for (size_t i = 0; i < n; i++) {
        if (create && !img_driver_has(d[i], IMG_OP_CREATE))
            continue;
        printf("%s%s", sep, img_driver_name(d[i]));
        sep = " ";
    }
    putchar('\n');
    return 0;
}

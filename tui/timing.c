/* SPDX-License-Identifier: GPL-2.0-or-later */
/* timing.c: DIMG_TIMING milestones (see timing.h): a start time taken when the program is
 * loaded, and one write() per mark to a file opened for appending.
 * Talks to: the clock, the file named by DIMG_TIMING. Callers: app.c.
 */
#include "tui/timing.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static struct timespec timing_t0;
static int timing_fd = -2; /* -2: not looked at yet, -1: off */

/* As early as the process gets: before main(). */
__attribute__((constructor)) static void timing_start(void)
{
    clock_gettime(CLOCK_MONOTONIC, &timing_t0);
}

static double timing_ms(const struct timespec *a, const struct timespec *b)
{
    return (double)(b->tv_sec - a->tv_sec) * 1e3 + (double)(b->tv_nsec - a->tv_nsec) / 1e6;
}

void timing_mark(const char *name)
{
    if (timing_fd == -1)
        return;
    if (timing_fd == -2) {
        const char *path = getenv("DIMG_TIMING");
        timing_fd =
            path && *path ? open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644) : -1;
        if (timing_fd < 0)
            return;
    }
    struct timespec now, cpu, zero = {0, 0};
    clock_gettime(CLOCK_MONOTONIC, &now);
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu);
    char line[160];
    int n = snprintf(line, sizeof line, "%s %.1f cpu %.1f\n", name, timing_ms(&timing_t0, &now),
                     timing_ms(&zero, &cpu));
    if (n > 0 && (size_t)n < sizeof line) {
        ssize_t w = write(timing_fd, line, (size_t)n);
        (void)w;
    }
}

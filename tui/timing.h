/* SPDX-License-Identifier: GPL-2.0-or-later */
/* timing.h: milestones of the interactive application for measuring it (tests/bench/run).
 *
 * When DIMG_TIMING names a file, each timing_mark(NAME) appends one line to it:
 *   NAME MS cpu CPU_MS
 * MS: milliseconds since the process started (CLOCK_MONOTONIC, taken when the program is
 * loaded), CPU_MS: the process's CPU time so far (all threads, user + system). When the
 * variable is unset a mark costs one branch. Main thread only.
 * Talks to: nothing but the clock and the file. Callers: app.c, view_map.c, view_inside.c.
 */
#ifndef DIMG_TIMING_H
#define DIMG_TIMING_H

/* Append NAME's line to $DIMG_TIMING (opened on the first mark; errors are ignored). */
void timing_mark(const char *name);

#endif

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* progress.h: the command line's face of the job engine: a one-line progress bar on stderr
 * (percent, bytes, rate, ETA; at most ~10 redraws a second) and progress_run_job(), which runs
 * one operation as a job, draws the bar while waiting, and turns SIGINT/SIGTERM into a clean
 * cancel (exit 130/143, the operation removes its partial target).
 * Talks to: core/jobs/job.h, cli.h (sizes, error lines).
 */
#ifndef DIMG_PROGRESS_H
#define DIMG_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>

#include "core/jobs/job.h"

struct progress_bar {
    bool on;
    bool drawn;       /* something is on the line (needs a newline at the end) */
    uint64_t last_ns; /* last redraw */
    int width;        /* characters of the last line, to blank leftovers */
};

/* Whether to draw: with -p, or whenever stderr is a terminal; never with -q. */
bool progress_wanted(bool flag_p, bool quiet);
void progress_init(struct progress_bar *b, bool on);
/* Redraw from v unless the last redraw was under 0.1 s ago (force: always). */
void progress_draw(struct progress_bar *b, const struct job_view *v, bool force);
/* Finish the line with a newline (if anything was drawn). */
void progress_end(struct progress_bar *b);

/* Run fn(arg) as a job titled title, with a bar when show. Returns the exit status: 0 done,
 * 1 failed (the error line printed), 130 after SIGINT, 143 after SIGTERM (cancelled; the
 * error line printed). *result (may be NULL) receives the operation's return value. */
int progress_run_job(const char *title, job_fn fn, void *arg, bool show, int *result);

#endif

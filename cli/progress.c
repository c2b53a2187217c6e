/* SPDX-License-Identifier: GPL-2.0-or-later */
/* progress.c: the stderr progress bar and the job runner of the command line (progress.h).
 *
 * The main thread owns the terminal and the signals: the job runs on a worker (which blocks
 * SIGINT/SIGTERM), the main thread sleeps in poll() on the engine's wakeup fd with a 0.1 s
 * timeout, redraws, and on a signal cancels the job and waits for it to clean up.
 * Talks to: core/jobs/job.h, cli.h.
 */
#include "cli/progress.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/describe/describe.h"

#define PROGRESS_REDRAW_NS 100000000ull /* ~10 redraws a second */
#define PROGRESS_BAR_CELLS 20

static volatile sig_atomic_t progress_sig;

static void progress_on_signal(int sig)
{
    progress_sig = sig;
}

static uint64_t progress_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

bool progress_wanted(bool flag_p, bool quiet)
{
    return !quiet && (flag_p || isatty(STDERR_FILENO));
}

void progress_init(struct progress_bar *b, bool on)
{
    memset(b, 0, sizeof *b);
    b->on = on;
}

static void progress_eta(char *buf, size_t n, int64_t eta)
{
    if (eta < 0)
        snprintf(buf, n, "--:--");
    else if (eta >= 3600)
        snprintf(buf, n, "%lld:%02lld:%02lld", (long long)(eta / 3600), (long long)(eta / 60 % 60),
                 (long long)(eta % 60));
    else
        snprintf(buf, n, "%lld:%02lld", (long long)(eta / 60), (long long)(eta % 60));
}

void progress_draw(struct progress_bar *b, const struct job_view *v, bool force)
{
    if (!b->on)
        return;
    uint64_t now = progress_now_ns();
    if (!force && b->drawn && now - b->last_ns < PROGRESS_REDRAW_NS)
        return;
    b->last_ns = now;
    double frac = v->total ? (double)v->done / (double)v->total : (v->state == JOB_DONE);
    if (frac > 1)
        frac = 1;
    char bar[PROGRESS_BAR_CELLS + 1];
    int full = (int)(frac * PROGRESS_BAR_CELLS);
    for (int i = 0; i < PROGRESS_BAR_CELLS; i++)
        bar[i] = i < full ? '#' : '.';
    bar[PROGRESS_BAR_CELLS] = 0;
    char done[32], total[32], rate[32] = "", eta[32];
    describe_size_str(v->done, done, sizeof done);
    describe_size_str(v->total, total, sizeof total);
    if (v->rate)
        describe_size_str(v->rate, rate, sizeof rate);
    progress_eta(eta, sizeof eta, v->state == JOB_DONE ? 0 : v->eta);
    char line[160];
    int n = snprintf(line, sizeof line, "%3d%% [%s] %s / %s  %s%s  ETA %s", (int)(frac * 100), bar,
                     done, total, rate, v->rate ? "/s" : "-", eta);
    if (n < 0)
        return;
    if (n > (int)sizeof line - 1)
        n = (int)sizeof line - 1;
    /* Blank whatever a longer previous line left behind. */
    fprintf(stderr, "\r%s%*s", line, b->width > n ? b->width - n : 0, "");
    fflush(stderr);
    b->width = n;
    b->drawn = true;
}

void progress_end(struct progress_bar *b)
{
    if (b->on && b->drawn) {
        fputc('\n', stderr);
        fflush(stderr);
    }
    b->drawn = false;
}

int progress_run_job(const char *title, job_fn fn, void *arg, bool show, int *result)
{
    struct img_err err = {0};
    struct job_engine *e = job_engine_new(0, &err);
    if (!e) {
        cli_err("%s", err.msg);
        return 1;
    }
    struct sigaction sa, old_int, old_term;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = progress_on_signal;
    sigemptyset(&sa.sa_mask);
    progress_sig = 0;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);

    struct job *j = job_submit(e, title, fn, arg, &err);
    if (!j) {
        sigaction(SIGINT, &old_int, NULL);
        sigaction(SIGTERM, &old_term, NULL);
        job_engine_free(e);
        cli_err("%s", err.msg);
        return 1;
    }
    struct progress_bar bar;
    progress_init(&bar, show);
    struct pollfd pfd = {.fd = job_engine_wakeup_fd(e), .events = POLLIN};
    bool cancelled = false;
    struct job_view v;
    while (!job_finished(j)) {
        if (progress_sig && !cancelled) {
            job_cancel(j);
            cancelled = true;
        }
        if (poll(&pfd, 1, 100) > 0)
            job_engine_drain(e);
        job_snapshot(j, &v);
        if (v.state == JOB_RUNNING && v.total) /* nothing to show before the totals */
            progress_draw(&bar, &v, false);
    }
    int r = job_wait(j);
    job_snapshot(j, &v);
    if (v.state == JOB_DONE)
        progress_draw(&bar, &v, true);
    progress_end(&bar);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);

    int status = 0;
    if (v.state != JOB_DONE) {
        cli_err("%s", v.err.msg);
        status = 1;
        if (v.state == JOB_CANCELLED && progress_sig)
            status = 128 + progress_sig;
    }
    if (result)
        *result = r;
    job_engine_free(e);
    return status;
}

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* view_jobs.c: the jobs the application started (convert, resize, append, check, snapshot
 * work): starting them on the engine, the jobs screen (a bar, rate, ETA, state and message
 * each; x cancels), the footer summary, and what happens when one finishes (a status line,
 * and the directory rescanned so the new or changed file shows).
 * Talks to: app.h, core/jobs/job.h, keymap.h.
 */
#include "tui/app.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct list jobs_list; /* the jobs screen's selection and scroll, over a->ajobs */

struct app_job *jobs_start(struct app *a, const char *title, const char *target, job_fn fn,
                           void *arg, void (*free_arg)(void *),
                           void (*done)(struct app *, struct app_job *))
{
    return jobs_start_from(a, title, NULL, target, fn, arg, free_arg, done);
}

struct app_job *jobs_start_from(struct app *a, const char *title, const char *source,
                                const char *target, job_fn fn, void *arg, void (*free_arg)(void *),
                                void (*done)(struct app *, struct app_job *))
{
    struct app_job *v = realloc(a->ajobs, (a->najobs + 1) * sizeof *v);
    if (!v) {
        app_status(a, true, "out of memory");
        if (free_arg)
            free_arg(arg);
        return NULL;
    }
    a->ajobs = v;
    struct img_err err = {0};
    struct job_file files[2];
    size_t nfiles = 0;
    if (source)
        files[nfiles++] = (struct job_file){source, false};
    if (target)
        files[nfiles++] = (struct job_file){target, true};
    struct job *j = job_submit_files(a->jobs, title, fn, arg, files, nfiles, &err);
    if (!j) {
        app_status(a, true, "%s", err.msg);
        if (free_arg)
            free_arg(arg);
        return NULL;
    }
    struct app_job *aj = &a->ajobs[a->najobs++];
    memset(aj, 0, sizeof *aj);
    aj->job = j;
    snprintf(aj->title, sizeof aj->title, "%s", title);
    aj->target = target ? strdup(target) : NULL;
    aj->arg = arg;
    aj->free_arg = free_arg;
    aj->done = done;
    app_status(a, false, "started: %s (J shows jobs)", title);
    return aj;
}

unsigned jobs_running(struct app *a)
{
    unsigned n = 0;
    for (size_t i = 0; i < a->najobs; i++)
        if (!job_finished(a->ajobs[i].job))
            n++;
    return n;
}

void jobs_summary(struct app *a, char *buf, size_t n)
{
    uint64_t done = 0, total = 0;
    unsigned run = 0;
    for (size_t i = 0; i < a->najobs; i++) {
        struct job *j = a->ajobs[i].job;
        if (job_finished(j))
            continue;
        run++;
        done += atomic_load(&j->done);
        total += atomic_load(&j->total);
    }
    if (!run) {
        buf[0] = 0;
        return;
    }
    snprintf(buf, n, " %u job%s, %.0f%% ", run, run == 1 ? "" : "s",
             total ? 100.0 * (double)done / (double)total : 0.0);
}

void jobs_poll(struct app *a)
{
    bool rescan = false;
    for (size_t i = 0; i < a->najobs; i++) {
        struct app_job *aj = &a->ajobs[i];
        if (aj->finished_seen || !job_finished(aj->job))
            continue;
        aj->finished_seen = true;
        struct job_view v;
        job_snapshot(aj->job, &v);
        if (v.state == JOB_DONE)
            app_status(a, false, "done: %s%s%s", aj->title, v.msg[0] ? " - " : "", v.msg);
        else if (v.state == JOB_CANCELLED)
            app_status(a, false, "cancelled: %s", aj->title);
        else
            app_status(a, true, "failed: %s: %s", aj->title, v.err.msg);
        if (aj->done)
            aj->done(a, aj);
        rescan = true;
    }
    if (rescan && a->dir) {
        /* The new or changed file shows with its new facts; filter, cursor and scroll stay. */
        char status[256];
        snprintf(status, sizeof status, "%s", a->status);
        bool serr = a->status_err;
        browser_rescan(a);
        snprintf(a->status, sizeof a->status, "%s", status);
        a->status_err = serr;
        app_tick(a);
    }
}

/* Jobs that fit below the title, two rows each. */
static int jobs_slots(struct rect r)
{
    return r.h - 1 >= 4 ? (r.h - 1) / 2 : 1;
}

static void jobs_draw(struct app *a, struct rect r)
{
    app_put(r.y, r.x, r.w, " Jobs   (x cancels the selected job, X clears finished ones, q back)",
            app_attr(a, THEME_E_TITLE), true);
    if (!a->najobs) {
        app_put(r.y + 2, r.x + 2, r.w - 2,
                "No jobs yet. In the browser: c convert, R resize, "
                "A append, C check.",
                app_attr(a, THEME_E_IMAGE_UNKNOWN), false);
        return;
    }
    /* Two rows a job; the selection always on screen, the position at the title's end. */
    list_place(&jobs_list, a->najobs, jobs_slots(r));
    app_list_position(a, r, &jobs_list, a->najobs);
    int y = r.y + 1;
    for (size_t i = jobs_list.top; i < a->najobs && y + 1 < r.y + r.h; i++) {
        struct job_view v;
        job_snapshot(a->ajobs[i].job, &v);
        bool sel = i == jobs_list.cur;
        enum theme_elem el = v.state == JOB_FAILED ? THEME_E_JOB_FAILED
                             : v.state >= JOB_DONE ? THEME_E_JOB_DONE
                                                   : THEME_E_JOB_RUNNING;
        enum theme_glyph gl = v.state == JOB_FAILED || v.state == JOB_CANCELLED
                                  ? THEME_G_JOB_FAILED
                                  : (v.state == JOB_DONE ? THEME_G_JOB_DONE : THEME_G_JOB_RUNNING);
        char head[400];
        snprintf(head, sizeof head, " %s %-9s %s", theme_glyph(&a->theme, gl),
                 job_state_name(v.state), a->ajobs[i].title);
        app_put(y, r.x, r.w, head, sel ? app_attr(a, THEME_E_SELECTION) : app_attr(a, el), true);
        y++;
        /* The bar: 30 cells, then bytes, rate, ETA and the message. */
        double frac = v.total ? (double)v.done / (double)v.total : (v.state == JOB_DONE ? 1 : 0);
        if (frac > 1)
            frac = 1;
        int cells = r.w - 4 < 30 ? r.w - 4 : 30;
        int x = app_bar(a, y, r.x + 4, cells > 0 ? cells : 0, frac);
        char d1[16], d2[16], d3[16], tail[600], eta[32] = "";
        if (v.eta >= 0 && v.state == JOB_RUNNING)
            snprintf(eta, sizeof eta, "  ETA %lld:%02lld", (long long)v.eta / 60,
                     (long long)v.eta % 60);
        char rate[32] = "";
        if (v.state == JOB_RUNNING && v.rate)
            snprintf(rate, sizeof rate, "  %s/s", app_size(v.rate, d3, sizeof d3));
        /* Byte counts only for jobs that count bytes (a check counts none). */
        char bytes[48] = "";
        if (v.total)
            snprintf(bytes, sizeof bytes, "  %s / %s", app_size(v.done, d1, sizeof d1),
                     app_size(v.total, d2, sizeof d2));
        snprintf(tail, sizeof tail, " %3.0f%%%s%s%s  %s", frac * 100, bytes, rate, eta,
                 v.state == JOB_FAILED || v.state == JOB_CANCELLED ? v.err.msg : v.msg);
        app_put(y, x, r.x + r.w - x, tail,
                app_attr(a, v.state == JOB_FAILED ? THEME_E_ERROR : THEME_E_DEFAULT), false);
        y++;
    }
}

static void jobs_key(struct app *a, int ch, enum km_action act)
{
    (void)ch;
    if (list_move(&jobs_list, a->najobs, jobs_slots(a->lay.body), act))
        return;
    size_t cur = jobs_list.cur;
    switch (act) {
    case KM_A_CANCEL_JOB:
        if (cur >= a->najobs) {
            app_status(a, false, "no job to cancel");
        } else if (job_finished(a->ajobs[cur].job)) {
            struct job_view v;
            job_snapshot(a->ajobs[cur].job, &v);
            app_status(a, false, "%s: already %s, nothing to cancel (X clears finished jobs)",
                       a->ajobs[cur].title, job_state_name(v.state));
        } else {
            job_cancel(a->ajobs[cur].job);
            app_status(a, false, "cancelling: %s", a->ajobs[cur].title);
        }
        break;
    case KM_A_CLEAR_JOBS: {
        size_t w = 0;
        for (size_t i = 0; i < a->najobs; i++) {
            struct app_job *aj = &a->ajobs[i];
            if (job_finished(aj->job) && aj->finished_seen) {
                job_release(aj->job);
                free(aj->target);
                if (aj->free_arg)
                    aj->free_arg(aj->arg);
                continue;
            }
            a->ajobs[w++] = *aj;
        }
        size_t gone = a->najobs - w;
        a->najobs = w;
        jobs_list = (struct list){0, 0};
        app_status(a, false, "%zu finished job%s cleared", gone, gone == 1 ? "" : "s");
        break;
    }
    default: break;
    }
}

const struct screen screen_jobs = {
    .name = "jobs",
    .keys = KM_JOBS,
    .opens = KM_A_JOBS,
    .keys_title = "Jobs",
    .hint = "x cancel, X clear finished, g/G first/last, q back",
    .draw = jobs_draw,
    .key = jobs_key,
};

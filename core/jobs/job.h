/* SPDX-License-Identifier: GPL-2.0-or-later */
/* job.h: the job engine: long operations (convert, resize, append, ...) run on worker threads.
 *
 * A job is a function pointer plus an argument. An engine runs at most max_running jobs at once
 * (default: the number of online cores); the rest wait in a FIFO queue. The UI (the command
 * line's progress bar today, the ncurses jobs view next) reads progress without locks through
 * atomics, takes a snapshot (job_snapshot) for the message and error, and sleeps in poll() on
 * the engine's wakeup fd, which becomes readable on every state change.
 *
 * Workers never ask questions: every decision (target, overwrite, totals) is made before
 * job_submit. Cancellation is a flag the operation polls between batches (ops_progress.cancel).
 * job_run_inline runs a job on the calling thread, for deterministic tests.
 *
 * Talks to: ops.h (struct ops_progress, which a job hands to the operation it wraps) and
 * pthreads. Never prints.
 */
#ifndef DIMG_JOB_H
#define DIMG_JOB_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/base/err.h"
#include "core/ops/ops.h"

enum job_state { JOB_QUEUED, JOB_RUNNING, JOB_DONE, JOB_FAILED, JOB_CANCELLED };
const char *job_state_name(enum job_state s);

struct job;
struct job_engine;

/* The operation: returns 0 or -errno, the message in *err. It reports progress through
 * job_progress() or the ops_progress from job_ops_progress(), and polls job_should_stop(). */
typedef int (*job_fn)(struct job *j, void *arg, struct img_err *err);

/* Rate window: 25 samples of at least 0.2 s, about the last 5 seconds of progress. */
#define JOB_RATE_WINDOW 25

struct job {
    unsigned id;
    char title[128];
    job_fn fn;
    void *arg;

    /* Read by anyone at any time. */
    _Atomic uint64_t done, total; /* bytes */
    _Atomic int state;            /* enum job_state */
    atomic_int cancel;            /* set by job_cancel; polled by the operation */
    _Atomic uint64_t rate;        /* bytes per second over the rate window (0: not known yet) */
    _Atomic int64_t eta;          /* seconds left, -1 when unknown */

    /* Private to the engine and the worker. */
    pthread_mutex_t lock; /* guards msg and err */
    char msg[256];        /* one-line status ("copying data") */
    struct img_err err;   /* valid once the state is FAILED or CANCELLED */
    int result;
    struct ops_progress prog;   /* handed to the wrapped operation */
    uint64_t t_start, t_sample; /* monotonic ns, for the rate */
    /* The last JOB_RATE_WINDOW progress samples (time, done): the rate is taken over the
     * window, so that a hole skipped in one step moves the ETA by one step's share only. */
    uint64_t win_t[JOB_RATE_WINDOW], win_done[JOB_RATE_WINDOW];
    unsigned win_n, win_i;
    uint64_t (*clock)(void); /* monotonic ns; NULL: CLOCK_MONOTONIC (tests set a fake) */
    unsigned slow_ms;        /* DIMG_TEST_SLOW_MS: pause per batch (tests only) */
    struct job_engine *eng;  /* NULL for inline jobs */
    struct job *next_queued, *next_all;
    struct job_claim_id *claims; /* files named to job_submit_files (engine-owned) */
    size_t nclaims;
};

/* A copy of a job's state for display (taken under the job's lock). */
struct job_view {
    unsigned id;
    char title[128];
    enum job_state state;
    uint64_t done, total, rate;
    int64_t eta;
    char msg[256];
    struct img_err err;
};

/* ---- engine (UI side) ---- */
/* max_running 0: the number of online cores. NULL with err set on failure. */
struct job_engine *job_engine_new(unsigned max_running, struct img_err *err);
/* Cancel every job, wait for the workers, free every job. */
void job_engine_free(struct job_engine *e);
/* Readable after a state change; job_engine_drain() clears it. */
int job_engine_wakeup_fd(const struct job_engine *e);
void job_engine_drain(struct job_engine *e);
unsigned job_engine_max_running(const struct job_engine *e);
/* Jobs queued or running. */
unsigned job_engine_active(struct job_engine *e);

/* Queue fn(arg); the engine owns the job (job_release or job_engine_free frees it). */
struct job *job_submit(struct job_engine *e, const char *title, job_fn fn, void *arg,
                       struct img_err *err);
/* A file a job will read or write, named before it is submitted. */
struct job_file {
    const char *path;
    bool write;
};
/* job_submit, refused (NULL, -EBUSY, err set) before anything starts when the job would write
 * a file another unfinished job of this engine reads or writes, or read a file one writes, or
 * when it writes a file it also reads (a source that is its own target). Files are compared by
 * (st_dev, st_ino); one not there yet (a new target) by its directory's and its name. Other
 * processes are kept out by the image locks (lock.h) instead. */
struct job *job_submit_files(struct job_engine *e, const char *title, job_fn fn, void *arg,
                             const struct job_file *files, size_t nfiles, struct img_err *err);
/* Ask a job to stop; a queued job is cancelled at once. */
void job_cancel(struct job *j);
/* Block until the job reaches DONE, FAILED or CANCELLED; returns its result. */
int job_wait(struct job *j);
/* Free a finished job (no-op while it is queued or running). */
void job_release(struct job *j);
void job_snapshot(struct job *j, struct job_view *v);
static inline enum job_state job_state_get(const struct job *j)
{
    return (enum job_state)atomic_load(&j->state);
}
static inline bool job_finished(const struct job *j)
{
    return job_state_get(j) >= JOB_DONE;
}

/* ---- inline runner (tests) ---- */
/* Initialise a caller-owned job (no engine); job_fini releases its lock. */
void job_init(struct job *j, const char *title, job_fn fn, void *arg);
void job_fini(struct job *j);
/* Run j on the calling thread from QUEUED to its final state; returns its result. */
int job_run_inline(struct job *j);

/* ---- worker side ---- */
/* Record progress (done is kept monotone and within total); updates rate and ETA; honours
 * the test throttle. */
void job_progress(struct job *j, uint64_t done, uint64_t total);
bool job_should_stop(const struct job *j);
/* Set the one-line status message. */
void job_status(struct job *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* An ops_progress wired to this job (callback, cancel flag) for the ops_* functions. */
struct ops_progress *job_ops_progress(struct job *j);

#endif

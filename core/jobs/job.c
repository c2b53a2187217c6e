/* SPDX-License-Identifier: GPL-2.0-or-later */
/* job.c: the job engine declared in job.h: a FIFO queue, a pool of at most max_running worker
 * threads (created on demand), atomic progress with a smoothed rate and ETA, an eventfd
 * written on state changes, and an inline runner for tests.
 *
 * Locking: the engine mutex guards the queue, the list of all jobs and the thread pool; each
 * job's mutex guards its message and error. Counters and the state are atomics so that a UI
 * can read them at any rate without contending with the worker.
 * Talks to: ops.h (struct ops_progress), img.h (NBD URIs claimed by name), pthreads, eventfd.
 * Never prints.
 */
#include "core/jobs/job.h"
#include "core/base/cancel.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define JOB_RATE_SAMPLE_NS 200000000ull /* recompute the rate at most every 0.2 s */

struct job_engine {
    pthread_mutex_t lock;
    pthread_cond_t work;     /* a job was queued, or shutdown */
    pthread_cond_t finished; /* some job reached a final state */
    struct job *queue_head, *queue_tail;
    struct job *all; /* every job not yet released */
    pthread_t *threads;
    unsigned nthreads, idle, max_running, next_id;
    bool shutdown;
    int wake_fd;
};

const char *job_state_name(enum job_state s)
{
    switch (s) {
    case JOB_QUEUED: return "queued";
    case JOB_RUNNING: return "running";
    case JOB_DONE: return "done";
    case JOB_FAILED: return "failed";
    case JOB_CANCELLED: return "cancelled";
    }
    return "?";
}

static uint64_t job_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t job_clock(const struct job *j)
{
    return j->clock ? j->clock() : job_now_ns();
}

static void job_wake(struct job_engine *e)
{
    if (!e)
        return;
    uint64_t one = 1;
    /* A full counter (EAGAIN) still leaves the fd readable: nothing is lost. */
    while (write(e->wake_fd, &one, sizeof one) < 0 && errno == EINTR)
        ;
}

struct job_claim_id;
static void job_claims_free(struct job_claim_id *c, size_t n);

static void job_set_state(struct job *j, enum job_state s)
{
    /* Read eng first: once a final state is visible the UI may free j. */
    struct job_engine *e = j->eng;
    atomic_store(&j->state, (int)s);
    job_wake(e);
}

static void job_ops_cb(void *ctx, const struct ops_progress *p)
{
    job_progress(ctx, p->done, p->total);
}

void job_init(struct job *j, const char *title, job_fn fn, void *arg)
{
    memset(j, 0, sizeof *j);
    snprintf(j->title, sizeof j->title, "%s", title ? title : "");
    j->fn = fn;
    j->arg = arg;
    atomic_init(&j->done, 0);
    atomic_init(&j->total, 0);
    atomic_init(&j->state, JOB_QUEUED);
    atomic_init(&j->cancel, 0);
    atomic_init(&j->rate, 0);
    atomic_init(&j->eta, -1);
    pthread_mutex_init(&j->lock, NULL);
    j->prog = (struct ops_progress){.cb = job_ops_cb, .ctx = j, .cancel = &j->cancel};
    /* A throttle between batches so that tests can interrupt a job reliably. */
    const char *slow = getenv("DIMG_TEST_SLOW_MS");
    if (slow && *slow)
        j->slow_ms = (unsigned)strtoul(slow, NULL, 10);
}

void job_fini(struct job *j)
{
    pthread_mutex_destroy(&j->lock);
    job_claims_free(j->claims, j->nclaims);
    j->claims = NULL;
    j->nclaims = 0;
}

/* Run the job on the current thread: RUNNING, the operation, then the final state. */
static void job_execute(struct job *j)
{
    struct img_err err = {0};
    j->t_start = j->t_sample = job_clock(j);
    j->win_t[0] = j->t_start;
    j->win_done[0] = 0;
    j->win_n = 1;
    j->win_i = 1 % JOB_RATE_WINDOW;
    job_set_state(j, JOB_RUNNING);
    cancel_attach(&j->cancel); /* also for work with no progress struct (a LUKS unlock) */
    int r = j->fn(j, j->arg, &err);
    cancel_attach(NULL);
    enum job_state final = JOB_DONE;
    if (r < 0) {
        final = (r == -ECANCELED || atomic_load(&j->cancel)) ? JOB_CANCELLED : JOB_FAILED;
        if (!err.code)
            err.code = r;
        if (!err.msg[0])
            snprintf(err.msg, sizeof err.msg, "%s: %s", j->title, strerror(-r));
    } else {
        uint64_t t = atomic_load(&j->total);
        if (atomic_load(&j->done) < t)
            atomic_store(&j->done, t);
        atomic_store(&j->eta, 0);
    }
    pthread_mutex_lock(&j->lock);
    j->err = err;
    j->result = r;
    pthread_mutex_unlock(&j->lock);
    job_set_state(j, final);
}

int job_run_inline(struct job *j)
{
    if (job_state_get(j) != JOB_QUEUED)
        return -EINVAL;
    if (atomic_load(&j->cancel)) {
        pthread_mutex_lock(&j->lock);
        j->result = err_set(&j->err, -ECANCELED, "%s: cancelled", j->title);
        pthread_mutex_unlock(&j->lock);
        job_set_state(j, JOB_CANCELLED);
        return -ECANCELED;
    }
    job_execute(j);
    return j->result;
}

/* ---- worker side ---- */

void job_progress(struct job *j, uint64_t done, uint64_t total)
{
    if (total)
        atomic_store(&j->total, total);
    uint64_t t = atomic_load(&j->total);
    if (t && done > t)
        done = t;
    if (done > atomic_load(&j->done))
        atomic_store(&j->done, done); /* monotone for the UI */
    done = atomic_load(&j->done);

    uint64_t now = job_clock(j);
    if (now - j->t_sample >= JOB_RATE_SAMPLE_NS) {
        /* Rate over the window: the oldest sample kept to now. Sparse input (holes skipped
         * at once, data copied slowly) averages out instead of swinging the ETA. */
        unsigned oldest = j->win_n < JOB_RATE_WINDOW ? 0 : j->win_i;
        double dt = (double)(now - j->win_t[oldest]) / 1e9;
        uint64_t d0 = j->win_done[oldest];
        uint64_t rate = dt > 0 ? (uint64_t)((double)(done - d0) / dt) : 0;
        atomic_store(&j->rate, rate);
        atomic_store(&j->eta, rate ? (int64_t)((t > done ? t - done : 0) / rate) : -1);
        j->t_sample = now;
        j->win_t[j->win_i] = now;
        j->win_done[j->win_i] = done;
        j->win_i = (j->win_i + 1) % JOB_RATE_WINDOW;
        if (j->win_n < JOB_RATE_WINDOW)
            j->win_n++;
    }
    if (j->slow_ms) {
        struct timespec ts = {j->slow_ms / 1000, (long)(j->slow_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
}

bool job_should_stop(const struct job *j)
{
    return atomic_load(&j->cancel) != 0;
}

void job_status(struct job *j, const char *fmt, ...)
{
    va_list ap;
    pthread_mutex_lock(&j->lock);
    va_start(ap, fmt);
    vsnprintf(j->msg, sizeof j->msg, fmt, ap);
    va_end(ap);
    pthread_mutex_unlock(&j->lock);
}

struct ops_progress *job_ops_progress(struct job *j)
{
    return &j->prog;
}

/* ---- engine ---- */

static void *job_worker(void *arg)
{
    struct job_engine *e = arg;
    pthread_mutex_lock(&e->lock);
    for (;;) {
        while (!e->queue_head && !e->shutdown) {
            e->idle++;
            pthread_cond_wait(&e->work, &e->lock);
            e->idle--;
        }
        if (!e->queue_head)
            break; /* shutdown with nothing left */
        struct job *j = e->queue_head;
        e->queue_head = j->next_queued;
        if (!e->queue_head)
            e->queue_tail = NULL;
        j->next_queued = NULL;
        pthread_mutex_unlock(&e->lock);

        job_execute(j);

        pthread_mutex_lock(&e->lock);
        pthread_cond_broadcast(&e->finished);
    }
    pthread_mutex_unlock(&e->lock);
    return NULL;
}

struct job_engine *job_engine_new(unsigned max_running, struct img_err *err)
{
    if (max_running == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        max_running = n > 0 ? (unsigned)n : 1;
    }
    struct job_engine *e = calloc(1, sizeof *e);
    if (e)
        e->threads = calloc(max_running, sizeof *e->threads);
    if (!e || !e->threads) {
        free(e);
        err_set(err, -ENOMEM, "out of memory");
        return NULL;
    }
    e->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (e->wake_fd < 0) {
        err_set(err, -errno, "eventfd: %s", strerror(errno));
        free(e->threads);
        free(e);
        return NULL;
    }
    e->max_running = max_running;
    pthread_mutex_init(&e->lock, NULL);
    pthread_cond_init(&e->work, NULL);
    pthread_cond_init(&e->finished, NULL);
    return e;
}

int job_engine_wakeup_fd(const struct job_engine *e)
{
    return e->wake_fd;
}

void job_engine_drain(struct job_engine *e)
{
    uint64_t v;
    while (read(e->wake_fd, &v, sizeof v) > 0)
        ;
}

unsigned job_engine_max_running(const struct job_engine *e)
{
    return e->max_running;
}

unsigned job_engine_active(struct job_engine *e)
{
    unsigned n = 0;
    pthread_mutex_lock(&e->lock);
    for (struct job *j = e->all; j; j = j->next_all)
        if (!job_finished(j))
            n++;
    pthread_mutex_unlock(&e->lock);
    return n;
}

/* Start one more worker with the UI's signals blocked, so that SIGINT, SIGTERM and SIGWINCH
 * always reach the main thread. Called with e->lock held. */
static int job_spawn_worker(struct job_engine *e)
{
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGWINCH);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    int r = pthread_create(&e->threads[e->nthreads], NULL, job_worker, e);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (r != 0)
        return -r;
    e->nthreads++;
    return 0;
}

/* ---- file claims ---- */

struct job_claim_id {
    dev_t dev;
    ino_t ino;
    char *name; /* for a file not there yet: its name in the directory (dev, ino) */
    char *path; /* as given, for messages */
    bool write;
};

static void job_claims_free(struct job_claim_id *c, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(c[i].name);
        free(c[i].path);
    }
    free(c);
}

/* The identity of path: its inode, or for a missing file its directory's inode and name. */
static int job_claim_resolve(const char *path, struct job_claim_id *c, struct img_err *err)
{
    struct stat st;
    memset(c, 0, sizeof *c);
    if (!(c->path = strdup(path)))
        return err_set(err, -ENOMEM, "out of memory");
    if (img_name_is_uri(path)) { /* an NBD export: known by its URI alone (dev and ino 0) */
        if (!(c->name = strdup(path)))
            return err_set(err, -ENOMEM, "out of memory");
        return 0;
    }
    if (stat(path, &st) == 0) {
        c->dev = st.st_dev;
        c->ino = st.st_ino;
        return 0;
    }
    const char *slash = strrchr(path, '/');
    char *dir = slash ? strndup(path, (size_t)(slash - path + 1)) : strdup(".");
    c->name = strdup(slash ? slash + 1 : path);
    int r = 0;
    if (!dir || !c->name)
        r = err_set(err, -ENOMEM, "out of memory");
    else if (stat(dir, &st) < 0)
        r = err_set(err, -errno, "%s: %s", path, strerror(errno));
    if (r == 0) {
        c->dev = st.st_dev;
        c->ino = st.st_ino;
    }
    free(dir);
    return r;
}

static bool job_claim_same(const struct job_claim_id *a, const struct job_claim_id *b)
{
    if (a->dev != b->dev || a->ino != b->ino || !a->name != !b->name)
        return false;
    return !a->name || strcmp(a->name, b->name) == 0;
}

/* Called with e->lock held: does j's file list collide with itself or an unfinished job? */
static int job_claims_check(struct job_engine *e, const struct job *j, struct img_err *err)
{
    for (size_t i = 0; i < j->nclaims; i++) {
        const struct job_claim_id *c = &j->claims[i];
        for (size_t k = i + 1; k < j->nclaims; k++)
            if ((c->write || j->claims[k].write) && job_claim_same(c, &j->claims[k]))
                return err_set(err, -EBUSY, "%s: the source and the target are the same file",
                               c->write ? c->path : j->claims[k].path);
        for (const struct job *o = e->all; o; o = o->next_all) {
            if (job_finished(o))
                continue;
            for (size_t k = 0; k < o->nclaims; k++)
                if ((c->write || o->claims[k].write) && job_claim_same(c, &o->claims[k]))
                    return err_set(err, -EBUSY,
                                   "%s is in use by job %u (%s); wait for it or cancel it", c->path,
                                   o->id, o->title);
        }
    }
    return 0;
}

struct job *job_submit(struct job_engine *e, const char *title, job_fn fn, void *arg,
                       struct img_err *err)
{
    return job_submit_files(e, title, fn, arg, NULL, 0, err);
}

struct job *job_submit_files(struct job_engine *e, const char *title, job_fn fn, void *arg,
                             const struct job_file *files, size_t nfiles, struct img_err *err)
{
    struct job *j = malloc(sizeof *j);
    if (!j) {
        err_set(err, -ENOMEM, "out of memory");
        return NULL;
    }
    job_init(j, title, fn, arg);
    j->eng = e;
    if (nfiles) {
        j->claims = calloc(nfiles, sizeof *j->claims);
        if (!j->claims) {
            err_set(err, -ENOMEM, "out of memory");
            job_fini(j);
            free(j);
            return NULL;
        }
        for (; j->nclaims < nfiles; j->nclaims++) {
            if (job_claim_resolve(files[j->nclaims].path, &j->claims[j->nclaims], err) < 0) {
                j->nclaims++;
                job_fini(j);
                free(j);
                return NULL;
            }
            j->claims[j->nclaims].write = files[j->nclaims].write;
        }
    }
    pthread_mutex_lock(&e->lock);
    if (e->shutdown || job_claims_check(e, j, err) < 0) {
        pthread_mutex_unlock(&e->lock);
        if (e->shutdown)
            err_set(err, -ESHUTDOWN, "job engine is shutting down");
        job_fini(j);
        free(j);
        return NULL;
    }
    /* Count the jobs already waiting for a worker: only spawn when no idle one will take it. */
    unsigned waiting = 0;
    for (struct job *q = e->queue_head; q; q = q->next_queued)
        waiting++;
    if (e->idle <= waiting && e->nthreads < e->max_running) {
        int r = job_spawn_worker(e);
        if (r < 0 && e->nthreads == 0) {
            pthread_mutex_unlock(&e->lock);
            job_fini(j);
            free(j);
            err_set(err, r, "cannot start a worker thread: %s", strerror(-r));
            return NULL;
        }
    }
    j->id = ++e->next_id;
    j->next_all = e->all;
    e->all = j;
    if (e->queue_tail)
        e->queue_tail->next_queued = j;
    else
        e->queue_head = j;
    e->queue_tail = j;
    pthread_cond_signal(&e->work);
    pthread_mutex_unlock(&e->lock);
    job_wake(e);
    return j;
}

/* Remove j from the queue if it is still there; called with e->lock held. */
static bool job_unqueue(struct job_engine *e, struct job *j)
{
    struct job *prev = NULL;
    for (struct job *q = e->queue_head; q; prev = q, q = q->next_queued) {
        if (q != j)
            continue;
        if (prev)
            prev->next_queued = q->next_queued;
        else
            e->queue_head = q->next_queued;
        if (e->queue_tail == q)
            e->queue_tail = prev;
        q->next_queued = NULL;
        return true;
    }
    return false;
}

void job_cancel(struct job *j)
{
    atomic_store(&j->cancel, 1);
    struct job_engine *e = j->eng;
    if (!e)
        return;
    pthread_mutex_lock(&e->lock);
    if (job_unqueue(e, j)) {
        pthread_mutex_lock(&j->lock);
        j->result = err_set(&j->err, -ECANCELED, "%s: cancelled", j->title);
        pthread_mutex_unlock(&j->lock);
        job_set_state(j, JOB_CANCELLED);
        pthread_cond_broadcast(&e->finished);
    }
    pthread_mutex_unlock(&e->lock);
}

int job_wait(struct job *j)
{
    struct job_engine *e = j->eng;
    if (e) {
        pthread_mutex_lock(&e->lock);
        while (!job_finished(j))
            pthread_cond_wait(&e->finished, &e->lock);
        pthread_mutex_unlock(&e->lock);
    }
    pthread_mutex_lock(&j->lock);
    int r = j->result;
    pthread_mutex_unlock(&j->lock);
    return r;
}

void job_snapshot(struct job *j, struct job_view *v)
{
    memset(v, 0, sizeof *v);
    v->id = j->id;
    memcpy(v->title, j->title, sizeof v->title);
    v->state = job_state_get(j);
    v->done = atomic_load(&j->done);
    v->total = atomic_load(&j->total);
    v->rate = atomic_load(&j->rate);
    v->eta = atomic_load(&j->eta);
    pthread_mutex_lock(&j->lock);
    memcpy(v->msg, j->msg, sizeof v->msg);
    if (v->state >= JOB_DONE)
        v->err = j->err;
    pthread_mutex_unlock(&j->lock);
}

void job_release(struct job *j)
{
    struct job_engine *e = j->eng;
    if (!e || !job_finished(j))
        return;
    pthread_mutex_lock(&e->lock);
    /* The worker may still be about to broadcast; it no longer touches j after execute. */
    for (struct job **p = &e->all; *p; p = &(*p)->next_all) {
        if (*p == j) {
            *p = j->next_all;
            break;
        }
    }
    pthread_mutex_unlock(&e->lock);
    job_fini(j);
    free(j);
}

void job_engine_free(struct job_engine *e)
{
    if (!e)
        return;
    pthread_mutex_lock(&e->lock);
    e->shutdown = true;
    for (struct job *j = e->all; j; j = j->next_all)
        atomic_store(&j->cancel, 1);
    while (e->queue_head) {
        struct job *j = e->queue_head;
        job_unqueue(e, j);
        j->result = err_set(&j->err, -ECANCELED, "%s: cancelled", j->title);
        job_set_state(j, JOB_CANCELLED);
    }
    pthread_cond_broadcast(&e->work);
    pthread_mutex_unlock(&e->lock);
    for (unsigned i = 0; i < e->nthreads; i++)
        pthread_join(e->threads[i], NULL);
    while (e->all) {
        struct job *j = e->all;
        e->all = j->next_all;
        job_fini(j);
        free(j);
    }
    pthread_cond_destroy(&e->work);
    pthread_cond_destroy(&e->finished);
    pthread_mutex_destroy(&e->lock);
    close(e->wake_fd);
    free(e->threads);
    free(e);
}

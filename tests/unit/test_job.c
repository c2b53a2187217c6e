/* SPDX-License-Identifier: GPL-2.0-or-later */
/* test_job.c: unit tests for core/jobs/job.c: the inline runner (progress monotone and reaching the
 * total, final states, errors), a convert cancelled mid-way leaving neither DST nor DST.part
 * (inline and on a worker, within a fraction of a second), two jobs really running in
 * parallel, queueing beyond the core count (never more than N running), cancelling a queued
 * job, the wakeup fd, the signal mask of workers, and an ETA that stays steady over sparse
 * input (a fake clock). */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/jobs/job.h"
#include "core/ops/ops.h"

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A raw file of size bytes full of pattern data (no holes: every chunk is copied). */
static void mk_data(const char *path, uint64_t size)
{
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    size_t chunk = 1 << 20;
    uint8_t *b = malloc(chunk);
    for (uint64_t off = 0; off < size; off += chunk) {
        tu_pattern(b, chunk, off, 3);
        assert_int_equal(pwrite(fd, b, chunk, (off_t)off), (ssize_t)chunk);
    }
    free(b);
    close(fd);
}

/* ---- the ETA over sparse input, on a fake clock ---- */

static uint64_t fake_ns;
static uint64_t fake_clock(void)
{
    return fake_ns;
}

#define SP_SAMPLES 150
struct sparse {
    int64_t eta[SP_SAMPLES];
};

/* A copy at 50 MiB/s of data whose every fifth 0.2 s step skips a 1 GiB hole: the ETA must
 * come down steadily, not jump at each hole (job.c's moving window over progress samples). */
static int sparse_fn(struct job *j, void *arg, struct img_err *err)
{
    struct sparse *s = arg;
    const uint64_t total = 200ull << 30;
    uint64_t done = 0;
    for (int i = 0; i < SP_SAMPLES; i++) {
        fake_ns += 200000000ull;
        done += (i % 5 == 4) ? 1ull << 30 : 10ull << 20;
        job_progress(j, done, total);
        s->eta[i] = atomic_load(&j->eta);
    }
    return 0;
}

static void test_eta_sparse_steady(void **state)
{
    struct sparse s;
    struct job j;
    fake_ns = 1000000000ull;
    job_init(&j, "sparse", sparse_fn, &s);
    j.clock = fake_clock;
    assert_int_equal(job_run_inline(&j), 0);
    /* After a warm-up of 5 s (25 samples), each 0.2 s step moves the ETA by at most 5%. */
    for (int i = 26; i < SP_SAMPLES; i++) {
        assert_true(s.eta[i] > 0);
        int64_t d = s.eta[i] - s.eta[i - 1];
        if (d < 0)
            d = -d;
        if (d * 20 > s.eta[i - 1])
            fail_msg("eta jumps from %lld to %lld s at sample %d", (long long)s.eta[i - 1],
                     (long long)s.eta[i], i);
    }
    /* And it is right: about (200 GiB - done) / 1064 MiB/s. */
    uint64_t done = 30ull * (1ull << 30) + 120ull * (10ull << 20);
    double want = (double)((200ull << 30) - done) / (1064.0 * 1048576.0 / 1.0);
    assert_true(s.eta[SP_SAMPLES - 1] > want * 0.9 && s.eta[SP_SAMPLES - 1] < want * 1.1);
    job_fini(&j);
}

/* ---- inline runner ---- */

struct steps {
    uint64_t seen[64];
    size_t n;
    uint64_t step, total;
    bool backwards; /* report a smaller value once: the engine must keep done monotone */
};

static int steps_fn(struct job *j, void *arg, struct img_err *err)
{
    struct steps *s = arg;
    for (uint64_t d = 0; d <= s->total; d += s->step) {
        job_progress(j, d, s->total);
        if (s->backwards && d == s->total / 2)
            job_progress(j, d / 2, s->total);
        s->seen[s->n++] = atomic_load(&j->done);
    }
    return 0;
}

static void test_inline_progress_monotone(void **state)
{
    struct steps s = {.step = 10, .total = 200, .backwards = true};
    struct job j;
    job_init(&j, "steps", steps_fn, &s);
    assert_int_equal(job_state_get(&j), JOB_QUEUED);
    assert_int_equal(job_run_inline(&j), 0);
    assert_int_equal(job_state_get(&j), JOB_DONE);
    assert_true(s.n > 2);
    for (size_t i = 1; i < s.n; i++)
        assert_true(s.seen[i] >= s.seen[i - 1]);
    assert_int_equal(atomic_load(&j.done), 200);
    assert_int_equal(atomic_load(&j.total), 200);
    struct job_view v;
    job_snapshot(&j, &v);
    assert_int_equal(v.done, v.total);
    assert_int_equal(v.state, JOB_DONE);
    /* A second run of a finished job is refused. */
    assert_int_equal(job_run_inline(&j), -EINVAL);
    job_fini(&j);
}

static int fail_fn(struct job *j, void *arg, struct img_err *err)
{
    job_status(j, "about to fail");
    return err_set(err, -EIO, "disk on fire");
}

static void test_inline_failure(void **state)
{
    struct job j;
    job_init(&j, "failing", fail_fn, NULL);
    assert_int_equal(job_run_inline(&j), -EIO);
    struct job_view v;
    job_snapshot(&j, &v);
    assert_int_equal(v.state, JOB_FAILED);
    assert_string_equal(v.err.msg, "disk on fire");
    assert_string_equal(v.msg, "about to fail");
    job_fini(&j);
}

/* ---- convert cancelled mid-way ---- */

struct conv_arg {
    struct ops_convert_req req;
    struct ops_progress prog; /* inline: cancels itself half-way, as a UI would */
    struct job *job;
    uint64_t cancel_at;
};

static void conv_cancel_cb(void *ctx, const struct ops_progress *p)
{
    struct conv_arg *a = ctx;
    job_progress(a->job, p->done, p->total);
    if (p->done >= a->cancel_at)
        atomic_store(&a->job->cancel, 1);
}

static int conv_fn(struct job *j, void *arg, struct img_err *err)
{
    struct conv_arg *a = arg;
    if (a->cancel_at) {
        a->job = j;
        a->prog = (struct ops_progress){.cb = conv_cancel_cb, .ctx = a, .cancel = &j->cancel};
        a->req.progress = &a->prog;
    } else {
        a->req.progress = job_ops_progress(j);
    }
    return ops_convert(&a->req, err);
}

static void test_inline_cancel_convert(void **state)
{
    const char *src = tu_path("cancel_src.raw"), *dst = tu_path("cancel_dst.raw");
    char part[1100];
    snprintf(part, sizeof part, "%s.part", dst);
    mk_data(src, 16 << 20);
    struct conv_arg a = {
        .req = {.src = src,
                .src_fmt = "raw",
                .dst = dst,
                .dst_fmt = "raw",
                .sparse = OPS_CONVERT_DEFAULT_SPARSE,
                .buf_size = 1 << 20},
        .cancel_at = 8 << 20,
    };
    struct job j;
    job_init(&j, "convert", conv_fn, &a);
    assert_int_equal(job_run_inline(&j), -ECANCELED);
    assert_int_equal(job_state_get(&j), JOB_CANCELLED);
    uint64_t done = atomic_load(&j.done);
    assert_true(done >= (8u << 20) && done < (16u << 20));
    assert_false(tu_exists(dst));
    assert_false(tu_exists(part));
    job_fini(&j);
}

static void test_engine_cancel_convert(void **state)
{
    const char *src = tu_path("ecancel_src.raw"), *dst = tu_path("ecancel_dst.raw");
    char part[1100];
    snprintf(part, sizeof part, "%s.part", dst);
    mk_data(src, 32 << 20);
    setenv("DIMG_TEST_SLOW_MS", "20", 1); /* 32 batches of 20 ms: room to cancel */
    struct conv_arg a = {
        .req = {.src = src,
                .src_fmt = "raw",
                .dst = dst,
                .dst_fmt = "raw",
                .sparse = OPS_CONVERT_DEFAULT_SPARSE,
                .buf_size = 1 << 20},
    };
    struct img_err err = {0};
    struct job_engine *e = job_engine_new(0, &err);
    assert_non_null(e);
    struct job *j = job_submit(e, "convert", conv_fn, &a, &err);
    unsetenv("DIMG_TEST_SLOW_MS");
    assert_non_null(j);
    double t0 = now_s();
    while (atomic_load(&j->done) < (4u << 20) && now_s() - t0 < 10)
        sleep_ms(5);
    assert_int_equal(job_state_get(j), JOB_RUNNING);
    assert_true(tu_exists(part));
    double tc = now_s();
    job_cancel(j);
    assert_int_equal(job_wait(j), -ECANCELED);
    assert_true(now_s() - tc < 0.5); /* effective within a fraction of a second */
    assert_int_equal(job_state_get(j), JOB_CANCELLED);
    assert_true(atomic_load(&j->done) < (32u << 20));
    assert_false(tu_exists(dst));
    assert_false(tu_exists(part));
    job_release(j);
    job_engine_free(e);
}

/* ---- parallelism and queueing ---- */

struct par {
    atomic_int running, max_running, started;
    int want;           /* parallel test: how many must meet */
    unsigned hold_ms;   /* queue test: how long each job runs */
    atomic_int release; /* blocking jobs wait for this */
    atomic_int sigint_blocked;
};

static void par_enter(struct par *p)
{
    int now = atomic_fetch_add(&p->running, 1) + 1;
    int m = atomic_load(&p->max_running);
    while (now > m && !atomic_compare_exchange_weak(&p->max_running, &m, now))
        ;
    atomic_fetch_add(&p->started, 1);
}

/* Succeeds only when `want` jobs are inside at the same time (gives up after 5 s). */
static int meet_fn(struct job *j, void *arg, struct img_err *err)
{
    struct par *p = arg;
    par_enter(p);
    double t0 = now_s();
    while (atomic_load(&p->running) < p->want && now_s() - t0 < 5)
        sleep_ms(1);
    bool met = atomic_load(&p->max_running) >= p->want;
    sigset_t cur;
    pthread_sigmask(SIG_BLOCK, NULL, &cur);
    if (sigismember(&cur, SIGINT) && sigismember(&cur, SIGTERM) && sigismember(&cur, SIGWINCH))
        atomic_fetch_add(&p->sigint_blocked, 1);
    sleep_ms(20); /* let the other one see us too */
    atomic_fetch_sub(&p->running, 1);
    return met ? 0 : err_set(err, -ETIMEDOUT, "jobs did not run in parallel");
}

static void test_two_in_parallel(void **state)
{
    struct par p = {.want = 2};
    struct img_err err = {0};
    struct job_engine *e = job_engine_new(2, &err);
    assert_non_null(e);
    struct job *a = job_submit(e, "a", meet_fn, &p, &err);
    struct job *b = job_submit(e, "b", meet_fn, &p, &err);
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(job_wait(a), 0);
    assert_int_equal(job_wait(b), 0);
    assert_int_equal(atomic_load(&p.max_running), 2);
    assert_int_equal(atomic_load(&p.sigint_blocked), 2); /* workers block the UI's signals */
    job_engine_free(e);
}

static int hold_fn(struct job *j, void *arg, struct img_err *err)
{
    struct par *p = arg;
    par_enter(p);
    for (unsigned t = 0; t < p->hold_ms && !job_should_stop(j); t += 5) {
        job_progress(j, t, p->hold_ms);
        sleep_ms(5);
    }
    atomic_fetch_sub(&p->running, 1);
    return 0;
}

static void test_queue_beyond_cores(void **state)
{
    struct par p = {.hold_ms = 150};
    struct img_err err = {0};
    struct job_engine *e = job_engine_new(0, &err);
    assert_non_null(e);
    unsigned n = job_engine_max_running(e);
    assert_int_equal(n, (unsigned)sysconf(_SC_NPROCESSORS_ONLN));
    unsigned total = n + 2;
    struct job **js = calloc(total, sizeof *js);
    for (unsigned i = 0; i < total; i++) {
        js[i] = job_submit(e, "hold", hold_fn, &p, &err);
        assert_non_null(js[i]);
    }
    /* Sample the states while they run: never more than n RUNNING; some QUEUED at first. */
    bool saw_queued = false;
    unsigned max_seen = 0;
    for (;;) {
        unsigned running = 0, finished = 0;
        for (unsigned i = 0; i < total; i++) {
            enum job_state s = job_state_get(js[i]);
            running += s == JOB_RUNNING;
            finished += s >= JOB_DONE;
            saw_queued |= s == JOB_QUEUED;
        }
        assert_true(running <= n);
        if (running > max_seen)
            max_seen = running;
        if (finished == total)
            break;
        sleep_ms(2);
    }
    assert_true(saw_queued);
    assert_true(max_seen >= 1);
    assert_true(atomic_load(&p.max_running) <= (int)n);
    assert_int_equal(atomic_load(&p.started), (int)total);
    for (unsigned i = 0; i < total; i++) {
        assert_int_equal(job_state_get(js[i]), JOB_DONE);
        assert_int_equal(atomic_load(&js[i]->done), atomic_load(&js[i]->total));
    }
    assert_int_equal(job_engine_active(e), 0);
    free(js);
    job_engine_free(e);
}

static int block_fn(struct job *j, void *arg, struct img_err *err)
{
    struct par *p = arg;
    par_enter(p);
    while (!atomic_load(&p->release) && !job_should_stop(j))
        sleep_ms(1);
    return job_should_stop(j) ? err_set(err, -ECANCELED, "stopped") : 0;
}

static void test_cancel_queued(void **state)
{
    struct par p = {0};
    struct img_err err = {0};
    struct job_engine *e = job_engine_new(1, &err);
    struct job *a = job_submit(e, "a", block_fn, &p, &err);
    struct job *b = job_submit(e, "b", block_fn, &p, &err);
    while (job_state_get(a) != JOB_RUNNING)
        sleep_ms(1);
    assert_int_equal(job_state_get(b), JOB_QUEUED);
    job_cancel(b);
    assert_int_equal(job_state_get(b), JOB_CANCELLED); /* at once, without running */
    assert_int_equal(job_wait(b), -ECANCELED);
    job_release(b);
    atomic_store(&p.release, 1);
    assert_int_equal(job_wait(a), 0);
    assert_int_equal(atomic_load(&p.started), 1);
    job_engine_free(e);
}

static bool readable(int fd, int timeout_ms)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    return poll(&pfd, 1, timeout_ms) == 1 && (pfd.revents & POLLIN);
}

static void test_wakeup_fd(void **state)
{
    struct par p = {0};
    struct img_err err = {0};
    struct job_engine *e = job_engine_new(1, &err);
    int fd = job_engine_wakeup_fd(e);
    assert_false(readable(fd, 0));
    struct job *a = job_submit(e, "a", block_fn, &p, &err);
    assert_true(readable(fd, 2000)); /* queued / running */
    while (job_state_get(a) != JOB_RUNNING)
        sleep_ms(1);
    job_engine_drain(e);
    assert_false(readable(fd, 50)); /* no state change while it just runs */
    atomic_store(&p.release, 1);
    assert_true(readable(fd, 2000)); /* DONE */
    assert_int_equal(job_wait(a), 0);
    assert_int_equal(job_state_get(a), JOB_DONE);
    job_engine_drain(e);
    assert_false(readable(fd, 0));
    job_engine_free(e);
}

/* Freeing an engine cancels running and queued jobs and joins the workers. */
static void test_engine_free_cancels(void **state)
{
    struct par p = {0};
    struct img_err err = {0};
    struct job_engine *e = job_engine_new(1, &err);
    job_submit(e, "a", block_fn, &p, &err);
    job_submit(e, "b", block_fn, &p, &err);
    while (atomic_load(&p.started) < 1)
        sleep_ms(1);
    job_engine_free(e); /* must return: the blocking job polls the cancel flag */
    assert_int_equal(atomic_load(&p.started), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_eta_sparse_steady),
        cmocka_unit_test(test_inline_progress_monotone),
        cmocka_unit_test(test_inline_failure),
        cmocka_unit_test(test_inline_cancel_convert),
        cmocka_unit_test(test_engine_cancel_convert),
        cmocka_unit_test(test_two_in_parallel),
        cmocka_unit_test(test_queue_beyond_cores),
        cmocka_unit_test(test_cancel_queued),
        cmocka_unit_test(test_wakeup_fd),
        cmocka_unit_test(test_engine_free_cancels),
    };
    return cmocka_run_group_tests(tests, NULL, tu_teardown);
}

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* test_lock.c: unit tests for core/block/lock.c (QEMU-compatible OFD locks) and the file claims of
 * core/jobs/job.c: the bytes a reader and a writer lock (read back with F_OFD_GETLK from another
 * descriptor), a foreign lock in QEMU's style refusing a writer and letting a reader through
 * with one warning (and none under IMG_OPEN_FORCE_SHARE), two dimg handles on one file sharing
 * one lock set, closing dropping every byte, locks on a qcow2's backing file, and job claims:
 * the same target twice, a source being its own target, readers together. */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/block/driver.h"
#include "core/jobs/job.h"
#include "core/block/lock.h"

static int warnings;
static char last_warning[1024];

static void on_warn(const char *msg)
{
    warnings++;
    snprintf(last_warning, sizeof last_warning, "%s", msg);
}

/* Is byte off locked by a descriptor other than fd's? */
static bool byte_locked(int fd, long off)
{
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = off, .l_len = 1};
    assert_int_equal(fcntl(fd, F_OFD_GETLK, &fl), 0);
    return fl.l_type != F_UNLCK;
}

/* The set of locked bytes 100..103 and 200..203 seen from a fresh descriptor, as a mask:
 * bits 0-3 for 100+i, bits 4-7 for 200+i. */
static unsigned locked_mask(const char *path)
{
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    unsigned m = 0;
    for (int i = 0; i < 4; i++) {
        m |= byte_locked(fd, LOCK_PERM_BASE + i) ? 1u << i : 0;
        m |= byte_locked(fd, LOCK_SHARED_BASE + i) ? 1u << (4 + i) : 0;
    }
    close(fd);
    return m;
}

static int foreign_lock(const char *path, long off)
{
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    struct flock fl = {.l_type = F_RDLCK, .l_whence = SEEK_SET, .l_start = off, .l_len = 1};
    assert_int_equal(fcntl(fd, F_OFD_SETLK, &fl), 0);
    return fd;
}

static void test_bytes(void **state)
{
    (void)state;
    const char *p = tu_path("a.qcow2");
    tu_create("qcow2", p, NULL, 1 << 20, NULL, NULL);
    struct img_err err;
    struct img *r = img_open(p, NULL, 0, &err);
    assert_non_null(r);
    /* Reader: consistent read held; write and resize not shared (as qemu-img info). */
    assert_int_equal(locked_mask(p), 0x01 | 0x20 | 0x80);
    struct img *w = img_open(p, NULL, IMG_OPEN_RW, &err);
    assert_non_null(w); /* our own handles never conflict */
    assert_int_equal(locked_mask(p), 0x01 | 0x02 | 0x08 | 0x20 | 0x80);
    img_close(w);
    assert_int_equal(locked_mask(p), 0x01 | 0x20 | 0x80); /* back to the reader's set */
    img_close(r);
    assert_int_equal(locked_mask(p), 0);
    struct img *u = img_open(p, NULL, IMG_OPEN_FORCE_SHARE, &err);
    assert_non_null(u);
    assert_int_equal(locked_mask(p), 0);
    img_close(u);
}

static void test_foreign(void **state)
{
    (void)state;
    const char *p = tu_path("b.qcow2");
    tu_create("qcow2", p, NULL, 1 << 20, NULL, NULL);
    lock_set_warn(on_warn);
    struct img_err err;
    /* A foreign writer (qemu-io on a raw file holds 100 and 101). */
    int ffd = foreign_lock(p, LOCK_PERM_BASE + 1);
    assert_null(img_open(p, NULL, IMG_OPEN_RW, &err));
    assert_int_equal(err.code, -EBUSY);
    assert_non_null(strstr(err.msg, "image is in use"));
    assert_null(strstr(err.msg, "pid"));    /* OFD locks have no owner pid */
    assert_int_equal(locked_mask(p), 0x02); /* the refusal left nothing of ours behind */
    warnings = 0;
    struct img *r = img_open(p, NULL, 0, &err);
    assert_non_null(r);
    assert_true(r->in_use);
    assert_int_equal(warnings, 1);
    assert_non_null(strstr(last_warning, "image is in use"));
    img_close(r);
    r = img_open(p, NULL, IMG_OPEN_FORCE_SHARE, &err);
    assert_non_null(r);
    assert_false(r->in_use);
    assert_int_equal(warnings, 1);
    img_close(r);
    close(ffd);
    /* A foreign opener that does not share writing (byte 201) keeps writers out too. */
    ffd = foreign_lock(p, LOCK_SHARED_BASE + 1);
    assert_null(img_open(p, NULL, IMG_OPEN_RW, &err));
    assert_non_null(strstr(err.msg, "does not share the \"write\""));
    close(ffd);
    struct img *w = img_open(p, NULL, IMG_OPEN_RW, &err);
    assert_non_null(w);
    /* And dimg's writer keeps a foreign reader's consistent-read test failing. */
    int probe = open(p, O_RDONLY);
    assert_true(byte_locked(probe, LOCK_SHARED_BASE + 1));
    int pid = 0;
    assert_true(lock_in_use(probe, &pid));
    assert_int_equal(pid, -1);
    close(probe);
    assert_int_equal(lock_check_free(p, &err), -EBUSY);
    img_close(w);
    assert_int_equal(lock_check_free(p, &err), 0);
    assert_int_equal(lock_check_free(tu_path("absent"), &err), 0);
    lock_set_warn(NULL);
}

static void test_backing(void **state)
{
    (void)state;
    const char *base = tu_path("base.qcow2"), *top = tu_path("top.qcow2");
    tu_create("qcow2", base, NULL, 1 << 20, NULL, NULL);
    tu_create("qcow2", top, NULL, 1 << 20, "base.qcow2", "qcow2");
    struct img_err err;
    struct img *t = img_open(top, NULL, IMG_OPEN_RW | IMG_OPEN_BACKING, &err);
    assert_non_null(t);
    assert_int_equal(locked_mask(base), 0x01 | 0x20 | 0x80); /* read-only in the chain */
    img_close(t);
    assert_int_equal(locked_mask(base), 0);
    int ffd = foreign_lock(base, LOCK_PERM_BASE + 1);
    lock_set_warn(on_warn);
    warnings = 0;
    t = img_open(top, NULL, IMG_OPEN_RW | IMG_OPEN_BACKING, &err);
    assert_non_null(t); /* only read: a warning */
    assert_int_equal(warnings, 1);
    img_close(t);
    lock_set_warn(NULL);
    close(ffd);
}

static int nop_job(struct job *j, void *arg, struct img_err *err)
{
    (void)err;
    atomic_int *go = arg;
    while (!*go && !job_should_stop(j))
        usleep(1000);
    return 0;
}

static void test_claims(void **state)
{
    (void)state;
    const char *src = tu_path("src.raw");
    assert_int_equal(tu_sh("truncate -s 1M '%s' && ln -sf src.raw '%s'", src, tu_path("alias.raw")),
                     0);
    struct img_err err;
    struct job_engine *e = job_engine_new(4, &err);
    assert_non_null(e);
    atomic_int go = 0;
    struct job_file self[] = {{src, false}, {tu_path("alias.raw"), true}};
    assert_null(job_submit_files(e, "self", nop_job, &go, self, 2, &err));
    assert_non_null(strstr(err.msg, "same file"));

    struct job_file conv[] = {{src, false}, {tu_path("new.qcow2"), true}};
    struct job *a = job_submit_files(e, "convert", nop_job, &go, conv, 2, &err);
    assert_non_null(a);
    /* The same new target (not there yet) through another spelling of its directory. */
    char other[4096];
    snprintf(other, sizeof other, "%s/./new.qcow2", tu_dir());
    struct job_file conv2[] = {{other, true}};
    assert_null(job_submit_files(e, "again", nop_job, &go, conv2, 1, &err));
    assert_int_equal(err.code, -EBUSY);
    assert_non_null(strstr(err.msg, "in use by job"));
    /* Writing the file the first job reads is refused; reading it too is fine. */
    struct job_file wsrc[] = {{tu_path("alias.raw"), true}};
    assert_null(job_submit_files(e, "resize", nop_job, &go, wsrc, 1, &err));
    struct job_file rsrc[] = {{src, false}};
    struct job *b = job_submit_files(e, "read", nop_job, &go, rsrc, 1, &err);
    assert_non_null(b);
    go = 1;
    assert_int_equal(job_wait(a), 0);
    assert_int_equal(job_wait(b), 0);
    /* Finished jobs hold nothing. */
    struct job *c = job_submit_files(e, "resize", nop_job, &go, wsrc, 1, &err);
    assert_non_null(c);
    assert_int_equal(job_wait(c), 0);
    job_engine_free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bytes),
        cmocka_unit_test(test_foreign),
        cmocka_unit_test(test_backing),
        cmocka_unit_test(test_claims),
    };
    return cmocka_run_group_tests(tests, NULL, tu_teardown);
}

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* test_append.c: unit tests for core/ops/ops_append.c: in place (sparse: no new blocks; dense:
 * real zeros), -o NEW (FILE byte-identical afterwards, NEW = FILE || zeros, holes kept),
 * concatenation equal to `cat a b` (in place and into NEW), non-raw images refused with a
 * pointer to resize, odd sizes reported as qemu-img rounds them, an existing NEW refused, and
 * cancellation (in place: old size restored; -o: no NEW, no NEW.part). */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/block/driver.h"
#include "core/ops/ops.h"

/* A sparse file of size bytes with pattern data (seed) in [off, off+len) extents. */
static void mk_sparse(const char *path, uint64_t size, unsigned seed, const uint64_t (*ext)[2],
                      size_t n)
{
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, (off_t)size), 0);
    for (size_t i = 0; i < n; i++) {
        uint8_t *b = malloc(ext[i][1]);
        tu_pattern(b, ext[i][1], ext[i][0], seed);
        assert_int_equal(pwrite(fd, b, ext[i][1], (off_t)ext[i][0]), (ssize_t)ext[i][1]);
        free(b);
    }
    close(fd);
}

static const uint64_t ext_a[][2] = {{0, 4096}, {1 << 20, 65536}, {(3 << 20) + 512, 1000}};
static const uint64_t ext_b[][2] = {{4096, 8192}, {(1 << 20) + 7, 300000}};

/* content == a || zeros(extra) */
static void assert_is_concat(const char *path, const uint8_t *a, size_t na, const uint8_t *b,
                             size_t nb)
{
    size_t n;
    uint8_t *x = tu_read_file(path, &n);
    assert_non_null(x);
    assert_int_equal(n, na + nb);
    assert_memory_equal(x, a, na);
    if (b) {
        assert_memory_equal(x + na, b, nb);
    } else {
        for (size_t i = na; i < n; i++)
            if (x[i])
                fail_msg("byte %zu of %s is %u, want 0", i, path, x[i]);
    }
    free(x);
}

static int run(struct ops_append_req *req, struct ops_append_res *res, struct img_err *err)
{
    int r = ops_append(req, res, err);
    if (r && r != -ENOTSUP && r != -EEXIST && r != -ECANCELED)
        fail_msg("append: %s", err->msg);
    return r;
}

static void test_in_place_sparse(void **state)
{
    const char *f = tu_path("ip_sparse.raw");
    mk_sparse(f, 4 << 20, 1, ext_a, 3);
    size_t n0;
    uint8_t *orig = tu_read_file(f, &n0);
    uint64_t alloc0 = tu_alloc_bytes(f);
    struct ops_append_req req = {.path = f, .fmt = "raw", .zeros = 64 << 20};
    struct ops_append_res res;
    struct img_err err;
    assert_int_equal(run(&req, &res, &err), 0);
    assert_int_equal(res.old_size, 4 << 20);
    assert_int_equal(res.new_size, 68 << 20);
    assert_int_equal(res.virtual_size, 68 << 20);
    assert_is_concat(f, orig, n0, NULL, 64 << 20);
    assert_true(tu_alloc_bytes(f) <= alloc0 + 65536); /* no data written: a hole */
    char *q = tu_sh_out("qemu-img info --output=json '%s' | grep '\"virtual-size\"'", f);
    assert_non_null(strstr(q, "71303168"));
    free(q);
    free(orig);
}

static void test_in_place_dense(void **state)
{
    const char *f = tu_path("ip_dense.raw");
    mk_sparse(f, 4 << 20, 1, ext_a, 3);
    size_t n0;
    uint8_t *orig = tu_read_file(f, &n0);
    uint64_t alloc0 = tu_alloc_bytes(f);
    struct ops_append_req req = {.path = f, .zeros = 8 << 20, .dense = true};
    struct ops_append_res res;
    struct img_err err;
    assert_int_equal(run(&req, &res, &err), 0);
    assert_is_concat(f, orig, n0, NULL, 8 << 20);
    assert_true(tu_alloc_bytes(f) >= alloc0 + (8u << 20)); /* real zeros */
    free(orig);
}

static void test_out_keeps_file_and_holes(void **state)
{
    const char *f = tu_path("o_src.raw"), *o = tu_path("o_new.raw");
    mk_sparse(f, 6 << 20, 2, ext_a, 3);
    char *sum0 = tu_sh_out("md5sum < '%s'", f);
    size_t n0;
    uint8_t *orig = tu_read_file(f, &n0);
    struct stat st0, st1;
    assert_int_equal(stat(f, &st0), 0);
    struct ops_progress p = {0};
    struct ops_append_req req = {.path = f, .zeros = 10 << 20, .out = o, .progress = &p};
    struct ops_append_res res;
    struct img_err err;
    assert_int_equal(run(&req, &res, &err), 0);
    char *sum1 = tu_sh_out("md5sum < '%s'", f);
    assert_string_equal(sum0, sum1);
    assert_int_equal(stat(f, &st1), 0);
    assert_int_equal(st0.st_size, st1.st_size);
    assert_int_equal(st0.st_mtim.tv_sec, st1.st_mtim.tv_sec);
    assert_int_equal(st0.st_mtim.tv_nsec, st1.st_mtim.tv_nsec);
    assert_is_concat(o, orig, n0, NULL, 10 << 20);
    /* Holes kept: NEW holds about as many blocks as FILE, far less than its size. */
    assert_true(tu_alloc_bytes(o) <= tu_alloc_bytes(f) + 65536);
    assert_int_equal(p.done, p.total);
    assert_int_equal(p.total, 16 << 20);
    char part[1100];
    snprintf(part, sizeof part, "%s.part", o);
    assert_false(tu_exists(part));
    /* A second run refuses the existing NEW. */
    assert_int_equal(run(&req, &res, &err), -EEXIST);
    assert_non_null(strstr(err.msg, "exists"));
    free(orig);
    free(sum0);
    free(sum1);
}

static void test_concat_equals_cat(void **state)
{
    const char *a = tu_path("cat_a.raw"), *b = tu_path("cat_b.raw"), *c = tu_path("cat_c.raw");
    const char *ref = tu_path("cat_ref.raw");
    mk_sparse(a, (3 << 20) + 4096, 3, ext_a, 3);
    mk_sparse(b, 2 << 20, 4, ext_b, 2);
    assert_int_equal(tu_sh("cat '%s' '%s' > '%s'", a, b, ref), 0);
    struct ops_append_req req = {.path = a, .other = b, .out = c};
    struct ops_append_res res;
    struct img_err err;
    assert_int_equal(run(&req, &res, &err), 0);
    assert_int_equal(tu_sh("cmp -s '%s' '%s'", c, ref), 0);
    assert_true(tu_alloc_bytes(c) <= tu_alloc_bytes(a) + tu_alloc_bytes(b) + 65536);
    /* In place gives the same bytes. */
    req.out = NULL;
    assert_int_equal(run(&req, &res, &err), 0);
    assert_int_equal(tu_sh("cmp -s '%s' '%s'", a, ref), 0);
    assert_int_equal(res.new_size, tu_file_size(ref));
}

static void test_non_raw_refused(void **state)
{
    const char *q = tu_path("refuse.qcow2"), *r = tu_path("refuse.raw");
    assert_int_equal(tu_sh("qemu-img create -q -f qcow2 '%s' 1M", q), 0);
    mk_sparse(r, 1 << 20, 1, ext_a, 1);
    char *sum0 = tu_sh_out("md5sum < '%s'", q);
    struct ops_append_req req = {.path = q, .zeros = 1 << 20};
    struct ops_append_res res;
    struct img_err err;
    assert_int_equal(run(&req, &res, &err), -ENOTSUP);
    assert_non_null(strstr(err.msg, "qcow2"));
    assert_non_null(strstr(err.msg, "dimg resize"));
    char *sum1 = tu_sh_out("md5sum < '%s'", q);
    assert_string_equal(sum0, sum1);
    /* -f qcow2 is refused too, and a qcow2 as the appended image. */
    req.fmt = "qcow2";
    assert_int_equal(run(&req, &res, &err), -ENOTSUP);
    struct ops_append_req req2 = {.path = r, .other = q};
    assert_int_equal(run(&req2, &res, &err), -ENOTSUP);
    assert_int_equal(tu_file_size(r), 1 << 20);
    free(sum0);
    free(sum1);
}

static void test_odd_size(void **state)
{
    const char *f = tu_path("odd.raw");
    mk_sparse(f, 1 << 20, 1, ext_a, 1);
    struct ops_append_req req = {.path = f, .zeros = 3};
    struct ops_append_res res;
    struct img_err err;
    assert_int_equal(run(&req, &res, &err), 0);
    assert_int_equal(res.new_size, (1 << 20) + 3);
    assert_int_equal(res.virtual_size, (1 << 20) + 512);
    char *q = tu_sh_out("qemu-img info -f raw --output=json '%s' | grep '\"virtual-size\"'", f);
    char want[64];
    snprintf(want, sizeof want, "%llu", (unsigned long long)res.virtual_size);
    assert_non_null(strstr(q, want));
    free(q);
}

struct canceller {
    atomic_int flag;
    uint64_t at;
};

static void cancel_cb(void *ctx, const struct ops_progress *p)
{
    struct canceller *c = ctx;
    if (p->done >= c->at)
        atomic_store(&c->flag, 1);
}

static void test_cancel(void **state)
{
    const char *f = tu_path("cancel.raw"), *o = tu_path("cancel_new.raw");
    mk_sparse(f, 4 << 20, 1, ext_a, 3);
    char *sum0 = tu_sh_out("md5sum < '%s'", f);
    struct canceller c = {.at = 8 << 20};
    struct ops_progress p = {.cb = cancel_cb, .ctx = &c, .cancel = &c.flag};
    struct ops_append_req req = {.path = f, .zeros = 64 << 20, .dense = true, .progress = &p};
    struct ops_append_res res;
    struct img_err err;
    assert_int_equal(run(&req, &res, &err), -ECANCELED);
    assert_int_equal(tu_file_size(f), 4 << 20); /* old size restored */
    char *sum1 = tu_sh_out("md5sum < '%s'", f);
    assert_string_equal(sum0, sum1);
    atomic_store(&c.flag, 0);
    c.at = 12 << 20;
    req.out = o;
    assert_int_equal(run(&req, &res, &err), -ECANCELED);
    char part[1100];
    snprintf(part, sizeof part, "%s.part", o);
    assert_false(tu_exists(o));
    assert_false(tu_exists(part));
    free(sum0);
    free(sum1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_in_place_sparse),
        cmocka_unit_test(test_in_place_dense),
        cmocka_unit_test(test_out_keeps_file_and_holes),
        cmocka_unit_test(test_concat_equals_cat),
        cmocka_unit_test(test_non_raw_refused),
        cmocka_unit_test(test_odd_size),
        cmocka_unit_test(test_cancel),
    };
    return cmocka_run_group_tests(tests, NULL, tu_teardown);
}

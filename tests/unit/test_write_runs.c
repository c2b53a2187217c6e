/* SPDX-License-Identifier: GPL-2.0-or-later */
/* test_write_runs.c: multi-cluster writes into qcow2, qcow, vdi and vmdk images, opened as an
 * ordinary read-write image (every write crash-ordered) and as a scratch target
 * (IMG_OPEN_SCRATCH: metadata kept dirty in memory, runs of clusters written at once). Each
 * write spans unallocated clusters, allocated ones at consecutive host places, partial
 * clusters and the partial last cluster; the result must compare identical (qemu-img compare)
 * to a raw reference written in step, and pass qemu-img check. A large sparse qcow2 written in
 * scratch mode makes the L2 and refcount caches evict dirty tables. */
#include "test_qcow2_common.h"

#include "core/block/driver.h"

#define ULL(x) ((unsigned long long)(x))
#define K 1024ull
#define M (1024ull * 1024ull)

struct wr_case {
    const char *fmt, *opts;
};

static const struct wr_case wr_cases[] = {
    {"qcow2", ""},
    {"qcow2", "cluster_size=512"},
    {"qcow2", "cluster_size=4096,refcount_bits=1"},
    {"qcow2", "extended_l2=on"},
    {"qcow2", "preallocation=metadata,cluster_size=4096"},
    {"qcow", ""},
    {"vdi", ""},
    {"vdi", "static=on"},
    {"vmdk", ""},
};

/* Create with qemu-img, then write through dimg with the given open flags. */
static void wr_one(const struct wr_case *c, unsigned flags)
{
    const uint64_t size = 5 * M + 3 * 512;
    const char *p = tu_path("img"), *r = tu_path("ref.raw");
    assert_int_equal(tu_sh("rm -f '%s' '%s' && qemu-img create -q -f %s %s%s '%s' %llu && "
                           "truncate -s %llu '%s'",
                           p, r, c->fmt, c->opts[0] ? "-o " : "", c->opts, p, ULL(size), ULL(size),
                           r),
                     0);
    struct tw t = {.img = tq_open(p, IMG_OPEN_RW | flags), .ref = open(r, O_RDWR)};
    assert_true(t.ref >= 0);
    tw_write(&t, 1 * M, 1 * M);                /* allocated below, consecutively */
    tw_write(&t, 512 * K - 700, 3 * M + 1400); /* across it: new, allocated, new, partial */
    tw_write(&t, 1 * M, 1 * M);                /* in place, whole clusters */
    tw_write(&t, 4 * M, 1 * M + 3 * 512);      /* to the partial last cluster */
    tw_write(&t, 64 * K, 128 * K);             /* into what is now allocated */
    assert_int_equal(img_flush(t.img), 0);
    img_close(t.img);
    close(t.ref);
    if (tu_sh("qemu-img compare -q -f raw -F %s '%s' '%s'", c->fmt, r, p) != 0)
        fail_msg("%s %s (flags %#x): content differs from the reference", c->fmt, c->opts, flags);
    if (strcmp(c->fmt, "qcow") != 0 && tu_sh("qemu-img check -q -f %s '%s'", c->fmt, p) != 0)
        fail_msg("%s %s (flags %#x): qemu-img check fails", c->fmt, c->opts, flags);
}

static void test_runs_in_place(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof wr_cases / sizeof wr_cases[0]; i++)
        wr_one(&wr_cases[i], 0);
}

static void test_runs_scratch(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof wr_cases / sizeof wr_cases[0]; i++)
        wr_one(&wr_cases[i], IMG_OPEN_SCRATCH);
}

/* 100 L2 tables (more than the cache holds) and refcount updates spread over them; written
 * again after the tables were evicted, then reopened as an ordinary image and written once
 * more. */
static void test_scratch_evicts(void **state)
{
    (void)state;
    const uint64_t span = 512 * M, size = 100 * span + 512;
    const char *p = tu_path("big.qcow2"), *r = tu_path("big.raw");
    assert_int_equal(tu_sh("rm -f '%s' '%s' && qemu-img create -q -f qcow2 '%s' %llu && "
                           "truncate -s %llu '%s'",
                           p, r, p, ULL(size), ULL(size), r),
                     0);
    struct tw t = {.img = tq_open(p, IMG_OPEN_RW | IMG_OPEN_SCRATCH), .ref = open(r, O_RDWR)};
    assert_true(t.ref >= 0);
    for (uint64_t i = 0; i < 100; i++)
        tw_write(&t, i * span + (i % 7) * 65536 + 1000, 200 * K);
    for (uint64_t i = 0; i < 100; i += 9)
        tw_write(&t, i * span + 300 * K, 128 * K);
    tw_write(&t, size - 512, 512);
    assert_int_equal(img_flush(t.img), 0);
    img_close(t.img);
    t.img = tq_open(p, IMG_OPEN_RW);
    tw_write(&t, 3 * span + 64 * K, 256 * K);
    img_close(t.img);
    close(t.ref);
    assert_int_equal(tu_sh("qemu-img check -q '%s'", p), 0);
    assert_int_equal(tu_sh("qemu-img compare -q -f raw -F qcow2 '%s' '%s'", r, p), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_runs_in_place),
        cmocka_unit_test(test_runs_scratch),
        cmocka_unit_test(test_scratch_evicts),
    };
    return cmocka_run_group_tests(tests, NULL, tu_teardown);
}

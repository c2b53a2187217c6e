/* SPDX-License-Identifier: GPL-2.0-or-later */
/* test_resize.c: unit tests for core/ops/ops_resize.c: the size arithmetic (relative, absolute,
 * zero, negative, overflow), raw growth (content before the old end unchanged byte for byte,
 * the new area zeros, sparse with preallocation=off, allocated with falloc/full, qemu-img info
 * agreeing), shrinking only with --shrink, preallocation refused when shrinking, and a format
 * without a truncate slot refused by name. */
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

static void mk_data(const char *path, uint64_t size)
{
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    uint8_t *b = malloc(size);
    tu_pattern(b, size, 0, 5);
    assert_int_equal(pwrite(fd, b, size, 0), (ssize_t)size);
    free(b);
    close(fd);
}

static void test_target_arithmetic(void **state)
{
    struct img_err err;
    uint64_t n;
    assert_int_equal(ops_resize_target(100, 0, 50, &n, &err), 0);
    assert_int_equal(n, 50);
    assert_int_equal(ops_resize_target(100, 1, 50, &n, &err), 0);
    assert_int_equal(n, 150);
    assert_int_equal(ops_resize_target(100, -1, 50, &n, &err), 0);
    assert_int_equal(n, 50);
    assert_int_equal(ops_resize_target(100, -1, 100, &n, &err), -EINVAL);
    assert_string_equal(err.msg, "New image size must be positive");
    assert_int_equal(ops_resize_target(100, -1, 200, &n, &err), -EINVAL);
    assert_int_equal(ops_resize_target(100, 0, 0, &n, &err), -EINVAL);
    assert_int_equal(ops_resize_target(1, 1, UINT64_MAX, &n, &err), -EINVAL);
    assert_int_equal(ops_resize_target(1ull << 62, 1, 1ull << 62, &n, &err), -EINVAL); /* 2^63 */
    assert_int_equal(ops_resize_target(0, 0, (1ull << 63) + 5, &n, &err), -EINVAL);
    assert_int_equal(ops_resize_target(1, 1, (1ull << 63) - 2, &n, &err), 0);
    assert_int_equal(n, (1ull << 63) - 1);
}

static int resize(const char *path, int sign, uint64_t amount, bool shrink, enum img_prealloc pre,
                  struct img_err *err)
{
    struct ops_resize_req req = {.path = path,
                                 .fmt = "raw",
                                 .sign = sign,
                                 .amount = amount,
                                 .shrink = shrink,
                                 .prealloc = pre};
    struct ops_resize_res res;
    return ops_resize(&req, &res, err);
}

/* Grow with each preallocation mode; content kept, new area zeros, allocation as promised. */
static void grow_case(const char *name, enum img_prealloc pre)
{
    const char *f = tu_path(name);
    const uint64_t old = (1 << 20) + 3, grow = 16 << 20;
    mk_data(f, old);
    size_t n0;
    uint8_t *orig = tu_read_file(f, &n0);
    uint64_t a0 = tu_alloc_bytes(f);
    struct img_err err;
    int r = resize(f, 1, grow, false, pre, &err);
    if (r)
        fail_msg("resize: %s", err.msg);
    size_t n;
    uint8_t *x = tu_read_file(f, &n);
    assert_int_equal(n, old + grow);
    assert_memory_equal(x, orig, n0);
    for (size_t i = n0; i < n; i++)
        if (x[i])
            fail_msg("%s: byte %zu is %u after growing", name, i, x[i]);
    if (pre == IMG_PREALLOC_OFF)
        assert_true(tu_alloc_bytes(f) <= a0 + 65536);
    else
        assert_true(tu_alloc_bytes(f) >= a0 + grow - 4096);
    char *q = tu_sh_out("qemu-img info -f raw --output=json '%s' | grep '\"virtual-size\"'", f);
    char want[64];
    snprintf(want, sizeof want, "%llu", (unsigned long long)(old + grow + 511) / 512 * 512);
    assert_non_null(strstr(q, want));
    free(q);
    free(x);
    free(orig);
}

static void test_grow_sparse(void **state)
{
    grow_case("grow_off.raw", IMG_PREALLOC_OFF);
}

static void test_grow_falloc(void **state)
{
    grow_case("grow_falloc.raw", IMG_PREALLOC_FALLOC);
}

static void test_grow_full(void **state)
{
    grow_case("grow_full.raw", IMG_PREALLOC_FULL);
}

static void test_shrink_needs_flag(void **state)
{
    const char *f = tu_path("shrink.raw");
    mk_data(f, 2 << 20);
    size_t n0;
    uint8_t *orig = tu_read_file(f, &n0);
    struct img_err err;
    assert_int_equal(resize(f, -1, 1 << 20, false, IMG_PREALLOC_OFF, &err), -EINVAL);
    assert_string_equal(err.msg, "Use the --shrink option to perform a shrink operation.");
    assert_int_equal(tu_file_size(f), 2 << 20);
    assert_int_equal(resize(f, 0, 1 << 20, true, IMG_PREALLOC_FALLOC, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "Preallocation"));
    assert_int_equal(tu_file_size(f), 2 << 20);
    assert_int_equal(resize(f, 0, 1 << 20, true, IMG_PREALLOC_OFF, &err), 0);
    size_t n;
    uint8_t *x = tu_read_file(f, &n);
    assert_int_equal(n, 1 << 20);
    assert_memory_equal(x, orig, n);
    assert_int_equal(resize(f, -1, 1 << 20, true, IMG_PREALLOC_OFF, &err), -EINVAL);
    assert_string_equal(err.msg, "New image size must be positive");
    free(x);
    free(orig);
}

/* A format whose driver has no truncate slot is refused, naming the format. */
static void test_no_truncate_refused(void **state)
{
    size_t n;
    const struct img_driver *const *list = img_driver_list(&n);
    const struct img_driver *d = NULL;
    for (size_t i = 0; i < n; i++)
        if (!list[i]->truncate && list[i]->create)
            d = list[i];
    if (!d)
        skip(); /* every landed format can resize */
    const char *f = tu_path("notrunc.img");
    struct img_err err;
    struct img_create_req creq = {.size = 1 << 20};
    assert_int_equal(img_create(d->name, f, &creq, &err), 0);
    struct ops_resize_req req = {.path = f, .fmt = d->name, .sign = 1, .amount = 1 << 20};
    struct ops_resize_res res;
    assert_int_equal(ops_resize(&req, &res, &err), -ENOTSUP);
    assert_non_null(strstr(err.msg, "does not support resize"));
    assert_non_null(strstr(err.msg, d->name));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_target_arithmetic), cmocka_unit_test(test_grow_sparse),
        cmocka_unit_test(test_grow_falloc),       cmocka_unit_test(test_grow_full),
        cmocka_unit_test(test_shrink_needs_flag), cmocka_unit_test(test_no_truncate_refused),
    };
    return cmocka_run_group_tests(tests, NULL, tu_teardown);
}

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* test_opts.c: unit tests for core/block/opts.c: img_parse_size (suffixes, fractions, overflow,
 * garbage), img_opts_parse/take (",," escaping, bare flags, last-wins, unknown keys) and
 * img_fmt_size. */
#include "testutil.h"

#include <errno.h>
#include <string.h>

#include "core/block/driver.h"

static void expect_size(const char *s, uint64_t want)
{
    uint64_t v = 12345;
    int r = img_parse_size(s, &v);
    if (r != 0 || v != want)
        fail_msg("img_parse_size(\"%s\") = %d, %llu; want %llu", s, r, (unsigned long long)v,
                 (unsigned long long)want);
}

static void expect_bad(const char *s, int want)
{
    uint64_t v = 777;
    int r = img_parse_size(s, &v);
    if (r != want)
        fail_msg("img_parse_size(\"%s\") = %d, want %d", s, r, want);
    assert_int_equal(v, 777); /* untouched on failure */
}

static void test_parse_size_suffixes(void **state)
{
    expect_size("0", 0);
    expect_size("512", 512);
    expect_size("512B", 512);
    expect_size("1k", 1024);
    expect_size("1K", 1024);
    expect_size("1kB", 1024);
    expect_size("16M", 16ull << 20);
    expect_size("3G", 3ull << 30);
    expect_size("2T", 2ull << 40);
    expect_size("1P", 1ull << 50);
    expect_size("7E", 7ull << 60);
    expect_size(" 4k", 4096);
}

static void test_parse_size_fractions(void **state)
{
    expect_size("1.5G", 3ull << 29);
    expect_size("0.5M", 512 * 1024);
    expect_size("1.25k", 1280);
    expect_bad("1.5", -EINVAL); /* a fraction of a byte */
}

static void test_parse_size_overflow(void **state)
{
    expect_bad("8E", -ERANGE);  /* 2^63 > INT64_MAX, qemu-img's cap */
    expect_bad("16E", -ERANGE); /* does not even fit 64 bits */
    expect_bad("99999999999999999999", -ERANGE);
    expect_bad("18446744073709551615", -ERANGE);
    expect_bad("9223372036854775808", -ERANGE);
    expect_size("9223372036854775807", 9223372036854775807ull);
    expect_bad("8388608T", -ERANGE);
    expect_size("8388607T", 8388607ull << 40);
}

static void test_parse_size_garbage(void **state)
{
    expect_bad("", -EINVAL);
    expect_bad("abc", -EINVAL);
    expect_bad("-1", -EINVAL);
    expect_bad("1Q", -EINVAL);
    expect_bad("1MM", -EINVAL);
    expect_bad("1BB", -EINVAL);
    expect_bad("5 ", -EINVAL);
    expect_bad("k", -EINVAL);
    expect_bad("1 M", -EINVAL);
}

static void test_opts_parse_basic(void **state)
{
    struct img_opts o = {0};
    struct img_err err = {0};
    assert_int_equal(img_opts_parse(&o, "cluster_size=4k,compat=1.1", &err), 0);
    assert_int_equal(o.n, 2);
    assert_string_equal(img_opts_take(&o, "compat"), "1.1");
    assert_string_equal(img_opts_take(&o, "cluster_size"), "4k");
    assert_null(img_opts_take(&o, "missing"));
    assert_int_equal(img_opts_check_all_taken(&o, "qcow2", &err), 0);
    img_opts_free(&o);
    assert_int_equal(o.n, 0);
}

static void test_opts_parse_escaping(void **state)
{
    struct img_opts o = {0};
    struct img_err err = {0};
    /* ",," is a literal comma inside a value, as in qemu-img. */
    assert_int_equal(img_opts_parse(&o, "backing_file=a,,b.img,backing_fmt=raw", &err), 0);
    assert_int_equal(o.n, 2);
    assert_string_equal(img_opts_take(&o, "backing_file"), "a,b.img");
    assert_string_equal(img_opts_take(&o, "backing_fmt"), "raw");
    img_opts_free(&o);

    assert_int_equal(img_opts_parse(&o, "x=1,,,,2", &err), 0);
    assert_int_equal(o.n, 1);
    assert_string_equal(img_opts_take(&o, "x"), "1,,2");
    img_opts_free(&o);

    /* A value may contain '=' after the first one. */
    assert_int_equal(img_opts_parse(&o, "key=a=b", &err), 0);
    assert_string_equal(img_opts_take(&o, "key"), "a=b");
    img_opts_free(&o);
}

static void test_opts_bare_flags_and_last_wins(void **state)
{
    struct img_opts o = {0};
    struct img_err err = {0};
    assert_int_equal(img_opts_parse(&o, "lazy_refcounts,compat=0.10", &err), 0);
    /* Appending: several -o accumulate, and the last occurrence wins. */
    assert_int_equal(img_opts_parse(&o, "compat=1.1", &err), 0);
    assert_int_equal(o.n, 3);
    bool b = false;
    assert_int_equal(img_opts_take_bool(&o, "lazy_refcounts", &b, &err), 1);
    assert_true(b);
    assert_string_equal(img_opts_take(&o, "compat"), "1.1");
    assert_int_equal(img_opts_check_all_taken(&o, "qcow2", &err), 0);
    img_opts_free(&o);
}

static void test_opts_typed_and_unknown(void **state)
{
    struct img_opts o = {0};
    struct img_err err = {0};
    assert_int_equal(img_opts_parse(&o, "size=1.5M,flag=maybe,bogus=1,cluster_size=x", &err), 0);
    uint64_t v = 0;
    assert_int_equal(img_opts_take_size(&o, "size", &v, &err), 1);
    assert_int_equal(v, 1572864);
    bool b = true;
    assert_int_equal(img_opts_take_bool(&o, "flag", &b, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "flag"));
    assert_true(b); /* untouched */
    assert_int_equal(img_opts_take_size(&o, "cluster_size", &v, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "cluster_size"));
    uint64_t keep = 42;
    assert_int_equal(img_opts_take_size(&o, "absent", &keep, &err), 0);
    assert_int_equal(keep, 42);
    err_clear(&err);
    assert_int_equal(img_opts_check_all_taken(&o, "raw", &err), -EINVAL);
    assert_non_null(strstr(err.msg, "'bogus'"));
    assert_non_null(strstr(err.msg, "raw"));
    img_opts_free(&o);
}

static void test_opts_empty(void **state)
{
    struct img_opts o = {0};
    struct img_err err = {0};
    assert_int_equal(img_opts_parse(&o, "", &err), 0);
    assert_int_equal(o.n, 0);
    assert_int_equal(img_opts_check_all_taken(&o, "raw", &err), 0);
    assert_null(img_opts_take(NULL, "x"));
    img_opts_free(&o);
}

static void test_fmt_size(void **state)
{
    char buf[32];
    assert_string_equal(img_fmt_size(0, buf, sizeof buf), "0 B");
    assert_string_equal(img_fmt_size(1023, buf, sizeof buf), "1023 B");
    assert_string_equal(img_fmt_size(1024, buf, sizeof buf), "1 KiB");
    assert_string_equal(img_fmt_size(16ull << 20, buf, sizeof buf), "16 MiB");
    assert_string_equal(img_fmt_size(3ull << 29, buf, sizeof buf), "1.5 GiB");
    assert_string_equal(img_fmt_size(1ull << 60, buf, sizeof buf), "1 EiB");
    assert_string_equal(img_fmt_size(UINT64_MAX, buf, sizeof buf), "16 EiB");
    /* A short buffer is truncated, not overrun. */
    char tiny[4];
    img_fmt_size(3ull << 29, tiny, sizeof tiny);
    assert_int_equal(strlen(tiny), 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_size_suffixes),
        cmocka_unit_test(test_parse_size_fractions),
        cmocka_unit_test(test_parse_size_overflow),
        cmocka_unit_test(test_parse_size_garbage),
        cmocka_unit_test(test_opts_parse_basic),
        cmocka_unit_test(test_opts_parse_escaping),
        cmocka_unit_test(test_opts_bare_flags_and_last_wins),
        cmocka_unit_test(test_opts_typed_and_unknown),
        cmocka_unit_test(test_opts_empty),
        cmocka_unit_test(test_fmt_size),
    };
    int r = cmocka_run_group_tests(tests, NULL, NULL);
    tu_cleanup();
    return r;
}

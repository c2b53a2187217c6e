/* SPDX-License-Identifier: GPL-2.0-or-later */
/* test_src_stream.c: core/block/src_stream.c, the forward-only byte source, over a memory
 * stream: capabilities (no random access, read-only), forward reads and skips return the
 * bytes, the head and the look-back window read again, anything further back is -ESPIPE at
 * once, a read past the end is -EIO, and an undeclared length is learned at the end. */
#include "testutil.h"

#include "core/block/src.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define LEN (1u << 20)

static uint8_t *data(void)
{
    uint8_t *d = malloc(LEN);
    assert_non_null(d);
    tu_pattern(d, LEN, 0, 7);
    return d;
}

static struct img_src *mem(const uint8_t *d, size_t len, bool known)
{
    struct img_src *s = NULL;
    struct img_err err = {0};
    assert_int_equal(src_stream_mem("m", d, len, known, &s, &err), 0);
    return s;
}

static void t_forward(void **st)
{
    (void)st;
    uint8_t *d = data(), buf[8192];
    struct img_src *s = mem(d, LEN, true);
    assert_int_equal(src_kind(s), SRC_STREAM);
    assert_int_equal(src_caps(s) & (SRC_CAP_RANDOM | SRC_CAP_WRITE | SRC_CAP_FD), 0);
    uint64_t size;
    assert_int_equal(src_size(s, &size), 0);
    assert_true(size == LEN);
    assert_int_equal(src_pread(s, buf, 100, 0), 0);
    assert_memory_equal(buf, d, 100);
    /* a skip forward, then the bytes just behind the position and the head again */
    assert_int_equal(src_pread(s, buf, sizeof buf, 300000), 0);
    assert_memory_equal(buf, d + 300000, sizeof buf);
    assert_int_equal(src_pread(s, buf, 4096, 300000 + sizeof buf - 4096 - 1000), 0);
    assert_memory_equal(buf, d + 300000 + sizeof buf - 4096 - 1000, 4096);
    assert_int_equal(src_pread(s, buf, 4096, 1000), 0);
    assert_memory_equal(buf, d + 1000, 4096);
    assert_int_equal(src_pwrite(s, buf, 1, 0), -EROFS);
    /* further back than the window: one clear error */
    int r = src_pread(s, buf, 16, 200000);
    assert_int_equal(r, -ESPIPE);
    assert_non_null(strstr(src_errmsg(s, r), "backwards"));
    /* a large read straight through, to the last byte; then past the end */
    uint8_t *big = malloc(LEN - 400000);
    assert_int_equal(src_pread(s, big, LEN - 400000, 400000), 0);
    assert_memory_equal(big, d + 400000, LEN - 400000);
    assert_int_equal(src_pread(s, buf, 16, LEN - 8), -EIO);
    free(big);
    src_close(s);
    free(d);
}

static void t_unknown_length(void **st)
{
    (void)st;
    uint8_t *d = data(), buf[4096];
    struct img_src *s = mem(d, 5000, false);
    uint64_t size;
    assert_int_equal(src_size(s, &size), -ESPIPE);
    assert_int_equal(src_pread(s, buf, 4096, 0), 0);
    assert_int_equal(src_pread(s, buf, 4096, 4096), -EIO); /* meets the end */
    assert_int_equal(src_size(s, &size), 0);
    assert_true(size == 5000);
    assert_int_equal(src_pread(s, buf, 904, 4096), 0); /* from the look-back window */
    assert_memory_equal(buf, d + 4096, 904);
    src_close(s);
    free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_forward),
        cmocka_unit_test(t_unknown_length),
    };
    return cmocka_run_group_tests(tests, NULL, tu_teardown);
}

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* test_io.c: core/base/io.c: exact and zero-filling reads, the temp+rename scheme, extent queries
 * and path helpers. */
#include "testutil.h"

#include "core/base/io.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void t_pread_exact_and_zero(void **s)
{
    const char *p = tu_path("short.bin");
    int fd = open(p, O_RDWR | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    uint8_t buf[100], out[200];
    tu_pattern(buf, sizeof buf, 0, 1);
    assert_int_equal(io_pwrite_all(fd, buf, sizeof buf, 0), 0);
    /* Exact read inside the file works, across EOF fails. */
    assert_int_equal(io_pread_exact(fd, out, 100, 0), 0);
    assert_memory_equal(out, buf, 100);
    assert_int_equal(io_pread_exact(fd, out, 101, 0), -EIO);
    /* Zero-filling read returns the data then zeros. */
    memset(out, 0xff, sizeof out);
    assert_int_equal(io_pread_zero(fd, out, 200, 50), 0);
    assert_memory_equal(out, buf + 50, 50);
    for (int i = 50; i < 200; i++)
        assert_int_equal(out[i], 0);
    close(fd);
}

static void t_zeroes_and_sizes(void **s)
{
    const char *p = tu_path("zeroes.bin");
    int fd = open(p, O_RDWR | O_CREAT | O_TRUNC, 0644);
    uint64_t size;
    assert_true(fd >= 0);
    assert_int_equal(io_pwrite_zeroes(fd, 1000, 200000), 0);
    assert_int_equal(io_file_size(fd, &size), 0);
    assert_true(size == 201000);
    uint8_t *b = malloc(200000);
    assert_int_equal(io_pread_exact(fd, b, 200000, 1000), 0);
    for (int i = 0; i < 200000; i++)
        assert_int_equal(b[i], 0);
    free(b);
    close(fd);
}

static void t_seek_extent(void **s)
{
    /* A file with data at 1 MiB only: a hole, then data, then a hole to EOF. */
    const char *p = tu_path("sparse.bin");
    int fd = open(p, O_RDWR | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, 4 << 20), 0);
    uint8_t buf[65536];
    tu_pattern(buf, sizeof buf, 0, 2);
    assert_int_equal(io_pwrite_all(fd, buf, sizeof buf, 1 << 20), 0);
    int is_data;
    uint64_t end;
    assert_int_equal(io_seek_extent(fd, 0, 4 << 20, &is_data, &end), 0);
    if (is_data) {
        /* File system without hole reporting: the whole file is data. */
        assert_true(end == 4 << 20);
    } else {
        assert_true(end == 1 << 20);
        assert_int_equal(io_seek_extent(fd, 1 << 20, 4 << 20, &is_data, &end), 0);
        assert_true(is_data);
        assert_true(end >= (1 << 20) + 65536 && end < (4 << 20));
        assert_int_equal(io_seek_extent(fd, end, 4 << 20, &is_data, &end), 0);
        assert_false(is_data);
        assert_true(end == 4 << 20);
    }
    close(fd);
}

static void t_tmp_commit(void **s)
{
    const char *p = tu_path("final.img");
    struct io_tmpfile t;
    assert_int_equal(io_tmp_create(&t, p), 0);
    char part[1100];
    snprintf(part, sizeof part, "%s.part", p);
    assert_int_equal(access(part, F_OK), 0);
    assert_int_equal(access(p, F_OK), -1);
    assert_int_equal(io_pwrite_all(t.fd, "hello", 5, 0), 0);
    assert_int_equal(io_tmp_commit(&t), 0);
    assert_int_equal(access(part, F_OK), -1);
    size_t n;
    char *c = tu_read_file(p, &n);
    assert_non_null(c);
    assert_int_equal(n, 5);
    assert_memory_equal(c, "hello", 5);
    free(c);
}

static void t_tmp_abort_keeps_old(void **s)
{
    const char *p = tu_path("keep.img");
    assert_int_equal(tu_sh("printf old > '%s'", p), 0);
    struct io_tmpfile t;
    assert_int_equal(io_tmp_create(&t, p), 0);
    assert_int_equal(io_pwrite_all(t.fd, "new!", 4, 0), 0);
    io_tmp_abort(&t);
    char part[1100];
    snprintf(part, sizeof part, "%s.part", p);
    assert_int_equal(access(part, F_OK), -1);
    size_t n;
    char *c = tu_read_file(p, &n);
    assert_int_equal(n, 3);
    assert_memory_equal(c, "old", 3);
    free(c);
    io_tmp_abort(&t); /* twice is harmless */
}

static void t_tmp_refuses_stale_part(void **s)
{
    const char *p = tu_path("stale.img");
    assert_int_equal(tu_sh("touch '%s.part'", p), 0);
    struct io_tmpfile t;
    assert_int_equal(io_tmp_create(&t, p), -EEXIST);
}

static void t_paths(void **s)
{
    char *d = io_dirname("a/b/c.img");
    assert_string_equal(d, "a/b");
    free(d);
    d = io_dirname("c.img");
    assert_string_equal(d, ".");
    free(d);
    d = io_dirname("/c.img");
    assert_string_equal(d, "/");
    free(d);
    char *j = io_path_join("a/b", "base.img");
    assert_string_equal(j, "a/b/base.img");
    free(j);
    j = io_path_join("a/b", "/abs/base.img");
    assert_string_equal(j, "/abs/base.img");
    free(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_pread_exact_and_zero),
        cmocka_unit_test(t_zeroes_and_sizes),
        cmocka_unit_test(t_seek_extent),
        cmocka_unit_test(t_tmp_commit),
        cmocka_unit_test(t_tmp_abort_keeps_old),
        cmocka_unit_test(t_tmp_refuses_stale_part),
        cmocka_unit_test(t_paths),
    };
    return cmocka_run_group_tests(tests, NULL, tu_teardown);
}

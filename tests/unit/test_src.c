/* SPDX-License-Identifier: GPL-2.0-or-later */
/* test_src.c: core/block/src.h, the byte sources under the drivers: a regular file (exact and
 * zero-filling reads, writes, holes, punched zeros, truncate, capabilities), what is refused
 * (a FIFO, a read-only write, a URI-looking name as a file), and an NBD export served by
 * nbdkit's memory plugin on a Unix socket (skipped without nbdkit): reads, writes, zeros,
 * block status, and a dead server as one error. */
#include "testutil.h"

#include "core/block/src.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static struct img_src *open_ok(const char *name, unsigned flags)
{
    struct img_src *s = NULL;
    struct img_err err = {0};
    int r = src_open(name, flags, &s, &err);
    if (r < 0)
        fail_msg("src_open %s: %s", name, err.msg);
    return s;
}

static void t_file_io(void **st)
{
    const char *p = tu_path("f.bin");
    assert_int_equal(tu_sh("truncate -s 4M '%s'", p), 0);
    struct img_src *s = open_ok(p, SRC_OPEN_RW);
    assert_int_equal(src_kind(s), SRC_FILE);
    unsigned caps = src_caps(s);
    assert_true(caps & SRC_CAP_WRITE && caps & SRC_CAP_HOLES && caps & SRC_CAP_TRUNCATE);
    assert_true(src_fd(s) >= 0);
    uint8_t buf[8192], out[8192];
    tu_pattern(buf, sizeof buf, 0, 3);
    assert_int_equal(src_pwrite(s, buf, sizeof buf, 1 << 20), 0);
    assert_int_equal(src_pread(s, out, sizeof out, 1 << 20), 0);
    assert_memory_equal(out, buf, sizeof buf);
    uint64_t size;
    assert_int_equal(src_size(s, &size), 0);
    assert_true(size == 4u << 20);
    /* Exact reads fail across the end; zero-filling ones do not. */
    assert_int_equal(src_pread(s, out, 100, size - 50), -EIO);
    memset(out, 0xff, sizeof out);
    assert_int_equal(src_pread_zero(s, out, 100, size - 50), 0);
    for (int i = 0; i < 100; i++)
        assert_int_equal(out[i], 0);
    assert_int_equal(src_flush(s), 0);
    assert_int_equal(src_truncate(s, 8u << 20), 0);
    assert_int_equal(src_size(s, &size), 0);
    assert_true(size == 8u << 20);
    src_close(s);
}

/* A hole, then data, then a hole; punched zeros read as zeros and become a hole. */
static void t_file_extents(void **st)
{
    const char *p = tu_path("sparse.bin");
    assert_int_equal(tu_sh("truncate -s 4M '%s' && printf x | dd of='%s' bs=1 seek=1048576 "
                           "conv=notrunc status=none",
                           p, p),
                     0);
    struct img_src *s = open_ok(p, SRC_OPEN_RW);
    unsigned state;
    uint64_t end, size = 4u << 20;
    assert_int_equal(src_extent(s, 0, size, &state, &end), 0);
    if (state == SRC_EXT_DATA) { /* a file system without SEEK_HOLE: all data */
        src_close(s);
        skip();
    }
    assert_int_equal(state, SRC_EXT_ZERO);
    assert_true(end <= (1u << 20) && end > 0);
    assert_int_equal(src_extent(s, 1u << 20, size, &state, &end), 0);
    assert_int_equal(state, SRC_EXT_DATA);
    assert_true(end > (1u << 20) && end < size);
    assert_int_equal(src_zero(s, 1u << 20, 64 << 10, SRC_ZERO_MAY_PUNCH), 0);
    uint8_t b[1];
    assert_int_equal(src_pread(s, b, 1, 1u << 20), 0);
    assert_int_equal(b[0], 0);
    assert_int_equal(src_extent(s, 0, size, &state, &end), 0);
    assert_int_equal(state, SRC_EXT_ZERO);
    assert_true(end == size);
    /* Past the end is zeros, never an error. */
    assert_int_equal(src_extent(s, size, size, &state, &end), 0);
    assert_int_equal(state, SRC_EXT_ZERO);
    src_close(s);
}

static void t_refusals(void **st)
{
    struct img_src *s = NULL;
    struct img_err err = {0};
    const char *fifo = tu_path("pipe");
    assert_int_equal(mkfifo(fifo, 0600), 0);
    assert_true(src_open(fifo, 0, &s, &err) < 0);
    assert_null(s);
    assert_non_null(strstr(err.msg, "named pipe"));
    /* Read-only: writes, zeros and truncation refused, with the name in the message. */
    const char *p = tu_path("ro.bin");
    assert_int_equal(tu_sh("truncate -s 64k '%s'", p), 0);
    s = open_ok(p, 0);
    assert_int_equal(src_pwrite(s, "x", 1, 0), -EROFS);
    assert_non_null(strstr(src_errmsg(s, -EROFS), "read-only"));
    assert_int_equal(src_zero(s, 0, 512, 0), -EROFS);
    src_close(s);
    assert_true(src_name_is_uri("nbd://localhost/x"));
    assert_true(src_name_is_uri("nbd+unix:///x?socket=/tmp/s"));
    assert_true(src_name_is_uri("nbds://h:10809/e"));
    assert_false(src_name_is_uri("nbd.img"));
    assert_false(src_name_is_uri("./nbd://x"));
    /* No server: one error, quickly. */
    char uri[512];
    snprintf(uri, sizeof uri, "nbd+unix:///?socket=%s", tu_path("nosuch.sock"));
    err = (struct img_err){0};
    assert_true(src_open(uri, 0, &s, &err) < 0);
    assert_null(s);
    assert_non_null(strstr(err.msg, "cannot connect"));
    assert_null(strchr(err.msg, '\n'));
}

static pid_t nbdkit_pid;

/* nbdkit's memory plugin on a socket in the test directory; 0 when started. */
static int start_nbdkit(char *uri, size_t cap)
{
    if (tu_sh("command -v nbdkit >/dev/null") != 0)
        return -1;
    const char *sock = tu_path("mem.sock"), *pidf = tu_path("mem.pid");
    if (tu_sh("nbdkit -U '%s' -P '%s' memory 16M", sock, pidf) != 0)
        return -1;
    for (int i = 0; i < 100 && tu_sh("test -S '%s'", sock) != 0; i++)
        usleep(20000);
    char *pid = tu_sh_out("cat '%s'", pidf);
    nbdkit_pid = pid ? (pid_t)atoi(pid) : 0;
    free(pid);
    snprintf(uri, cap, "nbd+unix:///?socket=%s", sock);
    return nbdkit_pid > 0 ? 0 : -1;
}

static void t_nbd(void **st)
{
    char uri[512];
    if (start_nbdkit(uri, sizeof uri) < 0)
        skip();
    struct img_src *s = open_ok(uri, SRC_OPEN_RW);
    assert_int_equal(src_kind(s), SRC_NBD);
    assert_int_equal(src_fd(s), -1);
    assert_true(src_caps(s) & SRC_CAP_WRITE);
    uint64_t size;
    assert_int_equal(src_size(s, &size), 0);
    assert_true(size == 16u << 20);
    static uint8_t buf[1 << 20], out[1 << 20];
    tu_pattern(buf, sizeof buf, 0, 7);
    assert_int_equal(src_pwrite(s, buf, sizeof buf, 4u << 20), 0);
    assert_int_equal(src_pread(s, out, sizeof out, 4u << 20), 0);
    assert_memory_equal(out, buf, sizeof buf);
    assert_int_equal(src_pread(s, out, 16, size - 8), -EIO);
    assert_int_equal(src_pread_zero(s, out, 16, size - 8), 0);
    unsigned state;
    uint64_t end;
    if (src_caps(s) & SRC_CAP_HOLES) {
        assert_int_equal(src_extent(s, 0, size, &state, &end), 0);
        assert_true(state & SRC_EXT_ZERO);
        assert_true(end == 4u << 20);
        assert_int_equal(src_extent(s, 4u << 20, size, &state, &end), 0);
        assert_true(state & SRC_EXT_DATA);
    }
    assert_int_equal(src_zero(s, 4u << 20, 1 << 20, SRC_ZERO_MAY_PUNCH), 0);
    assert_int_equal(src_pread(s, out, 4096, 4u << 20), 0);
    for (int i = 0; i < 4096; i++)
        assert_int_equal(out[i], 0);
    assert_int_equal(src_flush(s), 0);
    assert_int_equal(src_truncate(s, 1), -ENOTSUP);
    /* The server goes away: one error line, no hang. */
    kill(nbdkit_pid, SIGKILL);
    int r = src_pread(s, out, 4096, 0);
    assert_true(r < 0);
    assert_null(strchr(src_errmsg(s, r), '\n'));
    src_close(s);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_file_io),
        cmocka_unit_test(t_file_extents),
        cmocka_unit_test(t_refusals),
        cmocka_unit_test(t_nbd),
    };
    return cmocka_run_group_tests(tests, NULL, tu_teardown);
}

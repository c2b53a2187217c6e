/* SPDX-License-Identifier: GPL-2.0-or-later */
/* test_resolve.c: core/block/resolve.c, the opens of files an image names, through openat2 and
 * through the fallback walk (RESOLVE_OPEN_WALK), which must agree on every case: plain files
 * and subdirectories open; ".." above the directory, absolute symlinks, symlinks (to files or
 * to directories) that lead outside are refused with -EXDEV, symlinks that stay inside are
 * followed unless RESOLVE_OPEN_NOSYMLINKS; FIFOs, sockets and directories are refused without
 * blocking; symlink loops end. And resolve_open_file refuses FIFOs at once. */
#include "testutil.h"

#include "core/block/resolve.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char root[512];

static int setup(void **state)
{
    (void)state;
    snprintf(root, sizeof root, "%s/img", tu_dir());
    assert_int_equal(tu_sh("cd '%s' && rm -rf img outside && mkdir -p img/sub/deep outside && "
                           "echo SECRET > outside/secret && echo inside > img/file && "
                           "echo deeper > img/sub/deep/f && ln -s file img/link && "
                           "ln -s sub/deep/f img/deeplink && ln -s ../../file img/sub/deep/up2 && "
                           "ln -s ../outside/secret img/out && ln -s /etc/passwd img/abs && "
                           "ln -s .. img/updir && ln -s ../../sub img/sub/deep/side && "
                           "ln -s loop2 img/loop1 && ln -s loop1 img/loop2 && "
                           "mkfifo img/fifo && ln -s fifo img/fifolink",
                           tu_dir()),
                     0);
    return 0;
}

/* Open name both ways; both must give want (0: success with content starting with text). */
static void expect(const char *name, unsigned rflags, int want, const char *text)
{
    for (int walk = 0; walk < 2; walk++) {
        struct img_err err = {0};
        struct stat st;
        int fd = resolve_open_beneath(root, name, O_RDONLY, rflags | (walk ? RESOLVE_OPEN_WALK : 0),
                                      &st, &err);
        if (want == 0) {
            if (fd < 0)
                fail_msg("%s (%s): %s", name, walk ? "walk" : "openat2", err.msg);
            char buf[16] = {0};
            assert_true(pread(fd, buf, sizeof buf - 1, 0) > 0);
            assert_non_null(strstr(buf, text));
            assert_false(fcntl(fd, F_GETFL) & O_NONBLOCK);
            close(fd);
        } else {
            if (fd != want)
                fail_msg("%s (%s): got %d, want %d (%s)", name, walk ? "walk" : "openat2", fd, want,
                         err.msg);
            assert_true(err.msg[0] != '\0');
        }
    }
}

static void t_inside(void **s)
{
    (void)s;
    expect("file", 0, 0, "inside");
    expect("./file", 0, 0, "inside");
    expect("sub/deep/f", 0, 0, "deeper");
    expect("sub/../file", 0, 0, "inside");
    expect("link", 0, 0, "inside");
    expect("deeplink", 0, 0, "deeper");
    expect("sub/deep/up2", 0, 0, "inside");
    expect("sub/deep/side/deep/f", 0, 0, "deeper");
}

static void t_outside(void **s)
{
    (void)s;
    expect("out", 0, -EXDEV, NULL);
    expect("abs", 0, -EXDEV, NULL);
    expect("updir/outside/secret", 0, -EXDEV, NULL);
    expect("../outside/secret", 0, -EXDEV, NULL);
    expect("sub/../../outside/secret", 0, -EXDEV, NULL);
    expect("/etc/passwd", 0, -EXDEV, NULL);
}

static void t_nosymlinks(void **s)
{
    (void)s;
    expect("file", RESOLVE_OPEN_NOSYMLINKS, 0, "inside");
    expect("link", RESOLVE_OPEN_NOSYMLINKS, -ELOOP, NULL);
    expect("deeplink", RESOLVE_OPEN_NOSYMLINKS, -ELOOP, NULL);
    expect("out", RESOLVE_OPEN_NOSYMLINKS, -ELOOP, NULL);
}

static void t_special(void **s)
{
    (void)s;
    expect("fifo", 0, -EPERM, NULL);
    expect("fifolink", 0, -EPERM, NULL);
    expect("loop1", 0, -ELOOP, NULL);
    expect("missing", 0, -ENOENT, NULL);
    expect("file/x", 0, -ENOTDIR, NULL);

    struct img_err err = {0};
    char p[600];
    snprintf(p, sizeof p, "%s/fifo", root);
    assert_int_equal(resolve_open_file(p, O_RDONLY, 0, NULL, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "named pipe"));
    snprintf(p, sizeof p, "%s/fifolink", root);
    assert_int_equal(resolve_open_file(p, O_RDWR, RESOLVE_OPEN_BLOCKDEV, NULL, &err), -EINVAL);
}

static void t_split(void **s)
{
    (void)s;
    char *d, *r;
    assert_int_equal(resolve_split_ref("/a/b", "sub/x", &d, &r), 0);
    assert_string_equal(d, "/a/b");
    assert_string_equal(r, "sub/x");
    free(d), free(r);
    assert_int_equal(resolve_split_ref("/a/b", "../c/x", &d, &r), 0);
    assert_string_equal(d, "/a/b/../c");
    assert_string_equal(r, "x");
    free(d), free(r);
    assert_int_equal(resolve_split_ref("rel", "/abs/x", &d, &r), 0);
    assert_string_equal(d, "/abs");
    assert_string_equal(r, "x");
    free(d), free(r);
    assert_int_equal(resolve_split_ref("rel", "/x", &d, &r), 0);
    assert_string_equal(d, "/");
    assert_string_equal(r, "x");
    free(d), free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_inside),  cmocka_unit_test(t_outside), cmocka_unit_test(t_nosymlinks),
        cmocka_unit_test(t_special), cmocka_unit_test(t_split),
    };
    return cmocka_run_group_tests(tests, setup, tu_teardown);
}

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* test_limits.c: README's Limits rows that had no test of their own: a vmdk descriptor with
 * more than 256 other keys, and backing files that are FIFOs, /proc or /sys files, or protocol
 * names other than json: (devices and json: are in test_qcow2_hostile.c). Each is refused at
 * open with a message naming the problem; the FIFO must not block the open. */
#include "testutil.h"

#include "core/block/driver.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void expect_open_fails(const char *path, const char *want)
{
    struct img_err err = {0};
    struct img *img = img_open(path, NULL, IMG_OPEN_BACKING, &err);
    if (img) {
        img_close(img);
        fail_msg("%s opened; expected an error naming '%s'", path, want);
    }
    if (!strstr(err.msg, want))
        fail_msg("error '%s' does not mention '%s'", err.msg, want);
}

/* A monolithicFlat descriptor with n ddb.* keys (its extent is a 64 KiB raw file beside it). */
static const char *desc_with_keys(const char *name, int n)
{
    const char *p = tu_path(name);
    assert_int_equal(tu_sh("truncate -s 64k '%s'", tu_path("keys-flat.vmdk")), 0);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fprintf(f, "# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\n"
               "createType=\"monolithicFlat\"\nRW 128 FLAT \"keys-flat.vmdk\" 0\n\n#DDB\n");
    for (int i = 0; i < n; i++)
        fprintf(f, "ddb.key%d = \"%d\"\n", i, i);
    fclose(f);
    return p;
}

static void t_vmdk_other_keys(void **s)
{
    (void)s;
    struct img_err err = {0};
    struct img *img = img_open(desc_with_keys("keys256.vmdk", 256), NULL, 0, &err);
    if (!img)
        fail_msg("256 keys refused: %s", err.msg);
    img_close(img);
    expect_open_fails(desc_with_keys("keys257.vmdk", 257), "more than 256 entries");
}

/* A qcow2 whose recorded backing file is name (format raw). */
static const char *with_backing(const char *file, const char *name)
{
    const char *a = tu_path(file);
    assert_int_equal(tu_sh("qemu-img create -q -f qcow2 '%s' 1M && "
                           "qemu-img rebase -u -f qcow2 -b '%s' -F raw '%s' 2>/dev/null",
                           a, name, a),
                     0);
    return a;
}

static void t_backing_fifo(void **s)
{
    (void)s;
    const char *fifo = tu_path("backing.fifo");
    assert_int_equal(tu_sh("rm -f '%s' && mkfifo '%s'", fifo, fifo), 0);
    expect_open_fails(with_backing("fifo.qcow2", fifo), "not a regular file");
}

static void t_backing_proc_sys(void **s)
{
    (void)s;
    /* Regular files as far as stat is concerned: refused by where they are. */
    expect_open_fails(with_backing("proc.qcow2", "/proc/self/environ"), "lies in /proc or /sys");
    expect_open_fails(with_backing("sys.qcow2", "/sys/kernel/uevent_seqnum"),
                      "lies in /proc or /sys");
}

static void t_backing_protocols(void **s)
{
    (void)s;
    expect_open_fails(with_backing("nbd.qcow2", "nbd://127.0.0.1:10809/x"), "protocol");
    expect_open_fails(with_backing("http.qcow2", "http://127.0.0.1/x.raw"), "protocol");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_vmdk_other_keys),
        cmocka_unit_test(t_backing_fifo),
        cmocka_unit_test(t_backing_proc_sys),
        cmocka_unit_test(t_backing_protocols),
    };
    return cmocka_run_group_tests(tests, NULL, tu_teardown);
}

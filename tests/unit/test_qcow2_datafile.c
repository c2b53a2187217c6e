/* SPDX-License-Identifier: GPL-2.0-or-later */
/* test_qcow2_datafile.c: qcow2 images with an external data file (incompatible bit 2), with
 * and without data_file_raw: what qemu-io wrote reads identically in dimg, what dimg writes
 * passes qemu-img check and compare, and --untrusted refuses to follow the data file name. */
#include "testutil.h"

#include "core/block/driver.h"
#include "test_qcow2_common.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void make(const char *name, const char *data, bool raw)
{
    assert_int_equal(tu_sh("cd '%s' && rm -f %s %s && qemu-img create -q -f qcow2 -o "
                           "data_file=%s,data_file_raw=%s %s 4M && "
                           "qemu-io -c 'write -P 0x61 0 4k' -c 'write -P 0x62 1M 70k' "
                           "-c 'write -z 2M 64k' -c 'write -P 0x63 4190208 4k' %s >/dev/null",
                           tu_dir(), name, data, data, raw ? "on" : "off", name, name),
                     0);
}

static void read_case(bool raw)
{
    make("df.qcow2", "df.data", raw);
    tq_compare_raw(tu_path("df.qcow2"));
    tq_compare_map(tu_path("df.qcow2"));
}

static void t_read_qemu_written(void **s)
{
    read_case(false);
}
static void t_read_qemu_written_raw(void **s)
{
    read_case(true);
}

static void write_case(bool raw)
{
    make("dw.qcow2", "dw.data", raw);
    const char *refp = tu_path("dw-ref.raw");
    assert_int_equal(tu_sh("qemu-img convert -O raw '%s' '%s'", tu_path("dw.qcow2"), refp), 0);
    int ref = open(refp, O_RDWR);
    assert_true(ref >= 0);
    struct img *img = tq_open(tu_path("dw.qcow2"), IMG_OPEN_RW);
    tq_mirror_write(img, ref, 511, 3000, 7);            /* across sector and cluster 0 */
    tq_mirror_write(img, ref, 65536 * 5 - 100, 200, 8); /* across a cluster boundary */
    tq_mirror_zero(img, ref, 1 << 20, 65536);
    tq_mirror_write(img, ref, (4 << 20) - 1, 1, 9); /* last byte */
    assert_int_equal(img_flush(img), 0);
    img_close(img);
    close(ref);
    assert_int_equal(tu_sh("qemu-img check -q '%s'", tu_path("dw.qcow2")), 0);
    assert_int_equal(tu_sh("qemu-img compare -q '%s' '%s'", tu_path("dw.qcow2"), refp), 0);
    if (raw) /* with data_file_raw the data file alone is the disk */
        assert_int_equal(tu_sh("cmp -s '%s' '%s'", tu_path("dw.data"), refp), 0);
}

static void t_write(void **s)
{
    write_case(false);
}
static void t_write_raw(void **s)
{
    write_case(true);
}

static void t_untrusted_refuses_data_file(void **s)
{
    make("du.qcow2", "du.data", false);
    struct img_err err = {0};
    struct img *img = img_open(tu_path("du.qcow2"), NULL, IMG_OPEN_UNTRUSTED, &err);
    if (img) {
        /* Opening may be allowed; reading data must then not reach the data file. */
        uint8_t b[4096];
        assert_true(img_read(img, 0, b, sizeof b) < 0);
        img_close(img);
    } else {
        assert_non_null(strstr(err.msg, "data file"));
    }
}

/* qemu-img resolves a relative data file name against its working directory, dimg against
 * the image's directory (as for backing files); working inside the image's directory makes
 * both read the same file. */
static int setup(void **s)
{
    return chdir(tu_dir());
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_read_qemu_written),
        cmocka_unit_test(t_read_qemu_written_raw),
        cmocka_unit_test(t_write),
        cmocka_unit_test(t_write_raw),
        cmocka_unit_test(t_untrusted_refuses_data_file),
    };
    return cmocka_run_group_tests(tests, setup, tu_teardown);
}

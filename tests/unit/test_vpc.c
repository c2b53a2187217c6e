/* SPDX-License-Identifier: GPL-2.0-or-later */
/* test_vpc.c: the vpc (VHD) driver's writes at any alignment, checked against a reference kept
 * in memory and against qemu-img: a dynamic and a fixed image written in odd pieces (qemu-img
 * compare against the raw reference), and a differencing child (made by
 * tests/cli/vhd_tool.py over a qemu-made parent) written in partial sectors it did not hold
 * (completed from the parent), partial sectors it held, and a new block. */
#include "testutil.h"

#include "core/block/img.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MIB (1024 * 1024)

static struct img *open_rw(const char *path)
{
    struct img_err err = {0};
    struct img *img = img_open(path, "vpc", IMG_OPEN_RW | IMG_OPEN_BACKING, &err);
    if (!img)
        fail_msg("%s", err.msg);
    return img;
}

/* Odd-sized writes at odd offsets, the same into ref. */
static void scribble(struct img *img, uint8_t *ref, uint64_t size)
{
    static const uint64_t offs[] = {0, 511, 1000, 2 * MIB - 700, 3 * MIB + 5, 5 * MIB};
    static const size_t lens[] = {1, 1026, 70000, 1400, 4096, 3 * MIB};
    uint8_t *buf = malloc(3 * MIB);
    assert_non_null(buf);
    for (size_t i = 0; i < sizeof offs / sizeof *offs; i++) {
        size_t n = lens[i];
        if (offs[i] + n > size)
            n = (size_t)(size - offs[i]);
        tu_pattern(buf, n, offs[i], (unsigned)i + 3);
        assert_int_equal(img_write(img, offs[i], buf, n), 0);
        memcpy(ref + offs[i], buf, n);
    }
    free(buf);
}

static void t_write_base(void **state)
{
    (void)state;
    const char *subs[] = {"subformat=dynamic", "subformat=fixed"};
    for (int k = 0; k < 2; k++) {
        const char *p = tu_path(k ? "f.vhd" : "d.vhd");
        tu_create("vpc", p, subs[k], 8 * MIB, NULL, NULL);
        struct img *img = open_rw(p);
        uint64_t size = img_size(img);
        uint8_t *ref = calloc(1, size);
        assert_non_null(ref);
        scribble(img, ref, size);
        assert_int_equal(img_flush(img), 0);
        img_close(img);
        tu_write_file(tu_path("ref.raw"), ref, size);
        free(ref);
        assert_int_equal(
            tu_sh("qemu-img compare -q -f raw -F vpc '%s' '%s'", tu_path("ref.raw"), p), 0);
    }
}

static void t_write_child(void **state)
{
    (void)state;
    const char *dir = tu_dir();
    assert_int_equal(tu_sh("cd '%s' && qemu-img create -q -f vpc dyn.vhd 10M && "
                           "qemu-io -f vpc -c 'write -P 0x21 0 5M' dyn.vhd >/dev/null && "
                           "python3 '%s/tests/cli/vhd_tool.py' diff child.vhd dyn.vhd W2ru "
                           "'.\\dyn.vhd'",
                           dir, DIMG_SOURCE_DIR),
                     0);
    struct img_err err = {0};
    struct img *par = img_open(tu_path("dyn.vhd"), "vpc", 0, &err);
    assert_non_null(par);
    uint64_t size = img_size(par);
    uint8_t *ref = malloc(size), *got = malloc(size);
    assert_non_null(ref);
    assert_non_null(got);
    assert_int_equal(img_read(par, 0, ref, size), 0);
    img_close(par);
    memset(ref, 0x5a, 8 * 512); /* sectors 0..7 and 9 are the child's */
    memset(ref + 9 * 512, 0x5a, 512);
    struct img *img = open_rw(tu_path("child.vhd"));
    uint8_t b[5000];
    memset(b, 0x99, sizeof b);
    const uint64_t offs[] = {8 * 512 + 100, 9 * 512 + 7, 2 * MIB - 300, 4 * MIB + 1};
    const size_t lens[] = {200, 10, 4000, 1};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(img_write(img, offs[i], b, lens[i]), 0);
        memcpy(ref + offs[i], b, lens[i]);
    }
    img_close(img);
    img = open_rw(tu_path("child.vhd"));
    assert_int_equal(img_read(img, 0, got, size), 0);
    img_close(img);
    assert_memory_equal(got, ref, size);
    free(ref);
    free(got);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_write_base),
        cmocka_unit_test(t_write_child),
    };
    int r = cmocka_run_group_tests(tests, NULL, NULL);
    tu_teardown(NULL);
    return r;
}

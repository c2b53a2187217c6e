/* SPDX-License-Identifier: GPL-2.0-or-later */
/* test_chain.c: backing chains in core/block/img.c: relative names resolve against the overlay's
 * directory, reads fall through layers and read zeros past a short backing file, block status
 * names the answering layer like qemu-img map's depth, the depth limit holds, --untrusted
 * follows nothing, and an unopened backing file is an error rather than silent zeros. */
#include "testutil.h"

#include "core/block/driver.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* base.raw (1 MiB pattern) <- mid.qcow2 (writes at 64k) <- top.qcow2 (2 MiB, writes at 0),
 * all in a subdirectory, opened from elsewhere so relative names must use the image's dir. */
static void make_chain(void)
{
    const char *d = tu_path("chain");
    mkdir(d, 0755);
    assert_int_equal(tu_sh("cd '%s' && qemu-img create -q -f raw base.raw 1M && "
                           "qemu-io -f raw -c 'write -P 0x11 0 1M' base.raw >/dev/null && "
                           "qemu-img create -q -f qcow2 -b base.raw -F raw mid.qcow2 && "
                           "qemu-io -c 'write -P 0x22 64k 64k' mid.qcow2 >/dev/null && "
                           "qemu-img create -q -f qcow2 -b mid.qcow2 -F qcow2 top.qcow2 2M && "
                           "qemu-io -c 'write -P 0x33 0 4k' top.qcow2 >/dev/null && "
                           "qemu-img convert -O raw top.qcow2 flat.raw",
                           d),
                     0);
}

static void t_read_through_chain(void **s)
{
    make_chain();
    struct img_err err = {0};
    struct img *img = img_open(tu_path("chain/top.qcow2"), NULL, IMG_OPEN_BACKING, &err);
    if (!img)
        fail_msg("open: %s", err.msg);
    assert_true(img->size == 2 << 20);
    assert_non_null(img->backing);
    assert_non_null(img->backing->backing);
    size_t n;
    uint8_t *want = tu_read_file(tu_path("chain/flat.raw"), &n);
    assert_int_equal(n, 2 << 20);
    uint8_t *got = malloc(n);
    assert_int_equal(img_read(img, 0, got, n), 0);
    assert_memory_equal(got, want, n);
    /* Unaligned reads across layer boundaries too. */
    assert_int_equal(img_read(img, 4095, got, 70000), 0);
    assert_memory_equal(got, want + 4095, 70000);
    free(got);
    free(want);
    img_close(img);
}

static void t_depth_matches_qemu_map(void **s)
{
    make_chain();
    struct img_err err = {0};
    struct img *img = img_open(tu_path("chain/top.qcow2"), NULL, IMG_OPEN_BACKING, &err);
    assert_non_null(img);
    struct img_bs bs;
    /* 0..4k: top (depth 0); 64k..128k: mid (1); 200k: base raw (2); 1.5M: past base: zero. */
    assert_int_equal(img_block_status(img, 0, img->size, &bs), 0);
    assert_int_equal(bs.depth, 0);
    assert_true(bs.flags & IMG_BS_DATA);
    assert_int_equal(img_block_status(img, 65536, 65536, &bs), 0);
    assert_int_equal(bs.depth, 1);
    assert_true(bs.flags & IMG_BS_DATA);
    assert_int_equal(img_block_status(img, 200 << 10, 4096, &bs), 0);
    assert_int_equal(bs.depth, 2);
    assert_true(bs.flags & IMG_BS_DATA);
    assert_int_equal(img_block_status(img, 1536 << 10, 4096, &bs), 0);
    assert_true(bs.flags & IMG_BS_ZERO);
    assert_false(bs.flags & (IMG_BS_DATA | IMG_BS_ALLOCATED));
    /* qemu-img map says the same depths (a 4 KiB write allocates a whole 64 KiB cluster). */
    char *map = tu_sh_out("qemu-img map --output=json '%s'", tu_path("chain/top.qcow2"));
    assert_non_null(strstr(map, "\"start\": 0, \"length\": 65536, \"depth\": 0"));
    assert_non_null(strstr(map, "\"start\": 65536, \"length\": 65536, \"depth\": 1"));
    free(map);
    img_close(img);
}

static void t_unopened_backing_is_an_error(void **s)
{
    make_chain();
    struct img_err err = {0};
    struct img *img = img_open(tu_path("chain/top.qcow2"), NULL, 0, &err);
    assert_non_null(img);
    assert_null(img->backing);
    assert_string_equal(img->backing_name, "mid.qcow2");
    uint8_t buf[4096];
    /* Allocated in top: readable. Unallocated: needs the backing file. */
    assert_int_equal(img_read(img, 0, buf, sizeof buf), 0);
    assert_true(img_read(img, 65536, buf, sizeof buf) < 0);
    assert_non_null(strstr(img_errmsg(img), "backing file"));
    img_close(img);
}

static void t_untrusted_follows_nothing(void **s)
{
    make_chain();
    struct img_err err = {0};
    struct img *img =
        img_open(tu_path("chain/top.qcow2"), NULL, IMG_OPEN_BACKING | IMG_OPEN_UNTRUSTED, &err);
    assert_null(img);
    assert_non_null(strstr(err.msg, "untrusted"));
}

static void t_depth_limit(void **s)
{
    /* 70 overlays on one base: deeper than IMG_CHAIN_MAX_DEPTH. */
    const char *d = tu_path("deep");
    mkdir(d, 0755);
    assert_int_equal(tu_sh("cd '%s' && qemu-img create -q -f qcow2 l0.qcow2 64k && "
                           "for i in $(seq 1 70); do qemu-img create -q -f qcow2 "
                           "-b l$((i-1)).qcow2 -F qcow2 l$i.qcow2 || exit 1; done",
                           d),
                     0);
    struct img_err err = {0};
    struct img *img = img_open(tu_path("deep/l70.qcow2"), NULL, IMG_OPEN_BACKING, &err);
    assert_null(img);
    assert_non_null(strstr(err.msg, "deeper than"));
    /* The exact edge: a chain of 64 images (l63 down to l0) opens, one of 65 does not; the
     * message names the image whose backing file would be the 65th. */
    img = img_open(tu_path("deep/l64.qcow2"), NULL, IMG_OPEN_BACKING, &err);
    assert_null(img);
    if (!strstr(err.msg, "/l1.qcow2: backing chain deeper than 64 images"))
        fail_msg("l64: %s", err.msg);
    img = img_open(tu_path("deep/l63.qcow2"), NULL, IMG_OPEN_BACKING, &err);
    if (!img)
        fail_msg("open: %s", err.msg);
    img_close(img);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_read_through_chain),
        cmocka_unit_test(t_depth_matches_qemu_map),
        cmocka_unit_test(t_unopened_backing_is_an_error),
        cmocka_unit_test(t_untrusted_follows_nothing),
        cmocka_unit_test(t_depth_limit),
    };
    return cmocka_run_group_tests(tests, NULL, tu_teardown);
}

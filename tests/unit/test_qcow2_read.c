/* SPDX-License-Identifier: GPL-2.0-or-later */
/* test_qcow2_read.c: qcow2 read direction against the qemu-img/qemu-io oracle: images made by
 * qemu in every variant (cluster sizes, refcount widths, v2/v3, extended L2, zlib/zstd
 * compression, zero clusters, backing chains) are read whole through img_read and compared
 * byte for byte with `qemu-img convert -O raw`, and block-status runs with `qemu-img map`. */
#include "test_qcow2_common.h"

#include "core/block/driver.h"
#include "formats/qcow2.h"

/* qemu-io writes at awkward places: first/last sector, across cluster boundaries, zeros. */
static void qio_patterns(const char *path, uint64_t cs, uint64_t size, const char *fmt)
{
    int r = tu_sh("qemu-io -f %s "
                  "-c 'write -P 0x11 0 512' "
                  "-c 'write -P 0x22 %llu 512' "
                  "-c 'write -P 0x33 %llu 300' "
                  "-c 'write -P 0x44 %llu %llu' "
                  "-c 'write -z %llu %llu' "
                  "-c 'write -z %llu %llu' "
                  "'%s' >/dev/null",
                  fmt, (unsigned long long)(size - 512), (unsigned long long)(cs - 100),
                  (unsigned long long)(3 * cs + 7), (unsigned long long)(2 * cs + 13),
                  (unsigned long long)(4 * cs), (unsigned long long)cs,
                  (unsigned long long)(6 * cs + 512), (unsigned long long)1024, path);
    assert_int_equal(r, 0);
}

static void variant(const char *name, const char *opts, uint64_t cs)
{
    const char *p = tu_path(name);
    uint64_t size = 8 * cs < (4u << 20) ? (4u << 20) : 8 * cs;
    assert_int_equal(
        tu_sh("qemu-img create -q -f qcow2 -o %s '%s' %llu", opts, p, (unsigned long long)size), 0);
    qio_patterns(p, cs, size, "qcow2");
    tq_compare_raw(p);
    tq_compare_map(p);
}

static void test_cluster_sizes(void **state)
{
    variant("c512.qcow2", "cluster_size=512", 512);
    variant("c4k.qcow2", "cluster_size=4k", 4096);
    variant("c64k.qcow2", "cluster_size=64k", 65536);
    variant("c2m.qcow2", "cluster_size=2M", 2u << 20);
}

static void test_refcount_widths(void **state)
{
    static const int bits[] = {1, 2, 4, 8, 16, 32, 64};
    for (size_t i = 0; i < sizeof bits / sizeof *bits; i++) {
        char name[64], opts[64];
        snprintf(name, sizeof name, "rc%d.qcow2", bits[i]);
        snprintf(opts, sizeof opts, "refcount_bits=%d,cluster_size=4k", bits[i]);
        variant(name, opts, 4096);
    }
}

static void test_compat(void **state)
{
    variant("v2.qcow2", "compat=0.10", 65536);
    variant("v3.qcow2", "compat=1.1", 65536);
    variant("v2small.qcow2", "compat=0.10,cluster_size=512", 512);
}

static void test_extended_l2(void **state)
{
    variant("ext64k.qcow2", "extended_l2=on", 65536);
    variant("ext16k.qcow2", "extended_l2=on,cluster_size=16k", 16384);
    /* Subcluster-sized writes and zeroes over a backing file. */
    const char *base = tu_path("extbase.raw"), *top = tu_path("exttop.qcow2");
    assert_int_equal(tu_sh("qemu-img create -q -f raw '%s' 1M && qemu-io -f raw -c 'write -P "
                           "0x5a 0 1M' '%s' >/dev/null",
                           base, base),
                     0);
    assert_int_equal(tu_sh("qemu-img create -q -f qcow2 -o extended_l2=on -b extbase.raw -F raw "
                           "'%s' && qemu-io -f qcow2 -c 'write -P 0x44 2048 4096' -c 'write -z "
                           "8192 2048' -c 'write -z 131072 65536' -c 'write -P 0x66 200000 "
                           "70000' '%s' >/dev/null",
                           top, top),
                     0);
    tq_compare_raw(top);
    tq_compare_map(top);
}

static void compressed(const char *name, const char *ctype, uint64_t cs)
{
    const char *src = tu_path("csrc.raw"), *dst = tu_path(name);
    /* Compressible and incompressible clusters, zeros, a partial tail. */
    assert_int_equal(tu_sh("qemu-img create -q -f raw '%s' 3000000 && qemu-io -f raw "
                           "-c 'write -P 0x61 0 300000' -c 'write -P 0x62 700000 5000' '%s' "
                           ">/dev/null && head -c 200000 /dev/urandom | dd of='%s' bs=1 "
                           "seek=1000000 conv=notrunc status=none",
                           src, src, src),
                     0);
    assert_int_equal(tu_sh("qemu-img convert -c -O qcow2 -o compression_type=%s,cluster_size=%llu "
                           "'%s' '%s'",
                           ctype, (unsigned long long)cs, src, dst),
                     0);
    tq_compare_raw(dst);
    tq_compare_map(dst);
    /* Partial overwrite of a compressed cluster by qemu. */
    assert_int_equal(tu_sh("qemu-io -f qcow2 -c 'write -P 0x77 %llu 1000' '%s' >/dev/null",
                           (unsigned long long)(cs + 5), dst),
                     0);
    tq_compare_raw(dst);
    tq_compare_map(dst);
}

static void test_compressed(void **state)
{
    compressed("z64k.qcow2", "zlib", 65536);
    compressed("z4k.qcow2", "zlib", 4096);
    compressed("z512.qcow2", "zlib", 512);
    compressed("z2m.qcow2", "zlib", 2u << 20);
    compressed("zs64k.qcow2", "zstd", 65536);
    compressed("zs4k.qcow2", "zstd", 4096);
}

static void test_backing_chain(void **state)
{
    const char *b = tu_path("b0.qcow2"), *m = tu_path("b1.qcow2"), *t = tu_path("b2.qcow2");
    assert_int_equal(tu_sh("qemu-img create -q -f qcow2 -o cluster_size=4k '%s' 3M && qemu-io "
                           "-f qcow2 -c 'write -P 0x10 0 3M' '%s' >/dev/null",
                           b, b),
                     0);
    assert_int_equal(tu_sh("qemu-img create -q -f qcow2 -b b0.qcow2 -F qcow2 '%s' 4M && qemu-io "
                           "-f qcow2 -c 'write -P 0x20 4095 8194' -c 'write -z 1M 64k' -c "
                           "'write -P 0x21 3145000 2000' '%s' >/dev/null",
                           m, m),
                     0);
    assert_int_equal(tu_sh("qemu-img create -q -f qcow2 -o compat=0.10,cluster_size=512 -b "
                           "b1.qcow2 -F qcow2 '%s' 4M && qemu-io -f qcow2 -c 'write -P 0x30 "
                           "100 1000' -c 'write -P 0x31 1048576 1000' -c 'write -z 2M 4096' "
                           "'%s' >/dev/null",
                           t, t),
                     0);
    tq_compare_raw(m);
    tq_compare_map(m);
    tq_compare_raw(t);
    tq_compare_map(t);
    /* Backing name and format are reported. */
    struct img *img = tq_open(t, 0);
    assert_string_equal(img->backing_name, "b1.qcow2");
    assert_string_equal(img->backing_fmt, "qcow2");
    img_close(img);
}

static void test_info(void **state)
{
    const char *p = tu_path("info.qcow2");
    assert_int_equal(tu_sh("qemu-img create -q -f qcow2 -o "
                           "lazy_refcounts=on,refcount_bits=8,compression_type=zstd,extended_l2=on "
                           "'%s' 1G",
                           p),
                     0);
    struct img *img = tq_open(p, 0);
    struct img_info info;
    assert_int_equal(img_get_info(img, &info), 0);
    assert_int_equal(info.cluster_size, 65536);
    assert_true(info.has_dirty_field);
    assert_false(info.dirty);
    assert_int_equal(info.virtual_size, 1ull << 30);
    static const char *keys[] = {"compat",        "compression-type", "lazy-refcounts",
                                 "refcount-bits", "corrupt",          "extended-l2"};
    assert_int_equal(info.nkv, 6);
    for (size_t i = 0; i < 6; i++)
        assert_string_equal(info.kv[i].key, keys[i]);
    assert_string_equal(info.kv[0].str, "1.1");
    assert_string_equal(info.kv[1].str, "zstd");
    assert_int_equal(info.kv[2].num, 1);
    assert_int_equal(info.kv[3].num, 8);
    assert_int_equal(info.kv[4].num, 0);
    assert_int_equal(info.kv[5].num, 1);
    img_close(img);
    assert_int_equal(tu_sh("qemu-img create -q -f qcow2 -o compat=0.10 '%s' 1M", p), 0);
    img = tq_open(p, 0);
    assert_int_equal(img_get_info(img, &info), 0);
    assert_int_equal(info.nkv, 3);
    assert_string_equal(info.kv[0].str, "0.10");
    assert_string_equal(info.kv[2].key, "refcount-bits");
    img_close(img);
}

static void test_big_sparse_status(void **state)
{
    /* A 1 TiB image with two clusters: block status must skip empty L1 ranges quickly. */
    const char *p = tu_path("big.qcow2");
    assert_int_equal(tu_sh("qemu-img create -q -f qcow2 '%s' 1T && qemu-io -f qcow2 -c 'write "
                           "-P 1 0 4k' -c 'write -P 2 1099511562240 64k' '%s' >/dev/null",
                           p, p),
                     0);
    tq_compare_map(p);
    struct img *img = tq_open(p, 0);
    struct img_bs bs;
    assert_int_equal(img_block_status_layer(img, 65536, img->size - 65536, &bs), 0);
    assert_int_equal(bs.flags, 0);
    assert_true(bs.len == img->size - 65536 - 65536);
    img_close(img);
}

/* Block status over a long run: one call, and the L2 table is looked up per table, not per
 * cluster (l2c.tick counts cache lookups), so long maps need no per-cluster work. */
static void long_run(const char *name, const char *opts, const char *write, unsigned flags)
{
    const char *p = tu_path(name);
    assert_int_equal(tu_sh("qemu-img create -q -f qcow2 -o %s '%s' 1G && qemu-io -f qcow2 -c "
                           "'%s 1M 64M' -c 'write -P 8 900M 64k' '%s' >/dev/null",
                           opts, p, write, p),
                     0);
    tq_compare_map(p);
    struct img *img = tq_open(p, 0);
    struct qcow2 *s = qcow2_st(img);
    struct img_bs bs;
    uint64_t t0 = s->l2c.tick;
    assert_int_equal(img_block_status_layer(img, 1u << 20, img->size - (1u << 20), &bs), 0);
    assert_int_equal(bs.len, 64u << 20);
    assert_int_equal(bs.flags, flags);
    assert_true(s->l2c.tick - t0 <= 4);
    /* The unallocated rest of the first L2 table and the start of the second: one run too. */
    t0 = s->l2c.tick;
    assert_int_equal(img_block_status_layer(img, 65u << 20, img->size - (65u << 20), &bs), 0);
    assert_int_equal(bs.len, (900u - 65u) << 20);
    assert_int_equal(bs.flags, 0);
    assert_true(s->l2c.tick - t0 <= 6);
    img_close(img);
}

static void test_long_runs(void **state)
{
    const unsigned data = IMG_BS_DATA | IMG_BS_ALLOCATED | IMG_BS_OFFSET_VALID;
    long_run("long.qcow2", "cluster_size=64k", "write -P 7", data);
    long_run("longext.qcow2", "extended_l2=on", "write -P 7", data);
    long_run("longz.qcow2", "cluster_size=64k", "write -z", IMG_BS_ZERO | IMG_BS_ALLOCATED);
}

static void test_snapshots_readonly(void **state)
{
    const char *p = tu_path("snap.qcow2");
    assert_int_equal(tu_sh("qemu-img create -q -f qcow2 '%s' 2M && qemu-io -f qcow2 -c 'write "
                           "-P 1 0 64k' '%s' >/dev/null && qemu-img snapshot -c first '%s' && "
                           "qemu-io -f qcow2 -c 'write -P 2 0 4k' '%s' >/dev/null && qemu-img "
                           "snapshot -c second '%s'",
                           p, p, p, p, p),
                     0);
    tq_compare_raw(p);
    struct img *img = tq_open(p, 0);
    struct img_snap *sn;
    size_t n;
    assert_int_equal(img_snap_list(img, &sn, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(sn[0].name, "first");
    assert_string_equal(sn[1].name, "second");
    assert_string_equal(sn[0].id, "1");
    assert_int_equal(sn[1].disk_size, 2u << 20);
    free(sn);
    img_close(img);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cluster_sizes),
        cmocka_unit_test(test_refcount_widths),
        cmocka_unit_test(test_compat),
        cmocka_unit_test(test_extended_l2),
        cmocka_unit_test(test_compressed),
        cmocka_unit_test(test_backing_chain),
        cmocka_unit_test(test_info),
        cmocka_unit_test(test_big_sparse_status),
        cmocka_unit_test(test_snapshots_readonly),
        cmocka_unit_test(test_long_runs),
    };
    return cmocka_run_group_tests(tests, NULL, tu_teardown);
}

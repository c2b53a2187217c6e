/* test_qcow2_hostile.c: one test per qcow2 header/metadata check. Each test makes a valid
 * image with qemu-img, pushes one field out of range, and expects img_open (or the read that
 * reaches the bad entry) to fail with one message naming that field: never a crash, a hang or
 * an allocation the file cannot justify (the address space is capped at 1 GiB when not under
 * a sanitizer). */
#include "test_qcow2_common.h"

#include "core/bytes.h"
#include "core/img.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A 16 MiB v3 image with 64 KiB clusters holding data in its first and last clusters. */
static const char *fresh(const char *name, const char *opts)
{
    const char *p = tu_path(name);
    assert_int_equal(tu_sh("qemu-img create -q -f qcow2 -o %s '%s' 16M", opts, p), 0);
    assert_int_equal(
        tu_sh("qemu-io -c 'write -P 0x5a 0 64k' -c 'write -P 0xa5 15M 64k' '%s' >/dev/null", p),
        0);
    return p;
}

static void poke(const char *path, uint64_t off, const void *bytes, size_t n)
{
    int fd = open(path, O_WRONLY);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, bytes, n, (off_t)off), (ssize_t)n);
    close(fd);
}
static void poke32(const char *path, uint64_t off, uint32_t v)
{
    uint8_t b[4];
    be32_store(b, v);
    poke(path, off, b, 4);
}
static void poke64(const char *path, uint64_t off, uint64_t v)
{
    uint8_t b[8];
    be64_store(b, v);
    poke(path, off, b, 8);
}
static uint64_t peek64(const char *path, uint64_t off)
{
    uint8_t b[8];
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(pread(fd, b, 8, (off_t)off), 8);
    close(fd);
    return be64_load(b);
}

/* Opening must fail, with a one-line message containing `want`. */
static void expect_open_fails(const char *path, const char *fmt, const char *want)
{
    tq_expect_open_fails(path, fmt, IMG_OPEN_BACKING, want);
}

/* Opening works but reading the whole image (and its block status) must fail on `want`. */
static void expect_read_fails(const char *path, const char *want)
{
    struct img_err err = {0};
    struct img *img = img_open(path, "qcow2", 0, &err);
    if (!img) {
        /* Refusing at open is just as good, as long as the message names the problem. */
        if (!strstr(err.msg, want))
            fail_msg("open failed with '%s', which does not mention '%s'", err.msg, want);
        return;
    }
    size_t len = 1 << 20;
    uint8_t *buf = malloc(len);
    int failed = 0;
    for (uint64_t off = 0; off < img->size && !failed; off += len)
        failed = img_read(img, off, buf, len) < 0;
    free(buf);
    if (!failed)
        fail_msg("reading %s succeeded although it should fail on %s", path, want);
    if (!strstr(img_errmsg(img), want))
        fail_msg("read failed with '%s', which does not mention '%s'", img_errmsg(img), want);
    img_close(img);
}

static void t_truncated(void **s)
{
    const char *p = fresh("trunc.qcow2", "compat=1.1");
    assert_int_equal(truncate(p, 50), 0);
    expect_open_fails(p, "qcow2", "qcow2");
}

static void t_wrong_magic(void **s)
{
    const char *p = fresh("magic.qcow2", "compat=1.1");
    poke(p, 0, "QFJ\xfb", 4);
    expect_open_fails(p, "qcow2", "qcow2");
}

static void t_version(void **s)
{
    const char *p = fresh("version.qcow2", "compat=1.1");
    poke32(p, 4, 4);
    expect_open_fails(p, "qcow2", "version");
}

static void t_cluster_bits_small(void **s)
{
    const char *p = fresh("cb8.qcow2", "compat=1.1");
    poke32(p, 20, 8);
    expect_open_fails(p, "qcow2", "cluster_bits");
}

static void t_cluster_bits_large(void **s)
{
    const char *p = fresh("cb22.qcow2", "compat=1.1");
    poke32(p, 20, 22);
    expect_open_fails(p, "qcow2", "cluster_bits");
}

static void t_cluster_bits_huge(void **s)
{
    const char *p = fresh("cbff.qcow2", "compat=1.1");
    poke32(p, 20, 0xff);
    expect_open_fails(p, "qcow2", "cluster_bits");
}

static void t_l1_size_huge(void **s)
{
    const char *p = fresh("l1huge.qcow2", "compat=1.1");
    poke32(p, 36, 0xffffffff);
    expect_open_fails(p, "qcow2", "l1_size");
}

static void t_l1_size_too_small(void **s)
{
    /* 1 TiB of virtual size needs 128 L1 entries with 64 KiB clusters; the header says 1. */
    const char *p = fresh("l1small.qcow2", "compat=1.1");
    poke64(p, 24, 1ull << 40);
    expect_open_fails(p, "qcow2", "l1_size");
}

static void t_l1_offset_unaligned(void **s)
{
    const char *p = fresh("l1unal.qcow2", "compat=1.1");
    poke64(p, 40, peek64(p, 40) + 8);
    expect_open_fails(p, "qcow2", "L1 table offset");
}

static void t_l1_offset_past_eof(void **s)
{
    const char *p = fresh("l1eof.qcow2", "compat=1.1");
    poke64(p, 40, 1ull << 40);
    expect_open_fails(p, "qcow2", "L1 table offset");
}

static void t_reftable_clusters_huge(void **s)
{
    const char *p = fresh("rtc.qcow2", "compat=1.1");
    poke32(p, 56, 0x7fffffff);
    expect_open_fails(p, "qcow2", "refcount_table_clusters");
}

static void t_reftable_offset_unaligned(void **s)
{
    const char *p = fresh("rto.qcow2", "compat=1.1");
    poke64(p, 48, peek64(p, 48) + 512);
    expect_open_fails(p, "qcow2", "refcount table offset");
}

static void t_reftable_offset_past_eof(void **s)
{
    const char *p = fresh("rteof.qcow2", "compat=1.1");
    poke64(p, 48, 1ull << 42);
    expect_open_fails(p, "qcow2", "refcount table offset");
}

static void t_refcount_order(void **s)
{
    const char *p = fresh("rco.qcow2", "compat=1.1");
    poke32(p, 96, 7);
    expect_open_fails(p, "qcow2", "refcount_order");
}

static void t_header_length_huge(void **s)
{
    const char *p = fresh("hlhuge.qcow2", "compat=1.1");
    poke32(p, 100, 0xffffff00);
    expect_open_fails(p, "qcow2", "header_length");
}

static void t_header_length_small(void **s)
{
    const char *p = fresh("hlsmall.qcow2", "compat=1.1");
    poke32(p, 100, 96);
    expect_open_fails(p, "qcow2", "header_length");
}

static void t_backing_name_long(void **s)
{
    const char *p = fresh("bnlong.qcow2", "compat=1.1");
    poke64(p, 8, 0x1000);
    poke32(p, 16, 4096);
    expect_open_fails(p, "qcow2", "backing file name");
}

static void t_backing_name_outside_cluster0(void **s)
{
    const char *p = fresh("bnout.qcow2", "compat=1.1");
    poke64(p, 8, 65536 - 10);
    poke32(p, 16, 100);
    expect_open_fails(p, "qcow2", "backing file name");
}

static void t_header_extension_overflow(void **s)
{
    /* The first extension (the feature table in a v3 image) claims to run past cluster 0. */
    const char *p = fresh("ext.qcow2", "compat=1.1");
    poke32(p, 112 + 4, 0x7ffffff0);
    expect_open_fails(p, "qcow2", "header extension");
}

static void t_nb_snapshots_huge(void **s)
{
    const char *p = fresh("nbs.qcow2", "compat=1.1");
    poke32(p, 60, 0x7fffffff);
    poke64(p, 64, 0x10000);
    expect_open_fails(p, "qcow2", "nb_snapshots");
}

static void t_snapshot_table_unaligned(void **s)
{
    const char *p = fresh("snapu.qcow2", "compat=1.1");
    poke32(p, 60, 1);
    poke64(p, 64, 0x10008);
    expect_open_fails(p, "qcow2", "snapshot table");
}

static void t_unknown_incompatible_bit(void **s)
{
    const char *p = fresh("incompat.qcow2", "compat=1.1");
    poke64(p, 72, 1ull << 40);
    expect_open_fails(p, "qcow2", "incompatible feature");
}

static void t_l2_offset_past_eof(void **s)
{
    const char *p = fresh("l2eof.qcow2", "compat=1.1");
    uint64_t l1 = peek64(p, 40);
    poke64(p, l1, (1ull << 63) | (1ull << 40));
    expect_read_fails(p, "L2 table offset");
}

static void t_l2_offset_unaligned(void **s)
{
    const char *p = fresh("l2unal.qcow2", "compat=1.1");
    uint64_t l1 = peek64(p, 40);
    uint64_t e = peek64(p, l1);
    poke64(p, l1, e + 512);
    expect_read_fails(p, "L2 table offset");
}

static void t_data_offset_past_eof(void **s)
{
    const char *p = fresh("dataeof.qcow2", "compat=1.1");
    uint64_t l1 = peek64(p, 40);
    uint64_t l2 = peek64(p, l1) & 0x00fffffffffffe00ull;
    poke64(p, l2, (1ull << 63) | (1ull << 44));
    expect_read_fails(p, "data cluster offset");
}

static void t_compressed_past_eof(void **s)
{
    const char *p = fresh("compeof.qcow2", "compat=1.1");
    uint64_t l1 = peek64(p, 40);
    uint64_t l2 = peek64(p, l1) & 0x00fffffffffffe00ull;
    /* 64 KiB clusters: offset in bits 0..53, sector count above; offset at 2^50. */
    poke64(p, l2, (1ull << 62) | (3ull << 54) | (1ull << 50));
    expect_read_fails(p, "compressed cluster");
}

static void t_backing_cycle(void **s)
{
    const char *a = tu_path("cyc-a.qcow2"), *b = tu_path("cyc-b.qcow2");
    assert_int_equal(tu_sh("qemu-img create -q -f qcow2 '%s' 1M", b), 0);
    assert_int_equal(tu_sh("qemu-img create -q -f qcow2 -b cyc-b.qcow2 -F qcow2 '%s'", a), 0);
    /* Point b back at a, without qemu-img (which would refuse). */
    assert_int_equal(tu_sh("qemu-img rebase -u -f qcow2 -b cyc-a.qcow2 -F qcow2 '%s'", b), 0);
    expect_open_fails(a, NULL, "loops");
}

static void t_backing_self(void **s)
{
    const char *a = tu_path("self.qcow2");
    assert_int_equal(tu_sh("qemu-img create -q -f qcow2 '%s' 1M", a), 0);
    assert_int_equal(tu_sh("qemu-img rebase -u -f qcow2 -b self.qcow2 -F qcow2 '%s'", a), 0);
    expect_open_fails(a, NULL, "loops");
}

static void t_backing_protocol(void **s)
{
    const char *a = tu_path("proto.qcow2");
    assert_int_equal(tu_sh("qemu-img create -q -f qcow2 '%s' 1M", a), 0);
    assert_int_equal(
        tu_sh("qemu-img rebase -u -f qcow2 -b 'json:{\"file.filename\":\"/etc/passwd\"}' "
              "-F raw '%s' 2>/dev/null",
              a),
        0);
    expect_open_fails(a, NULL, "protocol");
}

static void t_backing_device(void **s)
{
    const char *a = tu_path("dev.qcow2");
    assert_int_equal(tu_sh("qemu-img create -q -f qcow2 '%s' 1M", a), 0);
    assert_int_equal(tu_sh("qemu-img rebase -u -f qcow2 -b /dev/zero -F raw '%s'", a), 0);
    expect_open_fails(a, NULL, "not a regular file");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_truncated),
        cmocka_unit_test(t_wrong_magic),
        cmocka_unit_test(t_version),
        cmocka_unit_test(t_cluster_bits_small),
        cmocka_unit_test(t_cluster_bits_large),
        cmocka_unit_test(t_cluster_bits_huge),
        cmocka_unit_test(t_l1_size_huge),
        cmocka_unit_test(t_l1_size_too_small),
        cmocka_unit_test(t_l1_offset_unaligned),
        cmocka_unit_test(t_l1_offset_past_eof),
        cmocka_unit_test(t_reftable_clusters_huge),
        cmocka_unit_test(t_reftable_offset_unaligned),
        cmocka_unit_test(t_reftable_offset_past_eof),
        cmocka_unit_test(t_refcount_order),
        cmocka_unit_test(t_header_length_huge),
        cmocka_unit_test(t_header_length_small),
        cmocka_unit_test(t_backing_name_long),
        cmocka_unit_test(t_backing_name_outside_cluster0),
        cmocka_unit_test(t_header_extension_overflow),
        cmocka_unit_test(t_nb_snapshots_huge),
        cmocka_unit_test(t_snapshot_table_unaligned),
        cmocka_unit_test(t_unknown_incompatible_bit),
        cmocka_unit_test(t_l2_offset_past_eof),
        cmocka_unit_test(t_l2_offset_unaligned),
        cmocka_unit_test(t_data_offset_past_eof),
        cmocka_unit_test(t_compressed_past_eof),
        cmocka_unit_test(t_backing_cycle),
        cmocka_unit_test(t_backing_self),
        cmocka_unit_test(t_backing_protocol),
        cmocka_unit_test(t_backing_device),
    };
    return cmocka_run_group_tests(tests, tu_group_cap_1g, tu_teardown);
}

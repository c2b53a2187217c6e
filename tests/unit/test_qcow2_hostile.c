/* SPDX-License-Identifier: GPL-2.0-or-later */
/* test_qcow2_hostile.c: one test per qcow2 header/metadata check. Each test makes a valid
 * image with qemu-img, pushes one field out of range, and expects img_open (or the read that
 * reaches the bad entry) to fail with one message naming that field: never a crash, a hang or
 * an allocation the file cannot justify (the address space is capped at 1 GiB when not under
 * a sanitizer). */
#include "test_qcow2_common.h"

#include "core/base/bytes.h"
#include "core/block/driver.h"

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
        tu_sh("qemu-io -c 'write -P 0x5a 0 64k' -c 'write -P 0xa5 15M 64k' '%s' >/dev/null", p), 0);
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

/* ---- host offsets at or beyond 2^56: one test per place an offset is read ---- */

#define HIGH56 (1ull << 56)

/* Block status over the first cluster must fail naming want too (it reads the same entry). */
static void expect_bs_fails(const char *path, const char *want)
{
    struct img_err err = {0};
    struct img *img = img_open(path, "qcow2", 0, &err);
    assert_non_null(img);
    struct img_bs bs;
    memset(&bs, 0, sizeof bs);
    if (img_block_status(img, 0, img->size, &bs) >= 0)
        fail_msg("block status of %s succeeded although it should fail on %s", path, want);
    if (!strstr(img_errmsg(img), want))
        fail_msg("block status failed with '%s', which does not mention '%s'", img_errmsg(img),
                 want);
    img_close(img);
}

/* A guest write at off through a read-write handle must fail naming want. */
static void expect_write_fails(const char *path, uint64_t off, const char *want)
{
    struct img_err err = {0};
    struct img *img = img_open(path, "qcow2", IMG_OPEN_RW, &err);
    if (!img)
        fail_msg("open %s read-write: %s", path, err.msg);
    uint8_t b[512];
    memset(b, 0x77, sizeof b);
    if (img_write(img, off, b, sizeof b) >= 0)
        fail_msg("writing %s succeeded although it should fail on %s", path, want);
    if (!strstr(img_errmsg(img), want))
        fail_msg("write failed with '%s', which does not mention '%s'", img_errmsg(img), want);
    img_close(img);
}

/* The first cluster of the guest must read as 0x5a (the entry just inside the limit works). */
static void expect_first_cluster_reads(const char *path)
{
    struct img_err err = {0};
    struct img *img = img_open(path, "qcow2", 0, &err);
    assert_non_null(img);
    uint8_t b[4096];
    assert_int_equal(img_read(img, 0, b, sizeof b), 0);
    for (size_t i = 0; i < sizeof b; i++)
        assert_int_equal(b[i], 0x5a);
    img_close(img);
}

/* An L1 entry whose offset has bit 56 set: the offset mask would silently drop the bit and
 * read the L2 table at the low bits; it must be an error instead, for reads, block status and
 * writes. Bit 55 (the highest one an offset may use) is a plain past-the-end offset. */
static void t_l1_entry_offset_2p56(void **s)
{
    const char *p = fresh("l1hi.qcow2", "compat=1.1");
    uint64_t l1 = peek64(p, 40), e = peek64(p, l1);
    expect_first_cluster_reads(p);
    poke64(p, l1, e | (1ull << 55));
    expect_read_fails(p, "L2 table offset");
    poke64(p, l1, e | HIGH56);
    expect_read_fails(p, "L1 entry 0: L2 table offset");
    expect_bs_fails(p, "L1 entry 0: L2 table offset");
    expect_write_fails(p, 4096, "L1 entry 0: L2 table offset");
}

/* The same for a standard L2 entry (data cluster) with bit 56 set. */
static void t_l2_entry_offset_2p56(void **s)
{
    const char *p = fresh("l2hi.qcow2", "compat=1.1");
    uint64_t l1 = peek64(p, 40);
    uint64_t l2 = peek64(p, l1) & 0x00fffffffffffe00ull, e = peek64(p, l2);
    poke64(p, l2, e | HIGH56);
    expect_read_fails(p, "data cluster offset in L2 entry");
    expect_bs_fails(p, "data cluster offset in L2 entry");
    expect_write_fails(p, 4096, "data cluster offset in L2 entry");
}

/* A refcount table entry at 2^56 is not read: the first allocation fails naming it, and check
 * reports it. */
static void t_refcount_entry_offset_2p56(void **s)
{
    const char *p = fresh("rthi.qcow2", "compat=1.1");
    uint64_t rt = peek64(p, 48), e = peek64(p, rt);
    poke64(p, rt, e | HIGH56);
    expect_write_fails(p, 8 << 20, "refcount block offset");
    struct img_err err = {0};
    struct img *img = img_open(p, "qcow2", 0, &err);
    assert_non_null(img);
    struct img_check chk;
    memset(&chk, 0, sizeof chk);
    (void)img_check(img, &chk, 0);
    assert_true(chk.corruptions + chk.check_errors > 0);
    img_close(img);
}

static void t_snapshot_table_offset_2p56(void **s)
{
    const char *p = fresh("snaphi.qcow2", "compat=1.1");
    poke32(p, 60, 1);
    poke64(p, 64, HIGH56);
    expect_open_fails(p, "qcow2", "snapshot table offset");
}

/* A snapshot's own L1 table at 2^56: listing still works, loading it fails naming it. */
static void t_snapshot_l1_offset_2p56(void **s)
{
    const char *p = fresh("snapl1hi.qcow2", "compat=1.1");
    assert_int_equal(tu_sh("qemu-img snapshot -c one '%s'", p), 0);
    uint64_t st = peek64(p, 64);
    poke64(p, st, HIGH56);
    struct img_err err = {0};
    struct img *img = img_open(p, "qcow2", 0, &err);
    if (!img)
        fail_msg("open: %s", err.msg);
    struct img_snap *snaps = NULL;
    size_t n = 0;
    assert_int_equal(img_snap_list(img, &snaps, &n), 0);
    assert_int_equal(n, 1);
    assert_true(img_snap_load(img, snaps[0].id) < 0);
    if (!strstr(img_errmsg(img), "snapshot 'one': L1 table at 0x100000000000000"))
        fail_msg("snapshot load failed with '%s'", img_errmsg(img));
    free(snaps);
    img_close(img);
}

static void t_backing_name_offset_2p56(void **s)
{
    const char *p = fresh("bnhi.qcow2", "compat=1.1");
    poke64(p, 8, HIGH56);
    poke32(p, 16, 4);
    expect_open_fails(p, "qcow2", "backing file name at 0x100000000000000");
}

static int test_pw(void *ctx, const char *path, uint8_t *buf, size_t cap, size_t *len,
                   struct img_err *err)
{
    (void)ctx, (void)path, (void)cap, (void)err;
    memcpy(buf, "pw", 2);
    *len = 2;
    return 0;
}

/* A fresh image with one persistent bitmap (qemu-img bitmap). */
static const char *with_bitmap(const char *name)
{
    const char *q = fresh(name, "compat=1.1");
    assert_int_equal(tu_sh("qemu-img bitmap --add '%s' b0", q), 0);
    return q;
}

/* The file offset of the header extension of this type in a v3 image. */
static uint64_t find_ext(const char *path, uint32_t type)
{
    uint8_t c0[4096];
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(pread(fd, c0, sizeof c0, 0), (ssize_t)sizeof c0);
    close(fd);
    uint64_t off = be32_load(c0 + 100), ext = 0;
    while (off + 8 <= sizeof c0 && be32_load(c0 + off)) {
        if (be32_load(c0 + off) == type)
            ext = off;
        off += 8 + ((be32_load(c0 + off + 4) + 7) & ~7u);
    }
    assert_true(ext != 0);
    return ext;
}

/* QEMU's bitmap limits (65535 bitmaps, a 64 MiB directory) refused at open, naming the field;
 * the image as qemu-img made it opens. */
static void t_bitmaps_limits(void **s)
{
    const char *q = with_bitmap("bmlim.qcow2");
    uint64_t ext = find_ext(q, 0x23852875u);
    struct img_err err = {0};
    struct img *img = img_open(q, "qcow2", 0, &err);
    if (!img)
        fail_msg("open: %s", err.msg);
    img_close(img);
    poke32(q, ext + 8, 65536);
    expect_open_fails(q, "qcow2", "bitmaps: nb_bitmaps 65536 exceeds 65535");
    poke32(q, ext + 8, 1);
    poke64(q, ext + 8 + 8, (64ull << 20) + 1);
    expect_open_fails(q, "qcow2", "bitmaps: directory size 67108865 exceeds 64 MiB");
}

/* The snapshot count limit at its edge (65537; 0x7fffffff is t_nb_snapshots_huge), and a
 * snapshot's L1 table over 32 MiB (4 Mi + 1 entries). */
static void t_snapshot_count_and_l1_size(void **s)
{
    const char *p = fresh("nbs1.qcow2", "compat=1.1");
    poke32(p, 60, 65537);
    poke64(p, 64, 0x10000);
    expect_open_fails(p, "qcow2", "nb_snapshots 65537 exceeds 65536");
    p = fresh("snapl1big.qcow2", "compat=1.1");
    assert_int_equal(tu_sh("qemu-img snapshot -c one '%s'", p), 0);
    poke32(p, peek64(p, 64) + 8, 0x400001);
    expect_open_fails(p, "qcow2", "snapshot table entry 0: l1_size 4194305 exceeds the limit");
}

/* Header extensions holding offsets: the LUKS header (FDE) at 2^56 is refused at open; a
 * bitmap directory at 2^56 (past the file) is reported by check, never read. */
static void t_header_extension_offsets_2p56(void **s)
{
    const char *p = tu_path("fdehi.qcow2");
    /* dimg makes it: qemu-img's PBKDF2 timing fails on a loaded machine. */
    img_set_secret_provider(test_pw, NULL);
    tu_create("qcow2", p, "encrypt.format=luks,encrypt.iter-time=1", 1 << 20, NULL, NULL);
    img_set_secret_provider(NULL, NULL);
    poke64(p, find_ext(p, 0x0537BE77u) + 8, HIGH56);
    expect_open_fails(p, "qcow2", "encryption header area at 0x100000000000000");

    const char *q = with_bitmap("bmhi.qcow2");
    poke64(q, find_ext(q, 0x23852875u) + 8 + 16, HIGH56);
    struct img_err err = {0};
    struct img *img = img_open(q, "qcow2", 0, &err);
    if (!img)
        fail_msg("open: %s", err.msg);
    struct img_check chk;
    memset(&chk, 0, sizeof chk);
    (void)img_check(img, &chk, 0);
    assert_true(chk.corruptions > 0);
    img_close(img);
}

/* With an external data file, an L2 entry at 2^56 is an error too (the data file's end is
 * not a bound, so only the 2^56 check stops it). */
static void t_data_file_offset_2p56(void **s)
{
    const char *p = tu_path("dfhi.qcow2");
    assert_int_equal(tu_sh("cd '%s' && qemu-img create -q -f qcow2 -o data_file=dfhi.raw "
                           "dfhi.qcow2 1M && qemu-io -c 'write -P 0x5a 0 64k' dfhi.qcow2 "
                           ">/dev/null",
                           tu_dir()),
                     0);
    expect_first_cluster_reads(p);
    uint64_t l1 = peek64(p, 40);
    uint64_t l2 = peek64(p, l1) & 0x00fffffffffffe00ull, e = peek64(p, l2);
    poke64(p, l2, e | HIGH56);
    expect_read_fails(p, "data cluster offset in L2 entry");
}

/* The snapshot table's 64 MiB limit, apart from the count limit: entries of 40 + 2 * 65535
 * bytes (131112 with padding) in a sparse file: 511 of them (66998232 bytes) open, 512
 * (67129344 bytes, still far below 65536 entries) are refused. */
static void t_snapshot_table_bytes(void **s)
{
    const char *p = fresh("snapbig.qcow2", "compat=1.1");
    const uint64_t st = 64ull << 20, ent = 131112;
    assert_int_equal(truncate(p, (off_t)(st + 513 * ent)), 0);
    for (uint64_t i = 0; i < 512; i++) {
        uint8_t e[16] = {0};
        be16_store(e + 12, 0xffff);
        be16_store(e + 14, 0xffff);
        poke(p, st + i * ent, e, sizeof e);
    }
    poke64(p, 64, st);
    poke32(p, 60, 511);
    struct img_err err = {0};
    struct img *img = img_open(p, "qcow2", 0, &err);
    if (!img)
        fail_msg("511 snapshots in 66998232 bytes refused: %s", err.msg);
    img_close(img);
    poke32(p, 60, 512);
    expect_open_fails(p, "qcow2", "snapshot table is truncated or exceeds 64 MiB");
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
        cmocka_unit_test(t_l1_entry_offset_2p56),
        cmocka_unit_test(t_l2_entry_offset_2p56),
        cmocka_unit_test(t_refcount_entry_offset_2p56),
        cmocka_unit_test(t_snapshot_table_offset_2p56),
        cmocka_unit_test(t_snapshot_l1_offset_2p56),
        cmocka_unit_test(t_backing_name_offset_2p56),
        cmocka_unit_test(t_header_extension_offsets_2p56),
        cmocka_unit_test(t_data_file_offset_2p56),
        cmocka_unit_test(t_snapshot_table_bytes),
        cmocka_unit_test(t_bitmaps_limits),
        cmocka_unit_test(t_snapshot_count_and_l1_size),
    };
    return cmocka_run_group_tests(tests, tu_group_cap_1g, tu_teardown);
}

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* test_fs_ntfs.c: unit tests for core/fs/ntfs.c against volumes made by mkntfs and filled by
 * ntfs-3g (through FUSE as root; ntfscp into the root otherwise): the tree read through the
 * driver lists exactly the source directory's names, types and sizes, every file reads back
 * byte for byte (at odd offsets too), symlinks (ntfs-3g's Interix ones and a Windows reparse
 * point set with libntfs-3g) give their targets, the root's metadata files are hidden, the
 * label, serial (blkid), free space (ntfsinfo) and a file's extents agree with the tools.
 * Hostile volumes: boot sector fields out of range, the MFT pointing elsewhere, MFT records
 * with bad fixups: one error line, never a crash. */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <ntfs-3g/types.h>
#include <ntfs-3g/volume.h>

#include <ntfs-3g/dir.h>
#include <ntfs-3g/inode.h>
#include <ntfs-3g/reparse.h>
#include <ntfs-3g/unistr.h>

#include "fs_test_tree.h"

extern const struct fs_driver fs_driver_ntfs;

static bool have_fuse;

/* A 24 MiB NTFS volume holding a copy of src (made here); fills have_fuse. */
static void make_src(void)
{
    const char *d = tu_dir();
    assert_int_equal(
        tu_sh("set -e; cd '%s'; rm -rf src; mkdir -p src/sub/deeper src/many src/empty-dir;"
              "echo hello >src/a.txt; : >src/empty; head -c 300001 /dev/urandom >src/sub/big.bin;"
              "echo x >src/sub/deeper/y; printf 'utf' >'src/\xc3\xbc"
              "n\xc3\xaf"
              "code \xe2\x82\xac.txt';"
              "i=0; while [ $i -lt 150 ]; do echo $i >src/many/file-$i; i=$((i+1)); done;"
              "touch -d '2021-03-04 05:06:07 UTC' src/a.txt",
              d),
        0);
}

static void make_ntfs(const char *img)
{
    const char *d = tu_dir();
    assert_int_equal(tu_sh("rm -f '%s' && truncate -s 24M '%s' && mkntfs -F -Q -q -L dimglabel "
                           "'%s' >/dev/null 2>&1",
                           img, img, img),
                     0);
    have_fuse = geteuid() == 0 &&
                tu_sh("set -e; cd '%s'; mkdir -p mnt; timeout 30 ntfs-3g '%s' mnt 2>/dev/null;"
                      "cp -r --preserve=timestamps src/. mnt/ && ln -s sub/big.bin mnt/link;"
                      "r=$?; umount mnt; exit $r",
                      d, img) == 0;
    if (!have_fuse) /* ntfscp writes into existing directories: the root's files only */
        assert_int_equal(tu_sh("cd '%s' && for f in a.txt empty; do ntfscp -f '%s' src/$f $f "
                               ">/dev/null 2>&1 || exit 1; done",
                               d, img),
                         0);
}

/* A Windows symlink (reparse point, relative target sub\big.bin) set with libntfs-3g. */
static void add_reparse_link(const char *img)
{
    ntfs_volume *vol = ntfs_mount(img, 0);
    assert_non_null(vol);
    ntfs_inode *root = ntfs_inode_open(vol, FILE_root);
    ntfschar *uname = NULL;
    int ulen = ntfs_mbstoucs("wlink", &uname);
    ntfs_inode *ni = ntfs_create(root, 0, uname, (u8)ulen, S_IFREG);
    assert_non_null(ni);
    static const char target[] = "sub\\big.bin";
    uint8_t rp[256] = {0};
    size_t tl = 2 * (sizeof target - 1);
    le32_store(rp, 0xa000000c); /* IO_REPARSE_TAG_SYMLINK */
    le16_store(rp + 4, (uint16_t)(12 + 2 * tl));
    le16_store(rp + 8, 0);             /* substitute name offset */
    le16_store(rp + 10, (uint16_t)tl); /* and length */
    le16_store(rp + 12, (uint16_t)tl); /* print name offset */
    le16_store(rp + 14, (uint16_t)tl); /* and length */
    le32_store(rp + 16, 1);            /* relative */
    for (size_t k = 0; k < 2; k++)
        for (size_t i = 0; i < sizeof target - 1; i++)
            le16_store(rp + 20 + k * tl + 2 * i, (uint8_t)target[i]);
    assert_int_equal(ntfs_set_ntfs_reparse_data(ni, (const char *)rp, 8 + 12 + 2 * tl, 0), 0);
    assert_int_equal(ntfs_inode_close_in_dir(ni, root), 0);
    assert_int_equal(ntfs_inode_close(root), 0);
    free(uname);
    assert_int_equal(ntfs_umount(vol, FALSE), 0);
}

static void test_tree(void **state)
{
    (void)state;
    make_src();
    const char *img = tu_path("n.raw");
    make_ntfs(img);
    if (!have_fuse) /* only the root's files: list what is there */
        assert_int_equal(tu_sh("cd '%s' && rm -rf src/sub src/many src/empty-dir src/*.txt "
                               "&& echo hello >src/a.txt",
                               tu_dir()),
                         0);
    else
        add_reparse_link(img);
    struct tfs t;
    assert_int_equal(tfs_open(img, &fs_driver_ntfs, &t), 0);
    assert_string_equal(t.fs.fs_name, "ntfs");
    assert_same_tree(&t, have_fuse ? "link l 0\nwlink l 0\n" : "");
    if (have_fuse) {
        char buf[64];
        uint64_t ino = lookup(&t, "link");
        assert_int_equal(t.fs.drv->readlink(&t.fs, ino, buf, sizeof buf), 0);
        assert_string_equal(buf, "sub/big.bin");
        struct fs_stat st;
        assert_int_equal(t.fs.drv->stat(&t.fs, ino, &st), 0);
        assert_int_equal(st.type, FS_T_LNK);
        assert_int_equal(st.size, strlen("sub/big.bin"));
        ino = lookup(&t, "wlink");
        assert_int_equal(t.fs.drv->readlink(&t.fs, ino, buf, sizeof buf), 0);
        assert_string_equal(buf, "sub/big.bin");
        assert_int_equal(t.fs.drv->readlink(&t.fs, ino, buf, 5), -ENAMETOOLONG);
        /* mtime kept by cp --preserve */
        assert_int_equal(t.fs.drv->stat(&t.fs, lookup(&t, "a.txt"), &st), 0);
        assert_int_equal(st.mtime, 1614834367);
        assert_int_equal(st.type, FS_T_REG);
        assert_int_equal(t.fs.drv->read(&t.fs, lookup(&t, "sub"), 0, buf, 1), -EISDIR);
    }
    tfs_close(&t);
}

/* ---- label, serial, free space, extents ---- */

static int sum_free(void *ctx, uint64_t off, uint64_t len)
{
    uint64_t *s = ctx;
    assert_true(len > 0);
    s[0] += len;
    s[1]++;
    return 0;
}

struct ext {
    int fd;
    uint8_t *data;
    uint64_t next;
};

/* Each extent's bytes in the image equal the file's at its offset. */
static int ext_cb(void *ctx, uint64_t file_off, uint64_t vol_off, uint64_t len)
{
    struct ext *e = ctx;
    assert_int_equal(file_off, e->next);
    uint8_t *b = malloc(len);
    assert_int_equal(pread(e->fd, b, len, (off_t)vol_off), (ssize_t)len);
    assert_memory_equal(b, e->data + file_off, len);
    free(b);
    e->next = file_off + len;
    return 0;
}

static void test_info(void **state)
{
    (void)state;
    make_src();
    const char *img = tu_path("i.raw");
    make_ntfs(img);
    struct tfs t;
    assert_int_equal(tfs_open(img, &fs_driver_ntfs, &t), 0);
    struct fs_vol_info vi;
    memset(&vi, 0, sizeof vi);
    t.fs.drv->info(&t.fs, &vi);
    assert_string_equal(vi.label, "dimglabel");
    char *uuid = tu_sh_out("blkid -p -o value -s UUID '%s'", img);
    assert_non_null(uuid);
    uuid[strcspn(uuid, "\n")] = 0;
    assert_string_equal(vi.uuid, uuid);
    free(uuid);
    char *fc = tu_sh_out("ntfsinfo -m -f '%s' 2>/dev/null | sed -n 's/^.*Free Clusters:[ \\t]*"
                         "\\([0-9]*\\).*/\\1/p' | head -1",
                         img);
    char *cs = tu_sh_out("ntfsinfo -m -f '%s' 2>/dev/null | sed -n 's/^.*Cluster Size:[ \\t]*"
                         "\\([0-9]*\\).*/\\1/p' | head -1",
                         img);
    char *nc = tu_sh_out("ntfsinfo -m -f '%s' 2>/dev/null | sed -n 's/^.*Volume Size in "
                         "Clusters:[ \\t]*\\([0-9]*\\).*/\\1/p' | head -1",
                         img);
    uint64_t s[2] = {0, 0}, csz = strtoull(cs, NULL, 10);
    assert_int_equal(t.fs.drv->free_ranges(&t.fs, sum_free, s), 0);
    assert_true(s[1] > 0);
    assert_int_equal(s[0], strtoull(fc, NULL, 10) * csz);
    assert_true(vi.used_known);
    assert_int_equal(vi.used + s[0], strtoull(nc, NULL, 10) * csz);
    free(nc);
    free(fc);
    free(cs);
    if (have_fuse) {
        struct ext e = {.fd = open(img, O_RDONLY)};
        size_t len;
        char src[FS_PATH_MAX];
        snprintf(src, sizeof src, "%s/src/sub/big.bin", tu_dir());
        e.data = tu_read_file(src, &len);
        assert_int_equal(t.fs.drv->extents(&t.fs, lookup(&t, "sub/big.bin"), ext_cb, &e), 0);
        assert_int_equal(e.next, len);
        free(e.data);
        close(e.fd);
    }
    tfs_close(&t);
}

/* ---- hostile volumes ---- */

/* The volume at img with n bytes at off replaced: open fails with one line containing msg (or
 * any line when msg is NULL), or opens and walks without crashing when may_open. */
static void expect_refused(const char *img, uint64_t off, const void *bytes, size_t n,
                           const char *msg)
{
    char bad[1024]; /* not tu_path: its buffers rotate under the caller's img */
    snprintf(bad, sizeof bad, "%s/bad.raw", tu_dir());
    assert_int_equal(tu_sh("cp '%s' '%s'", img, bad), 0);
    tu_poke(bad, off, bytes, n);
    struct tfs t;
    int r = tfs_open(bad, &fs_driver_ntfs, &t);
    if (r == -ENOTSUP)
        return; /* no longer probed as NTFS */
    if (!r)
        fail_msg("a volume with %zu bytes at %llu changed was opened", n, (unsigned long long)off);
    assert_true(r < 0);
    assert_true(t.fs.err.msg[0]);
    assert_null(strchr(t.fs.err.msg, '\n'));
    if (msg && !strstr(t.fs.err.msg, msg))
        fail_msg("error \"%s\", expected \"%s\"", t.fs.err.msg, msg);
}

static void test_hostile_boot(void **state)
{
    (void)state;
    const char *img = tu_path("h.raw");
    assert_int_equal(tu_sh("rm -f '%s' && truncate -s 8M '%s' && mkntfs -F -Q -q '%s' "
                           ">/dev/null 2>&1",
                           img, img, img),
                     0);
    struct tfs t;
    assert_int_equal(tfs_open(img, &fs_driver_ntfs, &t), 0);
    tfs_close(&t);
    uint8_t z[8] = {0}, ff[8];
    memset(ff, 0xff, sizeof ff);
    uint8_t bps3000[2] = {0xb8, 0x0b}, spc[1] = {0x90}, big[8] = {0, 0, 0, 0, 0, 0, 0, 1};
    uint8_t one[8] = {1, 0, 0, 0, 0, 0, 0, 0}, rec0[1] = {0}, rec7f[1] = {0x7f};
    uint8_t recm31[1] = {0xe1}, recm9[1] = {0xf7};
    expect_refused(img, 0x0b, z, 2, "bytes per sector");
    expect_refused(img, 0x0b, bps3000, 2, "bytes per sector");
    expect_refused(img, 0x0d, spc, 1, "sectors per cluster");
    expect_refused(img, 0x0d, z, 1, "cluster size");
    expect_refused(img, 0x28, ff, 8, "sectors");
    expect_refused(img, 0x28, big, 8, "sectors");
    expect_refused(img, 0x30, big, 8, "outside the volume");
    expect_refused(img, 0x30, z, 8, "outside the volume");
    expect_refused(img, 0x38, ff, 8, "outside the volume");
    expect_refused(img, 0x40, rec0, 1, "MFT record size");
    expect_refused(img, 0x40, rec7f, 1, "MFT record size");
    expect_refused(img, 0x40, recm31, 1, "MFT record size");
    expect_refused(img, 0x40, recm9, 1, "MFT record size"); /* 512: below the sector's */
    expect_refused(img, 0x44, rec0, 1, "index record size");
    /* Within range but wrong: the MFT at cluster 1 (the library must refuse it). */
    expect_refused(img, 0x30, one, 8, NULL);
}

/* The byte offset of MFT record k (from the boot sector). */
static uint64_t mft_record(const char *img, unsigned k)
{
    size_t len;
    uint8_t *b = tu_read_file(img, &len);
    uint64_t cs = (uint64_t)le16_load(b + 0x0b) * b[0x0d];
    uint64_t off = le64_load(b + 0x30) * cs + (uint64_t)k * 1024;
    free(b);
    return off;
}

static void test_hostile_mft(void **state)
{
    (void)state;
    make_src();
    const char *img = tu_path("m.raw");
    make_ntfs(img);
    /* Bad fixups in $MFT's own record, in both copies (the mirror would stand in). */
    uint8_t bad[2] = {0x12, 0x34};
    const char *both = tu_path("both.raw");
    assert_int_equal(tu_sh("cp '%s' '%s'", img, both), 0);
    size_t len;
    uint8_t *b = tu_read_file(img, &len);
    uint64_t cs = (uint64_t)le16_load(b + 0x0b) * b[0x0d];
    uint64_t mirr = le64_load(b + 0x38) * cs;
    free(b);
    tu_poke(both, mirr + 510, bad, 2);
    expect_refused(both, mft_record(img, 0) + 510, bad, 2, NULL);
    expect_refused(img, mft_record(img, 0) + 1022, bad, 2, NULL);
    /* A bad record of a user file: the volume opens; that file fails with one line. */
    const char *f = tu_path("user.raw");
    assert_int_equal(tu_sh("cp '%s' '%s'", img, f), 0);
    struct tfs t;
    assert_int_equal(tfs_open(f, &fs_driver_ntfs, &t), 0);
    uint64_t ino = lookup(&t, "a.txt");
    tfs_close(&t);
    tu_poke(f, mft_record(img, (unsigned)(ino & 0xffffffffffffULL)) + 510, bad, 2);
    assert_int_equal(tfs_open(f, &fs_driver_ntfs, &t), 0);
    struct fs_stat st;
    int r = t.fs.drv->stat(&t.fs, ino, &st);
    assert_true(r < 0);
    assert_null(strchr(t.fs.err.msg, '\n'));
    char buf[16];
    assert_true(t.fs.drv->read(&t.fs, ino, 0, buf, sizeof buf) < 0);
    tfs_close(&t);
}

int main(void)
{
    /* Every test needs a volume made by the tools: without them, skipped, not passed. */
    if (tu_sh("{ command -v mkntfs && command -v ntfscp && command -v ntfsinfo && "
              "command -v blkid; } >/dev/null") != 0) {
        fputs("SKIP: mkntfs, ntfscp, ntfsinfo or blkid missing\n", stderr);
        return 77;
    }
#define HOSTILE(t) cmocka_unit_test_setup_teardown(t, tu_group_cap_1g, tu_group_uncap)
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tree),
        cmocka_unit_test(test_info),
        HOSTILE(test_hostile_boot),
        HOSTILE(test_hostile_mft),
    };
    return cmocka_run_group_tests(tests, NULL, tu_teardown);
}

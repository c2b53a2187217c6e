/* SPDX-License-Identifier: GPL-2.0-or-later */
/* test_fs_owner.c: which guest file owns a byte (core/fs/owner.c), with debugfs as the oracle.
 * An MBR disk (sfdisk) with an ext4 partition (mkfs.ext4 -d) in a qcow2 (qemu-img): at each
 * file's first block as debugfs reports it, plus the partition's start, the index names that
 * file; a deleted file's blocks read "free in the guest filesystem"; the superblock, the first
 * inode table (dumpe2fs) and the journal are named as the filesystem's structures.
 * A FAT16 volume: its boot sector, FATs, root directory and a file by name; an NTFS volume: its
 * boot sectors, MFT and MFT mirror where the boot sector says they are.
 * Skipped (77) without the tools.
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/block/img.h"
#include "core/fs/fs.h"

#define PART_START (2048ull * 512)

static bool have_tools(void)
{
    return tu_sh("command -v mkfs.ext4 && command -v debugfs && command -v dumpe2fs && command -v "
                 "sfdisk && "
                 "command -v qemu-img") == 0;
}

/* The first physical block of path inside the filesystem image fs (debugfs blocks). */
static uint64_t first_block(const char *fs, const char *path)
{
    char *out = tu_sh_out("debugfs -R 'blocks %s' %s 2>/dev/null", path, fs);
    assert_non_null(out);
    uint64_t b = strtoull(out, NULL, 10);
    free(out);
    assert_true(b > 0);
    return b;
}

static void test_owner(void **state)
{
    (void)state;
    const char *d = tu_dir();
    assert_int_equal(
        tu_sh("cd %s && mkdir -p src/etc src/big && echo guest >src/etc/hostname && "
              "seq 1 30000 >src/big/numbers.txt && head -c 500000 /dev/urandom "
              ">src/gone.bin && truncate -s 24M p1.img && mkfs.ext4 -q -b 1024 -d src "
              "p1.img && debugfs -R 'blocks /gone.bin' p1.img >gone.txt 2>/dev/null && "
              "debugfs -w -R 'rm gone.bin' p1.img >/dev/null 2>&1",
              d),
        0);
    uint64_t gone = 0;
    char *g = tu_sh_out("head -c 40 %s/gone.txt", d);
    gone = strtoull(g, NULL, 10);
    free(g);
    assert_true(gone > 0);
    uint64_t host = first_block(tu_path("p1.img"), "/etc/hostname");
    uint64_t journal = first_block(tu_path("p1.img"), "<8>"); /* the journal inode */
    char *st = tu_sh_out("dumpe2fs %s 2>/dev/null | sed -n 's/.*Inode table at "
                         "\\([0-9]*\\)-.*/\\1/p' | head -1",
                         tu_path("p1.img"));
    assert_non_null(st);
    uint64_t itable = strtoull(st, NULL, 10);
    free(st);
    assert_true(itable > 0);
    uint64_t nums = first_block(tu_path("p1.img"), "/big/numbers.txt");
    assert_int_equal(tu_sh("cd %s && truncate -s 32M disk.raw && printf 'start=2048, type=83\\n' | "
                           "sfdisk -q disk.raw && dd if=p1.img of=disk.raw bs=512 seek=2048 "
                           "conv=notrunc status=none && qemu-img convert -O qcow2 disk.raw "
                           "disk.qcow2",
                           d),
                     0);
    struct img_err err = {0};
    struct img *img = img_open(tu_path("disk.qcow2"), NULL, 0, &err);
    assert_non_null(img);
    struct fs_owners o;
    assert_int_equal(fs_owners_build(img, &o, &err), 0);
    assert_false(o.partial);
    char buf[256];
    fs_owners_describe(&o, PART_START + host * 1024, 1024, buf, sizeof buf);
    assert_string_equal(buf, "/etc/hostname");
    fs_owners_describe(&o, PART_START + nums * 1024 + 10, 100, buf, sizeof buf);
    assert_string_equal(buf, "/big/numbers.txt");
    /* A range over both files names both. */
    uint64_t lo = host < nums ? host : nums, hi = host < nums ? nums : host;
    fs_owners_describe(&o, PART_START + lo * 1024, (hi - lo + 1) * 1024, buf, sizeof buf);
    assert_non_null(strstr(buf, "/etc/hostname"));
    assert_non_null(strstr(buf, "/big/numbers.txt"));
    fs_owners_describe(&o, PART_START + gone * 1024, 1024, buf, sizeof buf);
    assert_string_equal(buf, "free in the guest filesystem");
    fs_owners_describe(&o, PART_START + 1024, 1024, buf, sizeof buf); /* the superblock */
    assert_string_equal(buf, "[superblock and descriptors]");
    fs_owners_describe(&o, PART_START + itable * 1024, 1024, buf, sizeof buf);
    assert_string_equal(buf, "[inode table]");
    fs_owners_describe(&o, PART_START + journal * 1024, 1024, buf, sizeof buf);
    assert_string_equal(buf, "[journal]");
    fs_owners_free(&o);
    img_close(img);
}

/* FAT16 made by mkfs.vfat: the boot sector, the FATs and the root directory named from the
 * BPB's fields; the only file's cluster (found by its bytes) named by its path. */
static void test_owner_fat(void **state)
{
    (void)state;
    if (tu_sh("command -v mkfs.vfat && command -v mcopy") != 0)
        skip();
    const char *d = tu_dir();
    assert_int_equal(
        tu_sh("cd %s && rm -f fat.img && truncate -s 8M fat.img && mkfs.vfat -F 16 -s 1 "
              "-R 4 -f 2 fat.img >/dev/null && printf 'MARKER-fat-owner' >m.txt && "
              "mcopy -i fat.img m.txt ::/m.txt",
              d),
        0);
    /* The BPB: reserved sectors, FAT size, root entries (little-endian fields). */
    size_t n = 0;
    uint8_t *img_bytes = tu_read_file(tu_path("fat.img"), &n);
    assert_non_null(img_bytes);
    uint64_t rsvd = img_bytes[14] | img_bytes[15] << 8, fatsz = img_bytes[22] | img_bytes[23] << 8;
    uint64_t rootent = img_bytes[17] | img_bytes[18] << 8;
    uint64_t root = (rsvd + 2 * fatsz) * 512;
    uint64_t file = 0;
    for (uint64_t o = root + rootent * 32; o + 16 <= n && !file; o += 512)
        if (memcmp(img_bytes + o, "MARKER-fat-owner", 16) == 0)
            file = o;
    free(img_bytes);
    assert_true(file > 0);
    struct img_err err = {0};
    struct img *img = img_open(tu_path("fat.img"), "raw", 0, &err);
    assert_non_null(img);
    struct fs_owners o;
    assert_int_equal(fs_owners_build(img, &o, &err), 0);
    char buf[256];
    assert_string_equal(fs_owners_describe(&o, 0, 512, buf, sizeof buf),
                        "[boot sector and reserved]");
    assert_string_equal(fs_owners_describe(&o, rsvd * 512, 512, buf, sizeof buf), "[FAT]");
    assert_string_equal(
        fs_owners_describe(&o, (rsvd + 2 * fatsz) * 512 - 512, 512, buf, sizeof buf), "[FAT]");
    assert_string_equal(fs_owners_describe(&o, root, 512, buf, sizeof buf), "[root directory]");
    assert_string_equal(fs_owners_describe(&o, file, 16, buf, sizeof buf), "/m.txt");
    fs_owners_free(&o);
    img_close(img);
}

/* NTFS made by mkntfs: the first sectors are the boot sectors, the MFT lies where the boot
 * sector's MFT cluster number says, the MFT mirror where its mirror field says. */
static void test_owner_ntfs(void **state)
{
    (void)state;
    if (tu_sh("command -v mkntfs") != 0)
        skip();
    const char *d = tu_dir();
    assert_int_equal(
        tu_sh("cd %s && rm -f n.img && truncate -s 16M n.img && mkntfs -F -Q -q -c 4096 "
              "n.img >/dev/null 2>&1",
              d),
        0);
    size_t n = 0;
    uint8_t *b = tu_read_file(tu_path("n.img"), &n);
    assert_non_null(b);
    uint64_t bps = b[11] | b[12] << 8, cs = bps * b[13], mft = 0, mirr = 0;
    for (int i = 7; i >= 0; i--) {
        mft = mft << 8 | b[0x30 + i];
        mirr = mirr << 8 | b[0x38 + i];
    }
    free(b);
    struct img_err err = {0};
    struct img *img = img_open(tu_path("n.img"), "raw", 0, &err);
    assert_non_null(img);
    struct fs_owners o;
    assert_int_equal(fs_owners_build(img, &o, &err), 0);
    char buf[256];
    assert_string_equal(fs_owners_describe(&o, 0, 512, buf, sizeof buf), "[boot sectors]");
    assert_string_equal(fs_owners_describe(&o, mft * cs, 1024, buf, sizeof buf), "[MFT]");
    assert_string_equal(fs_owners_describe(&o, mirr * cs, 1024, buf, sizeof buf), "[MFT mirror]");
    fs_owners_free(&o);
    img_close(img);
}

int main(void)
{
    if (!have_tools())
        return 77;
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_owner),
                                       cmocka_unit_test(test_owner_fat),
                                       cmocka_unit_test(test_owner_ntfs)};
    return cmocka_run_group_tests(tests, NULL, tu_teardown);
}

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* test_fs_owner.c: which guest file owns a byte (core/fs/owner.c), with debugfs as the oracle.
 * An MBR disk (sfdisk) with an ext4 partition (mkfs.ext4 -d) in a qcow2 (qemu-img): at each
 * file's first block as debugfs reports it, plus the partition's start, the index names that
 * file; a deleted file's blocks read "free in the guest filesystem"; the superblock, the first
 * inode table (dumpe2fs) and the journal are named as the filesystem's structures.
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

int main(void)
{
    if (!have_tools())
        return 77;
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_owner)};
    return cmocka_run_group_tests(tests, NULL, tu_teardown);
}

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* test_fs_iso.c: unit tests for core/fs/iso.c against images made by xorriso (-as mkisofs):
 * with Rock Ridge and Joliet, and with Joliet alone, the tree read through the driver lists
 * exactly the source directory's names, types and sizes (a symlink with its target under Rock
 * Ridge), every file reads back byte for byte, also out of order and at odd offsets (the
 * reader goes back by re-opening); the label and blkid's UUID agree. A UDF-only volume is
 * recognised and refused by name. Hostile images: truncated, a directory whose extent is the
 * root's (a loop), a directory extent past the volume, a file extent past the volume, garbage
 * descriptors: one error line, never a crash or a hang. */
#include "testutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs_test_tree.h"

extern const struct fs_driver fs_driver_iso;

static void make_src(void)
{
    assert_int_equal(
        tu_sh("set -e; cd '%s'; rm -rf src; mkdir -p src/sub/deeper src/many src/empty-dir;"
              "echo hello >src/a.txt; : >src/empty; head -c 300001 /dev/urandom >src/sub/big.bin;"
              "head -c 70000 /dev/urandom >src/sub/mid.bin; echo x >src/sub/deeper/y;"
              "printf 'utf' >'src/\xc3\xbc"
              "n\xc3\xaf"
              "code \xe2\x82\xac.txt';"
              "i=0; while [ $i -lt 150 ]; do echo $i >src/many/file-$i; i=$((i+1)); done",
              tu_dir()),
        0);
}

static void make_iso(const char *iso, const char *opts)
{
    assert_int_equal(tu_sh("cd '%s' && rm -f '%s' && xorriso -as mkisofs %s -V DIMGISO -o '%s' "
                           "src >/dev/null 2>&1",
                           tu_dir(), iso, opts, iso),
                     0);
}

static void test_rock_ridge(void **state)
{
    (void)state;
    make_src();
    assert_int_equal(tu_sh("ln -s sub/big.bin '%s/src/link'", tu_dir()), 0);
    const char *iso = tu_path("rr.iso");
    make_iso(iso, "-R -J");
    struct tfs t;
    assert_int_equal(tfs_open(iso, &fs_driver_iso, &t), 0);
    assert_string_equal(t.fs.fs_name, "iso9660");
    assert_same_tree(&t, "");
    char buf[64];
    uint64_t link = lookup(&t, "link");
    assert_int_equal(t.fs.drv->readlink(&t.fs, link, buf, sizeof buf), 0);
    assert_string_equal(buf, "sub/big.bin");
    /* Backwards and across files: the reader re-opens and skips. */
    size_t len;
    char src[1024];
    snprintf(src, sizeof src, "%s/src/sub/big.bin", tu_dir());
    uint8_t *want = tu_read_file(src, &len);
    uint64_t big = lookup(&t, "sub/big.bin"), a = lookup(&t, "a.txt");
    static const uint64_t offs[] = {250000, 1, 299990, 0, 131072, 131071};
    for (size_t i = 0; i < sizeof offs / sizeof offs[0]; i++) {
        uint8_t got[100];
        size_t n = len - offs[i] < sizeof got ? len - offs[i] : sizeof got;
        assert_int_equal(t.fs.drv->read(&t.fs, big, offs[i], got, sizeof got), (ssize_t)n);
        assert_memory_equal(got, want + offs[i], n);
        assert_int_equal(t.fs.drv->read(&t.fs, a, 0, got, sizeof got), 6);
        assert_memory_equal(got, "hello\n", 6);
    }
    assert_int_equal(t.fs.drv->read(&t.fs, big, len, buf, 1), 0);
    assert_int_equal(t.fs.drv->read(&t.fs, lookup(&t, "sub"), 0, buf, 1), -EISDIR);
    free(want);
    struct fs_vol_info vi;
    memset(&vi, 0, sizeof vi);
    t.fs.drv->info(&t.fs, &vi);
    assert_string_equal(vi.label, "DIMGISO");
    char *uuid = tu_sh_out("blkid -p -o value -s UUID '%s'", iso);
    if (uuid && uuid[0]) {
        uuid[strcspn(uuid, "\n")] = 0;
        assert_string_equal(vi.uuid, uuid);
    }
    free(uuid);
    assert_true(vi.used_known);
    assert_int_equal(vi.used, tu_file_size(iso));
    tfs_close(&t);
}

static void test_joliet(void **state)
{
    (void)state;
    make_src();
    const char *iso = tu_path("j.iso");
    make_iso(iso, "-J");
    struct tfs t;
    assert_int_equal(tfs_open(iso, &fs_driver_iso, &t), 0);
    assert_same_tree(&t, "");
    tfs_close(&t);
}

static void test_udf_only(void **state)
{
    (void)state;
    const char *f = tu_path("udf.img");
    uint8_t *img = calloc(1, 1 << 20);
    static const char *const ids[] = {"BEA01", "NSR02", "TEA01"};
    for (int i = 0; i < 3; i++)
        memcpy(img + 32768 + 2048 * i + 1, ids[i], 5);
    tu_write_file(f, img, 1 << 20);
    free(img);
    struct tfs t;
    int r = tfs_open(f, &fs_driver_iso, &t);
    assert_int_equal(r, -ENOTSUP);
    assert_non_null(strstr(t.fs.err.msg, "udf is recognised"));
}

/* ---- hostile images ---- */

/* Open and walk the whole tree, reading every file: one error line somewhere, or none. */
static int walk_all_cb(void *ctx, const char *name, uint64_t ino)
{
    struct tfs *t = ctx;
    struct fs_stat st;
    if (t->fs.drv->stat(&t->fs, ino, &st))
        return 0;
    if (st.type == FS_T_DIR)
        return t->fs.drv->readdir(&t->fs, ino, walk_all_cb, t) < 0 ? 0 : 0;
    uint8_t buf[65536];
    for (uint64_t off = 0; st.type == FS_T_REG;) {
        ssize_t n = t->fs.drv->read(&t->fs, ino, off, buf, sizeof buf);
        if (n <= 0) {
            if (n < 0)
                assert_null(strchr(t->fs.err.msg, '\n'));
            break;
        }
        off += (uint64_t)n;
    }
    return 0;
}

static void open_and_walk(const char *path)
{
    struct tfs t;
    int r = tfs_open(path, &fs_driver_iso, &t);
    if (r) {
        assert_true(r < 0);
        assert_true(t.fs.err.msg[0]);
        assert_null(strchr(t.fs.err.msg, '\n'));
        return;
    }
    uint64_t root;
    assert_int_equal(t.fs.drv->root(&t.fs, &root), 0);
    (void)t.fs.drv->readdir(&t.fs, root, walk_all_cb, &t);
    tfs_close(&t);
}

/* The directory record named name (ISO 9660 d-characters) in the root directory of f. */
static uint64_t root_record(const uint8_t *b, size_t len, const char *name)
{
    uint64_t root = (uint64_t)le32_load(b + 32768 + 156 + 2) * 2048;
    uint32_t size = le32_load(b + 32768 + 156 + 10);
    for (uint64_t at = root; at < root + size && at < len;) {
        uint8_t rl = b[at];
        if (!rl) { /* records do not cross sectors */
            at = (at / 2048 + 1) * 2048;
            continue;
        }
        if (b[at + 32] >= strlen(name) && !memcmp(b + at + 33, name, strlen(name)))
            return at;
        at += rl;
    }
    fail_msg("no record %s", name);
    return 0;
}

static void poke_both_endian(const char *f, uint64_t off, uint32_t v)
{
    uint8_t le[4], be[4];
    le32_store(le, v);
    be32_store(be, v);
    tu_poke(f, off, le, 4);
    tu_poke(f, off + 4, be, 4);
}

static void test_hostile(void **state)
{
    (void)state;
    make_src();
    char iso[1024], bad[1024];
    snprintf(iso, sizeof iso, "%s", tu_path("h.iso"));
    snprintf(bad, sizeof bad, "%s", tu_path("bad.iso"));
    make_iso(iso, "-R");
    size_t len;
    uint8_t *b = tu_read_file(iso, &len);
    uint64_t sub = root_record(b, len, "SUB"), a = root_record(b, len, "A.TXT");
    uint32_t root_lba = le32_load(b + 32768 + 156 + 2);
    free(b);
    /* Truncated at several places. */
    for (unsigned k = 1; k < 8; k++) {
        assert_int_equal(tu_sh("head -c %zu '%s' >'%s'", len * k / 8, iso, bad), 0);
        open_and_walk(bad);
    }
    /* A directory loop: sub's extent is the root's. sub's extent, then a.txt's, far past the
     * volume; huge sizes; the root directory's extent past the end. */
    static const struct {
        int rec; /* 0 sub, 1 a.txt, 2 the root's record in the descriptor */
        unsigned field;
        uint32_t v;
    } pokes[] = {{0, 2, 0},           {0, 2, 0x7fffffff},  {1, 2, 0x7fffff00},
                 {1, 10, 0xfffffff0}, {0, 10, 0xfffffff0}, {2, 2, 0x7ffffff0}};
    for (size_t i = 0; i < sizeof pokes / sizeof pokes[0]; i++) {
        uint64_t at = pokes[i].rec == 0 ? sub : pokes[i].rec == 1 ? a : 32768 + 156;
        assert_int_equal(tu_sh("cp '%s' '%s'", iso, bad), 0);
        poke_both_endian(bad, at + pokes[i].field, pokes[i].v ? pokes[i].v : root_lba);
        open_and_walk(bad);
    }
    /* Garbage after the descriptor's magic. */
    assert_int_equal(tu_sh("cp '%s' '%s' && head -c 2000 /dev/urandom | dd of='%s' bs=1 "
                           "seek=32774 conv=notrunc status=none",
                           iso, bad, bad),
                     0);
    open_and_walk(bad);
}

int main(void)
{
    /* Three of the four tests need xorriso: without it, skipped, not passed. */
    if (tu_sh("{ command -v xorriso && command -v blkid; } >/dev/null") != 0) {
        fputs("SKIP: xorriso or blkid missing\n", stderr);
        return 77;
    }
#define HOSTILE(t) cmocka_unit_test_setup_teardown(t, tu_group_cap_1g, tu_group_uncap)
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rock_ridge),
        cmocka_unit_test(test_joliet),
        cmocka_unit_test(test_udf_only),
        HOSTILE(test_hostile),
    };
    return cmocka_run_group_tests(tests, NULL, tu_teardown);
}

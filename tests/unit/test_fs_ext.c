/* SPDX-License-Identifier: GPL-2.0-or-later */
/* test_fs_ext.c: the ext reader's slots the command line does not show, against e2fsprogs as
 * the oracle: extents (debugfs's block list of a file), free ranges (dumpe2fs's free block
 * count), info (label, UUID); and reads at odd offsets across blocks and holes compared with
 * the source file. Skips (77) without mkfs.ext4 and debugfs.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fs/fs.h"
#include "testutil.h"

struct fx {
    struct img *img;
    struct fs_seg seg;
    struct fs_vol vol;
    struct fs *fs;
};

static void fx_open(struct fx *x)
{
    struct img_err err = {0};
    x->img = img_open(tu_path("fs.img"), "raw", 0, &err);
    assert_non_null(x->img);
    x->seg = (struct fs_seg){0, 0, img_size(x->img)};
    x->vol = (struct fs_vol){
        .img = x->img, .kind = FS_VOL_DISK, .size = x->seg.len, .nseg = 1, .seg = &x->seg};
    if (fs_open(&x->vol, &x->fs, &err) < 0)
        fail_msg("fs_open: %s", err.msg);
    assert_string_equal(x->fs->fs_name, "ext4");
}

static void fx_close(struct fx *x)
{
    fs_close(x->fs);
    img_close(x->img);
}

struct blocks {
    uint64_t v[4096];
    size_t n;
    unsigned bs;
};

static int collect(void *ctx, uint64_t file_off, uint64_t vol_off, uint64_t len)
{
    struct blocks *b = ctx;
    assert_int_equal(file_off % b->bs, 0);
    assert_int_equal(file_off / b->bs, b->n); /* in file order, no hole in this file */
    for (uint64_t k = 0; k < len / b->bs && b->n < 4096; k++)
        b->v[b->n++] = vol_off / b->bs + k;
    return 0;
}

static void test_extents(void **state)
{
    struct fx x;
    fx_open(&x);
    struct fs_stat st;
    assert_int_equal(fs_lookup(x.fs, "/f", true, &st), 0);
    struct blocks got = {.bs = 1024};
    assert_int_equal(x.fs->drv->extents(x.fs, st.ino, collect, &got), 0);
    char *want = tu_sh_out("debugfs -R 'blocks /f' %s 2>/dev/null", tu_path("fs.img"));
    assert_non_null(want);
    size_t i = 0;
    for (char *p = strtok(want, " \n"); p; p = strtok(NULL, " \n"), i++) {
        assert_true(i < got.n);
        assert_int_equal(got.v[i], strtoull(p, NULL, 10));
    }
    assert_int_equal(i, got.n);
    assert_int_equal(i, (300000 + 1023) / 1024);
    free(want);
    fx_close(&x);
}

static int sum_free(void *ctx, uint64_t off, uint64_t len)
{
    uint64_t *s = ctx;
    assert_true(len > 0);
    *s += len;
    return 0;
}

static void test_free_and_info(void **state)
{
    struct fx x;
    fx_open(&x);
    uint64_t free_bytes = 0;
    assert_int_equal(x.fs->drv->free_ranges(x.fs, sum_free, &free_bytes), 0);
    char *fb =
        tu_sh_out("dumpe2fs -h %s 2>/dev/null | sed -n 's/^Free blocks: *//p'", tu_path("fs.img"));
    assert_non_null(fb);
    assert_int_equal(free_bytes, strtoull(fb, NULL, 10) * 1024);
    free(fb);

    struct fs_vol_info info;
    memset(&info, 0, sizeof info);
    x.fs->drv->info(x.fs, &info);
    assert_string_equal(info.label, "unit-label");
    char *uuid = tu_sh_out("dumpe2fs -h %s 2>/dev/null | sed -n 's/^Filesystem UUID: *//p'",
                           tu_path("fs.img"));
    assert_non_null(uuid);
    uuid[strcspn(uuid, "\n")] = '\0';
    assert_string_equal(info.uuid, uuid);
    free(uuid);
    assert_true(info.used_known);
    assert_int_equal(info.used + free_bytes, x.vol.size);
    fx_close(&x);
}

static void test_reads(void **state)
{
    struct fx x;
    fx_open(&x);
    size_t n;
    uint8_t *want = tu_read_file(tu_path("src/sparse"), &n);
    assert_non_null(want);
    struct fs_stat st;
    assert_int_equal(fs_lookup(x.fs, "/sparse", true, &st), 0);
    assert_int_equal(st.size, n);
    uint8_t buf[5000];
    /* Odd offsets and lengths across block edges, holes and the end of the file. */
    for (uint64_t off = 0; off < n + 100; off += 4099) {
        size_t len = 1 + (size_t)(off * 7 % sizeof buf);
        ssize_t r = fs_read(x.fs, st.ino, off, buf, len);
        size_t exp = off >= n ? 0 : (n - off < len ? n - off : len);
        assert_int_equal(r, exp);
        if (exp)
            assert_memory_equal(buf, want + off, exp);
    }
    free(want);
    fx_close(&x);
}

static int setup(void **state)
{
    setenv("PATH", "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", 0);
    const char *path = getenv("PATH");
    char *more = malloc(strlen(path) + 32);
    assert_non_null(more);
    sprintf(more, "%s:/usr/sbin:/sbin", path); /* e2fsprogs, for users without sbin */
    setenv("PATH", more, 1);
    free(more);
    if (tu_sh("command -v mkfs.ext4 >/dev/null && command -v debugfs >/dev/null") != 0) {
        printf("SKIP: mkfs.ext4 or debugfs missing\n");
        exit(77);
    }
    const char *d = tu_dir();
    int r = tu_sh("set -e; cd %s; mkdir -p src; head -c 300000 /dev/urandom >src/f;"
                  "truncate -s 200000 src/sparse; head -c 3000 /dev/urandom |"
                  " dd of=src/sparse bs=1 seek=70000 conv=notrunc 2>/dev/null;"
                  "head -c 5000 /dev/urandom | dd of=src/sparse bs=1 seek=150001 conv=notrunc"
                  " 2>/dev/null; mkfs.ext4 -q -F -b 1024 -L unit-label -d src fs.img 8M"
                  " >/dev/null",
                  d);
    assert_int_equal(r, 0);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_extents),
        cmocka_unit_test(test_free_and_info),
        cmocka_unit_test(test_reads),
    };
    return cmocka_run_group_tests(tests, setup, tu_teardown);
}

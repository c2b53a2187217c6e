/* SPDX-License-Identifier: GPL-2.0-or-later */
/* test_fs_fat.c: unit tests for the FAT12/16/32 and exFAT readers (core/fs/fat.c, exfat.c).
 *
 * FAT volumes are made by dosfstools' mkfs.vfat and filled by mtools' mcopy from a small tree
 * (long and odd names, a multi-cluster file, an empty file, nested and many-entry
 * directories); exFAT volumes by exfatprogs' mkfs.exfat, filled through exfat-fuse on a loop
 * device when root can mount one, and with a file entry set written by hand from the exFAT
 * specification's layout otherwise too. Each is opened as a raw image over the whole disk and
 * walked through the driver's slots directly: names, sizes and content equal the source
 * files byte for byte, times and modes are as written, labels, serials and free space agree
 * with mtools. Hostile volumes (a chain cycle, a cluster past the end, zero sectors per
 * cluster, a long name with a bad checksum, a directory pointing at itself, an exFAT set with
 * a bad checksum) give an error or the documented fallback, never a crash or a hang.
 * Skipped (77) without mkfs.vfat and mtools.
 */
#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/base/bytes.h"
#include "core/fs/fs.h"

extern const struct fs_driver fs_driver_fat, fs_driver_exfat;

/* The volume layer (core/fs/vol.c) is written beside this reader: until it is linked, this
   stand-in reads the one-segment volumes the tests build. */
__attribute__((weak)) int fs_vol_read(const struct fs_vol *v, uint64_t off, void *buf,
                                      size_t len, struct img_err *err)
{
    if (off > v->size || len > v->size - off)
        return err_set(err, -EIO, "read past the volume's end");
    int r = img_read(v->img, v->seg[0].img_off + off, buf, len);
    return r < 0 ? err_set(err, r, "image read failed") : 0;
}

/* An image opened as a raw disk, its whole-disk volume and a filesystem on it. */
struct tv {
    struct img *img;
    struct fs_seg seg;
    struct fs_vol vol;
    struct fs fs;
    bool open;
};

static int tv_open(struct tv *t, const char *path, const struct fs_driver *drv)
{
    struct img_err err = {0};
    memset(t, 0, sizeof *t);
    t->img = img_open(path, "raw", 0, &err);
    assert_non_null(t->img);
    t->seg = (struct fs_seg){0, 0, img_size(t->img)};
    t->vol = (struct fs_vol){.img = t->img, .kind = FS_VOL_DISK, .size = img_size(t->img),
                             .nseg = 1, .seg = &t->seg};
    t->fs.drv = drv;
    t->fs.vol = &t->vol;
    int r = drv->open(&t->fs);
    t->open = r == 0;
    if (r < 0)
        assert_true(t->fs.err.msg[0] && !strchr(t->fs.err.msg, '\n'));
    return r;
}

static void tv_close(struct tv *t)
{
    if (t->open)
        t->fs.drv->close(&t->fs);
    img_close(t->img);
}

static bool tv_probe(const char *path, const struct fs_driver *drv)
{
    size_t n;
    uint8_t *head = tu_read_file(path, &n);
    assert_non_null(head);
    struct fs_vol v = {.size = n};
    bool r = drv->probe(&v, head, n < FS_PROBE_BYTES ? n : FS_PROBE_BYTES);
    free(head);
    return r;
}

/* ---- the source tree and the walk that compares a volume with it ---- */

static const char *src_dir(void)
{
    static char dir[4096];
    if (dir[0])
        return dir;
    snprintf(dir, sizeof dir, "%s", tu_path("src"));
    assert_int_equal(tu_sh("mkdir -p '%s/dir1/dir2/dir3' '%s/many' '%s/Mixed Case Dir' && cd '%s' "
                           "&& echo hello >hello.txt && : >empty && echo up >UPPER.TXT && "
                           "echo low >lower.txt && printf 'spaces' >'A Long File Name with "
                           "spaces.txt' && printf 'x' >'ünïcödé ß €.txt' && printf 'd' "
                           ">'semi;colon+plus=eq[1].dat' && echo deep >dir1/dir2/dir3/deep.txt && "
                           "echo o >'dir1/other name.dat' && echo m >'Mixed Case Dir/File.Txt' "
                           "&& for i in $(seq 1 60); do echo $i >many/entry-number-$i.txt; "
                           "done",
                           dir, dir, dir, dir),
                     0);
    uint8_t *big = malloc(300000);
    assert_non_null(big);
    tu_pattern(big, 300000, 0, 7);
    char p[4200];
    snprintf(p, sizeof p, "%s/big.bin", dir);
    tu_write_file(p, big, 300000);
    free(big);
    /* One date DOS can hold, set by touch in UTC: the readers take local time as UTC. */
    assert_int_equal(tu_sh("cd '%s' && TZ=UTC touch -m -d '2021-03-04 05:06:08' hello.txt", dir),
                     0);
    return dir;
}

struct names {
    char *name[256];
    uint64_t ino[256];
    size_t n;
};

static int names_cb(void *ctx, const char *name, uint64_t ino)
{
    struct names *l = ctx;
    assert_true(l->n < 256);
    assert_true(name[0] && !strchr(name, '/'));
    l->name[l->n] = strdup(name);
    l->ino[l->n++] = ino;
    return 0;
}

static void names_free(struct names *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->name[i]);
    l->n = 0;
}

static int list(struct fs *fs, uint64_t dir, struct names *l)
{
    l->n = 0;
    return fs->drv->readdir(fs, dir, names_cb, l);
}

static uint64_t find(struct fs *fs, uint64_t dir, const char *name)
{
    struct names l;
    assert_int_equal(list(fs, dir, &l), 0);
    uint64_t ino = 0;
    for (size_t i = 0; i < l.n; i++)
        if (!strcmp(l.name[i], name))
            ino = l.ino[i];
    names_free(&l);
    assert_true(ino != 0);
    return ino;
}

/* File ino's content equals the host file path, read in odd-sized pieces. */
static void same_content(struct fs *fs, uint64_t ino, const char *path, uint64_t size)
{
    size_t n;
    uint8_t *want = tu_read_file(path, &n);
    assert_non_null(want);
    assert_int_equal(n, size);
    uint8_t *got = malloc(n + 7777);
    uint64_t off = 0;
    for (;;) {
        ssize_t r = fs->drv->read(fs, ino, off, got + off, 7777);
        assert_true(r >= 0);
        if (r == 0)
            break;
        off += (uint64_t)r;
    }
    assert_int_equal(off, n);
    assert_memory_equal(got, want, n);
    free(got);
    free(want);
}

/* The directory ino lists exactly the entries of the host directory path, recursively, with
   the same types, sizes and content. Returns the files compared. */
static int same_tree(struct fs *fs, uint64_t ino, const char *path)
{
    struct names l;
    assert_int_equal(list(fs, ino, &l), 0);
    size_t host = 0;
    DIR *d = opendir(path);
    assert_non_null(d);
    struct dirent *de;
    while ((de = readdir(d)))
        host += strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
    closedir(d);
    assert_int_equal(l.n, host);
    int files = 0;
    for (size_t i = 0; i < l.n; i++) {
        char p[4096];
        struct stat hs;
        struct fs_stat st;
        snprintf(p, sizeof p, "%s/%s", path, l.name[i]);
        if (lstat(p, &hs) != 0)
            fail_msg("listed %s, not in the source", l.name[i]);
        assert_int_equal(fs->drv->stat(fs, l.ino[i], &st), 0);
        assert_int_equal(st.ino, l.ino[i]);
        if (S_ISDIR(hs.st_mode)) {
            assert_int_equal(st.type, FS_T_DIR);
            assert_int_equal(st.mode, 0755);
            files += same_tree(fs, l.ino[i], p);
        } else {
            assert_int_equal(st.type, FS_T_REG);
            assert_int_equal(st.size, hs.st_size);
            same_content(fs, l.ino[i], p, st.size);
            files++;
        }
    }
    names_free(&l);
    return files;
}

/* Extents: in file order, without gaps, and the volume's bytes there are the file's. */
struct ext_ctx {
    struct tv *t;
    const uint8_t *want;
    uint64_t sum;
    int runs;
};

static int ext_cb(void *ctx, uint64_t file_off, uint64_t vol_off, uint64_t len)
{
    struct ext_ctx *x = ctx;
    assert_int_equal(file_off, x->sum);
    uint8_t *a = malloc(len);
    assert_non_null(a);
    assert_int_equal(fs_vol_read(&x->t->vol, vol_off, a, len, &x->t->fs.err), 0);
    if (x->want)
        assert_memory_equal(a, x->want + file_off, len);
    free(a);
    x->sum += len;
    x->runs++;
    return 0;
}

static uint64_t free_sum;
static int free_cb(void *ctx, uint64_t vol_off, uint64_t len)
{
    struct tv *t = ctx;
    assert_true(vol_off + len <= t->vol.size);
    free_sum += len;
    return 0;
}

/* blkid's value of tag for a file ("" when it has none). */
static void blkid_tag(const char *path, const char *tag, char *out, size_t cap)
{
    char *s = tu_sh_out("blkid -p -o value -s %s '%s' 2>/dev/null", tag, path);
    snprintf(out, cap, "%s", s ? s : "");
    out[strcspn(out, "\n")] = 0;
    free(s);
}

/* The volume's label, serial and use agree with blkid and with the free space given. */
static void check_info(struct tv *t, const char *path, uint64_t free_bytes)
{
    struct fs_vol_info info;
    char want[128];
    memset(&info, 0, sizeof info);
    t->fs.drv->info(&t->fs, &info);
    blkid_tag(path, "LABEL", want, sizeof want);
    assert_string_equal(info.label, want);
    blkid_tag(path, "UUID", want, sizeof want);
    assert_string_equal(info.uuid, want);
    assert_true(info.used_known);
    free_sum = 0;
    assert_int_equal(t->fs.drv->free_ranges(&t->fs, free_cb, t), 0);
    assert_int_equal(free_sum, free_bytes);
    assert_true(info.used > 0);
}

/* ---- FAT12/16/32 made by mkfs.vfat and mcopy ---- */

#define MTOOLS "MTOOLS_SKIP_CHECK=1 LC_ALL=C.UTF-8 TZ=UTC"

static const char *mk_fat(int bits, int mib)
{
    const char *src = src_dir();
    static char path[4096];
    char name[32];
    snprintf(name, sizeof name, "fat%d.img", bits);
    snprintf(path, sizeof path, "%s", tu_path(name));
    assert_int_equal(tu_sh("rm -f '%s' && truncate -s %dM '%s' && mkfs.vfat -F %d -n LBL%d "
                           "-i DEADBEEF '%s' >/dev/null && cd '%s' && " MTOOLS " mcopy -s -m "
                           "-i '%s' * ::/ && " MTOOLS " mattrib -i '%s' +r ::/lower.txt",
                           path, mib, path, bits, bits, path, src, path, path),
                     0);
    return path;
}

static uint64_t mdir_free(const char *path)
{
    char *s = tu_sh_out(MTOOLS " mdir -i '%s' :: | grep 'bytes free' | tr -cd 0-9", path);
    assert_non_null(s);
    uint64_t v = strtoull(s, NULL, 10);
    free(s);
    return v;
}

static void check_fat(int bits, int mib)
{
    const char *path = mk_fat(bits, mib), *src = src_dir();
    assert_true(tv_probe(path, &fs_driver_fat));
    assert_false(tv_probe(path, &fs_driver_exfat));
    struct tv t;
    assert_int_equal(tv_open(&t, path, &fs_driver_fat), 0);
    assert_string_equal(t.fs.fs_name, "vfat");
    uint64_t root;
    assert_int_equal(t.fs.drv->root(&t.fs, &root), 0);
    assert_int_equal(same_tree(&t.fs, root, src), 60 + 11);

    struct fs_stat st;
    struct stat hs;
    char p[4200];
    assert_int_equal(t.fs.drv->stat(&t.fs, find(&t.fs, root, "hello.txt"), &st), 0);
    snprintf(p, sizeof p, "%s/hello.txt", src);
    assert_int_equal(stat(p, &hs), 0);
    assert_int_equal(st.mtime, hs.st_mtime);
    assert_int_equal(st.mode, 0644);
    assert_int_equal(t.fs.drv->stat(&t.fs, find(&t.fs, root, "lower.txt"), &st), 0);
    assert_int_equal(st.mode, 0444);

    /* The multi-cluster file's extents hold its bytes. */
    snprintf(p, sizeof p, "%s/big.bin", src);
    size_t n;
    uint8_t *want = tu_read_file(p, &n);
    struct ext_ctx x = {&t, want, 0, 0};
    assert_int_equal(t.fs.drv->extents(&t.fs, find(&t.fs, root, "big.bin"), ext_cb, &x), 0);
    assert_int_equal(x.sum, n);
    free(want);
    x = (struct ext_ctx){&t, NULL, 0, 0};
    assert_int_equal(t.fs.drv->extents(&t.fs, find(&t.fs, root, "many"), ext_cb, &x), 0);
    assert_true(x.sum > 0);

    assert_int_equal(t.fs.drv->read(&t.fs, root, 0, p, 10), -EISDIR);
    assert_int_equal(t.fs.drv->stat(&t.fs, 12345, &st), -ENOENT);
    check_info(&t, path, mdir_free(path));
    tv_close(&t);
}

static void test_fat12(void **state)
{
    (void)state;
    check_fat(12, 4);
}

static void test_fat16(void **state)
{
    (void)state;
    check_fat(16, 20);
}

static void test_fat32(void **state)
{
    (void)state;
    check_fat(32, 40);
}

static bool have_tools(void)
{
    return tu_sh("command -v mkfs.vfat && command -v mcopy && command -v mattrib && "
                 "command -v mdir && command -v blkid") == 0;
}

int main(void)
{
    if (!have_tools()) {
        fputs("SKIP: mkfs.vfat, mtools or blkid missing\n", stderr);
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fat12),
        cmocka_unit_test(test_fat16),
        cmocka_unit_test(test_fat32),
    };
    return cmocka_run_group_tests(tests, NULL, tu_teardown);
}

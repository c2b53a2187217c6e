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
    t->vol = (struct fs_vol){
        .img = t->img, .kind = FS_VOL_DISK, .size = img_size(t->img), .nseg = 1, .seg = &t->seg};
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
            assert_true(st.size > 0 && st.size % 512 == 0); /* its clusters */
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

/* ---- hostile FAT volumes: a FAT16 made as above, damaged in one place each ---- */

static void rd(const char *path, uint64_t off, void *buf, size_t n)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fseeko(f, (off_t)off, SEEK_SET), 0);
    assert_int_equal(fread(buf, 1, n, f), n);
    fclose(f);
}

static void poke16(const char *path, uint64_t off, uint16_t v)
{
    uint8_t b[2];
    le16_store(b, v);
    tu_poke(path, off, b, 2);
}

static void poke32(const char *path, uint64_t off, uint32_t v)
{
    uint8_t b[4];
    le32_store(b, v);
    tu_poke(path, off, b, 4);
}

/* Where the FAT16 made by mk_fat keeps its FATs, and the inodes of some of its files. */
struct f16 {
    char base[4096];
    uint64_t fat0, fat1;
    uint64_t big, lfn, dir1, dir2, many;
};

static void f16_make(struct f16 *g)
{
    snprintf(g->base, sizeof g->base, "%s", mk_fat(16, 20));
    uint8_t b[512];
    rd(g->base, 0, b, sizeof b);
    g->fat0 = (uint64_t)le16_load(b + 14) * le16_load(b + 11);
    g->fat1 = g->fat0 + (uint64_t)le16_load(b + 22) * le16_load(b + 11);
    struct tv t;
    assert_int_equal(tv_open(&t, g->base, &fs_driver_fat), 0);
    g->big = find(&t.fs, 1, "big.bin");
    g->lfn = find(&t.fs, 1, "A Long File Name with spaces.txt");
    g->dir1 = find(&t.fs, 1, "dir1");
    g->dir2 = find(&t.fs, g->dir1, "dir2");
    g->many = find(&t.fs, 1, "many");
    tv_close(&t);
}

/* A copy of the volume to damage. */
static const char *f16_copy(const struct f16 *g, const char *name)
{
    const char *p = tu_path(name);
    assert_int_equal(tu_sh("cp --sparse=always '%s' '%s'", g->base, p), 0);
    return p;
}

static uint16_t f16_cl(const char *path, uint64_t ino)
{
    uint8_t e[32];
    rd(path, ino, e, 32);
    return le16_load(e + 26);
}

static uint16_t f16_next(const struct f16 *g, const char *path, uint16_t cl)
{
    uint8_t b[2];
    rd(path, g->fat0 + 2u * cl, b, 2);
    return le16_load(b);
}

static void f16_set(const struct f16 *g, const char *path, uint16_t cl, uint16_t v)
{
    poke16(path, g->fat0 + 2u * cl, v);
    poke16(path, g->fat1 + 2u * cl, v);
}

/* Read all of ino: the bytes read, or the error that stopped it (with one line in err). */
static ssize_t read_all(struct fs *fs, uint64_t ino)
{
    static uint8_t buf[65536];
    uint64_t off = 0;
    for (;;) {
        ssize_t r = fs->drv->read(fs, ino, off, buf, sizeof buf);
        if (r < 0)
            assert_true(fs->err.msg[0] && !strchr(fs->err.msg, '\n'));
        if (r <= 0)
            return r < 0 ? r : (ssize_t)off;
        off += (uint64_t)r;
    }
}

static void test_fat_hostile(void **state)
{
    (void)state;
    struct f16 g;
    f16_make(&g);
    struct tv t;

    /* A cycle in a file's chain: the second cluster links back to the first. */
    const char *p = f16_copy(&g, "cycle.img");
    uint16_t c0 = f16_cl(p, g.big), c1 = f16_next(&g, p, c0);
    f16_set(&g, p, c1, c0);
    assert_int_equal(tv_open(&t, p, &fs_driver_fat), 0);
    assert_int_equal(read_all(&t.fs, g.big), -ELOOP);
    struct ext_ctx x = {&t, NULL, 0, 0};
    assert_int_equal(t.fs.drv->extents(&t.fs, g.big, ext_cb, &x), -ELOOP);
    tv_close(&t);

    /* A first cluster past the last one, and a link past it. */
    p = f16_copy(&g, "past.img");
    poke16(p, g.big + 26, 0xfff0);
    assert_int_equal(tv_open(&t, p, &fs_driver_fat), 0);
    assert_int_equal(read_all(&t.fs, g.big), -EIO);
    tv_close(&t);
    p = f16_copy(&g, "link.img");
    f16_set(&g, p, f16_cl(p, g.big), 0xfff0);
    assert_int_equal(tv_open(&t, p, &fs_driver_fat), 0);
    assert_int_equal(read_all(&t.fs, g.big), -EIO);
    tv_close(&t);

    /* A chain that ends before the file's size. */
    p = f16_copy(&g, "short.img");
    f16_set(&g, p, f16_cl(p, g.big), 0xffff);
    assert_int_equal(tv_open(&t, p, &fs_driver_fat), 0);
    assert_int_equal(read_all(&t.fs, g.big), -EIO);
    tv_close(&t);

    /* Zero sectors per cluster; a volume shorter than its boot sector says. */
    p = f16_copy(&g, "spc0.img");
    tu_poke(p, 13, "", 1);
    assert_false(tv_probe(p, &fs_driver_fat));
    assert_int_equal(tv_open(&t, p, &fs_driver_fat), -EINVAL);
    tv_close(&t);
    p = f16_copy(&g, "cut.img");
    assert_int_equal(truncate(p, 10 << 20), 0);
    assert_false(tv_probe(p, &fs_driver_fat));
    assert_int_equal(tv_open(&t, p, &fs_driver_fat), -EINVAL);
    tv_close(&t);
}

/* A long name whose checksum does not match its short entry: the short name is listed. */
static void test_fat_lfn_checksum(void **state)
{
    (void)state;
    struct f16 g;
    f16_make(&g);
    const char *p = f16_copy(&g, "lfn.img");
    uint8_t sum;
    rd(p, g.lfn - 32 + 13, &sum, 1);
    sum ^= 0x55;
    tu_poke(p, g.lfn - 32 + 13, &sum, 1);
    struct tv t;
    assert_int_equal(tv_open(&t, p, &fs_driver_fat), 0);
    struct names l;
    assert_int_equal(list(&t.fs, 1, &l), 0);
    bool long_seen = false, short_seen = false;
    for (size_t i = 0; i < l.n; i++) {
        long_seen |= !strcmp(l.name[i], "A Long File Name with spaces.txt");
        if (l.ino[i] == g.lfn) {
            short_seen = strstr(l.name[i], "~1.TXT") != NULL;
        }
    }
    names_free(&l);
    assert_false(long_seen);
    assert_true(short_seen);
    char buf[16];
    assert_int_equal(t.fs.drv->read(&t.fs, g.lfn, 0, buf, sizeof buf), 6);
    assert_memory_equal(buf, "spaces", 6);
    tv_close(&t);
}

/* Directories that contain themselves: an entry pointing at its parent, a chain that loops. */
static void test_fat_dir_loops(void **state)
{
    (void)state;
    struct f16 g;
    f16_make(&g);
    const char *p = f16_copy(&g, "dirloop.img");
    poke16(p, g.dir2 + 26, f16_cl(p, g.dir1));
    struct tv t;
    struct names l;
    assert_int_equal(tv_open(&t, p, &fs_driver_fat), 0);
    assert_int_equal(list(&t.fs, g.dir1, &l), -ELOOP);
    names_free(&l);
    assert_int_equal(list(&t.fs, 1, &l), 0);
    names_free(&l);
    tv_close(&t);

    p = f16_copy(&g, "chainloop.img");
    /* The second of its clusters (both full: the end mark is in the third) links back. */
    uint16_t first = f16_cl(p, g.many), second = f16_next(&g, p, first);
    assert_true(second < 0xfff8 && f16_next(&g, p, second) < 0xfff8);
    f16_set(&g, p, second, first);
    assert_int_equal(tv_open(&t, p, &fs_driver_fat), 0);
    assert_int_equal(list(&t.fs, g.many, &l), -ELOOP);
    names_free(&l);
    tv_close(&t);
}

/* ---- exFAT ---- */

struct xg {
    uint64_t heap, fat;
    uint32_t cs, count, root, bm;
    uint64_t slot; /* the root's first free entry */
};

static void xg_read(const char *path, struct xg *g)
{
    uint8_t b[512];
    rd(path, 0, b, sizeof b);
    g->heap = (uint64_t)le32_load(b + 88) << b[108];
    g->fat = (uint64_t)le32_load(b + 80) << b[108];
    g->cs = 1u << (b[108] + b[109]);
    g->count = le32_load(b + 92);
    g->root = le32_load(b + 96);
    uint8_t *d = malloc(g->cs);
    rd(path, g->heap + (uint64_t)(g->root - 2) * g->cs, d, g->cs);
    g->slot = 0;
    for (uint32_t i = 0; i < g->cs; i += 32) {
        if (d[i] == 0x81)
            g->bm = le32_load(d + i + 20);
        if (d[i] == 0 && !g->slot)
            g->slot = g->heap + (uint64_t)(g->root - 2) * g->cs + i;
    }
    free(d);
    assert_true(g->slot && g->bm);
}

/* A file entry set for an ASCII name, its checksum computed here. Returns its entries. */
static unsigned xset(uint8_t *s, const char *name, uint16_t attr, uint8_t flags, uint32_t first,
                     uint64_t size, uint64_t valid, uint32_t mts, uint8_t utc)
{
    size_t nlen = strlen(name);
    unsigned nent = 2 + (unsigned)(nlen + 14) / 15;
    memset(s, 0, 32 * nent);
    s[0] = 0x85;
    s[1] = (uint8_t)(nent - 1);
    le16_store(s + 4, attr);
    le32_store(s + 12, mts);
    s[23] = utc;
    s[32] = 0xc0;
    s[33] = flags;
    s[35] = (uint8_t)nlen;
    le64_store(s + 40, valid);
    le32_store(s + 52, first);
    le64_store(s + 56, size);
    for (size_t i = 0; i < nlen; i++) {
        s[64 + 32 * (i / 15)] = 0xc1;
        s[64 + 32 * (i / 15) + 2 + 2 * (i % 15)] = (uint8_t)name[i];
    }
    uint16_t sum = 0;
    for (unsigned i = 0; i < 32 * nent; i++)
        if (i != 2 && i != 3)
            sum = (uint16_t)((sum >> 1) + ((sum & 1) << 15) + s[i]);
    le16_store(s + 2, sum);
    return nent;
}

/* Mark clusters [c, c + n) used in the bitmap. */
static void xmark(const char *path, const struct xg *g, uint32_t c, uint32_t n)
{
    for (uint32_t k = c; k < c + n; k++) {
        uint64_t off = g->heap + (uint64_t)(g->bm - 2) * g->cs + (k - 2) / 8;
        uint8_t b;
        rd(path, off, &b, 1);
        b |= (uint8_t)(1u << ((k - 2) % 8));
        tu_poke(path, off, &b, 1);
    }
}

/* The hand-made exFAT: "hand-made file.txt" (3 clusters and 100 bytes, contiguous, modified
   2022-06-15 12:30:44 at UTC+2) and "chained.bin" (a cluster and 10 bytes in two clusters
   apart, through the FAT). */
struct xh {
    char path[4096];
    struct xg g;
    uint32_t c;
    uint64_t a, b; /* their inodes */
    uint64_t asize, bsize;
};

static void xh_write(struct xh *h, const char *name, unsigned which, uint16_t attr, uint8_t fl,
                     uint32_t first, uint64_t size, uint64_t valid)
{
    uint8_t s[19 * 32];
    uint32_t ts = (uint32_t)(42 << 25 | 6 << 21 | 15 << 16 | 12 << 11 | 30 << 5 | 22);
    unsigned n = xset(s, name, attr, fl, first, size, valid, ts, 0x80 | 8);
    uint64_t at = which == 0 ? h->a : h->b;
    tu_poke(h->path, at, s, 32 * n);
}

static void xh_make(struct xh *h, const char *name)
{
    snprintf(h->path, sizeof h->path, "%s", tu_path(name));
    assert_int_equal(tu_sh("rm -f '%s' && truncate -s 8M '%s' && mkfs.exfat -L EXLBL '%s' "
                           ">/dev/null",
                           h->path, h->path, h->path),
                     0);
    xg_read(h->path, &h->g);
    h->c = 64; /* far past what mkfs.exfat allocates on 8 MiB */
    h->asize = 3ull * h->g.cs + 100;
    h->bsize = h->g.cs + 10ull;
    h->a = h->g.slot;
    h->b = h->g.slot + 32 * 4;
    uint8_t *data = malloc(h->asize);
    tu_pattern(data, h->asize, 0, 11);
    tu_poke(h->path, h->g.heap + (uint64_t)(h->c - 2) * h->g.cs, data, h->asize);
    tu_pattern(data, h->bsize, 0, 12);
    tu_poke(h->path, h->g.heap + (uint64_t)(h->c + 3) * h->g.cs, data, h->g.cs);
    tu_poke(h->path, h->g.heap + (uint64_t)(h->c + 5) * h->g.cs, data + h->g.cs, 10);
    free(data);
    poke32(h->path, h->g.fat + 4ull * (h->c + 5), h->c + 7);
    poke32(h->path, h->g.fat + 4ull * (h->c + 7), 0xffffffff);
    xmark(h->path, &h->g, h->c, 4);
    xmark(h->path, &h->g, h->c + 5, 1);
    xmark(h->path, &h->g, h->c + 7, 1);
    xh_write(h, "hand-made file.txt", 0, 0x20, 3, h->c, h->asize, h->asize);
    xh_write(h, "chained.bin", 1, 0x21, 1, h->c + 5, h->bsize, h->bsize);
}

static void same_pattern(struct fs *fs, uint64_t ino, uint64_t size, unsigned seed, uint64_t valid)
{
    uint8_t *want = calloc(1, size), *got = malloc(size);
    tu_pattern(want, valid, 0, seed);
    assert_int_equal(read_all(fs, ino), (ssize_t)size);
    assert_int_equal(fs->drv->read(fs, ino, 0, got, size), (ssize_t)size);
    assert_memory_equal(got, want, size);
    free(want);
    free(got);
}

static uint64_t dump_free(const char *path, uint32_t cs)
{
    char *s = tu_sh_out("dump.exfat '%s' 2>/dev/null | grep 'Free Clusters' | tr -cd 0-9", path);
    assert_non_null(s);
    uint64_t v = strtoull(s, NULL, 10) * cs;
    free(s);
    return v;
}

static void test_exfat_hand(void **state)
{
    (void)state;
    struct xh h;
    xh_make(&h, "hand.img");
    assert_true(tv_probe(h.path, &fs_driver_exfat));
    assert_false(tv_probe(h.path, &fs_driver_fat));
    struct tv t;
    assert_int_equal(tv_open(&t, h.path, &fs_driver_exfat), 0);
    assert_string_equal(t.fs.fs_name, "exfat");
    struct names l;
    assert_int_equal(list(&t.fs, 1, &l), 0);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.name[0], "hand-made file.txt");
    assert_string_equal(l.name[1], "chained.bin");
    assert_int_equal(l.ino[0], h.a);
    names_free(&l);
    struct fs_stat st;
    assert_int_equal(t.fs.drv->stat(&t.fs, h.a, &st), 0);
    assert_int_equal(st.size, h.asize);
    assert_int_equal(st.mode, 0644);
    char *want = tu_sh_out("date -u -d '2022-06-15 10:30:44' +%%s");
    assert_int_equal(st.mtime, strtoll(want, NULL, 10));
    free(want);
    assert_int_equal(t.fs.drv->stat(&t.fs, h.b, &st), 0);
    assert_int_equal(st.mode, 0444);
    same_pattern(&t.fs, h.a, h.asize, 11, h.asize);
    same_pattern(&t.fs, h.b, h.bsize, 12, h.bsize);
    struct ext_ctx x = {&t, NULL, 0, 0};
    assert_int_equal(t.fs.drv->extents(&t.fs, h.a, ext_cb, &x), 0);
    assert_int_equal(x.runs, 1);
    x = (struct ext_ctx){&t, NULL, 0, 0};
    assert_int_equal(t.fs.drv->extents(&t.fs, h.b, ext_cb, &x), 0);
    assert_int_equal(x.runs, 2);
    assert_int_equal(x.sum, h.bsize);
    check_info(&t, h.path, dump_free(h.path, h.g.cs));
    tv_close(&t);
}

static void test_exfat_hostile(void **state)
{
    (void)state;
    struct xh h;
    struct tv t;
    struct names l;
    /* A bad set checksum: the set is left out, its node cannot be read. */
    xh_make(&h, "xsum.img");
    uint8_t b;
    rd(h.path, h.a + 2, &b, 1);
    b ^= 1;
    tu_poke(h.path, h.a + 2, &b, 1);
    assert_int_equal(tv_open(&t, h.path, &fs_driver_exfat), 0);
    assert_int_equal(list(&t.fs, 1, &l), 0);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.name[0], "chained.bin");
    names_free(&l);
    struct fs_stat st;
    assert_int_equal(t.fs.drv->stat(&t.fs, h.a, &st), -EIO);
    tv_close(&t);

    /* ValidDataLength short of the size: the rest reads as zeros. */
    xh_make(&h, "xvalid.img");
    xh_write(&h, "hand-made file.txt", 0, 0x20, 3, h.c, h.asize, h.g.cs + 5);
    assert_int_equal(tv_open(&t, h.path, &fs_driver_exfat), 0);
    same_pattern(&t.fs, h.a, h.asize, 11, h.g.cs + 5);
    tv_close(&t);

    /* A FAT cycle, a first cluster past the end, contiguous data past the end. */
    xh_make(&h, "xcycle.img");
    poke32(h.path, h.g.fat + 4ull * (h.c + 7), h.c + 5);
    xh_write(&h, "chained.bin", 1, 0x21, 1, h.c + 5, 5ull * h.g.cs, 5ull * h.g.cs);
    assert_int_equal(tv_open(&t, h.path, &fs_driver_exfat), 0);
    assert_int_equal(read_all(&t.fs, h.b), -ELOOP);
    tv_close(&t);
    xh_make(&h, "xpast.img");
    xh_write(&h, "hand-made file.txt", 0, 0x20, 3, h.g.count - 1, h.asize, h.asize);
    xh_write(&h, "chained.bin", 1, 0x21, 1, h.g.count + 10, h.bsize, h.bsize);
    assert_int_equal(tv_open(&t, h.path, &fs_driver_exfat), 0);
    assert_int_equal(t.fs.drv->stat(&t.fs, h.a, &st), -EIO);
    assert_int_equal(t.fs.drv->stat(&t.fs, h.b, &st), -EIO);
    assert_int_equal(list(&t.fs, 1, &l), 0);
    assert_int_equal(l.n, 0);
    tv_close(&t);

    /* A directory whose data is the root directory. */
    xh_make(&h, "xloop.img");
    xh_write(&h, "loop", 1, 0x10, 1, h.g.root, h.g.cs, h.g.cs);
    assert_int_equal(tv_open(&t, h.path, &fs_driver_exfat), 0);
    assert_int_equal(list(&t.fs, 1, &l), -ELOOP);
    names_free(&l);
    tv_close(&t);

    /* A cluster shift out of range. */
    xh_make(&h, "xshift.img");
    tu_poke(h.path, 109, "\x1e", 1);
    assert_false(tv_probe(h.path, &fs_driver_exfat));
    assert_int_equal(tv_open(&t, h.path, &fs_driver_exfat), -EINVAL);
    tv_close(&t);
}

/* Neither probe takes another filesystem: ext4, NTFS (its boot sector has a BPB), ISO 9660,
   a partitioned disk (an MBR's boot signature without a BPB). Tools that are missing are
   left out. */
static void test_probe_others(void **state)
{
    (void)state;
    const char *p = tu_path("other.img");
    const char *mk[] = {
        "mkfs.ext4 -q -F \"$F\"",
        "mkntfs -q -F -f \"$F\" >/dev/null 2>&1",
        "printf 'label: dos\\n,4M,c\\n' | sfdisk -q \"$F\"",
        "xorriso -outdev \"$F\" -blank as_needed -map /etc/hostname /h >/dev/null 2>&1",
    };
    int made = 0;
    for (size_t i = 0; i < sizeof mk / sizeof mk[0]; i++) {
        if (tu_sh("rm -f '%s' && truncate -s 8M '%s'", p, p) != 0 ||
            tu_sh("F='%s'; %s", p, mk[i]) != 0)
            continue;
        made++;
        assert_false(tv_probe(p, &fs_driver_fat));
        assert_false(tv_probe(p, &fs_driver_exfat));
        struct tv t;
        assert_true(tv_open(&t, p, &fs_driver_fat) < 0);
        tv_close(&t);
        assert_true(tv_open(&t, p, &fs_driver_exfat) < 0);
        tv_close(&t);
    }
    if (made == 0)
        skip();
}

/* exFAT written by exfat-fuse on a loop device (root only; skipped where that cannot run):
   the same tree, plus a file fragmented by deleting every other file before writing it. */
static void test_exfat_fuse(void **state)
{
    (void)state;
    if (geteuid() != 0 ||
        tu_sh("command -v mount.exfat-fuse >/dev/null && command -v losetup >/dev/null && "
              "test -e /dev/fuse") != 0)
        skip();
    const char *src = src_dir(), *img = tu_path("fuse.img"), *mnt = tu_path("mnt");
    assert_int_equal(tu_sh("rm -f '%s' && truncate -s 16M '%s' && mkfs.exfat -L FUSED '%s' "
                           ">/dev/null && mkdir -p '%s'",
                           img, img, img, mnt),
                     0);
    char *dev = tu_sh_out("losetup -f --show '%s' 2>/dev/null", img);
    if (!dev || !dev[0]) {
        free(dev);
        skip();
    }
    dev[strcspn(dev, "\n")] = 0;
    int r = tu_sh("TZ=UTC mount.exfat-fuse '%s' '%s' >/dev/null 2>&1", dev, mnt);
    if (r == 0) {
        r = tu_sh("cp -r --preserve=timestamps '%s'/. '%s'/ && cd '%s' && for i in $(seq 1 20); "
                  "do head -c 5000 /dev/zero >f$i; done && rm f1 f3 f5 f7 f9 f11 f13 f15 f17 f19 "
                  "&& head -c 40000 /dev/urandom >frag.bin && rm f*[0-9] && cp frag.bin '%s'/",
                  src, mnt, mnt, tu_dir());
        r |= tu_sh("umount '%s'", mnt);
    }
    tu_sh("losetup -d '%s'", dev);
    free(dev);
    if (r != 0)
        skip(); /* mounting is what failed: a container without FUSE or loop devices */
    assert_int_equal(tu_sh("mv '%s/frag.bin' '%s/frag.bin'", tu_dir(), src), 0);
    struct tv t;
    assert_int_equal(tv_open(&t, img, &fs_driver_exfat), 0);
    assert_int_equal(same_tree(&t.fs, 1, src), 60 + 12);
    struct fs_stat st;
    struct stat hs;
    char p[4200];
    assert_int_equal(t.fs.drv->stat(&t.fs, find(&t.fs, 1, "hello.txt"), &st), 0);
    snprintf(p, sizeof p, "%s/hello.txt", src);
    assert_int_equal(stat(p, &hs), 0);
    assert_int_equal(st.mtime, hs.st_mtime);
    snprintf(p, sizeof p, "%s/frag.bin", src);
    size_t n;
    uint8_t *want = tu_read_file(p, &n);
    struct ext_ctx x = {&t, want, 0, 0};
    assert_int_equal(t.fs.drv->extents(&t.fs, find(&t.fs, 1, "frag.bin"), ext_cb, &x), 0);
    assert_int_equal(x.sum, n);
    free(want);
    check_info(&t, img, dump_free(img, 4096));
    tv_close(&t);
    assert_int_equal(unlink(p), 0);
}

static bool have_tools(void)
{
    return tu_sh("{ command -v mkfs.vfat && command -v mcopy && command -v mattrib && "
                 "command -v mdir && command -v blkid && command -v mkfs.exfat && command -v "
                 "dump.exfat; } >/dev/null") == 0;
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
        cmocka_unit_test(test_fat_hostile),
        cmocka_unit_test(test_fat_lfn_checksum),
        cmocka_unit_test(test_fat_dir_loops),
        cmocka_unit_test(test_exfat_hand),
        cmocka_unit_test(test_exfat_hostile),
        cmocka_unit_test(test_probe_others),
        cmocka_unit_test(test_exfat_fuse),
    };
    return cmocka_run_group_tests(tests, NULL, tu_teardown);
}

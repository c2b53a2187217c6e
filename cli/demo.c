/* SPDX-License-Identifier: GPL-2.0-or-later */
/* cli/demo.c: `dimg demo [--no-open] [DIR]`: a directory of small sample images that shows
 * every feature of the interactive application at once, then the application opened in it.
 * The images are made with dimg's own core (create, write, compressed write, write zeroes,
 * snapshots), so the demo needs nothing but dimg: a qcow2 disk with a partition table, data,
 * zero and compressed clusters and two snapshots; a backing chain of three; a sparse raw disk; one
 * vdi, qcow and cow; and a text file (what a file that is not an image looks like). A hidden marker
 * file makes a second run reuse the directory. The demo never writes into a file it did not
 * make: it fills a directory it creates, or an existing empty one, and every file is first
 * created with O_EXCL; a non-empty directory gets a new DIR/dimg-demo-N/ instead.
 * Talks to: core/block/img.h, core/base/io.h, cli.h (cli_tui_run: the application).
 */
#include "cli/cli.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/base/bytes.h"
#include "core/block/img.h"
#include "core/base/io.h"

#define DEMO_MARKER ".dimg-demo"
#define MiB (1024ull * 1024)
#define GiB (1024ull * MiB)

struct demo {
    const char *dir;
    char *buf; /* 1 MiB of compressible text */
    struct img_err err;
    unsigned made; /* bit i: demo_files[i] was created by this run (removed on failure) */
};

static const char *const demo_files[] = {"disk.qcow2", "base.qcow2", "mid.qcow2", "top.qcow2",
                                         "sparse.raw", "legacy.vdi", "old.qcow",  "ancient.cow",
                                         "README.txt", DEMO_MARKER,  NULL};

/* Create name empty with O_EXCL, so that the driver's create (which truncates) can only ever
 * truncate a file this run made: an existing file is an error, never overwritten. */
static int demo_reserve(struct demo *d, const char *name)
{
    int i = 0;
    while (demo_files[i] && strcmp(demo_files[i], name) != 0)
        i++;
    char *p = io_path_join(d->dir, name);
    int fd = p ? open(p, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644) : -1;
    int e = p ? errno : ENOMEM;
    free(p);
    if (fd < 0)
        return err_set(&d->err, -e, "%s/%s: %s", d->dir, name, strerror(e));
    close(fd);
    if (demo_files[i])
        d->made |= 1u << i;
    return 0;
}

static char *demo_path(struct demo *d, const char *name)
{
    return io_path_join(d->dir, name);
}

/* Text that compresses well and says where it is, as a guest file system's data might. */
static void demo_fill(struct demo *d, uint64_t off, char tag)
{
    size_t n = 0;
    while (n < MiB) {
        int w = snprintf(d->buf + n, MiB - n, "dimg demo %c: guest offset %llu\n", tag,
                         (unsigned long long)(off + n));
        if (w <= 0)
            break;
        n += (size_t)w;
    }
}

static int demo_write(struct demo *d, struct img *img, uint64_t off, uint64_t len, char tag)
{
    for (uint64_t done = 0; done < len; done += MiB) {
        uint64_t n = len - done < MiB ? len - done : MiB;
        demo_fill(d, off + done, tag);
        int r = img_write(img, off + done, d->buf, (size_t)n);
        if (r < 0)
            return err_set(&d->err, r, "%s", img_errmsg(img));
    }
    return 0;
}

/* An MBR with two Linux partitions: [1 MiB, split) and [split, end). */
static int demo_mbr(struct demo *d, struct img *img, uint64_t size, uint64_t split)
{
    uint8_t mbr[512];
    memset(mbr, 0, sizeof mbr);
    uint64_t s1 = MiB / 512, n1 = (split - MiB) / 512;
    uint64_t s2 = split / 512, n2 = (size - split) / 512;
    uint8_t *p = mbr + 446;
    p[4] = 0x83;
    le32_store(p + 8, (uint32_t)s1);
    le32_store(p + 12, (uint32_t)n1);
    p += 16;
    p[4] = 0x83;
    le32_store(p + 8, (uint32_t)s2);
    le32_store(p + 12, (uint32_t)n2);
    mbr[510] = 0x55;
    mbr[511] = 0xaa;
    int r = img_write(img, 0, mbr, sizeof mbr);
    return r < 0 ? err_set(&d->err, r, "%s", img_errmsg(img)) : 0;
}

static struct img *demo_create(struct demo *d, const char *fmt, const char *name, uint64_t size,
                               const char *backing, const char *backing_fmt)
{
    if (demo_reserve(d, name) < 0)
        return NULL;
    char *p = demo_path(d, name);
    if (!p) {
        err_set(&d->err, -ENOMEM, "out of memory");
        return NULL;
    }
    struct img_create_req req = {.size = size, .backing_file = backing, .backing_fmt = backing_fmt};
    struct img *img = NULL;
    if (img_create(fmt, p, &req, &d->err) == 0)
        img = img_open(p, fmt, IMG_OPEN_RW | (backing ? IMG_OPEN_BACKING : 0), &d->err);
    if (!img)
        err_prefix(&d->err, "%s", name);
    free(p);
    return img;
}

static int demo_finish(struct demo *d, struct img *img, int r)
{
    if (r == 0 && img_flush(img) < 0)
        r = err_set(&d->err, -EIO, "%s", img_errmsg(img));
    img_close(img);
    return r;
}

static int demo_qcow2(struct demo *d)
{
    uint64_t size = 4 * GiB;
    struct img *img = demo_create(d, "qcow2", "disk.qcow2", size, NULL, NULL);
    if (!img)
        return -1;
    int r = demo_mbr(d, img, size, GiB);
    if (r == 0)
        r = demo_write(d, img, MiB, 6 * MiB, 'd'); /* the first partition's "file system" */
    /* A compressed stretch, as `convert -c` leaves it. */
    for (uint64_t off = 512 * MiB; r == 0 && off < 512 * MiB + 2 * MiB; off += 65536) {
        demo_fill(d, off, 'c');
        if ((r = img_write_compressed(img, off, d->buf, 65536)) < 0)
            err_set(&d->err, r, "%s", img_errmsg(img));
    }
    /* Data, then zeroed: the clusters become zero clusters, as a guest's discard leaves them. */
    if (r == 0)
        r = demo_write(d, img, 768 * MiB, 4 * MiB, 'z');
    if (r == 0 && (r = img_write_zeroes(img, 768 * MiB, 4 * MiB)) < 0)
        err_set(&d->err, r, "%s", img_errmsg(img));
    for (uint64_t k = 0; r == 0 && k < 3; k++)
        r = demo_write(d, img, GiB + MiB + k * GiB, 2 * MiB, 'e'); /* the second partition */
    /* Two snapshots, with writes after each so that the tree has something to tell apart. */
    static const char *const snaps[] = {"installed", "configured"};
    for (int k = 0; r == 0 && k < 2; k++) {
        if ((r = img_snap_create(img, snaps[k])) < 0)
            err_set(&d->err, r, "%s", img_errmsg(img));
        else
            r = demo_write(d, img, 2 * MiB + (uint64_t)k * MiB, MiB, (char)('1' + k));
    }
    return demo_finish(d, img, r);
}

static int demo_chain(struct demo *d)
{
    struct img *img = demo_create(d, "qcow2", "base.qcow2", GiB, NULL, NULL);
    if (!img)
        return -1;
    int r = demo_finish(d, img, demo_write(d, img, 0, 8 * MiB, 'A'));
    if (r < 0)
        return r;
    img = demo_create(d, "qcow2", "mid.qcow2", GiB, "base.qcow2", "qcow2");
    if (!img)
        return -1;
    if ((r = demo_finish(d, img, demo_write(d, img, 4 * MiB, 2 * MiB, 'B'))) < 0)
        return r;
    img = demo_create(d, "qcow2", "top.qcow2", GiB, "mid.qcow2", "qcow2");
    if (!img)
        return -1;
    return demo_finish(d, img, demo_write(d, img, 5 * MiB, MiB, 'C'));
}

static int demo_others(struct demo *d)
{
    uint64_t size = GiB;
    struct img *img = demo_create(d, "raw", "sparse.raw", size, NULL, NULL);
    if (!img)
        return -1;
    int r = demo_mbr(d, img, size, 512 * MiB);
    if (r == 0)
        r = demo_write(d, img, MiB, 3 * MiB, 'r');
    if (r == 0)
        r = demo_write(d, img, size - MiB, MiB, 'r');
    if ((r = demo_finish(d, img, r)) < 0)
        return r;
    static const struct {
        const char *fmt, *name;
        uint64_t size;
    } small[] = {{"vdi", "legacy.vdi", 256 * MiB},
                 {"qcow", "old.qcow", 256 * MiB},
                 {"cow", "ancient.cow", 64 * MiB}};
    for (size_t i = 0; i < sizeof small / sizeof small[0]; i++) {
        if (!img_driver_find(small[i].fmt))
            continue;
        img = demo_create(d, small[i].fmt, small[i].name, small[i].size, NULL, NULL);
        if (!img)
            return -1;
        r = demo_write(d, img, 0, 2 * MiB, small[i].name[0]);
        if (r == 0)
            r = demo_write(d, img, small[i].size / 2, MiB, small[i].name[0]);
        if ((r = demo_finish(d, img, r)) < 0)
            return r;
    }
    return 0;
}

static int demo_text(struct demo *d, const char *name, const char *text)
{
    if (demo_reserve(d, name) < 0)
        return -1;
    char *p = demo_path(d, name);
    int fd = p ? open(p, O_WRONLY | O_NOFOLLOW | O_CLOEXEC) : -1;
    free(p);
    if (fd < 0)
        return err_set(&d->err, -errno, "%s: %s", name, strerror(errno));
    int r = io_pwrite_all(fd, text, strlen(text), 0);
    close(fd);
    return r < 0 ? err_set(&d->err, r, "%s: %s", name, strerror(-r)) : 0;
}

static const char demo_readme[] =
    "This directory was made by `dimg demo`. Every file is a small sample image:\n"
    "\n"
    "  disk.qcow2     4 GiB qcow2 with an MBR, data, zero and compressed clusters,\n"
    "                 and two snapshots (press t)\n"
    "  base.qcow2 <- mid.qcow2 <- top.qcow2   a backing chain of three (press t)\n"
    "  sparse.raw     1 GiB sparse raw disk with an MBR (try A: append)\n"
    "  legacy.vdi, old.qcow, ancient.cow      one of each older format\n"
    "\n"
    "In dimg: Enter or m shows an image's allocation map, t the tree, c converts,\n"
    "R resizes, C checks, J lists jobs, ? shows every key. This file is not an image:\n"
    "dimg lists it as a plain file.\n";

/* A demo that failed half-way is removed again, so that the next run starts clean: only the
 * files this run created. */
static void demo_cleanup(struct demo *d, bool made_dir)
{
    for (int i = 0; demo_files[i]; i++) {
        if (!(d->made & (1u << i)))
            continue;
        char *p = demo_path(d, demo_files[i]);
        if (p)
            unlink(p);
        free(p);
    }
    if (made_dir)
        rmdir(d->dir);
}

/* Does dir hold the marker of an earlier run (a regular file, not a link)? */
static bool demo_is_ours(const char *dir)
{
    char *m = io_path_join(dir, DEMO_MARKER);
    struct stat st;
    bool ours = m && lstat(m, &st) == 0 && S_ISREG(st.st_mode);
    free(m);
    return ours;
}

/* 1 when dir has no entry besides . and .., 0 when it has, -errno when it cannot be read. */
static int demo_dir_empty(const char *dir)
{
    DIR *dp = opendir(dir);
    if (!dp)
        return -errno;
    int empty = 1;
    struct dirent *de;
    while (empty && (de = readdir(dp)))
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
            empty = 0;
    closedir(dp);
    return empty;
}

static int demo_fill_dir(struct demo *d, bool made_dir)
{
    int r = 0;
    if (demo_qcow2(d) < 0 || demo_chain(d) < 0 || demo_others(d) < 0 ||
        demo_text(d, "README.txt", demo_readme) < 0)
        r = -1;
    if (r == 0)
        r = demo_text(d, DEMO_MARKER, "made by dimg demo\n");
    if (r < 0)
        demo_cleanup(d, made_dir);
    return r;
}

/* Pick the directory and fill it: DIR when it is new, empty or an earlier demo (reused, 1);
 * else the first DIR/dimg-demo-N that is new or an earlier demo. *sub gets a malloc'd
 * d->dir when it is not DIR. 0 made, 1 reused, -1 with d->err set. */
static int demo_make(struct demo *d, char **sub)
{
    *sub = NULL;
    if (mkdir(d->dir, 0755) == 0)
        return demo_fill_dir(d, true);
    if (errno != EEXIST)
        return err_set(&d->err, -errno, "%s: %s", d->dir, strerror(errno));
    struct stat st;
    if (stat(d->dir, &st) < 0 || !S_ISDIR(st.st_mode))
        return err_set(&d->err, -ENOTDIR, "%s: %s", d->dir, strerror(ENOTDIR));
    if (demo_is_ours(d->dir))
        return 1; /* made before: reuse it as it is */
    int empty = demo_dir_empty(d->dir);
    if (empty < 0)
        return err_set(&d->err, empty, "%s: %s", d->dir, strerror(-empty));
    if (empty)
        return demo_fill_dir(d, false);
    /* The user's files stay untouched: the demo goes into a new directory beside them. */
    for (unsigned n = 1; n < 1000; n++) {
        char name[32];
        snprintf(name, sizeof name, "dimg-demo-%u", n);
        char *p = io_path_join(d->dir, name);
        if (!p)
            return err_set(&d->err, -ENOMEM, "out of memory");
        if (mkdir(p, 0755) == 0) {
            *sub = p;
            d->dir = p;
            return demo_fill_dir(d, true);
        }
        int e = errno;
        if (e == EEXIST && demo_is_ours(p)) {
            *sub = p;
            d->dir = p;
            return 1;
        }
        free(p);
        if (e != EEXIST)
            return err_set(&d->err, -e, "%s/%s: %s", d->dir, name, strerror(e));
    }
    return err_set(&d->err, -EEXIST, "%s: no free dimg-demo-N name below it", d->dir);
}

/* `dimg demo --help`. */
static const char demo_usage[] =
    "usage: dimg demo [--no-open] [DIR]\n"
    "\n"
    "Create DIR (default: dimg-demo) holding sample images that show every feature: a qcow2\n"
    "with data, zero and compressed clusters, two snapshots and a partition table, a backing\n"
    "chain of three, a sparse raw disk and one image of each other format; then open the\n"
    "interactive application in it (only on a terminal). An existing demo directory is\n"
    "reused.\n"
    "\n"
    "  --no-open           only create the directory\n";

static int cli_demo(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"help", no_argument, NULL, 'h'},
        {"no-open", no_argument, NULL, 'n'},
        {NULL, 0, NULL, 0},
    };
    bool open_app = true;
    int c;
    while ((c = cli_getopt(argc, argv, "h", longopts)) != -1) {
        switch (c) {
        case 'h': return cli_help("demo");
        case 'n': open_app = false; break;
        default: return 1;
        }
    }
    if (argc - optind > 1)
        return cli_usage_err("demo", "expecting at most one directory name");
    struct demo d = {.dir = optind < argc ? argv[optind] : "dimg-demo"};
    d.buf = malloc(MiB);
    if (!d.buf) {
        cli_err("out of memory");
        return 1;
    }
    char *sub = NULL;
    int r = demo_make(&d, &sub);
    free(d.buf);
    if (r < 0) {
        cli_err("demo: %s", d.err.msg);
        free(sub);
        return 1;
    }
    int rc = 0;
    if (open_app && isatty(STDIN_FILENO) && isatty(STDOUT_FILENO))
        rc = cli_tui_run(d.dir);
    else
        printf("%s demo images in %s/ - open them with: dimg %s\n", r == 1 ? "Kept the" : "Made",
               d.dir, d.dir);
    free(sub);
    return rc;
}

const struct cli_cmd cli_cmd_demo = {
    .name = "demo",
    .fn = cli_demo,
    .summary = "make a directory of sample images and open it",
    .usage = demo_usage,
};

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* test_scan.c: unit tests for core/scan: a directory of images made with dimg's own create
 * (qcow2, raw, vdi, qcow, cow, an overlay, compressed clusters, an MBR, a corrupt qcow2, a
 * text file, an archive, a link, a hidden file, a control character in a name) probed in the
 * background, every field checked once the wakeup fd says all are done; qemu-img snapshots;
 * QEMU-style OFD locks; reprobe; sorting and natural name order; escaping; a 10,000-file
 * directory that lists before it is probed and closes promptly mid-probe. */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/block/driver.h"
#include "core/scan/scan.h"
#include "core/base/esc.h"

#define KiB 1024ull
#define MiB (1024ull * 1024)
#define GiB (1024ull * MiB)

static char dirpath[1024];
static bool have_qemu;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static const char *dpath(const char *name)
{
    static char b[4][1200];
    static int i;
    char *p = b[i++ & 3];
    snprintf(p, sizeof b[0], "%s/%s", dirpath, name);
    return p;
}

/* Write pattern bytes [off, off+len) into an image through the core. */
static void put(const char *path, const char *fmt, uint64_t off, size_t len)
{
    struct img_err err = {0};
    struct img *img = img_open(path, fmt, IMG_OPEN_RW | IMG_OPEN_BACKING, &err);
    if (!img)
        fail_msg("open %s: %s", path, err.msg);
    uint8_t *b = malloc(len);
    tu_pattern(b, len, off, 3);
    if (img_write(img, off, b, len) < 0)
        fail_msg("write %s: %s", path, img_errmsg(img));
    assert_int_equal(img_flush(img), 0);
    free(b);
    img_close(img);
}

static void put_compressed(const char *path, uint64_t off, size_t len)
{
    struct img_err err = {0};
    struct img *img = img_open(path, "qcow2", IMG_OPEN_RW, &err);
    assert_non_null(img);
    uint8_t *b = calloc(1, len);
    memset(b, 'z', len / 2); /* compressible */
    assert_int_equal(img_write_compressed(img, off, b, len), 0);
    assert_int_equal(img_flush(img), 0);
    free(b);
    img_close(img);
}

static void write_file(const char *path, const void *buf, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, buf, n), (ssize_t)n);
    close(fd);
}

/* Wait on the wakeup fd until nothing is pending (fails after timeout seconds). Returns the
 * number of wakeups seen. */
static unsigned wait_all(struct scan_dir *d, double timeout)
{
    double t0 = now_s();
    unsigned wakeups = 0;
    for (;;) {
        struct pollfd p = {.fd = scan_wakeup_fd(d), .events = POLLIN};
        int r = poll(&p, 1, 200);
        if (r > 0) {
            wakeups++;
            scan_drain_wakeup(d);
        }
        if (scan_pending(d) == 0)
            break;
        if (now_s() - t0 > timeout)
            fail_msg("scan still has %zu pending after %.0f s", scan_pending(d), timeout);
    }
    return wakeups;
}

static const struct scan_entry *find(struct scan_dir *d, const char *name)
{
    for (size_t i = 0; i < scan_count(d); i++)
        if (strcmp(scan_entry(d, i)->name, name) == 0)
            return scan_entry(d, i);
    fail_msg("entry '%s' not listed", name);
    abort(); /* fail_msg does not return; this tells the compiler so */
}

static size_t find_idx(struct scan_dir *d, const char *name)
{
    for (size_t i = 0; i < scan_count(d); i++)
        if (strcmp(scan_entry(d, i)->name, name) == 0)
            return i;
    fail_msg("entry '%s' not listed", name);
    return 0;
}

static const struct scan_entry *done(struct scan_dir *d, const char *name, const char *fmt)
{
    const struct scan_entry *e = find(d, name);
    if (scan_entry_state(e) != SCAN_DONE)
        fail_msg("%s: state %d (%s)", name, (int)scan_entry_state(e), e->msg ? e->msg : "");
    assert_string_equal(e->format, fmt);
    return e;
}

static int setup(void **state)
{
    snprintf(dirpath, sizeof dirpath, "%s", tu_path("scan"));
    assert_int_equal(mkdir(dirpath, 0755), 0);
    have_qemu = tu_sh("qemu-img --version >/dev/null 2>&1") == 0;

    tu_create("qcow2", dpath("a.qcow2"), NULL, GiB, NULL, NULL);
    put(dpath("a.qcow2"), "qcow2", 0, 64 * KiB);
    put(dpath("a.qcow2"), "qcow2", MiB, 128 * KiB);
    put(dpath("a.qcow2"), "qcow2", 512 * MiB, 64 * KiB);

    tu_create("raw", dpath("b.raw"), NULL, 4 * MiB, NULL, NULL);
    put(dpath("b.raw"), "raw", MiB, 8 * KiB);

    tu_create("vdi", dpath("c.vdi"), NULL, 16 * MiB, NULL, NULL);
    put(dpath("c.vdi"), "vdi", 2 * MiB, MiB);

    tu_create("qcow", dpath("d.qcow"), NULL, 64 * MiB, NULL, NULL);
    put(dpath("d.qcow"), "qcow", 4 * MiB, 64 * KiB);

    tu_create("cow", dpath("e.cow"), NULL, 8 * MiB, NULL, NULL);
    put(dpath("e.cow"), "cow", 512 * KiB, 4 * KiB);

    tu_create("qcow2", dpath("overlay.qcow2"), NULL, GiB, "a.qcow2", "qcow2");
    put(dpath("overlay.qcow2"), "qcow2", 2 * MiB, 64 * KiB);

    tu_create("qcow2", dpath("comp.qcow2"), NULL, 16 * MiB, NULL, NULL);
    put_compressed(dpath("comp.qcow2"), 0, 64 * KiB);
    put_compressed(dpath("comp.qcow2"), 64 * KiB, 64 * KiB);

    /* A differencing vdi and its parent (linked by UUID), a vmdk descriptor with its extent. */
    tu_create("vdi", dpath("p.vdi"), NULL, 8 * MiB, NULL, NULL);
    tu_create("vdi", dpath("q.vdi"), NULL, 8 * MiB, "p.vdi", "vdi");
    tu_create("vmdk", dpath("v.vmdk"), "subformat=monolithicFlat", 8 * MiB, NULL, NULL);

    /* A raw disk with an MBR: one Linux partition at LBA 2048. */
    uint8_t mbr[512] = {0};
    mbr[446 + 4] = 0x83;
    mbr[446 + 8] = 0x00, mbr[446 + 9] = 0x08;   /* start 2048 */
    mbr[446 + 12] = 0x00, mbr[446 + 13] = 0x10; /* 4096 sectors */
    mbr[510] = 0x55, mbr[511] = 0xaa;
    write_file(dpath("disk.img"), mbr, sizeof mbr);
    assert_int_equal(truncate(dpath("disk.img"), 4 * MiB), 0);

    /* A qcow2 whose cluster_bits is out of range. */
    tu_create("qcow2", dpath("bad.qcow2"), NULL, MiB, NULL, NULL);
    const uint8_t cb[4] = {0, 0, 0, 40};
    tu_poke(dpath("bad.qcow2"), 20, cb, 4);

    const char text[] = "just some notes\n";
    write_file(dpath("notes.txt"), text, sizeof text - 1);
    const uint8_t gz[] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3};
    write_file(dpath("backup.bin"), gz, sizeof gz);     /* gzip by magic, not by name */
    write_file(dpath("vm.ova"), text, sizeof text - 1); /* archive by name */
    write_file(dpath(".hidden"), text, sizeof text - 1);
    write_file(dpath("ctl\001name.raw"), text, sizeof text - 1);
    assert_int_equal(mkdir(dpath("subdir"), 0755), 0);
    assert_int_equal(symlink("a.qcow2", dpath("link.qcow2")), 0);
    assert_int_equal(symlink("missing", dpath("dangling")), 0);
    /* Issue 15: text of a whole number of sectors is still a file; a raw disk whose data
     * begins with a tar stream stays a disk; sectors of zeros are a disk. */
    char text4k[4096];
    for (size_t i = 0; i < sizeof text4k; i++)
        text4k[i] = i % 64 == 63 ? '\n' : 'a' + (char)(i % 26);
    write_file(dpath("text4k.txt"), text4k, sizeof text4k);
    uint8_t tarhead[512] = {0};
    memcpy(tarhead, "file.txt", 8);
    memcpy(tarhead + 257, "ustar", 5);
    write_file(dpath("tardisk.raw"), tarhead, sizeof tarhead);
    assert_int_equal(truncate(dpath("tardisk.raw"), MiB), 0);
    write_file(dpath("tardisk.tar"), tarhead, sizeof tarhead); /* by name: an archive */
    assert_int_equal(truncate(dpath("tardisk.tar"), 10240), 0);
    write_file(dpath("zeros.img"), NULL, 0);
    assert_int_equal(truncate(dpath("zeros.img"), MiB), 0);
    /* A disk of whole MiB whose guest wrote text-like bytes first (tabs) is still a disk. */
    char tabs[4096];
    memset(tabs, '\t', sizeof tabs);
    write_file(dpath("tabs.raw"), tabs, sizeof tabs);
    assert_int_equal(truncate(dpath("tabs.raw"), 8 * MiB), 0);

    if (have_qemu) {
        assert_int_equal(tu_sh("qemu-img create -q -f qcow2 '%s' 32M && "
                               "qemu-img snapshot -c first '%s' && "
                               "qemu-img snapshot -c second '%s'",
                               dpath("snap.qcow2"), dpath("snap.qcow2"), dpath("snap.qcow2")),
                         0);
    }
    *state = NULL;
    return 0;
}

static void test_fields(void **state)
{
    size_t before_len;
    uint8_t *before = tu_read_file(dpath("a.qcow2"), &before_len);
    struct img_err err = {0};
    double t0 = now_s();
    struct scan_dir *d = scan_open(dirpath, 0, &err);
    if (!d)
        fail_msg("scan_open: %s", err.msg);
    unsigned wakeups = wait_all(d, 60);
    print_message("probed %zu entries in %.3f s, %u wakeups\n", scan_count(d), now_s() - t0,
                  wakeups);
    assert_true(wakeups >= 1);

    /* The listing: sorted naturally, ".." first, "." never. */
    assert_true(scan_entry(d, 0)->is_dotdot);
    assert_true(scan_entry(d, 0)->is_dir);
    for (size_t i = 0; i < scan_count(d); i++) {
        assert_string_not_equal(scan_entry(d, i)->name, ".");
        if (i > 1)
            assert_true(scan_name_cmp(scan_entry(d, i - 1)->name, scan_entry(d, i)->name) < 0);
    }
    assert_null(scan_entry(d, scan_count(d)));

    const struct scan_entry *e = done(d, "a.qcow2", "qcow2");
    assert_int_equal(e->virtual_size, GiB);
    assert_int_equal(e->alloc_bytes, 256 * KiB);
    assert_int_equal(e->alloc_walked, GiB);
    assert_int_equal(e->cluster_size, 65536);
    assert_string_equal(e->version, "1.1");
    assert_int_equal(e->flags, 0);
    assert_null(e->backing);
    assert_int_equal(e->size, tu_file_size(dpath("a.qcow2")));
    assert_int_equal(e->disk_bytes, tu_alloc_bytes(dpath("a.qcow2")));
    assert_false(e->is_dir || e->is_symlink || e->hidden);
    assert_true(S_ISREG(e->mode));
    struct stat st;
    assert_int_equal(stat(dpath("a.qcow2"), &st), 0);
    assert_int_equal(e->mtime_sec, st.st_mtim.tv_sec);
    assert_int_equal(e->mtime_nsec, st.st_mtim.tv_nsec);

    /* The child names its parent by UUID; the scan reports both so the tree can link them. */
    const struct scan_entry *pv = done(d, "p.vdi", "vdi"), *qv = done(d, "q.vdi", "vdi");
    assert_int_equal(strlen(pv->uuid), 36);
    assert_string_equal(qv->parent_uuid, pv->uuid);
    assert_string_equal(pv->parent_uuid, "");
    assert_true(qv->flags & SCAN_F_BACKING);
    /* A vmdk descriptor opens in the (untrusted) scan: its extent lies beside it. */
    e = done(d, "v.vmdk", "vmdk");
    assert_int_equal(e->virtual_size, 8 * MiB);

    e = done(d, "b.raw", "raw");
    assert_int_equal(e->virtual_size, 4 * MiB);
    assert_int_equal(e->alloc_bytes, 8 * KiB);
    assert_int_equal(e->flags, SCAN_F_RAW_GUESS);

    e = done(d, "c.vdi", "vdi");
    assert_int_equal(e->virtual_size, 16 * MiB);
    assert_int_equal(e->alloc_bytes, MiB);
    assert_int_equal(e->cluster_size, MiB);

    e = done(d, "d.qcow", "qcow");
    assert_int_equal(e->virtual_size, 64 * MiB);
    assert_int_equal(e->alloc_bytes, 64 * KiB);

    e = done(d, "e.cow", "cow");
    assert_int_equal(e->virtual_size, 8 * MiB);
    assert_int_equal(e->alloc_bytes, 4 * KiB);

    e = done(d, "overlay.qcow2", "qcow2");
    assert_int_equal(e->flags, SCAN_F_BACKING);
    assert_string_equal(e->backing, "a.qcow2");
    assert_int_equal(e->alloc_bytes, 64 * KiB); /* its own layer only */

    e = done(d, "comp.qcow2", "qcow2");
    assert_true(e->flags & SCAN_F_COMPRESSED);
    assert_int_equal(e->alloc_bytes, 128 * KiB);

    e = done(d, "disk.img", "raw");
    assert_int_equal(e->flags, SCAN_F_RAW_GUESS | SCAN_F_PTABLE);

    e = find(d, "bad.qcow2");
    assert_int_equal(scan_entry_state(e), SCAN_ERROR);
    assert_non_null(e->msg);
    print_message("bad.qcow2: %s\n", e->msg);
    assert_non_null(strstr(e->msg, "cluster"));
    assert_null(strchr(e->msg, '\n'));
    assert_null(strstr(e->msg, "/proc/self")); /* the descriptor path is not shown */
    assert_null(e->format);

    e = done(d, "notes.txt", "raw");
    assert_int_equal(e->flags, SCAN_F_RAW_GUESS | SCAN_F_PLAIN);
    assert_int_equal(e->virtual_size, 16); /* the file size */
    e = done(d, "backup.bin", "raw");
    assert_int_equal(e->flags, SCAN_F_RAW_GUESS | SCAN_F_ARCHIVE);
    e = done(d, "vm.ova", "raw");
    assert_true(e->flags & SCAN_F_ARCHIVE);

    e = done(d, ".hidden", "raw");
    assert_true(e->hidden);
    e = done(d, "ctl\001name.raw", "raw");
    assert_string_equal(e->display, "ctl\\x01name.raw");

    e = find(d, "subdir");
    assert_true(e->is_dir);
    assert_int_equal(scan_entry_state(e), SCAN_NONE);

    e = done(d, "link.qcow2", "qcow2");
    assert_true(e->is_symlink);
    assert_int_equal(e->alloc_bytes, 256 * KiB);
    assert_int_equal(e->size, tu_file_size(dpath("a.qcow2"))); /* the target's size */
    assert_false(e->is_dangling);
    assert_string_equal(e->link_target, "a.qcow2");
    e = find(d, "dangling");
    assert_true(e->is_symlink);
    assert_true(e->is_dangling);
    assert_string_equal(e->link_target, "missing");
    assert_int_equal(scan_entry_state(e), SCAN_NONE);

    e = done(d, "text4k.txt", "raw");
    assert_int_equal(e->flags, SCAN_F_RAW_GUESS | SCAN_F_PLAIN);
    e = done(d, "tardisk.raw", "raw");
    assert_int_equal(e->flags, SCAN_F_RAW_GUESS);
    e = done(d, "tardisk.tar", "raw");
    assert_int_equal(e->flags, SCAN_F_RAW_GUESS | SCAN_F_ARCHIVE);
    e = done(d, "zeros.img", "raw");
    assert_int_equal(e->flags, SCAN_F_RAW_GUESS);
    e = done(d, "tabs.raw", "raw");
    assert_int_equal(e->flags, SCAN_F_RAW_GUESS);
    e = find(d, "a.qcow2");
    assert_null(e->link_target);

    if (have_qemu) {
        e = done(d, "snap.qcow2", "qcow2");
        assert_int_equal(e->flags, SCAN_F_SNAPSHOTS);
        assert_int_equal(e->nb_snapshots, 2);
    }
    scan_close(d);

    /* Probing never writes. */
    size_t after_len;
    uint8_t *after = tu_read_file(dpath("a.qcow2"), &after_len);
    assert_int_equal(before_len, after_len);
    assert_memory_equal(before, after, before_len);
    free(before);
    free(after);
}

static void test_snapshots_absent_qemu(void **state)
{
    if (!have_qemu)
        skip();
}

/* QEMU holds OFD locks on bytes 100.. (permissions) and 200.. (shared permissions). */
static void test_locked(void **state)
{
    tu_create("qcow2", dpath("locked-w.qcow2"), NULL, MiB, NULL, NULL);
    tu_create("qcow2", dpath("locked-r.qcow2"), NULL, MiB, NULL, NULL);
    int wfd = open(dpath("locked-w.qcow2"), O_RDWR);
    int rfd = open(dpath("locked-r.qcow2"), O_RDONLY);
    assert_true(wfd >= 0 && rfd >= 0);
    struct flock wl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 100, .l_len = 1};
    struct flock rl = {.l_type = F_RDLCK, .l_whence = SEEK_SET, .l_start = 201, .l_len = 1};
    assert_int_equal(fcntl(wfd, F_OFD_SETLK, &wl), 0);
    assert_int_equal(fcntl(rfd, F_OFD_SETLK, &rl), 0);

    struct img_err err = {0};
    struct scan_dir *d = scan_open(dirpath, 0, &err);
    assert_non_null(d);
    wait_all(d, 60);
    assert_true(done(d, "locked-w.qcow2", "qcow2")->flags & SCAN_F_LOCKED);
    assert_true(done(d, "locked-r.qcow2", "qcow2")->flags & SCAN_F_LOCKED);
    assert_false(done(d, "a.qcow2", "qcow2")->flags & SCAN_F_LOCKED);

    /* The scan took no lock of its own: ours can still be upgraded and re-taken. */
    struct flock probe = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 100, .l_len = 200};
    assert_int_equal(fcntl(wfd, F_OFD_SETLK, &probe), 0);

    /* Released: a reprobe sees no lock. */
    close(wfd);
    close(rfd);
    size_t i = find_idx(d, "locked-w.qcow2");
    assert_int_equal(scan_reprobe(d, i), 0);
    wait_all(d, 30);
    assert_false(done(d, "locked-w.qcow2", "qcow2")->flags & SCAN_F_LOCKED);
    scan_close(d);
    unlink(dpath("locked-w.qcow2"));
    unlink(dpath("locked-r.qcow2"));
}

static void test_reprobe(void **state)
{
    struct img_err err = {0};
    tu_create("qcow2", dpath("grow.qcow2"), NULL, 64 * MiB, NULL, NULL);
    struct scan_dir *d = scan_open(dirpath, 0, &err);
    assert_non_null(d);
    wait_all(d, 60);
    size_t i = find_idx(d, "grow.qcow2");
    assert_int_equal(scan_entry(d, i)->alloc_bytes, 0);
    put(dpath("grow.qcow2"), "qcow2", 0, 192 * KiB);
    assert_int_equal(scan_reprobe(d, i), 0);
    wait_all(d, 30);
    assert_int_equal(done(d, "grow.qcow2", "qcow2")->alloc_bytes, 192 * KiB);
    /* Corrupt it: the reprobe turns the entry into an error. */
    const uint8_t cb[4] = {0, 0, 0, 3};
    tu_poke(dpath("grow.qcow2"), 20, cb, 4);
    assert_int_equal(scan_reprobe(d, i), 0);
    wait_all(d, 30);
    assert_int_equal(scan_entry_state(scan_entry(d, i)), SCAN_ERROR);
    assert_int_equal(scan_reprobe(d, find_idx(d, "subdir")), -EINVAL);
    assert_int_equal(scan_reprobe(d, scan_count(d)), -EINVAL);
    scan_close(d);
    unlink(dpath("grow.qcow2"));
}

static void test_open_flags_and_errors(void **state)
{
    struct img_err err = {0};
    struct scan_dir *d = scan_open(dirpath, SCAN_OPEN_NOPROBE | SCAN_OPEN_NOHIDDEN, &err);
    assert_non_null(d);
    assert_int_equal(scan_pending(d), 0);
    struct pollfd p = {.fd = scan_wakeup_fd(d), .events = POLLIN};
    assert_int_equal(poll(&p, 1, 0), 1); /* nothing to wait for, said at once */
    for (size_t i = 0; i < scan_count(d); i++) {
        assert_int_equal(scan_entry_state(scan_entry(d, i)), SCAN_NONE);
        assert_false(scan_entry(d, i)->hidden);
    }
    assert_true(scan_entry(d, 0)->is_dotdot); /* ".." is not hidden */
    assert_int_equal(scan_reprobe(d, 1), -ECANCELED);
    scan_close(d);

    assert_null(scan_open(dpath("no-such-dir"), 0, &err));
    assert_int_equal(err.code, -ENOENT);
    assert_null(scan_open(dpath("notes.txt"), 0, &err));
    assert_int_equal(err.code, -ENOTDIR);

    /* The root has no "..". */
    d = scan_open("/", SCAN_OPEN_NOPROBE, &err);
    assert_non_null(d);
    for (size_t i = 0; i < scan_count(d); i++)
        assert_false(scan_entry(d, i)->is_dotdot);
    scan_close(d);
}

static void test_sort(void **state)
{
    struct img_err err = {0};
    struct scan_dir *d = scan_open(dirpath, 0, &err);
    assert_non_null(d);
    wait_all(d, 60);
    size_t n = scan_count(d);
    size_t *idx = malloc(n * sizeof *idx);
    for (size_t i = 0; i < n; i++)
        idx[i] = n - 1 - i;

    assert_int_equal(scan_sort(d, idx, n, SCAN_SORT_NAME, false, false), 0);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(idx[i], i); /* entries come sorted by name already */

    assert_int_equal(scan_sort(d, idx, n, SCAN_SORT_SIZE, true, true), 0);
    assert_true(scan_entry(d, idx[0])->is_dotdot);
    size_t k = 1;
    while (k < n && scan_entry(d, idx[k])->is_dir)
        k++;
    assert_string_equal(scan_entry(d, idx[k - 1])->name, "subdir");
    for (size_t i = k + 1; i < n; i++)
        assert_true(scan_entry(d, idx[i - 1])->size >= scan_entry(d, idx[i])->size);

    assert_int_equal(scan_sort(d, idx, n, SCAN_SORT_NAME, true, false), 0);
    assert_true(scan_entry(d, idx[0])->is_dotdot);
    for (size_t i = 2; i < n; i++)
        assert_true(scan_name_cmp(scan_entry(d, idx[i - 1])->name, scan_entry(d, idx[i])->name) >
                    0);

    assert_int_equal(scan_sort(d, idx, n, SCAN_SORT_FORMAT, false, false), 0);
    const char *prev = "";
    bool in_unprobed = false;
    for (size_t i = 1; i < n; i++) {
        const struct scan_entry *e = scan_entry(d, idx[i]);
        if (scan_entry_state(e) != SCAN_DONE) {
            in_unprobed = true;
            continue;
        }
        assert_false(in_unprobed); /* errors, dirs and links to nothing come last */
        assert_true(strcmp(prev, e->format) <= 0);
        prev = e->format;
    }

    assert_int_equal(scan_sort(d, idx, n, SCAN_SORT_VSIZE, false, false), 0);
    assert_string_equal(scan_entry(d, idx[n - 1])->format, "qcow2"); /* 1 GiB ones last */
    assert_int_equal(scan_entry(d, idx[n - 1])->virtual_size, GiB);

    assert_int_equal(scan_sort(d, idx, n, SCAN_SORT_MTIME, false, false), 0);
    for (size_t i = 2; i < n; i++)
        assert_true(scan_entry(d, idx[i - 1])->mtime_sec <= scan_entry(d, idx[i])->mtime_sec);
    free(idx);
    scan_close(d);
}

static void test_name_cmp_and_escape(void **state)
{
    assert_true(scan_name_cmp("disk9", "disk10") < 0);
    assert_true(scan_name_cmp("disk10", "disk9") > 0);
    assert_true(scan_name_cmp("Disk2", "disk10") < 0);
    assert_true(scan_name_cmp("a", "B") < 0);
    assert_true(scan_name_cmp("a01", "a1") < 0);
    assert_true(scan_name_cmp("a1", "a01") > 0);
    assert_true(scan_name_cmp("x", "x") == 0);
    assert_true(scan_name_cmp("x", "x1") < 0);
    assert_true(scan_name_cmp("v1.2.10", "v1.2.9") > 0);
    assert_true(scan_name_cmp("99999999999999999999999", "100000000000000000000000") < 0);

    char *s = esc_dup("a\tb\nc\x1b[31m\x7f", 11);
    assert_string_equal(s, "a\\tb\\nc\\e[31m\\x7f");
    free(s);
    s = esc_dup("caf\xc3\xa9 \xff\xc3", 8); /* valid é kept, stray bytes escaped */
    assert_string_equal(s, "caf\xc3\xa9 \\xff\\xc3");
    free(s);
    s = esc_dup("x\xc2\x9by\xe2\x80\xaez", 8); /* C1 CSI and a bidi override */
    assert_string_equal(s, "x\\xc2\\x9by\\xe2\\x80\\xaez");
    free(s);
    s = esc_dup("nul\0x", 5);
    assert_string_equal(s, "nul\\x00x");
    free(s);
}

/* 10,000 files: listed at once, probed in the background, closed promptly mid-probe. */
static void test_many(void **state)
{
    char big[1100];
    snprintf(big, sizeof big, "%s", tu_path("many"));
    assert_int_equal(mkdir(big, 0755), 0);
    const char text[] = "x";
    for (int i = 0; i < 10000; i++) {
        char p[1200];
        snprintf(p, sizeof p, "%s/f%d", big, i);
        write_file(p, text, 1);
    }
    struct img_err err = {0};
    double t0 = now_s();
    struct scan_dir *d = scan_open(big, 0, &err);
    double t_list = now_s() - t0;
    assert_non_null(d);
    size_t pending_at_return = scan_pending(d);
    assert_int_equal(scan_count(d), 10001);
    assert_true(pending_at_return > 0);
    assert_string_equal(scan_entry(d, 1)->name, "f0");
    assert_string_equal(scan_entry(d, 10)->name, "f9");
    assert_string_equal(scan_entry(d, 11)->name, "f10");
    size_t pref[3] = {10000, 5000, 1};
    scan_prefer(d, pref, 3);
    unsigned wakeups = wait_all(d, 120);
    double t_all = now_s() - t0;
    print_message("10000 files: listed in %.3f s (%zu pending then), all probed in %.3f s, "
                  "%u wakeups\n",
                  t_list, pending_at_return, t_all, wakeups);
    for (size_t i = 1; i < scan_count(d); i++)
        assert_int_equal(scan_entry_state(scan_entry(d, i)), SCAN_DONE);
    scan_close(d);

    t0 = now_s();
    d = scan_open(big, 0, &err);
    assert_non_null(d);
    scan_close(d);
    double t_close = now_s() - t0;
    print_message("open + close mid-probe: %.3f s\n", t_close);
    assert_true(t_close < 2.0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_name_cmp_and_escape),
        cmocka_unit_test(test_fields),
        cmocka_unit_test(test_snapshots_absent_qemu),
        cmocka_unit_test(test_locked),
        cmocka_unit_test(test_reprobe),
        cmocka_unit_test(test_open_flags_and_errors),
        cmocka_unit_test(test_sort),
        cmocka_unit_test(test_many),
    };
    return cmocka_run_group_tests(tests, setup, tu_teardown);
}

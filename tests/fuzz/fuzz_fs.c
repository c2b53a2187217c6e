/* SPDX-License-Identifier: GPL-2.0-or-later */
/* fuzz_fs.c: the one libFuzzer target for the guest filesystem readers (core/fs/), built once
 * per setup by tests/fuzz/CMakeLists.txt:
 *   FUZZ_FS      the readers to try (fs_driver.name, comma-separated: "fat,exfat"); each opens
 *                the input as a volume through fs_open_with, so its probe must claim it, as
 *                in real use. Undefined: the input is a whole disk, and its volumes are listed
 *                (partition tables, LVM, every probe) and the filesystem there is opened.
 *   FUZZ_PAD     the input is only the head of a volume: the memfd holding it is extended with
 *                zeros to this many bytes, so that seeds stay under libFuzzer's 1 MiB while
 *                their volumes are larger (FAT32 needs 33 MiB);
 *   FUZZ_PAD_CLAIMED  the same, to the size the header claims (NTFS's sector count, ISO 9660's
 *                volume space size), at most FUZZ_PAD_MAX.
 * Then one bounded walk for every reader: names as the interface promises them, stat, reads at
 * the start and the middle of each file, links, extents and free ranges inside the volume,
 * structures, info. Hostile input must give an error, never a crash, a sanitizer report, a
 * hang or a huge allocation.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/base/bytes.h"
#include "core/fs/fs.h"

/* libntfs-3g leaks a few KB on some of ntfs_device_mount's failure paths (a runlist decoded in
 * ntfs_volume_startup, an inode opened for $MFTMirr): the library's, not dimg's; LeakSanitizer
 * is told so instead of stopping the run on them. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:libntfs-3g.so\n";
}

#define FUZZ_NODES_MAX 2000        /* nodes visited per input */
#define FUZZ_READ 65536            /* bytes read of each file at its start and middle */
#define FUZZ_CALLS_MAX 100000      /* extent, free-range and structure callbacks per input */
#define FUZZ_PAD_MAX (64ull << 20) /* the largest volume a claimed size pads to */

struct fuzz_walk {
    struct fs *fs;
    unsigned nodes, calls;
    uint8_t buf[FUZZ_READ];
};

/* A reader never reports bytes outside its volume, and a hostile volume cannot make it report
 * without end. */
static int fuzz_range(struct fuzz_walk *w, uint64_t vol_off, uint64_t len)
{
    uint64_t size = w->fs->vol->size;
    if (vol_off > size || len > size - vol_off)
        abort();
    return ++w->calls > FUZZ_CALLS_MAX;
}

static int fuzz_extent(void *ctx, uint64_t file_off, uint64_t vol_off, uint64_t len)
{
    (void)file_off;
    return fuzz_range(ctx, vol_off, len);
}

static int fuzz_free(void *ctx, uint64_t vol_off, uint64_t len)
{
    return fuzz_range(ctx, vol_off, len);
}

static int fuzz_struct(void *ctx, uint64_t vol_off, uint64_t len, const char *what)
{
    if (!what)
        abort(); /* every structure is named (exFAT's may be "") */
    return fuzz_range(ctx, vol_off, len);
}

static int fuzz_node(void *ctx, const char *path, const struct fs_dirent *e)
{
    (void)path;
    struct fuzz_walk *w = ctx;
    if (!fs_name_ok(e->name))
        abort(); /* the interface's promise */
    if (++w->nodes > FUZZ_NODES_MAX)
        return 1;
    if (e->st.type == FS_T_REG) {
        (void)fs_read(w->fs, e->st.ino, 0, w->buf, sizeof w->buf);
        (void)fs_read(w->fs, e->st.ino, e->st.size / 2, w->buf, sizeof w->buf);
        if (w->fs->drv->extents)
            (void)w->fs->drv->extents(w->fs, e->st.ino, fuzz_extent, w);
    } else if (e->st.type == FS_T_LNK) {
        char target[FS_PATH_MAX];
        (void)fs_readlink(w->fs, e->st.ino, target, sizeof target);
    }
    return 0;
}

static void fuzz_fs(struct fs *fs)
{
    static struct fuzz_walk w;
    struct fs_stat st;
    memset(&w, 0, sizeof w);
    w.fs = fs;
    if (fs_lookup(fs, "/", true, &st) == 0)
        (void)fs_walk(fs, st.ino, fuzz_node, &w);
    (void)fs_lookup(fs, "/a/../b/./c", true, &st);
    w.calls = 0;
    if (fs->drv->free_ranges)
        (void)fs->drv->free_ranges(fs, fuzz_free, &w);
    w.calls = 0;
    if (fs->drv->structures)
        (void)fs->drv->structures(fs, fuzz_struct, &w);
    if (fs->drv->info) {
        struct fs_vol_info info;
        memset(&info, 0, sizeof info);
        fs->drv->info(fs, &info);
    }
}

/* The size the volume's memfd is extended to (0: as it is). */
static uint64_t fuzz_pad(const uint8_t *d, size_t n)
{
#if defined(FUZZ_PAD)
    (void)d, (void)n;
    return FUZZ_PAD;
#elif defined(FUZZ_PAD_CLAIMED)
    uint64_t want = 0;
    if (n >= 512 && !memcmp(d + 3, "NTFS    ", 8))
        want = (le64_load(d + 0x28) + 1) * le16_load(d + 0x0b);
    else if (n >= 32768 + 84 && !memcmp(d + 32769, "CD001", 5))
        want = (uint64_t)le32_load(d + 32768 + 80) * 2048;
    return want > FUZZ_PAD_MAX ? FUZZ_PAD_MAX : want;
#else
    (void)d, (void)n;
    return 0;
#endif
}

#ifdef FUZZ_FS
static void fuzz_readers(const struct fs_vol *vol)
{
    char names[] = FUZZ_FS;
    for (char *save = NULL, *name = strtok_r(names, ",", &save); name;
         name = strtok_r(NULL, ",", &save)) {
        struct img_err err;
        struct fs *fs = NULL;
        if (vol->size && fs_open_with(vol, name, &fs, &err) == 0) {
            fuzz_fs(fs);
            fs_close(fs);
        }
    }
}
#else
static void fuzz_disk(struct img *img)
{
    struct img_err err;
    struct fs_vol *vol = NULL;
    struct fs *fs = NULL;
    if (img_size(img) && fs_vol_open(img, "", &vol, &err) == 0) {
        if (fs_open(vol, &fs, &err) == 0) {
            fuzz_fs(fs);
            fs_close(fs);
        }
        fs_vol_free(vol);
    }
}
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fd = memfd_create("fuzz-volume", MFD_CLOEXEC);
    if (fd < 0) {
        perror("fuzz: memfd_create");
        abort();
    }
    for (size_t done = 0; done < size;) {
        ssize_t n = write(fd, data + done, size - done);
        if (n <= 0)
            abort();
        done += (size_t)n;
    }
    uint64_t pad = fuzz_pad(data, size);
    if (pad > size && ftruncate(fd, (off_t)pad) != 0)
        abort();
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    struct img_err err;
    struct img *img = img_open(path, "raw", IMG_OPEN_UNTRUSTED | IMG_OPEN_FORCE_SHARE, &err);
    if (img) {
#ifdef FUZZ_FS
        struct fs_seg seg = {0, 0, img_size(img)};
        struct fs_vol vol = {
            .img = img, .kind = FS_VOL_DISK, .size = seg.len, .nseg = 1, .seg = &seg};
        fuzz_readers(&vol);
#else
        fuzz_disk(img);
#endif
        img_close(img);
    }
    close(fd);
    return 0;
}

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* fuzz_fs.c: libFuzzer target for the guest filesystem readers (core/fs/). Each input is a raw
 * volume. FUZZ_FS names the reader (fs_driver.name: "ext", "fat", "exfat", "ntfs", "iso"):
 * the volume is opened with it alone; undefined, the input is a whole disk: its volumes are
 * listed (partition tables, LVM, every probe) and the filesystem there is opened. Then the
 * tree is walked (bounded), every file read in part, links read, and the optional slots
 * (extents, free ranges, info) called. Hostile input must give an error, never a crash, a
 * sanitizer report, a hang or a huge allocation. Built by tests/fuzz/CMakeLists.txt.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/fs/fs.h"

/* libntfs-3g leaks a few KB on some of its mount failure paths (see fuzz_fs_padded.c): the
 * library's, not dimg's. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:libntfs-3g.so\n";
}

#define FUZZ_NODES_MAX 2000 /* nodes visited per input */
#define FUZZ_READ 65536     /* bytes read of each file at its start and middle */

struct fuzz_walk {
    struct fs *fs;
    unsigned nodes;
    uint8_t buf[FUZZ_READ];
    unsigned calls; /* callbacks of extents and free ranges */
};

static int fuzz_count(void *ctx, uint64_t a, uint64_t b, uint64_t c)
{
    struct fuzz_walk *w = ctx;
    return ++w->calls > 100000;
}

static int fuzz_count_free(void *ctx, uint64_t a, uint64_t b)
{
    return fuzz_count(ctx, a, b, 0);
}

static int fuzz_count_struct(void *ctx, uint64_t a, uint64_t b, const char *what)
{
    return what && what[0] ? fuzz_count(ctx, a, b, 0) : -1;
}

static int fuzz_node(void *ctx, const char *path, const struct fs_dirent *e)
{
    struct fuzz_walk *w = ctx;
    if (++w->nodes > FUZZ_NODES_MAX)
        return 1;
    if (e->st.type == FS_T_REG) {
        (void)fs_read(w->fs, e->st.ino, 0, w->buf, sizeof w->buf);
        (void)fs_read(w->fs, e->st.ino, e->st.size / 2, w->buf, sizeof w->buf);
        if (w->fs->drv->extents)
            (void)w->fs->drv->extents(w->fs, e->st.ino, fuzz_count, w);
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
    if (fs->drv->free_ranges)
        (void)fs->drv->free_ranges(fs, fuzz_count_free, &w);
    if (fs->drv->structures)
        (void)fs->drv->structures(fs, fuzz_count_struct, &w);
    if (fs->drv->info) {
        struct fs_vol_info info;
        memset(&info, 0, sizeof info);
        fs->drv->info(fs, &info);
    }
}

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
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    struct img_err err;
    struct img *img = img_open(path, "raw", IMG_OPEN_UNTRUSTED | IMG_OPEN_FORCE_SHARE, &err);
    if (img) {
        struct fs_seg seg = {0, 0, img_size(img)};
        struct fs_vol disk = {
            .img = img, .kind = FS_VOL_DISK, .size = seg.len, .nseg = 1, .seg = &seg};
        struct fs *fs = NULL;
#ifdef FUZZ_FS
        if (seg.len && fs_open_with(&disk, FUZZ_FS, &fs, &err) == 0) {
            fuzz_fs(fs);
            fs_close(fs);
        }
#else
        struct fs_vol *vol = NULL;
        if (seg.len && fs_vol_open(img, "", &vol, &err) == 0) {
            if (fs_open(vol, &fs, &err) == 0) {
                fuzz_fs(fs);
                fs_close(fs);
            }
            fs_vol_free(vol);
        }
        (void)disk;
#endif
        img_close(img);
    }
    close(fd);
    return 0;
}

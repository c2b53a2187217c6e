/* SPDX-License-Identifier: GPL-2.0-or-later */
/* fuzz_fs_padded.c: libFuzzer target for a filesystem reader (core/fs/), one executable per driver:
 * FUZZ_FS names it (fuzz_ntfs: ntfs, the reader over libntfs-3g; fuzz_iso: iso, over
 * libarchive). The input is the head of a volume; the memfd holding it is extended with zeros
 * to the size the filesystem's own header claims (bounded by FUZZ_FS_MAX), so that seeds stay
 * under libFuzzer's 1 MiB while their volumes are larger. The target probes, opens, walks the
 * tree (bounded depth and entries), stats, reads every file (bounded bytes), reads links, and
 * asks the optional slots (info, extents, free ranges): whatever the library under the reader
 * crashes on, the reader must check first.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../unit/fs_test_vol.h"

#define FUZZ_FS_MAX (16u << 20) /* the largest volume the padding makes */
#define FUZZ_WALK_MAX 2000      /* nodes visited per input */
#define FUZZ_READ_MAX (1u << 20)

#define FUZZ_CAT2(a, b) a##b
#define FUZZ_CAT(a, b) FUZZ_CAT2(a, b)
#define FUZZ_DRV FUZZ_CAT(fs_driver_, FUZZ_FS)
extern const struct fs_driver FUZZ_DRV;

/* libntfs-3g leaks a few KB on some of ntfs_device_mount's failure paths (a runlist decoded in
 * ntfs_volume_startup, an inode opened for $MFTMirr): the library's, not dimg's; LeakSanitizer
 * is told so instead of stopping the run on them. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:libntfs-3g.so\n";
}

/* The volume size the header claims: NTFS's sector count, ISO 9660's volume space size. */
static uint64_t fuzz_claimed(const uint8_t *d, size_t n)
{
    if (n >= 512 && !memcmp(d + 3, "NTFS    ", 8))
        return (le64_load(d + 0x28) + 1) * le16_load(d + 0x0b);
    if (n >= 32768 + 84 && !memcmp(d + 32769, "CD001", 5))
        return (uint64_t)le32_load(d + 32768 + 80) * 2048;
    return 0;
}

struct fuzz_walk {
    struct fs *fs;
    unsigned visited, depth;
    uint8_t *buf;
};

static int fuzz_extent(void *ctx, uint64_t file_off, uint64_t vol_off, uint64_t len)
{
    const struct fs *fs = ctx;
    if (vol_off > fs->vol->size || len > fs->vol->size - vol_off)
        abort(); /* a reader must never report bytes outside its volume */
    return 0;
}

static int fuzz_free(void *ctx, uint64_t off, uint64_t len)
{
    return fuzz_extent(ctx, 0, off, len);
}

static int fuzz_node(void *ctx, const char *name, uint64_t ino)
{
    struct fuzz_walk *w = ctx;
    if (++w->visited > FUZZ_WALK_MAX)
        return 1;
    if (!name[0] || strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, ".."))
        abort(); /* the interface promises clean names */
    struct fs_stat st;
    if (w->fs->drv->stat(w->fs, ino, &st))
        return 0;
    if (st.type == FS_T_DIR && w->depth < 32) {
        w->depth++;
        (void)w->fs->drv->readdir(w->fs, ino, fuzz_node, w);
        w->depth--;
    } else if (st.type == FS_T_REG) {
        for (uint64_t off = 0; off < FUZZ_READ_MAX;) {
            ssize_t n = w->fs->drv->read(w->fs, ino, off, w->buf, 65536);
            if (n <= 0)
                break;
            off += (uint64_t)n;
        }
        if (w->fs->drv->extents)
            (void)w->fs->drv->extents(w->fs, ino, fuzz_extent, w->fs);
    } else if (st.type == FS_T_LNK) {
        char t[FS_PATH_MAX];
        (void)w->fs->drv->readlink(w->fs, ino, t, sizeof t);
    }
    return 0;
}

static void fuzz_volume(struct img *img)
{
    struct fs_vol vol;
    struct fs_seg seg;
    tfs_whole(img, &vol, &seg);
    static uint8_t head[FS_PROBE_BYTES];
    size_t hn = vol.size < sizeof head ? (size_t)vol.size : sizeof head;
    struct img_err err;
    if (fs_vol_read(&vol, 0, head, hn, &err) || !FUZZ_DRV.probe(&vol, head, hn))
        return;
    struct fs fs = {.drv = &FUZZ_DRV, .vol = &vol};
    if (FUZZ_DRV.open(&fs))
        return;
    struct fuzz_walk w = {.fs = &fs, .buf = malloc(65536)};
    uint64_t root;
    if (!FUZZ_DRV.root(&fs, &root))
        (void)FUZZ_DRV.readdir(&fs, root, fuzz_node, &w);
    struct fs_vol_info info;
    memset(&info, 0, sizeof info);
    if (FUZZ_DRV.info)
        FUZZ_DRV.info(&fs, &info);
    if (FUZZ_DRV.free_ranges)
        (void)FUZZ_DRV.free_ranges(&fs, fuzz_free, &fs);
    free(w.buf);
    FUZZ_DRV.close(&fs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint64_t want = fuzz_claimed(data, size);
    if (want > FUZZ_FS_MAX)
        want = FUZZ_FS_MAX;
    int fd = memfd_create("fuzz-fs", MFD_CLOEXEC);
    if (fd < 0 || write(fd, data, size) != (ssize_t)size ||
        (want > size && ftruncate(fd, (off_t)want) != 0)) {
        perror("fuzz_fs: memfd");
        abort();
    }
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    struct img_err err;
    struct img *img = img_open(path, "raw", 0, &err);
    if (img) {
        fuzz_volume(img);
        img_close(img);
    }
    close(fd);
    return 0;
}

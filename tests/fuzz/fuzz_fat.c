/* SPDX-License-Identifier: GPL-2.0-or-later */
/* fuzz_fat.c: libFuzzer target for the FAT12/16/32 and exFAT readers (core/fs/fat.c,
 * exfat.c, fat_util.c).
 *
 * Each input is the head of a raw volume: it is written to a file that is then extended with
 * zeros to FZF_VOL_SIZE (sparse), so that a seed need only hold the boot sector, the FATs and
 * the clusters in use while the volume's size stays what mkfs made. Both drivers' slots are
 * called directly (probe, open, then a bounded walk: stat, readdir, read, extents; info and
 * free ranges). Hostile input must give an error, never a crash, a sanitizer report, a hang or
 * a huge allocation. Seeds: tests/fuzz/seeds.sh (mkfs.vfat + mcopy, mkfs.exfat). Built by
 * tests/fuzz/CMakeLists.txt.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/fs/fs.h"

#define FZF_VOL_SIZE (40ull << 20) /* a FAT32 seed's volume */
#define FZF_NODES 400              /* nodes one input visits */
#define FZF_DEPTH 8
#define FZF_READ (64u << 10) /* bytes read of one file */

extern const struct fs_driver fs_driver_fat, fs_driver_exfat;
int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char fzf_path[64];

static void fzf_remove(void)
{
    unlink(fzf_path);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    snprintf(fzf_path, sizeof fzf_path, "/tmp/dimg-fuzz-fat-XXXXXX");
    int fd = mkstemp(fzf_path);
    if (fd < 0) {
        perror("fuzz: mkstemp");
        abort();
    }
    close(fd);
    atexit(fzf_remove);
    return 0;
}

struct fzf_walk {
    struct fs *fs;
    int nodes, depth;
};

static int fzf_ext(void *ctx, uint64_t file_off, uint64_t vol_off, uint64_t len)
{
    (void)ctx, (void)file_off, (void)vol_off, (void)len;
    return 0;
}

static int fzf_free(void *ctx, uint64_t vol_off, uint64_t len)
{
    (void)ctx, (void)vol_off, (void)len;
    return 0;
}

static int fzf_visit(void *ctx, const char *name, uint64_t ino)
{
    struct fzf_walk *w = ctx;
    struct fs *fs = w->fs;
    if (!name[0] || strchr(name, '/') || strlen(name) >= FS_NAME_MAX)
        abort(); /* the interface's promise */
    if (++w->nodes > FZF_NODES)
        return 1;
    struct fs_stat st;
    if (fs->drv->stat(fs, ino, &st) < 0)
        return 0;
    (void)fs->drv->extents(fs, ino, fzf_ext, NULL);
    if (st.type == FS_T_DIR && w->depth < FZF_DEPTH) {
        w->depth++;
        (void)fs->drv->readdir(fs, ino, fzf_visit, w);
        w->depth--;
    } else if (st.type == FS_T_REG) {
        static uint8_t buf[FZF_READ];
        uint64_t off = 0;
        ssize_t n;
        while (off < FZF_READ && (n = fs->drv->read(fs, ino, off, buf, 4096)) > 0)
            off += (uint64_t)n;
    }
    return 0;
}

static void fzf_run(const struct fs_vol *vol, const struct fs_driver *drv, const uint8_t *data,
                    size_t size)
{
    (void)drv->probe(vol, data, size < FS_PROBE_BYTES ? size : FS_PROBE_BYTES);
    struct fs fs = {.drv = drv, .vol = vol};
    if (drv->open(&fs) < 0)
        return;
    uint64_t root;
    struct fzf_walk w = {&fs, 0, 0};
    if (drv->root(&fs, &root) == 0)
        (void)drv->readdir(&fs, root, fzf_visit, &w);
    struct fs_vol_info info;
    memset(&info, 0, sizeof info);
    drv->info(&fs, &info);
    (void)drv->free_ranges(&fs, fzf_free, NULL);
    drv->close(&fs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fd = open(fzf_path, O_WRONLY | O_TRUNC);
    if (fd < 0 || (size && write(fd, data, size) != (ssize_t)size) ||
        ftruncate(fd, (off_t)(size > FZF_VOL_SIZE ? size : FZF_VOL_SIZE)) < 0) {
        perror("fuzz: writing the volume");
        abort();
    }
    close(fd);
    struct img_err err = {0};
    struct img *img = img_open(fzf_path, "raw", 0, &err);
    if (!img)
        return 0;
    struct fs_seg seg = {0, 0, img_size(img)};
    struct fs_vol vol = {.img = img, .kind = FS_VOL_DISK, .size = seg.len, .nseg = 1, .seg = &seg};
    fzf_run(&vol, &fs_driver_fat, data, size);
    fzf_run(&vol, &fs_driver_exfat, data, size);
    img_close(img);
    return 0;
}

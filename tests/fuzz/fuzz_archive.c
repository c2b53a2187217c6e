/* SPDX-License-Identifier: GPL-2.0-or-later */
/* fuzz_archive.c: libFuzzer target for the archive reader (core/archive*.c over libarchive).
 *
 * Each input is an archive file (tar, zip, OVA, or one compressed file: the first input byte
 * picks the name it is stored under, since a name ending in .gz is read as one compressed
 * file). It is listed (members probed, an OVF parsed), every safe member is read through a
 * bounded window, and the first one convert could stream is opened as an image and read,
 * block status included. Inflation is capped (DIMG_ARCHIVE_LIMIT=64M) so a bomb stops with an
 * error inside libFuzzer's time limit. Built by tests/fuzz/CMakeLists.txt.
 */
#include "core/archive/archive.h"
#include "core/block/driver.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FZA_READ_MAX (1u << 20) /* bytes read per member */

static char fza_dir[64];

static void fza_remove(void)
{
    rmdir(fza_dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    setenv("DIMG_ARCHIVE_LIMIT", "64M", 1);
    snprintf(fza_dir, sizeof fza_dir, "/tmp/dimg-fuzz-arc-XXXXXX");
    if (!mkdtemp(fza_dir)) {
        perror("fuzz: mkdtemp");
        abort();
    }
    atexit(fza_remove);
    return 0;
}

static void fza_read_members(const char *path)
{
    struct img_err err = {0};
    struct arc_reader *r = arc_walk_open(path, &err);
    if (!r)
        return;
    static uint8_t buf[65536];
    for (int i = 0; i < 64 && arc_walk_next(r, &err) == 1; i++) {
        const struct arc_member *m = arc_reader_member(r);
        if (!m || m->unsafe || m->type != ARC_T_FILE)
            continue;
        size_t total = 0;
        ssize_t n;
        while (total < FZA_READ_MAX && (n = arc_reader_read(r, buf, sizeof buf, &err)) > 0)
            total += (size_t)n;
    }
    arc_reader_close(r);
}

static void fza_stream(const char *path, const struct arc_list *l)
{
    for (size_t i = 0; i < l->n && i < 64; i++) {
        const struct arc_member *m = &l->v[i];
        if (m->unsafe || m->type != ARC_T_FILE || !m->format)
            continue;
        struct img_err err = {0};
        struct img *img = arc_open_stream_img(path, l->single ? NULL : m->name, NULL, &err);
        if (!img)
            continue;
        static uint8_t buf[65536];
        uint64_t end = img->size < FZA_READ_MAX ? img->size : FZA_READ_MAX;
        for (uint64_t off = 0; off < end; off += sizeof buf) {
            struct img_bs bs;
            size_t n = end - off < sizeof buf ? (size_t)(end - off) : sizeof buf;
            if (img_block_status(img, off, n, &bs) < 0 || img_read(img, off, buf, n) < 0)
                break;
        }
        img_close(img);
        return; /* one stream per input: each reopens the archive */
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const names[] = {"in.tar",      "in.ova",      "in.zip",       "in.tgz",
                                        "disk.raw.gz", "disk.raw.xz", "disk.raw.zst", "in.bin"};
    if (size < 1)
        return 0;
    char path[128];
    snprintf(path, sizeof path, "%s/%s", fza_dir, names[data[0] % 8]);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data + 1, 1, size - 1, f) != size - 1 || fclose(f) != 0) {
        perror("fuzz: write");
        abort();
    }
    struct arc_list l;
    memset(&l, 0, sizeof l);
    struct img_err err = {0};
    if (arc_list_read_flags(path, ARC_LIST_NO_COUNT, &l, &err) == 0) {
        fza_stream(path, &l);
        arc_list_free(&l);
    }
    fza_read_members(path);
    unlink(path);
    return 0;
}

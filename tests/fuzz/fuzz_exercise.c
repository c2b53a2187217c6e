/* SPDX-License-Identifier: GPL-2.0-or-later */
/* fuzz_exercise.c: what every image fuzz target (fuzz_img.c) and the fuzz regression test
 * (tests/unit/test_fuzz_regress.c) do with one image file: open it read-only and untrusted
 * from a memfd through /proc/self/fd (the way core/scan/scan.c reopens a checked descriptor), then
 * run every read-only entry point of core/block/img.h: info, snapshot list, block status over the
 * whole virtual size, reads (bounded), layout and check. Nothing is written to the image.
 * An input holding FUZZ_EXTENT_SEP is two files: the image before it, and after it a file named
 * FUZZ_EXTENT_NAME beside the image (a vmdk descriptor's extent, a backing file), written to a
 * private directory for the call and removed after it. A setup (fuzz_exercise_with) changes
 * the open flags and that file's name (fuzz_datafile: a qcow2's external data file) or
 * supplies a password (fuzz_crypt: encrypted images, unlocked and decrypted).
 */
#include "fuzz_exercise.h"

#include "core/block/driver.h"
#include "core/crypto/luks.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

/* Bounds that keep one input fast: block-status calls, bytes read in total, bytes per read. */
enum { FUZZ_BS_CALLS = 4096, FUZZ_READ_TOTAL = 4 << 20, FUZZ_READ_CHUNK = 64 << 10 };

static uint8_t fuzz_buf[FUZZ_READ_CHUNK];

/* Read up to FUZZ_READ_CHUNK bytes at off, counting against *budget. */
static void fuzz_read(struct img *img, uint64_t off, uint64_t len, uint64_t *budget)
{
    if (off >= img->size || *budget == 0)
        return;
    if (len > img->size - off)
        len = img->size - off;
    if (len > sizeof fuzz_buf)
        len = sizeof fuzz_buf;
    if (len > *budget)
        len = *budget;
    *budget -= len;
    (void)img_read(img, off, fuzz_buf, (size_t)len);
}

/* Block status across the whole range, reading the start of every run it reports, then the
 * last byte and a read across the middle that spans several clusters. */
static void fuzz_walk(struct img *img)
{
    uint64_t budget = FUZZ_READ_TOTAL;
    fuzz_read(img, 0, FUZZ_READ_CHUNK, &budget);
    uint64_t off = 0;
    for (int i = 0; i < FUZZ_BS_CALLS && off < img->size; i++) {
        struct img_bs bs;
        memset(&bs, 0, sizeof bs);
        if (img_block_status(img, off, img->size - off, &bs) < 0 || bs.len == 0)
            break;
        if (bs.len > img->size - off) {
            fprintf(stderr, "block status run %llu past the end\n", (unsigned long long)bs.len);
            abort();
        }
        fuzz_read(img, off, 4096, &budget);
        off += bs.len;
    }
    if (img->size) {
        fuzz_read(img, img->size - 1, 1, &budget);
        fuzz_read(img, img->size / 2 > 1000 ? img->size / 2 - 1000 : 0, 40000, &budget);
    }
}

static void fuzz_image(struct img *img, bool unlock)
{
    /* An encrypted image's key now (header parsing, key-slot unlocking); reads decrypt. */
    if (unlock)
        (void)img_unlock(img);
    struct img_info info;
    memset(&info, 0, sizeof info);
    (void)img_get_info(img, &info);

    fuzz_walk(img);

    struct img_region *reg = NULL;
    size_t nreg = 0;
    if (img_layout(img, &reg, &nreg) == 0)
        free(reg);

    struct img_check chk;
    memset(&chk, 0, sizeof chk);
    (void)img_check(img, &chk, 0);

    /* Internal snapshots: the list, then the disk as the first one saw it. */
    struct img_snap *snaps = NULL;
    size_t nsnap = 0;
    if (img_snap_list(img, &snaps, &nsnap) == 0) {
        if (nsnap > 0 && img_snap_load(img, snaps[0].id) == 0)
            fuzz_walk(img);
        free(snaps);
    }
}

/* Write all of data to fd (the fuzzer owns the process: any failure aborts). */
static void fuzz_write_all(int fd, const uint8_t *data, size_t size)
{
    size_t done = 0;
    while (done < size) {
        ssize_t n = write(fd, data + done, size - done);
        if (n <= 0) {
            perror("fuzz: write");
            abort();
        }
        done += (size_t)n;
    }
}

/* The directory the image's recorded names resolve against: per process, holding only
 * FUZZ_EXTENT_NAME when the input carries one; removed at exit. */
static char fuzz_dir[64];

static void fuzz_refdir_remove(void)
{
    rmdir(fuzz_dir);
}

static const char *fuzz_refdir(void)
{
    if (!fuzz_dir[0]) {
        snprintf(fuzz_dir, sizeof fuzz_dir, "/tmp/dimg-fuzz-XXXXXX");
        if (!mkdtemp(fuzz_dir)) {
            perror("fuzz: mkdtemp");
            abort();
        }
        atexit(fuzz_refdir_remove);
    }
    return fuzz_dir;
}

static int fuzz_password(void *ctx, const char *path, uint8_t *buf, size_t cap, size_t *len,
                         struct img_err *err)
{
    (void)ctx;
    (void)path;
    (void)err;
    *len = strlen(FUZZ_PASSWORD) < cap ? strlen(FUZZ_PASSWORD) : cap;
    memcpy(buf, FUZZ_PASSWORD, *len);
    return 0;
}

static const struct fuzz_setup fuzz_plain = {NULL, IMG_OPEN_UNTRUSTED, FUZZ_EXTENT_NAME, false};
static const struct fuzz_setup fuzz_crypt = {NULL, IMG_OPEN_UNTRUSTED, FUZZ_EXTENT_NAME, true};
/* Not untrusted: that would refuse the data file. Its name is still checked (regular files
 * only, no json:/protocols) and the image is opened read-only without its backing chain. */
static const struct fuzz_setup fuzz_datafile = {"qcow2", 0, "data.raw", false};

const struct fuzz_setup *fuzz_setup_named(const char *name)
{
    if (!strcmp(name, "crypt"))
        return &fuzz_crypt;
    if (!strcmp(name, "datafile"))
        return &fuzz_datafile;
    return NULL;
}

int fuzz_exercise(const uint8_t *data, size_t size, const char *fmt, char *err, size_t errlen)
{
    return fuzz_exercise_with(data, size, fmt, NULL, err, errlen);
}

int fuzz_exercise_with(const uint8_t *data, size_t size, const char *fmt,
                       const struct fuzz_setup *setup, char *err, size_t errlen)
{
    if (!setup)
        setup = &fuzz_plain;
    if (setup->password) {
        img_set_secret_provider(fuzz_password, NULL);
        luks_set_iter_limit(FUZZ_LUKS_ITER);
    } else {
        img_set_secret_provider(NULL, NULL);
    }
    int fd = memfd_create("fuzz-image", MFD_CLOEXEC);
    if (fd < 0) {
        perror("fuzz: memfd_create");
        abort();
    }
    const char *dir = fuzz_refdir();
    char ext[128];
    snprintf(ext, sizeof ext, "%s/%s", dir, setup->ref_name);
    const uint8_t *sep = memmem(data, size, FUZZ_EXTENT_SEP, strlen(FUZZ_EXTENT_SEP));
    if (sep) {
        const uint8_t *e = sep + strlen(FUZZ_EXTENT_SEP);
        int xfd = open(ext, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (xfd < 0) {
            perror("fuzz: extent file");
            abort();
        }
        fuzz_write_all(xfd, e, (size_t)(data + size - e));
        close(xfd);
        size = (size_t)(sep - data);
    }
    fuzz_write_all(fd, data, size);
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    struct img_err e;
    struct img *img = img_open_in(path, dir, fmt, setup->flags, &e);
    if (img) {
        fuzz_image(img, setup->password);
        img_close(img);
    } else if (err) {
        snprintf(err, errlen, "%s", e.msg);
    }
    close(fd);
    if (sep)
        unlink(ext);
    return img ? 0 : -1;
}

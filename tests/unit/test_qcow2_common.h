/* SPDX-License-Identifier: GPL-2.0-or-later */
/* test_qcow2_common.h: helpers shared by the qcow2, vdi and vmdk test programs (included,
 * not compiled on its own): whole-image comparison against `qemu-img convert -O raw`,
 * block-status runs against `qemu-img map --output=json`, qemu-img check JSON parsing, writes
 * mirrored into a raw reference file, and refused opens with one-line messages. */
#ifndef TEST_QCOW2_COMMON_H
#define TEST_QCOW2_COMMON_H

#include "testutil.h"

#include "core/block/driver.h"

#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct tq_run {
    uint64_t start, len;
    bool data, zero;
};

static struct img *tq_open(const char *path, unsigned flags)
{
    struct img_err err = {0};
    struct img *img = img_open(path, NULL, flags, &err);
    if (!img)
        fail_msg("open %s: %s", path, err.msg);
    return img;
}

/* How many bytes from off both sides read as zeros without reading them: the reference is a
 * hole there (qemu-img convert leaves holes for zeros) and dimg's block status says zeros with
 * no data (which tq_compare_map checks against qemu-img map). 0: compare by reading. Gigabyte
 * images are mostly such runs; reading them cost most of the unit tests' time. */
static uint64_t tq_zero_both(struct img *img, int fd, uint64_t off, uint64_t end)
{
    off_t data = lseek(fd, (off_t)off, SEEK_DATA);
    uint64_t hole_end = data < 0 ? end : (uint64_t)data;
    if (hole_end <= off)
        return 0;
    struct img_bs bs;
    if (img_block_status(img, off, hole_end - off, &bs) < 0)
        fail_msg("block status at %llu: %s", (unsigned long long)off, img_errmsg(img));
    return (bs.flags & IMG_BS_ZERO) && !(bs.flags & IMG_BS_DATA) ? bs.len : 0;
}

/* Read the whole image through dimg and compare with qemu-img's raw conversion, streaming
 * (images may be gigabytes): odd-sized reads so that they straddle cluster boundaries. */
__attribute__((unused)) static void tq_compare_raw(const char *path)
{
    const char *ref = tu_path("ref.raw");
    assert_int_equal(tu_sh("rm -f '%s' && qemu-img convert -O raw '%s' '%s'", ref, path, ref), 0);
    int fd = open(ref, O_RDONLY);
    assert_true(fd >= 0);
    uint64_t rlen = tu_file_size(ref);
    struct img *img = tq_open(path, IMG_OPEN_BACKING);
    assert_int_equal(img->size, rlen);
    size_t step = 777777;
    uint8_t *got = malloc(step), *want = malloc(step);
    for (uint64_t off = 0; off < rlen;) {
        uint64_t skip = tq_zero_both(img, fd, off, rlen);
        if (skip) {
            off += skip;
            continue;
        }
        size_t n = rlen - off < step ? (size_t)(rlen - off) : step;
        if (img_read(img, off, got, n) < 0)
            fail_msg("read %s at %llu: %s", path, (unsigned long long)off, img_errmsg(img));
        assert_int_equal(pread(fd, want, n, (off_t)off), (ssize_t)n);
        if (memcmp(got, want, n) != 0)
            for (size_t i = 0; i < n; i++)
                if (got[i] != want[i])
                    fail_msg("%s: byte %llu differs: dimg %02x qemu %02x", path,
                             (unsigned long long)(off + i), got[i], want[i]);
        off += n;
    }
    img_close(img);
    close(fd);
    unlink(ref);
    free(got);
    free(want);
}

static size_t tq_merge(struct tq_run *v, size_t n)
{
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (m && v[m - 1].data == v[i].data && v[m - 1].zero == v[i].zero &&
            v[m - 1].start + v[m - 1].len == v[i].start)
            v[m - 1].len += v[i].len;
        else
            v[m++] = v[i];
    }
    return m;
}

static bool tq_json_bool(const char *line, const char *key)
{
    const char *p = strstr(line, key);
    return p && strncmp(p + strlen(key), "true", 4) == 0;
}

static uint64_t tq_json_u64(const char *s, const char *key)
{
    const char *p = strstr(s, key);
    if (!p)
        return UINT64_MAX;
    return strtoull(p + strlen(key), NULL, 10);
}

/* Compare dimg's chain-resolved block status runs to qemu-img map. */
__attribute__((unused)) static void tq_compare_map(const char *path)
{
    char *out = tu_sh_out("qemu-img map --output=json '%s'", path);
    assert_non_null(out);
    size_t cap = 16, nq = 0, nd = 0;
    struct tq_run *q = malloc(cap * sizeof *q), *d = NULL;
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
        if (!strstr(line, "\"start\""))
            continue;
        if (nq == cap)
            q = realloc(q, (cap *= 2) * sizeof *q);
        q[nq].start = tq_json_u64(line, "\"start\": ");
        q[nq].len = tq_json_u64(line, "\"length\": ");
        q[nq].data = tq_json_bool(line, "\"data\": ");
        q[nq].zero = tq_json_bool(line, "\"zero\": ");
        nq++;
    }
    free(out);
    nq = tq_merge(q, nq);
    struct img *img = tq_open(path, IMG_OPEN_BACKING);
    size_t dcap = 16;
    d = malloc(dcap * sizeof *d);
    for (uint64_t off = 0; off < img->size;) {
        struct img_bs bs;
        if (img_block_status(img, off, img->size - off, &bs) < 0)
            fail_msg("block status %s at %llu: %s", path, (unsigned long long)off, img_errmsg(img));
        if (nd == dcap)
            d = realloc(d, (dcap *= 2) * sizeof *d);
        d[nd++] = (struct tq_run){off, bs.len, (bs.flags & IMG_BS_DATA) != 0,
                                  (bs.flags & IMG_BS_ZERO) != 0};
        off += bs.len;
    }
    img_close(img);
    nd = tq_merge(d, nd);
    bool same = nd == nq;
    for (size_t i = 0; same && i < nd; i++)
        same = d[i].start == q[i].start && d[i].len == q[i].len && d[i].data == q[i].data &&
               d[i].zero == q[i].zero;
    if (!same) {
        for (size_t i = 0; i < nq; i++)
            print_message("qemu %llu+%llu data=%d zero=%d\n", (unsigned long long)q[i].start,
                          (unsigned long long)q[i].len, q[i].data, q[i].zero);
        for (size_t i = 0; i < nd; i++)
            print_message("dimg %llu+%llu data=%d zero=%d\n", (unsigned long long)d[i].start,
                          (unsigned long long)d[i].len, d[i].data, d[i].zero);
        fail_msg("%s: block status differs from qemu-img map", path);
    }
    free(q);
    free(d);
}

/* Write a pattern (seed) to img and to the raw reference fd ref at the same place. */
__attribute__((unused)) static void tq_mirror_write(struct img *img, int ref, uint64_t off,
                                                    size_t len, unsigned seed)
{
    uint8_t *b = malloc(len);
    tu_pattern(b, len, off, seed);
    if (img_write(img, off, b, len) < 0)
        fail_msg("write %llu+%zu: %s", (unsigned long long)off, len, img_errmsg(img));
    assert_int_equal(pwrite(ref, b, len, (off_t)off), (ssize_t)len);
    free(b);
}

/* img_write_zeroes on img, zeros written to the reference. */
__attribute__((unused)) static void tq_mirror_zero(struct img *img, int ref, uint64_t off,
                                                   size_t len)
{
    uint8_t *b = calloc(1, len);
    if (img_write_zeroes(img, off, len) < 0)
        fail_msg("write_zeroes %llu+%zu: %s", (unsigned long long)off, len, img_errmsg(img));
    assert_int_equal(pwrite(ref, b, len, (off_t)off), (ssize_t)len);
    free(b);
}

/* A test image and its raw reference, written in step with a seed per write. */
struct tw {
    struct img *img;
    int ref;
    uint64_t cs; /* the image's cluster size, where a test needs it */
    unsigned seed;
};

__attribute__((unused)) static void tw_write(struct tw *t, uint64_t off, size_t len)
{
    tq_mirror_write(t->img, t->ref, off, len, ++t->seed);
}

__attribute__((unused)) static void tw_zero(struct tw *t, uint64_t off, size_t len)
{
    tq_mirror_zero(t->img, t->ref, off, len);
}

/* img_open(path, fmt, flags) must fail with one message line that contains want. */
__attribute__((unused)) static void tq_expect_open_fails(const char *path, const char *fmt,
                                                         unsigned flags, const char *want)
{
    struct img_err err = {0};
    struct img *img = img_open(path, fmt, flags, &err);
    if (img) {
        img_close(img);
        fail_msg("%s opened although it should have been refused (%s)", path, want);
    }
    assert_true(err.code < 0);
    assert_null(strchr(err.msg, '\n'));
    if (!strstr(err.msg, want))
        fail_msg("message '%s' does not mention '%s'", err.msg, want);
}

#endif

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* test_raw.c: unit tests for formats/raw.c through the public core API: create (sparse and
 * preallocated), byte-exact writes at odd offsets, block status against SEEK_DATA, hole
 * punching by write_zeroes, probing, range checks and the sector-0 guard for guessed raw. */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/block/driver.h"

static uint64_t alloc_bytes(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return (uint64_t)st.st_blocks * 512;
}

static void create_raw(const char *path, uint64_t size, const char *opts)
{
    struct img_opts o = {0};
    struct img_err err = {0};
    if (opts)
        assert_int_equal(img_opts_parse(&o, opts, &err), 0);
    struct img_create_req req = {.size = size, .opts = &o};
    int r = img_create("raw", path, &req, &err);
    if (r)
        fail_msg("img_create: %s", err.msg);
    img_opts_free(&o);
}

static struct img *open_or_fail(const char *path, const char *fmt, unsigned flags)
{
    struct img_err err = {0};
    struct img *img = img_open(path, fmt, flags, &err);
    if (!img)
        fail_msg("img_open(%s): %s", path, err.msg);
    return img;
}

static void test_create_sparse_and_prealloc(void **state)
{
    const char *p = tu_path("sparse.raw");
    create_raw(p, 64 << 20, NULL);
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_size, 64 << 20);
    assert_true(alloc_bytes(p) < 64 * 1024);

    const char *f = tu_path("falloc.raw");
    create_raw(f, 8 << 20, "preallocation=falloc");
    assert_true(alloc_bytes(f) >= 8 << 20);

    const char *u = tu_path("full.raw");
    create_raw(u, 8 << 20, "preallocation=full");
    assert_true(alloc_bytes(u) >= 8 << 20);
    size_t n;
    uint8_t *buf = tu_read_file(u, &n);
    assert_int_equal(n, 8 << 20);
    for (size_t i = 0; i < n; i++)
        if (buf[i])
            fail_msg("preallocation=full: byte %zu is %u", i, buf[i]);
    free(buf);

    struct img_opts o = {0};
    struct img_err err = {0};
    assert_int_equal(img_opts_parse(&o, "preallocation=metadata", &err), 0);
    struct img_create_req req = {.size = 1 << 20, .opts = &o};
    assert_int_equal(img_create("raw", tu_path("meta.raw"), &req, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "preallocation"));
    img_opts_free(&o);
}

static void test_write_odd_offsets(void **state)
{
    const char *p = tu_path("odd.raw");
    const size_t size = 1 << 20;
    create_raw(p, size, NULL);
    uint8_t *model = calloc(1, size), *buf = malloc(size);
    struct img *img = open_or_fail(p, "raw", IMG_OPEN_RW);
    static const struct {
        uint64_t off;
        size_t len;
    } w[] = {
        {1, 1}, {511, 3}, {4095, 4097}, {65537, 70001}, {size - 7, 7}, {300000, 1}, {0, 513},
    };
    for (size_t i = 0; i < sizeof w / sizeof *w; i++) {
        tu_pattern(buf, w[i].len, w[i].off, (unsigned)i + 1);
        assert_int_equal(img_write(img, w[i].off, buf, w[i].len), 0);
        memcpy(model + w[i].off, buf, w[i].len);
    }
    /* Read back through the handle at odd boundaries, then the file itself. */
    assert_int_equal(img_read(img, 3, buf, size - 5), 0);
    assert_memory_equal(buf, model + 3, size - 5);
    img_close(img);
    size_t n;
    uint8_t *file = tu_read_file(p, &n);
    assert_int_equal(n, size);
    assert_memory_equal(file, model, size);
    free(file);
    free(model);
    free(buf);
}

static void test_block_status_vs_seek_data(void **state)
{
    const char *p = tu_path("holes.raw");
    create_raw(p, 16 << 20, NULL);
    int fd = open(p, O_WRONLY);
    assert_true(fd >= 0);
    uint8_t blk[8192];
    memset(blk, 0xab, sizeof blk);
    static const off_t at[] = {0, 1 << 20, (3 << 20) + 4096, 10 << 20, (16 << 20) - 8192};
    for (size_t i = 0; i < sizeof at / sizeof *at; i++)
        assert_int_equal(pwrite(fd, blk, sizeof blk, at[i]), (ssize_t)sizeof blk);
    assert_int_equal(fsync(fd), 0);
    close(fd);

    struct img *img = open_or_fail(p, "raw", 0);
    int rfd = open(p, O_RDONLY);
    uint64_t off = 0, data = 0;
    unsigned runs = 0;
    while (off < img->size) {
        struct img_bs bs;
        assert_int_equal(img_block_status(img, off, img->size - off, &bs), 0);
        assert_true(bs.len > 0 && off + bs.len <= img->size);
        assert_true(bs.flags & IMG_BS_ALLOCATED);
        assert_true(bs.flags & IMG_BS_OFFSET_VALID);
        assert_int_equal(bs.host_off, off);
        assert_int_equal(bs.depth, 0);
        off_t d = lseek(rfd, (off_t)off, SEEK_DATA);
        if (bs.flags & IMG_BS_DATA) {
            assert_false(bs.flags & IMG_BS_ZERO);
            assert_int_equal(d, (off_t)off);
            off_t h = lseek(rfd, (off_t)off, SEEK_HOLE);
            assert_int_equal((uint64_t)h, off + bs.len);
            data += bs.len;
        } else {
            assert_true(bs.flags & IMG_BS_ZERO);
            assert_true(d < 0 || (uint64_t)d >= off + bs.len);
        }
        off += bs.len;
        runs++;
    }
    /* Five separate written extents, holes between them: 10 runs at least. */
    assert_true(runs >= 9);
    assert_true(data >= 5 * sizeof blk && data < (1 << 20));
    /* A bounded request never returns a run past its end. */
    struct img_bs bs;
    assert_int_equal(img_block_status(img, 100, 50, &bs), 0);
    assert_int_equal(bs.len, 50);
    close(rfd);
    img_close(img);
}

static void test_write_zeroes_punches(void **state)
{
    const char *p = tu_path("punch.raw");
    create_raw(p, 4 << 20, NULL);
    struct img *img = open_or_fail(p, "raw", IMG_OPEN_RW);
    uint8_t *buf = malloc(4 << 20);
    tu_pattern(buf, 4 << 20, 0, 7);
    assert_int_equal(img_write(img, 0, buf, 4 << 20), 0);
    assert_int_equal(img_flush(img), 0);
    uint64_t before = alloc_bytes(p);
    assert_int_equal(img_write_zeroes(img, 1 << 20, 2 << 20), 0);
    assert_int_equal(img_flush(img), 0);
    assert_true(alloc_bytes(p) <= before - (2 << 20));
    struct img_bs bs;
    assert_int_equal(img_block_status(img, 1 << 20, 2 << 20, &bs), 0);
    assert_true(bs.flags & IMG_BS_ZERO);
    assert_int_equal(bs.len, 2 << 20);
    /* Unaligned zeroing is exact to the byte. */
    assert_int_equal(img_write_zeroes(img, 5, 3), 0);
    memset(buf + (1 << 20), 0, 2 << 20);
    memset(buf + 5, 0, 3);
    uint8_t *back = malloc(4 << 20);
    assert_int_equal(img_read(img, 0, back, 4 << 20), 0);
    assert_memory_equal(back, buf, 4 << 20);
    img_close(img);
    free(buf);
    free(back);
}

static void test_probe(void **state)
{
    uint8_t buf[IMG_PROBE_BYTES];
    int score;
    tu_pattern(buf, sizeof buf, 0, 3);
    buf[0] = 0; /* never the qcow2 magic */
    const struct img_driver *d = img_probe_buf(buf, sizeof buf, &score);
    assert_non_null(d);
    assert_string_equal(d->name, "raw");
    assert_int_equal(score, 1);
    memset(buf, 0, sizeof buf);
    memcpy(buf, "QFI\xfb\0\0\0\3", 8);
    d = img_probe_buf(buf, sizeof buf, &score);
    assert_string_equal(d->name, "qcow2");
    assert_int_equal(score, 100);
    /* An empty file is raw too. */
    d = img_probe_buf(buf, 0, &score);
    assert_string_equal(d->name, "raw");
}

static void test_range_checks(void **state)
{
    const char *p = tu_path("range.raw");
    create_raw(p, 1 << 20, NULL);
    struct img *img = open_or_fail(p, "raw", IMG_OPEN_RW);
    uint8_t buf[16];
    assert_int_equal(img_read(img, (1 << 20) - 8, buf, 8), 0);
    assert_int_equal(img_read(img, (1 << 20) - 8, buf, 9), -EINVAL);
    assert_non_null(strstr(img_errmsg(img), "past the end"));
    assert_int_equal(img_read(img, UINT64_MAX - 2, buf, 8), -EINVAL);
    assert_int_equal(img_write(img, 1 << 20, buf, 1), -EINVAL);
    img_close(img);
    /* Read-only handles refuse writes. */
    img = open_or_fail(p, "raw", 0);
    assert_int_equal(img_write(img, 4096, buf, 1), -EROFS);
    img_close(img);
}

static void test_probed_raw_sector0(void **state)
{
    const char *p = tu_path("guess.raw");
    create_raw(p, 1 << 20, NULL);
    uint8_t buf[512];
    memset(buf, 0x5a, sizeof buf);
    struct img *img = open_or_fail(p, NULL, IMG_OPEN_RW);
    assert_true(img->probed);
    assert_int_equal(img_write(img, 0, buf, 16), -EPERM);
    assert_int_equal(img_write(img, 511, buf, 2), -EPERM);
    assert_int_equal(img_write_zeroes(img, 0, 512), -EPERM);
    assert_int_equal(img_write(img, 512, buf, 16), 0);
    img_close(img);

    img = open_or_fail(p, NULL, IMG_OPEN_RW | IMG_OPEN_FORCE_RAW0);
    assert_int_equal(img_write(img, 0, buf, 16), 0);
    img_close(img);
    img = open_or_fail(p, "raw", IMG_OPEN_RW);
    assert_false(img->probed);
    assert_int_equal(img_write(img, 100, buf, 16), 0);
    img_close(img);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_sparse_and_prealloc),
        cmocka_unit_test(test_write_odd_offsets),
        cmocka_unit_test(test_block_status_vs_seek_data),
        cmocka_unit_test(test_write_zeroes_punches),
        cmocka_unit_test(test_probe),
        cmocka_unit_test(test_range_checks),
        cmocka_unit_test(test_probed_raw_sector0),
    };
    int r = cmocka_run_group_tests(tests, NULL, NULL);
    tu_cleanup();
    return r;
}

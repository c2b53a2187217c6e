/* SPDX-License-Identifier: GPL-2.0-or-later */
/* test_convert_pipe.c: convert's read-ahead pipeline (core/ops/pipeline.c rpipe, used by
 * core/ops/ops_convert.c for every data run when threads > 1). Several threads give the same
 * bytes and the same allocation (data extents and holes of the raw output) as one thread,
 * the path without the pipeline, for raw, qcow2 and compressed qcow2 sources, odd image sizes,
 * chunk sizes that are no power of two and every kind of -S; progress never goes backwards
 * and ends at the size; a source truncated while the readers read it fails with the offset,
 * leaving no output. Also rpipe_zero_map's pieces. */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/block/driver.h"
#include "core/ops/ops.h"
#include "core/ops/pipeline.h"

/* 11 MiB and 1.5 KiB (no multiple of any chunk): pattern data, written zeros inside data on
 * and across chunk boundaries, a lone non-zero byte in a zero stretch, holes. */
#define SRC_SIZE ((11u << 20) + 1536)

static void mk_source(const char *path)
{
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, SRC_SIZE), 0);
    static const uint64_t ext[][2] = {
        {0, 3u << 20},                           /* data over the first 2 MiB boundary */
        {(4u << 20) - 512, 5u << 20},            /* data from just before 4 MiB to 9 MiB */
        {(10u << 20) + 4096, (1u << 20) - 2560}, /* up to the odd end */
    };
    for (size_t i = 0; i < 3; i++) {
        uint8_t *b = malloc(ext[i][1]);
        assert_non_null(b);
        tu_pattern(b, ext[i][1], ext[i][0], 5);
        assert_int_equal(pwrite(fd, b, ext[i][1], (off_t)ext[i][0]), (ssize_t)ext[i][1]);
        free(b);
    }
    /* Written zeros inside the data: a 64 KiB run across 2 MiB, 4 KiB blocks, a 1 MiB run
     * with one byte set in its middle, 512 bytes in a 4 KiB block. */
    static const uint64_t zer[][2] = {{(2u << 20) - 32768, 65536}, {8192, 4096},
                                      {(5u << 20) + 12288, 8192},  {(6u << 20), 1u << 20},
                                      {(7u << 20) + 1024, 512},    {(10u << 20) + 8192, 4096}};
    uint8_t *z = calloc(1, 1u << 20);
    assert_non_null(z);
    for (size_t i = 0; i < 6; i++)
        assert_int_equal(pwrite(fd, z, zer[i][1], (off_t)zer[i][0]), (ssize_t)zer[i][1]);
    free(z);
    assert_int_equal(pwrite(fd, "x", 1, (6u << 20) + 300000), 1);
    close(fd);
}

/* The data extents of a file as text ("off+len " for each), for comparing allocation. */
static char *extents(const char *path)
{
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    off_t size = lseek(fd, 0, SEEK_END), off = 0;
    size_t cap = 4096, n = 0;
    char *s = malloc(cap);
    assert_non_null(s);
    s[0] = 0;
    while (off < size) {
        off_t d = lseek(fd, off, SEEK_DATA);
        if (d < 0)
            break;
        off_t h = lseek(fd, d, SEEK_HOLE);
        assert_true(h > d);
        if (n + 64 > cap)
            assert_non_null(s = realloc(s, cap *= 2));
        n += (size_t)snprintf(s + n, cap - n, "%lld+%lld ", (long long)d, (long long)(h - d));
        off = h;
    }
    close(fd);
    return s;
}

struct prog {
    uint64_t last;
    bool backwards;
    const char *shrink; /* truncate this file once some progress is made */
};

static void prog_cb(void *ctx, const struct ops_progress *p)
{
    struct prog *g = ctx;
    if (p->done < g->last)
        g->backwards = true;
    g->last = p->done;
    if (g->shrink && p->done > 0) {
        assert_int_equal(truncate(g->shrink, 1 << 20), 0);
        g->shrink = NULL;
    }
}

static int convert(const char *src, const char *fmt, const char *dst, uint64_t sparse, size_t buf,
                   unsigned threads, struct prog *g, struct img_err *err)
{
    struct ops_progress p = {.cb = prog_cb, .ctx = g};
    struct ops_convert_req req = {.src = src,
                                  .src_fmt = fmt,
                                  .dst = dst,
                                  .dst_fmt = "raw",
                                  .sparse = sparse,
                                  .buf_size = buf,
                                  .threads = threads,
                                  .progress = &p};
    int r = ops_convert(&req, err);
    if (r == 0) {
        assert_int_equal(p.total, p.done);
        assert_false(g->backwards);
    }
    return r;
}

/* For each -S and chunk size: threads 2 and 9 against 1: equal bytes, equal extents, and the
 * bytes are the source's. */
static void check_source(const char *src, const char *fmt, const char *raw)
{
    static const uint64_t sparse[] = {4096, 512, 65536, 16u << 20, 0};
    static const size_t bufs[] = {0, 100352, (1u << 20) + 65536};
    for (size_t si = 0; si < 5; si++) {
        for (size_t bi = 0; bi < 3; bi++) {
            struct img_err err = {0};
            struct prog g = {0};
            const char *one = tu_path("one.raw");
            char onep[4096];
            snprintf(onep, sizeof onep, "%s", one);
            unlink(onep);
            if (convert(src, fmt, onep, sparse[si], bufs[bi], 1, &g, &err))
                fail_msg("one thread: %s", err.msg);
            tu_assert_same_file(raw, onep);
            char *want = extents(onep);
            for (unsigned th = 2; th <= 9; th += 7) { /* 9: more than the readers cap */
                char many[4096];
                snprintf(many, sizeof many, "%s", tu_path("many.raw"));
                unlink(many);
                memset(&g, 0, sizeof g);
                if (convert(src, fmt, many, sparse[si], bufs[bi], th, &g, &err))
                    fail_msg("%u threads: %s", th, err.msg);
                tu_assert_same_file(onep, many);
                char *got = extents(many);
                if (strcmp(want, got) != 0)
                    fail_msg("-S %llu, chunk %zu, %u threads: extents %s, one thread %s",
                             (unsigned long long)sparse[si], bufs[bi], th, got, want);
                free(got);
            }
            free(want);
        }
    }
}

static void test_raw_source(void **state)
{
    (void)state;
    const char *src = tu_path("src.raw");
    char s[4096];
    snprintf(s, sizeof s, "%s", src);
    mk_source(s);
    check_source(s, "raw", s);
}

static void test_qcow2_sources(void **state)
{
    (void)state;
    char raw[4096], q[4096], qc[4096];
    snprintf(raw, sizeof raw, "%s", tu_path("src.raw"));
    snprintf(q, sizeof q, "%s", tu_path("src.qcow2"));
    snprintf(qc, sizeof qc, "%s", tu_path("srcc.qcow2"));
    mk_source(raw);
    /* qemu-img rounds the size up to whole sectors: the raw reference is the same size. */
    assert_int_equal(tu_sh("qemu-img convert -O qcow2 '%s' '%s'", raw, q), 0);
    assert_int_equal(tu_sh("qemu-img convert -c -O qcow2 '%s' '%s'", raw, qc), 0);
    check_source(q, "qcow2", raw);
    check_source(qc, "qcow2", raw);
}

/* The source shrinks once the first chunk is written: the readers (which opened it before)
 * fail naming the offset, and neither DST nor DST.part is left. */
static void test_source_shrinks(void **state)
{
    (void)state;
    for (int k = 0; k < 2; k++) {
        char raw[4096], src[4096], dst[4096], part[4200];
        snprintf(raw, sizeof raw, "%s", tu_path("big.raw"));
        snprintf(src, sizeof src, "%s", tu_path(k ? "victim.qcow2" : "victim.raw"));
        snprintf(dst, sizeof dst, "%s", tu_path("out.raw"));
        snprintf(part, sizeof part, "%s.part", dst);
        int fd = open(raw, O_RDWR | O_CREAT | O_TRUNC, 0644);
        assert_true(fd >= 0);
        uint8_t *b = malloc(24u << 20);
        assert_non_null(b);
        tu_pattern(b, 24u << 20, 0, 3);
        assert_int_equal(write(fd, b, 24u << 20), 24 << 20);
        free(b);
        close(fd);
        if (k)
            assert_int_equal(tu_sh("qemu-img convert -O qcow2 '%s' '%s'", raw, src), 0);
        else
            assert_int_equal(rename(raw, src), 0);
        struct img_err err = {0};
        struct prog g = {.shrink = src};
        int r = convert(src, k ? "qcow2" : "raw", dst, 4096, 0, 3, &g, &err);
        assert_true(r < 0);
        if (!strstr(err.msg, "truncated while being read") || !strstr(err.msg, "offset"))
            fail_msg("want the truncation with its offset, got: %s", err.msg);
        assert_false(tu_exists(dst));
        assert_false(tu_exists(part));
        unlink(src);
    }
}

/* Pieces at absolute multiples of zblock, clipped to the buffer. */
static void test_zero_map(void **state)
{
    (void)state;
    uint8_t buf[10000] = {0}, map[16];
    buf[4096 - 100 - 1] = 1; /* in the piece ending at absolute 4096 */
    buf[9000] = 2;
    /* off 100: pieces [100,4096) [4096,8192) [8192,10100) */
    size_t n = rpipe_zero_map(100, buf, sizeof buf, 4096, map);
    assert_int_equal(n, 3);
    assert_int_equal(map[0], 0);
    assert_int_equal(map[1], 1);
    assert_int_equal(map[2], 0);
    n = rpipe_zero_map(0, buf, 512, 1u << 20, map);
    assert_int_equal(n, 1);
    assert_int_equal(map[0], 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_zero_map),
        cmocka_unit_test(test_raw_source),
        cmocka_unit_test(test_qcow2_sources),
        cmocka_unit_test(test_source_shrinks),
    };
    return cmocka_run_group_tests(tests, NULL, tu_teardown);
}

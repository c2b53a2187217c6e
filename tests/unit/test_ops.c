/* SPDX-License-Identifier: GPL-2.0-or-later */
/* test_ops.c: unit tests for core/ops_*.c on raw images: convert keeps content and holes,
 * -S 0 allocates, compressed output refused for raw, cancellation and a target failing
 * half-way leave neither DST.part nor a damaged DST; compare verdicts and mismatch offsets;
 * map runs merged and covering the image. */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/block/driver.h"
#include "core/ops/ops.h"

static bool exists(const char *p)
{
    struct stat st;
    return lstat(p, &st) == 0;
}

static uint64_t alloc_bytes(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return (uint64_t)st.st_blocks * 512;
}

/* A sparse raw file of size bytes with pattern data at the given extents. */
static void mk_sparse(const char *path, uint64_t size, const uint64_t (*ext)[2], size_t n)
{
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, (off_t)size), 0);
    for (size_t i = 0; i < n; i++) {
        uint8_t *b = malloc(ext[i][1]);
        tu_pattern(b, ext[i][1], ext[i][0], 9);
        assert_int_equal(pwrite(fd, b, ext[i][1], (off_t)ext[i][0]), (ssize_t)ext[i][1]);
        free(b);
    }
    close(fd);
}

static const uint64_t src_ext[][2] = {
    {0, 4096}, {70000, 5}, {1 << 20, 3 << 20}, {(6 << 20) + 512, 8192}, {(12 << 20) - 4096, 4096}};

static int run_convert(const char *src, const char *dst, uint64_t sparse, struct ops_progress *p,
                       size_t buf, struct img_err *err)
{
    struct ops_convert_req req = {
        .src = src,
        .src_fmt = "raw",
        .dst = dst,
        .dst_fmt = "raw",
        .sparse = sparse,
        .progress = p,
        .buf_size = buf,
    };
    return ops_convert(&req, err);
}

static void test_convert_raw_keeps_holes(void **state)
{
    const char *src = tu_path("c_src.raw"), *dst = tu_path("c_dst.raw");
    mk_sparse(src, 12 << 20, src_ext, 5);
    struct img_err err = {0};
    struct ops_progress p = {0};
    int r = run_convert(src, dst, OPS_CONVERT_DEFAULT_SPARSE, &p, 0, &err);
    if (r)
        fail_msg("convert: %s", err.msg);
    tu_assert_same_file(src, dst);
    assert_true(alloc_bytes(dst) <= alloc_bytes(src) + 65536);
    assert_int_equal(p.total, 12 << 20);
    assert_int_equal(p.done, 12 << 20);
    assert_false(exists(tu_path("c_dst.raw.part")));

    /* Written zeros inside data become holes with -S, stay allocated with -S 0. */
    const char *z = tu_path("c_zero.raw"), *z1 = tu_path("c_z1.raw"), *z0 = tu_path("c_z0.raw");
    int fd = open(z, O_RDWR | O_CREAT | O_TRUNC, 0644);
    uint8_t *zeros = calloc(1, 4 << 20);
    assert_int_equal(pwrite(fd, zeros, 4 << 20, 0), 4 << 20);
    close(fd);
    free(zeros);
    assert_int_equal(run_convert(z, z1, 4096, NULL, 0, &err), 0);
    tu_assert_same_file(z, z1);
    assert_true(alloc_bytes(z1) < 65536);
    assert_int_equal(run_convert(src, z0, 0, NULL, 0, &err), 0);
    tu_assert_same_file(src, z0);
    assert_true(alloc_bytes(z0) >= 12 << 20);
}

static void test_convert_refusals(void **state)
{
    const char *src = tu_path("r_src.raw");
    mk_sparse(src, 1 << 20, src_ext, 2);
    struct img_err err = {0};
    /* Onto itself. */
    assert_int_equal(run_convert(src, src, 4096, NULL, 0, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "source"));
    assert_false(exists(tu_path("r_src.raw.part")));
    /* -c on a format without compressed writes. */
    struct ops_convert_req req = {
        .src = src, .dst = tu_path("r_c.raw"), .dst_fmt = "raw", .compress = true, .sparse = 4096};
    assert_int_equal(ops_convert(&req, &err), -ENOTSUP);
    assert_false(exists(tu_path("r_c.raw")));
    /* -B without a backing format. */
    req.compress = false;
    req.backing = src;
    assert_int_equal(ops_convert(&req, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "backing format"));
    /* A stale .part is left alone. */
    const char *stale = tu_path("r_st.raw.part");
    int fd = open(stale, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_int_equal(write(fd, "stale", 5), 5);
    close(fd);
    assert_int_equal(run_convert(src, tu_path("r_st.raw"), 4096, NULL, 0, &err), -EEXIST);
    assert_false(exists(tu_path("r_st.raw")));
    size_t n;
    char *s = tu_read_file(stale, &n);
    assert_int_equal(n, 5);
    free(s);
}

struct cancel_ctx {
    atomic_int flag;
    unsigned calls;
};

static void cancel_after_some(void *vctx, const struct ops_progress *p)
{
    struct cancel_ctx *c = vctx;
    c->calls++;
    if (p->done >= (2u << 20))
        atomic_store(&c->flag, 1);
}

static void test_convert_cancel(void **state)
{
    const uint64_t full[][2] = {{0, 8 << 20}};
    const char *src = tu_path("k_src.raw"), *dst = tu_path("k_dst.raw");
    mk_sparse(src, 8 << 20, full, 1);
    struct cancel_ctx c = {.calls = 0};
    atomic_init(&c.flag, 0);
    struct ops_progress p = {.cb = cancel_after_some, .ctx = &c, .cancel = &c.flag};
    struct img_err err = {0};
    assert_int_equal(run_convert(src, dst, 4096, &p, 65536, &err), -ECANCELED);
    assert_non_null(strstr(err.msg, "cancelled"));
    assert_true(c.calls > 2);
    assert_true(p.done < (8u << 20));
    assert_false(exists(dst));
    assert_false(exists(tu_path("k_dst.raw.part")));
}

static void test_convert_failing_target(void **state)
{
    const uint64_t full[][2] = {{0, 8 << 20}};
    const char *src = tu_path("f_src.raw"), *dst = tu_path("f_dst.raw");
    mk_sparse(src, 8 << 20, full, 1);
    int fd = open(dst, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_int_equal(write(fd, "precious", 8), 8);
    close(fd);

    /* A file-size limit makes the target's writes fail half-way (EFBIG). */
    struct rlimit old, lim;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    lim = old;
    lim.rlim_cur = 1 << 20;
    void (*oldsig)(int) = signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    struct img_err err = {0};
    int r = run_convert(src, dst, 0, NULL, 65536, &err);
    setrlimit(RLIMIT_FSIZE, &old);
    signal(SIGXFSZ, oldsig);
    assert_true(r < 0);
    assert_true(err.msg[0] != 0);
    assert_false(exists(tu_path("f_dst.raw.part")));
    size_t n;
    char *s = tu_read_file(dst, &n);
    assert_int_equal(n, 8);
    assert_memory_equal(s, "precious", 8);
    free(s);

    /* An unwritable directory (only meaningful when not root). */
    if (geteuid() != 0) {
        const char *ro = tu_path("ro");
        assert_int_equal(mkdir(ro, 0555), 0);
        assert_true(run_convert(src, tu_path("ro/x.raw"), 4096, NULL, 0, &err) < 0);
        assert_false(exists(tu_path("ro/x.raw.part")));
        assert_false(exists(tu_path("ro/x.raw")));
        chmod(ro, 0755);
    }
}

static struct img *open_raw(const char *p)
{
    struct img_err err = {0};
    struct img *img = img_open(p, "raw", IMG_OPEN_BACKING, &err);
    if (!img)
        fail_msg("open %s: %s", p, err.msg);
    return img;
}

static void poke(const char *path, uint64_t off, uint8_t v)
{
    int fd = open(path, O_WRONLY);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, &v, 1, (off_t)off), 1);
    close(fd);
}

static void cmp_verdict(const char *a, const char *b, bool strict, enum ops_cmp_result want,
                        uint64_t want_off, bool want_size_mismatch)
{
    struct img *x = open_raw(a), *y = open_raw(b);
    struct ops_compare_res res;
    struct img_err err = {0};
    int r = ops_compare(x, y, strict, &res, NULL, &err);
    if (r)
        fail_msg("compare: %s", err.msg);
    if (res.result != want ||
        (want != OPS_CMP_IDENTICAL && want != OPS_CMP_SIZE && res.offset != want_off))
        fail_msg("compare %s %s: result %d at %llu, want %d at %llu", a, b, res.result,
                 (unsigned long long)res.offset, want, (unsigned long long)want_off);
    assert_int_equal(res.size_mismatch, want_size_mismatch);
    img_close(x);
    img_close(y);
}

static void test_compare(void **state)
{
    const char *a = tu_path("m_a.raw"), *b = tu_path("m_b.raw"), *c = tu_path("m_c.raw");
    const char *d = tu_path("m_d.raw"), *e = tu_path("m_e.raw");
    mk_sparse(a, 12 << 20, src_ext, 5);
    mk_sparse(b, 12 << 20, src_ext, 5);
    cmp_verdict(a, b, false, OPS_CMP_IDENTICAL, 0, false);
    cmp_verdict(a, b, true, OPS_CMP_IDENTICAL, 0, false);

    /* A different byte inside data, inside a hole, and in the last sector. */
    mk_sparse(c, 12 << 20, src_ext, 5);
    poke(c, 1000, 0xff);
    cmp_verdict(a, c, false, OPS_CMP_CONTENT, 512, false);
    mk_sparse(c, 12 << 20, src_ext, 5);
    poke(c, (9 << 20) + 777, 1);
    cmp_verdict(a, c, false, OPS_CMP_CONTENT, (9 << 20) + 512, false);
    cmp_verdict(c, a, false, OPS_CMP_CONTENT, (9 << 20) + 512, false);
    mk_sparse(c, 12 << 20, src_ext, 5);
    poke(c, (12 << 20) - 1, 0x55);
    cmp_verdict(a, c, false, OPS_CMP_CONTENT, (12 << 20) - 512, false);

    /* Different sizes: an all-zero tail is equal unless strict; a non-zero tail differs. */
    mk_sparse(d, 13 << 20, src_ext, 5);
    cmp_verdict(a, d, false, OPS_CMP_IDENTICAL, 0, true);
    cmp_verdict(d, a, false, OPS_CMP_IDENTICAL, 0, true);
    cmp_verdict(a, d, true, OPS_CMP_SIZE, 0, true);
    poke(d, (12 << 20) + 4000, 7);
    cmp_verdict(a, d, false, OPS_CMP_CONTENT, (12 << 20) + 3584, true);

    /* Strict: the same content with different allocation is a block-status mismatch. */
    mk_sparse(e, 12 << 20, src_ext, 5);
    int fd = open(e, O_WRONLY);
    uint8_t zero[4096] = {0};
    assert_int_equal(pwrite(fd, zero, sizeof zero, 8 << 20), (ssize_t)sizeof zero);
    close(fd);
    cmp_verdict(a, e, false, OPS_CMP_IDENTICAL, 0, false);
    cmp_verdict(a, e, true, OPS_CMP_ALLOC, 8 << 20, false);
}

struct map_collect {
    struct ops_map_entry e[64];
    size_t n;
};

static int map_collect(void *ctx, const struct ops_map_entry *e)
{
    struct map_collect *m = ctx;
    if (m->n < 64)
        m->e[m->n++] = *e;
    return 0;
}

static int map_stop(void *ctx, const struct ops_map_entry *e)
{
    return 42;
}

static void test_map(void **state)
{
    const char *p = tu_path("map.raw");
    /* Two touching writes make one data extent; the map must show one merged run. */
    const uint64_t ext[][2] = {{1 << 20, 4096}, {(1 << 20) + 4096, 4096}, {3 << 20, 4096}};
    mk_sparse(p, 4 << 20, ext, 3);
    struct img *img = open_raw(p);
    struct map_collect m = {.n = 0};
    assert_int_equal(ops_map(img, 0, img->size, map_collect, &m), 0);
    assert_int_equal(m.n, 5);
    uint64_t pos = 0;
    for (size_t i = 0; i < m.n; i++) {
        assert_int_equal(m.e[i].start, pos); /* contiguous cover */
        assert_true(m.e[i].present);
        assert_true(m.e[i].has_offset);
        assert_int_equal(m.e[i].offset, m.e[i].start);
        assert_int_equal(m.e[i].data, i % 2 == 1);
        assert_int_equal(m.e[i].zero, i % 2 == 0);
        assert_ptr_equal(m.e[i].layer, img);
        pos += m.e[i].length;
        if (i > 0)
            assert_true(m.e[i].data != m.e[i - 1].data); /* merged: no equal neighbours */
    }
    assert_int_equal(pos, img->size);
    assert_int_equal(m.e[1].start, 1 << 20);
    assert_int_equal(m.e[1].length, 8192);
    /* A window, and a callback that stops the walk. */
    m.n = 0;
    assert_int_equal(ops_map(img, (1 << 20) + 100, 200, map_collect, &m), 0);
    assert_int_equal(m.n, 1);
    assert_int_equal(m.e[0].start, (1 << 20) + 100);
    assert_int_equal(m.e[0].length, 200);
    assert_int_equal(ops_map(img, 0, img->size, map_stop, NULL), 42);
    img_close(img);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_convert_raw_keeps_holes),
        cmocka_unit_test(test_convert_refusals),
        cmocka_unit_test(test_convert_cancel),
        cmocka_unit_test(test_convert_failing_target),
        cmocka_unit_test(test_compare),
        cmocka_unit_test(test_map),
    };
    int r = cmocka_run_group_tests(tests, NULL, NULL);
    tu_cleanup();
    return r;
}

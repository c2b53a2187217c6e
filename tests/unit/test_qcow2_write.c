/* SPDX-License-Identifier: GPL-2.0-or-later */
/* test_qcow2_write.c: qcow2 write direction. dimg creates images in every variant and writes
 * patterns at odd offsets and lengths (including over a backing file, so COW is exercised),
 * zero writes and compressed writes, while the test keeps a raw reference in step. Then
 * `qemu-img check` must be clean (exit 0) and `qemu-img compare` must find the images
 * identical. */
#include "test_qcow2_common.h"

#include "core/block/driver.h"

#include <fcntl.h>
#include <unistd.h>

/* One cluster, compressible (text-like) or not (pattern). */
static void tw_compressed(struct tw *t, uint64_t off, bool compressible)
{
    size_t len = t->cs;
    if (off + len > t->img->size)
        len = t->img->size - off;
    uint8_t *b = malloc(len);
    if (compressible)
        for (size_t i = 0; i < len; i++)
            b[i] = (uint8_t)("qcow2 compressed cluster "[i % 25] + (i / 4096) + t->seed);
    else
        tu_pattern(b, len, off, t->seed);
    t->seed++;
    if (img_write_compressed(t->img, off, b, len) < 0)
        fail_msg("write_compressed %llu: %s", (unsigned long long)off, img_errmsg(t->img));
    assert_int_equal(pwrite(t->ref, b, len, (off_t)off), (ssize_t)len);
    free(b);
}

static void create(const char *path, const char *opts, uint64_t size, const char *backing,
                   const char *bfmt)
{
    tu_create("qcow2", path, opts, size, backing, bfmt);
}

static void verify(const char *path, const char *ref)
{
    int r = tu_sh("qemu-img check -q '%s'", path);
    if (r != 0) {
        tu_sh("qemu-img check '%s'", path);
        fail_msg("qemu-img check %s exited %d", path, r);
    }
    r = tu_sh("qemu-img compare -q -f qcow2 -F raw '%s' '%s'", path, ref);
    if (r != 0) {
        tu_sh("qemu-img compare -f qcow2 -F raw '%s' '%s'", path, ref);
        fail_msg("qemu-img compare %s: exit %d", path, r);
    }
    tq_compare_raw(path); /* and dimg reads back what it wrote */
}

/* The standard sequence of writes for a cluster size; backing_ref is the raw content the new
 * image starts from (NULL: zeros). */
static void scenario(const char *name, const char *opts, uint64_t cs, const char *backing,
                     const char *bfmt, const char *backing_raw)
{
    char p[1024], ref[1040];
    snprintf(p, sizeof p, "%s", tu_path(name));
    snprintf(ref, sizeof ref, "%s.ref", p);
    uint64_t size = 24 * cs < (4u << 20) ? (4u << 20) : 24 * cs;
    if (backing_raw) {
        assert_int_equal(tu_sh("cp '%s' '%s' && truncate -s %llu '%s'", backing_raw, ref,
                               (unsigned long long)size, ref),
                         0);
    } else {
        assert_int_equal(
            tu_sh("rm -f '%s' && truncate -s %llu '%s'", ref, (unsigned long long)size, ref), 0);
    }
    create(p, opts, size, backing, bfmt);
    struct tw t = {.cs = cs, .seed = 1};
    t.img = tq_open(p, IMG_OPEN_RW | IMG_OPEN_BACKING);
    t.ref = open(ref, O_RDWR);
    assert_true(t.ref >= 0);
    tw_write(&t, 0, 512);
    tw_write(&t, size - 512, 512);
    tw_write(&t, cs - 100, 300);
    tw_write(&t, 3 * cs + 7, 2 * cs + 13);
    tw_write(&t, 3 * cs + 100, 100); /* in place */
    tw_zero(&t, 4 * cs, cs);
    tw_zero(&t, 6 * cs + 512, 1024);
    tw_compressed(&t, 8 * cs, true);
    tw_compressed(&t, 9 * cs, false);
    tw_compressed(&t, 10 * cs, true);
    tw_compressed(&t, 11 * cs, true);
    tw_write(&t, 8 * cs + 5, 100); /* into a compressed cluster */
    tw_zero(&t, 10 * cs, cs);      /* drop a compressed cluster */
    tw_write(&t, 12 * cs - 33, (cs > 65536 ? 3 : 9) * cs + 66);
    tw_zero(&t, 13 * cs + 1000, 2 * cs);
    tw_write(&t, 20 * cs + 1, 1);
    tw_compressed(&t, 22 * cs, true);
    tw_compressed(&t, 22 * cs, true); /* rewrite: the old stream is freed */
    assert_int_equal(img_flush(t.img), 0);
    img_close(t.img);
    close(t.ref);
    verify(p, ref);
}

static void test_create_variants(void **state)
{
    scenario("w64k.qcow2", "", 65536, NULL, NULL, NULL);
    scenario("w512.qcow2", "cluster_size=512", 512, NULL, NULL, NULL);
    scenario("w4k.qcow2", "cluster_size=4k", 4096, NULL, NULL, NULL);
    scenario("w2m.qcow2", "cluster_size=2M", 2u << 20, NULL, NULL, NULL);
    scenario("wv2.qcow2", "compat=0.10", 65536, NULL, NULL, NULL);
    scenario("wv2s.qcow2", "compat=0.10,cluster_size=4k", 4096, NULL, NULL, NULL);
    scenario("wext.qcow2", "extended_l2=on", 65536, NULL, NULL, NULL);
    scenario("wext16.qcow2", "extended_l2=on,cluster_size=16k", 16384, NULL, NULL, NULL);
    scenario("wzstd.qcow2", "compression_type=zstd,cluster_size=4k", 4096, NULL, NULL, NULL);
    scenario("wlazy.qcow2", "lazy_refcounts=on", 65536, NULL, NULL, NULL);
}

static void test_refcount_widths(void **state)
{
    static const int bits[] = {1, 2, 4, 8, 16, 32, 64};
    for (size_t i = 0; i < sizeof bits / sizeof *bits; i++) {
        char name[64], opts[64];
        snprintf(name, sizeof name, "wrc%d.qcow2", bits[i]);
        snprintf(opts, sizeof opts, "refcount_bits=%d,cluster_size=4k", bits[i]);
        scenario(name, opts, 4096, NULL, NULL, NULL);
    }
}

/* 512-byte clusters with 64-bit refcounts: one refcount block covers 32 KiB and the first
 * refcount table 2 MiB, so filling 3 MiB needs new blocks and a relocated, grown table. */
static void test_grow_refcount_table(void **state)
{
    static const char *opts[] = {"cluster_size=512,refcount_bits=64",
                                 "cluster_size=512,refcount_bits=1"};
    for (int k = 0; k < 2; k++) {
        const char *p = tu_path("grow.qcow2"), *ref = tu_path("grow.ref");
        assert_int_equal(tu_sh("rm -f '%s' && truncate -s 4M '%s'", ref, ref), 0);
        create(p, opts[k], 4u << 20, NULL, NULL);
        struct tw t = {.cs = 512, .seed = 7};
        t.img = tq_open(p, IMG_OPEN_RW);
        t.ref = open(ref, O_RDWR);
        for (uint64_t off = 0; off < (3u << 20); off += 100000)
            tw_write(&t, off + 3, 99000);
        tw_compressed(&t, 3u << 20, true);
        tw_compressed(&t, (3u << 20) + 512, true);
        img_close(t.img);
        close(t.ref);
        verify(p, ref);
    }
}

static void test_backing_cow(void **state)
{
    /* base: raw with data everywhere; mid: qcow2 by qemu; top: dimg over mid. */
    /* tu_path() buffers rotate: keep private copies of names used across calls. */
    char base[1024], mid[1024], braw[1024];
    snprintf(base, sizeof base, "%s", tu_path("cbase.raw"));
    snprintf(mid, sizeof mid, "%s", tu_path("cmid.qcow2"));
    snprintf(braw, sizeof braw, "%s", tu_path("cmid.raw"));
    assert_int_equal(tu_sh("head -c 4194304 /dev/urandom > '%s'", base), 0);
    assert_int_equal(tu_sh("qemu-img create -q -f qcow2 -o cluster_size=4k -b cbase.raw -F raw "
                           "'%s' 4M && qemu-io -f qcow2 -c 'write -P 0x42 5000 70000' -c 'write "
                           "-z 200000 9000' '%s' >/dev/null && qemu-img convert -O raw '%s' '%s'",
                           mid, mid, mid, braw),
                     0);
    scenario("ctop64k.qcow2", "", 65536, "cmid.qcow2", "qcow2", braw);
    scenario("ctop512.qcow2", "cluster_size=512", 512, "cmid.qcow2", "qcow2", braw);
    scenario("ctopv2.qcow2", "compat=0.10,cluster_size=4k", 4096, "cmid.qcow2", "qcow2", braw);
    scenario("ctopext.qcow2", "extended_l2=on,cluster_size=32k", 32768, "cmid.qcow2", "qcow2",
             braw);
    scenario("ctopraw.qcow2", "cluster_size=8k", 8192, "cbase.raw", "raw", base);
}

static void test_lazy_dirty_bit(void **state)
{
    const char *p = tu_path("lazy.qcow2");
    create(p, "lazy_refcounts=on", 1u << 20, NULL, NULL);
    struct img *img = tq_open(p, IMG_OPEN_RW);
    uint8_t b[4096];
    memset(b, 0x5c, sizeof b);
    assert_int_equal(img_write(img, 70000, b, sizeof b), 0);
    /* Dirty while refcounts are only in memory. */
    char *out = tu_sh_out("qemu-img info --output=json -U '%s'", p);
    assert_non_null(strstr(out, "\"dirty-flag\": true"));
    free(out);
    assert_int_equal(img_flush(img), 0);
    out = tu_sh_out("qemu-img info --output=json -U '%s'", p);
    assert_non_null(strstr(out, "\"dirty-flag\": false"));
    free(out);
    img_close(img);
    assert_int_equal(tu_sh("qemu-img check -q '%s'", p), 0);
}

static void test_create_options(void **state)
{
    const char *p = tu_path("opt.qcow2");
    struct img_opts o = {0};
    struct img_err err = {0};
    struct img_create_req req = {.size = 1u << 20, .opts = &o};
    assert_int_equal(img_opts_parse(&o, "bogus=1", &err), 0);
    assert_true(img_create("qcow2", p, &req, &err) < 0);
    assert_non_null(strstr(err.msg, "bogus"));
    assert_int_equal(access(p, F_OK), -1); /* nothing written */
    img_opts_free(&o);
    static const char *bad[] = {"cluster_size=1000",
                                "cluster_size=4M",
                                "refcount_bits=3",
                                "compat=0.10,refcount_bits=8",
                                "extended_l2=on,cluster_size=8k",
                                "compat=0.10,compression_type=zstd",
                                "compression_type=lz4",
                                "preallocation=lots",
                                "compat=2"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(img_opts_parse(&o, bad[i], &err), 0);
        if (img_create("qcow2", p, &req, &err) == 0)
            fail_msg("option %s accepted", bad[i]);
        assert_int_equal(access(p, F_OK), -1);
        img_opts_free(&o);
    }
    /* Layout and fields like qemu-img's. */
    create(p, "", 16u << 20, NULL, NULL);
    char *out = tu_sh_out("qemu-img info --output=json '%s' && qemu-img check --output=json "
                          "'%s'",
                          p, p);
    assert_non_null(strstr(out, "\"compat\": \"1.1\""));
    assert_non_null(strstr(out, "\"image-end-offset\": 262144"));
    free(out);
    static const char *pre[] = {"preallocation=metadata", "preallocation=falloc",
                                "preallocation=full", "preallocation=metadata,extended_l2=on"};
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(tu_sh("rm -f '%s'", p), 0);
        create(p, pre[i], 3u << 20, NULL, NULL);
        assert_int_equal(tu_sh("qemu-img check -q '%s'", p), 0);
        assert_int_equal(tu_sh("truncate -s 3M '%s' && qemu-img compare -q -F raw '%s' '%s'",
                               tu_path("z.raw"), p, tu_path("z.raw")),
                         0);
    }
    /* Backing file and format are recorded the way qemu reads them. */
    assert_int_equal(tu_sh("rm -f '%s'", p), 0);
    create(tu_path("bk.qcow2"), "compat=0.10", 1u << 20, NULL, NULL);
    create(p, "", 1u << 20, "bk.qcow2", "qcow2");
    out = tu_sh_out("qemu-img info --output=json '%s'", p);
    assert_non_null(strstr(out, "\"backing-filename\": \"bk.qcow2\""));
    assert_non_null(strstr(out, "\"backing-filename-format\": \"qcow2\""));
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_variants),     cmocka_unit_test(test_refcount_widths),
        cmocka_unit_test(test_grow_refcount_table), cmocka_unit_test(test_backing_cow),
        cmocka_unit_test(test_lazy_dirty_bit),      cmocka_unit_test(test_create_options),
    };
    return cmocka_run_group_tests(tests, NULL, tu_teardown);
}

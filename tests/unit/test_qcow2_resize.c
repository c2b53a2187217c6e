/* SPDX-License-Identifier: GPL-2.0-or-later */
/* test_qcow2_resize.c: qcow2 grow and shrink through img_truncate. dimg creates v2 and v3
 * images (512 B, 64 KiB, 2 MiB clusters, lazy refcounts, extended L2), writes patterns while
 * the test keeps a raw reference in step, then resizes by small amounts and by amounts that
 * relocate the L1 table, and shrinks over data (which is discarded) and over unallocated
 * tails. After every step `qemu-img check` must be clean (no leaks, no corruption),
 * `qemu-img info` must show the new virtual size and `qemu-img compare` must find the image
 * identical to the reference (old content unchanged, new area zeros). Images with internal
 * snapshots (made by `qemu-img snapshot -c`) refuse to shrink. */
#include "test_qcow2_common.h"

#include "core/block/driver.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

struct tr {
    char path[1024], ref[1040];
    struct img *img;
    int reffd;
    unsigned seed;
};

static void create(const char *path, const char *opts, uint64_t size)
{
    tu_create("qcow2", path, opts, size, NULL, NULL);
}

static void tr_open(struct tr *t)
{
    t->img = tq_open(t->path, IMG_OPEN_RW | IMG_OPEN_BACKING);
    t->reffd = open(t->ref, O_RDWR);
    assert_true(t->reffd >= 0);
}

static void tr_close(struct tr *t)
{
    assert_int_equal(img_flush(t->img), 0);
    img_close(t->img);
    close(t->reffd);
    t->img = NULL;
}

/* A fresh image and an all-zero raw reference of the same size, open. */
static void tr_new(struct tr *t, const char *name, const char *opts, uint64_t size)
{
    snprintf(t->path, sizeof t->path, "%s", tu_path(name));
    snprintf(t->ref, sizeof t->ref, "%s.ref", t->path);
    assert_int_equal(tu_sh("rm -f '%s' '%s' && truncate -s %llu '%s'", t->path, t->ref,
                           (unsigned long long)size, t->ref),
                     0);
    create(t->path, opts, size);
    t->seed = 1;
    tr_open(t);
}

static void tr_write(struct tr *t, uint64_t off, size_t len)
{
    uint8_t *b = malloc(len);
    tu_pattern(b, len, off, ++t->seed);
    if (img_write(t->img, off, b, len) < 0)
        fail_msg("write %llu+%zu: %s", (unsigned long long)off, len, img_errmsg(t->img));
    assert_int_equal(pwrite(t->reffd, b, len, (off_t)off), (ssize_t)len);
    free(b);
}

static void tr_compressed(struct tr *t, uint64_t off, size_t len)
{
    uint8_t *b = malloc(len);
    for (size_t i = 0; i < len; i++)
        b[i] = (uint8_t)("resized compressed cluster "[i % 27] + t->seed);
    t->seed++;
    if (img_write_compressed(t->img, off, b, len) < 0)
        fail_msg("write_compressed %llu: %s", (unsigned long long)off, img_errmsg(t->img));
    assert_int_equal(pwrite(t->reffd, b, len, (off_t)off), (ssize_t)len);
    free(b);
}

static void tr_resize(struct tr *t, uint64_t size, enum img_prealloc pre)
{
    if (img_truncate(t->img, size, pre) < 0)
        fail_msg("resize %s to %llu: %s", t->path, (unsigned long long)size, img_errmsg(t->img));
    assert_int_equal(t->img->size, size);
    assert_int_equal(ftruncate(t->reffd, (off_t)size), 0);
}

/* dimg reads zeros over [off, off+len). */
static void tr_expect_zero(struct tr *t, uint64_t off, size_t len)
{
    uint8_t *b = malloc(len);
    assert_int_equal(img_read(t->img, off, b, len), 0);
    for (size_t i = 0; i < len; i++)
        if (b[i])
            fail_msg("%s: byte %llu is %02x, not zero", t->path, (unsigned long long)(off + i),
                     b[i]);
    free(b);
}

/* qemu-img check clean, info size, compare identical; full dimg read-back when small. */
static void tr_verify(struct tr *t)
{
    bool was_open = t->img != NULL;
    if (was_open)
        tr_close(t);
    /* One check run: its JSON and its exit status (0: clean). */
    char *out = tu_sh_out("qemu-img check --output=json '%s'; echo \"check-exit=$?\"; "
                          "qemu-img info --output=json '%s'",
                          t->path, t->path);
    assert_non_null(out);
    if (!strstr(out, "check-exit=0\n"))
        fail_msg("qemu-img check %s is not clean:\n%s", t->path, out);
    assert_null(strstr(out, "\"leaks\""));
    assert_null(strstr(out, "\"corruptions\""));
    assert_null(strstr(out, "\"dirty-flag\": true"));
    struct stat st;
    assert_int_equal(stat(t->ref, &st), 0);
    off_t rsz = st.st_size;
    char want[64];
    snprintf(want, sizeof want, "\"virtual-size\": %lld,", (long long)rsz);
    if (!strstr(out, want))
        fail_msg("%s: qemu-img info does not say %s:\n%s", t->path, want, out);
    free(out);
    /* An all-zero reference (nothing written: one hole) is compared by qemu-img map, one
     * zero run over the whole size: the same claim as compare, which walks a 128 GiB image
     * of 512-byte clusters for half a minute. */
    int rfd = open(t->ref, O_RDONLY);
    assert_true(rfd >= 0);
    bool all_hole = lseek(rfd, 0, SEEK_DATA) < 0 && errno == ENXIO;
    close(rfd);
    if (all_hole) {
        char run[160];
        snprintf(run, sizeof run,
                 "[{ \"start\": 0, \"length\": %lld, \"depth\": 0, \"present\": false, "
                 "\"zero\": true, \"data\": false}]",
                 (long long)rsz);
        out = tu_sh_out("qemu-img map --output=json '%s'", t->path);
        assert_non_null(out);
        if (!strstr(out, run))
            fail_msg("%s: qemu-img map is not one zero run of %lld bytes:\n%s", t->path,
                     (long long)rsz, out);
        free(out);
        if (was_open)
            tr_open(t);
        return;
    }
    int r = tu_sh("qemu-img compare -q -f qcow2 -F raw '%s' '%s'", t->path, t->ref);
    if (r != 0) {
        tu_sh("qemu-img compare -f qcow2 -F raw '%s' '%s'", t->path, t->ref);
        fail_msg("qemu-img compare %s: exit %d", t->path, r);
    }
    if (rsz <= (64 << 20))
        tq_compare_raw(t->path);
    if (was_open)
        tr_open(t);
}

/* Grow by a little, then by enough to relocate the L1 table (big), then write into the new
 * area; old content, zeros and the new writes must all be right. */
static void grow_case(const char *name, const char *opts, uint64_t cs, uint64_t big)
{
    struct tr t;
    uint64_t s0 = 1u << 20;
    tr_new(&t, name, opts, s0);
    tr_write(&t, 0, 512);
    tr_write(&t, (cs < s0 ? cs : s0 / 4) - 100, 300);
    tr_write(&t, s0 / 2 + 7, 3 * 4096 + 5);
    tr_write(&t, s0 - 512, 512);
    if (cs < s0)
        tr_compressed(&t, s0 - 2 * cs, cs);
    tr_verify(&t);

    tr_resize(&t, s0 + 2 * 512, IMG_PREALLOC_OFF); /* small, not cluster aligned */
    tr_expect_zero(&t, s0, 1024);
    tr_verify(&t);
    tr_resize(&t, 2 * s0, IMG_PREALLOC_OFF);
    tr_expect_zero(&t, s0, s0);
    tr_verify(&t);
    tr_resize(&t, big, IMG_PREALLOC_OFF);
    tr_expect_zero(&t, 2 * s0, 65536);
    tr_expect_zero(&t, big - 65536, 65536);
    tr_verify(&t);
    tr_write(&t, s0 - 100, 1000);      /* across the first old end */
    tr_write(&t, 2 * s0 + 4096, 5000); /* just past the second */
    tr_write(&t, big / 2 + 3 * cs, cs + 1);
    tr_write(&t, big - 512, 512);
    tr_verify(&t);
    tr_close(&t);
}

static void test_grow(void **state)
{
    (void)state;
    /* 512 B clusters: one L1 entry covers 32 KiB and an L1 cluster 2 MiB, so 64 MiB needs a
     * 32-cluster L1. 64 KiB: an L1 cluster covers 4 TiB. 2 MiB: it covers far more than any
     * size, so only the in-place extension runs. */
    grow_case("g2_512.qcow2", "compat=0.10,cluster_size=512", 512, 64u << 20);
    grow_case("g3_512.qcow2", "cluster_size=512", 512, 64u << 20);
    grow_case("g2_64k.qcow2", "compat=0.10", 65536, 5ull << 40);
    grow_case("g3_64k.qcow2", "", 65536, 5ull << 40);
    grow_case("g2_2m.qcow2", "compat=0.10,cluster_size=2M", 2u << 20, 1ull << 40);
    grow_case("g3_2m.qcow2", "cluster_size=2M", 2u << 20, 1ull << 40);
    grow_case("g3_lazy.qcow2", "cluster_size=512,lazy_refcounts=on", 512, 64u << 20);
    grow_case("g3_rc1.qcow2", "cluster_size=512,refcount_bits=1", 512, 64u << 20);
    grow_case("g3_ext.qcow2", "cluster_size=16k,extended_l2=on", 16384, 40u << 20);
}

/* Shrink over data (discarded), check, grow back (the dropped area must read zeros, the
 * partial last cluster included), and shrink over an unallocated tail. */
static void shrink_case(const char *name, const char *opts, uint64_t cs)
{
    struct tr t;
    uint64_t s0 = 8u << 20;
    tr_new(&t, name, opts, s0);
    for (uint64_t off = 0; off < s0; off += s0 / 16)
        tr_write(&t, off + 3, 2 * cs + 17 < s0 / 16 ? 2 * cs + 17 : s0 / 16 - 3);
    tr_write(&t, s0 - 4096, 4096);
    tr_compressed(&t, 6 * (s0 / 8), cs);
    tr_verify(&t);
    char *before = tu_sh_out("stat -c %%s '%s'", t.path);

    uint64_t s1 = 3 * (s0 / 8) + 512; /* mid-cluster for cs > 512 */
    tr_resize(&t, s1, IMG_PREALLOC_OFF);
    tr_verify(&t);
    char *after = tu_sh_out("stat -c %%s '%s'", t.path);
    if (strtoull(after, NULL, 10) >= strtoull(before, NULL, 10))
        fail_msg("%s: file did not shrink (%s -> %s)", t.path, before, after);
    free(before);
    free(after);

    tr_resize(&t, s0, IMG_PREALLOC_OFF);
    tr_expect_zero(&t, s1, s0 - s1);
    tr_verify(&t);

    /* Unallocated tail: nothing past 1 MiB is written any more. */
    tr_resize(&t, 1u << 20, IMG_PREALLOC_OFF);
    tr_resize(&t, 4u << 20, IMG_PREALLOC_OFF);
    tr_verify(&t);
    tr_resize(&t, 2u << 20, IMG_PREALLOC_OFF);
    tr_verify(&t);
    tr_write(&t, (2u << 20) - 700, 700);
    tr_resize(&t, 512, IMG_PREALLOC_OFF);
    tr_verify(&t);
    tr_resize(&t, 1u << 20, IMG_PREALLOC_OFF);
    tr_expect_zero(&t, 512, (1u << 20) - 512);
    tr_verify(&t);
    tr_close(&t);
}

static void test_shrink(void **state)
{
    (void)state;
    shrink_case("s2_512.qcow2", "compat=0.10,cluster_size=512", 512);
    shrink_case("s3_512.qcow2", "cluster_size=512", 512);
    shrink_case("s2_64k.qcow2", "compat=0.10", 65536);
    shrink_case("s3_64k.qcow2", "", 65536);
    shrink_case("s3_2m.qcow2", "cluster_size=2M", 2u << 20);
    shrink_case("s2_2m.qcow2", "compat=0.10,cluster_size=2M", 2u << 20);
    shrink_case("s3_lazy.qcow2", "cluster_size=512,lazy_refcounts=on", 512);
    shrink_case("s3_lazy64k.qcow2", "lazy_refcounts=on", 65536);
    shrink_case("s3_ext.qcow2", "cluster_size=32k,extended_l2=on", 32768);
}

/* Growing with preallocation: the new area is allocated and reads zeros. */
static void test_prealloc(void **state)
{
    (void)state;
    static const struct {
        const char *opts;
        enum img_prealloc pre;
    } v[] = {
        {"cluster_size=512", IMG_PREALLOC_METADATA},
        {"compat=0.10", IMG_PREALLOC_FALLOC},
        {"", IMG_PREALLOC_FULL},
        {"cluster_size=16k,extended_l2=on", IMG_PREALLOC_METADATA},
        {"lazy_refcounts=on,cluster_size=4k", IMG_PREALLOC_FALLOC},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        struct tr t;
        tr_new(&t, "pre.qcow2", v[i].opts, 1u << 20);
        tr_write(&t, 1000, 5000);
        tr_write(&t, (1u << 20) - 512, 512);
        tr_resize(&t, (5u << 20) + 1536, v[i].pre);
        tr_expect_zero(&t, 1u << 20, 4u << 20);
        tr_verify(&t);
        /* Every cluster of the new area is allocated now. */
        char *map = tu_sh_out("qemu-img map --output=json --start-offset=1M '%s' | grep -c "
                              "'\"data\": false'; true",
                              t.path);
        assert_int_equal(strtol(map, NULL, 10), 0);
        free(map);
        tr_write(&t, (3u << 20) + 11, 70000);
        tr_verify(&t);
        tr_close(&t);
    }
}

static void test_snapshots(void **state)
{
    (void)state;
    static const char *opts[] = {"compat=0.10", ""};
    for (int i = 0; i < 2; i++) {
        struct tr t;
        tr_new(&t, "snap.qcow2", opts[i], 4u << 20);
        tr_write(&t, 0, 70000);
        tr_write(&t, (4u << 20) - 512, 512);
        tr_close(&t);
        assert_int_equal(tu_sh("qemu-img snapshot -c s1 '%s'", t.path), 0);
        tr_open(&t);
        assert_true(img_truncate(t.img, 2u << 20, IMG_PREALLOC_OFF) < 0);
        assert_string_equal(img_errmsg(t.img),
                            "qcow2: cannot shrink an image with internal snapshots");
        int r = img_truncate(t.img, 1ull << 40, IMG_PREALLOC_OFF);
        if (i == 0) {
            assert_true(r < 0); /* like qemu-img: v2 images with snapshots keep their size */
            assert_non_null(strstr(img_errmsg(t.img), "v2"));
        } else {
            if (r < 0)
                fail_msg("grow with a snapshot: %s", img_errmsg(t.img));
            assert_int_equal(ftruncate(t.reffd, 1ll << 40), 0);
        }
        tr_verify(&t);
        tr_close(&t);
        /* The snapshot still holds the old content. */
        assert_int_equal(tu_sh("qemu-img snapshot -a s1 '%s'", t.path), 0);
        assert_int_equal(tu_sh("truncate -s 4M '%s' && qemu-img compare -q -F raw '%s' '%s'", t.ref,
                               t.path, t.ref),
                         0);
        assert_int_equal(tu_sh("qemu-img check -q '%s'", t.path), 0);
    }
}

/* An overlay that grows must show zeros in the new area, not its larger backing file. */
static void test_backing(void **state)
{
    (void)state;
    for (int i = 0; i < 2; i++) {
        const char *base = tu_path("base.raw");
        assert_int_equal(tu_sh("rm -f '%s' && head -c 4194304 /dev/urandom > '%s'", base, base), 0);
        struct tr t;
        snprintf(t.path, sizeof t.path, "%s", tu_path("ov.qcow2"));
        snprintf(t.ref, sizeof t.ref, "%s.ref", t.path);
        assert_int_equal(tu_sh("rm -f '%s' && qemu-img create -q -f qcow2 -o %s -b base.raw "
                               "-F raw '%s' 2M && head -c 2097152 '%s' > '%s'",
                               t.path, i ? "compat=0.10" : "compat=1.1", t.path, base, t.ref),
                         0);
        tr_open(&t);
        tr_write(&t, 4096, 512);
        tr_resize(&t, 6u << 20, IMG_PREALLOC_OFF);
        tr_expect_zero(&t, 2u << 20, 4u << 20);
        tr_verify(&t);
        tr_close(&t);
    }
}

static void test_limits(void **state)
{
    (void)state;
    struct tr t;
    tr_new(&t, "lim.qcow2", "cluster_size=512", 1u << 20);
    assert_int_equal(img_truncate(t.img, (2u << 20) + 100, IMG_PREALLOC_OFF), -EINVAL);
    assert_non_null(strstr(img_errmsg(t.img), "multiple of 512"));
    /* 512 B clusters: 4 Mi L1 entries of 32 KiB each = 128 GiB at most. */
    assert_int_equal(img_truncate(t.img, 256ull << 30, IMG_PREALLOC_OFF), -EFBIG);
    assert_non_null(strstr(img_errmsg(t.img), "qcow2: l1_size"));
    assert_non_null(strstr(img_errmsg(t.img), "exceeds"));
    assert_int_equal(img_truncate(t.img, UINT64_MAX - 511, IMG_PREALLOC_OFF), -EFBIG);
    assert_int_equal(img_truncate(t.img, 512, IMG_PREALLOC_FULL), -EINVAL);
    assert_int_equal(t.img->size, 1u << 20);
    /* The largest allowed size works. */
    tr_resize(&t, 128ull << 30, IMG_PREALLOC_OFF);
    tr_verify(&t);
    tr_close(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grow),     cmocka_unit_test(test_shrink),
        cmocka_unit_test(test_prealloc), cmocka_unit_test(test_snapshots),
        cmocka_unit_test(test_backing),  cmocka_unit_test(test_limits),
    };
    return cmocka_run_group_tests(tests, NULL, tu_teardown);
}

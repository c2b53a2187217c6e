/* SPDX-License-Identifier: GPL-2.0-or-later */
/* test_qcow2_check.c: qcow2 check, repair and layout. dimg's check must agree with
 * `qemu-img check --output=json` (corruptions, leaks, check errors, allocated / fragmented /
 * compressed clusters, image end offset) on qemu-written images and on images damaged by
 * hand (refcounts poked); after dimg's `-r leaks` / `-r all` qemu-img check must be clean.
 * Layout regions of fresh and written images are compared with the known qemu layout. */
#include "test_qcow2_common.h"

#include "core/block/driver.h"

struct lines {
    char buf[8192];
    size_t n;
};

static void collect(void *ctx, const char *line)
{
    struct lines *l = ctx;
    size_t k = strlen(line);
    if (l->n + k + 2 < sizeof l->buf) {
        memcpy(l->buf + l->n, line, k);
        l->buf[l->n + k] = '\n';
        l->n += k + 1;
        l->buf[l->n] = 0;
    }
}

static uint64_t jget(const char *json, const char *key)
{
    char k[64];
    snprintf(k, sizeof k, "\"%s\": ", key);
    uint64_t v = tq_json_u64(json, k);
    return v == UINT64_MAX ? 0 : v;
}

/* Run dimg's check (no repair) and compare every number with qemu-img's. */
static void agree(const char *path, struct lines *out)
{
    char *q = tu_sh_out("qemu-img check --output=json '%s' 2>/dev/null", path);
    assert_non_null(q);
    struct img *img = tq_open(path, 0);
    struct img_check res;
    memset(&res, 0, sizeof res);
    res.report = collect;
    res.report_ctx = out;
    out->n = 0;
    out->buf[0] = 0;
    if (img_check(img, &res, 0) < 0)
        fail_msg("check %s: %s", path, img_errmsg(img));
    img_close(img);
    struct {
        const char *key;
        uint64_t got;
    } f[] = {
        {"corruptions", res.corruptions},
        {"leaks", res.leaks},
        {"check-errors", res.check_errors},
        {"image-end-offset", res.image_end_offset},
        {"total-clusters", res.total_clusters},
        {"allocated-clusters", res.allocated_clusters},
        {"fragmented-clusters", res.fragmented_clusters},
        {"compressed-clusters", res.compressed_clusters},
    };
    for (size_t i = 0; i < sizeof f / sizeof *f; i++)
        if (jget(q, f[i].key) != f[i].got) {
            print_message("qemu: %s\ndimg report:\n%s", q, out->buf);
            fail_msg("%s: %s dimg %llu qemu %llu", path, f[i].key, (unsigned long long)f[i].got,
                     (unsigned long long)jget(q, f[i].key));
        }
    free(q);
}

static void repair(const char *path, unsigned fix, struct img_check *res, struct lines *out)
{
    struct img *img = tq_open(path, IMG_OPEN_RW);
    memset(res, 0, sizeof *res);
    res->report = collect;
    res->report_ctx = out;
    out->n = 0;
    if (img_check(img, res, fix) < 0)
        fail_msg("repair %s: %s", path, img_errmsg(img));
    img_close(img);
}

static void test_agree_qemu_images(void **state)
{
    struct lines out;
    const char *p = tu_path("a.qcow2");
    static const char *opts[] = {
        "cluster_size=64k", "cluster_size=512", "cluster_size=4k,refcount_bits=1",
        "compat=0.10",      "extended_l2=on",   "refcount_bits=64,cluster_size=4k"};
    for (size_t i = 0; i < sizeof opts / sizeof *opts; i++) {
        assert_int_equal(tu_sh("rm -f '%s' && qemu-img create -q -f qcow2 -o %s '%s' 4M && "
                               "qemu-io -f qcow2 -c 'write -P 1 0 100k' -c 'write -P 2 1M 3000' "
                               "-c 'write -P 3 300k 8k' -c 'write -z 1M 512' -c 'write -P 4 "
                               "3M 4k' -c 'write -P 5 150k 4k' '%s' >/dev/null",
                               p, opts[i], p, p),
                         0);
        agree(p, &out);
        assert_int_equal(out.n, 0);
    }
    /* Compressed clusters (fragmentation stats) and snapshots. */
    assert_int_equal(tu_sh("rm -f '%s' && qemu-img create -q -f raw '%s.raw' 2M && qemu-io -f "
                           "raw -c 'write -P 7 0 1M' '%s.raw' >/dev/null && qemu-img convert -c "
                           "-O qcow2 -o cluster_size=4k '%s.raw' '%s'",
                           p, p, p, p, p),
                     0);
    agree(p, &out);
    assert_int_equal(tu_sh("qemu-img snapshot -c s1 '%s' && qemu-io -f qcow2 -c 'write -P 8 0 "
                           "64k' '%s' >/dev/null && qemu-img snapshot -c s2 '%s'",
                           p, p, p),
                     0);
    agree(p, &out);
}

/* Set the 16-bit refcount of cluster k (refcount block at 128k in a default image). */
static void poke_rc(const char *p, unsigned k, unsigned v)
{
    assert_int_equal(tu_sh("printf '\\%03o\\%03o' | dd of='%s' bs=1 seek=%u conv=notrunc "
                           "status=none",
                           (v >> 8) & 255, v & 255, p, 131072 + 2 * k),
                     0);
}

static void fresh_written(const char *p)
{
    /* Clusters: 0 header, 1 reftable, 2 refblock, 3 L1, 4 L2, 5-6 data. */
    assert_int_equal(tu_sh("rm -f '%s' && qemu-img create -q -f qcow2 '%s' 4M && qemu-io -f "
                           "qcow2 -c 'write -P 1 0 100k' '%s' >/dev/null",
                           p, p, p),
                     0);
}

static void test_leaks_and_corruptions(void **state)
{
    struct lines out;
    struct img_check res;
    const char *p = tu_path("hurt.qcow2");

    /* A leak: an extra cluster at the end with refcount 1. */
    fresh_written(p);
    assert_int_equal(tu_sh("truncate -s %u '%s'", 8u * 65536, p), 0);
    poke_rc(p, 7, 1);
    agree(p, &out);
    assert_non_null(strstr(out.buf, "Leaked cluster 7 refcount=1 reference=0"));
    assert_int_equal(tu_sh("qemu-img check -q '%s' >/dev/null 2>&1", p), 3);
    repair(p, IMG_FIX_LEAKS, &res, &out);
    assert_int_equal(res.leaks_fixed, 1);
    assert_int_equal(res.leaks, 0);
    assert_int_equal(tu_sh("qemu-img check -q '%s'", p), 0);

    /* Refcount 0 on a used data cluster: two corruptions, repaired by a rebuild. */
    fresh_written(p);
    poke_rc(p, 5, 0);
    agree(p, &out);
    assert_non_null(strstr(out.buf, "ERROR cluster 5 refcount=0 reference=1"));
    assert_non_null(strstr(out.buf, "ERROR OFLAG_COPIED data cluster: l2_entry=8000000000050000 "
                                    "refcount=0"));
    repair(p, IMG_FIX_LEAKS | IMG_FIX_ERRORS, &res, &out);
    assert_int_equal(res.corruptions, 0);
    assert_int_equal(res.leaks, 0);
    assert_true(res.corruptions_fixed >= 1);
    assert_int_equal(tu_sh("qemu-img check -q '%s'", p), 0);
    tq_compare_raw(p);

    /* Refcount 2 on a data cluster: a leak plus a COPIED mismatch. */
    fresh_written(p);
    poke_rc(p, 6, 2);
    agree(p, &out);
    repair(p, IMG_FIX_LEAKS | IMG_FIX_ERRORS, &res, &out);
    assert_int_equal(res.corruptions + res.leaks, 0);
    assert_int_equal(tu_sh("qemu-img check -q '%s'", p), 0);

    /* Refcount too low (but not 0) on the L2 table: fixed in place by -r all. */
    fresh_written(p);
    assert_int_equal(tu_sh("qemu-io -f qcow2 -c 'write -P 1 2M 4k' '%s' >/dev/null", p), 0);
    poke_rc(p, 4, 0);
    agree(p, &out);
    repair(p, IMG_FIX_LEAKS | IMG_FIX_ERRORS, &res, &out);
    assert_int_equal(tu_sh("qemu-img check -q '%s'", p), 0);
    tq_compare_raw(p);
}

static void test_lazy_dirty_repair(void **state)
{
    struct lines out;
    struct img_check res;
    const char *p = tu_path("dirty.qcow2");
    assert_int_equal(tu_sh("qemu-img create -q -f qcow2 -o lazy_refcounts=on '%s' 4M && qemu-io "
                           "-f qcow2 -c 'write -P 9 0 64k' -c 'sigraise 9' '%s' >/dev/null "
                           "2>&1; true",
                           p, p),
                     0);
    char *info = tu_sh_out("qemu-img info --output=json '%s'", p);
    assert_non_null(strstr(info, "\"dirty-flag\": true"));
    free(info);
    agree(p, &out);
    /* A read-write writer refuses nothing: it repairs first. Here: explicit -r all. */
    repair(p, IMG_FIX_LEAKS | IMG_FIX_ERRORS, &res, &out);
    assert_int_equal(res.corruptions + res.leaks + res.check_errors, 0);
    info = tu_sh_out("qemu-img info --output=json '%s'", p);
    assert_non_null(strstr(info, "\"dirty-flag\": false"));
    free(info);
    assert_int_equal(tu_sh("qemu-img check -q '%s'", p), 0);
    tq_compare_raw(p);
}

static void test_dirty_rw_write(void **state)
{
    const char *p = tu_path("dirty2.qcow2");
    assert_int_equal(tu_sh("qemu-img create -q -f qcow2 -o lazy_refcounts=on '%s' 4M && qemu-io "
                           "-f qcow2 -c 'write -P 9 0 64k' -c 'sigraise 9' '%s' >/dev/null "
                           "2>&1; true",
                           p, p),
                     0);
    struct img *img = tq_open(p, IMG_OPEN_RW);
    uint8_t b[512];
    memset(b, 3, sizeof b);
    if (img_write(img, 1u << 20, b, sizeof b) < 0)
        fail_msg("write to a dirty image: %s", img_errmsg(img));
    img_close(img);
    assert_int_equal(tu_sh("qemu-img check -q '%s'", p), 0);
}

static void expect_regions(const char *p, const struct img_region *want, size_t nwant)
{
    struct img *img = tq_open(p, 0);
    struct img_region *v;
    size_t n;
    if (img_layout(img, &v, &n) < 0)
        fail_msg("layout: %s", img_errmsg(img));
    bool same = n == nwant;
    for (size_t i = 0; same && i < n; i++)
        same = v[i].off == want[i].off && v[i].len == want[i].len && v[i].kind == want[i].kind;
    if (!same) {
        for (size_t i = 0; i < n; i++)
            print_message("%llu+%llu %s\n", (unsigned long long)v[i].off,
                          (unsigned long long)v[i].len, img_region_name(v[i].kind));
        fail_msg("layout of %s differs", p);
    }
    free(v);
    img_close(img);
}

static void test_layout(void **state)
{
    const char *p = tu_path("lay.qcow2");
    assert_int_equal(tu_sh("qemu-img create -q -f qcow2 '%s' 16M", p), 0);
    const uint64_t K = 65536;
    struct img_region fresh[] = {
        {0, K, IMG_R_HEADER},
        {K, K, IMG_R_REFTABLE},
        {2 * K, K, IMG_R_REFBLOCK},
        {3 * K, 8, IMG_R_L1},
    };
    expect_regions(p, fresh, 4);
    assert_int_equal(tu_sh("qemu-io -f qcow2 -c 'write -P 1 0 100k' '%s' >/dev/null", p), 0);
    struct img_region written[] = {
        {0, K, IMG_R_HEADER}, {K, K, IMG_R_REFTABLE}, {2 * K, K, IMG_R_REFBLOCK},
        {3 * K, K, IMG_R_L1}, {4 * K, K, IMG_R_L2},   {5 * K, 2 * K, IMG_R_DATA},
    };
    expect_regions(p, written, 6);
    /* A leaked cluster and a free hole. */
    assert_int_equal(tu_sh("truncate -s %llu '%s'", (unsigned long long)(9 * K), p), 0);
    poke_rc(p, 8, 1);
    struct img_region leaky[] = {
        {0, K, IMG_R_HEADER},   {K, K, IMG_R_REFTABLE},   {2 * K, K, IMG_R_REFBLOCK},
        {3 * K, K, IMG_R_L1},   {4 * K, K, IMG_R_L2},     {5 * K, 2 * K, IMG_R_DATA},
        {7 * K, K, IMG_R_FREE}, {8 * K, K, IMG_R_LEAKED},
    };
    expect_regions(p, leaky, 8);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_agree_qemu_images),
        cmocka_unit_test(test_leaks_and_corruptions),
        cmocka_unit_test(test_lazy_dirty_repair),
        cmocka_unit_test(test_dirty_rw_write),
        cmocka_unit_test(test_layout),
    };
    return cmocka_run_group_tests(tests, NULL, tu_teardown);
}

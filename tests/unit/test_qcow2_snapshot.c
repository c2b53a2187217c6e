/* SPDX-License-Identifier: GPL-2.0-or-later */
/* test_qcow2_snapshot.c: qcow2 internal snapshots made, applied and deleted by dimg (and by
 * qemu-img, the other way round), checked against qemu as the oracle: after every sequence
 * `qemu-img check` is clean, `qemu-img snapshot -l` lists what dimg lists, and each snapshot
 * reads back (`qemu-img convert -l`, dimg's read-only snapshot view, or after applying) as the
 * raw reference copied when it was taken. Writes after a snapshot must copy shared clusters
 * (proven by content and by check's refcounts). Hostile snapshot tables fail with one line. */
#include "test_qcow2_common.h"

#include "core/block/driver.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

struct ts {
    char path[1024], ref[1040];
    struct img *img;
    int reffd;
    uint64_t cs, size;
    unsigned seed;
};

static void ts_open(struct ts *t)
{
    t->img = tq_open(t->path, IMG_OPEN_RW);
    t->reffd = open(t->ref, O_RDWR);
    assert_true(t->reffd >= 0);
}

static void ts_close(struct ts *t)
{
    if (img_flush(t->img) < 0)
        fail_msg("flush: %s", img_errmsg(t->img));
    img_close(t->img);
    close(t->reffd);
    t->img = NULL;
}

/* A fresh image made by dimg (opts: create options) with a raw reference of zeros. */
static void ts_new(struct ts *t, const char *name, const char *opts, uint64_t cs, uint64_t size)
{
    memset(t, 0, sizeof *t);
    snprintf(t->path, sizeof t->path, "%s", tu_path(name));
    snprintf(t->ref, sizeof t->ref, "%s.ref", t->path);
    t->cs = cs;
    t->size = size;
    t->seed = 1;
    assert_int_equal(
        tu_sh("rm -f '%s' && truncate -s %llu '%s'", t->ref, (unsigned long long)size, t->ref), 0);
    tu_create("qcow2", t->path, opts, size, NULL, NULL);
    ts_open(t);
}

static void ts_write(struct ts *t, uint64_t off, size_t len)
{
    tq_mirror_write(t->img, t->reffd, off, len, ++t->seed);
}

static void ts_zero(struct ts *t, uint64_t off, size_t len)
{
    tq_mirror_zero(t->img, t->reffd, off, len);
}

static void ts_compressed(struct ts *t, uint64_t off)
{
    uint8_t *b = malloc(t->cs);
    for (size_t i = 0; i < t->cs; i++)
        b[i] = (uint8_t)("snapshot cluster "[i % 17] + t->seed);
    t->seed++;
    if (img_write_compressed(t->img, off, b, t->cs) < 0)
        fail_msg("write_compressed: %s", img_errmsg(t->img));
    assert_int_equal(pwrite(t->reffd, b, t->cs, (off_t)off), (ssize_t)t->cs);
    free(b);
}

/* In rotating buffers, so that several can be arguments of one call. */
static const char *snap_ref(const struct ts *t, const char *name)
{
    static char p[4][1100];
    static unsigned k;
    char *b = p[k++ % 4];
    snprintf(b, sizeof p[0], "%s.%s.ref", t->path, name);
    return b;
}

/* Take a snapshot with dimg and keep a copy of the reference as its expected content. */
static void ts_snap(struct ts *t, const char *name)
{
    if (img_snap_create(t->img, name) < 0)
        fail_msg("snapshot %s: %s", name, img_errmsg(t->img));
    assert_int_equal(tu_sh("cp --sparse=always '%s' '%s'", t->ref, snap_ref(t, name)), 0);
}

/* The current content becomes the snapshot's (the reference follows); key may be its ID. */
static void ts_apply_key(struct ts *t, const char *key, const char *name)
{
    if (img_snap_apply(t->img, key) < 0)
        fail_msg("apply %s: %s", key, img_errmsg(t->img));
    close(t->reffd);
    assert_int_equal(tu_sh("cp --sparse=always '%s' '%s'", snap_ref(t, name), t->ref), 0);
    t->reffd = open(t->ref, O_RDWR);
}

static void ts_apply(struct ts *t, const char *name)
{
    ts_apply_key(t, name, name);
}

static void ts_delete(struct ts *t, const char *name)
{
    if (img_snap_delete(t->img, name) < 0)
        fail_msg("delete %s: %s", name, img_errmsg(t->img));
}

/* qemu-img check and dimg's own check both find nothing. */
static void expect_clean(const char *path)
{
    int r = tu_sh("qemu-img check -q '%s'", path);
    if (r != 0) {
        tu_sh("qemu-img check '%s'", path);
        fail_msg("qemu-img check %s exited %d", path, r);
    }
    struct img *img = tq_open(path, 0);
    struct img_check c = {0};
    if (img_check(img, &c, 0) < 0)
        fail_msg("dimg check %s: %s", path, img_errmsg(img));
    if (c.corruptions || c.leaks || c.check_errors)
        fail_msg("dimg check %s: %llu corruptions, %llu leaks", path,
                 (unsigned long long)c.corruptions, (unsigned long long)c.leaks);
    img_close(img);
}

/* "ID NAME" lines of qemu-img snapshot -l and of dimg's list must be the same. */
static void expect_same_list(const char *path)
{
    char *q =
        tu_sh_out("qemu-img snapshot -U -l '%s' | tail -n +3 | awk '{print $1 \" \" $2}'", path);
    assert_non_null(q);
    struct img *img = tq_open(path, 0);
    struct img_snap *sn;
    size_t n;
    assert_int_equal(img_snap_list(img, &sn, &n), 0);
    char d[8192] = "";
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(d);
        snprintf(d + l, sizeof d - l, "%s %s\n", sn[i].id, sn[i].name);
    }
    if (strcmp(q, d) != 0)
        fail_msg("%s: qemu-img lists\n%sdimg lists\n%s", path, q, d);
    free(sn);
    free(q);
    img_close(img);
}

/* The snapshot reads back as its reference, through qemu-img and through dimg's view. */
static void expect_snap_content(const struct ts *t, const char *name)
{
    const char *out = tu_path("snapout.raw");
    /* qemu-img shows the snapshot at the current virtual size: compare the snapshot's part. */
    int r = tu_sh("qemu-img convert -U -f qcow2 -l snapshot.name=%s -O raw '%s' '%s' && "
                  "cmp -s -n $(stat -c %%s '%s') '%s' '%s'",
                  name, t->path, out, snap_ref(t, name), out, snap_ref(t, name));
    if (r != 0)
        fail_msg("%s: snapshot %s does not read back as taken", t->path, name);
    size_t len;
    uint8_t *want = tu_read_file(snap_ref(t, name), &len);
    struct img *img = tq_open(t->path, 0);
    if (img_snap_load(img, name) < 0)
        fail_msg("load %s: %s", name, img_errmsg(img));
    assert_int_equal(img->size, len);
    uint8_t *got = malloc(len);
    if (img_read(img, 0, got, len) < 0)
        fail_msg("read at snapshot %s: %s", name, img_errmsg(img));
    assert_memory_equal(got, want, len);
    free(got);
    free(want);
    img_close(img);
}

/* Check, listing and current content, with the image closed. */
static void ts_verify(struct ts *t, bool reopen)
{
    ts_close(t);
    expect_clean(t->path);
    expect_same_list(t->path);
    int r = tu_sh("qemu-img compare -q -f qcow2 -F raw '%s' '%s'", t->path, t->ref);
    if (r != 0)
        fail_msg("%s: current content differs from the reference (%d)", t->path, r);
    tq_compare_raw(t->path);
    if (reopen)
        ts_open(t);
}

/* create / write (COW) / create / delete / apply in one image variant. */
static void scenario(const char *name, const char *opts, uint64_t cs)
{
    struct ts t;
    uint64_t size = 24 * cs < (4u << 20) ? (4u << 20) : 24 * cs;
    ts_new(&t, name, opts, cs, size);
    ts_write(&t, 0, 3 * cs + 17);
    ts_write(&t, 5 * cs + 100, cs);
    ts_compressed(&t, 8 * cs);
    ts_zero(&t, 10 * cs, cs);
    ts_write(&t, size - 512, 512);
    ts_snap(&t, "s1");
    ts_verify(&t, true);
    expect_snap_content(&t, "s1");

    /* Writes into shared clusters and shared L2 tables. */
    ts_write(&t, 100, 200);            /* partial overwrite of a shared cluster */
    ts_write(&t, 2 * cs, cs);          /* whole shared cluster */
    ts_write(&t, 8 * cs + 5, 10);      /* into the shared compressed cluster */
    ts_zero(&t, 5 * cs, 2 * cs);       /* zeroing shared data */
    ts_write(&t, 12 * cs + 3, 2 * cs); /* new cluster under a shared L2 table */
    ts_write(&t, 100, 200);            /* now ours alone: in place */
    ts_verify(&t, true);
    expect_snap_content(&t, "s1");

    ts_snap(&t, "s2");
    ts_write(&t, 1, cs + 1);
    ts_compressed(&t, 9 * cs);
    ts_snap(&t, "s3");
    ts_write(&t, 3 * cs, 3);
    ts_verify(&t, true);
    expect_snap_content(&t, "s1");
    expect_snap_content(&t, "s2");
    expect_snap_content(&t, "s3");

    ts_delete(&t, "s2");
    ts_verify(&t, true);
    expect_snap_content(&t, "s1");
    expect_snap_content(&t, "s3");

    ts_apply(&t, "s1");
    ts_verify(&t, true);
    ts_write(&t, 0, 4096);
    ts_verify(&t, true);
    expect_snap_content(&t, "s1");
    expect_snap_content(&t, "s3");

    ts_apply_key(&t, "3", "s3"); /* by ID */
    ts_delete(&t, "s1");
    ts_delete(&t, "s3");
    ts_verify(&t, false);
    /* Nothing shared any more: every COPIED flag is back and the table is gone. */
    assert_int_equal(tu_sh("qemu-img info '%s' | grep -q 'Snapshot list'", t.path), 1);
}

static void test_variants(void **state)
{
    scenario("v3.qcow2", "", 65536);
    scenario("v2.qcow2", "compat=0.10", 65536);
    scenario("v2s.qcow2", "compat=0.10,cluster_size=4k", 4096);
    scenario("c512.qcow2", "cluster_size=512", 512);
    scenario("ext.qcow2", "extended_l2=on,cluster_size=16k", 16384);
    scenario("rc4.qcow2", "refcount_bits=4,cluster_size=4k", 4096);
    scenario("rc64.qcow2", "refcount_bits=64,cluster_size=4k", 4096);
    scenario("lazy.qcow2", "lazy_refcounts=on", 65536);
    scenario("zstd.qcow2", "compression_type=zstd,cluster_size=8k", 8192);
}

/* qemu writes between dimg snapshots; qemu-img applies and deletes what dimg made. */
static void test_dimg_snapshots_qemu_writes(void **state)
{
    struct ts t;
    ts_new(&t, "mixed.qcow2", "cluster_size=4k", 4096, 4u << 20);
    ts_write(&t, 0, 100000);
    ts_snap(&t, "a");
    ts_close(&t);
    assert_int_equal(tu_sh("qemu-io -f qcow2 -c 'write -P 0x5a 4096 70000' '%s' >/dev/null && "
                           "qemu-io -f raw -c 'write -P 0x5a 4096 70000' '%s' >/dev/null",
                           t.path, t.ref),
                     0);
    expect_clean(t.path);
    ts_open(&t);
    ts_snap(&t, "b");
    ts_close(&t);
    assert_int_equal(tu_sh("qemu-io -f qcow2 -c 'write -z 0 8192' '%s' >/dev/null", t.path), 0);
    expect_clean(t.path);
    expect_same_list(t.path);
    expect_snap_content(&t, "a");
    expect_snap_content(&t, "b");
    assert_int_equal(tu_sh("qemu-img snapshot -a a '%s' && qemu-img compare -q -F raw '%s' "
                           "'%s' && qemu-img snapshot -d b '%s' && qemu-img check -q '%s'",
                           t.path, t.path, snap_ref(&t, "a"), t.path, t.path),
                     0);
    expect_same_list(t.path);
    expect_snap_content(&t, "a");
}

/* Snapshots qemu-img made (with qemu's extra data and icount 0) applied and deleted by dimg;
 * the entries left keep their bytes. */
static void test_qemu_snapshots_dimg_ops(void **state)
{
    static const char *compat[] = {"1.1", "0.10"};
    for (int k = 0; k < 2; k++) {
        struct ts t;
        char opts[64];
        snprintf(opts, sizeof opts, "compat=%s", compat[k]);
        ts_new(&t, "qemu.qcow2", opts, 65536, 8u << 20);
        ts_close(&t);
        const char *p = t.path;
        assert_int_equal(tu_sh("qemu-io -f qcow2 -c 'write -P 1 0 192k' '%s' >/dev/null && "
                               "qemu-img convert -O raw '%s' '%s' && qemu-img snapshot -c q1 '%s' "
                               "&& qemu-io -f qcow2 -c 'write -P 2 64k 64k' -c 'write -c -P 3 1M "
                               "64k' '%s' >/dev/null && qemu-img convert -O raw '%s' '%s' && "
                               "qemu-img snapshot -c q2 '%s' && qemu-io -f qcow2 -c 'write -P 4 "
                               "0 4k' '%s' >/dev/null && qemu-img snapshot -c q3 '%s'",
                               p, p, snap_ref(&t, "q1"), p, p, p, snap_ref(&t, "q2"), p, p, p),
                         0);
        assert_int_equal(tu_sh("qemu-img convert -O raw '%s' '%s'", p, t.ref), 0);
        assert_int_equal(tu_sh("cp '%s' '%s'", t.ref, snap_ref(&t, "q3")), 0);
        expect_snap_content(&t, "q1");
        expect_snap_content(&t, "q2");
        ts_open(&t);
        ts_apply(&t, "q1");
        ts_verify(&t, true);
        ts_write(&t, 65536 + 10, 20);
        ts_delete(&t, "q2");
        ts_verify(&t, true);
        expect_snap_content(&t, "q1");
        expect_snap_content(&t, "q3");
        /* The qemu-made entries that are left are qemu's bytes: icount 0 still listed. */
        char *l = tu_sh_out("qemu-img snapshot -U -l '%s' | tail -n +3 | awk '{print $NF}'", p);
        assert_string_equal(l, "0\n0\n");
        free(l);
        ts_snap(&t, "d1");
        ts_close(&t);
        expect_clean(p);
        assert_int_equal(tu_sh("qemu-img snapshot -a d1 '%s' && qemu-img snapshot -d q1 '%s' "
                               "&& qemu-img check -q '%s' && qemu-img compare -q -F raw '%s' "
                               "'%s'",
                               p, p, p, p, snap_ref(&t, "d1")),
                         0);
        expect_same_list(p);
    }
}

/* qemu writes its table without the last entry's padding; at the end of the file, the file
 * then ends inside that padding. */
static void test_qemu_table_at_eof(void **state)
{
    struct ts t;
    ts_new(&t, "eof.qcow2", "", 65536, 1u << 20);
    ts_write(&t, 0, 4096);
    ts_close(&t);
    assert_int_equal(
        tu_sh("qemu-img snapshot -c q '%s' && cp '%s' '%s'", t.path, t.ref, snap_ref(&t, "q")), 0);
    assert_true(tu_file_size(t.path) % 8 != 0);
    ts_open(&t);
    ts_snap(&t, "d");
    ts_delete(&t, "q");
    ts_verify(&t, false);
    expect_snap_content(&t, "d");
}

/* Applying a snapshot taken at another virtual size restores that size. */
static void test_apply_other_size(void **state)
{
    struct ts t;
    ts_new(&t, "size.qcow2", "", 65536, 4u << 20);
    ts_write(&t, (4u << 20) - 4096, 4096);
    ts_snap(&t, "small");
    if (img_truncate(t.img, 64u << 20, IMG_PREALLOC_OFF) < 0)
        fail_msg("grow: %s", img_errmsg(t.img));
    assert_int_equal(ftruncate(t.reffd, 64 << 20), 0);
    ts_write(&t, 60u << 20, 70000);
    ts_snap(&t, "big");
    ts_apply(&t, "small");
    assert_int_equal(t.img->size, 4u << 20);
    ts_verify(&t, true);
    ts_apply(&t, "big");
    assert_int_equal(t.img->size, 64u << 20);
    ts_verify(&t, false);
    expect_snap_content(&t, "small");
}

/* 1-bit refcounts cannot count a second reference: refused before anything is written. */
static void test_refcount_full(void **state)
{
    struct ts t;
    ts_new(&t, "rc1.qcow2", "refcount_bits=1,cluster_size=4k", 4096, 1u << 20);
    ts_write(&t, 0, 10000);
    ts_close(&t);
    char *before = tu_sh_out("md5sum < '%s'", t.path);
    ts_open(&t);
    assert_int_equal(img_snap_create(t.img, "a"), -ERANGE);
    assert_non_null(strstr(img_errmsg(t.img), "refcount"));
    ts_close(&t);
    char *after = tu_sh_out("md5sum < '%s'", t.path);
    assert_string_equal(before, after);
    free(before);
    free(after);
    expect_clean(t.path);
}

static void test_names(void **state)
{
    struct ts t;
    ts_new(&t, "names.qcow2", "", 65536, 1u << 20);
    ts_snap(&t, "one");
    assert_int_equal(img_snap_create(t.img, "one"), -EEXIST);
    assert_null(strchr(img_errmsg(t.img), '\n'));
    assert_int_equal(img_snap_create(t.img, "1"), -EEXIST); /* the ID of "one" */
    assert_int_equal(img_snap_create(t.img, ""), -EINVAL);
    char lng[300];
    memset(lng, 'x', sizeof lng - 1);
    lng[sizeof lng - 1] = 0;
    assert_int_equal(img_snap_create(t.img, lng), -EINVAL);
    assert_int_equal(img_snap_create(t.img, "a\nb"), -EINVAL);
    lng[255] = 0;
    if (img_snap_create(t.img, lng) < 0) /* 255 bytes is fine */
        fail_msg("255-byte name: %s", img_errmsg(t.img));
    assert_int_equal(img_snap_apply(t.img, "nope"), -ENOENT);
    assert_int_equal(img_snap_delete(t.img, "nope"), -ENOENT);
    assert_string_equal(img_errmsg(t.img), "qcow2: snapshot 'nope' not found");
    ts_delete(&t, "1");
    ts_snap(&t, "three"); /* IDs keep counting from the largest one left */
    struct img_snap *sn;
    size_t n;
    assert_int_equal(img_snap_list(t.img, &sn, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(sn[0].id, "2");
    assert_string_equal(sn[1].id, "3");
    assert_int_equal(sn[1].disk_size, 1u << 20);
    assert_true(sn[1].icount == UINT64_MAX);
    assert_true(sn[1].date_sec > 1600000000u);
    free(sn);
    ts_verify(&t, false);
    /* Read-only handles cannot change snapshots; raw images have none. */
    struct img *img = tq_open(t.path, 0);
    assert_int_equal(img_snap_create(img, "x"), -EROFS);
    img_close(img);
    const char *raw = tu_path("plain.raw");
    assert_int_equal(tu_sh("truncate -s 1M '%s'", raw), 0);
    struct img_err err = {0};
    img = img_open(raw, "raw", IMG_OPEN_RW, &err);
    assert_non_null(img);
    assert_int_equal(img_snap_create(img, "x"), -ENOTSUP);
    img_close(img);
}

/* ---- hostile snapshot tables ---- */

static void poke32(const char *p, uint64_t off, uint32_t v)
{
    uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    tu_poke(p, off, b, 4);
}

static void poke64(const char *p, uint64_t off, uint64_t v)
{
    poke32(p, off, (uint32_t)(v >> 32));
    poke32(p, off + 4, (uint32_t)v);
}

static uint64_t snaptab(const char *p)
{
    char *o = tu_sh_out("od -An -tx1 -j64 -N8 '%s' | tr -d ' \\n'", p);
    uint64_t v = strtoull(o, NULL, 16);
    free(o);
    return v;
}

static const char *hostile_base(void)
{
    static char p[1024];
    snprintf(p, sizeof p, "%s", tu_path("hostile.qcow2"));
    assert_int_equal(tu_sh("rm -f '%s' && qemu-img create -q -f qcow2 '%s' 4M && qemu-io -f "
                           "qcow2 -c 'write -P 7 0 128k' '%s' >/dev/null && qemu-img snapshot -c "
                           "s '%s'",
                           p, p, p, p),
                     0);
    return p;
}

static void expect_open_fails(const char *p, const char *want)
{
    struct img_err err = {0};
    struct img *img = img_open(p, "qcow2", IMG_OPEN_RW, &err);
    if (img) {
        img_close(img);
        fail_msg("%s opened although it should fail (%s)", p, want);
    }
    assert_null(strchr(err.msg, '\n'));
    if (!strstr(err.msg, want))
        fail_msg("message '%s' lacks '%s'", err.msg, want);
}

/* Open works, but applying or deleting must fail cleanly, changing nothing. */
static void expect_ops_fail(const char *p, const char *want)
{
    char *before = tu_sh_out("md5sum < '%s'", p);
    struct img *img = tq_open(p, IMG_OPEN_RW);
    int r1 = img_snap_apply(img, "s");
    if (r1 >= 0 || !strstr(img_errmsg(img), want))
        fail_msg("apply: %d '%s' lacks '%s'", r1, img_errmsg(img), want);
    assert_null(strchr(img_errmsg(img), '\n'));
    int r2 = img_snap_delete(img, "s");
    if (r2 >= 0 || !strstr(img_errmsg(img), want))
        fail_msg("delete: %d '%s' lacks '%s'", r2, img_errmsg(img), want);
    img_close(img);
    char *after = tu_sh_out("md5sum < '%s'", p);
    assert_string_equal(before, after);
    free(before);
    free(after);
}

static void test_hostile(void **state)
{
    const char *p = hostile_base();
    uint64_t st = snaptab(p);
    poke32(p, 60, 2); /* one more entry than the table holds */
    expect_open_fails(p, "snapshot table");

    p = hostile_base();
    poke32(p, 60, 0x7fffffff);
    expect_open_fails(p, "nb_snapshots");

    p = hostile_base();
    poke64(p, 64, 1ull << 50); /* table past the end of the file */
    expect_open_fails(p, "snapshot table");

    p = hostile_base();
    poke32(p, st + 36, 0x10000); /* extra data beyond the limit */
    expect_open_fails(p, "extra data");

    p = hostile_base();
    poke32(p, st + 36, 1000); /* extra data running past the file */
    expect_open_fails(p, "snapshot table");

    p = hostile_base();
    uint8_t ff[2] = {0xff, 0xff}; /* name length past the file */
    tu_poke(p, st + 14, ff, 2);
    expect_open_fails(p, "snapshot table");

    p = hostile_base();
    poke64(p, st, 1ull << 40); /* its L1 table past the end of the file */
    expect_ops_fail(p, "L1 table");

    p = hostile_base();
    poke64(p, st, 0x30200); /* unaligned L1 */
    expect_ops_fail(p, "L1 table");

    p = hostile_base();
    poke64(p, st + 48, 1ull << 63); /* absurd disk size */
    expect_ops_fail(p, "disk size");

    /* An L2 entry of the snapshot pointing past the file: refused before any change. */
    p = hostile_base();
    char *l1 = tu_sh_out("od -An -tx1 -j%llu -N8 '%s' | tr -d ' \\n'", (unsigned long long)st, p);
    uint64_t sl1 = strtoull(l1, NULL, 16);
    free(l1);
    char *l2 = tu_sh_out("od -An -tx1 -j%llu -N8 '%s' | tr -d ' \\n'", (unsigned long long)sl1, p);
    uint64_t sl2 = strtoull(l2, NULL, 16) & 0x00fffffffffffe00ull;
    free(l2);
    poke64(p, sl2 + 8, (1ull << 45) | (1ull << 63));
    expect_ops_fail(p, "outside the file");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_variants),
        cmocka_unit_test(test_dimg_snapshots_qemu_writes),
        cmocka_unit_test(test_qemu_snapshots_dimg_ops),
        cmocka_unit_test(test_qemu_table_at_eof),
        cmocka_unit_test(test_apply_other_size),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_refcount_full),
        cmocka_unit_test(test_hostile),
    };
    return cmocka_run_group_tests(tests, NULL, tu_teardown);
}

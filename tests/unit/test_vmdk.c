/* SPDX-License-Identifier: GPL-2.0-or-later */
/* test_vmdk.c: the vmdk driver against the qemu-img/qemu-io oracle.
 * Read direction: every subformat qemu-img 7.2 creates (monolithicSparse with and without
 * zeroed grains, monolithicFlat, twoGbMaxExtentSparse/Flat, streamOptimized), patterns written
 * by qemu-io at awkward offsets (first and last sector, grain, grain-table and 2 GiB piece
 * boundaries, zero writes), read whole and compared with `qemu-img convert -O raw`, block
 * status compared with `qemu-img map`. Write direction: dimg creates and writes every
 * subformat while a raw reference is kept in step (more than the grain-table cache holds, so
 * dirty tables are evicted), reopens and writes again; `qemu-img check` must be clean and
 * `qemu-img compare` identical. streamOptimized: VMware's layout (markers, directory, footer
 * and end-of-stream marker at the end) checked byte by byte, appends after reopening, and
 * writes into QEMU-made streams. Children: COW of partial grains through the parent, the
 * parent's CID guarding the link. Grow for every subformat, in place and with the directory
 * moved. Check: grains outside the file and grains sharing space. Hostile input: one test per
 * header and descriptor check, one-line messages naming the problem.
 */
#include "test_qcow2_common.h"

#include "core/base/bytes.h"
#include "core/block/driver.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#define MiB (1ull << 20)
#define GiB (1ull << 30)
#define ULL(x) ((unsigned long long)(x))

static const char *const subformats[] = {"monolithicSparse", "monolithicFlat",
                                         "twoGbMaxExtentSparse", "twoGbMaxExtentFlat",
                                         "streamOptimized"};

/* ---- read direction ---- */

static void qio_patterns(const char *path, uint64_t size, bool stream)
{
    char piece[64];
    snprintf(piece, sizeof piece, "%llu", ULL(size > 2 * GiB ? 2 * GiB - 500 : 20 * MiB - 500));
    int r;
    if (stream) /* QEMU writes streams a whole grain at a time, each grain once */
        r = tu_sh("qemu-io -f vmdk -c 'write -P 0x11 0 64k' -c 'write -P 0x22 %llu 512' "
                  "-c 'write -P 0x33 128k 128k' -c 'write -P 0x44 %llu 128k' "
                  "-c 'write -z 10M 64k' '%s' >/dev/null",
                  ULL(size - 512), ULL(32 * MiB - 65536), path);
    else
        r = tu_sh("qemu-io -f vmdk -c 'write -P 0x11 0 512' -c 'write -P 0x22 %llu 512' "
                  "-c 'write -P 0x33 %llu 300' -c 'write -P 0x44 %llu 20' "
                  "-c 'write -P 0x55 %s 1000' -c 'write -z %llu 65536' "
                  "-c 'write -P 0x66 %llu 70000' -c 'write -z %llu 100' '%s' >/dev/null",
                  ULL(size - 512), ULL(3 * 65536 - 100), ULL(32 * MiB - 7), piece, ULL(10 * MiB),
                  ULL(12 * MiB + 3), ULL(12 * MiB + 60000), path);
    assert_int_equal(r, 0);
}

static void test_read_qemu_images(void **state)
{
    for (size_t i = 0; i < 6; i++) {
        const char *sf = i < 5 ? subformats[i] : "monolithicSparse";
        /* Split images cross a 2 GiB piece boundary; the others stay small. */
        uint64_t size = strncmp(sf, "twoGb", 5) == 0 ? 2 * GiB + 3 * MiB + 512 : 40 * MiB + 512;
        char name[64];
        snprintf(name, sizeof name, "q%zu.vmdk", i);
        const char *p = tu_path(name);
        assert_int_equal(tu_sh("rm -f %s/q%zu*; qemu-img create -q -f vmdk -o subformat=%s%s "
                               "'%s' %llu",
                               tu_dir(), i, sf, i == 5 ? ",zeroed_grain=on" : "", p, ULL(size)),
                         0);
        tq_compare_raw(p);
        tq_compare_map(p);
        qio_patterns(p, size, strcmp(sf, "streamOptimized") == 0);
        tq_compare_raw(p);
        tq_compare_map(p);
    }
}

static void test_info(void **state)
{
    const char *p = tu_path("info.vmdk");
    assert_int_equal(tu_sh("qemu-img create -q -f vmdk -o adapter_type=lsilogic,hwversion=7 "
                           "'%s' 100M",
                           p),
                     0);
    struct img *img = tq_open(p, 0);
    assert_string_equal(img->drv->name, "vmdk"); /* probed */
    struct img_info info = {0};
    assert_int_equal(img_get_info(img, &info), 0);
    assert_int_equal(info.cluster_size, 65536);
    assert_int_equal(info.virtual_size, 100 * MiB);
    char *q = tu_sh_out("qemu-img info --output=json '%s' | grep -E '\"(parent-)?cid\"'", p);
    char want[64];
    bool seen_cid = false;
    for (size_t i = 0; i < info.nkv; i++) {
        if (strcmp(info.kv[i].key, "cid") == 0) {
            snprintf(want, sizeof want, "\"cid\": %lld", (long long)info.kv[i].num);
            assert_non_null(strstr(q, want));
            seen_cid = true;
        }
        if (strcmp(info.kv[i].key, "adapter-type") == 0)
            assert_string_equal(info.kv[i].str, "lsilogic");
        if (strcmp(info.kv[i].key, "hwversion") == 0)
            assert_string_equal(info.kv[i].str, "7");
    }
    assert_true(seen_cid);
    free(q);
    /* The layout of QEMU's monolithicSparse for 100 MiB: 4 grain tables per directory. */
    struct img_region *v;
    size_t n;
    assert_int_equal(img_layout(img, &v, &n), 0);
    assert_int_equal(v[0].kind, IMG_R_HEADER);
    assert_int_equal(v[1].kind, IMG_R_META); /* descriptor, sectors 1..20 */
    assert_int_equal(v[1].off, 512);
    assert_int_equal(v[2].kind, IMG_R_GRAIN_DIR); /* redundant directory at sector 21 */
    assert_int_equal(v[2].off, 21 * 512);
    assert_int_equal(v[3].kind, IMG_R_GRAIN_TABLE);
    assert_int_equal(v[3].len, 4 * 2048);
    free(v);
    img_close(img);
}

/* ---- write direction ---- */

static void verify(const char *path, const char *ref)
{
    int r = tu_sh("qemu-img check -q -f vmdk '%s'", path);
    if (r != 0) {
        tu_sh("qemu-img check -f vmdk '%s'", path);
        fail_msg("qemu-img check %s exited %d", path, r);
    }
    r = tu_sh("qemu-img compare -q -f vmdk -F raw '%s' '%s'", path, ref);
    if (r != 0)
        fail_msg("qemu-img compare %s: exit %d", path, r);
    tq_compare_raw(path);
    tq_compare_map(path);
    struct img *img = tq_open(path, 0);
    struct img_check c = {0};
    assert_int_equal(img_check(img, &c, 0), 0);
    assert_int_equal(c.corruptions, 0);
    img_close(img);
}

static void start(struct tw *t, const char *p, const char *ref)
{
    t->img = tq_open(p, IMG_OPEN_RW | IMG_OPEN_BACKING);
    t->ref = open(ref, O_RDWR);
    assert_true(t->ref >= 0);
}

static void finish_tw(struct tw *t)
{
    assert_int_equal(img_flush(t->img), 0);
    img_close(t->img);
    close(t->ref);
}

static void scenario(const char *sf, const char *extra)
{
    char p[1024], ref[1040], opts[128];
    snprintf(p, sizeof p, "%s", tu_path(sf));
    strcat(p, ".vmdk");
    snprintf(ref, sizeof ref, "%s.ref", p);
    snprintf(opts, sizeof opts, "subformat=%s%s", sf, extra);
    uint64_t size = 2 * GiB + 3 * MiB + 512;
    assert_int_equal(tu_sh("rm -f %s/%s*; truncate -s %llu '%s'", tu_dir(), sf, ULL(size), ref), 0);
    tu_create("vmdk", p, opts, size, NULL, NULL);
    struct tw t = {.seed = 1};
    start(&t, p, ref);
    tw_write(&t, 0, 512);
    tw_write(&t, size - 512, 512);           /* last sector, in a partial last grain */
    tw_write(&t, 65536 - 100, 300);          /* across a grain boundary */
    tw_write(&t, 32 * MiB - 7, 20);          /* across a grain-table boundary */
    tw_write(&t, 2 * GiB - 700, 1400);       /* across the 2 GiB piece boundary */
    tw_write(&t, 3 * MiB + 7, 2 * MiB + 13); /* many grains, partial at both ends */
    tw_write(&t, 3 * MiB + 100, 100);        /* in place */
    tw_zero(&t, 4 * MiB, MiB);               /* whole allocated grains */
    tw_zero(&t, 6 * MiB + 512, 1024);        /* unallocated */
    tw_zero(&t, 5 * MiB - 4096, 8192);       /* partial, straddling */
    /* One sector in each of 65 grain tables: more than the cache holds. */
    for (uint64_t k = 0; k < 65; k++)
        tw_write(&t, k * 32 * MiB + 1000, 512);
    finish_tw(&t);
    verify(p, ref);
    /* Reopened: tables come back from the file; overwrite, extend, zero. */
    start(&t, p, ref);
    tw_write(&t, 3 * MiB + 50000, 100000);
    tw_write(&t, 2 * GiB + 1, 3);
    tw_zero(&t, 100 * MiB + 32 * MiB, 65536);
    finish_tw(&t);
    verify(p, ref);
}

static void test_write_monolithic_sparse(void **state)
{
    scenario("monolithicSparse", "");
}
static void test_write_zeroed_grain(void **state)
{
    scenario("monolithicSparse", ",zeroed_grain=on");
    /* Whole zeroed grains became zeroed-grain entries, not data. */
    struct img *img = tq_open(tu_path("monolithicSparse.vmdk"), 0);
    struct img_bs bs;
    assert_int_equal(img_block_status_layer(img, 4 * MiB, MiB, &bs), 0);
    assert_int_equal(bs.flags & (IMG_BS_ZERO | IMG_BS_DATA), IMG_BS_ZERO);
    assert_int_equal(bs.len, 15 * 65536); /* the last grain was rewritten partly */
    img_close(img);
}
static void test_write_flat(void **state)
{
    scenario("monolithicFlat", "");
}
static void test_write_split_sparse(void **state)
{
    scenario("twoGbMaxExtentSparse", "");
    /* Three pieces, named after the image. */
    assert_true(tu_exists(tu_path("twoGbMaxExtentSparse-s002.vmdk")));
    assert_false(tu_exists(tu_path("twoGbMaxExtentSparse-s003.vmdk")));
}
static void test_write_split_flat(void **state)
{
    scenario("twoGbMaxExtentFlat", "");
    assert_int_equal(tu_file_size(tu_path("twoGbMaxExtentFlat-f001.vmdk")), 2 * GiB);
    assert_int_equal(tu_file_size(tu_path("twoGbMaxExtentFlat-f002.vmdk")), 3 * MiB + 512);
}

/* ---- streamOptimized ---- */

static void test_stream(void **state)
{
    const char *p = tu_path("s.vmdk");
    char ref[1040];
    snprintf(ref, sizeof ref, "%s.ref", p);
    uint64_t size = 200 * MiB + 512;
    assert_int_equal(tu_sh("rm -f '%s'; truncate -s %llu '%s'", ref, ULL(size), ref), 0);
    tu_create("vmdk", p, "subformat=streamOptimized", size, NULL, NULL);
    struct tw t = {.seed = 7};
    start(&t, p, ref);
    tw_write(&t, 0, 3 * 65536);        /* whole grains */
    tw_write(&t, 5 * 65536 + 10, 100); /* a partial grain, filled with zeros */
    tw_write(&t, size - 512, 512);
    tw_write(&t, 64 * MiB, 4 * MiB);
    finish_tw(&t);
    verify(p, ref);

    /* VMware's layout: header says the directory is at the end; footer marker, footer and
     * end-of-stream marker close the file; each table is announced by its marker. */
    size_t n;
    uint8_t *f = tu_read_file(p, &n);
    assert_true(n % 512 == 0 && n > 4 * 512);
    assert_int_equal(le32_load(f + 4), 3);
    assert_int_equal(le32_load(f + 8), 0x30001);
    assert_int_equal(le64_load(f + 56), UINT64_MAX);
    const uint8_t *fm = f + n - 1536, *ft = f + n - 1024, *eos = f + n - 512;
    assert_int_equal(le32_load(fm + 12), 3);
    assert_memory_equal(ft, "KDMV", 4);
    static const uint8_t z512[512];
    assert_memory_equal(eos, z512, 512);
    uint64_t gd = le64_load(ft + 56);
    assert_true(gd * 512 < n - 1536);
    assert_int_equal(le32_load(f + (gd - 1) * 512 + 12), 2); /* GD marker */
    uint32_t gt = le32_load(f + gd * 512);                   /* table 0 */
    assert_true(gt > 0);
    assert_int_equal(le32_load(f + (gt - 1) * 512 + 12), 1); /* GT marker */
    uint32_t g0 = le32_load(f + (uint64_t)gt * 512);         /* grain 0 */
    assert_int_equal(le64_load(f + (uint64_t)g0 * 512), 0);  /* its marker names lba 0 */
    assert_int_equal(f[(uint64_t)g0 * 512 + 12], 0x78);      /* zlib header */
    free(f);

    /* Reopened for more: new grains go where the tail was; a written grain is refused. */
    start(&t, p, ref);
    tw_write(&t, 100 * MiB, 65536);
    tw_write(&t, 9 * 65536, 200);
    uint8_t b[512] = {1};
    assert_int_equal(img_write(t.img, 0, b, sizeof b), -ENOTSUP);
    assert_non_null(strstr(img_errmsg(t.img), "already written"));
    finish_tw(&t);
    verify(p, ref);
}

/* QEMU's stream layout (tables up front, no footer): dimg appends grains to it. */
static void test_stream_qemu_layout(void **state)
{
    const char *p = tu_path("qs.vmdk");
    char ref[1040];
    snprintf(ref, sizeof ref, "%s.ref", p);
    assert_int_equal(tu_sh("qemu-img create -q -f vmdk -o subformat=streamOptimized '%s' 64M && "
                           "qemu-io -f vmdk -c 'write -P 9 0 128k' '%s' >/dev/null && "
                           "qemu-img convert -O raw '%s' '%s'",
                           p, p, p, ref),
                     0);
    struct tw t = {.seed = 3};
    start(&t, p, ref);
    tw_write(&t, 40 * MiB, 70000);
    tw_write(&t, 64 * MiB - 512, 512);
    finish_tw(&t);
    verify(p, ref);
}

/* convert -c picks streamOptimized; other subformats with -c are refused. */
static void test_compress_create(void **state)
{
    struct img_opts o = {0};
    struct img_err err = {0};
    struct img_create_req req = {.size = MiB, .opts = &o, .compress = true};
    assert_int_equal(img_create("vmdk", tu_path("c.vmdk"), &req, &err), 0);
    struct img *img = tq_open(tu_path("c.vmdk"), 0);
    struct img_info info = {0};
    assert_int_equal(img_get_info(img, &info), 0);
    assert_true(info.compressed);
    img_close(img);
    assert_int_equal(img_opts_parse(&o, "subformat=monolithicFlat", &err), 0);
    assert_int_equal(img_create("vmdk", tu_path("c2.vmdk"), &req, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "streamOptimized"));
    assert_false(tu_exists(tu_path("c2.vmdk")));
    assert_false(tu_exists(tu_path("c2-flat.vmdk")));
    img_opts_free(&o);
}

/* ---- children ---- */

static void test_child(void **state)
{
    const char *base = tu_path("base.vmdk"), *child = tu_path("child.vmdk");
    char ref[1040];
    snprintf(ref, sizeof ref, "%s.ref", child);
    uint64_t size = 40 * MiB;
    assert_int_equal(tu_sh("rm -f '%s' '%s'; qemu-img create -q -f vmdk '%s' 40M && "
                           "qemu-io -f vmdk -c 'write -P 0x5a 0 40M' '%s' >/dev/null && "
                           "qemu-img convert -O raw '%s' '%s'",
                           base, child, base, base, base, ref),
                     0);
    tu_create("vmdk", child, "", size, "base.vmdk", "vmdk");
    struct tw t = {.seed = 11};
    start(&t, child, ref);
    tw_write(&t, 100, 200);           /* a partial grain: the rest comes from the parent */
    tw_write(&t, 65536 * 5 - 10, 20); /* two partial grains */
    tw_write(&t, size - 512, 512);
    tw_zero(&t, 8 * MiB, 3 * 65536); /* zeros that hide the parent: written */
    finish_tw(&t);
    /* qemu-img follows the parent link too. */
    assert_int_equal(tu_sh("qemu-img check -q '%s'", child), 0);
    assert_int_equal(tu_sh("qemu-img compare -q -f vmdk -F raw '%s' '%s'", child, ref), 0);
    tq_compare_raw(child);
    char *out = tu_sh_out("qemu-img info --output=json '%s'", child);
    assert_non_null(strstr(out, "\"backing-filename\": \"base.vmdk\""));
    free(out);
    /* The parent changes: its new CID no longer matches, so the child refuses to read. */
    assert_int_equal(tu_sh("qemu-io -f vmdk -c 'write -P 1 0 512' '%s' >/dev/null", base), 0);
    struct img *img = tq_open(child, IMG_OPEN_BACKING);
    uint8_t b[512];
    assert_int_equal(img_read(img, 65536, b, sizeof b), -EINVAL);
    assert_non_null(strstr(img_errmsg(img), "CID"));
    img_close(img);
    /* A child qemu-img made reads the same in dimg. */
    const char *qc = tu_path("qchild.vmdk");
    assert_int_equal(tu_sh("qemu-img create -q -f vmdk -b base.vmdk -F vmdk '%s' && "
                           "qemu-io -f vmdk -c 'write -P 0x77 1000 100000' '%s' >/dev/null",
                           qc, qc),
                     0);
    tq_compare_raw(qc);
    tq_compare_map(qc);
    /* A parent that is not vmdk is refused at create. */
    struct img_err err = {0};
    struct img_create_req req = {.size = MiB, .backing_file = "base.vmdk", .backing_fmt = "raw"};
    assert_true(img_create("vmdk", tu_path("bad.vmdk"), &req, &err) < 0);
    assert_non_null(strstr(err.msg, "must be a vmdk"));
}

/* ---- grow ---- */

static void grow_one(const char *sf, uint64_t from, uint64_t to)
{
    char p[1024], ref[1040];
    snprintf(p, sizeof p, "%s", tu_path("g-"));
    strcat(p, sf);
    strcat(p, ".vmdk");
    snprintf(ref, sizeof ref, "%s.ref", p);
    assert_int_equal(tu_sh("rm -f %s/g-%s*; truncate -s %llu '%s'", tu_dir(), sf, ULL(from), ref),
                     0);
    char opts[64];
    snprintf(opts, sizeof opts, "subformat=%s", sf);
    tu_create("vmdk", p, opts, from, NULL, NULL);
    struct tw t = {.seed = 21};
    start(&t, p, ref);
    tw_write(&t, 0, 65536);
    tw_write(&t, from - 512, 512);
    assert_int_equal(img_truncate(t.img, to, IMG_PREALLOC_OFF), 0);
    assert_int_equal(t.img->size, to);
    assert_int_equal(ftruncate(t.ref, (off_t)to), 0);
    tw_write(&t, to - 70000, 70000); /* the new space takes writes at once */
    finish_tw(&t);
    verify(p, ref);
    /* And after reopening. */
    start(&t, p, ref);
    tw_write(&t, from + 65536 * 3 + 1, 99);
    finish_tw(&t);
    verify(p, ref);
}

static void test_grow(void **state)
{
    for (size_t i = 0; i < 5; i++) {
        grow_one(subformats[i], 100 * MiB, 200 * MiB);               /* directory grows in place */
        grow_one(subformats[i], GiB + 512, 2 * GiB + 3 * MiB + 512); /* new pieces */
    }
    assert_true(tu_exists(tu_path("g-twoGbMaxExtentFlat-f002.vmdk")));
    assert_true(tu_exists(tu_path("g-twoGbMaxExtentSparse-s002.vmdk")));
    /* Past the directory's room (128 entries per sector): written anew at the end. */
    grow_one("monolithicSparse", 100 * MiB, 4 * GiB + 100 * MiB);
    grow_one("streamOptimized", 100 * MiB, 4 * GiB + 100 * MiB);
    /* Shrinking is refused. */
    struct img *img = tq_open(tu_path("g-monolithicSparse.vmdk"), IMG_OPEN_RW);
    assert_int_equal(img_truncate(img, MiB, IMG_PREALLOC_OFF), -ENOTSUP);
    img_close(img);
}

/* ---- check ---- */

/* Sector of grain-table entry i of table 0 of a QEMU-layout monolithicSparse image. */
static uint64_t gte0_off(const char *p)
{
    size_t n;
    uint8_t *f = tu_read_file(p, &n);
    uint64_t gd = le64_load(f + 56);
    uint64_t gt = le32_load(f + gd * 512);
    free(f);
    return gt * 512;
}

static struct img_check check_of(const char *p)
{
    struct img *img = tq_open(p, 0);
    struct img_check c = {0};
    assert_int_equal(img_check(img, &c, 0), 0);
    img_close(img);
    return c;
}

static void test_check(void **state)
{
    const char *p = tu_path("chk.vmdk");
    assert_int_equal(tu_sh("qemu-img create -q -f vmdk '%s' 10M && qemu-io -f vmdk -c "
                           "'write -P 1 0 192k' '%s' >/dev/null",
                           p, p),
                     0);
    struct img_check c = check_of(p);
    assert_int_equal(c.corruptions, 0);
    assert_int_equal(c.allocated_clusters, 3);
    assert_int_equal(c.total_clusters, 160);
    uint64_t at = gte0_off(p);
    uint8_t e[4];
    /* Grain 1 points at grain 0's sector: two grains share space. (qemu-img cannot see it.) */
    size_t n;
    uint8_t *f = tu_read_file(p, &n);
    memcpy(e, f + at, 4);
    free(f);
    tu_poke(p, at + 4, e, 4);
    c = check_of(p);
    assert_int_equal(c.corruptions, 1);
    /* Grain 2 past the end of the file: both checks see it. */
    le32_store(e, 0x100000);
    tu_poke(p, at + 8, e, 4);
    c = check_of(p);
    assert_int_equal(c.corruptions, 2);
    assert_int_not_equal(tu_sh("qemu-img check -q '%s' 2>/dev/null", p), 0);
    /* Reading it is an error, not zeros. */
    struct img *img = tq_open(p, 0);
    uint8_t b[512];
    assert_int_equal(img_read(img, 2 * 65536, b, sizeof b), -EINVAL);
    assert_non_null(strstr(img_errmsg(img), "outside the data area"));
    img_close(img);
    /* A grain inside the metadata (sector 5: the descriptor). */
    le32_store(e, 5);
    tu_poke(p, at + 8, e, 4);
    c = check_of(p);
    assert_int_equal(c.corruptions, 2);
    /* check -r cannot repair vmdk. */
    img = tq_open(p, IMG_OPEN_RW);
    assert_int_equal(img_check(img, &c, IMG_FIX_LEAKS), -ENOTSUP);
    img_close(img);
}

/* ---- hostile input ---- */

static void expect_open_fails_flags(const char *path, unsigned flags, const char *want)
{
    tq_expect_open_fails(path, "vmdk", flags, want);
}

static void expect_open_fails(const char *path, const char *want)
{
    expect_open_fails_flags(path, 0, want);
}

/* A fresh 100 MiB monolithicSparse image (dimg's, QEMU's layout). */
static const char *fresh(const char *name)
{
    const char *p = tu_path(name);
    unlink(p);
    tu_create("vmdk", p, "", 100 * MiB, NULL, NULL);
    return p;
}

static void poke32(const char *p, uint64_t off, uint32_t v)
{
    uint8_t b[4];
    le32_store(b, v);
    tu_poke(p, off, b, 4);
}

static void poke64(const char *p, uint64_t off, uint64_t v)
{
    uint8_t b[8];
    le64_store(b, v);
    tu_poke(p, off, b, 8);
}

#define BAD(name, width, off, val, want)                                                           \
    static void name(void **s)                                                                     \
    {                                                                                              \
        const char *p = fresh(#name ".vmdk");                                                      \
        poke##width(p, off, val);                                                                  \
        expect_open_fails(p, want);                                                                \
    }

BAD(h_version, 32, 4, 4, "version 4")
BAD(h_grain_zero, 64, 20, 0, "grain size 0")
BAD(h_grain_odd, 64, 20, 3, "grain size 3")
BAD(h_grain_huge, 64, 20, 0x20000, "grain size")
BAD(h_gtes_zero, 32, 44, 0, "entries per grain table")
BAD(h_gtes_huge, 32, 44, 1024, "entries per grain table")
BAD(h_gtes_513, 32, 44, 513, "513 entries per grain table (1 to 512 allowed)")
BAD(h_capacity_huge, 64, 12, 1ull << 62, "grain tables")
BAD(h_desc_past_eof, 64, 28, 1ull << 40, "embedded descriptor")
BAD(h_desc_huge, 64, 36, 0x1000, "embedded descriptor")
BAD(h_gd_past_eof, 64, 56, 1ull << 30, "grain directory at sector")
BAD(h_gd_at_end_plain, 64, 56, UINT64_MAX, "without compressed grains")
BAD(h_rgd_past_eof, 64, 48, 1ull << 30, "redundant grain directory")

/* Compressed-grain flags (bits 16, 17) and the algorithm field (u16 at 77) together. */
static void stream_flags(const char *name, uint32_t flags, uint16_t alg, const char *want)
{
    const char *p = fresh(name);
    poke32(p, 8, flags);
    uint8_t b[2];
    le16_store(b, alg);
    tu_poke(p, 77, b, 2);
    expect_open_fails(p, want);
}

static void h_compress_alg(void **s)
{
    stream_flags("h_ca.vmdk", 0x30003, 2, "algorithm 2");
}
static void h_stream_no_markers(void **s)
{
    stream_flags("h_nm.vmdk", 0x10003, 1, "without markers");
}

static void h_newline(void **s)
{
    const char *p = fresh("h_newline.vmdk");
    tu_poke(p, 73, "\n \n\n", 4);
    expect_open_fails(p, "text mode");
}

static void h_gd_entry_past_eof(void **s)
{
    const char *p = fresh("h_gde.vmdk");
    size_t n;
    uint8_t *f = tu_read_file(p, &n);
    uint64_t gd = le64_load(f + 56);
    free(f);
    poke32(p, gd * 512 + 4, 0x7fffffff);
    expect_open_fails(p, "points past the end");
}

static void h_v3_uncompressed_rw(void **s)
{
    const char *p = fresh("h_v3.vmdk");
    poke32(p, 4, 3);
    expect_open_fails_flags(p, IMG_OPEN_RW, "read-only");
    struct img *img = tq_open(p, 0); /* read-only is fine */
    img_close(img);
}

static void h_stream_no_footer(void **s)
{
    const char *p = tu_path("h_sf.vmdk");
    unlink(p);
    tu_create("vmdk", p, "subformat=streamOptimized", MiB, NULL, NULL);
    uint64_t n = tu_file_size(p);
    assert_int_equal(truncate(p, (off_t)(n - 512)), 0); /* lose the end-of-stream marker */
    expect_open_fails(p, "footer");
}

static void h_stream_bad_grain(void **s)
{
    const char *p = tu_path("h_sg.vmdk");
    unlink(p);
    assert_int_equal(tu_sh("qemu-img create -q -f vmdk -o subformat=streamOptimized '%s' 1M && "
                           "qemu-io -f vmdk -c 'write -P 3 0 64k' '%s' >/dev/null",
                           p, p),
                     0);
    size_t n;
    uint8_t *f = tu_read_file(p, &n);
    uint64_t gd = le64_load(f + 56);
    uint64_t g0 = le32_load(f + (uint64_t)le32_load(f + gd * 512) * 512);
    free(f);
    struct img *img = tq_open(p, 0);
    uint8_t b[512];
    assert_int_equal(img_read(img, 0, b, sizeof b), 0);
    img_close(img);
    poke64(p, g0 * 512, 128); /* the marker names another grain */
    img = tq_open(p, 0);
    assert_int_equal(img_read(img, 0, b, sizeof b), -EINVAL);
    assert_non_null(strstr(img_errmsg(img), "bad marker"));
    img_close(img);
    poke64(p, g0 * 512, 0);
    tu_poke(p, g0 * 512 + 12, "\x78\x9c\xff\xff", 4); /* broken deflate data */
    img = tq_open(p, 0);
    assert_int_equal(img_read(img, 0, b, sizeof b), -EIO);
    assert_non_null(strstr(img_errmsg(img), "does not decompress"));
    img_close(img);
}

/* A descriptor file with the given text beside a 1 MiB flat extent "ext.raw". */
static const char *desc(const char *name, const char *text)
{
    const char *p = tu_path(name);
    char path[1024];
    snprintf(path, sizeof path, "%s", p);
    assert_int_equal(tu_sh("truncate -s 1M '%s/ext.raw'", tu_dir()), 0);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return p;
}

#define HEAD "# Disk DescriptorFile\nversion=1\nCID=12345678\nparentCID=ffffffff\n"
#define FLAT "createType=\"monolithicFlat\"\n"

static void d_ok(void **s)
{
    const char *p = desc("d_ok.vmdk", HEAD FLAT "RW 2048 FLAT \"ext.raw\" 0\nRW 100 ZERO\n"
                                                "\nddb.adapterType = \"ide\"\n");
    struct img *img = tq_open(p, 0);
    assert_int_equal(img->size, 2148 * 512);
    img_close(img);
    /* Untrusted: an extent beside the descriptor is part of the image; one further away is
     * an external reference. */
    img_close(tq_open(p, IMG_OPEN_UNTRUSTED));
    assert_int_equal(
        tu_sh("mkdir -p '%s/sub' && truncate -s 1M '%s/sub/ext.raw'", tu_dir(), tu_dir()), 0);
    p = desc("d_sub.vmdk", HEAD FLAT "RW 2048 FLAT \"sub/ext.raw\" 0\n");
    img_close(tq_open(p, 0));
    expect_open_fails_flags(p, IMG_OPEN_UNTRUSTED, "--untrusted");
}

struct bad_desc {
    const char *text, *want;
};

static void d_table(void **s)
{
    static const struct bad_desc t[] = {
        {HEAD FLAT "RW 2048 FLAT \"../ext.raw\" 0\n", "leads outside"},
        {HEAD FLAT "RW 2048 FLAT \"/etc/passwd\" 0\n", "leads outside"},
        {HEAD FLAT "RW 2048 FLAT \"json:{}\" 0\n", "not a plain file name"},
        {HEAD FLAT "RW 2048 FLAT ext.raw 0\n", "quoted"},
        {HEAD FLAT "RW 2048 FLAT \"\" 0\n", "quoted"},
        {HEAD FLAT "RW x FLAT \"ext.raw\" 0\n", "invalid extent line"},
        {HEAD FLAT "RW 0 FLAT \"ext.raw\" 0\n", "invalid extent line"},
        {HEAD FLAT "RW 2048 FLOT \"ext.raw\" 0\n", "unknown extent type"},
        {HEAD FLAT "RW 2048 FLAT \"ext.raw\"\n", "without an offset"},
        {HEAD FLAT "RW 2048 FLAT \"ext.raw\" 0 junk\n", "trailing"},
        {HEAD FLAT "RX 2048 FLAT \"ext.raw\" 0\n", "neither key=value nor an extent"},
        {HEAD "createType=\"fullDevice\"\nRW 2048 FLAT \"ext.raw\" 0\n", "unsupported createType"},
        {HEAD "RW 2048 FLAT \"ext.raw\" 0\n", "no createType"},
        {HEAD FLAT, "no extents"},
        {"version=4\n" FLAT "RW 2048 FLAT \"ext.raw\" 0\n", "version '4'"},
        {"version=1\nCID=xyz\n" FLAT "RW 2048 FLAT \"ext.raw\" 0\n", "8 hex"},
        {HEAD "CID=1\n" FLAT "RW 2048 FLAT \"ext.raw\" 0\n", "given twice"},
        {HEAD FLAT "ddb.x = \"a\nRW 2048 FLAT \"ext.raw\" 0\n", "unbalanced quotes"},
        {HEAD FLAT "NOACCESS 2048 FLAT \"ext.raw\" 0\n", "NOACCESS"},
        {HEAD FLAT "RW 2048 VMFSSPARSE \"ext.raw\"\n", "no KDMV magic"},
        {HEAD FLAT "RW 2048 SESPARSE \"ext.raw\"\n", "not a seSparse extent"},
        {HEAD FLAT "RW 2048 SPARSE \"ext.raw\"\n", "no KDMV magic"},
        {HEAD FLAT "RW 999999999999999999 FLAT \"ext.raw\" 0\nRW 999999999999999999 FLAT "
                   "\"ext.raw\" 0\n",
         "4 EiB"},
        {HEAD FLAT "RW 2048 FLAT \"missing.raw\" 0\n", "No such file"},
        {HEAD FLAT "RW 2048 FLAT \"d_table.vmdk\" 0\n", "descriptor file itself"},
    };
    for (size_t i = 0; i < sizeof t / sizeof *t; i++)
        expect_open_fails(desc("d_table.vmdk", t[i].text), t[i].want);
}

static void d_rdonly_rw(void **s)
{
    const char *p = desc("d_ro.vmdk", HEAD FLAT "RDONLY 2048 FLAT \"ext.raw\" 0\n");
    expect_open_fails_flags(p, IMG_OPEN_RW, "read-only");
    img_close(tq_open(p, 0));
}

static void d_fifo(void **s)
{
    assert_int_equal(tu_sh("rm -f '%s/fifo.raw' && mkfifo '%s/fifo.raw'", tu_dir(), tu_dir()), 0);
    expect_open_fails(desc("d_fifo.vmdk", HEAD FLAT "RW 2048 FLAT \"fifo.raw\" 0\n"),
                      "not a regular file");
}

static void d_too_many_extents(void **s)
{
    size_t cap = 1100 * 40 + 256;
    char *t = malloc(cap), *e = t;
    e += sprintf(e, HEAD FLAT);
    for (int i = 0; i < 1025; i++)
        e += sprintf(e, "RW 1 FLAT \"ext.raw\" %d\n", i);
    expect_open_fails(desc("d_many.vmdk", t), "more than 1024 extents");
    free(t);
}

/* 1024 extents are accepted (the limit is above); 1025 are not (d_too_many_extents). */
static void d_1024_extents(void **s)
{
    size_t cap = 1100 * 40 + 256;
    char *t = malloc(cap), *e = t;
    e += sprintf(e, HEAD FLAT);
    for (int i = 0; i < 1024; i++)
        e += sprintf(e, "RW 1 FLAT \"ext.raw\" %d\n", i);
    struct img *img = tq_open(desc("d_1024.vmdk", t), 0);
    assert_int_equal(img->size, 1024 * 512);
    img_close(img);
    free(t);
}

/* A descriptor of exactly 1 MiB - 1 bytes (padded with a comment) opens; one byte more is
 * refused before it is read. */
static void d_size_limit(void **s)
{
    const char *p = tu_path("d_1m.vmdk");
    const char *text = HEAD FLAT "RW 2048 FLAT \"ext.raw\" 0\n#";
    size_t n = (1u << 20) - 1, l = strlen(text);
    char *t = malloc(n + 1);
    memcpy(t, text, l);
    memset(t + l, 'x', n - l - 1);
    t[n - 1] = '\n';
    t[n] = 0;
    desc("d_1m.vmdk", t);
    assert_int_equal(tu_file_size(p), n);
    struct img *img = tq_open(p, 0);
    assert_int_equal(img->size, 2048 * 512);
    img_close(img);
    t[n - 1] = 'x';
    FILE *f = fopen(p, "a");
    assert_non_null(f);
    fputs("\n", f);
    fclose(f);
    assert_int_equal(tu_file_size(p), n + 1);
    expect_open_fails(p, "a descriptor of at most 1048575 bytes");
    free(t);
}

/* The grain directory limit (32 Mi entries): a capacity one sector over it is refused naming
 * the grain tables; exactly at it passes that check and fails later, on the directory being
 * outside this small file. */
static void h_gd_limit(void **s)
{
    const char *p = fresh("h_gd.vmdk");
    uint64_t span = 512 * 128; /* entries per table x grain sectors (dimg's defaults) */
    poke64(p, 12, (32ull << 20) * span + 1);
    expect_open_fails(p, "needs more than 33554432 grain tables");
    poke64(p, 12, (32ull << 20) * span);
    expect_open_fails(p, "grain directory at sector");
}

static void d_too_large(void **s)
{
    const char *p = tu_path("d_big.vmdk");
    assert_int_equal(tu_sh("(printf '# Disk DescriptorFile\\n'; head -c 1100000 /dev/zero | "
                           "tr '\\\\0' '#') > '%s'",
                           p),
                     0);
    expect_open_fails(p, "at most");
}

static void d_sparse_too_small(void **s)
{
    const char *ext = tu_path("small-s.vmdk");
    unlink(ext);
    tu_create("vmdk", ext, "", MiB, NULL, NULL);
    expect_open_fails(desc("d_small.vmdk", HEAD "createType=\"twoGbMaxExtentSparse\"\n"
                                                "RW 4096 SPARSE \"small-s.vmdk\"\n"),
                      "holds 2048 sectors");
}

/* Three extents whose directories need 128 MiB each (a 512 TiB capacity in a sparse file that
 * costs nothing): refused at the third, not allocated. */
static void d_dir_budget(void **s)
{
    const char *ext = fresh("huge-s.vmdk");
    poke64(ext, 12, 1ull << 40);
    assert_int_equal(truncate(ext, 300 * (off_t)MiB), 0);
    expect_open_fails(desc("d_budget.vmdk", HEAD "createType=\"twoGbMaxExtentSparse\"\n"
                                                 "RW 1 SPARSE \"huge-s.vmdk\"\nRW 1 SPARSE "
                                                 "\"huge-s.vmdk\"\nRW 1 SPARSE \"huge-s.vmdk\"\n"),
                      "grain directories of this image need more than 256 MiB");
}

static void d_cowd(void **s)
{
    const char *p = tu_path("cowd.vmdk");
    assert_int_equal(tu_sh("printf 'COWD' > '%s' && truncate -s 4096 '%s'", p, p), 0);
    expect_open_fails(p, "COWD version 0 unsupported");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_read_qemu_images),
        cmocka_unit_test(test_info),
        cmocka_unit_test(test_write_monolithic_sparse),
        cmocka_unit_test(test_write_zeroed_grain),
        cmocka_unit_test(test_write_flat),
        cmocka_unit_test(test_write_split_sparse),
        cmocka_unit_test(test_write_split_flat),
        cmocka_unit_test(test_stream),
        cmocka_unit_test(test_stream_qemu_layout),
        cmocka_unit_test(test_compress_create),
        cmocka_unit_test(test_child),
        cmocka_unit_test(test_grow),
        cmocka_unit_test(test_check),
    };
    const struct CMUnitTest hostile[] = {
        cmocka_unit_test(h_version),
        cmocka_unit_test(h_grain_zero),
        cmocka_unit_test(h_grain_odd),
        cmocka_unit_test(h_grain_huge),
        cmocka_unit_test(h_gtes_zero),
        cmocka_unit_test(h_gtes_huge),
        cmocka_unit_test(h_gtes_513),
        cmocka_unit_test(h_gd_limit),
        cmocka_unit_test(h_capacity_huge),
        cmocka_unit_test(h_desc_past_eof),
        cmocka_unit_test(h_desc_huge),
        cmocka_unit_test(h_gd_past_eof),
        cmocka_unit_test(h_gd_at_end_plain),
        cmocka_unit_test(h_rgd_past_eof),
        cmocka_unit_test(h_compress_alg),
        cmocka_unit_test(h_stream_no_markers),
        cmocka_unit_test(h_newline),
        cmocka_unit_test(h_gd_entry_past_eof),
        cmocka_unit_test(h_v3_uncompressed_rw),
        cmocka_unit_test(h_stream_no_footer),
        cmocka_unit_test(h_stream_bad_grain),
        cmocka_unit_test(d_ok),
        cmocka_unit_test(d_table),
        cmocka_unit_test(d_rdonly_rw),
        cmocka_unit_test(d_fifo),
        cmocka_unit_test(d_too_many_extents),
        cmocka_unit_test(d_too_large),
        cmocka_unit_test(d_1024_extents),
        cmocka_unit_test(d_size_limit),
        cmocka_unit_test(d_sparse_too_small),
        cmocka_unit_test(d_dir_budget),
        cmocka_unit_test(d_cowd),
    };
    int r = cmocka_run_group_tests(tests, NULL, NULL);
    r += cmocka_run_group_tests(hostile, tu_group_cap_1g, tu_group_uncap);
    tu_teardown(NULL);
    return r;
}

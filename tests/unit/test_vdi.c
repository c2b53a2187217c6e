/* SPDX-License-Identifier: GPL-2.0-or-later */
/* test_vdi.c: the vdi driver against the qemu-img/qemu-io oracle.
 * Read direction: dynamic and static images made by qemu-img, patterns written by qemu-io at
 * awkward offsets, read whole through img_read and compared with `qemu-img convert -O raw`,
 * block status compared with `qemu-img map`. Write direction: dimg creates and writes while a
 * raw reference is kept in step; `qemu-img check` must be clean and `qemu-img compare`
 * identical. Check: hand-damaged block maps counted like `qemu-img check`. Resize within the
 * block map's room and past it (data blocks moved, 100x and to 300 GiB, static images), with
 * a simulated crash after every write of the move. Hostile headers: one test per header check,
 * one-line messages naming the field, under a 1 GiB address-space cap (unless under a sanitizer).
 */
#include "test_qcow2_common.h"

#include "core/base/bytes.h"
#include "core/block/driver.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#define MiB (1ull << 20)
#define ULL(x) ((unsigned long long)(x))

/* ---- read direction ---- */

static void qio_patterns(const char *path, uint64_t size)
{
    int r = tu_sh("qemu-io -f vdi "
                  "-c 'write -P 0x11 0 512' "
                  "-c 'write -P 0x22 %llu 512' "
                  "-c 'write -P 0x33 %llu 300' "
                  "-c 'write -P 0x44 %llu %llu' "
                  "-c 'write -z %llu %llu' "
                  "-c 'write -z %llu 1024' "
                  "-c 'write -z %llu %llu' "
                  "'%s' >/dev/null",
                  ULL(size - 512), ULL(MiB - 100), ULL(3 * MiB + 7), ULL(2 * MiB + 13),
                  ULL(4 * MiB), ULL(MiB), ULL(6 * MiB + 512), ULL(8 * MiB), ULL(MiB), path);
    assert_int_equal(r, 0);
}

static void test_read_qemu_images(void **state)
{
    static const char *variants[][2] = {{"qd.vdi", "static=off"}, {"qs.vdi", "static=on"}};
    for (size_t i = 0; i < 2; i++) {
        const char *p = tu_path(variants[i][0]);
        uint64_t size = 12 * MiB + 4096;
        assert_int_equal(
            tu_sh("qemu-img create -q -f vdi -o %s '%s' %llu", variants[i][1], p, ULL(size)), 0);
        tq_compare_raw(p); /* empty first */
        tq_compare_map(p);
        qio_patterns(p, size);
        tq_compare_raw(p);
        tq_compare_map(p);
    }
    /* An odd size is rounded up to a sector, as qemu reports it. */
    const char *p = tu_path("odd.vdi");
    assert_int_equal(tu_sh("qemu-img create -q -f vdi '%s' 1000001 && qemu-io -f vdi -c "
                           "'write -P 7 999000 1000' '%s' >/dev/null",
                           p, p),
                     0);
    tq_compare_raw(p);
    tq_compare_map(p);
}

static void test_info_layout(void **state)
{
    const char *p = tu_path("info.vdi");
    assert_int_equal(tu_sh("qemu-img create -q -f vdi '%s' 5M && qemu-io -f vdi -c 'write -P 1 "
                           "3M 4k' -c 'write -P 2 0 1' '%s' >/dev/null",
                           p, p),
                     0);
    struct img *img = tq_open(p, 0);
    assert_string_equal(img->drv->name, "vdi"); /* probed */
    struct img_info info;
    assert_int_equal(img_get_info(img, &info), 0);
    assert_int_equal(info.cluster_size, MiB);
    assert_int_equal(info.virtual_size, 5 * MiB);
    struct img_region *v;
    size_t n;
    assert_int_equal(img_layout(img, &v, &n), 0);
    assert_int_equal(n, 3);
    assert_int_equal(v[0].kind, IMG_R_HEADER);
    assert_int_equal(v[1].kind, IMG_R_BLOCK_MAP);
    assert_int_equal(v[1].off, 0x200);
    assert_int_equal(v[1].len, 20);
    assert_int_equal(v[2].kind, IMG_R_DATA);
    assert_int_equal(v[2].off, 0x400);
    assert_int_equal(v[2].len, 2 * MiB);
    free(v);
    img_close(img);
}

/* ---- write direction ---- */

static void create(const char *path, const char *opts, uint64_t size)
{
    tu_create("vdi", path, opts, size, NULL, NULL);
}

static void verify(const char *path, const char *ref)
{
    int r = tu_sh("qemu-img check -q -f vdi '%s'", path);
    if (r != 0) {
        tu_sh("qemu-img check -f vdi '%s'", path);
        fail_msg("qemu-img check %s exited %d", path, r);
    }
    r = tu_sh("qemu-img compare -q -f vdi -F raw '%s' '%s'", path, ref);
    if (r != 0)
        fail_msg("qemu-img compare %s: exit %d", path, r);
    tq_compare_raw(path);
    tq_compare_map(path);
}

static void scenario(const char *name, const char *opts)
{
    char p[1024], ref[1040];
    snprintf(p, sizeof p, "%s", tu_path(name));
    snprintf(ref, sizeof ref, "%s.ref", p);
    uint64_t size = 10 * MiB + 512;
    assert_int_equal(tu_sh("rm -f '%s' && truncate -s %llu '%s'", ref, ULL(size), ref), 0);
    create(p, opts, size);
    assert_int_equal(tu_sh("qemu-img check -q -f vdi '%s'", p), 0);
    struct tw t = {.seed = 1};
    t.img = tq_open(p, IMG_OPEN_RW);
    t.ref = open(ref, O_RDWR);
    assert_true(t.ref >= 0);
    tw_write(&t, 0, 512);
    tw_write(&t, size - 512, 512);           /* last sector, in a partial last block */
    tw_write(&t, MiB - 100, 300);            /* across a block boundary */
    tw_write(&t, 3 * MiB + 7, 2 * MiB + 13); /* spans three blocks */
    tw_write(&t, 3 * MiB + 100, 100);        /* in place */
    tw_zero(&t, 4 * MiB, MiB);               /* a whole allocated block */
    tw_zero(&t, 6 * MiB + 512, 1024);        /* in a free block */
    tw_zero(&t, 5 * MiB - 4096, 8192);       /* partial, straddling */
    tw_write(&t, 7 * MiB + 1, 1);
    tw_zero(&t, 8 * MiB, 2 * MiB);
    tw_write(&t, 9 * MiB - 33, 66);
    assert_int_equal(img_flush(t.img), 0);
    img_close(t.img);
    close(t.ref);
    verify(p, ref);
}

static void test_write_dynamic(void **state)
{
    scenario("wd.vdi", "");
}
static void test_write_static(void **state)
{
    scenario("ws.vdi", "static=on");
}

static void test_create_layout(void **state)
{
    /* Same header layout as qemu-img: bmap at 0x200, data right after, static preallocated. */
    const char *d = tu_path("c.vdi"), *q = tu_path("cq.vdi");
    create(d, "static=on", 10 * MiB);
    assert_int_equal(tu_sh("qemu-img create -q -f vdi -o static=on '%s' 10M", q), 0);
    size_t nd, nq;
    uint8_t *a = tu_read_file(d, &nd), *b = tu_read_file(q, &nq);
    assert_int_equal(nd, 10486784);
    assert_int_equal(nd, nq);
    assert_memory_equal(a + 0x40, b + 0x40, 0x188 - 0x40); /* all but text and UUIDs */
    assert_memory_equal(a + 0x200, b + 0x200, nd - 0x200);
    assert_memory_not_equal(a + 0x188, b + 0x188, 16); /* random UUIDs */
    free(a);
    free(b);
    char *out = tu_sh_out("qemu-img info --output=json '%s'", d);
    assert_non_null(strstr(out, "\"format\": \"vdi\""));
    assert_non_null(strstr(out, "\"virtual-size\": 10485760"));
    free(out);
    /* Bad option values and sizes are refused before a file appears. */
    struct img_opts o = {0};
    struct img_err err = {0};
    assert_int_equal(img_opts_parse(&o, "static=maybe", &err), 0);
    struct img_create_req req = {.size = MiB, .opts = &o};
    assert_true(img_create("vdi", tu_path("bad.vdi"), &req, &err) < 0);
    img_opts_free(&o);
    struct img_create_req big = {.size = 0x2000000000000ull};
    assert_true(img_create("vdi", tu_path("bad.vdi"), &big, &err) < 0);
    assert_non_null(strstr(err.msg, "vdi: "));
    assert_int_equal(access(tu_path("bad.vdi"), F_OK), -1);
}

/* VirtualBox's layout: header_size 0x190, block map and data each aligned to 1 MiB. Made by
 * moving a qemu-img block map; qemu honours the header offsets, so it stays the oracle. */
static void test_virtualbox_layout(void **state)
{
    const char *p = tu_path("vbox.vdi"), *ref = tu_path("vbox.ref");
    assert_int_equal(tu_sh("rm -f '%s' && qemu-img create -q -f vdi '%s' 6M && "
                           "dd if='%s' of='%s' bs=512 skip=1 seek=2048 count=1 conv=notrunc "
                           "status=none && truncate -s 2M '%s'",
                           p, p, p, p, p),
                     0);
    uint8_t b[4];
    le32_store(b, 0x190);
    tu_poke(p, 0x48, b, 4);
    le32_store(b, 0x100000);
    tu_poke(p, 0x154, b, 4);
    le32_store(b, 0x200000);
    tu_poke(p, 0x158, b, 4);
    assert_int_equal(tu_sh("qemu-img check -q -f vdi '%s'", p), 0);
    assert_int_equal(tu_sh("qemu-io -f vdi -c 'write -P 9 1048000 1000' -c 'write -P 8 5M 512' "
                           "'%s' >/dev/null",
                           p),
                     0);
    tq_compare_raw(p);
    tq_compare_map(p);
    /* dimg writes into it; qemu-img must still be happy and see the same bytes. */
    assert_int_equal(tu_sh("qemu-img convert -O raw '%s' '%s'", p, ref), 0);
    struct tw t = {.seed = 70};
    t.img = tq_open(p, IMG_OPEN_RW);
    t.ref = open(ref, O_RDWR);
    tw_write(&t, 3 * MiB - 1, 2);
    tw_write(&t, 1048000 + 10, 10);
    img_close(t.img);
    close(t.ref);
    verify(p, ref);
    /* Growing uses the large block-map room VirtualBox leaves. */
    t.img = tq_open(p, IMG_OPEN_RW);
    assert_int_equal(img_truncate(t.img, 1ull << 30, IMG_PREALLOC_OFF), 0);
    img_close(t.img);
    assert_int_equal(tu_sh("qemu-img check -q -f vdi '%s'", p), 0);
    char *out = tu_sh_out("qemu-img info --output=json '%s'", p);
    assert_non_null(strstr(out, "\"virtual-size\": 1073741824"));
    free(out);
}

/* ---- check ---- */

static void poke32(const char *path, uint64_t off, uint32_t v)
{
    uint8_t b[4];
    le32_store(b, v);
    tu_poke(path, off, b, 4);
}
static void poke64(const char *path, uint64_t off, uint64_t v)
{
    uint8_t b[8];
    le64_store(b, v);
    tu_poke(path, off, b, 8);
}

/* 5 MiB dynamic image, blocks 0, 2, 3 allocated (physical 0, 1, 2). */
static const char *fresh(const char *name)
{
    const char *p = tu_path(name);
    assert_int_equal(tu_sh("rm -f '%s' && qemu-img create -q -f vdi '%s' 5M && qemu-io -f vdi "
                           "-c 'write -P 1 0 4k' -c 'write -P 2 2M 4k' -c 'write -P 3 3M 4k' "
                           "'%s' >/dev/null",
                           p, p, p),
                     0);
    return p;
}

static void check_like_qemu(const char *p, uint64_t want)
{
    char *out = tu_sh_out("qemu-img check --output=json -f vdi '%s' 2>/dev/null", p);
    uint64_t q = tq_json_u64(out, "\"corruptions\": ");
    free(out);
    if (q == UINT64_MAX)
        q = 0;
    assert_int_equal(q, want);
    assert_int_equal(tu_sh("qemu-img check -q -f vdi '%s' 2>/dev/null", p), want ? 2 : 0);
    struct img *img = tq_open(p, 0);
    struct img_check c = {0};
    assert_int_equal(img_check(img, &c, 0), 0);
    assert_int_equal(c.corruptions, want);
    assert_int_equal(c.leaks, 0);
    img_close(img);
}

static void test_check(void **state)
{
    check_like_qemu(fresh("ok.vdi"), 0);
    const char *p = fresh("dup.vdi");
    poke32(p, 0x200, 1); /* block 0 -> physical 1, which block 2 uses */
    check_like_qemu(p, 1);
    p = fresh("range.vdi");
    poke32(p, 0x200 + 4 * 4, 7); /* free block 4 -> 7 >= blocks_in_image (5) */
    check_like_qemu(p, 1);       /* out of range; not counted, so no mismatch */
}

static void test_check_counts(void **state)
{
    const char *p = fresh("mis.vdi");
    poke32(p, 0x184, 2); /* blocks_allocated 3 -> 2 */
    check_like_qemu(p, 1);
    p = fresh("dup2.vdi");
    poke32(p, 0x200 + 4, 2); /* free block 1 -> physical 2 (shared with block 3), count 4 */
    check_like_qemu(p, 2);   /* duplicate + mismatch */
}

/* ---- resize ---- */

static void dimg_check_clean(const char *p)
{
    struct img *img = tq_open(p, 0);
    struct img_check c = {0};
    assert_int_equal(img_check(img, &c, 0), 0);
    assert_int_equal(c.corruptions, 0);
    img_close(img);
}

static void test_resize(void **state)
{
    const char *p = tu_path("rs.vdi"), *ref = tu_path("rs.ref");
    create(p, "", 5 * MiB);
    assert_int_equal(tu_sh("rm -f '%s' && truncate -s 5M '%s'", ref, ref), 0);
    struct tw t = {.seed = 40};
    t.img = tq_open(p, IMG_OPEN_RW);
    t.ref = open(ref, O_RDWR);
    tw_write(&t, 5 * MiB - 512, 512);
    /* The block map of a 5-block image has room for 128 blocks (one sector). */
    assert_int_equal(img_truncate(t.img, 100 * MiB, IMG_PREALLOC_OFF), 0);
    assert_int_equal(ftruncate(t.ref, 100 * MiB), 0);
    tw_write(&t, 99 * MiB + 5, 1000);
    /* Past the room of 128 blocks: data blocks move (see test_resize_relocate). */
    assert_int_equal(img_truncate(t.img, 129 * MiB, IMG_PREALLOC_OFF), 0);
    assert_int_equal(ftruncate(t.ref, 129 * MiB), 0);
    tw_write(&t, 128 * MiB + 7, 100);
    /* Shrinking over an allocated block is refused, over free blocks allowed. */
    assert_true(img_truncate(t.img, 50 * MiB, IMG_PREALLOC_OFF) < 0);
    assert_non_null(strstr(img_errmsg(t.img), "allocated"));
    tw_zero(&t, 99 * MiB, MiB); /* stays allocated: still refused */
    assert_true(img_truncate(t.img, 50 * MiB, IMG_PREALLOC_OFF) < 0);
    img_close(t.img);
    close(t.ref);
    verify(p, ref);

    create(p, "", 5 * MiB);
    t.img = tq_open(p, IMG_OPEN_RW);
    assert_int_equal(img_truncate(t.img, 20 * MiB, IMG_PREALLOC_OFF), 0);
    assert_int_equal(img_truncate(t.img, 3 * MiB, IMG_PREALLOC_OFF), 0);
    img_close(t.img);
    assert_int_equal(tu_sh("qemu-img check -q '%s'", p), 0);
    char *out = tu_sh_out("qemu-img info --output=json '%s'", p);
    assert_non_null(strstr(out, "\"virtual-size\": 3145728"));
    free(out);

    /* A static image stays fully allocated when it grows. */
    const char *s = tu_path("rss.vdi"), *sref = tu_path("rss.ref");
    create(s, "static=on", 3 * MiB);
    assert_int_equal(tu_sh("rm -f '%s' && truncate -s 3M '%s'", sref, sref), 0);
    t.img = tq_open(s, IMG_OPEN_RW);
    t.ref = open(sref, O_RDWR);
    tw_write(&t, 2 * MiB + 3, 5000);
    assert_int_equal(img_truncate(t.img, 6 * MiB, IMG_PREALLOC_OFF), 0);
    assert_int_equal(ftruncate(t.ref, 6 * MiB), 0);
    tw_write(&t, 5 * MiB + 3, 5000);
    img_close(t.img);
    close(t.ref);
    verify(s, sref);
    dimg_check_clean(s);
}

/* qemu-img's view after a grow: check clean, the new virtual size, the same bytes as the raw
 * reference (grown with zeros), the same map. */
static void verify_grown(const char *p, const char *ref, uint64_t size)
{
    char *out = tu_sh_out("qemu-img info --output=json '%s'", p);
    char want[64];
    snprintf(want, sizeof want, "\"virtual-size\": %llu,", ULL(size));
    if (!strstr(out, want))
        fail_msg("%s: qemu-img info does not say %s:\n%s", p, want, out);
    free(out);
    assert_int_equal(tu_sh("truncate -s %llu '%s'", ULL(size), ref), 0);
    verify(p, ref);
    dimg_check_clean(p);
}

/* The header fields vdi_relocate changes, read back from the file. */
static void geometry(const char *p, uint32_t *off_bmap, uint32_t *off_data, uint32_t *blocks)
{
    size_t n;
    uint8_t *h = tu_read_file(p, &n);
    assert_true(n >= 512);
    *off_bmap = le32_load(h + 0x154);
    *off_data = le32_load(h + 0x158);
    *blocks = le32_load(h + 0x180);
    free(h);
}

/* A 10 MiB image (block map room: 128 blocks) with data in every block, grown 100x: the map
 * needs 4000 bytes, so the data block sitting right after the map moves to the end. Then again
 * to 300 GiB, whose map (1.2 MB) needs two blocks of room: the map moves a second time. qemu-io
 * writes in between: QEMU gives new blocks index blocks_allocated, so the indices must have
 * stayed compact. */
static void test_resize_relocate(void **state)
{
    const char *p = tu_path("rl.vdi"), *ref = tu_path("rl.ref");
    assert_int_equal(tu_sh("rm -f '%s' '%s' && qemu-img create -q -f vdi '%s' 10M && truncate -s "
                           "10M '%s'",
                           p, ref, p, ref),
                     0);
    struct tw t = {.seed = 90};
    t.img = tq_open(p, IMG_OPEN_RW);
    t.ref = open(ref, O_RDWR);
    for (uint64_t b = 0; b < 10; b++)
        tw_write(&t, b * MiB + b * 4099, 3000 + b * 1000);
    tw_write(&t, 10 * MiB - 512, 512);
    assert_int_equal(img_truncate(t.img, 1000 * MiB, IMG_PREALLOC_OFF), 0);
    assert_int_equal(ftruncate(t.ref, 1000 * MiB), 0);
    tw_write(&t, 999 * MiB + 1, 10); /* a dimg write after the move */
    img_close(t.img);
    close(t.ref);
    uint32_t ob, od, nb;
    geometry(p, &ob, &od, &nb);
    assert_int_equal(ob, 0x400);       /* where physical block 0 was */
    assert_int_equal(od, 0x400 + MiB); /* one block of room: 262144 entries */
    assert_int_equal(nb, 1000);
    verify_grown(p, ref, 1000 * MiB);
    assert_int_equal(tu_sh("qemu-io -f vdi -c 'write -P 0x5a 500M 2M' '%s' >/dev/null && "
                           "qemu-io -f raw -c 'write -P 0x5a 500M 2M' '%s' >/dev/null",
                           p, ref),
                     0);
    verify(p, ref);

    /* 300 GiB: 307200 entries, more than the 262144 the room now has. */
    uint64_t big = 300ull << 30;
    t.img = tq_open(p, IMG_OPEN_RW);
    assert_int_equal(img_truncate(t.img, big, IMG_PREALLOC_OFF), 0);
    img_close(t.img);
    geometry(p, &ob, &od, &nb);
    assert_int_equal(ob, 0x400 + MiB);
    assert_int_equal(od, 0x400 + 3 * MiB);
    assert_int_equal(nb, 307200);
    assert_int_equal(tu_sh("qemu-img check -q -f vdi '%s'", p), 0);
    char *out = tu_sh_out("qemu-img info --output=json '%s'", p);
    assert_non_null(strstr(out, "\"virtual-size\": 322122547200,"));
    free(out);
    /* The old bytes through qemu, the new end as zeros; then qemu writes at the far end. */
    assert_int_equal(tu_sh("qemu-img convert -O raw -f vdi '%s' '%s.big' && cmp -n %llu "
                           "'%s.big' '%s' && rm -f '%s.big'",
                           p, p, ULL(1000 * MiB), p, ref, p),
                     0);
    assert_int_equal(tu_sh("qemu-io -f vdi -c 'read -P 0 %llu 4096' -c 'write -P 7 %llu 4096' "
                           "-c 'read -P 0x5a 500M 2M' '%s' >/dev/null",
                           ULL(big - 8192), ULL(big - 4096), p),
                     0);
    assert_int_equal(tu_sh("qemu-img check -q -f vdi '%s'", p), 0);
}

/* Static images: the moved block goes to the end and the new blocks are allocated. A full
 * 128-block image has no room left for the copy's index (the window documented in
 * vdi_relocate); the end state is still clean. */
static void test_resize_relocate_static(void **state)
{
    static const uint64_t sizes[] = {10 * MiB, 128 * MiB};
    for (size_t i = 0; i < 2; i++) {
        const char *p = tu_path("rls.vdi"), *ref = tu_path("rls.ref");
        assert_int_equal(tu_sh("rm -f '%s' '%s' && qemu-img create -q -f vdi -o static=on '%s' "
                               "%llu && truncate -s %llu '%s'",
                               p, ref, p, ULL(sizes[i]), ULL(sizes[i]), ref),
                         0);
        struct tw t = {.seed = 95};
        t.img = tq_open(p, IMG_OPEN_RW);
        t.ref = open(ref, O_RDWR);
        tw_write(&t, 100, 5000);
        tw_write(&t, sizes[i] - 4096, 4096);
        uint64_t size = sizes[i] + 200 * MiB;
        assert_int_equal(img_truncate(t.img, size, IMG_PREALLOC_OFF), 0);
        assert_int_equal(ftruncate(t.ref, size), 0);
        tw_write(&t, size - 3 * MiB + 5, 3000);
        img_close(t.img);
        close(t.ref);
        verify_grown(p, ref, size);
        size_t n;
        uint8_t *h = tu_read_file(p, &n);
        assert_int_equal(le32_load(h + 0x184), size / MiB); /* blocks_allocated: all */
        free(h);
    }
}

/* ---- crash order ---- */

/* Every write the driver makes goes through tu_crash.h's wrappers; a stopped write writes
 * nothing (tu_crash_partial 0). */
#include "tu_crash.h"

/* The image must open, check clean (dimg and qemu-img) and read like the reference: either
 * still the old size, or the new one with zeros after the old end. */
static void crash_state_ok(const char *p, const char *ref, uint64_t old, uint64_t grown, long n)
{
    struct img_err err = {0};
    struct img *img = img_open(p, "vdi", 0, &err);
    if (!img)
        fail_msg("after a crash at write %ld: %s", n, err.msg);
    if (img->size != old && img->size != grown)
        fail_msg("after a crash at write %ld: size %llu", n, ULL(img->size));
    struct img_check c = {0};
    assert_int_equal(img_check(img, &c, 0), 0);
    if (c.corruptions)
        fail_msg("after a crash at write %ld: %llu corruptions", n, ULL(c.corruptions));
    size_t rl;
    uint8_t *want = tu_read_file(ref, &rl), *got = malloc(MiB);
    assert_int_equal(rl, old);
    for (uint64_t off = 0; off < img->size; off += MiB) {
        assert_int_equal(img_read(img, off, got, MiB), 0);
        for (size_t i = 0; i < MiB; i++)
            if (got[i] != (off + i < old ? want[off + i] : 0))
                fail_msg("after a crash at write %ld: byte %llu differs", n, ULL(off + i));
    }
    free(want);
    free(got);
    img_close(img);
    if (tu_sh("qemu-img check -q -f vdi '%s'", p) != 0)
        fail_msg("after a crash at write %ld: qemu-img check is not clean", n);
}

/* Stop the relocating grow after 0, 1, 2, ... writes: every state on the way is a valid image
 * holding the same data; the last run completes. */
static void test_resize_crash_order(void **state)
{
    static const char *const opts[] = {"", "static=on"};
    for (size_t v = 0; v < 2; v++) {
        const char *orig = tu_path("co.orig"), *p = tu_path("co.vdi"), *ref = tu_path("co.ref");
        uint64_t old = 6 * MiB, grown = 200 * MiB;
        create(orig, opts[v], old);
        assert_int_equal(tu_sh("rm -f '%s' && truncate -s %llu '%s'", ref, ULL(old), ref), 0);
        struct tw t = {.seed = 120};
        t.img = tq_open(orig, IMG_OPEN_RW);
        t.ref = open(ref, O_RDWR);
        tw_write(&t, 10, 70000);        /* physical block 0: the one that must move */
        tw_write(&t, 3 * MiB + 1, 200); /* a second block */
        img_close(t.img);
        close(t.ref);
        long n = 0;
        for (;; n++) {
            assert_int_equal(tu_sh("cp --sparse=always '%s' '%s'", orig, p), 0);
            struct img *img = tq_open(p, IMG_OPEN_RW);
            tu_crash_budget = n;
            int r = img_truncate(img, grown, IMG_PREALLOC_OFF);
            tu_crash_budget = -1;
            img_close(img);
            crash_state_ok(p, ref, old, grown, n);
            if (r == 0)
                break;
            assert_true(n < 100);
        }
        assert_true(n >= 5); /* copy, map entry, new map, gap, header at least */
        struct img *img = tq_open(p, 0);
        assert_int_equal(img->size, grown);
        img_close(img);
    }
}

/* ---- compaction ---- */

/* 12 MiB dynamic image, made by qemu-io: zero-filled blocks (allocated by qemu) at 0, 2, 3, 6
 * and 11, data in 1, 5, 8 (first sector), 10 (last sector) and across 8/9, block 4 and 7 never
 * written. Physical order is qemu's write order, so data sits behind the zero blocks. */
static const char *compact_fixture(const char *name)
{
    const char *p = tu_path(name);
    assert_int_equal(tu_sh("rm -f '%s' && qemu-img create -q -f vdi '%s' 12M && qemu-io -f vdi "
                           "-c 'write -P 0 0 1M' -c 'write -P 5 1M 4k' -c 'write -P 0 2M 2M' "
                           "-c 'write -P 7 5M 512' -c 'write -P 0 6M 1M' -c 'write -P 0 11M 1M' "
                           "-c 'write -P 9 8M 512' -c 'write -P 3 9437000 200' "
                           "-c 'write -P 4 11533312 512' '%s' >/dev/null",
                           p, p, p),
                     0);
    return p;
}

static int compact_run(const char *p)
{
    struct img *img = tq_open(p, IMG_OPEN_RW);
    int r = img_compact(img, NULL, NULL);
    img_close(img);
    return r;
}

static void test_compact(void **state)
{
    const char *p = compact_fixture("cp.vdi"), *copy = tu_path("cp.before");
    assert_int_equal(tu_sh("cp '%s' '%s'", p, copy), 0);
    assert_int_equal(tu_file_size(p), 0x400 + 10 * MiB); /* 10 blocks allocated by qemu */
    assert_int_equal(compact_run(p), 0);
    assert_int_equal(tu_sh("qemu-img compare -q '%s' '%s'", copy, p), 0);
    assert_int_equal(tu_sh("qemu-img check -q '%s'", p), 0);
    /* header + map (0x400) + the five blocks holding data */
    assert_int_equal(tu_file_size(p), 0x400 + 5 * MiB);
    size_t n;
    uint8_t *h = tu_read_file(p, &n);
    assert_int_equal(le32_load(h + 0x184), 5);
    static const uint32_t zero_blocks[] = {0, 2, 3, 6, 11};
    for (size_t i = 0; i < 5; i++)
        assert_int_equal(le32_load(h + 0x200 + 4 * zero_blocks[i]), 0xfffffffe);
    for (unsigned b = 0; b < 12; b++) /* every index in use is below 5 */
        if (le32_load(h + 0x200 + 4 * b) < 0xfffffffe)
            assert_true(le32_load(h + 0x200 + 4 * b) < 5);
    free(h);
    tq_compare_raw(p);
    tq_compare_map(p);
    dimg_check_clean(p);
    /* Again: nothing left to do, nothing changes. */
    assert_int_equal(tu_sh("cp '%s' '%s'", p, copy), 0);
    assert_int_equal(compact_run(p), 0);
    assert_int_equal(tu_sh("cmp '%s' '%s'", p, copy), 0);
    /* qemu keeps writing into it: new blocks get compact indices. */
    assert_int_equal(tu_sh("qemu-io -f vdi -c 'write -P 1 7M 4k' '%s' >/dev/null && "
                           "qemu-img check -q '%s'",
                           p, p),
                     0);
    assert_int_equal(tu_file_size(p), 0x400 + 6 * MiB);

    /* Static images are refused with a message, unchanged; other formats name convert. */
    const char *st = tu_path("cps.vdi");
    create(st, "static=on", 2 * MiB);
    struct img *img = tq_open(st, IMG_OPEN_RW);
    assert_int_equal(img_compact(img, NULL, NULL), -ENOTSUP);
    assert_non_null(strstr(img_errmsg(img), "vdi: a static (fixed) image cannot be compacted"));
    img_close(img);
    const char *q = tu_path("cp.qcow2");
    assert_int_equal(tu_sh("qemu-img create -q -f qcow2 '%s' 1M", q), 0);
    img = tq_open(q, IMG_OPEN_RW);
    assert_int_equal(img_compact(img, NULL, NULL), -ENOTSUP);
    assert_non_null(strstr(img_errmsg(img), "format qcow2 cannot be compacted in place; use dimg "
                                            "convert"));
    img_close(img);
    /* A damaged map (two blocks sharing one) is not touched. */
    p = compact_fixture("cpd.vdi");
    poke32(p, 0x200 + 4 * 1, 0); /* block 1 -> physical 0, which block 0 uses */
    assert_int_equal(tu_sh("cp '%s' '%s'", p, copy), 0);
    assert_true(compact_run(p) < 0);
    assert_int_equal(tu_sh("cmp '%s' '%s'", p, copy), 0);
}

/* In a differencing image a zero block must keep hiding the parent: it becomes a zero entry,
 * never a free one. */
static void test_compact_diff(void **state)
{
    const char *par = tu_path("cpp.vdi"), *ch = tu_path("cpc.vdi"), *ref = tu_path("cpc.ref");
    create(par, "", 4 * MiB);
    struct tw t = {.seed = 130};
    assert_int_equal(tu_sh("rm -f '%s' && truncate -s 4M '%s'", ref, ref), 0);
    t.img = tq_open(par, IMG_OPEN_RW);
    t.ref = open(ref, O_RDWR);
    for (uint64_t b = 0; b < 4; b++)
        tw_write(&t, b * MiB, MiB);
    img_close(t.img);
    tu_create("vdi", ch, "", 0, "cpp.vdi", "vdi");
    t.img = tq_open(ch, IMG_OPEN_RW | IMG_OPEN_BACKING);
    uint8_t *z = calloc(1, MiB);
    assert_int_equal(img_write(t.img, MiB, z, MiB), 0); /* real zeros: an allocated block */
    assert_int_equal(pwrite(t.ref, z, MiB, (off_t)MiB), (ssize_t)MiB);
    free(z);
    tw_write(&t, 3 * MiB + 1, 100);
    img_close(t.img);
    close(t.ref);
    assert_int_equal(compact_run(ch), 0);
    size_t n;
    uint8_t *h = tu_read_file(ch, &n);
    assert_int_equal(le32_load(h + 0x200 + 4), 0xfffffffe);
    assert_int_equal(le32_load(h + 0x200), 0xffffffff); /* untouched: still the parent's */
    assert_int_equal(le32_load(h + 0x200 + 12), 0);     /* moved into the hole */
    assert_int_equal(le32_load(h + 0x184), 1);
    assert_int_equal(n, 0x400 + MiB);
    free(h);
    struct img *img = tq_open(ch, IMG_OPEN_BACKING);
    size_t rl;
    uint8_t *want = tu_read_file(ref, &rl), *got = malloc(rl);
    assert_int_equal(img_read(img, 0, got, rl), 0);
    assert_memory_equal(got, want, rl);
    free(want);
    free(got);
    img_close(img);
}

/* Stop the compaction after 0, 1, 2, ... writes: every state reads exactly as before. dimg's
 * check finds at most the one documented problem (blocks_allocated not yet rewritten after
 * the zero entries), and compacting again always ends clean and minimal. */
static void test_compact_crash_order(void **state)
{
    const char *orig = compact_fixture("cc.orig"), *p = tu_path("cc.vdi");
    const char *ref = tu_path("cc.raw");
    assert_int_equal(tu_sh("qemu-img convert -O raw '%s' '%s'", orig, ref), 0);
    size_t rl;
    uint8_t *want = tu_read_file(ref, &rl), *got = malloc(rl);
    long n = 0;
    unsigned unclean = 0;
    for (;; n++) {
        assert_int_equal(tu_sh("cp '%s' '%s'", orig, p), 0);
        struct img *img = tq_open(p, IMG_OPEN_RW);
        tu_crash_budget = n;
        int r = img_compact(img, NULL, NULL);
        tu_crash_budget = -1;
        img_close(img);
        img = tq_open(p, 0);
        assert_int_equal(img_read(img, 0, got, rl), 0);
        if (memcmp(got, want, rl) != 0)
            fail_msg("after a crash at write %ld the image reads differently", n);
        struct img_check c = {0};
        assert_int_equal(img_check(img, &c, 0), 0);
        assert_true(c.corruptions <= 1);
        unclean += c.corruptions != 0;
        img_close(img);
        if (r == 0)
            break;
        assert_int_equal(compact_run(p), 0);
        assert_int_equal(tu_file_size(p), 0x400 + 5 * MiB);
        assert_int_equal(
            tu_sh("qemu-img check -q '%s' && qemu-img compare -q -f raw '%s' '%s'", p, ref, p), 0);
        assert_true(n < 100);
    }
    /* 5 zero entries + count, then 3 moves of 2 writes (10 blocks, 5 zero, data at 1, 5, 8, 9,
     * 10 in qemu's order), then the cut. */
    print_message("compaction: %ld writes, %u states with the count behind\n", n, unclean);
    assert_true(n >= 12);
    assert_true(unclean <= 5); /* only while the zero entries outnumber the count */
    assert_int_equal(tu_file_size(p), 0x400 + 5 * MiB);
    free(want);
    free(got);
}

/* ---- hostile headers ---- */

static void expect_open_fails(const char *path, const char *fmt, const char *want)
{
    tq_expect_open_fails(path, fmt, 0, want);
    struct img_err err = {0};
    struct img *img = img_open(path, fmt, 0, &err);
    assert_null(img);
    if (fmt && !strstr(err.msg, "vdi: "))
        fail_msg("message '%s' does not start the driver's part with 'vdi: '", err.msg);
}

#define BAD32(name, off, val, want)                                                                \
    static void name(void **s)                                                                     \
    {                                                                                              \
        const char *p = fresh(#name ".vdi");                                                       \
        poke32(p, off, val);                                                                       \
        expect_open_fails(p, "vdi", want);                                                         \
    }

BAD32(t_signature, 0x40, 0xbeda1070, "signature")
BAD32(t_version, 0x44, 0x00010000, "version 1.0")
BAD32(t_header_size_small, 0x48, 0x100, "header_size")
BAD32(t_header_size_huge, 0x48, 0x7fffffff, "header_size")
BAD32(t_image_type, 0x4c, 3, "image_type 3")
BAD32(t_image_type_diff, 0x4c, 4, "differencing image with a null uuid_link")
BAD32(t_offset_bmap_unaligned, 0x154, 0x201, "offset_bmap")
BAD32(t_offset_bmap_in_header, 0x154, 0, "offset_bmap")
BAD32(t_offset_data_unaligned, 0x158, 0x401, "offset_data")
BAD32(t_offset_data_past_eof, 0x158, 0x40000000, "offset_data")
BAD32(t_sector_size, 0x168, 4096, "sector_size 4096")
BAD32(t_block_size, 0x178, 2097152, "vdi: block_size 2097152 is not supported (only 1048576)")
BAD32(t_block_extra, 0x17c, 512, "block_extra")
BAD32(t_blocks_huge, 0x180, 0x20000000, "blocks_in_image")
BAD32(t_blocks_map_overlap, 0x180, 0x1000000, "blocks_in_image")
BAD32(t_blocks_allocated, 0x184, 6, "blocks_allocated")
BAD32(t_uuid_link, 0x1a8, 0x12345678, "uuid_link")

static void t_disk_size_max(void **s)
{
    const char *p = fresh("dsmax.vdi");
    poke64(p, 0x170, 0x2000000000000ull);
    expect_open_fails(p, "vdi", "disk_size");
}

static void t_disk_size_blocks(void **s)
{
    const char *p = fresh("dsblk.vdi");
    poke64(p, 0x170, 5 * MiB + 512); /* 5 blocks hold 5 MiB */
    expect_open_fails(p, "vdi", "disk_size");
}

static void t_bmap_past_eof(void **s)
{
    /* A block map that would end past the end of the file (data offset moved out of the
     * way so that only the file size can catch it). */
    const char *p = fresh("bmeof.vdi");
    assert_int_equal(tu_sh("truncate -s 1280 '%s'", p), 0);
    poke32(p, 0x158, 0x600);
    poke32(p, 0x180, 0x100); /* 1 KiB of block map from 0x200 */
    poke64(p, 0x170, 5 * MiB);
    expect_open_fails(p, "vdi", "block map");
}

static void t_too_short(void **s)
{
    const char *p = fresh("short.vdi");
    assert_int_equal(truncate(p, 100), 0);
    expect_open_fails(p, "vdi", "too short");
}

static void t_bmap_entry_past_eof(void **s)
{
    const char *p = fresh("entry.vdi");
    poke32(p, 0x200 + 2 * 4, 4); /* block 2 -> physical 4: within blocks_in_image, past EOF */
    struct img *img = tq_open(p, 0);
    uint8_t buf[4096];
    assert_int_equal(img_read(img, 0, buf, sizeof buf), 0);
    assert_true(img_read(img, 2 * MiB + 10, buf, 100) < 0);
    assert_non_null(strstr(img_errmsg(img), "vdi: block map entry 2"));
    assert_null(strchr(img_errmsg(img), '\n'));
    struct img_bs bs;
    assert_true(img_block_status(img, 2 * MiB, MiB, &bs) < 0);
    struct img_check c = {0};
    assert_int_equal(img_check(img, &c, 0), 0);
    assert_int_equal(c.corruptions, 1);
    img_close(img);
    /* Way out of range too (0x7fffffff blocks): no overflow, same message. */
    poke32(p, 0x200 + 2 * 4, 0x7fffffff);
    img = tq_open(p, 0);
    assert_true(img_read(img, 2 * MiB, buf, 100) < 0);
    assert_non_null(strstr(img_errmsg(img), "block map entry"));
    img_close(img);
}

/* dimg's block-map limit (256 MiB: 64 Mi blocks, 64 TiB), stricter than QEMU's 2 GiB - 512:
 * one block more is refused before anything is allocated; exactly 64 Mi blocks open (the map
 * is read from the sparse file, inside the 1 GiB address-space cap). */
static void t_bmap_memory_limit(void **s)
{
    const char *p = fresh("bmmem.vdi");
    const uint32_t max = 0x4000000;
    poke32(p, 0x180, max + 1);
    poke32(p, 0x158, 0x10000400);
    assert_int_equal(truncate(p, 0x10000400), 0);
    expect_open_fails(p, "vdi",
                      "blocks_in_image 67108865 needs a 268435460-byte block map, "
                      "more than dimg's 256 MiB limit");
    poke32(p, 0x180, max);
    poke32(p, 0x158, 0x10000200);
    struct img_err err = {0};
    struct img *img = img_open(p, "vdi", 0, &err);
    if (!img)
        fail_msg("a 64 Mi-block map was refused: %s", err.msg);
    img_close(img);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_read_qemu_images),
        cmocka_unit_test(test_info_layout),
        cmocka_unit_test(test_write_dynamic),
        cmocka_unit_test(test_write_static),
        cmocka_unit_test(test_create_layout),
        cmocka_unit_test(test_check),
        cmocka_unit_test(test_check_counts),
        cmocka_unit_test(test_resize),
        cmocka_unit_test(test_virtualbox_layout),
        cmocka_unit_test(test_resize_relocate),
        cmocka_unit_test(test_resize_relocate_static),
        cmocka_unit_test(test_resize_crash_order),
        cmocka_unit_test(test_compact),
        cmocka_unit_test(test_compact_diff),
        cmocka_unit_test(test_compact_crash_order),
    };
    const struct CMUnitTest hostile[] = {
        cmocka_unit_test(t_signature),
        cmocka_unit_test(t_version),
        cmocka_unit_test(t_header_size_small),
        cmocka_unit_test(t_header_size_huge),
        cmocka_unit_test(t_image_type),
        cmocka_unit_test(t_image_type_diff),
        cmocka_unit_test(t_offset_bmap_unaligned),
        cmocka_unit_test(t_offset_bmap_in_header),
        cmocka_unit_test(t_offset_data_unaligned),
        cmocka_unit_test(t_offset_data_past_eof),
        cmocka_unit_test(t_sector_size),
        cmocka_unit_test(t_block_size),
        cmocka_unit_test(t_block_extra),
        cmocka_unit_test(t_blocks_huge),
        cmocka_unit_test(t_blocks_map_overlap),
        cmocka_unit_test(t_blocks_allocated),
        cmocka_unit_test(t_uuid_link),
        cmocka_unit_test(t_disk_size_max),
        cmocka_unit_test(t_disk_size_blocks),
        cmocka_unit_test(t_bmap_past_eof),
        cmocka_unit_test(t_too_short),
        cmocka_unit_test(t_bmap_entry_past_eof),
        cmocka_unit_test(t_bmap_memory_limit),
    };
    int r = cmocka_run_group_tests(tests, NULL, NULL);
    r += cmocka_run_group_tests(hostile, tu_group_cap_1g, tu_group_uncap);
    tu_teardown(NULL);
    return r;
}

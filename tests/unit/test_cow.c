/* SPDX-License-Identifier: GPL-2.0-or-later */
/* test_cow.c: the legacy cow driver. cow has no living peer (QEMU dropped it in 2.2), so the
 * reference is a hand-made golden image committed as text (tests/fixtures/cow_golden.hex,
 * decoded here), plus round trips through dimg itself (odd offsets, a raw backing file, grow in
 * place and by rewriting, over a longer backing file), write_zeroes with and without a backing
 * file,
 * the i386 header layout, and one test per header check. */
#include "testutil.h"

#include "core/base/bytes.h"
#include "core/block/driver.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *golden(void)
{
    return tu_fixture("cow_golden.hex");
}

static struct img *open_or_fail(const char *path, unsigned flags)
{
    struct img_err err = {0};
    struct img *img = img_open(path, NULL, flags, &err);
    if (!img)
        fail_msg("open %s: %s", path, err.msg);
    return img;
}

static void make_base(const char *name, size_t len, unsigned seed)
{
    uint8_t *b = malloc(len);
    tu_pattern(b, len, 0, seed);
    int fd = open(tu_path(name), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_int_equal(write(fd, b, len), (ssize_t)len);
    close(fd);
    free(b);
}

/* This layer's block status runs from each run's start to the end of the image. */
struct run {
    uint64_t off, len;
    bool data;
};
static void expect_runs(struct img *img, const struct run *v, size_t n, uint64_t data_off)
{
    for (size_t i = 0; i < n; i++) {
        struct img_bs bs;
        assert_int_equal(img_block_status_layer(img, v[i].off, img->size - v[i].off, &bs), 0);
        assert_int_equal(bs.len, v[i].len);
        assert_int_equal((bs.flags & IMG_BS_ALLOCATED) != 0, v[i].data);
        if (v[i].data)
            assert_int_equal(bs.host_off, data_off + v[i].off);
    }
}

static void test_golden(void **state)
{
    const char *p = tu_path("golden.cow");
    tu_hex_decode(golden(), p);
    make_base("base.raw", 4096, 1);
    struct img *img = open_or_fail(p, IMG_OPEN_BACKING);
    assert_string_equal(img->drv->name, "cow");
    assert_int_equal(img->size, 4096);
    assert_string_equal(img->backing_name, "base.raw");
    uint8_t got[4096], want[4096];
    tu_pattern(want, sizeof want, 0, 1);
    memset(want + 512, 0x11, 512);
    memset(want + 3072, 0xa5, 256);
    memset(want + 3328, 0x5a, 255);
    want[3583] = 0xc3;
    assert_int_equal(img_read(img, 0, got, sizeof got), 0);
    assert_memory_equal(got, want, sizeof want);
    /* Odd-sized reads straddling present and absent sectors. */
    memset(got, 0, sizeof got);
    for (size_t off = 0; off < 4096; off += 333) {
        size_t n = 4096 - off < 333 ? 4096 - off : 333;
        assert_int_equal(img_read(img, off, got + off, n), 0);
    }
    assert_memory_equal(got, want, sizeof want);
    /* Block status: runs of this layer's bitmap, the rest from the backing file. */
    static const struct run runs[] = {{0, 512, false},
                                      {512, 512, true},
                                      {1024, 2048, false},
                                      {3072, 512, true},
                                      {3584, 512, false}};
    expect_runs(img, runs, sizeof runs / sizeof *runs, 1536);
    struct img_region *r;
    size_t n;
    assert_int_equal(img_layout(img, &r, &n), 0);
    assert_int_equal(n, 4);
    assert_int_equal(r[0].kind, IMG_R_HEADER);
    assert_int_equal(r[0].len, 1056);
    assert_int_equal(r[1].kind, IMG_R_BITMAP);
    assert_int_equal(r[2].off, 2048);
    assert_int_equal(r[3].off, 4608);
    free(r);
    img_close(img);
}

/* dimg writes the golden image's content from scratch: the file equals the fixture except
 * for the mtime field. */
static void test_create_matches_golden(void **state)
{
    const char *g = tu_path("g2.cow"), *p = tu_path("made.cow");
    tu_hex_decode(golden(), g);
    make_base("base.raw", 4096, 1);
    struct img_err err = {0};
    struct img_opts o = {0};
    struct img_create_req req = {.size = 4096, .backing_file = "base.raw", .opts = &o};
    assert_int_equal(img_create("cow", p, &req, &err), 0);
    struct img *img = open_or_fail(p, IMG_OPEN_RW | IMG_OPEN_BACKING);
    uint8_t s[512];
    memset(s, 0x11, 512);
    assert_int_equal(img_write(img, 512, s, 512), 0);
    memset(s, 0xa5, 256);
    memset(s + 256, 0x5a, 255);
    s[511] = 0xc3;
    assert_int_equal(img_write(img, 3072, s, 512), 0);
    img_close(img);
    size_t la, lb;
    uint8_t *a = tu_read_file(g, &la), *b = tu_read_file(p, &lb);
    assert_int_equal(la, lb);
    memset(a + 1032, 0, 4);
    memset(b + 1032, 0, 4);
    assert_memory_equal(a, b, la);
    free(a);
    free(b);
}

/* Write the same bytes to the image and to a raw reference. */
static void both(struct img *img, int ref, uint64_t off, size_t len, unsigned seed)
{
    uint8_t *b = malloc(len);
    tu_pattern(b, len, off, seed);
    if (img_write(img, off, b, len) < 0)
        fail_msg("write at %llu: %s", (unsigned long long)off, img_errmsg(img));
    assert_int_equal(pwrite(ref, b, len, (off_t)off), (ssize_t)len);
    free(b);
}

static void same_as(const char *path, const char *ref)
{
    size_t rl;
    uint8_t *want = tu_read_file(ref, &rl);
    struct img *img = open_or_fail(path, IMG_OPEN_BACKING);
    assert_int_equal(img->size, rl);
    uint8_t *got = malloc(rl);
    assert_int_equal(img_read(img, 0, got, rl), 0);
    for (size_t i = 0; i < rl; i++)
        if (got[i] != want[i])
            fail_msg("%s: byte %zu is %02x, want %02x", path, i, got[i], want[i]);
    img_close(img);
    free(got);
    free(want);
}

/* A new cow image p over backing (or none) and its raw reference r (the backing file's bytes,
 * zeros past them); *size is rounded up to whole sectors, as qemu-img did. */
static struct img *pair(const char *p, const char *r, const char *backing, uint64_t *size, int *ref)
{
    struct img_err err = {0};
    struct img_opts o = {0};
    struct img_create_req req = {.size = *size, .backing_file = backing, .opts = &o};
    assert_int_equal(img_create("cow", p, &req, &err), 0);
    *size = (*size + 511) / 512 * 512;
    if (backing)
        assert_int_equal(tu_sh("cp '%s' '%s' && truncate -s %llu '%s'", tu_path(backing), r,
                               (unsigned long long)*size, r),
                         0);
    else
        assert_int_equal(
            tu_sh("rm -f '%s' && truncate -s %llu '%s'", r, (unsigned long long)*size, r), 0);
    *ref = open(r, O_RDWR);
    assert_true(*ref >= 0);
    return open_or_fail(p, IMG_OPEN_RW | IMG_OPEN_BACKING);
}

static void round_trip(const char *name, const char *backing, uint64_t size)
{
    const char *p = tu_path(name), *r = tu_path("ref.raw");
    int ref;
    struct img *img = pair(p, r, backing, &size, &ref);
    both(img, ref, 0, 1, 2);
    both(img, ref, 3, 5, 3);                /* inside one sector, twice */
    both(img, ref, 511, 2, 4);              /* across a sector boundary */
    both(img, ref, 4000, 70001, 5);         /* partial head, full sectors, partial tail */
    both(img, ref, 8 * 512 * 8 - 7, 20, 6); /* across a bitmap byte... and a window */
    both(img, ref, size - 3, 3, 7);         /* the last bytes */
    both(img, ref, 5000, 100, 8);           /* rewrite of present sectors */
    assert_int_equal(img_flush(img), 0);
    img_close(img);
    close(ref);
    same_as(p, r);
}

static void test_round_trip(void **state)
{
    round_trip("rt.cow", NULL, 3u << 20);
    round_trip("rt_odd.cow", NULL, 1000000); /* rounded up to whole sectors */
    make_base("rtbase.raw", 2u << 20, 9);    /* shorter than the overlay */
    round_trip("rt_b.cow", "rtbase.raw", 3u << 20);
}

/* Zero the same range in the image and the raw reference. */
static void zboth(struct img *img, int ref, uint64_t off, uint64_t len)
{
    if (img_write_zeroes(img, off, len) < 0)
        fail_msg("write_zeroes at %llu+%llu: %s", (unsigned long long)off, (unsigned long long)len,
                 img_errmsg(img));
    uint8_t *z = calloc(1, len);
    assert_int_equal(pwrite(ref, z, len, (off_t)off), (ssize_t)len);
    free(z);
}

static bool present(struct img *img, uint64_t off)
{
    struct img_bs bs;
    assert_int_equal(img_block_status_layer(img, off, 512, &bs), 0);
    return bs.flags & IMG_BS_ALLOCATED;
}

/* write_zeroes at awkward places, with and without a backing file: the content equals a raw
 * reference; whole sectors are absent without a backing file (their data punched), present
 * over one (hiding it); partial sectors hold real zeros. */
static void zero_case(const char *name, const char *backing, uint64_t size)
{
    const char *p = tu_path(name), *r = tu_path("zref.raw");
    int ref;
    struct img *img = pair(p, r, backing, &size, &ref);
    both(img, ref, 0, (size_t)size, 12);
    uint64_t alloc0 = tu_alloc_bytes(p);
    zboth(img, ref, 0, 512);                  /* first sector */
    zboth(img, ref, size - 512, 512);         /* last sector */
    zboth(img, ref, 511, 2);                  /* across a sector boundary */
    zboth(img, ref, 1030, 300);               /* inside one sector */
    zboth(img, ref, 4000, 70001);             /* partial head, whole sectors, partial tail */
    zboth(img, ref, 8 * 512 * 8 - 700, 1400); /* across a bitmap byte */
    zboth(img, ref, (1u << 20) - 3, 600000);  /* a long run across 1 MiB */
    assert_int_equal(present(img, 0), backing != NULL);
    assert_int_equal(present(img, 8192), backing != NULL);
    assert_int_equal(present(img, size - 512), backing != NULL);
    assert_true(present(img, 1024)); /* partly zeroed: real zeros, present */
    assert_int_equal(img_flush(img), 0);
    img_close(img);
    close(ref);
    same_as(p, r);
    uint64_t alloc1 = tu_alloc_bytes(p);
    if (alloc1 + 600000 > alloc0)
        fail_msg("%s: allocated bytes %llu -> %llu: the data was not punched", name,
                 (unsigned long long)alloc0, (unsigned long long)alloc1);
}

static void test_write_zeroes(void **state)
{
    zero_case("z.cow", NULL, 3u << 20);
    make_base("zbase.raw", 2u << 20, 13); /* shorter than the overlay */
    zero_case("zb.cow", "zbase.raw", 3u << 20);
}

static void test_grow(void **state)
{
    const char *p = tu_path("grow.cow");
    struct img_err err = {0};
    struct img_opts o = {0};
    /* 1 MiB: 256-byte bitmap after the 1056-byte header, data at 1536: the bitmap can grow to
     * 480 bytes (3840 sectors) without moving the data area. */
    struct img_create_req req = {.size = 1u << 20, .opts = &o};
    assert_int_equal(img_create("cow", p, &req, &err), 0);
    struct img *img = open_or_fail(p, IMG_OPEN_RW);
    uint8_t b[1000];
    memset(b, 0x3e, sizeof b);
    assert_int_equal(img_write(img, (1u << 20) - 1000, b, sizeof b), 0);
    uint64_t before = tu_file_size(p);
    assert_int_equal(img_truncate(img, 3840 * 512, IMG_PREALLOC_OFF), 0);
    assert_int_equal(tu_file_size(p), before); /* in place: same file, same data offset */
    assert_int_equal(img_truncate(img, 1u << 19, IMG_PREALLOC_OFF), -ENOTSUP);
    /* One more sector moves the data area (see test_grow_move). */
    assert_int_equal(img_truncate(img, 3841 * 512, IMG_PREALLOC_OFF), 0);
    img_close(img);
    img = open_or_fail(p, 0);
    assert_int_equal(img->size, 3841 * 512);
    uint8_t *all = malloc(3841 * 512);
    assert_int_equal(img_read(img, 0, all, 3841 * 512), 0);
    for (size_t i = 0; i < 3841 * 512; i++)
        assert_int_equal(all[i], i >= (1u << 20) - 1000 && i < (1u << 20) ? 0x3e : 0);
    free(all);
    img_close(img);
}

/* The bit of sector n in the file's bitmap (x86-64 layout). */
static bool file_bit(const uint8_t *f, uint64_t n)
{
    return (f[1056 + n / 8] >> (n % 8)) & 1;
}

/* Growing past the bitmap's slack rewrites the image next to itself: the documented layout
 * with the new size (bitmap at 1056, data at the next 512 boundary after it), the same bytes,
 * the file's mode kept, no NAME.part left, and the open handle writing to the new file. */
static void test_grow_move(void **state)
{
    const char *p = tu_path("mv.cow"), *r = tu_path("mv.raw");
    round_trip("mv.cow", NULL, 1u << 20); /* leaves mv.cow and ref.raw alike */
    assert_int_equal(tu_sh("cp '%s' '%s' && chmod 0640 '%s'", tu_path("ref.raw"), r, p), 0);
    struct img *img = open_or_fail(p, IMG_OPEN_RW);
    uint64_t size = 64u << 20;
    assert_int_equal(img_truncate(img, size, IMG_PREALLOC_OFF), 0);
    int ref = open(r, O_RDWR);
    assert_int_equal(ftruncate(ref, (off_t)size), 0);
    both(img, ref, size - 5000, 5000, 30);     /* through the same handle */
    both(img, ref, (1u << 20) - 100, 200, 31); /* across the old end */
    img_close(img);
    close(ref);
    same_as(p, r);
    assert_false(tu_exists(tu_path("mv.cow.part")));
    assert_int_equal(tu_sh("test \"$(stat -c %%a '%s')\" = 640", p), 0);
    size_t fl, rl;
    uint8_t *f = tu_read_file(p, &fl), *want = tu_read_file(r, &rl);
    assert_int_equal(be64_load(f + 1040), size);
    uint64_t sectors = size / 512, data = (1056 + sectors / 8 + 511) / 512 * 512;
    assert_int_equal(data, 17920);
    for (uint64_t n = 0; n < sectors; n++) {
        if (!file_bit(f, n)) {
            for (size_t i = 0; i < 512; i++)
                assert_int_equal(want[n * 512 + i], 0);
            continue;
        }
        size_t k = data + n * 512 < fl ? fl - (data + n * 512) : 0;
        k = k < 512 ? k : 512;
        assert_memory_equal(f + data + n * 512, want + n * 512, k); /* sector n at data + n*512 */
    }
    assert_true(file_bit(f, 0) && file_bit(f, 100) && file_bit(f, 2047) && file_bit(f, 2048));
    assert_true(file_bit(f, sectors - 1));
    assert_false(file_bit(f, 3000));
    free(f);
    free(want);
}

/* New sectors read as zeros, not as a longer backing file shows them: in place and moving. A
 * stale NAME.part is refused and leaves the image as it was. */
static void test_grow_over_backing(void **state)
{
    make_base("gob.raw", 6u << 20, 40);
    const char *p = tu_path("gob.cow"), *r = tu_path("gob.ref");
    struct img_err err = {0};
    struct img_opts o = {0};
    struct img_create_req req = {.size = 1u << 20, .backing_file = "gob.raw", .opts = &o};
    assert_int_equal(img_create("cow", p, &req, &err), 0);
    assert_int_equal(tu_sh("cp '%s' '%s' && truncate -s 1M '%s'", tu_path("gob.raw"), r, r), 0);
    struct img *img = open_or_fail(p, IMG_OPEN_RW | IMG_OPEN_BACKING);
    int ref = open(r, O_RDWR);
    both(img, ref, 1000, 3000, 41);
    img_close(img);
    img = open_or_fail(p, IMG_OPEN_RW); /* as resize opens it: no chain */
    assert_int_equal(img_truncate(img, 3840 * 512, IMG_PREALLOC_OFF), 0); /* in place */
    assert_int_equal(tu_sh("touch '%s.part'", p), 0);
    assert_true(img_truncate(img, 8u << 20, IMG_PREALLOC_OFF) < 0);
    assert_non_null(strstr(img_errmsg(img), ".part"));
    assert_int_equal(unlink(tu_path("gob.cow.part")), 0);
    assert_int_equal(img_truncate(img, 8u << 20, IMG_PREALLOC_OFF), 0); /* moving */
    img_close(img);
    assert_int_equal(ftruncate(ref, 8 << 20), 0);
    close(ref);
    same_as(p, r);
    /* The hidden part costs bits only: no data was written for it. */
    assert_true(tu_alloc_bytes(p) < (1u << 20));
    /* Without a way to learn the backing file's length, growing is refused. */
    img = open_or_fail(p, IMG_OPEN_RW | IMG_OPEN_UNTRUSTED);
    assert_true(img_truncate(img, 9u << 20, IMG_PREALLOC_OFF) < 0);
    assert_non_null(strstr(img_errmsg(img), "cow: growing needs the length of the backing"));
    img_close(img);
}

/* The i386 build of QEMU wrote a 1048-byte header: size at 1036, sectorsize at 1044. */
static void test_i386_layout(void **state)
{
    const char *p = tu_path("i386.cow");
    uint8_t h[2048];
    memset(h, 0, sizeof h);
    be32_store(h, 0x4f4f4f4d);
    be32_store(h + 4, 2);
    be64_store(h + 1036, 8 * 512);
    be32_store(h + 1044, 512);
    h[1048] = 0x80; /* sector 7 present; data at round_up(1049, 512) = 1536 */
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_int_equal(write(fd, h, sizeof h), (ssize_t)sizeof h);
    uint8_t s[512];
    memset(s, 0x77, sizeof s);
    assert_int_equal(pwrite(fd, s, 512, 1536 + 7 * 512), 512);
    close(fd);
    struct img *img = open_or_fail(p, 0);
    assert_int_equal(img->size, 4096);
    uint8_t got[4096];
    assert_int_equal(img_read(img, 0, got, sizeof got), 0);
    for (size_t i = 0; i < 4096; i++)
        assert_int_equal(got[i], i >= 3584 ? 0x77 : 0);
    img_close(img);
}

/* ---- bad input: one check per test ---- */

static const char *bad_base(const char *name)
{
    const char *p = tu_path(name);
    tu_hex_decode(golden(), p);
    return p;
}

static void poke(const char *path, uint64_t off, const void *b, size_t n)
{
    int fd = open(path, O_WRONLY);
    assert_int_equal(pwrite(fd, b, n, (off_t)off), (ssize_t)n);
    close(fd);
}

static void expect_bad(const char *path, const char *want)
{
    struct img_err err = {0};
    struct img *img = img_open(path, "cow", 0, &err);
    if (img) {
        img_close(img);
        fail_msg("%s: opened, wanted '%s'", path, want);
    }
    if (!strstr(err.msg, want) || !strstr(err.msg, "cow: ") || strchr(err.msg, '\n'))
        fail_msg("%s: message '%s', wanted '%s'", path, err.msg, want);
}

static void test_bad_magic(void **state)
{
    const char *p = bad_base("m.cow");
    poke(p, 0, "MOOO", 4);
    expect_bad(p, "magic");
}
static void test_bad_version(void **state)
{
    const char *p = bad_base("v.cow");
    uint8_t b[4];
    be32_store(b, 3); /* UML's v3 is a different layout */
    poke(p, 4, b, 4);
    expect_bad(p, "version");
}
static void test_bad_sectorsize(void **state)
{
    const char *p = bad_base("ss.cow");
    uint8_t b[4];
    be32_store(b, 4096);
    poke(p, 1048, b, 4);
    expect_bad(p, "sectorsize");
}
static void test_bad_size(void **state)
{
    const char *p = bad_base("sz.cow");
    uint8_t b[8];
    be64_store(b, UINT64_MAX);
    poke(p, 1040, b, 8);
    expect_bad(p, "size");
    be64_store(b, (1ull << 50) + 512);
    poke(p, 1040, b, 8);
    expect_bad(p, "size");
}
static void test_bad_backing_name(void **state)
{
    const char *p = bad_base("bn.cow");
    uint8_t b[1024];
    memset(b, 'a', sizeof b);
    poke(p, 8, b, sizeof b);
    expect_bad(p, "backing file name");
}
static void test_bad_short(void **state)
{
    const char *p = tu_path("short.cow");
    assert_int_equal(tu_sh("head -c 1052 '%s' > '%s'", bad_base("full.cow"), p), 0);
    expect_bad(p, "header");
}

/* A huge size with the bitmap past the end of the file: sparse, reads as zeros, no crash. */
static void test_sparse_bitmap(void **state)
{
    const char *p = bad_base("big.cow");
    uint8_t b[8];
    be64_store(b, 1ull << 50);
    poke(p, 1040, b, 8);
    struct img *img = open_or_fail(p, 0);
    struct img_bs bs;
    assert_int_equal(img_block_status_layer(img, 1ull << 49, 1ull << 36, &bs), 0);
    assert_int_equal(bs.flags & IMG_BS_ALLOCATED, 0);
    img_close(img);
}

/* ---- User-Mode-Linux COW ---- */

/* What the golden v3 image reads as: the backing file's bytes, sectors 1, 6 and the partial
 * sector 10 from the image. */
static void ucow_want(uint8_t *want)
{
    tu_pattern(want, 5220, 0, 4);
    memset(want + 512, 0x11, 512);
    memset(want + 3072, 0xa5, 256);
    memset(want + 3328, 0x5a, 256);
    memset(want + 5120, 0xc3, 100);
}

static const char *ucow_golden(const char *name)
{
    const char *p = tu_path(name);
    tu_hex_decode(tu_fixture("ucow_v3_golden.hex"), p);
    make_base("ubase.raw", 6000, 4); /* longer than the image: its tail is not shown */
    return p;
}

static void test_ucow_golden(void **state)
{
    const char *p = ucow_golden("golden.ucow");
    struct img *img = open_or_fail(p, IMG_OPEN_BACKING);
    assert_string_equal(img->drv->name, "ucow");
    assert_int_equal(img->size, 5220);
    assert_string_equal(img->backing_name, "ubase.raw");
    assert_string_equal(img->backing_fmt, "raw");
    uint8_t got[5220], want[5220];
    ucow_want(want);
    memset(got, 0, sizeof got);
    for (size_t off = 0; off < sizeof got; off += 333) { /* odd-sized reads */
        size_t n = sizeof got - off < 333 ? sizeof got - off : 333;
        assert_int_equal(img_read(img, off, got + off, n), 0);
    }
    assert_memory_equal(got, want, sizeof want);
    static const struct run runs[] = {{0, 512, false},   {512, 512, true},    {1024, 2048, false},
                                      {3072, 512, true}, {3584, 1536, false}, {5120, 100, true}};
    expect_runs(img, runs, sizeof runs / sizeof *runs, 12288);
    struct img_region *r;
    size_t n;
    assert_int_equal(img_layout(img, &r, &n), 0);
    assert_int_equal(n, 5);
    assert_int_equal(r[0].kind, IMG_R_HEADER);
    assert_int_equal(r[0].len, 4128);
    assert_int_equal(r[1].kind, IMG_R_BITMAP);
    assert_int_equal(r[1].off, 8192);
    assert_int_equal(r[1].len, 2);
    assert_int_equal(r[2].off, 12800);
    assert_int_equal(r[3].off, 15360);
    assert_int_equal(r[4].off, 17408);
    free(r);
    struct img_info info;
    assert_int_equal(img_get_info(img, &info), 0);
    assert_string_equal(info.format, "ucow");
    bool seen = false;
    for (size_t i = 0; i < info.nkv; i++)
        if (!strcmp(info.kv[i].key, "alignment"))
            seen = info.kv[i].num == 4096;
    assert_true(seen);
    img_close(img);
}

/* Writes to a UML v3 image land in its layout (data, then bits): the image reads like a raw
 * reference afterwards, and UML's reader would find the bits at the documented places. */
static void test_ucow_write(void **state)
{
    const char *p = ucow_golden("w.ucow"), *r = tu_path("uref.raw");
    uint8_t want[5220];
    ucow_want(want);
    int ref = open(r, O_RDWR | O_CREAT | O_TRUNC, 0644);
    assert_int_equal(write(ref, want, sizeof want), (ssize_t)sizeof want);
    struct img *img = open_or_fail(p, IMG_OPEN_RW | IMG_OPEN_BACKING);
    both(img, ref, 700, 3000, 14); /* partial sectors on both sides */
    both(img, ref, 5219, 1, 15);   /* the last byte */
    zboth(img, ref, 4096, 600);    /* over the backing file: bits set, zeros written */
    img_close(img);
    close(ref);
    same_as(p, r);
    size_t len;
    uint8_t *f = tu_read_file(p, &len);
    assert_int_equal(f[8192], 0xfe); /* sectors 1..7 */
    assert_int_equal(f[8193], 0x07); /* sectors 8, 9 and 10 */
    free(f);
}

/* A hand-made UML header of version v (1 little-endian, 2, 3 or the padded 64-bit v3) for
 * size bytes, no backing file, sector `present` in the file holding 0x6b. */
enum { U_V1, U_V2, U_V3B };
static const char *ucow_make(const char *name, int kind, uint64_t size, uint64_t present)
{
    uint8_t h[8192];
    memset(h, 0, sizeof h);
    uint64_t hdr, data_off;
    if (kind == U_V1) {
        le32_store(h, 0x4f4f4f4d);
        le32_store(h + 4, 1);
        le64_store(h + 268, size);
        le32_store(h + 276, 512);
        hdr = 280;
        data_off = (hdr + (size + 511) / 4096 + 511) / 512 * 512;
    } else if (kind == U_V2) {
        be32_store(h, 0x4f4f4f4d);
        be32_store(h + 4, 2);
        be64_store(h + 4108, size);
        be32_store(h + 4116, 512);
        hdr = 4120;
        data_off = (hdr + (size + 511) / 4096 + 511) / 512 * 512;
    } else {
        be32_store(h, 0x4f4f4f4d);
        be32_store(h + 4, 3);
        be64_store(h + 16, size);
        be32_store(h + 24, 512);
        be32_store(h + 28, 512); /* alignment */
        hdr = 4608;              /* 4136 rounded up to the alignment */
        data_off = (hdr + ((size + 511) / 512 + 7) / 8 + 511) / 512 * 512;
    }
    const char *p = tu_path(name);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_int_equal(write(fd, h, hdr), (ssize_t)hdr);
    uint8_t bit = (uint8_t)(1u << (present % 8));
    assert_int_equal(pwrite(fd, &bit, 1, (off_t)(hdr + present / 8)), 1);
    uint8_t s[512];
    memset(s, 0x6b, sizeof s);
    assert_int_equal(pwrite(fd, s, 512, (off_t)(data_off + present * 512)), 512);
    close(fd);
    return p;
}

static void expect_sector(const char *p, uint64_t size, uint64_t present)
{
    struct img *img = open_or_fail(p, 0);
    assert_string_equal(img->drv->name, "ucow");
    assert_int_equal(img->size, size);
    uint8_t *got = malloc(size);
    assert_int_equal(img_read(img, 0, got, size), 0);
    for (uint64_t i = 0; i < size; i++)
        if (got[i] != (i / 512 == present ? 0x6b : 0))
            fail_msg("%s: byte %llu is %02x", p, (unsigned long long)i, got[i]);
    free(got);
    img_close(img);
}

/* Versions 1 (little-endian), 2 and the padded 64-bit v3, each with one present sector; v2's
 * last bits, which its rounded-down bitmap length leaves out, are still read before the data
 * area. */
static void test_ucow_versions(void **state)
{
    expect_sector(ucow_make("v1.ucow", U_V1, 16 * 512, 9), 16 * 512, 9);
    expect_sector(ucow_make("v2.ucow", U_V2, 9 * 512, 8), 9 * 512, 8);
    expect_sector(ucow_make("v3b.ucow", U_V3B, 20 * 512, 19), 20 * 512, 19);
    /* A v2 image whose last bits would fall in the data area (on sector 0's data, 0x6b): they
     * read as absent, and the image opens read-only only. */
    uint64_t size = 488 * 4096 + 512;
    const char *p = ucow_make("v2ro.ucow", U_V2, size, 0);
    uint8_t s[512];
    memset(s, 0x6b, sizeof s);
    poke(p, 4608 + 3904 * 512, s, sizeof s); /* where a misread bit of sector 3904 points */
    expect_sector(p, size, 0);
    struct img_err err = {0};
    assert_null(img_open(p, NULL, IMG_OPEN_RW, &err));
    assert_non_null(strstr(err.msg, "read-only"));
}

/* QEMU's cow and UML's v2 share magic and version: each probes as itself and refuses the
 * other's layout. */
static void test_ucow_not_qemu_cow(void **state)
{
    const char *q = tu_path("q.cow");
    tu_hex_decode(golden(), q);
    const char *u = ucow_make("u2.ucow", U_V2, 9 * 512, 8);
    struct img_err err = {0};
    struct img *img = img_open(q, NULL, 0, &err);
    assert_non_null(img);
    assert_string_equal(img->drv->name, "cow");
    img_close(img);
    img = img_open(u, NULL, 0, &err);
    assert_non_null(img);
    assert_string_equal(img->drv->name, "ucow");
    img_close(img);
    assert_null(img_open(u, "cow", 0, &err));
    assert_non_null(strstr(err.msg, "sectorsize"));
    assert_null(img_open(q, "ucow", 0, &err));
    assert_non_null(strstr(err.msg, "sectorsize"));
}

/* ---- UML COW bad input: one header check per test ---- */

static void expect_bad_ucow(const char *path, const char *want)
{
    struct img_err err = {0};
    struct img *img = img_open(path, "ucow", 0, &err);
    if (img) {
        img_close(img);
        fail_msg("%s: opened, wanted '%s'", path, want);
    }
    if (!strstr(err.msg, want) || !strstr(err.msg, "ucow: ") || strchr(err.msg, '\n'))
        fail_msg("%s: message '%s', wanted '%s'", path, err.msg, want);
}

static void ucow_bad32(const char *name, uint64_t off, uint32_t v, const char *want)
{
    const char *p = ucow_golden(name);
    uint8_t b[4];
    be32_store(b, v);
    poke(p, off, b, 4);
    expect_bad_ucow(p, want);
}

static void test_ucow_bad_magic(void **state)
{
    ucow_bad32("um.ucow", 0, 0x4f4f4f4e, "magic");
}
static void test_ucow_bad_version(void **state)
{
    ucow_bad32("uv0.ucow", 4, 0, "version");
    ucow_bad32("uv4.ucow", 4, 4, "version");
    const char *p = ucow_golden("uvle.ucow"); /* host byte order is only for version 1 */
    poke(p, 0, "MOOO\x02\0\0\0", 8);
    expect_bad_ucow(p, "version 2");
}
static void test_ucow_bad_sectorsize(void **state)
{
    ucow_bad32("uss.ucow", 20, 4096, "sectorsize");
}
static void test_ucow_bad_alignment(void **state)
{
    ucow_bad32("ua0.ucow", 24, 0, "alignment");
    ucow_bad32("uabig.ucow", 24, (1u << 20) + 1, "alignment");
}
static void test_ucow_bad_cow_format(void **state)
{
    ucow_bad32("uf.ucow", 28, 1, "cow_format");
}
static void test_ucow_bad_size(void **state)
{
    const char *p = ucow_golden("usz.ucow");
    uint8_t b[8];
    be64_store(b, (1ull << 50) + 1);
    poke(p, 12, b, 8);
    expect_bad_ucow(p, "size");
}
static void test_ucow_bad_backing_name(void **state)
{
    const char *p = ucow_golden("ubn.ucow");
    uint8_t *b = malloc(4096);
    memset(b, 'a', 4096);
    poke(p, 32, b, 4096);
    free(b);
    expect_bad_ucow(p, "backing file name");
}
static void test_ucow_bad_short(void **state)
{
    const char *p = tu_path("ushort.ucow");
    assert_int_equal(tu_sh("head -c 4127 '%s' > '%s'", ucow_golden("ufull.ucow"), p), 0);
    expect_bad_ucow(p, "header");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden),
        cmocka_unit_test(test_create_matches_golden),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_grow),
        cmocka_unit_test(test_grow_move),
        cmocka_unit_test(test_grow_over_backing),
        cmocka_unit_test(test_i386_layout),
        cmocka_unit_test(test_bad_magic),
        cmocka_unit_test(test_bad_version),
        cmocka_unit_test(test_bad_sectorsize),
        cmocka_unit_test(test_bad_size),
        cmocka_unit_test(test_bad_backing_name),
        cmocka_unit_test(test_bad_short),
        cmocka_unit_test(test_sparse_bitmap),
        cmocka_unit_test(test_write_zeroes),
        cmocka_unit_test(test_ucow_golden),
        cmocka_unit_test(test_ucow_write),
        cmocka_unit_test(test_ucow_versions),
        cmocka_unit_test(test_ucow_not_qemu_cow),
        cmocka_unit_test(test_ucow_bad_magic),
        cmocka_unit_test(test_ucow_bad_version),
        cmocka_unit_test(test_ucow_bad_sectorsize),
        cmocka_unit_test(test_ucow_bad_alignment),
        cmocka_unit_test(test_ucow_bad_cow_format),
        cmocka_unit_test(test_ucow_bad_size),
        cmocka_unit_test(test_ucow_bad_backing_name),
        cmocka_unit_test(test_ucow_bad_short),
    };
    return cmocka_run_group_tests(tests, NULL, tu_teardown);
}

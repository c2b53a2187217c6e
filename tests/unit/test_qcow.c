/* SPDX-License-Identifier: GPL-2.0-or-later */
/* test_qcow.c: the qcow (version 1) driver against the qemu-img/qemu-io oracle.
 * Read direction: images qemu makes (plain, over a backing file, compressed by `convert -c`)
 * read byte-identically to `qemu-img convert -O raw`, block status matches `qemu-img map`.
 * Write direction: images dimg creates and writes (odd offsets, over a backing file,
 * compressed clusters, grown, grown over a longer backing file) compare identical to a raw
 * reference with `qemu-img compare` and qemu-io reads the patterns back. Bad input: one test per
 * header check, each a single message naming the field. */
#include "test_qcow2_common.h"

#include "core/base/bytes.h"
#include "core/block/driver.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#define ULL(x) ((unsigned long long)(x))

/* qemu-io writes at awkward places: first/last sector, across cluster and L2 boundaries. */
static void qio_patterns(const char *path, uint64_t size)
{
    assert_int_equal(tu_sh("qemu-io -f qcow -c 'write -P 0x11 0 512' -c 'write -P 0x22 %llu 512' "
                           "-c 'write -P 0x33 4000 300' -c 'write -P 0x44 12295 100000' "
                           "-c 'write -P 0x55 %llu 9000' -c 'write -z 300000 5000' '%s' "
                           ">/dev/null",
                           ULL(size - 512), ULL((2u << 20) - 4000), path),
                     0);
}

static void test_read_plain(void **state)
{
    const char *p = tu_path("plain.qcow");
    assert_int_equal(tu_sh("qemu-img create -q -f qcow '%s' 5M", p), 0);
    qio_patterns(p, 5u << 20);
    tq_compare_raw(p);
    tq_compare_map(p);
    /* An empty image, and one whose size is not a whole number of clusters. */
    const char *e = tu_path("empty.qcow"), *o = tu_path("odd.qcow");
    assert_int_equal(tu_sh("qemu-img create -q -f qcow '%s' 3M", e), 0);
    tq_compare_raw(e);
    tq_compare_map(e);
    assert_int_equal(tu_sh("qemu-img create -q -f qcow '%s' 1000000 && qemu-io -f qcow -c "
                           "'write -P 0x66 999000 1000' '%s' >/dev/null",
                           o, o),
                     0);
    tq_compare_raw(o);
    tq_compare_map(o);
}

static void test_read_backing(void **state)
{
    const char *b = tu_path("base.raw"), *t = tu_path("over.qcow");
    assert_int_equal(tu_sh("qemu-img create -q -f raw '%s' 4M && qemu-io -f raw -c 'write -P "
                           "0x5a 0 4M' '%s' >/dev/null",
                           b, b),
                     0);
    /* Over a backing file qemu picks 512-byte clusters and 4096-entry L2 tables. */
    assert_int_equal(tu_sh("qemu-img create -q -f qcow -b base.raw -F raw '%s' 6M", t), 0);
    qio_patterns(t, 6u << 20);
    tq_compare_raw(t);
    tq_compare_map(t);
    struct img *img = tq_open(t, 0);
    assert_string_equal(img->backing_name, "base.raw");
    struct img_info info;
    assert_int_equal(img_get_info(img, &info), 0);
    assert_int_equal(info.cluster_size, 512);
    img_close(img);
    /* A qcow over a qcow. */
    const char *t2 = tu_path("over2.qcow");
    assert_int_equal(tu_sh("qemu-img create -q -f qcow -b over.qcow -F qcow '%s' 6M && qemu-io "
                           "-f qcow -c 'write -P 0x77 1000000 70000' '%s' >/dev/null",
                           t2, t2),
                     0);
    tq_compare_raw(t2);
    tq_compare_map(t2);
}

/* qemu-img 7.2's `convert -c -O qcow` exits 1 without a message, so compressed images are made
 * cluster by cluster with `qemu-io write -c`: compressible patterns and random data (which qemu
 * stores uncompressed). */
static void qemu_compressed(const char *path)
{
    const char *rnd = tu_path("rnd.bin");
    assert_int_equal(tu_sh("head -c 4096 /dev/urandom >'%s' && qemu-img create -q -f qcow '%s' 2M "
                           "&& qemu-io -f qcow -c 'write -c -P 0x61 0 4k' -c 'write -c -P 0x62 "
                           "4k 4k' -c 'write -c -s %s 12k 4k' -c 'write -c -P 0x63 1M 4k' -c "
                           "'write -c -P 0x64 %u 4k' '%s' >/dev/null",
                           rnd, path, rnd, (2u << 20) - 4096, path),
                     0);
}

static void test_read_compressed(void **state)
{
    const char *dst = tu_path("comp.qcow");
    qemu_compressed(dst);
    tq_compare_raw(dst);
    tq_compare_map(dst);
    struct img *img = tq_open(dst, 0);
    struct img_bs bs;
    assert_int_equal(img_block_status(img, 0, img->size, &bs), 0);
    assert_true(bs.flags & IMG_BS_COMPRESSED);
    assert_int_equal(bs.len, 8192);
    img_close(img);
    /* qemu overwrites part of a compressed cluster: it becomes a normal one. */
    assert_int_equal(tu_sh("qemu-io -f qcow -c 'write -P 0x77 4101 1000' '%s' >/dev/null", dst), 0);
    tq_compare_raw(dst);
    tq_compare_map(dst);
}

/* ---- write direction ---- */

static struct img *mk(const char *path, uint64_t size, const char *backing)
{
    tu_create("qcow", path, NULL, size, backing, NULL);
    return tq_open(path, IMG_OPEN_RW | IMG_OPEN_BACKING);
}

/* Write the same bytes to the image and to a raw reference file. */
static void both(struct img *img, int ref, uint64_t off, size_t len, unsigned seed)
{
    uint8_t *b = malloc(len);
    tu_pattern(b, len, off, seed);
    if (img_write(img, off, b, len) < 0)
        fail_msg("write at %llu: %s", ULL(off), img_errmsg(img));
    assert_int_equal(pwrite(ref, b, len, (off_t)off), (ssize_t)len);
    free(b);
}

static void qemu_same(const char *img, const char *ref)
{
    if (tu_sh("qemu-img compare -q -f qcow -F raw '%s' '%s'", img, ref) != 0)
        fail_msg("qemu-img compare: %s differs from %s", img, ref);
}

static void test_write_create(void **state)
{
    const char *p = tu_path("w.qcow"), *r = tu_path("w.raw");
    uint64_t size = 5u << 20;
    struct img *img = mk(p, size, NULL);
    assert_int_equal(tu_sh("truncate -s %llu '%s'", ULL(size), r), 0);
    int ref = open(r, O_RDWR);
    assert_true(ref >= 0);
    both(img, ref, 0, 1, 1);
    both(img, ref, 4095, 2, 2);            /* across a cluster boundary */
    both(img, ref, 7, 300000, 3);          /* many clusters, partial ends */
    both(img, ref, (2u << 20) - 5, 10, 4); /* across an L2 table boundary */
    both(img, ref, size - 1, 1, 5);        /* last byte */
    both(img, ref, 100, 50, 6);            /* rewrite of an allocated cluster */
    assert_int_equal(img_flush(img), 0);
    img_close(img);
    close(ref);
    qemu_same(p, r);
    tq_compare_raw(p);
    tq_compare_map(p);
    assert_int_equal(tu_sh("qemu-io -f qcow -c 'read -P 0 400000 4096' '%s' >/dev/null", p), 0);
    char *info = tu_sh_out("qemu-img info '%s'", p);
    assert_non_null(strstr(info, "cluster_size: 4096"));
    free(info);
}

static void test_write_backing(void **state)
{
    const char *b = tu_path("wb.raw"), *p = tu_path("wb.qcow"), *r = tu_path("wbref.raw");
    /* The backing file is shorter than the overlay: past its end reads zeros. */
    assert_int_equal(tu_sh("qemu-img create -q -f raw '%s' 3M && qemu-io -f raw -c 'write -P "
                           "0x3c 0 3M' '%s' >/dev/null && cp '%s' '%s' && truncate -s 4M '%s'",
                           b, b, b, r, r),
                     0);
    struct img *img = mk(p, 4u << 20, "wb.raw");
    int ref = open(r, O_RDWR);
    assert_true(ref >= 0);
    both(img, ref, 3, 5, 7); /* COW of one sector from the backing file */
    both(img, ref, 1000, 3000, 8);
    both(img, ref, (3u << 20) - 100, 300, 9); /* across the backing file's end */
    both(img, ref, (4u << 20) - 700, 700, 10);
    img_close(img);
    close(ref);
    qemu_same(p, r);
    tq_compare_raw(p);
    tq_compare_map(p);
    char *info = tu_sh_out("qemu-img info '%s'", p);
    assert_non_null(strstr(info, "backing file: wb.raw"));
    assert_non_null(strstr(info, "cluster_size: 512"));
    free(info);
}

static void test_write_compressed(void **state)
{
    const char *p = tu_path("wc.qcow"), *r = tu_path("wc.raw");
    uint64_t size = 1000000, cs = 4096; /* the last cluster is partial */
    struct img *img = mk(p, size, NULL);
    size = img->size; /* rounded up to whole sectors, as qemu-img does */
    assert_int_equal(tu_sh("truncate -s %llu '%s'", ULL(size), r), 0);
    int ref = open(r, O_RDWR);
    uint8_t *b = malloc(cs);
    for (uint64_t c = 0; c < 6; c++) {
        memset(b, (int)(0x40 + c), cs); /* compressible */
        if (c == 3)
            tu_pattern(b, cs, c * cs, 3); /* incompressible: stored as is */
        assert_int_equal(img_write_compressed(img, c * cs, b, cs), 0);
        assert_int_equal(pwrite(ref, b, cs, (off_t)(c * cs)), (ssize_t)cs);
    }
    uint64_t last = size / cs * cs;
    memset(b, 0x7e, size - last);
    assert_int_equal(img_write_compressed(img, last, b, size - last), 0);
    assert_int_equal(pwrite(ref, b, size - last, (off_t)last), (ssize_t)(size - last));
    both(img, ref, 2 * cs + 100, 10, 11); /* partial rewrite of a compressed cluster */
    struct img_bs bs;
    assert_int_equal(img_block_status(img, 0, cs, &bs), 0);
    assert_true(bs.flags & IMG_BS_COMPRESSED);
    img_close(img);
    close(ref);
    free(b);
    qemu_same(p, r);
    tq_compare_raw(p);
    tq_compare_map(p);
    assert_int_equal(tu_sh("qemu-io -f qcow -c 'read -P 0x40 0 4096' -c 'read -P 0x41 4096 "
                           "4096' '%s' >/dev/null",
                           p),
                     0);
}

/* Zero the same range in the image and the raw reference. */
static void zboth(struct img *img, int ref, uint64_t off, uint64_t len)
{
    if (img_write_zeroes(img, off, len) < 0)
        fail_msg("write_zeroes at %llu+%llu: %s", ULL(off), ULL(len), img_errmsg(img));
    uint8_t *z = calloc(1, len);
    assert_int_equal(pwrite(ref, z, len, (off_t)off), (ssize_t)len);
    free(z);
}

/* Layer-only status at off: this layer's flags for the run there. */
static unsigned layer_flags(struct img *img, uint64_t off)
{
    struct img_bs bs;
    assert_int_equal(img_block_status_layer(img, off, img->size - off, &bs), 0);
    return bs.flags;
}

/* Without a backing file whole clusters are unlinked (and their space punched), partial ones
 * get real zeros; compressed clusters too. Content, allocation and qemu agree afterwards. */
static void test_write_zeroes(void **state)
{
    const char *p = tu_path("z.qcow"), *r = tu_path("z.raw");
    uint64_t size = 5u << 20, cs = 4096, l2span = 2u << 20;
    struct img *img = mk(p, size, NULL);
    assert_int_equal(tu_sh("truncate -s %llu '%s'", ULL(size), r), 0);
    int ref = open(r, O_RDWR);
    assert_true(ref >= 0);
    both(img, ref, 0, size, 21);
    uint8_t *b = malloc(cs);
    memset(b, 0x4c, cs);
    assert_int_equal(img_write_compressed(img, 10 * cs, b, cs), 0);
    assert_int_equal(pwrite(ref, b, cs, (off_t)(10 * cs)), (ssize_t)cs);
    assert_int_equal(img_write_compressed(img, 12 * cs, b, cs), 0);
    assert_int_equal(pwrite(ref, b, cs, (off_t)(12 * cs)), (ssize_t)cs);
    free(b);
    uint64_t alloc0 = tu_alloc_bytes(p);
    zboth(img, ref, 0, 512);               /* first sector */
    zboth(img, ref, size - 512, 512);      /* last sector */
    zboth(img, ref, cs - 1, 2);            /* across a cluster boundary */
    zboth(img, ref, 2 * cs, 2 * cs);       /* two whole clusters */
    zboth(img, ref, 10 * cs, cs);          /* a whole compressed cluster */
    zboth(img, ref, 12 * cs + 7, 100);     /* part of a compressed one */
    zboth(img, ref, l2span - 6000, 20000); /* across an L2 table's range */
    zboth(img, ref, 3u << 20, 1u << 20);   /* a long run */
    zboth(img, ref, 0, 512);               /* again: nothing changes */
    assert_false(layer_flags(img, 2 * cs) & IMG_BS_ALLOCATED);
    assert_false(layer_flags(img, 10 * cs) & IMG_BS_ALLOCATED);
    assert_false(layer_flags(img, l2span) & IMG_BS_ALLOCATED);
    assert_true(layer_flags(img, cs) & IMG_BS_DATA); /* partly zeroed: still data */
    assert_true(layer_flags(img, 12 * cs) & IMG_BS_DATA);
    assert_int_equal(img_flush(img), 0);
    img_close(img);
    close(ref);
    /* The unlinked clusters' space went back to the file system. */
    uint64_t alloc1 = tu_alloc_bytes(p);
    if (alloc1 + (1u << 20) > alloc0)
        fail_msg("allocated bytes %llu -> %llu: holes were not punched", ULL(alloc0), ULL(alloc1));
    qemu_same(p, r);
    tq_compare_raw(p);
    tq_compare_map(p);
    /* Zeroing the whole image leaves no data at all. */
    img = tq_open(p, IMG_OPEN_RW);
    assert_int_equal(img_write_zeroes(img, 0, size), 0);
    assert_false(layer_flags(img, 0) & IMG_BS_ALLOCATED);
    img_close(img);
    const char *nul = tu_path("nul.raw");
    assert_int_equal(tu_sh("truncate -s %llu '%s'", ULL(size), nul), 0);
    qemu_same(p, nul);
    tq_compare_map(p);
}

/* Over a backing file zeroed clusters must hide the backing data: allocated clusters get a hole
 * punched in place, unallocated and compressed ones a new (sparse) cluster, partial ones real
 * zeros. */
static void test_write_zeroes_backing(void **state)
{
    const char *bk = tu_path("zb.raw"), *p = tu_path("zb.qcow"), *r = tu_path("zbref.raw");
    uint64_t size = 5u << 20, l2span = 2u << 20; /* 512-byte clusters, 4096 per L2 table */
    assert_int_equal(tu_sh("qemu-img create -q -f raw '%s' 3M && qemu-io -f raw -c 'write -P "
                           "0x3c 0 3M' '%s' >/dev/null && cp '%s' '%s' && truncate -s %llu '%s'",
                           bk, bk, bk, r, ULL(size), r),
                     0);
    struct img *img = mk(p, size, "zb.raw");
    int ref = open(r, O_RDWR);
    assert_true(ref >= 0);
    both(img, ref, 1000, 70000, 31);
    uint8_t b[512];
    memset(b, 0x4d, sizeof b);
    assert_int_equal(img_write_compressed(img, 200 * 512, b, 512), 0);
    assert_int_equal(pwrite(ref, b, 512, 200 * 512), 512);
    zboth(img, ref, 0, 512);                 /* first sector, unallocated over data */
    zboth(img, ref, 1500, 3000);             /* partial + whole allocated clusters */
    zboth(img, ref, 200 * 512, 512);         /* a compressed cluster */
    zboth(img, ref, 60000, 20000);           /* allocated, then unallocated */
    zboth(img, ref, l2span - 4096, 8192);    /* across an L2 table's range */
    zboth(img, ref, (3u << 20) - 700, 1400); /* across the backing file's end */
    zboth(img, ref, size - 512, 512);        /* last sector, past the backing file */
    assert_true(layer_flags(img, 0) & IMG_BS_ALLOCATED);
    assert_true(layer_flags(img, l2span) & IMG_BS_ALLOCATED);
    assert_true(layer_flags(img, 200 * 512) & IMG_BS_OFFSET_VALID); /* no longer compressed */
    img_close(img);
    close(ref);
    qemu_same(p, r);
    tq_compare_raw(p);
    tq_compare_map(p);
}

/* qemu reads a grown image like the raw reference and reports the new size. */
static void qemu_grown(const char *p, const char *r, uint64_t size)
{
    qemu_same(p, r);
    tq_compare_raw(p);
    char *info = tu_sh_out("qemu-img info --output=json '%s'", p), want[64];
    snprintf(want, sizeof want, "\"virtual-size\": %llu,", ULL(size));
    if (!strstr(info, want))
        fail_msg("%s: qemu-img info does not say %s", p, want);
    free(info);
}

static void test_grow(void **state)
{
    const char *p = tu_path("g.qcow"), *r = tu_path("g.raw");
    struct img *img = mk(p, 1u << 20, NULL);
    assert_int_equal(tu_sh("truncate -s 1M '%s'", r), 0);
    int ref = open(r, O_RDWR);
    both(img, ref, 0, 70000, 12);
    both(img, ref, (1u << 20) - 10, 10, 13);
    /* 1 MiB needs one L1 entry, 64 MiB needs 32: the L1 moves to the end of the file. */
    assert_int_equal(img_truncate(img, 64u << 20, IMG_PREALLOC_OFF), 0);
    assert_int_equal(ftruncate(ref, 64 << 20), 0);
    both(img, ref, (40u << 20) + 3, 5000, 14);
    img_close(img);
    close(ref);
    qemu_grown(p, r, 64u << 20);
    assert_int_equal(tu_sh("qemu-io -f qcow -c 'read -P 0 2M 1M' '%s' >/dev/null", p), 0);
    /* Growing within the same L1 size only rewrites the size; shrinking is refused. */
    img = tq_open(p, IMG_OPEN_RW);
    assert_int_equal(img_truncate(img, 65u << 20, IMG_PREALLOC_OFF), 0);
    assert_int_equal(img_truncate(img, 1u << 20, IMG_PREALLOC_OFF), -ENOTSUP);
    img_close(img);
    assert_int_equal(tu_sh("truncate -s 65M '%s'", r), 0);
    qemu_same(p, r);
}

/* Grow over a backing file longer than the old size, as `dimg resize` does it (the chain not
 * open) and with the chain open: the new area reads as zeros, the old bytes stay, and parts
 * where the backing file has a hole cost no clusters. */
static void test_grow_over_backing(void **state)
{
    const char *b = tu_path("gb.raw"), *p = tu_path("gb.qcow"), *r = tu_path("gbref.raw");
    for (unsigned chain = 0; chain < 2; chain++) {
        /* Backing: 8 MiB of data with a hole at 5..7 MiB; the overlay is 2 MiB. */
        assert_int_equal(tu_sh("rm -f '%s' && truncate -s 8M '%s' && qemu-io -f raw -c 'write "
                               "-P 0x3c 0 5M' -c 'write -P 0x3d 7M 1M' '%s' >/dev/null && "
                               "cp '%s' '%s' && truncate -s 2M '%s'",
                               b, b, b, b, r, r),
                         0);
        struct img *img = mk(p, 2u << 20, "gb.raw");
        int ref = open(r, O_RDWR);
        both(img, ref, 1000, 3000, 20);
        both(img, ref, (2u << 20) - 700, 700, 21);
        img_close(img);
        img = tq_open(p, IMG_OPEN_RW | (chain ? IMG_OPEN_BACKING : 0));
        assert_int_equal(img_truncate(img, 16u << 20, IMG_PREALLOC_OFF), 0);
        assert_int_equal(ftruncate(ref, 16 << 20), 0);
        both(img, ref, (3u << 20) + 5, 10, 22); /* a write into the hidden area */
        struct img_bs bs;
        assert_int_equal(img_block_status_layer(img, 4u << 20, 512, &bs), 0);
        assert_true(bs.flags & IMG_BS_ALLOCATED); /* backing data hidden by zero clusters */
        assert_int_equal(img_block_status_layer(img, 6u << 20, 512, &bs), 0);
        assert_false(bs.flags & IMG_BS_ALLOCATED); /* backing hole: nothing to hide */
        assert_int_equal(img_block_status_layer(img, 12u << 20, 512, &bs), 0);
        assert_false(bs.flags & IMG_BS_ALLOCATED); /* past the backing file */
        img_close(img);
        close(ref);
        qemu_grown(p, r, 16u << 20);
        assert_int_equal(tu_sh("qemu-io -f qcow -c 'read -P 0 2M 1M' -c 'read -P 0 7M 1M' "
                               "'%s' >/dev/null",
                               p),
                         0);
        /* 3 MiB + 1 MiB of backing data hidden in 512-byte clusters: about 4 MiB, not 6. */
        assert_true(tu_file_size(p) < (5u << 20));
    }
}

/* The bytes of a partial last cluster past the old end (here planted garbage) and a backing
 * file that cannot be followed: zeros, or a clear refusal. */
static void test_grow_edges(void **state)
{
    const char *p = tu_path("ge.qcow");
    struct img *img = mk(p, 4096 + 512, NULL); /* 4 KiB clusters: the second is partial */
    uint8_t d[512];
    memset(d, 0x77, sizeof d);
    assert_int_equal(img_write(img, 4096, d, sizeof d), 0);
    struct img_bs bs;
    assert_int_equal(img_block_status_layer(img, 4096, 512, &bs), 0);
    assert_true(bs.flags & IMG_BS_OFFSET_VALID);
    img_close(img);
    tu_poke(p, bs.host_off + 512, d, sizeof d); /* past the old end, inside the cluster */
    img = tq_open(p, IMG_OPEN_RW);
    assert_int_equal(img_truncate(img, 3 * 4096, IMG_PREALLOC_OFF), 0);
    uint8_t got[3 * 4096];
    assert_int_equal(img_read(img, 0, got, sizeof got), 0);
    for (size_t i = 0; i < sizeof got; i++)
        assert_int_equal(got[i], i >= 4096 && i < 4096 + 512 ? 0x77 : 0);
    img_close(img);

    const char *b = tu_path("gu.raw"), *o = tu_path("gu.qcow");
    assert_int_equal(tu_sh("rm -f '%s' && truncate -s 4M '%s'", b, b), 0);
    tu_create("qcow", o, NULL, 1u << 20, "gu.raw", NULL);
    struct img_err err = {0};
    img = img_open(o, NULL, IMG_OPEN_RW | IMG_OPEN_UNTRUSTED, &err);
    assert_non_null(img);
    assert_true(img_truncate(img, 2u << 20, IMG_PREALLOC_OFF) < 0);
    assert_non_null(strstr(img_errmsg(img), "qcow: growing needs the length of the backing"));
    assert_non_null(strstr(img_errmsg(img), "--untrusted"));
    img_close(img);
    assert_int_equal(unlink(b), 0);
    img = tq_open(o, IMG_OPEN_RW);
    assert_true(img_truncate(img, 2u << 20, IMG_PREALLOC_OFF) < 0);
    assert_non_null(strstr(img_errmsg(img), "gu.raw"));
    img_close(img);
    img = tq_open(o, 0);
    assert_int_equal(img->size, 1u << 20); /* refused before anything was written */
    img_close(img);
}

static void test_encrypted(void **state)
{
    const char *p = tu_path("enc.qcow");
    assert_int_equal(tu_sh("qemu-img create -q --object secret,id=s0,data=pw -f qcow -o "
                           "encrypt.format=aes,encrypt.key-secret=s0 '%s' 1M",
                           p),
                     0);
    struct img_err err = {0};
    /* Without a password source: opens (info needs no key), data access fails clearly. */
    struct img *img = img_open(p, NULL, IMG_OPEN_RW, &err);
    assert_non_null(img);
    struct img_info info;
    assert_int_equal(img_get_info(img, &info), 0);
    assert_true(info.encrypted);
    uint8_t b[512];
    assert_int_equal(img_read(img, 0, b, sizeof b), -ENOKEY);
    assert_string_equal(img_errmsg(img), "qcow: encrypted image: no password was given");
    assert_int_equal(img_write(img, 0, b, sizeof b), -ENOKEY);
    img_close(img);
    /* Creating one needs a password too (test_crypt_img covers it with one). */
    struct img_opts o = {0};
    assert_int_equal(img_opts_parse(&o, "encryption=on", &err), 0);
    struct img_create_req req = {.size = 1 << 20, .opts = &o};
    assert_true(img_create("qcow", tu_path("enc2.qcow"), &req, &err) < 0);
    assert_non_null(strstr(err.msg, "no password was given"));
    assert_false(tu_exists(tu_path("enc2.qcow")));
    img_opts_free(&o);
}

/* ---- bad input: one header check per test ---- */

static const char *bad_base(const char *name)
{
    const char *p = tu_path(name);
    assert_int_equal(tu_sh("qemu-img create -q -f qcow -b base.raw -F raw '%s' 4M && qemu-io "
                           "-f qcow -c 'write -P 0x5a 0 64k' '%s' >/dev/null",
                           p, p),
                     0);
    return p;
}

static void poke(const char *path, uint64_t off, const void *b, size_t n)
{
    int fd = open(path, O_WRONLY);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, b, n, (off_t)off), (ssize_t)n);
    close(fd);
}

static uint64_t peek64(const char *path, uint64_t off)
{
    uint8_t b[8];
    int fd = open(path, O_RDONLY);
    assert_int_equal(pread(fd, b, 8, (off_t)off), 8);
    close(fd);
    return be64_load(b);
}

/* Open (and read everything) must fail with one line containing want. */
static void expect_bad(const char *path, const char *want)
{
    struct img_err err = {0};
    struct img *img = img_open(path, "qcow", 0, &err);
    const char *msg = err.msg;
    if (img) {
        uint8_t *b = malloc(img->size);
        int r = img_read(img, 0, b, img->size);
        free(b);
        if (r == 0)
            fail_msg("%s: no error, wanted '%s'", path, want);
        msg = img_errmsg(img);
    }
    if (!strstr(msg, want) || strchr(msg, '\n') || !strstr(msg, "qcow: "))
        fail_msg("%s: message '%s', wanted '%s'", path, msg, want);
    if (img)
        img_close(img);
}

/* A fresh image with n bytes at off replaced by the big-endian value v. */
static void bad(const char *name, uint64_t off, uint64_t v, size_t n, const char *want)
{
    uint8_t b[8];
    be64_store(b, v);
    const char *p = bad_base(name);
    poke(p, off, b + 8 - n, n);
    expect_bad(p, want);
}
static void bad8(const char *name, uint64_t off, uint8_t v, const char *want)
{
    bad(name, off, v, 1, want);
}
static void bad32(const char *name, uint64_t off, uint32_t v, const char *want)
{
    bad(name, off, v, 4, want);
}
static void bad64(const char *name, uint64_t off, uint64_t v, const char *want)
{
    bad(name, off, v, 8, want);
}

static void test_bad_magic(void **state)
{
    bad32("mag.qcow", 0, 0x514649fa, "magic");
}
static void test_bad_version(void **state)
{
    bad32("ver0.qcow", 4, 0, "version");
    bad32("ver2.qcow", 4, 2, "version");
}
static void test_bad_short(void **state)
{
    const char *p = tu_path("short.qcow");
    assert_int_equal(tu_sh("head -c 47 '%s' > '%s'", bad_base("full.qcow"), p), 0);
    expect_bad(p, "header");
}
static void test_bad_cluster_bits(void **state)
{
    bad8("cb8.qcow", 32, 8, "cluster_bits");
    bad8("cb17.qcow", 32, 17, "cluster_bits");
    bad8("cb255.qcow", 32, 255, "cluster_bits");
}
static void test_bad_l2_bits(void **state)
{
    bad8("l2b5.qcow", 33, 5, "l2_bits");
    bad8("l2b14.qcow", 33, 14, "l2_bits");
}
static void test_bad_size(void **state)
{
    bad64("s0.qcow", 24, 0, "size");
    bad64("s1.qcow", 24, 1, "size");
    bad64("smax.qcow", 24, UINT64_MAX, "size");
    bad64("sbig.qcow", 24, 1ull << 60, "size"); /* L1 larger than the cap */
}
static void test_bad_backing_name(void **state)
{
    bad32("bn.qcow", 16, 1024, "backing file name");
    bad64("bnoff.qcow", 8, 1ull << 40, "backing file name");
    bad64("bnhdr.qcow", 8, 4, "backing file name");
}
static void test_bad_crypt_method(void **state)
{
    bad32("cm.qcow", 36, 2, "crypt_method");
}
static void test_bad_l1_offset(void **state)
{
    bad64("l1.qcow", 40, 1ull << 40, "L1 table offset");
    bad64("l1hdr.qcow", 40, 8, "L1 table offset");
    bad64("l1wrap.qcow", 40, UINT64_MAX - 4, "L1 table offset");
}
static void test_bad_l2_offset(void **state)
{
    const char *p = bad_base("l2.qcow");
    uint8_t b[8];
    be64_store(b, 1ull << 40);
    poke(p, peek64(p, 40), b, 8);
    expect_bad(p, "L2 table offset");
}
static void test_bad_compressed(void **state)
{
    const char *p = tu_path("bc.qcow");
    qemu_compressed(p);
    uint64_t l2 = peek64(p, peek64(p, 40));
    uint64_t e = peek64(p, l2);
    assert_true(e >> 63);
    /* The compressed stream pointed past the end of the file. */
    uint8_t b[8];
    be64_store(b, (e & ~((1ull << 51) - 1)) | (1ull << 40));
    poke(p, l2, b, 8);
    expect_bad(p, "compressed cluster");
    /* A corrupt stream. */
    be64_store(b, e);
    poke(p, l2, b, 8);
    uint64_t zoff = e & ((1ull << 51) - 1);
    uint8_t junk[16];
    memset(junk, 0xff, sizeof junk);
    poke(p, zoff, junk, sizeof junk);
    expect_bad(p, "compressed cluster");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_read_plain),
        cmocka_unit_test(test_read_backing),
        cmocka_unit_test(test_read_compressed),
        cmocka_unit_test(test_write_create),
        cmocka_unit_test(test_write_backing),
        cmocka_unit_test(test_write_compressed),
        cmocka_unit_test(test_write_zeroes),
        cmocka_unit_test(test_write_zeroes_backing),
        cmocka_unit_test(test_grow),
        cmocka_unit_test(test_encrypted),
        cmocka_unit_test(test_grow_over_backing),
        cmocka_unit_test(test_grow_edges),
        cmocka_unit_test(test_bad_magic),
        cmocka_unit_test(test_bad_version),
        cmocka_unit_test(test_bad_short),
        cmocka_unit_test(test_bad_cluster_bits),
        cmocka_unit_test(test_bad_l2_bits),
        cmocka_unit_test(test_bad_size),
        cmocka_unit_test(test_bad_backing_name),
        cmocka_unit_test(test_bad_crypt_method),
        cmocka_unit_test(test_bad_l1_offset),
        cmocka_unit_test(test_bad_l2_offset),
        cmocka_unit_test(test_bad_compressed),
    };
    int r = cmocka_run_group_tests(tests, NULL, tu_teardown);
    return r;
}

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* test_vdi_diff.c: differencing vdi (image type 4). qemu-img 7.2 refuses these images
 * ("unsupported VDI image (non-NULL link UUID)"), so the oracle is a raw reference kept in step:
 * the parent's raw copy, overwritten where the child is written. Covered: the child's header
 * fields against VirtualBox's documented layout (type 4, uuid_link = parent's uuid_image,
 * uuid_parent_modification = parent's uuid_modification, both non-null), reads through the
 * parent, block-granular copy-on-write at the first and last sector and across blocks, zero
 * blocks hiding the parent, block status per layer, the parent left untouched, the parent
 * lookup (missing parent, --untrusted, a FIFO and a directory of more than 4096 entries), and
 * loops (a child naming itself, two images naming each other) caught by the core.
 */
#include "test_qcow2_common.h"

#include "core/base/bytes.h"
#include "core/block/driver.h"
#include "core/ops/ops.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#define MiB (1ull << 20)
#define ULL(x) ((unsigned long long)(x))

static void poke32(const char *path, uint64_t off, uint32_t v)
{
    uint8_t b[4];
    le32_store(b, v);
    tu_poke(path, off, b, 4);
}

/* Every byte of the guest view (through the chain) equals the raw file ref. */
static void same_as_raw(const char *path, const char *ref)
{
    size_t rl;
    uint8_t *want = tu_read_file(ref, &rl), *got = malloc(rl + 1);
    assert_non_null(want);
    struct img *img = tq_open(path, IMG_OPEN_BACKING);
    assert_int_equal(img->size, rl);
    for (size_t off = 0, step = 77777; off < rl; off += step) {
        size_t n = rl - off < step ? rl - off : step;
        if (img_read(img, off, got + off, n) < 0)
            fail_msg("read %s at %zu: %s", path, off, img_errmsg(img));
    }
    for (size_t i = 0; i < rl; i++)
        if (got[i] != want[i])
            fail_msg("%s: byte %zu differs: %02x, expected %02x", path, i, got[i], want[i]);
    img_close(img);
    free(want);
    free(got);
}

/* A parent with data in every block but one (block 4 stays free), and its raw copy. */
static void make_parent(const char *p, const char *ref, uint64_t size)
{
    assert_int_equal(tu_sh("rm -f '%s' '%s' && truncate -s %llu '%s'", p, ref, ULL(size), ref), 0);
    tu_create("vdi", p, "", size, NULL, NULL);
    struct img *img = tq_open(p, IMG_OPEN_RW);
    int fd = open(ref, O_RDWR);
    assert_true(fd >= 0);
    for (uint64_t b = 0; b * MiB < size; b++)
        if (b != 4)
            tq_mirror_write(img, fd, b * MiB, (size_t)(size - b * MiB < MiB ? size - b * MiB : MiB),
                            (unsigned)(b + 1));
    img_close(img);
    close(fd);
}

static void test_diff_overlay(void **state)
{
    const char *par = tu_path("par.vdi"), *pref = tu_path("par.raw");
    const char *ch = tu_path("child.vdi"), *cref = tu_path("child.raw");
    uint64_t size = 8 * MiB + 512; /* a partial last block */
    make_parent(par, pref, size);
    size_t plen;
    uint8_t *pbytes = tu_read_file(par, &plen);
    /* -b relative to the child's directory, as qemu-img resolves it; -F is optional. */
    tu_create("vdi", ch, "", size, "par.vdi", NULL);
    assert_int_equal(tu_sh("cp '%s' '%s'", pref, cref), 0);

    /* The header VirtualBox's vdiValidateHeader wants for a differencing image. */
    size_t clen;
    uint8_t *h = tu_read_file(ch, &clen);
    assert_int_equal(le32_load(h + 0x40), 0xbeda107f);
    assert_int_equal(le32_load(h + 0x44), 0x00010001);
    assert_int_equal(le32_load(h + 0x4c), 4);
    assert_memory_equal(h + 0x1a8, pbytes + 0x188, 16); /* uuid_link = parent's uuid_image */
    assert_memory_equal(h + 0x1b8, pbytes + 0x198, 16); /* uuid_parent_modification */
    static const uint8_t zero16[16];
    assert_memory_not_equal(h + 0x188, zero16, 16);
    assert_memory_not_equal(h + 0x198, zero16, 16);
    assert_memory_not_equal(h + 0x188, pbytes + 0x188, 16);
    assert_memory_not_equal(h + 0x1a8, zero16, 16);
    assert_int_equal(le64_load(h + 0x170), size);
    assert_int_equal(le32_load(h + 0x180), 9);
    assert_int_equal(le32_load(h + 0x184), 0);
    for (unsigned b = 0; b < 9; b++)
        assert_int_equal(le32_load(h + 0x200 + 4 * b), 0xffffffff);
    free(h);

    /* Before any write the child reads as the parent. */
    same_as_raw(ch, pref);
    struct img *img = tq_open(ch, IMG_OPEN_RW | IMG_OPEN_BACKING);
    assert_non_null(img->backing);
    assert_string_equal(img->backing_name, "par.vdi");
    int fd = open(cref, O_RDWR);
    tq_mirror_write(img, fd, 0, 512, 50);             /* first sector */
    tq_mirror_write(img, fd, size - 512, 512, 51);    /* last sector, partial block */
    tq_mirror_write(img, fd, 2 * MiB - 100, 300, 52); /* across a block boundary */
    tq_mirror_write(img, fd, 4 * MiB + 7, 1000, 53);  /* a block free in the parent too */
    tq_mirror_zero(img, fd, 5 * MiB, MiB);            /* whole block: zero entry */
    tq_mirror_zero(img, fd, 6 * MiB + 512, 4096);     /* part of a block: copy-on-write */
    tq_mirror_write(img, fd, 2 * MiB + 10, 10, 54);   /* in place, already copied */
    assert_int_equal(img_flush(img), 0);

    /* Per layer: block 3 from the parent, block 5 zero in the child, block 0 data. */
    struct img_bs bs;
    assert_int_equal(img_block_status(img, 3 * MiB, MiB, &bs), 0);
    assert_int_equal(bs.depth, 1);
    assert_true(bs.flags & IMG_BS_DATA);
    assert_int_equal(img_block_status(img, 5 * MiB, MiB, &bs), 0);
    assert_int_equal(bs.depth, 0);
    assert_int_equal(bs.flags & (IMG_BS_ZERO | IMG_BS_ALLOCATED), IMG_BS_ZERO | IMG_BS_ALLOCATED);
    assert_int_equal(img_block_status(img, 0, MiB, &bs), 0);
    assert_int_equal(bs.depth, 0);
    assert_true(bs.flags & IMG_BS_DATA);
    img_close(img);
    close(fd);

    same_as_raw(ch, cref);
    /* The block map: physical blocks in write order (0, 8, 1, 2, 4, 6), block 5 zero, 3 and
     * 7 still the parent's. */
    h = tu_read_file(ch, &clen);
    static const uint32_t want[9] = {0, 2, 3, 0xffffffff, 4, 0xfffffffe, 5, 0xffffffff, 1};
    for (unsigned b = 0; b < 9; b++)
        if (le32_load(h + 0x200 + 4 * b) != want[b])
            fail_msg("block map entry %u: %08x, expected %08x", b, le32_load(h + 0x200 + 4 * b),
                     want[b]);
    assert_int_equal(le32_load(h + 0x184), 6);
    free(h);
    /* The parent is never written. */
    size_t plen2;
    uint8_t *pbytes2 = tu_read_file(par, &plen2);
    assert_int_equal(plen, plen2);
    assert_memory_equal(pbytes, pbytes2, plen);
    free(pbytes);
    free(pbytes2);

    /* convert to raw equals the reference; the child passes check. */
    const char *out = tu_path("child.out");
    struct img_err err = {0};
    struct ops_convert_req req = {.src = ch, .dst = out, .dst_fmt = "raw", .sparse = 4096};
    if (ops_convert(&req, &err) < 0)
        fail_msg("convert: %s", err.msg);
    assert_int_equal(tu_sh("cmp '%s' '%s'", out, cref), 0);
    img = tq_open(ch, 0);
    struct img_check c = {0};
    assert_int_equal(img_check(img, &c, 0), 0);
    assert_int_equal(c.corruptions, 0);
    img_close(img);

    /* A grandchild over the child: three layers. */
    const char *gc = tu_path("grand.vdi");
    tu_create("vdi", gc, "", size, "child.vdi", "vdi");
    img = tq_open(gc, IMG_OPEN_RW | IMG_OPEN_BACKING);
    assert_non_null(img->backing);
    assert_non_null(img->backing->backing);
    fd = open(cref, O_RDWR);
    tq_mirror_write(img, fd, 3 * MiB + 5, 70000, 60);
    img_close(img);
    close(fd);
    same_as_raw(gc, cref);
}

/* Info without the chain names the parent's UUID only; reads that need the parent fail with a
 * message, blocks of the child still read, block status says "unknown" for the parent's. */
static void test_diff_parent_not_open(void **state)
{
    const char *par = tu_path("np.vdi"), *pref = tu_path("np.raw"), *ch = tu_path("npc.vdi");
    make_parent(par, pref, 3 * MiB);
    tu_create("vdi", ch, "", 0, "np.vdi", "vdi");
    struct img *img = tq_open(ch, IMG_OPEN_RW | IMG_OPEN_BACKING);
    uint8_t buf[4096];
    memset(buf, 0x77, sizeof buf);
    assert_int_equal(img_write(img, 0, buf, sizeof buf), 0);
    assert_int_equal(img->size, 3 * MiB); /* size 0: the parent's */
    img_close(img);

    img = tq_open(ch, 0);
    assert_null(img->backing_name);
    struct img_info info;
    assert_int_equal(img_get_info(img, &info), 0);
    assert_string_equal(info.backing_file, "");
    bool found = false;
    for (size_t i = 0; i < info.nkv; i++)
        if (strcmp(info.kv[i].key, "parent-uuid") == 0)
            found = strlen(info.kv[i].str) == 36;
    assert_true(found);
    assert_int_equal(img_read(img, 0, buf, sizeof buf), 0);
    assert_int_equal(buf[4095], 0x77);
    assert_true(img_read(img, MiB, buf, 512) < 0);
    assert_non_null(strstr(img_errmsg(img), "parent image"));
    struct img_bs bs;
    assert_int_equal(img_block_status(img, MiB, MiB, &bs), 0);
    assert_int_equal(bs.flags & (IMG_BS_DATA | IMG_BS_ZERO), 0);
    img_close(img);

    /* --untrusted with the chain asked for: refused, nothing looked up. */
    struct img_err err = {0};
    assert_null(img_open(ch, NULL, IMG_OPEN_BACKING | IMG_OPEN_UNTRUSTED, &err));
    assert_non_null(strstr(err.msg, "--untrusted"));

    /* The parent gone: the chain cannot open, with one line naming the UUID. A FIFO and a
     * device-like entry in the directory are passed over without blocking. */
    assert_int_equal(tu_sh("mkdir -p '%s' && mv '%s' '%s' && mkfifo '%s.fifo'", tu_path("away"),
                           par, tu_path("away/np.vdi"), par),
                     0);
    assert_null(img_open(ch, NULL, IMG_OPEN_BACKING, &err));
    assert_non_null(strstr(err.msg, "not found"));
    assert_non_null(strstr(err.msg, "uuid"));
    assert_null(strchr(err.msg, '\n'));
    /* Renamed: found again under its new name (the lookup is by UUID). */
    assert_int_equal(tu_sh("mv '%s' '%s'", tu_path("away/np.vdi"), tu_path("renamed.vdi")), 0);
    img = tq_open(ch, IMG_OPEN_BACKING);
    assert_string_equal(img->backing_name, "renamed.vdi");
    img_close(img);
}

/* A parent beyond the first 4096 directory entries is not looked for, and the message says
 * so; the lookup reads one sector of each regular file at most. */
static void test_diff_scan_limit(void **state)
{
    const char *dir = tu_path("many");
    assert_int_equal(tu_sh("rm -rf '%s' && mkdir '%s' && cd '%s' && seq -f 'f%%05g' 1 4200 | "
                           "xargs touch",
                           dir, dir, dir),
                     0);
    char par[1024], ch[1024];
    snprintf(par, sizeof par, "%s/zz-parent.vdi", dir);
    snprintf(ch, sizeof ch, "%s/zz-child.vdi", dir);
    tu_create("vdi", par, "", MiB, NULL, NULL);
    tu_create("vdi", ch, "", MiB, "zz-parent.vdi", "vdi");
    /* Copy the child out with a parent UUID nothing has: every entry is looked at. */
    uint8_t b[4] = {1, 2, 3, 4};
    tu_poke(ch, 0x1a8, b, 4);
    struct img_err err = {0};
    assert_null(img_open(ch, NULL, IMG_OPEN_BACKING, &err));
    assert_non_null(strstr(err.msg, "only the first 4096 entries"));
    assert_int_equal(tu_sh("rm -rf '%s'", dir), 0);
}

/* Hostile parent references: a child naming itself, two images naming each other, a null
 * uuid_parent_modification, a base image that names a parent. */
static void test_diff_hostile(void **state)
{
    const char *par = tu_path("hp.vdi"), *ch = tu_path("hc.vdi"), *pref = tu_path("hp.raw");
    make_parent(par, pref, 2 * MiB);
    tu_create("vdi", ch, "", 0, "hp.vdi", "vdi");
    size_t n;
    uint8_t *h = tu_read_file(ch, &n);
    uint8_t own[16];
    memcpy(own, h + 0x188, 16);
    free(h);

    /* Itself: the lookup finds the child, the core's (st_dev, st_ino) check refuses. */
    const char *self = tu_path("self.vdi");
    assert_int_equal(tu_sh("cp '%s' '%s'", ch, self), 0);
    uint8_t u[16];
    memcpy(u, own, 16);
    u[15] ^= 0x5a; /* a UUID of its own, and the same as its link */
    tu_poke(self, 0x188, u, 16);
    tu_poke(self, 0x1a8, u, 16);
    struct img_err err = {0};
    assert_null(img_open(self, NULL, IMG_OPEN_BACKING, &err));
    assert_int_equal(err.code, -ELOOP);
    assert_non_null(strstr(err.msg, "loops"));
    unlink(self);

    /* A cycle of two: the parent made a child of the child. */
    const char *cyc = tu_path("cyc.vdi");
    assert_int_equal(tu_sh("cp '%s' '%s'", par, cyc), 0);
    poke32(cyc, 0x4c, 4);
    uint8_t cu[16];
    memcpy(cu, own, 16);
    cu[0] ^= 0xa5;
    tu_poke(cyc, 0x188, cu, 16);  /* not the parent's UUID any more */
    tu_poke(cyc, 0x1a8, own, 16); /* its parent: the child */
    tu_poke(ch, 0x1a8, cu, 16);   /* the child's parent: it */
    tu_poke(cyc, 0x1b8, own, 16);
    assert_null(img_open(ch, NULL, IMG_OPEN_BACKING, &err));
    assert_int_equal(err.code, -ELOOP);
    unlink(cyc);

    /* Null parent modification UUID, and a base image naming a parent. */
    static const uint8_t z[16];
    tu_poke(ch, 0x1b8, z, 16);
    assert_null(img_open(ch, "vdi", 0, &err));
    assert_non_null(
        strstr(err.msg, "vdi: differencing image with a null uuid_parent_modification"));
    poke32(ch, 0x4c, 1);
    tu_poke(ch, 0x1b8, own, 16);
    assert_null(img_open(ch, "vdi", 0, &err));
    assert_non_null(
        strstr(err.msg, "uuid_link/uuid_parent_modification set on an image of type 1"));

    /* create refuses a parent of another format, outside the child's directory, a static
     * child and a parent with a null uuid_modification. */
    struct img_create_req req = {.size = MiB, .backing_file = "hp.vdi", .backing_fmt = "qcow2"};
    assert_true(img_create("vdi", tu_path("x.vdi"), &req, &err) < 0);
    assert_non_null(strstr(err.msg, "must be a vdi"));
    assert_int_equal(tu_sh("mkdir -p '%s'", tu_path("sub")), 0);
    req.backing_fmt = NULL;
    req.backing_file = "../hp.vdi";
    assert_true(img_create("vdi", tu_path("sub/x.vdi"), &req, &err) < 0);
    assert_non_null(strstr(err.msg, "same directory"));
    tu_poke(par, 0x198, z, 16);
    req.backing_file = "hp.vdi";
    assert_true(img_create("vdi", tu_path("x.vdi"), &req, &err) < 0);
    assert_non_null(strstr(err.msg, "null uuid"));
    assert_false(tu_exists(tu_path("x.vdi")));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_diff_overlay),
        cmocka_unit_test(test_diff_parent_not_open),
        cmocka_unit_test(test_diff_scan_limit),
        cmocka_unit_test(test_diff_hostile),
    };
    int r = cmocka_run_group_tests(tests, NULL, NULL);
    tu_teardown(NULL);
    return r;
}

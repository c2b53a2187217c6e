/* SPDX-License-Identifier: GPL-2.0-or-later */
/* test_vmdk_cowd.c: vmdk's read-only extent kinds, vmfsSparse (COWD) and seSparse.
 * qemu-img 7.2 cannot create them, so the tests build them from the documented layout
 * (FORMATS.md 4.5, 4.6): header, grain directory, grain tables (placed out of order, some
 * missing) and grains (some adjacent, some reversed, at the first and last sector, seSparse
 * grain numbers above 4095 so both halves of the entry encoding count). dimg's reads are
 * compared byte for byte with the data placed and with `qemu-img convert -O raw` of the same
 * descriptor, block status with the allocation placed and with `qemu-img map`; children read
 * through their parents like qemu-img's. Layout, check and info are checked against the
 * placement; writes are refused by name. Hostile input: one test per header check, tables and
 * grains outside the file, absurd sizes: one line each, no huge allocation.
 */
#include "test_qcow2_common.h"

#include "core/base/bytes.h"
#include "core/block/driver.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#define MiB (1ull << 20)
#define ULL(x) ((unsigned long long)(x))
#define S 512u

static void put(int fd, const void *p, size_t n, uint64_t off)
{
    assert_int_equal(pwrite(fd, p, n, (off_t)off), (ssize_t)n);
}

static int create_file(const char *path)
{
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    return fd;
}

static void write_desc(const char *path, const char *type, const char *etype, uint64_t sectors,
                       const char *ext, const char *parent, uint32_t parent_cid)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f,
            "# Disk DescriptorFile\nversion=1\nCID=12345678\nparentCID=%08x\n"
            "createType=\"%s\"\n",
            parent ? parent_cid : 0xffffffffu, type);
    if (parent)
        fprintf(f, "parentFileNameHint=\"%s\"\n", parent);
    fprintf(f,
            "\n# Extent description\nRW %llu %s \"%s\"\n\n# The Disk Data Base\n#DDB\n\n"
            "ddb.virtualHWVersion = \"4\"\nddb.adapterType = \"lsilogic\"\n",
            ULL(sectors), etype, ext);
    fclose(f);
}

/* The data placed must read back through dimg exactly (odd-sized reads across grains). */
static void expect_reads(const char *path, const uint8_t *want, uint64_t size)
{
    struct img *img = tq_open(path, IMG_OPEN_BACKING);
    assert_int_equal(img->size, size);
    uint8_t *got = malloc(size);
    for (uint64_t off = 0; off < size;) {
        size_t n = size - off < 300001 ? (size_t)(size - off) : 300001;
        if (img_read(img, off, got + off, n) < 0)
            fail_msg("read %s at %llu: %s", path, ULL(off), img_errmsg(img));
        off += n;
    }
    for (uint64_t i = 0; i < size; i++)
        if (got[i] != want[i])
            fail_msg("%s: byte %llu is %02x, placed %02x", path, ULL(i), got[i], want[i]);
    free(got);
    img_close(img);
}

/* Block status of this layer, grain by grain, must say what was placed: st[g] 0 unallocated,
 * 1 data, 2 reads as zero. */
static void expect_alloc(const char *path, const uint8_t *st, uint64_t grains, uint64_t gbytes)
{
    struct img *img = tq_open(path, 0);
    for (uint64_t g = 0; g < grains; g++) {
        struct img_bs bs;
        uint64_t off = g * gbytes, len = img->size - off < gbytes ? img->size - off : gbytes;
        assert_int_equal(img_block_status_layer(img, off, len, &bs), 0);
        assert_int_equal(bs.len, len);
        unsigned want = st[g] == 0   ? 0
                        : st[g] == 1 ? IMG_BS_DATA | IMG_BS_ALLOCATED
                                     : IMG_BS_ZERO | IMG_BS_ALLOCATED;
        if ((bs.flags & (IMG_BS_DATA | IMG_BS_ZERO | IMG_BS_ALLOCATED)) != want)
            fail_msg("%s: grain %llu has flags %#x, placed %#x", path, ULL(g), bs.flags, want);
    }
    img_close(img);
}

/* What was placed, what qemu-img reads and maps: all must agree with dimg. */
static void expect_all(const char *path, const uint8_t *want, uint64_t size, const uint8_t *st,
                       uint64_t gbytes)
{
    expect_reads(path, want, size);
    expect_alloc(path, st, (size + gbytes - 1) / gbytes, gbytes);
    tq_compare_raw(path);
    tq_compare_map(path);
}

/* A monolithicSparse parent made by qemu-img and written by qemu-io (qio: its -c options):
 * its CID, and its content (malloc'd) over which a child's grains are expected. */
static uint8_t *parent_made(const char *name, uint64_t size, const char *qio, uint32_t *cid)
{
    const char *base = tu_path(name), *raw = tu_path("parent.raw");
    unlink(base);
    assert_int_equal(tu_sh("qemu-img create -q -f vmdk '%s' %llu && qemu-io -f vmdk %s '%s' "
                           ">/dev/null && qemu-img convert -O raw '%s' '%s'",
                           base, ULL(size), qio, base, base, raw),
                     0);
    char *c = tu_sh_out("sed -n 's/^CID=//p' '%s' | head -c 8", base);
    assert_non_null(c);
    *cid = (uint32_t)strtoul(c, NULL, 16);
    free(c);
    size_t n;
    uint8_t *want = tu_read_file(raw, &n);
    assert_int_equal(n, size);
    unlink(raw);
    return want;
}

/* ---- COWD ---- */

struct cowd {
    uint32_t capacity, grain; /* sectors */
    uint32_t n_gd;
    uint8_t *want;               /* guest bytes placed (zeros elsewhere) */
    uint8_t *st;                 /* per grain: 0 none, 1 data */
    uint64_t *host;              /* per grain: byte offset of the data in the file */
    uint64_t gd_off, gt_off[32]; /* bytes */
    uint64_t end;                /* file size */
};

/* A COWD file at path: GD at sector 4, then tables and grains in the order of gidx[] (a
 * table is placed before the first grain it maps). */
static void cowd_build(const char *path, struct cowd *c, const uint64_t *gidx, size_t n,
                       unsigned seed)
{
    uint64_t gb = (uint64_t)c->grain * S, span = 4096ull * c->grain;
    uint64_t grains = (c->capacity + c->grain - 1) / c->grain;
    c->n_gd = (uint32_t)((c->capacity + span - 1) / span);
    assert_true(c->n_gd <= 32);
    c->want = calloc(1, (size_t)c->capacity * S);
    c->st = calloc(1, grains);
    c->host = calloc(grains, 8);
    int fd = create_file(path);
    uint8_t h[2048] = {0};
    memcpy(h, "COWD", 4);
    le32_store(h + 4, 1);
    le32_store(h + 8, 3);
    le32_store(h + 12, c->capacity);
    le32_store(h + 16, c->grain);
    le32_store(h + 20, 4);
    le32_store(h + 24, c->n_gd);
    memcpy(h + 1064, "test disk", 9);
    uint32_t *gd = calloc(c->n_gd, 4);
    uint32_t(*gt)[4096] = calloc(c->n_gd, sizeof *gt);
    uint64_t next = 4 + (c->n_gd * 4 + S - 1) / S; /* sectors */
    uint8_t *buf = malloc(gb);
    for (size_t i = 0; i < n; i++) {
        uint64_t g = gidx[i], t = g / 4096;
        if (!gd[t]) {
            gd[t] = (uint32_t)next;
            next += 32;
        }
        gt[t][g % 4096] = (uint32_t)next;
        tu_pattern(buf, gb, g * gb, seed);
        put(fd, buf, gb, next * S);
        uint64_t keep = (uint64_t)c->capacity * S - g * gb;
        memcpy(c->want + g * gb, buf, keep < gb ? keep : gb);
        c->st[g] = 1;
        c->host[g] = next * S;
        next += c->grain;
    }
    le32_store(h + 28, (uint32_t)next);
    put(fd, h, sizeof h, 0);
    c->gd_off = 4 * S;
    for (uint32_t t = 0; t < c->n_gd; t++) {
        uint32_t le[4096];
        for (int k = 0; k < 4096; k++)
            le32_store(&le[k], gt[t][k]);
        c->gt_off[t] = (uint64_t)gd[t] * S;
        if (gd[t])
            put(fd, le, sizeof le, (uint64_t)gd[t] * S);
        le32_store(&gd[t], gd[t]);
    }
    put(fd, gd, c->n_gd * 4, 4 * S);
    c->end = next * S;
    assert_int_equal(ftruncate(fd, (off_t)c->end), 0);
    close(fd);
    free(gd);
    free(gt);
    free(buf);
}

static void cowd_free(struct cowd *c)
{
    free(c->want);
    free(c->st);
    free(c->host);
}

/* 1-sector grains (what ESX writes), three tables with the middle one missing. */
static const uint64_t cowd_g1[] = {0, 1, 2, 4095, 8192, 8193, 10240, 9000, 8999, 3};

static void test_cowd_standalone(void **state)
{
    const char *p = tu_path("c1.vmdk");
    struct cowd c = {.capacity = 10241, .grain = 1};
    cowd_build(p, &c, cowd_g1, sizeof cowd_g1 / sizeof *cowd_g1, 1);
    expect_reads(p, c.want, (uint64_t)c.capacity * S);
    expect_alloc(p, c.st, c.capacity, S);
    /* qemu-img 7.2 opens COWD files only through a descriptor (alone, it looks for a CID in
     * the header and refuses): compare through one. */
    const char *d = tu_path("c1-desc.vmdk");
    write_desc(d, "vmfsSparse", "VMFSSPARSE", c.capacity, "c1.vmdk", NULL, 0);
    expect_all(d, c.want, (uint64_t)c.capacity * S, c.st, S);

    struct img *img = tq_open(p, 0);
    struct img_info info = {0};
    assert_int_equal(img_get_info(img, &info), 0);
    assert_int_equal(info.cluster_size, 512);
    bool ct = false;
    for (size_t i = 0; i < info.nkv; i++)
        ct |=
            strcmp(info.kv[i].key, "create-type") == 0 && strcmp(info.kv[i].str, "vmfsSparse") == 0;
    assert_true(ct);
    /* Host offsets of data runs are where the grains were placed. */
    struct img_bs bs;
    assert_int_equal(img_block_status_layer(img, 9000 * S, S, &bs), 0);
    assert_true(bs.flags & IMG_BS_OFFSET_VALID);
    assert_int_equal(bs.host_off, c.host[9000]);

    /* Layout: header, directory, the two tables, every grain where it was placed. */
    struct img_region *v;
    size_t n;
    assert_int_equal(img_layout(img, &v, &n), 0);
    uint64_t data = 0;
    bool hdr = false, dir = false;
    int tables = 0;
    for (size_t i = 0; i < n; i++) {
        hdr |= v[i].kind == IMG_R_HEADER && v[i].off == 0 && v[i].len == 2048;
        dir |= v[i].kind == IMG_R_GRAIN_DIR && v[i].off == c.gd_off;
        tables += v[i].kind == IMG_R_GRAIN_TABLE;
        if (v[i].kind == IMG_R_DATA)
            data += v[i].len;
    }
    free(v);
    assert_true(hdr && dir);
    assert_int_equal(tables, 2);
    assert_int_equal(data, (uint64_t)(sizeof cowd_g1 / sizeof *cowd_g1) * S);

    struct img_check chk = {0};
    assert_int_equal(img_check(img, &chk, 0), 0);
    assert_int_equal(chk.corruptions, 0);
    assert_int_equal(chk.allocated_clusters, sizeof cowd_g1 / sizeof *cowd_g1);
    assert_int_equal(chk.total_clusters, c.capacity);
    img_close(img);
    cowd_free(&c);
}

/* 4 KiB grains behind a vmfsSparse descriptor, capacity not a multiple of the grain. */
static void test_cowd_descriptor(void **state)
{
    const char *ext = tu_path("c2-delta.vmdk"), *p = tu_path("c2.vmdk");
    static const uint64_t g[] = {4095, 4096, 4097, 0, 8191, 7000, 6999};
    struct cowd c = {.capacity = 8192 * 8 - 3, .grain = 8};
    cowd_build(ext, &c, g, sizeof g / sizeof *g, 2);
    write_desc(p, "vmfsSparse", "VMFSSPARSE", c.capacity, "c2-delta.vmdk", NULL, 0);
    expect_all(p, c.want, (uint64_t)c.capacity * S, c.st, 8 * S);
    cowd_free(&c);
}

/* More tables than the cache keeps (8 of 4096 entries): evicted tables are read again. */
static void test_cowd_many_tables(void **state)
{
    const char *ext = tu_path("cm-delta.vmdk"), *p = tu_path("cm.vmdk");
    uint64_t g[21];
    for (int t = 0; t < 21; t++)
        g[t] = (uint64_t)(20 - t) * 4096 + (uint64_t)t * 37 % 4096;
    struct cowd c = {.capacity = 20 * 4096 + 5, .grain = 1};
    cowd_build(ext, &c, g, 21, 10);
    write_desc(p, "vmfsSparse", "VMFSSPARSE", c.capacity, "cm-delta.vmdk", NULL, 0);
    expect_all(p, c.want, (uint64_t)c.capacity * S, c.st, S);
    cowd_free(&c);
}

/* A vmfsSparse child over a monolithicSparse parent (what ESX snapshots look like): grains the
 * child holds, the parent's data elsewhere; and a dimg child made with -b over it. */
static void test_cowd_child(void **state)
{
    const char *ext = tu_path("cc-delta.vmdk"), *p = tu_path("cc.vmdk");
    uint64_t size = 6 * MiB;
    uint32_t cid;
    uint8_t *want =
        parent_made("cb.vmdk", size, "-c 'write -P 0x5a 0 3M' -c 'write -P 0x6b 4M 2M'", &cid);
    static const uint64_t g[] = {0, 100, 101, 5000, 12287, 8192};
    struct cowd c = {.capacity = (uint32_t)(size / S), .grain = 1};
    cowd_build(ext, &c, g, sizeof g / sizeof *g, 3);
    write_desc(p, "vmfsSparse", "VMFSSPARSE", c.capacity, "cc-delta.vmdk", "cb.vmdk", cid);
    /* Expected: the parent's bytes, with the child's grains over them. */
    for (size_t i = 0; i < sizeof g / sizeof *g; i++)
        memcpy(want + g[i] * S, c.want + g[i] * S, S);
    expect_reads(p, want, size);
    tq_compare_raw(p);
    tq_compare_map(p);

    /* A hosted-sparse child of the vmfsSparse image, made by dimg, written, read back. */
    const char *kid = tu_path("cc-kid.vmdk");
    unlink(kid);
    tu_create("vmdk", kid, "", size, "cc.vmdk", "vmdk");
    struct img *img = tq_open(kid, IMG_OPEN_RW | IMG_OPEN_BACKING);
    uint8_t b[1000];
    tu_pattern(b, sizeof b, 7, 9);
    assert_int_equal(img_write(img, 5000 * S + 7, b, sizeof b), 0);
    img_close(img);
    memcpy(want + 5000 * S + 7, b, sizeof b);
    expect_reads(kid, want, size);
    tq_compare_raw(kid);
    free(want);
    cowd_free(&c);
}

static void test_cowd_writes_refused(void **state)
{
    const char *p = tu_path("cw.vmdk"), *d = tu_path("cw-desc.vmdk");
    struct cowd c = {.capacity = 4096, .grain = 1};
    cowd_build(p, &c, cowd_g1, 3, 4);
    write_desc(d, "vmfsSparse", "VMFSSPARSE", c.capacity, "cw.vmdk", NULL, 0);
    tq_expect_open_fails(p, "vmdk", IMG_OPEN_RW, "vmfsSparse (COWD) extents are read-only");
    tq_expect_open_fails(d, "vmdk", IMG_OPEN_RW, "vmfsSparse (COWD) extents are read-only");
    size_t n1, n2;
    uint8_t *before = tu_read_file(p, &n1);
    img_close(tq_open(d, 0));
    uint8_t *after = tu_read_file(p, &n2);
    assert_int_equal(n1, n2);
    assert_memory_equal(before, after, n1);
    free(before);
    free(after);
    cowd_free(&c);
}

/* ---- seSparse ---- */

struct se_ent {
    uint64_t gidx;
    int type;    /* 1 unmapped, 2 zero, 3 allocated */
    uint64_t no; /* grain number in the grain area (type 3) */
};

struct se {
    uint64_t capacity; /* sectors */
    uint32_t n_gd;
    uint64_t off[8], size[8]; /* sectors, as in the header */
    uint8_t *want, *st;
    uint64_t end;
};

#define SE_GTS 4
#define SE_GRAINS 7

static uint64_t se_entry(uint64_t no)
{
    return 3ull << 60 | (no & 0xfff) << 48 | no >> 12;
}

/* A seSparse extent: const header, volatile header, journal header and journal, directory,
 * table area (tables numbered in reverse order of their directory slots), free bitmap, back
 * map, grain area reserved beyond the end of the file. */
static void se_build(const char *path, struct se *x, const struct se_ent *e, size_t n,
                     unsigned seed)
{
    uint64_t span = 4096 * 8, gb = 8 * S, grains = (x->capacity + 7) / 8;
    x->n_gd = (uint32_t)((x->capacity + span - 1) / span);
    uint64_t gd_secs = (x->n_gd * 8 + S - 1) / S;
    uint64_t layout[8][2] = {{1, 1},
                             {2, 2},
                             {4, 8},
                             {12, gd_secs},
                             {64, x->n_gd * 64ull},
                             {64 + x->n_gd * 64ull, 8},
                             {72 + x->n_gd * 64ull, 8},
                             {80 + x->n_gd * 64ull, 20000 * 8}};
    x->want = calloc(1, x->capacity * S);
    x->st = calloc(1, grains);
    int fd = create_file(path);
    uint8_t h[S] = {0}, v[S] = {0};
    le64_store(h, 0xcafebabe);
    le64_store(h + 8, 0x0000000200000001ull);
    le64_store(h + 16, x->capacity);
    le64_store(h + 24, 8);
    le64_store(h + 32, 64);
    for (int i = 0; i < 8; i++) {
        x->off[i] = layout[i][0];
        x->size[i] = layout[i][1];
        le64_store(h + 80 + 16 * i, x->off[i]);
        le64_store(h + 88 + 16 * i, x->size[i]);
    }
    put(fd, h, S, 0);
    le64_store(v, 0xcafecafe);
    le64_store(v + 8, 1);
    le64_store(v + 16, 42);
    put(fd, v, S, S);
    uint64_t *gd = calloc(x->n_gd, 8);
    uint64_t(*gt)[4096] = calloc(x->n_gd, sizeof *gt);
    bool *used = calloc(x->n_gd, 1);
    uint8_t *buf = malloc(gb);
    x->end = (x->off[SE_GRAINS]) * S;
    for (size_t i = 0; i < n; i++) {
        uint64_t g = e[i].gidx, t = g / 4096;
        used[t] = true;
        gt[t][g % 4096] = e[i].type == 3 ? se_entry(e[i].no) : (uint64_t)e[i].type << 60;
        x->st[g] = e[i].type == 3 ? 1 : 2;
        if (e[i].type != 3)
            continue;
        tu_pattern(buf, gb, g * gb, seed);
        uint64_t at = (x->off[SE_GRAINS] + e[i].no * 8) * S;
        put(fd, buf, gb, at);
        if (at + gb > x->end)
            x->end = at + gb;
        uint64_t keep = x->capacity * S - g * gb;
        memcpy(x->want + g * gb, buf, keep < gb ? keep : gb);
    }
    for (uint32_t t = 0; t < x->n_gd; t++) {
        if (!used[t])
            continue;
        uint64_t idx = x->n_gd - 1 - t;
        le64_store(&gd[t], 0x1000000000000000ull | idx);
        uint64_t le[4096];
        for (int k = 0; k < 4096; k++)
            le64_store(&le[k], gt[t][k]);
        put(fd, le, sizeof le, (x->off[SE_GTS] + idx * 64) * S);
    }
    put(fd, gd, x->n_gd * 8, x->off[3] * S);
    assert_int_equal(ftruncate(fd, (off_t)x->end), 0);
    close(fd);
    free(gd);
    free(gt);
    free(used);
    free(buf);
}

static void se_free(struct se *x)
{
    free(x->want);
    free(x->st);
}

/* 40 MiB + 4 KiB: three tables, the middle one missing; grain numbers above 4095 (both parts
 * of the entry), adjacent grains, zero and unmapped grains, the last grain. */
static const struct se_ent se_e[] = {
    {0, 3, 5000}, {1, 3, 1},    {2, 3, 2},        {4095, 3, 4097}, {8192, 2, 0},
    {8193, 1, 0}, {8194, 3, 7}, {10240, 3, 9999}, {9000, 3, 4096}, {3, 3, 0},
};

static void test_se_descriptor(void **state)
{
    const char *ext = tu_path("s1-sesparse.vmdk"), *p = tu_path("s1.vmdk");
    struct se x = {.capacity = 40 * 2048 + 8};
    se_build(ext, &x, se_e, sizeof se_e / sizeof *se_e, 5);
    write_desc(p, "seSparse", "SESPARSE", x.capacity, "s1-sesparse.vmdk", NULL, 0);
    expect_all(p, x.want, x.capacity * S, x.st, 8 * S);
    tq_expect_open_fails(p, "vmdk", IMG_OPEN_RW, "seSparse extents are read-only");

    /* The extent file on its own: recognised by its magic, same content, layout and check. */
    expect_reads(ext, x.want, x.capacity * S);
    struct img *img = tq_open(ext, 0);
    struct img_region *v;
    size_t n;
    assert_int_equal(img_layout(img, &v, &n), 0);
    uint64_t data = 0, meta = 0;
    int tables = 0;
    bool dir = false;
    for (size_t i = 0; i < n; i++) {
        dir |= v[i].kind == IMG_R_GRAIN_DIR && v[i].off == x.off[3] * S;
        tables += v[i].kind == IMG_R_GRAIN_TABLE;
        data += v[i].kind == IMG_R_DATA ? v[i].len : 0;
        meta += v[i].kind == IMG_R_META ? v[i].len : 0;
    }
    free(v);
    assert_true(dir);
    assert_int_equal(tables, 2);
    assert_int_equal(data, 8 * 8 * S); /* eight allocated grains */
    assert_int_equal(meta, (1 + 2 + 8 + 8 + 8) * S);
    struct img_check chk = {0};
    assert_int_equal(img_check(img, &chk, 0), 0);
    assert_int_equal(chk.corruptions, 0);
    assert_int_equal(chk.allocated_clusters, 8);
    img_close(img);
    tq_expect_open_fails(ext, "vmdk", IMG_OPEN_RW, "seSparse extents are read-only");
    se_free(&x);
}

/* A seSparse child over a monolithicSparse parent: zero and unmapped grains hide the parent. */
static void test_se_child(void **state)
{
    const char *ext = tu_path("sc-sesparse.vmdk"), *p = tu_path("sc.vmdk");
    uint64_t size = 20 * MiB;
    uint32_t cid;
    uint8_t *want =
        parent_made("sb.vmdk", size, "-c 'write -P 0x5a 0 1M' -c 'write -P 0x6b 17M 3M'", &cid);
    static const struct se_ent e[] = {{0, 2, 0},    {1, 1, 0},    {2, 3, 4100},
                                      {4352, 3, 3}, {4353, 2, 0}, {5119, 3, 4}};
    struct se x = {.capacity = size / S};
    se_build(ext, &x, e, sizeof e / sizeof *e, 6);
    write_desc(p, "seSparse", "SESPARSE", x.capacity, "sc-sesparse.vmdk", "sb.vmdk", cid);
    for (size_t i = 0; i < sizeof e / sizeof *e; i++)
        memcpy(want + e[i].gidx * 4096, x.want + e[i].gidx * 4096, 4096);
    expect_reads(p, want, size);
    tq_compare_raw(p);
    tq_compare_map(p);
    free(want);
    se_free(&x);
}

/* ---- hostile ---- */

static const char *cowd_ok(const char *name)
{
    static struct cowd c;
    const char *p = tu_path(name);
    c = (struct cowd){.capacity = 10241, .grain = 1};
    cowd_build(p, &c, cowd_g1, sizeof cowd_g1 / sizeof *cowd_g1, 7);
    cowd_free(&c);
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

#define COWD_BAD(fn, off, val, want)                                                               \
    static void fn(void **s)                                                                       \
    {                                                                                              \
        const char *p = cowd_ok(#fn ".vmdk");                                                      \
        poke32(p, off, val);                                                                       \
        tq_expect_open_fails(p, "vmdk", 0, want);                                                  \
    }

COWD_BAD(hc_version, 4, 2, "COWD version 2")
COWD_BAD(hc_grain_zero, 16, 0, "grain size 0")
COWD_BAD(hc_grain_odd, 16, 3, "grain size 3")
COWD_BAD(hc_grain_huge, 16, 1u << 20, "grain size")
COWD_BAD(hc_gd_short, 24, 2, "needs 3")
COWD_BAD(hc_gd_in_header, 20, 2, "inside the header")
COWD_BAD(hc_gd_past_eof, 20, 0x7fffffff, "outside the file")
COWD_BAD(hc_gd_entry_past_eof, 2048, 0x7fffff00, "points past the end")

static void hc_truncated(void **s)
{
    const char *p = cowd_ok("hc_trunc.vmdk");
    assert_int_equal(truncate(p, 1000), 0);
    tq_expect_open_fails(p, "vmdk", 0, "shorter than its 2048-byte COWD header");
}

/* Grain 9000 moved past the end: open works, reading it (and check) say so. */
static void hc_grain_past_eof(void **s)
{
    const char *p = tu_path("hc_gpe.vmdk");
    struct cowd c = {.capacity = 10241, .grain = 1};
    cowd_build(p, &c, cowd_g1, sizeof cowd_g1 / sizeof *cowd_g1, 8);
    uint64_t t = c.gt_off[2] + (9000 % 4096) * 4;
    poke32(p, t, 0x00fffff0);
    struct img *img = tq_open(p, 0);
    uint8_t b[S];
    assert_int_equal(img_read(img, 0, b, S), 0);
    assert_true(img_read(img, 9000 * S, b, S) < 0);
    assert_non_null(strstr(img_errmsg(img), "outside the data area"));
    assert_null(strchr(img_errmsg(img), '\n'));
    struct img_check chk = {0};
    assert_int_equal(img_check(img, &chk, 0), 0);
    assert_int_equal(chk.corruptions, 1);
    img_close(img);
    cowd_free(&c);
}

/* A grain that overlaps the directory: check counts it. */
static void hc_grain_on_table(void **s)
{
    const char *p = tu_path("hc_got.vmdk");
    struct cowd c = {.capacity = 10241, .grain = 1};
    cowd_build(p, &c, cowd_g1, sizeof cowd_g1 / sizeof *cowd_g1, 8);
    poke32(p, c.gt_off[0] + 4, (uint32_t)(c.gt_off[2] / S + 1));
    struct img *img = tq_open(p, 0);
    struct img_check chk = {0};
    assert_int_equal(img_check(img, &chk, 0), 0);
    assert_int_equal(chk.corruptions, 1);
    img_close(img);
    cowd_free(&c);
}

static const char *se_ok(const char *name)
{
    static struct se x;
    char ext[64];
    snprintf(ext, sizeof ext, "%s-se", name);
    const char *e = tu_path(ext);
    x = (struct se){.capacity = 40 * 2048 + 8};
    se_build(e, &x, se_e, sizeof se_e / sizeof *se_e, 9);
    se_free(&x);
    const char *p = tu_path(name);
    write_desc(p, "seSparse", "SESPARSE", x.capacity, ext, NULL, 0);
    return p;
}

/* Poke the extent file of se_ok(name) at off. */
#define SE_BAD(fn, off, val, want)                                                                 \
    static void fn(void **s)                                                                       \
    {                                                                                              \
        const char *p = se_ok(#fn ".vmdk");                                                        \
        poke64(tu_path(#fn ".vmdk-se"), off, val);                                                 \
        tq_expect_open_fails(p, "vmdk", 0, want);                                                  \
    }

SE_BAD(hs_magic, 0, 0xcafebabf, "not a seSparse extent")
SE_BAD(hs_version, 8, 0x0000000200000002ull, "version 0x0000000200000002")
SE_BAD(hs_grain, 24, 16, "grain size 16")
SE_BAD(hs_gt_size, 32, 128, "grain table size 128")
SE_BAD(hs_flags, 40, 1, "flags 0x1")
SE_BAD(hs_reserved, 56, 1, "reserved")
SE_BAD(hs_pad, 400, 1, "padding")
SE_BAD(hs_capacity, 16, 1ull << 60, "grain tables")
SE_BAD(hs_vol_past_eof, 80, 1ull << 40, "volatile header at sector")
SE_BAD(hs_vol_magic, 512, 0xcafecafd, "volatile header magic")
SE_BAD(hs_dirty, 512 + 24, 1, "journal needs replaying")
SE_BAD(hs_vol_pad, 512 + 100, 1, "volatile header padding")
SE_BAD(hs_gd_small, 136, 0, "too small")
SE_BAD(hs_gd_past_eof, 128, 1ull << 40, "outside the file")
SE_BAD(hs_gd_entry, 12 * 512, 0x2000000000000000ull, "directory entry 0")
SE_BAD(hs_gd_index, 12 * 512, 0x10000000ffffffffull, "names table 4294967295")
SE_BAD(hs_gd_table_past_eof, 12 * 512, 0x1000000000ffffffull, "names table 16777215")
SE_BAD(hs_gt_area, 144, 1ull << 33, "grain-table area")
SE_BAD(hs_grain_area, 192, 1, "grain area at sector 1")

/* Table entries are checked when the table is read: the read fails with one line. */
static void se_bad_entry(const char *name, uint64_t gidx, uint64_t val, const char *want)
{
    const char *p = se_ok(name);
    char ext[64];
    snprintf(ext, sizeof ext, "%s-se", name);
    /* Table 0 is number n_gd - 1 = 2 of the table area (at sector 64). */
    poke64(tu_path(ext), (64 + 2 * 64) * 512ull + gidx * 8, val);
    struct img *img = tq_open(p, 0);
    uint8_t b[S];
    assert_true(img_read(img, gidx * 4096, b, S) < 0);
    if (!strstr(img_errmsg(img), want))
        fail_msg("message '%s' does not mention '%s'", img_errmsg(img), want);
    assert_null(strchr(img_errmsg(img), '\n'));
    img_close(img);
}

static void hs_gte_type(void **s)
{
    se_bad_entry("hs_gtt.vmdk", 5, 4ull << 60, "unknown type 4");
}
static void hs_gte_junk(void **s)
{
    se_bad_entry("hs_gtj.vmdk", 5, 77, "unallocated but not zero");
}
static void hs_gte_huge(void **s)
{
    se_bad_entry("hs_gta.vmdk", 5, se_entry(1ull << 40), "beyond the 2 TiB");
}
static void hs_gte_past_eof(void **s)
{
    /* Inside the grain area but past the end of the file. */
    se_bad_entry("hs_gtp.vmdk", 5, se_entry(15000), "outside the data area");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cowd_standalone),
        cmocka_unit_test(test_cowd_descriptor),
        cmocka_unit_test(test_cowd_many_tables),
        cmocka_unit_test(test_cowd_child),
        cmocka_unit_test(test_cowd_writes_refused),
        cmocka_unit_test(test_se_descriptor),
        cmocka_unit_test(test_se_child),
    };
    const struct CMUnitTest hostile[] = {
        cmocka_unit_test(hc_version),        cmocka_unit_test(hc_grain_zero),
        cmocka_unit_test(hc_grain_odd),      cmocka_unit_test(hc_grain_huge),
        cmocka_unit_test(hc_gd_short),       cmocka_unit_test(hc_gd_in_header),
        cmocka_unit_test(hc_gd_past_eof),    cmocka_unit_test(hc_gd_entry_past_eof),
        cmocka_unit_test(hc_truncated),      cmocka_unit_test(hc_grain_past_eof),
        cmocka_unit_test(hc_grain_on_table), cmocka_unit_test(hs_magic),
        cmocka_unit_test(hs_version),        cmocka_unit_test(hs_grain),
        cmocka_unit_test(hs_gt_size),        cmocka_unit_test(hs_flags),
        cmocka_unit_test(hs_reserved),       cmocka_unit_test(hs_pad),
        cmocka_unit_test(hs_capacity),       cmocka_unit_test(hs_vol_past_eof),
        cmocka_unit_test(hs_vol_magic),      cmocka_unit_test(hs_dirty),
        cmocka_unit_test(hs_vol_pad),        cmocka_unit_test(hs_gd_small),
        cmocka_unit_test(hs_gd_past_eof),    cmocka_unit_test(hs_gd_entry),
        cmocka_unit_test(hs_gd_index),       cmocka_unit_test(hs_gd_table_past_eof),
        cmocka_unit_test(hs_gt_area),        cmocka_unit_test(hs_grain_area),
        cmocka_unit_test(hs_gte_type),       cmocka_unit_test(hs_gte_junk),
        cmocka_unit_test(hs_gte_huge),       cmocka_unit_test(hs_gte_past_eof),
    };
    int r = cmocka_run_group_tests(tests, NULL, NULL);
    r += cmocka_run_group_tests(hostile, tu_group_cap_1g, tu_group_uncap);
    tu_teardown(NULL);
    return r;
}

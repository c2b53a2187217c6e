/* SPDX-License-Identifier: GPL-2.0-or-later */
/* qcow2_create.c: creating qcow2 images (v2/v3) the way qemu-img lays them out: header
 * cluster (extensions, backing name), refcount table, refcount block(s), L1 table, then for
 * preallocation the L2 tables and data clusters. All options are parsed and checked before a
 * byte is written, into the sources core opens (core/block/create.c: a failed create leaves
 * no file, the external data file included).
 * Talks to: core/block/opts.c (img_opts_take*), core/block/create.c, core/block/src.h.
 */
#include "formats/qcow2.h"

#include "formats/drivers.h"
#include "formats/qcrypt.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define ULL(x) ((unsigned long long)(x))

struct qcow2_copts {
    uint64_t cluster_size;
    unsigned version;
    uint64_t refcount_bits;
    bool lazy, extended_l2, data_file_raw;
    uint8_t compression_type;
    enum img_prealloc prealloc;
    const char *data_file;
};

static int parse_opts(const struct img_create_req *req, struct qcow2_copts *o, struct img_err *err)
{
    struct img_opts *opts = req->opts;
    int r;
    o->cluster_size = 65536;
    o->version = 3;
    o->refcount_bits = 16;
    if ((r = img_opts_take_size(opts, "cluster_size", &o->cluster_size, err)) < 0)
        return r;
    if (!u64_is_pow2(o->cluster_size) || o->cluster_size < 512 || o->cluster_size > (2u << 20))
        return img_drv_error(&img_driver_qcow2, err, -EINVAL,
                             "cluster_size %llu must be a power of two between "
                             "512 and 2M",
                             ULL(o->cluster_size));
    const char *v = img_opts_take(opts, "compat");
    if (v) {
        if (!strcmp(v, "0.10") || !strcmp(v, "v2"))
            o->version = 2;
        else if (!strcmp(v, "1.1") || !strcmp(v, "v3"))
            o->version = 3;
        else
            return img_drv_error(&img_driver_qcow2, err, -EINVAL,
                                 "invalid compat '%s' (0.10, v2, 1.1 or v3)", v);
    }
    v = img_opts_take(opts, "refcount_bits");
    if (v) {
        char *end;
        unsigned long long b = strtoull(v, &end, 10);
        if (*end || !u64_is_pow2(b) || b > 64)
            return img_drv_error(&img_driver_qcow2, err, -EINVAL,
                                 "refcount_bits '%s' must be a power of two up "
                                 "to 64",
                                 v);
        o->refcount_bits = b;
    }
    if (o->version == 2 && o->refcount_bits != 16)
        return img_drv_error(&img_driver_qcow2, err, -EINVAL,
                             "compat 0.10 only supports refcount_bits=16");
    if ((r = img_opts_take_bool(opts, "lazy_refcounts", &o->lazy, err)) < 0 ||
        (r = img_opts_take_bool(opts, "extended_l2", &o->extended_l2, err)) < 0 ||
        (r = img_opts_take_bool(opts, "data_file_raw", &o->data_file_raw, err)) < 0)
        return r;
    if (o->lazy && o->version == 2)
        return img_drv_error(&img_driver_qcow2, err, -EINVAL, "lazy_refcounts needs compat 1.1");
    if (o->extended_l2) {
        if (o->version == 2)
            return img_drv_error(&img_driver_qcow2, err, -EINVAL, "extended_l2 needs compat 1.1");
        if (o->cluster_size < 16384)
            return img_drv_error(&img_driver_qcow2, err, -EINVAL,
                                 "extended_l2 needs a cluster_size of at least "
                                 "16384 bytes");
    }
    v = img_opts_take(opts, "compression_type");
    if (v) {
        if (!strcmp(v, "zlib"))
            o->compression_type = 0;
        else if (!strcmp(v, "zstd"))
            o->compression_type = 1;
        else
            return img_drv_error(&img_driver_qcow2, err, -EINVAL,
                                 "invalid compression_type '%s' (zlib or zstd)", v);
        if (o->compression_type && o->version == 2)
            return img_drv_error(&img_driver_qcow2, err, -EINVAL,
                                 "compression_type zstd needs compat 1.1");
    }
    v = img_opts_take(opts, "preallocation");
    if (v && img_prealloc_parse(v, &o->prealloc) < 0)
        return img_drv_error(&img_driver_qcow2, err, -EINVAL,
                             "invalid preallocation '%s' (off, metadata, falloc "
                             "or full)",
                             v);
    o->data_file = img_opts_take(opts, "data_file");
    if (o->data_file) {
        if (o->version == 2)
            return img_drv_error(&img_driver_qcow2, err, -EINVAL, "data_file needs compat 1.1");
        if (!o->data_file[0] || strlen(o->data_file) > 1023)
            return img_drv_error(&img_driver_qcow2, err, -EINVAL, "invalid data_file name");
        if (o->data_file_raw && req->backing_file)
            return img_drv_error(&img_driver_qcow2, err, -EINVAL,
                                 "data_file_raw cannot be used with a backing "
                                 "file");
    } else if (o->data_file_raw) {
        return img_drv_error(&img_driver_qcow2, err, -EINVAL, "data_file_raw needs data_file");
    }
    if (req->backing_file && strlen(req->backing_file) > QCOW2_MAX_BACKING_NAME)
        return img_drv_error(&img_driver_qcow2, err, -EINVAL,
                             "backing file name longer than 1023 bytes");
    if (req->backing_fmt && strlen(req->backing_fmt) > 31)
        return img_drv_error(&img_driver_qcow2, err, -EINVAL, "backing format name too long");
    return 0;
}

size_t qcow2_put_ext(uint8_t *p, uint32_t type, const void *data, uint32_t len)
{
    be32_store(p, type);
    be32_store(p + 4, len);
    memcpy(p + 8, data, len);
    return 8 + u64_align_up(len, 8);
}

static const struct {
    uint8_t type, bit;
    const char *name;
} feature_names[] = {
    {0, 0, "dirty bit"},        {0, 1, "corrupt bit"},         {0, 2, "external data file"},
    {0, 3, "compression type"}, {0, 4, "extended L2 entries"}, {1, 0, "lazy refcounts"},
    {2, 0, "bitmaps"},          {2, 1, "raw external data"},
};

static int qcow2_create_crypt(struct img_create_ctx *c, const struct img_create_req *req,
                              const struct qcow2_copts *op, const struct qcow2_crypt_new *cn,
                              struct img_err *err);

int qcow2_create(struct img_create_ctx *c, const struct img_create_req *req, struct img_err *err)
{
    const char *path = img_create_path(c);
    struct qcow2_copts o;
    memset(&o, 0, sizeof o);
    int r = parse_opts(req, &o, err);
    if (r < 0)
        return r;
    struct qcow2_crypt_new cn = {0};
    if ((r = qcow2_crypt_create_opts(path, req, o.version, o.prealloc, &cn, err)) < 0)
        return r;
    r = qcow2_create_crypt(c, req, &o, &cn, err);
    qcow2_crypt_new_free(&cn);
    return r;
}

/* Where each part of a new image goes: the header cluster, the refcount table and blocks,
 * the L1 table, the encryption header area (LUKS), preallocated L2 tables and data, in that
 * order from the start of the file. Counts are in clusters, offsets in bytes. */
struct qcow2_layout {
    uint64_t cs, size, l1_entries, per_block; /* per_block: refcounts in one block */
    unsigned cb, order;
    uint64_t tc, nb, l1c, nfde, nl2, ndata, total;
    uint64_t rt_off, rb_off, l1_off, fde_off, l2_off, data_off;
};

static int qcow2_layout_plan(const struct img_create_req *req, const struct qcow2_copts *o,
                             const struct qcow2_crypt_new *cn, struct qcow2_layout *L,
                             struct img_err *err)
{
    uint64_t cs = o->cluster_size, size = req->size;
    *L = (struct qcow2_layout){.cs = cs, .size = size};
    L->cb = (unsigned)__builtin_ctzll(cs);
    L->order = (unsigned)__builtin_ctzll(o->refcount_bits);
    L->l1_entries = qcow2_l1_needed(size, L->cb, qcow2_l2_bits(L->cb, o->extended_l2));
    if (L->l1_entries > QCOW2_MAX_L1_ENTRIES || size > (1ull << 62))
        return img_drv_error(&img_driver_qcow2, err, -EFBIG,
                             "virtual size %llu is too large for cluster_size %llu", ULL(size),
                             ULL(cs));
    L->per_block = cs * 8 / o->refcount_bits;
    L->l1c = u64_div_round_up(L->l1_entries * 8, cs);
    if (L->l1c == 0)
        L->l1c = 1; /* qemu-img always reserves one L1 cluster */
    bool prealloc = o->prealloc != IMG_PREALLOC_OFF;
    L->nl2 = prealloc ? L->l1_entries : 0;
    L->ndata = prealloc && !o->data_file ? u64_div_round_up(size, cs) : 0;
    L->nfde = u64_div_round_up(cn->len, cs);
    /* The refcount blocks count themselves and the table: iterate to the fixed point. */
    uint64_t tc = 1, nb = 1;
    for (int i = 0; i < 32; i++) {
        uint64_t total = 1 + tc + nb + L->l1c + L->nfde + L->nl2 + L->ndata;
        uint64_t nnb = u64_div_round_up(total, L->per_block);
        uint64_t ntc = u64_div_round_up(nnb * 8, cs);
        if (nnb == nb && ntc == tc)
            break;
        nb = nnb;
        tc = ntc;
    }
    if (tc * cs > QCOW2_MAX_RT_BYTES)
        return img_drv_error(&img_driver_qcow2, err, -EFBIG,
                             "preallocated image too large for the refcount table");
    L->tc = tc;
    L->nb = nb;
    L->rt_off = cs;
    L->rb_off = L->rt_off + tc * cs;
    L->l1_off = L->rb_off + nb * cs;
    L->fde_off = L->l1_off + L->l1c * cs;
    L->l2_off = L->fde_off + L->nfde * cs;
    L->data_off = L->l2_off + L->nl2 * cs;
    L->total = 1 + tc + nb + L->l1c + L->nfde + L->nl2 + L->ndata;
    return 0;
}

/* The header fields (version 3 adds the feature bits, refcount order and header length). */
static uint32_t qcow2_header_fields(uint8_t *h, const struct qcow2_copts *o,
                                    const struct qcow2_crypt_new *cn, const struct qcow2_layout *L)
{
    uint32_t hlen = o->version == 3 ? 112 : 72;
    be32_store(h, QCOW2_MAGIC);
    be32_store(h + QCOW2_H_VERSION, o->version);
    be32_store(h + QCOW2_H_CLUSTER_BITS, L->cb);
    be64_store(h + QCOW2_H_SIZE, L->size);
    be32_store(h + QCOW2_H_CRYPT, cn->method);
    be32_store(h + QCOW2_H_L1_SIZE, (uint32_t)L->l1_entries);
    be64_store(h + QCOW2_H_L1_OFF, L->l1_off);
    be64_store(h + QCOW2_H_RT_OFF, L->rt_off);
    be32_store(h + QCOW2_H_RT_CLUSTERS, (uint32_t)L->tc);
    if (o->version == 3) {
        uint64_t incompat = 0, autoclear = 0;
        if (o->data_file)
            incompat |= QCOW2_INCOMPAT_DATA_FILE;
        if (o->compression_type)
            incompat |= QCOW2_INCOMPAT_COMPRESSION;
        if (o->extended_l2)
            incompat |= QCOW2_INCOMPAT_EXTL2;
        if (o->data_file_raw)
            autoclear |= QCOW2_AUTOCLEAR_DATA_RAW;
        be64_store(h + QCOW2_H_INCOMPAT, incompat);
        be64_store(h + QCOW2_H_COMPAT, o->lazy ? QCOW2_COMPAT_LAZY : 0);
        be64_store(h + QCOW2_H_AUTOCLEAR, autoclear);
        be32_store(h + QCOW2_H_REFCOUNT_ORDER, L->order);
        be32_store(h + QCOW2_H_HEADER_LEN, hlen);
        h[QCOW2_H_COMPRESSION] = o->compression_type;
    }
    return hlen;
}

/* The header cluster: fields, extensions, the backing file name. Caller frees *out. */
static int qcow2_header_build(const struct img_create_req *req, const struct qcow2_copts *o,
                              const struct qcow2_crypt_new *cn, const struct qcow2_layout *L,
                              uint8_t **out, struct img_err *err)
{
    uint64_t cs = L->cs;
    uint8_t *h = calloc(1, cs);
    if (!h)
        return err_set(err, -ENOMEM, "out of memory");
    uint64_t p = qcow2_header_fields(h, o, cn, L);
    size_t bfl = req->backing_file && req->backing_fmt ? strlen(req->backing_fmt) : 0;
    size_t need = 8 + (bfl ? 8 + u64_align_up(bfl, 8) : 0) +
                  (o->data_file ? 8 + u64_align_up(strlen(o->data_file), 8) : 0) +
                  (cn->area ? 8 + 16 : 0) + (req->backing_file ? strlen(req->backing_file) : 0);
    if (p + need > cs) {
        free(h);
        return img_drv_error(&img_driver_qcow2, err, -EINVAL,
                             "header extensions and backing file name do not fit in a "
                             "%llu-byte cluster",
                             ULL(cs));
    }
    /* Like qemu, the feature name table is left out when cluster 0 has no room for it. */
    bool feature_table = o->version == 3 && p + need + 8 + 8 * 48 <= cs;
    if (bfl)
        p += qcow2_put_ext(h + p, QCOW2_EXT_BACKING_FMT, req->backing_fmt, (uint32_t)bfl);
    if (o->data_file)
        p +=
            qcow2_put_ext(h + p, QCOW2_EXT_DATA_FILE, o->data_file, (uint32_t)strlen(o->data_file));
    if (cn->area) {
        uint8_t fde[16];
        be64_store(fde, L->fde_off);
        be64_store(fde + 8, cn->len);
        p += qcow2_put_ext(h + p, QCOW2_EXT_FDE, fde, sizeof fde);
    }
    if (feature_table) {
        uint8_t ft[8 * 48];
        memset(ft, 0, sizeof ft);
        for (size_t i = 0; i < 8; i++) {
            ft[48 * i] = feature_names[i].type;
            ft[48 * i + 1] = feature_names[i].bit;
            memcpy(ft + 48 * i + 2, feature_names[i].name, strlen(feature_names[i].name));
        }
        p += qcow2_put_ext(h + p, QCOW2_EXT_FEATURES, ft, sizeof ft);
    }
    p += 8; /* end marker: already zero */
    if (req->backing_file) {
        size_t bl = strlen(req->backing_file);
        memcpy(h + p, req->backing_file, bl);
        be64_store(h + QCOW2_H_BACKING_OFF, p);
        be32_store(h + QCOW2_H_BACKING_LEN, (uint32_t)bl);
    }
    *out = h;
    return 0;
}

/* The refcount table and blocks (every cluster of the layout counted once). */
static int qcow2_write_refcounts(struct img_src *s, const struct qcow2_layout *L, uint8_t *buf)
{
    uint64_t cs = L->cs;
    int r = 0;
    for (uint64_t i = 0; r == 0 && i < L->tc; i++) {
        memset(buf, 0, cs);
        for (uint64_t j = 0; j < cs / 8; j++) {
            uint64_t bi = i * (cs / 8) + j;
            if (bi < L->nb)
                be64_store(buf + 8 * j, L->rb_off + bi * cs);
        }
        r = src_pwrite(s, buf, cs, L->rt_off + i * cs);
    }
    for (uint64_t b = 0; r == 0 && b < L->nb; b++) {
        memset(buf, 0, cs);
        for (uint64_t c = b * L->per_block; c < (b + 1) * L->per_block && c < L->total; c++)
            qcow2_rc_set(buf, L->order, c - b * L->per_block, 1);
        r = src_pwrite(s, buf, cs, L->rb_off + b * cs);
    }
    return r;
}

/* The L1 table, and with preallocation the L2 tables mapping every guest cluster in order
 * (to the data area, or to the same offset of the external data file) and the data area. */
static int qcow2_write_tables(struct img_src *s, const struct qcow2_layout *L,
                              const struct qcow2_copts *o, uint8_t *buf)
{
    uint64_t cs = L->cs;
    int r = 0;
    for (uint64_t i = 0; r == 0 && i < L->l1c; i++) {
        memset(buf, 0, cs);
        for (uint64_t j = 0; L->nl2 && j < cs / 8; j++) {
            uint64_t li = i * (cs / 8) + j;
            if (li < L->l1_entries)
                be64_store(buf + 8 * j, (L->l2_off + li * cs) | QCOW2_OFLAG_COPIED);
        }
        r = src_pwrite(s, buf, cs, L->l1_off + i * cs);
    }
    uint64_t nclusters = u64_div_round_up(L->size, cs), esz = o->extended_l2 ? 16 : 8;
    for (uint64_t t = 0; r == 0 && t < L->nl2; t++) {
        memset(buf, 0, cs);
        for (uint64_t j = 0; j < cs / esz; j++) {
            uint64_t gc = t * (cs / esz) + j;
            if (gc >= nclusters)
                break;
            uint64_t host = o->data_file ? gc * cs : L->data_off + gc * cs;
            be64_store(buf + esz * j, host | QCOW2_OFLAG_COPIED);
            if (o->extended_l2)
                be64_store(buf + esz * j + 8, QCOW2_BITMAP_ALL_ALLOC);
        }
        r = src_pwrite(s, buf, cs, L->l2_off + t * cs);
    }
    if (r == 0 && L->ndata) {
        uint64_t end = L->data_off + L->ndata * cs;
        if (o->prealloc == IMG_PREALLOC_METADATA)
            r = img_create_truncate(s, end);
        else
            r = img_create_allocate(s, L->data_off, L->ndata * cs,
                                    o->prealloc == IMG_PREALLOC_FULL);
        if (r == 0)
            r = img_create_truncate(s, end);
    }
    return r;
}

/* The external data file, beside the image (core makes it: never through a symlink, new
 * for a convert, removed with the image on any failure), sized and preallocated as the image. */
static int qcow2_create_data_file(struct img_create_ctx *c, const struct img_create_req *req,
                                  const struct qcow2_copts *o, struct img_err *err)
{
    struct img_src *d;
    int r = img_create_extra(c, o->data_file, "data file", &d);
    if (r < 0)
        return r;
    r = img_create_truncate(d, req->size);
    if (r == 0 && (o->prealloc == IMG_PREALLOC_FALLOC || o->prealloc == IMG_PREALLOC_FULL))
        r = img_create_allocate(d, 0, req->size, o->prealloc == IMG_PREALLOC_FULL);
    if (r < 0)
        return img_drv_error(&img_driver_qcow2, err, r, "creating data file %s: %s", src_name(d),
                             src_errmsg(d, r));
    return 0;
}

/* The data file first (refused beside a device or an export before the image is written
 * there), then the image's writes in the layout's order. */
static int qcow2_create_crypt(struct img_create_ctx *c, const struct img_create_req *req,
                              const struct qcow2_copts *o, const struct qcow2_crypt_new *cn,
                              struct img_err *err)
{
    struct qcow2_layout L;
    uint8_t *h = NULL;
    struct img_src *s;
    int r = qcow2_layout_plan(req, o, cn, &L, err);
    if (r < 0 || (r = qcow2_header_build(req, o, cn, &L, &h, err)) < 0)
        return r;
    if ((o->data_file && (r = qcow2_create_data_file(c, req, o, err)) < 0) ||
        (r = img_create_src(c, &s)) < 0) {
        free(h);
        return r;
    }
    uint8_t *buf = calloc(1, L.cs);
    r = buf ? 0 : -ENOMEM;
    /* Header: only what qemu writes (the header cluster up to the name), file grows later. */
    if (r == 0)
        r = src_pwrite(s, h, L.cs, 0);
    if (r == 0)
        r = qcow2_write_refcounts(s, &L, buf);
    /* The encryption header area (LUKS), padded to whole clusters. */
    if (r == 0 && cn->area)
        r = src_pwrite(s, cn->area, cn->len, L.fde_off);
    if (r == 0 && cn->area)
        r = img_create_truncate(s, L.fde_off + L.nfde * L.cs);
    if (r == 0)
        r = qcow2_write_tables(s, &L, o, buf);
    free(buf);
    free(h);
    if (r < 0)
        return img_drv_error(&img_driver_qcow2, err, r, "creating %s: %s", img_create_path(c),
                             src_errmsg(s, r));
    return 0;
}

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* qcow2_alloc.c: the qcow2 write side: refcount lookup and update (growing refcount blocks
 * and the refcount table as the file grows), cluster allocation, guest writes with copy-on-write
 * from the backing file, zero writes, compressed writes, flush, and the compression codecs.
 *
 * Crash-safety order for every allocation: refcount increase, fsync barrier, data (with COW),
 * then the L2 entry, then (for a new L2 table) the L1 entry; freeing goes the other way
 * (unlink, then drop the refcount). A crash therefore leaks clusters at worst. With lazy
 * refcounts the dirty bit is set before the first write and refcount blocks are written back
 * on flush/close only.
 * Talks to: qcow2.c (cache, L2 lookup, reads for COW), core/base/io.c, core/ops/compress.c (deflate
 * and zstd codecs).
 */
#include "formats/qcow2.h"

#include "core/ops/compress.h"
#include "core/base/io.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define ULL(x) ((unsigned long long)(x))

/* ---- codecs ---- */

size_t qcow2_compress(uint8_t type, const uint8_t *in, size_t len, uint8_t *out, size_t cap)
{
    if (cap > len - 1)
        cap = len - 1; /* must shrink, or the cluster is stored as is */
    if (type == 1)
        return zstd_compress(in, len, out, cap);
    return zraw_deflate(in, len, out, cap);
}

int qcow2_decompress(uint8_t type, const uint8_t *in, size_t inlen, uint8_t *out, size_t outlen)
{
    if (type == 1)
        return zstd_inflate(in, inlen, out, outlen);
    return zraw_inflate(in, inlen, out, outlen);
}

/* ---- refcounts ---- */

int qcow2_host_write(struct img *img, struct img_src *src, const void *buf, size_t len,
                     uint64_t off)
{
    struct qcow2 *s = qcow2_st(img);
    int r = src_pwrite(src, buf, len, off);
    if (r < 0)
        return img_error(img, r, "write at 0x%llx: %s", ULL(off), src_errmsg(src, r));
    if (src == img->src && off + len > s->file_size)
        s->file_size = off + len;
    return 0;
}

/* A scratch target (a new .part file nobody else sees) needs no crash ordering: its metadata
 * is kept dirty in the caches and written once, at eviction or flush. */
static bool scratch(const struct img *img)
{
    return (img->flags & IMG_OPEN_SCRATCH) != 0;
}

/* The fsync that orders metadata updates even with lazy refcounts; none in a scratch target. */
static int order_sync(struct img *img)
{
    int r = scratch(img) ? 0 : src_flush(img->src);
    return r < 0 ? img_error(img, r, "fsync: %s", strerror(-r)) : 0;
}

int qcow2_barrier(struct img *img)
{
    if (qcow2_st(img)->lazy || (img->flags & IMG_OPEN_SCRATCH))
        return 0;
    int r = src_flush(img->src);
    return r < 0 ? img_error(img, r, "fsync: %s", strerror(-r)) : 0;
}

static int rt_block_off(struct img *img, uint64_t ti, uint64_t *off)
{
    struct qcow2 *s = qcow2_st(img);
    *off = ti < s->rt_entries ? (s->rt[ti] & QCOW2_RT_OFFSET_MASK) : 0;
    if (*off && (*off & (s->cluster_size - 1)))
        return img_error(img, -EIO,
                         "refcount block offset 0x%llx is not cluster "
                         "aligned",
                         ULL(*off));
    return 0;
}

int qcow2_get_refcount(struct img *img, uint64_t cluster, uint64_t *rc)
{
    struct qcow2 *s = qcow2_st(img);
    uint64_t boff;
    uint8_t *blk;
    *rc = 0;
    int r = rt_block_off(img, cluster / s->rb_entries, &boff);
    if (r < 0 || !boff)
        return r;
    r = qcow2_read_refblock(img, boff, &blk);
    if (r < 0)
        return r;
    *rc = qcow2_rc_get(blk, s->refcount_order, cluster % s->rb_entries);
    return 0;
}

/* Does cluster c overlap one of the fixed tables (never a place for a new refcount block)? */
static bool is_fixed_meta(struct qcow2 *s, uint64_t c)
{
    uint64_t off = c << s->cluster_bits;
    if (c == 0)
        return true;
    if (off >= s->l1_offset && off < s->l1_offset + (uint64_t)s->l1_size * 8)
        return true;
    if (off >= s->rt_offset && off < s->rt_offset + (uint64_t)s->rt_clusters * s->cluster_size)
        return true;
    if (s->nb_snapshots && off >= s->snap_offset && off < s->snap_offset + s->snap_size)
        return true;
    return false;
}

static int rt_write_entry(struct img *img, uint64_t ti)
{
    struct qcow2 *s = qcow2_st(img);
    uint8_t b[8];
    be64_store(b, s->rt[ti]);
    return qcow2_host_write(img, img->src, b, 8, s->rt_offset + ti * 8);
}

/* Grow the refcount table to at least min_entries. The new table and the refcount blocks its
 * own clusters need go in a fresh area past the end of the file (and past avoid_end), so that
 * they describe themselves; the header switches to it last, then the old table is freed. */
static int grow_reftable(struct img *img, uint64_t min_entries, uint64_t avoid_end)
{
    struct qcow2 *s = qcow2_st(img);
    uint64_t cs = s->cluster_size, E = s->rb_entries;
    uint64_t X = u64_div_round_up(s->file_size, cs);
    if (X < avoid_end)
        X = avoid_end;
    uint64_t entries = s->rt_entries * 2;
    if (entries < min_entries)
        entries = min_entries;
    uint64_t tc = 0, nb = 0;
    for (int iter = 0; iter < 16; iter++) {
        tc = u64_div_round_up(entries * 8, cs);
        uint64_t end = X + tc + nb, cnt = 0;
        for (uint64_t ri = X / E; ri <= (end - 1) / E; ri++)
            if (ri >= s->rt_entries || !s->rt[ri])
                cnt++;
        uint64_t need_entries = (end - 1) / E + 1;
        bool stable = cnt == nb && need_entries <= entries;
        nb = cnt;
        if (need_entries > entries)
            entries = need_entries;
        if (stable)
            break;
    }
    if (entries * 8 > QCOW2_MAX_RT_BYTES)
        return img_error(img, -EFBIG, "refcount table would exceed 8 MiB");
    tc = u64_div_round_up(entries * 8, cs);
    uint64_t area_end = X + tc + nb;
    uint64_t *nrt = calloc(tc * cs / 8, 8);
    uint8_t *buf = malloc(tc * cs > cs ? tc * cs : cs);
    if (!nrt || !buf) {
        free(nrt);
        free(buf);
        return img_error(img, -ENOMEM, "out of memory growing the refcount table");
    }
    memcpy(nrt, s->rt, s->rt_entries * 8);
    int r = 0;
    /* New refcount blocks, one per range of the area that has none. */
    uint64_t bpos = X + tc;
    for (uint64_t ri = X / E; r == 0 && ri <= (area_end - 1) / E; ri++) {
        if (ri < s->rt_entries && s->rt[ri])
            continue;
        memset(buf, 0, cs);
        for (uint64_t c = X; c < area_end; c++)
            if (c / E == ri)
                qcow2_rc_set(buf, s->refcount_order, c % E, 1);
        r = qcow2_host_write(img, img->src, buf, cs, bpos * cs);
        nrt[ri] = bpos * cs;
        qcow2_cache_put(img, &s->rbc, bpos * cs, buf);
        bpos++;
    }
    /* Area clusters in ranges that already have a block. */
    for (uint64_t c = X; r == 0 && c < area_end; c++) {
        uint64_t ri = c / E;
        if (ri < s->rt_entries && s->rt[ri])
            r = qcow2_update_refcount(img, c, 1);
    }
    if (r == 0) {
        memset(buf, 0, tc * cs);
        for (uint64_t i = 0; i < entries; i++)
            be64_store(buf + 8 * i, nrt[i]);
        r = qcow2_host_write(img, img->src, buf, tc * cs, X * cs);
    }
    free(buf);
    if (r == 0)
        r = order_sync(img);
    if (r == 0) {
        uint8_t h[12];
        be64_store(h, X * cs);
        be32_store(h + (QCOW2_H_RT_CLUSTERS - QCOW2_H_RT_OFF), (uint32_t)tc);
        r = qcow2_write_header_field(img, QCOW2_H_RT_OFF, h, 12);
        if (r == 0)
            r = order_sync(img);
    }
    if (r < 0) {
        free(nrt);
        return r;
    }
    uint64_t old_off = s->rt_offset, old_cl = s->rt_clusters;
    free(s->rt);
    s->rt = nrt;
    s->rt_entries = tc * cs / 8;
    s->rt_offset = X * cs;
    s->rt_clusters = (uint32_t)tc;
    for (uint64_t i = 0; r == 0 && i < old_cl; i++)
        r = qcow2_update_refcount(img, (old_off / cs) + i, -1);
    return r;
}

static int rc_add(struct img *img, uint64_t cluster, int64_t delta, uint64_t avoid, uint64_t n);

/* Make sure the refcount block for range ti exists. A new block goes inside its own range
 * (it then counts itself), avoiding [avoid, avoid+n) that the caller is allocating. */
static int ensure_refblock(struct img *img, uint64_t ti, uint64_t avoid, uint64_t n)
{
    struct qcow2 *s = qcow2_st(img);
    uint64_t cs = s->cluster_size, E = s->rb_entries;
    int r;
    if (ti >= s->rt_entries) {
        r = grow_reftable(img, ti + 1, avoid + n);
        if (r < 0)
            return r;
    }
    if (s->rt[ti])
        return 0;
    uint64_t p = ti * E;
    while (p < (ti + 1) * E && ((p >= avoid && p < avoid + n) || is_fixed_meta(s, p)))
        p++;
    bool outside = p >= (ti + 1) * E;
    if (outside) {
        /* The caller's run covers this whole range (a large L1 table with small clusters):
         * the block goes after the run and is counted in its own range first, whose block
         * (made if need be) still avoids the run and p. */
        uint64_t rc;
        for (p = avoid + n;; p++) {
            if (is_fixed_meta(s, p))
                continue;
            if ((r = qcow2_get_refcount(img, p, &rc)) < 0)
                return r;
            if (rc == 0)
                break;
        }
        if ((r = rc_add(img, p, 1, avoid, p + 1 - avoid)) < 0 || (r = qcow2_barrier(img)) < 0)
            return r;
    }
    uint8_t *buf = calloc(1, cs);
    if (!buf)
        return img_error(img, -ENOMEM, "out of memory");
    if (!outside)
        qcow2_rc_set(buf, s->refcount_order, p % E, 1);
    r = qcow2_host_write(img, img->src, buf, cs, p * cs);
    if (r == 0)
        qcow2_cache_put(img, &s->rbc, p * cs, buf);
    free(buf);
    if (r == 0)
        r = order_sync(img);
    if (r < 0)
        return r;
    s->rt[ti] = p * cs;
    return rt_write_entry(img, ti);
}

static int rc_add(struct img *img, uint64_t cluster, int64_t delta, uint64_t avoid, uint64_t n)
{
    struct qcow2 *s = qcow2_st(img);
    uint64_t ti = cluster / s->rb_entries, idx = cluster % s->rb_entries;
    uint64_t boff;
    uint8_t *blk;
    int r = rt_block_off(img, ti, &boff);
    if (r < 0)
        return r;
    if (!boff) {
        if (delta < 0)
            return img_error(img, -EIO, "freeing cluster %llu whose refcount is 0", ULL(cluster));
        r = ensure_refblock(img, ti, avoid, n);
        if (r < 0)
            return r;
        boff = s->rt[ti] & QCOW2_RT_OFFSET_MASK;
    }
    r = qcow2_read_refblock(img, boff, &blk);
    if (r < 0)
        return r;
    uint64_t v = qcow2_rc_get(blk, s->refcount_order, idx);
    if ((delta < 0 && v < (uint64_t)-delta) || (delta > 0 && s->refcount_max - v < (uint64_t)delta))
        return img_error(img, -ERANGE,
                         "refcount of cluster %llu would leave its range "
                         "(%llu%+lld)",
                         ULL(cluster), ULL(v), (long long)delta);
    v += (uint64_t)delta;
    qcow2_rc_set(blk, s->refcount_order, idx, v);
    if (v == 0) {
        if (cluster < s->free_hint)
            s->free_hint = cluster;
        if (s->free_byte && (s->free_byte >> s->cluster_bits) == cluster)
            s->free_byte = 0;
    }
    if (s->lazy || scratch(img)) {
        qcow2_cache_dirty(&s->rbc, boff);
        return 0;
    }
    /* Write through just the bytes holding this entry. */
    uint64_t byte = (idx << s->refcount_order) / 8;
    size_t w = s->refcount_bits >= 8 ? s->refcount_bits / 8 : 1;
    return qcow2_host_write(img, img->src, blk + byte, w, boff + byte);
}

int qcow2_update_refcount(struct img *img, uint64_t cluster, int64_t delta)
{
    return rc_add(img, cluster, delta, cluster, 1);
}

/* Claim n contiguous free clusters (refcount 0 -> 1); no barrier. */
int qcow2_alloc_clusters(struct img *img, uint64_t n, uint64_t *start)
{
    struct qcow2 *s = qcow2_st(img);
    uint64_t c = s->free_hint ? s->free_hint : 1, run = 0;
    for (;;) {
        uint64_t rc;
        if (c >= (QCOW2_MAX_HOST_OFF >> s->cluster_bits))
            return img_error(img, -ENOSPC, "host offsets exhausted");
        int r = qcow2_get_refcount(img, c, &rc);
        if (r < 0)
            return r;
        if (rc == 0 && !is_fixed_meta(s, c)) {
            if (++run == n)
                break;
        } else {
            run = 0;
        }
        c++;
    }
    *start = c + 1 - n;
    for (uint64_t i = 0; i < n; i++) {
        int r = rc_add(img, *start + i, 1, *start, n);
        if (r < 0)
            return r;
    }
    if (n == 1 || s->free_hint == *start)
        s->free_hint = *start + n;
    return 0;
}

/* Add delta to the refcount of each host cluster an L2 entry uses (a compressed stream counts
 * once in every cluster it touches; external data clusters are not refcounted). */
int qcow2_entry_refs(struct img *img, uint64_t e, int64_t delta)
{
    struct qcow2 *s = qcow2_st(img);
    enum qcow2_ctype t = qcow2_entry_type(e, s->extended_l2, s->data_src != NULL);
    if (t == QCOW2_C_COMPRESSED) {
        uint64_t off, len;
        qcow2_cdesc_decode(e, s->cluster_bits, &off, &len);
        for (uint64_t c = off >> s->cluster_bits; c <= (off + len - 1) >> s->cluster_bits; c++) {
            int r = qcow2_update_refcount(img, c, delta);
            if (r < 0)
                return r;
        }
        return 0;
    }
    if ((t == QCOW2_C_DATA || t == QCOW2_C_ZERO_ALLOC) && !s->data_src)
        return qcow2_update_refcount(img, (e & QCOW2_L2_OFFSET_MASK) >> s->cluster_bits, delta);
    return 0;
}

/* Drop one reference to each host cluster an L2 entry uses. */
int qcow2_free_entry_clusters(struct img *img, uint64_t e)
{
    return qcow2_entry_refs(img, e, -1);
}

/* ---- first write ---- */

/* Run before the first change to the image. Internal snapshots are fine (shared clusters are
 * copied on write), except with an external data file, whose clusters have no refcounts to
 * tell shared ones apart (the spec forbids that combination). */
int qcow2_prepare_write(struct img *img)
{
    struct qcow2 *s = qcow2_st(img);
    int r = qcow2_crypt_ready(img); /* a wrong password must change nothing */
    if (r < 0)
        return r;
    if (s->nb_snapshots && s->data_src != NULL)
        return img_error(img, -ENOTSUP,
                         "image has internal snapshots and an external "
                         "data file; refusing to write");
    if (s->writes_started)
        return 0;
    if (s->incompat & QCOW2_INCOMPAT_CORRUPT)
        return img_error(img, -EROFS,
                         "image is marked corrupt; it can only be opened "
                         "read-only (repair it with `dimg check -r all`)");
    if ((s->incompat & QCOW2_INCOMPAT_DIRTY) && !s->lazy_dirty) {
        /* Left dirty by a crashed lazy-refcount writer: rebuild refcounts first, as qemu
         * does on a read-write open. */
        int rr = qcow2_rebuild_refcounts(img);
        if (rr < 0 || (s->incompat & QCOW2_INCOMPAT_DIRTY))
            return img_error(img, rr < 0 ? rr : -EIO,
                             "image was not closed cleanly "
                             "(dirty bit set) and its refcounts could not be rebuilt: run "
                             "`dimg check -r all`");
    }
    if (s->bm_bad)
        return img_error(img, -ENOTSUP,
                         "refusing to change the image: its persistent "
                         "dirty bitmaps cannot be kept (%s)",
                         s->bm_bad);
    /* Bitmaps are kept valid (qcow2_bitmap.c); unknown autoclear features are not. */
    uint64_t keep = QCOW2_AUTOCLEAR_DATA_RAW | (s->nbm ? QCOW2_AUTOCLEAR_BITMAPS : 0);
    if (s->version >= 3 && (s->autoclear & ~keep)) {
        uint8_t b[8];
        s->autoclear &= keep;
        be64_store(b, s->autoclear);
        if ((r = qcow2_write_header_field(img, QCOW2_H_AUTOCLEAR, b, 8)) < 0)
            return r;
    }
    if (s->lazy && s->version >= 3) {
        uint8_t b[8];
        be64_store(b, s->incompat | QCOW2_INCOMPAT_DIRTY);
        if ((r = qcow2_write_header_field(img, QCOW2_H_INCOMPAT, b, 8)) < 0)
            return r;
        r = src_flush(img->src);
        if (r < 0)
            return img_error(img, r, "fsync: %s", strerror(-r));
        s->incompat |= QCOW2_INCOMPAT_DIRTY;
        s->lazy_dirty = true;
    } else {
        s->lazy = false;
    }
    if (!s->wbuf && !(s->wbuf = malloc(2ull * s->cluster_size)))
        return img_error(img, -ENOMEM, "out of memory");
    if (!s->free_hint)
        s->free_hint = 1;
    s->writes_started = true;
    return 0;
}

/* ---- L1/L2 updates ---- */

static int write_l1_entry(struct img *img, uint64_t l1i, uint64_t v)
{
    struct qcow2 *s = qcow2_st(img);
    uint8_t b[8];
    if (scratch(img)) {
        s->l1[l1i] = v;
        s->l1_dirty = true;
        return 0;
    }
    be64_store(b, v);
    int r = qcow2_host_write(img, img->src, b, 8, s->l1_offset + l1i * 8);
    if (r == 0)
        s->l1[l1i] = v;
    return r;
}

/* Scratch target: the whole L1 table in one write (flush). */
static int l1_writeback(struct img *img)
{
    struct qcow2 *s = qcow2_st(img);
    if (!s->l1_dirty)
        return 0;
    uint8_t *b = malloc((size_t)s->l1_size * 8 + 1);
    if (!b)
        return img_error(img, -ENOMEM, "out of memory");
    for (uint32_t i = 0; i < s->l1_size; i++)
        be64_store(b + 8ull * i, s->l1[i]);
    int r = qcow2_host_write(img, img->src, b, (size_t)s->l1_size * 8, s->l1_offset);
    free(b);
    if (r == 0)
        s->l1_dirty = false;
    return r;
}

static int write_l2_entry(struct img *img, uint64_t l2off, uint64_t l2i, uint64_t e, uint64_t bm)
{
    struct qcow2 *s = qcow2_st(img);
    uint8_t *t;
    int r = qcow2_cache_get(img, &s->l2c, l2off, "L2 table offset", &t);
    if (r < 0)
        return r;
    uint8_t *p = t + l2i * s->l2_entry_size;
    be64_store(p, e);
    if (s->extended_l2)
        be64_store(p + 8, bm);
    if (scratch(img)) {
        qcow2_cache_dirty(&s->l2c, l2off);
        return 0;
    }
    return qcow2_host_write(img, img->src, p, s->l2_entry_size, l2off + l2i * s->l2_entry_size);
}

/* The L2 table at o is shared with a snapshot: give the active L1 its own copy. The data
 * clusters it names stay shared (each keeps its refcount: the active L1 still reaches it once),
 * so the copy's entries lose COPIED. Order: new cluster counted, copy written, barrier, L1
 * entry switched, then the old table loses the active L1's reference. */
static int cow_l2(struct img *img, uint64_t l1i, uint64_t o, uint64_t *l2off)
{
    struct qcow2 *s = qcow2_st(img);
    uint64_t c, n;
    uint8_t *t;
    int r;
    if ((r = qcow2_cache_get(img, &s->l2c, o, "L2 table offset", &t)) < 0)
        return r;
    memcpy(s->wbuf, t, s->cluster_size);
    for (uint64_t i = 0; i < s->l2_entries; i++) {
        uint8_t *p = s->wbuf + i * s->l2_entry_size;
        be64_store(p, be64_load(p) & ~QCOW2_OFLAG_COPIED);
    }
    if ((r = qcow2_alloc_clusters(img, 1, &c)) < 0 || (r = qcow2_barrier(img)) < 0)
        return r;
    n = c << s->cluster_bits;
    if ((r = qcow2_host_write(img, img->src, s->wbuf, s->cluster_size, n)) < 0)
        return r;
    qcow2_cache_put(img, &s->l2c, n, s->wbuf);
    if ((r = qcow2_barrier(img)) < 0 || (r = write_l1_entry(img, l1i, n | QCOW2_OFLAG_COPIED)) < 0)
        return r;
    *l2off = n;
    return qcow2_update_refcount(img, o >> s->cluster_bits, -1);
}

/* The L2 table for guest offset off, ours alone: allocated (zeroed) when missing, copied
 * first when a snapshot shares it. */
int qcow2_ensure_l2(struct img *img, uint64_t off, uint64_t *l2off)
{
    struct qcow2 *s = qcow2_st(img);
    unsigned l2b = qcow2_l2_bits(s->cluster_bits, s->extended_l2);
    uint64_t l1i = qcow2_l1_index(s->cluster_bits, l2b, off);
    if (l1i >= s->l1_size)
        return img_error(img, -EIO, "offset %llu lies beyond the L1 table", ULL(off));
    uint64_t e = s->l1[l1i], o = e & QCOW2_L1_OFFSET_MASK;
    int r;
    if ((r = qcow2_l1e_check(img, l1i, e)) < 0)
        return r;
    if (o) {
        uint64_t rc = 1;
        if (!(e & QCOW2_OFLAG_COPIED) &&
            (r = qcow2_get_refcount(img, o >> s->cluster_bits, &rc)) < 0)
            return r;
        if (rc == 1) {
            if (!(e & QCOW2_OFLAG_COPIED) &&
                (r = write_l1_entry(img, l1i, e | QCOW2_OFLAG_COPIED)) < 0)
                return r;
            uint8_t *t;
            if ((r = qcow2_cache_get(img, &s->l2c, o, "L2 table offset", &t)) < 0)
                return r;
            *l2off = o;
            return 0;
        }
        return cow_l2(img, l1i, o, l2off);
    }
    uint64_t c;
    if ((r = qcow2_alloc_clusters(img, 1, &c)) < 0 || (r = qcow2_barrier(img)) < 0)
        return r;
    o = c << s->cluster_bits;
    if (scratch(img)) {
        /* Written once, when it leaves the cache or at flush. */
        if ((r = qcow2_cache_new(img, &s->l2c, o)) < 0)
            return r;
    } else {
        memset(s->wbuf, 0, s->cluster_size);
        if ((r = qcow2_host_write(img, img->src, s->wbuf, s->cluster_size, o)) < 0)
            return r;
        qcow2_cache_put(img, &s->l2c, o, s->wbuf);
        if ((r = qcow2_barrier(img)) < 0)
            return r;
    }
    if ((r = write_l1_entry(img, l1i, o | QCOW2_OFLAG_COPIED)) < 0)
        return r;
    *l2off = o;
    return 0;
}

/* Host cluster for new guest data: the guest offset itself in an external data file. */
static int alloc_data_cluster(struct img *img, uint64_t guest_cl, uint64_t *host)
{
    struct qcow2 *s = qcow2_st(img);
    if (s->data_src != NULL) {
        *host = guest_cl;
        return 0;
    }
    uint64_t c;
    int r = qcow2_alloc_clusters(img, 1, &c);
    if (r == 0)
        r = qcow2_barrier(img);
    *host = c << s->cluster_bits;
    return r;
}

static struct img_src *data_src(struct qcow2 *s, struct img *img)
{
    return s->data_src ? s->data_src : img->src;
}

/* Read the current guest content of [cl+a, cl+b) into s->wbuf+a (zeros past the disk end). */
static int read_old(struct img *img, uint64_t cl, uint64_t a, uint64_t b)
{
    struct qcow2 *s = qcow2_st(img);
    uint64_t end = cl + b > img->size ? (img->size > cl + a ? img->size - cl : a) : b;
    if (end > a) {
        int r = img->drv->read(img, cl + a, s->wbuf + a, end - a);
        if (r < 0)
            return r;
    }
    if (b > end)
        memset(s->wbuf + end, 0, b - end);
    return 0;
}

/* Write [off, off+n) lying inside one cluster. */
static int write_in_cluster(struct img *img, uint64_t off, const uint8_t *buf, uint64_t n)
{
    struct qcow2 *s = qcow2_st(img);
    uint64_t cs = s->cluster_size, cl = off & ~(cs - 1), in = off - cl;
    unsigned l2b = qcow2_l2_bits(s->cluster_bits, s->extended_l2);
    uint64_t l2i = qcow2_l2_index(s->cluster_bits, l2b, off);
    uint64_t l2off, e, bm, rc = 0;
    int r = qcow2_ensure_l2(img, off, &l2off);
    if (r < 0 || (r = qcow2_get_l2(img, off, &l2off, &e, &bm)) < 0)
        return r;
    enum qcow2_ctype t = qcow2_entry_type(e, s->extended_l2, s->data_src != NULL);
    uint64_t host = e & QCOW2_L2_OFFSET_MASK;
    if ((t == QCOW2_C_DATA || t == QCOW2_C_ZERO_ALLOC) && (e & QCOW2_OFF_HIGH_BITS))
        return qcow2_l2e_high(img, e);
    if ((t == QCOW2_C_DATA || t == QCOW2_C_ZERO_ALLOC) && (host & (cs - 1)))
        return img_error(img, -EIO, "data cluster offset 0x%llx is not cluster aligned", ULL(host));
    bool owned = false; /* host cluster present and ours alone */
    if (t == QCOW2_C_DATA || t == QCOW2_C_ZERO_ALLOC) {
        if ((e & QCOW2_OFLAG_COPIED) || s->data_src != NULL) {
            owned = true;
        } else {
            if ((r = qcow2_get_refcount(img, host >> s->cluster_bits, &rc)) < 0)
                return r;
            owned = rc == 1;
        }
    }
    struct img_src *dsrc = data_src(s, img);

    if (s->extended_l2) {
        unsigned sc0 = (unsigned)(in >> s->sc_bits), sc1 = (unsigned)((in + n - 1) >> s->sc_bits);
        uint64_t a = (uint64_t)sc0 << s->sc_bits, b = (uint64_t)(sc1 + 1) << s->sc_bits;
        uint64_t mask = ((sc1 == 31 ? 0xffffffffull : ((1ull << (sc1 + 1)) - 1)) >> sc0) << sc0;
        if (t == QCOW2_C_COMPRESSED || (t == QCOW2_C_DATA && !owned)) {
            /* The whole cluster moves: every subcluster becomes allocated in the copy. */
            a = 0;
            b = cs;
            mask = QCOW2_BITMAP_ALL_ALLOC;
        }
        bool direct = owned && (bm & mask) == mask;
        if (direct)
            return qcow2_data_write(img, dsrc, buf, n, host + in, off);
        if ((r = read_old(img, cl, a, b)) < 0)
            return r;
        memcpy(s->wbuf + in, buf, n);
        uint64_t nhost = host;
        if (!owned && (r = alloc_data_cluster(img, cl, &nhost)) < 0)
            return r;
        if ((r = qcow2_data_write(img, dsrc, s->wbuf + a, b - a, nhost + a, cl + a)) < 0)
            return r;
        uint64_t nbm = (t == QCOW2_C_COMPRESSED ? 0 : bm) | mask;
        nbm &= ~(mask << 32);
        r = write_l2_entry(img, l2off, l2i, nhost | QCOW2_OFLAG_COPIED, nbm);
        if (r == 0 && !owned)
            r = qcow2_free_entry_clusters(img, e);
        return r;
    }

    if (t == QCOW2_C_DATA && owned) {
        if ((r = qcow2_data_write(img, dsrc, buf, n, host + in, off)) < 0)
            return r;
        if (!(e & QCOW2_OFLAG_COPIED))
            r = write_l2_entry(img, l2off, l2i, e | QCOW2_OFLAG_COPIED, 0);
        return r;
    }
    /* Build the whole new cluster: old content (backing, zeros, compressed) + new bytes. */
    if (t == QCOW2_C_ZERO || t == QCOW2_C_ZERO_ALLOC)
        memset(s->wbuf, 0, cs);
    else if ((r = read_old(img, cl, 0, cs)) < 0)
        return r;
    memcpy(s->wbuf + in, buf, n);
    uint64_t nhost = host;
    if (!owned && (r = alloc_data_cluster(img, cl, &nhost)) < 0)
        return r;
    if ((r = qcow2_data_write(img, dsrc, s->wbuf, cs, nhost, cl)) < 0)
        return r;
    if ((r = write_l2_entry(img, l2off, l2i, nhost | QCOW2_OFLAG_COPIED, 0)) < 0)
        return r;
    if (!owned && (t == QCOW2_C_DATA || t == QCOW2_C_ZERO_ALLOC || t == QCOW2_C_COMPRESSED))
        r = qcow2_free_entry_clusters(img, e);
    return r;
}

/* Scratch target: write the longest run of whole clusters from off (at most len bytes) that
 * can go to contiguous host clusters with one pwrite: clusters with no host cluster yet (one
 * allocation for the run), or clusters already ours at consecutive host offsets (a target
 * preallocated with metadata). Their L2 entries change in the cache only. *done is the bytes
 * written, 0 when the first cluster does not qualify. */
static int scratch_run(struct img *img, uint64_t off, const uint8_t *buf, uint64_t len,
                       uint64_t *done)
{
    struct qcow2 *s = qcow2_st(img);
    uint64_t cs = s->cluster_size, k = 0, host0 = 0, l2off, e, bm;
    bool fresh = false;
    int r;
    *done = 0;
    for (; (k + 1) * cs <= len; k++) {
        uint64_t g = off + k * cs;
        if ((r = qcow2_ensure_l2(img, g, &l2off)) < 0 ||
            (r = qcow2_get_l2(img, g, &l2off, &e, &bm)) < 0)
            return r;
        enum qcow2_ctype t = qcow2_entry_type(e, s->extended_l2, false);
        uint64_t h = e & QCOW2_L2_OFFSET_MASK;
        bool none = !(e & (QCOW2_L2_OFFSET_MASK | QCOW2_OFLAG_COMPRESSED));
        bool ours = (t == QCOW2_C_DATA || t == QCOW2_C_ZERO_ALLOC) && (e & QCOW2_OFLAG_COPIED) &&
                    h && !(h & (cs - 1));
        if (k == 0) {
            fresh = none;
            host0 = h;
            if (!none && !ours)
                return 0;
        } else if (fresh ? !none : (!ours || h != host0 + k * cs)) {
            break;
        }
    }
    if (k == 0)
        return 0;
    if (fresh) {
        uint64_t c;
        if ((r = qcow2_alloc_clusters(img, k, &c)) < 0)
            return r;
        host0 = c << s->cluster_bits;
    }
    if ((r = qcow2_host_write(img, img->src, buf, k * cs, host0)) < 0)
        return r;
    unsigned l2b = qcow2_l2_bits(s->cluster_bits, s->extended_l2);
    for (uint64_t i = 0; i < k; i++) {
        uint64_t g = off + i * cs;
        if ((r = qcow2_get_l2(img, g, &l2off, &e, &bm)) < 0 ||
            (r = write_l2_entry(img, l2off, qcow2_l2_index(s->cluster_bits, l2b, g),
                                (host0 + i * cs) | QCOW2_OFLAG_COPIED, QCOW2_BITMAP_ALL_ALLOC)) < 0)
            return r;
    }
    *done = k * cs;
    return 0;
}

int qcow2_write(struct img *img, uint64_t off, const void *buf, size_t len)
{
    struct qcow2 *s = qcow2_st(img);
    int r = qcow2_prepare_write(img);
    const uint8_t *p = buf;
    bool runs = scratch(img) && !s->crypt_method && !s->data_src;
    while (r == 0 && len > 0) {
        uint64_t n = s->cluster_size - (off & (s->cluster_size - 1));
        if (runs && n == s->cluster_size && len >= n) {
            if ((r = scratch_run(img, off, p, len, &n)) < 0)
                break;
            if (n) {
                off += n;
                p += n;
                len -= n;
                continue;
            }
            n = s->cluster_size;
        }
        if (n > len)
            n = len;
        r = write_in_cluster(img, off, p, n);
        off += n;
        p += n;
        len -= n;
    }
    s->cbuf_entry = 0;
    return r;
}

/* Zero [off, off+n) inside one cluster. */
static int zero_in_cluster(struct img *img, uint64_t off, uint64_t n)
{
    struct qcow2 *s = qcow2_st(img);
    uint64_t cs = s->cluster_size, cl = off & ~(cs - 1), in = off - cl;
    unsigned l2b = qcow2_l2_bits(s->cluster_bits, s->extended_l2);
    uint64_t l2i = qcow2_l2_index(s->cluster_bits, l2b, off);
    uint64_t l2off, e, bm;
    bool backing = img->backing_name && img->backing_name[0];
    int r = qcow2_get_l2(img, off, &l2off, &e, &bm);
    if (r < 0)
        return r;
    enum qcow2_ctype t = qcow2_entry_type(e, s->extended_l2, s->data_src != NULL);
    bool whole = in == 0 && (n == cs || cl + n >= img->size);
    bool raw_data = (s->autoclear & QCOW2_AUTOCLEAR_DATA_RAW) && s->data_src != NULL;

    if (!s->extended_l2) {
        if ((t == QCOW2_C_ZERO || t == QCOW2_C_ZERO_ALLOC) || (t == QCOW2_C_UNALLOC && !backing))
            return 0; /* already reads as zeros */
        if (whole && !raw_data && (s->version >= 3 || !backing)) {
            uint64_t ne = s->version >= 3 ? QCOW2_OFLAG_ZERO : 0;
            if ((r = qcow2_ensure_l2(img, off, &l2off)) < 0)
                return r;
            if ((r = write_l2_entry(img, l2off, l2i, ne, 0)) < 0)
                return r;
            return qcow2_free_entry_clusters(img, e);
        }
        memset(s->wbuf + cs, 0, cs);
        return write_in_cluster(img, off, s->wbuf + cs, n);
    }

    /* Extended L2: whole subclusters get the zero bit; the rest is written as zeros. */
    uint64_t scs = 1ull << s->sc_bits;
    uint64_t a = u64_align_up(in, scs), b = ((in + n) / scs) * scs;
    if (cl + in + n >= img->size)
        b = u64_align_up(in + n, scs);
    memset(s->wbuf + cs, 0, cs);
    if (a > in &&
        (r = write_in_cluster(img, off, s->wbuf + cs, (a < in + n ? a : in + n) - in)) < 0)
        return r;
    if (b < in + n && b >= a && (r = write_in_cluster(img, cl + b, s->wbuf + cs, in + n - b)) < 0)
        return r;
    if (b <= a)
        return 0;
    if ((r = qcow2_get_l2(img, off, &l2off, &e, &bm)) < 0)
        return r;
    t = qcow2_entry_type(e, true, s->data_src != NULL);
    unsigned sc0 = (unsigned)(a / scs), sc1 = (unsigned)(b / scs) - 1;
    uint64_t mask = ((sc1 == 31 ? 0xffffffffull : ((1ull << (sc1 + 1)) - 1)) >> sc0) << sc0;
    if (t == QCOW2_C_COMPRESSED && mask != QCOW2_BITMAP_ALL_ALLOC)
        return write_in_cluster(img, cl + a, s->wbuf + cs, b - a);
    if (raw_data)
        return write_in_cluster(img, cl + a, s->wbuf + cs, b - a);
    uint64_t nbm = (t == QCOW2_C_COMPRESSED ? 0 : bm);
    nbm = (nbm & ~mask) | (mask << 32);
    uint64_t ne = e;
    bool drop = t == QCOW2_C_COMPRESSED || !(nbm & QCOW2_BITMAP_ALL_ALLOC);
    if (drop)
        ne = 0;
    if ((r = qcow2_ensure_l2(img, off, &l2off)) < 0)
        return r;
    if ((r = write_l2_entry(img, l2off, l2i, ne, nbm)) < 0)
        return r;
    if (drop && (e & (QCOW2_L2_OFFSET_MASK | QCOW2_OFLAG_COMPRESSED)))
        r = qcow2_free_entry_clusters(img, e);
    return r;
}

int qcow2_write_zeroes(struct img *img, uint64_t off, uint64_t len)
{
    struct qcow2 *s = qcow2_st(img);
    int r = qcow2_prepare_write(img);
    while (r == 0 && len > 0) {
        uint64_t n = s->cluster_size - (off & (s->cluster_size - 1));
        if (n > len)
            n = len;
        r = zero_in_cluster(img, off, n);
        off += n;
        len -= n;
    }
    s->cbuf_entry = 0;
    return r;
}

/* Drop every allocation of the active disk so that it reads from the backing file again
 * (commit's last step). Per L2 table: the entries are cleared first, a barrier, then the
 * clusters they named lose their reference, so a crash leaves leaks at worst. A table shared
 * with a snapshot is copied first (qcow2_ensure_l2). */
int qcow2_make_empty(struct img *img)
{
    struct qcow2 *s = qcow2_st(img);
    unsigned l2b = qcow2_l2_bits(s->cluster_bits, s->extended_l2);
    uint64_t ncl = u64_div_round_up(img->size, s->cluster_size);
    int r = qcow2_prepare_write(img);
    uint64_t *old = r == 0 ? malloc(s->l2_entries * sizeof *old) : NULL;
    if (r == 0 && !old)
        r = img_error(img, -ENOMEM, "out of memory");
    for (uint64_t l1i = 0; r == 0 && l1i < s->l1_size; l1i++) {
        if (!(s->l1[l1i] & QCOW2_L1_OFFSET_MASK))
            continue;
        uint64_t first = l1i << l2b, n = 0;
        for (uint64_t i = 0; r == 0 && i < s->l2_entries && first + i < ncl; i++) {
            uint64_t off = (first + i) << s->cluster_bits, l2off, e, bm;
            if ((r = qcow2_get_l2(img, off, &l2off, &e, &bm)) < 0 || (!e && !bm))
                continue;
            if ((r = qcow2_ensure_l2(img, off, &l2off)) == 0 &&
                (r = write_l2_entry(img, l2off, i, 0, 0)) == 0)
                old[n++] = e;
        }
        if (r == 0 && n)
            r = qcow2_barrier(img);
        for (uint64_t i = 0; r == 0 && i < n; i++)
            r = qcow2_free_entry_clusters(img, old[i]);
    }
    free(old);
    s->cbuf_entry = 0;
    return r;
}

/* Place the compressed stream out[0..clen) of the cluster at guest offset off: data first,
 * then the L2 entry, then the old clusters are freed. */
static int compressed_place(struct img *img, uint64_t off, const uint8_t *out, size_t clen)
{
    struct qcow2 *s = qcow2_st(img);
    uint64_t cs = s->cluster_size;
    int r;
    uint64_t l2off, e, bm;
    if ((r = qcow2_ensure_l2(img, off, &l2off)) < 0 ||
        (r = qcow2_get_l2(img, off, &l2off, &e, &bm)) < 0)
        return r;
    /* Byte-granular placement: continue in the cluster of the previous compressed write if it
     * is still ours and its refcount can take one more reference. */
    uint64_t start = 0;
    if (s->free_byte && (s->free_byte & (cs - 1))) {
        uint64_t c0 = s->free_byte >> s->cluster_bits, rc;
        uint64_t last = (s->free_byte + clen - 1) >> s->cluster_bits;
        bool ok = (r = qcow2_get_refcount(img, c0, &rc)) == 0 && rc > 0 && rc < s->refcount_max;
        for (uint64_t c = c0 + 1; ok && c <= last; c++) {
            uint64_t rc2;
            ok = qcow2_get_refcount(img, c, &rc2) == 0 && rc2 == 0 && !is_fixed_meta(s, c);
        }
        if (ok) {
            start = s->free_byte;
            if ((r = qcow2_update_refcount(img, c0, 1)) < 0)
                return r;
            for (uint64_t c = c0 + 1; c <= last; c++)
                if ((r = rc_add(img, c, 1, c0 + 1, last - c0)) < 0)
                    return r;
        }
    }
    if (!start) {
        uint64_t c;
        if ((r = qcow2_alloc_clusters(img, u64_div_round_up(clen, cs), &c)) < 0)
            return r;
        start = c << s->cluster_bits;
    }
    if ((r = qcow2_barrier(img)) < 0)
        return r;
    uint64_t ne;
    if (qcow2_cdesc_encode(start, clen, s->cluster_bits, &ne) < 0)
        return img_error(img, -EFBIG,
                         "compressed cluster at 0x%llx does not fit a "
                         "descriptor",
                         ULL(start));
    if ((r = qcow2_host_write(img, img->src, out, clen, start)) < 0)
        return r;
    s->free_byte = start + clen;
    if ((r = write_l2_entry(
             img, l2off,
             qcow2_l2_index(s->cluster_bits, qcow2_l2_bits(s->cluster_bits, s->extended_l2), off),
             ne, 0)) < 0)
        return r;
    s->cbuf_entry = 0;
    return qcow2_free_entry_clusters(img, e);
}

/* The checks and preparation every compressed write starts with. */
static int compressed_begin(struct img *img, uint64_t off, size_t len)
{
    struct qcow2 *s = qcow2_st(img);
    uint64_t cs = s->cluster_size;
    if ((off & (cs - 1)) || len > cs || (len < cs && off + len != img->size))
        return img_error(img, -EINVAL, "compressed writes need one whole cluster");
    if (s->data_src != NULL)
        return img_error(img, -ENOTSUP,
                         "compressed writes are not possible with an "
                         "external data file");
    if (s->crypt_method)
        return qcow2_crypt_compressed(img);
    return qcow2_prepare_write(img);
}

size_t qcow2_compress_cluster(struct img *img, const void *in, size_t len, void *out, size_t cap)
{
    return qcow2_compress(qcow2_st(img)->compression_type, in, len, out, cap);
}

int qcow2_write_compressed_z(struct img *img, uint64_t off, const void *buf, size_t len,
                             const void *z, size_t zlen)
{
    int r = compressed_begin(img, off, len);
    if (r < 0)
        return r;
    if (zlen >= qcow2_st(img)->cluster_size)
        return img_error(img, -EINVAL,
                         "a compressed cluster must be smaller than a "
                         "cluster");
    return zlen ? compressed_place(img, off, z, zlen) : qcow2_write(img, off, buf, len);
}

int qcow2_flush(struct img *img)
{
    struct qcow2 *s = qcow2_st(img);
    if (!s->writes_started)
        return 0;
    /* L2 tables and the L1 table are dirty only in a scratch target. */
    int r = qcow2_cache_writeback(img, &s->l2c);
    if (r == 0)
        r = l1_writeback(img);
    if (r == 0)
        r = qcow2_cache_writeback(img, &s->rbc);
    if (r < 0)
        return r;
    r = src_flush(img->src);
    if (r == 0 && s->data_src != NULL)
        r = src_flush(s->data_src);
    if (r < 0)
        return img_error(img, r, "flush: %s", strerror(-r));
    if (s->lazy_dirty) {
        uint8_t b[8];
        s->incompat &= ~QCOW2_INCOMPAT_DIRTY;
        be64_store(b, s->incompat);
        if ((r = qcow2_write_header_field(img, QCOW2_H_INCOMPAT, b, 8)) < 0)
            return r;
        r = src_flush(img->src);
        if (r < 0)
            return img_error(img, r, "flush: %s", strerror(-r));
        s->lazy_dirty = false;
        s->writes_started = false; /* the next write sets the dirty bit again */
    }
    return 0;
}

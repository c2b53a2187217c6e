/* SPDX-License-Identifier: GPL-2.0-or-later */
/* qcow2_resize.c: the qcow2 .truncate slot: growing (the L1 table extended in place or
 * relocated, the new area optionally preallocated) and shrinking (clusters past the new end
 * discarded, the L1 table shortened, the file trimmed), keeping refcounts exact.
 *
 * Crash-safety order. Grow: the new L1 is allocated (refcount first), written and fsynced,
 * then one header write switches size, l1_size and l1_table_offset together, then the old L1
 * is freed. Shrink: L2/L1 entries past the new end are zeroed and synced, then the clusters
 * they referenced are freed, then the header takes the new size and l1_size, then the L1
 * clusters no longer covered are freed. A crash in between leaks clusters at worst.
 * Internal snapshots: shrinking is refused (v2 and v3 alike, to keep it simple); v3 images
 * may grow when only the active L1 has to change; v2 images refuse, as qemu-img does.
 * Talks to: qcow2_alloc.c (allocation, refcounts, L2 allocation, zero writes, flush),
 * qcow2.c (L2 cache, header writes), core/base/io.c.
 */
#include "formats/qcow2.h"

#include "core/base/io.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ULL(x) ((unsigned long long)(x))

static int sync_src(struct img *img, struct img_src *src)
{
    int r = src_flush(src);
    return r < 0 ? img_error(img, r, "fsync: %s", src_errmsg(src, r)) : 0;
}

static uint64_t l1_clusters(const struct qcow2 *s, uint64_t entries)
{
    return u64_div_round_up(entries * 8, s->cluster_size);
}

/* Header bytes 24..47 (size, crypt_method, l1_size, l1_table_offset) in one write, so the
 * size never disagrees with the L1 table that has to cover it. */
int qcow2_write_size_l1(struct img *img, uint64_t size, uint64_t l1_size, uint64_t l1_off)
{
    struct qcow2 *s = qcow2_st(img);
    uint8_t h[24];
    be64_store(h, size);
    be32_store(h + (QCOW2_H_CRYPT - QCOW2_H_SIZE), s->crypt_method);
    be32_store(h + (QCOW2_H_L1_SIZE - QCOW2_H_SIZE), (uint32_t)l1_size);
    be64_store(h + (QCOW2_H_L1_OFF - QCOW2_H_SIZE), l1_off);
    int r = qcow2_write_header_field(img, QCOW2_H_SIZE, h, sizeof h);
    if (r == 0)
        r = sync_src(img, img->src);
    if (r == 0)
        s->size = img->size = size;
    return r;
}

/* Zero n bytes of the image file at off (synced by the caller). */
static int write_zero_bytes(struct img *img, uint64_t off, uint64_t n)
{
    if (n == 0)
        return 0;
    uint8_t *z = calloc(1, n);
    if (!z)
        return img_error(img, -ENOMEM, "out of memory");
    int r = qcow2_host_write(img, img->src, z, n, off);
    free(z);
    return r;
}

/* ---- grow ---- */

/* Make the active L1 n entries long (n > l1_size) and set the virtual size in the same
 * header write. */
static int grow_l1(struct img *img, uint64_t n, uint64_t size)
{
    struct qcow2 *s = qcow2_st(img);
    uint64_t cs = s->cluster_size;
    uint64_t oldc = s->l1_offset ? l1_clusters(s, s->l1_size) : 0, newc = l1_clusters(s, n);
    uint64_t *nl1 = realloc(s->l1, n * 8);
    if (!nl1)
        return img_error(img, -ENOMEM, "out of memory for the L1 table");
    s->l1 = nl1;
    memset(nl1 + s->l1_size, 0, (n - s->l1_size) * 8);
    int r;
    if (newc <= oldc) {
        /* Still fits: the slack after l1_size must hold empty entries before it is covered. */
        r = write_zero_bytes(img, s->l1_offset + (uint64_t)s->l1_size * 8, (n - s->l1_size) * 8);
        if (r == 0)
            r = sync_src(img, img->src);
        if (r == 0)
            r = qcow2_write_size_l1(img, size, n, s->l1_offset);
        if (r == 0)
            s->l1_size = (uint32_t)n;
        return r;
    }
    uint64_t c;
    if ((r = qcow2_alloc_clusters(img, newc, &c)) < 0 || (r = qcow2_barrier(img)) < 0)
        return r;
    uint8_t *buf = calloc(newc, cs);
    if (!buf)
        return img_error(img, -ENOMEM, "out of memory for the L1 table");
    for (uint64_t i = 0; i < s->l1_size; i++)
        be64_store(buf + 8 * i, s->l1[i]);
    r = qcow2_host_write(img, img->src, buf, newc * cs, c * cs);
    free(buf);
    /* Even with lazy refcounts the table itself must be durable before the header names it. */
    if (r == 0)
        r = sync_src(img, img->src);
    if (r == 0)
        r = qcow2_write_size_l1(img, size, n, c * cs);
    if (r < 0)
        return r;
    uint64_t old = s->l1_offset;
    s->l1_offset = c * cs;
    s->l1_size = (uint32_t)n;
    for (uint64_t i = 0; r == 0 && i < oldc; i++)
        r = qcow2_update_refcount(img, old / cs + i, -1);
    return r;
}

/* Give every unallocated cluster of [from, to) (from cluster aligned) a host cluster, like
 * create does: fresh clusters past the end of the file, so they read as zeros; falloc and
 * full reserve them on disk, metadata only extends the file. */
static int prealloc_area(struct img *img, uint64_t from, uint64_t to, enum img_prealloc mode)
{
    struct qcow2 *s = qcow2_st(img);
    uint64_t cs = s->cluster_size, E = s->l2_entries, esz = s->l2_entry_size;
    uint64_t c = from / cs, c1 = u64_div_round_up(to, cs), hint = s->free_hint;
    bool full = mode == IMG_PREALLOC_FULL, ext = s->data_src != NULL;
    struct img_src *dsrc = ext ? s->data_src : img->src;
    int r = 0;
    uint8_t *t;
    while (r == 0 && c < c1) {
        uint64_t end = (c / E + 1) * E, l2off, nfree = 0, host = 0;
        if (end > c1)
            end = c1;
        if ((r = qcow2_ensure_l2(img, c * cs, &l2off)) < 0 ||
            (r = qcow2_cache_get(img, &s->l2c, l2off, "L2 table offset", &t)) < 0)
            break;
        for (uint64_t g = c; g < end; g++)
            nfree += be64_load(t + (g % E) * esz) == 0 &&
                     (!s->extended_l2 || be64_load(t + (g % E) * esz + 8) == 0);
        if (nfree == 0) {
            c = end;
            continue;
        }
        if (!ext) {
            uint64_t h;
            s->free_hint = u64_div_round_up(s->file_size, cs);
            if ((r = qcow2_alloc_clusters(img, nfree, &h)) < 0 || (r = qcow2_barrier(img)) < 0)
                break;
            host = h * cs;
        }
        /* Data space before the entries that point at it. */
        uint64_t span = ext ? (end - c) * cs : nfree * cs, at = ext ? c * cs : host;
        if (mode == IMG_PREALLOC_METADATA) {
            uint64_t fsz = 0;
            if ((r = src_size(dsrc, &fsz)) == 0 && fsz < at + span)
                r = src_truncate(dsrc, at + span);
        } else {
            r = src_allocate(dsrc, at, span, full);
        }
        if (r < 0) {
            r = img_error(img, r, "preallocating %llu bytes at 0x%llx: %s", ULL(span), ULL(at),
                          strerror(-r));
            break;
        }
        if (!ext && at + span > s->file_size)
            s->file_size = at + span;
        if ((r = qcow2_barrier(img)) < 0 ||
            (r = qcow2_cache_get(img, &s->l2c, l2off, "L2 table offset", &t)) < 0)
            break;
        for (uint64_t g = c; g < end; g++) {
            uint8_t *p = t + (g % E) * esz;
            if (be64_load(p) || (s->extended_l2 && be64_load(p + 8)))
                continue;
            be64_store(p, (ext ? g * cs : host) | QCOW2_OFLAG_COPIED);
            if (s->extended_l2)
                be64_store(p + 8, QCOW2_BITMAP_ALL_ALLOC);
            host += ext ? 0 : cs;
        }
        r = qcow2_host_write(img, img->src, t + (c % E) * esz, (end - c) * esz,
                             l2off + (c % E) * esz);
        c = end;
    }
    if (hint < s->free_hint)
        s->free_hint = hint; /* holes before the end stay available to later writes */
    return r;
}

static int qcow2_grow(struct img *img, uint64_t size, enum img_prealloc prealloc)
{
    struct qcow2 *s = qcow2_st(img);
    uint64_t cs = s->cluster_size, old = img->size;
    unsigned l2b = qcow2_l2_bits(s->cluster_bits, s->extended_l2);
    uint64_t n = qcow2_l1_needed(size, s->cluster_bits, l2b);
    bool backing = img->backing_name && img->backing_name[0];
    int r;
    if (s->nb_snapshots &&
        (s->version < 3 || (old & (cs - 1)) || backing || prealloc != IMG_PREALLOC_OFF))
        return img_error(img, -ENOTSUP, "%s",
                         s->version < 3
                             ? "cannot resize a v2 image with internal snapshots"
                             : "growing an image with internal snapshots is only supported "
                               "with a cluster-aligned old size, no backing file and no "
                               "preallocation");
    /* Stale bytes past the old end of its last cluster (left by a shrink) must not
     * reappear: zero them while the old size still holds. */
    if (old & (cs - 1)) {
        uint64_t end = u64_align_up(old, cs);
        if ((r = qcow2_write_zeroes(img, old, (end < size ? end : size) - old)) < 0)
            return r;
    }
    if (n > s->l1_size)
        r = grow_l1(img, n, size);
    else
        r = qcow2_write_size_l1(img, size, s->l1_size, s->l1_offset);
    if (r < 0)
        return r;
    uint64_t from = u64_align_up(old, cs);
    if (s->data_src != NULL) {
        uint64_t dsz;
        if ((r = src_size(s->data_src, &dsz)) == 0 && dsz < size)
            r = src_truncate(s->data_src, size);
        if (r < 0)
            return img_error(img, r, "growing the data file: %s", strerror(-r));
    }
    if (prealloc != IMG_PREALLOC_OFF && from < size &&
        (r = prealloc_area(img, from, size, prealloc)) < 0)
        return r;
    if (backing && prealloc == IMG_PREALLOC_OFF && from < size) {
        /* The new area reads as zeros, not as the backing file's content past the old end.
         * v3 marks whole clusters zero cheaply; v2 must write zeros, so only over the part
         * the backing file covers, when it is open and its size known. */
        uint64_t end = size;
        if (s->version < 3 || img->backing)
            end = img->backing ? (img->backing->size < size ? img->backing->size : size) : from;
        if (end > from && (r = qcow2_write_zeroes(img, from, end - from)) < 0)
            return r;
    }
    return 0;
}

/* ---- shrink ---- */

/* Drop every mapping of guest clusters at or past first: unlink (zero the entries) and sync,
 * then free what they referenced. */
static int discard_tail(struct img *img, uint64_t first)
{
    struct qcow2 *s = qcow2_st(img);
    uint64_t cs = s->cluster_size, E = s->l2_entries, esz = s->l2_entry_size;
    uint64_t i0 = first / E, from = first % E;
    uint64_t whole0 = i0 + (from != 0); /* first L1 entry whose whole range goes */
    uint64_t part_l2 = 0, nwhole = whole0 < s->l1_size ? s->l1_size - whole0 : 0;
    uint8_t *part = NULL, *t;
    uint64_t *l2s = nwhole ? malloc(nwhole * 8) : NULL;
    int r = 0;
    if (nwhole && !l2s)
        return img_error(img, -ENOMEM, "out of memory");
    if (from && i0 < s->l1_size && (part_l2 = s->l1[i0] & QCOW2_L1_OFFSET_MASK)) {
        /* The L2 table holding the new end: keep a copy of the dropped entries, zero them. */
        if (!(part = malloc(cs)))
            r = img_error(img, -ENOMEM, "out of memory");
        if (r == 0)
            r = qcow2_cache_get(img, &s->l2c, part_l2, "L2 table offset", &t);
        if (r == 0) {
            memcpy(part, t, cs);
            memset(t + from * esz, 0, (E - from) * esz);
            r = qcow2_host_write(img, img->src, t + from * esz, (E - from) * esz,
                                 part_l2 + from * esz);
        }
    }
    if (r == 0 && nwhole) {
        memcpy(l2s, s->l1 + whole0, nwhole * 8);
        r = write_zero_bytes(img, s->l1_offset + whole0 * 8, nwhole * 8);
        if (r == 0)
            memset(s->l1 + whole0, 0, nwhole * 8);
    }
    if (r == 0)
        r = sync_src(img, img->src);
    /* Now nothing references the dropped clusters: free them. */
    for (uint64_t j = from; r == 0 && part && j < E; j++)
        r = qcow2_free_entry_clusters(img, be64_load(part + j * esz));
    for (uint64_t k = 0; r == 0 && k < nwhole; k++) {
        uint64_t l2 = l2s[k] & QCOW2_L1_OFFSET_MASK;
        if (!l2)
            continue;
        if ((r = qcow2_cache_get(img, &s->l2c, l2, "L2 table offset", &t)) < 0)
            break;
        memcpy(s->wbuf, t, cs); /* freeing may not evict what we walk */
        for (uint64_t j = 0; r == 0 && j < E; j++)
            r = qcow2_free_entry_clusters(img, be64_load(s->wbuf + j * esz));
        qcow2_cache_drop(&s->l2c, l2);
        if (r == 0)
            r = qcow2_update_refcount(img, l2 >> s->cluster_bits, -1);
    }
    s->cbuf_entry = 0;
    free(part);
    free(l2s);
    return r;
}

/* Cut the file after the last cluster still in use. */
static int trim_file(struct img *img)
{
    struct qcow2 *s = qcow2_st(img);
    uint64_t cs = s->cluster_size, c = u64_div_round_up(s->file_size, cs), rc = 0;
    int r = 0;
    while (c > 1 && (r = qcow2_get_refcount(img, c - 1, &rc)) == 0 && rc == 0)
        c--;
    if (r < 0 || c * cs >= s->file_size)
        return r;
    if ((r = src_truncate(img->src, c * cs)) < 0)
        return img_error(img, r, "truncating the file: %s", src_errmsg(img->src, r));
    s->file_size = c * cs;
    return 0;
}

static int qcow2_shrink(struct img *img, uint64_t size)
{
    struct qcow2 *s = qcow2_st(img);
    unsigned l2b = qcow2_l2_bits(s->cluster_bits, s->extended_l2);
    uint64_t n = qcow2_l1_needed(size, s->cluster_bits, l2b), cs = s->cluster_size;
    if (s->nb_snapshots)
        return img_error(img, -ENOTSUP, "cannot shrink an image with internal snapshots");
    /* The rest of the new last cluster reads as zeros, so that a later grow (by anyone)
     * shows zeros there. */
    int r = 0;
    if (size & (cs - 1)) {
        uint64_t end = u64_align_up(size, cs);
        r = qcow2_write_zeroes(img, size, (end < img->size ? end : img->size) - size);
    }
    if (r == 0)
        r = discard_tail(img, u64_div_round_up(size, cs));
    if (r < 0)
        return r;
    uint64_t oldc = s->l1_offset ? l1_clusters(s, s->l1_size) : 0;
    uint64_t keepc = n < s->l1_size ? l1_clusters(s, n) : oldc;
    uint64_t l1n = n < s->l1_size ? n : s->l1_size, off = keepc ? s->l1_offset : 0;
    if ((r = qcow2_write_size_l1(img, size, l1n, off)) < 0)
        return r;
    uint64_t old = s->l1_offset;
    s->l1_size = (uint32_t)l1n;
    s->l1_offset = off;
    for (uint64_t i = keepc; r == 0 && i < oldc; i++)
        r = qcow2_update_refcount(img, old / cs + i, -1);
    if (r == 0 && s->data_src != NULL) {
        uint64_t dsz;
        if ((r = src_size(s->data_src, &dsz)) == 0 && dsz > size)
            r = src_truncate(s->data_src, size);
        if (r < 0)
            return img_error(img, r, "shrinking the data file: %s", strerror(-r));
    }
    /* Refcounts on disk (lazy ones too) before the file loses its tail. */
    if (r == 0)
        r = qcow2_flush(img);
    if (r == 0)
        r = trim_file(img);
    return r;
}

int qcow2_truncate(struct img *img, uint64_t size, enum img_prealloc prealloc)
{
    struct qcow2 *s = qcow2_st(img);
    unsigned l2b = qcow2_l2_bits(s->cluster_bits, s->extended_l2);
    uint64_t n = qcow2_l1_needed(size, s->cluster_bits, l2b);
    if (size & 511)
        return img_error(img, -EINVAL, "the new size must be a multiple of 512");
    if (n > QCOW2_MAX_L1_ENTRIES || size > (1ull << 62))
        return img_error(img, -EFBIG,
                         "l1_size %llu exceeds the limit of %llu entries "
                         "(virtual size %llu with %u-byte clusters)",
                         ULL(n), ULL(QCOW2_MAX_L1_ENTRIES), ULL(size), s->cluster_size);
    if (s->crypt_method)
        return img_error(img, -ENOTSUP, "resizing encrypted images is not supported");
    if (size < img->size && prealloc != IMG_PREALLOC_OFF)
        return img_error(img, -EINVAL, "preallocation cannot be used when shrinking");
    if (size == img->size)
        return 0;
    int r = qcow2_prepare_write(img);
    if (r < 0 || (r = qcow2_bitmaps_resize_begin(img, size)) < 0)
        return r;
    uint64_t old = img->size;
    r = size > img->size ? qcow2_grow(img, size, prealloc) : qcow2_shrink(img, size);
    /* Whatever size the image ended with, the bitmaps follow it. */
    int rb = qcow2_bitmaps_resize_end(img, old);
    if (r == 0)
        r = rb;
    if (r == 0)
        r = qcow2_flush(img);
    return r;
}

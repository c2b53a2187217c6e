/* SPDX-License-Identifier: GPL-2.0-or-later */
/* qcow2.c: the qcow2 (v2/v3) format driver: probe, header validation and open, guest reads
 * (L2 cache, compressed clusters, zero clusters, subclusters, external data file), block
 * status, info, the snapshot listing, and the driver object (snapshot changes live in
 * qcow2_snapshot.c).
 * Talks to: core/base/io.c for file access, core/block/img.c (img_read_backing, img_error); the
 * write path lives in qcow2_alloc.c, create in qcow2_create.c, resize in qcow2_resize.c,
 * check/layout in qcow2_check.c.
 * Every size or offset taken from the file is validated before it is used or allocated.
 */
#include "formats/qcow2.h"

#include "core/base/io.h"
#include "formats/drivers.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ULL(x) ((unsigned long long)(x))
#define QCOW2_CACHE_BYTES (4u << 20)

static int qcow2_probe(const uint8_t *buf, size_t len)
{
    if (len < 8 || be32_load(buf) != QCOW2_MAGIC)
        return 0;
    uint32_t v = be32_load(buf + 4);
    if (v == 2 || v == 3)
        return 100;
    /* A future version: claim it (below a real match) so open refuses it by name instead of
     * the file passing for raw. Version 1 belongs to qcow. */
    return v > 3 ? 50 : 0;
}

static uint64_t qcow2_head_size(const uint8_t *buf, size_t len)
{
    return len >= QCOW2_H_SIZE + 8 ? be64_load(buf + QCOW2_H_SIZE) : 0;
}

/* ---- metadata cache ---- */

int qcow2_cache_init(struct qcow2_cache *c, size_t n, uint32_t cluster_size)
{
    c->n = n;
    c->tick = 0;
    c->bufsize = cluster_size;
    /* The buffers come with first use (cache_slot): most opens (a directory's probe, info)
     * touch a few tables, and 2 x 4 MiB allocated and freed per open was most of a probe. */
    c->e = calloc(n, sizeof *c->e);
    return c->e ? 0 : -ENOMEM;
}

void qcow2_cache_free(struct qcow2_cache *c)
{
    for (size_t i = 0; c->e && i < c->n; i++)
        free(c->e[i].buf);
    free(c->e);
    c->e = NULL;
    c->n = 0;
}

static int cache_writeback_ent(struct img *img, struct qcow2_cache_ent *e)
{
    if (!e->dirty || !e->off)
        return 0;
    int r = src_pwrite(img->src, e->buf, qcow2_st(img)->cluster_size, e->off);
    if (r < 0)
        return img_error(img, r, "writing metadata at 0x%llx: %s", ULL(e->off), strerror(-r));
    e->dirty = false;
    return 0;
}

int qcow2_cache_writeback(struct img *img, struct qcow2_cache *c)
{
    for (size_t i = 0; i < c->n; i++) {
        int r = cache_writeback_ent(img, &c->e[i]);
        if (r < 0)
            return r;
    }
    return 0;
}

static struct qcow2_cache_ent *cache_slot(struct img *img, struct qcow2_cache *c, uint64_t off,
                                          bool *hit, int *err)
{
    *err = 0;
    if (c->e[c->last].off == off && off) {
        *hit = true;
        c->e[c->last].lru = ++c->tick;
        return &c->e[c->last];
    }
    size_t victim = 0;
    for (size_t i = 0; i < c->n; i++) {
        if (c->e[i].off == off) {
            *hit = true;
            c->e[i].lru = ++c->tick;
            c->last = i;
            return &c->e[i];
        }
        if (c->e[i].lru < c->e[victim].lru)
            victim = i;
    }
    *hit = false;
    if ((*err = cache_writeback_ent(img, &c->e[victim])) < 0)
        return NULL;
    struct qcow2_cache_ent *v = &c->e[victim];
    if (!v->buf && !(v->buf = malloc(c->bufsize))) {
        *err = img_error(img, -ENOMEM, "out of memory for the metadata cache");
        return NULL;
    }
    v->off = 0;
    v->lru = ++c->tick;
    c->last = victim;
    return v;
}

int qcow2_cache_get(struct img *img, struct qcow2_cache *c, uint64_t off, const char *what,
                    uint8_t **buf)
{
    struct qcow2 *s = qcow2_st(img);
    if (off == 0 || (off & (s->cluster_size - 1)))
        return img_error(img, -EIO, "%s 0x%llx is not cluster aligned", what, ULL(off));
    if (off >= QCOW2_MAX_HOST_OFF || off + s->cluster_size > s->file_size)
        return img_error(img, -EIO, "%s 0x%llx lies past the end of the file", what, ULL(off));
    bool hit;
    int r;
    struct qcow2_cache_ent *e = cache_slot(img, c, off, &hit, &r);
    if (!e)
        return r;
    if (!hit) {
        r = src_pread(img->src, e->buf, s->cluster_size, off);
        if (r < 0)
            return img_error(img, r, "reading %s at 0x%llx: %s", what, ULL(off), strerror(-r));
        e->off = off;
        e->dirty = false;
    }
    *buf = e->buf;
    return 0;
}

void qcow2_cache_put(struct img *img, struct qcow2_cache *c, uint64_t off, const uint8_t *buf)
{
    bool hit;
    int r;
    struct qcow2_cache_ent *e = cache_slot(img, c, off, &hit, &r);
    if (!e)
        return; /* the write-back error is in img->err; the caller wrote buf to disk anyway */
    if (e->buf != buf)
        memcpy(e->buf, buf, qcow2_st(img)->cluster_size);
    e->off = off;
    e->dirty = false;
}

int qcow2_cache_new(struct img *img, struct qcow2_cache *c, uint64_t off)
{
    struct qcow2 *s = qcow2_st(img);
    bool hit;
    int r;
    struct qcow2_cache_ent *e = cache_slot(img, c, off, &hit, &r);
    if (!e)
        return r;
    memset(e->buf, 0, s->cluster_size);
    e->off = off;
    e->dirty = true;
    /* The cluster is ours from now on even though the file does not reach it yet. */
    if (off + s->cluster_size > s->file_size)
        s->file_size = off + s->cluster_size;
    return 0;
}

void qcow2_cache_dirty(struct qcow2_cache *c, uint64_t off)
{
    if (c->e[c->last].off == off) {
        c->e[c->last].dirty = true;
        return;
    }
    for (size_t i = 0; i < c->n; i++)
        if (c->e[i].off == off)
            c->e[i].dirty = true;
}

void qcow2_cache_drop(struct qcow2_cache *c, uint64_t off)
{
    for (size_t i = 0; i < c->n; i++)
        if (c->e[i].off == off) {
            c->e[i].off = 0;
            c->e[i].dirty = false;
        }
}

/* ---- translation ---- */

int qcow2_l1e_check(struct img *img, uint64_t l1i, uint64_t e)
{
    if (!(e & QCOW2_L1_HIGH_BITS))
        return 0;
    return img_error(img, -EIO,
                     "L1 entry %llu: L2 table offset 0x%llx is at or beyond "
                     "2^56",
                     ULL(l1i), ULL(e & ~QCOW2_OFLAG_COPIED));
}

int qcow2_l2e_high(struct img *img, uint64_t e)
{
    return img_error(img, -EIO,
                     "data cluster offset in L2 entry 0x%llx is at or beyond "
                     "2^56",
                     ULL(e));
}

/* The cached L2 table covering guest and guest's index in it; *l2off 0 when there is none. */
static int l2_table(struct img *img, uint64_t guest, uint64_t *l2off, uint8_t **t, uint64_t *i)
{
    struct qcow2 *s = qcow2_st(img);
    unsigned l2b = qcow2_l2_bits(s->cluster_bits, s->extended_l2);
    uint64_t l1i = qcow2_l1_index(s->cluster_bits, l2b, guest);
    *l2off = 0;
    if (l1i >= s->l1_size)
        return 0;
    int r = qcow2_l1e_check(img, l1i, s->l1[l1i]);
    if (r < 0)
        return r;
    uint64_t off = s->l1[l1i] & QCOW2_L1_OFFSET_MASK;
    if (!off)
        return 0;
    r = qcow2_cache_get(img, &s->l2c, off, "L2 table offset", t);
    if (r < 0)
        return r;
    *i = qcow2_l2_index(s->cluster_bits, l2b, guest);
    *l2off = off;
    return 0;
}

int qcow2_get_l2(struct img *img, uint64_t guest, uint64_t *l2off, uint64_t *entry,
                 uint64_t *bitmap)
{
    struct qcow2 *s = qcow2_st(img);
    *entry = *bitmap = 0;
    uint8_t *t = NULL;
    uint64_t i = 0;
    int r = l2_table(img, guest, l2off, &t, &i);
    if (r < 0 || !*l2off)
        return r;
    *entry = be64_load(t + i * s->l2_entry_size);
    if (s->extended_l2)
        *bitmap = be64_load(t + i * s->l2_entry_size + 8);
    return 0;
}

/* ---- compression ---- */

/* Inflate the compressed cluster of entry into out (a whole cluster). */
static int qcow2_decompress_to(struct img *img, uint64_t entry, uint8_t *out)
{
    struct qcow2 *s = qcow2_st(img);
    uint64_t coff, clen;
    qcow2_cdesc_decode(entry, s->cluster_bits, &coff, &clen);
    if (coff >= QCOW2_MAX_HOST_OFF || coff >= s->file_size || s->data_src != NULL)
        return img_error(img, -EIO,
                         "compressed cluster at 0x%llx lies past the end of "
                         "the file",
                         ULL(coff));
    if (clen > 2ull * s->cluster_size)
        clen = 2ull * s->cluster_size; /* the descriptor can't legitimately need more */
    if (clen > s->file_size - coff)
        clen = s->file_size - coff;
    int r = src_pread(img->src, s->zin, clen, coff);
    if (r < 0)
        return img_error(img, r, "reading compressed cluster at 0x%llx: %s", ULL(coff),
                         strerror(-r));
    r = qcow2_decompress(s->compression_type, s->zin, clen, out, s->cluster_size);
    if (r == -2)
        return img_error(img, -EIO,
                         "the image is damaged: compressed cluster at 0x%llx asks for a "
                         "zstd window larger than a cluster",
                         ULL(coff));
    if (r < 0)
        return img_error(img, -EIO, "compressed cluster at 0x%llx does not decompress", ULL(coff));
    return 0;
}

int qcow2_decompress_entry(struct img *img, uint64_t entry)
{
    struct qcow2 *s = qcow2_st(img);
    if (s->cbuf_entry == entry && entry)
        return 0;
    s->cbuf_entry = 0;
    int r = qcow2_decompress_to(img, entry, s->cbuf);
    if (r == 0)
        s->cbuf_entry = entry;
    return r;
}

/* ---- mapping of one guest run ---- */

struct qcow2_map {
    enum qcow2_ctype type;
    uint64_t len;     /* bytes from the queried offset with this mapping (within one cluster) */
    uint64_t host;    /* host offset of the queried byte (DATA, ZERO_ALLOC) */
    uint64_t entry;   /* raw L2 entry (COMPRESSED) */
    uint64_t l1_skip; /* UNALLOC because the whole L1 entry is empty: bytes to its end */
};

static int qcow2_map_off(struct img *img, uint64_t off, struct qcow2_map *m)
{
    struct qcow2 *s = qcow2_st(img);
    uint64_t l2off, e, bm;
    uint64_t in_cl = off & (s->cluster_size - 1);
    int r = qcow2_get_l2(img, off, &l2off, &e, &bm);
    if (r < 0)
        return r;
    memset(m, 0, sizeof *m);
    m->len = s->cluster_size - in_cl;
    if (!l2off) {
        unsigned l2b = qcow2_l2_bits(s->cluster_bits, s->extended_l2);
        uint64_t span = 1ull << (s->cluster_bits + l2b);
        m->type = QCOW2_C_UNALLOC;
        m->l1_skip = span - (off & (span - 1));
        return 0;
    }
    enum qcow2_ctype t = qcow2_entry_type(e, s->extended_l2, s->data_src != NULL);
    uint64_t host = e & QCOW2_L2_OFFSET_MASK;
    if (t == QCOW2_C_COMPRESSED) {
        if (s->extended_l2 && bm)
            return img_error(img, -EIO,
                             "compressed cluster entry 0x%llx has a "
                             "subcluster bitmap",
                             ULL(e));
        m->type = t;
        m->entry = e;
        return 0;
    }
    if ((t == QCOW2_C_DATA || t == QCOW2_C_ZERO_ALLOC) && (e & QCOW2_OFF_HIGH_BITS))
        return qcow2_l2e_high(img, e);
    if ((t == QCOW2_C_DATA || t == QCOW2_C_ZERO_ALLOC) && (host & (s->cluster_size - 1)))
        return img_error(img, -EIO, "data cluster offset 0x%llx is not cluster aligned", ULL(host));
    if (t == QCOW2_C_DATA && !s->data_src && host >= s->file_size)
        return img_error(img, -EIO,
                         "data cluster offset 0x%llx lies past the end of "
                         "the file",
                         ULL(host));
    if (s->extended_l2) {
        unsigned sc = (unsigned)(in_cl >> s->sc_bits);
        uint64_t scsize = 1ull << s->sc_bits;
        if ((bm >> 32) & bm & 0xffffffffu)
            return img_error(img, -EIO,
                             "L2 entry 0x%llx has a corrupt subcluster "
                             "bitmap",
                             ULL(e));
        if (t == QCOW2_C_UNALLOC && (bm & QCOW2_BITMAP_ALL_ALLOC))
            return img_error(img, -EIO,
                             "unallocated L2 entry has subcluster "
                             "allocation bits set");
        bool alloc = (bm >> sc) & 1, zero = (bm >> (32 + sc)) & 1;
        /* Extend over following subclusters in the same state. */
        unsigned n = 1;
        while (sc + n < QCOW2_SUBCLUSTERS && (((bm >> (sc + n)) & 1) == alloc) &&
               (((bm >> (32 + sc + n)) & 1) == zero))
            n++;
        m->len = (uint64_t)(sc + n) * scsize - in_cl;
        /* A subcluster that is zero or unallocated inside a cluster that has a host
         * cluster still has a host offset (qemu-img map reports it too). */
        if (alloc) {
            m->type = QCOW2_C_DATA;
        } else if (zero) {
            m->type = t == QCOW2_C_DATA ? QCOW2_C_ZERO_ALLOC : QCOW2_C_ZERO;
        } else {
            m->type = QCOW2_C_UNALLOC;
        }
        if (t == QCOW2_C_DATA)
            m->host = host + in_cl;
        return 0;
    }
    m->type = t;
    if (t == QCOW2_C_DATA || t == QCOW2_C_ZERO_ALLOC)
        m->host = host + in_cl;
    return 0;
}

static int qcow2_read(struct img *img, uint64_t off, void *buf, size_t len)
{
    struct qcow2 *s = qcow2_st(img);
    uint8_t *p = buf;
    while (len > 0) {
        struct qcow2_map m;
        int r = qcow2_map_off(img, off, &m);
        if (r < 0)
            return r;
        uint64_t n = m.l1_skip ? m.l1_skip : m.len;
        if (n > len)
            n = len;
        switch (m.type) {
        case QCOW2_C_UNALLOC:
            r = img_read_backing(img, off, p, n);
            if (r < 0)
                return r;
            break;
        case QCOW2_C_ZERO:
        case QCOW2_C_ZERO_ALLOC: memset(p, 0, n); break;
        case QCOW2_C_DATA:
            /* Clusters that follow each other in the file too are read with one call (a
             * lookup that fails ends the run; the next pass reports it). */
            while (n < len) {
                struct qcow2_map m2;
                if (qcow2_map_off(img, off + n, &m2) < 0 || m2.type != QCOW2_C_DATA ||
                    m2.host != m.host + n)
                    break;
                n += m2.len < len - n ? m2.len : len - n;
            }
            r = qcow2_data_read(img, s->data_src ? s->data_src : img->src, p, n, m.host, off);
            if (r < 0)
                return r;
            break;
        case QCOW2_C_COMPRESSED:
            if (s->crypt_method)
                return qcow2_crypt_compressed(img);
            if (n == s->cluster_size) {
                /* A whole cluster (a convert's reads): inflated in place, no copy. */
                if ((r = qcow2_decompress_to(img, m.entry, p)) < 0)
                    return r;
                break;
            }
            r = qcow2_decompress_entry(img, m.entry);
            if (r < 0)
                return r;
            memcpy(p, s->cbuf + (off & (s->cluster_size - 1)), n);
            break;
        }
        p += n;
        off += n;
        len -= n;
    }
    return 0;
}

static void map_to_bs(const struct qcow2_map *m, unsigned *flags, uint64_t *host)
{
    *host = 0;
    *flags = 0;
    switch (m->type) {
    case QCOW2_C_UNALLOC:
        /* An unallocated subcluster of an allocated cluster (extended L2). */
        if (m->host) {
            *flags = IMG_BS_OFFSET_VALID;
            *host = m->host;
        }
        break;
    case QCOW2_C_ZERO: *flags = IMG_BS_ZERO | IMG_BS_ALLOCATED; break;
    case QCOW2_C_ZERO_ALLOC:
        *flags = IMG_BS_ZERO | IMG_BS_ALLOCATED | IMG_BS_OFFSET_VALID;
        *host = m->host;
        break;
    case QCOW2_C_DATA:
        *flags = IMG_BS_DATA | IMG_BS_ALLOCATED | IMG_BS_OFFSET_VALID;
        *host = m->host;
        break;
    case QCOW2_C_COMPRESSED: *flags = IMG_BS_DATA | IMG_BS_ALLOCATED | IMG_BS_COMPRESSED; break;
    }
}

/* Block-status flags of one whole cluster straight from its L2 entry (and bitmap), for the
 * fast scan below. False when the entry needs qcow2_map_off: anything it would reject, and
 * clusters whose subclusters differ. Mirrors qcow2_map_off's checks at a cluster start. */
static bool whole_cluster_bs(const struct qcow2 *s, uint64_t e, uint64_t bm, unsigned *flags,
                             uint64_t *host)
{
    struct qcow2_map m = {.type = qcow2_entry_type(e, s->extended_l2, s->data_src != NULL),
                          .len = s->cluster_size};
    uint64_t h = e & QCOW2_L2_OFFSET_MASK;
    if (m.type == QCOW2_C_COMPRESSED) {
        if (s->extended_l2 && bm)
            return false;
        map_to_bs(&m, flags, host);
        return true;
    }
    if ((m.type == QCOW2_C_DATA || m.type == QCOW2_C_ZERO_ALLOC) &&
        ((h & (s->cluster_size - 1)) || (e & QCOW2_OFF_HIGH_BITS)))
        return false;
    if (m.type == QCOW2_C_DATA && !s->data_src && h >= s->file_size)
        return false;
    if (s->extended_l2) {
        uint32_t alloc = (uint32_t)bm, zero = (uint32_t)(bm >> 32);
        if ((alloc & zero) || (m.type == QCOW2_C_UNALLOC && alloc))
            return false;
        bool has_host = m.type == QCOW2_C_DATA;
        if (alloc == 0xffffffffu)
            m.type = QCOW2_C_DATA;
        else if (alloc)
            return false; /* mixed: qcow2_map_off splits it */
        else if (zero == 0xffffffffu)
            m.type = has_host ? QCOW2_C_ZERO_ALLOC : QCOW2_C_ZERO;
        else if (zero)
            return false;
        else
            m.type = QCOW2_C_UNALLOC;
        if (has_host)
            m.host = h;
    }
    if (m.type == QCOW2_C_DATA || m.type == QCOW2_C_ZERO_ALLOC)
        m.host = h;
    map_to_bs(&m, flags, host);
    return true;
}

/* Index of the first entry from i on (below nent) with a non-zero byte, else nent. */
static uint64_t l2_first_nonzero(const uint8_t *t, uint64_t i, uint64_t nent, unsigned esize)
{
    const uint8_t *p = t + i * esize, *end = t + nent * esize;
    for (; p < end; p += 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        if (w)
            break;
    }
    return (uint64_t)(p - t) / esize;
}

/* Extend a run from the cluster-aligned guest offset g over the rest of g's L2 table (not past
 * max bytes), reading the cached table directly instead of one qcow2_map_off per cluster.
 * Stops at the first cluster that differs (flags, or a host offset not continuing at
 * want_host) or that qcow2_map_off must judge; *more is the bytes added. */
static int l2_scan(struct img *img, uint64_t g, uint64_t max, unsigned flags0, uint64_t want_host,
                   uint64_t *more)
{
    struct qcow2 *s = qcow2_st(img);
    *more = 0;
    /* A new table (or none) goes through qcow2_map_off, which loads and checks it. */
    unsigned span_bits = s->cluster_bits + qcow2_l2_bits(s->cluster_bits, s->extended_l2);
    if (!(g & ((1ull << span_bits) - 1)))
        return 0;
    uint8_t *t;
    uint64_t i, l2off;
    int r = l2_table(img, g, &l2off, &t, &i);
    if (r < 0 || !l2off)
        return r;
    uint64_t n = 0, nent = s->l2_entries;
    for (; i < nent && n < max; i++, n += s->cluster_size) {
        const uint8_t *p = t + i * s->l2_entry_size;
        uint64_t e = be64_load(p), bm = s->extended_l2 ? be64_load(p + 8) : 0;
        if (!flags0 && !e && !bm) {
            /* The common case in a sparse table: unallocated. Skip the whole stretch of
             * zero entries a word at a time (a 1 TiB map scans 2048 such tables). */
            uint64_t j = l2_first_nonzero(t, i + 1, nent, s->l2_entry_size);
            n += (j - i - 1) * s->cluster_size;
            i = j - 1;
            continue;
        }
        unsigned fl;
        uint64_t host;
        if (!whole_cluster_bs(s, e, bm, &fl, &host) || fl != flags0 ||
            ((fl & IMG_BS_OFFSET_VALID) && host != want_host + n))
            break;
    }
    if (n > max) /* a skipped stretch ran past max: end where one cluster at a time would */
        n = (max + s->cluster_size - 1) / s->cluster_size * s->cluster_size;
    *more = n;
    return 0;
}

/* Whether the file looks preallocated with preallocation=metadata: more clusters in use
 * than the file has allocated on disk (by qemu's rule: at least max(10/9 of them, 2 more)).
 * Counting stops at that threshold, so the walk is bounded by the file's allocation. */
static bool qcow2_meta_prealloc(struct img *img)
{
    struct qcow2 *s = qcow2_st(img);
    if (s->prealloc_checked)
        return s->prealloc_meta;
    s->prealloc_checked = true;
    uint64_t alloc;
    if (src_alloc(img->src, &alloc) < 0)
        return false;
    uint64_t real = alloc / s->cluster_size, count = 0;
    uint64_t threshold = real * 10 / 9 > real + 2 ? real * 10 / 9 : real + 2;
    uint64_t end = (s->file_size + s->cluster_size - 1) / s->cluster_size;
    for (uint64_t i = 0; i < end && count < threshold; i++) {
        uint64_t rc;
        if (qcow2_get_refcount(img, i, &rc) < 0)
            return false;
        count += rc != 0;
    }
    s->prealloc_meta = count >= threshold;
    return s->prealloc_meta;
}

static int qcow2_block_status(struct img *img, uint64_t off, uint64_t len, struct img_bs *bs)
{
    struct qcow2 *s = qcow2_st(img);
    struct qcow2_map m;
    uint64_t done = 0, host0 = 0;
    unsigned flags0 = 0;
    while (done < len) {
        int r = qcow2_map_off(img, off + done, &m);
        if (r < 0)
            return r;
        unsigned fl;
        uint64_t host;
        map_to_bs(&m, &fl, &host);
        if (done == 0) {
            flags0 = fl;
            host0 = host;
        } else if (fl != flags0 || ((fl & IMG_BS_OFFSET_VALID) && host != host0 + done)) {
            break;
        }
        done += m.l1_skip ? m.l1_skip : m.len;
        /* Whole clusters left in this L2 table: scan them in one go (the per-cluster lookup
         * made a 1 TiB map with scattered clusters take most of a second). */
        if (!m.l1_skip && done < len && !((off + done) & (s->cluster_size - 1))) {
            uint64_t more;
            if ((r = l2_scan(img, off + done, len - done, flags0, host0 + done, &more)) < 0)
                return r;
            done += more;
        }
    }
    bs->len = done < len ? done : len;
    bs->flags = flags0;
    bs->host_off = host0;
    if (s->crypt_method) /* ciphertext: no guest byte is at a host offset (as qemu says) */
        bs->flags &= ~(unsigned)IMG_BS_OFFSET_VALID;
    else if ((bs->flags & IMG_BS_OFFSET_VALID) && s->data_src != NULL) {
        bs->flags |= IMG_BS_HOST_FILE;
        bs->host_src = s->data_src;
        bs->host_name = s->data_file_name;
    }
    if ((bs->flags & IMG_BS_OFFSET_VALID) && (bs->flags & IMG_BS_DATA) && qcow2_meta_prealloc(img))
        bs->flags |= IMG_BS_HOST_HOLES;
    return 0;
}

/* ---- header parsing ---- */

int qcow2_load_l1(struct img *img, uint64_t off, uint32_t n, uint64_t **out)
{
    struct qcow2 *s = qcow2_st(img);
    *out = NULL;
    uint64_t bytes = (uint64_t)n * 8;
    if (n == 0)
        return 0;
    if (off + bytes > s->file_size)
        return img_error(img, -EINVAL,
                         "L1 table offset 0x%llx + %llu bytes lies past "
                         "the end of the file",
                         ULL(off), ULL(bytes));
    uint8_t *raw = malloc(bytes);
    uint64_t *t = malloc(bytes);
    if (!raw || !t) {
        free(raw);
        free(t);
        return img_error(img, -ENOMEM, "out of memory for the L1 table");
    }
    int r = src_pread(img->src, raw, bytes, off);
    if (r < 0) {
        free(raw);
        free(t);
        return img_error(img, r, "reading the L1 table: %s", strerror(-r));
    }
    for (uint32_t i = 0; i < n; i++)
        t[i] = be64_load(raw + 8 * (uint64_t)i);
    free(raw);
    *out = t;
    return 0;
}

static const char *feat_name(struct qcow2 *s, uint8_t type, unsigned bit)
{
    for (size_t i = 0; i < s->nfeat; i++)
        if (s->feat[i].type == type && s->feat[i].bit == bit)
            return s->feat[i].name;
    return NULL;
}

static int parse_extensions(struct img *img, const uint8_t *c0, uint64_t c0len)
{
    struct qcow2 *s = qcow2_st(img);
    uint64_t off = s->header_length;
    bool seen_end = false;
    while (off + 8 <= c0len) {
        uint32_t type = be32_load(c0 + off), len = be32_load(c0 + off + 4);
        uint64_t data = off + 8, end = data + u64_align_up(len, 8);
        if (type == QCOW2_EXT_END) {
            off = data;
            seen_end = true;
            break;
        }
        if (data + len > s->cluster_size || data + len > c0len)
            return img_error(img, -EINVAL,
                             "header extension 0x%08x (length %u) does "
                             "not fit in cluster 0",
                             type, len);
        const uint8_t *p = c0 + data;
        switch (type) {
        case QCOW2_EXT_BACKING_FMT:
            if (len == 0 || len > 31)
                return img_error(img, -EINVAL,
                                 "header extension backing format has "
                                 "length %u",
                                 len);
            free(img->backing_fmt);
            if (!(img->backing_fmt = strndup((const char *)p, len)))
                return -ENOMEM;
            break;
        case QCOW2_EXT_FEATURES: {
            size_t n = len / 48;
            free(s->feat);
            s->feat = calloc(n ? n : 1, sizeof *s->feat);
            if (!s->feat)
                return -ENOMEM;
            for (size_t i = 0; i < n; i++) {
                s->feat[i].type = p[48 * i];
                s->feat[i].bit = p[48 * i + 1];
                memcpy(s->feat[i].name, p + 48 * i + 2, 46);
                s->feat[i].name[46] = 0;
            }
            s->nfeat = n;
            break;
        }
        case QCOW2_EXT_BITMAPS:
            if (len < 24)
                return img_error(img, -EINVAL,
                                 "header extension bitmaps is too short "
                                 "(%u bytes)",
                                 len);
            s->has_bitmaps_ext = true;
            s->bitmap_ext_off = data;
            s->nb_bitmaps = be32_load(p);
            s->bitmap_dir_size = be64_load(p + 8);
            s->bitmap_dir_off = be64_load(p + 16);
            if (s->nb_bitmaps > QCOW2_MAX_BITMAPS)
                return img_error(img, -EINVAL,
                                 "header extension bitmaps: nb_bitmaps %u "
                                 "exceeds %u",
                                 s->nb_bitmaps, QCOW2_MAX_BITMAPS);
            if (s->bitmap_dir_size > QCOW2_MAX_BITMAP_DIR_BYTES)
                return img_error(img, -EINVAL,
                                 "header extension bitmaps: directory size "
                                 "%llu exceeds 64 MiB",
                                 ULL(s->bitmap_dir_size));
            break;
        case QCOW2_EXT_FDE:
            if (len < 16)
                return img_error(img, -EINVAL,
                                 "header extension FDE is too short "
                                 "(%u bytes)",
                                 len);
            s->has_fde = true;
            s->fde_off = be64_load(p);
            s->fde_len = be64_load(p + 8);
            break;
        case QCOW2_EXT_DATA_FILE:
            if (len == 0 || len > 1023)
                return img_error(img, -EINVAL,
                                 "header extension data file has length "
                                 "%u",
                                 len);
            free(s->data_file_name);
            if (!(s->data_file_name = strndup((const char *)p, len)))
                return -ENOMEM;
            break;
        default: {
            if (s->nunknown >= 64)
                return img_error(img, -EINVAL, "too many header extensions");
            struct qcow2_unknown_ext *u =
                realloc(s->unknown, (s->nunknown + 1) * sizeof *s->unknown);
            if (!u)
                return -ENOMEM;
            s->unknown = u;
            u[s->nunknown++] = (struct qcow2_unknown_ext){type, len, data};
            break;
        }
        }
        off = end;
    }
    if (!seen_end && s->version >= 3 && off < s->cluster_size)
        return img_error(img, -EINVAL, "header extension area has no end marker");
    s->ext_end = off;
    return 0;
}

static int parse_snapshots(struct img *img)
{
    struct qcow2 *s = qcow2_st(img);
    if (s->nb_snapshots == 0)
        return 0;
    if (s->snap_offset & (s->cluster_size - 1))
        return img_error(img, -EINVAL,
                         "snapshot table offset 0x%llx is not cluster "
                         "aligned",
                         ULL(s->snap_offset));
    if (s->snap_offset >= s->file_size)
        return img_error(img, -EINVAL,
                         "snapshot table offset 0x%llx lies past the end "
                         "of the file",
                         ULL(s->snap_offset));
    uint64_t avail = s->file_size - s->snap_offset;
    if (avail > QCOW2_MAX_SNAPTABLE_BYTES)
        avail = QCOW2_MAX_SNAPTABLE_BYTES;
    uint8_t *t = malloc(avail);
    s->snaps = calloc(s->nb_snapshots, sizeof *s->snaps);
    if (!t || !s->snaps) {
        free(t);
        return img_error(img, -ENOMEM, "out of memory for the snapshot table");
    }
    int r = src_pread(img->src, t, avail, s->snap_offset);
    if (r < 0) {
        free(t);
        return img_error(img, r, "reading the snapshot table: %s", strerror(-r));
    }
    uint64_t off = 0;
    for (uint32_t i = 0; i < s->nb_snapshots; i++) {
        struct qcow2_snapshot *sn = &s->snaps[i];
        if (off + 40 > avail)
            goto trunc;
        const uint8_t *e = t + off;
        sn->l1_offset = be64_load(e);
        sn->l1_size = be32_load(e + 8);
        uint16_t idlen = be16_load(e + 12), namelen = be16_load(e + 14);
        sn->date_sec = be32_load(e + 16);
        sn->date_nsec = be32_load(e + 20);
        sn->vm_clock_nsec = be64_load(e + 24);
        sn->vm_state_size = be32_load(e + 32);
        uint32_t extra = be32_load(e + 36);
        if (extra > 1024) {
            free(t);
            return img_error(img, -EINVAL,
                             "snapshot table entry %u has %u bytes of "
                             "extra data (limit 1024)",
                             i, extra);
        }
        uint64_t need = 40ull + extra + idlen + namelen;
        if (off + need > avail)
            goto trunc;
        if (extra >= 8)
            sn->vm_state_size = be64_load(e + 40);
        sn->disk_size = extra >= 16 ? be64_load(e + 48) : s->size;
        sn->icount = extra >= 24 ? be64_load(e + 56) : UINT64_MAX;
        sn->id = strndup((const char *)e + 40 + extra, idlen);
        sn->name = strndup((const char *)e + 40 + extra + idlen, namelen);
        if (!sn->id || !sn->name) {
            free(t);
            return -ENOMEM;
        }
        off = u64_align_up(off + need, 8);
    }
    free(t);
    s->snap_size = off;
    return 0;
trunc:
    free(t);
    return img_error(img, -EINVAL, "snapshot table is truncated or exceeds 64 MiB");
}

static int open_data_file(struct img *img)
{
    struct qcow2 *s = qcow2_st(img);
    if (!s->data_file_name)
        return img_error(img, -EINVAL,
                         "external data file bit set but the header "
                         "extension data file is missing");
    int r = img_open_ref(img, s->data_file_name, "external data file", 0, &s->data_src);
    return r;
}

static int check_table(struct img *img, const char *what, uint64_t off, uint64_t len)
{
    struct qcow2 *s = qcow2_st(img);
    uint64_t end;
    if (off & (s->cluster_size - 1))
        return img_error(img, -EINVAL, "%s 0x%llx is not cluster aligned", what, ULL(off));
    if (u64_add_overflow(off, len, &end) || end > QCOW2_MAX_HOST_OFF)
        return img_error(img, -EINVAL, "%s 0x%llx + %llu bytes overflows", what, ULL(off),
                         ULL(len));
    if (end > s->file_size)
        return img_error(img, -EINVAL,
                         "%s 0x%llx + %llu bytes lies past the end of the "
                         "file (%llu bytes)",
                         what, ULL(off), ULL(len), ULL(s->file_size));
    return 0;
}

/* The fixed header: read, fields parsed, the basic ones range-checked. */
static int open_header(struct img *img)
{
    struct qcow2 *s = qcow2_st(img);
    uint8_t h[112];
    int r = src_size(img->src, &s->file_size);
    if (r < 0)
        return img_error(img, r, "%s", strerror(-r));
    if (s->file_size < 72)
        return img_error(img, -EINVAL, "file too short for a header");
    memset(h, 0, sizeof h);
    r = src_pread_zero(img->src, h, sizeof h, 0);
    if (r < 0)
        return img_error(img, r, "reading the header: %s", strerror(-r));
    if (be32_load(h) != QCOW2_MAGIC)
        return img_error(img, -EINVAL, "bad magic");
    s->version = be32_load(h + QCOW2_H_VERSION);
    if (s->version != 2 && s->version != 3)
        return img_error(img, -ENOTSUP, "unsupported version %u", s->version);
    s->backing_off = be64_load(h + QCOW2_H_BACKING_OFF);
    s->backing_len = be32_load(h + QCOW2_H_BACKING_LEN);
    s->cluster_bits = be32_load(h + QCOW2_H_CLUSTER_BITS);
    s->size = be64_load(h + QCOW2_H_SIZE);
    s->crypt_method = be32_load(h + QCOW2_H_CRYPT);
    s->l1_size = be32_load(h + QCOW2_H_L1_SIZE);
    s->l1_offset = be64_load(h + QCOW2_H_L1_OFF);
    s->rt_offset = be64_load(h + QCOW2_H_RT_OFF);
    s->rt_clusters = be32_load(h + QCOW2_H_RT_CLUSTERS);
    s->nb_snapshots = be32_load(h + QCOW2_H_NB_SNAPSHOTS);
    s->snap_offset = be64_load(h + QCOW2_H_SNAP_OFF);
    if (s->cluster_bits < QCOW2_MIN_CLUSTER_BITS || s->cluster_bits > QCOW2_MAX_CLUSTER_BITS)
        return img_error(img, -EINVAL, "cluster_bits %u out of range (9..21)", s->cluster_bits);
    s->cluster_size = 1u << s->cluster_bits;
    if (s->version == 2) {
        s->header_length = 72;
        s->refcount_order = 4;
    } else {
        s->incompat = be64_load(h + QCOW2_H_INCOMPAT);
        s->compat = be64_load(h + QCOW2_H_COMPAT);
        s->autoclear = be64_load(h + QCOW2_H_AUTOCLEAR);
        s->refcount_order = be32_load(h + QCOW2_H_REFCOUNT_ORDER);
        s->header_length = be32_load(h + QCOW2_H_HEADER_LEN);
        if (s->header_length < 104 || s->header_length % 8 || s->header_length > s->cluster_size)
            return img_error(img, -EINVAL,
                             "header_length %u invalid (needs >= 104, a "
                             "multiple of 8, <= cluster size %u)",
                             s->header_length, s->cluster_size);
        if (s->header_length > 104)
            s->compression_type = h[QCOW2_H_COMPRESSION];
    }
    if (s->header_length > s->file_size)
        return img_error(img, -EINVAL, "header_length %u lies past the end of the file",
                         s->header_length);
    if (s->refcount_order > 6)
        return img_error(img, -EINVAL, "refcount_order %u exceeds 6", s->refcount_order);
    return 0;
}

/* Cluster 0 holds the header extensions and the backing file name. */
static int open_cluster0(struct img *img)
{
    struct qcow2 *s = qcow2_st(img);
    int r;
    uint64_t c0len = s->cluster_size < s->file_size ? s->cluster_size : s->file_size;
    uint8_t *c0 = malloc(c0len);
    if (!c0)
        return img_error(img, -ENOMEM, "out of memory");
    r = src_pread(img->src, c0, c0len, 0);
    if (r < 0) {
        free(c0);
        return img_error(img, r, "reading the header: %s", strerror(-r));
    }
    r = parse_extensions(img, c0, c0len);
    if (r == 0 && s->backing_off) {
        uint64_t end;
        if (s->backing_len > QCOW2_MAX_BACKING_NAME)
            r = img_error(img, -EINVAL,
                          "backing file name length %u exceeds 1023 "
                          "bytes",
                          s->backing_len);
        else if (u64_add_overflow(s->backing_off, s->backing_len, &end) || end > c0len ||
                 end > s->cluster_size)
            r = img_error(img, -EINVAL,
                          "backing file name at 0x%llx (length %u) lies "
                          "outside cluster 0",
                          ULL(s->backing_off), s->backing_len);
        else if (s->backing_len &&
                 !(img->backing_name = strndup((const char *)c0 + s->backing_off, s->backing_len)))
            r = -ENOMEM;
        else if (s->backing_len && strlen(img->backing_name) != s->backing_len)
            r = img_error(img, -EINVAL, "backing file name contains a NUL byte");
    }
    free(c0);
    if (r < 0)
        return r == -ENOMEM ? img_error(img, r, "out of memory") : r;
    return 0;
}

/* Feature bits, encryption and compression the driver knows; the derived sizes. */
static int open_features(struct img *img)
{
    struct qcow2 *s = qcow2_st(img);
    uint64_t unknown = s->incompat & ~QCOW2_INCOMPAT_KNOWN;
    if (unknown) {
        unsigned bit = (unsigned)__builtin_ctzll(unknown);
        const char *name = feat_name(s, 0, bit);
        return img_error(img, -ENOTSUP, "unsupported incompatible feature: %s (bit %u)",
                         name && name[0] ? name : "unknown", bit);
    }
    if (s->version == 2 && s->crypt_method > 1)
        return img_error(img, -EINVAL, "crypt_method %u invalid for version 2", s->crypt_method);
    if (s->crypt_method > 2)
        return img_error(img, -ENOTSUP, "unsupported crypt_method %u", s->crypt_method);
    s->extended_l2 = (s->incompat & QCOW2_INCOMPAT_EXTL2) != 0;
    if (s->extended_l2 && s->cluster_bits < 14)
        return img_error(img, -EINVAL,
                         "extended L2 entries need cluster_bits >= 14 "
                         "(cluster_bits %u)",
                         s->cluster_bits);
    if (s->incompat & QCOW2_INCOMPAT_COMPRESSION) {
        if (s->header_length <= 104)
            return img_error(img, -EINVAL,
                             "compression type bit set but header_length "
                             "%u has no compression type field",
                             s->header_length);
        if (s->compression_type > 1)
            return img_error(img, -ENOTSUP, "unsupported compression type %u", s->compression_type);
    } else if (s->compression_type != 0) {
        return img_error(img, -EINVAL,
                         "compression type %u set without the "
                         "compression type feature bit",
                         s->compression_type);
    }
    s->refcount_bits = 1u << s->refcount_order;
    s->refcount_max = s->refcount_bits == 64 ? UINT64_MAX : (1ull << s->refcount_bits) - 1;
    s->rb_entries = (uint64_t)s->cluster_size * 8 / s->refcount_bits;
    s->l2_entry_size = s->extended_l2 ? 16 : 8;
    s->l2_entries = s->cluster_size / s->l2_entry_size;
    s->sc_bits = s->extended_l2 ? s->cluster_bits - 5 : s->cluster_bits;
    return 0;
}

/* The refcount, L1 and snapshot tables and the extensions' offsets: sizes and places, all
 * validated before anything is allocated. */
static int open_check_tables(struct img *img)
{
    struct qcow2 *s = qcow2_st(img);
    int r;
    /* Refcount table. */
    if (s->rt_clusters == 0)
        return img_error(img, -EINVAL, "refcount_table_clusters is 0");
    if ((uint64_t)s->rt_clusters * s->cluster_size > QCOW2_MAX_RT_BYTES)
        return img_error(img, -EINVAL,
                         "refcount_table_clusters %u exceeds the 8 MiB "
                         "limit",
                         s->rt_clusters);
    r = check_table(img, "refcount table offset", s->rt_offset,
                    (uint64_t)s->rt_clusters * s->cluster_size);
    if (r < 0)
        return r;

    /* L1 table. */
    unsigned l2b = qcow2_l2_bits(s->cluster_bits, s->extended_l2);
    if (s->l1_size > QCOW2_MAX_L1_ENTRIES)
        return img_error(img, -EINVAL, "l1_size %u exceeds the limit of %llu entries", s->l1_size,
                         ULL(QCOW2_MAX_L1_ENTRIES));
    uint64_t need = qcow2_l1_needed(s->size, s->cluster_bits, l2b);
    if (need > QCOW2_MAX_L1_ENTRIES || s->size > (1ull << 62))
        return img_error(img, -EFBIG, "virtual size %llu is too large", ULL(s->size));
    if (s->l1_size < need)
        return img_error(img, -EINVAL,
                         "l1_size %u is too small for the virtual size "
                         "(needs %llu entries)",
                         s->l1_size, ULL(need));
    r = check_table(img, "L1 table offset", s->l1_offset, (uint64_t)s->l1_size * 8);
    if (r < 0)
        return r;

    /* Snapshots. */
    if (s->nb_snapshots > QCOW2_MAX_SNAPSHOTS)
        return img_error(img, -EINVAL, "nb_snapshots %u exceeds %u", s->nb_snapshots,
                         QCOW2_MAX_SNAPSHOTS);
    r = parse_snapshots(img);
    if (r < 0)
        return r;
    for (uint32_t i = 0; i < s->nb_snapshots; i++) {
        /* Stale snapshot L1s only matter to check and layout, which validate them again. */
        if (s->snaps[i].l1_size > QCOW2_MAX_L1_ENTRIES)
            return img_error(img, -EINVAL,
                             "snapshot table entry %u: l1_size %u exceeds "
                             "the limit",
                             i, s->snaps[i].l1_size);
    }

    if (s->has_bitmaps_ext && (s->bitmap_dir_off & (s->cluster_size - 1)))
        return img_error(img, -EINVAL,
                         "header extension bitmaps: directory offset "
                         "0x%llx is not cluster aligned",
                         ULL(s->bitmap_dir_off));
    if (s->has_fde && (s->fde_off & (s->cluster_size - 1)))
        return img_error(img, -EINVAL,
                         "header extension FDE: offset 0x%llx is not "
                         "cluster aligned",
                         ULL(s->fde_off));
    return 0;
}

/* Everything validated: the L1 and refcount tables read, the caches allocated. */
static int open_load_tables(struct img *img)
{
    struct qcow2 *s = qcow2_st(img);
    int r = qcow2_load_l1(img, s->l1_offset, s->l1_size, &s->l1);
    if (r < 0)
        return r;
    s->rt_entries = (uint64_t)s->rt_clusters * s->cluster_size / 8;
    uint8_t *raw = malloc(s->rt_entries * 8);
    s->rt = malloc(s->rt_entries * 8);
    if (!raw || !s->rt) {
        free(raw);
        return img_error(img, -ENOMEM, "out of memory for the refcount table");
    }
    r = src_pread(img->src, raw, s->rt_entries * 8, s->rt_offset);
    for (uint64_t i = 0; r == 0 && i < s->rt_entries; i++)
        s->rt[i] = be64_load(raw + 8 * i);
    free(raw);
    if (r < 0)
        return img_error(img, r, "reading the refcount table: %s", strerror(-r));

    size_t nc = QCOW2_CACHE_BYTES / s->cluster_size;
    if (nc < 4)
        nc = 4;
    if (qcow2_cache_init(&s->l2c, nc, s->cluster_size) < 0 ||
        qcow2_cache_init(&s->rbc, nc, s->cluster_size) < 0 ||
        !(s->cbuf = malloc(s->cluster_size)) || !(s->zin = malloc(2ull * s->cluster_size)))
        return img_error(img, -ENOMEM, "out of memory for the caches");
    return 0;
}

/* Parse and validate everything before any table is allocated, then load (qcow2.h). */
static int qcow2_open(struct img *img, unsigned flags)
{
    struct qcow2 *s = qcow2_st(img);
    int r;
    if ((r = open_header(img)) < 0 || (r = open_cluster0(img)) < 0 ||
        (r = open_features(img)) < 0 || (r = open_check_tables(img)) < 0)
        return r;
    if (s->incompat & QCOW2_INCOMPAT_DATA_FILE) {
        r = open_data_file(img);
        if (r < 0)
            return r;
    }
    if ((r = qcow2_crypt_open(img)) < 0 || (r = open_load_tables(img)) < 0)
        return r;
    s->lazy = (s->compat & QCOW2_COMPAT_LAZY) != 0;
    img->size = s->size;
    return qcow2_bitmaps_load(img);
}

static void qcow2_close(struct img *img)
{
    struct qcow2 *s = qcow2_st(img);
    if (!s)
        return;
    if ((img->flags & IMG_OPEN_RW) && s->writes_started)
        qcow2_flush(img);
    free(s->l1);
    free(s->rt);
    free(s->feat);
    free(s->unknown);
    free(s->data_file_name);
    for (uint32_t i = 0; s->snaps && i < s->nb_snapshots; i++) {
        free(s->snaps[i].id);
        free(s->snaps[i].name);
    }
    free(s->snaps);
    qcow2_bitmaps_free(s);
    qcow2_cache_free(&s->l2c);
    qcow2_cache_free(&s->rbc);
    free(s->cbuf);
    free(s->zin);
    free(s->wbuf);
    src_close(s->data_src);
    s->data_src = NULL;
    qcow2_crypt_close(img);
}

int qcow2_write_header_field(struct img *img, uint64_t off, const void *p, size_t len)
{
    int r = src_pwrite(img->src, p, len, off);
    return r < 0 ? img_error(img, r, "writing the header: %s", strerror(-r)) : 0;
}

int qcow2_read_refblock(struct img *img, uint64_t off, uint8_t **buf)
{
    return qcow2_cache_get(img, &qcow2_st(img)->rbc, off, "refcount block offset", buf);
}

static int qcow2_get_info(struct img *img, struct img_info *info)
{
    struct qcow2 *s = qcow2_st(img);
    info->cluster_size = s->cluster_size;
    info->encrypted = s->crypt_method != 0;
    info->dirty = (s->incompat & QCOW2_INCOMPAT_DIRTY) != 0;
    info->has_dirty_field = true;
    info->nb_snapshots = s->nb_snapshots;
    img_info_str(info, "compat", s->version == 2 ? "0.10" : "1.1");
    img_info_str(info, "compression-type", s->compression_type == 1 ? "zstd" : "zlib");
    if (s->version >= 3)
        img_info_bool(info, "lazy-refcounts", (s->compat & QCOW2_COMPAT_LAZY) != 0);
    img_info_int(info, "refcount-bits", s->refcount_bits);
    if (s->version >= 3) {
        img_info_bool(info, "corrupt", (s->incompat & QCOW2_INCOMPAT_CORRUPT) != 0);
        if (s->data_file_name) {
            img_info_str(info, "data-file", s->data_file_name);
            img_info_bool(info, "data-file-raw", (s->autoclear & QCOW2_AUTOCLEAR_DATA_RAW) != 0);
        }
        img_info_bool(info, "extended-l2", s->extended_l2);
    }
    qcow2_crypt_info(img, info);
    return 0;
}

static int qcow2_snap_list(struct img *img, struct img_snap **out, size_t *n)
{
    struct qcow2 *s = qcow2_st(img);
    *out = NULL;
    *n = 0;
    if (!s->nb_snapshots)
        return 0;
    struct img_snap *v = calloc(s->nb_snapshots, sizeof *v);
    if (!v)
        return img_error(img, -ENOMEM, "out of memory");
    for (uint32_t i = 0; i < s->nb_snapshots; i++) {
        const struct qcow2_snapshot *sn = &s->snaps[i];
        snprintf(v[i].id, sizeof v[i].id, "%s", sn->id);
        snprintf(v[i].name, sizeof v[i].name, "%s", sn->name);
        v[i].vm_state_size = sn->vm_state_size;
        v[i].date_sec = sn->date_sec;
        v[i].date_nsec = sn->date_nsec;
        v[i].vm_clock_nsec = sn->vm_clock_nsec;
        v[i].disk_size = sn->disk_size;
        v[i].icount = sn->icount;
    }
    *out = v;
    *n = s->nb_snapshots;
    return 0;
}

static const struct img_opt_desc qcow2_create_opts[] = {
    {"cluster_size", "size", "cluster size (512 to 2M, power of two; default 64k)"},
    {"compat", "enum:0.10|1.1|v2|v3", "qcow2 version (default 1.1)"},
    {"refcount_bits", "int", "refcount width in bits (1..64, power of two; default 16)"},
    {"lazy_refcounts", "bool", "defer refcount updates (compat 1.1)"},
    {"extended_l2", "bool", "32 subclusters per cluster (cluster_size >= 16k)"},
    {"compression_type", "enum:zlib|zstd", "compression for compressed clusters"},
    {"preallocation", "enum:off|metadata|falloc|full", "preallocation mode"},
    {"data_file", "string", "external data file name"},
    {"data_file_raw", "bool", "keep the data file a valid raw image"},
    {"encrypt.format", "enum:aes|luks", "encryption: luks, or aes (legacy AES-128-CBC, weak)"},
    {"encrypt.cipher-alg", "enum:aes-128|aes-192|aes-256", "LUKS cipher (default aes-256)"},
    {"encrypt.cipher-mode", "enum:xts|cbc", "LUKS cipher mode (default xts)"},
    {"encrypt.ivgen-alg", "enum:plain64|plain|essiv", "LUKS IV generator (default plain64)"},
    {"encrypt.ivgen-hash-alg", "string", "hash for essiv (default sha256)"},
    {"encrypt.hash-alg", "string", "LUKS PBKDF2 hash (default sha256)"},
    {"encrypt.iter-time", "int", "LUKS PBKDF2 time in milliseconds (default 2000)"},
    {"encrypt.key-secret", "string",
     "accepted for qemu-img compatibility; the password comes "
     "from --password-file, --password-env or a prompt"},
    {NULL, NULL, NULL},
};

static const char *const qcow2_qemu_info_keys[] = {
    "compat",        "compression-type", "lazy-refcounts", "refcount-bits", "corrupt", "data-file",
    "data-file-raw", "extended-l2",      "encrypt",        "bitmaps",       NULL};

const struct img_driver img_driver_qcow2 = {
    .qemu_info_keys = qcow2_qemu_info_keys,
    .abi = IMG_DRIVER_ABI,
    .name = "qcow2",
    .desc = "QEMU copy-on-write v2/v3",
    .priv_size = sizeof(struct qcow2),
    .caps = IMG_CAP_BACKING | IMG_CAP_ZERO_INIT | IMG_CAP_SOURCES,
    .create_opts = qcow2_create_opts,
    .probe = qcow2_probe,
    .open = qcow2_open,
    .close = qcow2_close,
    .get_info = qcow2_get_info,
    .read = qcow2_read,
    .block_status = qcow2_block_status,
    .write = qcow2_bm_write,
    .write_zeroes = qcow2_bm_write_zeroes,
    .flush = qcow2_flush,
    .create = qcow2_create,
    .truncate = qcow2_truncate,
    .check = qcow2_check,
    .layout = qcow2_layout,
    .snap_list = qcow2_snap_list,
    .snap_create = qcow2_snap_create,
    .snap_apply = qcow2_snap_apply,
    .snap_delete = qcow2_snap_delete,
    .snap_load = qcow2_snap_load,
    .set_backing = qcow2_set_backing,
    .make_empty = qcow2_make_empty,
    .amend = qcow2_amend,
    .unlock = qcow2_crypt_ready,
    .compress_cluster = qcow2_compress_cluster,
    .write_compressed_z = qcow2_bm_write_compressed_z,
    .bitmap_list = qcow2_bitmap_list,
    .head_size = qcow2_head_size,
};

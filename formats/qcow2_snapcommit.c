/* SPDX-License-Identifier: GPL-2.0-or-later */
/* qcow2_snapcommit.c: switch a qcow2 image to a new metadata state with one header write, so
 * that internal snapshot create, apply and delete survive a crash at any moment.
 *
 * In-place updates cannot do it: refcounts and the COPIED bits of L1/L2 entries live in
 * different clusters, and qemu-img check calls any disagreement between them corruption. So
 * the whole new state is planned in memory: refcounts counted from scratch the way check
 * counts them (qcow2_check.c), L2 tables whose COPIED bits change copied to fresh clusters
 * (every L1 that named the old copy names the new one), L1 tables and the snapshot table that
 * change written fresh, and a complete new refcount table and blocks. Fresh means unused by
 * the current state (on-disk refcount 0) and by the new one. Everything is synced before the
 * header's bytes 24..71 (size, L1, refcount table, snapshot table) switch in one write; what
 * only the old state used ends with refcount 0, neither leaked nor referenced.
 * Memory: one counter per cluster of the file (not of the virtual disk).
 * Talks to: qcow2_check.c (counting), qcow2_alloc.c (on-disk refcounts, host writes),
 * qcow2.c (L1 loading, caches, header writes); called by qcow2_snapshot.c.
 */
#include "formats/qcow2.h"

#include "core/base/io.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define ULL(x) ((unsigned long long)(x))

struct plan {
    struct img *img;
    struct qcow2 *s;
    uint64_t *refs, nb; /* new refcount of every cluster */
    uint64_t cursor;    /* first cluster that may be fresh */
    struct reloc {
        uint64_t from, to;
    } * rel; /* L2 tables moved (then sorted by from) */
    size_t nrel;
    uint8_t *buf; /* one cluster */
};

static int plan_grow(struct plan *p, uint64_t k)
{
    if (k < p->nb)
        return 0;
    uint64_t n = k + 1 + (k >> 3);
    uint64_t *r = realloc(p->refs, n * sizeof *r);
    if (!r)
        return img_error(p->img, -ENOMEM, "out of memory for refcounts");
    memset(r + p->nb, 0, (n - p->nb) * sizeof *r);
    p->refs = r;
    p->nb = n;
    return 0;
}

/* Count one more reference to each cluster of [off, off+len). */
static int plan_inc(struct plan *p, uint64_t off, uint64_t len)
{
    uint64_t cb = p->s->cluster_bits;
    for (uint64_t k = off >> cb; len && k <= (off + len - 1) >> cb; k++) {
        int r = plan_grow(p, k);
        if (r < 0)
            return r;
        p->refs[k]++;
    }
    return 0;
}

/* Unused by the current state (refcount 0 on disk) and by the new one so far? */
static int plan_fresh(struct plan *p, uint64_t c, bool *fresh)
{
    uint64_t rc;
    int r = qcow2_get_refcount(p->img, c, &rc);
    *fresh = r == 0 && rc == 0 && (c >= p->nb || p->refs[c] == 0);
    return r;
}

/* n contiguous fresh clusters, marked used once (*c the first). The cursor moves to the first
 * fresh cluster left, so that many allocations scan the file once, not once each. */
static int plan_alloc(struct plan *p, uint64_t n, uint64_t *c)
{
    uint64_t k = p->cursor, run = 0, first = UINT64_MAX;
    while (run < n) {
        bool fresh;
        if (k >= (QCOW2_MAX_HOST_OFF >> p->s->cluster_bits))
            return img_error(p->img, -ENOSPC, "host offsets exhausted");
        int r = plan_fresh(p, k, &fresh);
        if (r < 0)
            return r;
        run = fresh ? run + 1 : 0;
        if (fresh && first == UINT64_MAX)
            first = k;
        k++;
    }
    *c = k - n;
    p->cursor = first < *c ? first : k;
    return plan_inc(p, *c << p->s->cluster_bits, n << p->s->cluster_bits);
}

/* Write len bytes of buf (zero-padded to whole clusters) to fresh clusters; *off 0 if len 0. */
static int plan_write(struct plan *p, const uint8_t *buf, uint64_t len, uint64_t *off)
{
    uint64_t cs = p->s->cluster_size, nc = u64_div_round_up(len, cs), c;
    *off = 0;
    if (!len)
        return 0;
    uint8_t *b = calloc(nc, cs);
    if (!b)
        return img_error(p->img, -ENOMEM, "out of memory");
    memcpy(b, buf, len);
    int r = plan_alloc(p, nc, &c);
    if (r == 0)
        r = qcow2_host_write(p->img, p->img->src, b, nc * cs, c * cs);
    free(b);
    *off = c * cs;
    return r;
}

static int rel_cmp(const void *a, const void *b)
{
    const struct reloc *x = a, *y = b;
    return x->from < y->from ? -1 : x->from > y->from;
}

/* Where the L2 table at o lives in the new state (p->rel sorted). */
static uint64_t rel_find(const struct plan *p, uint64_t o)
{
    struct reloc key = {o, 0}, *f = bsearch(&key, p->rel, p->nrel, sizeof key, rel_cmp);
    return f ? f->to : o;
}

/* The active L2 table at o with COPIED exactly where the new refcount is 1: moved to a fresh
 * cluster when that changes a bit. Its references move with it. */
static int settle_l2(struct plan *p, uint64_t o)
{
    struct qcow2 *s = p->s;
    bool df = s->data_src != NULL, changed = false;
    int r = src_pread(p->img->src, p->buf, s->cluster_size, o);
    if (r < 0)
        return img_error(p->img, r, "reading the L2 table at 0x%llx: %s", ULL(o), strerror(-r));
    for (uint64_t j = 0; j < s->l2_entries; j++) {
        uint8_t *q = p->buf + j * s->l2_entry_size;
        uint64_t e = be64_load(q), host = (e & QCOW2_L2_OFFSET_MASK) >> s->cluster_bits;
        enum qcow2_ctype t = qcow2_entry_type(e, s->extended_l2, df);
        if (t != QCOW2_C_DATA && t != QCOW2_C_ZERO_ALLOC)
            continue;
        bool one = df || (host < p->nb && p->refs[host] == 1);
        uint64_t ne = one ? e | QCOW2_OFLAG_COPIED : e & ~QCOW2_OFLAG_COPIED;
        if (ne != e) {
            be64_store(q, ne);
            changed = true;
        }
    }
    if (!changed)
        return 0;
    uint64_t to;
    uint64_t cnt = p->refs[o >> s->cluster_bits];
    if ((r = plan_write(p, p->buf, s->cluster_size, &to)) < 0)
        return r;
    p->refs[to >> s->cluster_bits] = cnt;
    p->refs[o >> s->cluster_bits] = 0;
    p->rel[p->nrel++] = (struct reloc){o, to};
    return 0;
}

/* l1 (n entries) as written: L2 offsets moved, COPIED where the L2 table's refcount is 1
 * (copied) or nowhere. *changed: differs from l1. */
static void remap_l1(const struct plan *p, const uint64_t *l1, uint64_t n, bool copied,
                     uint64_t *out, bool *changed)
{
    *changed = false;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t o = l1[i] & QCOW2_L1_OFFSET_MASK, v = l1[i];
        if (o) {
            uint64_t to = rel_find(p, o), k = to >> p->s->cluster_bits;
            v = (v & ~(QCOW2_L1_OFFSET_MASK | QCOW2_OFLAG_COPIED)) | to;
            if (copied && k < p->nb && p->refs[k] == 1)
                v |= QCOW2_OFLAG_COPIED;
            if (!copied && to == o)
                v |= l1[i] & QCOW2_OFLAG_COPIED; /* untouched snapshot tables keep theirs */
        }
        *changed |= v != l1[i];
        out[i] = v;
    }
}

/* Write l1 (host order, n entries) to fresh clusters. */
static int write_l1(struct plan *p, const uint64_t *l1, uint64_t n, uint64_t *off)
{
    uint8_t *b = malloc(n ? n * 8 : 1);
    if (!b)
        return img_error(p->img, -ENOMEM, "out of memory for an L1 table");
    for (uint64_t i = 0; i < n; i++)
        be64_store(b + 8 * i, l1[i]);
    int r = plan_write(p, b, n * 8, off);
    free(b);
    return r;
}

/* Snapshot L1 tables: rewritten when one of their L2 tables moved, or for the copy of the
 * active table; else counted where they are. Patches ns->snaps and the table bytes. */
static int settle_snapshots(struct plan *p, struct qcow2_newstate *ns, const uint64_t *active)
{
    int r = 0;
    for (uint32_t i = 0; r == 0 && i < ns->nb; i++) {
        struct qcow2_snapshot *sn = &ns->snaps[i];
        uint64_t *l1 = NULL, *out = malloc(sn->l1_size ? (uint64_t)sn->l1_size * 8 : 8), off;
        bool changed = true;
        if (!out)
            return img_error(p->img, -ENOMEM, "out of memory for an L1 table");
        if ((long)i == ns->copy_of_active) {
            for (uint32_t j = 0; j < sn->l1_size; j++)
                out[j] = active[j] & ~QCOW2_OFLAG_COPIED;
        } else if ((r = qcow2_load_l1(p->img, sn->l1_offset, sn->l1_size, &l1)) == 0) {
            remap_l1(p, l1, sn->l1_size, false, out, &changed);
        }
        if (r == 0 && !changed)
            r = plan_inc(p, sn->l1_offset, (uint64_t)sn->l1_size * 8);
        if (r == 0 && changed && (r = write_l1(p, out, sn->l1_size, &off)) == 0) {
            sn->l1_offset = off;
            be64_store(ns->tbl + ns->tstart[i], off);
            ns->tbl_changed = true;
        }
        free(l1);
        free(out);
    }
    return r;
}

/* A new refcount table and blocks for p->refs, in fresh clusters (which they count too). */
static int plan_refcounts(struct plan *p, uint64_t **rt_out, uint64_t *rt_off, uint64_t *tc_out)
{
    struct qcow2 *s = p->s;
    uint64_t cs = s->cluster_size, E = s->rb_entries, tc = 0, tab = 0, nblk = 0, *blk = NULL;
    int r = 0;
    for (;;) {
        uint64_t top = p->nb;
        while (top && !p->refs[top - 1])
            top--;
        uint64_t nr = u64_div_round_up(top, E), need = u64_div_round_up(nr * 8, cs);
        bool changed = false;
        if (need * cs > QCOW2_MAX_RT_BYTES) {
            r = img_error(p->img, -EFBIG, "the refcount table would exceed 8 MiB");
            break;
        }
        if (need != tc) {
            for (uint64_t k = 0; k < tc; k++)
                p->refs[tab + k] = 0;
            if ((r = plan_alloc(p, need, &tab)) < 0)
                break;
            tc = need;
            changed = true;
        }
        if (nr > nblk) {
            uint64_t *nbk = realloc(blk, nr * sizeof *nbk);
            if (!nbk) {
                r = img_error(p->img, -ENOMEM, "out of memory for refcounts");
                break;
            }
            memset(nbk + nblk, 0, (nr - nblk) * sizeof *nbk);
            blk = nbk;
            nblk = nr;
        }
        for (uint64_t g = 0; r == 0 && g < nr; g++) {
            bool used = false;
            for (uint64_t k = g * E; !used && k < (g + 1) * E && k < p->nb; k++)
                used = p->refs[k] != 0;
            if (used && !blk[g]) {
                r = plan_alloc(p, 1, &blk[g]);
                changed = true;
            }
        }
        if (r < 0 || !changed)
            break;
    }
    uint64_t entries = tc * cs / 8, *rt = r == 0 ? calloc(entries ? entries : 1, 8) : NULL;
    uint8_t *b = r == 0 ? calloc(tc ? tc : 1, cs) : NULL;
    if (r == 0 && (!rt || !b))
        r = img_error(p->img, -ENOMEM, "out of memory for refcounts");
    for (uint64_t g = 0; r == 0 && g < nblk; g++) {
        if (!blk[g])
            continue;
        memset(b, 0, cs);
        for (uint64_t k = g * E; r == 0 && k < (g + 1) * E && k < p->nb; k++) {
            if (p->refs[k] > s->refcount_max)
                r = img_error(p->img, -ERANGE,
                              "cluster %llu would need refcount %llu, "
                              "more than %u-bit entries hold",
                              ULL(k), ULL(p->refs[k]), s->refcount_bits);
            else
                qcow2_rc_set(b, s->refcount_order, k - g * E, p->refs[k]);
        }
        rt[g] = blk[g] * cs;
        if (r == 0)
            r = qcow2_host_write(p->img, p->img->src, b, cs, blk[g] * cs);
    }
    if (r == 0 && tc) {
        memset(b, 0, tc * cs);
        for (uint64_t g = 0; g < entries; g++)
            be64_store(b + 8 * g, rt[g]);
        r = qcow2_host_write(p->img, p->img->src, b, tc * cs, tab * cs);
    }
    free(b);
    free(blk);
    if (r < 0) {
        free(rt);
        return r;
    }
    *rt_out = rt;
    *rt_off = tab * cs;
    *tc_out = tc;
    return 0;
}

static void cache_clear(struct qcow2_cache *c)
{
    for (size_t i = 0; i < c->n; i++) {
        c->e[i].off = 0;
        c->e[i].dirty = false;
    }
}

static int sync_img(struct img *img)
{
    int r = src_flush(img->src);
    return r < 0 ? img_error(img, r, "fsync: %s", strerror(-r)) : 0;
}

int qcow2_commit_state(struct img *img, struct qcow2_newstate *ns)
{
    struct qcow2 *s = qcow2_st(img);
    struct plan p = {.img = img, .s = s, .cursor = 1};
    uint64_t *l1 = NULL, *rt = NULL, l1_off = s->l1_offset, rt_off, tc, snap_off = 0;
    struct qcow2_l1ref *refs = NULL;
    bool changed;
    /* On-disk refcounts (lazy ones too) must be current: they tell what is in use. */
    int r = qcow2_cache_writeback(img, &s->rbc);
    if (r < 0 || (r = sync_img(img)) < 0)
        return r;
    if (!(refs = calloc(ns->nb + 1, sizeof *refs)) ||
        !(l1 = malloc(ns->l1_size ? (uint64_t)ns->l1_size * 8 : 8)) ||
        !(p.rel = malloc((ns->l1_size ? ns->l1_size : 1) * sizeof *p.rel)) ||
        !(p.buf = malloc(s->cluster_size))) {
        r = img_error(img, -ENOMEM, "out of memory");
        goto out;
    }
    refs[0] = (struct qcow2_l1ref){ns->l1, 0, ns->l1_size};
    for (uint32_t i = 0; i < ns->nb; i++)
        refs[i + 1] = (struct qcow2_l1ref){(long)i == ns->copy_of_active ? ns->l1 : NULL,
                                           ns->snaps[i].l1_offset, ns->snaps[i].l1_size};
    if ((r = qcow2_count_refs(img, refs, ns->nb + 1, &p.refs, &p.nb)) < 0)
        goto out;
    /* Active L2 tables first (a table the active L1 names twice moves once), then the L1s. */
    for (uint32_t i = 0; r == 0 && i < ns->l1_size; i++) {
        uint64_t o = ns->l1[i] & QCOW2_L1_OFFSET_MASK;
        if (o && p.refs[o >> s->cluster_bits]) /* 0: moved already */
            r = settle_l2(&p, o);
    }
    if (r < 0)
        goto out;
    qsort(p.rel, p.nrel, sizeof *p.rel, rel_cmp);
    remap_l1(&p, ns->l1, ns->l1_size, true, l1, &changed);
    if (!ns->l1_moved && ns->l1_size == s->l1_size && s->l1_size &&
        memcmp(l1, s->l1, (uint64_t)s->l1_size * 8) == 0)
        r = plan_inc(&p, s->l1_offset, (uint64_t)s->l1_size * 8);
    else
        r = write_l1(&p, l1, ns->l1_size, &l1_off);
    if (r < 0 || (r = settle_snapshots(&p, ns, l1)) < 0)
        goto out;
    if (ns->nb && !ns->tbl_changed)
        r = plan_inc(&p, s->snap_offset, ns->tlen);
    else if (ns->nb)
        r = plan_write(&p, ns->tbl, ns->tlen, &snap_off);
    if (r < 0 || (r = plan_refcounts(&p, &rt, &rt_off, &tc)) < 0 || (r = sync_img(img)) < 0)
        goto out;
    if (ns->nb && !ns->tbl_changed)
        snap_off = s->snap_offset;

    /* The switch: size, crypt_method (as it was), L1, refcount table, snapshot table. */
    uint8_t h[48];
    be64_store(h, ns->size);
    be32_store(h + (QCOW2_H_CRYPT - QCOW2_H_SIZE), s->crypt_method);
    be32_store(h + (QCOW2_H_L1_SIZE - QCOW2_H_SIZE), ns->l1_size);
    be64_store(h + (QCOW2_H_L1_OFF - QCOW2_H_SIZE), l1_off);
    be64_store(h + (QCOW2_H_RT_OFF - QCOW2_H_SIZE), rt_off);
    be32_store(h + (QCOW2_H_RT_CLUSTERS - QCOW2_H_SIZE), (uint32_t)tc);
    be32_store(h + (QCOW2_H_NB_SNAPSHOTS - QCOW2_H_SIZE), ns->nb);
    be64_store(h + (QCOW2_H_SNAP_OFF - QCOW2_H_SIZE), snap_off);
    if ((r = qcow2_write_header_field(img, QCOW2_H_SIZE, h, sizeof h)) < 0)
        goto out;
    /* The header is written: follow it in memory even if the sync fails, since the old
     * refcounts no longer describe what the file may hold. */
    r = sync_img(img);
    ns->switched = true;

    free(s->l1);
    s->l1 = l1;
    l1 = NULL;
    s->l1_size = ns->l1_size;
    s->l1_offset = l1_off;
    s->size = img->size = ns->size;
    free(s->rt);
    s->rt = rt;
    rt = NULL;
    s->rt_offset = rt_off;
    s->rt_clusters = (uint32_t)tc;
    s->rt_entries = tc * s->cluster_size / 8;
    s->nb_snapshots = ns->nb;
    s->snap_offset = snap_off;
    s->snap_size = ns->nb ? ns->tlen : 0;
    cache_clear(&s->l2c);
    cache_clear(&s->rbc);
    s->free_hint = 1;
    s->free_byte = 0;
    s->cbuf_entry = 0;
out:
    free(refs);
    free(l1);
    free(rt);
    free(p.refs);
    free(p.rel);
    free(p.buf);
    return r;
}

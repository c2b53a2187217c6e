/* SPDX-License-Identifier: GPL-2.0-or-later */
/* qcow2_check.c: consistency check, repair and the host layout of qcow2 images.
 *
 * check walks every structure (header, active and snapshot L1/L2 tables, snapshot table,
 * refcount table and blocks, encryption header, bitmaps), counts the references to each host
 * cluster in memory (an array bounded by the file size), and compares them with the on-disk
 * refcounts, counting corruptions, leaks and internal errors the way qemu-img check does and
 * reporting each problem in its wording. Repair drops leaks, fixes wrong refcounts and COPIED
 * flags, rebuilds the whole refcount structure when a referenced cluster has refcount 0, clears
 * the dirty/corrupt bits, and re-checks ("double checking").
 * layout reuses the same walk to label each cluster of the file.
 * Talks to: qcow2.c (state, L1 loading), qcow2_alloc.c (refcount get/update), core/base/io.c.
 */
#include "formats/qcow2.h"

#include "core/base/io.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ULL(x) ((unsigned long long)(x))
#define QCOW2_CHECK_MAX_CLUSTERS (64ull << 20) /* 512 MiB of counters at most */

struct ck {
    struct img *img;
    struct qcow2 *s;
    struct img_check *res;
    unsigned fix;
    uint64_t file_size;
    uint64_t nb;    /* clusters covered by refs/kind */
    uint64_t *refs; /* references counted */
    uint8_t *kind;  /* layout: enum img_region_kind per cluster, or NULL */
    bool rebuild;
    bool stop; /* the caller asked to stop (res->tick); nothing was written yet */
    uint64_t tick_done, tick_total; /* L1 entries walked / to walk, for res->tick */
    uint8_t *tbuf;                  /* one cluster */
};

static int ck_grow(struct ck *c, uint64_t k)
{
    if (k < c->nb)
        return 0;
    uint64_t n = k + 1;
    if (n > QCOW2_CHECK_MAX_CLUSTERS)
        return -EFBIG;
    uint64_t *r = realloc(c->refs, n * sizeof *r);
    if (!r)
        return -ENOMEM;
    memset(r + c->nb, 0, (n - c->nb) * sizeof *r);
    c->refs = r;
    if (c->kind) {
        uint8_t *kd = realloc(c->kind, n);
        if (!kd)
            return -ENOMEM;
        memset(kd + c->nb, 0, n - c->nb);
        c->kind = kd;
    }
    c->nb = n;
    return 0;
}

/* Count one reference to every cluster of [off, off+size). */
static void ck_inc(struct ck *c, uint64_t off, uint64_t size, enum img_region_kind kind)
{
    struct qcow2 *s = c->s;
    uint64_t end;
    if (size == 0)
        return;
    if (u64_add_overflow(off, size, &end) ||
        (end > c->file_size && end - c->file_size >= s->cluster_size)) {
        img_check_report(c->res,
                         "ERROR: counting reference for region exceeding the end of "
                         "the file by one cluster or more: offset 0x%llx size 0x%llx",
                         ULL(off), ULL(size));
        c->res->corruptions++;
        return;
    }
    for (uint64_t k = off >> s->cluster_bits; k <= (end - 1) >> s->cluster_bits; k++) {
        int r = ck_grow(c, k);
        if (r < 0) {
            c->res->check_errors++;
            return;
        }
        if (c->refs[k] >= s->refcount_max) {
            img_check_report(c->res, "ERROR: overflow cluster offset=0x%llx",
                             ULL(k << s->cluster_bits));
            c->res->corruptions++;
            continue;
        }
        c->refs[k]++;
        if (c->kind && !c->kind[k])
            c->kind[k] = (uint8_t)kind;
    }
}

static void ck_l2(struct ck *c, uint64_t l2off, bool frag, uint64_t *next_contig)
{
    struct qcow2 *s = c->s;
    int r = src_pread_zero(c->img->src, c->tbuf, s->cluster_size, l2off);
    if (r < 0) {
        img_check_report(c->res, "ERROR: I/O error in check_refcounts_l2");
        c->res->check_errors++;
        return;
    }
    bool df = s->data_src != NULL;
    for (uint64_t i = 0; i < s->l2_entries; i++) {
        uint64_t e = be64_load(c->tbuf + i * s->l2_entry_size);
        uint64_t bm = s->extended_l2 ? be64_load(c->tbuf + i * s->l2_entry_size + 8) : 0;
        enum qcow2_ctype t = qcow2_entry_type(e, s->extended_l2, df);
        if (t != QCOW2_C_COMPRESSED && (e & QCOW2_L2_STD_RESERVED)) {
            img_check_report(c->res, "ERROR found l2 entry with reserved bits set: %" PRIx64, e);
            c->res->corruptions++;
        }
        switch (t) {
        case QCOW2_C_COMPRESSED: {
            if (e & QCOW2_OFLAG_COPIED) {
                uint64_t co, cl;
                qcow2_cdesc_decode(e, s->cluster_bits, &co, &cl);
                img_check_report(c->res,
                                 "ERROR: coffset=0x%" PRIx64 ": copied flag must never "
                                 "be set for compressed clusters",
                                 co);
                e &= ~QCOW2_OFLAG_COPIED;
                c->res->corruptions++;
            }
            if (df) {
                img_check_report(c->res,
                                 "ERROR compressed cluster %llu with data file, "
                                 "entry=0x%" PRIx64,
                                 ULL(i), e);
                c->res->corruptions++;
                break;
            }
            if (bm) {
                img_check_report(c->res,
                                 "ERROR compressed cluster %llu with non-zero "
                                 "subcluster allocation bitmap, entry=0x%" PRIx64,
                                 ULL(i), e);
                c->res->corruptions++;
                break;
            }
            uint64_t co, cl;
            qcow2_cdesc_decode(e, s->cluster_bits, &co, &cl);
            ck_inc(c, co, cl, IMG_R_COMPRESSED);
            if (frag) {
                c->res->allocated_clusters++;
                c->res->compressed_clusters++;
                c->res->fragmented_clusters++;
            }
            break;
        }
        case QCOW2_C_ZERO_ALLOC:
        case QCOW2_C_DATA: {
            uint64_t off = e & QCOW2_L2_OFFSET_MASK;
            if ((bm >> 32) & bm) {
                c->res->corruptions++;
                img_check_report(c->res,
                                 "ERROR offset=%" PRIx64 ": Allocated cluster has "
                                 "corrupted subcluster allocation bitmap",
                                 off);
            }
            if (off & (s->cluster_size - 1)) {
                bool data =
                    s->extended_l2 ? (bm & QCOW2_BITMAP_ALL_ALLOC) != 0 : !(e & QCOW2_OFLAG_ZERO);
                c->res->corruptions++;
                img_check_report(c->res,
                                 data ? "ERROR offset=%" PRIx64 ": Data cluster is not "
                                        "properly aligned; L2 entry corrupted."
                                      : "ERROR offset=%" PRIx64 ": Preallocated cluster "
                                        "is not properly aligned; L2 entry corrupted.",
                                 off);
            }
            if (frag) {
                c->res->allocated_clusters++;
                if (*next_contig && off != *next_contig)
                    c->res->fragmented_clusters++;
                *next_contig = off + s->cluster_size;
            }
            if (!df)
                ck_inc(c, off, s->cluster_size, IMG_R_DATA);
            break;
        }
        case QCOW2_C_ZERO: break;
        case QCOW2_C_UNALLOC:
            if (bm & QCOW2_BITMAP_ALL_ALLOC) {
                c->res->corruptions++;
                img_check_report(c->res, "ERROR: Unallocated cluster has non-zero subcluster "
                                         "allocation bitmap");
            }
            break;
        }
    }
}

/* self: count the table's own clusters too (not for a table that has no place yet). */
static void ck_l1(struct ck *c, uint64_t l1off, uint32_t l1n, const uint64_t *mem, bool active,
                  bool self)
{
    struct qcow2 *s = c->s;
    const uint64_t *l1 = mem;
    uint64_t *own = NULL, next_contig = 0; /* the table read here when mem has none */
    if (self)
        ck_inc(c, l1off, (uint64_t)l1n * 8, active ? IMG_R_L1 : IMG_R_SNAP_L1);
    if (!l1n)
        return;
    if (!l1) {
        uint64_t bytes = (uint64_t)l1n * 8;
        uint8_t *raw = malloc(bytes);
        own = malloc(bytes);
        int r =
            (!raw || !own)
                ? -ENOMEM
                : (l1off + bytes > c->file_size ? -EIO : src_pread(c->img->src, raw, bytes, l1off));
        if (r < 0) {
            img_check_report(c->res, "ERROR: I/O error in check_refcounts_l1");
            c->res->check_errors++;
            free(raw);
            free(own);
            return;
        }
        for (uint32_t i = 0; i < l1n; i++)
            own[i] = be64_load(raw + 8 * (uint64_t)i);
        free(raw);
        l1 = own;
    }
    uint64_t per_entry = s->cluster_size * s->l2_entries;
    for (uint32_t i = 0; i < l1n && !c->stop; i++) {
        if ((++c->tick_done & 63) == 0 &&
            img_check_tick(c->res, c->tick_done * per_entry, c->tick_total * per_entry))
            c->stop = true;
        if (l1[i] & QCOW2_L1_RESERVED) {
            img_check_report(c->res, "ERROR found L1 entry with reserved bits set: %" PRIx64,
                             l1[i]);
            c->res->corruptions++;
        }
        uint64_t l2 = l1[i] & QCOW2_L1_OFFSET_MASK;
        if (!l2)
            continue;
        ck_inc(c, l2, s->cluster_size, IMG_R_L2);
        if (l2 & (s->cluster_size - 1)) {
            img_check_report(c->res,
                             "ERROR l2_offset=%" PRIx64 ": Table is not cluster "
                             "aligned; L1 entry corrupted",
                             l2);
            c->res->corruptions++;
        }
        next_contig = 0; /* qemu-img counts fragmentation within each L2 table only */
        ck_l2(c, l2, active, &next_contig);
    }
    free(own);
}

static void ck_bitmaps(struct ck *c)
{
    struct qcow2 *s = c->s;
    if (!s->has_bitmaps_ext || !(s->autoclear & QCOW2_AUTOCLEAR_BITMAPS))
        return;
    if (s->bm_bad) { /* qemu-img cannot even open such an image */
        img_check_report(c->res, "ERROR persistent dirty bitmaps: %s", s->bm_bad);
        c->res->corruptions++;
    }
    uint64_t dsz = s->bitmap_dir_size, doff = s->bitmap_dir_off;
    ck_inc(c, doff, dsz, IMG_R_META);
    if (dsz > QCOW2_MAX_BITMAP_DIR_BYTES || doff > c->file_size || dsz > c->file_size - doff)
        return;
    uint8_t *d = malloc(dsz ? dsz : 1);
    if (!d || src_pread(c->img->src, d, dsz, doff) < 0) {
        free(d);
        c->res->check_errors++;
        return;
    }
    for (uint64_t p = 0; p + 24 <= dsz;) {
        uint64_t toff = be64_load(d + p);
        uint32_t tsz = be32_load(d + p + 8);
        uint16_t namelen = be16_load(d + p + 18);
        uint32_t extra = be32_load(d + p + 20);
        ck_inc(c, toff, (uint64_t)tsz * 8, IMG_R_BITMAP);
        if (tsz <= (64u << 20) / 8 && toff <= c->file_size &&
            (uint64_t)tsz * 8 <= c->file_size - toff) {
            uint8_t *t = malloc((uint64_t)tsz * 8 + 1);
            if (t && src_pread(c->img->src, t, (uint64_t)tsz * 8, toff) == 0)
                for (uint32_t j = 0; j < tsz; j++) {
                    uint64_t te = be64_load(t + 8 * (uint64_t)j);
                    uint64_t o = te & QCOW2_L2_OFFSET_MASK;
                    /* Reserved bits, or the all-ones flag beside an offset: corrupt, as
                     * qemu-img counts it, and not followed. */
                    if ((te & 0xff000000000001feull) || (o && (te & 1)) ||
                        (o & (s->cluster_size - 1))) {
                        bool named = p + 24 + (uint64_t)extra + namelen <= dsz;
                        img_check_report(c->res,
                                         "ERROR bitmap table entry %u of '%.*s' is "
                                         "corrupt: %#" PRIx64,
                                         j, named ? (int)namelen : 1,
                                         named ? (const char *)d + p + 24 + extra : "?", te);
                        c->res->corruptions++;
                        continue;
                    }
                    if (o)
                        ck_inc(c, o, s->cluster_size, IMG_R_BITMAP);
                }
            free(t);
        }
        p = u64_align_up(p + 24 + extra + namelen, 8);
    }
    free(d);
}

/* Count every reference; then the refcount blocks themselves. */
static int ck_calculate(struct ck *c)
{
    struct qcow2 *s = c->s;
    ck_inc(c, 0, s->cluster_size, IMG_R_HEADER);
    c->tick_done = 0;
    c->tick_total = s->l1_size;
    for (uint32_t i = 0; i < s->nb_snapshots; i++)
        if (s->snaps[i].l1_size <= QCOW2_MAX_L1_ENTRIES)
            c->tick_total += s->snaps[i].l1_size;
    ck_l1(c, s->l1_offset, s->l1_size, s->l1, true, true);
    if (s->data_src != NULL && s->nb_snapshots) {
        img_check_report(c->res, "ERROR %u snapshots in image with data file", s->nb_snapshots);
        c->res->corruptions++;
    }
    for (uint32_t i = 0; i < s->nb_snapshots; i++) {
        struct qcow2_snapshot *sn = &s->snaps[i];
        if (sn->l1_offset & (s->cluster_size - 1)) {
            img_check_report(c->res,
                             "ERROR snapshot %s (%s) l1_offset=%#" PRIx64 ": L1 table "
                             "is not cluster aligned; snapshot table entry corrupted",
                             sn->id, sn->name, sn->l1_offset);
            c->res->corruptions++;
            continue;
        }
        if (sn->l1_size > QCOW2_MAX_L1_ENTRIES) {
            img_check_report(c->res,
                             "ERROR snapshot %s (%s) l1_size=%#" PRIx32 ": L1 table is "
                             "too large; snapshot table entry corrupted",
                             sn->id, sn->name, sn->l1_size);
            c->res->corruptions++;
            continue;
        }
        ck_l1(c, sn->l1_offset, sn->l1_size, NULL, false, true);
    }
    ck_inc(c, s->snap_offset, s->snap_size, IMG_R_SNAPTABLE);
    ck_inc(c, s->rt_offset, (uint64_t)s->rt_clusters * s->cluster_size, IMG_R_REFTABLE);
    if (s->has_fde)
        ck_inc(c, s->fde_off, s->fde_len, IMG_R_META);
    ck_bitmaps(c);

    uint64_t file_clusters = u64_div_round_up(c->file_size, s->cluster_size);
    for (uint64_t i = 0; i < s->rt_entries; i++) {
        uint64_t off = s->rt[i] & QCOW2_RT_OFFSET_MASK;
        uint64_t cl = off >> s->cluster_bits;
        if (s->rt[i] & ~QCOW2_RT_OFFSET_MASK) {
            img_check_report(c->res, "ERROR refcount table entry %llu has reserved bits set",
                             ULL(i));
            c->res->corruptions++;
            c->rebuild = true;
            continue;
        }
        if (off & (s->cluster_size - 1)) {
            img_check_report(c->res,
                             "ERROR refcount block %llu is not cluster aligned; "
                             "refcount table entry corrupted",
                             ULL(i));
            c->res->corruptions++;
            c->rebuild = true;
            continue;
        }
        if (off && cl >= file_clusters) {
            img_check_report(c->res, "ERROR refcount block %llu is outside image", ULL(i));
            c->res->corruptions++;
            c->rebuild = true;
            continue;
        }
        if (off) {
            ck_inc(c, off, s->cluster_size, IMG_R_REFBLOCK);
            if (cl < c->nb && c->refs[cl] != 1) {
                img_check_report(c->res, "ERROR refcount block %llu refcount=%llu", ULL(i),
                                 ULL(c->refs[cl]));
                c->res->corruptions++;
                c->rebuild = true;
            }
        }
    }
    return 0;
}

/* Compare with the on-disk refcounts; fix what fix allows. Returns the highest used cluster. */
static uint64_t ck_compare(struct ck *c, unsigned fix)
{
    struct qcow2 *s = c->s;
    uint64_t highest = 0;
    for (uint64_t i = 0; i < c->nb; i++) {
        uint64_t rc1, rc2 = c->refs[i];
        int r = qcow2_get_refcount(c->img, i, &rc1);
        if (r < 0) {
            img_check_report(c->res, "Can't get refcount for cluster %llu: %s", ULL(i),
                             strerror(-r));
            c->res->check_errors++;
            continue;
        }
        if (rc1 > 0 || rc2 > 0)
            highest = i;
        if (rc1 == rc2)
            continue;
        uint64_t *fixed = NULL;
        if (rc1 == 0)
            c->rebuild = true;
        else if (rc1 > rc2 && (fix & IMG_FIX_LEAKS))
            fixed = &c->res->leaks_fixed;
        else if (rc1 < rc2 && (fix & IMG_FIX_ERRORS))
            fixed = &c->res->corruptions_fixed;
        img_check_report(c->res, "%s cluster %llu refcount=%llu reference=%llu",
                         fixed       ? "Repairing"
                         : rc1 < rc2 ? "ERROR"
                                     : "Leaked",
                         ULL(i), ULL(rc1), ULL(rc2));
        if (fixed) {
            r = qcow2_update_refcount(c->img, i, (int64_t)(rc2 - rc1));
            if (r == 0) {
                (*fixed)++;
                continue;
            }
        }
        if (rc1 < rc2)
            c->res->corruptions++;
        else
            c->res->leaks++;
    }
    (void)s;
    return highest;
}

static int ck_write_l1(struct ck *c, uint64_t i, uint64_t v)
{
    uint8_t b[8];
    be64_store(b, v);
    int r = src_pwrite(c->img->src, b, 8, c->s->l1_offset + i * 8);
    if (r == 0)
        c->s->l1[i] = v;
    return r;
}

static int ck_oflag_copied(struct ck *c, unsigned fix)
{
    struct qcow2 *s = c->s;
    struct img_check *res = c->res;
    bool repair = (fix & IMG_FIX_ERRORS) ||
                  ((fix & IMG_FIX_LEAKS) && !res->check_errors && !res->corruptions && !res->leaks);
    for (uint32_t i = 0; i < s->l1_size; i++) {
        uint64_t e1 = s->l1[i], l2 = e1 & QCOW2_L1_OFFSET_MASK, rc;
        if (!l2)
            continue;
        if (qcow2_get_refcount(c->img, l2 >> s->cluster_bits, &rc) < 0)
            continue;
        if ((rc == 1) != ((e1 & QCOW2_OFLAG_COPIED) != 0)) {
            res->corruptions++;
            img_check_report(res,
                             "%s OFLAG_COPIED L2 cluster: l1_index=%u l1_entry=%" PRIx64
                             " refcount=%" PRIu64,
                             repair ? "Repairing" : "ERROR", i, e1, rc);
            if (repair &&
                ck_write_l1(c, i, rc == 1 ? e1 | QCOW2_OFLAG_COPIED : e1 & ~QCOW2_OFLAG_COPIED) ==
                    0) {
                res->corruptions--;
                res->corruptions_fixed++;
            }
        }
        if (src_pread_zero(c->img->src, c->tbuf, s->cluster_size, l2) < 0) {
            img_check_report(res, "ERROR: Could not read L2 table");
            res->check_errors++;
            return -EIO;
        }
        bool dirty = false;
        for (uint64_t j = 0; j < s->l2_entries; j++) {
            uint8_t *p = c->tbuf + j * s->l2_entry_size;
            uint64_t e = be64_load(p);
            enum qcow2_ctype t = qcow2_entry_type(e, s->extended_l2, s->data_src != NULL);
            if (t != QCOW2_C_DATA && t != QCOW2_C_ZERO_ALLOC)
                continue;
            if (s->data_src != NULL)
                rc = 1;
            else if (qcow2_get_refcount(c->img, (e & QCOW2_L2_OFFSET_MASK) >> s->cluster_bits,
                                        &rc) < 0)
                continue;
            if ((rc == 1) != ((e & QCOW2_OFLAG_COPIED) != 0)) {
                res->corruptions++;
                img_check_report(
                    res, "%s OFLAG_COPIED data cluster: l2_entry=%" PRIx64 " refcount=%" PRIu64,
                    repair ? "Repairing" : "ERROR", e, rc);
                if (repair) {
                    be64_store(p, rc == 1 ? e | QCOW2_OFLAG_COPIED : e & ~QCOW2_OFLAG_COPIED);
                    res->corruptions--;
                    res->corruptions_fixed++;
                    dirty = true;
                }
            }
        }
        if (dirty) {
            if (src_pwrite(c->img->src, c->tbuf, s->cluster_size, l2) < 0) {
                res->check_errors++;
                return -EIO;
            }
            qcow2_cache_drop(&s->l2c, l2);
        }
    }
    return 0;
}

/* Write a fresh refcount structure for c->refs past the end of everything, then switch the
 * header to it. The old table and blocks become leaks, dropped by the caller's next pass. */
static int ck_rebuild(struct ck *c)
{
    struct img *img = c->img;
    struct qcow2 *s = c->s;
    uint64_t cs = s->cluster_size, E = s->rb_entries;
    uint64_t X = u64_div_round_up(c->file_size, cs);
    if (X < c->nb)
        X = c->nb;
    uint64_t tc = 1, nbk = 0;
    for (int iter = 0; iter < 32; iter++) {
        uint64_t end = X + tc + nbk, cnt = 0, maxr = 0;
        for (uint64_t r = 0; r <= (end - 1) / E; r++) {
            bool used = r >= X / E;
            for (uint64_t k = r * E; !used && k < (r + 1) * E && k < c->nb; k++)
                used = c->refs[k] != 0;
            if (used) {
                cnt++;
                maxr = r;
            }
        }
        uint64_t ntc = u64_div_round_up((maxr + 1) * 8, cs);
        if (cnt == nbk && ntc == tc)
            break;
        nbk = cnt;
        tc = ntc;
    }
    if (tc * cs > QCOW2_MAX_RT_BYTES)
        return img_error(img, -EFBIG, "rebuilt refcount table would exceed 8 MiB");
    uint64_t area_end = X + tc + nbk;
    int r = ck_grow(c, area_end - 1);
    if (r < 0)
        return img_error(img, r, "out of memory rebuilding refcounts");
    for (uint64_t k = X; k < area_end; k++)
        c->refs[k] = 1;
    uint64_t entries = tc * cs / 8;
    uint64_t *nrt = calloc(entries, 8);
    uint8_t *buf = malloc(tc * cs);
    if (!nrt || !buf) {
        free(nrt);
        free(buf);
        return img_error(img, -ENOMEM, "out of memory rebuilding refcounts");
    }
    uint64_t bpos = X + tc;
    for (uint64_t rg = 0; r == 0 && rg < entries && rg * E < c->nb; rg++) {
        bool used = false;
        memset(buf, 0, cs);
        for (uint64_t k = rg * E; k < (rg + 1) * E && k < c->nb; k++)
            if (c->refs[k]) {
                uint64_t v = c->refs[k] > s->refcount_max ? s->refcount_max : c->refs[k];
                qcow2_rc_set(buf, s->refcount_order, k - rg * E, v);
                used = true;
            }
        if (!used)
            continue;
        if (bpos >= area_end) {
            r = -EIO;
            break;
        }
        nrt[rg] = bpos * cs;
        r = src_pwrite(img->src, buf, cs, bpos * cs);
        bpos++;
    }
    if (r == 0) {
        memset(buf, 0, tc * cs);
        for (uint64_t i = 0; i < entries; i++)
            be64_store(buf + 8 * i, nrt[i]);
        r = src_pwrite(img->src, buf, tc * cs, X * cs);
    }
    free(buf);
    if (r == 0)
        r = src_flush(img->src);
    if (r == 0) {
        uint8_t h[12];
        be64_store(h, X * cs);
        be32_store(h + (QCOW2_H_RT_CLUSTERS - QCOW2_H_RT_OFF), (uint32_t)tc);
        r = src_pwrite(img->src, h, 12, QCOW2_H_RT_OFF);
        if (r == 0)
            r = src_flush(img->src);
    }
    if (r < 0) {
        free(nrt);
        return img_error(img, r, "rebuilding the refcount structure: %s", strerror(-r));
    }
    free(s->rt);
    s->rt = nrt;
    s->rt_entries = entries;
    s->rt_offset = X * cs;
    s->rt_clusters = (uint32_t)tc;
    for (size_t i = 0; i < s->rbc.n; i++) {
        s->rbc.e[i].off = 0;
        s->rbc.e[i].dirty = false;
    }
    if (area_end * cs > s->file_size)
        s->file_size = area_end * cs;
    s->free_hint = 1;
    s->free_byte = 0;
    return 0;
}

static void ck_free(struct ck *c)
{
    free(c->refs);
    free(c->kind);
    free(c->tbuf);
    c->refs = NULL;
    c->kind = NULL;
    c->tbuf = NULL;
}

static int ck_init(struct ck *c, struct img *img, struct img_check *res, bool layout)
{
    struct qcow2 *s = qcow2_st(img);
    memset(c, 0, sizeof *c);
    c->img = img;
    c->s = s;
    c->res = res;
    int r = src_size(img->src, &c->file_size);
    if (r < 0)
        return img_error(img, r, "%s", strerror(-r));
    s->file_size = c->file_size > s->file_size ? c->file_size : s->file_size;
    uint64_t n = u64_div_round_up(c->file_size, s->cluster_size);
    if (n > QCOW2_CHECK_MAX_CLUSTERS) {
        res->check_errors++;
        return img_error(img, -EFBIG, "image file too large to check (%llu clusters)", ULL(n));
    }
    c->nb = n ? n : 1;
    c->refs = calloc(c->nb, sizeof *c->refs);
    c->tbuf = malloc(s->cluster_size);
    if (layout)
        c->kind = calloc(c->nb, 1);
    if (!c->refs || !c->tbuf || (layout && !c->kind)) {
        ck_free(c);
        res->check_errors++;
        return img_error(img, -ENOMEM, "out of memory for the check");
    }
    return 0;
}

static int write_incompat(struct img *img)
{
    struct qcow2 *s = qcow2_st(img);
    uint8_t b[8];
    be64_store(b, s->incompat);
    int r = src_pwrite(img->src, b, 8, QCOW2_H_INCOMPAT);
    if (r == 0)
        r = src_flush(img->src);
    return r < 0 ? img_error(img, r, "writing the header: %s", strerror(-r)) : 0;
}

static int check_once(struct img *img, struct img_check *res, unsigned fix)
{
    struct qcow2 *s = qcow2_st(img);
    struct ck c;
    int r = ck_init(&c, img, res, false);
    if (r < 0)
        return r;
    c.fix = fix;
    res->total_clusters = u64_div_round_up(s->size, s->cluster_size);
    res->has_stats = true;
    ck_calculate(&c);
    if (c.stop) {
        ck_free(&c);
        return img_fail(img, -ECANCELED, "check cancelled");
    }
    struct img_check pre = *res;
    uint64_t highest = ck_compare(&c, 0);
    if (c.rebuild && (fix & IMG_FIX_ERRORS)) {
        img_check_report(res, "Rebuilding refcount structure");
        uint64_t old_corr = res->corruptions, old_leaks = res->leaks;
        r = ck_rebuild(&c);
        if (r < 0) {
            res->check_errors++;
            ck_free(&c);
            return r;
        }
        /* Recount against the new structure; the old one is now leaked: drop it. */
        ck_free(&c);
        struct img_check again = *res;
        again.corruptions = again.leaks = 0;
        again.tick = NULL; /* the repair is under way: no stopping half-way */
        if ((r = ck_init(&c, img, &again, false)) < 0)
            return r;
        again.allocated_clusters = again.fragmented_clusters = again.compressed_clusters = 0;
        ck_calculate(&c);
        again.corruptions = again.leaks = 0;
        highest = ck_compare(&c, fix & IMG_FIX_LEAKS);
        if (c.rebuild)
            img_check_report(res, "ERROR rebuilt refcount structure is still broken");
        res->corruptions_fixed += old_corr;
        res->leaks_fixed += old_leaks;
        res->corruptions = again.corruptions;
        res->leaks = again.leaks;
        res->check_errors = again.check_errors;
    } else {
        if (fix) {
            if (c.rebuild) {
                img_check_report(res, "ERROR need to rebuild refcount structures");
                res->check_errors++;
                ck_free(&c);
                return img_error(img, -EIO,
                                 "the refcount structure needs a rebuild "
                                 "(repair with -r all)");
            }
            if (res->leaks || res->corruptions) {
                *res = pre;
                highest = ck_compare(&c, fix);
            }
        }
        ck_oflag_copied(&c, fix);
    }
    res->image_end_offset = (highest + 1) * s->cluster_size;
    ck_free(&c);
    if (fix) {
        r = qcow2_cache_writeback(img, &s->rbc);
        if (r == 0)
            r = src_flush(img->src);
        if (r < 0) {
            res->check_errors++;
            return img_error(img, r, "writing repaired refcounts: %s", strerror(-r));
        }
    }
    if (fix && !res->check_errors && !res->corruptions && s->version >= 3 &&
        (s->incompat & (QCOW2_INCOMPAT_DIRTY | QCOW2_INCOMPAT_CORRUPT))) {
        s->incompat &= ~(QCOW2_INCOMPAT_DIRTY | QCOW2_INCOMPAT_CORRUPT);
        s->lazy_dirty = false;
        if ((r = write_incompat(img)) < 0)
            return r;
    }
    return 0;
}

int qcow2_check(struct img *img, struct img_check *res, unsigned fix)
{
    struct qcow2 *s = qcow2_st(img);
    if (fix && s->writes_started) {
        int r = qcow2_flush(img);
        if (r < 0)
            return r;
    }
    /* Refcount updates made by the repair go straight to disk. */
    bool lazy = s->lazy;
    s->lazy = false;
    int r = check_once(img, res, fix);
    if (r == 0 && fix && (res->corruptions_fixed || res->leaks_fixed)) {
        /* Double check the repaired image, keeping what was fixed. */
        struct img_check again = *res;
        again.corruptions = again.leaks = again.check_errors = 0;
        again.allocated_clusters = again.fragmented_clusters = again.compressed_clusters = 0;
        again.corruptions_fixed = again.leaks_fixed = 0;
        again.report = NULL;
        again.tick = NULL;
        r = check_once(img, &again, 0);
        again.corruptions_fixed = res->corruptions_fixed;
        again.leaks_fixed = res->leaks_fixed;
        again.report = res->report;
        *res = again;
    }
    s->lazy = lazy;
    s->cbuf_entry = 0;
    return r;
}

int qcow2_rebuild_refcounts(struct img *img)
{
    struct img_check res;
    memset(&res, 0, sizeof res);
    return qcow2_check(img, &res, IMG_FIX_LEAKS | IMG_FIX_ERRORS);
}

/* ---- counting a new state (qcow2_snapcommit.c) ---- */

static void count_report(void *ctx, const char *line)
{
    char *first = ctx;
    if (!first[0])
        snprintf(first, 256, "%s", line);
}

int qcow2_count_refs(struct img *img, const struct qcow2_l1ref *l1s, size_t n, uint64_t **refs,
                     uint64_t *nb)
{
    struct qcow2 *s = qcow2_st(img);
    char first[256] = "";
    struct img_check res;
    struct ck c;
    memset(&res, 0, sizeof res);
    res.report = count_report;
    res.report_ctx = first;
    int r = ck_init(&c, img, &res, false);
    if (r < 0)
        return r;
    ck_inc(&c, 0, s->cluster_size, IMG_R_HEADER);
    if (s->has_fde)
        ck_inc(&c, s->fde_off, s->fde_len, IMG_R_META);
    ck_bitmaps(&c);
    for (size_t i = 0; i < n && !res.corruptions && !res.check_errors; i++) {
        if (l1s[i].n > QCOW2_MAX_L1_ENTRIES) {
            ck_free(&c);
            return img_error(img, -EIO, "an L1 table of %u entries is too large", l1s[i].n);
        }
        ck_l1(&c, l1s[i].off, l1s[i].n, l1s[i].mem, i == 0, false);
    }
    if (res.corruptions || res.check_errors) {
        ck_free(&c);
        if (strncmp(first, "ERROR: overflow", 15) == 0)
            return img_error(img, -ERANGE,
                             "a cluster would exceed the largest refcount "
                             "%u-bit entries hold (%s)",
                             s->refcount_bits, first + 16);
        return img_error(img, -EIO,
                         "the image has errors (%s); repair it with `dimg "
                         "check -r all` first",
                         first[0] ? first : "I/O error");
    }
    free(c.tbuf);
    *refs = c.refs;
    *nb = c.nb;
    return 0;
}

/* ---- layout ---- */

int qcow2_layout(struct img *img, struct img_region **out, size_t *n)
{
    struct qcow2 *s = qcow2_st(img);
    struct img_check res;
    struct ck c;
    memset(&res, 0, sizeof res);
    int r = ck_init(&c, img, &res, true);
    if (r < 0)
        return r;
    ck_calculate(&c);
    uint64_t cs = s->cluster_size, fsz = c.file_size;
    uint64_t nfile = u64_div_round_up(fsz, cs);
    size_t cap = 64, cnt = 0;
    struct img_region *v = malloc(cap * sizeof *v);
    if (!v) {
        ck_free(&c);
        return img_error(img, -ENOMEM, "out of memory");
    }
    for (uint64_t k = 0; k < nfile; k++) {
        enum img_region_kind kind = k < c.nb ? (enum img_region_kind)c.kind[k] : IMG_R_FREE;
        if (kind == IMG_R_FREE) {
            uint64_t rc = 0;
            if (qcow2_get_refcount(img, k, &rc) == 0 && rc > 0)
                kind = IMG_R_LEAKED;
        }
        uint64_t off = k * cs, len = (k + 1) * cs > fsz ? fsz - off : cs;
        if (cnt && v[cnt - 1].kind == kind && v[cnt - 1].off + v[cnt - 1].len == off) {
            v[cnt - 1].len += len;
            continue;
        }
        if (cnt == cap) {
            struct img_region *nv = realloc(v, 2 * cap * sizeof *v);
            if (!nv) {
                free(v);
                ck_free(&c);
                return img_error(img, -ENOMEM, "out of memory");
            }
            v = nv;
            cap *= 2;
        }
        v[cnt++] = (struct img_region){off, len, kind};
    }
    ck_free(&c);
    *out = v;
    *n = cnt;
    return 0;
}

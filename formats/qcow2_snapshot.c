/* SPDX-License-Identifier: GPL-2.0-or-later */
/* qcow2_snapshot.c: internal snapshots of qcow2 images: create (copy the active L1, count
 * everything it reaches once more), apply (a snapshot's L1 becomes the active one), delete, and
 * a read-only view of the disk as a snapshot saw it (for `convert -l`).
 *
 * Refcount model (the one qemu-img check verifies): an L2 table counts once per L1 table that
 * names it, a host cluster once per L1 table that reaches it through any L2 table; in the
 * active tables COPIED means "refcount exactly 1", so writes copy anything shared first
 * (qcow2_alloc.c).
 * Crash safety: each operation describes the complete new state (active L1 and size,
 * snapshot list and table) and qcow2_snapcommit.c switches to it with one header write, so a
 * crash anywhere leaves the old or the new state, with COPIED bits always matching the
 * refcounts. Existing snapshot table entries are carried over byte for byte, extra data
 * included.
 * Talks to: qcow2_snapcommit.c (the switch), qcow2_alloc.c (refcounts, prepare_write),
 * qcow2.c (L2 cache, L1 loading), core/base/io.c.
 */
#include "formats/qcow2.h"

#include "core/base/io.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ULL(x) ((unsigned long long)(x))
#define SNAP_NAME_MAX 255 /* struct img_snap holds 255 bytes; qemu's own are far shorter */
#define SNAP_EXTRA 24     /* vm_state_size_large, disk_size, icount: what qemu 7.2 writes */
#define SNAP_HDR 40

/* The snapshot with this ID, else the first with this name (qemu-img's lookup); -1. */
static long snap_find(const struct qcow2 *s, const char *key)
{
    for (uint32_t i = 0; i < s->nb_snapshots; i++)
        if (strcmp(s->snaps[i].id, key) == 0)
            return i;
    for (uint32_t i = 0; i < s->nb_snapshots; i++)
        if (strcmp(s->snaps[i].name, key) == 0)
            return i;
    return -1;
}

static int snap_lookup(struct img *img, const char *key, long *idx)
{
    *idx = snap_find(qcow2_st(img), key);
    if (*idx < 0)
        return img_error(img, -ENOENT, "snapshot '%s' not found", key);
    return 0;
}

/* ---- walking what an L1 table reaches ---- */

/* Every L2 table l1 names and every host cluster those name must be aligned and inside the
 * file, so that a hostile table fails with nothing written and a message naming it. */
static int walk_check(struct img *img, const uint64_t *l1, uint64_t n, const char *what)
{
    struct qcow2 *s = qcow2_st(img);
    uint64_t cs = s->cluster_size, nclusters = u64_div_round_up(s->file_size, cs);
    for (uint64_t i = 0; i < n; i++) {
        uint64_t o = l1[i] & QCOW2_L1_OFFSET_MASK;
        uint8_t *t;
        if (l1[i] & QCOW2_L1_RESERVED)
            return img_error(img, -EIO, "%s: L1 entry %llu has reserved bits set", what, ULL(i));
        if (!o)
            continue;
        int r = qcow2_cache_get(img, &s->l2c, o, "L2 table offset", &t);
        if (r < 0)
            return r;
        for (uint64_t j = 0; j < s->l2_entries; j++) {
            uint64_t e = be64_load(t + j * s->l2_entry_size), host = e & QCOW2_L2_OFFSET_MASK;
            enum qcow2_ctype ty = qcow2_entry_type(e, s->extended_l2, s->data_src != NULL);
            bool bad = false;
            if (ty == QCOW2_C_COMPRESSED) {
                uint64_t off, len;
                qcow2_cdesc_decode(e, s->cluster_bits, &off, &len);
                bad =
                    off >= QCOW2_MAX_HOST_OFF || ((off + len - 1) >> s->cluster_bits) >= nclusters;
            } else if (ty == QCOW2_C_DATA || ty == QCOW2_C_ZERO_ALLOC) {
                bad = (e & QCOW2_OFF_HIGH_BITS) ||
                      (!s->data_src && ((host & (cs - 1)) || host >= s->file_size));
            }
            if (bad)
                return img_error(img, -EIO,
                                 "%s: L2 table at 0x%llx entry %llu "
                                 "(0x%llx) points outside the file or is not aligned",
                                 what, ULL(o), ULL(j), ULL(e));
        }
    }
    return 0;
}

/* ---- the snapshot table ---- */

/* Start of every entry of the stored table (n + 1 values, the last its aligned end). */
static int table_load(struct img *img, uint8_t **raw, uint64_t **start)
{
    struct qcow2 *s = qcow2_st(img);
    uint32_t n = s->nb_snapshots;
    *raw = NULL;
    *start = calloc(n + 1, sizeof **start);
    if (!*start)
        return img_error(img, -ENOMEM, "out of memory for the snapshot table");
    if (n == 0)
        return 0;
    if (!(*raw = malloc(s->snap_size)))
        return img_error(img, -ENOMEM, "out of memory for the snapshot table");
    /* qemu writes the last entry without its padding: it may end before the file does. */
    int r = src_pread_zero(img->src, *raw, s->snap_size, s->snap_offset);
    if (r < 0)
        return img_error(img, r, "reading the snapshot table: %s", strerror(-r));
    uint64_t off = 0;
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *e = *raw + off;
        if (off + SNAP_HDR > s->snap_size)
            return img_error(img, -EIO, "snapshot table changed under us");
        uint64_t len =
            SNAP_HDR + (uint64_t)be32_load(e + 36) + be16_load(e + 12) + be16_load(e + 14);
        (*start)[i] = off;
        off = u64_align_up(off + len, 8);
        if (off > s->snap_size)
            return img_error(img, -EIO, "snapshot table changed under us");
    }
    (*start)[n] = off;
    return 0;
}

/* ---- snapshot L1 tables ---- */

/* Load and vet a snapshot's L1 table; *n gets the entry count the active table will need to
 * show the snapshot's disk (at least its own size). */
static int snap_l1(struct img *img, const struct qcow2_snapshot *sn, uint64_t **l1, uint64_t *n)
{
    struct qcow2 *s = qcow2_st(img);
    unsigned l2b = qcow2_l2_bits(s->cluster_bits, s->extended_l2);
    uint64_t end;
    *l1 = NULL;
    if (sn->l1_size > QCOW2_MAX_L1_ENTRIES || (sn->l1_offset & (s->cluster_size - 1)) ||
        u64_add_overflow(sn->l1_offset, (uint64_t)sn->l1_size * 8, &end) || end > s->file_size ||
        (sn->l1_size && !sn->l1_offset))
        return img_error(img, -EIO,
                         "snapshot '%s': L1 table at 0x%llx (%u entries) "
                         "is not aligned or lies outside the file",
                         sn->name, ULL(sn->l1_offset), sn->l1_size);
    uint64_t need = qcow2_l1_needed(sn->disk_size, s->cluster_bits, l2b);
    if (sn->disk_size > (1ull << 62) || need > QCOW2_MAX_L1_ENTRIES)
        return img_error(img, -EIO, "snapshot '%s': disk size %llu is too large", sn->name,
                         ULL(sn->disk_size));
    *n = need > sn->l1_size ? need : sn->l1_size;
    uint64_t *t = calloc(*n ? *n : 1, 8), *raw = NULL;
    if (!t)
        return img_error(img, -ENOMEM, "out of memory for an L1 table");
    int r = qcow2_load_l1(img, sn->l1_offset, sn->l1_size, &raw);
    if (r == 0 && sn->l1_size)
        memcpy(t, raw, (uint64_t)sn->l1_size * 8);
    free(raw);
    if (r == 0)
        r = walk_check(img, t, *n, sn->name);
    if (r < 0) {
        free(t);
        return r;
    }
    *l1 = t;
    return 0;
}

/* ---- create ---- */

static int check_name(struct img *img, const char *name)
{
    struct qcow2 *s = qcow2_st(img);
    size_t n = strlen(name);
    if (n == 0 || n > SNAP_NAME_MAX)
        return img_error(img, -EINVAL, "snapshot names must be 1 to %d bytes long", SNAP_NAME_MAX);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
            return img_error(img, -EINVAL,
                             "snapshot names may not contain control "
                             "characters");
    /* Lookups try IDs first, so a name equal to an existing ID could never be reached. */
    for (uint32_t i = 0; i < s->nb_snapshots; i++)
        if (strcmp(s->snaps[i].name, name) == 0 || strcmp(s->snaps[i].id, name) == 0)
            return img_error(img, -EEXIST, "a snapshot named '%s' already exists", name);
    return 0;
}

/* One more than the largest numeric ID, as qemu numbers them. */
static int next_id(struct img *img, char *id, size_t cap)
{
    struct qcow2 *s = qcow2_st(img);
    unsigned long long max = 0;
    for (uint32_t i = 0; i < s->nb_snapshots; i++) {
        unsigned long long v = strtoull(s->snaps[i].id, NULL, 10);
        if (v > max)
            max = v;
    }
    if (max >= 0xffffffffffffffffull - 1)
        return img_error(img, -ERANGE, "snapshot IDs are exhausted");
    snprintf(id, cap, "%llu", max + 1);
    return 0;
}

static uint64_t entry_len(size_t idlen, size_t namelen)
{
    return u64_align_up(SNAP_HDR + SNAP_EXTRA + idlen + namelen, 8);
}

static void entry_encode(uint8_t *p, const struct qcow2_snapshot *sn)
{
    size_t idlen = strlen(sn->id), namelen = strlen(sn->name);
    memset(p, 0, entry_len(idlen, namelen));
    be64_store(p, sn->l1_offset);
    be32_store(p + 8, sn->l1_size);
    be16_store(p + 12, (uint16_t)idlen);
    be16_store(p + 14, (uint16_t)namelen);
    be32_store(p + 16, sn->date_sec);
    be32_store(p + 20, sn->date_nsec);
    be64_store(p + 24, sn->vm_clock_nsec);
    be32_store(p + 32, 0); /* the 64-bit VM state size in the extra data rules */
    be32_store(p + 36, SNAP_EXTRA);
    be64_store(p + 40, sn->vm_state_size);
    be64_store(p + 48, sn->disk_size);
    be64_store(p + 56, sn->icount);
    memcpy(p + SNAP_HDR + SNAP_EXTRA, sn->id, idlen);
    memcpy(p + SNAP_HDR + SNAP_EXTRA + idlen, sn->name, namelen);
}

/* Offsets of the entries of a table of nb entries (n + 1 values, the last its end). */
static void table_starts(const uint8_t *tbl, uint32_t nb, uint64_t *start)
{
    uint64_t off = 0;
    for (uint32_t i = 0; i < nb; i++) {
        const uint8_t *e = tbl + off;
        start[i] = off;
        off = u64_align_up(off + SNAP_HDR + (uint64_t)be32_load(e + 36) + be16_load(e + 12) +
                               be16_load(e + 14),
                           8);
    }
    start[nb] = off;
}

int qcow2_snap_create(struct img *img, const char *name)
{
    struct qcow2 *s = qcow2_st(img);
    char id[32];
    int r;
    if (s->data_src != NULL)
        return img_error(img, -ENOTSUP,
                         "internal snapshots are not possible with an "
                         "external data file");
    if (s->nb_snapshots >= QCOW2_MAX_SNAPSHOTS)
        return img_error(img, -EFBIG, "the image already has %u snapshots (the limit)",
                         s->nb_snapshots);
    if ((r = check_name(img, name)) < 0 || (r = next_id(img, id, sizeof id)) < 0)
        return r;
    uint64_t elen = entry_len(strlen(id), strlen(name)), tlen = s->snap_size + elen;
    if (tlen > QCOW2_MAX_SNAPTABLE_BYTES)
        return img_error(img, -EFBIG, "the snapshot table would exceed 64 MiB");
    /* Refcounts that cannot take the new references fail in the commit's count (-ERANGE),
     * before anything is written. */
    if ((r = qcow2_prepare_write(img)) < 0)
        return r;

    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    struct qcow2_snapshot sn = {
        .l1_size = s->l1_size,
        .date_sec = (uint32_t)now.tv_sec,
        .date_nsec = (uint32_t)now.tv_nsec,
        .disk_size = img->size,
        .icount = UINT64_MAX, /* the spec's "icount disabled": no VM ran */
    };
    uint32_t nb = s->nb_snapshots;
    struct qcow2_snapshot *snaps = malloc((nb + 1) * sizeof *snaps);
    uint8_t *raw = NULL, *tbl = NULL;
    uint64_t *start = NULL, *nstart = calloc(nb + 2, sizeof *nstart);
    sn.id = strdup(id);
    sn.name = strdup(name);
    if (!sn.id || !sn.name || !snaps || !nstart) {
        r = img_error(img, -ENOMEM, "out of memory");
        goto out;
    }
    if ((r = table_load(img, &raw, &start)) < 0)
        goto out;
    if (!(tbl = malloc(tlen))) {
        r = img_error(img, -ENOMEM, "out of memory");
        goto out;
    }
    if (s->snap_size)
        memcpy(tbl, raw, s->snap_size);
    entry_encode(tbl + s->snap_size, &sn); /* its L1 offset is filled in by the commit */
    table_starts(tbl, nb + 1, nstart);
    if (nb)
        memcpy(snaps, s->snaps, nb * sizeof *snaps);
    snaps[nb] = sn;
    struct qcow2_newstate ns = {
        .size = img->size,
        .l1 = s->l1,
        .l1_size = s->l1_size,
        .snaps = snaps,
        .nb = nb + 1,
        .copy_of_active = nb,
        .tbl = tbl,
        .tlen = tlen,
        .tstart = nstart,
        .tbl_changed = true,
    };
    r = qcow2_commit_state(img, &ns);
    if (!ns.switched)
        goto out;
    free(s->snaps);
    s->snaps = snaps;
    snaps = NULL;
    sn.id = sn.name = NULL;
    if (r == 0)
        r = qcow2_flush(img);
out:
    free(snaps);
    free(sn.id);
    free(sn.name);
    free(raw);
    free(start);
    free(nstart);
    free(tbl);
    return r;
}

/* ---- apply ---- */

int qcow2_snap_apply(struct img *img, const char *key)
{
    struct qcow2 *s = qcow2_st(img);
    long idx;
    uint64_t *l1 = NULL, n, *start = NULL;
    uint8_t *raw = NULL;
    struct qcow2_snapshot *snaps = NULL;
    int r;
    if ((r = snap_lookup(img, key, &idx)) < 0 ||
        (r = qcow2_bitmaps_guard(img, "apply a snapshot")) < 0 ||
        (r = qcow2_prepare_write(img)) < 0 || (r = snap_l1(img, &s->snaps[idx], &l1, &n)) < 0)
        return r;
    if (s->nbm && s->snaps[idx].disk_size != img->size) {
        free(l1);
        return img_error(img, -ENOTSUP,
                         "refusing to apply snapshot '%s': its disk "
                         "size differs and the persistent dirty bitmap '%s' cannot follow it",
                         s->snaps[idx].name, s->bm[0].name);
    }
    if ((r = table_load(img, &raw, &start)) < 0)
        goto out;
    if (!(snaps = malloc(s->nb_snapshots * sizeof *snaps))) {
        r = img_error(img, -ENOMEM, "out of memory");
        goto out;
    }
    memcpy(snaps, s->snaps, s->nb_snapshots * sizeof *snaps);
    /* The snapshot's L1 (grown to its disk size) becomes the active one, in fresh clusters. */
    struct qcow2_newstate ns = {
        .size = s->snaps[idx].disk_size,
        .l1 = l1,
        .l1_size = (uint32_t)n,
        .l1_moved = true,
        .snaps = snaps,
        .nb = s->nb_snapshots,
        .copy_of_active = -1,
        .tbl = raw,
        .tlen = s->snap_size,
        .tstart = start,
    };
    r = qcow2_commit_state(img, &ns);
    if (!ns.switched)
        goto out;
    free(s->snaps);
    s->snaps = snaps; /* L1 offsets of snapshots may have moved */
    snaps = NULL;
    if (r == 0)
        r = qcow2_flush(img);
out:
    free(snaps);
    free(l1);
    free(raw);
    free(start);
    return r;
}

/* ---- delete ---- */

int qcow2_snap_delete(struct img *img, const char *key)
{
    struct qcow2 *s = qcow2_st(img);
    long idx;
    uint64_t *l1 = NULL, n, *start = NULL, *nstart = NULL;
    uint8_t *raw = NULL, *tbl = NULL;
    struct qcow2_snapshot *snaps = NULL;
    int r;
    if ((r = snap_lookup(img, key, &idx)) < 0 || (r = qcow2_prepare_write(img)) < 0 ||
        (r = snap_l1(img, &s->snaps[idx], &l1, &n)) < 0)
        return r;
    struct qcow2_snapshot sn = s->snaps[idx];
    uint32_t nb = s->nb_snapshots;
    if ((r = table_load(img, &raw, &start)) < 0)
        goto out;
    uint64_t a = start[idx], b = start[idx + 1], tlen = s->snap_size - (b - a);
    if (!(tbl = malloc(tlen ? tlen : 1)) || !(nstart = calloc(nb, sizeof *nstart)) ||
        !(snaps = malloc(nb * sizeof *snaps))) {
        r = img_error(img, -ENOMEM, "out of memory");
        goto out;
    }
    memcpy(tbl, raw, a);
    memcpy(tbl + a, raw + b, s->snap_size - b);
    table_starts(tbl, nb - 1, nstart);
    memcpy(snaps, s->snaps, idx * sizeof *snaps);
    memcpy(snaps + idx, s->snaps + idx + 1, (nb - 1 - idx) * sizeof *snaps);
    /* Everything only the deleted snapshot reached ends with refcount 0. */
    uint64_t *act = malloc(s->l1_size ? (uint64_t)s->l1_size * 8 : 8);
    if (!act) {
        r = img_error(img, -ENOMEM, "out of memory");
        goto out;
    }
    if (s->l1_size)
        memcpy(act, s->l1, (uint64_t)s->l1_size * 8);
    struct qcow2_newstate ns = {
        .size = img->size,
        .l1 = act,
        .l1_size = s->l1_size,
        .snaps = snaps,
        .nb = nb - 1,
        .copy_of_active = -1,
        .tbl = tbl,
        .tlen = tlen,
        .tstart = nstart,
        .tbl_changed = true,
    };
    r = qcow2_commit_state(img, &ns);
    free(act);
    if (!ns.switched)
        goto out;
    free(s->snaps);
    s->snaps = snaps;
    snaps = NULL;
    free(sn.id);
    free(sn.name);
    if (r == 0)
        r = qcow2_flush(img);
out:
    free(snaps);
    free(l1);
    free(raw);
    free(start);
    free(nstart);
    free(tbl);
    return r;
}

/* ---- read-only view ---- */

/* Show the disk as the snapshot saw it: its L1 table and size replace the active ones in
 * memory only. Read-only handles only, since nothing here is meant to reach the file. */
int qcow2_snap_load(struct img *img, const char *key)
{
    struct qcow2 *s = qcow2_st(img);
    long idx;
    uint64_t *l1, n;
    int r;
    if (img->flags & IMG_OPEN_RW)
        return img_error(img, -EINVAL,
                         "a snapshot can only be viewed on a read-only "
                         "handle");
    if ((r = snap_lookup(img, key, &idx)) < 0 || (r = snap_l1(img, &s->snaps[idx], &l1, &n)) < 0)
        return r;
    free(s->l1);
    s->l1 = l1;
    s->l1_size = (uint32_t)n;
    s->size = img->size = s->snaps[idx].disk_size;
    s->cbuf_entry = 0;
    return 0;
}

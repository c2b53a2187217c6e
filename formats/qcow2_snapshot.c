/* qcow2_snapshot.c: internal snapshots of qcow2 images: create (copy the active L1, count
 * everything it reaches once more), apply (a snapshot's L1 becomes the active one), delete, and
 * a read-only view of the disk as a snapshot saw it (for `convert -l`).
 *
 * Refcount model (the one qemu-img check verifies): an L2 table counts once per L1 table that
 * names it, a host cluster once per L1 table that reaches it through any L2 table; in the
 * active tables COPIED means "refcount exactly 1", so writes copy anything shared first
 * (qcow2_alloc.c).
 * Crash-safety order: refcounts go up and are synced before anything new references the
 * clusters; the switch (snapshot table, or active L1 and size) is one header write, synced;
 * only then do the refcounts of what lost its reference go down. A crash leaks clusters at
 * worst. Existing snapshot table entries are carried over byte for byte, extra data included.
 * Talks to: qcow2_alloc.c (refcounts, allocation, prepare_write), qcow2.c (L2 cache, L1
 * loading, header writes), qcow2_resize.c (the size/L1 header write), core/io.c.
 */
#include "formats/qcow2.h"

#include "core/io.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ULL(x) ((unsigned long long)(x))
#define SNAP_NAME_MAX 255  /* struct img_snap holds 255 bytes; qemu's own are far shorter */
#define SNAP_EXTRA 24      /* vm_state_size_large, disk_size, icount: what qemu 7.2 writes */
#define SNAP_HDR 40

/* Refcount blocks (dirty ones too, with lazy refcounts) on disk and synced. */
static int sync_all(struct img *img)
{
    int r = qcow2_cache_writeback(img, &qcow2_st(img)->rbc);
    if (r == 0 && (r = io_sync(img->fd)) < 0)
        r = img_error(img, r, "qcow2: fsync: %s", strerror(-r));
    return r;
}

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
        return img_error(img, -ENOENT, "qcow2: snapshot '%s' not found", key);
    return 0;
}

static uint64_t l1_bytes_clusters(const struct qcow2 *s, uint64_t entries)
{
    return u64_div_round_up(entries * 8, s->cluster_size);
}

/* ---- walking what an L1 table reaches ---- */

/* Can the refcount of cluster c take one more reference? */
static int headroom(struct img *img, uint64_t c)
{
    struct qcow2 *s = qcow2_st(img);
    uint64_t rc;
    int r = qcow2_get_refcount(img, c, &rc);
    if (r == 0 && rc >= s->refcount_max)
        r = img_error(img, -ERANGE, "qcow2: cluster %llu already has the largest refcount "
                      "%u-bit entries hold (%llu); no more snapshots can share it", ULL(c),
                      s->refcount_bits, ULL(rc));
    return r;
}

/* Every L2 table l1 names and every host cluster those name must be aligned and inside the
 * file before any refcount changes, so that a hostile table fails with nothing written; with
 * grow, their refcounts must also have room for one more reference (1-bit refcounts have
 * none). */
static int walk_check(struct img *img, const uint64_t *l1, uint64_t n, const char *what,
                      bool grow)
{
    struct qcow2 *s = qcow2_st(img);
    uint64_t cs = s->cluster_size, nclusters = u64_div_round_up(s->file_size, cs);
    for (uint64_t i = 0; i < n; i++) {
        uint64_t o = l1[i] & QCOW2_L1_OFFSET_MASK;
        uint8_t *t;
        if (l1[i] & QCOW2_L1_RESERVED)
            return img_error(img, -EIO, "qcow2: %s: L1 entry %llu has reserved bits set",
                             what, ULL(i));
        if (!o)
            continue;
        int r = qcow2_cache_get(img, &s->l2c, o, "L2 table offset", &t);
        if (r < 0 || (grow && (r = headroom(img, o >> s->cluster_bits)) < 0))
            return r;
        for (uint64_t j = 0; j < s->l2_entries; j++) {
            uint64_t e = be64_load(t + j * s->l2_entry_size), host = e & QCOW2_L2_OFFSET_MASK;
            enum qcow2_ctype ty = qcow2_entry_type(e, s->extended_l2, s->data_fd >= 0);
            bool bad = false;
            if (ty == QCOW2_C_COMPRESSED) {
                uint64_t off, len;
                qcow2_cdesc_decode(e, s->cluster_bits, &off, &len);
                bad = off >= QCOW2_MAX_HOST_OFF ||
                      ((off + len - 1) >> s->cluster_bits) >= nclusters;
            } else if (ty == QCOW2_C_DATA || ty == QCOW2_C_ZERO_ALLOC) {
                bad = (e & QCOW2_OFF_HIGH_BITS) ||
                      (s->data_fd < 0 && ((host & (cs - 1)) || host >= s->file_size));
            }
            if (bad)
                return img_error(img, -EIO, "qcow2: %s: L2 table at 0x%llx entry %llu "
                                 "(0x%llx) points outside the file or is not aligned", what,
                                 ULL(o), ULL(j), ULL(e));
            if (grow && (ty == QCOW2_C_DATA || ty == QCOW2_C_ZERO_ALLOC) && s->data_fd < 0 &&
                (r = headroom(img, host >> s->cluster_bits)) < 0)
                return r;
            if (grow && ty == QCOW2_C_COMPRESSED) {
                uint64_t off, len;
                qcow2_cdesc_decode(e, s->cluster_bits, &off, &len);
                if ((r = headroom(img, off >> s->cluster_bits)) < 0)
                    return r;
            }
        }
    }
    return 0;
}

/* Add delta to the refcount of every L2 table l1 names and of every host cluster reached
 * through them (once per L1 entry). buf: one cluster of scratch space. */
static int walk_refs(struct img *img, const uint64_t *l1, uint64_t n, int64_t delta,
                     uint8_t *buf)
{
    struct qcow2 *s = qcow2_st(img);
    for (uint64_t i = 0; i < n; i++) {
        uint64_t o = l1[i] & QCOW2_L1_OFFSET_MASK, rc;
        uint8_t *t;
        if (!o)
            continue;
        int r = qcow2_cache_get(img, &s->l2c, o, "L2 table offset", &t);
        if (r < 0)
            return r;
        memcpy(buf, t, s->cluster_size); /* refcount updates may need the cache's slots */
        for (uint64_t j = 0; j < s->l2_entries; j++)
            if ((r = qcow2_entry_refs(img, be64_load(buf + j * s->l2_entry_size), delta)) < 0)
                return r;
        if ((r = qcow2_update_refcount(img, o >> s->cluster_bits, delta)) < 0 ||
            (r = qcow2_get_refcount(img, o >> s->cluster_bits, &rc)) < 0)
            return r;
        if (rc == 0)
            qcow2_cache_drop(&s->l2c, o);
    }
    s->cbuf_entry = 0;
    return 0;
}

/* Make COPIED in the active L1 and its L2 tables say "refcount is 1" again, after snapshots
 * changed what is shared (qemu-img check audits exactly this). Only flag bits change, so
 * rewriting a table a snapshot shares is harmless: COPIED means nothing outside the active
 * tables. */
static int fix_copied(struct img *img)
{
    struct qcow2 *s = qcow2_st(img);
    bool l1_changed = false;
    int r = 0;
    for (uint64_t i = 0; r == 0 && i < s->l1_size; i++) {
        uint64_t o = s->l1[i] & QCOW2_L1_OFFSET_MASK, rc;
        uint8_t *t;
        if (!o)
            continue;
        if ((r = qcow2_get_refcount(img, o >> s->cluster_bits, &rc)) < 0)
            break;
        uint64_t want = rc == 1 ? o | QCOW2_OFLAG_COPIED : o;
        if ((s->l1[i] & (QCOW2_L1_OFFSET_MASK | QCOW2_OFLAG_COPIED)) != want) {
            s->l1[i] = (s->l1[i] & ~QCOW2_OFLAG_COPIED) | (want & QCOW2_OFLAG_COPIED);
            l1_changed = true;
        }
        if ((r = qcow2_cache_get(img, &s->l2c, o, "L2 table offset", &t)) < 0)
            break;
        bool changed = false;
        for (uint64_t j = 0; r == 0 && j < s->l2_entries; j++) {
            uint8_t *p = t + j * s->l2_entry_size;
            uint64_t e = be64_load(p), erc;
            enum qcow2_ctype ty = qcow2_entry_type(e, s->extended_l2, s->data_fd >= 0);
            if ((ty != QCOW2_C_DATA && ty != QCOW2_C_ZERO_ALLOC) || s->data_fd >= 0)
                continue;
            r = qcow2_get_refcount(img, (e & QCOW2_L2_OFFSET_MASK) >> s->cluster_bits, &erc);
            uint64_t ne = erc == 1 ? e | QCOW2_OFLAG_COPIED : e & ~QCOW2_OFLAG_COPIED;
            if (r == 0 && ne != e) {
                be64_store(p, ne);
                changed = true;
            }
        }
        if (r == 0 && changed)
            r = qcow2_host_write(img, img->fd, t, s->cluster_size, o);
    }
    if (r == 0 && l1_changed) {
        uint8_t *b = malloc((uint64_t)s->l1_size * 8);
        if (!b)
            return img_error(img, -ENOMEM, "qcow2: out of memory");
        for (uint64_t i = 0; i < s->l1_size; i++)
            be64_store(b + 8 * i, s->l1[i]);
        r = qcow2_host_write(img, img->fd, b, (uint64_t)s->l1_size * 8, s->l1_offset);
        free(b);
    }
    return r;
}

/* walk_refs with the refcount updates kept in the cache (written by settle_copied), instead
 * of one write each: so that they reach the disk next to the COPIED flags that follow them. */
static int walk_refs_cached(struct img *img, const uint64_t *l1, uint64_t n, int64_t delta,
                            uint8_t *buf)
{
    struct qcow2 *s = qcow2_st(img);
    bool lazy = s->lazy;
    s->lazy = true;
    int r = walk_refs(img, l1, n, delta, buf);
    s->lazy = lazy;
    return r;
}

/* fix_copied from the cached (new) refcounts, then write those refcounts at once: the
 * on-disk refcounts and the COPIED flags disagree (which qemu-img check counts as corruption,
 * though no data is at risk either way) only between the last table write and the refcount
 * blocks' write, back to back, not while anything is computed (with one L2 table; with more,
 * while the later ones are). Closing the window entirely would need the refcount blocks
 * shadowed and switched with the header. */
static int settle_copied(struct img *img)
{
    int r = fix_copied(img);
    return r < 0 ? r : qcow2_cache_writeback(img, &qcow2_st(img)->rbc);
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
        return img_error(img, -ENOMEM, "qcow2: out of memory for the snapshot table");
    if (n == 0)
        return 0;
    if (!(*raw = malloc(s->snap_size)))
        return img_error(img, -ENOMEM, "qcow2: out of memory for the snapshot table");
    /* qemu writes the last entry without its padding: it may end before the file does. */
    int r = io_pread_zero(img->fd, *raw, s->snap_size, s->snap_offset);
    if (r < 0)
        return img_error(img, r, "qcow2: reading the snapshot table: %s", strerror(-r));
    uint64_t off = 0;
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *e = *raw + off;
        if (off + SNAP_HDR > s->snap_size)
            return img_error(img, -EIO, "qcow2: snapshot table changed under us");
        uint64_t len = SNAP_HDR + (uint64_t)be32_load(e + 36) + be16_load(e + 12) +
                       be16_load(e + 14);
        (*start)[i] = off;
        off = u64_align_up(off + len, 8);
        if (off > s->snap_size)
            return img_error(img, -EIO, "qcow2: snapshot table changed under us");
    }
    (*start)[n] = off;
    return 0;
}

/* Write tbl (len bytes, nb entries) to new clusters (*c: the first; 0 when nb is 0). */
static int table_write(struct img *img, const uint8_t *tbl, uint64_t len, uint32_t nb,
                       uint64_t *c_out)
{
    struct qcow2 *s = qcow2_st(img);
    uint64_t cs = s->cluster_size, nc = u64_div_round_up(len, cs), c = 0;
    int r;
    *c_out = 0;
    if (nb) {
        uint8_t *buf = calloc(nc, cs);
        if (!buf)
            return img_error(img, -ENOMEM, "qcow2: out of memory for the snapshot table");
        memcpy(buf, tbl, len);
        r = qcow2_alloc_clusters(img, nc, &c);
        if (r == 0)
            r = qcow2_host_write(img, img->fd, buf, nc * cs, c * cs);
        free(buf);
        if (r < 0)
            return r;
    }
    *c_out = c;
    return 0;
}

/* Sync, switch the header's nb_snapshots and snapshots_offset to the table table_write put at
 * cluster c in one write (the commit point), sync, then free the old table. */
static int table_switch(struct img *img, uint64_t len, uint32_t nb, uint64_t c)
{
    struct qcow2 *s = qcow2_st(img);
    uint64_t cs = s->cluster_size;
    int r;
    if ((r = sync_all(img)) < 0)
        return r;
    uint8_t h[12];
    be32_store(h, nb);
    be64_store(h + 4, c * cs);
    if ((r = qcow2_write_header_field(img, 60, h, sizeof h)) < 0 || (r = sync_all(img)) < 0)
        return r;
    uint64_t old = s->nb_snapshots ? s->snap_offset : 0, old_len = s->snap_size;
    s->nb_snapshots = nb;
    s->snap_offset = c * cs;
    s->snap_size = nb ? len : 0;
    for (uint64_t i = 0; r == 0 && old && i < u64_div_round_up(old_len, cs); i++)
        r = qcow2_update_refcount(img, old / cs + i, -1);
    return r;
}

static int table_commit(struct img *img, const uint8_t *tbl, uint64_t len, uint32_t nb)
{
    uint64_t c;
    int r = table_write(img, tbl, len, nb, &c);
    return r < 0 ? r : table_switch(img, len, nb, c);
}

/* ---- snapshot L1 tables ---- */

/* Load and vet a snapshot's L1 table (grow: for one more reference); *n gets the entry count the active table will need to
 * show the snapshot's disk (at least its own size). */
static int snap_l1(struct img *img, const struct qcow2_snapshot *sn, bool grow, uint64_t **l1,
                   uint64_t *n)
{
    struct qcow2 *s = qcow2_st(img);
    unsigned l2b = qcow2_l2_bits(s->cluster_bits, s->extended_l2);
    uint64_t end;
    *l1 = NULL;
    if (sn->l1_size > QCOW2_MAX_L1_ENTRIES || (sn->l1_offset & (s->cluster_size - 1)) ||
        u64_add_overflow(sn->l1_offset, (uint64_t)sn->l1_size * 8, &end) ||
        end > s->file_size || (sn->l1_size && !sn->l1_offset))
        return img_error(img, -EIO, "qcow2: snapshot '%s': L1 table at 0x%llx (%u entries) "
                         "is not aligned or lies outside the file", sn->name,
                         ULL(sn->l1_offset), sn->l1_size);
    uint64_t need = qcow2_l1_needed(sn->disk_size, s->cluster_bits, l2b);
    if (sn->disk_size > (1ull << 62) || need > QCOW2_MAX_L1_ENTRIES)
        return img_error(img, -EIO, "qcow2: snapshot '%s': disk size %llu is too large",
                         sn->name, ULL(sn->disk_size));
    *n = need > sn->l1_size ? need : sn->l1_size;
    uint64_t *t = calloc(*n ? *n : 1, 8), *raw = NULL;
    if (!t)
        return img_error(img, -ENOMEM, "qcow2: out of memory for an L1 table");
    int r = qcow2_load_l1(img, sn->l1_offset, sn->l1_size, &raw);
    if (r == 0 && sn->l1_size)
        memcpy(t, raw, (uint64_t)sn->l1_size * 8);
    free(raw);
    if (r == 0)
        r = walk_check(img, t, *n, sn->name, grow);
    if (r < 0) {
        free(t);
        return r;
    }
    *l1 = t;
    return 0;
}

/* Write l1 (n entries, COPIED cleared) to fresh clusters; *off 0 when n is 0. */
static int write_new_l1(struct img *img, const uint64_t *l1, uint64_t n, uint64_t *off)
{
    struct qcow2 *s = qcow2_st(img);
    uint64_t cs = s->cluster_size, nc = l1_bytes_clusters(s, n), c;
    *off = 0;
    if (n == 0)
        return 0;
    uint8_t *buf = calloc(nc, cs);
    if (!buf)
        return img_error(img, -ENOMEM, "qcow2: out of memory for an L1 table");
    for (uint64_t i = 0; i < n; i++)
        be64_store(buf + 8 * i, l1[i] & ~QCOW2_OFLAG_COPIED);
    int r = qcow2_alloc_clusters(img, nc, &c);
    if (r == 0)
        r = qcow2_host_write(img, img->fd, buf, nc * cs, c * cs);
    free(buf);
    *off = c * cs;
    return r;
}

static int free_l1_clusters(struct img *img, uint64_t off, uint64_t n)
{
    struct qcow2 *s = qcow2_st(img);
    int r = 0;
    for (uint64_t i = 0; r == 0 && off && i < l1_bytes_clusters(s, n); i++)
        r = qcow2_update_refcount(img, (off >> s->cluster_bits) + i, -1);
    return r;
}

/* ---- create ---- */

static int check_name(struct img *img, const char *name)
{
    struct qcow2 *s = qcow2_st(img);
    size_t n = strlen(name);
    if (n == 0 || n > SNAP_NAME_MAX)
        return img_error(img, -EINVAL, "qcow2: snapshot names must be 1 to %d bytes long",
                         SNAP_NAME_MAX);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
            return img_error(img, -EINVAL, "qcow2: snapshot names may not contain control "
                             "characters");
    /* Lookups try IDs first, so a name equal to an existing ID could never be reached. */
    for (uint32_t i = 0; i < s->nb_snapshots; i++)
        if (strcmp(s->snaps[i].name, name) == 0 || strcmp(s->snaps[i].id, name) == 0)
            return img_error(img, -EEXIST, "qcow2: a snapshot named '%s' already exists",
                             name);
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
        return img_error(img, -ERANGE, "qcow2: snapshot IDs are exhausted");
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

int qcow2_snap_create(struct img *img, const char *name)
{
    struct qcow2 *s = qcow2_st(img);
    char id[32];
    int r;
    if (s->data_fd >= 0)
        return img_error(img, -ENOTSUP, "qcow2: internal snapshots are not possible with an "
                         "external data file");
    if (s->nb_snapshots >= QCOW2_MAX_SNAPSHOTS)
        return img_error(img, -EFBIG, "qcow2: the image already has %u snapshots (the limit)",
                         s->nb_snapshots);
    if ((r = check_name(img, name)) < 0 || (r = next_id(img, id, sizeof id)) < 0)
        return r;
    uint64_t elen = entry_len(strlen(id), strlen(name)), tlen = s->snap_size + elen;
    if (tlen > QCOW2_MAX_SNAPTABLE_BYTES)
        return img_error(img, -EFBIG, "qcow2: the snapshot table would exceed 64 MiB");
    if ((r = qcow2_prepare_write(img)) < 0 ||
        (r = walk_check(img, s->l1, s->l1_size, "active L1 table", true)) < 0)
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
    struct qcow2_snapshot *grown = realloc(s->snaps, (s->nb_snapshots + 1) * sizeof *grown);
    if (!grown)
        return img_error(img, -ENOMEM, "qcow2: out of memory");
    s->snaps = grown;
    uint8_t *raw = NULL, *tbl = NULL, *buf = malloc(s->cluster_size);
    uint64_t *start = NULL;
    sn.id = strdup(id);
    sn.name = strdup(name);
    if (!sn.id || !sn.name || !buf) {
        r = img_error(img, -ENOMEM, "qcow2: out of memory");
        goto out;
    }
    if ((r = table_load(img, &raw, &start)) < 0)
        goto out;
    if (!(tbl = malloc(tlen))) {
        r = img_error(img, -ENOMEM, "qcow2: out of memory");
        goto out;
    }
    /* The copy of the active L1 and the new table (unreferenced until the switch), then one
     * more reference to all the L1 reaches; COPIED flags follow the new refcounts (written
     * together, settle_copied) before the header commits the table. */
    uint64_t tc;
    if ((r = write_new_l1(img, s->l1, s->l1_size, &sn.l1_offset)) < 0)
        goto out;
    if (s->snap_size)
        memcpy(tbl, raw, s->snap_size);
    entry_encode(tbl + s->snap_size, &sn);
    uint32_t nb = s->nb_snapshots;
    if ((r = table_write(img, tbl, tlen, nb + 1, &tc)) < 0 ||
        (r = walk_refs_cached(img, s->l1, s->l1_size, 1, buf)) < 0 ||
        (r = settle_copied(img)) < 0)
        goto out;
    s->snaps[nb] = sn;
    r = table_switch(img, tlen, nb + 1, tc);
    if (s->nb_snapshots != nb)
        sn.id = sn.name = NULL; /* committed (even if freeing the old table failed) */
out:
    free(sn.id);
    free(sn.name);
    free(buf);
    free(raw);
    free(start);
    free(tbl);
    return r;
}

/* ---- apply ---- */

int qcow2_snap_apply(struct img *img, const char *key)
{
    struct qcow2 *s = qcow2_st(img);
    long idx;
    uint64_t *l1 = NULL, n, off;
    int r;
    if ((r = snap_lookup(img, key, &idx)) < 0 || (r = qcow2_prepare_write(img)) < 0 ||
        (r = snap_l1(img, &s->snaps[idx], true, &l1, &n)) < 0)
        return r;
    uint8_t *buf = malloc(s->cluster_size);
    if (!buf) {
        free(l1);
        return img_error(img, -ENOMEM, "qcow2: out of memory");
    }
    /* What the snapshot reaches gains the active L1's reference first; the new active L1 goes
     * to fresh clusters so that the switch is a single header write. */
    if ((r = walk_refs(img, l1, n, 1, buf)) < 0 || (r = write_new_l1(img, l1, n, &off)) < 0 ||
        (r = sync_all(img)) < 0 ||
        (r = qcow2_write_size_l1(img, s->snaps[idx].disk_size, n, off)) < 0)
        goto out;
    uint64_t *old = s->l1, old_n = s->l1_size, old_off = s->l1_offset;
    for (uint64_t i = 0; i < n; i++)
        l1[i] &= ~QCOW2_OFLAG_COPIED; /* as written; fix_copied sets them */
    s->l1 = l1;
    s->l1_size = (uint32_t)n;
    s->l1_offset = off;
    l1 = old;
    r = walk_refs_cached(img, old, old_n, -1, buf);
    if (r == 0)
        r = free_l1_clusters(img, old_off, old_n);
    if (r == 0)
        r = settle_copied(img);
    if (r == 0)
        r = qcow2_flush(img);
out:
    free(l1);
    free(buf);
    return r;
}

/* ---- delete ---- */

int qcow2_snap_delete(struct img *img, const char *key)
{
    struct qcow2 *s = qcow2_st(img);
    long idx;
    uint64_t *l1 = NULL, n, *start = NULL;
    uint8_t *raw = NULL, *tbl = NULL, *buf = NULL;
    int r;
    if ((r = snap_lookup(img, key, &idx)) < 0 || (r = qcow2_prepare_write(img)) < 0 ||
        (r = snap_l1(img, &s->snaps[idx], false, &l1, &n)) < 0)
        return r;
    struct qcow2_snapshot sn = s->snaps[idx];
    if ((r = table_load(img, &raw, &start)) < 0)
        goto out;
    uint64_t a = start[idx], b = start[idx + 1], tlen = s->snap_size - (b - a);
    if (!(buf = malloc(s->cluster_size)) || !(tbl = malloc(tlen ? tlen : 1))) {
        r = img_error(img, -ENOMEM, "qcow2: out of memory");
        goto out;
    }
    memcpy(tbl, raw, a);
    memcpy(tbl + a, raw + b, s->snap_size - b);
    uint32_t nb = s->nb_snapshots;
    r = table_commit(img, tbl, tlen, nb - 1);
    if (s->nb_snapshots == nb)
        goto out;
    memmove(s->snaps + idx, s->snaps + idx + 1, (nb - 1 - idx) * sizeof *s->snaps);
    /* Unreferenced now: its L1 and everything only it reached go. */
    if (r == 0)
        r = walk_refs_cached(img, l1, sn.l1_size, -1, buf);
    if (r == 0)
        r = free_l1_clusters(img, sn.l1_offset, sn.l1_size);
    if (r == 0)
        r = settle_copied(img);
    if (r == 0)
        r = qcow2_flush(img);
    free(sn.id);
    free(sn.name);
out:
    free(l1);
    free(raw);
    free(start);
    free(tbl);
    free(buf);
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
        return img_error(img, -EINVAL, "qcow2: a snapshot can only be viewed on a read-only "
                         "handle");
    if ((r = snap_lookup(img, key, &idx)) < 0 ||
        (r = snap_l1(img, &s->snaps[idx], false, &l1, &n)) < 0)
        return r;
    free(s->l1);
    s->l1 = l1;
    s->l1_size = (uint32_t)n;
    s->size = img->size = s->snaps[idx].disk_size;
    s->cbuf_entry = 0;
    return 0;
}

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* exfat.c: the read-only exFAT reader, written from the published exFAT specification's
 * facts: the main boot sector checked (name, shifts, FAT and cluster heap inside the volume),
 * the allocation bitmap and the label from the root directory, file / stream extension / name
 * entry sets with their checksum, data that is contiguous (NoFatChain) or FAT-chained, bytes
 * past ValidDataLength read as zeros, timestamps with their UTC offsets. Names are compared as
 * stored: the up-case table is not read. A node's number is the volume offset of its file
 * entry, with EXF_INO_CONTIG set when the directory holding it is contiguous (how to find the
 * set's next cluster); the root is EXF_ROOT_INO. Chains and data go through
 * core/fs/fat_util.c. Talks to core/fs/fs.h; registered in fs_drivers.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/bytes.h"
#include "core/fs/fat_util.h"
#include "core/fs/fs.h"

#define EXF_ROOT_INO 1
#define EXF_INO_CONTIG 2
#define EXF_CHUNK 65536 /* bytes of a directory or the bitmap read at a time */
#define EXF_SET_MAX 19  /* a file entry and up to 18 secondaries */
#define EXF_ATTR_RO 0x01
#define EXF_ATTR_DIR 0x10

struct exf_boot {
    unsigned bps_shift, cs_shift, nfats, active;
    uint64_t vol_len, fat_off, fat_len, heap_off;
    uint32_t count, root_cl, serial;
};

struct exf_priv {
    struct exf_boot b;
    struct fatu_tab tab;
    struct fatu_data bitmap;
    char label[64];
};

/* What a file entry set says. */
struct exf_node {
    uint16_t attr;
    struct fatu_data d;
    int64_t mtime, atime, ctime;
};

static int exf_boot_parse(const uint8_t *b, size_t n, uint64_t vol_size, struct exf_boot *p,
                          struct img_err *e)
{
    if (n < 512 || memcmp(b + 3, "EXFAT   ", 8) != 0)
        return err_set(e, -EINVAL, "exfat: no exFAT boot sector");
    if (b[510] != 0x55 || b[511] != 0xaa)
        return err_set(e, -EINVAL, "exfat: no boot signature");
    for (int i = 11; i < 64; i++)
        if (b[i])
            return err_set(e, -EINVAL, "exfat: the BPB area is not zero");
    p->bps_shift = b[108];
    p->cs_shift = b[109];
    p->nfats = b[110];
    if (p->bps_shift < 9 || p->bps_shift > 12 || p->cs_shift > 25 - p->bps_shift)
        return err_set(e, -EINVAL, "exfat: sector shift %u, cluster shift %u", p->bps_shift,
                       p->cs_shift);
    if (p->nfats < 1 || p->nfats > 2 || b[105] != 1)
        return err_set(e, -EINVAL, "exfat: %u FATs, revision %u.%u", p->nfats, b[105], b[104]);
    p->vol_len = le64_load(b + 72);
    p->fat_off = le32_load(b + 80);
    p->fat_len = le32_load(b + 84);
    p->heap_off = le32_load(b + 88);
    p->count = le32_load(b + 92);
    p->root_cl = le32_load(b + 96);
    p->serial = le32_load(b + 100);
    p->active = (le16_load(b + 106) & 1) && p->nfats == 2;
    if (p->vol_len > vol_size >> p->bps_shift)
        return err_set(e, -EINVAL,
                       "exfat: the boot sector says %llu sectors, the volume has "
                       "%llu",
                       (unsigned long long)p->vol_len,
                       (unsigned long long)(vol_size >> p->bps_shift));
    if (p->fat_off < 24 || p->fat_off + p->fat_len * p->nfats > p->heap_off ||
        p->fat_len << p->bps_shift < ((uint64_t)p->count + 2) * 4)
        return err_set(e, -EINVAL,
                       "exfat: FAT at sector %llu of %llu sectors does not fit "
                       "before the cluster heap",
                       (unsigned long long)p->fat_off, (unsigned long long)p->fat_len);
    if (p->count == 0 || p->count > 0xfffffff5 ||
        p->heap_off + ((uint64_t)p->count << p->cs_shift) > p->vol_len)
        return err_set(e, -EINVAL, "exfat: %u clusters from sector %llu do not fit the volume",
                       p->count, (unsigned long long)p->heap_off);
    if (p->root_cl < 2 || p->root_cl - 2 >= p->count)
        return err_set(e, -EINVAL, "exfat: root cluster %u outside %u clusters", p->root_cl,
                       p->count);
    return 0;
}

static bool exf_probe(const struct fs_vol *v, const uint8_t *head, size_t n)
{
    struct exf_boot b;
    struct img_err e = {0};
    return exf_boot_parse(head, n, v->size, &b, &e) == 0;
}

/* A directory's entries in order, through its chain and (a subdirectory) its length. */
struct exf_dit {
    struct fs *fs;
    struct fatu_walk w;
    bool started;
    uint64_t left; /* bytes of the directory not read yet */
    uint64_t coff; /* offset in the current cluster */
    uint8_t *buf;
    size_t len, i;
    uint64_t boff, nent;
    uint8_t hold[32]; /* an entry given back (exf_dit_unget) */
    uint64_t hold_off;
    bool held;
};

static int exf_dit_init(struct fs *fs, struct exf_dit *it, const struct fatu_data *d)
{
    memset(it, 0, sizeof *it);
    it->fs = fs;
    it->left = d->size;
    fatu_walk_start(&it->w, d->first, d->contig);
    it->buf = malloc(EXF_CHUNK);
    if (!it->buf)
        return err_set(&fs->err, -ENOMEM, "exfat: out of memory");
    return 0;
}

static int exf_dit_next(struct exf_dit *it, const uint8_t **e, uint64_t *off)
{
    struct fatu_tab *t = &((struct exf_priv *)it->fs->priv)->tab;
    if (it->held) {
        it->held = false;
        *e = it->hold;
        *off = it->hold_off;
        return 1;
    }
    if (it->i >= it->len) {
        if (it->left == 0)
            return 0;
        if (it->started && it->coff == t->cs) {
            int r = fatu_walk_next(it->fs, t, &it->w, "directory");
            if (r <= 0)
                return r;
            it->coff = 0;
        }
        it->started = true;
        uint64_t n = t->cs - it->coff < EXF_CHUNK ? t->cs - it->coff : EXF_CHUNK;
        n = n < it->left ? n : it->left;
        it->boff = fatu_cl_off(t, it->w.cl) + it->coff;
        int r = fs_vol_read(it->fs->vol, it->boff, it->buf, (size_t)n, &it->fs->err);
        if (r < 0)
            return r;
        it->coff += n;
        it->left -= n;
        it->len = (size_t)n & ~(size_t)31;
        it->i = 0;
        if (it->len == 0)
            return 0;
    }
    if (++it->nent > FS_DIR_ENTRIES_MAX)
        return err_set(&it->fs->err, -EFBIG, "exfat: a directory of more than %d entries",
                       FS_DIR_ENTRIES_MAX);
    *e = it->buf + it->i;
    *off = it->boff + it->i;
    it->i += 32;
    return 1;
}

static void exf_dit_unget(struct exf_dit *it, const uint8_t *e, uint64_t off)
{
    memcpy(it->hold, e, 32);
    it->hold_off = off;
    it->held = true;
}

static int64_t exf_time(uint32_t ts, uint8_t ms10, uint8_t utc)
{
    int64_t t = fatu_dos_time((uint16_t)(ts >> 16), (uint16_t)ts);
    if (t == 0)
        return 0;
    if (ms10 < 200)
        t += ms10 / 100;
    if (utc & 0x80) { /* a signed 7-bit count of 15-minute steps east of UTC */
        int off = (utc & 0x40) ? (int)(utc & 0x7f) - 128 : utc & 0x3f;
        t -= (int64_t)off * 15 * 60;
    }
    return t;
}

static uint16_t exf_set_sum(const uint8_t *s, size_t n)
{
    uint16_t sum = 0;
    for (size_t i = 0; i < n; i++)
        if (i != 2 && i != 3)
            sum = (uint16_t)(((sum & 1) ? 0x8000 : 0) + (sum >> 1) + s[i]);
    return sum;
}

/* Parse a file entry set of nent entries: its checksum, the stream extension, the name
   (into name, when not NULL). */
static int exf_set_parse(struct fs *fs, const uint8_t *s, unsigned nent, struct exf_node *nd,
                         char *name, size_t cap)
{
    struct exf_priv *p = fs->priv;
    if (nent < 3 || s[0] != 0x85 || s[1] != nent - 1 ||
        exf_set_sum(s, nent * 32) != le16_load(s + 2))
        return err_set(&fs->err, -EIO, "exfat: a file entry set with a bad checksum");
    const uint8_t *st = s + 32;
    unsigned nlen = st[3], nnames = (nlen + 14) / 15;
    if (st[0] != 0xc0 || nlen == 0 || 2 + nnames > nent)
        return err_set(&fs->err, -EIO, "exfat: a file entry set without its stream or name");
    uint8_t u[255 * 2];
    for (unsigned k = 0; k < nnames; k++) {
        const uint8_t *ne = s + 64 + 32 * k;
        if (ne[0] != 0xc1)
            return err_set(&fs->err, -EIO, "exfat: a file entry set with a missing name part");
        unsigned m = nlen - 15 * k < 15 ? nlen - 15 * k : 15;
        memcpy(u + 30 * k, ne + 2, m * 2);
    }
    if (name && (fatu_utf16_to_utf8(u, nlen, name, cap) <= 0 || !fatu_name_ok(name)))
        return err_set(&fs->err, -EIO, "exfat: a file name that cannot be listed");
    nd->attr = le16_load(s + 4);
    nd->d.contig = st[1] & 2;
    nd->d.valid = le64_load(st + 8);
    nd->d.first = le32_load(st + 20);
    nd->d.size = le64_load(st + 24);
    if (!(st[1] & 1) && nd->d.size)
        return err_set(&fs->err, -EIO, "exfat: data without an allocation");
    if (nd->d.valid > nd->d.size)
        return err_set(&fs->err, -EIO, "exfat: valid data length %llu past the size %llu",
                       (unsigned long long)nd->d.valid, (unsigned long long)nd->d.size);
    nd->ctime = exf_time(le32_load(s + 8), s[20], s[22]);
    nd->mtime = exf_time(le32_load(s + 12), s[21], s[23]);
    nd->atime = exf_time(le32_load(s + 16), 0, s[24]);
    return fatu_data_check(fs, &p->tab, &nd->d);
}

/* Read the entry set of node ino (cluster by cluster: a set may cross into the next). */
static int exf_node_at(struct fs *fs, uint64_t ino, struct exf_node *nd, char *name, size_t cap)
{
    struct exf_priv *p = fs->priv;
    struct fatu_tab *t = &p->tab;
    uint64_t off = ino & ~(uint64_t)EXF_INO_CONTIG;
    if (off % 32 || off < t->heap || (off - t->heap) / t->cs >= t->count)
        return err_set(&fs->err, -ENOENT, "exfat: no node %llu", (unsigned long long)ino);
    uint8_t s[EXF_SET_MAX * 32];
    struct fatu_walk w;
    fatu_walk_start(&w, (uint32_t)((off - t->heap) / t->cs + 2), ino & EXF_INO_CONTIG);
    size_t have = 0, want = 32;
    while (have < want) {
        uint64_t cend = fatu_cl_off(t, w.cl) + t->cs;
        size_t n = cend - off < want - have ? (size_t)(cend - off) : want - have;
        int r = fs_vol_read(fs->vol, off, s + have, n, &fs->err);
        if (r < 0)
            return r;
        have += n;
        off += n;
        if (have == 32 && want == 32) {
            if (s[0] != 0x85 || s[1] < 2 || s[1] >= EXF_SET_MAX)
                return err_set(&fs->err, -ENOENT, "exfat: no file entry at %llu",
                               (unsigned long long)ino);
            want = 32 * (s[1] + 1u);
        }
        if (have < want && off == cend) {
            if ((r = fatu_walk_next(fs, t, &w, "directory")) <= 0)
                return r < 0 ? r
                             : err_set(&fs->err, -EIO,
                                       "exfat: an entry set past its "
                                       "directory's end");
            off = fatu_cl_off(t, w.cl);
        }
    }
    return exf_set_parse(fs, s, (unsigned)want / 32, nd, name, cap);
}

/* The data of directory ino: the root's chain runs to its end. */
static int exf_dir_data(struct fs *fs, uint64_t ino, struct fatu_data *d)
{
    struct exf_priv *p = fs->priv;
    if (ino == EXF_ROOT_INO) {
        uint64_t n;
        int r = fatu_chain_len(fs, &p->tab, p->b.root_cl, &n);
        *d = (struct fatu_data){p->b.root_cl, false, n * p->tab.cs, n * p->tab.cs};
        return r;
    }
    struct exf_node nd;
    int r = exf_node_at(fs, ino, &nd, NULL, 0);
    if (r < 0)
        return r;
    if (!(nd.attr & EXF_ATTR_DIR))
        return err_set(&fs->err, -ENOTDIR, "exfat: node %llu is not a directory",
                       (unsigned long long)ino);
    *d = nd.d;
    return 0;
}

/* Collect the set whose file entry is e into s; 0 when it is not a whole set. */
static int exf_collect(struct exf_dit *it, const uint8_t *e, uint8_t *s, unsigned *nent)
{
    unsigned sc = e[1];
    memcpy(s, e, 32);
    if (sc < 2 || sc >= EXF_SET_MAX)
        return 0;
    for (unsigned k = 1; k <= sc; k++) {
        uint64_t off;
        int r = exf_dit_next(it, &e, &off);
        if (r <= 0)
            return r;
        if (e[0] < 0xc0) { /* not an in-use secondary entry: the set is broken */
            exf_dit_unget(it, e, off);
            return 0;
        }
        memcpy(s + 32 * k, e, 32);
    }
    *nent = sc + 1;
    return 1;
}

static int exf_readdir(struct fs *fs, uint64_t dir,
                       int (*cb)(void *ctx, const char *name, uint64_t ino), void *ctx)
{
    struct fatu_data d = {0};
    struct exf_dit it;
    int r = exf_dir_data(fs, dir, &d);
    if (r < 0 || (r = exf_dit_init(fs, &it, &d)) < 0)
        return r;
    uint32_t root = ((struct exf_priv *)fs->priv)->b.root_cl, self = d.first;
    uint8_t s[EXF_SET_MAX * 32];
    char name[FS_NAME_MAX];
    const uint8_t *e;
    uint64_t off;
    int ret = 0;
    while (ret == 0 && (r = exf_dit_next(&it, &e, &off)) == 1) {
        if (e[0] == 0)
            break;
        unsigned nent;
        struct exf_node nd;
        uint64_t ino = off | (d.contig ? EXF_INO_CONTIG : 0);
        if (e[0] != 0x85 || (r = exf_collect(&it, e, s, &nent)) == 0)
            continue;
        if (r < 0)
            break;
        if (exf_set_parse(fs, s, nent, &nd, name, sizeof name) < 0)
            continue; /* a broken set is left out, as a checker would */
        if ((nd.attr & EXF_ATTR_DIR) && nd.d.size && (nd.d.first == self || nd.d.first == root))
            ret = err_set(&fs->err, -ELOOP,
                          "exfat: directory entry at %llu points back to its "
                          "own or the root directory (cluster %u)",
                          (unsigned long long)off, nd.d.first);
        else
            ret = cb(ctx, name, ino);
    }
    free(it.buf);
    if (ret == 0 && r >= 0)
        err_clear(&fs->err); /* what a left-out set said */
    return ret ? ret : r < 0 ? r : 0;
}

static int exf_root(struct fs *fs, uint64_t *ino)
{
    (void)fs;
    *ino = EXF_ROOT_INO;
    return 0;
}

static int exf_stat(struct fs *fs, uint64_t ino, struct fs_stat *st)
{
    memset(st, 0, sizeof *st);
    st->ino = ino;
    st->nlink = 1;
    if (ino == EXF_ROOT_INO) {
        st->type = FS_T_DIR;
        st->mode = 0755;
        st->nlink = 2;
        return 0;
    }
    struct exf_node nd;
    int r = exf_node_at(fs, ino, &nd, NULL, 0);
    if (r < 0)
        return r;
    bool dir = nd.attr & EXF_ATTR_DIR;
    st->type = dir ? FS_T_DIR : FS_T_REG;
    st->mode = dir ? 0755 : (nd.attr & EXF_ATTR_RO) ? 0444 : 0644;
    st->size = nd.d.size;
    st->mtime = nd.mtime;
    st->atime = nd.atime;
    st->ctime = nd.ctime;
    return 0;
}

static ssize_t exf_read(struct fs *fs, uint64_t ino, uint64_t off, void *buf, size_t len)
{
    struct exf_node nd;
    int r = ino == EXF_ROOT_INO ? -EISDIR : exf_node_at(fs, ino, &nd, NULL, 0);
    if (r == -EISDIR || (r == 0 && (nd.attr & EXF_ATTR_DIR)))
        return err_set(&fs->err, -EISDIR, "exfat: node %llu is a directory",
                       (unsigned long long)ino);
    if (r < 0)
        return r;
    return fatu_data_read(fs, &((struct exf_priv *)fs->priv)->tab, &nd.d, off, buf, len);
}

static int exf_readlink(struct fs *fs, uint64_t ino, char *buf, size_t len)
{
    (void)buf, (void)len;
    return err_set(&fs->err, -EINVAL, "exfat: node %llu is not a symbolic link",
                   (unsigned long long)ino);
}

static int exf_extents(struct fs *fs, uint64_t ino,
                       int (*cb)(void *ctx, uint64_t file_off, uint64_t vol_off, uint64_t len),
                       void *ctx)
{
    struct exf_node nd;
    int r = ino == EXF_ROOT_INO ? exf_dir_data(fs, ino, &nd.d) : exf_node_at(fs, ino, &nd, NULL, 0);
    if (r < 0)
        return r;
    return fatu_data_extents(fs, &((struct exf_priv *)fs->priv)->tab, &nd.d, cb, ctx);
}

/* Call cb (when not NULL) for each run of clusters the bitmap marks free; count them. */
static int exf_free_scan(struct fs *fs, int (*cb)(void *ctx, uint64_t vol_off, uint64_t len),
                         void *ctx, uint64_t *nfree)
{
    struct exf_priv *p = fs->priv;
    struct fatu_tab *t = &p->tab;
    uint8_t *buf = malloc(EXF_CHUNK);
    if (!buf)
        return err_set(&fs->err, -ENOMEM, "exfat: out of memory");
    uint64_t run = 0, start = 0;
    int r = 0;
    *nfree = 0;
    for (uint64_t i = 0; i <= t->count && r == 0; i++) {
        if (i % (EXF_CHUNK * 8) == 0 && i < t->count) {
            uint64_t need = u64_div_round_up(t->count - i, 8);
            ssize_t n = fatu_data_read(fs, t, &p->bitmap, i / 8, buf, EXF_CHUNK);
            if (n < 0 || (uint64_t)n < (need < EXF_CHUNK ? need : EXF_CHUNK)) {
                r = n < 0 ? (int)n : err_set(&fs->err, -EIO, "exfat: short allocation bitmap");
                break;
            }
        }
        size_t b = (size_t)(i % (EXF_CHUNK * 8));
        if (i < t->count && !(buf[b / 8] & (1u << (b % 8)))) {
            if (run++ == 0)
                start = i + 2;
            ++*nfree;
            continue;
        }
        if (run && cb)
            r = cb(ctx, fatu_cl_off(t, (uint32_t)start), run * t->cs);
        run = 0;
    }
    free(buf);
    return r;
}

static int exf_free_ranges(struct fs *fs, int (*cb)(void *ctx, uint64_t vol_off, uint64_t len),
                           void *ctx)
{
    uint64_t n;
    return exf_free_scan(fs, cb, ctx, &n);
}

static void exf_info(struct fs *fs, struct fs_vol_info *info)
{
    struct exf_priv *p = fs->priv;
    snprintf(info->label, sizeof info->label, "%s", p->label);
    fatu_serial(p->b.serial, info->uuid, sizeof info->uuid);
    uint64_t nfree;
    if (exf_free_scan(fs, NULL, NULL, &nfree) == 0) {
        info->used = (p->b.count - nfree) * p->tab.cs;
        info->used_known = true;
    }
}

/* The root's allocation bitmap (the active one of two) and volume label. */
static int exf_root_scan(struct fs *fs)
{
    struct exf_priv *p = fs->priv;
    struct fatu_data d = {0};
    struct exf_dit it;
    int r = exf_dir_data(fs, EXF_ROOT_INO, &d);
    if (r < 0 || (r = exf_dit_init(fs, &it, &d)) < 0)
        return r;
    bool found = false;
    const uint8_t *e;
    uint64_t off;
    while ((r = exf_dit_next(&it, &e, &off)) == 1 && e[0] != 0) {
        if (e[0] == 0x81 && !found && (e[1] & 1) == p->b.active) {
            p->bitmap = (struct fatu_data){le32_load(e + 20), false, le64_load(e + 24), 0};
            p->bitmap.valid = p->bitmap.size;
            found = true;
        } else if (e[0] == 0x83 && e[1] <= 11) {
            if (fatu_utf16_to_utf8(e + 2, e[1], p->label, sizeof p->label) < 0)
                p->label[0] = 0;
        }
    }
    free(it.buf);
    if (r < 0)
        return r;
    if (!found)
        return err_set(&fs->err, -EIO, "exfat: no allocation bitmap in the root directory");
    if (p->bitmap.size < u64_div_round_up(p->b.count, 8))
        return err_set(&fs->err, -EIO,
                       "exfat: an allocation bitmap of %llu bytes for %u "
                       "clusters",
                       (unsigned long long)p->bitmap.size, p->b.count);
    return fatu_data_check(fs, &p->tab, &p->bitmap);
}

static void exf_close(struct fs *fs)
{
    struct exf_priv *p = fs->priv;
    if (!p)
        return;
    fatu_tab_free(&p->tab);
    free(p);
    fs->priv = NULL;
}

static int exf_open(struct fs *fs)
{
    uint8_t sec[512];
    int r = fs_vol_read(fs->vol, 0, sec, sizeof sec, &fs->err);
    if (r < 0)
        return r;
    struct exf_priv *p = calloc(1, sizeof *p);
    if (!p)
        return err_set(&fs->err, -ENOMEM, "exfat: out of memory");
    snprintf(fs->fs_name, sizeof fs->fs_name, "exfat");
    if ((r = exf_boot_parse(sec, sizeof sec, fs->vol->size, &p->b, &fs->err)) < 0 ||
        (r = fatu_tab_init(fs, &p->tab)) < 0) {
        free(p);
        return r;
    }
    struct fatu_tab *t = &p->tab;
    t->off = (p->b.fat_off + p->b.active * p->b.fat_len) << p->b.bps_shift;
    t->bytes = p->b.fat_len << p->b.bps_shift;
    t->bits = 32;
    t->mask = 0xffffffff;
    t->eoc = 0xfffffff8;
    t->count = p->b.count;
    t->cs = 1u << (p->b.bps_shift + p->b.cs_shift);
    t->heap = p->b.heap_off << p->b.bps_shift;
    fs->priv = p;
    if ((r = exf_root_scan(fs)) < 0)
        exf_close(fs);
    return r;
}

const struct fs_driver fs_driver_exfat = {
    .name = "exfat",
    .probe = exf_probe,
    .open = exf_open,
    .close = exf_close,
    .root = exf_root,
    .stat = exf_stat,
    .readdir = exf_readdir,
    .read = exf_read,
    .readlink = exf_readlink,
    .extents = exf_extents,
    .free_ranges = exf_free_ranges,
    .info = exf_info,
};

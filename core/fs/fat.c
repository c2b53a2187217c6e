/* SPDX-License-Identifier: GPL-2.0-or-later */
/* fat.c: the read-only FAT12/16/32 reader, written from the published FAT specification's
 * facts: the BPB checked field by field, the type from the cluster count, directories with
 * VFAT long names (checksum verified, else the 8.3 name with the NT lowercase bits), chains
 * followed through core/fs/fat_util.c with cycle and length bounds. A node's number is the
 * volume offset of its short directory entry (the root: FAT_ROOT_INO). Talks to core/fs/fs.h;
 * registered in fs_drivers.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/bytes.h"
#include "core/fs/fat_util.h"
#include "core/fs/fs.h"

#define FAT_ROOT_INO 1  /* never an entry's offset: those are multiples of 32 */
#define FAT_CHUNK 65536 /* bytes of a FAT12/16 root directory read at a time */
#define FAT_ATTR_RO 0x01
#define FAT_ATTR_VOLID 0x08
#define FAT_ATTR_DIR 0x10
#define FAT_ATTR_LFN 0x0f
#define FAT_LFN_MAX 20 /* entries of a long name: 255 characters at 13 each */

struct fat_bpb {
    uint32_t bps, spc, nfats, rootent, fatsz, count, root_cl, serial;
    uint64_t totsec;
    uint64_t fat_off, root_off, root_bytes, heap;
    unsigned type;
    bool has_serial;
    uint8_t label[11];
};

struct fat_priv {
    struct fat_bpb b;
    struct fatu_tab tab;
    uint64_t end; /* bytes of the filesystem */
};

/* The upper half of code page 437, the OEM set short names are read in. */
static const uint16_t fat_cp437[128] = {
    0x00c7, 0x00fc, 0x00e9, 0x00e2, 0x00e4, 0x00e0, 0x00e5, 0x00e7, 0x00ea, 0x00eb, 0x00e8, 0x00ef,
    0x00ee, 0x00ec, 0x00c4, 0x00c5, 0x00c9, 0x00e6, 0x00c6, 0x00f4, 0x00f6, 0x00f2, 0x00fb, 0x00f9,
    0x00ff, 0x00d6, 0x00dc, 0x00a2, 0x00a3, 0x00a5, 0x20a7, 0x0192, 0x00e1, 0x00ed, 0x00f3, 0x00fa,
    0x00f1, 0x00d1, 0x00aa, 0x00ba, 0x00bf, 0x2310, 0x00ac, 0x00bd, 0x00bc, 0x00a1, 0x00ab, 0x00bb,
    0x2591, 0x2592, 0x2593, 0x2502, 0x2524, 0x2561, 0x2562, 0x2556, 0x2555, 0x2563, 0x2551, 0x2557,
    0x255d, 0x255c, 0x255b, 0x2510, 0x2514, 0x2534, 0x252c, 0x251c, 0x2500, 0x253c, 0x255e, 0x255f,
    0x255a, 0x2554, 0x2569, 0x2566, 0x2560, 0x2550, 0x256c, 0x2567, 0x2568, 0x2564, 0x2565, 0x2559,
    0x2558, 0x2552, 0x2553, 0x256b, 0x256a, 0x2518, 0x250c, 0x2588, 0x2584, 0x258c, 0x2590, 0x2580,
    0x03b1, 0x00df, 0x0393, 0x03c0, 0x03a3, 0x03c3, 0x00b5, 0x03c4, 0x03a6, 0x0398, 0x03a9, 0x03b4,
    0x221e, 0x03c6, 0x03b5, 0x2229, 0x2261, 0x00b1, 0x2265, 0x2264, 0x2320, 0x2321, 0x00f7, 0x2248,
    0x00b0, 0x2219, 0x00b7, 0x221a, 0x207f, 0x00b2, 0x25a0, 0x00a0};

static bool fat_pow2_in(uint32_t v, uint32_t lo, uint32_t hi)
{
    return v >= lo && v <= hi && (v & (v - 1)) == 0;
}

/* The fields every FAT type shares; the rest in fat_bpb_layout. */
static int fat_bpb_common(const uint8_t *b, size_t n, struct fat_bpb *p, struct img_err *e)
{
    if (n < 512)
        return err_set(e, -EINVAL, "vfat: the volume is shorter than a boot sector");
    if (b[510] != 0x55 || b[511] != 0xaa)
        return err_set(e, -EINVAL, "vfat: no boot signature");
    if (!(b[0] == 0xeb && b[2] == 0x90) && b[0] != 0xe9)
        return err_set(e, -EINVAL, "vfat: no jump instruction at the boot sector's start");
    if (!memcmp(b + 3, "NTFS    ", 8) || !memcmp(b + 3, "EXFAT   ", 8))
        return err_set(e, -EINVAL, "vfat: an NTFS or exFAT boot sector");
    p->bps = le16_load(b + 11);
    p->spc = b[13];
    p->nfats = b[16];
    p->rootent = le16_load(b + 17);
    uint32_t rsvd = le16_load(b + 14), media = b[21];
    if (!fat_pow2_in(p->bps, 512, 4096))
        return err_set(e, -EINVAL, "vfat: bytes per sector %u (512..4096, a power of two)", p->bps);
    if (!fat_pow2_in(p->spc, 1, 128))
        return err_set(e, -EINVAL, "vfat: sectors per cluster %u (1..128, a power of two)", p->spc);
    if (rsvd == 0 || p->nfats < 1 || p->nfats > 2)
        return err_set(e, -EINVAL, "vfat: %u reserved sectors, %u FATs", rsvd, p->nfats);
    if (media != 0xf0 && media < 0xf8)
        return err_set(e, -EINVAL, "vfat: media byte 0x%02x", media);
    p->totsec = le16_load(b + 19) ? le16_load(b + 19) : le32_load(b + 32);
    p->fatsz = le16_load(b + 22) ? le16_load(b + 22) : le32_load(b + 36);
    if (p->totsec == 0 || p->fatsz == 0)
        return err_set(e, -EINVAL, "vfat: zero total sectors or FAT size");
    uint64_t rootsec = u64_div_round_up((uint64_t)p->rootent * 32, p->bps);
    uint64_t meta = rsvd + (uint64_t)p->nfats * p->fatsz + rootsec;
    if (meta >= p->totsec)
        return err_set(e, -EINVAL, "vfat: the FATs and root directory fill the volume");
    uint64_t count = (p->totsec - meta) / p->spc;
    if (count == 0 || count > 0x0ffffff5)
        return err_set(e, -EINVAL, "vfat: %llu clusters", (unsigned long long)count);
    p->count = (uint32_t)count;
    p->type = count < 4085 ? 12 : count < 65525 ? 16 : 32;
    p->fat_off = (uint64_t)rsvd * p->bps;
    p->root_off = (rsvd + (uint64_t)p->nfats * p->fatsz) * p->bps;
    p->root_bytes = (uint64_t)p->rootent * 32;
    p->heap = meta * p->bps;
    return 0;
}

/* The BPB checked field by field; the type is the cluster count's, as the specification
   says, and the fields of that type's layout must agree with it. */
static int fat_bpb_parse(const uint8_t *b, size_t n, uint64_t vol_size, struct fat_bpb *p,
                         struct img_err *e)
{
    memset(p, 0, sizeof *p);
    int r = fat_bpb_common(b, n, p, e);
    if (r < 0)
        return r;
    if (p->totsec * p->bps > vol_size)
        return err_set(e, -EINVAL, "vfat: the boot sector says %llu bytes, the volume has %llu",
                       (unsigned long long)(p->totsec * p->bps), (unsigned long long)vol_size);
    bool big = le16_load(b + 22) == 0;
    if ((p->type == 32) != big || (p->type == 32) != (p->rootent == 0))
        return err_set(e, -EINVAL, "vfat: %u clusters make FAT%u, the BPB's layout disagrees",
                       p->count, p->type);
    if ((uint64_t)p->fatsz * p->bps * 8 / p->type < (uint64_t)p->count + 2)
        return err_set(e, -EINVAL, "vfat: a FAT of %u sectors cannot hold %u clusters", p->fatsz,
                       p->count);
    const uint8_t *ext = b + 36; /* the extended BPB: drive, reserved, signature, id, label */
    if (p->type == 32) {
        uint16_t flags = le16_load(b + 40);
        p->root_cl = le32_load(b + 44);
        if (le16_load(b + 42) != 0)
            return err_set(e, -EINVAL, "vfat: FAT32 version %u", le16_load(b + 42));
        if (p->root_cl < 2 || p->root_cl - 2 >= p->count)
            return err_set(e, -EINVAL, "vfat: root cluster %u outside %u clusters", p->root_cl,
                           p->count);
        if ((flags & 0x80) && (flags & 15) >= p->nfats)
            return err_set(e, -EINVAL, "vfat: active FAT %u of %u", flags & 15, p->nfats);
        if (flags & 0x80) /* mirroring off: one FAT is the live one */
            p->fat_off += (uint64_t)(flags & 15) * p->fatsz * p->bps;
        p->root_bytes = 0;
        ext = b + 64;
    }
    if (ext[2] == 0x29 || ext[2] == 0x28) {
        p->has_serial = true;
        p->serial = le32_load(ext + 3);
    }
    if (ext[2] == 0x29)
        memcpy(p->label, ext + 7, 11);
    return 0;
}

static bool fat_probe(const struct fs_vol *v, const uint8_t *head, size_t n)
{
    struct fat_bpb b;
    struct img_err e = {0};
    return fat_bpb_parse(head, n, v->size, &b, &e) == 0;
}

static int fat_open(struct fs *fs)
{
    uint8_t sec[512];
    int r = fs_vol_read(fs->vol, 0, sec, sizeof sec, &fs->err);
    if (r < 0)
        return r;
    struct fat_priv *p = calloc(1, sizeof *p);
    if (!p)
        return err_set(&fs->err, -ENOMEM, "vfat: out of memory");
    snprintf(fs->fs_name, sizeof fs->fs_name, "vfat");
    if ((r = fat_bpb_parse(sec, sizeof sec, fs->vol->size, &p->b, &fs->err)) < 0 ||
        (r = fatu_tab_init(fs, &p->tab)) < 0) {
        free(p);
        return r;
    }
    struct fatu_tab *t = &p->tab;
    t->off = p->b.fat_off;
    t->bytes = (uint64_t)p->b.fatsz * p->b.bps;
    t->bits = p->b.type;
    t->mask = p->b.type == 12 ? 0xfff : p->b.type == 16 ? 0xffff : 0x0fffffff;
    t->eoc = t->mask - 7;
    t->count = p->b.count;
    t->cs = p->b.bps * p->b.spc;
    t->heap = p->b.heap;
    p->end = p->b.totsec * p->b.bps;
    fs->priv = p;
    return 0;
}

static void fat_close(struct fs *fs)
{
    struct fat_priv *p = fs->priv;
    if (!p)
        return;
    fatu_tab_free(&p->tab);
    free(p);
    fs->priv = NULL;
}

static int fat_root(struct fs *fs, uint64_t *ino)
{
    (void)fs;
    *ino = FAT_ROOT_INO;
    return 0;
}

/* OEM bytes (code page 437) as UTF-8; -1 on a NUL byte or when out does not fit. */
static int fat_oem_to_utf8(const uint8_t *s, size_t n, char *out, size_t cap)
{
    uint8_t u[2 * 12];
    for (size_t i = 0; i < n && i < 12; i++) {
        if (s[i] == 0)
            return -1;
        le16_store(u + 2 * i, s[i] < 0x80 ? s[i] : fat_cp437[s[i] - 0x80]);
    }
    return fatu_utf16_to_utf8(u, n < 12 ? n : 12, out, cap);
}

static size_t fat_trim(const uint8_t *s, size_t n)
{
    while (n > 0 && s[n - 1] == ' ')
        n--;
    return n;
}

/* The 8.3 name of entry e ("NAME.EXT"), lowered where the NT bits say so. */
static int fat_short_name(const uint8_t *e, char *out, size_t cap)
{
    uint8_t s[12];
    memcpy(s, e, 8);
    if (s[0] == 0x05) /* a name starting with 0xe5 is stored as 0x05 */
        s[0] = 0xe5;
    size_t nb = fat_trim(s, 8), ne = fat_trim(e + 8, 3), n = nb;
    for (size_t i = 0; i < nb; i++)
        if ((e[12] & 0x08) && s[i] >= 'A' && s[i] <= 'Z')
            s[i] = (uint8_t)(s[i] + 32);
    if (ne) {
        s[n++] = '.';
        for (size_t i = 0; i < ne; i++) {
            uint8_t c = e[8 + i];
            s[n++] = (e[12] & 0x10) && c >= 'A' && c <= 'Z' ? (uint8_t)(c + 32) : c;
        }
    }
    return nb == 0 ? -1 : fat_oem_to_utf8(s, n, out, cap);
}

static uint8_t fat_checksum(const uint8_t *name)
{
    uint8_t sum = 0;
    for (int i = 0; i < 11; i++)
        sum = (uint8_t)(((sum & 1) << 7) + (sum >> 1) + name[i]);
    return sum;
}

static uint32_t fat_entry_cl(const struct fat_priv *p, const uint8_t *e)
{
    uint32_t hi = p->b.type == 32 ? le16_load(e + 20) : 0;
    return hi << 16 | le16_load(e + 26);
}

/* The short entry at volume offset ino: -ENOENT unless ino is one. */
static int fat_entry_at(struct fs *fs, uint64_t ino, uint8_t e[32])
{
    struct fat_priv *p = fs->priv;
    uint64_t first = p->b.type == 32 ? p->b.heap : p->b.root_off;
    if (ino % 32 || ino < first || ino > p->end - 32)
        return err_set(&fs->err, -ENOENT, "vfat: no node %llu", (unsigned long long)ino);
    int r = fs_vol_read(fs->vol, ino, e, 32, &fs->err);
    if (r < 0)
        return r;
    if (e[0] == 0 || e[0] == 0xe5 || (e[11] & 0x3f) == FAT_ATTR_LFN || (e[11] & FAT_ATTR_VOLID))
        return err_set(&fs->err, -ENOENT, "vfat: no file entry at %llu", (unsigned long long)ino);
    return 0;
}

/* A directory's size: its clusters' bytes (the fixed root's region for cluster 0); 0 when
   its chain is broken (reading it says why). */
static uint64_t fat_dir_size(struct fs *fs, uint32_t cl)
{
    struct fat_priv *p = fs->priv;
    uint64_t n;
    if (cl == 0)
        return p->b.root_bytes;
    if (!fatu_valid(&p->tab, cl) || fatu_chain_len(fs, &p->tab, cl, &n) < 0)
        return 0;
    return n * p->tab.cs;
}

static int fat_stat(struct fs *fs, uint64_t ino, struct fs_stat *st)
{
    struct fat_priv *p = fs->priv;
    memset(st, 0, sizeof *st);
    st->ino = ino;
    st->nlink = 1;
    if (ino == FAT_ROOT_INO) {
        st->type = FS_T_DIR;
        st->mode = 0755;
        st->nlink = 2;
        st->size = fat_dir_size(fs, p->b.type == 32 ? p->b.root_cl : 0);
        return 0;
    }
    uint8_t e[32];
    int r = fat_entry_at(fs, ino, e);
    if (r < 0)
        return r;
    bool dir = e[11] & FAT_ATTR_DIR;
    st->type = dir ? FS_T_DIR : FS_T_REG;
    st->mode = dir ? 0755 : (e[11] & FAT_ATTR_RO) ? 0444 : 0644;
    st->size = dir ? fat_dir_size(fs, fat_entry_cl(p, e)) : le32_load(e + 28);
    st->mtime = fatu_dos_time(le16_load(e + 24), le16_load(e + 22));
    st->ctime = st->mtime;
    st->atime = fatu_dos_time(le16_load(e + 18), 0);
    return 0;
}

/* A directory's entries in order, from the fixed FAT12/16 root or a cluster chain. */
struct fat_dit {
    struct fs *fs;
    bool fixed;
    uint64_t pos, end; /* the fixed root's range */
    struct fatu_walk w;
    bool started;
    uint8_t *buf;
    size_t len, i;
    uint64_t boff;
    uint64_t nent;
};

static int fat_dit_init(struct fs *fs, struct fat_dit *it, uint32_t first)
{
    struct fat_priv *p = fs->priv;
    memset(it, 0, sizeof *it);
    it->fs = fs;
    it->fixed = first == 0;
    it->pos = p->b.root_off;
    it->end = p->b.root_off + p->b.root_bytes;
    fatu_walk_start(&it->w, first, false);
    it->buf = malloc(it->fixed ? FAT_CHUNK : p->tab.cs);
    if (!it->buf)
        return err_set(&fs->err, -ENOMEM, "vfat: out of memory");
    return 0;
}

/* The next entry: 1 with *e and its volume offset, 0 at the end, -errno. */
static int fat_dit_next(struct fat_dit *it, const uint8_t **e, uint64_t *off)
{
    struct fat_priv *p = it->fs->priv;
    if (it->i >= it->len) {
        size_t n = p->tab.cs;
        if (it->fixed) {
            if (it->pos >= it->end)
                return 0;
            n = it->end - it->pos < FAT_CHUNK ? (size_t)(it->end - it->pos) : FAT_CHUNK;
            it->boff = it->pos;
            it->pos += n;
        } else {
            if (it->started) {
                int r = fatu_walk_next(it->fs, &p->tab, &it->w, "directory");
                if (r <= 0)
                    return r;
            }
            it->started = true;
            it->boff = fatu_cl_off(&p->tab, it->w.cl);
        }
        int r = fs_vol_read(it->fs->vol, it->boff, it->buf, n, &it->fs->err);
        if (r < 0)
            return r;
        it->len = n;
        it->i = 0;
    }
    if (++it->nent > FS_DIR_ENTRIES_MAX)
        return err_set(&it->fs->err, -EFBIG, "vfat: a directory of more than %d entries",
                       FS_DIR_ENTRIES_MAX);
    *e = it->buf + it->i;
    *off = it->boff + it->i;
    it->i += 32;
    return 1;
}

/* A long name being collected from its entries, last part first. */
struct fat_lfn {
    uint8_t u[FAT_LFN_MAX * 26]; /* UTF-16LE */
    int total, next;             /* entries; the ordinal expected next (0: complete) */
    uint8_t sum;
    bool on;
};

static void fat_lfn_feed(struct fat_lfn *l, const uint8_t *e)
{
    int ord = e[0] & ~0x40;
    if (e[0] & 0x40) {
        l->on = ord >= 1 && ord <= FAT_LFN_MAX;
        l->total = ord;
        l->next = ord;
        l->sum = e[13];
    } else if (!l->on || ord != l->next || e[13] != l->sum) {
        l->on = false;
    }
    if (!l->on)
        return;
    uint8_t *d = l->u + (ord - 1) * 26;
    memcpy(d, e + 1, 10);
    memcpy(d + 10, e + 14, 12);
    memcpy(d + 22, e + 28, 4);
    l->next = ord - 1;
}

/* The name of short entry e: its long name when complete and its checksum matches. */
static int fat_name(struct fat_lfn *l, const uint8_t *e, char *out, size_t cap)
{
    bool lfn = l->on && l->next == 0 && l->sum == fat_checksum(e);
    l->on = false;
    if (lfn && fatu_utf16_to_utf8(l->u, (size_t)l->total * 13, out, cap) > 0 && fatu_name_ok(out))
        return 0;
    return fat_short_name(e, out, cap) > 0 && fatu_name_ok(out) ? 0 : -1;
}

/* The first cluster of directory ino (0: the fixed root of FAT12/16). */
static int fat_dir_cl(struct fs *fs, uint64_t ino, uint32_t *cl)
{
    struct fat_priv *p = fs->priv;
    if (ino == FAT_ROOT_INO) {
        *cl = p->b.type == 32 ? p->b.root_cl : 0;
        return 0;
    }
    uint8_t e[32];
    int r = fat_entry_at(fs, ino, e);
    if (r < 0)
        return r;
    if (!(e[11] & FAT_ATTR_DIR))
        return err_set(&fs->err, -ENOTDIR, "vfat: node %llu is not a directory",
                       (unsigned long long)ino);
    *cl = fat_entry_cl(p, e);
    if (!fatu_valid(&p->tab, *cl))
        return err_set(&fs->err, -EIO,
                       "vfat: directory at %llu starts at cluster %u, outside "
                       "the volume",
                       (unsigned long long)ino, *cl);
    return 0;
}

static int fat_readdir(struct fs *fs, uint64_t dir,
                       int (*cb)(void *ctx, const char *name, uint64_t ino), void *ctx)
{
    struct fat_priv *p = fs->priv;
    uint32_t self;
    int r = fat_dir_cl(fs, dir, &self);
    struct fat_dit it;
    if (r < 0 || (r = fat_dit_init(fs, &it, self)) < 0)
        return r;
    struct fat_lfn l = {.on = false};
    char name[FS_NAME_MAX];
    const uint8_t *e;
    uint64_t off;
    int ret = 0;
    while (ret == 0 && (r = fat_dit_next(&it, &e, &off)) == 1) {
        if (e[0] == 0)
            break;
        if ((e[11] & 0x3f) == FAT_ATTR_LFN && e[0] != 0xe5) {
            fat_lfn_feed(&l, e);
            continue;
        }
        if (e[0] == 0xe5 || (e[11] & FAT_ATTR_VOLID) || e[0] == '.' ||
            fat_name(&l, e, name, sizeof name) < 0) {
            l.on = false; /* free entries, the label, "." and "..", unreadable names */
            continue;
        }
        uint32_t cl = fat_entry_cl(p, e);
        if ((e[11] & FAT_ATTR_DIR) && (cl == self || cl == 0 || cl == p->b.root_cl))
            ret = err_set(&fs->err, -ELOOP,
                          "vfat: directory entry at %llu points back to its "
                          "own or the root directory (cluster %u)",
                          (unsigned long long)off, cl);
        else
            ret = cb(ctx, name, off);
    }
    free(it.buf);
    return ret ? ret : r < 0 ? r : 0;
}

static int fat_data(struct fs *fs, uint64_t ino, struct fatu_data *d, bool *dir)
{
    uint8_t e[32];
    if (ino == FAT_ROOT_INO) {
        *dir = true;
        return 0;
    }
    int r = fat_entry_at(fs, ino, e);
    if (r < 0)
        return r;
    *dir = e[11] & FAT_ATTR_DIR;
    d->first = fat_entry_cl(fs->priv, e);
    d->contig = false;
    d->size = d->valid = *dir ? 0 : le32_load(e + 28);
    return 0;
}

static ssize_t fat_read(struct fs *fs, uint64_t ino, uint64_t off, void *buf, size_t len)
{
    struct fatu_data d;
    bool dir;
    int r = fat_data(fs, ino, &d, &dir);
    if (r < 0)
        return r;
    if (dir)
        return err_set(&fs->err, -EISDIR, "vfat: node %llu is a directory",
                       (unsigned long long)ino);
    return fatu_data_read(fs, &((struct fat_priv *)fs->priv)->tab, &d, off, buf, len);
}

static int fat_readlink(struct fs *fs, uint64_t ino, char *buf, size_t len)
{
    (void)buf, (void)len;
    return err_set(&fs->err, -EINVAL, "vfat: node %llu is not a symbolic link",
                   (unsigned long long)ino);
}

/* Where ino lies: a file's chain up to its size, a directory's whole chain. */
static int fat_extents(struct fs *fs, uint64_t ino,
                       int (*cb)(void *ctx, uint64_t file_off, uint64_t vol_off, uint64_t len),
                       void *ctx)
{
    struct fat_priv *p = fs->priv;
    struct fatu_data d;
    bool dir;
    int r = fat_data(fs, ino, &d, &dir);
    if (r < 0)
        return r;
    if (dir) {
        if ((r = fat_dir_cl(fs, ino, &d.first)) < 0)
            return r;
        if (d.first == 0)
            return cb(ctx, 0, p->b.root_off, p->b.root_bytes);
        uint64_t n;
        if ((r = fatu_chain_len(fs, &p->tab, d.first, &n)) < 0)
            return r;
        d.contig = false;
        d.size = d.valid = n * p->tab.cs;
    }
    return fatu_data_extents(fs, &p->tab, &d, cb, ctx);
}

/* Call cb (when not NULL) for each run of free clusters; count them in *nfree. */
static int fat_free_scan(struct fs *fs, int (*cb)(void *ctx, uint64_t vol_off, uint64_t len),
                         void *ctx, uint64_t *nfree)
{
    struct fatu_tab *t = &((struct fat_priv *)fs->priv)->tab;
    uint64_t run = 0, start = 0;
    *nfree = 0;
    for (uint64_t cl = 2; cl <= (uint64_t)t->count + 2; cl++) {
        uint32_t v = 1;
        int r = cl < (uint64_t)t->count + 2 ? fatu_get(fs, t, (uint32_t)cl, &v) : 0;
        if (r < 0)
            return r;
        if (v == 0) {
            if (run++ == 0)
                start = cl;
            ++*nfree;
            continue;
        }
        if (run && cb && (r = cb(ctx, fatu_cl_off(t, (uint32_t)start), run * t->cs)) != 0)
            return r;
        run = 0;
    }
    return 0;
}

static int fat_free_ranges(struct fs *fs, int (*cb)(void *ctx, uint64_t vol_off, uint64_t len),
                           void *ctx)
{
    uint64_t n;
    return fat_free_scan(fs, cb, ctx, &n);
}

/* The label: the root directory's volume entry, else the boot sector's. */
static void fat_label(struct fs *fs, char *out, size_t cap)
{
    struct fat_priv *p = fs->priv;
    uint8_t label[11];
    memcpy(label, p->b.label, 11);
    struct fat_dit it;
    if (fat_dit_init(fs, &it, p->b.type == 32 ? p->b.root_cl : 0) == 0) {
        const uint8_t *e;
        uint64_t off;
        while (fat_dit_next(&it, &e, &off) == 1 && e[0] != 0) {
            if (e[0] != 0xe5 && (e[11] & 0x3f) != FAT_ATTR_LFN && (e[11] & FAT_ATTR_VOLID)) {
                memcpy(label, e, 11);
                break;
            }
        }
        free(it.buf);
    }
    size_t n = fat_trim(label, 11);
    out[0] = 0;
    if ((n == 7 && !memcmp(label, "NO NAME", 7)) || fat_oem_to_utf8(label, n, out, cap) < 0)
        out[0] = 0;
}

static void fat_info(struct fs *fs, struct fs_vol_info *info)
{
    struct fat_priv *p = fs->priv;
    fat_label(fs, info->label, sizeof info->label);
    if (p->b.has_serial)
        fatu_serial(p->b.serial, info->uuid, sizeof info->uuid);
    uint64_t nfree;
    if (fat_free_scan(fs, NULL, NULL, &nfree) == 0) {
        info->used = (p->b.count - nfree) * p->tab.cs;
        info->used_known = true;
    }
}

/* The boot sector and reserved sectors, the FAT copies, and (FAT12/16) the fixed root
 * directory: all checked against the volume when the BPB was parsed. */
static int fat_structures(struct fs *fs,
                          int (*cb)(void *ctx, uint64_t vol_off, uint64_t len, const char *what),
                          void *ctx)
{
    const struct fat_bpb *b = &((struct fat_priv *)fs->priv)->b;
    /* The FAT copies end where the root directory (or, FAT32, the root's place) begins;
     * fat_off may point at FAT32's active copy rather than the first. */
    uint64_t fats = (uint64_t)b->nfats * b->fatsz * b->bps;
    uint64_t start = b->root_off >= fats ? b->root_off - fats : 0;
    int r = cb(ctx, 0, start, "boot sector and reserved");
    if (r == 0)
        r = cb(ctx, start, fats, "FAT");
    if (r == 0 && b->root_bytes)
        r = cb(ctx, b->root_off, b->root_bytes, "root directory");
    return r;
}

const struct fs_driver fs_driver_fat = {
    .name = "vfat",
    .probe = fat_probe,
    .open = fat_open,
    .close = fat_close,
    .root = fat_root,
    .stat = fat_stat,
    .readdir = fat_readdir,
    .read = fat_read,
    .readlink = fat_readlink,
    .extents = fat_extents,
    .free_ranges = fat_free_ranges,
    .structures = fat_structures,
    .info = fat_info,
};

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* iso.c: the ISO 9660 reader (Rock Ridge, Joliet, zisofs) through libarchive, reading the volume
 * through fs_vol_read. libarchive reads sequentially: open reads the whole catalogue once into
 * a node table (the directory tree built from the entry paths, bounded by FS_DIR_ENTRIES_MAX and
 * by what the volume can hold), and read() walks a kept-open reader to the entry, re-opening
 * only when it must go back. UDF is recognised (its volume recognition sequence) but libarchive
 * has no UDF reader: a UDF disc with an ISO 9660 bridge is browsed through that, a UDF-only one
 * is refused by name. Talks to core/fs/fs.h; registered in fs_drivers.h.
 */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/esc.h"
#include "core/fs/fs.h"

#define ISO_SECTOR 2048
#define ISO_VRS_OFF 32768  /* the volume descriptors start at sector 16 */
#define ISO_CHUNK 65536    /* bytes handed to libarchive per read callback */
#define ISO_DIR_REC_MIN 34 /* the smallest directory record: bounds the entries of a volume */
#define ISO_NONE UINT32_MAX

struct iso_node {
    char *name;
    char *target; /* symlink target */
    uint32_t parent, child, sibling, hnext;
    uint32_t entry; /* index in libarchive's order; ISO_NONE for a directory only implied */
    struct fs_stat st;
};

struct iso_priv {
    struct fs *fs;
    struct iso_node *n;
    uint32_t count, cap, max;
    uint32_t *bucket; /* hash of (parent, name) -> node, chained by hnext */
    uint32_t nbucket;
    /* the reader kept open for read(): at entry cur (-1 before the first), cur_off into it */
    struct archive *a;
    int64_t cur;
    uint64_t cur_off;
    uint64_t pos; /* the callbacks' position in the volume */
    uint8_t *chunk;
};

/* ---- libarchive's view of the volume ---- */

static la_ssize_t iso_cb_read(struct archive *a, void *cd, const void **buf)
{
    struct iso_priv *p = cd;
    uint64_t size = p->fs->vol->size;
    *buf = p->chunk;
    if (p->pos >= size)
        return 0;
    size_t n = size - p->pos < ISO_CHUNK ? (size_t)(size - p->pos) : ISO_CHUNK;
    if (fs_vol_read(p->fs->vol, p->pos, p->chunk, n, &p->fs->err) < 0) {
        archive_set_error(a, EIO, "volume read failed");
        return ARCHIVE_FATAL;
    }
    p->pos += n;
    return (la_ssize_t)n;
}

static la_int64_t iso_cb_skip(struct archive *a, void *cd, la_int64_t req)
{
    struct iso_priv *p = cd;
    uint64_t left = p->fs->vol->size - (p->pos < p->fs->vol->size ? p->pos : p->fs->vol->size);
    uint64_t n = req < 0 ? 0 : (uint64_t)req < left ? (uint64_t)req : left;
    p->pos += n;
    return (la_int64_t)n;
}

static la_int64_t iso_cb_seek(struct archive *a, void *cd, la_int64_t off, int whence)
{
    struct iso_priv *p = cd;
    int64_t size = (int64_t)p->fs->vol->size;
    int64_t base = whence == SEEK_SET ? 0 : whence == SEEK_CUR ? (int64_t)p->pos : size;
    if (off < -base || off > size - base) {
        archive_set_error(a, EINVAL, "seek outside the volume");
        return ARCHIVE_FATAL;
    }
    p->pos = (uint64_t)(base + off);
    return (la_int64_t)p->pos;
}

/* libarchive's last message, escaped (it may quote names from the image). */
static int iso_fail(struct iso_priv *p, struct archive *a, const char *what)
{
    if (p->fs->err.code)
        return p->fs->err.code; /* the volume read that made libarchive fail */
    char msg[256];
    const char *m = a ? archive_error_string(a) : NULL;
    esc_str(msg, sizeof msg, m ? m : "damaged image");
    return err_set(&p->fs->err, -EIO, "ISO 9660: %s: %s", what, msg);
}

static struct archive *iso_arc_open(struct iso_priv *p)
{
    struct archive *a = archive_read_new();
    if (!a) {
        err_set(&p->fs->err, -ENOMEM, "ISO 9660: out of memory");
        return NULL;
    }
    p->pos = 0;
    archive_read_support_format_iso9660(a);
    archive_read_set_callback_data(a, p);
    archive_read_set_read_callback(a, iso_cb_read);
    archive_read_set_skip_callback(a, iso_cb_skip);
    archive_read_set_seek_callback(a, iso_cb_seek);
    if (archive_read_open1(a) != ARCHIVE_OK) {
        iso_fail(p, a, "cannot read the volume descriptors");
        archive_read_free(a);
        return NULL;
    }
    return a;
}

/* ---- the node table ---- */

static uint32_t iso_hash(uint32_t parent, const char *name, size_t len)
{
    uint32_t h = 2166136261u ^ parent;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (uint8_t)name[i]) * 16777619u;
    return h;
}

static uint32_t iso_find(const struct iso_priv *p, uint32_t parent, const char *name, size_t len)
{
    uint32_t i = p->bucket[iso_hash(parent, name, len) & (p->nbucket - 1)];
    for (; i != ISO_NONE; i = p->n[i].hnext)
        if (p->n[i].parent == parent && !strncmp(p->n[i].name, name, len) && !p->n[i].name[len])
            return i;
    return ISO_NONE;
}

static void iso_hash_add(struct iso_priv *p, uint32_t i)
{
    const struct iso_node *n = &p->n[i];
    uint32_t h = iso_hash(n->parent, n->name, strlen(n->name)) & (p->nbucket - 1);
    p->n[i].hnext = p->bucket[h];
    p->bucket[h] = i;
}

/* Room for one more node (the table and its hash grow by doubling). */
static int iso_grow(struct iso_priv *p)
{
    if (p->count >= p->max)
        return err_set(&p->fs->err, -E2BIG, "ISO 9660: more than %u entries", p->max);
    if (p->count < p->cap)
        return 0;
    uint32_t cap = p->cap ? p->cap * 2 : 256;
    struct iso_node *n = realloc(p->n, (size_t)cap * sizeof *n);
    uint32_t *b = n ? malloc((size_t)cap * 2 * sizeof *b) : NULL;
    if (!b) {
        if (n)
            p->n = n;
        return err_set(&p->fs->err, -ENOMEM, "ISO 9660: out of memory");
    }
    p->n = n;
    p->cap = cap;
    free(p->bucket);
    p->bucket = b;
    p->nbucket = cap * 2;
    memset(b, 0xff, (size_t)p->nbucket * sizeof *b);
    for (uint32_t i = 1; i < p->count; i++)
        iso_hash_add(p, i);
    return 0;
}

static int iso_new_node(struct iso_priv *p, uint32_t parent, const char *name, size_t len,
                        uint32_t *out)
{
    int r = iso_grow(p);
    if (r)
        return r;
    char *s = strndup(name, len);
    if (!s)
        return err_set(&p->fs->err, -ENOMEM, "ISO 9660: out of memory");
    uint32_t i = p->count++;
    struct iso_node *n = &p->n[i];
    memset(n, 0, sizeof *n);
    n->name = s;
    n->parent = parent;
    n->entry = ISO_NONE;
    n->child = ISO_NONE;
    n->st = (struct fs_stat){.ino = i + 1, .type = FS_T_DIR, .mode = 0555, .nlink = 2};
    n->sibling = p->n[parent].child;
    p->n[parent].child = i;
    iso_hash_add(p, i);
    *out = i;
    return 0;
}

static void iso_entry_stat(struct archive_entry *e, struct fs_stat *st)
{
    switch (archive_entry_filetype(e)) {
    case AE_IFDIR: st->type = FS_T_DIR; break;
    case AE_IFLNK: st->type = FS_T_LNK; break;
    case AE_IFCHR: st->type = FS_T_CHR; break;
    case AE_IFBLK: st->type = FS_T_BLK; break;
    case AE_IFIFO: st->type = FS_T_FIFO; break;
    case AE_IFSOCK: st->type = FS_T_SOCK; break;
    case AE_IFREG: st->type = FS_T_REG; break;
    default: st->type = FS_T_OTHER; break;
    }
    st->mode = archive_entry_perm(e) & 07777;
    st->uid = (uint32_t)archive_entry_uid(e);
    st->gid = (uint32_t)archive_entry_gid(e);
    st->nlink = archive_entry_nlink(e);
    int64_t size = archive_entry_size(e);
    st->size = st->type == FS_T_REG && size > 0 ? (uint64_t)size : 0;
    st->atime = archive_entry_atime(e);
    st->mtime = archive_entry_mtime(e);
    st->ctime = archive_entry_ctime(e);
    st->rdev = archive_entry_rdev(e);
}

/* The node of path (components split on '/'), created with missing directories when make;
 * ISO_NONE when a component is not a directory or the path is not a clean name. */
static int iso_path(struct iso_priv *p, const char *path, bool make, uint32_t *out)
{
    uint32_t at = 0;
    int depth = 0;
    *out = ISO_NONE;
    for (const char *s = path; *s;) {
        size_t len = strcspn(s, "/");
        if (!len || (len == 1 && s[0] == '.')) {
            s += len + (s[len] == '/');
            continue;
        }
        if ((len == 2 && !memcmp(s, "..", 2)) || len >= FS_NAME_MAX || ++depth > FS_DEPTH_MAX ||
            p->n[at].st.type != FS_T_DIR)
            return 0;
        uint32_t i = iso_find(p, at, s, len);
        if (i == ISO_NONE) {
            if (!make)
                return 0;
            int r = iso_new_node(p, at, s, len, &i);
            if (r)
                return r;
        }
        at = i;
        s += len + (s[len] == '/');
    }
    *out = at;
    return 0;
}

/* One catalogue entry into the table: a new node, or the attributes of a directory that an
 * earlier path implied. Conflicting or unclean entries are left out. */
static int iso_add(struct iso_priv *p, struct archive_entry *e, uint32_t idx)
{
    const char *path = archive_entry_pathname_utf8(e);
    if (!path)
        path = archive_entry_pathname(e);
    uint32_t before = p->count, i;
    int r = path ? iso_path(p, path, true, &i) : 0;
    if (r || !path || i == ISO_NONE || i == 0)
        return r;
    struct iso_node *n = &p->n[i];
    if (i < before && (n->entry != ISO_NONE || archive_entry_filetype(e) != AE_IFDIR))
        return 0; /* a duplicate: the first one stays */
    const char *hl = archive_entry_hardlink_utf8(e);
    if (!hl)
        hl = archive_entry_hardlink(e);
    uint32_t t = ISO_NONE;
    if (hl && (r = iso_path(p, hl, false, &t)) != 0)
        return r;
    n->entry = idx;
    iso_entry_stat(e, &n->st);
    n->st.ino = i + 1;
    if (hl && t != ISO_NONE && p->n[t].st.type == FS_T_REG) {
        n->st = p->n[t].st; /* a hard link: the target's data and attributes */
        n->st.ino = i + 1;
        n->entry = p->n[t].entry;
    } else if (hl && i >= before) {
        n->st.type = FS_T_OTHER; /* the target is missing: a node without data */
    }
    if (n->st.type == FS_T_LNK) {
        const char *tg = archive_entry_symlink_utf8(e);
        if (!tg)
            tg = archive_entry_symlink(e);
        n->target = strndup(tg ? tg : "", FS_PATH_MAX - 1);
        if (!n->target)
            return err_set(&p->fs->err, -ENOMEM, "ISO 9660: out of memory");
        n->st.size = strlen(n->target);
    }
    return 0;
}

static int iso_catalogue(struct iso_priv *p)
{
    struct archive *a = iso_arc_open(p);
    if (!a)
        return p->fs->err.code;
    struct archive_entry *e;
    int r = 0;
    for (uint32_t idx = 0; !r; idx++) {
        int ar = archive_read_next_header(a, &e);
        if (ar == ARCHIVE_EOF)
            break;
        if ((ar != ARCHIVE_OK && ar != ARCHIVE_WARN) || idx >= p->max)
            r = idx >= p->max
                    ? err_set(&p->fs->err, -E2BIG, "ISO 9660: more than %u entries", p->max)
                    : iso_fail(p, a, "cannot read the directory tree");
        else
            r = iso_add(p, e, idx);
    }
    archive_read_free(a);
    return r;
}

/* ---- probe, open, close ---- */

/* The volume recognition sequence: "CD001" (ISO 9660), "NSR02"/"NSR03" (UDF). */
static bool iso_vrs_has(const uint8_t *head, size_t n, const char *id)
{
    for (size_t off = ISO_VRS_OFF; off + 6 <= n && off < ISO_VRS_OFF + 32 * ISO_SECTOR;
         off += ISO_SECTOR)
        if (!memcmp(head + off + 1, id, 5))
            return true;
    return false;
}

static bool iso_probe(const struct fs_vol *v, const uint8_t *head, size_t n)
{
    return iso_vrs_has(head, n, "CD001") || iso_vrs_has(head, n, "NSR02") ||
           iso_vrs_has(head, n, "NSR03");
}

static void iso_free(struct iso_priv *p)
{
    if (p->a)
        archive_read_free(p->a);
    for (uint32_t i = 0; i < p->count; i++) {
        free(p->n[i].name);
        free(p->n[i].target);
    }
    free(p->n);
    free(p->bucket);
    free(p->chunk);
    free(p);
}

static int iso_open(struct fs *fs)
{
    uint8_t head[ISO_VRS_OFF + 32 * ISO_SECTOR];
    size_t hn = fs->vol->size < sizeof head ? (size_t)fs->vol->size : sizeof head;
    err_clear(&fs->err);
    int r = fs_vol_read(fs->vol, 0, head, hn, &fs->err);
    if (r < 0)
        return r;
    bool udf = iso_vrs_has(head, hn, "NSR02") || iso_vrs_has(head, hn, "NSR03");
    if (!iso_vrs_has(head, hn, "CD001"))
        return err_set(&fs->err, -ENOTSUP,
                       udf ? "udf is recognised but not browsed (no ISO "
                             "9660 tree beside it)"
                           : "no ISO 9660 volume descriptor");
    struct iso_priv *p = calloc(1, sizeof *p);
    if (!p || !(p->chunk = malloc(ISO_CHUNK))) {
        free(p);
        return err_set(&fs->err, -ENOMEM, "ISO 9660: out of memory");
    }
    p->fs = fs;
    p->cur = -1;
    uint64_t fit = fs->vol->size / ISO_DIR_REC_MIN + 1;
    p->max = fit < FS_DIR_ENTRIES_MAX ? (uint32_t)fit : FS_DIR_ENTRIES_MAX;
    uint32_t root;
    r = iso_grow(p);
    if (!r) { /* the root, node 0 */
        p->count = 1;
        root = 0;
        p->n[root] =
            (struct iso_node){.name = strdup(""),
                              .parent = ISO_NONE,
                              .child = ISO_NONE,
                              .sibling = ISO_NONE,
                              .hnext = ISO_NONE,
                              .entry = ISO_NONE,
                              .st = {.ino = 1, .type = FS_T_DIR, .mode = 0555, .nlink = 2}};
        r = p->n[root].name ? iso_catalogue(p) : err_set(&fs->err, -ENOMEM, "out of memory");
    }
    if (r) {
        iso_free(p);
        return r;
    }
    fs->priv = p;
    snprintf(fs->fs_name, sizeof fs->fs_name, udf ? "udf" : "iso9660");
    return 0;
}

static void iso_close(struct fs *fs)
{
    if (fs->priv)
        iso_free(fs->priv);
    fs->priv = NULL;
}

/* ---- nodes ---- */

static struct iso_node *iso_node(struct fs *fs, uint64_t ino)
{
    struct iso_priv *p = fs->priv;
    if (!ino || ino > p->count) {
        err_set(&fs->err, -ENOENT, "ISO 9660: no node %llu", (unsigned long long)ino);
        return NULL;
    }
    return &p->n[ino - 1];
}

static int iso_root(struct fs *fs, uint64_t *ino)
{
    *ino = 1;
    return 0;
}

static int iso_stat(struct fs *fs, uint64_t ino, struct fs_stat *st)
{
    struct iso_node *n = iso_node(fs, ino);
    if (!n)
        return fs->err.code;
    *st = n->st;
    return 0;
}

static int iso_readdir(struct fs *fs, uint64_t dir,
                       int (*cb)(void *ctx, const char *name, uint64_t ino), void *ctx)
{
    struct iso_priv *p = fs->priv;
    struct iso_node *d = iso_node(fs, dir);
    if (!d)
        return fs->err.code;
    if (d->st.type != FS_T_DIR)
        return err_set(&fs->err, -ENOTDIR, "ISO 9660: not a directory");
    for (uint32_t i = d->child; i != ISO_NONE; i = p->n[i].sibling) {
        int r = cb(ctx, p->n[i].name, (uint64_t)i + 1);
        if (r)
            return r;
    }
    return 0;
}

static int iso_readlink(struct fs *fs, uint64_t ino, char *buf, size_t len)
{
    struct iso_node *n = iso_node(fs, ino);
    if (!n)
        return fs->err.code;
    if (n->st.type != FS_T_LNK || !n->target)
        return err_set(&fs->err, -EINVAL, "ISO 9660: not a symbolic link");
    if (!len || strlen(n->target) >= len)
        return err_set(&fs->err, -ENAMETOOLONG, "ISO 9660: link target too long");
    memcpy(buf, n->target, strlen(n->target) + 1);
    return 0;
}

/* Bring the kept reader to entry idx at data offset off (re-opening to go back). */
static int iso_seek_entry(struct iso_priv *p, uint32_t idx, uint64_t off)
{
    if (p->a && (p->cur > (int64_t)idx || (p->cur == (int64_t)idx && p->cur_off > off))) {
        archive_read_free(p->a);
        p->a = NULL;
    }
    if (!p->a) {
        p->a = iso_arc_open(p);
        if (!p->a)
            return p->fs->err.code;
        p->cur = -1;
    }
    struct archive_entry *e;
    while (p->cur < (int64_t)idx) {
        int ar = archive_read_next_header(p->a, &e);
        if (ar != ARCHIVE_OK && ar != ARCHIVE_WARN)
            return iso_fail(p, p->a, "cannot reach a file");
        p->cur++;
        p->cur_off = 0;
    }
    while (p->cur_off < off) {
        size_t want = off - p->cur_off < ISO_CHUNK ? (size_t)(off - p->cur_off) : ISO_CHUNK;
        la_ssize_t n = archive_read_data(p->a, p->chunk, want);
        if (n <= 0)
            return n < 0 ? iso_fail(p, p->a, "cannot read a file") : 0;
        p->cur_off += (uint64_t)n;
    }
    return 0;
}

static ssize_t iso_read(struct fs *fs, uint64_t ino, uint64_t off, void *buf, size_t len)
{
    struct iso_priv *p = fs->priv;
    struct iso_node *n = iso_node(fs, ino);
    if (!n)
        return fs->err.code;
    if (n->st.type != FS_T_REG || n->entry == ISO_NONE)
        return err_set(&fs->err, n->st.type == FS_T_DIR ? -EISDIR : -EINVAL,
                       "ISO 9660: not a regular file");
    if (off >= n->st.size)
        return 0;
    if (len > n->st.size - off)
        len = (size_t)(n->st.size - off);
    if (len > SSIZE_MAX)
        len = SSIZE_MAX;
    err_clear(&fs->err); /* iso_fail tells a volume read failure by it */
    int r = iso_seek_entry(p, n->entry, off);
    if (r) {
        archive_read_free(p->a); /* where it stopped is unknown: start over next time */
        p->a = NULL;
        return r;
    }
    size_t got = 0;
    while (got < len && p->cur_off == off + got) {
        la_ssize_t k = archive_read_data(p->a, (uint8_t *)buf + got, len - got);
        if (k < 0) {
            r = iso_fail(p, p->a, "cannot read a file");
            archive_read_free(p->a);
            p->a = NULL;
            return r;
        }
        if (!k)
            break;
        got += (size_t)k;
        p->cur_off += (uint64_t)k;
    }
    return (ssize_t)got;
}

static void iso_info(struct fs *fs, struct fs_vol_info *info)
{
    uint8_t pvd[ISO_SECTOR];
    struct img_err e;
    if (fs_vol_read(fs->vol, ISO_VRS_OFF, pvd, sizeof pvd, &e) < 0 || pvd[0] != 1 ||
        memcmp(pvd + 1, "CD001", 5))
        return;
    size_t n = 32; /* the volume identifier, space-padded */
    while (n && (pvd[40 + n - 1] == ' ' || !pvd[40 + n - 1]))
        n--;
    snprintf(info->label, sizeof info->label, "%.*s", (int)n, (const char *)pvd + 40);
    /* blkid's UUID of an ISO: the creation time, digits only (YYYY-MM-DD-HH-MM-SS-cc) */
    const char *t = (const char *)pvd + 813;
    if (t[0] >= '0' && t[0] <= '9')
        snprintf(info->uuid, sizeof info->uuid, "%.4s-%.2s-%.2s-%.2s-%.2s-%.2s-%.2s", t, t + 4,
                 t + 6, t + 8, t + 10, t + 12, t + 14);
    uint32_t blocks = (uint32_t)pvd[80] | (uint32_t)pvd[81] << 8 | (uint32_t)pvd[82] << 16 |
                      (uint32_t)pvd[83] << 24;
    uint16_t bs = (uint16_t)(pvd[128] | pvd[129] << 8);
    info->used = (uint64_t)blocks * bs;
    info->used_known = info->used <= fs->vol->size;
}

const struct fs_driver fs_driver_iso = {
    .name = "iso9660",
    .probe = iso_probe,
    .open = iso_open,
    .close = iso_close,
    .root = iso_root,
    .stat = iso_stat,
    .readdir = iso_readdir,
    .read = iso_read,
    .readlink = iso_readlink,
    .info = iso_info,
};

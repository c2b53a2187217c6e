/* SPDX-License-Identifier: GPL-2.0-or-later */
/* fs.c: the guest filesystem layer above the readers: the registry (fs_drivers.h), probing a
 * volume (drivers first, then the superblocks recognised but not browsed), path lookup with
 * bounded symlinks, sorted and checked directory listings, a bounded recursive walk, and the
 * IMAGE[#VOL][:/PATH] address syntax. Called by cli/ and tui/ through core/fs/fs.h; calls the
 * readers through struct fs_driver and reads volumes through fs_vol_read (vol.c).
 */
#include "core/fs/fs.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/base/bytes.h"
#include "core/fs/fs_drivers.h"

static const struct fs_driver *const fs_drivers[] = {
#define X(name) &fs_driver_##name,
    FS_DRIVER_LIST
#undef X
};

const struct fs_driver *const *fs_driver_list(size_t *n)
{
    *n = sizeof fs_drivers / sizeof fs_drivers[0];
    return fs_drivers;
}

const char *fs_vol_desc(const struct fs_vol *v, char *buf, size_t len)
{
    if (v->kind == FS_VOL_DISK)
        snprintf(buf, len, "the whole disk");
    else if (v->kind == FS_VOL_PART)
        snprintf(buf, len, "partition %s", v->name);
    else
        snprintf(buf, len, "logical volume %s", v->name);
    return buf;
}

/* ---- probing ---- */

/* The volume's head: min(FS_PROBE_BYTES, size) bytes, malloc'd. */
static int fs_read_head(const struct fs_vol *vol, uint8_t **head, size_t *n, struct img_err *err)
{
    size_t len = vol->size < FS_PROBE_BYTES ? (size_t)vol->size : FS_PROBE_BYTES;
    uint8_t *b = malloc(len ? len : 1);
    if (!b)
        return err_set(err, -ENOMEM, "out of memory");
    int r = len ? fs_vol_read(vol, 0, b, len, err) : 0;
    if (r < 0) {
        free(b);
        return r;
    }
    *head = b;
    *n = len;
    return 0;
}

/* Signatures that win over every driver's probe: an encrypted container whose first sector
 * may look like a FAT boot sector. */
static const char *fs_probe_container(const uint8_t *h, size_t n)
{
    if (n >= 6 && memcmp(h, "LUKS\xba\xbe", 6) == 0)
        return "LUKS";
    if (n >= 11 && memcmp(h + 3, "-FVE-FS-", 8) == 0)
        return "BitLocker";
    return NULL;
}

/* What no driver browses but users should see named. head holds n bytes; btrfs's superblock
 * lies just past FS_PROBE_BYTES and is read here. */
static const char *fs_probe_other(const struct fs_vol *vol, const uint8_t *h, size_t n)
{
    if (n >= 4 && memcmp(h, "XFSB", 4) == 0)
        return "xfs";
    static const unsigned pages[] = {4096, 8192, 16384, 32768, 65536};
    for (size_t i = 0; i < sizeof pages / sizeof pages[0]; i++)
        if (pages[i] <= n && (memcmp(h + pages[i] - 10, "SWAPSPACE2", 10) == 0 ||
                              memcmp(h + pages[i] - 10, "SWAP-SPACE", 10) == 0))
            return "swap";
    for (size_t s = 0; s < 4 && s * 512 + 32 <= n; s++)
        if (memcmp(h + s * 512, "LABELONE", 8) == 0 && memcmp(h + s * 512 + 24, "LVM2 001", 8) == 0)
            return "LVM2_member";
    uint8_t magic[8];
    struct img_err ignored;
    if (vol->size >= 0x10040 + 8 && fs_vol_read(vol, 0x10040, magic, 8, &ignored) == 0 &&
        memcmp(magic, "_BHRfS_M", 8) == 0)
        return "btrfs";
    return NULL;
}

/* The first driver whose probe claims head, or NULL. */
static const struct fs_driver *fs_probe_driver(const struct fs_vol *vol, const uint8_t *h, size_t n)
{
    for (size_t i = 0; i < sizeof fs_drivers / sizeof fs_drivers[0]; i++)
        if (fs_drivers[i]->probe && fs_drivers[i]->open && fs_drivers[i]->probe(vol, h, n))
            return fs_drivers[i];
    return NULL;
}

static int fs_not_browsed(const struct fs_vol *vol, const char *name, struct img_err *err)
{
    char d[160];
    if (strcmp(name, "LVM2_member") == 0)
        return err_set(err, -ENOTSUP,
                       "%s is an LVM2 physical volume: name one of its logical volumes as "
                       "#VG/LV (dimg volumes lists them)",
                       fs_vol_desc(vol, d, sizeof d));
    return err_set(err, -ENOTSUP, "%s holds %s: recognised but not browsed",
                   fs_vol_desc(vol, d, sizeof d), name);
}

static int fs_open_drv(const struct fs_vol *vol, const struct fs_driver *drv, struct fs **out,
                       struct img_err *err);

int fs_probe_name(const struct fs_vol *vol, char *name, size_t len, bool *browsable,
                  struct img_err *err)
{
    uint8_t *h;
    size_t n;
    *browsable = false;
    if (len)
        name[0] = '\0';
    int r = fs_read_head(vol, &h, &n, err);
    if (r < 0)
        return r;
    const char *other = fs_probe_container(h, n);
    const struct fs_driver *d = other ? NULL : fs_probe_driver(vol, h, n);
    if (!d && !other)
        other = fs_probe_other(vol, h, n);
    free(h);
    if (other) {
        snprintf(name, len, "%s", other);
        return 0;
    }
    if (!d)
        return 0;
    /* A reader claims it: its refined name ("ext4") when it opens, else the reader's. */
    struct fs *fs;
    struct img_err oerr;
    snprintf(name, len, "%s", d->name);
    if (fs_open_drv(vol, d, &fs, &oerr) == 0) {
        snprintf(name, len, "%s", fs->fs_name);
        *browsable = true;
        fs_close(fs);
    }
    return 0;
}

int fs_open(const struct fs_vol *vol, struct fs **out, struct img_err *err)
{
    uint8_t *h;
    size_t n;
    char d[160];
    *out = NULL;
    int r = fs_read_head(vol, &h, &n, err);
    if (r < 0)
        return r;
    const char *other = fs_probe_container(h, n);
    const struct fs_driver *drv = other ? NULL : fs_probe_driver(vol, h, n);
    if (!drv && !other)
        other = fs_probe_other(vol, h, n);
    free(h);
    if (!drv) {
        if (other)
            return fs_not_browsed(vol, other, err);
        return err_set(err, -ENOTSUP, "no filesystem recognised on %s",
                       fs_vol_desc(vol, d, sizeof d));
    }
    return fs_open_drv(vol, drv, out, err);
}

/* Open vol with drv (its probe matched). */
static int fs_open_drv(const struct fs_vol *vol, const struct fs_driver *drv, struct fs **out,
                       struct img_err *err)
{
    struct fs *fs = calloc(1, sizeof *fs);
    if (!fs)
        return err_set(err, -ENOMEM, "out of memory");
    fs->drv = drv;
    fs->vol = vol;
    snprintf(fs->fs_name, sizeof fs->fs_name, "%s", drv->name);
    int r = drv->open(fs);
    if (r < 0) {
        if (fs->err.code == 0)
            err_set(&fs->err, r, "%s: cannot open the filesystem", drv->name);
        *err = fs->err;
        free(fs);
        return r;
    }
    *out = fs;
    return 0;
}

int fs_open_with(const struct fs_vol *vol, const char *driver, struct fs **out, struct img_err *err)
{
    const struct fs_driver *drv = NULL;
    *out = NULL;
    for (size_t i = 0; i < sizeof fs_drivers / sizeof fs_drivers[0]; i++)
        if (strcmp(fs_drivers[i]->name, driver) == 0)
            drv = fs_drivers[i];
    if (!drv || !drv->probe || !drv->open)
        return err_set(err, -ENOTSUP, "no filesystem reader named %s", driver);
    uint8_t *h;
    size_t n;
    int r = fs_read_head(vol, &h, &n, err);
    if (r < 0)
        return r;
    bool match = drv->probe(vol, h, n);
    free(h);
    if (!match)
        return err_set(err, -ENOTSUP, "no %s filesystem here", driver);
    return fs_open_drv(vol, drv, out, err);
}

void fs_close(struct fs *fs)
{
    if (!fs)
        return;
    if (fs->drv->close)
        fs->drv->close(fs);
    free(fs);
}

/* ---- nodes ---- */

int fs_stat(struct fs *fs, uint64_t ino, struct fs_stat *st)
{
    memset(st, 0, sizeof *st);
    int r = fs->drv->stat(fs, ino, st);
    if (r < 0)
        err_keep(&fs->err, r, "%s: inode %llu: cannot read", fs->fs_name, (unsigned long long)ino);
    return r;
}

ssize_t fs_read(struct fs *fs, uint64_t ino, uint64_t off, void *buf, size_t len)
{
    if (len == 0)
        return 0;
    err_clear(&fs->err);
    ssize_t r = fs->drv->read(fs, ino, off, buf, len);
    if (r < 0)
        err_keep(&fs->err, (int)r, "%s: read failed", fs->fs_name);
    else if ((size_t)r > len)
        return err_set(&fs->err, -EIO, "%s: read returned too much", fs->fs_name);
    return r;
}

int fs_readlink(struct fs *fs, uint64_t ino, char *buf, size_t len)
{
    if (!fs->drv->readlink)
        return err_set(&fs->err, -ENOTSUP, "%s: symbolic links not supported", fs->fs_name);
    if (len == 0)
        return -EINVAL;
    buf[0] = '\0';
    int r = fs->drv->readlink(fs, ino, buf, len);
    if (r < 0) {
        err_keep(&fs->err, r, "%s: cannot read a symbolic link", fs->fs_name);
        return r;
    }
    buf[len - 1] = '\0';
    return 0;
}

/* A name a listing may hand out: not empty, not . or .., no '/', not too long. */
bool fs_name_ok(const char *name)
{
    size_t l = strnlen(name, FS_NAME_MAX + 1);
    if (l == 0 || l > FS_NAME_MAX || strchr(name, '/'))
        return false;
    return strcmp(name, ".") != 0 && strcmp(name, "..") != 0;
}

/* ---- listing ---- */

struct fs_list_ctx {
    struct fs *fs;
    struct fs_dirent *v;
    size_t n, cap;
    int err;
};

static int fs_list_add(void *vctx, const char *name, uint64_t ino)
{
    struct fs_list_ctx *c = vctx;
    if (!fs_name_ok(name))
        return 0; /* . and .., and names no host directory could hold */
    if (c->n >= FS_DIR_ENTRIES_MAX) {
        c->err = err_set(&c->fs->err, -EFBIG, "%s: directory has more than %d entries",
                         c->fs->fs_name, FS_DIR_ENTRIES_MAX);
        return c->err;
    }
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 64;
        struct fs_dirent *v = realloc(c->v, cap * sizeof *v);
        if (!v) {
            c->err = err_set(&c->fs->err, -ENOMEM, "out of memory");
            return c->err;
        }
        c->v = v;
        c->cap = cap;
    }
    char *dup = strdup(name);
    if (!dup) {
        c->err = err_set(&c->fs->err, -ENOMEM, "out of memory");
        return c->err;
    }
    c->v[c->n].name = dup;
    c->v[c->n].st.ino = ino;
    c->n++;
    return 0;
}

static int fs_dirent_cmp(const void *a, const void *b)
{
    return strcmp(((const struct fs_dirent *)a)->name, ((const struct fs_dirent *)b)->name);
}

int fs_list(struct fs *fs, uint64_t dir, struct fs_dirent **out, size_t *n)
{
    struct fs_list_ctx c = {.fs = fs};
    *out = NULL;
    *n = 0;
    err_clear(&fs->err);
    int r = fs->drv->readdir(fs, dir, fs_list_add, &c);
    if (r == 0)
        r = c.err;
    if (r < 0) {
        err_keep(&fs->err, r, "%s: cannot read directory (inode %llu)", fs->fs_name,
                 (unsigned long long)dir);
        fs_dirents_free(c.v, c.n);
        return r;
    }
    for (size_t i = 0; i < c.n; i++) {
        uint64_t ino = c.v[i].st.ino;
        r = fs_stat(fs, ino, &c.v[i].st);
        if (r < 0) {
            fs_dirents_free(c.v, c.n);
            return r;
        }
        c.v[i].st.ino = ino;
    }
    if (c.n > 1)
        qsort(c.v, c.n, sizeof *c.v, fs_dirent_cmp);
    *out = c.v;
    *n = c.n;
    return 0;
}

void fs_dirents_free(struct fs_dirent *d, size_t n)
{
    for (size_t i = 0; d && i < n; i++)
        free(d[i].name);
    free(d);
}

/* ---- lookup ---- */

struct fs_find_ctx {
    const char *name;
    uint64_t ino;
    bool found;
};

static int fs_find_cb(void *vctx, const char *name, uint64_t ino)
{
    struct fs_find_ctx *c = vctx;
    if (strcmp(name, c->name) != 0)
        return 0;
    c->ino = ino;
    c->found = true;
    return 1;
}

/* The inode of name in directory dir: 0 found, -ENOENT. */
static int fs_find(struct fs *fs, uint64_t dir, const char *name, uint64_t *ino)
{
    struct fs_find_ctx c = {.name = name};
    int r = fs->drv->readdir(fs, dir, fs_find_cb, &c);
    if (r < 0)
        return r;
    if (!c.found)
        return -ENOENT;
    *ino = c.ino;
    return 0;
}

/* The state of a walk: the inodes from the root to the current directory (for ".."). */
struct fs_walk_state {
    uint64_t stack[FS_DEPTH_MAX + 1];
    size_t depth; /* stack[depth] is the current directory */
};

/* Replace rest (the part of the path not walked yet) with target + "/" + rest. */
static int fs_splice_link(struct fs *fs, char *rest, size_t cap, const char *target)
{
    size_t tl = strlen(target), rl = strlen(rest);
    if (tl + 1 + rl + 1 > cap)
        return err_set(&fs->err, -ENAMETOOLONG, "%s: path too long after following a link",
                       fs->fs_name);
    memmove(rest + tl + 1, rest, rl + 1);
    memcpy(rest, target, tl);
    rest[tl] = '/';
    return 0;
}

/* One component: step from the current directory into name. */
static int fs_step(struct fs *fs, struct fs_walk_state *w, const char *name, const char *shown,
                   struct fs_stat *st)
{
    if (st->type != FS_T_DIR)
        return err_set(&fs->err, -ENOTDIR, "%s: not a directory", shown);
    if (strcmp(name, "..") == 0) {
        if (w->depth > 0)
            w->depth--;
        return fs_stat(fs, w->stack[w->depth], st);
    }
    uint64_t ino;
    int r = fs_find(fs, w->stack[w->depth], name, &ino);
    if (r == -ENOENT)
        return err_set(&fs->err, -ENOENT, "%s: no such file or directory", shown);
    if (r < 0)
        return err_keep(&fs->err, r, "%s: cannot read the directory", shown);
    if (w->depth >= FS_DEPTH_MAX)
        return err_set(&fs->err, -ELOOP, "%s: more than %d levels deep", shown, FS_DEPTH_MAX);
    w->stack[++w->depth] = ino;
    return fs_stat(fs, ino, st);
}

int fs_lookup(struct fs *fs, const char *path, bool follow, struct fs_stat *st)
{
    struct fs_walk_state *w = calloc(1, sizeof *w);
    char *rest = malloc(FS_PATH_MAX * 2);
    int r = 0;
    err_clear(&fs->err);
    if (!w || !rest) {
        r = err_set(&fs->err, -ENOMEM, "out of memory");
        goto out;
    }
    if (!path || path[0] != '/' || strlen(path) >= FS_PATH_MAX) {
        r = err_set(&fs->err, -EINVAL, "%s: not an absolute path", path ? path : "(null)");
        goto out;
    }
    strcpy(rest, path);
    uint64_t root;
    r = fs->drv->root(fs, &root);
    if (r < 0 || (r = fs_stat(fs, root, st)) < 0)
        goto out;
    if (st->type != FS_T_DIR) {
        r = err_set(&fs->err, -ENOTDIR, "%s: the root is not a directory", fs->fs_name);
        goto out;
    }
    w->stack[0] = root;
    unsigned links = 0;
    char name[FS_NAME_MAX + 1];
    size_t pos = 0;
    for (;;) {
        while (rest[pos] == '/')
            pos++;
        if (!rest[pos])
            break;
        size_t l = strcspn(rest + pos, "/");
        if (l > FS_NAME_MAX) {
            r = err_set(&fs->err, -ENAMETOOLONG, "%s: name too long", path);
            goto out;
        }
        memcpy(name, rest + pos, l);
        name[l] = '\0';
        pos += l;
        if (strcmp(name, ".") == 0) {
            if (st->type != FS_T_DIR) {
                r = err_set(&fs->err, -ENOTDIR, "%s: not a directory", path);
                goto out;
            }
            continue;
        }
        if ((r = fs_step(fs, w, name, path, st)) < 0)
            goto out;
        bool last = rest[pos + strspn(rest + pos, "/")] == '\0';
        if (st->type != FS_T_LNK || (last && !follow && rest[pos] != '/'))
            continue;
        /* A link: its target takes the place of its name; "/" restarts at the root. */
        if (++links > FS_SYMLINK_MAX) {
            r = err_set(&fs->err, -ELOOP, "%s: more than %d symbolic links", path, FS_SYMLINK_MAX);
            goto out;
        }
        char target[FS_PATH_MAX];
        if ((r = fs_readlink(fs, st->ino, target, sizeof target)) < 0)
            goto out;
        w->depth--;
        memmove(rest, rest + pos, strlen(rest + pos) + 1);
        pos = 0;
        if ((r = fs_splice_link(fs, rest, FS_PATH_MAX * 2, target)) < 0)
            goto out;
        if (target[0] == '/')
            w->depth = 0;
        if ((r = fs_stat(fs, w->stack[w->depth], st)) < 0)
            goto out;
    }
out:
    free(w);
    free(rest);
    return r;
}

/* ---- recursive walk ---- */

struct fs_walk {
    struct fs *fs;
    int (*cb)(void *ctx, const char *path, const struct fs_dirent *e);
    void *ctx;
    char path[FS_PATH_MAX];
    uint64_t inos[FS_DEPTH_MAX + 1]; /* the directories from the start down: loop check */
};

static int fs_walk_dir(struct fs_walk *w, uint64_t dir, size_t plen, unsigned depth)
{
    struct fs_dirent *d;
    size_t n;
    int r = fs_list(w->fs, dir, &d, &n);
    if (r < 0)
        return r;
    for (size_t i = 0; i < n && r == 0; i++) {
        size_t l = strlen(d[i].name);
        if (plen + 1 + l >= sizeof w->path) {
            r = err_set(&w->fs->err, -ENAMETOOLONG, "%s/%s: path too long", w->path, d[i].name);
            break;
        }
        size_t nl = plen;
        if (plen)
            w->path[nl++] = '/';
        memcpy(w->path + nl, d[i].name, l + 1);
        r = w->cb(w->ctx, w->path, &d[i]);
        if (r != 0 || d[i].st.type != FS_T_DIR)
            continue;
        if (depth >= FS_DEPTH_MAX) {
            r = err_set(&w->fs->err, -ELOOP, "%s: more than %d levels deep", w->path, FS_DEPTH_MAX);
            break;
        }
        for (unsigned k = 0; k <= depth; k++)
            if (w->inos[k] == d[i].st.ino)
                r = err_set(&w->fs->err, -ELOOP, "%s: directory loop", w->path);
        if (r == 0) {
            w->inos[depth + 1] = d[i].st.ino;
            r = fs_walk_dir(w, d[i].st.ino, plen + (plen ? 1 : 0) + l, depth + 1);
        }
    }
    w->path[plen] = '\0';
    fs_dirents_free(d, n);
    return r;
}

int fs_walk(struct fs *fs, uint64_t dir,
            int (*cb)(void *ctx, const char *path, const struct fs_dirent *e), void *ctx)
{
    struct fs_walk *w = calloc(1, sizeof *w);
    if (!w)
        return err_set(&fs->err, -ENOMEM, "out of memory");
    w->fs = fs;
    w->cb = cb;
    w->ctx = ctx;
    w->inos[0] = dir;
    int r = fs_walk_dir(w, dir, 0, 0);
    free(w);
    return r;
}

/* ---- addresses ---- */

static bool fs_addr_exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

/* Split s[0..len) (IMAGE[#VOL]) into a: true when the image exists, after the whole or at the
 * last '#' whose left part exists; when forced, at the last '#' anyway. */
static bool fs_addr_image(const char *s, size_t len, struct fs_addr *a, bool force)
{
    char *p = strndup(s, len), *h = NULL;
    if (!p)
        return false;
    if (fs_addr_exists(p)) {
        a->image = p;
        return true;
    }
    for (size_t i = len; i > 0 && !h; i--) {
        if (p[i - 1] != '#')
            continue;
        p[i - 1] = '\0';
        if (fs_addr_exists(p))
            h = p + i - 1;
        else
            p[i - 1] = '#';
    }
    if (!h && force && (h = strrchr(p, '#')) != NULL)
        *h = '\0';
    if (!h && !force) {
        free(p);
        return false;
    }
    if (h && !(a->vol = strdup(h + 1))) {
        free(p);
        return false;
    }
    a->image = p;
    return true;
}

static int fs_addr_path(const char *s, struct fs_addr *a, struct img_err *err)
{
    if (*s == '\0')
        s = "/";
    if (*s != '/')
        return err_set(err, -EINVAL, "%s: the path inside the image must start with '/'", s);
    if (strlen(s) >= FS_PATH_MAX)
        return err_set(err, -ENAMETOOLONG, "path inside the image too long");
    a->path = strdup(s);
    return a->path ? 0 : err_set(err, -ENOMEM, "out of memory");
}

int fs_addr_parse(const char *s, struct fs_addr *a, struct img_err *err)
{
    memset(a, 0, sizeof *a);
    if (!s || !*s)
        return err_set(err, -EINVAL, "empty image name");
    size_t len = strlen(s);
    bool done = false;
    if (fs_addr_exists(s)) {
        a->image = strdup(s);
        done = true;
    }
    /* IMAGE[#VOL]:PATH at the first ':' whose left part names an existing image. */
    for (const char *c = strchr(s, ':'); !done && c; c = strchr(c + 1, ':'))
        if (fs_addr_image(s, (size_t)(c - s), a, false)) {
            if (fs_addr_path(c + 1, a, err) < 0)
                goto fail;
            done = true;
        }
    if (!done && fs_addr_image(s, len, a, false))
        done = true;
    if (!done) { /* nothing exists: split by syntax, so that the open names what is missing */
        const char *c = strstr(s, ":/");
        if (!c && len && s[len - 1] == ':')
            c = s + len - 1;
        if (!fs_addr_image(s, c ? (size_t)(c - s) : len, a, true))
            goto oom;
        if (c && fs_addr_path(c + 1, a, err) < 0)
            goto fail;
    }
    if (!a->image)
        goto oom;
    if (a->vol && !a->vol[0]) {
        err_set(err, -EINVAL, "%s#: empty volume name", a->image);
        goto fail;
    }
    return 0;
oom:
    err_set(err, -ENOMEM, "out of memory");
fail:
    fs_addr_free(a);
    return err->code;
}

void fs_addr_free(struct fs_addr *a)
{
    free(a->image);
    free(a->vol);
    free(a->path);
    memset(a, 0, sizeof *a);
}

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* img.c: image handles. Opens the file, probes or takes the named driver, lets the driver
 * validate its metadata, opens backing chains on request (depth limit, cycle detection,
 * regular files only), and dispatches guest I/O, block status and the optional slots with
 * the argument checks done once here rather than in every driver.
 * Talks to: formats/ through struct img_driver; io.c for file access. Never prints.
 */
#include "core/block/driver.h"
#include "core/base/bytes.h"
#include "core/base/esc.h"
#include "core/base/io.h"
#include "core/block/lock.h"
#include "core/block/resolve.h"
#include "core/block/src.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

/* img->err = prefix (may be "") then the message, as one printable line (as err_set makes
 * it). */
static int img_verror(struct img *img, int code, const char *prefix, const char *fmt, va_list ap)
{
    char raw[IMG_ERR_MSG_MAX];
    int k = snprintf(raw, sizeof raw, "%s", prefix);
    img->err.code = code;
    vsnprintf(raw + k, sizeof raw - (size_t)k, fmt, ap);
    esc_into(img->err.msg, sizeof img->err.msg, raw, strlen(raw), NULL);
    return code;
}

int img_error(struct img *img, int code, const char *fmt, ...)
{
    char prefix[64];
    snprintf(prefix, sizeof prefix, "%s: ", img->drv->name);
    va_list ap;
    va_start(ap, fmt);
    img_verror(img, code, prefix, fmt, ap);
    va_end(ap);
    return code;
}

int img_drv_error(const struct img_driver *drv, struct img_err *err, int code, const char *fmt, ...)
{
    char msg[sizeof err->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return err_set(err, code, "%s: %s", drv->name, msg);
}

int img_fail(struct img *img, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    img_verror(img, code, "", fmt, ap);
    va_end(ap);
    return code;
}

const char *img_errmsg(const struct img *img)
{
    return img->err.msg[0] ? img->err.msg : "unknown error";
}

const char *img_region_name(enum img_region_kind k)
{
    static const char *const names[IMG_R_KIND_COUNT] = {
        [IMG_R_FREE] = "free",
        [IMG_R_HEADER] = "header",
        [IMG_R_L1] = "l1",
        [IMG_R_L2] = "l2",
        [IMG_R_REFTABLE] = "refcount-table",
        [IMG_R_REFBLOCK] = "refcount-block",
        [IMG_R_SNAPTABLE] = "snapshot-table",
        [IMG_R_SNAP_L1] = "snapshot-l1",
        [IMG_R_DATA] = "data",
        [IMG_R_COMPRESSED] = "compressed",
        [IMG_R_LEAKED] = "leaked",
        [IMG_R_META] = "metadata",
        [IMG_R_GRAIN_DIR] = "grain-directory",
        [IMG_R_GRAIN_TABLE] = "grain-table",
        [IMG_R_BLOCK_MAP] = "block-map",
        [IMG_R_BITMAP] = "bitmap",
    };
    return (unsigned)k < IMG_R_KIND_COUNT && names[k] ? names[k] : "unknown";
}

static void kv_add(struct img_info *i, const char *key, enum img_kv_type t, const char *s,
                   int64_t n)
{
    if (i->nkv >= IMG_INFO_KV_MAX)
        return;
    struct img_kv *kv = &i->kv[i->nkv++];
    snprintf(kv->key, sizeof kv->key, "%s", key);
    kv->type = t;
    snprintf(kv->str, sizeof kv->str, "%s", s ? s : "");
    kv->num = n;
}
void img_info_str(struct img_info *i, const char *key, const char *val)
{
    kv_add(i, key, IMG_KV_STR, val, 0);
}
void img_info_int(struct img_info *i, const char *key, int64_t val)
{
    kv_add(i, key, IMG_KV_INT, NULL, val);
}
void img_info_bool(struct img_info *i, const char *key, bool val)
{
    kv_add(i, key, IMG_KV_BOOL, NULL, val);
}

void img_check_report(struct img_check *c, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    if (!c->report)
        return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    c->report(c->report_ctx, line);
}

bool img_check_tick(struct img_check *c, uint64_t done, uint64_t total)
{
    return c->tick && c->tick(c->tick_ctx, done, total) != 0;
}

const struct img_driver *img_probe_buf(const uint8_t *buf, size_t len, int *score)
{
    size_t n;
    const struct img_driver *const *list = img_driver_list(&n);
    const struct img_driver *best = NULL;
    int best_score = 0;
    for (size_t i = 0; i < n; i++) {
        if (!list[i]->probe)
            continue;
        int s = list[i]->probe(buf, len);
        if (s > best_score) { /* ties go to the earlier (cheaper, more specific) driver */
            best_score = s;
            best = list[i];
        }
    }
    if (score)
        *score = best_score;
    return best;
}

/* A file no driver claimed may still be in a format dimg does not read yet: look at its
 * last 512 bytes too (VHD footer, DMG trailer). */
static const struct img_foreign *foreign_tail(const uint8_t *head, size_t hn, const uint8_t *tail,
                                              bool have_tail)
{
    return img_foreign_probe(head, hn, have_tail ? tail : NULL, have_tail ? 512 : 0);
}

static const struct img_foreign *foreign_check(int fd, const uint8_t *head, size_t hn)
{
    uint8_t tail[512];
    struct stat st;
    bool have =
        fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size >= (off_t)sizeof tail &&
        pread(fd, tail, sizeof tail, st.st_size - (off_t)sizeof tail) == (ssize_t)sizeof tail;
    return foreign_tail(head, hn, tail, have);
}

/* The same on any source (a device's or an export's last 512 bytes too); not on a stream
 * (an archive member read in order), where reading the end first would leave the start
 * behind for good. */
static const struct img_foreign *foreign_check_src(struct img_src *src, const uint8_t *head,
                                                   size_t hn)
{
    uint8_t tail[512];
    uint64_t size;
    bool have = (src_caps(src) & SRC_CAP_RANDOM) && src_size(src, &size) == 0 &&
                size >= sizeof tail && src_pread(src, tail, sizeof tail, size - sizeof tail) == 0;
    return foreign_tail(head, hn, tail, have);
}

int img_foreign_refuse(const char *fmt, const char *path, struct img_err *err)
{
    const struct img_foreign *fo = fmt ? img_foreign_find(fmt) : NULL;
    if (!fo)
        return 0;
    return err_set(err, -ENOTSUP, "%s%s%s image (format %s): not supported yet", path ? path : "",
                   path ? ": " : "", fo->desc, fo->name);
}

const struct img_foreign *img_foreign_fd(int fd)
{
    uint8_t head[IMG_PROBE_BYTES];
    ssize_t n = pread(fd, head, sizeof head, 0);
    if (n < 0)
        return NULL;
    const struct img_driver *d = img_probe_buf(head, (size_t)n, NULL);
    if (d && !(d->caps & IMG_CAP_RAW))
        return NULL;
    return foreign_check(fd, head, (size_t)n);
}

/* A backing reference must not reach protocols or json: pseudo-files. */
static bool name_is_protocol(const char *name)
{
    if (strncmp(name, "json:", 5) == 0)
        return true;
    const char *p = name;
    while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
           *p == '+' || *p == '-' || *p == '.')
        p++;
    if (p == name || *p != ':')
        return false;
    static const char *const protos[] = {
        "file",     "nbd",       "http",      "https",     "ftp",         "ftps",       "ssh",
        "iscsi",    "rbd",       "gluster",   "vvfat",     "nvme",        "null-co",    "null-aio",
        "blkdebug", "blkverify", "quorum",    "throttle",  "host_device", "host_cdrom", "fat",
        "nbd+unix", "nbds",      "nbds+unix", "nbd+vsock", "nbds+vsock"};
    size_t len = (size_t)(p - name);
    if (p[1] == '/' && p[2] == '/')
        return true;
    for (size_t i = 0; i < sizeof protos / sizeof *protos; i++)
        if (strlen(protos[i]) == len && strncmp(name, protos[i], len) == 0)
            return true;
    return false;
}

/* The image is read over NBD: names it records are the server's business, never files here. */
static bool img_remote(const struct img *img)
{
    return img->src && src_kind(img->src) == SRC_NBD;
}

struct chain_ids {
    dev_t dev[IMG_CHAIN_MAX_DEPTH + 1];
    ino_t ino[IMG_CHAIN_MAX_DEPTH + 1];
    unsigned n;
};

/* Lock fd's file for a handle opened with flags (lock_take). */
static int img_lock_fd(int fd, const char *path, unsigned flags, struct lock_ref **out,
                       bool *in_use, struct img_err *err)
{
    if ((flags & IMG_OPEN_LOCK_STRICT) && !(flags & IMG_OPEN_FORCE_SHARE))
        return lock_acquire(fd, path, flags & IMG_OPEN_RW, out, err);
    return lock_take(fd, path, flags & IMG_OPEN_RW, flags & IMG_OPEN_FORCE_SHARE, out, in_use, err);
}

static void img_unlock_all(struct img *img)
{
    lock_release(img->lock);
    img->lock = NULL;
    for (size_t i = 0; i < img->n_ref_locks; i++)
        lock_release(img->ref_locks[i]);
    free(img->ref_locks);
    img->ref_locks = NULL;
    img->n_ref_locks = 0;
}

/* Keep the lock of a file the image's metadata names until img_close. */
static int img_keep_ref_lock(struct img *img, struct lock_ref *lk)
{
    if (!lk)
        return 0;
    struct lock_ref **v = realloc(img->ref_locks, (img->n_ref_locks + 1) * sizeof *v);
    if (!v) {
        lock_release(lk);
        return img_fail(img, -ENOMEM, "out of memory");
    }
    img->ref_locks = v;
    img->ref_locks[img->n_ref_locks++] = lk;
    return 0;
}

/* Open a file an image names (extent, backing file, data file, vdi parent) below the
 * directory its name designates (resolve_split_ref), never through a symlink that leads out
 * of it; when untrusted, through no symlink at all and never a file with other hard links (its
 * other name may lie anywhere). err gets the reason alone; the caller names the file. */
static int ref_open(const char *dir, const char *name, unsigned flags, struct img_err *err)
{
    char *rdir, *rel;
    if (resolve_split_ref(dir, name, &rdir, &rel) < 0)
        return err_set(err, -ENOMEM, "out of memory");
    bool untrusted = flags & IMG_OPEN_UNTRUSTED;
    struct stat st;
    int fd = resolve_open_beneath(rdir, rel, (flags & IMG_OPEN_RW) ? O_RDWR : O_RDONLY,
                                  untrusted ? RESOLVE_OPEN_NOSYMLINKS : 0, &st, err);
    free(rdir);
    free(rel);
    if (fd == -EXDEV)
        return err_set(err, fd, "leads outside %s through a symlink or '..'; not followed",
                       resolve_name_local(name) ? "the image's directory" : "its directory");
    if (fd >= 0 && untrusted && st.st_nlink > 1) {
        close(fd);
        return err_set(err, -EPERM,
                       "has %llu hard links, one may lie anywhere; not followed "
                       "for an untrusted image",
                       (unsigned long long)st.st_nlink);
    }
    return fd;
}

int img_open_ref(struct img *img, const char *name, const char *what, unsigned ref_flags,
                 struct img_src **out)
{
    *out = NULL;
    if (img->flags & IMG_OPEN_NO_REFS)
        return img_fail(img, -EPERM,
                        "%s: %s '%s' not followed: an image inside an archive is "
                        "read without the files it names",
                        img->path, what, name);
    /* A part of the image itself (a vmdk extent) beside it is still read when untrusted;
     * anything further away is an external reference. */
    if ((img->flags & IMG_OPEN_UNTRUSTED) && !((ref_flags & IMG_REF_LOCAL) && !strchr(name, '/')))
        return img_fail(img, -EPERM,
                        "%s: %s '%s' not followed: external references are "
                        "disabled (--untrusted)",
                        img->path, what, name);
    if (!name[0] || name_is_protocol(name) || strstr(name, "://"))
        return img_fail(img, -EPERM, "%s: %s '%s' is not a plain file name", img->path, what, name);
    if (img_remote(img))
        return img_fail(img, -EPERM, "%s: %s '%s' not followed: the image is read over NBD",
                        img->path, what, name);
    if ((ref_flags & IMG_REF_LOCAL) && !resolve_name_local(name))
        return img_fail(img, -EPERM,
                        "%s: %s '%s' leads outside the image's directory; not "
                        "followed",
                        img->path, what, name);
    char *full = io_path_join(img->dir, name);
    if (!full)
        return img_fail(img, -ENOMEM, "out of memory");
    struct img_err rerr = {0};
    int fd = ref_open(img->dir, name, img->flags, &rerr);
    if (fd < 0) {
        free(full);
        return img_fail(img, fd, "%s: %s '%s': %s", img->path, what, name, rerr.msg);
    }
    struct lock_ref *lk;
    int r = img_lock_fd(fd, full, img->flags, &lk, &img->in_use, &img->err);
    if (r == 0)
        r = img_keep_ref_lock(img, lk);
    free(full);
    if (r < 0) {
        close(fd);
        return r;
    }
    /* the lock stays with the descriptor, which the source takes over */
    r = src_from_fd(fd, name, (img->flags & IMG_OPEN_RW) ? SRC_OPEN_RW : 0, out, &rerr);
    if (r < 0)
        return img_fail(img, r, "%s: %s: %s", img->path, what, rerr.msg);
    return 0;
}

static struct img *open_layer(const char *path, const char *refdir, const char *fmt, unsigned flags,
                              unsigned depth, int fd, struct chain_ids *ids, struct img_err *err);

static int open_backing(struct img *img, struct chain_ids *ids)
{
    const char *name = img->backing_name;
    if (img->flags & IMG_OPEN_UNTRUSTED)
        return img_fail(img, -EPERM,
                        "%s: backing file '%s' not followed: external references are disabled "
                        "(--untrusted)",
                        img->path, name);
    if (name_is_protocol(name))
        return img_fail(img, -EPERM, "%s: backing file '%s' is a protocol name, not a file",
                        img->path, name);
    if (img_remote(img))
        return img_fail(img, -EPERM,
                        "%s: backing file '%s' not followed: the image is read over NBD", img->path,
                        name);
    if (img->depth + 1 >= IMG_CHAIN_MAX_DEPTH) /* img is image depth + 1 of the chain */
        return img_fail(img, -ELOOP, "%s: backing chain deeper than %d images", img->path,
                        IMG_CHAIN_MAX_DEPTH);
    char *full = io_path_join(img->dir, name);
    if (!full)
        return img_fail(img, -ENOMEM, "out of memory");
    struct img_err berr = {0};
    unsigned bflags = (img->flags & (IMG_OPEN_BACKING | IMG_OPEN_UNTRUSTED | IMG_OPEN_FORCE_SHARE |
                                     IMG_OPEN_LOCK_STRICT));
    int fd = ref_open(img->dir, name, bflags, &berr);
    if (fd < 0) {
        err_set(&img->err, fd, "%s: %s", full, berr.msg);
        free(full);
        return fd;
    }
    struct img *b =
        open_layer(full, NULL, img->backing_fmt, bflags, img->depth + 1, fd, ids, &berr);
    free(full);
    if (!b) {
        img->err = berr;
        return berr.code ? berr.code : -EIO;
    }
    img->backing = b;
    return 0;
}

/* A file already in the chain (by device and inode) ends it with -ELOOP; else it is added. */
static int layer_seen(struct chain_ids *ids, const struct stat *st, const char *path,
                      struct img_err *err)
{
    for (unsigned i = 0; i < ids->n; i++)
        if (ids->dev[i] == st->st_dev && ids->ino[i] == st->st_ino)
            return err_set(err, -ELOOP, "%s: backing chain loops back to an image already in it",
                           path);
    ids->dev[ids->n] = st->st_dev;
    ids->ino[ids->n] = st->st_ino;
    ids->n++;
    return 0;
}

/* A file only raw claimed may carry a trailer signature (dmg): the drivers with a
 * probe_tail look at its last bytes; the best score wins. */
static int probe_tail(struct img_src *src, uint64_t size, const struct img_driver **drv)
{
    uint8_t tail[IMG_PROBE_BYTES];
    size_t n = size < sizeof tail ? (size_t)size : sizeof tail, nd;
    const struct img_driver *const *list = img_driver_list(&nd);
    int best = 0, r = 0;
    bool read = false;
    for (size_t i = 0; i < nd; i++) {
        if (!list[i]->probe_tail)
            continue;
        if (!read && (r = src_pread(src, tail, n, size - n)) < 0)
            return r;
        read = true;
        int sc = list[i]->probe_tail(tail, n);
        if (sc > best) {
            best = sc;
            *drv = list[i];
        }
    }
    return 0;
}

/* The driver for a file no format was named for: the best probe score; a file only raw
 * claims but in a format dimg does not read yet is refused by name. 0 or -errno. */
static int layer_probe(struct img_src *src, const char *path, const struct img_driver **drv,
                       struct img_err *err)
{
    uint8_t buf[IMG_PROBE_BYTES];
    memset(buf, 0, sizeof buf);
    uint64_t size;
    int r = src_size(src, &size);
    /* A stream of unknown length: try a whole probe; a shorter one learns its length then. */
    if (r < 0 && !(src_caps(src) & SRC_CAP_RANDOM)) {
        size = sizeof buf;
        if ((r = src_pread(src, buf, sizeof buf, 0)) < 0)
            r = src_size(src, &size);
    }
    size_t n = size < sizeof buf ? (size_t)size : sizeof buf;
    if (r == 0)
        r = src_pread(src, buf, n, 0);
    if (r < 0)
        return err_set(err, r, "%s: %s", path, src_errmsg(src, r));
    *drv = img_probe_buf(buf, n, NULL);
    if (!*drv)
        return err_set(err, -EINVAL, "%s: unrecognised image format", path);
    /* A stream is read in order: its end is not looked at first. */
    if (((*drv)->caps & IMG_CAP_RAW) && r == 0 && (src_caps(src) & SRC_CAP_RANDOM) &&
        (r = probe_tail(src, size, drv)) < 0)
        return err_set(err, r, "%s: %s", path, src_errmsg(src, r));
    const struct img_foreign *fo =
        ((*drv)->caps & IMG_CAP_RAW) ? foreign_check_src(src, buf, n) : NULL;
    if (fo)
        return img_foreign_refuse(fo->name, path, err);
    return 0;
}

/* The driver parses the metadata; a failure is said in err once, after the path. */
static int layer_driver_open(struct img *img, const char *path, unsigned flags, struct img_err *err)
{
    int r = img->drv->open(img, flags);
    if (r == 0)
        return 0;
    if (!img->err.msg[0])
        img_fail(img, r, "%s: %s", img->drv->name, strerror(-r));
    /* Messages about files the image names (img_open_ref) already start with the path. */
    size_t pl = strlen(path);
    if (strncmp(img->err.msg, path, pl) == 0 && img->err.msg[pl] == ':')
        err_set(err, r, "%s", img->err.msg);
    else
        err_set(err, r, "%s: %s", path, img->err.msg);
    if (img->drv->close)
        img->drv->close(img);
    return r;
}

/* What a handle owns besides its file and driver state: its locks and strings. Shared by
 * img_close and open_layer's failure path, which has no driver state to close yet. */
static void img_free(struct img *img)
{
    img_unlock_all(img);
    free(img->priv);
    free(img->path);
    free(img->dir);
    free(img->backing_name);
    free(img->backing_fmt);
    free(img->zbuf);
    free(img);
}

/* The layer's byte source: an NBD export for a URI the user gave (depth 0, fd -1), else the
 * file or block device at path (or fd, as open_backing opened it), checked against the chain
 * and locked before the driver reads (or, read-write, fixes up) anything. fd is taken over. */
static int layer_source(const char *path, unsigned flags, int fd, struct chain_ids *ids,
                        struct img_src **src, struct lock_ref **lk, bool *in_use, struct stat *st,
                        struct img_err *err)
{
    unsigned sflags = (flags & IMG_OPEN_RW) ? SRC_OPEN_RW : 0;
    memset(st, 0, sizeof *st);
    if (fd < 0 && src_name_is_uri(path))
        return src_open(path, sflags, src, err); /* the server owns sharing: no locks */
    int oflags = ((flags & IMG_OPEN_RW) ? O_RDWR : O_RDONLY) | O_CLOEXEC;
    if (fd >= 0 && fstat(fd, st) < 0) {
        int r = err_set(err, -errno, "%s: %s", path, strerror(errno));
        close(fd);
        return r;
    }
    /* never blocks: a FIFO, socket or character device is refused by its type */
    if (fd < 0 && (fd = resolve_open_file(path, oflags, RESOLVE_OPEN_BLOCKDEV, st, err)) < 0)
        return fd;
    int r = layer_seen(ids, st, path, err);
    if (r < 0) {
        close(fd);
        return r;
    }
    if ((r = src_from_fd(fd, path, sflags, src, err)) < 0)
        return r;
    if ((r = img_lock_fd(src_fd(*src), path, flags, lk, in_use, err)) < 0) {
        src_close(*src);
        *src = NULL;
    }
    return r;
}

/* The driver for the layer: named, or probed; one that cannot work on this source or open
 * read-write is refused before it reads anything. */
static int layer_pick(const char *path, const char *fmt, unsigned flags, struct img_src *src,
                      const struct img_driver **drv, bool *probed, struct img_err *err)
{
    *probed = false;
    if (!*drv) {
        int r = layer_probe(src, path, drv, err);
        if (r < 0)
            return r;
        *probed = true;
    }
    if (!(src_caps(src) & SRC_CAP_RANDOM) && !(*drv)->stream_head)
        return err_set(err, -ENOTSUP, "%s: %s needs random access; it cannot be read as a stream",
                       path, (*drv)->name);
    if (!(src_caps(src) & SRC_CAP_FD) && !((*drv)->caps & IMG_CAP_SOURCES))
        return err_set(err, -ENOTSUP, "%s: %s images cannot be read over NBD yet", path,
                       (*drv)->name);
    if ((flags & IMG_OPEN_RW) && !(*drv)->write)
        return err_set(err, -ENOTSUP, "%s: %s: writing is not supported", path, (*drv)->name);
    return 0;
}

/* fd: the backing file as open_backing opened it (depth > 0), or -1 to open path. It is
 * closed on failure. */
static struct img *open_layer(const char *path, const char *refdir, const char *fmt, unsigned flags,
                              unsigned depth, int fd, struct chain_ids *ids, struct img_err *err)
{
    const struct img_driver *drv = NULL;
    if (fmt) {
        drv = img_driver_find(fmt);
        if (!drv && img_foreign_refuse(fmt, path, err) == 0)
            err_set(err, -EINVAL, "%s: unknown format '%s'", path, fmt);
        if (!drv) {
            if (fd >= 0)
                close(fd);
            return NULL;
        }
    }
    struct stat st;
    struct img_src *src = NULL;
    struct lock_ref *lk = NULL;
    bool in_use = false, probed;
    if (layer_source(path, flags, fd, ids, &src, &lk, &in_use, &st, err) < 0)
        return NULL;
    struct img *img = NULL;
    if (layer_pick(path, fmt, flags, src, &drv, &probed, err) < 0)
        goto fail;
    if (!(img = calloc(1, sizeof *img)) || !(img->path = strdup(path)) ||
        !(img->dir = refdir ? strdup(refdir) : io_dirname(path))) {
        err_set(err, -ENOMEM, "out of memory");
        goto fail;
    }
    img->lock = lk;
    lk = NULL;
    img->in_use = in_use;
    img->drv = drv;
    img->src = src;
    img->fd = src_fd(src);
    img->flags = flags;
    img->probed = probed;
    img->depth = depth;
    img->st_dev = st.st_dev;
    img->st_ino = st.st_ino;
    img->open_file_size = S_ISREG(st.st_mode) ? (uint64_t)st.st_size : 0;
    if (drv->priv_size && !(img->priv = calloc(1, drv->priv_size))) {
        err_set(err, -ENOMEM, "out of memory");
        goto fail;
    }
    if (layer_driver_open(img, path, flags, err) < 0)
        goto fail;
    if ((flags & IMG_OPEN_BACKING) && img->backing_name && img->backing_name[0] &&
        open_backing(img, ids) < 0) {
        *err = img->err;
        img_close(img);
        return NULL;
    }
    return img;

fail:
    lock_release(lk);
    if (img)
        img_free(img);
    src_close(src);
    return NULL;
}

bool img_name_is_uri(const char *name)
{
    return src_name_is_uri(name);
}

struct img *img_open(const char *path, const char *fmt, unsigned flags, struct img_err *err)
{
    return img_open_in(path, NULL, fmt, flags, err);
}

struct img *img_open_in(const char *path, const char *refdir, const char *fmt, unsigned flags,
                        struct img_err *err)
{
    struct chain_ids ids = {.n = 0};
    err_clear(err);
    return open_layer(path, refdir, fmt, flags, 0, -1, &ids, err);
}

struct img *img_open_src(struct img_src *src, const char *name, const char *dir, const char *fmt,
                         unsigned flags, struct img_err *err)
{
    const struct img_driver *drv = NULL;
    struct img *img = NULL;
    bool probed;
    err_clear(err);
    if (fmt && !(drv = img_driver_find(fmt))) {
        if (img_foreign_refuse(fmt, name, err) == 0)
            err_set(err, -EINVAL, "%s: unknown format '%s'", name, fmt);
        goto fail;
    }
    if (layer_pick(name, fmt, flags, src, &drv, &probed, err) < 0)
        goto fail;
    if (!(img = calloc(1, sizeof *img)) || !(img->path = strdup(name)) ||
        !(img->dir = strdup(dir))) {
        err_set(err, -ENOMEM, "out of memory");
        goto fail;
    }
    img->drv = drv;
    img->src = src;
    img->fd = src_fd(src);
    img->flags = flags;
    img->probed = probed;
    if (drv->priv_size && !(img->priv = calloc(1, drv->priv_size))) {
        err_set(err, -ENOMEM, "out of memory");
        goto fail;
    }
    if (layer_driver_open(img, name, flags, err) < 0)
        goto fail;
    return img;
fail:
    if (img)
        img_free(img);
    src_close(src);
    return NULL;
}

bool img_driver_streams(const struct img_driver *drv, const uint8_t *head, size_t n)
{
    return drv && drv->stream_head && drv->stream_head(head, n);
}

void img_replace_src(struct img *img, struct img_src *src)
{
    struct stat st;
    src_close(img->src);
    img->src = src;
    img->fd = src_fd(src);
    if (img->fd >= 0 && fstat(img->fd, &st) == 0) {
        img->st_dev = st.st_dev;
        img->st_ino = st.st_ino;
    }
}

void img_close(struct img *img)
{
    if (!img)
        return;
    if (img->backing)
        img_close(img->backing);
    if (img->drv->close)
        img->drv->close(img);
    if (img->src)
        src_close(img->src); /* closes img->fd */
    else if (img->fd >= 0)
        close(img->fd);
    img_free(img);
}

static int check_range(struct img *img, uint64_t off, uint64_t len)
{
    uint64_t end;
    if (u64_add_overflow(off, len, &end) || end > img->size)
        return img_fail(
            img, -EINVAL, "request at %llu+%llu lies past the end of the image (%llu bytes)",
            (unsigned long long)off, (unsigned long long)len, (unsigned long long)img->size);
    return 0;
}

/* A read-only handle's file must not have shrunk since it was opened: past the new end every
 * driver would read zeros (or call it a hole) and a copy would silently lose the data. Checked
 * after the driver answered, so that a truncation racing the read is seen too. */
static int check_shrunk(struct img *img, uint64_t off)
{
    struct stat st;
    if ((img->flags & IMG_OPEN_RW) || !img->open_file_size || img->fd < 0 ||
        fstat(img->fd, &st) < 0 || (uint64_t)st.st_size >= img->open_file_size)
        return 0;
    return img_fail(img, -EIO,
                    "%s: the file was truncated while being read (%llu bytes, %llu when "
                    "opened); stopped at guest offset %llu",
                    img->path, (unsigned long long)st.st_size,
                    (unsigned long long)img->open_file_size, (unsigned long long)off);
}

int img_read(struct img *img, uint64_t off, void *buf, size_t len)
{
    int r = check_range(img, off, len);
    if (r < 0 || len == 0)
        return r;
    r = img->drv->read(img, off, buf, len);
    return r < 0 ? r : check_shrunk(img, off);
}

int img_read_backing(struct img *img, uint64_t off, void *buf, size_t len)
{
    struct img *b = img->backing;
    if (!b) {
        if (img->backing_name && img->backing_name[0])
            return img_fail(img, -ENOENT,
                            "%s: reading needs the backing file '%s', which is not open", img->path,
                            img->backing_name);
        if (img->backing_unresolved)
            return img_fail(img, -ENOENT, "%s: reading needs the parent image, which is not open",
                            img->path);
        memset(buf, 0, len);
        return 0;
    }
    size_t n = 0;
    if (off < b->size)
        n = (b->size - off < len) ? (size_t)(b->size - off) : len;
    if (n) {
        int r = img_read(b, off, buf, n);
        if (r < 0) {
            img->err = b->err;
            return r;
        }
    }
    memset((uint8_t *)buf + n, 0, len - n);
    return 0;
}

static int check_writable(struct img *img, const char *what, const void *slot)
{
    if (!(img->flags & IMG_OPEN_RW))
        return img_fail(img, -EROFS, "%s: image is open read-only", img->path);
    if (!slot)
        return img_fail(img, -ENOTSUP, "%s: %s does not support %s", img->path, img->drv->name,
                        what);
    return 0;
}

/* A guessed raw image must not have sector 0 rewritten: new content there could make the
 * next probe see a different format (and follow a backing name planted in it). */
static int check_raw0(struct img *img, uint64_t off)
{
    if (img->probed && off < 512 && !(img->flags & IMG_OPEN_FORCE_RAW0) &&
        (img->drv->caps & IMG_CAP_RAW))
        return img_fail(img, -EPERM,
                        "%s: format was guessed as raw; refusing to write sector 0 (name the "
                        "format with -f raw)",
                        img->path);
    return 0;
}

/* The checks every guest write passes before it reaches a driver. */
static int check_write(struct img *img, uint64_t off, uint64_t len)
{
    int r = check_writable(img, "writing", (const void *)img->drv->write);
    if (r == 0)
        r = check_range(img, off, len);
    if (r == 0)
        r = check_raw0(img, off);
    return r;
}

/* A scratch target (a convert's new file) starts writeback behind the writer every
 * IMG_KICK bytes, so the flush before the rename waits for the last stretch only, not for
 * the whole file: the disk works while the convert goes on. Whole-file ranges, since a
 * format driver may place and batch its writes anywhere in the file. */
#define IMG_KICK (32u << 20)

static int img_kick(struct img *img, int r, uint64_t n)
{
    if (r < 0 || !(img->flags & IMG_OPEN_SCRATCH))
        return r;
    img->kick_pending += n;
    if (img->kick_pending >= IMG_KICK && img->fd >= 0) {
        io_start_writeback(img->fd, 0, 0);
        img->kick_pending = 0;
    }
    return r;
}

int img_write(struct img *img, uint64_t off, const void *buf, size_t len)
{
    int r = check_write(img, off, len);
    if (r < 0 || len == 0)
        return r;
    return img_kick(img, img->drv->write(img, off, buf, len), len);
}

int img_write_zeroes(struct img *img, uint64_t off, uint64_t len)
{
    int r = check_write(img, off, len);
    if (r < 0 || len == 0)
        return r;
    if (img->drv->write_zeroes)
        return img->drv->write_zeroes(img, off, len);
    /* Fallback: write real zeros. */
    static const uint8_t zero[65536];
    while (len > 0) {
        size_t n = len < sizeof zero ? (size_t)len : sizeof zero;
        r = img->drv->write(img, off, zero, n);
        if (r < 0)
            return r;
        off += n;
        len -= n;
    }
    return 0;
}

/* The zbuf of img_write_compressed: the cluster padded with zeros, then room for its
 * stream (as compress_cluster asks). */
static size_t zstream_cap(uint32_t cluster)
{
    return (size_t)cluster + cluster / 16 + 1024;
}

/* One cluster compressed, then placed: the two slots the pipeline uses, in a row. */
int img_write_compressed(struct img *img, uint64_t off, const void *buf, size_t len)
{
    const void *slot =
        img_driver_can_compress(img->drv) ? (const void *)img->drv->write_compressed_z : NULL;
    int r = check_writable(img, "compressed writes", slot);
    if (r == 0)
        r = check_range(img, off, len);
    if (r < 0)
        return r;
    if (!img->zbuf) {
        struct img_info info;
        if ((r = img_get_info(img, &info)) < 0)
            return r;
        /* No cluster size (a vmdk of flat extents): the driver refuses, with its message. */
        if (!(img->zbuf = malloc(info.cluster_size + zstream_cap(info.cluster_size))))
            return img_fail(img, -ENOMEM, "out of memory");
        img->zcluster = info.cluster_size;
    }
    size_t zlen = 0;
    /* A request the driver refuses (not one cluster) reaches it with no stream, as is. */
    if (len && len <= img->zcluster) {
        uint8_t *in = img->zbuf, *z = img->zbuf + img->zcluster;
        memcpy(in, buf, len);
        memset(in + len, 0, img->zcluster - len); /* a short tail is padded with zeros */
        zlen = img->drv->compress_cluster(img, in, img->zcluster, z, zstream_cap(img->zcluster));
        if (zlen >= img->zcluster)
            zlen = 0; /* does not shrink: stored as is */
    }
    return img_kick(
        img, img->drv->write_compressed_z(img, off, buf, len, img->zbuf + img->zcluster, zlen),
        zlen ? zlen : len);
}

bool img_format_is_raw(const char *name)
{
    const struct img_driver *d = img_driver_find(name);
    return d && (d->caps & IMG_CAP_RAW);
}

bool img_driver_can_compress(const struct img_driver *drv)
{
    return drv->compress_cluster && drv->write_compressed_z;
}

bool img_can_compress_split(const struct img *img)
{
    return img_driver_can_compress(img->drv);
}

size_t img_compress_cluster(struct img *img, const void *in, size_t len, void *out, size_t cap)
{
    return img->drv->compress_cluster(img, in, len, out, cap);
}

int img_write_compressed_z(struct img *img, uint64_t off, const void *buf, size_t len,
                           const void *z, size_t zlen)
{
    int r = check_writable(img, "compressed writes", (const void *)img->drv->write_compressed_z);
    if (r == 0)
        r = check_range(img, off, len);
    if (r < 0)
        return r;
    return img_kick(img, img->drv->write_compressed_z(img, off, buf, len, z, zlen),
                    zlen ? zlen : len);
}

int img_flush(struct img *img)
{
    if (!(img->flags & IMG_OPEN_RW))
        return 0;
    if (img->drv->flush)
        return img->drv->flush(img);
    int r = img->src ? src_flush(img->src) : io_sync(img->fd);
    return r < 0 ? img_fail(img, r, "%s: flush: %s", img->path,
                            img->src ? src_errmsg(img->src, r) : strerror(-r))
                 : 0;
}

int img_block_status_layer(struct img *img, uint64_t off, uint64_t len, struct img_bs *bs)
{
    int r = check_range(img, off, len);
    if (r < 0)
        return r;
    if (len == 0)
        return img_fail(img, -EINVAL, "block status of an empty range");
    memset(bs, 0, sizeof *bs);
    r = img->drv->block_status(img, off, len, bs);
    if (r == 0)
        r = check_shrunk(img, off);
    if (r < 0)
        return r;
    if (bs->len == 0 || bs->len > len)
        return img_fail(img, -EIO, "%s: driver returned a bad block-status run", img->drv->name);
    return 0;
}

int img_block_status(struct img *img, uint64_t off, uint64_t len, struct img_bs *bs)
{
    struct img *cur = img;
    unsigned depth = 0;
    int r = img_block_status_layer(cur, off, len, bs);
    while (r == 0) {
        bs->depth = depth;
        if (bs->flags & IMG_BS_ALLOCATED)
            return 0;
        struct img *b = cur->backing;
        if (!b || off >= b->size) {
            /* Nothing below (or past the backing file's end): zeros, answered here. An
             * unopened backing file leaves the run unknown, neither data nor zero. */
            bool unknown =
                !b && ((cur->backing_name && cur->backing_name[0]) || cur->backing_unresolved);
            bs->flags = (unknown ? 0 : IMG_BS_ZERO) | (bs->flags & IMG_BS_OFFSET_VALID);
            return 0;
        }
        uint64_t n = bs->len;
        if (n > b->size - off)
            n = b->size - off;
        cur = b;
        depth++;
        r = img_block_status_layer(cur, off, n, bs);
        if (r < 0)
            img->err = cur->err;
    }
    return r;
}

int img_get_info(struct img *img, struct img_info *info)
{
    memset(info, 0, sizeof *info);
    info->format = img->drv->name;
    info->virtual_size = img->size;
    int r =
        img->src ? src_size(img->src, &info->file_size) : io_file_size(img->fd, &info->file_size);
    if (r < 0 && img->src && !(src_caps(img->src) & SRC_CAP_RANDOM))
        r = 0; /* a stream's length is not known before its end */
    if (r == 0)
        r = img->src ? src_alloc(img->src, &info->actual_size)
                     : io_file_alloc(img->fd, &info->actual_size);
    if (r == -ENOTSUP && img->src) { /* an export: the server does not say */
        info->actual_unknown = true;
        info->no_dirty_flag = (img->drv->caps & IMG_CAP_RAW) != 0;
        r = 0;
    }
    if (r < 0)
        return img_fail(img, r, "%s: %s", img->path, strerror(-r));
    if (img->backing_name)
        snprintf(info->backing_file, sizeof info->backing_file, "%s", img->backing_name);
    if (img->backing_fmt)
        snprintf(info->backing_fmt, sizeof info->backing_fmt, "%s", img->backing_fmt);
    return img->drv->get_info ? img->drv->get_info(img, info) : 0;
}

int img_extents(struct img *img, struct img_extent **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    return img->drv->extents ? img->drv->extents(img, out, n) : 0;
}

int img_check(struct img *img, struct img_check *res, unsigned fix)
{
    if (!img->drv->check)
        return img_fail(img, -ENOTSUP, "%s: %s images have no consistency check", img->path,
                        img->drv->name);
    if (fix && !(img->flags & IMG_OPEN_RW))
        return img_fail(img, -EROFS, "%s: repair needs the image open read-write", img->path);
    return img->drv->check(img, res, fix);
}

int img_layout(struct img *img, struct img_region **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (!img->drv->layout)
        return img_fail(img, -ENOTSUP, "%s: %s does not describe its layout", img->path,
                        img->drv->name);
    return img->drv->layout(img, out, n);
}

int img_snap_list(struct img *img, struct img_snap **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (!img->drv->snap_list)
        return 0; /* no internal snapshots: an empty list, as qemu-img prints nothing */
    return img->drv->snap_list(img, out, n);
}

int img_bitmap_list(struct img *img, struct img_bitmap **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    return img->drv->bitmap_list ? img->drv->bitmap_list(img, out, n) : 0;
}

int img_snap_create(struct img *img, const char *name)
{
    int r = check_writable(img, "internal snapshots", (const void *)img->drv->snap_create);
    return r < 0 ? r : img->drv->snap_create(img, name);
}

int img_snap_apply(struct img *img, const char *id_or_name)
{
    int r = check_writable(img, "internal snapshots", (const void *)img->drv->snap_apply);
    return r < 0 ? r : img->drv->snap_apply(img, id_or_name);
}

int img_snap_delete(struct img *img, const char *id_or_name)
{
    int r = check_writable(img, "internal snapshots", (const void *)img->drv->snap_delete);
    return r < 0 ? r : img->drv->snap_delete(img, id_or_name);
}

int img_snap_load(struct img *img, const char *id_or_name)
{
    if (!img->drv->snap_load)
        return img_fail(img, -ENOTSUP, "%s: %s does not support internal snapshots", img->path,
                        img->drv->name);
    if (img->flags & IMG_OPEN_RW)
        return img_fail(img, -EINVAL, "%s: a snapshot can only be viewed read-only", img->path);
    return img->drv->snap_load(img, id_or_name);
}

int img_truncate(struct img *img, uint64_t size, enum img_prealloc prealloc)
{
    int r = check_writable(img, "resizing", (const void *)img->drv->truncate);
    if (r < 0)
        return r;
    return img->drv->truncate(img, size, prealloc);
}

int img_compact(struct img *img, int (*tick)(void *ctx, uint64_t done, uint64_t total), void *ctx)
{
    if (!img->drv->compact)
        return img_fail(img, -ENOTSUP,
                        "%s: format %s cannot be compacted in place; use dimg convert", img->path,
                        img->drv->name);
    int r = check_writable(img, "compaction", (const void *)img->drv->compact);
    return r < 0 ? r : img->drv->compact(img, tick, ctx);
}

int img_set_backing(struct img *img, const char *name, const char *fmt)
{
    if (!(img->flags & IMG_OPEN_RW))
        return img_fail(img, -EROFS, "%s: image is open read-only", img->path);
    if (!img->drv->set_backing || !(img->drv->caps & IMG_CAP_BACKING))
        return img_fail(img, -ENOTSUP, "%s: format %s cannot change its backing file", img->path,
                        img->drv->name);
    bool none = !name || !name[0];
    return img->drv->set_backing(img, none ? NULL : name, none ? NULL : fmt);
}

int img_make_empty(struct img *img)
{
    int r =
        check_writable(img, "emptying into the backing file", (const void *)img->drv->make_empty);
    return r < 0 ? r : img->drv->make_empty(img);
}

int img_amend(struct img *img, const struct img_amend_req *req)
{
    int r = check_writable(img, "amend", (const void *)img->drv->amend);
    return r < 0 ? r : img->drv->amend(img, req);
}

int img_unlock(struct img *img)
{
    return img->drv->unlock ? img->drv->unlock(img) : 0;
}

void img_regions_add(struct img_regions *rl, uint64_t off, uint64_t len, enum img_region_kind k)
{
    if (rl->oom || len == 0)
        return;
    if (rl->n == rl->cap) {
        size_t cap = rl->cap ? rl->cap * 2 : 64;
        struct img_region *v = realloc(rl->v, cap * sizeof *v);
        if (!v) {
            rl->oom = true;
            return;
        }
        rl->v = v;
        rl->cap = cap;
    }
    rl->v[rl->n++] = (struct img_region){off, len, k};
}

static int region_cmp(const void *a, const void *b)
{
    const struct img_region *x = a, *y = b;
    return x->off < y->off ? -1 : x->off > y->off;
}

int img_regions_finish(struct img_regions *rl, struct img_region **out, size_t *n)
{
    if (rl->oom) {
        free(rl->v);
        *rl = (struct img_regions){0};
        return -ENOMEM;
    }
    if (rl->n)
        qsort(rl->v, rl->n, sizeof *rl->v, region_cmp);
    size_t k = 0;
    for (size_t i = 0; i < rl->n; i++) {
        if (k && rl->v[k - 1].kind == rl->v[i].kind &&
            rl->v[k - 1].off + rl->v[k - 1].len == rl->v[i].off)
            rl->v[k - 1].len += rl->v[i].len;
        else
            rl->v[k++] = rl->v[i];
    }
    *out = rl->v;
    *n = k;
    *rl = (struct img_regions){0};
    return 0;
}

/* ---- what the faces may know (img.h) ---- */
const struct img_driver *img_get_driver(const struct img *img)
{
    return img->drv;
}

const char *img_format(const struct img *img)
{
    return img->drv->name;
}

uint64_t img_size(const struct img *img)
{
    return img->size;
}

const char *img_path(const struct img *img)
{
    return img->path;
}

const char *img_backing_name(const struct img *img)
{
    return img->backing_name;
}

const char *img_backing_fmt(const struct img *img)
{
    return img->backing_fmt;
}

struct img *img_backing(const struct img *img)
{
    return img->backing;
}

bool img_backing_unresolved(const struct img *img)
{
    return img->backing_unresolved;
}

bool img_driver_has(const struct img_driver *d, enum img_op op)
{
    switch (op) {
    case IMG_OP_PROBE: return d->probe != NULL;
    case IMG_OP_CREATE: return d->create != NULL;
    case IMG_OP_CHECK: return d->check != NULL;
    case IMG_OP_TRUNCATE: return d->truncate != NULL;
    case IMG_OP_COMPACT: return d->compact != NULL;
    case IMG_OP_SNAPSHOTS: return d->snap_create != NULL;
    case IMG_OP_SET_BACKING: return d->set_backing != NULL;
    }
    return false;
}

const char *img_driver_name(const struct img_driver *d)
{
    return d->name;
}

unsigned img_driver_caps(const struct img_driver *d)
{
    return d->caps;
}

const struct img_opt_desc *img_driver_create_opts(const struct img_driver *d)
{
    return d->create_opts;
}

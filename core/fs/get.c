/* SPDX-License-Identifier: GPL-2.0-or-later */
/* get.c: copying a file, link or directory tree out of a guest filesystem onto the host
 * (dimg get; the browser's get). Everything below DEST is reached through directory
 * descriptors opened with O_NOFOLLOW, and every name comes from fs_list (fs_name_ok: no '/',
 * no "." or ".."), so nothing is written outside DEST and no symlink in DEST is followed.
 * Files are written as NAME.part (O_EXCL) and renamed; an existing name is refused unless
 * overwrite; holes stay holes; permission bits and times are kept (setuid/setgid/sticky
 * dropped: the files are the user's now); links are made as links, never followed; devices,
 * FIFOs and sockets are skipped with a warning. Talks to core/fs/fs.h.
 */
#include "core/fs/fs.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/base/io.h"

#define GET_CHUNK (1u << 20)

struct get_ctx {
    struct fs *fs;
    const struct fs_get_opts *o;
    struct img_err *err;
    uint8_t *buf;
    uint64_t done;
    uint64_t inos[FS_DEPTH_MAX + 1]; /* the directories being copied: loop check */
};

static int get_node(struct get_ctx *c, int dirfd, const char *name, const struct fs_stat *st,
                    unsigned depth);

/* Rename tmp to name in dirfd: refused over an existing name unless overwrite. */
static int get_rename(struct get_ctx *c, int dirfd, const char *tmp, const char *name)
{
    if (c->o && c->o->overwrite) {
        if (renameat(dirfd, tmp, dirfd, name) == 0)
            return 0;
    } else {
        if (renameat2(dirfd, tmp, dirfd, name, RENAME_NOREPLACE) == 0)
            return 0;
        if (errno == EINVAL || errno == ENOSYS) { /* no RENAME_NOREPLACE here: link, unlink */
            if (linkat(dirfd, tmp, dirfd, name, 0) == 0)
                return unlinkat(dirfd, tmp, 0) == 0 ? 0 : -errno;
        }
    }
    int e = errno;
    unlinkat(dirfd, tmp, 0);
    if (e == EEXIST)
        return err_set(c->err, -EEXIST, "%s: exists (--force replaces it)", name);
    return err_set(c->err, -e, "%s: %s", name, strerror(e));
}

/* NAME.part, or a short name when that would be too long for the host. */
static void get_tmp_name(const char *name, char *tmp, size_t len)
{
    if (strlen(name) + 5 <= NAME_MAX)
        snprintf(tmp, len, "%s.part", name);
    else
        snprintf(tmp, len, ".dimg-get-%ld.part", (long)getpid());
}

static int get_exists(struct get_ctx *c, int dirfd, const char *name)
{
    struct stat hs;
    if (c->o && c->o->overwrite)
        return 0;
    if (fstatat(dirfd, name, &hs, AT_SYMLINK_NOFOLLOW) == 0)
        return err_set(c->err, -EEXIST, "%s: exists (--force replaces it)", name);
    return 0;
}

static void get_times(const struct fs_stat *st, struct timespec ts[2])
{
    ts[0] = (struct timespec){.tv_sec = (time_t)st->atime};
    ts[1] = (struct timespec){.tv_sec = (time_t)st->mtime};
}

/* Write buf at off, leaving out its zero blocks (GET_HOLE bytes each): holes stay holes. */
#define GET_HOLE 4096u
static int get_write_sparse(int fd, const uint8_t *buf, size_t n, uint64_t off)
{
    size_t i = 0;
    while (i < n) {
        size_t l = n - i < GET_HOLE ? n - i : GET_HOLE;
        if (io_is_zero(buf + i, l)) {
            i += l;
            continue;
        }
        size_t j = i + l; /* a run of blocks with data */
        while (j < n) {
            size_t m = n - j < GET_HOLE ? n - j : GET_HOLE;
            if (io_is_zero(buf + j, m))
                break;
            j += m;
        }
        int r = io_pwrite_all(fd, buf + i, j - i, off + i);
        if (r < 0)
            return r;
        i = j;
    }
    return 0;
}

/* The content of a regular file into fd, holes kept. */
static int get_copy(struct get_ctx *c, int fd, const struct fs_stat *st, const char *name)
{
    for (uint64_t off = 0; off < st->size;) {
        size_t want = st->size - off < GET_CHUNK ? (size_t)(st->size - off) : GET_CHUNK;
        ssize_t n = fs_read(c->fs, st->ino, off, c->buf, want);
        if (n <= 0)
            return err_set(c->err, n < 0 ? (int)n : -EIO, "%s: %s", name,
                           n < 0 ? c->fs->err.msg : "file ends early");
        int r = get_write_sparse(fd, c->buf, (size_t)n, off);
        if (r < 0)
            return err_set(c->err, r, "%s: %s", name, strerror(-r));
        off += (uint64_t)n;
        c->done += (uint64_t)n;
        if (c->o && c->o->tick && c->o->tick(c->o->ctx, c->done))
            return err_set(c->err, -ECANCELED, "cancelled");
    }
    if (ftruncate(fd, (off_t)st->size) < 0)
        return err_set(c->err, -errno, "%s: %s", name, strerror(errno));
    return 0;
}

static int get_file(struct get_ctx *c, int dirfd, const char *name, const struct fs_stat *st)
{
    char tmp[NAME_MAX + 1];
    int r = get_exists(c, dirfd, name);
    if (r < 0)
        return r;
    get_tmp_name(name, tmp, sizeof tmp);
    int fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return err_set(c->err, -errno, "%s: %s", tmp, strerror(errno));
    r = get_copy(c, fd, st, name);
    struct timespec ts[2];
    get_times(st, ts);
    if (r == 0 && (fchmod(fd, st->mode & 0777) < 0 || futimens(fd, ts) < 0))
        r = err_set(c->err, -errno, "%s: %s", name, strerror(errno));
    if (close(fd) < 0 && r == 0)
        r = err_set(c->err, -errno, "%s: %s", name, strerror(errno));
    if (r < 0) {
        unlinkat(dirfd, tmp, 0);
        return r;
    }
    return get_rename(c, dirfd, tmp, name);
}

static int get_link(struct get_ctx *c, int dirfd, const char *name, const struct fs_stat *st)
{
    char target[FS_PATH_MAX], tmp[NAME_MAX + 1];
    int r = get_exists(c, dirfd, name);
    if (r < 0)
        return r;
    if (fs_readlink(c->fs, st->ino, target, sizeof target) < 0)
        return err_set(c->err, c->fs->err.code, "%s", c->fs->err.msg);
    if (!target[0])
        return err_set(c->err, -EINVAL, "%s: empty link target", name);
    get_tmp_name(name, tmp, sizeof tmp);
    if (symlinkat(target, dirfd, tmp) < 0)
        return err_set(c->err, -errno, "%s: %s", tmp, strerror(errno));
    struct timespec ts[2];
    get_times(st, ts);
    utimensat(dirfd, tmp, ts, AT_SYMLINK_NOFOLLOW); /* not every filesystem keeps link times */
    return get_rename(c, dirfd, tmp, name);
}

/* The entries of directory st into the open directory fd. */
static int get_dir_into(struct get_ctx *c, int fd, const struct fs_stat *st, unsigned depth)
{
    if (depth >= FS_DEPTH_MAX)
        return err_set(c->err, -ELOOP, "more than %d levels deep", FS_DEPTH_MAX);
    for (unsigned k = 0; k < depth; k++)
        if (c->inos[k] == st->ino)
            return err_set(c->err, -ELOOP, "directory loop in the image (inode %llu)",
                           (unsigned long long)st->ino);
    c->inos[depth] = st->ino;
    struct fs_dirent *d;
    size_t n;
    if (fs_list(c->fs, st->ino, &d, &n) < 0)
        return err_set(c->err, c->fs->err.code, "%s", c->fs->err.msg);
    int r = 0;
    for (size_t i = 0; i < n && r == 0; i++)
        r = get_node(c, fd, d[i].name, &d[i].st, depth + 1);
    fs_dirents_free(d, n);
    return r;
}

static int get_dir(struct get_ctx *c, int dirfd, const char *name, const struct fs_stat *st,
                   unsigned depth)
{
    bool made = mkdirat(dirfd, name, 0700) == 0;
    if (!made && errno != EEXIST)
        return err_set(c->err, -errno, "%s: %s", name, strerror(errno));
    int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        if (e == ELOOP || e == ENOTDIR)
            return err_set(c->err, -EEXIST,
                           "%s: exists and is not a directory (a symbolic "
                           "link there is not followed)",
                           name);
        return err_set(c->err, -e, "%s: %s", name, strerror(e));
    }
    int r = get_dir_into(c, fd, st, depth);
    struct timespec ts[2];
    get_times(st, ts);
    /* The mode last: a read-only directory could not have been filled. */
    if (r == 0 && made && (fchmod(fd, st->mode & 0777) < 0 || futimens(fd, ts) < 0))
        r = err_set(c->err, -errno, "%s: %s", name, strerror(errno));
    close(fd);
    return r;
}

static int get_node(struct get_ctx *c, int dirfd, const char *name, const struct fs_stat *st,
                    unsigned depth)
{
    char msg[FS_NAME_MAX + 64];
    if (!fs_name_ok(name))
        return err_set(c->err, -EINVAL, "refusing the name '%s'", name);
    switch (st->type) {
    case FS_T_REG: return get_file(c, dirfd, name, st);
    case FS_T_DIR: return get_dir(c, dirfd, name, st, depth);
    case FS_T_LNK: return get_link(c, dirfd, name, st);
    default:
        snprintf(msg, sizeof msg, "%s: skipped (a %s)", name,
                 st->type == FS_T_CHR || st->type == FS_T_BLK ? "device"
                 : st->type == FS_T_FIFO                      ? "FIFO"
                 : st->type == FS_T_SOCK                      ? "socket"
                                                              : "special file");
        if (c->o && c->o->warn)
            c->o->warn(c->o->ctx, msg);
        return 0;
    }
}

int fs_get(struct fs *fs, const char *path, const char *dest, const struct fs_get_opts *o,
           struct img_err *err)
{
    struct fs_stat st;
    struct stat hs;
    if (fs_lookup(fs, path, false, &st) < 0)
        return err_set(err, fs->err.code, "%s", fs->err.msg);
    struct get_ctx c = {.fs = fs, .o = o, .err = err, .buf = malloc(GET_CHUNK)};
    if (!c.buf)
        return err_set(err, -ENOMEM, "out of memory");
    /* Into DEST when it is a directory (DEST/NAME; the root's contents go into DEST itself),
     * else as DEST. */
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    char *parent = NULL, *name = NULL;
    bool into = stat(dest, &hs) == 0 && S_ISDIR(hs.st_mode);
    int r = 0, fd = -1;
    if (into) {
        parent = strdup(dest);
        name = strdup(base);
    } else {
        parent = io_dirname(dest);
        const char *b = strrchr(dest, '/');
        name = strdup(b ? b + 1 : dest);
    }
    if (!parent || !name) {
        r = err_set(err, -ENOMEM, "out of memory");
        goto out;
    }
    fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        r = err_set(err, -errno, "%s: %s", parent, strerror(errno));
        goto out;
    }
    if (!name[0] || strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
        if (st.type != FS_T_DIR)
            r = err_set(err, -EISDIR, "%s: a directory, give a file name", dest);
        else
            r = get_dir_into(&c, fd, &st, 0); /* merge into the directory itself */
    } else if (st.type == FS_T_DIR) {
        r = get_dir(&c, fd, name, &st, 0);
    } else {
        r = get_node(&c, fd, name, &st, 0);
    }
out:
    if (fd >= 0)
        close(fd);
    free(parent);
    free(name);
    free(c.buf);
    return r;
}

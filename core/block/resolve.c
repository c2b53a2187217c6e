/* SPDX-License-Identifier: GPL-2.0-or-later */
/* resolve.c: the safe opens declared in resolve.h: user-named files that never block, and
 * names from image metadata resolved below a directory (openat2, or a checked walk).
 * Talks to: the kernel only. Never prints.
 */
#include "core/block/resolve.h"
#include "core/base/io.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <unistd.h>

#define RESOLVE_PROC_MAGIC 0x9fa0
#define RESOLVE_SYSFS_MAGIC 0x62656572
#define RESOLVE_WALK_DEPTH 64 /* directories below dir a walk may hold open */
#define RESOLVE_WALK_LINKS 40 /* symlinks one walk follows, as the kernel's limit */

const char *resolve_kind_name(mode_t mode)
{
    if (S_ISREG(mode))
        return "a regular file";
    if (S_ISBLK(mode))
        return "a block device";
    if (S_ISFIFO(mode))
        return "a named pipe (FIFO)";
    if (S_ISSOCK(mode))
        return "a socket";
    if (S_ISCHR(mode))
        return "a character device";
    if (S_ISDIR(mode))
        return "a directory";
    if (S_ISLNK(mode))
        return "a symbolic link";
    return "a special file";
}

static bool kind_ok(mode_t mode, unsigned rflags)
{
    return S_ISREG(mode) || (S_ISBLK(mode) && (rflags & RESOLVE_OPEN_BLOCKDEV));
}

/* Once the type is known, reads may block as on any file (a block device, a slow disk). */
static void clear_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0 && (fl & O_NONBLOCK))
        (void)fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
}

static int file_kind_err(const char *path, mode_t mode, unsigned rflags, struct img_err *err)
{
    return err_set(err, -EINVAL, "%s: %s, not a regular file%s", path, resolve_kind_name(mode),
                   (rflags & RESOLVE_OPEN_BLOCKDEV) ? " or block device" : "");
}

int resolve_open_file(const char *path, int oflags, unsigned rflags, struct stat *stp,
                      struct img_err *err)
{
    struct stat st;
    /* stat first: a FIFO, socket or character device is never opened at all. */
    if (stat(path, &st) < 0)
        return err_set(err, -errno, "%s: %s", path, strerror(errno));
    if (!kind_ok(st.st_mode, rflags))
        return file_kind_err(path, st.st_mode, rflags, err);
    /* O_NONBLOCK still: the name may have been replaced by a FIFO since. */
    int fd = open(path, oflags | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0)
        return err_set(err, -errno, "%s: %s", path, strerror(errno));
    if (fstat(fd, &st) < 0) {
        int r = err_set(err, -errno, "%s: %s", path, strerror(errno));
        close(fd);
        return r;
    }
    if (!kind_ok(st.st_mode, rflags)) {
        int r = file_kind_err(path, st.st_mode, rflags, err);
        close(fd);
        return r;
    }
    clear_nonblock(fd);
    if (stp)
        *stp = st;
    return fd;
}

bool resolve_name_local(const char *name)
{
    if (name[0] == '/')
        return false;
    for (const char *p = name; *p;) {
        size_t n = strcspn(p, "/");
        if (n == 2 && p[0] == '.' && p[1] == '.')
            return false;
        p += n;
        p += *p == '/';
    }
    return true;
}

int resolve_split_ref(const char *base_dir, const char *name, char **dir, char **rel)
{
    *dir = *rel = NULL;
    if (resolve_name_local(name)) {
        *dir = strdup(base_dir && base_dir[0] ? base_dir : ".");
        *rel = strdup(name);
    } else {
        /* The directory part is taken as written (the metadata chose it); only the last
         * component is resolved below it. */
        const char *slash = strrchr(name, '/');
        size_t dl = (size_t)(slash - name);
        char *d = dl == 0 ? strdup("/") : strndup(name, dl);
        if (d && name[0] != '/' && base_dir && base_dir[0]) {
            char *j = io_path_join(base_dir, d);
            free(d);
            d = j;
        }
        *dir = d;
        *rel = strdup(slash + 1);
    }
    if (!*dir || !*rel) {
        free(*dir);
        free(*rel);
        *dir = *rel = NULL;
        return -ENOMEM;
    }
    return 0;
}

/* ---- the walk: for kernels without openat2 ---- */

struct walk {
    int stack[RESOLVE_WALK_DEPTH]; /* O_PATH directories from dir down to the current one */
    unsigned depth;
    int file;   /* O_PATH of the final component */
    char *last; /* its name in stack[depth - 1] */
};

static void walk_free(struct walk *w)
{
    for (unsigned i = 0; i < w->depth; i++)
        close(w->stack[i]);
    w->depth = 0;
    if (w->file >= 0)
        close(w->file);
    w->file = -1;
    free(w->last);
    w->last = NULL;
}

/* Replace the path still to walk by target + "/" + rest (rest may be empty). */
static char *walk_splice(const char *target, const char *rest)
{
    while (*rest == '/')
        rest++;
    return *rest ? io_path_join(target, rest) : strdup(target);
}

/* One component at a time with O_NOFOLLOW: symlinks are read and spliced into the rest of
 * the path by us, ".." goes back up our own stack and never above its bottom (dir). */
static int walk_resolve(int dirfd, const char *name, unsigned rflags, struct walk *w)
{
    w->depth = 0;
    w->file = -1;
    w->last = NULL;
    int top = openat(dirfd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (top < 0)
        return -errno;
    w->stack[w->depth++] = top;
    char *path = strdup(name);
    if (!path)
        return -ENOMEM;
    char *p = path;
    unsigned links = 0;
    int r = 0;
    for (;;) {
        while (*p == '/')
            p++;
        if (!*p) {
            r = -EISDIR; /* the name ends at a directory */
            break;
        }
        char *end = p + strcspn(p, "/");
        bool more = false;
        for (const char *q = end; *q; q++)
            if (*q != '/')
                more = true;
        char save = *end;
        *end = '\0';
        char *comp = p;
        char *rest = save ? end + 1 : end;
        if (strcmp(comp, ".") == 0 || strcmp(comp, "..") == 0) {
            if (comp[1] == '.') {
                if (w->depth == 1) {
                    r = -EXDEV;
                    break;
                }
                close(w->stack[--w->depth]);
            }
            if (!more) {
                r = -EISDIR;
                break;
            }
            p = rest;
            continue;
        }
        int fd = openat(w->stack[w->depth - 1], comp, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) < 0) {
            r = -errno;
            if (fd >= 0)
                close(fd);
            break;
        }
        if (S_ISLNK(st.st_mode)) {
            char target[PATH_MAX];
            ssize_t n = (rflags & RESOLVE_OPEN_NOSYMLINKS) || ++links > RESOLVE_WALK_LINKS
                            ? -2
                            : readlinkat(fd, "", target, sizeof target - 1);
            close(fd);
            if (n == -2) {
                r = -ELOOP;
                break;
            }
            if (n <= 0) {
                r = n < 0 ? -errno : -ENOENT;
                break;
            }
            target[n] = '\0';
            if (target[0] == '/') {
                r = -EXDEV;
                break;
            }
            char *np = walk_splice(target, rest);
            if (!np) {
                r = -ENOMEM;
                break;
            }
            free(path);
            path = p = np;
            continue;
        }
        if (more) {
            if (!S_ISDIR(st.st_mode) || w->depth == RESOLVE_WALK_DEPTH) {
                close(fd);
                r = S_ISDIR(st.st_mode) ? -ENAMETOOLONG : -ENOTDIR;
                break;
            }
            w->stack[w->depth++] = fd;
            p = rest;
            continue;
        }
        w->file = fd;
        if (!(w->last = strdup(comp)))
            r = -ENOMEM;
        break;
    }
    free(path);
    if (r < 0)
        walk_free(w);
    return r;
}

/* ---- openat2 ---- */

static int beneath_openat2(int dirfd, const char *name, int oflags, unsigned rflags)
{
    struct open_how how = {
        .flags = (uint64_t)(unsigned)oflags,
        .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS |
                   ((rflags & RESOLVE_OPEN_NOSYMLINKS) ? RESOLVE_NO_SYMLINKS : 0),
    };
    for (int tries = 0;; tries++) {
        long fd = syscall(SYS_openat2, dirfd, name, &how, sizeof how);
        if (fd >= 0)
            return (int)fd;
        /* EAGAIN: a rename raced with the lookup; the kernel asks us to try again. */
        if (errno != EAGAIN || tries == 8)
            return -errno;
    }
}

static int beneath_err(int code, unsigned rflags, struct img_err *err)
{
    if (code == -EXDEV)
        return err_set(err, -EXDEV,
                       "leads outside its directory (through '..', an absolute symlink or a "
                       "symlink to a place outside); not followed");
    if (code == -ELOOP)
        return err_set(err, -ELOOP, "%s",
                       (rflags & RESOLVE_OPEN_NOSYMLINKS)
                           ? "a symlink, not followed for an untrusted image"
                           : "too many levels of symbolic links");
    return err_set(err, code, "%s", strerror(-code));
}

int resolve_openat_beneath(int dirfd, const char *name, int oflags, unsigned rflags,
                           struct stat *stp, struct img_err *err)
{
    if (!name[0])
        return err_set(err, -ENOENT, "an empty file name");
    if (name[0] == '/')
        return beneath_err(-EXDEV, rflags, err);
    /* First an O_PATH handle: its type is known before anything is really opened (a device's
     * open may have effects, a FIFO's may block). */
    struct walk w = {.depth = 0, .file = -1, .last = NULL};
    bool walked = (rflags & RESOLVE_OPEN_WALK) != 0;
    int pfd = walked ? -ENOSYS : beneath_openat2(dirfd, name, O_PATH | O_CLOEXEC, rflags);
    if (pfd == -ENOSYS || pfd == -EPERM) { /* no openat2 (old kernel, or a seccomp filter) */
        walked = true;
        int r = walk_resolve(dirfd, name, rflags, &w);
        if (r < 0)
            return beneath_err(r, rflags, err);
        pfd = w.file;
        w.file = -1;
    }
    if (pfd < 0)
        return beneath_err(pfd, rflags, err);
    struct stat st, st2;
    struct statfs sfs;
    int r = 0;
    if (fstat(pfd, &st) < 0)
        r = err_set(err, -errno, "%s", strerror(errno));
    else if (!S_ISREG(st.st_mode))
        r = err_set(err, -EPERM, "%s, not a regular file", resolve_kind_name(st.st_mode));
    else if (fstatfs(pfd, &sfs) == 0 &&
             (sfs.f_type == RESOLVE_PROC_MAGIC || sfs.f_type == RESOLVE_SYSFS_MAGIC))
        r = err_set(err, -EPERM, "lies in /proc or /sys");
    int fd = -1;
    if (r == 0) {
        int fl = oflags | O_NONBLOCK | O_NOCTTY | O_CLOEXEC;
        fd = walked ? openat(w.stack[w.depth - 1], w.last, fl | O_NOFOLLOW)
                    : beneath_openat2(dirfd, name, fl, rflags);
        if (fd < 0)
            r = beneath_err(walked ? -errno : fd, rflags, err);
        else if (fstat(fd, &st2) < 0)
            r = err_set(err, -errno, "%s", strerror(errno));
        else if (st2.st_dev != st.st_dev || st2.st_ino != st.st_ino)
            r = err_set(err, -EAGAIN, "changed while it was being opened");
    }
    close(pfd);
    walk_free(&w);
    if (r < 0) {
        if (fd >= 0)
            close(fd);
        return r;
    }
    clear_nonblock(fd);
    if (stp)
        *stp = st2;
    return fd;
}

int resolve_open_beneath(const char *dir, const char *name, int oflags, unsigned rflags,
                         struct stat *st, struct img_err *err)
{
    const char *d = dir && dir[0] ? dir : ".";
    int dfd = open(d, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return err_set(err, -errno, "%s: %s", d, strerror(errno));
    int r = resolve_openat_beneath(dfd, name, oflags, rflags, st, err);
    close(dfd);
    return r;
}

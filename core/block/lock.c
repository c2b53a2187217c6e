/* SPDX-License-Identifier: GPL-2.0-or-later */
/* lock.c: QEMU-compatible OFD image locks (see lock.h for the byte convention).
 *
 * One registry entry per locked file (dev, ino) holds a private dup of the first handle's
 * descriptor (the same open file description, so its locks are ours and never conflict with
 * each other) and the union of the permissions every dimg handle on that file asked for.
 * Acquiring follows QEMU's order: lock the bytes first, then test for others' locks, so that
 * two openers racing cannot both miss each other; on a conflict the bytes are put back.
 * Talks to: fcntl (F_OFD_SETLK, F_OFD_GETLK), pthreads. Never prints.
 */
#include "core/block/lock.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LOCK_NBITS 4
#define LOCK_SPAN 200 /* bytes 100..299: every lock byte QEMU uses or may use */

struct lock_file {
    dev_t dev;
    ino_t ino;
    int fd;                  /* dup of the first opener's descriptor; owns the locks */
    unsigned perm, unshared; /* bytes currently locked: 100+i and 200+i */
    struct lock_ref *refs;
    struct lock_file *next;
};

struct lock_ref {
    struct lock_file *f;
    unsigned perm, unshared;
    struct lock_ref *next;
};

static pthread_mutex_t lock_mu = PTHREAD_MUTEX_INITIALIZER;
static struct lock_file *lock_files;
static lock_warn_fn lock_warn_hook;

static const char *const lock_perm_names[LOCK_NBITS] = {"consistent read", "write",
                                                        "write unchanged", "resize"};

void lock_set_warn(lock_warn_fn fn)
{
    lock_warn_hook = fn;
}

void lock_warn(const char *fmt, ...)
{
    char msg[IMG_ERR_MSG_MAX + 128];
    va_list ap;
    if (!lock_warn_hook)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    lock_warn_hook(msg);
}

static int lock_byte(int fd, int type, long off)
{
    struct flock fl = {.l_type = (short)type, .l_whence = SEEK_SET, .l_start = off, .l_len = 1};
    return fcntl(fd, F_OFD_SETLK, &fl) < 0 ? -errno : 0;
}

/* Make the locked bytes exactly perm (100+i) and unshared (200+i). */
static int lock_apply(struct lock_file *f, unsigned perm, unsigned unshared)
{
    int r = 0;
    for (int i = 0; i < LOCK_NBITS; i++) {
        unsigned bit = 1u << i;
        int rp = lock_byte(f->fd, (perm & bit) ? F_RDLCK : F_UNLCK, LOCK_PERM_BASE + i);
        int rs = lock_byte(f->fd, (unshared & bit) ? F_RDLCK : F_UNLCK, LOCK_SHARED_BASE + i);
        if (!r)
            r = rp ? rp : rs;
    }
    f->perm = perm;
    f->unshared = unshared;
    return r;
}

/* Does another open file description lock [off, off+len)? Sets *pid (or -1). */
static bool lock_test(int fd, long off, long len, int *pid)
{
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = off, .l_len = len};
    if (fcntl(fd, F_OFD_GETLK, &fl) < 0) {
        /* Some systems want write access for a write-lock test: ask about read locks. */
        fl = (struct flock){.l_type = F_RDLCK, .l_whence = SEEK_SET, .l_start = off, .l_len = len};
        if (fcntl(fd, F_OFD_GETLK, &fl) < 0)
            return false;
    }
    if (fl.l_type == F_UNLCK)
        return false;
    if (pid)
        *pid = fl.l_pid > 0 ? (int)fl.l_pid : -1;
    return true;
}

static void lock_pid_text(char *buf, size_t n, int pid)
{
    if (pid > 0)
        snprintf(buf, n, " (pid %d)", pid);
    else
        buf[0] = 0;
}

/* Someone else's locks against what this handle wants: QEMU's test. */
static int lock_conflicts(int fd, const char *path, unsigned perm, unsigned unshared,
                          struct img_err *err)
{
    char who[32];
    int pid = -1;
    for (int i = 0; i < LOCK_NBITS; i++) {
        if ((perm & (1u << i)) && lock_test(fd, LOCK_SHARED_BASE + i, 1, &pid)) {
            lock_pid_text(who, sizeof who, pid);
            return err_set(err, -EBUSY,
                           "image is in use: %s: another process%s does not share the \"%s\" "
                           "permission",
                           path, who, lock_perm_names[i]);
        }
        if ((unshared & (1u << i)) && lock_test(fd, LOCK_PERM_BASE + i, 1, &pid)) {
            lock_pid_text(who, sizeof who, pid);
            return err_set(err, -EBUSY,
                           "image is in use: %s: another process%s holds the \"%s\" permission",
                           path, who, lock_perm_names[i]);
        }
    }
    return 0;
}

static void lock_union(const struct lock_file *f, unsigned *perm, unsigned *unshared)
{
    *perm = *unshared = 0;
    for (const struct lock_ref *r = f->refs; r; r = r->next) {
        *perm |= r->perm;
        *unshared |= r->unshared;
    }
}

static void lock_file_drop(struct lock_file *f)
{
    for (struct lock_file **p = &lock_files; *p; p = &(*p)->next) {
        if (*p == f) {
            *p = f->next;
            break;
        }
    }
    close(f->fd); /* the last reference to our descriptor: its locks go with it */
    free(f);
}

int lock_acquire(int fd, const char *path, bool rw, struct lock_ref **out, struct img_err *err)
{
    struct stat st;
    *out = NULL;
    if (fstat(fd, &st) < 0)
        return err_set(err, -errno, "%s: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
        return 0;
    unsigned perm = LOCK_PERM_CONSISTENT_READ | (rw ? LOCK_PERM_WRITE | LOCK_PERM_RESIZE : 0);
    unsigned unshared = LOCK_PERM_WRITE | LOCK_PERM_RESIZE;

    struct lock_ref *ref = calloc(1, sizeof *ref);
    if (!ref)
        return err_set(err, -ENOMEM, "out of memory");
    ref->perm = perm;
    ref->unshared = unshared;

    pthread_mutex_lock(&lock_mu);
    struct lock_file *f = lock_files;
    while (f && !(f->dev == st.st_dev && f->ino == st.st_ino))
        f = f->next;
    bool fresh = !f;
    if (fresh) {
        f = calloc(1, sizeof *f);
        int dfd = f ? fcntl(fd, F_DUPFD_CLOEXEC, 0) : -1;
        if (dfd < 0) {
            int e = f ? errno : ENOMEM;
            pthread_mutex_unlock(&lock_mu);
            free(f);
            free(ref);
            return err_set(err, -e, "%s: locking: %s", path, strerror(e));
        }
        f->dev = st.st_dev;
        f->ino = st.st_ino;
        f->fd = dfd;
        f->next = lock_files;
        lock_files = f;
    }
    unsigned old_perm = f->perm, old_unshared = f->unshared;
    int r = lock_apply(f, old_perm | perm, old_unshared | unshared);
    if (r == -EAGAIN || r == -EACCES) /* someone holds a write lock on a byte: not QEMU's way */
        r = err_set(err, -EBUSY, "image is in use: %s: another process locks it", path);
    else if (r < 0 && r != -EINVAL && r != -ENOLCK && r != -EOPNOTSUPP)
        r = err_set(err, r, "%s: locking: %s", path, strerror(-r));
    else if (r < 0)
        r = 0; /* a file system without OFD locks: proceed unlocked, as QEMU does */
    if (r == 0)
        r = lock_conflicts(f->fd, path, perm, unshared, err);
    if (r < 0) {
        lock_apply(f, old_perm, old_unshared);
        if (fresh)
            lock_file_drop(f);
        pthread_mutex_unlock(&lock_mu);
        free(ref);
        return r;
    }
    ref->f = f;
    ref->next = f->refs;
    f->refs = ref;
    pthread_mutex_unlock(&lock_mu);
    *out = ref;
    return 0;
}

int lock_take(int fd, const char *path, bool rw, bool force_share, struct lock_ref **out,
              bool *in_use, struct img_err *err)
{
    *out = NULL;
    if (!rw && force_share)
        return 0;
    int r = lock_acquire(fd, path, rw, out, err);
    if (r == -EBUSY && !rw) {
        lock_warn("%s; reading it anyway (-U to silence)", err->msg);
        err_clear(err);
        if (in_use)
            *in_use = true;
        return 0;
    }
    return r;
}

void lock_release(struct lock_ref *ref)
{
    if (!ref)
        return;
    pthread_mutex_lock(&lock_mu);
    struct lock_file *f = ref->f;
    for (struct lock_ref **p = &f->refs; *p; p = &(*p)->next) {
        if (*p == ref) {
            *p = ref->next;
            break;
        }
    }
    if (!f->refs) {
        lock_file_drop(f);
    } else {
        unsigned perm, unshared;
        lock_union(f, &perm, &unshared);
        lock_apply(f, perm, unshared); /* only unlocks: cannot conflict */
    }
    pthread_mutex_unlock(&lock_mu);
    free(ref);
}

bool lock_in_use(int fd, int *pid)
{
    int p = -1;
    bool used = lock_test(fd, LOCK_PERM_BASE, LOCK_SPAN, &p);
    if (pid)
        *pid = used ? p : -1;
    return used;
}

int lock_check_free(const char *path, struct img_err *err)
{
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return 0; /* absent (or unreadable: whoever opens it next reports that) */
    struct stat st;
    int pid = -1, r = 0;
    if (fstat(fd, &st) == 0 && (S_ISREG(st.st_mode) || S_ISBLK(st.st_mode)) &&
        lock_in_use(fd, &pid)) {
        char who[32];
        lock_pid_text(who, sizeof who, pid);
        r = err_set(err, -EBUSY, "image is in use: %s: another process%s has it open", path, who);
    }
    close(fd);
    return r;
}

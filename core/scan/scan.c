/* SPDX-License-Identifier: GPL-2.0-or-later */
/* scan.c: a directory listing with background probing (see scan.h for the threading rules).
 *
 * scan_open lists and stats everything on the caller's thread, sorts the entries by name and
 * starts one worker. The worker opens each regular file with O_NONBLOCK (a file swapped for a
 * FIFO must not hang it) and O_NOFOLLOW (unless the entry is a link), checks for QEMU's locks
 * on that descriptor, then hands the same file to img_open through /proc/self/fd so that the
 * image opened is the file that was checked, read-only and with IMG_OPEN_UNTRUSTED: no backing
 * file or data file is ever followed from a directory listing.
 * Talks to: img.h, ptable.h, pthreads, eventfd. Never prints.
 */
#include "core/scan/scan.h"
#include "core/base/esc.h"
#include "core/archive/archive.h"
#include "core/block/driver.h"
#include "core/block/lock.h"
#include "core/block/ptable.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SCAN_PREFER_MAX 1024
#define SCAN_WAKE_NS 50000000ull    /* wake the UI at most ~20 times a second */
#define SCAN_ALLOC_NS 250000000ull  /* time budget for one image's allocation walk */
#define SCAN_ALLOC_RUNS 1000000u    /* and run budget */
#define SCAN_QUERY_MAX (1ull << 30) /* one block-status request, as ops_map bounds it */
#define SCAN_NO_INDEX ((size_t)-1)

/* QEMU's OFD lock bytes: permissions at 100.., shared permissions at 200.. */

struct scan_dir {
    char *path;
    int dfd; /* the directory, for openat: a rename of it does not matter */
    unsigned flags;
    struct scan_entry *v;
    size_t n;
    bool use_proc; /* /proc/self/fd is there to reopen a checked descriptor */
    bool archive;  /* the members of an archive (scan_open_archive), not a directory */
    bool remote;   /* one image named by an NBD URI (scan_open_uri), not a directory */

    atomic_size_t pending;
    atomic_int cancel;
    int wfd; /* eventfd */

    pthread_t th;
    bool have_thread;
    pthread_mutex_t lock; /* guards everything below, and every publication of an entry */
    pthread_cond_t cond;
    size_t prefer[SCAN_PREFER_MAX];
    size_t nprefer;
    bool rescan; /* an entry behind the cursor became pending again */
    size_t busy; /* entry being probed, or SCAN_NO_INDEX */
    bool again;  /* busy was asked to be reprobed while it was being probed */

    uint64_t last_wake; /* worker only */
    bool wake_owed;
};

/* The worker's result for one entry, copied into the entry when it is published. */
struct scan_res {
    bool error;
    const char *format;
    char version[16];
    uint64_t virtual_size, alloc_bytes, alloc_walked;
    uint32_t cluster_size;
    unsigned flags, nb_snapshots;
    char *backing, *msg;
    char uuid[40], parent_uuid[40];
};

static uint64_t scan_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- escaping untrusted names ---- */

/* ---- names ---- */

static bool scan_isdigit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static int scan_fold(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c;
}

int scan_name_cmp(const char *a, const char *b)
{
    const unsigned char *p = (const unsigned char *)a, *q = (const unsigned char *)b;
    while (*p && *q) {
        if (scan_isdigit(*p) && scan_isdigit(*q)) {
            while (*p == '0' && scan_isdigit(p[1]))
                p++;
            while (*q == '0' && scan_isdigit(q[1]))
                q++;
            size_t lp = 0, lq = 0;
            while (scan_isdigit(p[lp]))
                lp++;
            while (scan_isdigit(q[lq]))
                lq++;
            if (lp != lq)
                return lp < lq ? -1 : 1;
            int c = memcmp(p, q, lp);
            if (c)
                return c < 0 ? -1 : 1;
            p += lp;
            q += lq;
            continue;
        }
        int ca = scan_fold(*p), cb = scan_fold(*q);
        if (ca != cb)
            return ca < cb ? -1 : 1;
        p++;
        q++;
    }
    if (*p || *q)
        return *p ? 1 : -1;
    int c = strcmp(a, b); /* equal up to case and leading zeros: still a total order */
    return c < 0 ? -1 : c > 0;
}

/* ---- the wakeup fd ---- */

static void scan_wake(struct scan_dir *d, bool force)
{
    uint64_t now = scan_now_ns();
    if (!force && now - d->last_wake < SCAN_WAKE_NS) {
        d->wake_owed = true;
        return;
    }
    uint64_t one = 1;
    ssize_t w = write(d->wfd, &one, sizeof one); /* EAGAIN: the counter is full, still readable */
    (void)w;
    d->last_wake = now;
    d->wake_owed = false;
}

int scan_wakeup_fd(const struct scan_dir *d)
{
    return d->wfd;
}

void scan_drain_wakeup(struct scan_dir *d)
{
    uint64_t v;
    ssize_t r = read(d->wfd, &v, sizeof v);
    (void)r;
}

/* ---- probing one file (worker thread) ---- */

static void scan_fail(struct scan_res *res, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void scan_fail(struct scan_res *res, const char *fmt, ...)
{
    char line[IMG_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    free(res->msg);
    res->error = true;
    res->msg = esc_dup(line, strlen(line));
}

/* Guest bytes holding data in img's own layer, within a time and run budget. */
static void scan_alloc(struct scan_dir *d, struct img *img, struct scan_res *res)
{
    uint64_t t0 = scan_now_ns(), sum = 0, off = 0;
    unsigned runs = 0;
    while (off < img->size) {
        if ((runs & 255) == 0 && runs) {
            if (atomic_load(&d->cancel) || scan_now_ns() - t0 > SCAN_ALLOC_NS) {
                res->flags |= SCAN_F_ALLOC_APPROX;
                break;
            }
            if (d->wake_owed)
                scan_wake(d, false); /* entries published just before this slow one */
        }
        if (runs >= SCAN_ALLOC_RUNS) {
            res->flags |= SCAN_F_ALLOC_APPROX;
            break;
        }
        uint64_t n = img->size - off < SCAN_QUERY_MAX ? img->size - off : SCAN_QUERY_MAX;
        struct img_bs bs;
        if (img_block_status_layer(img, off, n, &bs) < 0) {
            res->flags |= SCAN_F_ALLOC_APPROX; /* the rest is unknown, not an error */
            break;
        }
        if ((bs.flags & IMG_BS_ALLOCATED) && (bs.flags & IMG_BS_DATA))
            sum += bs.len;
        if (bs.flags & IMG_BS_COMPRESSED)
            res->flags |= SCAN_F_COMPRESSED;
        off += bs.len;
        runs++;
    }
    res->alloc_bytes = sum;
    res->alloc_walked = off;
}

static void scan_info(struct img *img, struct scan_res *res)
{
    struct img_info *in = malloc(sizeof *in); /* 5 KiB: keep it off the worker's stack */
    if (!in) {
        scan_fail(res, "out of memory");
        return;
    }
    if (img_get_info(img, in) < 0) {
        scan_fail(res, "%s", img_errmsg(img));
        free(in);
        return;
    }
    res->format = img->drv->name;
    res->virtual_size = in->virtual_size;
    res->cluster_size = in->cluster_size;
    res->nb_snapshots = in->nb_snapshots;
    if (in->nb_snapshots)
        res->flags |= SCAN_F_SNAPSHOTS;
    if (in->encrypted)
        res->flags |= SCAN_F_ENCRYPTED;
    if (in->compressed)
        res->flags |= SCAN_F_COMPRESSED;
    if (img->backing_name && img->backing_name[0]) {
        res->flags |= SCAN_F_BACKING;
        res->backing = esc_dup(img->backing_name, strlen(img->backing_name));
    }
    for (size_t i = 0; i < in->nkv; i++) {
        const struct img_kv *kv = &in->kv[i];
        if (kv->type == IMG_KV_STR && strcmp(kv->key, "uuid") == 0)
            snprintf(res->uuid, sizeof res->uuid, "%.36s", kv->str);
        if (kv->type == IMG_KV_STR && strcmp(kv->key, "parent-uuid") == 0) {
            snprintf(res->parent_uuid, sizeof res->parent_uuid, "%.36s", kv->str);
            res->flags |= SCAN_F_BACKING;
        }
    }
    for (size_t i = 0; i < in->nkv; i++) {
        const struct img_kv *kv = &in->kv[i];
        if (kv->type == IMG_KV_STR &&
            (strcmp(kv->key, "compat") == 0 || strcmp(kv->key, "version") == 0)) {
            char *v = esc_dup(kv->str, strlen(kv->str));
            if (v)
                snprintf(res->version, sizeof res->version, "%s", v);
            free(v);
            break;
        }
    }
    free(in);
}

/* img_open's message names the path it was given; the entry already says which file. */
static const char *scan_strip_path(const char *msg, const char *path)
{
    size_t n = strlen(path);
    if (strncmp(msg, path, n) == 0 && msg[n] == ':' && msg[n + 1] == ' ')
        return msg + n + 2;
    return msg;
}

/* An archive to list: by name, or by a compressed or zip magic. A tar header by itself is not
 * enough: a raw disk whose data begins with a tar stream (tar written to a device) is a disk. */
static bool scan_is_archive_file(const char *name, const unsigned char *head, size_t n)
{
    if (!arc_detect(name, head, n))
        return false;
    if (arc_name_is_archive(name))
        return true;
    return !(n >= 262 && memcmp(head + 257, "ustar", 5) == 0);
}

/* A file no format claimed, with nothing about it of a disk: not a whole number of sectors
 * (or empty), or text from its first byte; a boot signature, or a size of whole MiB (what
 * disk images almost always have and text files almost never), makes it a disk whatever
 * its first bytes are (a guest may well have written text-like bytes there). */
static bool scan_looks_plain(uint64_t size, const unsigned char *head, size_t n)
{
    if (n >= 512 && head[510] == 0x55 && head[511] == 0xaa)
        return false;
    if (size == 0 || size % 512 != 0)
        return true;
    if (size % (1024 * 1024) == 0)
        return false;
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = head[i];
        if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r' && c != '\f') || c == 0x7f)
            return false; /* binary: a sector of a disk, as far as we can tell */
    }
    return true;
}

static void scan_probe(struct scan_dir *d, const struct scan_entry *e, struct scan_res *res)
{
    int oflags = O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY | (e->is_symlink ? 0 : O_NOFOLLOW);
    int fd = openat(d->dfd, e->name, oflags);
    if (fd < 0) {
        scan_fail(res, "%s", strerror(errno));
        return;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        scan_fail(res, "no longer a regular file");
        close(fd);
        return;
    }
    if (lock_in_use(fd, NULL)) /* QEMU (or another dimg) holds it */
        res->flags |= SCAN_F_LOCKED;
    unsigned char head[512];
    ssize_t got = pread(fd, head, sizeof head, 0);
    if (scan_is_archive_file(e->name, head, got > 0 ? (size_t)got : 0))
        res->flags |= SCAN_F_ARCHIVE;

    char path[64];
    char *full = NULL;
    const char *open_path = path;
    if (d->use_proc) {
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    } else {
        size_t l = strlen(d->path) + strlen(e->name) + 2;
        if (!(full = malloc(l))) {
            scan_fail(res, "out of memory");
            close(fd);
            return;
        }
        snprintf(full, l, "%s/%s", d->path, e->name);
        open_path = full;
    }
    struct img_err err = {0};
    struct img *img =
        img_open_in(open_path, d->path, NULL, IMG_OPEN_UNTRUSTED | IMG_OPEN_FORCE_SHARE, &err);
    if (!img) {
        scan_fail(res, "%s", scan_strip_path(err.msg, open_path));
        /* A format dimg does not read yet is named in the list, not called an error. */
        const struct img_foreign *fo = img_foreign_fd(fd);
        if (fo)
            res->format = fo->name;
    } else if (img->st_dev != st.st_dev || img->st_ino != st.st_ino) {
        scan_fail(res, "changed while it was being probed");
    } else {
        if (img->drv->caps & IMG_CAP_RAW) {
            res->flags |= SCAN_F_RAW_GUESS; /* raw only ever wins a probe as the fallback */
            if (!(res->flags & SCAN_F_ARCHIVE) &&
                scan_looks_plain((uint64_t)st.st_size, head, got > 0 ? (size_t)got : 0))
                res->flags |= SCAN_F_PLAIN;
        }
        scan_info(img, res);
        if (!res->error) {
            scan_alloc(d, img, res);
            struct ptable pt;
            struct img_err perr = {0};
            /* A read needing an unopened backing file fails: then there is just no flag. */
            if (ptable_read(img, &pt, &perr) == 0) {
                if (pt.kind != PTABLE_NONE)
                    res->flags |= SCAN_F_PTABLE;
                ptable_free(&pt);
            }
        }
    }
    img_close(img);
    free(full);
    close(fd);
}

/* ---- the worker ---- */

/* Next entry to probe (SCAN_NO_INDEX when there is none); called with the lock held. */
static size_t scan_pick(struct scan_dir *d, size_t *cursor)
{
    while (d->nprefer > 0) {
        size_t i = d->prefer[--d->nprefer];
        if (i < d->n && scan_entry_state(&d->v[i]) == SCAN_PENDING)
            return i;
    }
    if (d->rescan) {
        d->rescan = false;
        *cursor = 0;
    }
    for (; *cursor < d->n; (*cursor)++)
        if (scan_entry_state(&d->v[*cursor]) == SCAN_PENDING)
            return (*cursor)++;
    return SCAN_NO_INDEX;
}

/* Copy res into entry i and publish it; called with the lock held. The entry is PENDING, so
 * the reader does not look at the fields being replaced. */
static void scan_publish(struct scan_dir *d, size_t i, struct scan_res *res)
{
    struct scan_entry *e = &d->v[i];
    free(e->backing);
    free(e->msg);
    if (res->error) {
        e->format = res->format; /* NULL, or a format dimg does not read yet */
        e->version[0] = 0;
        e->virtual_size = e->alloc_bytes = e->alloc_walked = 0;
        e->cluster_size = 0;
        e->flags = 0;
        e->nb_snapshots = 0;
        e->backing = NULL;
        e->uuid[0] = e->parent_uuid[0] = 0;
        free(res->backing);
        e->msg = res->msg ? res->msg : strdup("probe failed");
    } else {
        e->format = res->format;
        memcpy(e->version, res->version, sizeof e->version);
        e->virtual_size = res->virtual_size;
        e->alloc_bytes = res->alloc_bytes;
        e->alloc_walked = res->alloc_walked;
        e->cluster_size = res->cluster_size;
        e->flags = res->flags;
        e->nb_snapshots = res->nb_snapshots;
        e->backing = res->backing;
        memcpy(e->uuid, res->uuid, sizeof e->uuid);
        memcpy(e->parent_uuid, res->parent_uuid, sizeof e->parent_uuid);
        e->msg = NULL;
    }
    atomic_store_explicit(&e->state, res->error ? SCAN_ERROR : SCAN_DONE, memory_order_release);
    atomic_fetch_sub(&d->pending, 1);
}

static void *scan_worker(void *arg)
{
    struct scan_dir *d = arg;
    size_t cursor = 0;
    bool announced = false;
    pthread_mutex_lock(&d->lock);
    while (!atomic_load(&d->cancel)) {
        size_t i = scan_pick(d, &cursor);
        if (i == SCAN_NO_INDEX) {
            if (!announced || d->wake_owed)
                scan_wake(d, true); /* the end, or the tail of a throttled batch */
            announced = true;
            pthread_cond_wait(&d->cond, &d->lock);
            continue;
        }
        announced = false;
        d->busy = i;
        d->again = false;
        struct scan_res res;
        do {
            pthread_mutex_unlock(&d->lock);
            memset(&res, 0, sizeof res);
            scan_probe(d, &d->v[i], &res);
            pthread_mutex_lock(&d->lock);
            if (!d->again)
                break;
            d->again = false; /* reprobed while we read it: the result may be stale */
            free(res.backing);
            free(res.msg);
        } while (!atomic_load(&d->cancel));
        d->busy = SCAN_NO_INDEX;
        if (atomic_load(&d->cancel)) {
            free(res.backing);
            free(res.msg);
            break;
        }
        scan_publish(d, i, &res);
        scan_wake(d, false);
    }
    pthread_mutex_unlock(&d->lock);
    return NULL;
}

void scan_prefer(struct scan_dir *d, const size_t *idx, size_t n)
{
    if (!d->have_thread)
        return;
    if (n > SCAN_PREFER_MAX)
        n = SCAN_PREFER_MAX;
    pthread_mutex_lock(&d->lock);
    /* Stored reversed: the worker pops from the end, so idx[0] goes first. */
    for (size_t k = 0; k < n; k++)
        d->prefer[k] = idx[n - 1 - k];
    d->nprefer = n;
    pthread_cond_signal(&d->cond);
    pthread_mutex_unlock(&d->lock);
}

int scan_reprobe(struct scan_dir *d, size_t i)
{
    if (i >= d->n || d->v[i].is_dir)
        return -EINVAL;
    if (!d->have_thread)
        return -ECANCELED;
    struct scan_entry *e = &d->v[i];
    pthread_mutex_lock(&d->lock);
    int prev = atomic_load_explicit(&e->state, memory_order_relaxed);
    if (prev == SCAN_NONE) {
        pthread_mutex_unlock(&d->lock);
        return -EINVAL;
    }
    if (prev != SCAN_PENDING) {
        atomic_store_explicit(&e->state, SCAN_PENDING, memory_order_relaxed);
        atomic_fetch_add(&d->pending, 1);
    }
    if (d->busy == i)
        d->again = true;
    if (d->nprefer < SCAN_PREFER_MAX)
        d->prefer[d->nprefer++] = i;
    d->rescan = true;
    pthread_cond_signal(&d->cond);
    pthread_mutex_unlock(&d->lock);
    return 0;
}

/* ---- listing ---- */

static void scan_entry_free(struct scan_entry *e)
{
    free(e->name);
    free(e->display);
    free(e->link_target);
    free(e->backing);
    free(e->msg);
}

static int scan_entry_order(const void *a, const void *b)
{
    const struct scan_entry *x = a, *y = b;
    if (x->is_dotdot != y->is_dotdot)
        return x->is_dotdot ? -1 : 1;
    return scan_name_cmp(x->name, y->name);
}

/* Fill e from the name (stat relative to dfd). -ENOENT when it vanished meanwhile. */
static int scan_stat_entry(int dfd, const char *name, bool probe, struct scan_entry *e)
{
    struct stat st;
    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return -errno;
    if (S_ISLNK(st.st_mode)) {
        struct stat t;
        e->is_symlink = true;
        if (fstatat(dfd, name, &t, 0) == 0)
            st = t; /* describe what it points to; a dangling link stays a link */
        else
            e->is_dangling = true;
        char target[PATH_MAX];
        ssize_t tl = readlinkat(dfd, name, target, sizeof target);
        if (tl >= 0 && !(e->link_target = esc_dup(target, (size_t)tl)))
            return -ENOMEM;
    }
    if (!(e->name = strdup(name)) || !(e->display = esc_dup(name, strlen(name))))
        return -ENOMEM;
    e->is_dotdot = strcmp(name, "..") == 0;
    e->hidden = name[0] == '.' && !e->is_dotdot;
    e->is_dir = S_ISDIR(st.st_mode);
    e->mode = st.st_mode;
    e->mtime_sec = (int64_t)st.st_mtim.tv_sec;
    e->mtime_nsec = st.st_mtim.tv_nsec;
    e->size = st.st_size > 0 ? (uint64_t)st.st_size : 0;
    e->disk_bytes = st.st_blocks > 0 ? (uint64_t)st.st_blocks * 512 : 0;
    atomic_init(&e->state, (probe && S_ISREG(st.st_mode)) ? SCAN_PENDING : SCAN_NONE);
    return 0;
}

static int scan_list(struct scan_dir *d, struct img_err *err)
{
    struct stat self, parent;
    bool root = fstat(d->dfd, &self) == 0 && fstatat(d->dfd, "..", &parent, 0) == 0 &&
                self.st_dev == parent.st_dev && self.st_ino == parent.st_ino;
    int dup_fd = dup(d->dfd);
    DIR *dp = dup_fd >= 0 ? fdopendir(dup_fd) : NULL;
    if (!dp) {
        int e = errno;
        if (dup_fd >= 0)
            close(dup_fd);
        return err_set(err, -e, "%s: %s", d->path, strerror(e));
    }
    size_t cap = 0;
    int r = 0;
    bool probe = !(d->flags & SCAN_OPEN_NOPROBE);
    for (;;) {
        errno = 0;
        struct dirent *de = readdir(dp);
        if (!de) {
            if (errno)
                r = err_set(err, -errno, "%s: reading the directory: %s", d->path, strerror(errno));
            break;
        }
        const char *name = de->d_name;
        if (strcmp(name, ".") == 0 || (strcmp(name, "..") == 0 && root))
            continue;
        if ((d->flags & SCAN_OPEN_NOHIDDEN) && name[0] == '.' && strcmp(name, "..") != 0)
            continue;
        if (d->n >= SCAN_MAX_ENTRIES) {
            r = err_set(err, -E2BIG, "%s: more than %u entries; refusing to list it", d->path,
                        SCAN_MAX_ENTRIES);
            break;
        }
        if (d->n == cap) {
            size_t nc = cap ? cap * 2 : 256;
            struct scan_entry *nv = realloc(d->v, nc * sizeof *nv);
            if (!nv) {
                r = err_set(err, -ENOMEM, "%s: out of memory listing the directory", d->path);
                break;
            }
            d->v = nv;
            cap = nc;
        }
        struct scan_entry *e = &d->v[d->n];
        memset(e, 0, sizeof *e);
        int s = scan_stat_entry(d->dfd, name, probe, e);
        if (s == -ENOENT) { /* deleted between readdir and stat */
            scan_entry_free(e);
            continue;
        }
        if (s == -ENOMEM) {
            scan_entry_free(e);
            r = err_set(err, -ENOMEM, "%s: out of memory listing the directory", d->path);
            break;
        }
        if (s < 0) { /* unreadable: listed with what we know */
            scan_entry_free(e);
            memset(e, 0, sizeof *e);
            if (!(e->name = strdup(name)) || !(e->display = esc_dup(name, strlen(name)))) {
                scan_entry_free(e);
                r = err_set(err, -ENOMEM, "%s: out of memory listing the directory", d->path);
                break;
            }
            e->hidden = name[0] == '.';
            atomic_init(&e->state, SCAN_NONE);
        }
        if (scan_entry_state(e) == SCAN_PENDING)
            atomic_fetch_add(&d->pending, 1);
        d->n++;
    }
    closedir(dp);
    if (r == 0 && d->n > 1)
        qsort(d->v, d->n, sizeof *d->v, scan_entry_order);
    return r;
}

/* Start the worker with the UI's signals blocked, so that they reach the main thread. */
static int scan_start(struct scan_dir *d, struct img_err *err)
{
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGWINCH);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGCHLD);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    int r = pthread_create(&d->th, NULL, scan_worker, d);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (r != 0)
        return err_set(err, -r, "%s: cannot start the probe thread: %s", d->path, strerror(r));
    d->have_thread = true;
    return 0;
}

struct scan_dir *scan_open(const char *dir, unsigned flags, struct img_err *err)
{
    err_clear(err);
    struct scan_dir *d = calloc(1, sizeof *d);
    if (!d || !(d->path = strdup(dir))) {
        free(d);
        err_set(err, -ENOMEM, "out of memory");
        return NULL;
    }
    d->flags = flags;
    d->wfd = -1;
    d->busy = SCAN_NO_INDEX;
    atomic_init(&d->pending, 0);
    atomic_init(&d->cancel, 0);
    pthread_mutex_init(&d->lock, NULL);
    pthread_cond_init(&d->cond, NULL);
    d->dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (d->dfd < 0) {
        err_set(err, -errno, "%s: %s", dir, strerror(errno));
        scan_close(d);
        return NULL;
    }
    d->wfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (d->wfd < 0) {
        err_set(err, -errno, "eventfd: %s", strerror(errno));
        scan_close(d);
        return NULL;
    }
    d->use_proc = access("/proc/self/fd", X_OK) == 0;
    if (scan_list(d, err) < 0 || (!(flags & SCAN_OPEN_NOPROBE) && scan_start(d, err) < 0)) {
        scan_close(d);
        return NULL;
    }
    if (!d->have_thread)
        scan_wake(d, true); /* nothing to wait for: say so at once */
    return d;
}

/* A listing without a worker (an archive's members, a remote image): every entry is filled
 * by the caller. NULL with err set on failure. */
static struct scan_dir *scan_new_fixed(const char *path, size_t nv, struct img_err *err)
{
    struct scan_dir *d = calloc(1, sizeof *d);
    if (!d || !(d->path = strdup(path)) || !(d->v = calloc(nv, sizeof *d->v))) {
        if (d)
            free(d->path);
        free(d);
        err_set(err, -ENOMEM, "out of memory");
        return NULL;
    }
    d->flags = SCAN_OPEN_NOPROBE;
    d->dfd = -1;
    d->busy = SCAN_NO_INDEX;
    atomic_init(&d->pending, 0);
    atomic_init(&d->cancel, 0);
    pthread_mutex_init(&d->lock, NULL);
    pthread_cond_init(&d->cond, NULL);
    d->wfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (d->wfd < 0) {
        err_set(err, -errno, "eventfd: %s", strerror(errno));
        scan_close(d);
        return NULL;
    }
    return d;
}

struct scan_dir *scan_open_archive(const char *path, struct img_err *err)
{
    err_clear(err);
    struct arc_list l;
    if (arc_list_read_flags(path, ARC_LIST_NO_COUNT, &l, err) < 0)
        return NULL;
    struct scan_dir *d = scan_new_fixed(path, l.n + 1, err);
    if (!d) {
        arc_list_free(&l);
        return NULL;
    }
    d->archive = true;
    int r = 0;
    /* ".." leads out of the archive; then one entry per member, already "probed". */
    struct scan_entry *e = &d->v[d->n];
    if (r == 0 && (!(e->name = strdup("..")) || !(e->display = strdup(".."))))
        r = err_set(err, -ENOMEM, "out of memory");
    if (r == 0) {
        e->is_dir = e->is_dotdot = true;
        atomic_init(&e->state, SCAN_NONE);
        d->n++;
    }
    for (size_t i = 0; r == 0 && i < l.n; i++) {
        const struct arc_member *m = &l.v[i];
        if (m->type == ARC_T_DIR && !m->unsafe)
            continue;
        e = &d->v[d->n];
        memset(e, 0, sizeof *e);
        if (!(e->name = strdup(m->name)) || !(e->display = strdup(m->display))) {
            scan_entry_free(e);
            r = err_set(err, -ENOMEM, "out of memory");
            break;
        }
        e->mode = S_IFREG | 0444;
        e->size = m->size;
        e->disk_bytes = m->size;
        e->hidden = m->name[0] == '.';
        if (m->unsafe) {
            char msg[600];
            snprintf(msg, sizeof msg, "refused: %s%s%.500s", m->why, m->link ? " to " : "",
                     m->link ? m->link : "");
            e->msg = strdup(msg);
            atomic_init(&e->state, SCAN_ERROR);
        } else {
            e->format = m->format;
            e->virtual_size = m->virtual_size;
            e->alloc_walked = m->virtual_size;
            if (m->raw_guess)
                e->flags |= SCAN_F_RAW_GUESS;
            if (m->raw_guess && (m->size == 0 || m->size % 512 != 0))
                e->flags |= SCAN_F_PLAIN; /* only its size is known here */
            atomic_init(&e->state, SCAN_DONE);
        }
        d->n++;
    }
    arc_list_free(&l);
    if (r < 0) {
        scan_close(d);
        return NULL;
    }
    if (d->n > 2)
        qsort(d->v + 1, d->n - 1, sizeof *d->v, scan_entry_order);
    scan_wake(d, true);
    return d;
}

bool scan_is_archive(const struct scan_dir *d)
{
    return d->archive;
}

struct scan_dir *scan_open_uri(const char *uri, struct img_err *err)
{
    err_clear(err);
    if (!img_name_is_uri(uri)) {
        err_set(err, -EINVAL, "%s: not an NBD URI", uri);
        return NULL;
    }
    struct scan_dir *d = scan_new_fixed(uri, 1, err);
    if (!d)
        return NULL;
    d->remote = true;
    struct scan_entry *e = &d->v[0];
    d->n = 1; /* from here scan_close frees the entry */
    if (!(e->name = strdup(uri)) || !(e->display = esc_dup(uri, strlen(uri)))) {
        scan_close(d);
        err_set(err, -ENOMEM, "out of memory");
        return NULL;
    }
    e->mode = S_IFREG | 0444;
    /* Probed here, as the worker probes a file: opened untrusted, following no name. */
    struct scan_res res;
    memset(&res, 0, sizeof res);
    struct img_err ierr = {0};
    struct img *img = img_open(uri, NULL, IMG_OPEN_UNTRUSTED | IMG_OPEN_FORCE_SHARE, &ierr);
    if (!img) {
        scan_fail(&res, "%s", scan_strip_path(ierr.msg, uri));
    } else {
        if (img->drv->caps & IMG_CAP_RAW)
            res.flags |= SCAN_F_RAW_GUESS;
        scan_info(img, &res);
        if (!res.error)
            scan_alloc(d, img, &res);
        struct img_info info;
        if (img_get_info(img, &info) == 0)
            e->size = e->disk_bytes = info.file_size; /* the export's size: nothing else known */
        img_close(img);
    }
    atomic_init(&e->state, SCAN_PENDING);
    atomic_store(&d->pending, 1); /* scan_publish counts it done */
    pthread_mutex_lock(&d->lock);
    scan_publish(d, 0, &res);
    pthread_mutex_unlock(&d->lock);
    scan_wake(d, true);
    return d;
}

bool scan_is_remote(const struct scan_dir *d)
{
    return d->remote;
}

void scan_close(struct scan_dir *d)
{
    if (!d)
        return;
    if (d->have_thread) {
        pthread_mutex_lock(&d->lock);
        atomic_store(&d->cancel, 1);
        pthread_cond_signal(&d->cond);
        pthread_mutex_unlock(&d->lock);
        pthread_join(d->th, NULL);
    }
    for (size_t i = 0; i < d->n; i++)
        scan_entry_free(&d->v[i]);
    free(d->v);
    if (d->dfd >= 0)
        close(d->dfd);
    if (d->wfd >= 0)
        close(d->wfd);
    pthread_mutex_destroy(&d->lock);
    pthread_cond_destroy(&d->cond);
    free(d->path);
    free(d);
}

const char *scan_path(const struct scan_dir *d)
{
    return d->path;
}

size_t scan_count(const struct scan_dir *d)
{
    return d->n;
}

const struct scan_entry *scan_entry(const struct scan_dir *d, size_t i)
{
    return i < d->n ? &d->v[i] : NULL;
}

size_t scan_pending(struct scan_dir *d)
{
    return atomic_load(&d->pending);
}

/* ---- sorting ---- */

struct scan_key {
    size_t idx;
    const struct scan_entry *e;
    uint64_t num;       /* size, disk, vsize */
    const char *format; /* sampled once: NULL when not probed */
};

struct scan_sort_ctx {
    enum scan_sort key;
    bool reverse, dirs_first;
};

static int scan_key_cmp(const void *a, const void *b, void *arg)
{
    const struct scan_key *x = a, *y = b;
    const struct scan_sort_ctx *c = arg;
    /* ".." and then directories lead whatever the direction. */
    if (x->e->is_dotdot != y->e->is_dotdot)
        return x->e->is_dotdot ? -1 : 1;
    if (c->dirs_first && x->e->is_dir != y->e->is_dir)
        return x->e->is_dir ? -1 : 1;
    int r = 0;
    switch (c->key) {
    case SCAN_SORT_NAME: break;
    case SCAN_SORT_SIZE:
    case SCAN_SORT_DISK:
    case SCAN_SORT_VSIZE: r = (x->num > y->num) - (x->num < y->num); break;
    case SCAN_SORT_FORMAT:
        if (!x->format || !y->format)
            r = (x->format == NULL) - (y->format == NULL);
        else
            r = strcmp(x->format, y->format);
        break;
    case SCAN_SORT_MTIME:
        r = (x->e->mtime_sec > y->e->mtime_sec) - (x->e->mtime_sec < y->e->mtime_sec);
        if (!r)
            r = (x->e->mtime_nsec > y->e->mtime_nsec) - (x->e->mtime_nsec < y->e->mtime_nsec);
        break;
    }
    if (!r)
        r = scan_name_cmp(x->e->name, y->e->name);
    if (!r)
        r = (x->idx > y->idx) - (x->idx < y->idx);
    return c->reverse ? -r : r;
}

int scan_sort(const struct scan_dir *d, size_t *idx, size_t n, enum scan_sort key, bool reverse,
              bool dirs_first)
{
    if (n < 2)
        return 0;
    struct scan_key *k = malloc(n * sizeof *k);
    if (!k)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const struct scan_entry *e = &d->v[idx[i]];
        bool done = scan_entry_state(e) == SCAN_DONE;
        k[i] = (struct scan_key){.idx = idx[i], .e = e};
        switch (key) {
        case SCAN_SORT_SIZE: k[i].num = e->size; break;
        case SCAN_SORT_DISK: k[i].num = e->disk_bytes; break;
        case SCAN_SORT_VSIZE: k[i].num = done ? e->virtual_size : 0; break;
        case SCAN_SORT_FORMAT: k[i].format = done ? e->format : NULL; break;
        default: break;
        }
    }
    struct scan_sort_ctx c = {key, reverse, dirs_first};
    /* Keys are sampled above, so the comparison stays consistent while the worker
     * publishes entries. */
    qsort_r(k, n, sizeof *k, scan_key_cmp, &c);
    for (size_t i = 0; i < n; i++)
        idx[i] = k[i].idx;
    free(k);
    return 0;
}

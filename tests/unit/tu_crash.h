/* SPDX-License-Identifier: GPL-2.0-or-later */
/* tu_crash.h: crash injection for unit tests that stop a driver part way through its writes.
 *
 * Included by one test file per executable: it defines pwrite, ftruncate, fallocate and
 * rename, which then stand in for libc's in the whole test binary (dimgcore included). Once
 * tu_crash_budget reaches 0 every further call fails with EIO, which leaves the files as a
 * crash at that point would (the drivers sync between their steps); the interrupted pwrite
 * may first put tu_crash_partial bytes of its data on disk (a torn write). -1: no crash
 * planned. Talks to the kernel directly (syscall) for the calls it lets through.
 *
 * Lost writes: with tu_crash_undo set, every write, truncate and fallocate since the last
 * fdatasync/fsync of its file is logged with what it overwrote; tu_crash_revert() then undoes
 * them (newest first), as a power loss may drop whatever the disk had not been told to keep;
 * tu_crash_revert_but_last() keeps the newest one only (a disk that reordered its writes).
 * fdatasync/fsync fail with EIO once the budget is spent; with tu_crash_undo they also
 * consume it (a crash just before a sync point).
 */
#ifndef DIMG_TU_CRASH_H
#define DIMG_TU_CRASH_H

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

static long tu_crash_budget = -1;
static size_t tu_crash_partial; /* bytes an interrupted pwrite still writes (0: none) */

static bool tu_crash_undo; /* log unsynced changes for tu_crash_revert */

struct tu_crash_undo_ent {
    int fd;
    off_t off, old_size;
    size_t n;   /* bytes the change covered */
    size_t len; /* bytes of old that were inside the file */
    unsigned char *old;
};
static struct tu_crash_undo_ent *tu_crash_log;
static size_t tu_crash_nlog, tu_crash_caplog;

/* Remember what a change to fd at [off, off+n) is about to overwrite. */
static void tu_crash_record(int fd, off_t off, size_t n)
{
    if (!tu_crash_undo)
        return;
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
        return;
    if (tu_crash_nlog == tu_crash_caplog) {
        tu_crash_caplog = tu_crash_caplog ? 2 * tu_crash_caplog : 64;
        tu_crash_log = realloc(tu_crash_log, tu_crash_caplog * sizeof *tu_crash_log);
        if (!tu_crash_log)
            abort();
    }
    struct tu_crash_undo_ent *e = &tu_crash_log[tu_crash_nlog++];
    e->fd = fd;
    e->off = off;
    e->n = n;
    e->old_size = st.st_size;
    e->len = off < st.st_size ? (size_t)(st.st_size - off) : 0;
    if (e->len > n)
        e->len = n;
    e->old = malloc(e->len ? e->len : 1);
    if (!e->old)
        abort();
    if (e->len && syscall(SYS_pread64, fd, e->old, e->len, off) != (ssize_t)e->len)
        abort();
}

/* fd reached the disk: its changes can no longer be lost. */
static void tu_crash_forget(int fd)
{
    size_t k = 0;
    for (size_t i = 0; i < tu_crash_nlog; i++) {
        if (tu_crash_log[i].fd == fd)
            free(tu_crash_log[i].old);
        else
            tu_crash_log[k++] = tu_crash_log[i];
    }
    tu_crash_nlog = k;
}

/* Undo every logged change, newest first, and empty the log (the files still open). */
static __attribute__((unused)) void tu_crash_revert(void)
{
    while (tu_crash_nlog) {
        struct tu_crash_undo_ent *e = &tu_crash_log[--tu_crash_nlog];
        if (e->len)
            syscall(SYS_pwrite64, e->fd, e->old, e->len, e->off);
        syscall(SYS_ftruncate, e->fd, e->old_size);
        free(e->old);
    }
}

/* Undo every logged change but the newest. */
static __attribute__((unused)) void tu_crash_revert_but_last(void)
{
    if (!tu_crash_nlog)
        return;
    struct tu_crash_undo_ent last = tu_crash_log[tu_crash_nlog - 1];
    unsigned char *now = malloc(last.n ? last.n : 1);
    if (!now)
        abort();
    ssize_t got = syscall(SYS_pread64, last.fd, now, last.n, last.off);
    tu_crash_revert();
    if (got > 0)
        syscall(SYS_pwrite64, last.fd, now, (size_t)got, last.off);
    free(now);
}

/* Keep everything written so far (a fresh start for the next run). */
static __attribute__((unused)) void tu_crash_clear_log(void)
{
    while (tu_crash_nlog)
        free(tu_crash_log[--tu_crash_nlog].old);
}

static bool tu_crash_now(void)
{
    if (tu_crash_budget == 0)
        return true;
    if (tu_crash_budget > 0)
        tu_crash_budget--;
    return false;
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
    if (tu_crash_now()) {
        if (tu_crash_partial && n > tu_crash_partial)
            syscall(SYS_pwrite64, fd, buf, tu_crash_partial, off);
        errno = EIO;
        return -1;
    }
    tu_crash_record(fd, off, n);
    return syscall(SYS_pwrite64, fd, buf, n, off);
}

int ftruncate(int fd, off_t len)
{
    if (tu_crash_now()) {
        errno = EIO;
        return -1;
    }
    struct stat st;
    if (tu_crash_undo && fstat(fd, &st) == 0)
        tu_crash_record(fd, len < st.st_size ? len : st.st_size,
                        len < st.st_size ? (size_t)(st.st_size - len) : 0);
    return (int)syscall(SYS_ftruncate, fd, len);
}

int fallocate(int fd, int mode, off_t off, off_t len)
{
    if (tu_crash_now()) {
        errno = EIO;
        return -1;
    }
    tu_crash_record(fd, off, (size_t)len);
    return (int)syscall(SYS_fallocate, fd, mode, off, len);
}

int fdatasync(int fd)
{
    if (tu_crash_undo ? tu_crash_now() : tu_crash_budget == 0) {
        errno = EIO;
        return -1;
    }
    tu_crash_forget(fd);
    return (int)syscall(SYS_fdatasync, fd);
}

int fsync(int fd)
{
    if (tu_crash_undo ? tu_crash_now() : tu_crash_budget == 0) {
        errno = EIO;
        return -1;
    }
    tu_crash_forget(fd);
    return (int)syscall(SYS_fsync, fd);
}

int rename(const char *from, const char *to)
{
    if (tu_crash_now()) {
        errno = EIO;
        return -1;
    }
    return (int)syscall(SYS_renameat2, AT_FDCWD, from, AT_FDCWD, to, 0);
}

#endif

/* tu_crash.h: crash injection for unit tests that stop a driver part way through its writes.
 *
 * Included by one test file per executable: it defines pwrite, ftruncate, fallocate and
 * rename, which then stand in for libc's in the whole test binary (dimgcore included). Once
 * tu_crash_budget reaches 0 every further call fails with EIO, which leaves the files as a
 * crash at that point would (the drivers sync between their steps); the interrupted pwrite
 * may first put tu_crash_partial bytes of its data on disk (a torn write). -1: no crash
 * planned. Talks to the kernel directly (syscall) for the calls it lets through.
 */
#ifndef DIMG_TU_CRASH_H
#define DIMG_TU_CRASH_H

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

static long tu_crash_budget = -1;
static size_t tu_crash_partial; /* bytes an interrupted pwrite still writes (0: none) */

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
    return syscall(SYS_pwrite64, fd, buf, n, off);
}

int ftruncate(int fd, off_t len)
{
    if (tu_crash_now()) {
        errno = EIO;
        return -1;
    }
    return (int)syscall(SYS_ftruncate, fd, len);
}

int fallocate(int fd, int mode, off_t off, off_t len)
{
    if (tu_crash_now()) {
        errno = EIO;
        return -1;
    }
    return (int)syscall(SYS_fallocate, fd, mode, off, len);
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

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* lock.h: image locks compatible with QEMU's: open-file-description (OFD) byte-range locks on
 * the image files, so that dimg, qemu-img, qemu-io and running VMs see each other.
 *
 * QEMU's convention (block/file-posix.c): permission bit i held means a shared lock on byte
 * 100+i; permission bit i *not* shared with others means a shared lock on byte 200+i. Before
 * it trusts its locks, an opener asks whether anyone else locks 200+i for a permission it
 * wants, or 100+i for a permission it refuses to share. All locks are read (shared) locks;
 * the test asks F_OFD_GETLK whether a write lock could be placed.
 *
 * A process keeps one lock descriptor per file (dev, ino): every handle dimg opens on the same
 * file adds its permissions to that descriptor, so dimg's own handles (a chain opened read-only
 * and its base opened again read-write by commit) never conflict with each other. Two jobs of
 * one process on one file are kept apart by the job engine instead (job.h).
 *
 * Talks to: fcntl(F_OFD_*), pthreads. Never prints: warnings go to the hook the face installs.
 */
#ifndef DIMG_LOCK_H
#define DIMG_LOCK_H

#include <stdbool.h>

#include "core/base/err.h"

/* QEMU's permission bits (include/block/block-common.h, 7.2). */
enum {
    LOCK_PERM_CONSISTENT_READ = 1u << 0,
    LOCK_PERM_WRITE = 1u << 1,
    LOCK_PERM_WRITE_UNCHANGED = 1u << 2,
    LOCK_PERM_RESIZE = 1u << 3,
    LOCK_PERM_ALL = 0xf,
};
#define LOCK_PERM_BASE 100
#define LOCK_SHARED_BASE 200

struct lock_ref;

/* Lock the file behind fd for a reader (rw false: consistent read, others may not write or
 * resize) or a writer (rw true: read, write and resize, others may not write or resize).
 * path names the file in messages. Returns 0 with *out set (NULL for files that take no locks:
 * neither regular files nor block devices), or -EBUSY with err saying "image is in use: ..."
 * when another process holds a conflicting lock (nothing is then kept locked), or another
 * negative errno. */
int lock_acquire(int fd, const char *path, bool rw, struct lock_ref **out, struct img_err *err);
/* What an opener does with lock_acquire: a writer meeting another holder fails with "image is
 * in use"; a reader carries on unlocked after a warning (lock_warn), as qemu-img -U would, and
 * sets *in_use; with force_share a reader takes no locks and says nothing (qemu-img's -U).
 * Writers always lock. */
int lock_take(int fd, const char *path, bool rw, bool force_share, struct lock_ref **out,
              bool *in_use, struct img_err *err);
/* Drop a handle's permissions (and the descriptor with the last one). NULL is a no-op. */
void lock_release(struct lock_ref *ref);

/* Does another open file description hold any of QEMU's lock bytes on fd's file? (nothing is
 * taken). *pid is set to the holder's pid when the system names it, else -1. */
bool lock_in_use(int fd, int *pid);
/* For a file about to be replaced (convert's target): -EBUSY with "image is in use: ..." when
 * another holder has it locked; 0 when free or absent. */
int lock_check_free(const char *path, struct img_err *err);

/* Warnings (a read-only open of an image in use); the command line prints them, the default
 * drops them. */
typedef void (*lock_warn_fn)(const char *msg);
void lock_set_warn(lock_warn_fn fn);
void lock_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif

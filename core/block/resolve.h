/* SPDX-License-Identifier: GPL-2.0-or-later */
/* resolve.h: opening the files dimg reads, safely, in one place.
 *
 * Two kinds of names reach an open():
 * - a file the user named (an image on the command line or picked in the browser, the file to
 *   append): resolve_open_file. Its type is checked before and after the open, which is
 *   O_NONBLOCK, so that a named pipe, a socket or a device never blocks or wakes anything; only
 *   a regular file or (when asked) a block device is accepted.
 * - a file an image's metadata names (a vmdk extent, a backing file, a data file, a vdi parent):
 *   resolve_open_beneath. It is resolved below a directory (the image's own, or the one its
 *   name designates) and a symlink may never lead out of it: openat2 with RESOLVE_BENEATH |
 *   RESOLVE_NO_MAGICLINKS (plus RESOLVE_NO_SYMLINKS when asked), or, where the kernel lacks
 *   openat2, a walk one component at a time with O_NOFOLLOW that follows symlinks itself under
 *   the same rules. Only regular files are accepted, never one in /proc or /sys.
 *
 * Talks to: the kernel only (openat2, openat, fstat, fstatfs). Never prints; every failure is
 * one line in a struct img_err that starts with the name as given.
 */
#ifndef DIMG_RESOLVE_H
#define DIMG_RESOLVE_H

#include <stdbool.h>
#include <sys/stat.h>

#include "core/base/err.h"

enum {
    RESOLVE_OPEN_BLOCKDEV = 1u << 0,   /* resolve_open_file: a block device is fine too */
    RESOLVE_OPEN_NOSYMLINKS = 1u << 1, /* resolve_open_beneath: no symlink at all (untrusted) */
    RESOLVE_OPEN_WALK = 1u << 2,       /* resolve_open_beneath: use the fallback walk (for tests) */
};

/* What kind of file mode is, in words ("a named pipe (FIFO)", "a socket", ...). */
const char *resolve_kind_name(mode_t mode);

/* Open path (a name the user gave) with oflags (O_RDONLY or O_RDWR; O_NONBLOCK, O_NOCTTY and
 * O_CLOEXEC are added, O_NONBLOCK dropped again once the file passed). Refuses anything but a
 * regular file (or a block device with RESOLVE_OPEN_BLOCKDEV) without blocking. Returns the fd
 * with *st filled (st may be NULL), or a negative errno with err set ("PATH: ..."). */
int resolve_open_file(const char *path, int oflags, unsigned rflags, struct stat *st,
                      struct img_err *err);

/* Open name, relative, resolved below the directory dir (a path; "" or NULL means ".")
 * without leaving it through "..", an absolute symlink, a symlink to a place outside or a
 * /proc magic link; with RESOLVE_OPEN_NOSYMLINKS no symlink is followed at all. The result
 * must be a regular file outside /proc and /sys. oflags as for resolve_open_file. Returns the
 * fd with *st filled (st may be NULL), or a negative errno with err set to the reason alone
 * (the caller names the file; -EXDEV when the name leads outside dir, -ELOOP for a refused
 * symlink). */
int resolve_open_beneath(const char *dir, const char *name, int oflags, unsigned rflags,
                         struct stat *st, struct img_err *err);
/* The same below an open directory dirfd. */
int resolve_openat_beneath(int dirfd, const char *name, int oflags, unsigned rflags,
                           struct stat *st, struct img_err *err);

/* Split a reference (as an image names it) into the directory it must stay below and the name
 * to open there: a relative name without a ".." component stays below base_dir as a whole;
 * any other name (absolute, or with "..") is taken literally up to its last component, which
 * must then lie in that directory. Both malloc'd; -ENOMEM or 0. */
int resolve_split_ref(const char *base_dir, const char *name, char **dir, char **rel);

/* A relative name without a ".." component (it cannot lead above the directory it is in). */
bool resolve_name_local(const char *name);

#endif

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* scan.h: one directory's listing for the interactive browser, with every regular file probed
 * in the background.
 *
 * scan_open() reads the directory and stats every entry at once (names, types, sizes, times)
 * and returns; one worker thread then opens each regular file read-only, following no
 * external reference (no backing files, no data files), and fills in what the browser shows:
 * format, version, virtual size, allocated bytes, cluster size and flags (snapshots, backing
 * file, encryption, compression, a QEMU lock, a partition table, an archive).
 *
 * Threads: the entry array is allocated once, before the worker starts, and never moves. The
 * fields from the listing are immutable. The probe fields of an entry are written by the
 * worker and then published by storing its state with release; readers load the state with
 * acquire (scan_entry_state) and read the probe fields only when it is SCAN_DONE or
 * SCAN_ERROR. Entries are meant to be read by one thread (the UI thread): pointers into an
 * entry's probe fields stay valid until scan_reprobe() of that entry or scan_close().
 * The wakeup fd becomes readable when a batch of entries was published (at most about 20
 * times a second) and when the worker finishes.
 *
 * Talks to: img.h (img_open, img_get_info, img_block_status_layer), ptable.h, pthreads.
 * Callers: tui/ (the browser view). Never prints.
 */
#ifndef DIMG_SCAN_H
#define DIMG_SCAN_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/base/err.h"

#define SCAN_MAX_ENTRIES 1000000u /* a larger directory is refused, not listed */

/* scan_open flags */
enum {
    SCAN_OPEN_NOPROBE = 1u << 0, /* list only: no worker, every file stays SCAN_NONE */
    SCAN_OPEN_NOHIDDEN = 1u << 1 /* leave out names starting with '.' (".." is kept) */
};

enum scan_state {
    SCAN_NONE = 0, /* nothing to probe: a directory, device, FIFO, socket, dangling link */
    SCAN_PENDING,  /* a regular file not probed yet */
    SCAN_DONE,     /* probe fields valid */
    SCAN_ERROR     /* msg says why (one printable line); the other probe fields are zero */
};

/* Probe result flags. */
enum {
    SCAN_F_RAW_GUESS = 1u << 0, /* no format claimed it: format "raw" by fallback (dim it) */
    SCAN_F_SNAPSHOTS = 1u << 1, /* internal snapshots (nb_snapshots) */
    SCAN_F_BACKING = 1u << 2,   /* records a backing file (backing) */
    SCAN_F_ENCRYPTED = 1u << 3,
    SCAN_F_COMPRESSED = 1u << 4,   /* holds compressed clusters */
    SCAN_F_LOCKED = 1u << 5,       /* a running QEMU holds locks on it */
    SCAN_F_PTABLE = 1u << 6,       /* the guest view starts with an MBR or GPT */
    SCAN_F_ARCHIVE = 1u << 7,      /* name or magic says tar/zip/gz/xz/zst/bz2/ova */
    SCAN_F_ALLOC_APPROX = 1u << 8, /* alloc_bytes is a lower bound: the walk hit its budget */
    /* With SCAN_F_RAW_GUESS: nothing about it looks like a disk (its size is not a whole
     * number of 512-byte sectors, or it starts with text, and it has no boot signature): a
     * plain file, shown as a file rather than as a raw image. */
    SCAN_F_PLAIN = 1u << 9
};

struct scan_entry {
    /* From the listing: immutable after scan_open. For a symbolic link, mode, size,
     * disk_bytes and mtime describe its target when it resolves. */
    char *name;    /* the raw bytes readdir returned (untrusted) */
    char *display; /* name with control characters and bad UTF-8 escaped */
    bool is_dir;   /* a directory, or a link to one (".." included) */
    bool is_symlink;
    bool is_dangling;  /* a symbolic link whose target does not resolve (mode is S_IFLNK) */
    char *link_target; /* a link's target as stored, escaped; NULL when not a link */
    bool hidden;       /* leading '.' */
    bool is_dotdot;
    mode_t mode;
    int64_t mtime_sec;
    long mtime_nsec;
    uint64_t size;       /* st_size */
    uint64_t disk_bytes; /* st_blocks * 512 */

    /* Published by the worker: read only after scan_entry_state() says DONE or ERROR. */
    _Atomic int state;  /* enum scan_state */
    const char *format; /* driver name ("qcow2"), NULL until probed; on SCAN_ERROR the name of
                         * a format dimg does not read yet ("vpc"), else NULL */
    char version[16];   /* as the driver reports it ("1.1" for qcow2 v3), or "" */
    uint64_t virtual_size;
    uint64_t alloc_bytes;  /* guest bytes holding data in this file (top layer only) */
    uint64_t alloc_walked; /* guest bytes the count covers: virtual_size unless the walk
                            * hit its budget (SCAN_F_ALLOC_APPROX) */
    uint32_t cluster_size; /* 0 when the format has none */
    unsigned flags;        /* SCAN_F_* */
    unsigned nb_snapshots;
    char *backing; /* backing file name as recorded, escaped; NULL when none */
    /* Images that name their parent by identity (differencing vdi): their own UUID and the
     * parent's, as text; "" when the format has none. */
    char uuid[40], parent_uuid[40];
    char *msg; /* SCAN_ERROR: the reason, escaped, one line; else NULL */
};

struct scan_dir;

/* List dir and start probing. NULL with err set when the directory cannot be read, has more
 * than SCAN_MAX_ENTRIES entries, or memory runs out. Entries are sorted by name (natural
 * order, ".." first); they are probed in that order, preferred ones first (scan_prefer). */
struct scan_dir *scan_open(const char *dir, unsigned flags, struct img_err *err);
/* The members of an archive (core/archive/archive.h) listed like a directory: ".." first, then one
 * entry per member, every one already SCAN_DONE (format probed from its first bytes, the
 * member's size as size, the header's virtual size) or SCAN_ERROR for refused members (links,
 * ".." or absolute names: msg says why). The whole archive is read once, here. There is no
 * worker; scan_reprobe fails with -ECANCELED. */
struct scan_dir *scan_open_archive(const char *path, struct img_err *err);
/* Was d made by scan_open_archive? */
bool scan_is_archive(const struct scan_dir *d);
/* One remote image named by an NBD URI (nbd://, nbd+unix://, nbds://...) listed alone: its
 * only entry is named by the URI (so joining it to the empty directory "" gives the URI back)
 * and is probed here, before the call returns, as the worker probes a file (opened untrusted,
 * following no name); SCAN_ERROR with the reason when the server cannot be reached. There is
 * no worker; scan_reprobe fails with -ECANCELED. scan_path is the URI. */
struct scan_dir *scan_open_uri(const char *uri, struct img_err *err);
bool scan_is_remote(const struct scan_dir *d);
/* Stop the worker (checked between files and during long walks), join it, free everything. */
void scan_close(struct scan_dir *d);

/* The directory as given to scan_open. */
const char *scan_path(const struct scan_dir *d);
size_t scan_count(const struct scan_dir *d);
const struct scan_entry *scan_entry(const struct scan_dir *d, size_t i);
static inline enum scan_state scan_entry_state(const struct scan_entry *e)
{
    return (enum scan_state)atomic_load_explicit(&e->state, memory_order_acquire);
}
/* Entries still SCAN_PENDING. */
size_t scan_pending(struct scan_dir *d);

/* Readable when entries were published or the worker finished; drain before polling again. */
int scan_wakeup_fd(const struct scan_dir *d);
void scan_drain_wakeup(struct scan_dir *d);

/* Probe these entries (e.g. the ones on screen) before the rest; replaces the previous
 * preference. At most 1024 are kept. */
void scan_prefer(struct scan_dir *d, const size_t *idx, size_t n);
/* Probe entry i again (after it changed). Its probe fields must not be used until it is
 * published again. -EINVAL for an entry that is not a regular file, -ECANCELED when the scan
 * was opened with SCAN_OPEN_NOPROBE. */
int scan_reprobe(struct scan_dir *d, size_t i);

/* ---- ordering (pure functions for the UI's index array) ---- */
enum scan_sort {
    SCAN_SORT_NAME,   /* natural order: "disk9" < "disk10", case folded, then bytes */
    SCAN_SORT_SIZE,   /* apparent file size */
    SCAN_SORT_DISK,   /* bytes on disk */
    SCAN_SORT_VSIZE,  /* virtual size (entries not probed yet count as 0) */
    SCAN_SORT_FORMAT, /* format name (not probed yet: after every name) */
    SCAN_SORT_MTIME
};
/* Natural name order: runs of digits compare by value, letters ASCII case folded, ties broken
 * by plain byte order. */
int scan_name_cmp(const char *a, const char *b);
/* Sort idx[0..n) (indices of d's entries) by key; ties by name. ".." stays first whatever
 * the direction; dirs_first puts directories before files. The probe fields are sampled
 * once, so entries published during the sort cannot confuse it. 0 or -ENOMEM. */
int scan_sort(const struct scan_dir *d, size_t *idx, size_t n, enum scan_sort key, bool reverse,
              bool dirs_first);

#endif

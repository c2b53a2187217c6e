/* SPDX-License-Identifier: GPL-2.0-or-later */
/* src.h: byte sources, the layer under the format drivers (QEMU's "protocol" drivers). A
 * source is where an image's bytes live: a regular file, a block device (/dev/sdX, an LVM
 * logical volume, a loop device) or an NBD export (nbd://, nbd+unix://, nbds://). Drivers
 * read and write through it and never learn which one it is; what a source can do beyond
 * pread/pwrite is said by capability bits.
 *
 * All calls return 0 or a negative errno; the last failure's one-line message is kept on the
 * source (src_errmsg; the caller names the image). Opening fails with a message that starts
 * with the name. Nothing here prints.
 * Talks to: core/base/io.h (files, devices), libnbd (src_nbd.c), src_stream.c (streams),
 * core/block/resolve.h.
 */
#ifndef DIMG_SRC_H
#define DIMG_SRC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/base/err.h"

struct img_src; /* opaque: the backends see inside through src_impl.h */

/* What a source can do. */
enum {
    SRC_CAP_RANDOM = 1u << 0,   /* reads and writes at any offset (all but streams) */
    SRC_CAP_WRITE = 1u << 1,    /* opened for writing and the other end accepts writes */
    SRC_CAP_HOLES = 1u << 2,    /* src_extent tells holes from data */
    SRC_CAP_PUNCH = 1u << 3,    /* src_zero(.., SRC_ZERO_MAY_PUNCH) / src_discard free space */
    SRC_CAP_TRUNCATE = 1u << 4, /* src_truncate changes the size (regular files only) */
    SRC_CAP_FD = 1u << 5,       /* backed by a file descriptor (src_fd): file or device */
};

enum src_kind { SRC_FILE, SRC_BLOCKDEV, SRC_NBD, SRC_STREAM };

enum {
    SRC_OPEN_RW = 1u << 0,
    /* A block device opened for writing although it is mounted (or held by another opener). */
    SRC_OPEN_FORCE = 1u << 1,
};

/* name names an NBD export as qemu-img spells it (nbd://, nbd+unix://, nbds://, nbds+unix://,
 * nbd:unix: and nbd:HOST:PORT are not accepted): such names never come from on-disk data. */
bool src_name_is_uri(const char *name);

/* Open a source by name: an NBD URI, else a regular file or block device (opened as
 * resolve_open_file does: never a FIFO, socket or character device). */
int src_open(const char *name, unsigned flags, struct img_src **out, struct img_err *err);
/* Adopt an open file descriptor of a regular file or block device (closed by src_close, and
 * on failure). A block device opened for writing is reopened O_EXCL and refused while mounted
 * unless SRC_OPEN_FORCE. */
int src_from_fd(int fd, const char *name, unsigned flags, struct img_src **out,
                struct img_err *err);
void src_close(struct img_src *s);

/* A forward-only, read-only source (src_stream.c) over bytes a producer hands out in order
 * (an archive member being inflated): no SRC_CAP_RANDOM. Reads go at non-decreasing offsets,
 * except that the first SRC_STREAM_HEAD bytes and the SRC_STREAM_BACK bytes before the
 * furthest point read can be read again; further back is -ESPIPE with a message. size is the
 * length when declared, else UINT64_MAX: src_size then fails until a read met the end. */
#define SRC_STREAM_HEAD (64u << 10)
#define SRC_STREAM_BACK (64u << 10)
struct src_stream_io {
    /* Up to len bytes; 0 at the end; -errno with err set. */
    ssize_t (*read)(void *ctx, void *buf, size_t len, struct img_err *err);
    void (*close)(void *ctx); /* may be NULL */
};
/* The source owns ctx from here on (io->close, also when opening fails). */
int src_stream_open(const char *name, const struct src_stream_io *io, void *ctx, uint64_t size,
                    struct img_src **out, struct img_err *err);
/* A stream over len bytes at buf (kept by the caller while the source lives); size_known:
 * the length is declared up front. For fuzzing and tests. */
int src_stream_mem(const char *name, const void *buf, size_t len, bool size_known,
                   struct img_src **out, struct img_err *err);

enum src_kind src_kind(const struct img_src *s);
unsigned src_caps(const struct img_src *s);
const char *src_name(const struct img_src *s);
/* The descriptor behind a file or device source, -1 for NBD. */
int src_fd(const struct img_src *s);
/* Are a and b the same file or device (same st_dev and st_ino)? False for NBD and streams,
 * and when either cannot be asked. */
bool src_same_file(const struct img_src *a, const struct img_src *b);
/* The message of the last failure ("NAME: ..."), or strerror of code when none was kept. */
const char *src_errmsg(const struct img_src *s, int code);

/* Exactly len bytes at off; a short read (past the end) is -EIO. */
int src_pread(struct img_src *s, void *buf, size_t len, uint64_t off);
/* Up to len bytes at off, zeros for whatever lies past the end. */
int src_pread_zero(struct img_src *s, void *buf, size_t len, uint64_t off);
int src_pwrite(struct img_src *s, const void *buf, size_t len, uint64_t off);
int src_size(struct img_src *s, uint64_t *size);
/* Bytes allocated (st_blocks for files; the size for devices); -ENOTSUP when the source
 * cannot tell (NBD). */
int src_alloc(struct img_src *s, uint64_t *bytes);
int src_truncate(struct img_src *s, uint64_t size);
/* Reserve space for [off, off+len) (full: by writing zeros); for regular files only. */
int src_allocate(struct img_src *s, uint64_t off, uint64_t len, bool full);
/* Make written data durable (fdatasync, NBD flush); a no-op in io_set_unsafe mode. */
int src_flush(struct img_src *s);
/* Make [off, off+len) read as zeros. SRC_ZERO_MAY_PUNCH: freeing the space is fine. Falls
 * back to writing zeros where the source has no cheaper way. */
enum { SRC_ZERO_MAY_PUNCH = 1u << 0 };
int src_zero(struct img_src *s, uint64_t off, uint64_t len, unsigned zflags);
/* Write len zero bytes at off: as src_pwrite does, it may extend the source (src_zero may
 * keep a file's size). */
int src_write_zeros(struct img_src *s, uint64_t off, uint64_t len);
/* A hint that [off, off+len) is no longer needed (contents undefined after); -ENOTSUP when
 * the source cannot. */
int src_discard(struct img_src *s, uint64_t off, uint64_t len);
/* The run starting at off (< size) up to *end (> off, <= size): *state is SRC_EXT_DATA
 * (allocated: the source stores it) and/or SRC_EXT_ZERO (reads as zeros); a file's hole is
 * ZERO alone, NBD says what the server's base:allocation says. Sources that cannot tell say
 * DATA up to the end. */
enum { SRC_EXT_DATA = 1u << 0, SRC_EXT_ZERO = 1u << 1 };
int src_extent(struct img_src *s, uint64_t off, uint64_t size, unsigned *state, uint64_t *end);

#endif

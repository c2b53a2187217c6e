/* SPDX-License-Identifier: GPL-2.0-or-later */
/* io.h: safe file I/O used by core/ and every driver.
 *
 * pread/pwrite loops that retry on EINTR and short transfers, a zero-filling read for data
 * that may lie past the end of a file, and the temp-file-then-rename scheme used for every new
 * image (TARGET.part, renamed into place only when complete and flushed).
 * All functions return 0 or a negative errno.
 */
#ifndef DIMG_IO_H
#define DIMG_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Read exactly len bytes at off; a short read (EOF) is -EIO. */
int io_pread_exact(int fd, void *buf, size_t len, uint64_t off);
/* Read up to len bytes at off, zero-filling whatever lies past EOF. */
int io_pread_zero(int fd, void *buf, size_t len, uint64_t off);
/* Write exactly len bytes at off. */
int io_pwrite_all(int fd, const void *buf, size_t len, uint64_t off);
/* Write len zero bytes at off (in bounded chunks). */
int io_pwrite_zeroes(int fd, uint64_t off, uint64_t len);
/* fdatasync, mapping errors to -errno; a no-op after io_set_unsafe(true). */
int io_sync(int fd);
/* fsync: a new file's data and its inode (size, times) made durable; a no-op in unsafe mode. */
int io_sync_new(int fd);
/* Unsafe mode (qemu-img's -t unsafe): io_sync and io_sync_dir do nothing, so a crash may
 * lose what was written. For a command that makes a new file it can simply make again. */
void io_set_unsafe(bool unsafe);
/* rename(from, to), replacing to; in unsafe mode a regular file at to is removed first (see
 * io.c). -errno on failure. */
int io_replace(const char *from, const char *to);
/* Start writing [off, off+len) of fd back to disk without waiting (sync_file_range; len 0
 * means to the end of the file), so that a later io_sync waits for little; a no-op in unsafe
 * mode. */
void io_start_writeback(int fd, uint64_t off, uint64_t len);
/* Are all n bytes at p zero? (Fast: one memcmp of the buffer against itself.) */
bool io_is_zero(const void *p, size_t n);
/* Current size of the file behind fd, or -errno. */
int io_file_size(int fd, uint64_t *size);
/* Bytes allocated on disk (st_blocks * 512), or -errno. */
int io_file_alloc(int fd, uint64_t *bytes);
/* Find the next data/hole boundary (SEEK_DATA/SEEK_HOLE); on file systems without support the
 * whole file is data. *is_data says what [off, *end) is. */
int io_seek_extent(int fd, uint64_t off, uint64_t file_size, int *is_data, uint64_t *end);
/* Allocate space: mode 0 = fallocate, 1 = write zeroes (full). */
int io_preallocate(int fd, uint64_t off, uint64_t len, int full);

/* A new file written under a temporary name and renamed into place on commit. */
struct io_tmpfile {
    int fd;
    char *final_path; /* where it goes on commit */
    char *tmp_path;   /* FINAL.part */
};
/* Create FINAL.part exclusively (O_EXCL): a stale .part is refused, not clobbered. */
int io_tmp_create(struct io_tmpfile *t, const char *final_path);
/* fsync, close, rename into place and fsync the directory. The fd is closed either way. */
int io_tmp_commit(struct io_tmpfile *t);
/* fsync the directory holding path (makes a rename or a new name durable). */
int io_sync_dir(const char *path);
/* Close and unlink the temporary file (safe to call after commit: then a no-op). */
void io_tmp_abort(struct io_tmpfile *t);

/* Directory part of path (malloc'd; "." for bare names). */
char *io_dirname(const char *path);
/* Join dir and name, or return name when it is absolute (malloc'd). */
char *io_path_join(const char *dir, const char *name);

#endif

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* io.c: the pread/pwrite loops, extent queries and temp+rename scheme declared in io.h. */
#include "core/base/io.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The read loop: retries EINTR and short reads; at EOF either fails or zero-fills. */
static int pread_loop(int fd, void *buf, size_t len, uint64_t off, bool zero_fill)
{
    uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = pread(fd, p, len, (off_t)off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0) {
            if (!zero_fill)
                return -EIO;
            memset(p, 0, len);
            return 0;
        }
        p += n;
        len -= (size_t)n;
        off += (uint64_t)n;
    }
    return 0;
}

int io_pread_exact(int fd, void *buf, size_t len, uint64_t off)
{
    return pread_loop(fd, buf, len, off, false);
}

int io_pread_zero(int fd, void *buf, size_t len, uint64_t off)
{
    return pread_loop(fd, buf, len, off, true);
}

int io_pwrite_all(int fd, const void *buf, size_t len, uint64_t off)
{
    const uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = pwrite(fd, p, len, (off_t)off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0)
            return -EIO;
        p += n;
        len -= (size_t)n;
        off += (uint64_t)n;
    }
    return 0;
}

int io_pwrite_zeroes(int fd, uint64_t off, uint64_t len)
{
    static const uint8_t zero[65536];
    while (len > 0) {
        size_t n = len < sizeof zero ? (size_t)len : sizeof zero;
        int r = io_pwrite_all(fd, zero, n, off);
        if (r < 0)
            return r;
        off += n;
        len -= n;
    }
    return 0;
}

/* The first 16 bytes are zero and every byte equals the one 16 later. */
bool io_is_zero(const void *buf, size_t n)
{
    const uint8_t *p = buf;
    size_t head = n < 16 ? n : 16;
    for (size_t i = 0; i < head; i++)
        if (p[i])
            return false;
    return n <= 16 || memcmp(p, p + 16, n - 16) == 0;
}

static atomic_bool io_unsafe;

void io_set_unsafe(bool unsafe)
{
    atomic_store(&io_unsafe, unsafe);
}

int io_replace(const char *from, const char *to)
{
    /* ext4 (auto_da_alloc) writes out a file renamed over another one inside rename(), the
     * very flush unsafe mode was asked to skip (a quarter second per GiB here). Unsafe mode
     * removes the old file first; safe mode has synced the data already, so its rename is
     * cheap and keeps the atomic replacement. */
    struct stat st;
    if (atomic_load(&io_unsafe) && lstat(to, &st) == 0 && S_ISREG(st.st_mode) && unlink(to) < 0 &&
        errno != ENOENT)
        return -errno;
    return rename(from, to) < 0 ? -errno : 0;
}

/* fdatasync, or fsync for the inode too (inode). */
static int io_sync_how(int fd, bool inode)
{
    if (atomic_load(&io_unsafe))
        return 0;
    if ((inode ? fsync(fd) : fdatasync(fd)) < 0 && errno != EINVAL && errno != EROFS)
        return -errno;
    return 0;
}

int io_sync(int fd)
{
    return io_sync_how(fd, false);
}

int io_sync_new(int fd)
{
    return io_sync_how(fd, true);
}

void io_start_writeback(int fd, uint64_t off, uint64_t len)
{
    if (atomic_load(&io_unsafe))
        return;
    /* Best effort: where it is missing, the final io_sync does all the work as before. */
    (void)sync_file_range(fd, (off_t)off, (off_t)len, SYNC_FILE_RANGE_WRITE);
}

int io_file_size(int fd, uint64_t *size)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -errno;
    if (S_ISBLK(st.st_mode)) {
        off_t end = lseek(fd, 0, SEEK_END);
        if (end < 0)
            return -errno;
        *size = (uint64_t)end;
    } else {
        *size = (uint64_t)st.st_size;
    }
    return 0;
}

int io_file_alloc(int fd, uint64_t *bytes)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -errno;
    *bytes = (uint64_t)st.st_blocks * 512;
    return 0;
}

int io_seek_extent(int fd, uint64_t off, uint64_t file_size, int *is_data, uint64_t *end)
{
    if (off >= file_size) {
        *is_data = 0;
        *end = file_size;
        return 0;
    }
    off_t d = lseek(fd, (off_t)off, SEEK_DATA);
    if (d < 0) {
        if (errno == ENXIO) { /* only a hole until EOF */
            *is_data = 0;
            *end = file_size;
            return 0;
        }
        /* No SEEK_DATA support: everything is data. */
        *is_data = 1;
        *end = file_size;
        return 0;
    }
    if ((uint64_t)d > off) {
        *is_data = 0;
        *end = (uint64_t)d < file_size ? (uint64_t)d : file_size;
        return 0;
    }
    off_t h = lseek(fd, (off_t)off, SEEK_HOLE);
    *is_data = 1;
    *end = (h < 0 || (uint64_t)h > file_size) ? file_size : (uint64_t)h;
    if (*end <= off)
        *end = file_size;
    return 0;
}

int io_preallocate(int fd, uint64_t off, uint64_t len, int full)
{
    if (len == 0)
        return 0;
    if (!full) {
        int r = posix_fallocate(fd, (off_t)off, (off_t)len);
        if (r == 0)
            return 0;
        if (r != EOPNOTSUPP && r != EINVAL)
            return -r;
    }
    return io_pwrite_zeroes(fd, off, len);
}

int io_tmp_create(struct io_tmpfile *t, const char *final_path)
{
    size_t n = strlen(final_path);
    t->fd = -1;
    t->final_path = strdup(final_path);
    t->tmp_path = malloc(n + 6);
    if (!t->final_path || !t->tmp_path) {
        free(t->final_path);
        free(t->tmp_path);
        t->final_path = t->tmp_path = NULL;
        return -ENOMEM;
    }
    memcpy(t->tmp_path, final_path, n);
    memcpy(t->tmp_path + n, ".part", 6);
    t->fd = open(t->tmp_path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (t->fd < 0) {
        int r = -errno;
        free(t->final_path);
        free(t->tmp_path);
        t->final_path = t->tmp_path = NULL;
        return r;
    }
    return 0;
}

int io_sync_dir(const char *path)
{
    if (atomic_load(&io_unsafe))
        return 0;
    char *dir = io_dirname(path);
    if (!dir)
        return -ENOMEM;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    free(dir);
    if (fd < 0)
        return -errno;
    /* Some file systems cannot fsync a directory; that is not a failure of ours. */
    int r = (fsync(fd) < 0 && errno != EINVAL && errno != ENOTSUP) ? -errno : 0;
    close(fd);
    return r;
}

int io_tmp_commit(struct io_tmpfile *t)
{
    int r = 0;
    if (!t->tmp_path)
        return -EINVAL;
    if (t->fd >= 0) {
        if (fsync(t->fd) < 0)
            r = -errno;
        if (close(t->fd) < 0 && r == 0)
            r = -errno;
        t->fd = -1;
    }
    if (r == 0 && rename(t->tmp_path, t->final_path) < 0)
        r = -errno;
    if (r < 0) {
        unlink(t->tmp_path);
    } else {
        /* The rename is only durable once the directory itself is on disk. */
        r = io_sync_dir(t->final_path);
    }
    free(t->tmp_path);
    free(t->final_path);
    t->tmp_path = t->final_path = NULL;
    return r;
}

void io_tmp_abort(struct io_tmpfile *t)
{
    if (t->fd >= 0)
        close(t->fd);
    t->fd = -1;
    if (t->tmp_path)
        unlink(t->tmp_path);
    free(t->tmp_path);
    free(t->final_path);
    t->tmp_path = t->final_path = NULL;
}

char *io_dirname(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return strdup(".");
    if (slash == path)
        return strdup("/");
    return strndup(path, (size_t)(slash - path));
}

char *io_path_join(const char *dir, const char *name)
{
    if (name[0] == '/' || !dir || !dir[0])
        return strdup(name);
    size_t a = strlen(dir), b = strlen(name);
    char *p = malloc(a + b + 2);
    if (!p)
        return NULL;
    memcpy(p, dir, a);
    p[a] = '/';
    memcpy(p + a + 1, name, b + 1);
    return p;
}

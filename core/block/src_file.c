/* SPDX-License-Identifier: GPL-2.0-or-later */
/* src_file.c: byte sources on a local descriptor: regular files (holes from SEEK_DATA and
 * SEEK_HOLE, zeros and discards by fallocate, ftruncate) and block devices (size from
 * BLKGETSIZE64, BLKZEROOUT and BLKDISCARD, no truncate). A device opened for writing is
 * reopened O_EXCL, so that the kernel refuses it while mounted or claimed by another
 * exclusive opener, and a mounted one is refused by name first unless forced.
 * Talks to: core/base/io.h, core/block/resolve.h, the kernel (ioctl, /proc/self/mountinfo).
 */
#include "core/block/src_impl.h"
#include "core/base/io.h"
#include "core/block/resolve.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

static int file_pread(struct img_src *s, void *buf, size_t len, uint64_t off)
{
    return io_pread_exact(s->fd, buf, len, off);
}

static int file_pwrite(struct img_src *s, const void *buf, size_t len, uint64_t off)
{
    return io_pwrite_all(s->fd, buf, len, off);
}

static int file_size(struct img_src *s, uint64_t *size)
{
    return io_file_size(s->fd, size);
}

static int file_alloc(struct img_src *s, uint64_t *bytes)
{
    return io_file_alloc(s->fd, bytes);
}

static int file_truncate(struct img_src *s, uint64_t size)
{
    return ftruncate(s->fd, (off_t)size) < 0 ? -errno : 0;
}

static int file_flush(struct img_src *s)
{
    return io_sync(s->fd);
}

static int file_zero(struct img_src *s, uint64_t off, uint64_t len, unsigned zflags)
{
    /* Punching keeps the file sparse; ZERO_RANGE keeps the space; -ENOTSUP writes zeros. */
    int mode = (zflags & SRC_ZERO_MAY_PUNCH) ? FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE
                                             : FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE;
    if (fallocate(s->fd, mode, (off_t)off, (off_t)len) == 0)
        return 0;
    return errno == ENOSPC || errno == EIO ? -errno : -ENOTSUP;
}

static int file_discard(struct img_src *s, uint64_t off, uint64_t len)
{
    if (fallocate(s->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len) < 0)
        return -errno;
    return 0;
}

static int file_extent(struct img_src *s, uint64_t off, uint64_t size, unsigned *state,
                       uint64_t *end)
{
    int is_data;
    int r = io_seek_extent(s->fd, off, size, &is_data, end);
    *state = is_data ? SRC_EXT_DATA : SRC_EXT_ZERO;
    return r;
}

static void file_close(struct img_src *s)
{
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
}

static const struct src_ops file_ops = {
    .pread = file_pread,
    .pwrite = file_pwrite,
    .size = file_size,
    .alloc = file_alloc,
    .truncate = file_truncate,
    .flush = file_flush,
    .zero = file_zero,
    .discard = file_discard,
    .extent = file_extent,
    .close = file_close,
};

static int dev_size(struct img_src *s, uint64_t *size)
{
    return ioctl(s->fd, BLKGETSIZE64, size) < 0 ? -errno : 0;
}

static int dev_alloc(struct img_src *s, uint64_t *bytes)
{
    return dev_size(s, bytes);
}

/* BLKZEROOUT and BLKDISCARD take 512-byte units; anything else is written as zeros. */
static bool dev_aligned(uint64_t off, uint64_t len)
{
    return off % 512 == 0 && len % 512 == 0;
}

static int dev_zero(struct img_src *s, uint64_t off, uint64_t len, unsigned zflags)
{
    uint64_t range[2] = {off, len};
    if (!dev_aligned(off, len))
        return -ENOTSUP;
    if (ioctl(s->fd, BLKZEROOUT, range) == 0)
        return 0;
    return errno == EIO || errno == ENOSPC ? -errno : -ENOTSUP;
}

static int dev_discard(struct img_src *s, uint64_t off, uint64_t len)
{
    uint64_t range[2] = {off, len};
    if (!dev_aligned(off, len))
        return -ENOTSUP;
    return ioctl(s->fd, BLKDISCARD, range) < 0 ? -errno : 0;
}

static const struct src_ops dev_ops = {
    .pread = file_pread,
    .pwrite = file_pwrite,
    .size = dev_size,
    .alloc = dev_alloc,
    .flush = file_flush,
    .zero = dev_zero,
    .discard = dev_discard,
    .close = file_close,
};

/* Is the device rdev (or a partition of it) mounted? Where, in *where (malloc'd). */
static bool dev_mounted(dev_t rdev, char **where)
{
    FILE *f = fopen("/proc/self/mountinfo", "re");
    if (!f)
        return false;
    char *line = NULL;
    size_t cap = 0;
    bool found = false;
    while (!found && getline(&line, &cap, f) > 0) {
        unsigned maj, min;
        char mnt[4096];
        if (sscanf(line, "%*s %*s %u:%u %*s %4095s", &maj, &min, mnt) != 3)
            continue;
        if (maj == major(rdev) && min == minor(rdev)) {
            found = true;
            *where = strdup(mnt);
        }
    }
    free(line);
    fclose(f);
    return found;
}

/* A device to be written: not mounted, and held exclusively (O_EXCL) while open. */
static int dev_claim(int *fd, const char *name, const struct stat *st, unsigned flags,
                     struct img_err *err)
{
    char *where = NULL;
    if (!(flags & SRC_OPEN_FORCE) && dev_mounted(st->st_rdev, &where)) {
        err_set(err, -EBUSY, "%s: block device is mounted on %s; not written", name,
                where ? where : "?");
        free(where);
        return -EBUSY;
    }
    char proc[64];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", *fd);
    int x = open(proc, O_RDWR | O_CLOEXEC | ((flags & SRC_OPEN_FORCE) ? 0 : O_EXCL));
    if (x < 0) {
        if (errno == EBUSY)
            return err_set(err, -EBUSY,
                           "%s: block device is in use (mounted, or held by another program); "
                           "not written",
                           name);
        return err_set(err, -errno, "%s: %s", name, strerror(errno));
    }
    close(*fd);
    *fd = x;
    return 0;
}

int src_from_fd(int fd, const char *name, unsigned flags, struct img_src **out, struct img_err *err)
{
    struct stat st;
    *out = NULL;
    if (fstat(fd, &st) < 0) {
        int r = err_set(err, -errno, "%s: %s", name, strerror(errno));
        close(fd);
        return r;
    }
    bool blk = S_ISBLK(st.st_mode);
    if (!blk && !S_ISREG(st.st_mode)) {
        close(fd);
        return err_set(err, -EINVAL, "%s: %s, not a regular file or block device", name,
                       resolve_kind_name(st.st_mode));
    }
    int r = blk && (flags & SRC_OPEN_RW) ? dev_claim(&fd, name, &st, flags, err) : 0;
    struct img_src *s =
        r < 0 ? NULL : src_new(name, blk ? &dev_ops : &file_ops, blk ? SRC_BLOCKDEV : SRC_FILE);
    if (!s) {
        close(fd);
        return r < 0 ? r : err_set(err, -ENOMEM, "out of memory");
    }
    s->fd = fd;
    s->flags = flags;
    s->caps = SRC_CAP_RANDOM | SRC_CAP_FD | SRC_CAP_PUNCH |
              (blk ? 0 : SRC_CAP_HOLES | SRC_CAP_TRUNCATE) |
              ((flags & SRC_OPEN_RW) ? SRC_CAP_WRITE : 0);
    *out = s;
    return 0;
}

int src_file_open(const char *name, unsigned flags, struct img_src **out, struct img_err *err)
{
    int oflags = (flags & SRC_OPEN_RW) ? O_RDWR : O_RDONLY;
    *out = NULL;
    int fd = resolve_open_file(name, oflags, RESOLVE_OPEN_BLOCKDEV, NULL, err);
    if (fd < 0)
        return fd;
    return src_from_fd(fd, name, flags, out, err);
}

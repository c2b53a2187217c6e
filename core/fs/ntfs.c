/* SPDX-License-Identifier: GPL-2.0-or-later */
/* ntfs.c: the NTFS reader, read-only through libntfs-3g. The library reads the volume through
 * a struct ntfs_device whose operations (ntfsd_dev_*) go to fs_vol_read, so every image
 * format works underneath. libntfs-3g trusts the boot sector more than it should: ntfsd_boot_check
 * verifies its geometry (sector and cluster sizes, MFT and MFT-mirror locations inside the
 * volume, record sizes) before the library sees it. Inode numbers are MFT references; the
 * metadata files of the root ($MFT ...) and DOS-only names are not listed. The library's
 * logging is silenced (core never prints). Talks to core/fs/fs.h; registered in fs_drivers.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <linux/fs.h>

#include <ntfs-3g/types.h>
#include <ntfs-3g/volume.h>

#include <ntfs-3g/attrib.h>
#include <ntfs-3g/device.h>
#include <ntfs-3g/dir.h>
#include <ntfs-3g/inode.h>
#include <ntfs-3g/logging.h>
#include <ntfs-3g/reparse.h>
#include <ntfs-3g/unistr.h>

#include "core/base/bytes.h"
#include "core/fs/fs.h"

#define NTFS_CLUSTER_MAX (2u << 20)          /* bytes: the largest cluster NTFS allows */
#define NTFS_EPOCH_DIFF 116444736000000000LL /* 100 ns units from 1601 to 1970 */
#define NTFS_BITMAP_CHUNK 65536

struct ntfsd_priv {
    struct fs *fs;
    int64_t pos;        /* the device's file position (read/seek) */
    struct img_err dev; /* the first read failure, the root cause of a library error */
    ntfs_volume *vol;
    uint64_t serial;
    uint64_t cur_ino; /* the file read last, kept open */
    ntfs_inode *cur_ni;
    ntfs_attr *cur_na;
};

/* ---- the device: libntfs-3g reads the volume through these ---- */

static struct ntfsd_priv *ntfsd_dev_priv(struct ntfs_device *dev)
{
    return dev->d_private;
}

static int ntfsd_dev_open(struct ntfs_device *dev, int flags)
{
    if ((flags & O_ACCMODE) != O_RDONLY) {
        errno = EROFS;
        return -1;
    }
    NDevSetOpen(dev);
    NDevSetReadOnly(dev);
    ntfsd_dev_priv(dev)->pos = 0;
    return 0;
}

static int ntfsd_dev_close(struct ntfs_device *dev)
{
    NDevClearOpen(dev);
    return 0;
}

static s64 ntfsd_dev_pread(struct ntfs_device *dev, void *buf, s64 count, s64 off)
{
    struct ntfsd_priv *p = ntfsd_dev_priv(dev);
    uint64_t size = p->fs->vol->size;
    if (count < 0 || off < 0) {
        errno = EINVAL;
        return -1;
    }
    if ((uint64_t)off >= size)
        return 0;
    if ((uint64_t)count > size - (uint64_t)off)
        count = (s64)(size - (uint64_t)off);
    struct img_err e;
    err_clear(&e);
    if (fs_vol_read(p->fs->vol, (uint64_t)off, buf, (size_t)count, &e) < 0) {
        if (!p->dev.code)
            p->dev = e;
        errno = EIO;
        return -1;
    }
    return count;
}

static s64 ntfsd_dev_read(struct ntfs_device *dev, void *buf, s64 count)
{
    struct ntfsd_priv *p = ntfsd_dev_priv(dev);
    s64 r = ntfsd_dev_pread(dev, buf, count, p->pos);
    if (r > 0)
        p->pos += r;
    return r;
}

static s64 ntfsd_dev_seek(struct ntfs_device *dev, s64 off, int whence)
{
    struct ntfsd_priv *p = ntfsd_dev_priv(dev);
    s64 base = whence == SEEK_SET   ? 0
               : whence == SEEK_CUR ? p->pos
               : whence == SEEK_END ? (s64)p->fs->vol->size
                                    : -1;
    if (base < 0 || (off < 0 && -off > base) || (off > 0 && off > INT64_MAX - base)) {
        errno = EINVAL;
        return -1;
    }
    p->pos = base + off;
    return p->pos;
}

static s64 ntfsd_dev_write(struct ntfs_device *dev, const void *buf, s64 count)
{
    errno = EROFS;
    return -1;
}

static s64 ntfsd_dev_pwrite(struct ntfs_device *dev, const void *buf, s64 count, s64 off)
{
    errno = EROFS;
    return -1;
}

static int ntfsd_dev_sync(struct ntfs_device *dev)
{
    return 0;
}

static int ntfsd_dev_stat(struct ntfs_device *dev, struct stat *st)
{
    memset(st, 0, sizeof *st);
    st->st_mode = S_IFBLK | 0444;
    st->st_size = (off_t)ntfsd_dev_priv(dev)->fs->vol->size;
    return 0;
}

static int ntfsd_dev_ioctl(struct ntfs_device *dev, unsigned long req, void *arg)
{
    if (req == BLKGETSIZE64) {
        *(uint64_t *)arg = ntfsd_dev_priv(dev)->fs->vol->size;
        return 0;
    }
    if (req == BLKSSZGET) {
        *(int *)arg = 512;
        return 0;
    }
    errno = ENOTTY;
    return -1;
}

static struct ntfs_device_operations ntfsd_dev_ops = {
    .open = ntfsd_dev_open,
    .close = ntfsd_dev_close,
    .seek = ntfsd_dev_seek,
    .read = ntfsd_dev_read,
    .write = ntfsd_dev_write,
    .pread = ntfsd_dev_pread,
    .pwrite = ntfsd_dev_pwrite,
    .sync = ntfsd_dev_sync,
    .stat = ntfsd_dev_stat,
    .ioctl = ntfsd_dev_ioctl,
};

/* ---- errors ---- */

/* A library call failed: the device's read error if there was one, else errno. */
static int ntfsd_fail(struct fs *fs, const char *what)
{
    struct ntfsd_priv *p = fs->priv;
    int e = errno ? errno : EIO;
    if (p && p->dev.code) {
        int code = p->dev.code;
        err_set(&fs->err, code, "NTFS: %s: %s", what, p->dev.msg);
        err_clear(&p->dev);
        return code;
    }
    return err_set(&fs->err, -e, "NTFS: %s: %s", what, strerror(e));
}

/* ---- the boot sector ---- */

/* A size in the boot sector's signed-log form (clusters per record: > 0 clusters, < 0 a power
 * of two in bytes); 0 when out of range. */
static uint32_t ntfsd_rec_size(int8_t v, uint32_t cluster)
{
    if (v > 0)
        return (uint32_t)v <= 64 && (uint64_t)v * cluster <= 65536 ? (uint32_t)v * cluster : 0;
    if (v < 0 && v >= -16)
        return 1u << -v;
    return 0;
}

/* Check what libntfs-3g would trust: sizes powers of two in range, the MFT and its mirror
 * inside the volume. */
static int ntfsd_boot_check(const uint8_t *b, uint64_t vsize, uint64_t *serial, struct img_err *err)
{
    uint32_t bps = le16_load(b + 0x0b), spc = b[0x0d];
    if (bps < 256 || bps > 4096 || (bps & (bps - 1)))
        return err_set(err, -EINVAL, "NTFS boot sector: %u bytes per sector", bps);
    if (spc > 0x80 && spc < 0xf4)
        return err_set(err, -EINVAL, "NTFS boot sector: sectors per cluster %u", spc);
    uint64_t cs = spc <= 0x80 ? (uint64_t)spc * bps : (uint64_t)bps << (256 - spc);
    if (!cs || (cs & (cs - 1)) || cs > NTFS_CLUSTER_MAX)
        return err_set(err, -EINVAL, "NTFS boot sector: cluster size %llu out of range",
                       (unsigned long long)cs);
    uint64_t sectors = le64_load(b + 0x28), mft = le64_load(b + 0x30), mirr = le64_load(b + 0x38);
    if (!sectors || sectors > vsize / bps)
        return err_set(err, -EINVAL, "NTFS boot sector: %llu sectors, the volume holds %llu",
                       (unsigned long long)sectors, (unsigned long long)(vsize / bps));
    uint64_t clusters = sectors * bps / cs;
    uint32_t mrec = ntfsd_rec_size((int8_t)b[0x40], (uint32_t)cs);
    uint32_t irec = ntfsd_rec_size((int8_t)b[0x44], (uint32_t)cs);
    if (mrec < 1024 || mrec > 4096 || mrec < bps || (mrec & (mrec - 1)))
        return err_set(err, -EINVAL, "NTFS boot sector: MFT record size out of range");
    if (irec < 512 || irec > 65536 || (irec & (irec - 1)))
        return err_set(err, -EINVAL, "NTFS boot sector: index record size out of range");
    if (!mft || mft >= clusters || !mirr || mirr >= clusters || (mft + 1) * cs + 4 * mrec > vsize ||
        (mirr + 1) * cs + 4 * mrec > vsize)
        return err_set(err, -EINVAL,
                       "NTFS boot sector: MFT at cluster %llu or its mirror at "
                       "%llu is outside the volume",
                       (unsigned long long)mft, (unsigned long long)mirr);
    *serial = le64_load(b + 0x48);
    return 0;
}

static bool ntfsd_probe(const struct fs_vol *v, const uint8_t *head, size_t n)
{
    return n >= 512 && !memcmp(head + 3, "NTFS    ", 8) && head[510] == 0x55 && head[511] == 0xaa;
}

/* ---- open, close ---- */

static void ntfsd_cur_close(struct ntfsd_priv *p)
{
    if (p->cur_na)
        ntfs_attr_close(p->cur_na);
    if (p->cur_ni)
        ntfs_inode_close(p->cur_ni);
    p->cur_na = NULL;
    p->cur_ni = NULL;
}

static int ntfsd_open(struct fs *fs)
{
    uint8_t boot[512];
    int r = fs_vol_read(fs->vol, 0, boot, sizeof boot, &fs->err);
    if (r < 0)
        return r;
    struct ntfsd_priv *p = calloc(1, sizeof *p);
    if (!p)
        return err_set(&fs->err, -ENOMEM, "NTFS: out of memory");
    p->fs = fs;
    r = ntfsd_boot_check(boot, fs->vol->size, &p->serial, &fs->err);
    if (r < 0) {
        free(p);
        return r;
    }
    fs->priv = p;
    ntfs_log_set_handler(ntfs_log_handler_null);
    ntfs_log_clear_levels(UINT32_MAX);
    struct ntfs_device *dev = ntfs_device_alloc("dimg", 0, &ntfsd_dev_ops, p);
    if (!dev) {
        r = ntfsd_fail(fs, "cannot set up the device");
        goto fail;
    }
    errno = 0;
    p->vol = ntfs_device_mount(dev, NTFS_MNT_RDONLY);
    if (!p->vol) {
        r = ntfsd_fail(fs, "cannot mount the volume");
        ntfs_device_free(dev);
        goto fail;
    }
    ntfs_set_shown_files(p->vol, FALSE, TRUE, FALSE);
    snprintf(fs->fs_name, sizeof fs->fs_name, "ntfs");
    return 0;
fail:
    fs->priv = NULL;
    free(p);
    return r;
}

static void ntfsd_close(struct fs *fs)
{
    struct ntfsd_priv *p = fs->priv;
    if (!p)
        return;
    ntfsd_cur_close(p);
    ntfs_umount(p->vol, FALSE); /* frees the device too */
    free(p);
    fs->priv = NULL;
}

static int ntfsd_root(struct fs *fs, uint64_t *ino)
{
    *ino = FILE_root;
    return 0;
}

/* ---- nodes ---- */

static ntfs_inode *ntfsd_iget(struct fs *fs, uint64_t ino)
{
    struct ntfsd_priv *p = fs->priv;
    errno = 0;
    ntfs_inode *ni = ntfs_inode_open(p->vol, (MFT_REF)ino);
    if (!ni)
        ntfsd_fail(fs, "cannot read an MFT record");
    return ni;
}

static int64_t ntfsd_to_epoch(ntfs_time t)
{
    int64_t v = sle64_to_cpu(t) - NTFS_EPOCH_DIFF;
    return v >= 0 ? v / 10000000 : -((-v + 9999999) / 10000000);
}

/* An Interix symlink (what ntfs-3g writes by default): a system file holding "IntxLNK\1" and
 * the target in UTF-16. malloc'd target or NULL. */
static char *ntfsd_interix_target(ntfs_inode *ni)
{
    if (!(ni->flags & FILE_ATTR_SYSTEM) || (ni->mrec->flags & MFT_RECORD_IS_DIRECTORY))
        return NULL;
    ntfs_attr *na = ntfs_attr_open(ni, AT_DATA, AT_UNNAMED, 0);
    if (!na)
        return NULL;
    char *t = NULL;
    s64 n = na->data_size;
    uint8_t *b = n > 8 && n <= 8 + 2 * FS_PATH_MAX && !(n & 1) ? malloc((size_t)n) : NULL;
    if (b && ntfs_attr_pread(na, 0, n, b) == n && !memcmp(b, "IntxLNK\1", 8) &&
        ntfs_ucstombs((const ntfschar *)(b + 8), (int)(n - 8) / 2, &t, 0) <= 0) {
        free(t);
        t = NULL;
    }
    free(b);
    ntfs_attr_close(na);
    return t;
}

/* The target of a symlink or junction (reparse point or Interix), malloc'd; NULL when ni is
 * not one. */
static char *ntfsd_link_target(ntfs_inode *ni)
{
    if (!(ni->flags & FILE_ATTR_REPARSE_POINT))
        return ntfsd_interix_target(ni);
    return ntfs_possible_symlink(ni) ? ntfs_make_symlink(ni, "") : NULL;
}

/* The size of the unnamed $DATA stream; 0 when there is none. */
static uint64_t ntfsd_data_size(ntfs_inode *ni)
{
    ntfs_attr *na = ntfs_attr_open(ni, AT_DATA, AT_UNNAMED, 0);
    if (!na)
        return 0;
    uint64_t n = na->data_size > 0 ? (uint64_t)na->data_size : 0;
    ntfs_attr_close(na);
    return n;
}

static int ntfsd_stat(struct fs *fs, uint64_t ino, struct fs_stat *st)
{
    ntfs_inode *ni = ntfsd_iget(fs, ino);
    if (!ni)
        return fs->err.code;
    memset(st, 0, sizeof *st);
    st->ino = ino;
    char *link = ntfsd_link_target(ni);
    if (link) {
        st->type = FS_T_LNK;
        st->mode = 0777;
        st->size = strlen(link);
        free(link);
    } else if (ni->mrec->flags & MFT_RECORD_IS_DIRECTORY) {
        st->type = FS_T_DIR;
        st->mode = 0755;
    } else {
        st->type = FS_T_REG;
        st->mode = ni->flags & FILE_ATTR_READONLY ? 0444 : 0644;
        st->size = ntfsd_data_size(ni);
    }
    st->nlink = le16_to_cpu(ni->mrec->link_count);
    st->atime = ntfsd_to_epoch(ni->last_access_time);
    st->mtime = ntfsd_to_epoch(ni->last_data_change_time);
    st->ctime = ntfsd_to_epoch(ni->last_mft_change_time);
    ntfs_inode_close(ni);
    return 0;
}

struct ntfsd_dir_ctx {
    int (*cb)(void *ctx, const char *name, uint64_t ino);
    void *ctx;
    int ret;
    size_t count;
};

static int ntfsd_filldir(void *arg, const ntfschar *name, const int len, const int type,
                         const s64 pos, const MFT_REF mref, const unsigned dt)
{
    struct ntfsd_dir_ctx *d = arg;
    if (type == FILE_NAME_DOS)
        return 0;
    if (++d->count > FS_DIR_ENTRIES_MAX) {
        d->ret = -E2BIG;
        return -1;
    }
    char *s = NULL;
    int n = ntfs_ucstombs(name, len, &s, 0);
    if (n <= 0 || !s || n >= FS_NAME_MAX || strchr(s, '/') || !strcmp(s, ".") || !strcmp(s, "..")) {
        free(s);
        return 0; /* undecodable, too long or not a name: not listed */
    }
    d->ret = d->cb(d->ctx, s, (uint64_t)mref);
    free(s);
    return d->ret ? -1 : 0;
}

static int ntfsd_readdir(struct fs *fs, uint64_t dir,
                         int (*cb)(void *ctx, const char *name, uint64_t ino), void *ctx)
{
    ntfs_inode *ni = ntfsd_iget(fs, dir);
    if (!ni)
        return fs->err.code;
    struct ntfsd_dir_ctx d = {.cb = cb, .ctx = ctx};
    s64 pos = 0;
    errno = 0;
    int r = ntfs_readdir(ni, &pos, &d, ntfsd_filldir);
    if (d.ret == -E2BIG)
        r = err_set(&fs->err, -E2BIG, "NTFS: more than %d entries in a directory",
                    FS_DIR_ENTRIES_MAX);
    else if (d.ret)
        r = d.ret;
    else if (r)
        r = ntfsd_fail(fs, "cannot read a directory");
    ntfs_inode_close(ni);
    return r;
}

/* The unnamed $DATA of ino, kept open for the next read. */
static int ntfsd_cur_open(struct fs *fs, uint64_t ino)
{
    struct ntfsd_priv *p = fs->priv;
    if (p->cur_na && p->cur_ino == ino)
        return 0;
    ntfsd_cur_close(p);
    p->cur_ni = ntfsd_iget(fs, ino);
    if (!p->cur_ni)
        return fs->err.code;
    if (p->cur_ni->mrec->flags & MFT_RECORD_IS_DIRECTORY) {
        ntfsd_cur_close(p);
        return err_set(&fs->err, -EISDIR, "NTFS: is a directory");
    }
    errno = 0;
    p->cur_na = ntfs_attr_open(p->cur_ni, AT_DATA, AT_UNNAMED, 0);
    if (!p->cur_na) {
        int r = errno == ENOENT ? 0 : ntfsd_fail(fs, "cannot open a file's data");
        ntfsd_cur_close(p);
        return r ? r : 1; /* 1: no data stream, an empty file */
    }
    p->cur_ino = ino;
    return 0;
}

static ssize_t ntfsd_read(struct fs *fs, uint64_t ino, uint64_t off, void *buf, size_t len)
{
    struct ntfsd_priv *p = fs->priv;
    int r = ntfsd_cur_open(fs, ino);
    if (r)
        return r > 0 ? 0 : r;
    if (off >= (uint64_t)p->cur_na->data_size)
        return 0;
    if (len > (uint64_t)p->cur_na->data_size - off)
        len = (size_t)((uint64_t)p->cur_na->data_size - off);
    if (len > SSIZE_MAX)
        len = SSIZE_MAX;
    errno = 0;
    s64 n = ntfs_attr_pread(p->cur_na, (s64)off, (s64)len, buf);
    if (n < 0) {
        int e = ntfsd_fail(fs, "cannot read a file");
        ntfsd_cur_close(p);
        return e;
    }
    return (ssize_t)n;
}

static int ntfsd_readlink(struct fs *fs, uint64_t ino, char *buf, size_t len)
{
    ntfs_inode *ni = ntfsd_iget(fs, ino);
    if (!ni)
        return fs->err.code;
    char *t = ntfsd_link_target(ni);
    ntfs_inode_close(ni);
    if (!t)
        return err_set(&fs->err, -EINVAL, "NTFS: not a symbolic link");
    if (!len || strlen(t) >= len) {
        free(t);
        return err_set(&fs->err, -ENAMETOOLONG, "NTFS: link target too long");
    }
    memcpy(buf, t, strlen(t) + 1);
    free(t);
    return 0;
}

/* ---- where things lie ---- */

static int ntfsd_extents(struct fs *fs, uint64_t ino,
                         int (*cb)(void *ctx, uint64_t file_off, uint64_t vol_off, uint64_t len),
                         void *ctx)
{
    struct ntfsd_priv *p = fs->priv;
    int r = ntfsd_cur_open(fs, ino);
    if (r)
        return r > 0 ? 0 : r;
    ntfs_attr *na = p->cur_na;
    if (!NAttrNonResident(na) || NAttrCompressed(na) || NAttrEncrypted(na))
        return 0; /* in the MFT record, or not stored as plain clusters */
    errno = 0;
    if (ntfs_attr_map_whole_runlist(na))
        return ntfsd_fail(fs, "cannot map a file's clusters");
    uint64_t cs = p->vol->cluster_size, size = (uint64_t)na->data_size;
    uint64_t nclus = (uint64_t)p->vol->nr_clusters;
    for (const runlist_element *rl = na->rl; rl && rl->length > 0; rl++) {
        if (rl->lcn < 0 || rl->vcn < 0)
            continue; /* a hole */
        uint64_t vcn = (uint64_t)rl->vcn, lcn = (uint64_t)rl->lcn, n = (uint64_t)rl->length;
        if (lcn >= nclus || n > nclus - lcn || vcn > size / cs)
            return err_set(&fs->err, -EIO, "NTFS: a file's run lies outside the volume");
        uint64_t off = vcn * cs, bytes = n * cs;
        if (bytes > size - off)
            bytes = size - off;
        if (bytes && (r = cb(ctx, off, lcn * cs, bytes)) != 0)
            return r;
    }
    return 0;
}

/* Report the runs of clear bits in one chunk of $Bitmap; run and in carry the open run over. */
static int ntfsd_bitmap_runs(const uint8_t *bm, uint64_t first, uint64_t n, uint64_t cs,
                             uint64_t *run, bool *in,
                             int (*cb)(void *ctx, uint64_t vol_off, uint64_t len), void *ctx)
{
    for (uint64_t i = 0; i < n; i++) {
        bool used = bm[i / 8] & (1u << (i % 8));
        if (!used && !*in) {
            *run = first + i;
            *in = true;
        } else if (used && *in) {
            *in = false;
            int r = cb(ctx, *run * cs, (first + i - *run) * cs);
            if (r)
                return r;
        }
    }
    return 0;
}

static int ntfsd_free_ranges(struct fs *fs, int (*cb)(void *ctx, uint64_t vol_off, uint64_t len),
                             void *ctx)
{
    struct ntfsd_priv *p = fs->priv;
    ntfs_attr *bm = p->vol->lcnbmp_na;
    uint64_t nclus = (uint64_t)p->vol->nr_clusters, cs = p->vol->cluster_size;
    if (!bm || (uint64_t)bm->data_size < (nclus + 7) / 8)
        return err_set(&fs->err, -EIO, "NTFS: $Bitmap shorter than the volume");
    uint8_t *buf = malloc(NTFS_BITMAP_CHUNK);
    if (!buf)
        return err_set(&fs->err, -ENOMEM, "NTFS: out of memory");
    uint64_t run = 0, lcn = 0;
    bool in = false;
    int r = 0;
    while (!r && lcn < nclus) {
        uint64_t bits = nclus - lcn < NTFS_BITMAP_CHUNK * 8 ? nclus - lcn : NTFS_BITMAP_CHUNK * 8;
        s64 want = (s64)((bits + 7) / 8);
        errno = 0;
        if (ntfs_attr_pread(bm, (s64)(lcn / 8), want, buf) != want)
            r = ntfsd_fail(fs, "cannot read $Bitmap");
        else
            r = ntfsd_bitmap_runs(buf, lcn, bits, cs, &run, &in, cb, ctx);
        lcn += bits;
    }
    if (!r && in)
        r = cb(ctx, run * cs, (nclus - run) * cs);
    free(buf);
    return r;
}

struct ntfsd_struct {
    int (*cb)(void *ctx, uint64_t vol_off, uint64_t len, const char *what);
    void *ctx;
    const char *what;
};

static int ntfsd_struct_run(void *ctx, uint64_t file_off, uint64_t vol_off, uint64_t len)
{
    struct ntfsd_struct *s = ctx;
    (void)file_off;
    return s->cb(s->ctx, vol_off, len, s->what);
}

/* The metadata files' data (MFT, its mirror, the log, the cluster bitmap, the boot sectors,
 * the upcase table), each by its MFT record number. */
static int ntfsd_structures(struct fs *fs,
                            int (*cb)(void *ctx, uint64_t vol_off, uint64_t len, const char *what),
                            void *ctx)
{
    static const struct {
        uint64_t ino;
        const char *what;
    } meta[] = {{FILE_MFT, "MFT"},           {FILE_MFTMirr, "MFT mirror"},
                {FILE_LogFile, "log file"},  {FILE_Bitmap, "cluster bitmap"},
                {FILE_Boot, "boot sectors"}, {FILE_UpCase, "upcase table"}};
    for (size_t i = 0; i < sizeof meta / sizeof meta[0]; i++) {
        struct ntfsd_struct s = {cb, ctx, meta[i].what};
        int r = ntfsd_extents(fs, meta[i].ino, ntfsd_struct_run, &s);
        if (r)
            return r;
    }
    return 0;
}

static void ntfsd_info(struct fs *fs, struct fs_vol_info *info)
{
    struct ntfsd_priv *p = fs->priv;
    if (p->vol->vol_name)
        snprintf(info->label, sizeof info->label, "%s", p->vol->vol_name);
    snprintf(info->uuid, sizeof info->uuid, "%016llX", (unsigned long long)p->serial);
    if (!ntfs_volume_get_free_space(p->vol) && p->vol->free_clusters >= 0 &&
        p->vol->free_clusters <= p->vol->nr_clusters) {
        info->used = (uint64_t)(p->vol->nr_clusters - p->vol->free_clusters) * p->vol->cluster_size;
        info->used_known = true;
    }
}

const struct fs_driver fs_driver_ntfs = {
    .name = "ntfs",
    .probe = ntfsd_probe,
    .open = ntfsd_open,
    .close = ntfsd_close,
    .root = ntfsd_root,
    .stat = ntfsd_stat,
    .readdir = ntfsd_readdir,
    .read = ntfsd_read,
    .readlink = ntfsd_readlink,
    .extents = ntfsd_extents,
    .free_ranges = ntfsd_free_ranges,
    .structures = ntfsd_structures,
    .info = ntfsd_info,
};

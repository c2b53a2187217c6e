/* SPDX-License-Identifier: GPL-2.0-or-later */
/* ext.c: the ext2/3/4 reader, read-only, on libext2fs (Debian: libext2fs-dev). libext2fs reads
 * the volume through our own io_manager, whose reads go to fs_vol_read, so every image
 * format, backing chain and encryption works underneath.
 *
 * libext2fs trusts what it reads, so the untrusted parts are ours: the superblock is checked
 * before ext2fs_open2 (block size, counts against the volume's size, groups), and the walks
 * that could run away on a hostile inode are done here with counted steps: a file's block map
 * (extent tree or indirect blocks, at most as many steps as the filesystem has blocks),
 * directory blocks parsed by our own bounded parser. libext2fs keeps the superblock, group
 * descriptors, inode reads, extent tree decoding, inline data and the block bitmap. Opened
 * without EXT2_FLAG_RW: no journal replay, nothing is ever written. Talks to core/fs/fs.h.
 */
#include "core/fs/fs.h"

#include <errno.h>
#include <stdio.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>

#include "core/base/bytes.h"

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wshadow"
#pragma GCC diagnostic ignored "-Wcast-qual"
#pragma GCC diagnostic ignored "-Wstrict-prototypes"
#pragma GCC diagnostic ignored "-Wmissing-prototypes"
#include <ext2fs/ext2fs.h>
#pragma GCC diagnostic pop

#define EXT_SB_OFF 1024
#define EXT_MAGIC 0xEF53
#define EXT_MAX_LOG_BLOCK 6 /* 64 KiB blocks */

/* One run of a file's block map: logical blocks [lblk, lblk + len) at physical pblk. */
struct ext_run {
    uint64_t lblk, pblk, len;
    bool uninit; /* allocated but unwritten: reads as zeros */
};

struct ext_priv {
    ext2_filsys e2;
    struct fs *fs;
    unsigned bs;       /* block size */
    uint64_t blocks;   /* blocks in the filesystem */
    struct img_err io; /* the last failed read of the io manager (the real cause) */
    bool bitmap_loaded;
    /* The block map of one file, kept for the next read of the same file. */
    uint64_t map_ino;
    struct ext_run *map;
    size_t nmap;
};

/* ---- the io manager: libext2fs reads through fs_vol_read ---- */

static _Thread_local struct ext_priv *ext_opening; /* handed to ext_io_open by ext_open */
static struct struct_io_manager ext_io_manager;

static errcode_t ext_io_open(const char *name, int flags, io_channel *channel)
{
    if (!ext_opening)
        return EXT2_ET_BAD_DEVICE_NAME;
    if (flags & IO_FLAG_RW)
        return EXT2_ET_RO_FILSYS;
    io_channel io = calloc(1, sizeof *io);
    if (!io)
        return EXT2_ET_NO_MEMORY;
    io->name = strdup(name ? name : "dimg");
    if (!io->name) {
        free(io);
        return EXT2_ET_NO_MEMORY;
    }
    io->magic = EXT2_ET_MAGIC_IO_CHANNEL;
    io->manager = &ext_io_manager;
    io->block_size = 1024;
    io->refcount = 1;
    io->private_data = ext_opening;
    *channel = io;
    return 0;
}

static errcode_t ext_io_close(io_channel io)
{
    if (--io->refcount > 0)
        return 0;
    free(io->name);
    free(io);
    return 0;
}

static errcode_t ext_io_set_blksize(io_channel io, int blksize)
{
    if (blksize < 1024 || blksize > 65536)
        return EXT2_ET_INVALID_ARGUMENT;
    io->block_size = blksize;
    return 0;
}

static errcode_t ext_io_read64(io_channel io, unsigned long long block, int count, void *data)
{
    struct ext_priv *p = io->private_data;
    uint64_t len = count < 0 ? (uint64_t) - (int64_t)count : (uint64_t)count * io->block_size;
    if (len == 0)
        return 0;
    if (block > UINT64_MAX / (unsigned)io->block_size || len > SIZE_MAX) {
        err_set(&p->io, -EIO, "ext: block %llu out of range", block);
        return EXT2_ET_SHORT_READ;
    }
    uint64_t off = block * (unsigned)io->block_size;
    if (fs_vol_read(p->fs->vol, off, data, (size_t)len, &p->io) < 0) {
        memset(data, 0, (size_t)len);
        return EXT2_ET_SHORT_READ;
    }
    return 0;
}

static errcode_t ext_io_read(io_channel io, unsigned long block, int count, void *data)
{
    return ext_io_read64(io, block, count, data);
}

static errcode_t ext_io_write(io_channel io, unsigned long block, int count, const void *data)
{
    return EXT2_ET_RO_FILSYS;
}

static errcode_t ext_io_write64(io_channel io, unsigned long long block, int count,
                                const void *data)
{
    return EXT2_ET_RO_FILSYS;
}

static errcode_t ext_io_write_byte(io_channel io, unsigned long off, int count, const void *data)
{
    return EXT2_ET_RO_FILSYS;
}

static errcode_t ext_io_flush(io_channel io)
{
    return 0;
}

static errcode_t ext_io_set_option(io_channel io, const char *option, const char *arg)
{
    return EXT2_ET_INVALID_ARGUMENT;
}

static struct struct_io_manager ext_io_manager = {
    .magic = EXT2_ET_MAGIC_IO_MANAGER,
    .name = "dimg volume",
    .open = ext_io_open,
    .close = ext_io_close,
    .set_blksize = ext_io_set_blksize,
    .read_blk = ext_io_read,
    .write_blk = ext_io_write,
    .flush = ext_io_flush,
    .write_byte = ext_io_write_byte,
    .set_option = ext_io_set_option,
    .read_blk64 = ext_io_read64,
    .write_blk64 = ext_io_write64,
};

/* ---- errors ---- */

/* libext2fs's message for code (its own table, so that com_err need not be linked). */
static const char *ext_msg(errcode_t code)
{
    const struct error_table *t = &et_ext2_error_table;
    if (code >= t->base && code < t->base + t->n_msgs)
        return t->msgs[code - t->base];
    if (code > 0 && code < 4096)
        return strerror((int)code);
    return "unknown libext2fs error";
}

/* Set fs->err from a libext2fs failure; the io manager's own message wins when a read
 * failed underneath. Returns -errno. */
static int ext_fail(struct ext_priv *p, errcode_t code, const char *what)
{
    int r = code == EXT2_ET_NO_MEMORY                                             ? -ENOMEM
            : code == EXT2_ET_UNSUPP_FEATURE || code == EXT2_ET_RO_UNSUPP_FEATURE ? -ENOTSUP
            : code > 0 && code < 4096                                             ? -(int)code
                                                                                  : -EIO;
    if (p->io.code && code == EXT2_ET_SHORT_READ)
        err_set(&p->fs->err, p->io.code, "ext: %s: %s", what, p->io.msg);
    else
        err_set(&p->fs->err, r, "ext: %s: %s", what, ext_msg(code));
    err_clear(&p->io);
    return r;
}

/* ---- probe and open ---- */

static bool ext_probe(const struct fs_vol *v, const uint8_t *head, size_t n)
{
    return n >= EXT_SB_OFF + 1024 && le16_load(head + EXT_SB_OFF + 56) == EXT_MAGIC;
}

/* The superblock's fields libext2fs would trust, checked against the volume. */
static int ext_check_sb(struct fs *fs, const uint8_t *sb)
{
    uint32_t log = le32_load(sb + 24), incompat = le32_load(sb + 0x60);
    if (log > EXT_MAX_LOG_BLOCK)
        return err_set(&fs->err, -EINVAL, "ext: block size 2^(10+%" PRIu32 ") out of range", log);
    uint64_t bs = 1024u << log;
    uint64_t blocks = le32_load(sb + 4);
    if (incompat & EXT4_FEATURE_INCOMPAT_64BIT)
        blocks |= (uint64_t)le32_load(sb + 0x150) << 32;
    uint32_t first = le32_load(sb + 20), bpg = le32_load(sb + 32), ipg = le32_load(sb + 40);
    uint32_t inodes = le32_load(sb + 0);
    if (incompat & EXT3_FEATURE_INCOMPAT_JOURNAL_DEV)
        return err_set(&fs->err, -ENOTSUP, "ext: an external journal device, no files in it");
    if (blocks == 0 || blocks > fs->vol->size / bs)
        return err_set(&fs->err, -EINVAL,
                       "ext: filesystem of %" PRIu64 " blocks of %" PRIu64
                       " bytes does not fit its volume of %" PRIu64 " bytes",
                       blocks, bs, fs->vol->size);
    if (first >= blocks || bpg == 0 || bpg > 8 * bs || ipg == 0 || ipg > 8 * bs || inodes == 0)
        return err_set(&fs->err, -EINVAL, "ext: superblock counts out of range");
    uint64_t groups = (blocks - first + bpg - 1) / bpg;
    if (groups < UINT64_MAX / ipg && (uint64_t)inodes > groups * ipg)
        return err_set(&fs->err, -EINVAL, "ext: more inodes than its groups hold");
    if (le32_load(sb + 76) > 1)
        return err_set(&fs->err, -ENOTSUP, "ext: revision %" PRIu32 " not supported",
                       le32_load(sb + 76));
    return 0;
}

/* "ext4", "ext3" or "ext2", as blkid tells them apart. */
static const char *ext_kind(const struct ext2_super_block *sb)
{
    if ((sb->s_feature_incompat &
         (EXT3_FEATURE_INCOMPAT_EXTENTS | EXT4_FEATURE_INCOMPAT_64BIT |
          EXT4_FEATURE_INCOMPAT_FLEX_BG | EXT4_FEATURE_INCOMPAT_INLINE_DATA)) ||
        (sb->s_feature_ro_compat &
         (EXT4_FEATURE_RO_COMPAT_HUGE_FILE | EXT4_FEATURE_RO_COMPAT_GDT_CSUM |
          EXT4_FEATURE_RO_COMPAT_DIR_NLINK | EXT4_FEATURE_RO_COMPAT_EXTRA_ISIZE |
          EXT4_FEATURE_RO_COMPAT_METADATA_CSUM)))
        return "ext4";
    if (sb->s_feature_compat & EXT3_FEATURE_COMPAT_HAS_JOURNAL)
        return "ext3";
    return "ext2";
}

static int ext_open(struct fs *fs)
{
    uint8_t sb[1024];
    if (fs->vol->size < EXT_SB_OFF + sizeof sb)
        return err_set(&fs->err, -EINVAL, "ext: volume too small");
    int r = fs_vol_read(fs->vol, EXT_SB_OFF, sb, sizeof sb, &fs->err);
    if (r < 0)
        return r;
    if (le16_load(sb + 56) != EXT_MAGIC)
        return err_set(&fs->err, -EINVAL, "ext: no superblock");
    if ((r = ext_check_sb(fs, sb)) < 0)
        return r;
    struct ext_priv *p = calloc(1, sizeof *p);
    if (!p)
        return err_set(&fs->err, -ENOMEM, "out of memory");
    p->fs = fs;
    ext_opening = p;
    errcode_t e = ext2fs_open2("dimg", NULL, EXT2_FLAG_64BITS | EXT2_FLAG_SKIP_MMP, 0, 0,
                               &ext_io_manager, &p->e2);
    ext_opening = NULL;
    if (e) {
        r = ext_fail(p, e, "cannot open the filesystem");
        free(p);
        return r;
    }
    p->bs = (unsigned)p->e2->blocksize;
    p->blocks = ext2fs_blocks_count(p->e2->super);
    fs->priv = p;
    snprintf(fs->fs_name, sizeof fs->fs_name, "%s", ext_kind(p->e2->super));
    return 0;
}

static void ext_close(struct fs *fs)
{
    struct ext_priv *p = fs->priv;
    if (!p)
        return;
    ext2fs_close_free(&p->e2);
    free(p->map);
    free(p);
    fs->priv = NULL;
}

static int ext_root(struct fs *fs, uint64_t *ino)
{
    *ino = EXT2_ROOT_INO;
    return 0;
}

/* ---- inodes ---- */

static int ext_inode(struct ext_priv *p, uint64_t ino, struct ext2_inode_large *in)
{
    if (ino == 0 || ino > p->e2->super->s_inodes_count)
        return err_set(&p->fs->err, -EIO, "ext: inode %" PRIu64 " out of range", ino);
    memset(in, 0, sizeof *in);
    errcode_t e =
        ext2fs_read_inode_full(p->e2, (ext2_ino_t)ino, (struct ext2_inode *)in, sizeof *in);
    if (e) {
        char what[64];
        snprintf(what, sizeof what, "inode %" PRIu64, ino);
        return ext_fail(p, e, what);
    }
    return 0;
}

/* Seconds with the extra epoch bits of a large inode (dates past 2038). */
static int64_t ext_time(const struct ext2_inode_large *in, uint32_t t, const uint32_t *extra,
                        size_t extra_end)
{
    int64_t s = (int32_t)t;
    if (in->i_extra_isize >= extra_end - EXT2_GOOD_OLD_INODE_SIZE)
        s += (int64_t)(*extra & 3) << 32;
    return s;
}

static int ext_stat(struct fs *fs, uint64_t ino, struct fs_stat *st)
{
    struct ext_priv *p = fs->priv;
    struct ext2_inode_large in;
    int r = ext_inode(p, ino, &in);
    if (r < 0)
        return r;
    unsigned fmt = in.i_mode & 0xF000;
    st->type = fmt == LINUX_S_IFREG    ? FS_T_REG
               : fmt == LINUX_S_IFDIR  ? FS_T_DIR
               : fmt == LINUX_S_IFLNK  ? FS_T_LNK
               : fmt == LINUX_S_IFCHR  ? FS_T_CHR
               : fmt == LINUX_S_IFBLK  ? FS_T_BLK
               : fmt == LINUX_S_IFIFO  ? FS_T_FIFO
               : fmt == LINUX_S_IFSOCK ? FS_T_SOCK
                                       : FS_T_OTHER;
    st->ino = ino;
    st->mode = in.i_mode & 07777;
    st->uid = inode_uid(in);
    st->gid = inode_gid(in);
    st->nlink = in.i_links_count;
    st->size = EXT2_I_SIZE(&in);
    size_t base = offsetof(struct ext2_inode_large, i_ctime_extra);
    st->ctime = ext_time(&in, in.i_ctime, &in.i_ctime_extra, base + 4);
    st->mtime = ext_time(&in, in.i_mtime, &in.i_mtime_extra,
                         offsetof(struct ext2_inode_large, i_mtime_extra) + 4);
    st->atime = ext_time(&in, in.i_atime, &in.i_atime_extra,
                         offsetof(struct ext2_inode_large, i_atime_extra) + 4);
    if (st->type == FS_T_CHR || st->type == FS_T_BLK) {
        uint32_t b0 = in.i_block[0], b1 = in.i_block[1];
        st->rdev = b0 ? makedev((b0 >> 8) & 0xff, b0 & 0xff)
                      : makedev((b1 & 0xfff00) >> 8, (b1 & 0xff) | ((b1 >> 12) & 0xfff00));
    }
    return 0;
}

/* ---- block maps ---- */

struct ext_map_ctx {
    struct ext_priv *p;
    struct ext_run *v;
    size_t n, cap;
    uint64_t steps, max_steps;
    int err;
};

static int ext_map_add(struct ext_map_ctx *c, uint64_t lblk, uint64_t pblk, uint64_t len,
                       bool uninit)
{
    struct ext_priv *p = c->p;
    if (len == 0 || pblk < p->e2->super->s_first_data_block || pblk >= p->blocks ||
        len > p->blocks - pblk || lblk > (1ull << 32) || len > (1ull << 32) - lblk)
        return c->err = err_set(&p->fs->err, -EIO,
                                "ext: block %" PRIu64 " (+%" PRIu64 ") outside the filesystem",
                                pblk, len);
    struct ext_run *last = c->n ? &c->v[c->n - 1] : NULL;
    if (last && last->uninit == uninit && last->lblk + last->len == lblk &&
        last->pblk + last->len == pblk) {
        last->len += len;
        return 0;
    }
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 16;
        struct ext_run *v = realloc(c->v, cap * sizeof *v);
        if (!v)
            return c->err = err_set(&p->fs->err, -ENOMEM, "out of memory");
        c->v = v;
        c->cap = cap;
    }
    c->v[c->n++] = (struct ext_run){lblk, pblk, len, uninit};
    return 0;
}

/* Every step of a walk counts: a hostile tree cannot take longer than the filesystem is big. */
static bool ext_map_step(struct ext_map_ctx *c)
{
    if (++c->steps <= c->max_steps)
        return true;
    c->err = err_set(&c->p->fs->err, -ELOOP, "ext: a block map longer than the filesystem");
    return false;
}

static int ext_map_extents(struct ext_map_ctx *c, uint64_t ino, struct ext2_inode *in)
{
    ext2_extent_handle_t h;
    errcode_t e = ext2fs_extent_open2(c->p->e2, (ext2_ino_t)ino, in, &h);
    if (e)
        return ext_fail(c->p, e, "extent tree");
    struct ext2fs_extent ex;
    e = ext2fs_extent_get(h, EXT2_EXTENT_ROOT, &ex);
    while (!e && c->err == 0 && ext_map_step(c)) {
        if (ex.e_flags & EXT2_EXTENT_FLAGS_LEAF)
            ext_map_add(c, ex.e_lblk, ex.e_pblk, ex.e_len,
                        (ex.e_flags & EXT2_EXTENT_FLAGS_UNINIT) != 0);
        e = ext2fs_extent_get(h, EXT2_EXTENT_NEXT_LEAF, &ex);
    }
    ext2fs_extent_free(h);
    if (c->err)
        return c->err;
    if (e && e != EXT2_ET_EXTENT_NO_NEXT && e != EXT2_ET_EXTENT_NO_DOWN)
        return ext_fail(c->p, e, "extent tree");
    return 0;
}

static int ext_map_block_cb(ext2_filsys e2, blk64_t *blocknr, e2_blkcnt_t blockcnt, blk64_t ref_blk,
                            int ref_offset, void *priv)
{
    struct ext_map_ctx *c = priv;
    if (!ext_map_step(c))
        return BLOCK_ABORT;
    if (blockcnt >= 0 && ext_map_add(c, (uint64_t)blockcnt, *blocknr, 1, false) < 0)
        return BLOCK_ABORT;
    return 0;
}

static int ext_run_cmp(const void *a, const void *b)
{
    const struct ext_run *x = a, *y = b;
    return x->lblk < y->lblk ? -1 : x->lblk > y->lblk;
}

/* The block map of ino (cached for the next call with the same inode). */
static int ext_map(struct ext_priv *p, uint64_t ino, struct ext2_inode_large *in)
{
    if (p->map_ino == ino && ino)
        return 0;
    free(p->map);
    p->map = NULL;
    p->nmap = 0;
    p->map_ino = 0;
    struct ext_map_ctx c = {.p = p, .max_steps = p->blocks + 64};
    int r;
    if (in->i_flags & EXT4_EXTENTS_FL) {
        r = ext_map_extents(&c, ino, (struct ext2_inode *)in);
    } else {
        errcode_t e = ext2fs_block_iterate3(p->e2, (ext2_ino_t)ino, BLOCK_FLAG_READ_ONLY, NULL,
                                            ext_map_block_cb, &c);
        r = c.err ? c.err : e ? ext_fail(p, e, "block map") : 0;
    }
    if (r == 0 && c.n > 1) {
        qsort(c.v, c.n, sizeof *c.v, ext_run_cmp);
        for (size_t i = 1; i < c.n && r == 0; i++)
            if (c.v[i].lblk < c.v[i - 1].lblk + c.v[i - 1].len)
                r = err_set(&p->fs->err, -EIO, "ext: inode %" PRIu64 ": overlapping extents", ino);
    }
    if (r < 0) {
        free(c.v);
        return r;
    }
    p->map = c.v;
    p->nmap = c.n;
    p->map_ino = ino;
    return 0;
}

/* The run holding logical block lblk, or the next one after it (NULL: none). */
static const struct ext_run *ext_map_find(const struct ext_priv *p, uint64_t lblk)
{
    size_t lo = 0, hi = p->nmap;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (p->map[mid].lblk + p->map[mid].len <= lblk)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < p->nmap ? &p->map[lo] : NULL;
}

/* ---- contents ---- */

/* Inline data (i_block and the system.data attribute) into a malloc'd buffer. */
static int ext_inline(struct ext_priv *p, uint64_t ino, uint8_t **out, size_t *len)
{
    size_t n = 0;
    errcode_t e = ext2fs_inline_data_size(p->e2, (ext2_ino_t)ino, &n);
    if (e)
        return ext_fail(p, e, "inline data");
    if (n > EXT2_N_BLOCKS * 4 + p->bs)
        return err_set(&p->fs->err, -EIO, "ext: inline data of %zu bytes", n);
    /* ext2fs_inline_data_get writes i_block whole even for less data. */
    uint8_t *b = calloc(1, EXT2_N_BLOCKS * 4 + p->bs + 1);
    if (!b)
        return err_set(&p->fs->err, -ENOMEM, "out of memory");
    e = ext2fs_inline_data_get(p->e2, (ext2_ino_t)ino, NULL, b, &n);
    if (e) {
        free(b);
        return ext_fail(p, e, "inline data");
    }
    *out = b;
    *len = n;
    return 0;
}

/* Bytes [off, off + len) of a mapped file (len already clipped to its size). */
static int ext_read_mapped(struct ext_priv *p, uint64_t off, uint8_t *buf, size_t len)
{
    while (len) {
        uint64_t lblk = off / p->bs, inblk = off % p->bs;
        const struct ext_run *run = ext_map_find(p, lblk);
        size_t n;
        if (!run || run->lblk > lblk) { /* a hole up to the next run */
            uint64_t gap = run ? (run->lblk - lblk) * p->bs - inblk : UINT64_MAX;
            n = gap < len ? (size_t)gap : len;
            memset(buf, 0, n);
        } else {
            uint64_t avail = (run->lblk + run->len - lblk) * p->bs - inblk;
            n = avail < len ? (size_t)avail : len;
            if (run->uninit)
                memset(buf, 0, n);
            else if (fs_vol_read(p->fs->vol, (run->pblk + (lblk - run->lblk)) * p->bs + inblk, buf,
                                 n, &p->fs->err) < 0)
                return p->fs->err.code;
        }
        buf += n;
        off += n;
        len -= n;
    }
    return 0;
}

static ssize_t ext_read(struct fs *fs, uint64_t ino, uint64_t off, void *buf, size_t len)
{
    struct ext_priv *p = fs->priv;
    struct ext2_inode_large in;
    int r = ext_inode(p, ino, &in);
    if (r < 0)
        return r;
    if (LINUX_S_ISDIR(in.i_mode))
        return err_set(&fs->err, -EISDIR, "ext: inode %" PRIu64 " is a directory", ino);
    if (in.i_flags & EXT4_ENCRYPT_FL)
        return err_set(&fs->err, -ENOTSUP, "ext: inode %" PRIu64 " is encrypted", ino);
    uint64_t size = EXT2_I_SIZE(&in);
    if (!LINUX_S_ISREG(in.i_mode) && !LINUX_S_ISLNK(in.i_mode))
        size = 0;
    if (off >= size)
        return 0;
    if (len > size - off)
        len = (size_t)(size - off);
    if (len > SSIZE_MAX)
        len = SSIZE_MAX;
    if (in.i_flags & EXT4_INLINE_DATA_FL) {
        uint8_t *b;
        size_t n;
        if ((r = ext_inline(p, ino, &b, &n)) < 0)
            return r;
        size_t have = off < n ? n - (size_t)off : 0;
        memcpy(buf, b + (off < n ? off : 0), have < len ? have : len);
        if (have < len)
            memset((uint8_t *)buf + have, 0, len - have);
        free(b);
        return (ssize_t)len;
    }
    if ((r = ext_map(p, ino, &in)) < 0)
        return r;
    if ((r = ext_read_mapped(p, off, buf, len)) < 0)
        return r;
    return (ssize_t)len;
}

static int ext_readlink(struct fs *fs, uint64_t ino, char *buf, size_t len)
{
    struct ext_priv *p = fs->priv;
    struct ext2_inode_large in;
    int r = ext_inode(p, ino, &in);
    if (r < 0)
        return r;
    if (!LINUX_S_ISLNK(in.i_mode))
        return err_set(&fs->err, -EINVAL, "ext: inode %" PRIu64 " is not a link", ino);
    uint64_t size = EXT2_I_SIZE(&in);
    if (size >= len || size >= p->bs)
        return err_set(&fs->err, -ENAMETOOLONG, "ext: link target of %" PRIu64 " bytes", size);
    if (!(in.i_flags & EXT4_INLINE_DATA_FL) && ext2fs_is_fast_symlink((struct ext2_inode *)&in)) {
        memcpy(buf, in.i_block, (size_t)size); /* fast: the target is in i_block */
        buf[size] = '\0';
        return 0;
    }
    ssize_t n = ext_read(fs, ino, 0, buf, (size_t)size);
    if (n < 0)
        return (int)n;
    buf[n] = '\0';
    return 0;
}

/* ---- directories ---- */

/* Parse the entries of one directory block (or inline region) of len bytes. */
static int ext_dir_block(struct ext_priv *p, uint64_t dir, const uint8_t *b, size_t len,
                         int (*cb)(void *ctx, const char *name, uint64_t ino), void *ctx)
{
    char name[256];
    size_t pos = 0;
    while (pos + 8 <= len) {
        uint32_t ino = le32_load(b + pos);
        size_t rl = le16_load(b + pos + 4), nl = b[pos + 6];
        if (p->bs >= 65536 && (rl == 65535 || rl == 0))
            rl = p->bs;
        else
            rl = (rl & 65532) | ((rl & 3) << 16);
        if (rl < 8 || rl > len - pos || nl + 8 > rl)
            return err_set(&p->fs->err, -EIO,
                           "ext: directory inode %" PRIu64 ": corrupted entry (offset %zu)", dir,
                           pos);
        if (ino != 0 && nl && !memchr(b + pos + 8, 0, nl)) {
            memcpy(name, b + pos + 8, nl);
            name[nl] = '\0';
            int r = cb(ctx, name, ino);
            if (r)
                return r;
        }
        pos += rl;
    }
    return 0;
}

static int ext_readdir(struct fs *fs, uint64_t dir,
                       int (*cb)(void *ctx, const char *name, uint64_t ino), void *ctx)
{
    struct ext_priv *p = fs->priv;
    struct ext2_inode_large in;
    int r = ext_inode(p, dir, &in);
    if (r < 0)
        return r;
    if (!LINUX_S_ISDIR(in.i_mode))
        return err_set(&fs->err, -ENOTDIR, "ext: inode %" PRIu64 " is not a directory", dir);
    if (in.i_flags & EXT4_INLINE_DATA_FL) {
        uint8_t *b;
        size_t n;
        if ((r = ext_inline(p, dir, &b, &n)) < 0)
            return r;
        /* i_block: the parent's inode (4 bytes) and entries; the attribute: more entries. */
        size_t ib = EXT2_N_BLOCKS * 4;
        r = n < 4 ? 0 : ext_dir_block(p, dir, b + 4, (n < ib ? n : ib) - 4, cb, ctx);
        if (r == 0 && n > ib)
            r = ext_dir_block(p, dir, b + ib, n - ib, cb, ctx);
        free(b);
        return r;
    }
    if ((r = ext_map(p, dir, &in)) < 0)
        return r;
    /* A copy of the map: a callback may read another file (fs_list stats each entry). */
    size_t nmap = p->nmap;
    struct ext_run *map = nmap ? malloc(nmap * sizeof *map) : NULL;
    uint8_t *b = malloc(p->bs);
    if ((nmap && !map) || !b) {
        free(map);
        free(b);
        return err_set(&fs->err, -ENOMEM, "out of memory");
    }
    if (nmap)
        memcpy(map, p->map, nmap * sizeof *map);
    uint64_t size = EXT2_I_SIZE(&in);
    for (size_t i = 0; i < nmap && r == 0; i++)
        for (uint64_t k = 0; k < map[i].len && r == 0; k++) {
            if (map[i].uninit || (map[i].lblk + k) * p->bs >= size)
                break;
            r = fs_vol_read(fs->vol, (map[i].pblk + k) * p->bs, b, p->bs, &fs->err);
            if (r == 0)
                r = ext_dir_block(p, dir, b, p->bs, cb, ctx);
        }
    free(map);
    free(b);
    return r;
}

/* ---- where the data lies, free space, labels ---- */

static int ext_extents(struct fs *fs, uint64_t ino,
                       int (*cb)(void *ctx, uint64_t file_off, uint64_t vol_off, uint64_t len),
                       void *ctx)
{
    struct ext_priv *p = fs->priv;
    struct ext2_inode_large in;
    int r = ext_inode(p, ino, &in);
    if (r < 0 || (in.i_flags & EXT4_INLINE_DATA_FL) || ext2fs_is_fast_symlink((void *)&in))
        return r;
    if ((r = ext_map(p, ino, &in)) < 0)
        return r;
    for (size_t i = 0; i < p->nmap && r == 0; i++) {
        struct ext_run run = p->map[i]; /* cb may read another file and replace the map */
        r = cb(ctx, run.lblk * p->bs, run.pblk * p->bs, run.len * p->bs);
        if (p->map_ino != ino && r == 0 && (r = ext_map(p, ino, &in)) < 0)
            break;
    }
    return r;
}

static int ext_free_ranges(struct fs *fs, int (*cb)(void *ctx, uint64_t vol_off, uint64_t len),
                           void *ctx)
{
    struct ext_priv *p = fs->priv;
    if (!p->bitmap_loaded) {
        errcode_t e = ext2fs_read_block_bitmap(p->e2);
        if (e)
            return ext_fail(p, e, "block bitmap");
        p->bitmap_loaded = true;
    }
    blk64_t start = p->e2->super->s_first_data_block, end = p->blocks - 1, z, s;
    while (start <= end) {
        if (ext2fs_find_first_zero_block_bitmap2(p->e2->block_map, start, end, &z))
            break;
        if (ext2fs_find_first_set_block_bitmap2(p->e2->block_map, z, end, &s))
            s = end + 1;
        int r = cb(ctx, (uint64_t)z * p->bs, (uint64_t)(s - z) * p->bs);
        if (r)
            return r;
        start = s;
    }
    return 0;
}

/* One structure's blocks [blk, blk+n), when they lie inside the filesystem. */
static int ext_struct(struct ext_priv *p, blk64_t blk, blk64_t n, const char *what,
                      int (*cb)(void *ctx, uint64_t vol_off, uint64_t len, const char *what),
                      void *ctx)
{
    if (blk == 0 || n == 0 || blk >= p->blocks || n > p->blocks - blk)
        return 0; /* absent, or out of range: nothing to name */
    return cb(ctx, (uint64_t)blk * p->bs, (uint64_t)n * p->bs, what);
}

/* Per group: the superblock and descriptor copies, the bitmaps and the inode table; then the
 * journal's blocks (an internal journal is inode s_journal_inum). */
static int ext_structures(struct fs *fs,
                          int (*cb)(void *ctx, uint64_t vol_off, uint64_t len, const char *what),
                          void *ctx)
{
    struct ext_priv *p = fs->priv;
    ext2_filsys e2 = p->e2;
    int r = 0;
    for (dgrp_t g = 0; g < e2->group_desc_count && r == 0; g++) {
        blk64_t super = 0, old_desc = 0, new_desc = 0;
        blk_t used = 0;
        ext2fs_super_and_bgd_loc2(e2, g, &super, &old_desc, &new_desc, &used);
        if (g == 0 && super == 0)
            super = e2->super->s_first_data_block; /* with 1 KiB blocks: block 1 */
        if (ext2fs_bg_has_super(e2, g) || g == 0)
            r = ext_struct(p, super, used ? used : 1, "superblock and descriptors", cb, ctx);
        if (r == 0)
            r = ext_struct(p, ext2fs_block_bitmap_loc(e2, g), 1, "block bitmap", cb, ctx);
        if (r == 0)
            r = ext_struct(p, ext2fs_inode_bitmap_loc(e2, g), 1, "inode bitmap", cb, ctx);
        if (r == 0)
            r = ext_struct(p, ext2fs_inode_table_loc(e2, g), e2->inode_blocks_per_group,
                           "inode table", cb, ctx);
    }
    uint32_t jino = e2->super->s_journal_inum;
    if (r == 0 && jino && jino < e2->super->s_inodes_count) {
        struct ext2_inode_large in;
        if (ext_inode(p, jino, &in) == 0 && ext_map(p, jino, &in) == 0)
            for (size_t i = 0; i < p->nmap && r == 0; i++)
                r = ext_struct(p, p->map[i].pblk, p->map[i].len, "journal", cb, ctx);
    }
    return r;
}

static void ext_info(struct fs *fs, struct fs_vol_info *info)
{
    struct ext_priv *p = fs->priv;
    const struct ext2_super_block *sb = p->e2->super;
    size_t l = strnlen((const char *)sb->s_volume_name, sizeof sb->s_volume_name);
    snprintf(info->label, sizeof info->label, "%.*s", (int)l, (const char *)sb->s_volume_name);
    const uint8_t *u = sb->s_uuid;
    snprintf(info->uuid, sizeof info->uuid,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0], u[1],
             u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14],
             u[15]);
    uint64_t free_blocks = ext2fs_free_blocks_count(p->e2->super);
    if (free_blocks <= p->blocks) {
        info->used = (p->blocks - free_blocks) * p->bs;
        info->used_known = true;
    }
}

const struct fs_driver fs_driver_ext = {
    .name = "ext",
    .probe = ext_probe,
    .open = ext_open,
    .close = ext_close,
    .root = ext_root,
    .stat = ext_stat,
    .readdir = ext_readdir,
    .read = ext_read,
    .readlink = ext_readlink,
    .extents = ext_extents,
    .free_ranges = ext_free_ranges,
    .structures = ext_structures,
    .info = ext_info,
};

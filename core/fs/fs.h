/* SPDX-License-Identifier: GPL-2.0-or-later */
/* fs.h: looking inside an image's guest view without booting it: volumes (the whole disk,
 * MBR/GPT partitions, LVM2 logical volumes) and read-only guest filesystems on them (ext2/3/4,
 * FAT, exFAT, NTFS, ISO 9660/UDF), plus the names of filesystems recognised but not browsed.
 *
 * Everything reads through the image handle (img_read), so every format, backing chain and
 * encryption works underneath. Every byte read is untrusted: a reader checks each field before
 * it is a size, count or offset, bounds what it allocates (FS_MAX_* below) and returns -errno
 * with one line in err, never crashes or loops. Callers: cli/ (volumes, ls, cat, get) and tui/
 * (the image browser). Never prints.
 *
 * A filesystem driver is one file in core/fs/ and one line in FS_DRIVER_LIST (fs_drivers.h).
 */
#ifndef DIMG_FS_H
#define DIMG_FS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/base/err.h"
#include "core/block/img.h"

#define FS_NAME_MAX 1024           /* bytes of one name (UTF-8) after conversion */
#define FS_PATH_MAX 4096           /* bytes of a path inside a filesystem */
#define FS_DEPTH_MAX 256           /* directory levels a recursive walk descends */
#define FS_DIR_ENTRIES_MAX 1000000 /* entries of one directory */
#define FS_VOLUMES_MAX 1024        /* volumes listed for one image */

/* ---- volumes ---- */

/* A volume is a byte range of the image's guest view, or (LVM) several ranges in order. */
struct fs_seg {
    uint64_t vol_off; /* where the segment starts in the volume */
    uint64_t img_off; /* where it lies in the image's guest view */
    uint64_t len;
};

enum fs_vol_kind { FS_VOL_DISK, FS_VOL_PART, FS_VOL_LV };

struct fs_vol {
    struct img *img; /* not owned */
    enum fs_vol_kind kind;
    char name[128]; /* "" whole disk, "2" partition 2, "vg0/root" a logical volume */
    uint64_t size;  /* bytes */
    size_t nseg;    /* >= 1, sorted by vol_off, contiguous from 0 to size */
    struct fs_seg *seg;
};

/* Read len bytes at off of the volume; a range past its end is -EIO with err set. */
int fs_vol_read(const struct fs_vol *v, uint64_t off, void *buf, size_t len, struct img_err *err);
/* Where volume offset off lies in the guest view, and how many bytes stay contiguous. */
int fs_vol_to_img(const struct fs_vol *v, uint64_t off, uint64_t *img_off, uint64_t *run);

/* What `dimg volumes` shows for one volume. */
struct fs_vol_info {
    struct fs_vol vol; /* owns vol.seg */
    char type[64];     /* partition type ("0x83", "Linux filesystem"), "LV linear" */
    char fs[32];       /* filesystem driver or recognised name ("ext4", "swap"), "" */
    char label[128];   /* filesystem label, escaped by the caller when shown */
    char uuid[64];     /* filesystem UUID or serial */
    uint64_t used;     /* bytes in use by the filesystem, when known */
    bool used_known;
    bool browsable; /* a driver can open it */
    char note[160]; /* why not: "LV segment type raid1 not supported", "" */
};

/* List the volumes of img: the partitions (MBR with logical ones, GPT), the LVM2 logical
 * volumes on them (or on the whole disk), and the whole disk itself when it holds a
 * filesystem directly. Each probed for a filesystem. */
int fs_volumes(struct img *img, struct fs_vol_info **out, size_t *n, struct img_err *err);
void fs_volumes_free(struct fs_vol_info *v, size_t n);

/* Open the volume named spec ("" the only filesystem-bearing volume or the whole disk; "N" a
 * partition number; "0" the whole disk; "VG/LV"). *out is freed with fs_vol_free. */
int fs_vol_open(struct img *img, const char *spec, struct fs_vol **out, struct img_err *err);
void fs_vol_free(struct fs_vol *v);
/* "the whole disk", "partition 2", "logical volume vg0/root" (for messages); returns buf. */
const char *fs_vol_desc(const struct fs_vol *v, char *buf, size_t len);

/* LVM2 (core/fs/lvm.c): the logical volumes of the physical volume pv, appended to *out. A
 * volume that is not an LVM2 PV adds nothing and returns 0. Linear LVs (and striped with one
 * stripe) get segments; others are listed with browsable=false and a note naming the type. */
int lvm_scan(const struct fs_vol *pv, struct fs_vol_info **out, size_t *n, struct img_err *err);

/* ---- filesystems ---- */

enum fs_type { FS_T_REG, FS_T_DIR, FS_T_LNK, FS_T_CHR, FS_T_BLK, FS_T_FIFO, FS_T_SOCK, FS_T_OTHER };

struct fs_stat {
    uint64_t ino; /* the driver's handle of the node, stable while the fs is open */
    enum fs_type type;
    uint32_t mode; /* permission bits (07777); a driver without them makes them up (0644/0755) */
    uint32_t uid, gid;
    uint32_t nlink;
    uint64_t size;               /* bytes of content (a symlink: its target's length) */
    int64_t atime, mtime, ctime; /* seconds since the epoch, UTC */
    uint64_t rdev;               /* devices */
};

struct fs_dirent {
    char *name; /* UTF-8, never "." or "..", never containing '/' or NUL */
    struct fs_stat st;
};

struct fs;

struct fs_driver {
    const char *name; /* "ext4" (the driver may refine it per volume: fs_name) */
    /* Does the volume hold this filesystem? head is the first FS_PROBE_BYTES bytes (fewer for
     * a short volume). Returns true on a match. Cheap: no allocation. */
    bool (*probe)(const struct fs_vol *v, const uint8_t *head, size_t n);
    /* Open: fill fs->priv; may read anything of the volume. */
    int (*open)(struct fs *fs);
    void (*close)(struct fs *fs);
    int (*root)(struct fs *fs, uint64_t *ino);
    int (*stat)(struct fs *fs, uint64_t ino, struct fs_stat *st);
    /* Call cb for each entry of directory ino (not "." or ".."); cb returning non-zero stops
     * the walk and is returned. */
    int (*readdir)(struct fs *fs, uint64_t dir,
                   int (*cb)(void *ctx, const char *name, uint64_t ino), void *ctx);
    /* Read up to len bytes of file ino at off; returns bytes read (0 at end) or -errno. */
    ssize_t (*read)(struct fs *fs, uint64_t ino, uint64_t off, void *buf, size_t len);
    /* The target of symlink ino, NUL-terminated, at most len-1 bytes. */
    int (*readlink)(struct fs *fs, uint64_t ino, char *buf, size_t len);
    /* Optional: where the data of ino lies in the volume, in file order. */
    int (*extents)(struct fs *fs, uint64_t ino,
                   int (*cb)(void *ctx, uint64_t file_off, uint64_t vol_off, uint64_t len),
                   void *ctx);
    /* Optional: the byte ranges of the volume the filesystem does not use (sparsify). */
    int (*free_ranges)(struct fs *fs, int (*cb)(void *ctx, uint64_t vol_off, uint64_t len),
                       void *ctx);
    /* Optional: the filesystem's own structures (superblock, descriptors, bitmaps, inode
     * tables, journal, MFT, FAT), each with a short fixed name. */
    int (*structures)(struct fs *fs,
                      int (*cb)(void *ctx, uint64_t vol_off, uint64_t len, const char *what),
                      void *ctx);
    /* Optional: label, uuid, used bytes (fills what it knows in info). */
    void (*info)(struct fs *fs, struct fs_vol_info *info);
};

#define FS_PROBE_BYTES 65536 /* the volume's head handed to probe (ext's superblock at 1024) */

struct fs {
    const struct fs_driver *drv;
    const struct fs_vol *vol; /* not owned */
    struct img_err err;       /* the last failure */
    char fs_name[32];         /* "ext4", "vfat", "exfat", "ntfs", "iso9660", "udf" */
    void *priv;
};

/* Open the filesystem on vol (probed). -ENOTSUP with err naming what was found ("xfs is
 * recognised but not browsed", "no filesystem recognised") when no driver can open it. */
int fs_open(const struct fs_vol *vol, struct fs **out, struct img_err *err);
void fs_close(struct fs *fs);
/* Open vol with the driver named driver (fs_driver.name) only; its probe must still claim the
 * volume (-ENOTSUP otherwise). For the fuzz targets and a forced type. */
int fs_open_with(const struct fs_vol *vol, const char *driver, struct fs **out,
                 struct img_err *err);
/* The name of what vol holds: a driver's fs_name after probing (opened to tell "ext4" from
 * "ext2"; the driver's name when it claims the volume but cannot open it, browsable false),
 * or a recognised-only name ("xfs", "btrfs", "swap", "LUKS", "BitLocker", "LVM2_member"), or
 * "" when nothing is recognised. */
int fs_probe_name(const struct fs_vol *vol, char *name, size_t len, bool *browsable,
                  struct img_err *err);

/* Resolve an absolute path ("/", "/etc/passwd") to a node, following symlinks in the middle
 * of the path (bounded: FS_SYMLINK_MAX) and, when follow, at the end. -ENOENT, -ENOTDIR with
 * fs->err set. */
#define FS_SYMLINK_MAX 40
int fs_lookup(struct fs *fs, const char *path, bool follow, struct fs_stat *st);
/* The entries of directory ino, sorted by name. Freed with fs_dirents_free. */
int fs_list(struct fs *fs, uint64_t dir, struct fs_dirent **out, size_t *n);
void fs_dirents_free(struct fs_dirent *d, size_t n);
ssize_t fs_read(struct fs *fs, uint64_t ino, uint64_t off, void *buf, size_t len);
/* The node ino (fs->err set on failure). */
int fs_stat(struct fs *fs, uint64_t ino, struct fs_stat *st);
/* The target of symlink ino into buf (len bytes, always terminated). */
int fs_readlink(struct fs *fs, uint64_t ino, char *buf, size_t len);
/* A name fs_list hands out: not "", ".", "..", no '/', at most FS_NAME_MAX bytes. */
bool fs_name_ok(const char *name);
/* Call cb for every node below directory dir, depth first in fs_list order, with its path
 * relative to dir ("a", "a/b"); directories before their contents. Bounded by FS_DEPTH_MAX;
 * a directory that contains itself is -ELOOP. cb returning non-zero stops the walk. */
int fs_walk(struct fs *fs, uint64_t dir,
            int (*cb)(void *ctx, const char *path, const struct fs_dirent *e), void *ctx);

/* ---- copying out (core/fs/get.c) ---- */
struct fs_get_opts {
    bool overwrite; /* replace existing files and links (never a directory) */
    /* Optional: bytes copied so far; non-zero cancels (-ECANCELED). */
    int (*tick)(void *ctx, uint64_t done);
    /* Optional: one line about a node skipped (devices, FIFOs, sockets). */
    void (*warn)(void *ctx, const char *msg);
    void *ctx;
};
/* Copy path (a file, a symlink as a link, or a directory tree) out of fs onto the host: into
 * dest when dest is a directory (dest/NAME; the root's contents into dest itself), else as
 * dest. Never writes outside dest nor follows a symlink below it; each file is written as
 * NAME.part and renamed; an existing name is refused unless o->overwrite; permission bits
 * (not setuid/setgid/sticky), atime and mtime kept; holes kept. o may be NULL. */
int fs_get(struct fs *fs, const char *path, const char *dest, const struct fs_get_opts *o,
           struct img_err *err);

/* ---- sparsify (core/fs/sparse.c) ---- */
struct fs_range {
    uint64_t off, len; /* guest bytes */
};
/* The guest ranges of img that no filesystem on it uses: the free blocks of every volume a
 * reader opens, and with swap the pages of swap volumes after their header. Sorted, merged,
 * never inside another volume that does not contain the one that freed them. Freed with
 * free(). */
int fs_unused_ranges(struct img *img, bool swap, struct fs_range **out, size_t *n,
                     struct img_err *err);

/* ---- which file owns a byte (core/fs/owner.c) ---- */
struct fs_owner {
    uint64_t off, len; /* guest bytes */
    uint32_t name;     /* index in names */
};
struct fs_owners {
    struct fs_owner *v; /* sorted by off */
    size_t n;
    char **names; /* "/etc/passwd", or "#2/etc/passwd" when several volumes hold files;
                   * a filesystem's structures in brackets: "[inode table]" */
    size_t nnames;
    struct fs_range *free; /* what no filesystem uses (fs_unused_ranges) */
    size_t nfree;
    bool partial; /* a bound was reached: some files are not indexed */
};
/* Index the extents of every regular file of every readable volume of img. */
int fs_owners_build(struct img *img, struct fs_owners *o, struct img_err *err);
void fs_owners_free(struct fs_owners *o);
/* What owns [off, off+len): up to three paths and "(+N more)", or "free in the guest
 * filesystem", or "" (nothing known: metadata, another volume, no reader). Unescaped: the
 * caller escapes it for a terminal. Returns buf. */
const char *fs_owners_describe(const struct fs_owners *o, uint64_t off, uint64_t len, char *buf,
                               size_t n);
/* Does no filesystem use any byte of [off, off+len) (all inside one free range)? */
bool fs_owners_is_free(const struct fs_owners *o, uint64_t off, uint64_t len);

/* ---- addresses: IMAGE[#VOL][:/PATH] ---- */
struct fs_addr {
    char *image; /* the image path */
    char *vol;   /* NULL when absent */
    char *path;  /* NULL when absent; else absolute */
};
/* Split an address. A ':' or '#' that is part of an existing file's name belongs to the
 * image (a path that exists as given is taken whole). */
int fs_addr_parse(const char *s, struct fs_addr *a, struct img_err *err);
void fs_addr_free(struct fs_addr *a);

/* What an address opens: the image (read-only, with its backing chain), the volume and the
 * filesystem on it. */
struct fs_handle {
    struct img *img;
    struct fs_vol *vol;
    struct fs *fs;
};
/* Open a->image (format fmt, NULL probes; img_flags added to IMG_OPEN_BACKING), the volume
 * a->vol (fs_vol_open) and its filesystem. -errno with err set; h is then empty. */
int fs_handle_open(const struct fs_addr *a, const char *fmt, unsigned img_flags,
                   struct fs_handle *h, struct img_err *err);
void fs_handle_close(struct fs_handle *h);

/* The drivers, in probe order (fs_drivers.h). */
const struct fs_driver *const *fs_driver_list(size_t *n);

#endif

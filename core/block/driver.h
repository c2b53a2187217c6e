/* SPDX-License-Identifier: GPL-2.0-or-later */
/* driver.h: the inside of an image handle and the format-driver vtable: what formats/
 * implement and core/ works with. The faces (cli/, tui/) include only img.h, where both are
 * opaque. Slots are only ever appended to struct img_driver; a changed slot bumps
 * IMG_DRIVER_ABI.
 * Talks to: core/block/img.h (the client API this extends), core/block/lock.h.
 */
#ifndef DIMG_DRIVER_H
#define DIMG_DRIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/block/img.h"
#include "core/block/src.h"

#define IMG_DRIVER_ABI 2 /* 2: create takes a core-owned img_create_ctx; unlink_extra gone */

struct img_driver {
    unsigned abi; /* IMG_DRIVER_ABI: slots are only ever appended */
    const char *name, *desc;
    size_t priv_size; /* the core allocates img->priv of this size, zeroed */
    unsigned caps;
    const struct img_opt_desc *create_opts; /* terminated by {NULL} */

    /* Score 0..100 for the first IMG_PROBE_BYTES (fewer if the file is shorter). */
    int (*probe)(const uint8_t *buf, size_t len);
    /* Parse and validate metadata; set img->size and img->backing_name/fmt. img->fd is open. */
    int (*open)(struct img *img, unsigned flags);
    void (*close)(struct img *img);
    int (*get_info)(struct img *img, struct img_info *info);
    /* Read guest bytes [off, off+len) within img->size. Unallocated parts read through
     * img_read_backing(). */
    int (*read)(struct img *img, uint64_t off, void *buf, size_t len);
    /* Status of this layer only, starting at off; bs->len <= len. */
    int (*block_status)(struct img *img, uint64_t off, uint64_t len, struct img_bs *bs);

    /* Optional slots: NULL means unsupported; the core refuses with a clear message. */
    int (*write)(struct img *img, uint64_t off, const void *buf, size_t len);
    /* Make [off, off+len) read as zeros (may deallocate). */
    int (*write_zeroes)(struct img *img, uint64_t off, uint64_t len);
    int (*flush)(struct img *img);
    /* Write a new image into the sources c hands out (img_create_src and img_create_extra
     * below): core opened them and flushes, closes or removes them; the driver never opens,
     * syncs or unlinks a file. Check every option before asking for the first source. */
    int (*create)(struct img_create_ctx *c, const struct img_create_req *req, struct img_err *err);
    int (*truncate)(struct img *img, uint64_t size, enum img_prealloc prealloc);
    int (*check)(struct img *img, struct img_check *res, unsigned fix);
    /* Regions of the image file, sorted by offset, gaps meaning free; *out malloc'd. */
    int (*layout)(struct img *img, struct img_region **out, size_t *n);
    int (*snap_list)(struct img *img, struct img_snap **out, size_t *n);
    /* Internal snapshots (IMG_CAP_SNAPSHOTS). id_or_name is looked up as an ID first, then
     * as a name (the first match), as qemu-img does. create: a new snapshot of the current
     * disk; apply: the snapshot's disk (and size) becomes the current one; delete: drop it. */
    int (*snap_create)(struct img *img, const char *name);
    int (*snap_apply)(struct img *img, const char *id_or_name);
    int (*snap_delete)(struct img *img, const char *id_or_name);
    /* Read-only handles: from now on reads, block status and the size show the disk as the
     * snapshot saw it (nothing is written). */
    int (*snap_load)(struct img *img, const char *id_or_name);
    /* Give back the space of blocks that read as zeros and close the holes, in place, with
     * every intermediate state reading the same (crash-safe). tick (may be NULL) reports
     * progress in bytes; a non-zero return asks the driver to stop at the next safe point
     * (it then fails with -ECANCELED, the image valid and reading the same). */
    int (*compact)(struct img *img, int (*tick)(void *ctx, uint64_t done, uint64_t total),
                   void *ctx);

    /* Record a new backing file name and format (name NULL: no backing file any more; fmt
     * NULL: none recorded) in the image's metadata, crash-safely, and update
     * img->backing_name/backing_fmt. The content is not touched (rebase copies first). */
    int (*set_backing)(struct img *img, const char *name, const char *fmt);
    /* Drop every allocation of this layer so that all of it reads from the backing file
     * again (commit's last step); leaks at worst after a crash, never lost references. */
    int (*make_empty)(struct img *img);
    /* Change options of an existing image in place (qemu-img amend): take the keys of
     * req->opts the driver knows and refuse the rest (img_opts_check_all_taken) before
     * changing anything. */
    int (*amend)(struct img *img, const struct img_amend_req *req);
    /* Set up an encrypted image's key now (asking the secret provider; a wrong LUKS password
     * fails here) rather than on the first read of an allocated cluster. */
    int (*unlock)(struct img *img);

    /* Compressed writes in two halves, so that a convert can compress on every core and
     * write in order (core/ops/pipeline.c); img_write_compressed calls one after the other.
     * Both or neither (without them, a format stores nothing compressed). compress_cluster
     * turns one whole cluster (len = cluster size as get_info reports it; a short tail is
     * padded with zeros by the caller) into the stream the format stores, in out (cap bytes,
     * at least len + len / 16 + 1024). It must be safe to call from several threads at once
     * while no other call runs on img: it reads only what open fixed. Returns the stream
     * length, or 0: store the cluster as is. write_compressed_z then checks the request (off
     * cluster-aligned, len the cluster size or the tail of the image) and places the stream
     * crash-safely; buf/len are the cluster's plain bytes, stored as they are when zlen is 0
     * (also when the stream is no shorter than the cluster). */
    size_t (*compress_cluster)(struct img *img, const void *in, size_t len, void *out, size_t cap);
    int (*write_compressed_z)(struct img *img, uint64_t off, const void *buf, size_t len,
                              const void *z, size_t zlen);
    /* Persistent dirty bitmaps in directory order; *out malloc'd (NULL, 0 when none). */
    int (*bitmap_list)(struct img *img, struct img_bitmap **out, size_t *n);
    /* The files a descriptor names (vmdk extents), in guest order, as qemu-img's info lists
     * them: *out malloc'd, its strings owned by img. */
    int (*extents)(struct img *img, struct img_extent **out, size_t *n);
    /* The virtual size as the first bytes of the file say it (buf, len as probe gets them),
     * for listing an archive member without reading it all: 0 when they do not say. */
    uint64_t (*head_size)(const uint8_t *buf, size_t len);
    /* The top-level keys of get_info's format-specific values that qemu-img 7.2 prints for
     * this format (NULL-terminated; NULL: none). Every other value is dimg's own and info
     * shows it apart ("dimg-format-specific"), so that no qemu-img key changes meaning. */
    const char *const *qemu_info_keys;
    /* The image whose first bytes are head (n at least 512 when the member is) can be read
     * front to back from a source without random access (src_stream.c: an archive member):
     * open then reads only forward and read goes in increasing offsets. NULL: never. */
    bool (*stream_head)(const uint8_t *head, size_t n);
    /* Score 0..100 for the file's last bytes (up to IMG_PROBE_BYTES, fewer if the file is
     * shorter; the last byte of the file is tail[len - 1]), for formats whose signature is a
     * trailer (a fixed VHD's footer, dmg's koly block); asked only when no probe claimed the
     * file for any format but raw, and never on a stream. */
    int (*probe_tail)(const uint8_t *tail, size_t len);
};

struct img {
    const struct img_driver *drv;
    void *priv;
    /* Where the image's bytes are (core/block/src.h): drivers with IMG_CAP_SOURCES read and
     * write only through it; NULL for the archive stream handles. */
    struct img_src *src;
    /* The descriptor behind src when it is a file or block device, -1 over NBD; only for the
     * drivers that still use it. */
    int fd;
    char *path;          /* as given */
    char *dir;           /* directory of path, for relative references */
    unsigned flags;      /* IMG_OPEN_* */
    bool probed;         /* the format was guessed, not given */
    uint64_t size;       /* virtual size in bytes */
    char *backing_name;  /* recorded backing file name, or NULL */
    char *backing_fmt;   /* recorded backing format, or NULL */
    struct img *backing; /* opened backing image (IMG_OPEN_BACKING), or NULL */
    unsigned depth;      /* 0 for the top image */
    dev_t st_dev;
    ino_t st_ino;
    struct img_err err;
    /* The layer has a parent it could not name (a differencing vdi opened without its
     * chain): reads that need it fail, block status calls such runs unknown. */
    bool backing_unresolved;
    /* QEMU-compatible locks (core/block/lock.h) on the image file and on the files its metadata
     * names (img_open_ref); released by img_close. */
    struct lock_ref *lock;
    struct lock_ref **ref_locks;
    size_t n_ref_locks;
    /* Opened read-only although another process holds it (the warning went out). */
    bool in_use;
    /* Size of the file when it was opened: a read-only handle whose file has shrunk since
     * (truncated by someone else while being read) fails its reads and block status instead
     * of reading zeros from past the new end. */
    uint64_t open_file_size;
    /* Bytes written into a scratch target since its writeback was last started (img.c). */
    uint64_t kick_pending;
    /* img_write_compressed's cluster size (from get_info) and its buffers, on first use. */
    uint32_t zcluster;
    uint8_t *zbuf;
};

/* For drivers: read [off, off+len) of the backing image, zeros where there is none or past
 * its end. */
int img_read_backing(struct img *img, uint64_t off, void *buf, size_t len);

/* For drivers: open a file an image's metadata names (qcow2 data file, vmdk extent), resolved
 * against the image's directory, with the same rules as backing files: refused under
 * IMG_OPEN_UNTRUSTED, no json:/protocol names, regular files only (never a FIFO, device, /proc
 * or /sys), opened read-write only when img is. With IMG_REF_LOCAL the name must also stay
 * below the image's directory (relative, no ".." component), and a plain name (no '/') is
 * followed even under IMG_OPEN_UNTRUSTED: the file is part of the image, beside it. A symlink
 * never leads out of the directory the name designates (core/block/resolve.h); untrusted, no
 * symlink is followed and a file with other hard links is refused. what names it in messages.
 * *out gets the file as a byte source (read-write only when img is; src_close it); 0 or a
 * negative errno with img->err set. */
enum { IMG_REF_LOCAL = 1u << 0 };
int img_open_ref(struct img *img, const char *name, const char *what, unsigned ref_flags,
                 struct img_src **out);

/* For drivers that rewrite their image as a new file and rename it over the old one (cow's
 * grow): the handle's source becomes src (taken over), the old one is closed, and the
 * handle's file identity follows the new file. Cannot fail. */
void img_replace_src(struct img *img, struct img_src *src);

/* Look at the files beside the image (core/block/siblings.c), for a driver that finds a
 * related file by its content (vdi's parent): for each regular file directly in the image's
 * directory at least head_len bytes long (<= IMG_SIBLING_HEAD_MAX), fn gets its name and
 * first head_len bytes; no symlink is followed out of the directory, none at all for an
 * untrusted image. At most max entries are looked at (*capped says more were there). fn
 * returns 0 to go on, or a negative errno (with img->err set) that ends the walk and is
 * returned. -errno with img->err set when the directory cannot be read. */
#define IMG_SIBLING_HEAD_MAX 65536u
typedef int (*img_sibling_fn)(void *ctx, const char *name, const uint8_t *head, size_t len);
int img_scan_siblings(struct img *img, size_t head_len, unsigned max, img_sibling_fn fn, void *ctx,
                      bool *capped);

/* A new regular file name (joined to the image's directory; it must not exist, never
 * through a symlink) beside an open image (core/block/siblings.c), for a driver that grows
 * into more files (vmdk's split extents): fill writes it through a read-write source (its
 * failures set img->err), core flushes and closes it, and removes it again when anything
 * fails. Regular-file images only. 0 or -errno with img->err set. */
typedef int (*img_fill_fn)(void *ctx, struct img_src *s);
int img_add_file(struct img *img, const char *name, const char *what, img_fill_fn fill, void *ctx);

/* Replace an open image's file by a new one (core/block/rewrite.c): begin creates PATH.part
 * beside the image (a symlink's target), with its mode and owner, and hands back a
 * read-write source for it; the driver writes the whole new image there; commit syncs it,
 * locks it when the handle holds a lock, renames it over the old file, syncs the directory
 * and makes it the handle's source (rw and src are consumed either way); abort removes it.
 * Regular files only (-ENOTSUP otherwise). 0 or -errno with img->err set. */
struct img_rewrite;
int img_rewrite_begin(struct img *img, struct img_rewrite **rw, struct img_src **src);
int img_rewrite_commit(struct img *img, struct img_rewrite *rw);
void img_rewrite_abort(struct img_rewrite *rw);

/* For create slots. The image's own source: opened on the first call (a new regular file, an
 * existing one truncated, an existing block device or an NBD export as it is; with
 * req->final_path set the file must be new), the same source on later calls. The first call
 * of this or img_create_extra refuses the options left untaken (take every option before
 * it). 0 or -errno, the create's err set. */
int img_create_src(struct img_create_ctx *c, struct img_src **out);
/* Where the image is being written (NAME.part in a convert), and the name it will have
 * (req->final_path, else the same): files beside the image are named after the latter. */
const char *img_create_path(const struct img_create_ctx *c);
const char *img_create_final(const struct img_create_ctx *c);
/* A new regular file name (joined to the final name's directory) for the image: never
 * through a symlink; it must not exist when req->final_path is set, else an existing regular
 * file is truncated. what ("extent file", "data file") names it in messages. Removed with the
 * image on any failure; refused when the image is a device or an NBD export. 0 or -errno, the
 * create's err set. */
int img_create_extra(struct img_create_ctx *c, const char *name, const char *what,
                     struct img_src **out);
/* Size a new image's source: a regular file is truncated to size; a block device or an NBD
 * export keeps its size and must be at least size (-ENOSPC). */
int img_create_truncate(struct img_src *s, uint64_t size);
/* Reserve [off, off+len) (full: written as zeros) in a new image's source; on a device or an
 * export the space is there already (full writes the zeros). */
int img_create_allocate(struct img_src *s, uint64_t off, uint64_t len, bool full);

/* Set img->err to "FORMAT: message" (the driver's name, then fmt) and return code: drivers
 * use this for their failures, the name is never typed in the message. */
int img_error(struct img *img, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The same with the message as it is: the core's failures (which name the file), and a
 * driver's that name something else first (a path, or code shared by two formats). */
int img_fail(struct img *img, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* img_error for where there is no handle yet (create, a descriptor parsed before the open):
 * the message goes to err, prefixed with the driver's name. */
int img_drv_error(const struct img_driver *drv, struct img_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif

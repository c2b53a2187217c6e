/* SPDX-License-Identifier: GPL-2.0-or-later */
/* img.h: the image handle, the format-driver vtable and the public core API.
 *
 * tui/ talks to images only through this header (and ops.h for the generic operations).
 * formats/ implement struct img_driver; formats/registry.c lists them. The core opens the file,
 * probes (or takes -f FMT), lets the driver parse its metadata, and opens backing chains on
 * request. Reads fall through to the backing image where a layer is unallocated.
 *
 * Conventions: byte offsets and lengths everywhere (any alignment); 0 or -errno returns; the
 * message of the last failure is in img->err (or the struct img_err passed in).
 */
#ifndef DIMG_IMG_H
#define DIMG_IMG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/base/err.h"

#define IMG_DRIVER_ABI 1
#define IMG_PROBE_BYTES 4096   /* bytes handed to every probe function */
#define IMG_CHAIN_MAX_DEPTH 64 /* images in a backing chain, the top included */

struct img;
struct img_opts;

/* ---- block status (guest view) ---- */
enum {
    IMG_BS_DATA = 0x01,         /* reads as data from this layer */
    IMG_BS_ZERO = 0x02,         /* reads as zeros */
    IMG_BS_OFFSET_VALID = 0x04, /* host_off is where the data lives in this layer's file */
    IMG_BS_ALLOCATED = 0x10,    /* this layer decides the content (else: backing, or zeros) */
    IMG_BS_COMPRESSED = 0x80,   /* stored compressed (host_off is the compressed stream) */
    /* With IMG_BS_OFFSET_VALID: host_off lies in the file host_fd (a vmdk extent, a qcow2
     * data file), not in img->fd. */
    IMG_BS_HOST_FD = 0x100,
    /* With IMG_BS_DATA and IMG_BS_OFFSET_VALID: the image looks metadata-preallocated, so the
     * host range may be a hole in its file; qemu-img map then asks the file and reports such
     * a hole as zero (ops_map does the same). */
    IMG_BS_HOST_HOLES = 0x200,
};

struct img_bs {
    uint64_t len;          /* run length in bytes, > 0, never past the requested range */
    unsigned flags;        /* IMG_BS_* */
    uint64_t host_off;     /* valid with IMG_BS_OFFSET_VALID */
    int host_fd;           /* valid with IMG_BS_HOST_FD */
    const char *host_name; /* with IMG_BS_HOST_FD: that file's name as the image records it */
    unsigned depth;        /* chain layer that answered (filled by img_block_status) */
};

/* ---- layout (host view: the image file's own regions) ---- */
enum img_region_kind {
    IMG_R_FREE = 0, /* unused (refcount 0, or a hole) */
    IMG_R_HEADER,
    IMG_R_L1,
    IMG_R_L2,
    IMG_R_REFTABLE,
    IMG_R_REFBLOCK,
    IMG_R_SNAPTABLE,
    IMG_R_SNAP_L1,
    IMG_R_DATA,
    IMG_R_COMPRESSED,
    IMG_R_LEAKED, /* refcounted but referenced by nothing */
    IMG_R_META,   /* other metadata: extensions, bitmaps, crypto header, descriptor */
    IMG_R_GRAIN_DIR,
    IMG_R_GRAIN_TABLE,
    IMG_R_BLOCK_MAP,
    IMG_R_BITMAP, /* cow sector bitmap, qcow2 dirty bitmaps */
    IMG_R_KIND_COUNT
};
const char *img_region_name(enum img_region_kind k);

struct img_region {
    uint64_t off, len;
    enum img_region_kind kind;
};

/* For drivers' layout slots: a growing region list, then sorted and merged into the answer. */
struct img_regions {
    struct img_region *v;
    size_t n, cap;
    bool oom;
};
void img_regions_add(struct img_regions *rl, uint64_t off, uint64_t len, enum img_region_kind k);
/* Sort by offset, merge touching runs of one kind, and hand the array over (0 or -ENOMEM). */
int img_regions_finish(struct img_regions *rl, struct img_region **out, size_t *n);

/* ---- info ---- */
enum img_kv_type { IMG_KV_STR, IMG_KV_INT, IMG_KV_BOOL };
struct img_kv {
    char key[40]; /* JSON key as qemu-img names it, e.g. "compat", "refcount-bits" */
    enum img_kv_type type;
    char str[128];
    int64_t num; /* IMG_KV_INT value, or 0/1 for IMG_KV_BOOL */
};
#define IMG_INFO_KV_MAX 64 /* a LUKS qcow2 lists 8 key slots */

struct img_info {
    const char *format; /* driver name */
    uint64_t virtual_size;
    uint64_t file_size;    /* apparent size of the image file */
    uint64_t actual_size;  /* bytes allocated on disk */
    uint32_t cluster_size; /* 0 when the format has none */
    bool encrypted;
    bool dirty;           /* qcow2 dirty bit ("cleanly shut down: no") */
    bool has_dirty_field; /* the format has a dirty flag at all */
    bool compressed;      /* holds compressed clusters/grains, if known cheaply */
    unsigned nb_snapshots;
    char backing_file[1024]; /* as recorded, "" when none */
    char backing_fmt[32];
    size_t nkv; /* format-specific key/values */
    struct img_kv kv[IMG_INFO_KV_MAX];
};
/* Append a format-specific value (silently ignored when the table is full). */
void img_info_str(struct img_info *i, const char *key, const char *val);
void img_info_int(struct img_info *i, const char *key, int64_t val);
void img_info_bool(struct img_info *i, const char *key, bool val);

/* ---- persistent dirty bitmaps (qcow2), as qemu-img info lists them ---- */
struct img_bitmap {
    char name[1024];
    uint64_t granularity; /* bytes per bit */
    bool in_use;          /* "in-use": not stored cleanly, inconsistent */
    bool enabled;         /* "auto": records writes */
};

/* ---- extents (vmdk): one file each, as qemu-img's info lists them ---- */
struct img_extent {
    const char *file;      /* as the descriptor names it; NULL: the image file itself */
    const char *type;      /* descriptor keyword ("SPARSE", "FLAT"), "" for the image itself */
    uint64_t virtual_size; /* guest bytes it covers */
    uint32_t cluster_size; /* grain size; 0 for flat extents (no clusters) */
    bool compressed;       /* deflate-compressed grains (streamOptimized) */
};

/* ---- check ---- */
enum { IMG_FIX_LEAKS = 1, IMG_FIX_ERRORS = 2 };
struct img_check {
    uint64_t corruptions, leaks, check_errors;
    uint64_t corruptions_fixed, leaks_fixed;
    uint64_t image_end_offset;
    uint64_t total_clusters, allocated_clusters, fragmented_clusters, compressed_clusters;
    bool has_stats; /* the cluster counts above are meaningful */
    /* Per-problem lines ("Leaked cluster 5 refcount=1 reference=0"); may be NULL. */
    void (*report)(void *ctx, const char *line);
    void *report_ctx;
    /* Progress (optional): called between units of work with guest bytes examined so far.
     * A non-zero return asks the driver to stop; drivers poll it only while counting, before
     * any repair writes, and then fail with -ECANCELED, leaving the image unchanged. */
    int (*tick)(void *ctx, uint64_t done, uint64_t total);
    void *tick_ctx;
};
void img_check_report(struct img_check *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Call c->tick if set; returns true when the caller asked to stop. */
bool img_check_tick(struct img_check *c, uint64_t done, uint64_t total);

/* ---- internal snapshots ---- */
struct img_snap {
    char id[128];
    char name[256];
    uint64_t vm_state_size;
    uint64_t date_sec, date_nsec, vm_clock_nsec;
    uint64_t disk_size;
    uint64_t icount;
};

/* ---- create ---- */
enum img_prealloc {
    IMG_PREALLOC_OFF,
    IMG_PREALLOC_METADATA,
    IMG_PREALLOC_FALLOC,
    IMG_PREALLOC_FULL
};
struct img_create_req {
    uint64_t size;
    const char *backing_file; /* NULL: none */
    const char *backing_fmt;  /* NULL: not recorded */
    struct img_opts *opts;    /* -o k=v,...; drivers take the keys they know (img_opts_take) */
    /* The name the image will end up with when path is a temporary one (convert writes
     * NAME.part and renames it): files a format keeps beside the image (vmdk extents) are
     * named after it, and must not already exist. NULL: path is final, and a plain create may
     * replace such files, as it replaces path. */
    const char *final_path;
    bool compress; /* the caller will write compressed clusters: pick a layout that takes them */
};

/* ---- amend ---- */
struct img_amend_req {
    struct img_opts *opts; /* qemu-img amend's -o names (encrypt.state, encrypt.keyslot, ...) */
    /* encrypt.new-secret / encrypt.old-secret: the password of a key slot to add, or the one
     * whose slots to erase (NULL: none), in memory the caller locks and wipes. The image's own
     * password comes from the secret provider. */
    const uint8_t *new_secret, *old_secret;
    size_t new_len, old_len;
    bool force; /* overwrite an active key slot, erase the last one */
};

/* ---- the vtable ---- */
/* What a format can do beyond its slots: core and the faces ask these (or whether a slot is
 * there), never the format's name. */
enum {
    /* Records a backing file (create takes one; set_backing rewrites it). */
    IMG_CAP_BACKING = 1u << 0,
    /* A newly created image reads as zeros: convert skips writing zero runs. */
    IMG_CAP_ZERO_INIT = 1u << 1,
    /* The link to the backing file records the parent's content ID (vmdk parentCID): after
     * the parent is written (commit), set_backing with the same name records the new one. */
    IMG_CAP_PARENT_ID = 1u << 2,
    /* The backing file must be an image of the same format (vmdk, vdi): rebase refuses
     * another one before copying anything, and what such a format offers instead of an
     * overlay of any format is a differencing child of its own format. */
    IMG_CAP_PARENT_SAME_FMT = 1u << 3,
    /* A raw byte container: the guest bytes are the file's bytes, none of it is metadata. It
     * claims any file, so it wins a probe only as the fallback (a file probed as it may be in
     * a format no driver reads), and append grows only such images. */
    IMG_CAP_RAW = 1u << 4,
};

struct img_opt_desc {
    const char *name, *type, *help; /* type: "size", "bool", "int", "string", "enum:a|b" */
};

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
    int (*create)(const char *path, const struct img_create_req *req, struct img_err *err);
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
    /* Remove the files beside a just-created image at path that create made (vmdk extents),
     * when the operation that created it failed. path itself is removed by the caller. */
    void (*unlink_extra)(const char *path);
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
};

/* ---- the handle ---- */
enum {
    IMG_OPEN_RW = 1u << 0,
    IMG_OPEN_BACKING = 1u << 1,    /* open the backing chain */
    IMG_OPEN_UNTRUSTED = 1u << 2,  /* follow no external reference at all */
    IMG_OPEN_FORCE_RAW0 = 1u << 3, /* allow writing sector 0 of a probed raw image */
    /* Read-only opens: take no image locks and say nothing when another process holds the
     * image (qemu-img's -U / --force-share). Read-write opens always lock. */
    IMG_OPEN_FORCE_SHARE = 1u << 4,
    /* A new image under a temporary name that becomes visible only after img_flush (convert's
     * DST.part): drivers may skip the fsync barriers that order their writes for crash
     * safety, since a crash leaves nothing anyone opens. img_flush still syncs everything. */
    IMG_OPEN_SCRATCH = 1u << 5,
    /* Read-only opens (the backing chain too) fail with "image is in use" when another process
     * holds the file for writing, instead of reading on after a warning: for a copy that must
     * not change under it (a safe rebase), as qemu-img refuses it. */
    IMG_OPEN_LOCK_STRICT = 1u << 6,
    /* Follow no file the image names, not even one beside it: an archive member copied out of
     * its archive (convert's DST.src.part, import's NAME.part) is not beside its extents, and
     * the directory it was copied to is the user's. */
    IMG_OPEN_NO_REFS = 1u << 7,
};

struct img {
    const struct img_driver *drv;
    void *priv;
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

/* Registry (formats/registry.c). */
const struct img_driver *img_driver_find(const char *name);
/* name is a driver with IMG_CAP_RAW (a raw byte container). */
bool img_format_is_raw(const char *name);
const struct img_driver *const *img_driver_list(size_t *n);
/* Best-scoring driver for a probe buffer (raw as the fallback). */
const struct img_driver *img_probe_buf(const uint8_t *buf, size_t len, int *score);

/* Formats dimg recognises but does not read yet (formats/foreign.c): a file in one of them is
 * refused by name, never read as raw, unless "-f raw" is given. */
struct img_foreign {
    const char *name; /* qemu-img's name for the format ("vpc", "vhdx", ...) */
    const char *desc; /* what users call it ("VHD", ...) */
    bool (*match)(const uint8_t *head, size_t hn, const uint8_t *tail, size_t tn);
};
/* The foreign format of a file whose first bytes are head[0..hn) and whose last 512 bytes are
 * tail[0..tn) (tn 0 for a shorter file), or NULL. Meaningful only for a file no driver
 * claimed (probed as raw). */
const struct img_foreign *img_foreign_probe(const uint8_t *head, size_t hn, const uint8_t *tail,
                                            size_t tn);
const struct img_foreign *img_foreign_find(const char *name);
/* When fmt names a foreign format: set err to "[PATH: ]DESC image (format NAME): not supported
 * yet" (path may be NULL) and return -ENOTSUP; else 0. */
int img_foreign_refuse(const char *fmt, const char *path, struct img_err *err);
/* The same for an open file (reads its head and tail): NULL also when a driver claims it. */
const struct img_foreign *img_foreign_fd(int fd);

/* Open path; fmt NULL means probe. On failure returns NULL with err filled. */
struct img *img_open(const char *path, const char *fmt, unsigned flags, struct img_err *err);
/* The same, with the names the image records (backing file, extents) resolved against refdir
 * instead of path's directory: for opening through /proc/self/fd/N. */
struct img *img_open_in(const char *path, const char *refdir, const char *fmt, unsigned flags,
                        struct img_err *err);
void img_close(struct img *img);

/* Guest I/O through the chain; argument checks are the core's, not the drivers'. */
int img_read(struct img *img, uint64_t off, void *buf, size_t len);
int img_write(struct img *img, uint64_t off, const void *buf, size_t len);
int img_write_zeroes(struct img *img, uint64_t off, uint64_t len);
int img_write_compressed(struct img *img, uint64_t off, const void *buf, size_t len);
/* The two halves of img_write_compressed (see the driver slots compress_cluster and
 * write_compressed_z); img_can_compress_split says whether the driver has them. */
bool img_can_compress_split(const struct img *img);
/* The format can store compressed clusters (it has the compress_cluster and write_compressed_z
 * slots): convert -c accepts it as a target. */
bool img_driver_can_compress(const struct img_driver *drv);
size_t img_compress_cluster(struct img *img, const void *in, size_t len, void *out, size_t cap);
int img_write_compressed_z(struct img *img, uint64_t off, const void *buf, size_t len,
                           const void *z, size_t zlen);
int img_flush(struct img *img);
/* For drivers: read [off, off+len) of the backing image, zeros where there is none or past
 * its end. */
int img_read_backing(struct img *img, uint64_t off, void *buf, size_t len);

/* Block status resolved through the chain: unallocated layers defer to their backing; the
 * answer's depth says which layer answered. Unallocated everywhere reads as ZERO. */
int img_block_status(struct img *img, uint64_t off, uint64_t len, struct img_bs *bs);
/* This layer only (the driver's answer, argument-checked). */
int img_block_status_layer(struct img *img, uint64_t off, uint64_t len, struct img_bs *bs);

int img_get_info(struct img *img, struct img_info *info);
/* The extents of a multi-file format (the extents slot); 0 with *n = 0 for other formats. */
int img_extents(struct img *img, struct img_extent **out, size_t *n);
int img_check(struct img *img, struct img_check *res, unsigned fix);
int img_layout(struct img *img, struct img_region **out, size_t *n);
int img_snap_list(struct img *img, struct img_snap **out, size_t *n);
/* Persistent dirty bitmaps (an empty list for formats without them). */
int img_bitmap_list(struct img *img, struct img_bitmap **out, size_t *n);
/* Internal snapshots (see the driver slots): create, apply and delete need a read-write
 * handle; load needs a read-only one. Formats without them fail with -ENOTSUP. */
int img_snap_create(struct img *img, const char *name);
int img_snap_apply(struct img *img, const char *id_or_name);
int img_snap_delete(struct img *img, const char *id_or_name);
int img_snap_load(struct img *img, const char *id_or_name);
int img_truncate(struct img *img, uint64_t size, enum img_prealloc prealloc);
/* Compact in place (the compact slot; needs a read-write handle). Formats without it fail
 * with -ENOTSUP naming `dimg convert` instead. */
int img_compact(struct img *img, int (*tick)(void *ctx, uint64_t done, uint64_t total), void *ctx);

/* Backing chains (read-write handles): rewrite the recorded backing name/format (name NULL
 * or "": none; an open img->backing is left as it was, reopen to follow the new name), and
 * empty the layer into its backing file. Formats without the slot fail with -ENOTSUP and
 * a message naming the format. */
int img_set_backing(struct img *img, const char *name, const char *fmt);
int img_make_empty(struct img *img);

/* Amend in place (read-write handle); an option the format does not know is refused before
 * anything changes. Formats without the slot fail with -ENOTSUP. */
int img_amend(struct img *img, const struct img_amend_req *req);

/* An encrypted image's key, set up now: 0 (also for formats without encryption), or the error
 * of a missing or wrong password. */
int img_unlock(struct img *img);

/* Create an image of format fmt at path. */
int img_create(const char *fmt, const char *path, const struct img_create_req *req,
               struct img_err *err);

/* For drivers: open a file an image's metadata names (qcow2 data file, vmdk extent), resolved
 * against the image's directory, with the same rules as backing files: refused under
 * IMG_OPEN_UNTRUSTED, no json:/protocol names, regular files only (never a FIFO, device, /proc
 * or /sys), opened read-write only when img is. With IMG_REF_LOCAL the name must also stay
 * below the image's directory (relative, no ".." component), and a plain name (no '/') is
 * followed even under IMG_OPEN_UNTRUSTED: the file is part of the image, beside it. A symlink
 * never leads out of the directory the name designates (core/block/resolve.h); untrusted, no
 * symlink is followed and a file with other hard links is refused. what names it in messages.
 * Returns the fd or a negative errno with img->err set. */
enum { IMG_REF_LOCAL = 1u << 0 };
int img_open_ref(struct img *img, const char *name, const char *what, unsigned ref_flags);

/* Set img->err to "FORMAT: message" (the driver's name, then fmt) and return code: drivers
 * use this for their failures, the name is never typed in the message. */
int img_error(struct img *img, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The same with the message as it is: the core's failures (which name the file), and a
 * driver's that name something else first (a path, or code shared by two formats). */
int img_fail(struct img *img, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
const char *img_errmsg(const struct img *img);

/* ---- -o option lists ---- */
struct img_opt_kv {
    char *key, *val;
    bool taken;
};
struct img_opts {
    size_t n;
    struct img_opt_kv *kv;
};
/* Parse "k=v,k2=v2" (",," escapes a comma, as qemu-img's option syntax does); appends. */
int img_opts_parse(struct img_opts *o, const char *s, struct img_err *err);
void img_opts_free(struct img_opts *o);
/* The value of key (marking it taken), or NULL. */
const char *img_opts_take(struct img_opts *o, const char *key);
/* Typed takes: 0 absent (dflt kept), 1 found, -EINVAL with err set on a bad value. */
int img_opts_take_size(struct img_opts *o, const char *key, uint64_t *v, struct img_err *err);
int img_opts_take_bool(struct img_opts *o, const char *key, bool *v, struct img_err *err);
/* -EINVAL naming the first key no driver took. */
int img_opts_check_all_taken(const struct img_opts *o, const char *fmt, struct img_err *err);

/* Parse a size with 1024-based suffixes k/K, M, G, T, P, E (and optional trailing B). */
int img_parse_size(const char *s, uint64_t *out);
/* "1.5 GiB"-style human size into buf. */
const char *img_fmt_size(uint64_t v, char *buf, size_t n);

/* Parse "off|metadata|falloc|full"; -EINVAL for anything else. */
int img_prealloc_parse(const char *s, enum img_prealloc *out);

/* ---- secrets (encrypted images) ---- */
#define IMG_SECRET_MAX 1024 /* longest password accepted, in bytes */
/* A password source, installed once per process by the faces (command line, application).
 * Drivers ask it (through img_get_secret) only when an encrypted image's data is first read
 * or written, or an encrypted image is created, never for info, map or check. It copies the
 * password into buf (cap bytes, memory the caller locks and wipes) and sets *len; returns 0
 * or -errno (-ENOKEY: none available) with a message in err. path names the asking image. */
typedef int (*img_secret_fn)(void *ctx, const char *path, uint8_t *buf, size_t cap, size_t *len,
                             struct img_err *err);
void img_set_secret_provider(img_secret_fn fn, void *ctx);
/* For drivers: the password for path; -ENOKEY with err set when no provider is installed. */
int img_get_secret(const char *path, uint8_t *buf, size_t cap, size_t *len, struct img_err *err);

#endif

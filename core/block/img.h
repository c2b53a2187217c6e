/* SPDX-License-Identifier: GPL-2.0-or-later */
/* img.h: the client API of images: opening, I/O through the chain, info, check, snapshots,
 * and what a format can do. Handles and drivers are opaque here: cli/ and tui/ include only
 * this header (and ops.h for the generic operations); formats/ and core see inside through
 * core/block/driver.h, where the vtable lives. The core opens the file,
 * probes (or takes -f FMT), lets the driver parse its metadata, and opens backing chains on
 * request. Reads fall through to the backing image where a layer is unallocated.
 *
 * Conventions: byte offsets and lengths everywhere (any alignment); 0 or -errno returns; the
 * message of the last failure is on the handle (img_errmsg), or in the struct img_err passed in.
 */
#ifndef DIMG_IMG_H
#define DIMG_IMG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/base/err.h"

#define IMG_PROBE_BYTES 4096   /* bytes handed to every probe function */
#define IMG_CHAIN_MAX_DEPTH 64 /* images in a backing chain, the top included */

/* Opaque to the faces: cli/ and tui/ reach an image and a format only through the functions
 * below; formats/ and core see inside through core/block/driver.h. */
struct img;
struct img_driver;
struct img_opts;

/* ---- block status (guest view) ---- */
enum {
    IMG_BS_DATA = 0x01,         /* reads as data from this layer */
    IMG_BS_ZERO = 0x02,         /* reads as zeros */
    IMG_BS_OFFSET_VALID = 0x04, /* host_off is where the data lives in this layer's file */
    IMG_BS_ALLOCATED = 0x10,    /* this layer decides the content (else: backing, or zeros) */
    IMG_BS_COMPRESSED = 0x80,   /* stored compressed (host_off is the compressed stream) */
    /* With IMG_BS_OFFSET_VALID: host_off lies in the file host_src (a vmdk extent, a qcow2
     * data file), not in the image's own source. */
    IMG_BS_HOST_FILE = 0x100,
    /* With IMG_BS_DATA and IMG_BS_OFFSET_VALID: the image looks metadata-preallocated, so the
     * host range may be a hole in its file; qemu-img map then asks the file and reports such
     * a hole as zero (ops_map does the same). */
    IMG_BS_HOST_HOLES = 0x200,
};

struct img_bs {
    uint64_t len;             /* run length in bytes, > 0, never past the requested range */
    unsigned flags;           /* IMG_BS_* */
    uint64_t host_off;        /* valid with IMG_BS_OFFSET_VALID */
    struct img_src *host_src; /* valid with IMG_BS_HOST_FILE (the driver's, not to close) */
    const char *host_name;    /* with IMG_BS_HOST_FILE: that file's name as the image records it */
    unsigned depth;           /* chain layer that answered (filled by img_block_status) */
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
    bool actual_unknown;   /* the source cannot tell (NBD): qemu-img's "unavailable" */
    uint32_t cluster_size; /* 0 when the format has none */
    bool encrypted;
    bool dirty;           /* qcow2 dirty bit ("cleanly shut down: no") */
    bool has_dirty_field; /* the format has a dirty flag at all */
    /* qemu-img prints no dirty flag at all (its driver has no info: bochs, cloop, dmg; raw
     * over NBD, where the export gives no block info). */
    bool no_dirty_flag;
    bool compressed; /* holds compressed clusters/grains, if known cheaply */
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
    /* The driver reads and writes only through the handle's byte source (core/block/src.h),
     * never a descriptor: it works on any source, an NBD export included. */
    IMG_CAP_SOURCES = 1u << 5,
};

struct img_opt_desc {
    const char *name, *type, *help; /* type: "size", "bool", "int", "string", "enum:a|b" */
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

/* Does name name an NBD export (nbd://, nbd+unix://, nbds://...), as img_open takes it? */
bool img_name_is_uri(const char *name);

/* Open path; fmt NULL means probe. On failure returns NULL with err filled. */
struct img *img_open(const char *path, const char *fmt, unsigned flags, struct img_err *err);
/* The same, with the names the image records (backing file, extents) resolved against refdir
 * instead of path's directory: for opening through /proc/self/fd/N. */
struct img *img_open_in(const char *path, const char *refdir, const char *fmt, unsigned flags,
                        struct img_err *err);
/* Open an image on a byte source (taken over: closed by img_close, and on failure) named name
 * (for messages), recording names against dir; fmt NULL means probe. A source without random
 * access (a stream) takes only a driver whose stream_head accepts its first bytes. */
struct img_src;
struct img *img_open_src(struct img_src *src, const char *name, const char *dir, const char *fmt,
                         unsigned flags, struct img_err *err);
/* Can drv read an image starting with head (n bytes) from a stream (see img_open_src)? */
bool img_driver_streams(const struct img_driver *drv, const uint8_t *head, size_t n);
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

/* Create an image of format fmt at path (a regular file, created or truncated; a block device
 * or an NBD export, written in place). On failure every file the create made is removed (the
 * image, vmdk extents, a qcow2 data file). */
int img_create(const char *fmt, const char *path, const struct img_create_req *req,
               struct img_err *err);
/* The same for an operation that goes on writing the new image (convert): *made remembers the
 * files, all of them closed and flushed. When the operation fails, img_create_undo removes
 * every one; when it succeeds, img_create_commit renames path to req->final_path (when set:
 * NAME.part into place) and syncs the directory (on failure *made stays, to be undone). */
struct img_create_ctx;
int img_create_keep(const char *fmt, const char *path, const struct img_create_req *req,
                    struct img_create_ctx **made, struct img_err *err);
void img_create_undo(struct img_create_ctx *made);
int img_create_commit(struct img_create_ctx *made, struct img_err *err);
/* Forget the files (kept as they are); NULL is fine. */
void img_create_done(struct img_create_ctx *made);

const char *img_errmsg(const struct img *img);

/* ---- what the faces may know of a handle and a format ---- */
const struct img_driver *img_get_driver(const struct img *img);
/* The format's name ("qcow2"), as qemu-img names it. */
const char *img_format(const struct img *img);
uint64_t img_size(const struct img *img);    /* virtual size in bytes */
const char *img_path(const struct img *img); /* as given to img_open */
/* The backing file the image records (name, format: NULL when none), and the opened backing
 * image (IMG_OPEN_BACKING; NULL when none was opened). */
const char *img_backing_name(const struct img *img);
const char *img_backing_fmt(const struct img *img);
struct img *img_backing(const struct img *img);
/* The image has a parent it could not name (a differencing vdi opened without its chain). */
bool img_backing_unresolved(const struct img *img);

/* Operations a format may lack (its driver has no slot for them): the faces ask before they
 * offer one; the core refuses them anyway with a message naming the format. */
enum img_op {
    IMG_OP_PROBE, /* recognised by its content (every format but those only named) */
    IMG_OP_CREATE,
    IMG_OP_CHECK,
    IMG_OP_TRUNCATE,
    IMG_OP_COMPACT,
    IMG_OP_SNAPSHOTS,
    IMG_OP_SET_BACKING,
};
bool img_driver_has(const struct img_driver *d, enum img_op op);
const char *img_driver_name(const struct img_driver *d);
unsigned img_driver_caps(const struct img_driver *d); /* IMG_CAP_* */
/* The -o options create takes ({NULL}-terminated), or NULL. */
const struct img_opt_desc *img_driver_create_opts(const struct img_driver *d);

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

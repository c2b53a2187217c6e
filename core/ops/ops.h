/* SPDX-License-Identifier: GPL-2.0-or-later */
/* ops.h: generic operations written once on top of img.h: convert (copy an image chain into
 * a new image of any format), map (guest allocation runs, merged like qemu-img map) and
 * compare (guest contents of two chains).
 *
 * Callers: the command line (cli/) and the application's jobs (tui/) (each op is a plain function
 * taking a progress/cancel struct so that a worker thread can wrap it). Nothing here prints;
 * failures return -errno with the one-line message in the struct img_err passed in.
 */
#ifndef DIMG_OPS_H
#define DIMG_OPS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/block/img.h"

/* Progress and cancellation shared with the caller. done/total are bytes of guest data;
 * cb (optional) is called between chunks from the thread running the op. cancel (optional)
 * is polled between chunks: non-zero makes the op stop with -ECANCELED. */
struct ops_progress {
    uint64_t done, total;
    void (*cb)(void *ctx, const struct ops_progress *p);
    void *ctx;
    const atomic_int *cancel;
};

/* Record done in p (when there is one), call its callback, and tell whether the caller
 * asked to stop. */
static inline bool ops_progress_step(struct ops_progress *p, uint64_t done)
{
    if (!p)
        return false;
    p->done = done;
    if (p->cb)
        p->cb(p->ctx, p);
    return p->cancel && atomic_load(p->cancel);
}

/* ---- convert ---- */
#define OPS_CONVERT_DEFAULT_SPARSE 4096 /* qemu-img's -S default */

struct ops_convert_req {
    const char *src;               /* source image path */
    const char *src_fmt;           /* NULL: probe */
    const char *dst;               /* final target path; written as DST.part, renamed when done */
    const char *dst_fmt;           /* target format (required) */
    struct img_opts *opts;         /* -o for the target (may be NULL) */
    bool compress;                 /* -c: write whole target clusters compressed */
    uint64_t sparse;               /* -S: zero-detection block size; 0 = allocate everything */
    const char *backing;           /* -B: target becomes an overlay of this (NULL: none) */
    const char *backing_fmt;       /* -F for -B (required with -B) */
    unsigned open_flags;           /* extra IMG_OPEN_* for the source (e.g. IMG_OPEN_UNTRUSTED) */
    const char *snapshot;          /* -l: copy the source as this internal snapshot (ID or name)
                                    * saw it, at its size (NULL: the current disk) */
    size_t buf_size;               /* copy chunk; 0: 1 MiB, 2 MiB for -c (cluster-rounded) */
    struct ops_progress *progress; /* may be NULL */
    const char *filter;            /* raw target through this compression filter ("xz", "gz", "zst",
                                    * "bz2"; core/archive/export.h), holes as zeros (NULL: none) */
    struct img *src_img;           /* an already open read-only source (an archive stream), used
                                    * instead of opening src (which then only names it); NULL:
                                    * open src. ARCHIVE/MEMBER or a compressed file as src goes
                                    * through arc_convert (core/archive/archive.h) */
    unsigned threads;              /* -m: threads compressing (-c) or reading data runs ahead; 0 =
                                    * online cores, 1 = no pipeline */
    bool sparsify;                 /* --sparsify: what no guest filesystem uses reads as zeros
                                    * (fs_unused_ranges, core/fs/fs.h) */
    bool sparsify_swap;            /* --sparsify-swap: and swap volumes' pages */
    bool no_create;                /* -n: write into the existing image dst (a file, a block
                                    * device or an NBD export) in place, zeros written as zeros;
                                    * no DST.part, nothing removed on failure */
};

/* Copy the guest contents of req->src (whole backing chain) into a new image at req->dst.
 * The source is only ever opened read-only. On any failure or cancellation DST.part is
 * removed and an existing DST is left untouched (with no_create: DST is written in place).
 * A source inside an archive or a compressed file, and a target through a compression filter
 * (req->filter), are the archive room's: arc_convert_any (core/archive/archive.h) takes every
 * request and ends here for the rest. */
int ops_convert(const struct ops_convert_req *req, struct img_err *err);

/* The start every convert shares, ops_convert's and the archive room's filtered target: the
 * source opened (or req->src_img taken), a -l snapshot loaded, the target checked (not a
 * file of the source chain, not in use, no DST.part left over) and its .part name. After a
 * failure too, ops_convert_end releases what was set up. */
struct ops_convert_start {
    struct img *src;
    bool own_src;      /* src was opened here (not req->src_img) */
    uint64_t out_size; /* the target's virtual size */
    char *part;        /* "DST.part"; NULL when DST is written in place */
    bool in_place;     /* -n, or a raw target that is a block device or an NBD export */
};
int ops_convert_begin(const struct ops_convert_req *req, struct ops_convert_start *s,
                      struct img_err *err);
void ops_convert_end(struct ops_convert_start *s);

/* ---- map ---- */
struct ops_map_entry {
    uint64_t start, length;
    unsigned depth; /* chain layer that answered */
    bool present;   /* allocated in some layer (qemu-img's "present") */
    bool zero, data;
    bool has_offset; /* offset is valid (not for compressed or unknown runs) */
    bool compressed;
    uint64_t offset; /* host offset in the answering layer's file */
    /* The offset is in another file than the layer's own (a vmdk extent, a qcow2 data file),
     * asked through file_src (the layer's own source otherwise; file_fd only for a layer
     * without one, an archive member's temporary copy, else -1). */
    bool other_file;
    struct img_src *file_src;
    int file_fd;
    const char *file_name;   /* other_file: its name as the layer records it (may be NULL) */
    const struct img *layer; /* the answering layer (for its file name) */
};

/* Walk [start, start+len) of img's guest view through the chain and call cb once per run,
 * adjacent runs merged when depth, flags and host contiguity agree (qemu-img map's rule).
 * A non-zero return from cb stops the walk and is returned. */
int ops_map(struct img *img, uint64_t start, uint64_t len,
            int (*cb)(void *ctx, const struct ops_map_entry *e), void *ctx);

/* ---- compare ---- */
enum ops_cmp_result {
    OPS_CMP_IDENTICAL = 0,
    OPS_CMP_CONTENT, /* content differs at res->offset (512-byte sector granular) */
    OPS_CMP_SIZE,    /* strict: sizes differ */
    OPS_CMP_ALLOC,   /* strict: allocation differs at res->offset */
};
struct ops_compare_res {
    enum ops_cmp_result result;
    uint64_t offset;
    bool size_mismatch; /* sizes differ (non-strict: compared, the extra part was checked) */
    bool status_failed; /* on error: block status failed (else a read failed) */
};

/* Compare the guest contents of a and b (each through its own chain). Regions that both
 * report as zero are skipped without reading. Returns 0 when the comparison completed (the
 * verdict is in res), -errno on a read failure (message in err). */
int ops_compare(struct img *a, struct img *b, bool strict, struct ops_compare_res *res,
                struct ops_progress *progress, struct img_err *err);

/* ---- append (raw images only: the dd/cat extension) ---- */
struct ops_append_req {
    const char *path;              /* the raw image FILE */
    const char *fmt;               /* -f; NULL: probe. Anything but raw is refused */
    uint64_t zeros;                /* bytes of zeros to append (when other is NULL) */
    const char *other;             /* a raw image whose contents are appended, or NULL */
    const char *out;               /* NULL: grow FILE in place; else NEW, written as NEW.part and
                                    * renamed when complete (FILE is only read; NEW must not exist) */
    bool dense;                    /* write real zeros instead of leaving a hole */
    unsigned open_flags;           /* extra IMG_OPEN_* for probing */
    struct ops_progress *progress; /* may be NULL; total = bytes walked (holes count) */
};
struct ops_append_res {
    uint64_t old_size;     /* FILE's size before, in bytes */
    uint64_t new_size;     /* the result's file size in bytes */
    uint64_t virtual_size; /* what qemu-img reports: new_size rounded up to 512 */
};
/* Append zeros or another raw image to a raw image, in place or into a new file. Only
 * allocated data is copied (holes stay holes; reflink or copy_file_range where the file
 * system offers them). In place, a failure or cancellation truncates FILE back to its old
 * size; with out, NEW.part is removed. */
int ops_append(const struct ops_append_req *req, struct ops_append_res *res, struct img_err *err);

/* ---- resize ---- */
struct ops_resize_req {
    const char *path;
    const char *fmt; /* NULL: probe */
    int sign;        /* 0: amount is the new size; +1/-1: grow/shrink by amount */
    uint64_t amount;
    bool shrink; /* --shrink: making the image smaller is allowed */
    enum img_prealloc prealloc;
    bool fix_gpt;                  /* after growing, move a backup GPT to the new end */
    unsigned open_flags;           /* extra IMG_OPEN_* */
    struct ops_progress *progress; /* may be NULL */
};
struct ops_resize_res {
    uint64_t old_size, new_size;
    bool gpt_moved; /* fix_gpt moved the backup GPT */
    bool gpt_stale; /* a GPT's backup is not at the end (and was not moved) */
};
/* The new size from the current one, 64-bit checked: qemu-img's "New image size must be
 * positive" for zero, negative or overflowing results. */
int ops_resize_target(uint64_t cur, int sign, uint64_t amount, uint64_t *out, struct img_err *err);
/* Resize an image through its driver's truncate (qemu-img resize's rules: shrinking needs
 * shrink, preallocation only when growing, a format without resize is refused by name). */
int ops_resize(const struct ops_resize_req *req, struct ops_resize_res *res, struct img_err *err);

/* ---- compact (in place, the driver's compact slot) ---- */
struct ops_compact_req {
    const char *path;
    const char *fmt;               /* NULL: probe */
    unsigned open_flags;           /* extra IMG_OPEN_* (the chain is never opened) */
    struct ops_progress *progress; /* may be NULL; cancel stops at the driver's next safe point */
};
struct ops_compact_res {
    uint64_t old_file_size, new_file_size; /* bytes of the image file before and after */
};
/* Give back the space of all-zero blocks and close the holes, as VBoxManage modifymedium
 * --compact does; formats without it are refused naming `dimg convert`. */
int ops_compact(const struct ops_compact_req *req, struct ops_compact_res *res,
                struct img_err *err);

/* ---- sparsify in place ---- */
struct ops_sparsify_req {
    const char *path;
    const char *fmt;               /* NULL: probe */
    unsigned open_flags;           /* extra IMG_OPEN_* */
    bool swap;                     /* swap volumes' pages too */
    struct ops_progress *progress; /* may be NULL; total = the bytes to zero */
};
struct ops_sparsify_res {
    uint64_t ranges, bytes; /* what was made to read as zeros */
};
/* Make what no guest filesystem uses read as zeros in the image itself, through the driver's
 * zero path (qcow2 zero clusters, holes punched in raw, unallocated vdi/vmdk blocks where the
 * driver can), as zerofree or virt-sparsify --in-place do. The image is opened for writing, so
 * one in use is refused. */
int ops_sparsify(const struct ops_sparsify_req *req, struct ops_sparsify_res *res,
                 struct img_err *err);

/* ---- commit (backing chains) ---- */
struct ops_commit_req {
    const char *path;              /* the overlay FILE */
    const char *fmt;               /* -f; NULL: probe */
    const char *base;              /* -b: a layer further down the chain (NULL: FILE's backing
                                    * file). Matched as recorded, or as a path (relative to the
                                    * current directory or to the overlay naming it) */
    bool keep;                     /* -d: leave FILE's data in place (implied by base) */
    unsigned open_flags;           /* extra IMG_OPEN_* */
    struct ops_progress *progress; /* may be NULL; total = FILE's virtual size */
};
struct ops_commit_res {
    char base_path[1024]; /* the layer written into (as the chain resolved it) */
    bool emptied;         /* FILE was emptied into it */
};
/* Write every range that a layer above the base allocates (data, and zeros that hide the
 * base's data) into the base, growing the base first if it is smaller; flush it; then, unless
 * keep, empty FILE so that it reads from the base. A cancel or failure before the end leaves
 * FILE untouched and the base partly written with content the chain already shows, so the
 * chain reads the same and a new commit finishes the work (qemu-img's promise). */
int ops_commit(const struct ops_commit_req *req, struct ops_commit_res *res, struct img_err *err);

/* ---- rebase ---- */
struct ops_rebase_req {
    const char *path;              /* the overlay FILE */
    const char *fmt;               /* -f; NULL: probe */
    const char *backing;           /* -b NEW as recorded (relative names: to FILE's directory);
                                    * "" or NULL: no backing file (flatten) */
    const char *backing_fmt;       /* -F; NULL: probed (safe mode records what the probe found) */
    bool unsafe;                   /* -u: rewrite the name only, open no backing file */
    unsigned open_flags;           /* extra IMG_OPEN_* */
    struct ops_progress *progress; /* may be NULL; total = FILE's virtual size */
};
/* Safe mode: every part of FILE it does not allocate itself and whose content differs
 * between the old backing chain and NEW is copied into FILE (512-byte granular), FILE is
 * flushed, then the backing name and format are rewritten; the visible content is the same
 * before and after. A cancel or failure leaves the old name in force. */
int ops_rebase(const struct ops_rebase_req *req, struct img_err *err);

#endif

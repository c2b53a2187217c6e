/* SPDX-License-Identifier: GPL-2.0-or-later */
/* ops_convert.c: ops_convert(), copying the guest view of an image chain into a new image.
 *
 * Walks img_block_status runs of the source: zero runs are skipped when the new target reads
 * as zeros anyway (IMG_CAP_ZERO_INIT), else written with img_write_zeroes; data runs are
 * copied in large cluster-aligned chunks with optional zero detection (-S) or compressed per
 * whole target cluster (-c). The target is created as DST.part and renamed over DST only when
 * complete and flushed, so a failure or cancellation never leaves a partial file and never
 * destroys an existing DST. Talks to: img.h (both images), nothing else. Never prints.
 */
#include "core/ops/ops.h"
#include "core/block/driver.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/base/io.h"
#include "core/block/src.h"
#include "core/block/lock.h"
#include "core/fs/fs.h"
#include "core/ops/pipeline.h"

/* Copy chunks: 1 MiB for plain copies, 2 MiB (one compressor batch) for compressed writes.
 * Measured on the 2-core benchmark VM (tests/bench/RESULTS.md): 2 MiB page-cache writes now
 * and then cost several times the system time of 1 MiB ones. In medians of 4 runs, 1 MiB
 * made decompressing copies 1.5-1.7x and an unsynced raw→qcow2 2.7x faster, a synced
 * raw→qcow2 about even, and compressing converts 20% slower (smaller batches). */
#define CONVERT_DEFAULT_CHUNK (1u << 20)
#define CONVERT_COMPRESS_CHUNK (2u << 20)
#define CONVERT_MAX_READERS 8

struct conv {
    const struct ops_convert_req *req;
    struct img *src, *dst;
    struct img_err *err;
    uint8_t *buf, *zbuf;   /* copy buffer; a zero buffer for -S 0 allocation */
    size_t chunk;          /* multiple of the target cluster size */
    uint32_t cluster;      /* target cluster size (0: none) */
    bool whole;            /* write whole target clusters, each once (-c, or a target that
                            * stores every cluster compressed: vmdk streamOptimized) */
    bool zero_init;        /* the new target reads as zeros without writing */
    bool in_place;         /* DST is written where it is (-n, a block device, an NBD export) */
    uint64_t done_until;   /* -c: everything below is already written */
    struct cpipe *pipe;    /* whole mode on several threads (NULL: this thread compresses) */
    unsigned threads;      /* for the pipelines; 1: none */
    struct rpipe *ahead;   /* reads data runs ahead on several threads (NULL: this thread) */
    uint64_t q_off, q_end; /* data not yet queued for the readers (see conv_queue) */
    /* The readers' handles of the source, opened early (see conv_hs). */
    struct img *hs[CONVERT_MAX_READERS];
    unsigned nhs;
    struct img_create_ctx *made; /* DST.part and the files beside it: removed on failure */
    /* --sparsify: guest ranges no filesystem uses (sorted), and the first not yet passed. */
    struct fs_range *free;
    size_t nfree, fi;
};

static int conv_cancelled(struct conv *c)
{
    const struct ops_progress *p = c->req->progress;
    if (p && p->cancel && atomic_load(p->cancel))
        return err_set(c->err, -ECANCELED, "%s: conversion cancelled", c->req->dst);
    return 0;
}

static void conv_progress(struct conv *c, uint64_t done)
{
    struct ops_progress *p = c->req->progress;
    /* Never backwards: with reads ahead, a run's end is passed before its chunks are put. */
    if (!p || (done < p->done && done != 0))
        return;
    p->done = done;
    if (p->cb)
        p->cb(p->ctx, p);
}

static int src_fail(struct conv *c, int r)
{
    *c->err = c->src->err;
    if (!c->err->code)
        c->err->code = r;
    return r;
}

static int dst_fail(struct conv *c, int r)
{
    *c->err = c->dst->err;
    if (!c->err->code)
        c->err->code = r;
    return r;
}

/* Make [off, off+len) of the target read as zeros (without the zero-init shortcut). */
static int conv_zero(struct conv *c, uint64_t off, uint64_t len)
{
    /* Writes stay in guest order: whatever the pipeline holds goes first. */
    if (c->pipe && (!c->zero_init || (c->req->sparse == 0 && !c->req->compress))) {
        int r = cpipe_drain(c->pipe);
        if (r < 0)
            return dst_fail(c, r);
    }
    if (c->req->sparse == 0 && !c->req->compress) {
        /* -S 0: fully allocate, i.e. write real zeros. */
        while (len > 0) {
            int r = conv_cancelled(c);
            if (r < 0)
                return r;
            size_t n = len < c->chunk ? (size_t)len : c->chunk;
            r = img_write(c->dst, off, c->zbuf, n);
            if (r < 0)
                return dst_fail(c, r);
            off += n;
            len -= n;
            conv_progress(c, off);
        }
        return 0;
    }
    if (c->zero_init)
        return 0;
    int r = img_write_zeroes(c->dst, off, len);
    return r < 0 ? dst_fail(c, r) : 0;
}

/* Write buf (guest bytes [off, off+n)) skipping or zeroing all-zero blocks of -S bytes.
 * zmap: their zero-ness as rpipe_zero_map found it, or NULL (scanned here). */
static int conv_write_sparse(struct conv *c, uint64_t off, const uint8_t *buf, size_t n,
                             const uint8_t *zmap)
{
    uint64_t s = c->req->sparse;
    if (s == 0) {
        int r = img_write(c->dst, off, buf, n);
        return r < 0 ? dst_fail(c, r) : 0;
    }
    size_t i = 0, k = 0;
    while (i < n) {
        /* Blocks are aligned to absolute multiples of s; gather a span of equal zero-ness. */
        size_t start = i;
        bool zero = false, first = true;
        while (i < n) {
            uint64_t abs = off + i;
            size_t blen = (size_t)(s - abs % s);
            if (blen > n - i)
                blen = n - i;
            bool z = zmap ? zmap[k] != 0 : io_is_zero(buf + i, blen);
            if (!first && z != zero)
                break;
            zero = z;
            first = false;
            i += blen;
            k++;
        }
        int r;
        if (zero)
            r = c->zero_init ? 0 : img_write_zeroes(c->dst, off + start, i - start);
        else
            r = img_write(c->dst, off + start, buf + start, i - start);
        if (r < 0)
            return dst_fail(c, r);
    }
    return 0;
}

/* Copy the data run [off, end) in chunks aligned to absolute multiples of c->chunk. */
static int conv_copy(struct conv *c, uint64_t off, uint64_t end)
{
    while (off < end) {
        int r = conv_cancelled(c);
        if (r < 0)
            return r;
        uint64_t lim = off - off % c->chunk + c->chunk;
        size_t n = (size_t)((lim < end ? lim : end) - off);
        r = img_read(c->src, off, c->buf, n);
        if (r < 0)
            return src_fail(c, r);
        r = conv_write_sparse(c, off, c->buf, n, NULL);
        if (r < 0)
            return r;
        off += n;
        conv_progress(c, off);
    }
    return 0;
}

/* rpipe's put: one chunk read ahead, written as conv_copy writes it. */
static int conv_put(void *ctx, uint64_t off, const uint8_t *buf, size_t n, const uint8_t *zmap)
{
    struct conv *c = ctx;
    int r = conv_cancelled(c);
    if (r == 0)
        r = conv_write_sparse(c, off, buf, n, zmap);
    if (r == 0)
        conv_progress(c, off + n);
    return r;
}

/* The readers' handles: one more of the source per thread, opened right after the source
 * (a file truncated later is then seen by every handle, naming the offset). Not for sources
 * that need more than their name to open the same way (an internal snapshot, a password, an
 * open archive stream), nor for -c (the compression pipeline reads for itself). None (and
 * every run is read on this thread) when they cannot all be opened. */
static void conv_hs(struct conv *c, unsigned threads)
{
    const struct ops_convert_req *req = c->req;
    struct img_info info;
    /* Over NBD each handle is a connection, which a server may not take (qemu-nbd serves
     * one client unless -e says more): one reader. */
    if (threads < 2 || req->compress || req->snapshot || req->src_img || !c->src->src ||
        src_fd(c->src->src) < 0 || img_get_info(c->src, &info) < 0 || info.encrypted)
        return;
    /* More readers than the ring has chunks would only hold handles (and their caches). */
    unsigned n = threads < CONVERT_MAX_READERS ? threads : CONVERT_MAX_READERS;
    for (c->nhs = 0; c->nhs < n; c->nhs++) {
        struct img_err e = {0};
        /* The source handle holds the lock (and gave any in-use warning) for the process:
         * the readers share it, silently. */
        struct img *h = img_open(
            req->src, c->src->drv->name,
            (req->open_flags & ~IMG_OPEN_RW) | IMG_OPEN_BACKING | IMG_OPEN_FORCE_SHARE, &e);
        if (h && h->size != c->src->size) {
            img_close(h); /* changed since: read it here, where the change is caught */
            h = NULL;
        }
        if (!h)
            break;
        /* Best effort: a bigger read-ahead window where the source is not cached. */
        (void)posix_fadvise(src_fd(h->src), 0, 0, POSIX_FADV_SEQUENTIAL);
        c->hs[c->nhs] = h;
    }
    if (c->nhs < n) {
        while (c->nhs > 0)
            img_close(c->hs[--c->nhs]);
    }
}

/* Hand the readers' handles to a read-ahead pipeline (which closes them). */
static void conv_ahead(struct conv *c)
{
    if (c->nhs == 0)
        return;
    /* -S pieces are scanned on the readers' threads too (no map for tiny -S values). */
    uint64_t zb = c->req->sparse >= 512 ? c->req->sparse : 0;
    c->ahead = rpipe_new(c->hs, c->nhs, c->chunk, zb);
    c->nhs = 0;
}

/* Queue the held data for the readers: all of it, or what ends at a chunk boundary. */
static int conv_queue_flush(struct conv *c, bool all)
{
    uint64_t to = all ? c->q_end : c->q_end - c->q_end % c->chunk;
    if (to <= c->q_off)
        return 0;
    int r = rpipe_push(c->ahead, c->q_off, to, conv_put, c, c->err);
    c->q_off = to;
    return r;
}

/* Queue the data run [off, end). Runs that follow each other are joined into whole chunks
 * (a stream vmdk reports every 64 KiB grain as a run: read and written one by one, they cost
 * a syscall and a handover each). Only where the join lies on a multiple of -S: then no -S
 * block spans it, and every block's zero test (so the allocation) stays what it was. */
static int conv_queue(struct conv *c, uint64_t off, uint64_t end)
{
    uint64_t s = c->req->sparse;
    if (!(c->q_end == off && (s == 0 || off % s == 0))) {
        int r = conv_queue_flush(c, true);
        if (r < 0)
            return r;
        c->q_off = off;
    }
    c->q_end = end;
    return conv_queue_flush(c, false);
}

/* Let the reads ahead catch up: everything held and queued is written. */
static int conv_drain(struct conv *c)
{
    if (!c->ahead)
        return 0;
    int r = conv_queue_flush(c, true);
    return r < 0 ? r : rpipe_drain(c->ahead, conv_put, c, c->err);
}

/* Does conv_zero write nothing (the new target reads as zeros already)? */
static bool conv_zero_is_noop(const struct conv *c)
{
    return c->zero_init && !(c->req->sparse == 0 && !c->req->compress) && !c->pipe;
}

/* -c: write the whole target clusters covering [off, end) compressed, all-zero ones skipped. */
static int conv_copy_compressed(struct conv *c, uint64_t off, uint64_t end)
{
    uint64_t size = c->src->size, cs = c->cluster;
    uint64_t p = off - off % cs;
    if (p < c->done_until)
        p = c->done_until;
    uint64_t cend = end % cs ? end - end % cs + cs : end;
    if (cend > size)
        cend = size;
    while (p < cend) {
        int r = conv_cancelled(c);
        if (r < 0)
            return r;
        size_t n = (size_t)(cend - p < c->chunk ? cend - p : c->chunk);
        if (c->pipe) {
            /* Read straight into the pipeline, which compresses on its threads. */
            size_t cap;
            uint8_t *dst = cpipe_space(c->pipe, &cap);
            if (n > cap)
                n = cap;
            if ((r = img_read(c->src, p, dst, n)) < 0)
                return src_fail(c, r);
            if ((r = cpipe_fill(c->pipe, p, n)) < 0)
                return dst_fail(c, r);
            p += n;
            c->done_until = p;
            conv_progress(c, p);
            continue;
        }
        r = img_read(c->src, p, c->buf, n);
        if (r < 0)
            return src_fail(c, r);
        for (size_t i = 0; i < n; i += cs) {
            size_t clen = (size_t)(n - i < cs ? n - i : cs);
            if (io_is_zero(c->buf + i, clen)) {
                r = c->zero_init ? 0 : img_write_zeroes(c->dst, p + i, clen);
            } else {
                r = img_write_compressed(c->dst, p + i, c->buf + i, clen);
            }
            if (r < 0)
                return dst_fail(c, r);
        }
        p += n;
        c->done_until = p;
        conv_progress(c, p);
    }
    return 0;
}

/* --sparsify: a run that starts in a range no filesystem uses reads as zeros to that range's
 * end; a run that reaches one stops where it starts. */
static void conv_sparsify(struct conv *c, uint64_t off, uint64_t *end, struct img_bs *bs)
{
    while (c->fi < c->nfree && c->free[c->fi].off + c->free[c->fi].len <= off)
        c->fi++;
    if (c->fi == c->nfree)
        return;
    const struct fs_range *f = &c->free[c->fi];
    if (f->off <= off) {
        if (*end > f->off + f->len)
            *end = f->off + f->len;
        bs->flags = IMG_BS_ZERO | IMG_BS_ALLOCATED; /* the target says zeros, whatever it has */
    } else if (f->off < *end) {
        *end = f->off;
    }
}

static int conv_run(struct conv *c)
{
    uint64_t off = 0, size = c->src->size;
    bool overlay = c->req->backing != NULL;
    while (off < size) {
        int r = conv_cancelled(c);
        if (r < 0)
            return r;
        struct img_bs bs;
        /* With -B the target's backing stands in for the source's: copy only what the top
         * layer of the source decides (qemu-img does the same). */
        r = overlay ? img_block_status_layer(c->src, off, size - off, &bs)
                    : img_block_status(c->src, off, size - off, &bs);
        if (r < 0)
            return src_fail(c, r);
        uint64_t end = off + bs.len;
        conv_sparsify(c, off, &end, &bs);
        if (c->whole && end <= c->done_until) {
            off = end;
            continue;
        }
        uint64_t from = c->whole && off < c->done_until ? c->done_until : off;
        /* Unallocated in a source with no backing file reads as zeros: the target must say
         * so, or it would read its new backing file there (qemu-img writes zeros too). */
        bool src_zeros = overlay && !(bs.flags & IMG_BS_ALLOCATED) &&
                         !(c->src->backing_name && c->src->backing_name[0]);
        if (overlay && !(bs.flags & IMG_BS_ALLOCATED) && !src_zeros) {
            r = 0;
        } else if ((bs.flags & IMG_BS_ZERO) || src_zeros) {
            /* Writes stay in guest order: what is read ahead goes first. */
            if (!conv_zero_is_noop(c) && (r = conv_drain(c)) < 0)
                return r;
            r = conv_zero(c, from, end - from);
        } else if (c->whole) {
            r = conv_copy_compressed(c, from, end);
        } else if (c->ahead) {
            /* Reading (inflating, scanning for zeros) overlaps writing: queue the run. */
            r = conv_queue(c, from, end);
        } else {
            /* Data, or unknown status: read it (the chain decides). */
            r = conv_copy(c, from, end);
        }
        if (r < 0)
            return r;
        off = end > c->done_until ? end : c->done_until;
        conv_progress(c, off);
    }
    return conv_drain(c);
}

/* Is path one of the files of the source chain? */
static bool conv_hits_chain(const struct img *src, const char *path)
{
    struct stat st;
    if (stat(path, &st) < 0)
        return false;
    for (const struct img *l = src; l; l = l->backing)
        if (l->st_dev == st.st_dev && l->st_ino == st.st_ino)
            return true;
    return false;
}

/* The target format's driver, once the request is consistent. */
static const struct img_driver *conv_target_driver(const struct ops_convert_req *req,
                                                   struct img_err *err)
{
    const struct img_driver *drv = req->dst_fmt ? img_driver_find(req->dst_fmt) : NULL;
    if (!drv && img_foreign_refuse(req->dst_fmt, NULL, err) < 0)
        return NULL;
    if (!drv) {
        err_set(err, -EINVAL, "unknown output format '%s'", req->dst_fmt ? req->dst_fmt : "");
        return NULL;
    }
    if (req->compress && !img_driver_can_compress(drv)) {
        err_set(err, -ENOTSUP, "%s: compressed output is not supported by %s", req->dst, drv->name);
        return NULL;
    }
    if (req->backing && !req->backing_fmt) {
        err_set(err, -EINVAL, "%s: backing file specified without backing format (add -F FMT)",
                req->dst);
        return NULL;
    }
    return drv;
}

/* The target's temporary name DST.part, refused when something is there already. */
static int conv_part_name(const char *dst, char **part, struct img_err *err)
{
    size_t n = strlen(dst);
    if (!(*part = malloc(n + 6)))
        return err_set(err, -ENOMEM, "out of memory");
    memcpy(*part, dst, n);
    memcpy(*part + n, ".part", 6);
    struct stat st;
    if (lstat(*part, &st) == 0) /* never clobber (or follow) something we did not create */
        return err_set(err, -EEXIST, "%s already exists (left from an interrupted run?); remove it",
                       *part);
    return 0;
}

/* Is DST written where it is: -n, or a raw target that is a block device or an NBD export
 * (never DST.part beside a device node)? Another format there needs a create on a source,
 * which is not there yet. */
static int conv_in_place(const struct ops_convert_req *req, const struct img_driver *drv,
                         bool *in_place, struct img_err *err)
{
    struct stat st;
    bool dev = src_name_is_uri(req->dst) || (stat(req->dst, &st) == 0 && S_ISBLK(st.st_mode));
    *in_place = req->no_create || dev;
    if (dev && !req->no_create && !(img_driver_caps(drv) & IMG_CAP_RAW))
        return err_set(err, -ENOTSUP,
                       "%s: a block device or NBD export takes a raw image only (-O raw)",
                       req->dst);
    if (*in_place && (req->backing || req->filter))
        return err_set(err, -EINVAL, "%s: -n writes into an existing image: no -B or --compress",
                       req->dst);
    return 0;
}

int ops_convert_begin(const struct ops_convert_req *req, struct ops_convert_start *s,
                      struct img_err *err)
{
    int r;
    *s = (struct ops_convert_start){.src = req->src_img};
    err_clear(err);
    const struct img_driver *drv = conv_target_driver(req, err);
    if (!drv)
        return err->code;
    if ((r = conv_in_place(req, drv, &s->in_place, err)) < 0)
        return r;
    if (!s->src) {
        s->src = img_open(req->src, req->src_fmt,
                          (req->open_flags & ~IMG_OPEN_RW) | IMG_OPEN_BACKING, err);
        if (!s->src)
            return err->code ? err->code : -EIO;
        s->own_src = true;
    }
    /* -l: the target has the image's current size, as qemu-img's has; a snapshot taken
     * before the image grew reads as zeros past its own size. */
    s->out_size = s->src->size;
    if (req->snapshot && (r = img_snap_load(s->src, req->snapshot)) < 0)
        return err_set(err, r, "%s", img_errmsg(s->src));
    if (s->out_size < s->src->size)
        s->out_size = s->src->size;
    if (conv_hits_chain(s->src, req->dst))
        return err_set(err, -EINVAL,
                       "%s: the target is the source image or one of its backing files", req->dst);
    if (s->in_place) /* the target's own open takes its locks */
        return 0;
    /* Replacing a file a VM or qemu-img has open would leave it writing to a deleted inode. */
    if ((r = lock_check_free(req->dst, err)) < 0)
        return r;
    return conv_part_name(req->dst, &s->part, err);
}

void ops_convert_end(struct ops_convert_start *s)
{
    if (s->own_src)
        img_close(s->src);
    free(s->part);
    *s = (struct ops_convert_start){0};
}

/* Create DST.part and open it for writing (c->dst); in place (part NULL), open DST itself. */
static int conv_open_target(struct conv *c, const char *part, uint64_t out_size)
{
    const struct ops_convert_req *req = c->req;
    if (!part) {
        c->dst = img_open(req->dst, req->dst_fmt, IMG_OPEN_RW, c->err);
        if (!c->dst)
            return c->err->code ? c->err->code : -EIO;
        if (c->dst->size < c->src->size)
            return err_set(c->err, -EINVAL, "%s: target is smaller than the source", req->dst);
        return 0;
    }
    struct img_create_req creq = {
        .size = out_size,
        .backing_file = req->backing,
        .backing_fmt = req->backing_fmt,
        .opts = req->opts,
        .final_path = req->dst,
        .compress = req->compress,
    };
    int r = img_create_keep(req->dst_fmt, part, &creq, &c->made, c->err);
    if (r < 0)
        return r;
    c->dst = img_open(part, req->dst_fmt,
                      IMG_OPEN_RW | IMG_OPEN_SCRATCH | (req->backing ? IMG_OPEN_BACKING : 0) |
                          (req->open_flags & IMG_OPEN_UNTRUSTED),
                      c->err);
    if (!c->dst)
        return c->err->code ? c->err->code : -EIO;
    if (c->dst->size < c->src->size)
        return err_set(c->err, -EINVAL, "%s: target was created smaller than the source", part);
    /* The tail past the snapshot's size reads as zeros, not from the target's backing file. */
    if (out_size > c->src->size && req->backing &&
        (r = img_write_zeroes(c->dst, c->src->size, out_size - c->src->size)) < 0)
        return dst_fail(c, r);
    return 0;
}

/* How to copy into the target just opened: whole clusters or runs, chunk size, buffers, and
 * the threads (compression pipeline or readers ahead). */
static int conv_setup(struct conv *c, const struct img_driver *drv)
{
    const struct ops_convert_req *req = c->req;
    struct img_info info;
    int r = img_get_info(c->dst, &info);
    if (r < 0)
        return dst_fail(c, r);
    c->cluster = info.cluster_size;
    c->whole = req->compress || (info.compressed && c->cluster);
    if (req->compress && c->cluster == 0)
        return err_set(c->err, -ENOTSUP, "%s: compression needs a format with clusters", req->dst);
    c->zero_init = (drv->caps & IMG_CAP_ZERO_INIT) && !req->backing && !c->in_place;
    c->chunk = req->compress ? CONVERT_COMPRESS_CHUNK : CONVERT_DEFAULT_CHUNK;
    if (req->buf_size)
        c->chunk = req->buf_size;
    if (c->cluster && c->chunk % c->cluster)
        c->chunk += c->cluster - c->chunk % c->cluster;
    c->buf = malloc(c->chunk);
    if (req->sparse == 0)
        c->zbuf = calloc(1, c->chunk);
    if (!c->buf || (req->sparse == 0 && !c->zbuf))
        return err_set(c->err, -ENOMEM, "out of memory");
    if (req->progress) {
        req->progress->total = c->src->size;
        conv_progress(c, 0);
    }
    c->threads = req->threads ? req->threads : cpipe_default_threads();
    /* One thread gains nothing over compressing in place. */
    if (c->whole && !req->backing && img_can_compress_split(c->dst) && c->threads > 1 &&
        !(c->pipe = cpipe_new(c->dst, c->cluster, c->chunk, c->threads, c->zero_init)))
        return err_set(c->err, -ENOMEM, "out of memory (or threads) for the compression pipeline");
    if (!c->whole)
        conv_ahead(c);
    return 0;
}

/* Copy, drain the threads, flush, and put DST.part in place of DST. */
static int conv_finish(struct conv *c, const char *part)
{
    int r = conv_run(c);
    if (r == 0 && c->pipe && (r = cpipe_drain(c->pipe)) < 0)
        r = dst_fail(c, r);
    if (r == 0 && (r = img_flush(c->dst)) < 0)
        r = dst_fail(c, r);
    if (r < 0)
        return r;
    cpipe_free(c->pipe);
    c->pipe = NULL;
    rpipe_free(c->ahead);
    c->ahead = NULL;
    img_close(c->dst);
    c->dst = NULL;
    if (!part)
        return 0; /* written in place */
    if ((r = img_create_commit(c->made, c->err)) < 0)
        return r;
    c->made = NULL;
    return 0;
}

int ops_convert(const struct ops_convert_req *req, struct img_err *err)
{
    struct conv c = {.req = req, .err = err};
    struct ops_convert_start s;
    if (req->filter) /* a compressed stream, not an image: the archive room writes it */
        return err_set(err, -EINVAL, "%s: a filtered target is written by arc_convert_any",
                       req->dst);
    int r = ops_convert_begin(req, &s, err);
    const struct img_driver *drv = img_driver_find(req->dst_fmt);
    if (r < 0)
        goto out;
    c.src = s.src;
    c.in_place = s.in_place;
    if (req->sparsify &&
        (r = fs_unused_ranges(c.src, req->sparsify_swap, &c.free, &c.nfree, err)) < 0) {
        char why[sizeof err->msg];
        snprintf(why, sizeof why, "%s", err->msg[0] ? err->msg : strerror(-r));
        err_set(err, r, "%s: --sparsify: %s", req->src, why);
        goto out;
    }
    conv_hs(&c, req->threads ? req->threads : cpipe_default_threads());
    r = conv_open_target(&c, s.part, s.out_size);
    if (r == 0)
        r = conv_setup(&c, drv);
    if (r == 0)
        r = conv_finish(&c, s.part);

out:
    cpipe_free(c.pipe); /* before the target closes: the workers use its handle */
    rpipe_free(c.ahead);
    while (c.nhs > 0)
        img_close(c.hs[--c.nhs]);
    if (c.dst)
        img_close(c.dst);
    img_create_undo(c.made); /* every file the create made, when it failed */
    ops_convert_end(&s);
    free(c.free);
    free(c.buf);
    free(c.zbuf);
    return r;
}

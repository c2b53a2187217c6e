/* SPDX-License-Identifier: GPL-2.0-or-later */
/* export_compressed.c: `dimg convert -O raw --compress=xz|gz|zst|bz2`: the guest contents of a
 * source chain written as one compressed stream through libarchive's write filters and its
 * "raw" format (a single member, no container). Holes are fed as zeros, which compress to
 * almost nothing, so `xz -dc OUT` gives the raw image byte for byte.
 * Talks to: img.h (reads and block status), ops.h (progress, the convert request), io.h
 * (directory sync), libarchive. Called by ops_convert (core/ops/ops_convert.c).
 */
#include "core/archive/export.h"
#include "core/block/driver.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/base/io.h"

#define FILTER_CHUNK (1u << 20)

struct filter_spec {
    const char *name;
    const char *alias;
    const char *suffix;
    int (*add)(struct archive *a);
};

static const struct filter_spec filter_specs[] = {
    {"xz", "xz", ".xz", archive_write_add_filter_xz},
    {"gz", "gzip", ".gz", archive_write_add_filter_gzip},
    {"zst", "zstd", ".zst", archive_write_add_filter_zstd},
    {"bz2", "bzip2", ".bz2", archive_write_add_filter_bzip2},
};
#define FILTER_NSPECS (sizeof filter_specs / sizeof *filter_specs)

static const struct filter_spec *filter_find(const char *s)
{
    for (size_t i = 0; s && i < FILTER_NSPECS; i++)
        if (strcmp(s, filter_specs[i].name) == 0 || strcmp(s, filter_specs[i].alias) == 0)
            return &filter_specs[i];
    return NULL;
}

const char *export_filter_name(const char *s)
{
    const struct filter_spec *f = filter_find(s);
    return f ? f->name : NULL;
}

const char *export_filter_for_path(const char *path)
{
    size_t n = strlen(path);
    for (size_t i = 0; i < FILTER_NSPECS; i++) {
        size_t k = strlen(filter_specs[i].suffix);
        if (n > k && strcmp(path + n - k, filter_specs[i].suffix) == 0)
            return filter_specs[i].name;
    }
    return NULL;
}

struct fconv {
    struct archive *a;
    struct img *src;
    const struct ops_convert_req *req;
    struct img_err *err;
    uint8_t *buf; /* FILTER_CHUNK bytes; zeroed for holes */
};

int export_archive_fail(struct archive *a, const char *what, struct img_err *err)
{
    const char *m = archive_error_string(a);
    int e = archive_errno(a);
    return err_set(err, e > 0 ? -e : -EIO, "%s: %s", what, m ? m : "archive write failed");
}

int export_archive_put(struct archive *a, const void *buf, size_t n)
{
    const uint8_t *p = buf;
    while (n > 0) {
        la_ssize_t w = archive_write_data(a, p, n);
        if (w <= 0)
            return -EIO;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int fconv_archive_fail(struct fconv *f)
{
    return export_archive_fail(f->a, f->req->dst, f->err);
}

static int fconv_run(struct fconv *f)
{
    uint64_t off = 0, size = f->src->size;
    bool zeroed = false; /* buf currently holds zeros */
    struct ops_progress *p = f->req->progress;
    if (p) {
        p->total = size;
        ops_progress_step(p, 0);
    }
    while (off < size) {
        struct img_bs bs;
        int r = img_block_status(f->src, off, size - off, &bs);
        if (r < 0)
            return err_set(f->err, r, "%s", img_errmsg(f->src));
        uint64_t end = off + bs.len;
        while (off < end) {
            size_t n = (size_t)(end - off < FILTER_CHUNK ? end - off : FILTER_CHUNK);
            if (bs.flags & IMG_BS_ZERO) {
                if (!zeroed)
                    memset(f->buf, 0, FILTER_CHUNK);
                zeroed = true;
            } else {
                if ((r = img_read(f->src, off, f->buf, n)) < 0)
                    return err_set(f->err, r, "%s", img_errmsg(f->src));
                zeroed = false;
            }
            if (export_archive_put(f->a, f->buf, n) < 0)
                return fconv_archive_fail(f);
            off += n;
            if (ops_progress_step(p, off))
                return err_set(f->err, -ECANCELED, "%s: conversion cancelled", f->req->dst);
        }
    }
    return 0;
}

/* The member's name inside the raw "archive" (only gzip records it, as the original name). */
static void fconv_member_name(const char *dst, char *buf, size_t cap)
{
    const char *base = strrchr(dst, '/');
    base = base ? base + 1 : dst;
    snprintf(buf, cap, "%s", base);
    const char *suf = export_filter_for_path(buf);
    if (suf) {
        size_t n = strlen(buf), k = strlen(suf) + 1;
        if (n > k)
            buf[n - k] = '\0';
    }
}

int export_convert_filtered(struct img *src, const struct ops_convert_req *req, const char *part,
                            struct img_err *err)
{
    const struct filter_spec *spec = filter_find(req->filter);
    if (!spec)
        return err_set(err, -EINVAL, "unknown compression '%s' (xz, gz, zst or bz2)", req->filter);
    if (!img_format_is_raw(req->dst_fmt))
        return err_set(err, -ENOTSUP, "%s: --compress writes raw images only, not %s", req->dst,
                       req->dst_fmt);

    if (req->opts && req->opts->n)
        return err_set(err, -EINVAL, "%s: -o %s does not apply to a compressed raw image", req->dst,
                       req->opts->kv[0].key);
    struct fconv f = {.src = src, .req = req, .err = err};
    int fd = open(part, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        return err_set(err, -errno, "%s: %s", part, strerror(errno));
    int r = 0;
    struct archive_entry *e = NULL;
    f.buf = malloc(FILTER_CHUNK);
    f.a = archive_write_new();
    e = archive_entry_new();
    if (!f.buf || !f.a || !e) {
        r = err_set(err, -ENOMEM, "out of memory");
        goto out;
    }
    /* ARCHIVE_WARN would mean an external program stands in for the library: refuse. */
    if (spec->add(f.a) != ARCHIVE_OK || archive_write_set_format_raw(f.a) != ARCHIVE_OK ||
        archive_write_set_bytes_in_last_block(f.a, 1) != ARCHIVE_OK ||
        archive_write_open_fd(f.a, fd) != ARCHIVE_OK) {
        r = fconv_archive_fail(&f);
        goto out;
    }
    char name[256];
    fconv_member_name(req->dst, name, sizeof name);
    archive_entry_set_pathname(e, name);
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_size(e, (la_int64_t)src->size);
    if (archive_write_header(f.a, e) != ARCHIVE_OK) {
        r = fconv_archive_fail(&f);
        goto out;
    }
    if ((r = fconv_run(&f)) < 0)
        goto out;
    /* close flushes the filter's tail; its failure (a full disk) is the write's failure. */
    if (archive_write_close(f.a) != ARCHIVE_OK) {
        r = fconv_archive_fail(&f);
        goto out;
    }
    if (fsync(fd) < 0) {
        r = err_set(err, -errno, "%s: fsync: %s", part, strerror(errno));
        goto out;
    }
    int cr = close(fd);
    fd = -1;
    if (cr < 0) {
        r = err_set(err, -errno, "%s: close: %s", part, strerror(errno));
        goto out;
    }
    if ((r = io_replace(part, req->dst)) < 0) {
        r = err_set(err, r, "%s: rename from %s: %s", req->dst, part, strerror(-r));
        goto out;
    }
    io_sync_dir(req->dst);

out:
    if (e)
        archive_entry_free(e);
    if (f.a)
        archive_write_free(f.a); /* after a failure: no close, nothing more is written */
    if (fd >= 0)
        close(fd);
    if (r < 0)
        unlink(part);
    free(f.buf);
    return r;
}

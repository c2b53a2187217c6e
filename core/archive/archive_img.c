/* SPDX-License-Identifier: GPL-2.0-or-later */
/* archive_img.c: images inside archives as convert sources (see archive.h).
 *
 * A raw member, or one whose driver reads it front to back (a streamOptimized vmdk: the vmdk
 * driver itself, formats/vmdk_stream.c), is read straight from the archive through a
 * forward-only byte source (core/block/src_stream.c; convert reads in order). Formats that need
 * random access are first extracted to a temporary file beside the target (DST.src.part),
 * opened untrusted, and removed afterwards.
 * Talks to: archive.c (the reader), src.h (the stream source), img.h, ops.h (ops_convert with an
 * opened source), io.h.
 * Never prints.
 */
#include "core/archive/archive.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/block/driver.h"
#include "core/block/src.h"
#include "core/archive/export.h"
#include "core/base/io.h"
#include "core/ops/ops.h"

/* The producer behind a member's stream source: the head already read by the probe, then
 * the rest of the member from the reader. */
struct arc_feed {
    struct arc_reader *r;
    uint8_t head[IMG_PROBE_BYTES];
    size_t headlen, at;
};

static ssize_t feed_read(void *ctx, void *buf, size_t len, struct img_err *err)
{
    struct arc_feed *f = ctx;
    if (f->at < f->headlen) {
        size_t n = f->headlen - f->at < len ? f->headlen - f->at : len;
        memcpy(buf, f->head + f->at, n);
        f->at += n;
        return (ssize_t)n;
    }
    return arc_reader_read(f->r, buf, len, err);
}

static void feed_close(void *ctx)
{
    struct arc_feed *f = ctx;
    arc_reader_close(f->r);
    free(f);
}

/* Fill buf from the start of the member; bytes read in *got. */
static int arc_read_head(struct arc_reader *r, uint8_t *buf, size_t cap, size_t *got,
                         struct img_err *err)
{
    *got = 0;
    while (*got < cap) {
        ssize_t k = arc_reader_read(r, buf + *got, cap - *got, err);
        if (k < 0)
            return (int)k;
        if (k == 0)
            break;
        *got += (size_t)k;
    }
    return 0;
}

/* Length of a member whose size is not declared: one counting pass. */
static int arc_count(const char *archive, const char *member, uint64_t *size, struct img_err *err)
{
    struct arc_reader *r = arc_reader_open(archive, member, err);
    if (!r)
        return err->code ? err->code : -EIO;
    uint8_t *buf = malloc(1u << 20);
    uint64_t total = 0;
    int rc = buf ? 0 : err_set(err, -ENOMEM, "out of memory");
    while (rc == 0) {
        ssize_t k = arc_reader_read(r, buf, 1u << 20, err);
        if (k < 0)
            rc = (int)k;
        else if (k == 0)
            break;
        else
            total += (uint64_t)k;
    }
    free(buf);
    arc_reader_close(r);
    *size = total;
    return rc;
}

/* Open the member's reader and probe its first bytes (the format name in *fmt). */
static struct arc_reader *arc_probe_member(const char *archive, const char *member, uint8_t *head,
                                           size_t *headlen, const char **fmt, struct img_err *err)
{
    struct arc_reader *r = arc_reader_open(archive, member, err);
    if (!r)
        return NULL;
    if (arc_read_head(r, head, IMG_PROBE_BYTES, headlen, err) < 0) {
        arc_reader_close(r);
        return NULL;
    }
    const struct img_driver *d = img_probe_buf(head, *headlen, NULL);
    *fmt = d ? d->name : "raw";
    /* A format dimg does not read yet is named, never streamed as raw (the member's tail is
     * not at hand: a footer-only VHD stays raw here). */
    const struct img_foreign *fo =
        (!d || (d->caps & IMG_CAP_RAW)) ? img_foreign_probe(head, *headlen, NULL, 0) : NULL;
    if (fo)
        *fmt = fo->name;
    return r;
}

struct img *arc_open_stream_img(const char *archive, const char *member, const char *fmt,
                                struct img_err *err)
{
    struct arc_feed *f = calloc(1, sizeof *f);
    char name[4200];
    const char *probed = NULL;
    if (!f) {
        err_set(err, -ENOMEM, "out of memory");
        return NULL;
    }
    if (!(f->r = arc_probe_member(archive, member, f->head, &f->headlen, &probed, err))) {
        free(f);
        return NULL;
    }
    const struct arc_member *m = arc_reader_member(f->r);
    snprintf(name, sizeof name, "%s/%s", archive, m->display);
    const char *fn = fmt ? fmt : probed;
    if (img_foreign_refuse(fn, name, err) < 0) {
        err->code = -EPROTONOSUPPORT; /* not -ENOTSUP: the caller would copy it for access */
        feed_close(f);
        return NULL;
    }
    /* Raw, or a format that reads front to back from these first bytes (streamOptimized
     * vmdk); anything else is copied for random access (-ENOTSUP). */
    bool raw = img_format_is_raw(fn);
    if (!raw && !img_driver_streams(img_driver_find(fn), f->head, f->headlen)) {
        err_set(err, -ENOTSUP, "%s: %s needs random access; it cannot be read as a stream", name,
                fn);
        feed_close(f);
        return NULL;
    }
    uint64_t size = m->size_known ? m->size : UINT64_MAX;
    if (raw && !m->size_known && arc_count(archive, member, &size, err) < 0) {
        feed_close(f);
        return NULL;
    }
    char *dir = io_dirname(archive);
    if (!dir) {
        feed_close(f);
        err_set(err, -ENOMEM, "out of memory");
        return NULL;
    }
    static const struct src_stream_io io = {.read = feed_read, .close = feed_close};
    struct img_src *src;
    struct img *img = NULL;
    if (src_stream_open(name, &io, f, size, &src, err) == 0)
        img = img_open_src(src, name, dir, fmt, IMG_OPEN_UNTRUSTED, err);
    free(dir);
    return img;
}

struct arc_tick {
    struct ops_progress *p;
};

static int arc_extract_tick(void *ctx, uint64_t done)
{
    struct arc_tick *t = ctx;
    return ops_progress_step(t->p, done) ? 1 : 0;
}

int arc_convert(const struct ops_convert_req *req, const char *archive, const char *member,
                struct img_err *err)
{
    if (req->snapshot)
        return err_set(err, -ENOTSUP,
                       "%s: -l: images inside archives are read without their "
                       "snapshots",
                       req->src);
    struct ops_convert_req local = *req;
    local.open_flags |= IMG_OPEN_UNTRUSTED;
    struct img *src = arc_open_stream_img(archive, member, req->src_fmt, err);
    if (src) {
        local.src_img = src;
        int r = arc_convert_any(&local, err);
        img_close(src);
        /* A stream that turned out not to be in order (vmdk grains): copy it instead. */
        if (r != -ESPIPE)
            return r;
        local.src_img = NULL;
    } else if (err->code != -ENOTSUP) {
        return err->code ? err->code : -EIO;
    }

    /* Random access needed: a temporary copy beside the target, removed afterwards. */
    char *tmpname = malloc(strlen(req->dst) + 5);
    if (!tmpname)
        return err_set(err, -ENOMEM, "out of memory");
    sprintf(tmpname, "%s.src", req->dst);
    struct io_tmpfile t;
    int r = io_tmp_create(&t, tmpname);
    free(tmpname);
    if (r < 0)
        return err_set(err, r, "%s.src.part: %s", req->dst, strerror(-r));
    err_clear(err);
    struct arc_reader *rd = arc_reader_open(archive, member, err);
    if (!rd) {
        r = err->code ? err->code : -EIO;
        goto out;
    }
    const struct arc_member *m = arc_reader_member(rd);
    if (req->progress)
        req->progress->total = m->size_known ? m->size : 0;
    struct arc_tick tk = {.p = req->progress};
    r = arc_reader_copy_fd(rd, t.fd, NULL, NULL, 0, arc_extract_tick, &tk, err);
    arc_reader_close(rd);
    if (r < 0)
        goto out;
    local.src = t.tmp_path;
    local.open_flags |= IMG_OPEN_NO_REFS; /* not beside its archive's other members */
    r = arc_convert_any(&local, err);
    size_t tl = strlen(t.tmp_path);
    if (r < 0 && strncmp(err->msg, t.tmp_path, tl) == 0 && err->msg[tl] == ':') {
        /* Name the member, not its temporary copy. */
        char msg[sizeof err->msg];
        snprintf(msg, sizeof msg, "%s", err->msg + tl);
        err_set(err, r, "%s%s", req->src, msg);
    }
out:
    io_tmp_abort(&t);
    return r;
}

int arc_member_format(const char *archive, const char *member, const char **fmt, bool *stream,
                      struct img_err *err)
{
    uint8_t head[IMG_PROBE_BYTES];
    size_t n;
    struct arc_reader *r = arc_probe_member(archive, member, head, &n, fmt, err);
    if (!r)
        return err->code ? err->code : -EIO;
    arc_reader_close(r);
    *stream = img_format_is_raw(*fmt) || img_driver_streams(img_driver_find(*fmt), head, n);
    return 0;
}

int arc_convert_any(const struct ops_convert_req *req, struct img_err *err)
{
    err_clear(err);
    if (!req->src_img) {
        /* ARCHIVE/MEMBER, or a compressed file (unless -f names a format for the file). */
        char *arc = NULL, *mem = NULL;
        int k = arc_convert_source(req->src, &arc, &mem);
        if (k < 0)
            return err_set(err, k, "out of memory");
        bool via = k == 1 && !(mem == NULL && req->src_fmt);
        int r = via ? arc_convert(req, arc, mem, err) : 0;
        free(arc);
        free(mem);
        if (via)
            return r;
    }
    if (!req->filter)
        return ops_convert(req, err);
    /* One compressed stream, not an image driver's file. */
    struct ops_convert_start s;
    int r = ops_convert_begin(req, &s, err);
    if (r == 0)
        r = export_convert_filtered(s.src, req, s.part, err);
    ops_convert_end(&s);
    return r;
}

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* src_stream.c: forward-only byte sources, for bytes that arrive in order and cannot be read
 * twice (an archive member being inflated, a fuzz input). No SRC_CAP_RANDOM: reads go at
 * non-decreasing offsets; the first SRC_STREAM_HEAD bytes (a probe, a header read again by
 * the driver) and the last SRC_STREAM_BACK bytes before the read position can be read again.
 * Anything further back fails at once with one clear error (-ESPIPE), never a hang; a read
 * past the end fails with -EIO and from then on src_size says the real length.
 * Talks to: src.c through struct src_ops; the owner's read callback (core/archive).
 */
#include "core/block/src_impl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct stream {
    struct src_stream_io io;
    void *ctx;
    uint64_t size; /* declared or learned at the end; UINT64_MAX while unknown */
    uint64_t pos;  /* bytes taken from the producer so far */
    uint8_t *head; /* the first min(pos, SRC_STREAM_HEAD) bytes */
    uint8_t *back; /* ring: byte x (pos - SRC_STREAM_BACK <= x < pos) at back[x % BACK] */
    uint8_t *skip; /* scratch for bytes skipped over */
};

#define SKIP_BYTES (64u << 10)

/* Remember bytes [pos, pos+n) just taken from the producer. */
static void keep(struct stream *t, const uint8_t *b, size_t n)
{
    if (t->pos < SRC_STREAM_HEAD) {
        size_t k = SRC_STREAM_HEAD - (size_t)t->pos < n ? SRC_STREAM_HEAD - (size_t)t->pos : n;
        memcpy(t->head + t->pos, b, k);
    }
    size_t from = n > SRC_STREAM_BACK ? n - SRC_STREAM_BACK : 0;
    for (size_t i = from; i < n;) {
        size_t at = (size_t)((t->pos + i) % SRC_STREAM_BACK);
        size_t k = SRC_STREAM_BACK - at < n - i ? SRC_STREAM_BACK - at : n - i;
        memcpy(t->back + at, b + i, k);
        i += k;
    }
    t->pos += n;
}

/* Take up to n bytes from the producer into b; 0 at its end. */
static int take(struct img_src *s, struct stream *t, uint8_t *b, size_t n, size_t *got)
{
    ssize_t k = t->io.read(t->ctx, b, n, &s->err);
    if (k < 0)
        return (int)k;
    *got = (size_t)k;
    if (k == 0) {
        t->size = t->pos; /* the end: now known */
        return 0;
    }
    keep(t, b, (size_t)k);
    return 0;
}

static int ended(struct img_src *s, struct stream *t, uint64_t off)
{
    return err_set(&s->err, -EIO, "the stream ends at %llu, before offset %llu",
                   (unsigned long long)t->pos, (unsigned long long)off);
}

static int stream_pread(struct img_src *s, void *buf, size_t len, uint64_t off)
{
    struct stream *t = s->priv;
    uint8_t *o = buf;
    if (t->size != UINT64_MAX && (off > t->size || len > t->size - off))
        return ended(s, t, off + len);
    while (len) {
        size_t n, got = 0;
        if (off < t->pos && off < SRC_STREAM_HEAD) {
            n = (size_t)((t->pos < SRC_STREAM_HEAD ? t->pos : SRC_STREAM_HEAD) - off);
            n = n < len ? n : len;
            memcpy(o, t->head + off, n);
        } else if (off < t->pos) {
            if (t->pos - off > SRC_STREAM_BACK)
                return err_set(&s->err, -ESPIPE,
                               "a stream cannot be read backwards (offset %llu after %llu)",
                               (unsigned long long)off, (unsigned long long)t->pos);
            size_t at = (size_t)(off % SRC_STREAM_BACK);
            n = SRC_STREAM_BACK - at;
            n = n < len ? n : len;
            n = n < t->pos - off ? n : (size_t)(t->pos - off);
            memcpy(o, t->back + at, n);
        } else if (off > t->pos) {
            uint64_t gap = off - t->pos;
            int r = take(s, t, t->skip, gap < SKIP_BYTES ? (size_t)gap : SKIP_BYTES, &got);
            if (r < 0)
                return r;
            if (!got)
                return ended(s, t, off);
            continue;
        } else {
            int r = take(s, t, o, len, &got); /* straight into the caller's buffer */
            if (r < 0)
                return r;
            if (!got)
                return ended(s, t, off + len);
            n = got;
        }
        o += n;
        off += n;
        len -= n;
    }
    return 0;
}

static int stream_size(struct img_src *s, uint64_t *size)
{
    struct stream *t = s->priv;
    if (t->size == UINT64_MAX)
        return err_set(&s->err, -ESPIPE, "the stream's length is not known before its end");
    *size = t->size;
    return 0;
}

static void stream_close(struct img_src *s)
{
    struct stream *t = s->priv;
    if (!t)
        return;
    if (t->io.close)
        t->io.close(t->ctx);
    free(t->head);
    free(t->back);
    free(t->skip);
    free(t);
}

static const struct src_ops stream_ops = {
    .pread = stream_pread,
    .size = stream_size,
    .close = stream_close,
};

int src_stream_open(const char *name, const struct src_stream_io *io, void *ctx, uint64_t size,
                    struct img_src **out, struct img_err *err)
{
    *out = NULL;
    struct stream *t = calloc(1, sizeof *t);
    struct img_src *s = t ? src_new(name, &stream_ops, SRC_STREAM) : NULL;
    if (t) {
        t->head = malloc(SRC_STREAM_HEAD);
        t->back = malloc(SRC_STREAM_BACK);
        t->skip = malloc(SKIP_BYTES);
    }
    if (!s || !t->head || !t->back || !t->skip) {
        if (t) {
            free(t->head);
            free(t->back);
            free(t->skip);
        }
        free(t);
        if (s)
            src_close(s);
        if (io->close)
            io->close(ctx);
        return err_set(err, -ENOMEM, "out of memory");
    }
    t->io = *io;
    t->ctx = ctx;
    t->size = size;
    s->priv = t;
    s->caps = 0; /* read-only, forward only, no holes, no descriptor */
    *out = s;
    return 0;
}

/* ---- a stream over bytes in memory (fuzzing, tests) ---- */

struct mem_ctx {
    const uint8_t *p;
    size_t len, at;
};

static ssize_t mem_read(void *ctx, void *buf, size_t len, struct img_err *err)
{
    (void)err;
    struct mem_ctx *m = ctx;
    size_t n = m->len - m->at < len ? m->len - m->at : len;
    memcpy(buf, m->p + m->at, n);
    m->at += n;
    return (ssize_t)n;
}

int src_stream_mem(const char *name, const void *buf, size_t len, bool size_known,
                   struct img_src **out, struct img_err *err)
{
    struct mem_ctx *m = calloc(1, sizeof *m);
    if (!m)
        return err_set(err, -ENOMEM, "out of memory");
    m->p = buf;
    m->len = len;
    static const struct src_stream_io io = {.read = mem_read, .close = free};
    return src_stream_open(name, &io, m, size_known ? len : UINT64_MAX, out, err);
}

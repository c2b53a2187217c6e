/* SPDX-License-Identifier: GPL-2.0-or-later */
/* src_nbd.c: byte sources on an NBD export, through libnbd: nbd://HOST[:PORT]/EXPORT,
 * nbd+unix:///EXPORT?socket=PATH and their TLS forms nbds://, nbds+unix:// (as qemu-img
 * names them; libnbd parses the URI and does TLS). Structured replies are asked for, block
 * status comes from the "base:allocation" context, zeros and discards are NBD_CMD_WRITE_ZEROES
 * and NBD_CMD_TRIM when the server offers them.
 *
 * The server is untrusted: every request waits at most SRC_NBD_TIMEOUT_MS for its reply
 * (a server that stops answering is an error, never a hang), requests are split to the
 * server's maximum block size, and every block-status answer is checked (no empty run, none
 * before the request, runs clipped to the export) before it becomes an offset. libnbd checks
 * the framing of read replies itself (a chunk outside the request is an error) and zeroes
 * the buffer first, so a short structured read never leaves old memory in it.
 * Talks to: libnbd only.
 */
#include "core/block/src_impl.h"

#include <errno.h>
#include <libnbd.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SRC_NBD_TIMEOUT_MS 60000 /* one request's reply */
#define SRC_NBD_CONNECT_MS 20000 /* the handshake (a server may queue a client it cannot serve) */
#define SRC_NBD_MAX_REQ (32u << 20) /* largest read or write sent at once */
#define SRC_NBD_BS_MAX (1u << 30)   /* largest block-status request */
#define SRC_NBD_EXT_CACHE 1024      /* runs of the last block-status answer kept */

struct nbd_priv {
    struct nbd_handle *h;
    uint64_t size;
    uint32_t max_req;
    bool base_alloc;
    /* The runs of the last block-status answer: [ext_start, ...) with lengths and flags. */
    uint64_t ext_start;
    size_t ext_n;
    uint64_t ext_len[SRC_NBD_EXT_CACHE];
    uint32_t ext_flags[SRC_NBD_EXT_CACHE];
};

static struct nbd_priv *priv(struct img_src *s)
{
    return s->priv;
}

/* The current libnbd error as s's message; returns -errno. */
static int nbd_fail(struct img_src *s, const char *what)
{
    int e = nbd_get_errno();
    const char *m = nbd_get_error();
    if (e <= 0)
        e = EIO;
    return err_set(&s->err, -e, "NBD %s: %s", what, m ? m : strerror(e));
}

/* Wait for request cookie (or the handshake, cookie 0) with a deadline per poll. */
static int nbd_wait(struct img_src *s, int64_t cookie, const char *what)
{
    struct nbd_handle *h = priv(s)->h;
    if (cookie < 0)
        return nbd_fail(s, what);
    for (;;) {
        int done =
            cookie ? nbd_aio_command_completed(h, (uint64_t)cookie) : !nbd_aio_is_connecting(h);
        if (done < 0)
            return nbd_fail(s, what);
        if (done)
            return 0;
        int ms = cookie ? SRC_NBD_TIMEOUT_MS : SRC_NBD_CONNECT_MS;
        int r = nbd_poll(h, ms);
        if (r < 0)
            return nbd_fail(s, what);
        if (r == 0)
            return err_set(&s->err, -ETIMEDOUT, "NBD %s: no answer from the server in %d s", what,
                           ms / 1000);
    }
}

static int nbd_range(struct img_src *s, uint64_t off, uint64_t len, const char *what)
{
    if (off > priv(s)->size || len > priv(s)->size - off)
        return err_set(&s->err, -EIO, "NBD %s at %llu+%llu lies past the end of the export", what,
                       (unsigned long long)off, (unsigned long long)len);
    return 0;
}

static int snbd_pread(struct img_src *s, void *buf, size_t len, uint64_t off)
{
    struct nbd_priv *p = priv(s);
    int r = nbd_range(s, off, len, "read");
    while (r == 0 && len > 0) {
        size_t n = len < p->max_req ? len : p->max_req;
        int64_t c = nbd_aio_pread(p->h, buf, n, off, NBD_NULL_COMPLETION, 0);
        r = nbd_wait(s, c, "read");
        buf = (uint8_t *)buf + n;
        off += n;
        len -= n;
    }
    return r;
}

static int snbd_pwrite(struct img_src *s, const void *buf, size_t len, uint64_t off)
{
    struct nbd_priv *p = priv(s);
    int r = nbd_range(s, off, len, "write");
    p->ext_n = 0;
    while (r == 0 && len > 0) {
        size_t n = len < p->max_req ? len : p->max_req;
        int64_t c = nbd_aio_pwrite(p->h, buf, n, off, NBD_NULL_COMPLETION, 0);
        r = nbd_wait(s, c, "write");
        buf = (const uint8_t *)buf + n;
        off += n;
        len -= n;
    }
    return r;
}

static int snbd_size(struct img_src *s, uint64_t *size)
{
    *size = priv(s)->size;
    return 0;
}

static int snbd_flush(struct img_src *s)
{
    struct nbd_priv *p = priv(s);
    if (nbd_can_flush(p->h) != 1)
        return 0;
    return nbd_wait(s, nbd_aio_flush(p->h, NBD_NULL_COMPLETION, 0), "flush");
}

/* WRITE_ZEROES or TRIM over [off, off+len), in requests the server takes. */
static int snbd_zero_trim(struct img_src *s, uint64_t off, uint64_t len, bool trim, uint32_t flags)
{
    struct nbd_priv *p = priv(s);
    int r = nbd_range(s, off, len, trim ? "trim" : "zero");
    p->ext_n = 0;
    while (r == 0 && len > 0) {
        uint64_t n = len < SRC_NBD_BS_MAX ? len : SRC_NBD_BS_MAX;
        int64_t c = trim ? nbd_aio_trim(p->h, n, off, NBD_NULL_COMPLETION, 0)
                         : nbd_aio_zero(p->h, n, off, NBD_NULL_COMPLETION, flags);
        r = nbd_wait(s, c, trim ? "trim" : "zero");
        off += n;
        len -= n;
    }
    return r;
}

static int snbd_zero(struct img_src *s, uint64_t off, uint64_t len, unsigned zflags)
{
    if (nbd_can_zero(priv(s)->h) != 1)
        return -ENOTSUP;
    uint32_t f = (zflags & SRC_ZERO_MAY_PUNCH) ? 0 : LIBNBD_CMD_FLAG_NO_HOLE;
    return snbd_zero_trim(s, off, len, false, f);
}

static int snbd_discard(struct img_src *s, uint64_t off, uint64_t len)
{
    if (nbd_can_trim(priv(s)->h) != 1)
        return -ENOTSUP;
    return snbd_zero_trim(s, off, len, true, 0);
}

struct ext_ctx {
    struct img_src *s;
    uint64_t off, len; /* the request */
    bool bad;
};

/* One base:allocation answer: runs checked, clipped to the request, kept in the cache. */
static int ext_cb(void *user, const char *ctx, uint64_t off, uint32_t *ent, size_t n, int *error)
{
    struct ext_ctx *x = user;
    struct nbd_priv *p = priv(x->s);
    if (strcmp(ctx, LIBNBD_CONTEXT_BASE_ALLOCATION) != 0)
        return 0;
    if (off != x->off || n < 2 || n % 2 || p->ext_n) {
        x->bad = true;
        return 0;
    }
    uint64_t pos = off, end = off + x->len;
    for (size_t i = 0; i + 1 < n && pos < end && p->ext_n < SRC_NBD_EXT_CACHE; i += 2) {
        if (ent[i] == 0) {
            x->bad = p->ext_n == 0; /* an empty run first would never advance */
            break;
        }
        uint64_t l = ent[i] < end - pos ? ent[i] : end - pos;
        p->ext_len[p->ext_n] = l;
        p->ext_flags[p->ext_n++] = ent[i + 1];
        pos += l;
    }
    p->ext_start = off;
    return 0;
}

/* Answer from the cache when off lies in it. */
static bool ext_cached(struct nbd_priv *p, uint64_t off, unsigned *state, uint64_t *end)
{
    uint64_t pos = p->ext_start;
    for (size_t i = 0; i < p->ext_n; i++) {
        if (off >= pos && off < pos + p->ext_len[i]) {
            uint32_t f = p->ext_flags[i];
            *state = ((f & LIBNBD_STATE_HOLE) ? 0 : SRC_EXT_DATA) |
                     ((f & LIBNBD_STATE_ZERO) ? SRC_EXT_ZERO : 0);
            *end = pos + p->ext_len[i];
            return true;
        }
        pos += p->ext_len[i];
    }
    return false;
}

static int snbd_extent(struct img_src *s, uint64_t off, uint64_t size, unsigned *state,
                       uint64_t *end)
{
    struct nbd_priv *p = priv(s);
    if (ext_cached(p, off, state, end))
        return 0;
    if (size > p->size)
        size = p->size;
    struct ext_ctx x = {s, off, size - off < SRC_NBD_BS_MAX ? size - off : SRC_NBD_BS_MAX, false};
    nbd_extent_callback cb = {.callback = ext_cb, .user_data = &x};
    p->ext_n = 0;
    int r = nbd_wait(s, nbd_aio_block_status(p->h, x.len, off, cb, NBD_NULL_COMPLETION, 0),
                     "block status");
    if (r == 0 && (x.bad || !ext_cached(p, off, state, end))) {
        p->ext_n = 0;
        r = err_set(&s->err, -EIO, "NBD block status at %llu: the server's answer is malformed",
                    (unsigned long long)off);
    }
    return r;
}

static void snbd_close(struct img_src *s)
{
    struct nbd_priv *p = priv(s);
    if (!p)
        return;
    if (p->h) {
        if (nbd_aio_is_ready(p->h) == 1)
            (void)nbd_shutdown(p->h, 0);
        nbd_close(p->h);
    }
    free(p);
    s->priv = NULL;
}

static const struct src_ops nbd_ops = {
    .pread = snbd_pread,
    .pwrite = snbd_pwrite,
    .size = snbd_size,
    .flush = snbd_flush,
    .zero = snbd_zero,
    .discard = snbd_discard,
    .extent = snbd_extent,
    .close = snbd_close,
};

/* After the handshake: size, limits and what the server offers. */
static int nbd_setup(struct img_src *s, unsigned flags)
{
    struct nbd_priv *p = priv(s);
    int64_t size = nbd_get_size(p->h);
    if (size < 0)
        return nbd_fail(s, "size");
    p->size = (uint64_t)size;
    int64_t mx = nbd_get_block_size(p->h, LIBNBD_SIZE_MAXIMUM);
    p->max_req = (mx > 0 && (uint64_t)mx < SRC_NBD_MAX_REQ) ? (uint32_t)mx : SRC_NBD_MAX_REQ;
    if (p->max_req < 512)
        p->max_req = 512;
    p->base_alloc = nbd_can_meta_context(p->h, LIBNBD_CONTEXT_BASE_ALLOCATION) == 1;
    if ((flags & SRC_OPEN_RW) && nbd_is_read_only(p->h) == 1)
        return err_set(&s->err, -EROFS, "the NBD export is read-only");
    s->caps = SRC_CAP_RANDOM | (p->base_alloc ? SRC_CAP_HOLES : 0) |
              ((flags & SRC_OPEN_RW) ? SRC_CAP_WRITE : 0) |
              (nbd_can_trim(p->h) == 1 ? SRC_CAP_PUNCH : 0);
    return 0;
}

/* TLS as the URI asks for it (nbds://, tls-psk-file=, tls-certificates=, user@): the URI
 * comes from the command line or the application, never from on-disk data (an image's names
 * are never protocols), so it may name the local key files. libnbd would take the PSK user
 * name from getlogin(), which fails without a terminal: the account's name instead (the URI's
 * user@ still wins). */
static int nbd_tls_setup(struct nbd_handle *h)
{
    if (nbd_set_uri_allow_local_file(h, true) < 0)
        return -1;
    const struct passwd *pw = getpwuid(geteuid());
    return pw && pw->pw_name && pw->pw_name[0] ? nbd_set_tls_username(h, pw->pw_name) : 0;
}

/* A plain connection to a server that insists on TLS (libnbd's words for it). */
static bool nbd_tls_refused(const char *msg)
{
    return strstr(msg, "requires TLS") != NULL;
}

int src_nbd_open(const char *uri, unsigned flags, struct img_src **out, struct img_err *err)
{
    *out = NULL;
    struct img_src *s = src_new(uri, &nbd_ops, SRC_NBD);
    struct nbd_priv *p = s ? calloc(1, sizeof *p) : NULL;
    if (!p) {
        src_close(s);
        return err_set(err, -ENOMEM, "out of memory");
    }
    s->priv = p;
    s->flags = flags;
    int r = 0;
    if (!(p->h = nbd_create()))
        r = nbd_fail(s, "libnbd");
    else if (nbd_set_handle_name(p->h, "dimg") < 0 ||
             nbd_add_meta_context(p->h, LIBNBD_CONTEXT_BASE_ALLOCATION) < 0 ||
             nbd_set_request_structured_replies(p->h, true) < 0 || nbd_tls_setup(p->h) < 0)
        r = nbd_fail(s, "libnbd");
    else if (nbd_aio_connect_uri(p->h, uri) < 0)
        r = nbd_fail(s, "cannot connect");
    else if ((r = nbd_wait(s, 0, "cannot connect")) == 0 && nbd_aio_is_ready(p->h) != 1)
        r = nbd_fail(s, "cannot connect");
    if (r < 0 && nbd_tls_refused(s->err.msg))
        err_set(&s->err, r,
                "the server requires TLS: name it nbds:// (or nbds+unix://) with "
                "tls-psk-file= or tls-certificates=");
    if (r == 0)
        r = nbd_setup(s, flags);
    if (r < 0) {
        err_set(err, r, "%s: %s", uri, s->err.msg);
        src_close(s);
        return r;
    }
    *out = s;
    return 0;
}

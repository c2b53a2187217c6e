/* SPDX-License-Identifier: GPL-2.0-or-later */
/* pipeline.c: convert's compression and read-ahead pipelines (see pipeline.h).
 *
 * Two batches take turns: while the workers compress one, the caller reads into the other,
 * and before a batch is handed over, the one before it (fully compressed by then) is written
 * by the caller in guest order. Only the caller's thread ever calls the target's write slots;
 * the workers call nothing but compress_cluster and the zero test, on buffers they own.
 * The read-ahead ring: slots are queued in guest order from the head, any worker reads any
 * pending slot through its own source handle, and the caller hands the head on when it is
 * read, so the order of the output never depends on which worker finishes first.
 * Talks to: img.h (compress_cluster, write_compressed_z, write_zeroes, read), io.h.
 */
#include "core/ops/pipeline.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/block/driver.h"
#include "core/base/io.h"

#define CPIPE_MAX_THREADS 64
#define RPIPE_RING_BYTES (24u << 20) /* the read-ahead ring's buffers, at most (or 4 chunks) */

/* Worker threads and what they wait on, shared by both pipelines. */
struct pool {
    pthread_mutex_t mu;
    pthread_cond_t work, finished; /* work to take; work finished */
    bool stop;
    unsigned n; /* threads started */
    pthread_t th[CPIPE_MAX_THREADS];
};

static void pool_init(struct pool *pl)
{
    pthread_mutex_init(&pl->mu, NULL);
    pthread_cond_init(&pl->work, NULL);
    pthread_cond_init(&pl->finished, NULL);
}

/* Stop and join the threads, then free the locks. */
static void pool_fini(struct pool *pl)
{
    pthread_mutex_lock(&pl->mu);
    pl->stop = true;
    pthread_cond_broadcast(&pl->work);
    pthread_mutex_unlock(&pl->mu);
    for (unsigned i = 0; i < pl->n; i++)
        pthread_join(pl->th[i], NULL);
    pthread_cond_destroy(&pl->work);
    pthread_cond_destroy(&pl->finished);
    pthread_mutex_destroy(&pl->mu);
}

struct cp_item {
    uint64_t off;
    size_t len;  /* guest bytes (less than a cluster only at the end of the image) */
    size_t zlen; /* compressed length, 0: store as is */
    bool zero;
};

struct cp_batch {
    uint8_t *in, *out; /* max_items slots of cluster / zcap bytes */
    struct cp_item *items;
    size_t n;          /* items filled */
    size_t next, done; /* items taken and finished by the workers (under mu) */
};

struct cpipe {
    struct img *dst;
    size_t cluster, zcap, max_items;
    bool zero_init;
    struct cp_batch b[2];
    struct cp_batch *filling, *active; /* active: handed to the workers, not yet written */
    struct pool pool;
};

unsigned cpipe_default_threads(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1)
        return 1;
    return n > CPIPE_MAX_THREADS ? CPIPE_MAX_THREADS : (unsigned)n;
}

static void cp_compress(struct cpipe *p, struct cp_batch *b, size_t i)
{
    struct cp_item *it = &b->items[i];
    uint8_t *in = b->in + i * p->cluster;
    it->zero = io_is_zero(in, it->len);
    it->zlen = 0;
    if (it->zero)
        return;
    memset(in + it->len, 0, p->cluster - it->len); /* a short tail is padded with zeros */
    it->zlen = img_compress_cluster(p->dst, in, p->cluster, b->out + i * p->zcap, p->zcap);
    if (it->zlen > p->zcap)
        it->zlen = 0; /* cannot happen with a sane codec; store as is rather than overrun */
}

static void *cp_worker(void *arg)
{
    struct cpipe *p = arg;
    pthread_mutex_lock(&p->pool.mu);
    for (;;) {
        while (!p->pool.stop && !(p->active && p->active->next < p->active->n))
            pthread_cond_wait(&p->pool.work, &p->pool.mu);
        if (p->pool.stop)
            break;
        struct cp_batch *b = p->active;
        size_t i = b->next++;
        pthread_mutex_unlock(&p->pool.mu);
        cp_compress(p, b, i);
        pthread_mutex_lock(&p->pool.mu);
        if (++b->done == b->n)
            pthread_cond_broadcast(&p->pool.finished);
    }
    pthread_mutex_unlock(&p->pool.mu);
    return NULL;
}

/* Wait until the active batch is compressed; it stays active (the caller writes it). */
static void cp_wait_active(struct cpipe *p)
{
    pthread_mutex_lock(&p->pool.mu);
    while (p->active && p->active->done < p->active->n)
        pthread_cond_wait(&p->pool.finished, &p->pool.mu);
    pthread_mutex_unlock(&p->pool.mu);
}

/* Write a compressed batch in guest order and empty it. */
static int cp_write(struct cpipe *p, struct cp_batch *b)
{
    for (size_t i = 0; i < b->n; i++) {
        const struct cp_item *it = &b->items[i];
        int r = 0;
        if (it->zero)
            r = p->zero_init ? 0 : img_write_zeroes(p->dst, it->off, it->len);
        else
            r = img_write_compressed_z(p->dst, it->off, b->in + i * p->cluster, it->len,
                                       b->out + i * p->zcap, it->zlen);
        if (r < 0)
            return r;
    }
    b->n = 0;
    return 0;
}

/* Hand the filling batch to the workers, then write the one they had before. */
static int cp_dispatch(struct cpipe *p)
{
    struct cp_batch *prev = p->active, *b = p->filling;
    cp_wait_active(p);
    pthread_mutex_lock(&p->pool.mu);
    b->next = b->done = 0;
    p->active = b;
    pthread_cond_broadcast(&p->pool.work);
    pthread_mutex_unlock(&p->pool.mu);
    p->filling = b == &p->b[0] ? &p->b[1] : &p->b[0];
    return prev ? cp_write(p, prev) : 0;
}

uint8_t *cpipe_space(struct cpipe *p, size_t *cap)
{
    struct cp_batch *b = p->filling;
    *cap = (p->max_items - b->n) * p->cluster;
    return b->in + b->n * p->cluster;
}

int cpipe_fill(struct cpipe *p, uint64_t off, size_t n)
{
    struct cp_batch *b = p->filling;
    while (n > 0) {
        size_t len = n < p->cluster ? n : p->cluster;
        b->items[b->n++] = (struct cp_item){.off = off, .len = len};
        off += len;
        n -= len;
    }
    return b->n == p->max_items ? cp_dispatch(p) : 0;
}

int cpipe_drain(struct cpipe *p)
{
    int r = 0;
    if (p->filling->n > 0)
        r = cp_dispatch(p);
    if (r < 0)
        return r;
    cp_wait_active(p);
    struct cp_batch *b = p->active;
    pthread_mutex_lock(&p->pool.mu);
    p->active = NULL;
    pthread_mutex_unlock(&p->pool.mu);
    return b ? cp_write(p, b) : 0;
}

void cpipe_free(struct cpipe *p)
{
    if (!p)
        return;
    pool_fini(&p->pool);
    for (int i = 0; i < 2; i++) {
        free(p->b[i].in);
        free(p->b[i].out);
        free(p->b[i].items);
    }
    free(p);
}

struct cpipe *cpipe_new(struct img *dst, uint32_t cluster, size_t batch_bytes, unsigned threads,
                        bool zero_init)
{
    if (cluster == 0 || threads == 0)
        return NULL;
    if (threads > CPIPE_MAX_THREADS)
        threads = CPIPE_MAX_THREADS;
    struct cpipe *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->dst = dst;
    p->cluster = cluster;
    /* Room for any codec's worst case on incompressible data (deflate: a few bytes per
     * 16 KiB block; zlib's wrapper and zstd's frame: a few more). */
    p->zcap = (size_t)cluster + cluster / 16 + 1024;
    p->zero_init = zero_init;
    /* At least two clusters per worker, so the last one to finish a batch leaves the others
     * idle only briefly (with 2 MiB clusters that is already 8 MiB a batch). */
    p->max_items = batch_bytes / cluster;
    if (p->max_items < 2 * (size_t)threads)
        p->max_items = 2 * (size_t)threads;
    for (int i = 0; i < 2; i++) {
        p->b[i].in = malloc(p->max_items * p->cluster);
        p->b[i].out = malloc(p->max_items * p->zcap);
        p->b[i].items = calloc(p->max_items, sizeof *p->b[i].items);
        if (!p->b[i].in || !p->b[i].out || !p->b[i].items)
            goto fail;
    }
    p->filling = &p->b[0];
    pool_init(&p->pool);
    for (; p->pool.n < threads; p->pool.n++)
        if (pthread_create(&p->pool.th[p->pool.n], NULL, cp_worker, p) != 0)
            break;
    if (p->pool.n == 0) {
        cpipe_free(p);
        return NULL;
    }
    return p;

fail:
    for (int i = 0; i < 2; i++) {
        free(p->b[i].in);
        free(p->b[i].out);
        free(p->b[i].items);
    }
    free(p);
    return NULL;
}

/* ---- reading ahead ---- */

enum { RP_FREE, RP_PENDING, RP_READING, RP_DONE };

struct rp_slot {
    uint8_t *buf;
    uint8_t *zmap; /* the zero-ness of each -S piece of buf (zblock set) */
    uint64_t off;
    size_t len;
    int state, r;
    struct img_err err; /* the worker handle's message when r < 0 */
};

struct rp_worker {
    struct rpipe *p;
    struct img *h;
};

struct rpipe {
    size_t chunk, nslots;
    uint64_t zblock;      /* scan read chunks for zero pieces of this size (0: no) */
    struct rp_slot *slot; /* a ring: head is the next to hand out in order */
    size_t head, count;   /* count slots from head are queued (not FREE) */
    struct pool pool;
    struct rp_worker w[CPIPE_MAX_THREADS];
};

size_t rpipe_zero_map(uint64_t off, const uint8_t *buf, size_t len, uint64_t zblock, uint8_t *map)
{
    size_t i = 0, k = 0;
    while (i < len) {
        uint64_t abs = off + i;
        size_t blen = (size_t)(zblock - abs % zblock);
        if (blen > len - i)
            blen = len - i;
        map[k++] = io_is_zero(buf + i, blen);
        i += blen;
    }
    return k;
}

static void *rp_worker(void *arg)
{
    struct rp_worker *w = arg;
    struct rpipe *p = w->p;
    pthread_mutex_lock(&p->pool.mu);
    for (;;) {
        struct rp_slot *s = NULL;
        /* The pending slot nearest the head first, so the caller waits least. */
        for (size_t k = 0; !p->pool.stop && k < p->count && !s; k++) {
            struct rp_slot *c = &p->slot[(p->head + k) % p->nslots];
            if (c->state == RP_PENDING)
                s = c;
        }
        if (p->pool.stop)
            break;
        if (!s) {
            pthread_cond_wait(&p->pool.work, &p->pool.mu);
            continue;
        }
        s->state = RP_READING;
        pthread_mutex_unlock(&p->pool.mu);
        int r = img_read(w->h, s->off, s->buf, s->len);
        if (r == 0 && p->zblock)
            rpipe_zero_map(s->off, s->buf, s->len, p->zblock, s->zmap);
        pthread_mutex_lock(&p->pool.mu);
        s->r = r;
        if (r < 0) {
            s->err = w->h->err;
            if (!s->err.code)
                s->err.code = r;
        }
        s->state = RP_DONE;
        pthread_cond_broadcast(&p->pool.finished);
    }
    pthread_mutex_unlock(&p->pool.mu);
    return NULL;
}

/* Wait for the head slot (mu held) and hand it to put; frees it. */
static int rp_deliver(struct rpipe *p, rpipe_put_fn put, void *ctx, struct img_err *err)
{
    struct rp_slot *h = &p->slot[p->head];
    while (h->state != RP_DONE)
        pthread_cond_wait(&p->pool.finished, &p->pool.mu);
    pthread_mutex_unlock(&p->pool.mu);
    int r;
    if (h->r < 0) {
        *err = h->err;
        r = h->r;
    } else {
        r = put(ctx, h->off, h->buf, h->len, p->zblock ? h->zmap : NULL);
    }
    pthread_mutex_lock(&p->pool.mu);
    h->state = RP_FREE;
    p->head = (p->head + 1) % p->nslots;
    p->count--;
    return r;
}

/* After a failure: let reads in flight finish and drop everything queued (mu held). */
static void rp_abandon(struct rpipe *p)
{
    for (size_t k = 0; k < p->nslots; k++) {
        struct rp_slot *s = &p->slot[k];
        if (s->state == RP_PENDING)
            s->state = RP_FREE;
        while (s->state == RP_READING)
            pthread_cond_wait(&p->pool.finished, &p->pool.mu);
        s->state = RP_FREE;
    }
    p->head = p->count = 0;
}

int rpipe_push(struct rpipe *p, uint64_t off, uint64_t end, rpipe_put_fn put, void *ctx,
               struct img_err *err)
{
    int r = 0;
    pthread_mutex_lock(&p->pool.mu);
    while (off < end) {
        if (p->count == p->nslots && (r = rp_deliver(p, put, ctx, err)) < 0)
            break;
        struct rp_slot *s = &p->slot[(p->head + p->count) % p->nslots];
        uint64_t lim = off - off % p->chunk + p->chunk;
        s->off = off;
        s->len = (size_t)((lim < end ? lim : end) - off);
        s->state = RP_PENDING;
        p->count++;
        off += s->len;
        pthread_cond_signal(&p->pool.work);
    }
    if (r < 0)
        rp_abandon(p);
    pthread_mutex_unlock(&p->pool.mu);
    return r;
}

int rpipe_drain(struct rpipe *p, rpipe_put_fn put, void *ctx, struct img_err *err)
{
    int r = 0;
    pthread_mutex_lock(&p->pool.mu);
    while (p->count > 0 && (r = rp_deliver(p, put, ctx, err)) == 0)
        ;
    if (r < 0)
        rp_abandon(p);
    pthread_mutex_unlock(&p->pool.mu);
    return r;
}

int rpipe_copy(struct rpipe *p, uint64_t off, uint64_t end, rpipe_put_fn put, void *ctx,
               struct img_err *err)
{
    int r = rpipe_push(p, off, end, put, ctx, err);
    return r < 0 ? r : rpipe_drain(p, put, ctx, err);
}

void rpipe_free(struct rpipe *p)
{
    if (!p)
        return;
    pool_fini(&p->pool);
    for (unsigned i = 0; i < CPIPE_MAX_THREADS; i++)
        img_close(p->w[i].h);
    for (size_t k = 0; k < p->nslots; k++) {
        free(p->slot[k].buf);
        free(p->slot[k].zmap);
    }
    free(p->slot);
    free(p);
}

struct rpipe *rpipe_new(struct img **handles, unsigned n, size_t chunk, uint64_t zblock)
{
    struct rpipe *p = n && n <= CPIPE_MAX_THREADS && chunk ? calloc(1, sizeof *p) : NULL;
    if (!p) {
        for (unsigned i = 0; i < n; i++)
            img_close(handles[i]);
        return NULL;
    }
    for (unsigned i = 0; i < n; i++)
        p->w[i] = (struct rp_worker){.p = p, .h = handles[i]};
    pool_init(&p->pool);
    p->chunk = chunk;
    p->zblock = zblock;
    /* One being read per worker and as many read ahead, at least four: the writer then
     * finds the next chunk ready while it writes this one. At most RPIPE_RING_BYTES of
     * buffers (then fewer workers are busy at a time), so -m 64 stays small too. */
    p->nslots = 2 * (size_t)n < 4 ? 4 : 2 * (size_t)n;
    if (p->nslots > 4 && p->nslots * chunk > RPIPE_RING_BYTES)
        p->nslots = RPIPE_RING_BYTES / chunk < 4 ? 4 : RPIPE_RING_BYTES / chunk;
    p->slot = calloc(p->nslots, sizeof *p->slot);
    bool ok = p->slot != NULL;
    for (size_t k = 0; ok && k < p->nslots; k++) {
        ok = (p->slot[k].buf = malloc(chunk)) != NULL;
        if (ok && zblock)
            ok = (p->slot[k].zmap = malloc(chunk / zblock + 2)) != NULL;
    }
    for (; ok && p->pool.n < n; p->pool.n++)
        if (pthread_create(&p->pool.th[p->pool.n], NULL, rp_worker, &p->w[p->pool.n]) != 0)
            break;
    if (!ok || p->pool.n == 0) {
        if (!p->slot)
            p->nslots = 0;
        rpipe_free(p);
        return NULL;
    }
    return p;
}

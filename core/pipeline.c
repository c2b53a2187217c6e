/* pipeline.c: convert's compression pipeline (see pipeline.h).
 *
 * Two batches take turns: while the workers compress one, the caller reads into the other,
 * and before a batch is handed over, the one before it (fully compressed by then) is written
 * by the caller in guest order. Only the caller's thread ever calls the target's write slots;
 * the workers call nothing but compress_cluster and the zero test, on buffers they own.
 * Talks to: img.h (compress_cluster, write_compressed_z, write_zeroes), io.h (io_is_zero).
 */
#include "core/pipeline.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/img.h"
#include "core/io.h"

#define CPIPE_MAX_THREADS 64

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
    pthread_mutex_t mu;
    pthread_cond_t work, finished;
    bool stop;
    unsigned nthreads;
    pthread_t th[CPIPE_MAX_THREADS];
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
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->stop && !(p->active && p->active->next < p->active->n))
            pthread_cond_wait(&p->work, &p->mu);
        if (p->stop)
            break;
        struct cp_batch *b = p->active;
        size_t i = b->next++;
        pthread_mutex_unlock(&p->mu);
        cp_compress(p, b, i);
        pthread_mutex_lock(&p->mu);
        if (++b->done == b->n)
            pthread_cond_broadcast(&p->finished);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* Wait until the active batch is compressed; it stays active (the caller writes it). */
static void cp_wait_active(struct cpipe *p)
{
    pthread_mutex_lock(&p->mu);
    while (p->active && p->active->done < p->active->n)
        pthread_cond_wait(&p->finished, &p->mu);
    pthread_mutex_unlock(&p->mu);
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
    pthread_mutex_lock(&p->mu);
    b->next = b->done = 0;
    p->active = b;
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->mu);
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
    pthread_mutex_lock(&p->mu);
    p->active = NULL;
    pthread_mutex_unlock(&p->mu);
    return b ? cp_write(p, b) : 0;
}

void cpipe_free(struct cpipe *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->stop = true;
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->mu);
    for (unsigned i = 0; i < p->nthreads; i++)
        pthread_join(p->th[i], NULL);
    pthread_cond_destroy(&p->work);
    pthread_cond_destroy(&p->finished);
    pthread_mutex_destroy(&p->mu);
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
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->work, NULL);
    pthread_cond_init(&p->finished, NULL);
    for (; p->nthreads < threads; p->nthreads++)
        if (pthread_create(&p->th[p->nthreads], NULL, cp_worker, p) != 0)
            break;
    if (p->nthreads == 0) {
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

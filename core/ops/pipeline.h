/* SPDX-License-Identifier: GPL-2.0-or-later */
/* pipeline.h: convert's two pipelines.
 * cpipe (compression): the caller reads guest data straight into the current batch; worker
 * threads compress its clusters (the target driver's compress_cluster) while the caller reads
 * the next batch and writes the one before, in guest order, through img_write_compressed_z, so
 * the target sees the same sequence of writes as a one-thread convert and keeps its crash
 * order. rpipe (reading ahead): worker threads read (and scan for zeros) the chunks of the
 * source's data runs, each through its own handle, and the caller takes them in order.
 * Talks to: img.h (the images), pthreads. Used by core/ops/ops_convert.c.
 */
#ifndef DIMG_PIPELINE_H
#define DIMG_PIPELINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct img;
struct img_err;
struct cpipe;

/* Start threads workers for target dst (img_can_compress_split must hold) of cluster size
 * cluster; a batch holds about batch_bytes of guest data. zero_init: all-zero clusters are
 * skipped, else written with img_write_zeroes. NULL when out of memory or threads. */
struct cpipe *cpipe_new(struct img *dst, uint32_t cluster, size_t batch_bytes, unsigned threads,
                        bool zero_init);
/* Where to read the next guest bytes: *cap bytes (a multiple of the cluster size) follow. */
uint8_t *cpipe_space(struct cpipe *p, size_t *cap);
/* n bytes of guest data at off (cluster-aligned; n a multiple of the cluster size unless it
 * ends the image) were read into cpipe_space's buffer. May hand the batch to the workers and
 * write the previous one: a target error is returned (its message in dst->err). */
int cpipe_fill(struct cpipe *p, uint64_t off, size_t n);
/* Compress and write everything filled so far. */
int cpipe_drain(struct cpipe *p);
/* Stop the workers (what is not drained is dropped) and free everything. NULL is fine. */
void cpipe_free(struct cpipe *p);

/* The read side: worker threads read the chunks of a convert's data runs ahead of the
 * writer (and scan them for zero pieces), each through its own handle of the source; the
 * caller takes them in guest order. */
struct rpipe;

/* A chunk read ahead, handed over in guest order: zmap (NULL unless the pipe scans) holds the
 * zero-ness of each piece rpipe_zero_map cuts buf into. */
typedef int (*rpipe_put_fn)(void *ctx, uint64_t off, const uint8_t *buf, size_t len,
                            const uint8_t *zmap);

/* Take n opened read-only handles of the same source (closed by rpipe_free, also on failure);
 * chunk: bytes per read, a multiple of the caller's alignment; zblock: scan each chunk for
 * all-zero pieces of this size (0: no scan). NULL when out of memory. */
struct rpipe *rpipe_new(struct img **handles, unsigned n, size_t chunk, uint64_t zblock);
/* Queue [off, end) in chunks aligned to absolute multiples of the chunk size; while the ring
 * is full, hands the oldest chunks to put(ctx, ...) in order. A read error is returned with
 * its message in *err; a put error is returned as is. After an error nothing is queued. */
int rpipe_push(struct rpipe *p, uint64_t off, uint64_t end, rpipe_put_fn put, void *ctx,
               struct img_err *err);
/* Hand everything queued to put, in order; errors as rpipe_push. Nothing is in flight after. */
int rpipe_drain(struct rpipe *p, rpipe_put_fn put, void *ctx, struct img_err *err);
/* rpipe_push and rpipe_drain of one range. */
int rpipe_copy(struct rpipe *p, uint64_t off, uint64_t end, rpipe_put_fn put, void *ctx,
               struct img_err *err);
/* Cut [off, off+len) into pieces at absolute multiples of zblock and store in map whether
 * each piece of buf is all zeros (map holds len / zblock + 2 bytes). Returns the count. */
size_t rpipe_zero_map(uint64_t off, const uint8_t *buf, size_t len, uint64_t zblock, uint8_t *map);
void rpipe_free(struct rpipe *p);

/* Threads a convert uses when the request says 0: the online cores. */
unsigned cpipe_default_threads(void);

#endif

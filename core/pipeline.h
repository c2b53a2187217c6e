/* pipeline.h: the compression pipeline of convert. The caller reads guest data straight into
 * the pipeline's current batch; worker threads compress the batch's clusters (the target
 * driver's compress_cluster) while the caller reads the next batch and writes the one before,
 * in guest order, through img_write_compressed_z, so the target sees the same sequence of
 * writes as a one-thread convert and keeps its crash order.
 * Talks to: img.h (the target image), pthreads. Used by core/ops_convert.c.
 */
#ifndef DIMG_PIPELINE_H
#define DIMG_PIPELINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct img;
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

/* Threads a convert uses when the request says 0: the online cores. */
unsigned cpipe_default_threads(void);

#endif

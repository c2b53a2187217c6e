/* SPDX-License-Identifier: GPL-2.0-or-later */
/* compress.h: compression of one cluster: raw deflate (window 2^12, no header), the codec
 * qcow and qcow2 share for compressed clusters, zlib-wrapped deflate (RFC 1950), which vmdk's
 * streamOptimized grains use, and zstd frames (qcow2's compression_type=zstd).
 * Talks to: zlib; libdeflate (whole buffers, faster); libzstd. Used by formats/qcow.c,
 * formats/qcow2_alloc.c and formats/vmdk.c (also from convert's pipeline threads).
 */
#ifndef DIMG_COMPRESS_H
#define DIMG_COMPRESS_H

#include <stddef.h>
#include <stdint.h>

/* Compress in[0..len) into out (at most cap bytes, and fewer than len: a cluster that does not
 * shrink is stored as is). Returns the compressed length, or 0 when it does not fit or a
 * cheap estimate finds it cannot shrink by more than about 1% (random or compressed data). */
size_t zraw_deflate(const uint8_t *in, size_t len, uint8_t *out, size_t cap);
/* Inflate in[0..inlen) until out[0..outlen) is full; trailing input is ignored (compressed
 * streams are stored in whole sectors). 0 on success, -1 on a corrupt or short stream. */
int zraw_inflate(const uint8_t *in, size_t inlen, uint8_t *out, size_t outlen);

/* The same with the zlib header and checksum (RFC 1950); no shrink requirement (data the
 * estimate finds incompressible goes into stored blocks at once). The window
 * may be the whole 32 KiB (raw deflate above keeps qcow's declared 4 KiB). */
size_t zlib_deflate(const uint8_t *in, size_t len, uint8_t *out, size_t cap);
int zlib_inflate(const uint8_t *in, size_t inlen, uint8_t *out, size_t outlen);
/* A zlib stream that must inflate to exactly outlen bytes (cloop blocks, dmg chunks): -1 when
 * it is corrupt, ends short, or holds more (never written past out). */
int zlib_inflate_exact(const uint8_t *in, size_t inlen, uint8_t *out, size_t outlen);

/* A zstd frame of in[0..len) at the default level, fewer than len bytes (qcow2's
 * compression_type=zstd); 0 when it does not shrink. Each thread reuses one context. */
size_t zstd_compress(const uint8_t *in, size_t len, uint8_t *out, size_t cap);
/* Decode the zstd frame at the start of in (bytes after it are ignored) into exactly outlen
 * bytes: 0, -1 when it is corrupt or short, -2 when its window is larger than outlen needs
 * (refused, never allocated). Each thread reuses one context. */
int zstd_inflate(const uint8_t *in, size_t inlen, uint8_t *out, size_t outlen);

#endif

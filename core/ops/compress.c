/* SPDX-License-Identifier: GPL-2.0-or-later */
/* compress.c: deflate and zstd codecs for one cluster or grain (see compress.h), safe to call
 * from several threads (convert's pipeline). Talks to: zlib, libdeflate (compressing, and
 * inflating whole clusters and grains), libzstd. */
#include "core/ops/compress.h"

#include <libdeflate.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#define ZLIB_CONST /* next_in is const: the input is never written */
#include <zlib.h>
#include <zstd.h>
#include <zstd_errors.h>

/* libdeflate's levels, chosen against zlib's default level (what qemu-img writes), measured
 * per 64 KiB cluster with libdeflate 1.14 and zlib 1.2.13 on the bench's narrow-vocabulary
 * text (the worst case), source code and binaries. Raw deflate (qcow, qcow2): qemu-img's
 * zlib keeps a 4 KiB window, so level 4 stays within 2% of it on the text (level 3: 3% over),
 * is smaller on the others, and takes about a third of level 6's CPU. zlib wrapper (vmdk
 * grains): qemu-img's zlib has the whole 32 KiB window there, which level 4 trails by up to
 * 9% on the text; level 6 keeps that to 4% (and is smaller on binaries) at 2 to 3 times
 * zlib's speed. */
enum { DEFLATE_RAW_LEVEL = 4, DEFLATE_ZLIB_LEVEL = 6 };

/* Each thread keeps one deflate state per wrapper and resets it between clusters: setting one
 * up costs about as much as compressing a cluster of text (and churns 300 KiB of heap). */
struct zcache {
    z_stream z[2]; /* [0]: raw deflate, window 2^12; [1]: zlib wrapper, window 2^15 */
    bool ready[2];
    /* [0]: DEFLATE_RAW_LEVEL, [1]: DEFLATE_ZLIB_LEVEL, [2]: level 0 (stored blocks) */
    struct libdeflate_compressor *ld[3];
    struct libdeflate_decompressor *ldd; /* for inflating whole clusters and grains */
    ZSTD_CCtx *zstd;
    ZSTD_DCtx *zstd_d; /* for zstd_inflate */
};

static pthread_key_t zcache_key;
static pthread_once_t zcache_once = PTHREAD_ONCE_INIT;

static void zcache_free(void *arg)
{
    struct zcache *zc = arg;
    for (int i = 0; i < 2; i++)
        if (zc->ready[i])
            deflateEnd(&zc->z[i]);
    for (int i = 0; i < 3; i++)
        libdeflate_free_compressor(zc->ld[i]);
    libdeflate_free_decompressor(zc->ldd);
    ZSTD_freeCCtx(zc->zstd);
    ZSTD_freeDCtx(zc->zstd_d);
    free(zc);
}

static void zcache_key_make(void)
{
    if (pthread_key_create(&zcache_key, zcache_free) != 0)
        zcache_key = (pthread_key_t)-1; /* no key: every call sets up its own state */
}

/* The calling thread's cache, made on first use; NULL when out of memory. */
static struct zcache *zcache_mine(void)
{
    pthread_once(&zcache_once, zcache_key_make);
    if (zcache_key == (pthread_key_t)-1)
        return NULL;
    struct zcache *zc = pthread_getspecific(zcache_key);
    if (!zc) {
        if (!(zc = calloc(1, sizeof *zc)))
            return NULL;
        if (pthread_setspecific(zcache_key, zc) != 0) {
            free(zc);
            return NULL;
        }
    }
    return zc;
}

/* The calling thread's deflate state for wbits (-12 or 15), reset; NULL when out of memory
 * (the caller then uses a state of its own). */
static z_stream *zcache_get(int wbits)
{
    struct zcache *zc = zcache_mine();
    if (!zc)
        return NULL;
    int i = wbits > 0;
    if (!zc->ready[i]) {
        if (deflateInit2(&zc->z[i], Z_DEFAULT_COMPRESSION, Z_DEFLATED, wbits, 9,
                         Z_DEFAULT_STRATEGY) != Z_OK)
            return NULL;
        zc->ready[i] = true;
    } else if (deflateReset(&zc->z[i]) != Z_OK) {
        return NULL;
    }
    return &zc->z[i];
}

/* wbits: negative for raw deflate, 8..15 for the zlib wrapper (as zlib's windowBits). */
static size_t deflate_wb(const uint8_t *in, size_t len, uint8_t *out, size_t cap, int wbits)
{
    z_stream own, *z = zcache_get(wbits);
    if (!z) {
        z = &own;
        memset(z, 0, sizeof *z);
        if (deflateInit2(z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, wbits, 9, Z_DEFAULT_STRATEGY) !=
            Z_OK)
            return 0;
    }
    z->next_in = (const Bytef *)in;
    z->avail_in = (uInt)len;
    z->next_out = out;
    z->avail_out = (uInt)cap;
    int r = deflate(z, Z_FINISH);
    size_t n = cap - z->avail_out;
    if (z == &own)
        deflateEnd(z);
    return r == Z_STREAM_END ? n : 0;
}

/* The calling thread's libdeflate compressor of kind k (zcache.ld), or NULL (then zlib
 * serves). */
static struct libdeflate_compressor *ld_mine(int k)
{
    static const int level[3] = {DEFLATE_RAW_LEVEL, DEFLATE_ZLIB_LEVEL, 0};
    struct zcache *zc = zcache_mine();
    if (zc && !zc->ld[k])
        zc->ld[k] = libdeflate_alloc_compressor(level[k]);
    return zc ? zc->ld[k] : NULL;
}

/* ---- incompressible data ----
 * Random or already compressed data costs libdeflate as much CPU as text, only to come out no
 * smaller (a quarter of the bench's image). A cheap bound finds most of it first: whatever
 * deflate does, it saves at most what order-0 coding of the bytes saves (the entropy of their
 * histogram, taken per 4 KiB piece so that pieces with different byte ranges are not
 * averaged into a flat histogram) plus the bytes its back-references replace (found by a
 * one-probe hash of 4-byte sequences within deflate's 32 KiB window, the way LZ4 scans). When
 * that sum stays under HOPE_SLACK, the cluster is treated as incompressible: at worst the
 * output is HOPE_SLACK bytes larger for it than a full attempt would have made it (a
 * back-reference the one-probe hash misses can add to that; on random data it misses
 * nothing worth a byte). */
enum { HOPE_PIECE = 4096, HOPE_HASH_BITS = 12, HOPE_WINDOW = 32768 };

/* Bytes that may be saved, at most: max(len / 128, 64) (under 1% of a 64 KiB cluster). */
static size_t hope_slack(size_t len)
{
    return len / 128 > 64 ? len / 128 : 64;
}

static double hope_nlogn[HOPE_PIECE + 1]; /* n * log2(n) */
static pthread_once_t hope_once = PTHREAD_ONCE_INIT;

/* log2(x) for x >= 1 by squaring the mantissa (binary digits one at a time; no libm). */
static double hope_log2(double x)
{
    double r = 0, bit = 1;
    while (x >= 2) {
        x /= 2;
        r += 1;
    }
    for (int i = 0; i < 40; i++) {
        x *= x;
        bit /= 2;
        if (x >= 2) {
            x /= 2;
            r += bit;
        }
    }
    return r;
}

static void hope_table(void)
{
    for (int n = 1; n <= HOPE_PIECE; n++)
        hope_nlogn[n] = n * hope_log2(n);
}

static uint32_t hope_load32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* Is in[0..len) very likely not to shrink by more than hope_slack(len) bytes under deflate? */
static bool deflate_hopeless(const uint8_t *in, size_t len)
{
    if (len < 1024)
        return false; /* little to gain; the estimate is loose on so few bytes */
    pthread_once(&hope_once, hope_table);
    double slack = (double)hope_slack(len), saved = 0;
    for (size_t o = 0; o < len; o += HOPE_PIECE) {
        size_t n = len - o < HOPE_PIECE ? len - o : HOPE_PIECE;
        uint16_t h[4][256];
        memset(h, 0, sizeof h);
        const uint8_t *p = in + o;
        size_t i = 0;
        for (; i + 4 <= n; i += 4) {
            h[0][p[i]]++;
            h[1][p[i + 1]]++;
            h[2][p[i + 2]]++;
            h[3][p[i + 3]]++;
        }
        for (; i < n; i++)
            h[0][p[i]]++;
        double bits = hope_nlogn[n];
        for (int b = 0; b < 256; b++)
            bits -= hope_nlogn[h[0][b] + h[1][b] + h[2][b] + h[3][b]];
        saved += (double)n - bits / 8;
        if (saved >= slack)
            return false;
    }
    uint32_t table[1u << HOPE_HASH_BITS]; /* position + 1 of a recent 4-byte sequence; 0: none */
    memset(table, 0, sizeof table);
    /* Every position goes into the table, every fourth is looked up: a repeat of 7 bytes or
     * more holds a looked-up position (shorter ones save next to nothing in deflate). */
    size_t p = 0;
    while (p + 8 <= len) {
        for (size_t j = 1; j < 4; j++) {
            uint32_t w = hope_load32(in + p + j);
            table[(w * 2654435761u) >> (32 - HOPE_HASH_BITS)] = (uint32_t)(p + j + 1);
        }
        p += 4;
        uint32_t v = hope_load32(in + p);
        uint32_t k = (v * 2654435761u) >> (32 - HOPE_HASH_BITS);
        size_t c = table[k];
        table[k] = (uint32_t)(p + 1);
        if (c && p - (c - 1) <= HOPE_WINDOW && hope_load32(in + c - 1) == v) {
            size_t m = 4;
            while (p + m < len && in[c - 1 + m] == in[p + m])
                m++;
            saved += (double)m;
            if (saved >= slack)
                return false;
            p += m;
        }
    }
    return true;
}

size_t zraw_deflate(const uint8_t *in, size_t len, uint8_t *out, size_t cap)
{
    if (len == 0)
        return 0;
    if (cap > len - 1)
        cap = len - 1; /* must shrink, or the caller stores the cluster uncompressed */
    /* libdeflate's raw deflate is about 3 times faster than zlib at DEFLATE_RAW_LEVEL. Its
     * back-references reach up to 32 KiB, not the 4 KiB window QEMU's deflate uses; readers
     * that inflate a whole cluster into one buffer (QEMU with windowBits -12, dimg, systemd's
     * importer, VirtualBox) take them, since zlib checks distances against the output buffer
     * before the window. qemu-img reads and checks such images in the tests. */
    if (deflate_hopeless(in, len))
        return 0; /* stored as is, as a full attempt would most likely end */
    struct libdeflate_compressor *ld = ld_mine(0);
    if (ld)
        return libdeflate_deflate_compress(ld, in, len, out, cap);
    return deflate_wb(in, len, out, cap, -12);
}

size_t zlib_deflate(const uint8_t *in, size_t len, uint8_t *out, size_t cap)
{
    if (len == 0)
        return 0;
    /* libdeflate: standard zlib streams (32 KiB window, as RFC 1950 allows every reader to
     * expect), at DEFLATE_ZLIB_LEVEL about as small as zlib's default level and 2 to 3 times
     * faster. A grain is stored compressed even when it does not shrink: incompressible
     * data goes into stored blocks at once (level 0). */
    struct libdeflate_compressor *ld = ld_mine(deflate_hopeless(in, len) ? 2 : 1);
    size_t n = ld ? libdeflate_zlib_compress(ld, in, len, out, cap) : 0;
    return n ? n : deflate_wb(in, len, out, cap, 15);
}

size_t zstd_compress(const uint8_t *in, size_t len, uint8_t *out, size_t cap)
{
    if (len == 0)
        return 0;
    if (cap > len - 1)
        cap = len - 1;
    /* ZSTD_compress would set up (and free) a context of about a megabyte per cluster. */
    struct zcache *zc = zcache_mine();
    if (zc && !zc->zstd)
        zc->zstd = ZSTD_createCCtx();
    size_t n = zc && zc->zstd ? ZSTD_compressCCtx(zc->zstd, out, cap, in, len, ZSTD_CLEVEL_DEFAULT)
                              : ZSTD_compress(out, cap, in, len, ZSTD_CLEVEL_DEFAULT);
    return ZSTD_isError(n) ? 0 : n;
}

/* libdeflate inflates a whole cluster 2 to 3 times faster than zlib. It answers alone only
 * when the stream ends exactly at the end of out (every check passed, the same bytes zlib
 * makes); anything else (a corrupt or short stream, one that goes on past out, a zlib trailer
 * cut off) is left to zlib, whose verdict stays the reference. */
static bool inflate_ld(const uint8_t *in, size_t inlen, uint8_t *out, size_t outlen, int wbits)
{
    struct zcache *zc = zcache_mine();
    if (zc && !zc->ldd)
        zc->ldd = libdeflate_alloc_decompressor();
    if (!zc || !zc->ldd)
        return false;
    size_t used, made;
    enum libdeflate_result r =
        wbits < 0 ? libdeflate_deflate_decompress_ex(zc->ldd, in, inlen, out, outlen, &used, &made)
                  : libdeflate_zlib_decompress_ex(zc->ldd, in, inlen, out, outlen, &used, &made);
    return r == LIBDEFLATE_SUCCESS && made == outlen;
}

/* exact: the stream must end exactly at outlen (libdeflate's success already means that). */
static int inflate_wb(const uint8_t *in, size_t inlen, uint8_t *out, size_t outlen, int wbits,
                      bool exact)
{
    if (inflate_ld(in, inlen, out, outlen, wbits))
        return 0;
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit2(&z, wbits) != Z_OK)
        return -1;
    z.next_in = (const Bytef *)in;
    z.avail_in = (uInt)inlen;
    z.next_out = out;
    z.avail_out = (uInt)outlen;
    int r = inflate(&z, Z_FINISH);
    size_t left = z.avail_out;
    inflateEnd(&z);
    /* The stream may be followed by the next cluster's bytes: a full output is success
     * (Z_BUF_ERROR with the output full: more data than outlen, which exact refuses). */
    if (exact)
        return r == Z_STREAM_END && left == 0 ? 0 : -1;
    return ((r == Z_STREAM_END || r == Z_BUF_ERROR || r == Z_OK) && left == 0) ? 0 : -1;
}

int zraw_inflate(const uint8_t *in, size_t inlen, uint8_t *out, size_t outlen)
{
    return inflate_wb(in, inlen, out, outlen, -12, false);
}

int zlib_inflate(const uint8_t *in, size_t inlen, uint8_t *out, size_t outlen)
{
    return inflate_wb(in, inlen, out, outlen, 15, false);
}

int zlib_inflate_exact(const uint8_t *in, size_t inlen, uint8_t *out, size_t outlen)
{
    return inflate_wb(in, inlen, out, outlen, 15, true);
}

/* The smallest zstd window log covering n bytes (zstd's minimum is 2^10). */
static int zstd_wlog_for(size_t n)
{
    int w = 10;
    while (w < 31 && ((size_t)1 << w) < n)
        w++;
    return w;
}

int zstd_inflate(const uint8_t *in, size_t inlen, uint8_t *out, size_t outlen)
{
    struct zcache *zc = zcache_mine();
    ZSTD_DCtx *own = NULL, *d = zc ? zc->zstd_d : NULL;
    if (!d) {
        d = ZSTD_createDCtx();
        if (!d)
            return -1;
        if (zc)
            zc->zstd_d = d;
        else
            own = d;
    }
    /* A frame may declare any window up to 2^31, and the decoder allocates it: a cluster
     * needs no window larger than itself, so anything more is refused (-2), not allocated. */
    ZSTD_DCtx_reset(d, ZSTD_reset_session_and_parameters);
    if (ZSTD_isError(ZSTD_DCtx_setParameter(d, ZSTD_d_windowLogMax, zstd_wlog_for(outlen)))) {
        ZSTD_freeDCtx(own);
        return -1;
    }
    ZSTD_inBuffer ib = {in, inlen, 0};
    ZSTD_outBuffer ob = {out, outlen, 0};
    int ret = 0;
    while (ob.pos < outlen) {
        size_t r = ZSTD_decompressStream(d, &ob, &ib);
        if (ZSTD_isError(r)) {
            ret = ZSTD_getErrorCode(r) == ZSTD_error_frameParameter_windowTooLarge ? -2 : -1;
            break;
        }
        if (r == 0 || ib.pos == ib.size)
            break; /* the frame ended, or the whole input is used: short unless ob is full */
    }
    ZSTD_freeDCtx(own);
    if (ret == 0 && ob.pos != outlen)
        ret = -1;
    return ret;
}

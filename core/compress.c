/* compress.c: deflate codecs for one cluster or grain (see compress.h), safe to call from
 * several threads (convert's pipeline). Talks to: zlib, libdeflate (zlib-wrapped grains;
 * inflating whole clusters and grains). */
#include "core/compress.h"

#include <libdeflate.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

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
    struct libdeflate_compressor *ld[2]; /* [0]: DEFLATE_RAW_LEVEL, [1]: DEFLATE_ZLIB_LEVEL */
    struct libdeflate_decompressor *ldd; /* for inflating whole clusters and grains */
};

static pthread_key_t zcache_key;
static pthread_once_t zcache_once = PTHREAD_ONCE_INIT;

static void zcache_free(void *arg)
{
    struct zcache *zc = arg;
    for (int i = 0; i < 2; i++)
        if (zc->ready[i])
            deflateEnd(&zc->z[i]);
    for (int i = 0; i < 2; i++)
        libdeflate_free_compressor(zc->ld[i]);
    libdeflate_free_decompressor(zc->ldd);
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
    z->next_in = (Bytef *)in;
    z->avail_in = (uInt)len;
    z->next_out = out;
    z->avail_out = (uInt)cap;
    int r = deflate(z, Z_FINISH);
    size_t n = cap - z->avail_out;
    if (z == &own)
        deflateEnd(z);
    return r == Z_STREAM_END ? n : 0;
}

/* The calling thread's libdeflate compressor for the zlib wrapper (zlib) or raw deflate, or
 * NULL (then zlib serves). */
static struct libdeflate_compressor *ld_mine(bool zlib)
{
    struct zcache *zc = zcache_mine();
    if (zc && !zc->ld[zlib])
        zc->ld[zlib] = libdeflate_alloc_compressor(zlib ? DEFLATE_ZLIB_LEVEL : DEFLATE_RAW_LEVEL);
    return zc ? zc->ld[zlib] : NULL;
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
    struct libdeflate_compressor *ld = ld_mine(false);
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
     * faster. */
    struct libdeflate_compressor *ld = ld_mine(true);
    size_t n = ld ? libdeflate_zlib_compress(ld, in, len, out, cap) : 0;
    return n ? n : deflate_wb(in, len, out, cap, 15);
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

static int inflate_wb(const uint8_t *in, size_t inlen, uint8_t *out, size_t outlen, int wbits)
{
    if (inflate_ld(in, inlen, out, outlen, wbits))
        return 0;
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit2(&z, wbits) != Z_OK)
        return -1;
    z.next_in = (Bytef *)in;
    z.avail_in = (uInt)inlen;
    z.next_out = out;
    z.avail_out = (uInt)outlen;
    int r = inflate(&z, Z_FINISH);
    size_t left = z.avail_out;
    inflateEnd(&z);
    /* The stream may be followed by the next cluster's bytes: a full output is success. */
    return ((r == Z_STREAM_END || r == Z_BUF_ERROR || r == Z_OK) && left == 0) ? 0 : -1;
}

int zraw_inflate(const uint8_t *in, size_t inlen, uint8_t *out, size_t outlen)
{
    return inflate_wb(in, inlen, out, outlen, -12);
}

int zlib_inflate(const uint8_t *in, size_t inlen, uint8_t *out, size_t outlen)
{
    return inflate_wb(in, inlen, out, outlen, 15);
}

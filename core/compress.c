/* compress.c: deflate codecs for one cluster or grain (see compress.h). Talks to: zlib. */
#include "core/compress.h"

#include <string.h>
#include <zlib.h>

/* wbits: negative for raw deflate, 8..15 for the zlib wrapper (as zlib's windowBits). */
static size_t deflate_wb(const uint8_t *in, size_t len, uint8_t *out, size_t cap, int wbits)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, wbits, 9, Z_DEFAULT_STRATEGY) != Z_OK)
        return 0;
    z.next_in = (Bytef *)in;
    z.avail_in = (uInt)len;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    int r = deflate(&z, Z_FINISH);
    size_t n = cap - z.avail_out;
    deflateEnd(&z);
    return r == Z_STREAM_END ? n : 0;
}

size_t zraw_deflate(const uint8_t *in, size_t len, uint8_t *out, size_t cap)
{
    if (len == 0)
        return 0;
    if (cap > len - 1)
        cap = len - 1; /* must shrink, or the caller stores the cluster uncompressed */
    return deflate_wb(in, len, out, cap, -12);
}

size_t zlib_deflate(const uint8_t *in, size_t len, uint8_t *out, size_t cap)
{
    return len ? deflate_wb(in, len, out, cap, 15) : 0;
}

static int inflate_wb(const uint8_t *in, size_t inlen, uint8_t *out, size_t outlen, int wbits)
{
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

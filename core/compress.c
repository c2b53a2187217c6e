/* compress.c: raw-deflate codec for one cluster (see compress.h). Talks to: zlib. */
#include "core/compress.h"

#include <string.h>
#include <zlib.h>

size_t zraw_deflate(const uint8_t *in, size_t len, uint8_t *out, size_t cap)
{
    if (len == 0)
        return 0;
    if (cap > len - 1)
        cap = len - 1; /* must shrink, or the caller stores the cluster uncompressed */
    z_stream z;
    memset(&z, 0, sizeof z);
    if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -12, 9, Z_DEFAULT_STRATEGY) != Z_OK)
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

int zraw_inflate(const uint8_t *in, size_t inlen, uint8_t *out, size_t outlen)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit2(&z, -12) != Z_OK)
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

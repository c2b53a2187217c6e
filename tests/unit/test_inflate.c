/* SPDX-License-Identifier: GPL-2.0-or-later */
/* test_inflate.c: zraw_inflate / zlib_inflate (core/ops/compress.h), which try libdeflate first,
 * give zlib's verdict and zlib's bytes: on good streams, streams with trailing bytes, streams
 * longer or shorter than the output, cut off streams and thousands of corrupted ones. The
 * reference is a plain one-call zlib inflate, the decoder they used before. */
#include "testutil.h"

#include <string.h>
#define ZLIB_CONST /* next_in is const: the input is never written */
#include <zlib.h>

#include "core/ops/compress.h"

#define CL 65536

/* The reference: one inflate call with Z_FINISH; a full output is success. */
static int ref_inflate(const uint8_t *in, size_t inlen, uint8_t *out, size_t outlen, int wbits)
{
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
    return ((r == Z_STREAM_END || r == Z_BUF_ERROR || r == Z_OK) && left == 0) ? 0 : -1;
}

/* A cluster of words with runs, so the stream has long matches and several blocks. */
static void fill_text(uint8_t *b, size_t n, unsigned seed)
{
    static const char *w[] = {"disk ", "image ", "cluster ", "grain ", "the ", "of ", "\n"};
    size_t i = 0;
    while (i < n) {
        seed = seed * 1103515245u + 12345u;
        const char *s = w[(seed >> 16) % 7];
        for (; *s && i < n; s++)
            b[i++] = (uint8_t)*s;
        if ((seed >> 8) % 17 == 0)
            for (unsigned k = 0; k < 300 && i < n; k++)
                b[i++] = (uint8_t)(seed >> 24);
    }
}

/* Both decoders on (in, inlen) into outlen bytes: the same verdict and, on success, the same
 * bytes. Returns the verdict. */
static int check_same(const uint8_t *in, size_t inlen, size_t outlen, bool zlib_wrapped)
{
    static uint8_t a[2 * CL], b[2 * CL];
    memset(a, 0xa5, sizeof a);
    memset(b, 0x5a, sizeof b);
    int ra = zlib_wrapped ? zlib_inflate(in, inlen, a, outlen) : zraw_inflate(in, inlen, a, outlen);
    int rb = ref_inflate(in, inlen, b, outlen, zlib_wrapped ? 15 : -12);
    assert_int_equal(ra, rb);
    if (ra == 0)
        assert_memory_equal(a, b, outlen);
    return ra;
}

static void run_cases(bool zlib_wrapped)
{
    static uint8_t data[CL], z[2 * CL + 1024];
    fill_text(data, CL, 7);
    size_t zn =
        zlib_wrapped ? zlib_deflate(data, CL, z, sizeof z) : zraw_deflate(data, CL, z, sizeof z);
    assert_true(zn > 100 && zn < CL / 2);
    /* Whole sectors, as the formats store it: trailing garbage after the stream. */
    for (size_t k = zn; k < zn + 512; k++)
        z[k] = (uint8_t)(k * 31);
    assert_int_equal(check_same(z, zn, CL, zlib_wrapped), 0);
    assert_int_equal(check_same(z, zn + 512, CL, zlib_wrapped), 0);
    static uint8_t got[CL];
    assert_int_equal(
        zlib_wrapped ? zlib_inflate(z, zn + 512, got, CL) : zraw_inflate(z, zn + 512, got, CL), 0);
    assert_memory_equal(got, data, CL);
    /* The stream makes more than the output holds (a full output is success), or less. */
    assert_int_equal(check_same(z, zn, CL / 2, zlib_wrapped), 0);
    assert_int_equal(check_same(z, zn, CL + 1, zlib_wrapped), -1);
    /* Cut off anywhere, also inside the zlib trailer. */
    for (size_t cut = 0; cut < zn; cut += cut < 16 || cut > zn - 16 ? 1 : 97)
        check_same(z, cut, CL, zlib_wrapped);
    /* One byte changed, at many places and values. */
    unsigned seed = 3;
    for (int t = 0; t < 3000; t++) {
        static uint8_t bad[2 * CL + 1024];
        memcpy(bad, z, zn + 512);
        seed = seed * 1103515245u + 12345u;
        size_t at = (seed >> 8) % zn;
        bad[at] ^= (uint8_t)(1u << (seed % 8)) | (t & 1 ? 0x80 : 0);
        check_same(bad, zn + 512, CL, zlib_wrapped);
    }
}

static void test_raw_deflate(void **state)
{
    (void)state;
    run_cases(false);
}

static void test_zlib_wrapped(void **state)
{
    (void)state;
    run_cases(true);
}

/* Stored (uncompressed) blocks and an empty input, made by zlib itself. */
static void test_stored_and_empty(void **state)
{
    (void)state;
    static uint8_t data[CL], z[CL + 1024];
    for (size_t i = 0; i < CL; i++)
        data[i] = (uint8_t)(i * 2654435761u >> 13);
    z_stream s;
    memset(&s, 0, sizeof s);
    assert_int_equal(deflateInit2(&s, 0, Z_DEFLATED, -12, 8, Z_DEFAULT_STRATEGY), Z_OK);
    s.next_in = data;
    s.avail_in = CL;
    s.next_out = z;
    s.avail_out = sizeof z;
    assert_int_equal(deflate(&s, Z_FINISH), Z_STREAM_END);
    size_t zn = sizeof z - s.avail_out;
    deflateEnd(&s);
    assert_int_equal(check_same(z, zn, CL, false), 0);
    assert_int_equal(check_same(z, 0, CL, false), -1);
    assert_int_equal(check_same(z, 0, CL, true), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_raw_deflate),
        cmocka_unit_test(test_zlib_wrapped),
        cmocka_unit_test(test_stored_and_empty),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

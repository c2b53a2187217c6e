/* SPDX-License-Identifier: GPL-2.0-or-later */
/* test_crypto.c: core/crypto/crypto.c against published known answers (NIST SP 800-38A AES, IEEE
 * 1619 XTS vectors 4 and 5, RFC 6070 / RFC 7914 PBKDF2, FIPS 180 SHA-256), the LUKS1 AF
 * splitter against its definition, and the sector I/O helpers (nothing in clear on disk). */
#include "testutil.h"

#include "core/base/bytes.h"
#include "core/base/cancel.h"
#include "core/block/src.h"
#include "core/crypto/crypto.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

static size_t unhex(const char *h, uint8_t *out)
{
    size_t n = 0;
    for (; h[0] && h[1]; h += 2) {
        unsigned v;
        sscanf(h, "%2x", &v);
        out[n++] = (uint8_t)v;
    }
    return n;
}

static struct crypto_cipher *mk(enum crypto_mode m, enum crypto_ivgen iv, const char *ivh,
                                const uint8_t *key, size_t kl)
{
    struct crypto_cipher *c = NULL;
    struct img_err e = {0};
    int r = crypto_cipher_new(&c, m, iv, ivh, key, kl, &e);
    if (r < 0)
        fail_msg("%s", e.msg);
    return c;
}

static const char nist_key128[] = "2b7e151628aed2a6abf7158809cf4f3c";
static const char nist_key256[] =
    "603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4";
static const char nist_p1[] = "6bc1bee22e409f96e93d7e117393172a";

static void test_aes_ecb_kat(void **state)
{
    uint8_t key[32], p[16], sec[512], want[16];
    unhex(nist_key128, key);
    unhex(nist_p1, p);
    for (int i = 0; i < 32; i++)
        memcpy(sec + 16 * i, p, 16);
    struct crypto_cipher *c = mk(CRYPTO_MODE_ECB, CRYPTO_IV_NONE, NULL, key, 16);
    assert_int_equal(crypto_cipher_run(c, true, 0, sec, 512), 0);
    unhex("3ad77bb40d7a3660a89ecaf32466ef97", want); /* SP 800-38A F.1.1 */
    assert_memory_equal(sec, want, 16);
    assert_memory_equal(sec + 496, want, 16);
    assert_int_equal(crypto_cipher_run(c, false, 0, sec, 512), 0);
    assert_memory_equal(sec + 16, p, 16);
    crypto_cipher_free(c);

    unhex(nist_key256, key);
    c = mk(CRYPTO_MODE_ECB, CRYPTO_IV_NONE, NULL, key, 32);
    memcpy(sec, p, 16);
    assert_int_equal(crypto_cipher_run(c, true, 0, sec, 512), 0);
    unhex("f3eed1bdb5d2a03c064b5a7e3db181f8", want); /* F.1.5 */
    assert_memory_equal(sec, want, 16);
    crypto_cipher_free(c);
    /* Not a multiple of the sector size. */
    c = mk(CRYPTO_MODE_ECB, CRYPTO_IV_NONE, NULL, key, 32);
    assert_int_equal(crypto_cipher_run(c, true, 0, sec, 100), -EINVAL);
    crypto_cipher_free(c);
}

/* CBC of one sector from the (KAT-checked) ECB primitive: C_i = E(P_i ^ C_{i-1}), C_-1 = iv. */
static void cbc_ref(struct crypto_cipher *ecb, const uint8_t iv[16], const uint8_t *p, uint8_t *out)
{
    uint8_t prev[16], blk[512];
    memcpy(prev, iv, 16);
    for (int i = 0; i < 32; i++) {
        memset(blk, 0, sizeof blk);
        for (int j = 0; j < 16; j++)
            blk[j] = p[16 * i + j] ^ prev[j];
        assert_int_equal(crypto_cipher_run(ecb, true, 0, blk, 512), 0);
        memcpy(out + 16 * i, blk, 16);
        memcpy(prev, blk, 16);
    }
}

static void test_aes_cbc_plain64_and_essiv(void **state)
{
    uint8_t key[32], pt[1024], ct[1024], want[512], iv[16], salt[32];
    unhex(nist_key256, key);
    tu_pattern(pt, sizeof pt, 0, 7);
    unhex(nist_p1, pt); /* sector 0 has IV 0: its first block is the ECB answer */
    struct crypto_cipher *ecb = mk(CRYPTO_MODE_ECB, CRYPTO_IV_NONE, NULL, key, 32);
    struct crypto_cipher *c = mk(CRYPTO_MODE_CBC, CRYPTO_IV_PLAIN64, NULL, key, 32);
    memcpy(ct, pt, sizeof ct);
    assert_int_equal(crypto_cipher_run(c, true, 0, ct, sizeof ct), 0);
    unhex("f3eed1bdb5d2a03c064b5a7e3db181f8", want);
    assert_memory_equal(ct, want, 16);
    memset(iv, 0, 16);
    cbc_ref(ecb, iv, pt, want);
    assert_memory_equal(ct, want, 512);
    le64_store(iv, 1); /* plain64: the second sector's IV is its number, little-endian */
    cbc_ref(ecb, iv, pt + 512, want);
    assert_memory_equal(ct + 512, want, 512);
    /* A large sector number keeps its high bits in plain64 and loses them in plain. */
    memcpy(ct, pt, 512);
    assert_int_equal(crypto_cipher_run(c, true, 0x100000002ull, ct, 512), 0);
    le64_store(iv, 0x100000002ull);
    cbc_ref(ecb, iv, pt, want);
    assert_memory_equal(ct, want, 512);
    assert_int_equal(crypto_cipher_run(c, false, 0x100000002ull, ct, 512), 0);
    assert_memory_equal(ct, pt, 512);
    crypto_cipher_free(c);
    c = mk(CRYPTO_MODE_CBC, CRYPTO_IV_PLAIN, NULL, key, 32);
    memcpy(ct, pt, 512);
    assert_int_equal(crypto_cipher_run(c, true, 0x100000002ull, ct, 512), 0);
    memset(iv, 0, 16);
    le64_store(iv, 2);
    cbc_ref(ecb, iv, pt, want);
    assert_memory_equal(ct, want, 512);
    crypto_cipher_free(c);

    /* essiv:sha256: IV = AES-256-ECB under sha256(key) of the plain64 block. */
    c = mk(CRYPTO_MODE_CBC, CRYPTO_IV_ESSIV, "sha256", key, 32);
    assert_int_equal(crypto_hash("sha256", key, 32, salt), 0);
    struct crypto_cipher *ess = mk(CRYPTO_MODE_ECB, CRYPTO_IV_NONE, NULL, salt, 32);
    uint8_t ivs[512] = {0};
    le64_store(ivs, 5);
    assert_int_equal(crypto_cipher_run(ess, true, 0, ivs, 512), 0);
    memcpy(ct, pt, 512);
    assert_int_equal(crypto_cipher_run(c, true, 5, ct, 512), 0);
    cbc_ref(ecb, ivs, pt, want);
    assert_memory_equal(ct, want, 512);
    crypto_cipher_free(c);
    crypto_cipher_free(ess);
    crypto_cipher_free(ecb);
    /* sha1 gives no AES key size for essiv; unknown key sizes are refused. */
    struct img_err e = {0};
    assert_int_equal(crypto_cipher_new(&c, CRYPTO_MODE_CBC, CRYPTO_IV_ESSIV, "sha1", key, 32, &e),
                     -ENOTSUP);
    assert_int_equal(crypto_cipher_new(&c, CRYPTO_MODE_CBC, CRYPTO_IV_PLAIN64, NULL, key, 20, &e),
                     -ENOTSUP);
}

static const char ieee4_ct[] = "27a7479befa1d476489f308cd4cfa6e2a96e4bbe3208ff25287dd3819616e89c"
                               "c78cf7f5e543445f8333d8fa7f56000005279fa5d8b5e4ad40e736ddb4d35412"
                               "328063fd2aab53e5ea1e0a9f332500a5df9487d07a5c92cc512c8866c7e860ce"
                               "93fdf166a24912b422976146ae20ce846bb7dc9ba94a767aaef20c0d61ad0265"
                               "5ea92dc4c4e41a8952c651d33174be51a10c421110e6d81588ede82103a252d8"
                               "a750e8768defffed9122810aaeb99f9172af82b604dc4b8e51bcb08235a6f434"
                               "1332e4ca60482a4ba1a03b3e65008fc5da76b70bf1690db4eae29c5f1badd03c"
                               "5ccf2a55d705ddcd86d449511ceb7ec30bf12b1fa35b913f9f747a8afd1b130e"
                               "94bff94effd01a91735ca1726acd0b197c4e5b03393697e126826fb6bbde8ecc"
                               "1e08298516e2c9ed03ff3c1b7860f6de76d4cecd94c8119855ef5297ca67e9f3"
                               "e7ff72b1e99785ca0a7e7720c5b36dc6d72cac9574c8cbbc2f801e23e56fd344"
                               "b07f22154beba0f08ce8891e643ed995c94d9a69c9f1b5f499027a78572aeebd"
                               "74d20cc39881c213ee770b1010e4bea718846977ae119f7a023ab58cca0ad752"
                               "afe656bb3c17256a9f6e9bf19fdd5a38fc82bbe872c5539edb609ef4f79c203e"
                               "bb140f2e583cb2ad15b4aa5b655016a8449277dbd477ef2c8d6c017db738b18d"
                               "eb4a427d1923ce3ff262735779a418f20a282df920147beabe421ee5319d0568";

static void test_xts_ieee1619(void **state)
{
    uint8_t key[32], buf[512], want[512];
    unhex("27182818284590452353602874713526"
          "31415926535897932384626433832795",
          key);
    for (int i = 0; i < 512; i++)
        buf[i] = (uint8_t)i;
    struct crypto_cipher *c = mk(CRYPTO_MODE_XTS, CRYPTO_IV_PLAIN64, NULL, key, 32);
    assert_int_equal(crypto_cipher_run(c, true, 0, buf, 512), 0); /* vector 4: unit 0 */
    unhex(ieee4_ct, want);
    assert_memory_equal(buf, want, 512);
    assert_int_equal(crypto_cipher_run(c, true, 1, buf, 512), 0); /* vector 5: unit 1 */
    unhex("264d3ca8512194fec312c8c9891f279fefdd608d0c027b60483a3fa811d65ee5", want);
    assert_memory_equal(buf, want, 32);
    assert_int_equal(crypto_cipher_run(c, false, 1, buf, 512), 0);
    assert_int_equal(crypto_cipher_run(c, false, 0, buf, 512), 0);
    for (int i = 0; i < 512; i++)
        assert_int_equal(buf[i], (uint8_t)i);
    crypto_cipher_free(c);
    /* Equal halves are refused (a weak XTS key). */
    memcpy(key + 16, key, 16);
    struct img_err e = {0};
    assert_int_equal(crypto_cipher_new(&c, CRYPTO_MODE_XTS, CRYPTO_IV_PLAIN64, NULL, key, 32, &e),
                     -EINVAL);
}

static void test_hash_pbkdf2_kat(void **state)
{
    uint8_t out[64], want[64];
    assert_int_equal(crypto_hash_len("sha256"), 32);
    assert_int_equal(crypto_hash_len("sha1"), 20);
    assert_int_equal(crypto_hash_len("no-such-hash"), 0);
    assert_int_equal(crypto_hash("sha256", "abc", 3, out), 0);
    unhex("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", want);
    assert_memory_equal(out, want, 32);
    static const struct {
        const char *hash, *pw;
        uint32_t iter;
        size_t len;
        const char *dk;
    } kat[] = {
        /* RFC 6070 */
        {"sha1", "password", 1, 20, "0c60c80f961f0e71f3a9b524af6012062fe037a6"},
        {"sha1", "password", 2, 20, "ea6c014dc72d6f8ccd1ed92ace1d41f0d8de8957"},
        {"sha1", "password", 4096, 20, "4b007901b765489abead49d926f721d065a429c1"},
        {"sha256", "password", 1, 32,
         "120fb6cffcf8b32c43e7225256c4f837a86548c92ccc35480805987cb70be17b"},
        /* RFC 7914 section 11 */
        {"sha256", "passwd", 1, 64,
         "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc"
         "49ca9cccf179b645991664b39d77ef317c71b845b1e30bd509112041d3a19783"},
    };
    const uint8_t *salt = (const uint8_t *)"salt", *pw = (const uint8_t *)"password";
    for (size_t i = 0; i < sizeof kat / sizeof kat[0]; i++) {
        assert_int_equal(crypto_pbkdf2(kat[i].hash, (const uint8_t *)kat[i].pw, strlen(kat[i].pw),
                                       salt, 4, kat[i].iter, out, kat[i].len),
                         0);
        unhex(kat[i].dk, want);
        assert_memory_equal(out, want, kat[i].len);
    }
    assert_int_equal(crypto_pbkdf2("sha256", pw, 8, salt, 4, 0, out, 32), -EINVAL);
    assert_int_equal(crypto_pbkdf2("md-none", pw, 8, salt, 4, 1, out, 32), -EINVAL);
    assert_true(crypto_pbkdf2_iters_for("sha256", 32, 10) >= 1);
}

/* crypto_pbkdf2 is written out (so that it can be cancelled): it equals OpenSSL's own
 * PKCS5_PBKDF2_HMAC for empty, short, block-sized and longer-than-a-block passwords (hashed
 * first), several hashes, and outputs of several blocks with a short tail. */
static void test_pbkdf2_vs_openssl(void **state)
{
    static const char *const hashes[] = {"sha1", "sha256", "sha512", "sha224"};
    static const size_t pwlens[] = {0, 1, 20, 64, 65, 128, 129, 300};
    static const size_t outlens[] = {1, 20, 32, 33, 64, 100};
    static const uint32_t iters[] = {1, 2, 4095, 4096, 4097};
    uint8_t pw[300], salt[32], got[100], want[100];
    for (size_t i = 0; i < sizeof pw; i++)
        pw[i] = (uint8_t)(i * 7 + 1);
    for (size_t i = 0; i < sizeof salt; i++)
        salt[i] = (uint8_t)(i * 13 + 5);
    for (size_t h = 0; h < 4; h++)
        for (size_t p = 0; p < sizeof pwlens / sizeof pwlens[0]; p++)
            for (size_t o = 0; o < sizeof outlens / sizeof outlens[0]; o++)
                for (size_t it = 0; it < sizeof iters / sizeof iters[0]; it += o ? 4 : 1) {
                    const EVP_MD *md = EVP_get_digestbyname(hashes[h]);
                    assert_int_equal(PKCS5_PBKDF2_HMAC((const char *)pw, (int)pwlens[p], salt, 32,
                                                       (int)iters[it], md, (int)outlens[o], want),
                                     1);
                    assert_int_equal(crypto_pbkdf2(hashes[h], pw, pwlens[p], salt, 32, iters[it],
                                                   got, outlens[o]),
                                     0);
                    assert_memory_equal(got, want, outlens[o]);
                }
}

/* The thread's cancel flag stops a long run between batches of iterations: -ECANCELED, and
 * nothing of a partial key is left in the output. */
static void test_pbkdf2_cancel(void **state)
{
    atomic_int flag = 1;
    uint8_t out[32];
    memset(out, 0xaa, sizeof out);
    cancel_attach(&flag);
    int r = crypto_pbkdf2("sha256", (const uint8_t *)"pw", 2, (const uint8_t *)"salt", 4, 1u << 30,
                          out, sizeof out);
    cancel_attach(NULL);
    assert_int_equal(r, -ECANCELED);
    for (size_t i = 0; i < sizeof out; i++)
        assert_int_equal(out[i], 0);
    /* Not cancelled: the same call with a few iterations works. */
    assert_int_equal(crypto_pbkdf2("sha256", (const uint8_t *)"pw", 2, (const uint8_t *)"salt", 4,
                                   3, out, sizeof out),
                     0);
}

/* The LUKS1 splitter: merge of a split gives the key back; a two-stripe merge follows the
 * definition (hash of big-endian block index + block, the last block shortened). */
static void test_af(void **state)
{
    uint8_t key[40], mat[40 * 4000], back[40], s[80], d[40], h[32];
    tu_pattern(key, sizeof key, 0, 3);
    assert_int_equal(crypto_af_split("sha256", key, 40, 4000, mat), 0);
    assert_int_equal(crypto_af_merge("sha256", mat, 40, 4000, back), 0);
    assert_memory_equal(back, key, 40);
    mat[17] ^= 1; /* any damaged stripe changes the key */
    assert_int_equal(crypto_af_merge("sha256", mat, 40, 4000, back), 0);
    assert_memory_not_equal(back, key, 40);

    tu_pattern(s, sizeof s, 0, 9);
    uint8_t in[4 + 32];
    be32_store(in, 0);
    memcpy(in + 4, s, 32);
    crypto_hash("sha256", in, 36, h);
    memcpy(d, h, 32);
    be32_store(in, 1);
    memcpy(in + 4, s + 32, 8);
    crypto_hash("sha256", in, 12, h);
    memcpy(d + 32, h, 8);
    for (int i = 0; i < 40; i++)
        d[i] ^= s[40 + i];
    assert_int_equal(crypto_af_merge("sha256", s, 40, 2, back), 0);
    assert_memory_equal(back, d, 40);
    /* One stripe is the key itself. */
    assert_int_equal(crypto_af_split("sha1", key, 32, 1, mat), 0);
    assert_memory_equal(mat, key, 32);
    assert_int_equal(crypto_af_merge("sha1", key, 80, 2, back), -EINVAL);
}

/* Unaligned writes through crypto_pwrite: read back equal; the file holds only ciphertext,
 * sector by sector under the IV of the iv offset. */
static void test_sector_io(void **state)
{
    uint8_t key[32], data[5000], back[5000], file[8192], want[8192];
    tu_pattern(key, sizeof key, 0, 1);
    struct crypto_cipher *c = mk(CRYPTO_MODE_XTS, CRYPTO_IV_PLAIN64, NULL, key, 32);
    const char *p = tu_path("sector.img");
    int fd = open(p, O_RDWR | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    memset(want, 0, sizeof want);
    memcpy(file, want, sizeof file);
    assert_int_equal(crypto_cipher_run(c, true, 100, file, sizeof file), 0);
    assert_int_equal(pwrite(fd, file, sizeof file, 0), (ssize_t)sizeof file);
    tu_pattern(data, sizeof data, 0, 5);
    /* host 1000 <-> iv offset 51200 + 1000 (sector 100 + 1): same in-sector position. */
    struct img_src *src;
    struct img_err err;
    assert_int_equal(src_from_fd(dup(fd), p, SRC_OPEN_RW, &src, &err), 0);
    assert_int_equal(crypto_pwrite(c, src, data, sizeof data, 1000, 51200 + 1000), 0);
    memcpy(want + 1000, data, sizeof data);
    assert_int_equal(crypto_pread(c, src, back, sizeof data, 1000, 51200 + 1000), 0);
    assert_memory_equal(back, data, sizeof data);
    assert_int_equal(pread(fd, file, sizeof file, 0), (ssize_t)sizeof file);
    assert_memory_not_equal(file + 1024, data + 24, 512);
    assert_int_equal(crypto_cipher_run(c, false, 100, file, sizeof file), 0);
    assert_memory_equal(file, want, sizeof file);
    /* Whole sectors read straight into the caller's buffer, decrypted there. */
    assert_int_equal(crypto_pread(c, src, back, 2048, 1024, 51200 + 1024), 0);
    assert_memory_equal(back, want + 1024, 2048);
    assert_int_equal(crypto_pwrite(c, src, data, 10, 3, 4), -EINVAL);
    src_close(src);
    close(fd);
    crypto_cipher_free(c);
}

static void test_secure_buffers(void **state)
{
    uint8_t *k = crypto_secure_alloc(100);
    assert_non_null(k);
    for (int i = 0; i < 100; i++)
        assert_int_equal(k[i], 0);
    memset(k, 0xaa, 100);
    crypto_secure_free(k, 100);
    uint8_t a[16] = {1}, b[16] = {1};
    assert_true(crypto_equal(a, b, 16));
    b[15] = 2;
    assert_false(crypto_equal(a, b, 16));
    crypto_wipe(b, 16);
    assert_int_equal(b[15], 0);
    uint8_t r1[32] = {0}, r2[32] = {0};
    assert_int_equal(crypto_random(r1, 32), 0);
    assert_int_equal(crypto_random(r2, 32), 0);
    assert_memory_not_equal(r1, r2, 32);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_aes_ecb_kat),
        cmocka_unit_test(test_aes_cbc_plain64_and_essiv),
        cmocka_unit_test(test_xts_ieee1619),
        cmocka_unit_test(test_hash_pbkdf2_kat),
        cmocka_unit_test(test_pbkdf2_vs_openssl),
        cmocka_unit_test(test_pbkdf2_cancel),
        cmocka_unit_test(test_af),
        cmocka_unit_test(test_sector_io),
        cmocka_unit_test(test_secure_buffers),
    };
    return cmocka_run_group_tests(tests, NULL, tu_teardown);
}

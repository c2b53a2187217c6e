/* SPDX-License-Identifier: GPL-2.0-or-later */
/* crypto.c: sector ciphers, IV generators, PBKDF2, the LUKS1 anti-forensic splitter, random
 * bytes and locked key buffers, all on OpenSSL's libcrypto (EVP interfaces).
 *
 * A sector cipher keeps two EVP contexts (encrypt and decrypt: CBC decryption needs its own
 * key schedule) and re-arms only the IV for each 512-byte sector. Callers: core/crypto/luks.c and
 * the qcow/qcow2 drivers (through crypto_pread/crypto_pwrite, which do their I/O on the image's
 * byte source, core/block/src.h). Nothing here prints.
 */
#include "core/crypto/crypto.h"
#include "core/base/cancel.h"
#include "core/base/bytes.h"
#include "core/block/src.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#define CRYPTO_IO_CHUNK (64u * 1024) /* bytes en/decrypted per bounced read/write */

struct crypto_cipher {
    enum crypto_mode mode;
    enum crypto_ivgen ivgen;
    EVP_CIPHER_CTX *enc, *dec;
    EVP_CIPHER_CTX *essiv; /* AES-ECB under hash(key), for CRYPTO_IV_ESSIV */
};

static const EVP_CIPHER *aes_cipher(enum crypto_mode mode, size_t keylen)
{
    switch (mode) {
    case CRYPTO_MODE_ECB:
        return keylen == 16   ? EVP_aes_128_ecb()
               : keylen == 24 ? EVP_aes_192_ecb()
               : keylen == 32 ? EVP_aes_256_ecb()
                              : NULL;
    case CRYPTO_MODE_CBC:
        return keylen == 16   ? EVP_aes_128_cbc()
               : keylen == 24 ? EVP_aes_192_cbc()
               : keylen == 32 ? EVP_aes_256_cbc()
                              : NULL;
    case CRYPTO_MODE_XTS: /* OpenSSL has no AES-192-XTS */
        return keylen == 32 ? EVP_aes_128_xts() : keylen == 64 ? EVP_aes_256_xts() : NULL;
    }
    return NULL;
}

static EVP_CIPHER_CTX *ctx_new(const EVP_CIPHER *ciph, const uint8_t *key, int enc)
{
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    if (!c)
        return NULL;
    if (EVP_CipherInit_ex(c, ciph, NULL, key, NULL, enc) != 1) {
        EVP_CIPHER_CTX_free(c);
        return NULL;
    }
    EVP_CIPHER_CTX_set_padding(c, 0);
    return c;
}

int crypto_cipher_new(struct crypto_cipher **out, enum crypto_mode mode, enum crypto_ivgen ivgen,
                      const char *ivhash, const uint8_t *key, size_t keylen, struct img_err *err)
{
    *out = NULL;
    const EVP_CIPHER *ciph = aes_cipher(mode, keylen);
    if (!ciph)
        return err_set(err, -ENOTSUP, "AES with a %zu-byte key is not supported in this mode",
                       keylen);
    if (mode == CRYPTO_MODE_XTS && !memcmp(key, key + keylen / 2, keylen / 2))
        return err_set(err, -EINVAL, "XTS key halves are equal");
    if ((mode == CRYPTO_MODE_ECB) != (ivgen == CRYPTO_IV_NONE))
        return err_set(err, -EINVAL, "ECB takes no IV; CBC and XTS need one");
    struct crypto_cipher *c = calloc(1, sizeof *c);
    if (!c)
        return err_set(err, -ENOMEM, "out of memory");
    c->mode = mode;
    c->ivgen = ivgen;
    c->enc = ctx_new(ciph, key, 1);
    c->dec = ctx_new(ciph, key, 0);
    if (!c->enc || !c->dec) {
        crypto_cipher_free(c);
        return err_set(err, -ENOMEM, "cannot set up the AES cipher");
    }
    if (ivgen == CRYPTO_IV_ESSIV) {
        uint8_t salt[CRYPTO_MAX_DIGEST];
        size_t hl = ivhash ? crypto_hash_len(ivhash) : 0;
        const EVP_CIPHER *ec = aes_cipher(CRYPTO_MODE_ECB, hl);
        if (!ec) {
            crypto_cipher_free(c);
            return err_set(err, -ENOTSUP, "essiv hash '%s' does not give an AES key size",
                           ivhash ? ivhash : "");
        }
        crypto_hash(ivhash, key, keylen, salt);
        c->essiv = ctx_new(ec, salt, 1);
        crypto_wipe(salt, sizeof salt);
        if (!c->essiv) {
            crypto_cipher_free(c);
            return err_set(err, -ENOMEM, "cannot set up the ESSIV cipher");
        }
    }
    *out = c;
    return 0;
}

void crypto_cipher_free(struct crypto_cipher *c)
{
    if (!c)
        return;
    EVP_CIPHER_CTX_free(c->enc); /* the free cleanses the key schedule */
    EVP_CIPHER_CTX_free(c->dec);
    EVP_CIPHER_CTX_free(c->essiv);
    free(c);
}

static int make_iv(struct crypto_cipher *c, uint64_t sector, uint8_t iv[16])
{
    memset(iv, 0, 16);
    if (c->ivgen == CRYPTO_IV_PLAIN)
        le32_store(iv, (uint32_t)sector);
    else
        le64_store(iv, sector);
    if (c->ivgen == CRYPTO_IV_ESSIV) {
        int n = 0;
        if (EVP_EncryptUpdate(c->essiv, iv, &n, iv, 16) != 1 || n != 16)
            return -EIO;
    }
    return 0;
}

int crypto_cipher_run(struct crypto_cipher *c, bool encrypt, uint64_t sector, uint8_t *buf,
                      size_t len)
{
    EVP_CIPHER_CTX *x = encrypt ? c->enc : c->dec;
    if (len % CRYPTO_SECTOR)
        return -EINVAL;
    for (size_t o = 0; o < len; o += CRYPTO_SECTOR, sector++) {
        uint8_t iv[16];
        int n = 0;
        if (c->mode != CRYPTO_MODE_ECB &&
            (make_iv(c, sector, iv) < 0 || EVP_CipherInit_ex(x, NULL, NULL, NULL, iv, -1) != 1))
            return -EIO;
        if (EVP_CipherUpdate(x, buf + o, &n, buf + o, CRYPTO_SECTOR) != 1 || n != CRYPTO_SECTOR)
            return -EIO;
    }
    return 0;
}

/* A read of whole sectors lands in the caller's buffer and is decrypted there: no bounce
 * buffer and no copy on the common (aligned) path. */
static int sector_read_direct(struct crypto_cipher *c, struct img_src *src, uint8_t *buf,
                              size_t len, uint64_t host, uint64_t iv_off)
{
    int r = src_pread_zero(src, buf, len, host);
    if (r == 0)
        r = crypto_cipher_run(c, false, iv_off / CRYPTO_SECTOR, buf, len);
    if (r < 0)
        crypto_wipe(buf, len); /* never hand back half-decrypted bytes */
    return r;
}

/* Both directions of the sector I/O: whole chunks of sectors around [host, host+len). */
static int sector_io(struct crypto_cipher *c, struct img_src *src, uint8_t *rbuf,
                     const uint8_t *wbuf, size_t len, uint64_t host, uint64_t iv_off)
{
    if (host % CRYPTO_SECTOR != iv_off % CRYPTO_SECTOR)
        return -EINVAL;
    if (!wbuf && host % CRYPTO_SECTOR == 0 && len % CRYPTO_SECTOR == 0)
        return sector_read_direct(c, src, rbuf, len, host, iv_off);
    uint8_t *tmp = malloc(CRYPTO_IO_CHUNK);
    if (!tmp)
        return -ENOMEM;
    int r = 0;
    size_t done = 0;
    while (r == 0 && done < len) {
        size_t skip = (host + done) % CRYPTO_SECTOR;
        size_t n = len - done < CRYPTO_IO_CHUNK - skip ? len - done : CRYPTO_IO_CHUNK - skip;
        size_t span = (skip + n + CRYPTO_SECTOR - 1) / CRYPTO_SECTOR * CRYPTO_SECTOR;
        uint64_t start = host + done - skip, sector = (iv_off + done - skip) / CRYPTO_SECTOR;
        /* Reads, and writes of a partial first or last sector, need the current plaintext. */
        if (!wbuf || skip || (skip + n) % CRYPTO_SECTOR) {
            r = src_pread_zero(src, tmp, span, start);
            if (r == 0)
                r = crypto_cipher_run(c, false, sector, tmp, span);
        }
        if (r == 0 && !wbuf) {
            memcpy(rbuf + done, tmp + skip, n);
        } else if (r == 0) {
            memcpy(tmp + skip, wbuf + done, n);
            r = crypto_cipher_run(c, true, sector, tmp, span);
            if (r == 0)
                r = src_pwrite(src, tmp, span, start);
        }
        done += n;
    }
    crypto_wipe(tmp, CRYPTO_IO_CHUNK); /* it held plaintext */
    free(tmp);
    return r;
}

int crypto_pread(struct crypto_cipher *c, struct img_src *src, void *buf, size_t len, uint64_t host,
                 uint64_t iv_off)
{
    return sector_io(c, src, buf, NULL, len, host, iv_off);
}

int crypto_pwrite(struct crypto_cipher *c, struct img_src *src, const void *buf, size_t len,
                  uint64_t host, uint64_t iv_off)
{
    return sector_io(c, src, NULL, buf, len, host, iv_off);
}

size_t crypto_hash_len(const char *hash)
{
    const EVP_MD *md = EVP_get_digestbyname(hash);
    int n = md ? EVP_MD_get_size(md) : 0;
    return n > 0 && (size_t)n <= CRYPTO_MAX_DIGEST ? (size_t)n : 0;
}

int crypto_hash(const char *hash, const void *buf, size_t len, uint8_t *out)
{
    const EVP_MD *md = EVP_get_digestbyname(hash);
    unsigned n = 0;
    if (!md || EVP_Digest(buf, len, out, &n, md, NULL) != 1)
        return -EINVAL;
    return 0;
}

/* One PBKDF2 block T_i = U_1 ^ ... ^ U_iter into t (mdlen bytes), from the keyed inner and
 * outer HMAC states; the thread's cancel flag is polled every 4096 iterations, so that a
 * 2^25-iteration run stops within milliseconds. */
static int pbkdf2_block(EVP_MD_CTX *in, EVP_MD_CTX *out, EVP_MD_CTX *w, size_t mdlen,
                        const uint8_t *salt, size_t saltlen, uint32_t index, uint32_t iter,
                        uint8_t *t)
{
    uint8_t u[EVP_MAX_MD_SIZE], be[4];
    be32_store(be, index);
    /* U_1 = HMAC(P, S || INT(i)); U_j = HMAC(P, U_{j-1}). */
    if (EVP_MD_CTX_copy_ex(w, in) != 1 || EVP_DigestUpdate(w, salt, saltlen) != 1 ||
        EVP_DigestUpdate(w, be, 4) != 1 || EVP_DigestFinal_ex(w, u, NULL) != 1 ||
        EVP_MD_CTX_copy_ex(w, out) != 1 || EVP_DigestUpdate(w, u, mdlen) != 1 ||
        EVP_DigestFinal_ex(w, u, NULL) != 1)
        return -ENOMEM;
    memcpy(t, u, mdlen);
    for (uint32_t j = 1; j < iter; j++) {
        if ((j & 4095) == 0 && cancel_requested())
            return -ECANCELED;
        if (EVP_MD_CTX_copy_ex(w, in) != 1 || EVP_DigestUpdate(w, u, mdlen) != 1 ||
            EVP_DigestFinal_ex(w, u, NULL) != 1 || EVP_MD_CTX_copy_ex(w, out) != 1 ||
            EVP_DigestUpdate(w, u, mdlen) != 1 || EVP_DigestFinal_ex(w, u, NULL) != 1)
            return -ENOMEM;
        for (size_t k = 0; k < mdlen; k++)
            t[k] ^= u[k];
    }
    crypto_wipe(u, sizeof u);
    return 0;
}

/* PBKDF2-HMAC (RFC 8018) written out rather than PKCS5_PBKDF2_HMAC, which cannot be stopped:
 * the same two digest-state copies per iteration that OpenSSL's HMAC makes, and a cancel
 * check (core/base/cancel.h) between batches of iterations. */
int crypto_pbkdf2(const char *hash, const uint8_t *pw, size_t pwlen, const uint8_t *salt,
                  size_t saltlen, uint32_t iter, uint8_t *out, size_t outlen)
{
    const EVP_MD *md = EVP_get_digestbyname(hash);
    if (!md || iter == 0 || iter > INT_MAX || pwlen > INT_MAX || saltlen > INT_MAX ||
        outlen > INT_MAX)
        return -EINVAL;
    size_t mdlen = (size_t)EVP_MD_get_size(md), blk = (size_t)EVP_MD_get_block_size(md);
    uint8_t key[256], pad[256], t[EVP_MAX_MD_SIZE];
    if (mdlen == 0 || mdlen > EVP_MAX_MD_SIZE || blk == 0 || blk > sizeof key)
        return -EINVAL;
    EVP_MD_CTX *in = EVP_MD_CTX_new(), *o = EVP_MD_CTX_new(), *w = EVP_MD_CTX_new();
    int r = in && o && w ? 0 : -ENOMEM;
    /* The HMAC key: the password, hashed first when longer than a block, padded with zeros. */
    memset(key, 0, sizeof key);
    if (r == 0 && pwlen > blk)
        r = EVP_Digest(pw, pwlen, key, NULL, md, NULL) == 1 ? 0 : -ENOMEM;
    else if (r == 0 && pwlen)
        memcpy(key, pw, pwlen);
    for (size_t k = 0; k < blk; k++)
        pad[k] = key[k] ^ 0x36;
    if (r == 0 && (EVP_DigestInit_ex(in, md, NULL) != 1 || EVP_DigestUpdate(in, pad, blk) != 1))
        r = -ENOMEM;
    for (size_t k = 0; k < blk; k++)
        pad[k] = key[k] ^ 0x5c;
    if (r == 0 && (EVP_DigestInit_ex(o, md, NULL) != 1 || EVP_DigestUpdate(o, pad, blk) != 1))
        r = -ENOMEM;
    for (uint32_t i = 1; r == 0 && (size_t)(i - 1) * mdlen < outlen; i++) {
        size_t at = (size_t)(i - 1) * mdlen, n = outlen - at < mdlen ? outlen - at : mdlen;
        r = pbkdf2_block(in, o, w, mdlen, salt, saltlen, i, iter, t);
        if (r == 0)
            memcpy(out + at, t, n);
    }
    crypto_wipe(key, sizeof key);
    crypto_wipe(pad, sizeof pad);
    crypto_wipe(t, sizeof t);
    EVP_MD_CTX_free(in);
    EVP_MD_CTX_free(o);
    EVP_MD_CTX_free(w);
    if (r < 0)
        crypto_wipe(out, outlen);
    return r;
}

static uint64_t cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t crypto_pbkdf2_iters_for(const char *hash, size_t outlen, uint64_t ms)
{
    uint8_t out[CRYPTO_MAX_KEY], salt[32] = {0};
    static const uint8_t pw[] = "dimg pbkdf2 benchmark";
    if (outlen > sizeof out)
        outlen = sizeof out;
    /* Double the count until one run takes at least 50 ms, then scale. */
    for (uint32_t it = 1u << 10; it < (1u << 30); it <<= 1) {
        uint64_t t0 = cpu_ns();
        if (crypto_pbkdf2(hash, pw, sizeof pw - 1, salt, sizeof salt, it, out, outlen) < 0)
            return 1;
        uint64_t dt = cpu_ns() - t0;
        if (dt >= 50000000ull) {
            long double v = (long double)it * (long double)ms * 1e6L / (long double)dt;
            return v < 1 ? 1 : v > (long double)UINT32_MAX ? UINT32_MAX : (uint64_t)v;
        }
    }
    return UINT32_MAX;
}

/* LUKS1 diffusion: each digest-sized block (the last one may be shorter) is replaced by the
 * hash of its big-endian block index followed by the block. */
static int af_diffuse(const EVP_MD *md, uint8_t *buf, size_t len)
{
    size_t dl = (size_t)EVP_MD_get_size(md);
    uint8_t d[EVP_MAX_MD_SIZE];
    EVP_MD_CTX *x = EVP_MD_CTX_new();
    if (!x)
        return -ENOMEM;
    int r = 0;
    for (size_t i = 0; i * dl < len && r == 0; i++) {
        size_t n = len - i * dl < dl ? len - i * dl : dl;
        uint8_t be[4];
        be32_store(be, (uint32_t)i);
        if (EVP_DigestInit_ex(x, md, NULL) != 1 || EVP_DigestUpdate(x, be, 4) != 1 ||
            EVP_DigestUpdate(x, buf + i * dl, n) != 1 || EVP_DigestFinal_ex(x, d, NULL) != 1)
            r = -EIO;
        else
            memcpy(buf + i * dl, d, n);
    }
    EVP_MD_CTX_free(x);
    crypto_wipe(d, sizeof d);
    return r;
}

static void xor_into(uint8_t *d, const uint8_t *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        d[i] ^= s[i];
}

/* The chained diffusion over the first stripes-1 stripes into d (len bytes); with fill, those
 * stripes are first filled with random bytes (splitting). */
static int af_chain(const char *hash, const uint8_t *in, uint8_t *fill, size_t len,
                    uint32_t stripes, uint8_t *d)
{
    const EVP_MD *md = EVP_get_digestbyname(hash);
    if (!md || len > CRYPTO_MAX_KEY || stripes == 0)
        return -EINVAL;
    memset(d, 0, len);
    int r = 0;
    for (uint32_t i = 0; i + 1 < stripes && r == 0; i++) {
        if (fill && (r = crypto_random(fill + (size_t)i * len, len)) < 0)
            break;
        xor_into(d, in + (size_t)i * len, len);
        r = af_diffuse(md, d, len);
    }
    return r;
}

int crypto_af_split(const char *hash, const uint8_t *key, size_t len, uint32_t stripes,
                    uint8_t *out)
{
    uint8_t d[CRYPTO_MAX_KEY];
    int r = af_chain(hash, out, out, len, stripes, d);
    for (size_t j = 0; r == 0 && j < len; j++)
        out[(size_t)(stripes - 1) * len + j] = d[j] ^ key[j];
    crypto_wipe(d, sizeof d);
    return r;
}

int crypto_af_merge(const char *hash, const uint8_t *in, size_t len, uint32_t stripes, uint8_t *key)
{
    uint8_t d[CRYPTO_MAX_KEY];
    int r = af_chain(hash, in, NULL, len, stripes, d);
    for (size_t j = 0; r == 0 && j < len; j++)
        key[j] = d[j] ^ in[(size_t)(stripes - 1) * len + j];
    crypto_wipe(d, sizeof d);
    return r;
}

int crypto_random(void *buf, size_t len)
{
    if (len > INT_MAX || RAND_bytes(buf, (int)len) != 1)
        return -EIO;
    return 0;
}

void crypto_wipe(void *p, size_t len)
{
    if (p && len)
        OPENSSL_cleanse(p, len);
}

bool crypto_equal(const void *a, const void *b, size_t len)
{
    return CRYPTO_memcmp(a, b, len) == 0;
}

static size_t page_round(size_t len)
{
    long pg = sysconf(_SC_PAGESIZE);
    size_t p = pg > 0 ? (size_t)pg : 4096;
    return (len + p - 1) / p * p;
}

void *crypto_secure_alloc(size_t len)
{
    size_t n = page_round(len ? len : 1);
    void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    (void)madvise(p, n, MADV_DONTDUMP); /* best effort: older kernels lack it */
    (void)mlock(p, n);                  /* best effort: RLIMIT_MEMLOCK may be small */
    return p;
}

void crypto_secure_free(void *p, size_t len)
{
    if (!p)
        return;
    size_t n = page_round(len ? len : 1);
    OPENSSL_cleanse(p, n);
    munlock(p, n);
    munmap(p, n);
}

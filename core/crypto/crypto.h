/* SPDX-License-Identifier: GPL-2.0-or-later */
/* crypto.h: the cryptography disk images need, on top of OpenSSL's libcrypto.
 *
 * Sector ciphers (AES-128/192/256 in CBC or XTS, and ECB for the ESSIV helper) with the IV
 * generators dm-crypt and QEMU name plain, plain64 and essiv; PBKDF2-HMAC; the LUKS1
 * anti-forensic splitter; random bytes; and "secure" buffers (mmap'd, mlock'd where the
 * limits allow, excluded from core dumps, wiped on free). Used by core/crypto/luks.c and the qcow /
 * qcow2 drivers. No printing; failures return -errno (and a message where an err is given).
 */
#ifndef DIMG_CRYPTO_H
#define DIMG_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/base/err.h"

#define CRYPTO_SECTOR 512u    /* every disk cipher here works on 512-byte sectors */
#define CRYPTO_MAX_KEY 64u    /* AES-256-XTS */
#define CRYPTO_MAX_DIGEST 64u /* SHA-512 */

enum crypto_mode { CRYPTO_MODE_ECB, CRYPTO_MODE_CBC, CRYPTO_MODE_XTS };
enum crypto_ivgen { CRYPTO_IV_NONE, CRYPTO_IV_PLAIN, CRYPTO_IV_PLAIN64, CRYPTO_IV_ESSIV };

struct crypto_cipher;

/* A sector cipher: AES with keylen bytes of key (16/24/32; doubled for XTS), the mode and
 * the IV generator (essiv hashes the key with ivhash, e.g. "sha256", and encrypts the plain64
 * IV with AES-ECB under that digest). Returns 0 or -EINVAL/-ENOTSUP/-ENOMEM with err set. */
int crypto_cipher_new(struct crypto_cipher **out, enum crypto_mode mode, enum crypto_ivgen ivgen,
                      const char *ivhash, const uint8_t *key, size_t keylen, struct img_err *err);
void crypto_cipher_free(struct crypto_cipher *c);
/* En/decrypt len bytes (a multiple of 512) in place; sector is the IV number of the first
 * sector, incremented per 512 bytes. 0 or -EIO. */
int crypto_cipher_run(struct crypto_cipher *c, bool encrypt, uint64_t sector, uint8_t *buf,
                      size_t len);
/* Read/write len bytes of an encrypted device at host offset host of the byte source src
 * (core/block/src.h). iv_off is the byte
 * offset the IV counts from (the guest offset for legacy qcow AES, the host offset for LUKS);
 * host and iv_off must lie at the same position within their sector. Partial sectors are
 * read, decrypted, merged and re-encrypted; the data never reaches the file in clear.
 * Reads past the end of the file see zeros (then decrypted, as QEMU does); a read of whole
 * sectors is decrypted in buf itself. 0 or -errno (src_errmsg(src) says more). */
struct img_src;
int crypto_pread(struct crypto_cipher *c, struct img_src *src, void *buf, size_t len, uint64_t host,
                 uint64_t iv_off);
int crypto_pwrite(struct crypto_cipher *c, struct img_src *src, const void *buf, size_t len,
                  uint64_t host, uint64_t iv_off);

/* Digest size of a hash name ("sha1", "sha256", ...), or 0 when unknown. */
size_t crypto_hash_len(const char *hash);
/* One-shot digest of buf into out (crypto_hash_len bytes). 0 or -EINVAL. */
int crypto_hash(const char *hash, const void *buf, size_t len, uint8_t *out);
/* PBKDF2-HMAC-hash. 0, -EINVAL (unknown hash, zero iterations) or -ENOMEM. */
int crypto_pbkdf2(const char *hash, const uint8_t *pw, size_t pwlen, const uint8_t *salt,
                  size_t saltlen, uint32_t iter, uint8_t *out, size_t outlen);
/* PBKDF2 iterations this machine runs in ms milliseconds (measured; at least 1). */
uint64_t crypto_pbkdf2_iters_for(const char *hash, size_t outlen, uint64_t ms);

/* LUKS1 anti-forensic split of len bytes of key into stripes * len bytes of material (random
 * stripes chained through the hash diffusion), and the merge back. 0 or -errno. */
int crypto_af_split(const char *hash, const uint8_t *key, size_t len, uint32_t stripes,
                    uint8_t *out);
int crypto_af_merge(const char *hash, const uint8_t *in, size_t len, uint32_t stripes,
                    uint8_t *key);

/* Cryptographically strong random bytes. 0 or -EIO. */
int crypto_random(void *buf, size_t len);
/* Wipe memory in a way the compiler keeps. */
void crypto_wipe(void *p, size_t len);
/* Constant-time comparison; true when equal. */
bool crypto_equal(const void *a, const void *b, size_t len);
/* Zeroed buffer for key material: page-backed, mlock'd where RLIMIT_MEMLOCK allows, kept out
 * of core dumps. NULL on failure. Free with crypto_secure_free (wipes first). */
void *crypto_secure_alloc(size_t len);
void crypto_secure_free(void *p, size_t len);

#endif

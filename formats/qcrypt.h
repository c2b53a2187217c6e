/* SPDX-License-Identifier: GPL-2.0-or-later */
/* qcrypt.h: encryption helpers shared by the qcow and qcow2 drivers (legacy AES and the
 * password plumbing). Internal to formats/. */
#ifndef DIMG_QCRYPT_H
#define DIMG_QCRYPT_H

#include "core/crypto/crypto.h"
#include "core/block/driver.h"

/* The password for path in a locked buffer (IMG_SECRET_MAX bytes; free with
 * qcrypt_password_free). fmt prefixes the error ("qcow2: encrypted image: ..."). */
int qcrypt_password(const char *fmt, const char *path, uint8_t **pw, size_t *len,
                    struct img_err *err);
void qcrypt_password_free(uint8_t *pw);
/* Legacy qcow/qcow2 AES (crypt_method 1): the password's bytes up to the first NUL,
 * truncated or zero-padded to 16, as the key of AES-128-CBC with plain64 IVs. */
int qcrypt_legacy_cipher(const char *fmt, const char *path, struct crypto_cipher **out,
                         struct img_err *err);
/* Take the create options that ask for encryption ("encryption" and "encrypt.format";
 * "encrypt.key-secret" is accepted and ignored: the password comes from the secret provider).
 * *method: 0 none, 1 AES, 2 LUKS (only when allow_luks). */
int qcrypt_create_method(const char *fmt, const char *path, struct img_opts *opts, bool allow_luks,
                         unsigned *method, struct img_err *err);

/* A new encrypted image needs a non-empty password (asked for now). */
int qcrypt_check_password(const char *fmt, const char *path, struct img_err *err);

#endif

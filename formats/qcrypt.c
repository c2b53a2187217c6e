/* SPDX-License-Identifier: GPL-2.0-or-later */
/* qcrypt.c: encryption helpers shared by the qcow and qcow2 drivers: fetching the password
 * from the process's secret provider into locked memory, the legacy AES key (QEMU's scheme:
 * no KDF, no salt; weak, kept for old images) and the encryption create options.
 * Talks to: core/crypto/secret.c (img_get_secret), core/crypto/crypto.c.
 */
#include "formats/qcrypt.h"

#include <errno.h>
#include <string.h>

int qcrypt_password(const char *fmt, const char *path, uint8_t **pw, size_t *len,
                    struct img_err *err)
{
    *pw = crypto_secure_alloc(IMG_SECRET_MAX);
    if (!*pw)
        return err_set(err, -ENOMEM, "%s: out of memory for the key", fmt);
    struct img_err e = {0};
    int r = img_get_secret(path, *pw, IMG_SECRET_MAX, len, &e);
    if (r == 0 && *len > IMG_SECRET_MAX)
        r = err_set(&e, -EINVAL, "password longer than %u bytes", IMG_SECRET_MAX);
    if (r < 0) {
        qcrypt_password_free(*pw);
        *pw = NULL;
        return err_set(err, r, "%s: encrypted image: %s", fmt, e.msg);
    }
    return 0;
}

void qcrypt_password_free(uint8_t *pw)
{
    crypto_secure_free(pw, IMG_SECRET_MAX);
}

int qcrypt_legacy_cipher(const char *fmt, const char *path, struct crypto_cipher **out,
                         struct img_err *err)
{
    uint8_t *pw, key[16] = {0};
    size_t n;
    int r = qcrypt_password(fmt, path, &pw, &n, err);
    if (r < 0)
        return r;
    for (size_t i = 0; i < n && i < 16 && pw[i]; i++)
        key[i] = pw[i];
    qcrypt_password_free(pw);
    r = crypto_cipher_new(out, CRYPTO_MODE_CBC, CRYPTO_IV_PLAIN64, NULL, key, 16, err);
    crypto_wipe(key, sizeof key);
    if (r < 0)
        err_prefix(err, "%s", fmt);
    return r;
}

int qcrypt_create_method(const char *fmt, const char *path, struct img_opts *opts, bool allow_luks,
                         unsigned *method, struct img_err *err)
{
    bool legacy = false;
    *method = 0;
    int r = img_opts_take_bool(opts, "encryption", &legacy, err);
    if (r < 0)
        return r;
    const char *f = img_opts_take(opts, "encrypt.format");
    img_opts_take(opts, "encrypt.key-secret");
    if (f && !strcmp(f, "aes"))
        *method = 1;
    else if (f && !strcmp(f, "luks") && allow_luks)
        *method = 2;
    else if (f && *f)
        return err_set(err, -EINVAL, "%s: encrypt.format '%s' is not supported (%s)", fmt, f,
                       allow_luks ? "aes or luks" : "aes");
    if (legacy) {
        if (*method == 2)
            return err_set(err, -EINVAL,
                           "%s: encryption=on means AES; it conflicts with "
                           "encrypt.format=luks",
                           fmt);
        *method = 1;
    }
    return 0;
}

int qcrypt_check_password(const char *fmt, const char *path, struct img_err *err)
{
    uint8_t *pw;
    size_t n;
    int r = qcrypt_password(fmt, path, &pw, &n, err);
    if (r < 0)
        return r;
    qcrypt_password_free(pw);
    return n ? 0 : err_set(err, -EINVAL, "%s: the password is empty", fmt);
}

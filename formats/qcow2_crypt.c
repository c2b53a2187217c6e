/* qcow2_crypt.c: encryption in the qcow2 driver. crypt_method 1 is QEMU's legacy AES
 * (AES-128-CBC keyed by the padded password, IV = guest sector number); the key is set up at
 * the first data access, when the password is asked for. Data clusters go through
 * qcow2_data_read/qcow2_data_write, which decrypt/encrypt whole 512-byte sectors so that no
 * plaintext reaches the file; compressed clusters are refused in encrypted images.
 * Talks to: formats/qcrypt.c (password, legacy key), core/crypto.c, qcow2.c/qcow2_alloc.c.
 */
#include "formats/qcow2.h"

#include "core/io.h"
#include "formats/qcrypt.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define ULL(x) ((unsigned long long)(x))

struct qcow2_crypt {
    struct crypto_cipher *cipher; /* set once unlocked */
    bool physical;                /* IVs count host sectors (LUKS), else guest sectors */
};

/* Validate what can be checked without a password (open time). */
int qcow2_crypt_open(struct img *img)
{
    struct qcow2 *s = qcow2_st(img);
    if (!s->crypt_method)
        return 0;
    if ((s->autoclear & QCOW2_AUTOCLEAR_DATA_RAW) && s->data_fd >= 0)
        return img_error(img, -ENOTSUP,
                         "qcow2: encryption with a raw external data file is "
                         "not supported");
    if (s->crypt_method == 2)
        return img_error(img, -ENOTSUP, "qcow2: LUKS encryption is not supported yet");
    if (!(s->cr = calloc(1, sizeof *s->cr)))
        return img_error(img, -ENOMEM, "qcow2: out of memory");
    return 0;
}

void qcow2_crypt_close(struct img *img)
{
    struct qcow2 *s = qcow2_st(img);
    if (!s->cr)
        return;
    crypto_cipher_free(s->cr->cipher);
    free(s->cr);
    s->cr = NULL;
}

/* The key, on first use: asks for the password. A wrong LUKS password fails here, before
 * anything is written. */
int qcow2_crypt_ready(struct img *img)
{
    struct qcow2 *s = qcow2_st(img);
    if (!s->crypt_method || s->cr->cipher)
        return 0;
    struct img_err e = {0};
    int r = qcrypt_legacy_cipher("qcow2", img->path, &s->cr->cipher, &e);
    return r < 0 ? img_error(img, r, "%s", e.msg) : 0;
}

int qcow2_crypt_compressed(struct img *img)
{
    return img_error(img, -ENOTSUP,
                     "qcow2: compressed clusters in an encrypted image are not "
                     "supported");
}

static uint64_t iv_off(struct qcow2 *s, uint64_t host, uint64_t guest)
{
    return s->cr->physical ? host : guest;
}

int qcow2_data_read(struct img *img, int fd, void *buf, size_t len, uint64_t host, uint64_t guest)
{
    struct qcow2 *s = qcow2_st(img);
    int r = s->crypt_method ? qcow2_crypt_ready(img) : 0;
    if (r < 0)
        return r;
    r = s->crypt_method ? crypto_pread(s->cr->cipher, fd, buf, len, host, iv_off(s, host, guest))
                        : io_pread_zero(fd, buf, len, host);
    if (r < 0)
        return img_error(img, r, "qcow2: read at 0x%llx: %s", ULL(host), strerror(-r));
    return 0;
}

int qcow2_data_write(struct img *img, int fd, const void *buf, size_t len, uint64_t host,
                     uint64_t guest)
{
    struct qcow2 *s = qcow2_st(img);
    if (!s->crypt_method)
        return qcow2_host_write(img, fd, buf, len, host);
    int r = qcow2_crypt_ready(img);
    if (r < 0)
        return r;
    r = crypto_pwrite(s->cr->cipher, fd, buf, len, host, iv_off(s, host, guest));
    if (r < 0)
        return img_error(img, r, "qcow2: write at 0x%llx: %s", ULL(host), strerror(-r));
    if (fd == img->fd && host + len > s->file_size)
        s->file_size = host + len;
    return 0;
}

void qcow2_crypt_info(struct img *img, struct img_info *info)
{
    struct qcow2 *s = qcow2_st(img);
    if (s->crypt_method == 1)
        img_info_str(info, "encrypt.format", "aes");
}

int qcow2_crypt_create_opts(const char *path, const struct img_create_req *req, unsigned version,
                            enum img_prealloc prealloc, unsigned *method, struct img_err *err)
{
    int r = qcrypt_create_method("qcow2", path, req->opts, true, method, err);
    if (r < 0 || !*method)
        return r;
    if (prealloc != IMG_PREALLOC_OFF)
        return err_set(err, -ENOTSUP,
                       "qcow2: preallocation of encrypted images is not "
                       "supported");
    if (*method == 2 && version < 3)
        return err_set(err, -EINVAL, "qcow2: LUKS encryption needs compat 1.1");
    if (*method == 2)
        return err_set(err, -ENOTSUP, "qcow2: creating LUKS images is not supported yet");
    return 0;
}

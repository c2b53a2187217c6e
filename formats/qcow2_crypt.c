/* SPDX-License-Identifier: GPL-2.0-or-later */
/* qcow2_crypt.c: encryption in the qcow2 driver. crypt_method 1 is QEMU's legacy AES
 * (AES-128-CBC keyed by the padded password, IV = guest sector number); crypt_method 2 is a
 * LUKS1 header in an area named by the full-disk-encryption header extension (payload cipher
 * from the header, IV = host sector number). The LUKS header is validated at open; the key is
 * set up at the first data access, when the password is asked for. Data clusters go through
 * qcow2_data_read/qcow2_data_write, which decrypt/encrypt whole 512-byte sectors so that no
 * plaintext reaches the file; compressed clusters are refused in encrypted images.
 * Talks to: formats/qcrypt.c (password, legacy key), core/crypto/crypto.c, qcow2.c/qcow2_alloc.c.
 */
#include "formats/qcow2.h"

#include "core/base/io.h"
#include "core/crypto/luks.h"
#include "formats/qcrypt.h"
#include "formats/drivers.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define ULL(x) ((unsigned long long)(x))
#define QCOW2_MAX_FDE_LEN (64ull << 20) /* LUKS areas QEMU makes are about 2 MiB */

struct qcow2_crypt {
    struct crypto_cipher *cipher; /* set once unlocked */
    bool physical;                /* IVs count host sectors (LUKS), else guest sectors */
    struct luks luks;             /* crypt_method 2 */
};

/* Validate what can be checked without a password (open time). */
int qcow2_crypt_open(struct img *img)
{
    struct qcow2 *s = qcow2_st(img);
    if (!s->crypt_method)
        return 0;
    if ((s->autoclear & QCOW2_AUTOCLEAR_DATA_RAW) && s->data_src != NULL)
        return img_error(img, -ENOTSUP,
                         "encryption with a raw external data file is "
                         "not supported");
    if (!(s->cr = calloc(1, sizeof *s->cr)))
        return img_error(img, -ENOMEM, "out of memory");
    if (s->crypt_method != 2)
        return 0;
    s->cr->physical = true;
    if (!s->has_fde)
        return img_error(img, -EINVAL,
                         "LUKS encryption without the encryption header "
                         "extension");
    if (s->fde_len < LUKS_HDR_SIZE || s->fde_len > QCOW2_MAX_FDE_LEN || s->fde_off > s->file_size ||
        s->fde_len > s->file_size - s->fde_off || s->fde_off == 0)
        return img_error(img, -EINVAL,
                         "encryption header area at 0x%llx (%llu bytes) "
                         "is invalid or lies outside the file",
                         ULL(s->fde_off), ULL(s->fde_len));
    uint8_t h[LUKS_HDR_SIZE];
    int r = src_pread(img->src, h, sizeof h, s->fde_off);
    if (r < 0)
        return img_error(img, r, "reading the LUKS header: %s", strerror(-r));
    struct img_err e = {0};
    if ((r = luks_parse(h, s->fde_len, &s->cr->luks, &e)) < 0)
        return img_error(img, r, "%s", e.msg);
    return 0;
}

static int fde_read(void *ctx, void *buf, size_t len, uint64_t off)
{
    struct img *img = ctx;
    return src_pread(img->src, buf, len, qcow2_st(img)->fde_off + off);
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
    if (s->crypt_method == 1) {
        int r = qcrypt_legacy_cipher("qcow2", img->path, &s->cr->cipher, &e);
        return r < 0 ? img_fail(img, r, "%s", e.msg) : 0;
    }
    uint8_t *pw;
    size_t n;
    int r = qcrypt_password("qcow2", img->path, &pw, &n, &e);
    if (r < 0)
        return img_fail(img, r, "%s", e.msg);
    r = luks_unlock(&s->cr->luks, pw, n, fde_read, img, &s->cr->cipher, &e);
    qcrypt_password_free(pw);
    return r < 0 ? img_error(img, r, "%s", e.msg) : 0;
}

int qcow2_crypt_compressed(struct img *img)
{
    return img_error(img, -ENOTSUP,
                     "compressed clusters in an encrypted image are not "
                     "supported");
}

static uint64_t iv_off(struct qcow2 *s, uint64_t host, uint64_t guest)
{
    return s->cr->physical ? host : guest;
}

int qcow2_data_read(struct img *img, struct img_src *src, void *buf, size_t len, uint64_t host,
                    uint64_t guest)
{
    struct qcow2 *s = qcow2_st(img);
    if (!s->crypt_method) {
        int r = src_pread_zero(src, buf, len, host);
        return r < 0 ? img_error(img, r, "read at 0x%llx: %s", ULL(host), src_errmsg(src, r)) : 0;
    }
    int r = qcow2_crypt_ready(img);
    if (r < 0)
        return r;
    r = crypto_pread(s->cr->cipher, src, buf, len, host, iv_off(s, host, guest));
    if (r < 0)
        return img_error(img, r, "read at 0x%llx: %s", ULL(host), src_errmsg(src, r));
    return 0;
}

int qcow2_data_write(struct img *img, struct img_src *src, const void *buf, size_t len,
                     uint64_t host, uint64_t guest)
{
    struct qcow2 *s = qcow2_st(img);
    if (!s->crypt_method)
        return qcow2_host_write(img, src, buf, len, host);
    int r = qcow2_crypt_ready(img);
    if (r < 0)
        return r;
    r = crypto_pwrite(s->cr->cipher, src, buf, len, host, iv_off(s, host, guest));
    if (r < 0)
        return img_error(img, r, "write at 0x%llx: %s", ULL(host), src_errmsg(src, r));
    if (src == img->src && host + len > s->file_size)
        s->file_size = host + len;
    return 0;
}

void qcow2_crypt_info(struct img *img, struct img_info *info)
{
    struct qcow2 *s = qcow2_st(img);
    if (s->crypt_method == 1)
        img_info_str(info, "encrypt.format", "aes");
    else if (s->crypt_method == 2)
        luks_info(&s->cr->luks, info);
}

int qcow2_crypt_create_opts(const char *path, const struct img_create_req *req, unsigned version,
                            enum img_prealloc prealloc, struct qcow2_crypt_new *cn,
                            struct img_err *err)
{
    memset(cn, 0, sizeof cn[0]);
    struct luks_params lp;
    bool luks = false;
    for (size_t i = 0; req->opts && i < req->opts->n; i++)
        if (!strcmp(req->opts->kv[i].key, "encrypt.format") &&
            !strcmp(req->opts->kv[i].val, "luks"))
            luks = true;
    /* The LUKS options are only meaningful (and only taken) with encrypt.format=luks. */
    int r = luks ? luks_take_opts(req->opts, &lp, err) : 0;
    if (r == 0)
        r = qcrypt_create_method("qcow2", path, req->opts, true, &cn->method, err);
    if (r == 0)
        r = img_opts_check_all_taken(req->opts, "qcow2", err);
    if (r < 0 || !cn->method)
        return r;
    if (prealloc != IMG_PREALLOC_OFF)
        return img_drv_error(&img_driver_qcow2, err, -ENOTSUP,
                             "preallocation of encrypted images is not "
                             "supported");
    if (cn->method == 2 && version < 3)
        return img_drv_error(&img_driver_qcow2, err, -EINVAL, "LUKS encryption needs compat 1.1");
    if (cn->method == 1)
        return qcrypt_check_password("qcow2", path, err);
    uint8_t *pw;
    size_t n;
    if ((r = qcrypt_password("qcow2", path, &pw, &n, err)) < 0)
        return r;
    r = luks_format(&lp, pw, n, &cn->area, &cn->len, err);
    qcrypt_password_free(pw);
    if (r < 0)
        err_prefix(err, "qcow2");
    return r;
}

static int fde_write(void *ctx, const void *buf, size_t len, uint64_t off)
{
    struct img *img = ctx;
    return src_pwrite(img->src, buf, len, qcow2_st(img)->fde_off + off);
}

static int fde_sync(void *ctx)
{
    return src_flush(((struct img *)ctx)->src);
}

int qcow2_crypt_amend(struct img *img, bool add, int slot, uint64_t iter_time,
                      const struct img_amend_req *req)
{
    struct qcow2 *s = qcow2_st(img);
    if (s->crypt_method != 2)
        return img_error(img, -ENOTSUP, "only LUKS-encrypted images have key slots to change");
    struct luks_amend a = {.add = add,
                           .slot = slot,
                           .new_pw = req->new_secret,
                           .new_len = req->new_len,
                           .old_pw = req->old_secret,
                           .old_len = req->old_len,
                           .iter_time = iter_time,
                           .force = req->force};
    struct luks_io io = {fde_read, fde_write, fde_sync, img};
    struct img_err e = {0};
    uint8_t *pw = NULL;
    size_t n = 0;
    /* The image's password unlocks the master key for a new slot, and proves the right to
     * erase one by number (as opening the image does in qemu-img); an old password that opens
     * the slots it erases needs nothing else. */
    int r = 0;
    if (add || !req->old_secret) {
        r = qcrypt_password("qcow2", img->path, &pw, &n, &e);
        a.pw = pw;
        a.pwlen = n;
    }
    if (r == 0)
        r = luks_amend(&s->cr->luks, &a, &io, &e);
    qcrypt_password_free(pw);
    return r < 0 ? img_error(img, r, "%s", e.msg) : 0;
}

void qcow2_crypt_new_free(struct qcow2_crypt_new *cn)
{
    free(cn->area);
    cn->area = NULL;
}

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* luks.c: the raw LUKS1 format as qemu-img's "luks" driver has it: a LUKS1 header (and its
 * key material) at offset 0, then the guest disk encrypted from the header's payload offset
 * to the end of the file; the virtual size is the file size minus the payload offset. IVs
 * count guest sectors (the payload's own sector numbers). The header is parsed and checked
 * by core/crypto/luks.c, the one LUKS implementation qcow2's encrypted images use too; the
 * password is asked for (formats/qcrypt.c) at the first data access or unlock. Create takes
 * qemu-img's luks options (cipher-alg, cipher-mode, ivgen-alg, ivgen-hash-alg, hash-alg,
 * iter-time; key-secret is accepted and ignored: the password comes from the secret
 * provider). Grow extends the file, as qemu does: the new area is not written, so it reads
 * as whatever its zero bytes decrypt to, in qemu and here alike. LUKS2 is recognised (never
 * read as raw) and refused at open.
 * Talks to: core/crypto/luks.h, core/crypto/crypto.h, formats/qcrypt.h, core/block/src.h.
 */
#include "core/base/bytes.h"
#include "core/crypto/luks.h"
#include "formats/drivers.h"
#include "formats/qcrypt.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define ULL(x) ((unsigned long long)(x))

struct luksfmt {
    struct luks luks;
    struct crypto_cipher *cipher; /* set once unlocked */
    uint64_t payload;             /* bytes */
};

static int luksfmt_probe(const uint8_t *b, size_t len)
{
    if (len < 8 || memcmp(b, "LUKS\xba\xbe", 6) != 0)
        return 0;
    return be16_load(b + 6) == 1 || be16_load(b + 6) == 2 ? 100 : 0;
}

static int luksfmt_open(struct img *img, unsigned flags)
{
    struct luksfmt *s = img->priv;
    uint8_t h[LUKS_HDR_SIZE];
    uint64_t fsize;
    (void)flags;
    int r = src_size(img->src, &fsize);
    if (r == 0 && fsize < LUKS_HDR_SIZE)
        return img_error(img, -EINVAL, "file of %llu bytes is shorter than a LUKS header",
                         ULL(fsize));
    if (r == 0)
        r = src_pread(img->src, h, sizeof h, 0);
    if (r < 0)
        return img_error(img, r, "reading the header: %s", src_errmsg(img->src, r));
    /* The key material lies between the header and the payload: that is the area it is
     * checked against, and the payload must start inside the file. */
    s->payload = (uint64_t)be32_load(h + 104) * CRYPTO_SECTOR;
    if (be16_load(h + 6) == 1 && (s->payload < LUKS_HDR_SIZE || s->payload > fsize))
        return img_error(img, -EINVAL,
                         "payload offset %llu is not between the header and the end of "
                         "the file (%llu bytes)",
                         ULL(s->payload), ULL(fsize));
    struct img_err e = {0};
    if ((r = luks_parse(h, s->payload, &s->luks, &e)) < 0)
        return img_error(img, r, "%s", e.msg);
    img->size = fsize - s->payload;
    return 0;
}

static void luksfmt_close(struct img *img)
{
    struct luksfmt *s = img->priv;
    crypto_cipher_free(s->cipher);
    s->cipher = NULL;
}

static int luksfmt_read_area(void *ctx, void *buf, size_t len, uint64_t off)
{
    return src_pread(((struct img *)ctx)->src, buf, len, off);
}

/* The key, on first use: asks for the password; a wrong one fails here. */
static int luksfmt_unlock(struct img *img)
{
    struct luksfmt *s = img->priv;
    if (s->cipher)
        return 0;
    struct img_err e = {0};
    uint8_t *pw;
    size_t n;
    int r = qcrypt_password("luks", img->path, &pw, &n, &e);
    if (r < 0)
        return img_fail(img, r, "%s", e.msg);
    r = luks_unlock(&s->luks, pw, n, luksfmt_read_area, img, &s->cipher, &e);
    qcrypt_password_free(pw);
    return r < 0 ? img_error(img, r, "%s", e.msg) : 0;
}

static int luksfmt_read(struct img *img, uint64_t off, void *buf, size_t len)
{
    struct luksfmt *s = img->priv;
    int r = luksfmt_unlock(img);
    if (r == 0 && (r = crypto_pread(s->cipher, img->src, buf, len, s->payload + off, off)) < 0)
        return img_error(img, r, "read at 0x%llx: %s", ULL(s->payload + off),
                         src_errmsg(img->src, r));
    return r;
}

static int luksfmt_write(struct img *img, uint64_t off, const void *buf, size_t len)
{
    struct luksfmt *s = img->priv;
    int r = luksfmt_unlock(img);
    if (r == 0 && (r = crypto_pwrite(s->cipher, img->src, buf, len, s->payload + off, off)) < 0)
        return img_error(img, r, "write at 0x%llx: %s", ULL(s->payload + off),
                         src_errmsg(img->src, r));
    return r;
}

static int luksfmt_flush(struct img *img)
{
    int r = src_flush(img->src);
    return r < 0 ? img_error(img, r, "flush: %s", src_errmsg(img->src, r)) : 0;
}

/* Every byte of the payload is stored (encrypted): data. No host offset, as in qemu-img's
 * map: the bytes there are not the guest's. */
static int luksfmt_block_status(struct img *img, uint64_t off, uint64_t len, struct img_bs *bs)
{
    (void)img, (void)off;
    bs->len = len;
    bs->flags = IMG_BS_DATA | IMG_BS_ALLOCATED;
    bs->host_off = 0;
    return 0;
}

static int luksfmt_truncate(struct img *img, uint64_t size, enum img_prealloc prealloc)
{
    struct luksfmt *s = img->priv;
    if (prealloc != IMG_PREALLOC_OFF)
        return img_error(img, -ENOTSUP, "resize supports preallocation=off only");
    if (size > UINT64_MAX - s->payload)
        return img_error(img, -EFBIG, "size %llu is too large", ULL(size));
    int r = src_truncate(img->src, s->payload + size);
    if (r < 0)
        return img_error(img, r, "resize: %s", src_errmsg(img->src, r));
    img->size = size;
    return 0;
}

static int luksfmt_create(struct img_create_ctx *c, const struct img_create_req *req,
                          struct img_err *err)
{
    struct luks_params lp;
    const char *path = img_create_path(c);
    img_opts_take(req->opts, "key-secret");
    const char *pre = img_opts_take(req->opts, "preallocation");
    if (pre && strcmp(pre, "off"))
        return img_drv_error(&img_driver_luks, err, -ENOTSUP,
                             "preallocation '%s' is not supported (off)", pre);
    int r = luks_take_opts_as(req->opts, "", &lp, err);
    if (r < 0)
        return err_prefix(err, "luks"), r;
    if ((r = img_opts_check_all_taken(req->opts, "luks", err)) < 0)
        return r;
    if (req->size > UINT64_MAX / 2)
        return img_drv_error(&img_driver_luks, err, -EFBIG, "size %llu is too large",
                             ULL(req->size));
    uint64_t size = (req->size + CRYPTO_SECTOR - 1) / CRYPTO_SECTOR * CRYPTO_SECTOR;
    uint8_t *pw, *area = NULL;
    size_t n, alen = 0;
    if ((r = qcrypt_password("luks", path, &pw, &n, err)) < 0)
        return r;
    r = luks_format(&lp, pw, n, &area, &alen, err);
    qcrypt_password_free(pw);
    if (r < 0)
        return err_prefix(err, "luks"), r;
    struct img_src *s;
    if ((r = img_create_src(c, &s)) == 0) {
        if ((r = img_create_truncate(s, alen + size)) == -ENOSPC)
            err_set(err, r, "%s: too small for the image (%llu bytes)", path, ULL(alen + size));
        else if (r == 0 && (r = src_pwrite(s, area, alen, 0)) < 0)
            err_set(err, r, "%s: %s", path, src_errmsg(s, r));
        else if (r < 0)
            err_set(err, r, "%s: %s", path, src_errmsg(s, r));
    }
    free(area);
    return r;
}

/* qemu-img prints the header's fields as the format-specific data. */
static int luksfmt_get_info(struct img *img, struct img_info *info)
{
    struct luksfmt *s = img->priv;
    info->encrypted = true;
    luks_info_as(&s->luks, "", info);
    return 0;
}

/* Open checked the header, every key slot and the payload offset; nothing else to check. */
static int luksfmt_check(struct img *img, struct img_check *res, unsigned fix)
{
    (void)fix;
    uint64_t fsize;
    int r = src_size(img->src, &fsize);
    if (r < 0)
        return img_error(img, r, "%s", src_errmsg(img->src, r));
    res->image_end_offset = fsize;
    return 0;
}

static int luksfmt_layout(struct img *img, struct img_region **out, size_t *n)
{
    struct luksfmt *s = img->priv;
    struct img_regions rl = {0};
    img_regions_add(&rl, 0, LUKS_HDR_SIZE, IMG_R_HEADER);
    img_regions_add(&rl, LUKS_HDR_SIZE, s->payload - LUKS_HDR_SIZE, IMG_R_META);
    img_regions_add(&rl, s->payload, img->size, IMG_R_DATA);
    int r = img_regions_finish(&rl, out, n);
    return r < 0 ? img_error(img, r, "out of memory") : 0;
}

static const struct img_opt_desc luksfmt_create_opts[] = {
    {"cipher-alg", "enum:aes-128|aes-192|aes-256", "payload cipher (default aes-256)"},
    {"cipher-mode", "enum:xts|cbc", "cipher mode (default xts)"},
    {"ivgen-alg", "enum:plain64|plain|essiv", "IV generator (default plain64)"},
    {"ivgen-hash-alg", "str", "hash for essiv (default sha256)"},
    {"hash-alg", "str", "PBKDF2 and digest hash (default sha256)"},
    {"iter-time", "int", "milliseconds of PBKDF2 per key slot (default 2000)"},
    {"key-secret", "str", "accepted for qemu-img; the password comes from --password-*"},
    {"preallocation", "enum:off", "preallocation mode"},
    {NULL, NULL, NULL},
};

static const char *const luksfmt_qemu_info_keys[] = {
    "ivgen-alg",   "ivgen-hash-alg", "hash-alg",       "cipher-alg",       "uuid",
    "cipher-mode", "slots",          "payload-offset", "master-key-iters", NULL};

const struct img_driver img_driver_luks = {
    .abi = IMG_DRIVER_ABI,
    .name = "luks",
    .desc = "LUKS1 encrypted disk (qemu's raw luks)",
    .priv_size = sizeof(struct luksfmt),
    .caps = IMG_CAP_SOURCES,
    .create_opts = luksfmt_create_opts,
    .qemu_info_keys = luksfmt_qemu_info_keys,
    .probe = luksfmt_probe,
    .open = luksfmt_open,
    .close = luksfmt_close,
    .get_info = luksfmt_get_info,
    .read = luksfmt_read,
    .block_status = luksfmt_block_status,
    .write = luksfmt_write,
    .flush = luksfmt_flush,
    .create = luksfmt_create,
    .truncate = luksfmt_truncate,
    .check = luksfmt_check,
    .layout = luksfmt_layout,
    .unlock = luksfmt_unlock,
};

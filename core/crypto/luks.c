/* SPDX-License-Identifier: GPL-2.0-or-later */
/* luks.c: LUKS1 headers (the format cryptsetup defined and QEMU embeds in qcow2): parsing with
 * every field bounded, key-slot unlocking (PBKDF2, key-material decryption, AF merge, master
 * key digest check) and creation of a new header area with one key slot.
 * Talks to: core/crypto/crypto.c (ciphers, PBKDF2, AF), core/block/opts.c (the encrypt.* options).
 */
#include "core/crypto/luks.h"
#include "core/base/cancel.h"
#include "core/base/bytes.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LUKS_MAGIC "LUKS\xba\xbe"
#define LUKS_SLOT_ON 0x00AC71F3u
#define LUKS_SLOT_OFF 0x0000DEADu
#define LUKS_ALIGN 4096u /* key material areas start on 4 KiB boundaries, as QEMU lays them */
#define LUKS_MIN_ITER 1000u

/* Copy a fixed-size, NUL-padded header string; false when it is not terminated. */
static bool hdr_str(char *dst, const uint8_t *src, size_t n)
{
    if (!memchr(src, 0, n))
        return false;
    memcpy(dst, src, n);
    dst[n] = 0;
    return true;
}

/* "xts-plain64", "cbc-essiv:sha256", ... into mode, IV generator and essiv hash. */
static int parse_mode(struct luks *l, struct img_err *err)
{
    char m[33];
    memcpy(m, l->cipher_mode, sizeof m);
    char *iv = strchr(m, '-');
    if (!iv)
        return err_set(err, -ENOTSUP, "LUKS: cipher mode '%s' is not supported", l->cipher_mode);
    *iv++ = 0;
    char *h = strchr(iv, ':');
    if (h)
        *h++ = 0;
    if (!strcmp(m, "xts"))
        l->mode = CRYPTO_MODE_XTS;
    else if (!strcmp(m, "cbc"))
        l->mode = CRYPTO_MODE_CBC;
    else
        return err_set(err, -ENOTSUP, "LUKS: cipher mode '%s' is not supported", l->cipher_mode);
    if (!strcmp(iv, "plain64") && !h)
        l->ivgen = CRYPTO_IV_PLAIN64;
    else if (!strcmp(iv, "plain") && !h)
        l->ivgen = CRYPTO_IV_PLAIN;
    else if (!strcmp(iv, "essiv") && h && crypto_hash_len(h))
        l->ivgen = CRYPTO_IV_ESSIV;
    else
        return err_set(err, -ENOTSUP, "LUKS: IV generator in '%s' is not supported",
                       l->cipher_mode);
    snprintf(l->ivhash, sizeof l->ivhash, "%s", h ? h : "");
    return 0;
}

static uint32_t luks_iter_limit = LUKS_MAX_ITER;

void luks_set_iter_limit(uint32_t max)
{
    if (max && max < luks_iter_limit)
        luks_iter_limit = max;
}

static bool luks_unbounded;

void luks_set_unlock_unbounded(bool on)
{
    luks_unbounded = on;
}

static _Thread_local struct luks_watch *luks_watch;

void luks_watch_thread(struct luks_watch *w)
{
    luks_watch = w;
}

int luks_parse(const uint8_t *b, uint64_t area_len, struct luks *l, struct img_err *err)
{
    memset(l, 0, sizeof *l);
    if (memcmp(b, LUKS_MAGIC, 6))
        return err_set(err, -EINVAL, "LUKS: bad magic in the encryption header");
    if (be16_load(b + 6) != 1)
        return err_set(err, -ENOTSUP, "LUKS: version %u is not supported (only LUKS1)",
                       be16_load(b + 6));
    if (!hdr_str(l->cipher_name, b + 8, 32) || !hdr_str(l->cipher_mode, b + 40, 32) ||
        !hdr_str(l->hash, b + 72, 32) || !hdr_str(l->uuid, b + 168, 40))
        return err_set(err, -EINVAL, "LUKS: unterminated string in the header");
    l->payload_sectors = be32_load(b + 104);
    l->key_bytes = be32_load(b + 108);
    memcpy(l->mk_digest, b + 112, 20);
    memcpy(l->mk_salt, b + 132, 32);
    l->mk_iter = be32_load(b + 164);
    if (strcmp(l->cipher_name, "aes"))
        return err_set(err, -ENOTSUP, "LUKS: cipher '%s' is not supported (aes only)",
                       l->cipher_name);
    int r = parse_mode(l, err);
    if (r < 0)
        return r;
    if (!crypto_hash_len(l->hash))
        return err_set(err, -ENOTSUP, "LUKS: hash '%s' is not supported", l->hash);
    uint32_t kb = l->key_bytes;
    bool kb_ok =
        l->mode == CRYPTO_MODE_XTS ? (kb == 32 || kb == 64) : (kb == 16 || kb == 24 || kb == 32);
    if (!kb_ok)
        return err_set(err, -EINVAL, "LUKS: key size %u bytes is invalid for %s", kb,
                       l->cipher_mode);
    if (l->mk_iter == 0 || l->mk_iter > luks_iter_limit)
        return err_set(err, -EINVAL,
                       "LUKS: master key digest iterations %u out of range "
                       "(1..%u)",
                       l->mk_iter, luks_iter_limit);
    uint64_t mat = (uint64_t)kb * LUKS_STRIPES;
    mat = (mat + CRYPTO_SECTOR - 1) / CRYPTO_SECTOR * CRYPTO_SECTOR;
    for (int i = 0; i < LUKS_SLOTS; i++) {
        const uint8_t *s = b + 208 + 48 * i;
        struct luks_slot *k = &l->slot[i];
        uint32_t act = be32_load(s);
        if (act != LUKS_SLOT_ON && act != LUKS_SLOT_OFF)
            return err_set(err, -EINVAL, "LUKS: key slot %d: bad state 0x%x", i, act);
        k->active = act == LUKS_SLOT_ON;
        k->iter = be32_load(s + 4);
        memcpy(k->salt, s + 8, 32);
        k->off = (uint64_t)be32_load(s + 40) * CRYPTO_SECTOR;
        k->stripes = be32_load(s + 44);
        if (k->stripes != LUKS_STRIPES)
            return err_set(err, -EINVAL, "LUKS: key slot %d: %u stripes (must be %u)", i,
                           k->stripes, LUKS_STRIPES);
        if (k->off < LUKS_HDR_SIZE || k->off > area_len || mat > area_len - k->off)
            return err_set(err, -EINVAL,
                           "LUKS: key slot %d: key material at %llu lies "
                           "outside the encryption header area",
                           i, (unsigned long long)k->off);
        if (k->active && (k->iter == 0 || k->iter > luks_iter_limit))
            return err_set(err, -EINVAL,
                           "LUKS: key slot %d: iterations %u out of range "
                           "(1..%u)",
                           i, k->iter, luks_iter_limit);
        for (int j = 0; j < i; j++)
            if (k->off < l->slot[j].off + mat && l->slot[j].off < k->off + mat)
                return err_set(err, -EINVAL, "LUKS: key slots %d and %d overlap", j, i);
    }
    return 0;
}

/* One slot: the candidate master key into mk; 1 when its digest matches, 0 when not. */
static int try_slot(const struct luks *l, const struct luks_slot *k, const uint8_t *pw,
                    size_t pwlen, uint8_t *mat, size_t matlen, luks_read_fn rd, void *ctx,
                    uint8_t *mk, struct img_err *err)
{
    uint8_t sk[CRYPTO_MAX_KEY], dg[20];
    struct crypto_cipher *c = NULL;
    int r = crypto_pbkdf2(l->hash, pw, pwlen, k->salt, 32, k->iter, sk, l->key_bytes);
    if (r == 0 && (r = rd(ctx, mat, matlen, k->off)) < 0)
        err_set(err, r, "LUKS: reading key material: %s", strerror(-r));
    if (r == 0)
        r = crypto_cipher_new(&c, l->mode, l->ivgen, l->ivhash, sk, l->key_bytes, err);
    if (r == 0)
        r = crypto_cipher_run(c, false, 0, mat, matlen);
    if (r == 0)
        r = crypto_af_merge(l->hash, mat, l->key_bytes, k->stripes, mk);
    if (r == 0)
        r = crypto_pbkdf2(l->hash, mk, l->key_bytes, l->mk_salt, 32, l->mk_iter, dg, 20);
    crypto_cipher_free(c);
    crypto_wipe(sk, sizeof sk);
    if (r == -ECANCELED && !err->code)
        return err_set(err, r, "unlock cancelled");
    if (r < 0)
        return err->code ? r : err_set(err, r, "LUKS: key slot: %s", strerror(-r));
    return crypto_equal(dg, l->mk_digest, 20);
}

/* Key material bytes of one slot, whole sectors. */
static size_t luks_mat_len(const struct luks *l)
{
    size_t m = (size_t)l->key_bytes * LUKS_STRIPES;
    return (m + CRYPTO_SECTOR - 1) / CRYPTO_SECTOR * CRYPTO_SECTOR;
}

/* Try the active slots (only slot `only` when it is >= 0) with pw; *mask gets the slots that
 * open, mk the master key. Stops at the first match unless all. */
static int match_slots(const struct luks *l, const uint8_t *pw, size_t pwlen, int only, bool all,
                       luks_read_fn rd, void *ctx, unsigned *mask, uint8_t *mk, struct img_err *err)
{
    size_t matlen = luks_mat_len(l);
    uint8_t *mat = crypto_secure_alloc(matlen);
    int r = mat ? 0 : err_set(err, -ENOMEM, "out of memory");
    uint64_t spent = 0;
    *mask = 0;
    struct luks_watch *w = luks_watch;
    if (w) {
        int todo = 0;
        uint64_t total = 0;
        for (int i = 0; i < LUKS_SLOTS; i++)
            if (l->slot[i].active && (only < 0 || only == i)) {
                todo++;
                total += (uint64_t)l->slot[i].iter + l->mk_iter;
            }
        atomic_store(&w->slot, -1);
        atomic_store(&w->tried, 0);
        atomic_store(&w->todo, todo);
        atomic_store(&w->spent, 0);
        atomic_store(&w->total, total);
    }
    for (int i = 0; r == 0 && i < LUKS_SLOTS && (all || !*mask); i++)
        if (l->slot[i].active && (only < 0 || only == i)) {
            if (cancel_requested()) { /* a job cancelled, or the unlock box's Esc */
                r = err_set(err, -ECANCELED, "unlock cancelled");
                break;
            }
            /* Refused before the work, not after: a hostile header's cost is in its fields. */
            uint64_t cost = (uint64_t)l->slot[i].iter + l->mk_iter;
            if (!luks_unbounded && spent + cost > LUKS_UNLOCK_ITER_MAX) {
                if (!*mask || all) /* all: a slot left untried would be missed silently */
                    r = err_set(err, -E2BIG,
                                "LUKS key slot %d needs %u + %u PBKDF2 iterations, more than "
                                "the %llu one unlock may spend (%llu spent); --force-unlock "
                                "tries it anyway",
                                i, l->slot[i].iter, l->mk_iter,
                                (unsigned long long)LUKS_UNLOCK_ITER_MAX,
                                (unsigned long long)spent);
                break;
            }
            if (w) {
                atomic_store(&w->slot, i);
                atomic_fetch_add(&w->tried, 1);
                atomic_store(&w->spent, spent);
            }
            spent += cost;
            r = try_slot(l, &l->slot[i], pw, pwlen, mat, matlen, rd, ctx, mk, err);
            *mask |= r > 0 ? 1u << i : 0;
            r = r < 0 ? r : 0;
        }
    crypto_secure_free(mat, matlen);
    return r;
}

static int unlock_mk(const struct luks *l, const uint8_t *pw, size_t pwlen, luks_read_fn rd,
                     void *ctx, uint8_t *mk, struct img_err *err)
{
    unsigned mask;
    int r = match_slots(l, pw, pwlen, -1, false, rd, ctx, &mask, mk, err);
    if (r == 0 && !mask)
        r = err_set(err, -EACCES, "invalid password: no LUKS key slot opens with it");
    return r;
}

int luks_unlock(const struct luks *l, const uint8_t *pw, size_t pwlen, luks_read_fn rd, void *ctx,
                struct crypto_cipher **payload, struct img_err *err)
{
    uint8_t *mk = crypto_secure_alloc(CRYPTO_MAX_KEY);
    int r = mk ? unlock_mk(l, pw, pwlen, rd, ctx, mk, err) : err_set(err, -ENOMEM, "out of memory");
    if (r == 0)
        r = crypto_cipher_new(payload, l->mode, l->ivgen, l->ivhash, mk, l->key_bytes, err);
    crypto_secure_free(mk, CRYPTO_MAX_KEY);
    return r;
}

/* ---- creation ---- */

static int take_int(struct img_opts *o, const char *key, uint64_t *v, struct img_err *err)
{
    const char *s = img_opts_take(o, key);
    if (!s)
        return 0;
    char *end;
    unsigned long long x = strtoull(s, &end, 10);
    if (!*s || *end || x == 0 || x > 3600000)
        return err_set(err, -EINVAL, "%s '%s': milliseconds, 1..3600000", key, s);
    *v = x;
    return 1;
}

static const char *take_or(struct img_opts *o, const char *key, const char *dflt)
{
    const char *s = img_opts_take(o, key);
    return s && *s ? s : dflt;
}

static size_t alg_bytes(const char *alg)
{
    return !strcmp(alg, "aes-128")   ? 16
           : !strcmp(alg, "aes-192") ? 24
           : !strcmp(alg, "aes-256") ? 32
                                     : 0;
}

static size_t key_len(const struct luks_params *p)
{
    return alg_bytes(p->cipher_alg) * (strcmp(p->cipher_mode, "xts") ? 1 : 2);
}

int luks_take_opts_as(struct img_opts *o, const char *pre, struct luks_params *p,
                      struct img_err *err)
{
    char k[6][40];
    static const char *const names[6] = {"cipher-alg",     "cipher-mode", "ivgen-alg",
                                         "ivgen-hash-alg", "hash-alg",    "iter-time"};
    for (int i = 0; i < 6; i++)
        snprintf(k[i], sizeof k[i], "%s%s", pre, names[i]);
    p->cipher_alg = take_or(o, k[0], "aes-256");
    p->cipher_mode = take_or(o, k[1], "xts");
    p->ivgen_alg = take_or(o, k[2], "plain64");
    p->ivgen_hash = take_or(o, k[3], "sha256");
    p->hash = take_or(o, k[4], "sha256");
    p->iter_time = 2000;
    int r = take_int(o, k[5], &p->iter_time, err);
    if (r < 0)
        return r;
    if (!alg_bytes(p->cipher_alg))
        return err_set(err, -ENOTSUP,
                       "%s '%s' is not supported (aes-128, "
                       "aes-192, aes-256)",
                       k[0], p->cipher_alg);
    if (strcmp(p->cipher_mode, "xts") && strcmp(p->cipher_mode, "cbc"))
        return err_set(err, -ENOTSUP, "%s '%s' is not supported (xts, cbc)", k[1], p->cipher_mode);
    if (!strcmp(p->cipher_mode, "xts") && alg_bytes(p->cipher_alg) == 24)
        return err_set(err, -ENOTSUP, "aes-192 with xts is not supported");
    if (strcmp(p->ivgen_alg, "plain64") && strcmp(p->ivgen_alg, "plain") &&
        strcmp(p->ivgen_alg, "essiv"))
        return err_set(err, -ENOTSUP,
                       "%s '%s' is not supported (plain64, plain, "
                       "essiv)",
                       k[2], p->ivgen_alg);
    if (!crypto_hash_len(p->hash) || strlen(p->hash) > 31)
        return err_set(err, -ENOTSUP, "%s '%s' is not supported", k[4], p->hash);
    size_t hl = crypto_hash_len(p->ivgen_hash);
    if (!strcmp(p->ivgen_alg, "essiv") && hl != 16 && hl != 24 && hl != 32)
        return err_set(err, -ENOTSUP,
                       "%s '%s' does not give an AES key "
                       "size",
                       k[3], p->ivgen_hash);
    return 0;
}

int luks_take_opts(struct img_opts *o, struct luks_params *p, struct img_err *err)
{
    return luks_take_opts_as(o, "encrypt.", p, err);
}

static uint64_t mat_area(const struct luks_params *p)
{
    uint64_t m = (uint64_t)key_len(p) * LUKS_STRIPES;
    return (m + LUKS_ALIGN - 1) / LUKS_ALIGN * LUKS_ALIGN;
}

uint64_t luks_area_len(const struct luks_params *p)
{
    return LUKS_ALIGN + LUKS_SLOTS * mat_area(p);
}

static void make_uuid(char out[37], const uint8_t r[16])
{
    uint8_t u[16];
    memcpy(u, r, 16);
    u[6] = (uint8_t)((u[6] & 0x0f) | 0x40); /* version 4 */
    u[8] = (uint8_t)((u[8] & 0x3f) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0],
             u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13],
             u[14], u[15]);
}

int luks_format(const struct luks_params *p, const uint8_t *pw, size_t pwlen, uint8_t **area,
                size_t *len, struct img_err *err)
{
    size_t kl = key_len(p), alen = luks_area_len(p), matlen = mat_area(p);
    enum crypto_mode mode = strcmp(p->cipher_mode, "xts") ? CRYPTO_MODE_CBC : CRYPTO_MODE_XTS;
    enum crypto_ivgen iv = !strcmp(p->ivgen_alg, "essiv")   ? CRYPTO_IV_ESSIV
                           : !strcmp(p->ivgen_alg, "plain") ? CRYPTO_IV_PLAIN
                                                            : CRYPTO_IV_PLAIN64;
    const char *ivh = iv == CRYPTO_IV_ESSIV ? p->ivgen_hash : NULL;
    uint8_t *b = calloc(1, alen), *mk = crypto_secure_alloc(CRYPTO_MAX_KEY);
    uint8_t *sk = crypto_secure_alloc(CRYPTO_MAX_KEY), rnd[32 + 32 + 16];
    struct crypto_cipher *c = NULL;
    int r = b && mk && sk ? 0 : err_set(err, -ENOMEM, "out of memory");
    if (r == 0 && (crypto_random(mk, kl) < 0 || crypto_random(rnd, sizeof rnd) < 0))
        r = err_set(err, -EIO, "LUKS: no random bytes");
    /* Iterations as QEMU and cryptsetup choose them: iter_time for a slot, 1/8 of it for the
     * master key digest, never fewer than 1000. */
    uint64_t it = crypto_pbkdf2_iters_for(p->hash, kl, p->iter_time);
    uint64_t slot_it = it < LUKS_MIN_ITER ? LUKS_MIN_ITER : it > LUKS_MAX_ITER ? LUKS_MAX_ITER : it;
    uint64_t mk_it = it / 8 < LUKS_MIN_ITER   ? LUKS_MIN_ITER
                     : it / 8 > LUKS_MAX_ITER ? LUKS_MAX_ITER
                                              : it / 8;
    if (r == 0) {
        memcpy(b, LUKS_MAGIC, 6);
        be16_store(b + 6, 1);
        memcpy(b + 8, "aes", 3);
        char m[33];
        snprintf(m, sizeof m, "%s-%s%s%s", p->cipher_mode, p->ivgen_alg, ivh ? ":" : "",
                 ivh ? ivh : "");
        memcpy(b + 40, m, strlen(m));
        memcpy(b + 72, p->hash, strlen(p->hash));
        be32_store(b + 104, (uint32_t)(alen / CRYPTO_SECTOR));
        be32_store(b + 108, (uint32_t)kl);
        memcpy(b + 132, rnd, 32);
        be32_store(b + 164, (uint32_t)mk_it);
        make_uuid((char *)b + 168, rnd + 64);
        r = crypto_pbkdf2(p->hash, mk, kl, b + 132, 32, (uint32_t)mk_it, b + 112, 20);
    }
    for (int i = 0; r == 0 && i < LUKS_SLOTS; i++) {
        uint8_t *s = b + 208 + 48 * i;
        be32_store(s, i == 0 ? LUKS_SLOT_ON : LUKS_SLOT_OFF);
        be32_store(s + 40, (uint32_t)((LUKS_ALIGN + i * matlen) / CRYPTO_SECTOR));
        be32_store(s + 44, LUKS_STRIPES);
    }
    if (r == 0) { /* slot 0: salt, iterations, AF-split master key encrypted under pw */
        uint8_t *s = b + 208;
        be32_store(s + 4, (uint32_t)slot_it);
        memcpy(s + 8, rnd + 32, 32);
        uint8_t *mat = b + LUKS_ALIGN;
        r = crypto_pbkdf2(p->hash, pw, pwlen, s + 8, 32, (uint32_t)slot_it, sk, kl);
        if (r == 0)
            r = crypto_af_split(p->hash, mk, kl, LUKS_STRIPES, mat);
        if (r == 0)
            r = crypto_cipher_new(&c, mode, iv, ivh, sk, kl, err);
        if (r == 0)
            r = crypto_cipher_run(c, true, 0, mat, (kl * LUKS_STRIPES + 511) / 512 * 512);
        if (r < 0 && !err->code)
            err_set(err, r, "LUKS: setting up key slot 0: %s", strerror(-r));
    }
    crypto_cipher_free(c);
    crypto_secure_free(mk, CRYPTO_MAX_KEY);
    crypto_secure_free(sk, CRYPTO_MAX_KEY);
    crypto_wipe(rnd, sizeof rnd);
    if (r < 0) {
        free(b);
        return r;
    }
    *area = b;
    *len = alen;
    return 0;
}

/* pre followed by name, in k. */
static const char *luks_key(char *k, size_t cap, const char *pre, const char *name)
{
    snprintf(k, cap, "%s%s", pre, name);
    return k;
}

void luks_info_as(const struct luks *l, const char *pre, struct img_info *info)
{
    char v[64], k[48];
    snprintf(v, sizeof v, "%s-%u", l->cipher_name,
             l->key_bytes * 8 / (l->mode == CRYPTO_MODE_XTS ? 2 : 1));
    img_info_str(info, luks_key(k, sizeof k, pre, "cipher-alg"), v);
    snprintf(v, sizeof v, "%s", l->mode == CRYPTO_MODE_XTS ? "xts" : "cbc");
    img_info_str(info, luks_key(k, sizeof k, pre, "cipher-mode"), v);
    img_info_str(info, luks_key(k, sizeof k, pre, "ivgen-alg"),
                 l->ivgen == CRYPTO_IV_ESSIV   ? "essiv"
                 : l->ivgen == CRYPTO_IV_PLAIN ? "plain"
                                               : "plain64");
    if (l->ivgen == CRYPTO_IV_ESSIV)
        img_info_str(info, luks_key(k, sizeof k, pre, "ivgen-hash-alg"), l->ivhash);
    img_info_str(info, luks_key(k, sizeof k, pre, "hash-alg"), l->hash);
    img_info_str(info, luks_key(k, sizeof k, pre, "uuid"), l->uuid);
    /* Key slots as qemu-img lists them: iterations and stripes only for active ones. */
    for (int i = 0; i < LUKS_SLOTS; i++) {
        const struct luks_slot *sl = &l->slot[i];
        snprintf(k, sizeof k, "%sslots.%d.active", pre, i);
        img_info_bool(info, k, sl->active);
        if (sl->active) {
            snprintf(k, sizeof k, "%sslots.%d.iters", pre, i);
            img_info_int(info, k, sl->iter);
            snprintf(k, sizeof k, "%sslots.%d.stripes", pre, i);
            img_info_int(info, k, sl->stripes);
        }
        snprintf(k, sizeof k, "%sslots.%d.key-offset", pre, i);
        img_info_int(info, k, (int64_t)sl->off);
    }
    img_info_int(info, luks_key(k, sizeof k, pre, "payload-offset"),
                 (int64_t)l->payload_sectors * 512);
    img_info_int(info, luks_key(k, sizeof k, pre, "master-key-iters"), l->mk_iter);
}

void luks_info(const struct luks *l, struct img_info *info)
{
    img_info_str(info, "encrypt.format", "luks");
    luks_info_as(l, "encrypt.", info);
}

/* ---- key slots (amend) ---- */

static int io_fail(struct img_err *err, int r, const char *what, int slot)
{
    return err_set(err, r, "LUKS: %s of key slot %d: %s", what, slot, strerror(-r));
}

/* The 48-byte header entry of slot i as l holds it. */
static void slot_entry(const struct luks *l, int i, uint8_t e[48])
{
    const struct luks_slot *k = &l->slot[i];
    memset(e, 0, 48);
    be32_store(e, k->active ? LUKS_SLOT_ON : LUKS_SLOT_OFF);
    be32_store(e + 4, k->iter);
    memcpy(e + 8, k->salt, 32);
    be32_store(e + 40, (uint32_t)(k->off / CRYPTO_SECTOR));
    be32_store(e + 44, k->stripes);
}

static int write_entry(const struct luks *l, int i, const struct luks_io *io, struct img_err *err)
{
    uint8_t e[48];
    slot_entry(l, i, e);
    int r = io->wr(io->ctx, e, sizeof e, 208 + 48 * (uint64_t)i);
    return r < 0 ? io_fail(err, r, "writing the header entry", i) : 0;
}

static int sync_io(const struct luks_io *io, int slot, struct img_err *err)
{
    int r = io->sync(io->ctx);
    return r < 0 ? io_fail(err, r, "syncing the update", slot) : 0;
}

static int active_count(const struct luks *l)
{
    int n = 0;
    for (int i = 0; i < LUKS_SLOTS; i++)
        n += l->slot[i].active;
    return n;
}

/* Mark every slot of mask inactive (one sync), then overwrite its material with random
 * bytes (another sync): a crash in between leaves a slot that is already unusable. */
static int erase_slots(struct luks *l, unsigned mask, const struct luks_io *io, struct img_err *err)
{
    size_t matlen = luks_mat_len(l);
    int r = 0, last = 0;
    for (int i = 0; r == 0 && i < LUKS_SLOTS; i++)
        if (mask & (1u << i)) {
            struct luks_slot *k = &l->slot[i];
            k->active = false;
            k->iter = 0;
            memset(k->salt, 0, sizeof k->salt);
            r = write_entry(l, i, io, err);
            last = i;
        }
    if (r == 0)
        r = sync_io(io, last, err);
    uint8_t *junk = r == 0 ? malloc(matlen) : NULL;
    if (r == 0 && !junk)
        r = err_set(err, -ENOMEM, "out of memory");
    for (int i = 0; r == 0 && i < LUKS_SLOTS; i++)
        if (mask & (1u << i)) {
            if (crypto_random(junk, matlen) < 0)
                r = err_set(err, -EIO, "LUKS: no random bytes");
            else if ((r = io->wr(io->ctx, junk, matlen, l->slot[i].off)) < 0)
                r = io_fail(err, r, "wiping the key material", i);
        }
    free(junk);
    return r == 0 ? sync_io(io, last, err) : r;
}

static int erase_keys(struct luks *l, const struct luks_amend *a, const struct luks_io *io,
                      struct img_err *err)
{
    uint8_t *mk = crypto_secure_alloc(CRYPTO_MAX_KEY);
    unsigned mask = 0;
    int r = mk ? 0 : err_set(err, -ENOMEM, "out of memory");
    if (r == 0 && a->pw) /* the image's password must still open it, as opening does */
        r = unlock_mk(l, a->pw, a->pwlen, io->rd, io->ctx, mk, err);
    if (r == 0 && a->slot >= 0) {
        if (a->old_pw) {
            r = match_slots(l, a->old_pw, a->old_len, a->slot, false, io->rd, io->ctx, &mask, mk,
                            err);
            if (r == 0 && !mask)
                r = err_set(err, -EACCES,
                            "key slot %d does not open with the old password; nothing "
                            "was erased",
                            a->slot);
        }
        if (r == 0 && !a->force && !l->slot[a->slot].active)
            r = err_set(err, -EINVAL, "key slot %d is already inactive", a->slot);
        if (r == 0 && !a->force && l->slot[a->slot].active && active_count(l) == 1)
            r = err_set(err, -EPERM,
                        "key slot %d is the only active one: erasing it makes the data "
                        "unreadable forever (--force to do it anyway)",
                        a->slot);
        mask = 1u << a->slot;
    } else if (r == 0) {
        r = match_slots(l, a->old_pw, a->old_len, -1, true, io->rd, io->ctx, &mask, mk, err);
        if (r == 0 && !mask)
            r = err_set(err, -EACCES,
                        "invalid old password: no LUKS key slot opens with it; nothing "
                        "was erased");
        if (r == 0 && !a->force && __builtin_popcount(mask) == active_count(l))
            r = err_set(err, -EPERM,
                        "every active key slot opens with the old password: erasing them "
                        "makes the data unreadable forever (--force to do it anyway)");
    }
    crypto_secure_free(mk, CRYPTO_MAX_KEY);
    return r == 0 ? erase_slots(l, mask, io, err) : r;
}

/* New key material for slot i: PBKDF2 of the password under a fresh salt, the master key
 * split and encrypted into mat (luks_mat_len bytes). */
static int make_slot(const struct luks *l, struct luks_slot *k, const uint8_t *pw, size_t pwlen,
                     const uint8_t *mk, uint64_t iter_time, uint8_t *mat, struct img_err *err)
{
    uint64_t it = crypto_pbkdf2_iters_for(l->hash, l->key_bytes, iter_time ? iter_time : 2000);
    k->iter = (uint32_t)(it < LUKS_MIN_ITER   ? LUKS_MIN_ITER
                         : it > LUKS_MAX_ITER ? LUKS_MAX_ITER
                                              : it);
    k->stripes = LUKS_STRIPES;
    if (crypto_random(k->salt, sizeof k->salt) < 0)
        return err_set(err, -EIO, "LUKS: no random bytes");
    uint8_t *sk = crypto_secure_alloc(CRYPTO_MAX_KEY);
    struct crypto_cipher *c = NULL;
    int r =
        sk ? crypto_pbkdf2(l->hash, pw, pwlen, k->salt, 32, k->iter, sk, l->key_bytes) : -ENOMEM;
    if (r == 0)
        r = crypto_af_split(l->hash, mk, l->key_bytes, LUKS_STRIPES, mat);
    if (r == 0)
        r = crypto_cipher_new(&c, l->mode, l->ivgen, l->ivhash, sk, l->key_bytes, err);
    if (r == 0)
        r = crypto_cipher_run(c, true, 0, mat, luks_mat_len(l));
    crypto_cipher_free(c);
    crypto_secure_free(sk, CRYPTO_MAX_KEY);
    if (r < 0 && !err->code)
        err_set(err, r, "LUKS: setting up a key slot: %s", strerror(-r));
    return r;
}

static int add_key(struct luks *l, const struct luks_amend *a, const struct luks_io *io,
                   struct img_err *err)
{
    int i = a->slot;
    if (i >= 0 && l->slot[i].active && !a->force)
        return err_set(err, -EEXIST,
                       "key slot %d is active: erase it first (or --force to overwrite it)", i);
    for (int j = 0; i < 0 && j < LUKS_SLOTS; j++)
        if (!l->slot[j].active)
            i = j;
    if (i < 0)
        return err_set(err, -ENOSPC, "no free LUKS key slot (all %d are active)", LUKS_SLOTS);
    size_t matlen = luks_mat_len(l);
    uint8_t *mk = crypto_secure_alloc(CRYPTO_MAX_KEY), *mat = crypto_secure_alloc(matlen);
    int r = mk && mat ? unlock_mk(l, a->pw, a->pwlen, io->rd, io->ctx, mk, err)
                      : err_set(err, -ENOMEM, "out of memory");
    struct luks_slot k = l->slot[i];
    if (r == 0)
        r = make_slot(l, &k, a->new_pw, a->new_len, mk, a->iter_time, mat, err);
    /* Overwriting an active slot (forced): retire it first, so that no crash leaves a header
     * naming half-written material. */
    if (r == 0 && l->slot[i].active)
        r = erase_slots(l, 1u << i, io, err);
    if (r == 0 && (r = io->wr(io->ctx, mat, matlen, k.off)) < 0)
        r = io_fail(err, r, "writing the key material", i);
    if (r == 0)
        r = sync_io(io, i, err);
    if (r == 0) {
        k.active = true;
        struct luks_slot keep = l->slot[i];
        l->slot[i] = k;
        r = write_entry(l, i, io, err);
        if (r == 0)
            r = sync_io(io, i, err);
        if (r < 0)
            l->slot[i] = keep;
    }
    crypto_secure_free(mk, CRYPTO_MAX_KEY);
    crypto_secure_free(mat, matlen);
    return r;
}

int luks_amend(struct luks *l, const struct luks_amend *a, const struct luks_io *io,
               struct img_err *err)
{
    if (a->slot < -1 || a->slot >= LUKS_SLOTS)
        return err_set(err, -EINVAL, "key slot %d: must be between 0 and %d", a->slot,
                       LUKS_SLOTS - 1);
    if (a->add) {
        if (!a->new_pw || !a->pw)
            return err_set(err, -EINVAL, "adding a key slot needs the password and a new one");
        if (a->old_pw)
            return err_set(err, -EINVAL, "an old password is for erasing key slots");
        return add_key(l, a, io, err);
    }
    if (a->new_pw)
        return err_set(err, -EINVAL, "a new password is for adding a key slot, not erasing");
    if (a->iter_time)
        return err_set(err, -EINVAL, "iter-time is for adding a key slot, not erasing");
    if (a->slot < 0 && !a->old_pw)
        return err_set(err, -EINVAL,
                       "erasing key slots needs a slot number or the old password they hold");
    return erase_keys(l, a, io, err);
}

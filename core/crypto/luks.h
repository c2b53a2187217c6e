/* SPDX-License-Identifier: GPL-2.0-or-later */
/* luks.h: the LUKS1 on-disk header (as qcow2 embeds it for crypt_method 2): parse and
 * validate a header from an untrusted image, unlock a key slot with a password, build a new
 * header area, and describe it for info. Format-agnostic: reads go through a callback relative
 * to the start of the LUKS area. No printing; -errno with a message in err.
 */
#ifndef DIMG_LUKS_H
#define DIMG_LUKS_H

#include <stdatomic.h>

#include "core/crypto/crypto.h"
#include "core/block/img.h"

#define LUKS_HDR_SIZE 592u
#define LUKS_SLOTS 8
#define LUKS_STRIPES 4000u
#define LUKS_MAX_ITER (1u << 25) /* per PBKDF2 run; bounds the work a hostile header costs */
/* PBKDF2 iterations one unlock may spend over all the slots it tries (each slot's own plus the
 * master-key digest's). qemu times one slot to its default iter-time of 2 s: 7.5 M + 1.9 M
 * iterations of SHA-256 on the 2-core machine dimg is tested on, so 2^25 admits what qemu
 * makes on machines up to about 3.5 times faster (about 9 s of work there at most), while a
 * header of 8 slots at 2^25 (13 minutes per wrong password) is refused before any work. */
#define LUKS_UNLOCK_ITER_MAX (1ull << 25)

struct luks_slot {
    bool active;
    uint32_t iter, stripes;
    uint8_t salt[32];
    uint64_t off; /* key material, bytes from the start of the LUKS area */
};

struct luks {
    char cipher_name[33], cipher_mode[33], hash[33], uuid[41];
    uint32_t key_bytes, payload_sectors, mk_iter;
    uint8_t mk_digest[20], mk_salt[32];
    struct luks_slot slot[LUKS_SLOTS];
    enum crypto_mode mode;
    enum crypto_ivgen ivgen;
    char ivhash[33];
};

/* Parse and check buf (LUKS_HDR_SIZE bytes) for an area of area_len bytes: every slot's
 * material inside the area, past the header, not overlapping another; iterations bounded. */
int luks_parse(const uint8_t *buf, uint64_t area_len, struct luks *l, struct img_err *err);

/* Lower the iteration limit luks_parse enforces (LUKS_MAX_ITER; a larger max is ignored)
 * for the rest of the process. Only the fuzz targets call it (tests/fuzz/fuzz_exercise.c), so
 * that one input's PBKDF2 runs stay short; dimg itself never does. A header over the lowered
 * limit gets the same "iterations N out of range (1..LIMIT)" error as one over the real one. */
void luks_set_iter_limit(uint32_t max);

/* Lift LUKS_UNLOCK_ITER_MAX for the rest of the process (the CLI's --force-unlock, and
 * amend's --force); only the per-slot LUKS_MAX_ITER bound stays. */
void luks_set_unlock_unbounded(bool on);

/* Progress of the unlocks made on one thread: the application unlocks on a worker thread and
 * draws this from its UI thread (tui/secret_dialog.c). Updated before each key slot is tried.
 * Iterations count each slot's own plus the digest's. Cancelling is the thread's cancel flag
 * (core/base/cancel.h), polled between slots: one slot's PBKDF2 run is not interrupted, and
 * LUKS_MAX_ITER bounds it. */
struct luks_watch {
    atomic_int slot;               /* the slot being tried, -1 before the first */
    atomic_int tried, todo;        /* slots started, slots to try in all */
    _Atomic uint64_t spent, total; /* PBKDF2 iterations started so far, of all the slots */
};
/* Watch the unlocks this thread makes from now on (NULL: stop watching). */
void luks_watch_thread(struct luks_watch *w);

typedef int (*luks_read_fn)(void *ctx, void *buf, size_t len, uint64_t off);
/* Try every active slot with the password; on success *payload is the data cipher (master
 * key). -EACCES "invalid password" when no slot opens; -E2BIG naming the slot (and its
 * iterations) that would take the unlock past LUKS_UNLOCK_ITER_MAX, when no slot tried
 * before it opened. */
int luks_unlock(const struct luks *l, const uint8_t *pw, size_t pwlen, luks_read_fn rd, void *ctx,
                struct crypto_cipher **payload, struct img_err *err);

/* Creation parameters, qemu-img's names: cipher_alg aes-128|aes-192|aes-256, cipher_mode
 * xts|cbc, ivgen_alg plain64|plain|essiv, ivgen_hash and hash sha1|sha256|..., iter_time ms. */
struct luks_params {
    const char *cipher_alg, *cipher_mode, *ivgen_alg, *ivgen_hash, *hash;
    uint64_t iter_time;
};
/* Take encrypt.cipher-alg, encrypt.cipher-mode, encrypt.ivgen-alg, encrypt.ivgen-hash-alg,
 * encrypt.hash-alg and encrypt.iter-time from opts (defaults: aes-256, xts, plain64, sha256,
 * sha256, 2000 ms) and check them. */
int luks_take_opts(struct img_opts *opts, struct luks_params *p, struct img_err *err);
/* The same under another prefix: "" for the raw luks format (qemu-img's names there). */
int luks_take_opts_as(struct img_opts *opts, const char *prefix, struct luks_params *p,
                      struct img_err *err);
/* Bytes of the LUKS area the parameters need (header plus 8 key-material areas). */
uint64_t luks_area_len(const struct luks_params *p);
/* A new area (malloc'd, *len = luks_area_len) with a random master key in slot 0 under pw. */
int luks_format(const struct luks_params *p, const uint8_t *pw, size_t pwlen, uint8_t **area,
                size_t *len, struct img_err *err);
/* ---- key slots (amend) ---- */
typedef int (*luks_write_fn)(void *ctx, const void *buf, size_t len, uint64_t off);
/* Reads, writes and syncs of the LUKS area (offsets from its start), for amend. */
struct luks_io {
    luks_read_fn rd;
    luks_write_fn wr;
    int (*sync)(void *ctx);
    void *ctx;
};
/* What to change, qemu-img amend's encrypt.* options: add (state=active) a slot for new_pw,
 * in slot (or the first free one when slot < 0), PBKDF2 timed to iter_time ms (0: 2000); or
 * erase (state=inactive) slot, or every slot old_pw opens (both given: slot must open with
 * old_pw). force overwrites an active slot when adding and allows erasing the last one. */
struct luks_amend {
    bool add;
    int slot;
    const uint8_t *pw, *new_pw, *old_pw; /* pw unlocks the master key for add */
    size_t pwlen, new_len, old_len;
    uint64_t iter_time;
    bool force;
};
/* Change the key slots of l (updated in place on success). Crash order: a new slot's key
 * material is written and synced before its header entry turns active; an erased slot is
 * marked inactive and synced before its material is overwritten with random bytes. A wrong
 * password or a refused request writes nothing. */
int luks_amend(struct luks *l, const struct luks_amend *a, const struct luks_io *io,
               struct img_err *err);

/* encrypt.* keys for img_info (format, cipher-alg, cipher-mode, ivgen-alg, hash-alg, slots). */
void luks_info(const struct luks *l, struct img_info *info);
/* The same keys (without "format") under prefix: "" for the raw luks format, as qemu-img
 * prints its format-specific data. */
void luks_info_as(const struct luks *l, const char *prefix, struct img_info *info);

#endif

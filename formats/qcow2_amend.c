/* SPDX-License-Identifier: GPL-2.0-or-later */
/* qcow2_amend.c: `dimg amend` for qcow2 (qemu-img amend's options): LUKS key slots
 * (encrypt.state=active|inactive, encrypt.keyslot, encrypt.iter-time; the passwords come in
 * the request, never from -o) and lazy_refcounts=on|off. Every option is taken and checked
 * before anything is written, so a refused request leaves the file as it was.
 * Talks to: qcow2_crypt.c (key slots), qcow2.c (header field writes), core/block/opts.c.
 */
#include "formats/qcow2.h"

#include "core/base/io.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* An integer option in [lo, hi]: 0 absent, 1 found, <0 refused. */
static int take_num(struct img *img, struct img_opts *o, const char *key, long lo, long hi, long *v)
{
    const char *s = img_opts_take(o, key);
    if (!s)
        return 0;
    char *end;
    long x = strtol(s, &end, 10);
    if (!*s || *end || x < lo || x > hi)
        return img_error(img, -EINVAL, "%s '%s': expected %ld..%ld", key, s, lo, hi);
    *v = x;
    return 1;
}

/* Secrets are read by the command line (files, environment, prompt), never from -o. */
static int refuse_secret_opts(struct img *img, struct img_opts *o)
{
    static const char *const keys[] = {"encrypt.new-secret", "encrypt.old-secret",
                                       "encrypt.key-secret"};
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
        if (img_opts_take(o, keys[i]))
            return img_error(img, -EINVAL,
                             "%s: passwords are not given in -o (use "
                             "--password-file, --new-password-file, --old-password-file or "
                             "their -env forms)",
                             keys[i]);
    return 0;
}

static int set_lazy(struct img *img, bool on)
{
    struct qcow2 *s = qcow2_st(img);
    if (on == ((s->compat & QCOW2_COMPAT_LAZY) != 0))
        return 0;
    if (s->version < 3)
        return img_error(img, -EINVAL,
                         "lazy_refcounts needs compat 1.1 (a version 3 "
                         "image)");
    /* With lazy refcounts a dirty image's refcounts are stale; switching them off must not
     * make them authoritative. */
    if (!on && (s->incompat & QCOW2_INCOMPAT_DIRTY))
        return img_error(img, -EBUSY,
                         "the image is dirty (its refcounts are stale): run 'dimg "
                         "check -r all' before turning lazy_refcounts off");
    uint64_t compat = on ? s->compat | QCOW2_COMPAT_LAZY : s->compat & ~QCOW2_COMPAT_LAZY;
    uint8_t b[8];
    be64_store(b, compat);
    int r = qcow2_write_header_field(img, QCOW2_H_COMPAT, b, sizeof b);
    if (r == 0 && (r = src_flush(img->src)) < 0)
        return img_error(img, r, "fsync: %s", strerror(-r));
    if (r == 0) {
        s->compat = compat;
        s->lazy = on;
    }
    return r;
}

int qcow2_amend(struct img *img, const struct img_amend_req *req)
{
    struct qcow2 *s = qcow2_st(img);
    struct img_opts *o = req->opts;
    long slot = -1, iter = 0;
    bool lazy = false;
    const char *state = NULL, *fmt = NULL;
    int has_slot = 0, has_iter = 0, has_lazy = 0, r = 0;
    if (o) {
        state = img_opts_take(o, "encrypt.state");
        fmt = img_opts_take(o, "encrypt.format");
        if ((r = refuse_secret_opts(img, o)) < 0 ||
            (has_slot = take_num(img, o, "encrypt.keyslot", 0, 7, &slot)) < 0 ||
            (has_iter = take_num(img, o, "encrypt.iter-time", 1, 3600000, &iter)) < 0 ||
            (has_lazy = img_opts_take_bool(o, "lazy_refcounts", &lazy, &img->err)) < 0 ||
            (r = img_opts_check_all_taken(o, "qcow2 amend", &img->err)) < 0)
            return r < 0 ? r : -EINVAL;
    }
    if (fmt && (strcmp(fmt, "luks") || s->crypt_method != 2))
        return img_error(img, -ENOTSUP,
                         "encrypt.format cannot be changed in place (convert the "
                         "image instead)");
    bool keys = state || has_slot || has_iter || req->new_secret || req->old_secret;
    if (keys && !state)
        return img_error(img, -EINVAL,
                         "changing key slots needs encrypt.state=active (add) or "
                         "inactive (erase)");
    if (state && strcmp(state, "active") && strcmp(state, "inactive"))
        return img_error(img, -EINVAL, "encrypt.state '%s': expected active or inactive", state);
    if (!keys && !has_lazy)
        return img_error(img, -EINVAL, "nothing to amend");
    if (keys && s->crypt_method != 2)
        return img_error(img, -ENOTSUP, "only LUKS-encrypted images have key slots to change");
    if (has_lazy && s->version < 3 && lazy)
        return img_error(img, -EINVAL, "lazy_refcounts needs compat 1.1");
    if (keys &&
        (r = qcow2_crypt_amend(img, !strcmp(state, "active"), (int)slot, (uint64_t)iter, req)) < 0)
        return r;
    return has_lazy ? set_lazy(img, lazy) : 0;
}

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* cli/amend.c: `dimg amend`, qemu-img amend's changes in place: LUKS key slots of an
 * encrypted qcow2 (--add-key / --remove-key, or -o encrypt.state=active|inactive,
 * encrypt.keyslot=N, encrypt.iter-time=MS) and lazy_refcounts. Every password comes from a
 * file, an environment variable or a prompt without echo, never from argv or -o: the image's
 * own through the usual secret provider (--password-file/--password-env), the new and old
 * ones through --new-password-* and --old-password-*. Held in locked memory, wiped after.
 * Talks to: img.h (img_amend), cli/secret.c (cli_secret_read), core/crypto/crypto.h (locked
 * buffers).
 */
#include "cli/cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/crypto/crypto.h"
#include "core/block/img.h"
#include "core/crypto/luks.h"

enum {
    OPT_ADD = 256,
    OPT_REMOVE,
    OPT_SLOT,
    OPT_ITER,
    OPT_NEW_FILE,
    OPT_NEW_ENV,
    OPT_OLD_FILE,
    OPT_OLD_ENV,
    OPT_FORCE,
};

struct amend_args {
    const char *fmt, *path;
    const char *new_file, *new_env, *old_file, *old_env;
    const char *slot, *iter;
    int state; /* 0 none, 1 add, 2 remove (from the flags) */
    bool force, quiet;
    struct img_opts opts;
};

/* The flags as -o names; a flag and the same -o key together are refused as ambiguous. */
static int amend_flags_to_opts(struct amend_args *a)
{
    const struct {
        const char *key, *val, *flag;
    } map[] = {
        {"encrypt.state",
         a->state == 1   ? "active"
         : a->state == 2 ? "inactive"
                         : NULL,
         a->state == 1 ? "--add-key" : "--remove-key"},
        {"encrypt.keyslot", a->slot, "--slot"},
        {"encrypt.iter-time", a->iter, "--iter-time"},
    };
    for (size_t i = 0; i < sizeof map / sizeof *map; i++) {
        if (!map[i].val)
            continue;
        for (size_t k = 0; k < a->opts.n; k++)
            if (!strcmp(a->opts.kv[k].key, map[i].key))
                return cli_usage_err("amend", "give %s or -o %s, not both", map[i].flag,
                                     map[i].key);
        char kv[128];
        struct img_err err = {0};
        snprintf(kv, sizeof kv, "%s=%s", map[i].key, map[i].val);
        if (strchr(map[i].val, ',') || img_opts_parse(&a->opts, kv, &err) < 0)
            return cli_usage_err("amend", "%s '%s' is invalid", map[i].flag, map[i].val);
    }
    return 0;
}

static const char *amend_state(const struct img_opts *o)
{
    for (size_t k = 0; k < o->n; k++)
        if (!strcmp(o->kv[k].key, "encrypt.state"))
            return o->kv[k].val;
    return NULL;
}

static int amend_secrets(struct amend_args *a)
{
    for (size_t k = 0; k < a->opts.n; k++)
        if (strstr(a->opts.kv[k].key, "secret"))
            return cli_usage_err("amend",
                                 "-o %s: passwords are not given in -o (use --password-file, "
                                 "--new-password-file, --old-password-file or their -env forms)",
                                 a->opts.kv[k].key);
    const char *state = amend_state(&a->opts);
    bool add = state && !strcmp(state, "active"), rm = state && !strcmp(state, "inactive");
    if ((a->new_file || a->new_env) && !add)
        return cli_usage_err("amend", "a new password is only for --add-key");
    if ((a->old_file || a->old_env) && !rm)
        return cli_usage_err("amend", "an old password is only for --remove-key");
    if ((a->new_file && a->new_env) || (a->old_file && a->old_env))
        return cli_usage_err("amend", "a password file and a variable exclude each other");
    struct img_err err = {0};
    struct img *img = img_open(a->path, a->fmt, cli_open_flags | IMG_OPEN_RW, &err);
    if (!img) {
        cli_err("%s", err.msg);
        return 1;
    }
    err = (struct img_err){0};
    /* No password is asked for an image without key slots: img_amend refuses it. */
    struct img_info info;
    memset(&info, 0, sizeof info);
    if (img_get_info(img, &info) < 0 || !info.encrypted)
        add = rm = false;
    /* The image's own password first (a prompt reads "Password for FILE", then "New
     * password"); an old password that opens the slots it erases needs none. */
    if (add || (rm && !a->old_file && !a->old_env))
        cli_secret_prepare(a->path, a->fmt, NULL);
    bool want_old = rm && (a->old_file || a->old_env);
    uint8_t *nw = add ? crypto_secure_alloc(IMG_SECRET_MAX) : NULL;
    uint8_t *old = want_old ? crypto_secure_alloc(IMG_SECRET_MAX) : NULL;
    struct img_amend_req req = {.opts = &a->opts, .force = a->force};
    int status = 0;
    if ((add && !nw) || (want_old && !old)) {
        cli_err("out of memory");
        status = 1;
    }
    if (!status && nw) {
        if (cli_secret_read(a->new_file, "--new-password-file", a->new_env, "--new-password-env",
                            "New password for", a->path, true, nw, &req.new_len, &err) < 0)
            status = 1;
        else if (!req.new_len) {
            err_set(&err, -EINVAL, "the new password is empty");
            status = 1;
        }
        req.new_secret = nw;
    }
    if (!status && old) {
        if (cli_secret_read(a->old_file, "--old-password-file", a->old_env, "--old-password-env",
                            "Old password for", a->path, false, old, &req.old_len, &err) < 0)
            status = 1;
        req.old_secret = old;
    }
    if (status && err.msg[0])
        cli_err("%s", err.msg);
    if (!status && img_amend(img, &req) < 0) {
        cli_err("%s: %s", a->path, img_errmsg(img));
        status = 1;
    }
    img_close(img);
    crypto_secure_free(nw, IMG_SECRET_MAX);
    crypto_secure_free(old, IMG_SECRET_MAX);
    return status;
}

/* `dimg amend --help`. */
static const char amend_usage[] =
    "usage: dimg amend [-f FMT] [-o OPTIONS] [--force] FILE\n"
    "       dimg amend --add-key [--slot N] [--iter-time MS] [--password-file F]\n"
    "                  [--new-password-file F2 | --new-password-env V2] FILE\n"
    "       dimg amend --remove-key (--slot N [--password-file F] |\n"
    "                  --old-password-file F3 | --old-password-env V3) [--force] FILE\n"
    "\n"
    "Change FILE in place, like qemu-img amend. --add-key gives a LUKS-encrypted qcow2 a new\n"
    "password in a free key slot (or slot N): the image's password (--password-file,\n"
    "--password-env or a prompt) unlocks it, the new one comes from --new-password-* or a\n"
    "prompt. --remove-key erases slot N (the image's password must open the image) or every\n"
    "slot the old password opens. The last active slot is only erased with --force (the data\n"
    "is then lost for good). Passwords are never read from argv or -o.\n"
    "\n"
    "  -o k=v,...          qemu-img's names: encrypt.state=active|inactive, encrypt.keyslot=N,\n"
    "                      encrypt.iter-time=MS, lazy_refcounts=on|off\n"
    "  --add-key           encrypt.state=active\n"
    "  --remove-key        encrypt.state=inactive\n"
    "  --slot N            encrypt.keyslot=N (0..7)\n"
    "  --iter-time MS      PBKDF2 time for the new slot (default 2000)\n"
    "  --force             overwrite an active slot, or erase the last one\n";

static int cli_amend(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"help", no_argument, NULL, 'h'},
        {"add-key", no_argument, NULL, OPT_ADD},
        {"remove-key", no_argument, NULL, OPT_REMOVE},
        {"slot", required_argument, NULL, OPT_SLOT},
        {"iter-time", required_argument, NULL, OPT_ITER},
        {"new-password-file", required_argument, NULL, OPT_NEW_FILE},
        {"new-password-env", required_argument, NULL, OPT_NEW_ENV},
        {"old-password-file", required_argument, NULL, OPT_OLD_FILE},
        {"old-password-env", required_argument, NULL, OPT_OLD_ENV},
        {"force", no_argument, NULL, OPT_FORCE},
        {NULL, 0, NULL, 0},
    };
    struct amend_args a = {0};
    struct img_err err = {0};
    int c, status = 0;
    while (!status && (c = cli_getopt(argc, argv, "hf:o:q", longopts)) != -1) {
        switch (c) {
        case 'h': img_opts_free(&a.opts); return cli_help("amend");
        case 'f': a.fmt = optarg; break;
        case 'o':
            if (img_opts_parse(&a.opts, optarg, &err) < 0)
                status = cli_usage_err("amend", "-o: %s", err.msg);
            break;
        case 'q': a.quiet = true; break;
        case OPT_ADD:
        case OPT_REMOVE:
            if (a.state && a.state != (c == OPT_ADD ? 1 : 2))
                status = cli_usage_err("amend", "--add-key and --remove-key exclude each other");
            a.state = c == OPT_ADD ? 1 : 2;
            break;
        case OPT_SLOT: a.slot = optarg; break;
        case OPT_ITER: a.iter = optarg; break;
        case OPT_NEW_FILE: a.new_file = optarg; break;
        case OPT_NEW_ENV: a.new_env = optarg; break;
        case OPT_OLD_FILE: a.old_file = optarg; break;
        case OPT_OLD_ENV: a.old_env = optarg; break;
        case OPT_FORCE:
            a.force = true;
            luks_set_unlock_unbounded(true); /* --force also unlocks a slow header */
            break;
        default: status = 1; break;
        }
    }
    if (!status && argc - optind != 1)
        status = cli_usage_err("amend", "expecting exactly one image file name");
    if (!status) {
        a.path = argv[optind];
        status = amend_flags_to_opts(&a);
    }
    if (!status && !a.opts.n)
        status = cli_usage_err("amend", "nothing to change: give --add-key, --remove-key or -o");
    if (!status)
        status = amend_secrets(&a);
    img_opts_free(&a.opts);
    return status;
}

const struct cli_cmd cli_cmd_amend = {
    .name = "amend",
    .fn = cli_amend,
    .summary = "add or remove LUKS key slots, change lazy_refcounts (qcow2)",
    .usage = amend_usage,
};

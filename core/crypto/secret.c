/* SPDX-License-Identifier: GPL-2.0-or-later */
/* secret.c: the process-wide password source for encrypted images (see img.h, "secrets").
 *
 * The faces install a provider (cli/secret.c: --password-file, --password-env, a prompt);
 * drivers call img_get_secret when they first need a key. Holds no secret itself.
 */
#include "core/block/driver.h"

#include <errno.h>

static img_secret_fn secret_fn;
static void *secret_ctx;

void img_set_secret_provider(img_secret_fn fn, void *ctx)
{
    secret_fn = fn;
    secret_ctx = ctx;
}

int img_get_secret(const char *path, uint8_t *buf, size_t cap, size_t *len, struct img_err *err)
{
    *len = 0;
    if (!secret_fn)
        return err_set(err, -ENOKEY, "no password was given");
    int r = secret_fn(secret_ctx, path, buf, cap, len, err);
    if (r < 0 && !err->code)
        err_set(err, r, "no password was given");
    return r < 0 ? r : 0;
}

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* err.c: the struct img_err helpers declared in err.h. No printing here. */
#include "core/base/err.h"
#include "core/base/esc.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static void err_vformat(struct img_err *e, int code, const char *fmt, va_list ap)
{
    char raw[IMG_ERR_MSG_MAX];
    e->code = code;
    vsnprintf(raw, sizeof raw, fmt, ap);
    /* Messages are single, printable lines: untrusted names may carry newlines and terminal
     * escapes (escaping twice changes nothing, so callers may pass escaped names). */
    esc_into(e->msg, sizeof e->msg, raw, strlen(raw), NULL);
}

int err_set(struct img_err *e, int code, const char *fmt, ...)
{
    if (!e)
        return code;
    va_list ap;
    va_start(ap, fmt);
    err_vformat(e, code, fmt, ap);
    va_end(ap);
    return code;
}

int err_keep(struct img_err *e, int code, const char *fmt, ...)
{
    if (!e || e->code != 0)
        return e ? e->code : code;
    va_list ap;
    va_start(ap, fmt);
    err_vformat(e, code, fmt, ap);
    va_end(ap);
    return code;
}

void err_prefix(struct img_err *e, const char *fmt, ...)
{
    char raw[256], pre[256], old[IMG_ERR_MSG_MAX];
    va_list ap;
    if (!e)
        return;
    va_start(ap, fmt);
    vsnprintf(raw, sizeof raw, fmt, ap);
    va_end(ap);
    esc_into(pre, sizeof pre, raw, strlen(raw), NULL);
    memcpy(old, e->msg, sizeof old);
    size_t n = strlen(pre);
    if (n > sizeof e->msg - 3)
        n = sizeof e->msg - 3;
    memcpy(e->msg, pre, n);
    memcpy(e->msg + n, ": ", 2);
    size_t rest = sizeof e->msg - n - 3;
    size_t ol = strnlen(old, rest);
    memcpy(e->msg + n + 2, old, ol);
    e->msg[n + 2 + ol] = 0;
}

void err_clear(struct img_err *e)
{
    if (e) {
        e->code = 0;
        e->msg[0] = 0;
    }
}

/* err.c: the struct img_err helpers declared in err.h. No printing here. */
#include "core/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static void err_vformat(struct img_err *e, int code, const char *fmt, va_list ap)
{
    e->code = code;
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    /* Messages are single lines: untrusted names may carry newlines. */
    for (char *p = e->msg; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
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
    char pre[256], old[IMG_ERR_MSG_MAX];
    va_list ap;
    if (!e)
        return;
    va_start(ap, fmt);
    vsnprintf(pre, sizeof pre, fmt, ap);
    va_end(ap);
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

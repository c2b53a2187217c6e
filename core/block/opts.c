/* SPDX-License-Identifier: GPL-2.0-or-later */
/* opts.c: -o option lists ("k=v,k2=v2", ",," escaping a comma as in qemu-img), size
 * parsing/formatting and preallocation modes shared by the command line, the create drivers and the
 * TUI forms. */
#include "core/block/driver.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int img_opts_parse(struct img_opts *o, const char *s, struct img_err *err)
{
    while (*s) {
        /* Collect one item up to an unescaped comma. */
        size_t cap = strlen(s) + 1, n = 0;
        char *item = malloc(cap);
        if (!item)
            return err_set(err, -ENOMEM, "out of memory");
        while (*s) {
            if (*s == ',') {
                if (s[1] == ',') {
                    item[n++] = ',';
                    s += 2;
                    continue;
                }
                s++;
                break;
            }
            item[n++] = *s++;
        }
        item[n] = 0;
        if (n == 0) {
            free(item);
            continue;
        }
        char *eq = strchr(item, '=');
        char *val;
        if (eq) {
            *eq = 0;
            val = strdup(eq + 1);
        } else {
            val = strdup("on"); /* a bare flag, as qemu-img accepts "lazy_refcounts" */
        }
        struct img_opt_kv *kv = realloc(o->kv, (o->n + 1) * sizeof *kv);
        if (!kv || !val) {
            free(item);
            free(val);
            if (kv)
                o->kv = kv;
            return err_set(err, -ENOMEM, "out of memory");
        }
        o->kv = kv;
        o->kv[o->n].key = item;
        o->kv[o->n].val = val;
        o->kv[o->n].taken = false;
        o->n++;
    }
    return 0;
}

void img_opts_free(struct img_opts *o)
{
    for (size_t i = 0; i < o->n; i++) {
        free(o->kv[i].key);
        free(o->kv[i].val);
    }
    free(o->kv);
    o->kv = NULL;
    o->n = 0;
}

const char *img_opts_take(struct img_opts *o, const char *key)
{
    const char *v = NULL;
    if (!o)
        return NULL;
    /* The last occurrence wins, as with qemu-img. */
    for (size_t i = 0; i < o->n; i++) {
        if (strcmp(o->kv[i].key, key) == 0) {
            o->kv[i].taken = true;
            v = o->kv[i].val;
        }
    }
    return v;
}

int img_opts_take_size(struct img_opts *o, const char *key, uint64_t *v, struct img_err *err)
{
    const char *s = img_opts_take(o, key);
    if (!s)
        return 0;
    if (img_parse_size(s, v) < 0)
        return err_set(err, -EINVAL, "option %s: invalid size '%s'", key, s);
    return 1;
}

int img_opts_take_bool(struct img_opts *o, const char *key, bool *v, struct img_err *err)
{
    const char *s = img_opts_take(o, key);
    if (!s)
        return 0;
    if (!strcmp(s, "on") || !strcmp(s, "true") || !strcmp(s, "yes") || !strcmp(s, "1"))
        *v = true;
    else if (!strcmp(s, "off") || !strcmp(s, "false") || !strcmp(s, "no") || !strcmp(s, "0"))
        *v = false;
    else
        return err_set(err, -EINVAL, "option %s: expected on or off, not '%s'", key, s);
    return 1;
}

int img_opts_check_all_taken(const struct img_opts *o, const char *fmt, struct img_err *err)
{
    for (size_t i = 0; o && i < o->n; i++)
        if (!o->kv[i].taken)
            return err_set(err, -EINVAL, "%s does not support the option '%s'", fmt, o->kv[i].key);
    return 0;
}

int img_parse_size(const char *s, uint64_t *out)
{
    const char *p = s;
    while (isspace((unsigned char)*p))
        p++;
    if (!isdigit((unsigned char)*p))
        return -EINVAL;
    errno = 0;
    char *end;
    unsigned long long whole = strtoull(p, &end, 10);
    if (errno)
        return -ERANGE;
    /* Optional fraction ("1.5G"), as qemu-img accepts. */
    double frac = 0;
    if (*end == '.') {
        char *fend;
        frac = strtod(end, &fend);
        end = fend;
    }
    unsigned shift = 0;
    switch (*end) {
    case 0: break;
    case 'b':
    case 'B':
        shift = 0;
        end++;
        break;
    case 'k':
    case 'K':
        shift = 10;
        end++;
        break;
    case 'm':
    case 'M':
        shift = 20;
        end++;
        break;
    case 'g':
    case 'G':
        shift = 30;
        end++;
        break;
    case 't':
    case 'T':
        shift = 40;
        end++;
        break;
    case 'p':
    case 'P':
        shift = 50;
        end++;
        break;
    case 'e':
    case 'E':
        shift = 60;
        end++;
        break;
    default: return -EINVAL;
    }
    if (shift && (*end == 'b' || *end == 'B'))
        end++;
    if (*end)
        return -EINVAL;
    if (shift && whole > (UINT64_MAX >> shift))
        return -ERANGE;
    uint64_t v = (uint64_t)whole << shift;
    if (frac > 0) {
        if (shift == 0)
            return -EINVAL; /* fractions of a byte make no sense */
        double extra = frac * (double)((uint64_t)1 << shift);
        if ((double)(UINT64_MAX - v) < extra)
            return -ERANGE;
        v += (uint64_t)extra;
    }
    /* qemu-img caps image sizes at INT64_MAX. */
    if (v > (uint64_t)INT64_MAX)
        return -ERANGE;
    *out = v;
    return 0;
}

const char *img_fmt_size(uint64_t v, char *buf, size_t n)
{
    static const char *const unit[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    if (v < 1024) {
        snprintf(buf, n, "%llu B", (unsigned long long)v);
        return buf;
    }
    double d = (double)v;
    int u = 0;
    while (d >= 1024 && u < 6) {
        d /= 1024;
        u++;
    }
    if (d == (double)(uint64_t)d)
        snprintf(buf, n, "%.0f %s", d, unit[u]);
    else
        snprintf(buf, n, "%.3g %s", d, unit[u]);
    return buf;
}

int img_prealloc_parse(const char *s, enum img_prealloc *out)
{
    static const char *const names[] = {"off", "metadata", "falloc", "full"};
    for (int i = 0; i < 4; i++)
        if (strcmp(s, names[i]) == 0) {
            *out = (enum img_prealloc)i;
            return 0;
        }
    return -EINVAL;
}

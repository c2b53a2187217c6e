/* SPDX-License-Identifier: GPL-2.0-or-later */
/* esc.c: the escaping rule of esc.h: decode UTF-8 strictly, pass printable code points, escape
 * everything else byte by byte. No I/O. */
#include "core/base/esc.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t esc_utf8_len(const unsigned char *s, size_t n, uint32_t *cp)
{
    unsigned char c = s[0];
    size_t len;
    uint32_t v, min;
    if (c < 0x80) {
        *cp = c;
        return 1;
    } else if ((c & 0xe0) == 0xc0) {
        len = 2, v = c & 0x1f, min = 0x80;
    } else if ((c & 0xf0) == 0xe0) {
        len = 3, v = c & 0x0f, min = 0x800;
    } else if ((c & 0xf8) == 0xf0) {
        len = 4, v = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        v = (v << 6) | (s[i] & 0x3f);
    }
    if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
        return 0;
    *cp = v;
    return len;
}

/* Code points a terminal could act on: C0/C1 controls, DEL, and the bidi overrides and
 * isolates that reorder what follows them on screen. */
static bool esc_cp_unsafe(uint32_t cp)
{
    return cp < 0x20 || (cp >= 0x7f && cp < 0xa0) || (cp >= 0x202a && cp <= 0x202e) ||
           (cp >= 0x2066 && cp <= 0x2069);
}

/* The escape for one byte into e (5 bytes); returns its length. */
static size_t esc_byte(unsigned char c, char *e)
{
    const char *short_form = c == '\t'   ? "\\t"
                             : c == '\n' ? "\\n"
                             : c == '\r' ? "\\r"
                             : c == 0x1b ? "\\e"
                                         : NULL;
    if (short_form) {
        memcpy(e, short_form, 3);
        return 2;
    }
    snprintf(e, 5, "\\x%02x", c);
    return 4;
}

size_t esc_into(char *out, size_t cap, const char *s, size_t len, const char *keep)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t l = esc_utf8_len(p + i, len - i, &cp);
        if (l && (!esc_cp_unsafe(cp) || (cp && keep && l == 1 && strchr(keep, (int)cp)))) {
            if (o + l >= cap)
                break;
            memcpy(out + o, p + i, l);
            o += l;
            i += l;
            continue;
        }
        if (l == 0)
            l = 1; /* an invalid byte: escape it alone and resynchronise */
        for (size_t k = 0; k < l; k++) {
            char e[5];
            size_t el = esc_byte(p[i + k], e);
            if (o + el >= cap)
                goto out;
            memcpy(out + o, e, el);
            o += el;
        }
        i += l;
    }
out:
    out[o] = 0;
    return o;
}

char *esc_dup(const char *s, size_t len)
{
    /* Worst case every byte becomes \xNN. */
    if (len > (SIZE_MAX - 1) / 4)
        return NULL;
    char *out = malloc(len * 4 + 1);
    if (out)
        esc_into(out, len * 4 + 1, s, len, NULL);
    return out;
}

const char *esc_str(char *buf, size_t cap, const char *s)
{
    esc_into(buf, cap, s, strlen(s), NULL);
    return buf;
}

bool esc_needed(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t len = strlen(s);
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t l = esc_utf8_len(p + i, len - i, &cp);
        if (!l || esc_cp_unsafe(cp))
            return true;
        i += l;
    }
    return false;
}

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* json.c: the streaming JSON writer declared in json.h (qemu-img's pretty layout). */
#include "core/describe/json.h"

#include <stdint.h>
#include <string.h>

#include "core/base/esc.h"

void json_init(struct json *j, FILE *f)
{
    memset(j, 0, sizeof *j);
    j->f = f;
}

void json_write_string(FILE *f, const char *str)
{
    const unsigned char *s = (const unsigned char *)(str ? str : "");
    fputc('"', f);
    while (*s) {
        unsigned c = *s;
        switch (c) {
        case '"':
            fputs("\\\"", f);
            s++;
            continue;
        case '\\':
            fputs("\\\\", f);
            s++;
            continue;
        case '\b':
            fputs("\\b", f);
            s++;
            continue;
        case '\f':
            fputs("\\f", f);
            s++;
            continue;
        case '\n':
            fputs("\\n", f);
            s++;
            continue;
        case '\r':
            fputs("\\r", f);
            s++;
            continue;
        case '\t':
            fputs("\\t", f);
            s++;
            continue;
        default: break;
        }
        if (c >= 0x20 && c < 0x7f) {
            fputc((int)c, f);
            s++;
            continue;
        }
        /* Everything else as \uXXXX (a surrogate pair past U+FFFF), invalid UTF-8 as U+FFFD:
         * the same bytes qemu-img prints. */
        uint32_t cp;
        size_t n = esc_utf8_len(s, 4, &cp);
        if (n == 0) {
            cp = 0xfffd;
            n = 1;
        }
        if (cp > 0xffff)
            fprintf(f, "\\u%04X\\u%04X", (unsigned)(0xd800 + ((cp - 0x10000) >> 10)),
                    (unsigned)(0xdc00 + ((cp - 0x10000) & 0x3ff)));
        else
            fprintf(f, "\\u%04X", (unsigned)cp);
        s += n;
    }
    fputc('"', f);
}

/* Comma, newline and indentation before a member, then "key": when in an object. */
static void json_member(struct json *j, const char *key)
{
    if (j->depth > 0) {
        if (j->has_member[j->depth])
            fputc(',', j->f);
        fputc('\n', j->f);
        for (int i = 0; i < j->depth; i++)
            fputs("    ", j->f);
    }
    j->has_member[j->depth] = true;
    if (key) {
        json_write_string(j->f, key);
        fputs(": ", j->f);
    }
}

static void json_open(struct json *j, const char *key, char c)
{
    json_member(j, key);
    fputc(c, j->f);
    if (j->depth < JSON_MAX_DEPTH)
        j->depth++;
    j->has_member[j->depth] = false;
}

static void json_close(struct json *j, char c)
{
    /* qemu's pretty printer closes on a line of its own even when the container is empty
     * ("flags": [ newline ]). */
    if (j->depth > 0)
        j->depth--;
    fputc('\n', j->f);
    for (int i = 0; i < j->depth; i++)
        fputs("    ", j->f);
    fputc(c, j->f);
    if (j->depth == 0)
        fputc('\n', j->f);
}

void json_object_open(struct json *j, const char *key)
{
    json_open(j, key, '{');
}
void json_object_close(struct json *j)
{
    json_close(j, '}');
}
void json_array_open(struct json *j, const char *key)
{
    json_open(j, key, '[');
}
void json_array_close(struct json *j)
{
    json_close(j, ']');
}

void json_string(struct json *j, const char *key, const char *val)
{
    json_member(j, key);
    json_write_string(j->f, val);
}

void json_int(struct json *j, const char *key, int64_t v)
{
    json_member(j, key);
    fprintf(j->f, "%lld", (long long)v);
}

void json_uint(struct json *j, const char *key, uint64_t v)
{
    json_member(j, key);
    fprintf(j->f, "%llu", (unsigned long long)v);
}

void json_bool(struct json *j, const char *key, bool v)
{
    json_member(j, key);
    fputs(v ? "true" : "false", j->f);
}

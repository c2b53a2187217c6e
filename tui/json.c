/* json.c: the streaming JSON writer declared in json.h (qemu-img's pretty layout). */
#include "tui/json.h"

#include <string.h>

void json_init(struct json *j, FILE *f)
{
    memset(j, 0, sizeof *j);
    j->f = f;
}

/* Length of a valid UTF-8 sequence at s (1..4), or 0 when invalid. */
static int utf8_len(const unsigned char *s)
{
    unsigned c = s[0];
    int n;
    unsigned min;
    if (c < 0x80)
        return 1;
    if ((c & 0xe0) == 0xc0) {
        n = 2;
        min = 0x80;
        c &= 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
        n = 3;
        min = 0x800;
        c &= 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
        n = 4;
        min = 0x10000;
        c &= 0x07;
    } else {
        return 0;
    }
    for (int i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        c = c << 6 | (s[i] & 0x3f);
    }
    /* Overlong forms, surrogates and values past U+10FFFF are invalid too. */
    if (c < min || (c >= 0xd800 && c <= 0xdfff) || c > 0x10ffff)
        return 0;
    return n;
}

void json_write_string(FILE *f, const char *str)
{
    const unsigned char *s = (const unsigned char *)(str ? str : "");
    fputc('"', f);
    while (*s) {
        unsigned c = *s;
        switch (c) {
        case '"': fputs("\\\"", f); s++; continue;
        case '\\': fputs("\\\\", f); s++; continue;
        case '\b': fputs("\\b", f); s++; continue;
        case '\f': fputs("\\f", f); s++; continue;
        case '\n': fputs("\\n", f); s++; continue;
        case '\r': fputs("\\r", f); s++; continue;
        case '\t': fputs("\\t", f); s++; continue;
        default: break;
        }
        if (c < 0x20 || c == 0x7f) {
            fprintf(f, "\\u%04x", c);
            s++;
            continue;
        }
        int n = utf8_len(s);
        if (n == 0) {
            fputs("\\ufffd", f);
            s++;
            continue;
        }
        fwrite(s, 1, (size_t)n, f);
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
    bool had = j->has_member[j->depth];
    if (j->depth > 0)
        j->depth--;
    if (had) {
        fputc('\n', j->f);
        for (int i = 0; i < j->depth; i++)
            fputs("    ", j->f);
    }
    fputc(c, j->f);
    if (j->depth == 0)
        fputc('\n', j->f);
}

void json_object_open(struct json *j, const char *key) { json_open(j, key, '{'); }
void json_object_close(struct json *j) { json_close(j, '}'); }
void json_array_open(struct json *j, const char *key) { json_open(j, key, '['); }
void json_array_close(struct json *j) { json_close(j, ']'); }

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

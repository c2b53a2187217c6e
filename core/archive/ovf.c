/* SPDX-License-Identifier: GPL-2.0-or-later */
/* ovf.c: the tolerant OVF descriptor reader (see ovf.h).
 *
 * One pass over the text: comments, processing instructions and CDATA are skipped, start and
 * end tags keep a stack of local names, and the few elements and attributes dimg shows are
 * picked up as they close. Everything is bounded: the input size, the nesting depth, every
 * string copied (truncated to its field), the number of items. No DTD, hence no entity
 * definitions and no external references, is accepted.
 * Talks to: nothing (pure C). Never prints.
 */
#include "core/archive/ovf.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OVF_MAX_DEPTH 64
#define OVF_TEXT_MAX 256

struct ovf_item {
    bool active;
    unsigned rtype, instance;
    uint64_t quantity;
    bool has_quantity;
    char subtype[32], units[64];
};

struct ovf_parser {
    const char *p, *end;
    struct ovf *o;
    struct img_err *err;
    char stack[OVF_MAX_DEPTH][48];
    size_t depth;
    char text[OVF_TEXT_MAX];
    size_t tlen;
    struct ovf_item item;
    char disk_units[OVF_MAX_ITEMS][64]; /* capacityAllocationUnits per disk */
    char disk_cap[OVF_MAX_ITEMS][32];
};

/* Copy at most cap-1 bytes, control characters replaced (the text ends up on screens). */
static void ovf_copy(char *dst, size_t cap, const char *src, size_t n)
{
    if (n > cap - 1)
        n = cap - 1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)src[i];
        dst[i] = c < 32 || c == 127 ? '?' : (char)c;
    }
    dst[n] = 0;
}

/* Copy a NUL-terminated string, truncated to the field. */
static void ovf_str(char *dst, size_t cap, const char *src)
{
    size_t n = strnlen(src, cap - 1);
    memcpy(dst, src, n);
    dst[n] = 0;
}

/* Decode the predefined entities and character references of s[0..n) into dst. */
static void ovf_decode(char *dst, size_t cap, const char *s, size_t n)
{
    char tmp[OVF_TEXT_MAX];
    size_t o = 0;
    for (size_t i = 0; i < n && o + 1 < sizeof tmp;) {
        if (s[i] != '&') {
            tmp[o++] = s[i++];
            continue;
        }
        static const struct {
            const char *name;
            char c;
        } ents[] = {{"lt;", '<'}, {"gt;", '>'}, {"amp;", '&'}, {"quot;", '"'}, {"apos;", '\''}};
        bool done = false;
        for (size_t k = 0; k < sizeof ents / sizeof *ents && !done; k++) {
            size_t l = strlen(ents[k].name);
            if (n - i - 1 >= l && memcmp(s + i + 1, ents[k].name, l) == 0) {
                tmp[o++] = ents[k].c;
                i += 1 + l;
                done = true;
            }
        }
        if (!done && i + 2 < n && s[i + 1] == '#') {
            size_t j = i + 2;
            unsigned long v = 0;
            bool hex = s[j] == 'x';
            j += hex;
            while (j < n && j < i + 12 && s[j] != ';') {
                char c = s[j++];
                int d = c >= '0' && c <= '9'          ? c - '0'
                        : hex && c >= 'a' && c <= 'f' ? c - 'a' + 10
                        : hex && c >= 'A' && c <= 'F' ? c - 'A' + 10
                                                      : -1;
                if (d < 0)
                    break;
                v = v * (hex ? 16 : 10) + (unsigned long)d;
            }
            if (j < n && s[j] == ';') {
                tmp[o++] = v >= 32 && v < 127 ? (char)v : '?';
                i = j + 1;
                done = true;
            }
        }
        if (!done)
            tmp[o++] = s[i++]; /* an unknown entity stays as written (never expanded) */
    }
    ovf_copy(dst, cap, tmp, o);
}

static bool ovf_parse_u64(const char *s, uint64_t *v)
{
    while (*s == ' ')
        s++;
    if (*s < '0' || *s > '9')
        return false;
    uint64_t x = 0;
    for (; *s >= '0' && *s <= '9'; s++)
        if (__builtin_mul_overflow(x, 10, &x) ||
            __builtin_add_overflow(x, (uint64_t)(*s - '0'), &x))
            return false;
    while (*s == ' ')
        s++;
    *v = x;
    return *s == 0;
}

int ovf_units(const char *s, uint64_t *mult)
{
    static const struct {
        const char *name;
        uint64_t m;
    } named[] = {{"byte", 1},
                 {"bytes", 1},
                 {"kilobytes", 1ull << 10},
                 {"megabytes", 1ull << 20},
                 {"gigabytes", 1ull << 30},
                 {"terabytes", 1ull << 40},
                 {"kb", 1ull << 10},
                 {"mb", 1ull << 20},
                 {"gb", 1ull << 30}};
    char t[64];
    size_t n = 0;
    for (; *s && n + 1 < sizeof t; s++)
        if (*s != ' ')
            t[n++] = (char)(*s >= 'A' && *s <= 'Z' ? *s - 'A' + 'a' : *s);
    t[n] = 0;
    for (size_t i = 0; i < sizeof named / sizeof *named; i++)
        if (strcmp(t, named[i].name) == 0) {
            *mult = named[i].m;
            return 0;
        }
    /* "byte*2^N" (DMTF programmatic units) or "byte*B" with a plain factor. */
    if (strncmp(t, "byte*", 5) == 0) {
        const char *e = t + 5;
        const char *caret = strchr(e, '^');
        if (caret) {
            uint64_t base, exp;
            char b[16];
            if ((size_t)(caret - e) >= sizeof b)
                return -EINVAL;
            memcpy(b, e, (size_t)(caret - e));
            b[caret - e] = 0;
            if (!ovf_parse_u64(b, &base) || !ovf_parse_u64(caret + 1, &exp) || base < 2 || exp > 63)
                return -EINVAL;
            uint64_t m = 1;
            for (uint64_t i = 0; i < exp; i++)
                if (__builtin_mul_overflow(m, base, &m))
                    return -EINVAL;
            *mult = m;
            return 0;
        }
        uint64_t m;
        if (ovf_parse_u64(e, &m) && m) {
            *mult = m;
            return 0;
        }
    }
    return -EINVAL;
}

static const char *ovf_local(const char *name)
{
    const char *c = strrchr(name, ':');
    return c ? c + 1 : name;
}

static bool ovf_parent_is(const struct ovf_parser *ps, const char *name)
{
    return ps->depth >= 2 && strcmp(ps->stack[ps->depth - 2], name) == 0;
}

static bool ovf_inside(const struct ovf_parser *ps, const char *name)
{
    for (size_t i = 0; i < ps->depth; i++)
        if (strcmp(ps->stack[i], name) == 0)
            return true;
    return false;
}

static int ovf_fail(struct ovf_parser *ps, const char *msg)
{
    return err_set(ps->err, -EINVAL, "OVF descriptor: %s", msg);
}

/* One attribute of a start tag. */
static int ovf_attr(struct ovf_parser *ps, const char *tag, const char *name, const char *val,
                    size_t vlen)
{
    struct ovf *o = ps->o;
    char v[OVF_TEXT_MAX];
    ovf_decode(v, sizeof v, val, vlen);
    if (strcmp(tag, "File") == 0 && o->nfiles) {
        struct ovf_file *f = &o->files[o->nfiles - 1];
        if (strcmp(name, "id") == 0)
            ovf_str(f->id, sizeof f->id, v);
        else if (strcmp(name, "href") == 0)
            ovf_str(f->href, sizeof f->href, v);
        else if (strcmp(name, "size") == 0 && !ovf_parse_u64(v, &f->size))
            return ovf_fail(ps, "a File's size is not a number");
    } else if (strcmp(tag, "Disk") == 0 && o->ndisks) {
        size_t i = o->ndisks - 1;
        struct ovf_disk *d = &o->disks[i];
        if (strcmp(name, "diskId") == 0)
            ovf_str(d->id, sizeof d->id, v);
        else if (strcmp(name, "fileRef") == 0)
            ovf_str(d->file_ref, sizeof d->file_ref, v);
        else if (strcmp(name, "capacity") == 0)
            ovf_str(ps->disk_cap[i], sizeof ps->disk_cap[i], v);
        else if (strcmp(name, "capacityAllocationUnits") == 0)
            ovf_str(ps->disk_units[i], sizeof ps->disk_units[i], v);
        else if (strcmp(name, "populatedSize") == 0 && !ovf_parse_u64(v, &d->populated_size))
            return ovf_fail(ps, "a Disk's populatedSize is not a number");
        else if (strcmp(name, "format") == 0)
            ovf_str(d->format, sizeof d->format, v);
    } else if (strcmp(tag, "VirtualSystem") == 0 && strcmp(name, "id") == 0 && !o->name[0]) {
        ovf_str(o->name, sizeof o->name, v);
    } else if (strcmp(tag, "OperatingSystemSection") == 0 && strcmp(name, "osType") == 0 &&
               !o->os[0]) {
        ovf_str(o->os, sizeof o->os, v);
    }
    return 0;
}

static int ovf_start(struct ovf_parser *ps, const char *tag)
{
    struct ovf *o = ps->o;
    if (ps->depth >= OVF_MAX_DEPTH)
        return ovf_fail(ps, "nested too deeply");
    ovf_str(ps->stack[ps->depth++], sizeof ps->stack[0], tag);
    ps->tlen = 0;
    if (strcmp(tag, "File") == 0 && ovf_inside(ps, "References")) {
        if (o->nfiles >= OVF_MAX_ITEMS)
            return ovf_fail(ps, "too many files");
        memset(&o->files[o->nfiles++], 0, sizeof o->files[0]);
    } else if (strcmp(tag, "Disk") == 0 && ovf_inside(ps, "DiskSection")) {
        if (o->ndisks >= OVF_MAX_ITEMS)
            return ovf_fail(ps, "too many disks");
        memset(&o->disks[o->ndisks], 0, sizeof o->disks[0]);
        ps->disk_units[o->ndisks][0] = ps->disk_cap[o->ndisks][0] = 0;
        o->ndisks++;
    } else if (strcmp(tag, "Item") == 0 || strcmp(tag, "StorageItem") == 0 ||
               strcmp(tag, "EthernetPortItem") == 0) {
        memset(&ps->item, 0, sizeof ps->item);
        ps->item.active = true;
    }
    return 0;
}

static int ovf_item_end(struct ovf_parser *ps)
{
    struct ovf *o = ps->o;
    struct ovf_item *it = &ps->item;
    it->active = false;
    const char *type = NULL;
    switch (it->rtype) {
    case 3:
        if (it->has_quantity && it->quantity < 1u << 20)
            o->cpus = (unsigned)it->quantity;
        return 0;
    case 4: {
        uint64_t m = 1u << 20; /* the usual default: megabytes */
        if (it->units[0] && ovf_units(it->units, &m) < 0)
            return ovf_fail(ps, "memory AllocationUnits not understood");
        if (it->has_quantity && __builtin_mul_overflow(it->quantity, m, &o->memory))
            return ovf_fail(ps, "memory size overflows");
        return 0;
    }
    case 5: type = "IDE"; break;
    case 6: type = "SCSI"; break;
    case 20: type = "SATA"; break;
    case 10: o->nnet++; return 0;
    default: return 0;
    }
    if (o->nctrl >= OVF_MAX_ITEMS)
        return ovf_fail(ps, "too many controllers");
    struct ovf_controller *c = &o->ctrl[o->nctrl++];
    snprintf(c->type, sizeof c->type, "%s%s%s", type, it->subtype[0] ? " " : "", it->subtype);
    c->instance = it->instance;
    return 0;
}

static int ovf_end(struct ovf_parser *ps, const char *tag)
{
    struct ovf *o = ps->o;
    if (!ps->depth || strcmp(ps->stack[ps->depth - 1], tag) != 0)
        return ovf_fail(ps, "mismatched end tag");
    char t[OVF_TEXT_MAX];
    ovf_decode(t, sizeof t, ps->text, ps->tlen);
    /* Trim blanks around element text. */
    char *s = t;
    while (*s == ' ' || *s == '?')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '?'))
        s[--n] = 0;
    struct ovf_item *it = &ps->item;
    int r = 0;
    if (it->active && (strcmp(tag, "Item") == 0 || strcmp(tag, "StorageItem") == 0 ||
                       strcmp(tag, "EthernetPortItem") == 0)) {
        r = ovf_item_end(ps);
    } else if (it->active) {
        uint64_t v;
        if (strcmp(tag, "ResourceType") == 0 && ovf_parse_u64(s, &v) && v < 1000)
            it->rtype = (unsigned)v;
        else if (strcmp(tag, "ResourceSubType") == 0)
            ovf_str(it->subtype, sizeof it->subtype, s);
        else if (strcmp(tag, "VirtualQuantity") == 0 && ovf_parse_u64(s, &it->quantity))
            it->has_quantity = true;
        else if (strcmp(tag, "AllocationUnits") == 0)
            ovf_str(it->units, sizeof it->units, s);
        else if (strcmp(tag, "InstanceID") == 0 && ovf_parse_u64(s, &v) && v < 1u << 30)
            it->instance = (unsigned)v;
    } else if (strcmp(tag, "Name") == 0 && ovf_parent_is(ps, "VirtualSystem") && s[0]) {
        ovf_str(o->name, sizeof o->name, s);
    } else if (strcmp(tag, "Description") == 0 && ovf_parent_is(ps, "OperatingSystemSection") &&
               s[0]) {
        ovf_str(o->os, sizeof o->os, s);
    }
    ps->depth--;
    ps->tlen = 0;
    return r;
}

static bool ovf_is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* A start tag after '<': name, attributes, optional '/'. */
static int ovf_tag(struct ovf_parser *ps)
{
    const char *p = ps->p, *end = ps->end;
    const char *n0 = p;
    while (p < end && !ovf_is_space(*p) && *p != '>' && *p != '/')
        p++;
    if (p == n0 || p >= end)
        return ovf_fail(ps, "malformed tag");
    char full[48];
    ovf_copy(full, sizeof full, n0, (size_t)(p - n0));
    char tag[48];
    ovf_str(tag, sizeof tag, ovf_local(full));
    int r = ovf_start(ps, tag);
    if (r < 0)
        return r;
    for (;;) {
        while (p < end && ovf_is_space(*p))
            p++;
        if (p >= end)
            return ovf_fail(ps, "unterminated tag");
        if (*p == '>') {
            ps->p = p + 1;
            return 0;
        }
        if (*p == '/') {
            if (p + 1 >= end || p[1] != '>')
                return ovf_fail(ps, "malformed tag");
            ps->p = p + 2;
            return ovf_end(ps, tag);
        }
        const char *a0 = p;
        while (p < end && *p != '=' && !ovf_is_space(*p) && *p != '>')
            p++;
        char aname[48];
        ovf_copy(aname, sizeof aname, a0, (size_t)(p - a0));
        while (p < end && ovf_is_space(*p))
            p++;
        if (p >= end || *p != '=')
            return ovf_fail(ps, "attribute without a value");
        p++;
        while (p < end && ovf_is_space(*p))
            p++;
        if (p >= end || (*p != '"' && *p != '\''))
            return ovf_fail(ps, "attribute value not quoted");
        char q = *p++;
        const char *v0 = p;
        while (p < end && *p != q)
            p++;
        if (p >= end)
            return ovf_fail(ps, "unterminated attribute value");
        r = ovf_attr(ps, tag, ovf_local(aname), v0, (size_t)(p - v0));
        if (r < 0)
            return r;
        p++;
    }
}

static const char *ovf_find(const char *p, const char *end, const char *s)
{
    size_t n = strlen(s);
    for (; p + n <= end; p++)
        if (memcmp(p, s, n) == 0)
            return p;
    return NULL;
}

int ovf_parse(const char *text, size_t len, struct ovf **out, struct img_err *err)
{
    *out = NULL;
    if (len > OVF_MAX_BYTES)
        return err_set(err, -EFBIG, "OVF descriptor of %zu bytes exceeds the limit of %u", len,
                       OVF_MAX_BYTES);
    struct ovf_parser *ps = calloc(1, sizeof *ps);
    struct ovf *o = calloc(1, sizeof *o);
    if (!ps || !o) {
        free(ps);
        free(o);
        return err_set(err, -ENOMEM, "out of memory");
    }
    ps->p = text;
    ps->end = text + len;
    ps->o = o;
    ps->err = err;
    int r = 0;
    bool root = false;
    while (ps->p < ps->end && r == 0) {
        const char *lt = memchr(ps->p, '<', (size_t)(ps->end - ps->p));
        const char *stop = lt ? lt : ps->end;
        if (ps->depth) {
            size_t n = (size_t)(stop - ps->p);
            if (n > sizeof ps->text - ps->tlen)
                n = sizeof ps->text - ps->tlen;
            memcpy(ps->text + ps->tlen, ps->p, n);
            ps->tlen += n;
        }
        if (!lt)
            break;
        const char *p = lt + 1;
        size_t rest = (size_t)(ps->end - p);
        const char *close;
        if (rest >= 3 && memcmp(p, "!--", 3) == 0) {
            close = ovf_find(p + 3, ps->end, "-->");
            if (!close) {
                r = ovf_fail(ps, "unterminated comment");
                break;
            }
            ps->p = close + 3;
        } else if (rest >= 8 && memcmp(p, "![CDATA[", 8) == 0) {
            close = ovf_find(p + 8, ps->end, "]]>");
            if (!close) {
                r = ovf_fail(ps, "unterminated CDATA section");
                break;
            }
            ps->p = close + 3;
        } else if (rest >= 1 && p[0] == '!') {
            /* <!DOCTYPE ...>, <!ENTITY ...>: where entity bombs and external entities live. */
            r = ovf_fail(ps, "document type declarations are not accepted");
        } else if (rest >= 1 && p[0] == '?') {
            close = ovf_find(p + 1, ps->end, "?>");
            if (!close) {
                r = ovf_fail(ps, "unterminated processing instruction");
                break;
            }
            ps->p = close + 2;
        } else if (rest >= 1 && p[0] == '/') {
            const char *n0 = p + 1, *q = n0;
            while (q < ps->end && *q != '>' && !ovf_is_space(*q))
                q++;
            const char *gt = q < ps->end ? memchr(q, '>', (size_t)(ps->end - q)) : NULL;
            if (!gt) {
                r = ovf_fail(ps, "unterminated end tag");
                break;
            }
            char full[48], tag[48];
            ovf_copy(full, sizeof full, n0, (size_t)(q - n0));
            ovf_str(tag, sizeof tag, ovf_local(full));
            ps->p = gt + 1;
            r = ovf_end(ps, tag);
        } else {
            if (!ps->depth && root) {
                r = ovf_fail(ps, "more than one root element");
                break;
            }
            root = true;
            ps->p = p;
            r = ovf_tag(ps);
        }
    }
    if (r == 0 && (ps->depth || !root))
        r = ovf_fail(ps, ps->depth ? "truncated (elements left open)" : "no elements");
    if (r == 0 && (!o->nfiles && !o->ndisks && !o->name[0]))
        r = ovf_fail(ps, "no References, DiskSection or VirtualSystem: not OVF");
    for (size_t i = 0; r == 0 && i < o->ndisks; i++) {
        struct ovf_disk *d = &o->disks[i];
        uint64_t cap = 0, m = 1;
        if (ps->disk_cap[i][0] && !ovf_parse_u64(ps->disk_cap[i], &cap))
            r = err_set(err, -EINVAL, "OVF descriptor: disk %s: capacity '%s' is not a number",
                        d->id, ps->disk_cap[i]);
        else if (ps->disk_units[i][0] && ovf_units(ps->disk_units[i], &m) < 0)
            r = err_set(err, -EINVAL,
                        "OVF descriptor: disk %s: allocation units '%s' not "
                        "understood",
                        d->id, ps->disk_units[i]);
        else if (__builtin_mul_overflow(cap, m, &d->capacity))
            r = err_set(err, -EOVERFLOW, "OVF descriptor: disk %s: capacity overflows", d->id);
        for (size_t k = 0; k < o->nfiles; k++)
            if (d->file_ref[0] && strcmp(o->files[k].id, d->file_ref) == 0)
                ovf_str(d->href, sizeof d->href, o->files[k].href);
    }
    free(ps);
    if (r < 0) {
        free(o);
        return r;
    }
    *out = o;
    return 0;
}

void ovf_free(struct ovf *o)
{
    free(o);
}

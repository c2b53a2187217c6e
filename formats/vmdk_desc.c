/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vmdk_desc.c: the vmdk descriptor, parsed from text and rendered back.
 *
 * The descriptor is the text that names a vmdk's extents and carries its content IDs, its
 * parent link and the disk database (ddb.*) entries. Parsing is strict because the text comes
 * from whoever made the image: every line is a comment, a key=value pair with a bounded key and
 * value, or an extent line `ACCESS SECTORS TYPE ["FILE" [OFFSET]]`; anything else is refused
 * with the line number. Keys dimg does not interpret are kept in order and written back
 * unchanged when the descriptor is rewritten (new CID, grown extents).
 * Talks to: nothing but libc; formats/vmdk.c and formats/vmdk_create.c use it.
 */
#include "formats/vmdk.h"
#include "formats/drivers.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VMDK_KV_MAX 256 /* keys besides the interpreted ones */

const char *const vmdk_create_types[] = {
    "monolithicSparse",   "monolithicFlat",  "twoGbMaxExtentSparse",
    "twoGbMaxExtentFlat", "streamOptimized", "vmfs",
    "vmfsSparse",         "seSparse",        NULL,
};

static bool vmdk_create_type_known(const char *t)
{
    for (size_t i = 0; vmdk_create_types[i]; i++)
        if (strcmp(t, vmdk_create_types[i]) == 0)
            return true;
    return false;
}

static const struct {
    const char *name;
    enum vmdk_etype type;
} etypes[] = {
    {"FLAT", VMDK_FLAT}, {"SPARSE", VMDK_SPARSE},         {"ZERO", VMDK_ZERO},
    {"VMFS", VMDK_VMFS}, {"VMFSSPARSE", VMDK_VMFSSPARSE}, {"SESPARSE", VMDK_SESPARSE},
};
static const char *const accesses[] = {"RW", "RDONLY", "NOACCESS"};

const char *vmdk_etype_name(enum vmdk_etype t)
{
    for (size_t i = 0; i < sizeof etypes / sizeof *etypes; i++)
        if (etypes[i].type == t)
            return etypes[i].name;
    return "";
}

void vmdk_desc_free(struct vmdk_desc *d)
{
    free(d->ext);
    free(d->kv);
    memset(d, 0, sizeof *d);
}

/* A decimal number of at most 18 digits (no sign, no spaces). */
static bool parse_dec(const char *s, size_t n, uint64_t *v)
{
    if (n == 0 || n > 18)
        return false;
    uint64_t x = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return false;
        x = x * 10 + (uint64_t)(s[i] - '0');
    }
    *v = x;
    return true;
}

static bool parse_hex32(const char *s, uint32_t *v)
{
    size_t n = strlen(s);
    if (n == 0 || n > 8)
        return false;
    uint32_t x = 0;
    for (size_t i = 0; i < n; i++) {
        int c = tolower((unsigned char)s[i]);
        if (!isxdigit(c))
            return false;
        x = x * 16 + (uint32_t)(isdigit(c) ? c - '0' : c - 'a' + 10);
    }
    *v = x;
    return true;
}

/* Next whitespace-separated token of *p (quotes not special); its length, 0 at the end. */
static size_t token(const char **p, const char **tok)
{
    const char *s = *p;
    while (*s == ' ' || *s == '\t')
        s++;
    *tok = s;
    while (*s && *s != ' ' && *s != '\t')
        s++;
    *p = s;
    return (size_t)(s - *tok);
}

/* Make room for element n of *arr: the capacity is 4, then doubles at each power of two. */
static int grow(void **arr, size_t n, size_t sz)
{
    if (n != 0 && (n < 4 || (n & (n - 1))))
        return 0;
    void *p = realloc(*arr, (n ? n * 2 : 4) * sz);
    if (!p)
        return -ENOMEM;
    *arr = p;
    return 0;
}

int vmdk_desc_add_extent(struct vmdk_desc *d, enum vmdk_access acc, uint64_t sectors,
                         enum vmdk_etype type, const char *file, uint64_t offset)
{
    if (strlen(file) >= sizeof d->ext[0].file)
        return -EINVAL;
    if (grow((void **)&d->ext, d->n_ext, sizeof *d->ext) < 0)
        return -ENOMEM;
    struct vmdk_desc_extent *e = &d->ext[d->n_ext++];
    memset(e, 0, sizeof *e);
    e->access = acc;
    e->sectors = sectors;
    e->type = type;
    strcpy(e->file, file);
    e->offset = offset;
    return 0;
}

static int parse_extent(struct vmdk_desc *d, const char *line, unsigned ln, struct img_err *err)
{
    const char *p = line, *t;
    size_t n = token(&p, &t);
    int acc = -1;
    for (int i = 0; i < 3; i++)
        if (strlen(accesses[i]) == n && memcmp(t, accesses[i], n) == 0)
            acc = i;
    uint64_t sectors, offset = 0;
    n = token(&p, &t);
    if (acc < 0 || !parse_dec(t, n, &sectors) || sectors == 0)
        return img_drv_error(&img_driver_vmdk, err, -EINVAL,
                             "descriptor line %u: invalid extent line "
                             "(want ACCESS SECTORS TYPE \"FILE\" [OFFSET])",
                             ln);
    n = token(&p, &t);
    int type = -1;
    for (size_t i = 0; i < sizeof etypes / sizeof *etypes; i++)
        if (strlen(etypes[i].name) == n && memcmp(t, etypes[i].name, n) == 0)
            type = (int)etypes[i].type;
    if (type < 0)
        return img_drv_error(&img_driver_vmdk, err, -EINVAL,
                             "descriptor line %u: unknown extent type '%.*s'", ln,
                             (int)(n > 20 ? 20 : n), t);
    char file[sizeof d->ext[0].file] = "";
    if (type != VMDK_ZERO) {
        while (*p == ' ' || *p == '\t')
            p++;
        const char *q = *p == '"' ? strchr(p + 1, '"') : NULL;
        if (!q || q == p + 1)
            return img_drv_error(&img_driver_vmdk, err, -EINVAL,
                                 "descriptor line %u: extent file name must be "
                                 "a non-empty quoted string",
                                 ln);
        if ((size_t)(q - p - 1) >= sizeof file)
            return img_drv_error(&img_driver_vmdk, err, -EINVAL,
                                 "descriptor line %u: extent file name longer "
                                 "than %zu bytes",
                                 ln, sizeof file - 1);
        memcpy(file, p + 1, (size_t)(q - p - 1));
        file[q - p - 1] = 0;
        p = q + 1;
        if (*p && *p != ' ' && *p != '\t')
            return img_drv_error(&img_driver_vmdk, err, -EINVAL,
                                 "descriptor line %u: invalid extent line", ln);
        n = token(&p, &t);
        if (n && !parse_dec(t, n, &offset))
            return img_drv_error(&img_driver_vmdk, err, -EINVAL,
                                 "descriptor line %u: invalid extent offset", ln);
        if (!n && type == VMDK_FLAT)
            return img_drv_error(&img_driver_vmdk, err, -EINVAL,
                                 "descriptor line %u: FLAT extent without an "
                                 "offset",
                                 ln);
    }
    if (token(&p, &t))
        return img_drv_error(&img_driver_vmdk, err, -EINVAL,
                             "descriptor line %u: trailing text after the "
                             "extent",
                             ln);
    if (d->n_ext >= VMDK_EXTENTS_MAX)
        return img_drv_error(&img_driver_vmdk, err, -EINVAL, "more than %d extents",
                             VMDK_EXTENTS_MAX);
    if (vmdk_desc_add_extent(d, (enum vmdk_access)acc, sectors, (enum vmdk_etype)type, file,
                             offset) < 0)
        return err_set(err, -ENOMEM, "out of memory");
    return 0;
}

/* Store one key=value line; the interpreted keys go into their fields. */
static int parse_kv(struct vmdk_desc *d, const char *key, const char *val, bool quoted, unsigned ln,
                    unsigned *seen, struct img_err *err)
{
    static const char *const known[] = {"version", "CID", "parentCID", "createType",
                                        "parentFileNameHint"};
    for (unsigned i = 0; i < 5; i++) {
        if (strcmp(key, known[i]) != 0)
            continue;
        if (*seen & (1u << i))
            return img_drv_error(&img_driver_vmdk, err, -EINVAL,
                                 "descriptor line %u: %s given twice", ln, key);
        *seen |= 1u << i;
        uint64_t v;
        switch (i) {
        case 0:
            if (!parse_dec(val, strlen(val), &v) || v < 1 || v > 3)
                return img_drv_error(&img_driver_vmdk, err, -EINVAL,
                                     "descriptor line %u: version '%s' is not "
                                     "1, 2 or 3",
                                     ln, val);
            d->version = (unsigned)v;
            return 0;
        case 1:
        case 2:
            if (!parse_hex32(val, i == 1 ? &d->cid : &d->parent_cid))
                return img_drv_error(&img_driver_vmdk, err, -EINVAL,
                                     "descriptor line %u: %s '%s' is not 8 hex "
                                     "digits",
                                     ln, key, val);
            return 0;
        case 3:
            if (!vmdk_create_type_known(val))
                return img_drv_error(&img_driver_vmdk, err, -ENOTSUP,
                                     "unsupported createType '%.40s'", val);
            strcpy(d->create_type, val);
            return 0;
        default:
            if (strlen(val) >= sizeof d->parent_hint)
                return img_drv_error(&img_driver_vmdk, err, -EINVAL,
                                     "descriptor line %u: parentFileNameHint "
                                     "too long",
                                     ln);
            strcpy(d->parent_hint, val);
            return 0;
        }
    }
    if (strlen(key) >= sizeof d->kv[0].key || strlen(val) >= sizeof d->kv[0].val)
        return img_drv_error(&img_driver_vmdk, err, -EINVAL,
                             "descriptor line %u: key or value too long", ln);
    if (vmdk_desc_get(d, key))
        return img_drv_error(&img_driver_vmdk, err, -EINVAL, "descriptor line %u: %s given twice",
                             ln, key);
    if (d->n_kv >= VMDK_KV_MAX)
        return img_drv_error(&img_driver_vmdk, err, -EINVAL, "descriptor has more than %d entries",
                             VMDK_KV_MAX);
    return vmdk_desc_set(d, key, val, quoted) < 0 ? err_set(err, -ENOMEM, "out of memory") : 0;
}

static int parse_line(struct vmdk_desc *d, char *s, unsigned ln, unsigned *seen,
                      struct img_err *err)
{
    if (!*s || *s == '#')
        return 0;
    if (strncmp(s, "RW", 2) == 0 || strncmp(s, "RDONLY", 6) == 0 || strncmp(s, "NOACCESS", 8) == 0)
        return parse_extent(d, s, ln, err);
    char *eq = strchr(s, '=');
    if (!eq)
        return img_drv_error(&img_driver_vmdk, err, -EINVAL,
                             "descriptor line %u is neither key=value nor an "
                             "extent",
                             ln);
    char *k = s, *v = eq + 1, *ke = eq;
    while (ke > k && (ke[-1] == ' ' || ke[-1] == '\t'))
        ke--;
    *ke = 0;
    if (!*k)
        return img_drv_error(&img_driver_vmdk, err, -EINVAL, "descriptor line %u: empty key", ln);
    for (char *c = k; *c; c++)
        if (!isalnum((unsigned char)*c) && *c != '.' && *c != '_' && *c != '-')
            return img_drv_error(&img_driver_vmdk, err, -EINVAL, "descriptor line %u: invalid key",
                                 ln);
    while (*v == ' ' || *v == '\t')
        v++;
    bool quoted = *v == '"';
    if (quoted) {
        char *q = strchr(v + 1, '"');
        if (!q || q[1])
            return img_drv_error(&img_driver_vmdk, err, -EINVAL,
                                 "descriptor line %u: unbalanced quotes", ln);
        *q = 0;
        v++;
    }
    return parse_kv(d, k, v, quoted, ln, seen, err);
}

int vmdk_desc_parse(const char *text, size_t len, struct vmdk_desc *d, struct img_err *err)
{
    memset(d, 0, sizeof *d);
    d->parent_cid = 0xffffffffu;
    d->cid = 0xfffffffeu; /* what VMware tools treat as "unset" */
    const char *nul = memchr(text, 0, len);
    if (nul)
        len = (size_t)(nul - text);
    if (len > VMDK_DESC_MAX)
        return img_drv_error(&img_driver_vmdk, err, -EINVAL, "descriptor larger than %u bytes",
                             VMDK_DESC_MAX);
    char *buf = malloc(len + 1);
    if (!buf)
        return err_set(err, -ENOMEM, "out of memory");
    memcpy(buf, text, len);
    buf[len] = 0;
    unsigned ln = 0, seen = 0;
    int r = 0;
    for (char *s = buf, *next; s && r == 0; s = next) {
        next = strchr(s, '\n');
        if (next)
            *next++ = 0;
        ln++;
        size_t n = strlen(s);
        while (n && (s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t'))
            s[--n] = 0;
        while (*s == ' ' || *s == '\t')
            s++;
        r = parse_line(d, s, ln, &seen, err);
    }
    free(buf);
    if (r == 0 && !d->create_type[0])
        r = img_drv_error(&img_driver_vmdk, err, -EINVAL, "descriptor has no createType");
    if (r == 0 && d->n_ext == 0)
        r = img_drv_error(&img_driver_vmdk, err, -EINVAL, "descriptor lists no extents");
    if (r == 0 && !d->version)
        d->version = 1;
    if (r < 0)
        vmdk_desc_free(d);
    return r;
}

const char *vmdk_desc_get(const struct vmdk_desc *d, const char *key)
{
    for (size_t i = 0; i < d->n_kv; i++)
        if (strcmp(d->kv[i].key, key) == 0)
            return d->kv[i].val;
    return NULL;
}

int vmdk_desc_set(struct vmdk_desc *d, const char *key, const char *val, bool quoted)
{
    if (strlen(key) >= sizeof d->kv[0].key || strlen(val) >= sizeof d->kv[0].val)
        return -EINVAL;
    struct vmdk_desc_kv *kv = NULL;
    for (size_t i = 0; i < d->n_kv; i++)
        if (strcmp(d->kv[i].key, key) == 0)
            kv = &d->kv[i];
    if (!kv) {
        if (grow((void **)&d->kv, d->n_kv, sizeof *d->kv) < 0)
            return -ENOMEM;
        kv = &d->kv[d->n_kv++];
        strcpy(kv->key, key);
    }
    strcpy(kv->val, val);
    kv->quoted = quoted;
    return 0;
}

/* A growing string buffer for rendering. */
struct sbuf {
    char *p;
    size_t n, cap;
    bool oom;
};

static void sb_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(struct sbuf *b, const char *fmt, ...)
{
    va_list ap;
    for (;;) {
        if (b->oom)
            return;
        va_start(ap, fmt);
        int k = vsnprintf(b->p ? b->p + b->n : NULL, b->p ? b->cap - b->n : 0, fmt, ap);
        va_end(ap);
        if (k < 0) {
            b->oom = true;
            return;
        }
        if (b->p && b->n + (size_t)k < b->cap) {
            b->n += (size_t)k;
            return;
        }
        size_t cap = (b->cap ? b->cap * 2 : 1024) + (size_t)k;
        char *q = realloc(b->p, cap);
        if (!q) {
            b->oom = true;
            return;
        }
        b->p = q;
        b->cap = cap;
    }
}

char *vmdk_desc_format(const struct vmdk_desc *d, size_t *len)
{
    struct sbuf b = {0};
    sb_printf(&b, "# Disk DescriptorFile\nversion=%u\n", d->version ? d->version : 1);
    size_t i = 0;
    /* Keys that sat in the header part (encoding=, isNativeSnapshot=...) stay there. */
    for (; i < d->n_kv && strncmp(d->kv[i].key, "ddb.", 4) != 0; i++)
        sb_printf(&b, d->kv[i].quoted ? "%s=\"%s\"\n" : "%s=%s\n", d->kv[i].key, d->kv[i].val);
    sb_printf(&b, "CID=%08" PRIx32 "\nparentCID=%08" PRIx32 "\ncreateType=\"%s\"\n", d->cid,
              d->parent_cid, d->create_type);
    /* A hint read unquoted may hold a quote: written quoted it would end there. */
    if (d->parent_hint[0])
        sb_printf(&b,
                  strchr(d->parent_hint, '"') ? "parentFileNameHint=%s\n"
                                              : "parentFileNameHint=\"%s\"\n",
                  d->parent_hint);
    sb_printf(&b, "\n# Extent description\n");
    for (size_t e = 0; e < d->n_ext; e++) {
        const struct vmdk_desc_extent *x = &d->ext[e];
        const char *tn = "FLAT";
        for (size_t t = 0; t < sizeof etypes / sizeof *etypes; t++)
            if (etypes[t].type == x->type)
                tn = etypes[t].name;
        sb_printf(&b, "%s %" PRIu64 " %s", accesses[x->access], x->sectors, tn);
        if (x->type != VMDK_ZERO)
            sb_printf(&b, " \"%s\"", x->file);
        if (x->type == VMDK_FLAT || (x->type == VMDK_VMFS && x->offset))
            sb_printf(&b, " %" PRIu64, x->offset);
        sb_printf(&b, "\n");
    }
    sb_printf(&b, "\n# The Disk Data Base\n#DDB\n\n");
    for (; i < d->n_kv; i++)
        sb_printf(&b, d->kv[i].quoted ? "%s = \"%s\"\n" : "%s = %s\n", d->kv[i].key, d->kv[i].val);
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    *len = b.n;
    return b.p;
}

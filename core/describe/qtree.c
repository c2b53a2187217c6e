/* SPDX-License-Identifier: GPL-2.0-or-later */
/* qtree.c: the ordered value tree of qtree.h. Each object's members are sorted once, when
 * printed, by the bucket qemu's QDict puts them in (its string hash modulo 512; a later member
 * of the same bucket first, as QDict inserts at the head of a bucket). */
#include "core/describe/qtree.h"

#include <stdlib.h>
#include <string.h>

#include "core/base/esc.h"
#include "core/describe/json.h"

enum qtree_type { QT_OBJ, QT_ARR, QT_STR, QT_INT, QT_UINT, QT_BOOL };

struct qtree {
    char *key;
    enum qtree_type t;
    char *str;
    int64_t num;
    uint64_t unum;
    struct qtree **kid;
    size_t nkid, cap;
    size_t seq; /* insertion order among its siblings */
};

struct qtree *qtree_new(void)
{
    return calloc(1, sizeof(struct qtree));
}

void qtree_free(struct qtree *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->nkid; i++)
        qtree_free(t->kid[i]);
    free(t->kid);
    free(t->key);
    free(t->str);
    free(t);
}

/* The child of p named key (len bytes), or NULL; qtree_child's lookup for a const tree. */
static const struct qtree *qtree_find(const struct qtree *p, const char *key, size_t len)
{
    if (p->t != QT_OBJ && p->t != QT_ARR)
        return NULL;
    for (size_t i = p->nkid; i-- > 0;) /* the newest first: arrays grow at the end */
        if (strlen(p->kid[i]->key) == len && memcmp(p->kid[i]->key, key, len) == 0)
            return p->kid[i];
    return NULL;
}

static struct qtree *qtree_child(struct qtree *p, const char *key, size_t len, bool create)
{
    if (p->t != QT_OBJ && p->t != QT_ARR)
        return NULL;
    for (size_t i = p->nkid; i-- > 0;) /* the newest first: arrays grow at the end */
        if (strlen(p->kid[i]->key) == len && memcmp(p->kid[i]->key, key, len) == 0)
            return p->kid[i];
    if (!create)
        return NULL;
    if (p->nkid == p->cap) {
        size_t nc = p->cap ? p->cap * 2 : 8;
        struct qtree **k = realloc(p->kid, nc * sizeof *k);
        if (!k)
            return NULL;
        p->kid = k;
        p->cap = nc;
    }
    struct qtree *c = calloc(1, sizeof *c);
    if (!c || !(c->key = strndup(key, len))) {
        free(c);
        return NULL;
    }
    c->seq = p->nkid;
    p->kid[p->nkid++] = c;
    bool digits = len > 0;
    for (size_t i = 0; i < len; i++)
        digits = digits && key[i] >= '0' && key[i] <= '9';
    if (digits && p->nkid == 1)
        p->t = QT_ARR; /* "slots.0...": slots is a list */
    return c;
}

/* The leaf at path, created with its parents; NULL when it cannot be. */
static struct qtree *qtree_leaf(struct qtree *t, const char *path)
{
    struct qtree *n = t;
    for (const char *p = path; n;) {
        const char *dot = strchr(p, '.');
        size_t len = dot ? (size_t)(dot - p) : strlen(p);
        n = qtree_child(n, p, len, true);
        if (!dot)
            break;
        p = dot + 1;
    }
    if (!n || n->nkid)
        return NULL;
    return n;
}

void qtree_str(struct qtree *t, const char *path, const char *v)
{
    struct qtree *n = qtree_leaf(t, path);
    if (n && (n->str = strdup(v ? v : "")))
        n->t = QT_STR;
}

void qtree_int(struct qtree *t, const char *path, int64_t v)
{
    struct qtree *n = qtree_leaf(t, path);
    if (n) {
        n->t = QT_INT;
        n->num = v;
    }
}

void qtree_uint(struct qtree *t, const char *path, uint64_t v)
{
    struct qtree *n = qtree_leaf(t, path);
    if (n) {
        n->t = QT_UINT;
        n->unum = v;
    }
}

void qtree_bool(struct qtree *t, const char *path, bool v)
{
    struct qtree *n = qtree_leaf(t, path);
    if (n) {
        n->t = QT_BOOL;
        n->num = v;
    }
}

void qtree_array(struct qtree *t, const char *path)
{
    struct qtree *n = qtree_leaf(t, path);
    if (n)
        n->t = QT_ARR;
}

const struct qtree *qtree_get(const struct qtree *t, const char *path)
{
    const struct qtree *n = t;
    for (const char *p = path; n;) {
        const char *dot = strchr(p, '.');
        size_t len = dot ? (size_t)(dot - p) : strlen(p);
        n = qtree_find(n, p, len);
        if (!dot)
            break;
        p = dot + 1;
    }
    return n;
}

bool qtree_empty(const struct qtree *t)
{
    return !t || t->nkid == 0;
}

/* QDict's bucket for a key: its string hash (a length-seeded sum of shifted bytes, then one
 * linear-congruential step) modulo its 512 buckets. */
static unsigned qtree_bucket(const char *key)
{
    uint32_t v = 0x238f13afu * (uint32_t)strlen(key);
    for (uint32_t i = 0; key[i]; i++)
        v += (uint32_t)(unsigned char)key[i] << (i * 5 % 24);
    return (1103515243u * v + 12345u) % 512u;
}

static bool qtree_ours(const struct qtree *n)
{
    return strncmp(n->key, "dimg-", 5) == 0;
}

static int qtree_cmp(const void *pa, const void *pb)
{
    const struct qtree *a = *(const struct qtree *const *)pa, *b = *(const struct qtree *const *)pb;
    bool oa = qtree_ours(a), ob = qtree_ours(b);
    if (oa != ob)
        return oa ? 1 : -1;
    if (!oa) {
        unsigned ba = qtree_bucket(a->key), bb = qtree_bucket(b->key);
        if (ba != bb)
            return ba < bb ? -1 : 1;
        return a->seq > b->seq ? -1 : a->seq < b->seq; /* head insertion: newest first */
    }
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* The members of an object in print order (an array's in index order); malloc'd, or NULL
 * (then the stored order is used). */
static struct qtree **qtree_order(const struct qtree *t, bool qemu_order)
{
    if (!t->nkid)
        return NULL;
    struct qtree **v = malloc(t->nkid * sizeof *v);
    if (!v)
        return NULL;
    memcpy(v, t->kid, t->nkid * sizeof *v);
    if (t->t == QT_OBJ && qemu_order)
        qsort(v, t->nkid, sizeof *v, qtree_cmp);
    return v;
}

static void qtree_json_rec(struct json *j, const char *key, const struct qtree *t, bool qemu)
{
    switch (t->t) {
    case QT_STR: json_string(j, key, t->str); return;
    case QT_INT: json_int(j, key, t->num); return;
    case QT_UINT: json_uint(j, key, t->unum); return;
    case QT_BOOL: json_bool(j, key, t->num != 0); return;
    case QT_OBJ: json_object_open(j, key); break;
    case QT_ARR: json_array_open(j, key); break;
    }
    struct qtree **v = qtree_order(t, qemu);
    for (size_t i = 0; i < t->nkid; i++) {
        const struct qtree *c = v ? v[i] : t->kid[i];
        qtree_json_rec(j, t->t == QT_ARR ? NULL : c->key, c, qemu && !qtree_ours(c));
    }
    free(v);
    if (t->t == QT_OBJ)
        json_object_close(j);
    else
        json_array_close(j);
}

void qtree_json(struct json *j, const char *key, const struct qtree *t)
{
    qtree_json_rec(j, key, t, !(t->key && qtree_ours(t)));
}

static void qtree_human_rec(FILE *f, const struct qtree *t, int indent, bool qemu)
{
    struct qtree **v = qtree_order(t, qemu);
    for (size_t i = 0; i < t->nkid; i++) {
        const struct qtree *c = v ? v[i] : t->kid[i];
        bool composite = c->t == QT_OBJ || c->t == QT_ARR;
        fprintf(f, "%*s", indent * 4, "");
        if (t->t == QT_ARR) {
            fprintf(f, "[%zu]:", i);
        } else {
            char *k = esc_dup(c->key, strlen(c->key));
            for (char *p = k; p && *p; p++)
                if (*p == '-')
                    *p = ' ';
            fprintf(f, "%s:", k ? k : "?");
            free(k);
        }
        fputc(composite ? '\n' : ' ', f);
        switch (c->t) {
        case QT_STR: {
            char *e = esc_dup(c->str, strlen(c->str));
            fprintf(f, "%s\n", e ? e : "?");
            free(e);
            break;
        }
        case QT_INT: fprintf(f, "%lld\n", (long long)c->num); break;
        case QT_UINT: fprintf(f, "%llu\n", (unsigned long long)c->unum); break;
        case QT_BOOL: fprintf(f, "%s\n", c->num ? "true" : "false"); break;
        default: qtree_human_rec(f, c, indent + 1, qemu && !qtree_ours(c)); break;
        }
    }
    free(v);
}

void qtree_human(FILE *f, const struct qtree *t, int indent)
{
    if (t)
        qtree_human_rec(f, t, indent, !(t->key && qtree_ours(t)));
}

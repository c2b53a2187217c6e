/* SPDX-License-Identifier: GPL-2.0-or-later */
/* lvm.c: LVM2 physical volumes: the label in one of the first four sectors, the PV header (uuid,
 * data and metadata areas), the metadata area header and its circular text buffer, and a small
 * parser of the metadata's config syntax (sections, key = value, strings, numbers, arrays).
 * Linear logical volumes (striped with one stripe) become segment lists over the PV; the others
 * are listed by name and type, not browsable. Reads through fs_vol_read; called by the volume
 * lister (core/fs/vol.c) through core/fs/fs.h. Every field is checked before it is a size,
 * count or offset; the text is bounded (LVM_TEXT_MAX, the area's size), and so are the parse
 * tree (LVM_NODES_MAX, LVM_DEPTH_MAX) and the segments of one LV (LVM_SEGS_MAX).
 */
#include "core/fs/fs.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "core/base/bytes.h"

#define LVM_SECTOR 512
#define LVM_LABEL_SCAN 4        /* sectors searched for the label */
#define LVM_TEXT_MAX (1u << 20) /* bytes of metadata text read */
#define LVM_NODES_MAX 65536     /* parse-tree nodes (a VG of ~2000 LVs) */
#define LVM_DEPTH_MAX 16        /* nested sections (real metadata uses 5) */
#define LVM_SEGS_MAX 4096       /* segments of one LV */
#define LVM_CRC_INIT 0xf597a6cfu
#define LVM_MDA_MAGIC " LVM2 x[5A%r0N*>"

/* ---- checksums ---- */

/* LVM's CRC-32 is the reflected 0xedb88320 one with its own seed and no final inversion:
 * zlib's crc32 with the inversions undone. */
static uint32_t lvm_crc(const void *p, size_t n)
{
    return ~(uint32_t)crc32(~LVM_CRC_INIT & 0xffffffffu, p, (uInt)n);
}

/* ---- the metadata text's syntax ---- */

enum lvm_t { LVM_SECTION, LVM_STR, LVM_NUM, LVM_ARRAY };

struct lvm_node {
    const char *key; /* NULL for an array element */
    size_t klen;
    enum lvm_t t;
    const char *s; /* a string's raw text between the quotes, a number's text */
    size_t slen;
    int64_t num;
    bool num_ok; /* a whole integer */
    struct lvm_node *child, *last, *next;
};

struct lvm_parser {
    const char *start, *p, *end;
    struct lvm_node *pool;
    size_t used, cap;
    struct img_err *err;
};

static bool lvm_word_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '+' || c == '.';
}

static void lvm_skip(struct lvm_parser *ps)
{
    while (ps->p < ps->end) {
        char c = *ps->p;
        if (c == '#') {
            while (ps->p < ps->end && *ps->p != '\n')
                ps->p++;
        } else if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
            ps->p++;
        } else {
            return;
        }
    }
}

static int lvm_syntax(struct lvm_parser *ps, const char *what)
{
    return err_set(ps->err, -EINVAL, "LVM2 metadata: %s at byte %zu", what,
                   (size_t)(ps->p - ps->start));
}

static struct lvm_node *lvm_new(struct lvm_parser *ps, struct lvm_node *parent, enum lvm_t t)
{
    if (ps->used >= ps->cap) {
        err_set(ps->err, -E2BIG, "LVM2 metadata: more than %zu elements", ps->cap);
        return NULL;
    }
    struct lvm_node *n = &ps->pool[ps->used++];
    memset(n, 0, sizeof *n);
    n->t = t;
    if (parent->last)
        parent->last->next = n;
    else
        parent->child = n;
    parent->last = n;
    return n;
}

static size_t lvm_word(struct lvm_parser *ps)
{
    const char *s = ps->p;
    while (ps->p < ps->end && lvm_word_char(*ps->p))
        ps->p++;
    return (size_t)(ps->p - s);
}

/* One scalar: a quoted string (backslash escapes kept raw) or a number. */
static int lvm_scalar(struct lvm_parser *ps, struct lvm_node *n)
{
    if (ps->p < ps->end && *ps->p == '"') {
        n->t = LVM_STR;
        n->s = ++ps->p;
        while (ps->p < ps->end && *ps->p != '"') {
            if (*ps->p == '\\' && ps->p + 1 < ps->end)
                ps->p++;
            ps->p++;
        }
        if (ps->p >= ps->end)
            return lvm_syntax(ps, "unterminated string");
        n->slen = (size_t)(ps->p++ - n->s);
        return 0;
    }
    n->t = LVM_NUM;
    n->s = ps->p;
    n->slen = lvm_word(ps);
    if (!n->slen)
        return lvm_syntax(ps, "value expected");
    size_t i = n->s[0] == '-' ? 1 : 0;
    int64_t v = 0;
    n->num_ok = i < n->slen;
    for (; i < n->slen && n->num_ok; i++) {
        char c = n->s[i];
        if (c < '0' || c > '9' || v > (INT64_MAX - (c - '0')) / 10)
            n->num_ok = false;
        else
            v = v * 10 + (c - '0');
    }
    n->num = n->s[0] == '-' ? -v : v;
    return 0;
}

static int lvm_array(struct lvm_parser *ps, struct lvm_node *arr)
{
    ps->p++; /* '[' */
    for (;;) {
        lvm_skip(ps);
        if (ps->p < ps->end && *ps->p == ']') {
            ps->p++;
            return 0;
        }
        struct lvm_node *e = lvm_new(ps, arr, LVM_NUM);
        if (!e)
            return ps->err->code;
        int r = lvm_scalar(ps, e);
        if (r)
            return r;
        lvm_skip(ps);
        if (ps->p < ps->end && *ps->p == ',')
            ps->p++;
        else if (ps->p >= ps->end || *ps->p != ']')
            return lvm_syntax(ps, "',' or ']' expected in an array");
    }
}

/* The body of a section (or the whole text at depth 0) up to its '}'. */
static int lvm_body(struct lvm_parser *ps, struct lvm_node *sec, int depth)
{
    for (;;) {
        lvm_skip(ps);
        if (ps->p >= ps->end)
            return depth ? lvm_syntax(ps, "unterminated section") : 0;
        if (*ps->p == '}') {
            if (!depth)
                return lvm_syntax(ps, "unbalanced '}'");
            ps->p++;
            return 0;
        }
        const char *key = ps->p;
        size_t klen = lvm_word(ps);
        if (!klen)
            return lvm_syntax(ps, "name expected");
        lvm_skip(ps);
        if (ps->p >= ps->end || (*ps->p != '{' && *ps->p != '='))
            return lvm_syntax(ps, "'{' or '=' expected");
        struct lvm_node *n = lvm_new(ps, sec, LVM_SECTION);
        if (!n)
            return ps->err->code;
        n->key = key;
        n->klen = klen;
        int r;
        if (*ps->p == '{') {
            if (depth + 1 > LVM_DEPTH_MAX)
                return lvm_syntax(ps, "sections nested too deep");
            ps->p++;
            r = lvm_body(ps, n, depth + 1);
        } else {
            ps->p++;
            lvm_skip(ps);
            if (ps->p < ps->end && *ps->p == '[') {
                n->t = LVM_ARRAY;
                r = lvm_array(ps, n);
            } else {
                r = lvm_scalar(ps, n);
            }
        }
        if (r)
            return r;
    }
}

static bool lvm_key_is(const struct lvm_node *n, const char *k)
{
    return n->key && n->klen == strlen(k) && !memcmp(n->key, k, n->klen);
}

static const struct lvm_node *lvm_get(const struct lvm_node *sec, const char *k, enum lvm_t t)
{
    for (const struct lvm_node *n = sec ? sec->child : NULL; n; n = n->next)
        if (lvm_key_is(n, k))
            return n->t == t ? n : NULL;
    return NULL;
}

/* A non-negative integer key. */
static bool lvm_get_u64(const struct lvm_node *sec, const char *k, uint64_t *v)
{
    const struct lvm_node *n = lvm_get(sec, k, LVM_NUM);
    if (!n || !n->num_ok || n->num < 0)
        return false;
    *v = (uint64_t)n->num;
    return true;
}

static bool lvm_str_is(const struct lvm_node *n, const char *s)
{
    return n && n->t == LVM_STR && n->slen == strlen(s) && !memcmp(n->s, s, n->slen);
}

/* A name safe to show and to put in "VG/LV": LVM's own character set, bounded. */
static bool lvm_name_ok(const char *s, size_t n)
{
    if (!n || n > 127)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!lvm_word_char(s[i]))
            return false;
    return true;
}

/* ---- the on-disk label, header and metadata area ---- */

struct lvm_pv {
    char uuid[32];
    uint64_t mda_off[2], mda_size[2];
    int nmda;
};

/* The PV header after the label: uuid, data areas (skipped), metadata areas. */
static int lvm_pv_header(const struct fs_vol *pv, const uint8_t *sec, struct lvm_pv *p,
                         struct img_err *err)
{
    uint32_t off = le32_load(sec + 20);
    if (off < 32 || off > LVM_SECTOR - 40)
        return err_set(err, -EINVAL, "LVM2 label: PV header offset %u out of range", off);
    memcpy(p->uuid, sec + off, 32);
    size_t pos = off + 40;
    for (int list = 0; list < 2; list++) {
        for (;;) {
            if (pos + 16 > LVM_SECTOR)
                return err_set(err, -EINVAL, "LVM2 PV header: area list runs off its sector");
            uint64_t a = le64_load(sec + pos), len = le64_load(sec + pos + 8);
            pos += 16;
            if (!a)
                break;
            if (list == 1 && p->nmda < 2) {
                uint64_t end;
                if (len < 2 * LVM_SECTOR || u64_add_overflow(a, len, &end) || end > pv->size)
                    return err_set(err, -EINVAL,
                                   "LVM2 PV header: metadata area at %llu "
                                   "(%llu bytes) is outside the volume",
                                   (unsigned long long)a, (unsigned long long)len);
                p->mda_off[p->nmda] = a;
                p->mda_size[p->nmda++] = len;
            }
        }
    }
    return 0;
}

/* Find the label in the first sectors: 1 found (p filled), 0 none, -errno damaged. */
static int lvm_label(const struct fs_vol *pv, struct lvm_pv *p, struct img_err *err)
{
    uint8_t buf[LVM_LABEL_SCAN * LVM_SECTOR];
    if (pv->size < sizeof buf + 2 * LVM_SECTOR)
        return 0;
    int r = fs_vol_read(pv, 0, buf, sizeof buf, err);
    if (r < 0)
        return r;
    for (unsigned i = 0; i < LVM_LABEL_SCAN; i++) {
        const uint8_t *s = buf + i * LVM_SECTOR;
        if (memcmp(s, "LABELONE", 8) || le64_load(s + 8) != i || memcmp(s + 24, "LVM2 001", 8))
            continue;
        if (lvm_crc(s + 20, LVM_SECTOR - 20) != le32_load(s + 16))
            return err_set(err, -EINVAL, "LVM2 label in sector %u: checksum mismatch", i);
        memset(p, 0, sizeof *p);
        r = lvm_pv_header(pv, s, p, err);
        return r < 0 ? r : 1;
    }
    return 0;
}

/* Read size bytes of the circular text buffer of the area at mda (length msize) from rel. */
static int lvm_read_ring(const struct fs_vol *pv, uint64_t mda, uint64_t msize, uint64_t rel,
                         char *buf, size_t size, struct img_err *err)
{
    uint64_t first = msize - rel < size ? msize - rel : size;
    int r = fs_vol_read(pv, mda + rel, buf, (size_t)first, err);
    if (r >= 0 && first < size)
        r = fs_vol_read(pv, mda + LVM_SECTOR, buf + first, size - (size_t)first, err);
    return r < 0 ? r : 0;
}

/* The current metadata text of area k: malloc'd, NUL-terminated, checksum verified. */
static int lvm_mda_text(const struct fs_vol *pv, const struct lvm_pv *p, int k, char **text,
                        size_t *len, struct img_err *err)
{
    uint8_t h[LVM_SECTOR];
    uint64_t mda = p->mda_off[k], msize = p->mda_size[k];
    int r = fs_vol_read(pv, mda, h, sizeof h, err);
    if (r < 0)
        return r;
    if (memcmp(h + 4, LVM_MDA_MAGIC, 16) || le32_load(h + 20) != 1)
        return err_set(err, -EINVAL, "LVM2 metadata area at %llu: bad magic or version",
                       (unsigned long long)mda);
    if (lvm_crc(h + 4, LVM_SECTOR - 4) != le32_load(h))
        return err_set(err, -EINVAL, "LVM2 metadata area at %llu: header checksum mismatch",
                       (unsigned long long)mda);
    if (le64_load(h + 24) != mda || le64_load(h + 32) != msize)
        return err_set(err, -EINVAL,
                       "LVM2 metadata area at %llu: header disagrees with the "
                       "PV header",
                       (unsigned long long)mda);
    uint64_t rel = le64_load(h + 40), size = le64_load(h + 48);
    uint32_t sum = le32_load(h + 56), flags = le32_load(h + 60);
    if (!rel || (flags & 1))
        return err_set(err, -ENOENT, "LVM2 metadata area at %llu holds no metadata",
                       (unsigned long long)mda);
    if (rel < LVM_SECTOR || rel >= msize || !size || size > msize - LVM_SECTOR ||
        size > LVM_TEXT_MAX)
        return err_set(err, -EINVAL,
                       "LVM2 metadata area at %llu: text at %llu (%llu bytes) "
                       "out of range",
                       (unsigned long long)mda, (unsigned long long)rel, (unsigned long long)size);
    char *buf = malloc((size_t)size + 1);
    if (!buf)
        return err_set(err, -ENOMEM, "LVM2 metadata: out of memory");
    r = lvm_read_ring(pv, mda, msize, rel, buf, (size_t)size, err);
    if (!r && lvm_crc(buf, (size_t)size) != sum)
        r = err_set(err, -EINVAL, "LVM2 metadata text: checksum mismatch");
    if (r) {
        free(buf);
        return r;
    }
    buf[size] = 0;
    *text = buf;
    *len = strlen(buf); /* the text ends at its NUL */
    return 0;
}

/* ---- from the tree to volumes ---- */

struct lvm_vg {
    const struct fs_vol *pv;
    const char *name;
    size_t nlen;
    uint64_t extent_bytes;
    const char *pvkey; /* this PV's key in physical_volumes ("pv0") */
    size_t pvklen;
    uint64_t pe_start, pe_count; /* bytes, extents */
};

/* The PV section whose id is uuid (dashes dropped). */
static const struct lvm_node *lvm_find_pv(const struct lvm_node *pvs, const char *uuid)
{
    for (const struct lvm_node *n = pvs ? pvs->child : NULL; n; n = n->next) {
        const struct lvm_node *id = lvm_get(n, "id", LVM_STR);
        if (n->t != LVM_SECTION || !id)
            continue;
        char u[32];
        size_t k = 0;
        for (size_t i = 0; i < id->slen && k <= 32; i++)
            if (id->s[i] != '-') {
                if (k < 32)
                    u[k] = id->s[i];
                k++;
            }
        if (k == 32 && !memcmp(u, uuid, 32))
            return n;
    }
    return NULL;
}

static int lvm_vg_setup(const struct lvm_node *root, const struct fs_vol *pv,
                        const struct lvm_pv *p, struct lvm_vg *vg, struct img_err *err)
{
    const struct lvm_node *sec = NULL;
    for (const struct lvm_node *n = root->child; n && !sec; n = n->next)
        if (n->t == LVM_SECTION && n->child)
            sec = n;
    if (!sec || !lvm_name_ok(sec->key, sec->klen))
        return err_set(err, -EINVAL, "LVM2 metadata: no volume group section");
    uint64_t es, pe_start, pe_count;
    if (!lvm_get_u64(sec, "extent_size", &es) || !es || es > (1ull << 32))
        return err_set(err, -EINVAL, "LVM2 metadata: extent_size missing or out of range");
    const struct lvm_node *me = lvm_find_pv(lvm_get(sec, "physical_volumes", LVM_SECTION), p->uuid);
    if (!me)
        return err_set(err, -EINVAL, "LVM2 metadata does not list this physical volume");
    if (!lvm_get_u64(me, "pe_start", &pe_start) || !lvm_get_u64(me, "pe_count", &pe_count) ||
        pe_start > pv->size / LVM_SECTOR || pe_count > UINT32_MAX)
        return err_set(err, -EINVAL, "LVM2 metadata: pe_start or pe_count out of range");
    *vg = (struct lvm_vg){.pv = pv,
                          .name = sec->key,
                          .nlen = sec->klen,
                          .extent_bytes = es * LVM_SECTOR,
                          .pvkey = me->key,
                          .pvklen = me->klen,
                          .pe_start = pe_start * LVM_SECTOR,
                          .pe_count = pe_count};
    return 0;
}

struct lvm_seg {
    uint64_t start, count;
    const struct lvm_node *sec;
};

static int lvm_seg_cmp(const void *a, const void *b)
{
    const struct lvm_seg *x = a, *y = b;
    return x->start < y->start ? -1 : x->start > y->start;
}

/* Append the image ranges of PV bytes [off, off+len) as volume segments at vol_off. */
static int lvm_push(const struct fs_vol *pv, uint64_t vol_off, uint64_t off, uint64_t len,
                    struct fs_seg **segs, size_t *nseg)
{
    for (size_t i = 0; i < pv->nseg && len; i++) {
        const struct fs_seg *s = &pv->seg[i];
        if (off < s->vol_off || off - s->vol_off >= s->len)
            continue;
        uint64_t in = off - s->vol_off, take = s->len - in < len ? s->len - in : len;
        uint64_t img = s->img_off + in;
        struct fs_seg *last = *nseg ? &(*segs)[*nseg - 1] : NULL;
        if (last && last->vol_off + last->len == vol_off && last->img_off + last->len == img) {
            last->len += take;
        } else {
            if (*nseg >= LVM_SEGS_MAX * 2)
                return -E2BIG;
            struct fs_seg *n = realloc(*segs, (*nseg + 1) * sizeof **segs);
            if (!n)
                return -ENOMEM;
            *segs = n;
            n[(*nseg)++] = (struct fs_seg){.vol_off = vol_off, .img_off = img, .len = take};
        }
        vol_off += take, off += take, len -= take;
    }
    return len ? -EIO : 0;
}

/* One linear segment; a message in note (and false) when it cannot be mapped. */
static bool lvm_map_seg(const struct lvm_vg *vg, const struct lvm_seg *sg, struct fs_seg **segs,
                        size_t *nseg, char *note, size_t nlen)
{
    const struct lvm_node *st = lvm_get(sg->sec, "stripes", LVM_ARRAY);
    const struct lvm_node *pvn = st ? st->child : NULL, *pe = pvn ? pvn->next : NULL;
    if (!pvn || pvn->t != LVM_STR || !pe || pe->t != LVM_NUM || !pe->num_ok || pe->num < 0 ||
        pe->next) {
        snprintf(note, nlen, "LV segment has a malformed stripe list");
        return false;
    }
    if (pvn->slen != vg->pvklen || memcmp(pvn->s, vg->pvkey, pvn->slen)) {
        snprintf(note, nlen, "LV lies partly on another physical volume");
        return false;
    }
    uint64_t first = (uint64_t)pe->num, bytes, off, end;
    if (first > vg->pe_count || sg->count > vg->pe_count - first ||
        u64_mul_overflow(first, vg->extent_bytes, &off) ||
        u64_add_overflow(off, vg->pe_start, &off) ||
        u64_mul_overflow(sg->count, vg->extent_bytes, &bytes) ||
        u64_add_overflow(off, bytes, &end) || end > vg->pv->size) {
        snprintf(note, nlen, "LV extents lie past the end of the physical volume");
        return false;
    }
    int r = lvm_push(vg->pv, sg->start * vg->extent_bytes, off, bytes, segs, nseg);
    if (r)
        snprintf(note, nlen, "LV extents cannot be mapped (%s)", strerror(-r));
    return !r;
}

/* The segments of one LV, sorted and checked contiguous from extent 0; total extents. */
static int lvm_lv_segs(const struct lvm_node *lv, struct lvm_seg **out, size_t *n,
                       uint64_t *extents)
{
    size_t cap = 0;
    *n = 0;
    *out = NULL;
    for (const struct lvm_node *c = lv->child; c; c = c->next) {
        if (c->t != LVM_SECTION || c->klen < 8 || memcmp(c->key, "segment", 7))
            continue;
        struct lvm_seg s = {.sec = c};
        if (!lvm_get_u64(c, "start_extent", &s.start) ||
            !lvm_get_u64(c, "extent_count", &s.count) || !s.count || s.start > UINT32_MAX ||
            s.count > UINT32_MAX || *n >= LVM_SEGS_MAX)
            return -EINVAL;
        if (*n == cap) {
            cap = cap ? cap * 2 : 8;
            struct lvm_seg *g = realloc(*out, cap * sizeof *g);
            if (!g)
                return -ENOMEM;
            *out = g;
        }
        (*out)[(*n)++] = s;
    }
    if (!*n)
        return -EINVAL;
    qsort(*out, *n, sizeof **out, lvm_seg_cmp);
    uint64_t at = 0;
    for (size_t i = 0; i < *n; i++) {
        if ((*out)[i].start != at)
            return -ERANGE; /* overlap or gap */
        at += (*out)[i].count;
    }
    *extents = at;
    return 0;
}

/* The segment type of s if it is not linear ("" when it is). */
static void lvm_seg_type(const struct lvm_seg *s, char *type, size_t len)
{
    const struct lvm_node *t = lvm_get(s->sec, "type", LVM_STR);
    uint64_t stripes = 0;
    if (lvm_str_is(t, "striped") && lvm_get_u64(s->sec, "stripe_count", &stripes) && stripes == 1)
        type[0] = 0;
    else if (lvm_str_is(t, "striped"))
        snprintf(type, len, "striped");
    else if (t && lvm_name_ok(t->s, t->slen))
        snprintf(type, len, "%.*s", (int)t->slen, t->s);
    else
        snprintf(type, len, "unknown");
}

/* Fill vi for one LV: segments when every one is linear on this PV, else a note. */
static void lvm_lv_fill(const struct lvm_vg *vg, const struct lvm_node *lv, struct fs_vol_info *vi)
{
    struct lvm_seg *sg = NULL;
    size_t n = 0;
    uint64_t extents = 0;
    int r = lvm_lv_segs(lv, &sg, &n, &extents);
    snprintf(vi->type, sizeof vi->type, "LV linear");
    if (r == -ERANGE)
        snprintf(vi->note, sizeof vi->note, "LV segments overlap or leave a gap");
    else if (r)
        snprintf(vi->note, sizeof vi->note, "LV segment list is malformed");
    if (!r && u64_mul_overflow(extents, vg->extent_bytes, &vi->vol.size)) {
        snprintf(vi->note, sizeof vi->note, "LV size out of range");
        r = -ERANGE;
    }
    char type[40];
    for (size_t i = 0; !r && i < n; i++) {
        lvm_seg_type(&sg[i], type, sizeof type);
        if (type[0]) {
            snprintf(vi->type, sizeof vi->type, "LV %s", type);
            snprintf(vi->note, sizeof vi->note, "LV segment type %s not supported", type);
            r = -ENOTSUP;
        }
    }
    for (size_t i = 0; !r && i < n; i++)
        if (!lvm_map_seg(vg, &sg[i], &vi->vol.seg, &vi->vol.nseg, vi->note, sizeof vi->note))
            r = -EINVAL;
    free(sg);
    if (r) {
        free(vi->vol.seg);
        vi->vol.seg = NULL;
        vi->vol.nseg = 0;
    }
    vi->browsable = !r;
}

static bool lvm_visible(const struct lvm_node *lv)
{
    const struct lvm_node *st = lvm_get(lv, "status", LVM_ARRAY);
    for (const struct lvm_node *e = st ? st->child : NULL; e; e = e->next)
        if (lvm_str_is(e, "VISIBLE"))
            return true;
    return false;
}

static int lvm_add_lvs(const struct lvm_node *root, const struct lvm_vg *vg,
                       struct fs_vol_info **out, size_t *n, struct img_err *err)
{
    const struct lvm_node *vgsec = NULL;
    for (const struct lvm_node *c = root->child; c && !vgsec; c = c->next)
        if (c->t == LVM_SECTION && c->key == vg->name)
            vgsec = c;
    const struct lvm_node *lvs = lvm_get(vgsec, "logical_volumes", LVM_SECTION);
    for (const struct lvm_node *lv = lvs ? lvs->child : NULL; lv; lv = lv->next) {
        if (lv->t != LVM_SECTION || !lvm_visible(lv))
            continue;
        if (!lvm_name_ok(lv->key, lv->klen))
            return err_set(err, -EINVAL, "LVM2 metadata: a logical volume name is invalid");
        if (*n >= FS_VOLUMES_MAX)
            return err_set(err, -E2BIG, "more than %d volumes", FS_VOLUMES_MAX);
        struct fs_vol_info *v = realloc(*out, (*n + 1) * sizeof *v);
        if (!v)
            return err_set(err, -ENOMEM, "LVM2: out of memory");
        *out = v;
        struct fs_vol_info *vi = &v[*n];
        memset(vi, 0, sizeof *vi);
        vi->vol.img = vg->pv->img;
        vi->vol.kind = FS_VOL_LV;
        snprintf(vi->vol.name, sizeof vi->vol.name, "%.*s/%.*s", (int)vg->nlen, vg->name,
                 (int)lv->klen, lv->key);
        lvm_lv_fill(vg, lv, vi);
        (*n)++;
    }
    return 0;
}

/* Parse text and append the VG's logical volumes. */
static int lvm_from_text(const struct fs_vol *pv, const struct lvm_pv *p, const char *text,
                         size_t len, struct fs_vol_info **out, size_t *n, struct img_err *err)
{
    struct lvm_node root = {.t = LVM_SECTION};
    struct lvm_parser ps = {.start = text, .p = text, .end = text + len, .err = err};
    ps.cap = len / 2 + 8 < LVM_NODES_MAX ? len / 2 + 8 : LVM_NODES_MAX;
    ps.pool = malloc(ps.cap * sizeof *ps.pool);
    if (!ps.pool)
        return err_set(err, -ENOMEM, "LVM2 metadata: out of memory");
    struct lvm_vg vg = {0};
    int r = lvm_body(&ps, &root, 0);
    if (!r)
        r = lvm_vg_setup(&root, pv, p, &vg, err);
    if (!r)
        r = lvm_add_lvs(&root, &vg, out, n, err);
    free(ps.pool);
    return r;
}

int lvm_scan(const struct fs_vol *pv, struct fs_vol_info **out, size_t *n, struct img_err *err)
{
    struct lvm_pv p;
    int r = lvm_label(pv, &p, err);
    if (r <= 0)
        return r;
    if (!p.nmda)
        return 0; /* a PV without metadata: its VG is described elsewhere */
    char *text = NULL;
    size_t len = 0;
    r = lvm_mda_text(pv, &p, 0, &text, &len, err);
    if (r && p.nmda > 1) {
        struct img_err second;
        err_clear(&second);
        if (!lvm_mda_text(pv, &p, 1, &text, &len, &second))
            r = 0;
    }
    if (r == -ENOENT) {
        err_clear(err);
        return 0;
    }
    if (r)
        return r;
    r = lvm_from_text(pv, &p, text, len, out, n, err);
    free(text);
    return r;
}

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* dmg.c: read-only driver for Apple UDIF disk images (.dmg), as qemu-img reads them: the
 * "koly" trailer, the XML property list's blkx resources (base64 "mish" block tables), and
 * chunks of zeros, raw bytes, zlib and bzip2; lzfse and ADC chunks are refused when read (no
 * Debian 12 library decodes lzfse). Writing and creating are refused by the core.
 *
 * Layout (big-endian): the file's last 512 bytes are the koly trailer (data fork offset at 24,
 * XML offset and length at 216 and 224); each mish table (204-byte head: first sector at 8,
 * data offset at 24, chunk count at 200) lists 40-byte chunks: type, comment, sector and
 * sector count (relative to the table's first sector), compressed offset and length
 * (relative to the data fork plus the table's data offset). Every chunk inflates to exactly
 * its sector count; sectors no chunk covers read as zeros.
 * Talks to: core/block/src.h (the image's bytes), core/ops/compress.h (zlib), libbz2.
 */
#include "core/base/bytes.h"
#include "core/ops/compress.h"
#include "formats/drivers.h"

#include <bzlib.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define DMG_KOLY 512u
#define DMG_MAX_PLIST (64u << 20) /* bytes of XML property list */
#define DMG_MAX_CHUNK (64u << 20) /* bytes of one chunk, either side, as qemu */
#define DMG_MAX_SIZE (1ull << 50) /* virtual bytes */
#define DMG_MISH_HEAD 204u
#define DMG_CHUNK 40u
#define ULL(x) ((unsigned long long)(x))

enum {
    DMG_ZERO = 0x00000000u,
    DMG_RAW = 0x00000001u,
    DMG_IGNORE = 0x00000002u,
    DMG_ADC = 0x80000004u,
    DMG_ZLIB = 0x80000005u,
    DMG_BZIP2 = 0x80000006u,
    DMG_LZFSE = 0x80000007u,
    DMG_COMMENT = 0x7ffffffeu,
    DMG_END = 0xffffffffu,
};

struct dmg_chunk {
    uint32_t type;
    uint64_t sector, count; /* guest sectors */
    uint64_t off, len;      /* bytes in the file */
};

struct dmg {
    struct dmg_chunk *c;
    size_t n, cap;
    uint64_t xml_off, xml_len, file_size;
    uint8_t *zin, *out;
    size_t cached; /* chunk index + 1 in out; 0 = none */
};

static int dmg_probe(const uint8_t *b, size_t len)
{
    (void)b, (void)len;
    return 0; /* the trailer is at the end of the file: dmg_probe_tail */
}

static int dmg_probe_tail(const uint8_t *t, size_t len)
{
    return len >= DMG_KOLY && memcmp(t + len - DMG_KOLY, "koly", 4) == 0 &&
                   be32_load(t + len - DMG_KOLY + 4) == 4 &&
                   be32_load(t + len - DMG_KOLY + 8) == DMG_KOLY
               ? 100
               : 0;
}

static int dmg_b64(int c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    return c == '+' ? 62 : c == '/' ? 63 : -1;
}

/* Decode base64 in place (whitespace skipped, '=' ends it); returns the byte count. */
static size_t dmg_unbase64(uint8_t *p, size_t len)
{
    size_t o = 0;
    unsigned acc = 0, bits = 0;
    for (size_t i = 0; i < len && p[i] != '='; i++) {
        int v = dmg_b64(p[i]);
        if (v < 0)
            continue;
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            p[o++] = (uint8_t)(acc >> bits);
        }
    }
    return o;
}

static int dmg_add_chunk(struct img *img, const struct dmg_chunk *c)
{
    struct dmg *s = img->priv;
    if (s->n == s->cap) {
        size_t nc = s->cap ? 2 * s->cap : 64;
        struct dmg_chunk *v = realloc(s->c, nc * sizeof *v);
        if (!v)
            return img_error(img, -ENOMEM, "out of memory");
        s->c = v;
        s->cap = nc;
    }
    s->c[s->n++] = *c;
    return 0;
}

/* One chunk's fields, checked before they are sizes or offsets. */
static int dmg_chunk_check(struct img *img, const struct dmg_chunk *c)
{
    struct dmg *s = img->priv;
    if (c->count == 0 || c->count > DMG_MAX_CHUNK / 512 || c->sector > DMG_MAX_SIZE / 512)
        return img_error(img, -EINVAL, "chunk at sector %llu: %llu sectors (limit %u)",
                         ULL(c->sector), ULL(c->count), DMG_MAX_CHUNK / 512);
    if (c->type == DMG_ZERO || c->type == DMG_IGNORE)
        return 0;
    if (c->len > DMG_MAX_CHUNK || c->off > s->file_size || c->len > s->file_size - c->off)
        return img_error(img, -EINVAL,
                         "chunk at sector %llu: %llu bytes at 0x%llx lie outside "
                         "the file",
                         ULL(c->sector), ULL(c->len), ULL(c->off));
    if (c->type == DMG_RAW && c->len < c->count * 512)
        return img_error(img, -EINVAL, "raw chunk at sector %llu: %llu bytes for %llu sectors",
                         ULL(c->sector), ULL(c->len), ULL(c->count));
    return 0;
}

static int dmg_parse_mish(struct img *img, const uint8_t *m, size_t len, uint64_t fork)
{
    if (len < DMG_MISH_HEAD || memcmp(m, "mish", 4) != 0)
        return 0; /* another resource's data */
    uint64_t first = be64_load(m + 8), doff = be64_load(m + 24);
    uint64_t nch = be32_load(m + 200);
    if (nch > (len - DMG_MISH_HEAD) / DMG_CHUNK)
        return img_error(img, -EINVAL, "block table of %llu chunks is longer than its %zu bytes",
                         ULL(nch), len);
    if (first > DMG_MAX_SIZE / 512 || doff > DMG_MAX_SIZE)
        return img_error(img, -EINVAL, "block table at sector %llu, data offset %llu out of range",
                         ULL(first), ULL(doff));
    for (uint64_t i = 0; i < nch; i++) {
        const uint8_t *e = m + DMG_MISH_HEAD + i * DMG_CHUNK;
        struct dmg_chunk c = {be32_load(e), be64_load(e + 8), be64_load(e + 16), be64_load(e + 24),
                              be64_load(e + 32)};
        if (c.type == DMG_COMMENT || c.type == DMG_END)
            continue;
        if (c.sector > DMG_MAX_SIZE / 512 || c.off > DMG_MAX_SIZE)
            return img_error(img, -EINVAL, "chunk %llu: sector or offset out of range", ULL(i));
        c.sector += first;
        c.off += doff + fork;
        int r = dmg_chunk_check(img, &c);
        if (r == 0)
            r = dmg_add_chunk(img, &c);
        if (r < 0)
            return r;
    }
    return 0;
}

/* Every <data> element of the property list that decodes to a mish table. */
static int dmg_parse_plist(struct img *img, uint8_t *x, size_t len, uint64_t fork)
{
    size_t i = 0;
    while (i < len) {
        uint8_t *a = memmem(x + i, len - i, "<data>", 6);
        if (!a)
            break;
        a += 6;
        uint8_t *b = memmem(a, len - (size_t)(a - x), "</data>", 7);
        if (!b)
            return img_error(img, -EINVAL, "property list: <data> without </data>");
        size_t n = dmg_unbase64(a, (size_t)(b - a));
        int r = dmg_parse_mish(img, a, n, fork);
        if (r < 0)
            return r;
        i = (size_t)(b - x) + 7;
    }
    return 0;
}

static int dmg_chunk_cmp(const void *a, const void *b)
{
    const struct dmg_chunk *x = a, *y = b;
    return x->sector < y->sector ? -1 : x->sector > y->sector;
}

/* Chunks sorted by sector, none overlapping; the buffers for the largest one. */
static int dmg_index(struct img *img)
{
    struct dmg *s = img->priv;
    if (s->n == 0)
        return img_error(img, -EINVAL, "no blkx block tables in the property list");
    qsort(s->c, s->n, sizeof *s->c, dmg_chunk_cmp);
    uint64_t zmax = 0, omax = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (i && s->c[i].sector < s->c[i - 1].sector + s->c[i - 1].count)
            return img_error(img, -EINVAL, "chunks at sectors %llu and %llu overlap",
                             ULL(s->c[i - 1].sector), ULL(s->c[i].sector));
        if (s->c[i].type == DMG_ZLIB || s->c[i].type == DMG_BZIP2) {
            zmax = s->c[i].len > zmax ? s->c[i].len : zmax;
            omax = s->c[i].count * 512 > omax ? s->c[i].count * 512 : omax;
        }
    }
    const struct dmg_chunk *last = &s->c[s->n - 1];
    img->size = (last->sector + last->count) * 512;
    s->zin = malloc(zmax ? zmax : 1);
    s->out = malloc(omax ? omax : 1);
    return s->zin && s->out ? 0 : img_error(img, -ENOMEM, "out of memory");
}

static int dmg_open(struct img *img, unsigned flags)
{
    struct dmg *s = img->priv;
    uint8_t k[DMG_KOLY];
    uint64_t fsize;
    (void)flags;
    int r = src_size(img->src, &fsize);
    if (r == 0 && fsize < DMG_KOLY)
        r = -EINVAL;
    if (r == 0)
        r = src_pread(img->src, k, DMG_KOLY, fsize - DMG_KOLY);
    if (r < 0)
        return img_error(img, r, "reading the koly trailer: %s", strerror(-r));
    if (!dmg_probe_tail(k, DMG_KOLY))
        return img_error(img, -EINVAL, "no koly trailer (version 4) at the end of the file");
    uint64_t fork = be64_load(k + 24), xo = be64_load(k + 216), xl = be64_load(k + 224);
    s->file_size = fsize;
    if (xl == 0)
        return img_error(img, -ENOTSUP,
                         "no XML property list (resource-fork-only images are "
                         "not supported)");
    if (xl > DMG_MAX_PLIST)
        return img_error(img, -EFBIG, "property list of %llu bytes (limit %u)", ULL(xl),
                         DMG_MAX_PLIST);
    if (xo > fsize || xl > fsize - xo || fork > fsize)
        return img_error(img, -EINVAL, "property list at 0x%llx (%llu bytes) lies outside the file",
                         ULL(xo), ULL(xl));
    s->xml_off = xo;
    s->xml_len = xl;
    uint8_t *x = malloc(xl);
    if (!x)
        return img_error(img, -ENOMEM, "out of memory");
    if ((r = src_pread(img->src, x, xl, xo)) < 0)
        r = img_error(img, r, "reading the property list: %s", strerror(-r));
    else
        r = dmg_parse_plist(img, x, xl, fork);
    free(x);
    return r < 0 ? r : dmg_index(img);
}

static void dmg_close(struct img *img)
{
    struct dmg *s = img->priv;
    free(s->c);
    free(s->zin);
    free(s->out);
}

/* bzip2 into exactly outlen bytes: more output than that fails, the decoder never writes
 * past out. */
static int dmg_bunzip(uint8_t *in, size_t inlen, uint8_t *out, size_t outlen)
{
    unsigned dl = (unsigned)outlen;
    int r = BZ2_bzBuffToBuffDecompress((char *)out, &dl, (char *)in, (unsigned)inlen, 0, 0);
    return r == BZ_OK && dl == outlen ? 0 : -1;
}

static int dmg_load(struct img *img, size_t i)
{
    struct dmg *s = img->priv;
    const struct dmg_chunk *c = &s->c[i];
    if (s->cached == i + 1)
        return 0;
    s->cached = 0;
    int r = src_pread(img->src, s->zin, c->len, c->off);
    if (r < 0)
        return img_error(img, r, "reading the chunk at 0x%llx: %s", ULL(c->off), strerror(-r));
    size_t olen = c->count * 512;
    r = c->type == DMG_ZLIB ? zlib_inflate_exact(s->zin, c->len, s->out, olen)
                            : dmg_bunzip(s->zin, c->len, s->out, olen);
    if (r < 0)
        return img_error(img, -EIO, "%s chunk at 0x%llx: corrupt, or not exactly %zu bytes",
                         c->type == DMG_ZLIB ? "zlib" : "bzip2", ULL(c->off), olen);
    s->cached = i + 1;
    return 0;
}

/* The chunk holding sector sec, or the first after it (s->n: none). */
static size_t dmg_find(const struct dmg *s, uint64_t sec)
{
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->c[mid].sector + s->c[mid].count <= sec)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* The chunk at off (NULL: a gap reading zeros) and the bytes from off it (or the gap) covers. */
static const struct dmg_chunk *dmg_at(const struct dmg *s, uint64_t off, uint64_t *run, size_t *ix)
{
    uint64_t sec = off / 512;
    *ix = dmg_find(s, sec);
    const struct dmg_chunk *c = *ix < s->n ? &s->c[*ix] : NULL;
    if (c && c->sector <= sec) {
        *run = (c->sector + c->count) * 512 - off;
        return c;
    }
    *run = (c ? c->sector * 512 : UINT64_MAX) - off;
    return NULL;
}

static int dmg_read(struct img *img, uint64_t off, void *buf, size_t len)
{
    struct dmg *s = img->priv;
    uint8_t *p = buf;
    while (len > 0) {
        uint64_t run;
        size_t ix;
        const struct dmg_chunk *c = dmg_at(s, off, &run, &ix);
        size_t n = run < len ? (size_t)run : len;
        uint64_t in = c ? off - c->sector * 512 : 0;
        int r = 0;
        if (!c || c->type == DMG_ZERO || c->type == DMG_IGNORE)
            memset(p, 0, n);
        else if (c->type == DMG_RAW)
            r = src_pread(img->src, p, n, c->off + in);
        else if (c->type == DMG_ZLIB || c->type == DMG_BZIP2) {
            if ((r = dmg_load(img, ix)) < 0)
                return r;
            memcpy(p, s->out + in, n);
        } else
            return img_error(img, -ENOTSUP,
                             "chunk type 0x%x (%s) at sector %llu is not "
                             "supported",
                             c->type,
                             c->type == DMG_LZFSE ? "lzfse"
                             : c->type == DMG_ADC ? "ADC"
                                                  : "unknown",
                             ULL(c->sector));
        if (r < 0)
            return img_error(img, r, "read at 0x%llx: %s", ULL(c->off + in), strerror(-r));
        p += n;
        off += n;
        len -= n;
    }
    return 0;
}

static int dmg_block_status(struct img *img, uint64_t off, uint64_t len, struct img_bs *bs)
{
    struct dmg *s = img->priv;
    uint64_t run;
    size_t ix;
    const struct dmg_chunk *c = dmg_at(s, off, &run, &ix);
    bs->len = run < len ? run : len;
    bs->host_off = 0;
    if (!c)
        bs->flags = IMG_BS_ZERO;
    else if (c->type == DMG_ZERO || c->type == DMG_IGNORE)
        bs->flags = IMG_BS_ZERO | IMG_BS_ALLOCATED;
    else if (c->type == DMG_RAW) {
        bs->flags = IMG_BS_DATA | IMG_BS_ALLOCATED | IMG_BS_OFFSET_VALID;
        bs->host_off = c->off + (off - c->sector * 512);
    } else
        bs->flags = IMG_BS_DATA | IMG_BS_ALLOCATED | IMG_BS_COMPRESSED;
    return 0;
}

static int dmg_layout(struct img *img, struct img_region **out, size_t *n)
{
    struct dmg *s = img->priv;
    struct img_regions rl = {0};
    for (size_t i = 0; i < s->n; i++) {
        const struct dmg_chunk *c = &s->c[i];
        if (c->type != DMG_ZERO && c->type != DMG_IGNORE && c->len)
            img_regions_add(&rl, c->off, c->len,
                            c->type == DMG_RAW ? IMG_R_DATA : IMG_R_COMPRESSED);
    }
    img_regions_add(&rl, s->xml_off, s->xml_len, IMG_R_META);
    img_regions_add(&rl, s->file_size - DMG_KOLY, DMG_KOLY, IMG_R_HEADER);
    int r = img_regions_finish(&rl, out, n);
    return r < 0 ? img_error(img, r, "out of memory") : 0;
}

/* qemu's dmg driver has no info: qemu-img prints neither a cluster size nor a dirty flag. */
static int dmg_get_info(struct img *img, struct img_info *info)
{
    (void)img;
    info->no_dirty_flag = true;
    return 0;
}

const struct img_driver img_driver_dmg = {
    .abi = IMG_DRIVER_ABI,
    .name = "dmg",
    .desc = "Apple UDIF disk image (read-only)",
    .priv_size = sizeof(struct dmg),
    .caps = IMG_CAP_SOURCES,
    .probe = dmg_probe,
    .open = dmg_open,
    .close = dmg_close,
    .get_info = dmg_get_info,
    .read = dmg_read,
    .block_status = dmg_block_status,
    .layout = dmg_layout,
    .probe_tail = dmg_probe_tail,
};

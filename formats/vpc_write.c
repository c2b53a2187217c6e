/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vpc_write.c: the VHD driver's differencing parent name (from the locators, hostile: decoded,
 * bounded, never a protocol; the core opens it with the backing-file rules) and its writes
 * (blocks allocated at the end of the file: footer moved first, then the bitmap, then the BAT
 * entry, so that a crash leaves at worst a leaked block).
 * Talks to: formats/vpc.h, core/block/driver.h (img_read_backing, the byte source).
 */
#include "formats/vpc.h"

#include "core/base/bytes.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ULL(x) ((unsigned long long)(x))
#define VPC_MAX_LOCATOR 4096u /* bytes of a parent locator dimg reads */

/* n bytes of UTF-16 (big-endian when be) as UTF-8 in out (cap bytes, terminated), stopping at
 * a 0 unit. false on a control character, a lone surrogate or no room. */
static bool vpc_utf16(const uint8_t *p, size_t n, bool be, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i + 1 < n; i += 2) {
        uint32_t c = be ? be16_load(p + i) : le16_load(p + i);
        if (c == 0)
            break;
        if (c >= 0xd800 && c < 0xdc00 && i + 3 < n) {
            uint32_t lo = be ? be16_load(p + i + 2) : le16_load(p + i + 2);
            if (lo < 0xdc00 || lo >= 0xe000)
                return false;
            c = 0x10000 + ((c - 0xd800) << 10) + (lo - 0xdc00);
            i += 2;
        } else if (c >= 0xd800 && c < 0xe000) {
            return false;
        }
        if (c < 0x20 || c == 0x7f || o + 5 > cap)
            return false;
        if (c < 0x80) {
            out[o++] = (char)c;
        } else if (c < 0x800) {
            out[o++] = (char)(0xc0 | c >> 6);
            out[o++] = (char)(0x80 | (c & 0x3f));
        } else if (c < 0x10000) {
            out[o++] = (char)(0xe0 | c >> 12);
            out[o++] = (char)(0x80 | ((c >> 6) & 0x3f));
            out[o++] = (char)(0x80 | (c & 0x3f));
        } else {
            out[o++] = (char)(0xf0 | c >> 18);
            out[o++] = (char)(0x80 | ((c >> 12) & 0x3f));
            out[o++] = (char)(0x80 | ((c >> 6) & 0x3f));
            out[o++] = (char)(0x80 | (c & 0x3f));
        }
    }
    out[o] = 0;
    return o > 0;
}

/* A locator's path as a POSIX name in out, or false when it is unusable here: a Windows
 * drive path, a URL other than file://, or undecodable. */
static bool vpc_locator_path(const uint8_t *d, size_t n, const char *code, char *out, size_t cap)
{
    if (strcmp(code, "MacX") == 0) { /* UTF-8 file URL */
        if (n >= cap || n > VPC_MAX_LOCATOR)
            return false;
        char tmp[VPC_MAX_LOCATOR + 1];
        memcpy(tmp, d, n);
        tmp[n] = 0;
        const char *p = tmp;
        if (strncmp(p, "file://localhost/", 17) == 0)
            p += 16;
        else if (strncmp(p, "file:///", 8) == 0)
            p += 7;
        else
            return false;
        for (const char *q = p; *q; q++)
            if ((unsigned char)*q < 0x20 || *q == '%')
                return false;
        snprintf(out, cap, "%s", p);
        return true;
    }
    if (!vpc_utf16(d, n, false, out, cap))
        return false;
    for (char *q = out; *q; q++)
        if (*q == '\\')
            *q = '/';
    if (strcmp(code, "W2ku") == 0)
        return out[0] == '/'; /* "C:/..." means nothing here */
    while (strncmp(out, "./", 2) == 0)
        memmove(out, out + 2, strlen(out + 2) + 1);
    return out[0] != 0 && out[0] != '/';
}

/* The parent's name: the relative locator, else an absolute one, else the bare name the
 * header records (a file beside the image). The core opens it as a backing file (refused
 * under --untrusted, ".." and protocols refused, locks). */
int vpc_parent_name(struct img *img, struct vpc *s, unsigned flags)
{
    static const char *const order[] = {"W2ru", "MacX", "W2ku"};
    char name[VPC_MAX_LOCATOR * 2];
    uint8_t *d = malloc(VPC_MAX_LOCATOR);
    bool found = false;
    (void)flags;
    if (!d)
        return img_error(img, -ENOMEM, "out of memory");
    for (size_t k = 0; k < 3 && !found; k++) {
        for (int i = 0; i < 8 && !found; i++) {
            const uint8_t *e = s->header + VPC_H_LOCATORS + 24 * i;
            if (memcmp(e, order[k], 4) != 0)
                continue;
            uint32_t len = be32_load(e + 8);
            uint64_t at = be64_load(e + 16);
            if (len == 0 || len > VPC_MAX_LOCATOR || at > s->file_size || s->file_size - at < len) {
                free(d);
                return img_error(img, -EINVAL,
                                 "parent locator %d (%s) of %u bytes at %llu is outside the file",
                                 i, order[k], len, ULL(at));
            }
            int r = src_pread(img->src, d, len, at);
            if (r < 0) {
                free(d);
                return img_error(img, r, "reading a parent locator: %s", src_errmsg(img->src, r));
            }
            found = vpc_locator_path(d, len, order[k], name, sizeof name);
        }
    }
    free(d);
    if (!found && !vpc_utf16(s->header + VPC_H_PARENT_NAME, 512, true, name, sizeof name))
        return img_error(img, -EINVAL, "differencing disk names no usable parent");
    if (!found && strchr(name, '/'))
        return img_error(img, -EINVAL, "parent name is not a plain file name");
    if (strstr(name, "://") || strncmp(name, "json:", 5) == 0)
        return img_error(img, -EPERM, "parent locator names a protocol, refused");
    if (!(img->backing_name = strdup(name)) || !(img->backing_fmt = strdup("vpc")))
        return img_error(img, -ENOMEM, "out of memory");
    return 0;
}

int vpc_sync(struct img *img)
{
    if (img->flags & IMG_OPEN_SCRATCH) /* a new image nobody opens before its flush */
        return 0;
    int r = src_flush(img->src);
    return r < 0 ? img_error(img, r, "flush: %s", src_errmsg(img->src, r)) : 0;
}

int vpc_put(struct img *img, const void *buf, size_t len, uint64_t at, const char *what)
{
    int r = src_pwrite(img->src, buf, len, at);
    return r < 0
               ? img_error(img, r, "writing %s at %llu: %s", what, ULL(at), src_errmsg(img->src, r))
               : 0;
}

/* A new block for guest block b at the end: the footer moves past it first (the file never
 * ends without one), then the bitmap (all set for a dynamic disk: its data reads as the
 * zeros of the grown file; all clear for a differencing one: still the parent's), then the
 * BAT entry. */
static int vpc_alloc(struct img *img, uint64_t b)
{
    struct vpc *s = img->priv;
    uint64_t h = s->next_free, span = (uint64_t)s->bitmap_size + s->block_size;
    if (h / VPC_SECTOR >= VPC_UNUSED)
        return img_error(img, -EFBIG, "the file is too large for another block");
    int r = vpc_put(img, s->footer, VPC_SECTOR, h + span, "the footer");
    if (r < 0)
        return r;
    uint8_t *bm = malloc(s->bitmap_size);
    if (!bm)
        return img_error(img, -ENOMEM, "out of memory");
    memset(bm, s->type == VPC_DIFF ? 0 : 0xff, s->bitmap_size);
    r = vpc_put(img, bm, s->bitmap_size, h, "a bitmap");
    free(bm);
    if (r < 0 || (r = vpc_sync(img)) < 0)
        return r;
    uint8_t e[4];
    be32_store(e, (uint32_t)(h / VPC_SECTOR));
    if ((r = vpc_put(img, e, 4, s->bat_off + 4 * b, "the BAT")) < 0 || (r = vpc_sync(img)) < 0)
        return r;
    s->bat[b] = (uint32_t)(h / VPC_SECTOR);
    s->next_free = h + span;
    s->file_size = h + span + VPC_SECTOR;
    s->nalloc++;
    if (s->bmap_block == b)
        s->bmap_block = UINT64_MAX;
    return 0;
}

/* Write [off, off+n) inside block b of a differencing disk: sectors this layer did not hold
 * are completed from the parent, then the bitmap says they are here. */
static int vpc_diff_write(struct img *img, uint64_t b, uint64_t off, const uint8_t *p, uint64_t n)
{
    struct vpc *s = img->priv;
    uint64_t base = b * s->block_size, in = off - base;
    uint64_t s0 = in / VPC_SECTOR, s1 = (in + n - 1) / VPC_SECTOR;
    uint64_t alen = (s1 - s0 + 1) * VPC_SECTOR, host = (uint64_t)s->bat[b] * VPC_SECTOR;
    uint8_t *buf = malloc(alen);
    if (!buf)
        return img_error(img, -ENOMEM, "out of memory");
    int r = 0;
    if (in % VPC_SECTOR)
        r = img->drv->read(img, base + s0 * VPC_SECTOR, buf, VPC_SECTOR);
    if (r == 0 && (in + n) % VPC_SECTOR)
        r = img->drv->read(img, base + s1 * VPC_SECTOR, buf + alen - VPC_SECTOR, VPC_SECTOR);
    if (r == 0) {
        memcpy(buf + in % VPC_SECTOR, p, n);
        r = vpc_put(img, buf, alen, host + s->bitmap_size + s0 * VPC_SECTOR, "data");
    }
    free(buf);
    if (r < 0 || (r = vpc_load_bitmap(img, b)) < 0)
        return r;
    bool changed = false;
    for (uint64_t k = s0; k <= s1; k++)
        if (!vpc_bit(s, k)) {
            s->bmap[k / 8] |= (uint8_t)(0x80 >> (k % 8));
            changed = true;
        }
    if (!changed)
        return 0;
    uint64_t b0 = s0 / 8, b1 = s1 / 8;
    r = vpc_put(img, s->bmap + b0, b1 - b0 + 1, host + b0, "a bitmap");
    if (r < 0)
        s->bmap_block = UINT64_MAX;
    return r;
}

int vpc_write(struct img *img, uint64_t off, const void *buf, size_t len)
{
    struct vpc *s = img->priv;
    const uint8_t *p = buf;
    if (s->type == VPC_FIXED) {
        if (off + len > s->data_end) /* a footer claiming more than the file holds */
            return img_error(img, -EIO, "write at %llu runs into the footer", ULL(off));
        return vpc_put(img, buf, len, off, "data");
    }
    while (len) {
        uint64_t b = off / s->block_size, in = off % s->block_size;
        uint64_t n = s->block_size - in < len ? s->block_size - in : len;
        int r = 0;
        if (s->bat[b] == VPC_UNUSED)
            r = vpc_alloc(img, b);
        if (r == 0)
            r = s->type == VPC_DIFF
                    ? vpc_diff_write(img, b, off, p, n)
                    : vpc_put(img, p, (size_t)n,
                              (uint64_t)s->bat[b] * VPC_SECTOR + s->bitmap_size + in, "data");
        if (r < 0)
            return r;
        p += n;
        off += n;
        len -= (size_t)n;
    }
    return 0;
}

int vpc_flush(struct img *img)
{
    int r = src_flush(img->src);
    return r < 0 ? img_error(img, r, "flush: %s", src_errmsg(img->src, r)) : 0;
}

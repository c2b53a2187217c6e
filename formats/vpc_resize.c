/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vpc_resize.c: growing VHD images (qemu-img has no resize for vpc; the sizes follow its
 * create rule, so that qemu-img reads the grown size: a whole CHS geometry, rounded up, unless
 * the creator sizes by the footer's current size, then the size asked in whole sectors).
 * Fixed: the new footer goes after the grown data first, then the old footer's sector becomes
 * zeros. Dynamic: more BAT entries in place when the space after the BAT is free, else a new
 * BAT at the end of the file, the dynamic header switched to it in one sector write; the
 * footers last (the one at the end, then the copy at the start). Shrinking is refused.
 * Talks to: formats/vpc.h, core/block/driver.h.
 */
#include "formats/vpc.h"

#include "core/base/bytes.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define ULL(x) ((unsigned long long)(x))

/* The footer for the new size (geometry and sizes; the rest as it was). */
static int vpc_new_footer(struct img *img, uint64_t want, uint8_t *f, uint64_t *size)
{
    struct vpc *s = img->priv;
    uint16_t c;
    uint8_t h, sp;
    bool by_size = vpc_sized_by_footer(s->footer);
    int r = vpc_pick_size(want, false, size, &c, &h, &sp, &img->err);
    if (r < 0)
        return r;
    if (by_size) {
        *size = u64_align_up(want, VPC_SECTOR);
        if (*size / VPC_SECTOR > VPC_MAX_SECTORS)
            return img_error(img, -EFBIG, "size %llu is over the 2040 GiB limit", ULL(want));
    }
    memcpy(f, s->footer, VPC_SECTOR);
    be64_store(f + VPC_F_CUR_SIZE, *size);
    be16_store(f + VPC_F_GEOMETRY, c);
    f[VPC_F_GEOMETRY + 2] = h;
    f[VPC_F_GEOMETRY + 3] = sp;
    be32_store(f + VPC_F_CHECKSUM, vpc_checksum(f, VPC_SECTOR, VPC_F_CHECKSUM));
    if (vpc_footer_size(f) != *size)
        return img_error(img, -EINVAL, "size %llu cannot be recorded", ULL(want));
    return 0;
}

static int vpc_grow_fixed(struct img *img, const uint8_t *f, uint64_t size)
{
    struct vpc *s = img->priv;
    uint64_t old = s->data_end;
    int r = src_truncate(img->src, size + VPC_SECTOR);
    if (r < 0)
        return img_error(img, r, "%s", src_errmsg(img->src, r));
    if ((r = vpc_put(img, f, VPC_SECTOR, size, "the footer")) < 0 || (r = vpc_sync(img)) < 0)
        return r;
    uint8_t z[VPC_SECTOR] = {0};
    if ((r = vpc_put(img, z, VPC_SECTOR, old, "zeros")) < 0 || (r = vpc_sync(img)) < 0)
        return r;
    s->data_end = size;
    s->file_size = size + VPC_SECTOR;
    return 0;
}

/* The first byte after the BAT that something else uses. */
static uint64_t vpc_bat_room(const struct vpc *s)
{
    uint64_t lim = s->next_free;
    if (s->header_off > s->bat_off && s->header_off < lim)
        lim = s->header_off;
    for (uint32_t i = 0; i < s->nbat; i++) {
        uint64_t h = (uint64_t)s->bat[i] * VPC_SECTOR;
        if (s->bat[i] != VPC_UNUSED && h > s->bat_off && h < lim)
            lim = h;
    }
    return lim;
}

/* Room for n BAT entries: in place, or a new table at the end. The header written last. */
static int vpc_grow_bat(struct img *img, uint32_t n)
{
    struct vpc *s = img->priv;
    uint64_t bytes = (uint64_t)n * 4, at = s->bat_off;
    uint32_t *nb = realloc(s->bat, bytes);
    if (!nb)
        return img_error(img, -ENOMEM, "out of memory for a %u-entry BAT", n);
    s->bat = nb;
    for (uint32_t i = s->nbat; i < n; i++)
        s->bat[i] = VPC_UNUSED;
    uint8_t *t = malloc(bytes);
    if (!t)
        return img_error(img, -ENOMEM, "out of memory");
    for (uint32_t i = 0; i < n; i++)
        be32_store(t + 4 * (uint64_t)i, i < s->entries && i < s->nbat ? s->bat[i] : VPC_UNUSED);
    int r;
    if (s->bat_off + bytes <= vpc_bat_room(s)) {
        uint64_t from = (uint64_t)s->entries * 4; /* entries past the old count, all free */
        r = from < bytes ? vpc_put(img, t + from, bytes - from, at + from, "the BAT") : 0;
    } else {
        at = s->next_free;
        uint64_t len = u64_align_up(bytes, VPC_SECTOR);
        s->next_free += len;
        r = vpc_put(img, s->footer, VPC_SECTOR, s->next_free, "the footer");
        if (r == 0)
            r = vpc_put(img, t, bytes, at, "the BAT");
        s->file_size = s->next_free + VPC_SECTOR;
    }
    free(t);
    if (r < 0 || (r = vpc_sync(img)) < 0)
        return r;
    be64_store(s->header + VPC_H_TABLE_OFFSET, at);
    be32_store(s->header + VPC_H_MAX_ENTRIES, n);
    be32_store(s->header + VPC_H_CHECKSUM,
               vpc_checksum(s->header, VPC_DYN_HEADER_SIZE, VPC_H_CHECKSUM));
    if ((r = vpc_put(img, s->header, VPC_DYN_HEADER_SIZE, s->header_off, "the header")) < 0 ||
        (r = vpc_sync(img)) < 0)
        return r;
    s->bat_off = at;
    s->entries = n;
    s->nbat = n;
    return 0;
}

int vpc_truncate(struct img *img, uint64_t want, enum img_prealloc prealloc)
{
    struct vpc *s = img->priv;
    if (prealloc != IMG_PREALLOC_OFF)
        return img_error(img, -ENOTSUP, "preallocation is not supported");
    if (want < img->size)
        return img_error(img, -ENOTSUP, "shrinking is not supported");
    uint8_t f[VPC_SECTOR];
    uint64_t size;
    int r = vpc_new_footer(img, want, f, &size);
    if (r < 0)
        return r;
    if (size == img->size)
        return 0;
    if (s->type == VPC_FIXED) {
        if ((r = vpc_grow_fixed(img, f, size)) < 0)
            return r;
    } else {
        uint64_t need = u64_div_round_up(size, s->block_size);
        if (need > VPC_MAX_ENTRIES)
            return img_error(img, -EFBIG, "too many blocks for size %llu", ULL(want));
        if (need > s->entries && (r = vpc_grow_bat(img, (uint32_t)need)) < 0)
            return r;
        if (need > s->nbat) { /* entries recorded but past the old size: read them */
            uint32_t *nb = realloc(s->bat, need * 4);
            if (!nb)
                return img_error(img, -ENOMEM, "out of memory");
            s->bat = nb;
            r = src_pread(img->src, s->bat + s->nbat, (need - s->nbat) * 4,
                          s->bat_off + (uint64_t)s->nbat * 4);
            if (r < 0)
                return img_error(img, r, "reading the BAT: %s", src_errmsg(img->src, r));
            for (uint64_t i = s->nbat; i < need; i++) {
                s->bat[i] = be32_load(&s->bat[i]);
                if (s->bat[i] != VPC_UNUSED)
                    return img_error(img, -EINVAL, "BAT entry %llu past the disk is in use",
                                     ULL(i));
            }
            s->nbat = (uint32_t)need;
        }
        if ((r = vpc_put(img, f, VPC_SECTOR, s->next_free, "the footer")) < 0 ||
            (r = vpc_sync(img)) < 0 || (r = vpc_put(img, f, VPC_SECTOR, 0, "the footer")) < 0)
            return r;
    }
    if ((r = vpc_sync(img)) < 0)
        return r;
    memcpy(s->footer, f, VPC_SECTOR);
    img->size = size;
    return 0;
}

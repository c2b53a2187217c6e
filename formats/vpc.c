/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vpc.c: Virtual PC / Hyper-V VHD images (qemu-img's "vpc"): fixed (the guest bytes, then a
 * 512-byte footer), dynamic (a copy of the footer, a "cxsparse" header, a block allocation
 * table of 32-bit sector numbers, blocks each led by a sector bitmap, the footer at the end)
 * and differencing (dynamic, with a parent named by locators and the bitmap saying which
 * sectors this layer holds). Reading, block status, layout, check and info here; the parent's
 * name and writing in vpc_write.c, creating in vpc_create.c.
 *
 * The virtual size follows qemu-img's rule: the CHS geometry's size, unless the creator is one
 * of those that use the footer's current size (Hyper-V "win ", disk2vhd, XenServer, qemu's
 * force_size "qem2") or the geometry is the maximum one.
 * Talks to: core/block/driver.h (the handle, its byte source img->src), formats/vpc.h.
 */
#include "formats/vpc.h"

#include "core/base/bytes.h"
#include "formats/drivers.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ULL(x) ((unsigned long long)(x))

uint32_t vpc_checksum(const uint8_t *p, size_t n, size_t skip)
{
    uint32_t sum = 0;
    for (size_t i = 0; i < n; i++)
        if (i < skip || i >= skip + 4)
            sum += p[i];
    return ~sum;
}

static bool vpc_footer_ok(const uint8_t *f)
{
    return memcmp(f, VPC_COOKIE, 8) == 0;
}

static int vpc_probe(const uint8_t *buf, size_t len)
{
    return len >= 8 && vpc_footer_ok(buf) ? 100 : 0;
}

bool vpc_sized_by_footer(const uint8_t *f)
{
    const uint8_t *app = f + VPC_F_CREATOR_APP;
    return memcmp(app, "win ", 4) == 0 || memcmp(app, "qem2", 4) == 0 ||
           memcmp(app, "d2v ", 4) == 0 || memcmp(app, "CTXS", 4) == 0 ||
           memcmp(app, "tap\0", 4) == 0;
}

uint64_t vpc_footer_size(const uint8_t *f)
{
    uint64_t chs =
        (uint64_t)be16_load(f + VPC_F_GEOMETRY) * f[VPC_F_GEOMETRY + 2] * f[VPC_F_GEOMETRY + 3];
    bool by_size = vpc_sized_by_footer(f);
    uint64_t sectors =
        (by_size || chs == VPC_MAX_GEOMETRY) ? be64_load(f + VPC_F_CUR_SIZE) / 512 : chs;
    return sectors * 512;
}

static uint64_t vpc_head_size(const uint8_t *buf, size_t len)
{
    if (len < VPC_SECTOR || !vpc_footer_ok(buf))
        return 0;
    uint64_t s = vpc_footer_size(buf);
    return s <= VPC_MAX_SECTORS * 512 ? s : 0;
}

/* t ends at the file's end: the footer is its last sector. */
static int vpc_probe_tail(const uint8_t *t, size_t n)
{
    return n >= VPC_SECTOR && vpc_tail_is_fixed(t + n - VPC_SECTOR, VPC_SECTOR) ? 100 : 0;
}

bool vpc_tail_is_fixed(const uint8_t *t, size_t n)
{
    return n >= VPC_SECTOR && vpc_footer_ok(t) && be32_load(t + VPC_F_TYPE) == VPC_FIXED &&
           vpc_checksum(t, VPC_SECTOR, VPC_F_CHECKSUM) == be32_load(t + VPC_F_CHECKSUM);
}

/* The footer: the copy at the start (dynamic, differencing) or the last sector (fixed). */
static int vpc_read_footer(struct img *img, struct vpc *s)
{
    int r;
    if (s->file_size < VPC_SECTOR)
        return img_error(img, -EINVAL, "file of %llu bytes is too short for a VHD footer",
                         ULL(s->file_size));
    if ((r = src_pread(img->src, s->footer, VPC_SECTOR, 0)) < 0)
        return img_error(img, r, "reading the footer: %s", src_errmsg(img->src, r));
    if (!vpc_footer_ok(s->footer)) {
        r = src_pread(img->src, s->footer, VPC_SECTOR, s->file_size - VPC_SECTOR);
        if (r < 0)
            return img_error(img, r, "reading the footer: %s", src_errmsg(img->src, r));
        if (!vpc_footer_ok(s->footer))
            return img_error(img, -EINVAL, "no \"conectix\" footer at the start or the end");
        if (be32_load(s->footer + VPC_F_TYPE) != VPC_FIXED)
            return img_error(img, -EINVAL, "the footer at the end is not a fixed disk's");
    }
    uint32_t want = be32_load(s->footer + VPC_F_CHECKSUM);
    uint32_t got = vpc_checksum(s->footer, VPC_SECTOR, VPC_F_CHECKSUM);
    if (want != got)
        return img_error(img, -EINVAL, "footer checksum 0x%08x is wrong (computed 0x%08x)", want,
                         got);
    s->type = be32_load(s->footer + VPC_F_TYPE);
    if (s->type != VPC_FIXED && s->type != VPC_DYNAMIC && s->type != VPC_DIFF)
        return img_error(img, -EINVAL, "unknown disk type %u", s->type);
    uint64_t size = vpc_footer_size(s->footer);
    if (size > VPC_MAX_SECTORS * 512)
        return img_error(img, -EFBIG, "disk size %llu is over the 2040 GiB VHD limit", ULL(size));
    img->size = size;
    return 0;
}

/* [a, a+alen) and [b, b+blen) overlap. */
static bool vpc_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
    return a < b + blen && b < a + alen;
}

static int vpc_cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Every allocated block lies inside the file, clear of the headers and of the others. */
static int vpc_check_blocks(struct img *img, struct vpc *s)
{
    uint64_t span = (uint64_t)s->bitmap_size + s->block_size, nalloc = 0;
    uint64_t bat_len = u64_align_up((uint64_t)s->entries * 4, VPC_SECTOR);
    uint64_t *hosts = malloc((s->nbat ? s->nbat : 1) * sizeof *hosts);
    if (!hosts)
        return img_error(img, -ENOMEM, "out of memory for a %u-entry BAT", s->nbat);
    for (uint32_t i = 0; i < s->nbat; i++) {
        if (s->bat[i] == VPC_UNUSED)
            continue;
        uint64_t h = (uint64_t)s->bat[i] * VPC_SECTOR;
        if (h + span > s->file_size) {
            free(hosts);
            return img_error(img, -EINVAL,
                             "BAT entry %u (block at %llu) runs past the end of the file "
                             "(%llu bytes)",
                             i, ULL(h), ULL(s->file_size));
        }
        if (vpc_overlap(h, span, 0, VPC_SECTOR) ||
            vpc_overlap(h, span, s->header_off, VPC_DYN_HEADER_SIZE) ||
            vpc_overlap(h, span, s->bat_off, bat_len)) {
            free(hosts);
            return img_error(img, -EINVAL, "BAT entry %u (block at %llu) overlaps the headers", i,
                             ULL(h));
        }
        if (h + span > s->next_free)
            s->next_free = h + span;
        hosts[nalloc++] = h;
    }
    qsort(hosts, nalloc, sizeof *hosts, vpc_cmp_u64);
    for (uint64_t i = 1; i < nalloc; i++)
        if (hosts[i] < hosts[i - 1] + span) {
            uint64_t h = hosts[i];
            free(hosts);
            return img_error(img, -EINVAL, "two BAT entries share the block at %llu", ULL(h));
        }
    free(hosts);
    s->nalloc = nalloc;
    return 0;
}

/* The dynamic header and the BAT (the entries the virtual size reaches are kept). */
static int vpc_read_dynamic(struct img *img, struct vpc *s)
{
    uint8_t *h = s->header;
    uint64_t off = be64_load(s->footer + VPC_F_DATA_OFFSET);
    int r;
    if (off > s->file_size || s->file_size - off < VPC_DYN_HEADER_SIZE)
        return img_error(img, -EINVAL, "dynamic header offset %llu is outside the file", ULL(off));
    if ((r = src_pread(img->src, h, VPC_DYN_HEADER_SIZE, off)) < 0)
        return img_error(img, r, "reading the dynamic header: %s", src_errmsg(img->src, r));
    if (memcmp(h, VPC_DYN_COOKIE, 8) != 0)
        return img_error(img, -EINVAL, "no \"cxsparse\" dynamic header at %llu", ULL(off));
    uint32_t want = be32_load(h + VPC_H_CHECKSUM);
    uint32_t got = vpc_checksum(h, VPC_DYN_HEADER_SIZE, VPC_H_CHECKSUM);
    if (want != got)
        return img_error(img, -EINVAL, "dynamic header checksum 0x%08x is wrong (computed 0x%08x)",
                         want, got);
    s->header_off = off;
    s->block_size = be32_load(h + VPC_H_BLOCK_SIZE);
    if (!u64_is_pow2(s->block_size) || s->block_size < VPC_SECTOR || s->block_size > VPC_MAX_BLOCK)
        return img_error(img, -EINVAL, "block size %u is not a power of two in 512..%u",
                         s->block_size, VPC_MAX_BLOCK);
    s->bitmap_size = (uint32_t)u64_align_up(s->block_size / (8 * VPC_SECTOR), VPC_SECTOR);
    s->entries = be32_load(h + VPC_H_MAX_ENTRIES);
    s->bat_off = be64_load(h + VPC_H_TABLE_OFFSET);
    uint64_t need = u64_div_round_up(img->size, s->block_size);
    if (s->entries < need)
        return img_error(img, -EINVAL, "BAT of %u entries is too small for %llu blocks", s->entries,
                         ULL(need));
    uint64_t bat_bytes = (uint64_t)s->entries * 4;
    if (s->bat_off > s->file_size || s->file_size - s->bat_off < bat_bytes)
        return img_error(img, -EINVAL, "BAT of %u entries at %llu runs past the end of the file",
                         s->entries, ULL(s->bat_off));
    if (vpc_overlap(s->bat_off, bat_bytes, 0, VPC_SECTOR) ||
        vpc_overlap(s->bat_off, bat_bytes, off, VPC_DYN_HEADER_SIZE))
        return img_error(img, -EINVAL, "BAT at %llu overlaps the headers", ULL(s->bat_off));
    /* Bounded by the virtual size, the file's size and dimg's limit. */
    if (need > VPC_MAX_ENTRIES)
        return img_error(img, -EFBIG, "%llu blocks of %u bytes are more than dimg reads (%u)",
                         ULL(need), s->block_size, VPC_MAX_ENTRIES);
    s->nbat = (uint32_t)need;
    if (!(s->bat = malloc((need ? need : 1) * 4)))
        return img_error(img, -ENOMEM, "out of memory for a %llu-entry BAT", ULL(need));
    if ((r = src_pread(img->src, s->bat, (size_t)need * 4, s->bat_off)) < 0)
        return img_error(img, r, "reading the BAT: %s", src_errmsg(img->src, r));
    for (uint64_t i = 0; i < need; i++)
        s->bat[i] = be32_load(&s->bat[i]);
    s->next_free = u64_align_up(s->bat_off + bat_bytes, VPC_SECTOR);
    if (off + VPC_DYN_HEADER_SIZE > s->next_free)
        s->next_free = off + VPC_DYN_HEADER_SIZE;
    if ((r = vpc_check_blocks(img, s)) < 0)
        return r;
    /* New blocks go where the footer at the end is (or after the last byte). */
    uint8_t tail[VPC_SECTOR];
    uint64_t end = u64_align_up(s->file_size, VPC_SECTOR);
    if (src_pread(img->src, tail, VPC_SECTOR, s->file_size - VPC_SECTOR) == 0 &&
        vpc_footer_ok(tail) && s->file_size % VPC_SECTOR == 0)
        end = s->file_size - VPC_SECTOR;
    if (end > s->next_free)
        s->next_free = end;
    if (!(s->bmap = malloc(s->bitmap_size)))
        return img_error(img, -ENOMEM, "out of memory");
    s->bmap_block = UINT64_MAX;
    return 0;
}

static int vpc_open(struct img *img, unsigned flags)
{
    struct vpc *s = img->priv;
    int r = src_size(img->src, &s->file_size);
    if (r < 0)
        return img_error(img, r, "%s", src_errmsg(img->src, r));
    if ((r = vpc_read_footer(img, s)) < 0)
        return r;
    if (s->type == VPC_FIXED) {
        s->data_end = s->file_size - VPC_SECTOR;
        return 0;
    }
    if ((r = vpc_read_dynamic(img, s)) < 0)
        return r;
    if (s->type == VPC_DIFF)
        return vpc_parent_name(img, s, flags);
    return 0;
}

static void vpc_close(struct img *img)
{
    struct vpc *s = img->priv;
    free(s->bat);
    free(s->bmap);
    s->bat = NULL;
    s->bmap = NULL;
}

/* The sector bitmap of block b (allocated), cached. */
int vpc_load_bitmap(struct img *img, uint64_t b)
{
    struct vpc *s = img->priv;
    if (s->bmap_block == b)
        return 0;
    uint64_t at = (uint64_t)s->bat[b] * VPC_SECTOR;
    int r = src_pread(img->src, s->bmap, s->bitmap_size, at);
    if (r < 0) {
        s->bmap_block = UINT64_MAX;
        return img_error(img, r, "reading the bitmap at %llu: %s", ULL(at),
                         src_errmsg(img->src, r));
    }
    s->bmap_block = b;
    return 0;
}

bool vpc_bit(const struct vpc *s, uint64_t sector)
{
    return (s->bmap[sector / 8] >> (7 - sector % 8)) & 1;
}

/* The run of sectors from off (inside block b, allocated, bitmap loaded) up to len bytes that
 * this layer holds (*here true) or leaves to the parent: its length in bytes. Dynamic disks
 * hold every sector of an allocated block (as qemu reads them). */
static uint64_t vpc_bitmap_run(const struct vpc *s, uint64_t off, uint64_t len, bool *here)
{
    uint64_t in = off % s->block_size, n = s->block_size - in;
    if (n > len)
        n = len;
    if (s->type != VPC_DIFF) {
        *here = true;
        return n;
    }
    uint64_t sec = in / VPC_SECTOR, last = (in + n - 1) / VPC_SECTOR, k = sec + 1;
    *here = vpc_bit(s, sec);
    while (k <= last && vpc_bit(s, k) == *here)
        k++;
    uint64_t run = k * VPC_SECTOR - in;
    return run < n ? run : n;
}

static int vpc_read(struct img *img, uint64_t off, void *buf, size_t len)
{
    struct vpc *s = img->priv;
    uint8_t *p = buf;
    int r;
    if (s->type == VPC_FIXED) {
        /* Past the end of a truncated file reads as zeros, as qemu does. */
        r = src_pread_zero(img->src, buf, len, off);
        return r < 0 ? img_error(img, r, "read at %llu: %s", ULL(off), src_errmsg(img->src, r)) : 0;
    }
    while (len) {
        uint64_t b = off / s->block_size, in = off % s->block_size;
        uint64_t n = s->block_size - in < len ? s->block_size - in : len;
        bool here = false;
        if (s->bat[b] != VPC_UNUSED) {
            if (s->type == VPC_DIFF && (r = vpc_load_bitmap(img, b)) < 0)
                return r;
            n = vpc_bitmap_run(s, off, n, &here);
        }
        if (here) {
            uint64_t at = (uint64_t)s->bat[b] * VPC_SECTOR + s->bitmap_size + in;
            if ((r = src_pread(img->src, p, (size_t)n, at)) < 0)
                return img_error(img, r, "read at %llu: %s", ULL(at), src_errmsg(img->src, r));
        } else if (s->type == VPC_DIFF) {
            if ((r = img_read_backing(img, off, p, (size_t)n)) < 0)
                return r;
        } else {
            memset(p, 0, (size_t)n);
        }
        p += n;
        off += n;
        len -= (size_t)n;
    }
    return 0;
}

static int vpc_fixed_status(struct img *img, uint64_t off, uint64_t len, struct img_bs *bs)
{
    struct vpc *s = img->priv;
    unsigned state = SRC_EXT_ZERO;
    uint64_t end = off + len;
    if (off < s->data_end) {
        int r = src_extent(img->src, off, s->data_end, &state, &end);
        if (r < 0)
            return img_error(img, r, "%s", src_errmsg(img->src, r));
        if (end <= off)
            end = off + len;
    }
    bs->len = end - off < len ? end - off : len;
    /* qemu-img map calls all of a fixed disk data, its file's holes data reading as zeros. */
    bs->flags = IMG_BS_ALLOCATED | IMG_BS_OFFSET_VALID | IMG_BS_DATA |
                ((state & SRC_EXT_ZERO) ? IMG_BS_ZERO : 0);
    bs->host_off = off;
    return 0;
}

static int vpc_block_status(struct img *img, uint64_t off, uint64_t len, struct img_bs *bs)
{
    struct vpc *s = img->priv;
    if (s->type == VPC_FIXED)
        return vpc_fixed_status(img, off, len, bs);
    uint64_t b = off / s->block_size, in = off % s->block_size;
    uint64_t n = s->block_size - in;
    if (s->bat[b] == VPC_UNUSED) {
        /* A dynamic disk's free blocks read as zeros it decides (qemu's map says so); a
         * differencing disk's come from the parent. Merge the run of free blocks. */
        while (n < len && b + 1 < s->nbat && s->bat[b + 1] == VPC_UNUSED) {
            b++;
            n += s->block_size;
        }
        bs->len = n < len ? n : len;
        bs->flags = s->type == VPC_DIFF ? 0 : IMG_BS_ZERO | IMG_BS_ALLOCATED;
        return 0;
    }
    int r;
    if (s->type == VPC_DIFF && (r = vpc_load_bitmap(img, b)) < 0)
        return r;
    bool here;
    bs->len = vpc_bitmap_run(s, off, len, &here);
    bs->flags = 0;
    if (here) {
        bs->flags = IMG_BS_DATA | IMG_BS_ALLOCATED | IMG_BS_OFFSET_VALID;
        bs->host_off = (uint64_t)s->bat[b] * VPC_SECTOR + s->bitmap_size + in;
    }
    return 0;
}

static const char *vpc_type_name(uint32_t t)
{
    return t == VPC_FIXED ? "fixed" : t == VPC_DYNAMIC ? "dynamic" : "differencing";
}

static int vpc_get_info(struct img *img, struct img_info *info)
{
    struct vpc *s = img->priv;
    if (s->type != VPC_FIXED)
        info->cluster_size = s->block_size;
    img_info_str(info, "subformat", vpc_type_name(s->type));
    char app[5];
    for (int i = 0; i < 4; i++) {
        uint8_t c = s->footer[VPC_F_CREATOR_APP + i];
        app[i] = c >= 0x20 && c < 0x7f ? (char)c : '?';
    }
    app[4] = 0;
    img_info_str(info, "creator-app", app);
    img_info_int(info, "current-size", (int64_t)be64_load(s->footer + VPC_F_CUR_SIZE));
    char g[48];
    snprintf(g, sizeof g, "%u/%u/%u", be16_load(s->footer + VPC_F_GEOMETRY),
             s->footer[VPC_F_GEOMETRY + 2], s->footer[VPC_F_GEOMETRY + 3]);
    img_info_str(info, "geometry", g);
    return 0;
}

static int vpc_layout(struct img *img, struct img_region **out, size_t *n)
{
    struct vpc *s = img->priv;
    struct img_regions rl = {0};
    if (s->type == VPC_FIXED) {
        img_regions_add(&rl, 0, s->data_end, IMG_R_DATA);
        img_regions_add(&rl, s->data_end, VPC_SECTOR, IMG_R_HEADER);
        return img_regions_finish(&rl, out, n);
    }
    img_regions_add(&rl, 0, VPC_SECTOR, IMG_R_HEADER);
    img_regions_add(&rl, s->header_off, VPC_DYN_HEADER_SIZE, IMG_R_HEADER);
    img_regions_add(&rl, s->bat_off, (uint64_t)s->entries * 4, IMG_R_BLOCK_MAP);
    for (uint32_t i = 0; i < s->nbat; i++) {
        if (s->bat[i] == VPC_UNUSED)
            continue;
        uint64_t h = (uint64_t)s->bat[i] * VPC_SECTOR;
        img_regions_add(&rl, h, s->bitmap_size, IMG_R_BITMAP);
        img_regions_add(&rl, h + s->bitmap_size, s->block_size, IMG_R_DATA);
    }
    if (s->file_size >= VPC_SECTOR && s->next_free < s->file_size)
        img_regions_add(&rl, s->next_free, s->file_size - s->next_free, IMG_R_HEADER);
    return img_regions_finish(&rl, out, n);
}

/* Open checked every structure; check counts what it found and says the footer at the end is
 * missing or differs from the copy at the start. */
static int vpc_check(struct img *img, struct img_check *res, unsigned fix)
{
    struct vpc *s = img->priv;
    (void)fix;
    res->image_end_offset = s->type == VPC_FIXED ? s->file_size : s->next_free + VPC_SECTOR;
    if (s->type == VPC_FIXED)
        return 0;
    res->total_clusters = s->nbat;
    res->allocated_clusters = s->nalloc;
    res->has_stats = true;
    uint8_t tail[VPC_SECTOR];
    int r = src_pread(img->src, tail, VPC_SECTOR, s->file_size - VPC_SECTOR);
    if (r < 0)
        return img_error(img, r, "reading the footer: %s", src_errmsg(img->src, r));
    if (memcmp(tail, s->footer, VPC_SECTOR) != 0) {
        res->corruptions++;
        img_check_report(res, "ERROR the footer at the end of the file is missing or differs "
                              "from the copy at the start");
    }
    return 0;
}

static const char *const vpc_qemu_keys[] = {NULL};

static const struct img_opt_desc vpc_create_opts[] = {
    {"subformat", "enum:dynamic|fixed", "dynamic (default) or fixed"},
    {"force_size", "bool", "keep the size exactly instead of rounding it to a CHS geometry"},
    {NULL, NULL, NULL},
};

const struct img_driver img_driver_vpc = {
    .abi = IMG_DRIVER_ABI,
    .name = "vpc",
    .desc = "Virtual PC / Hyper-V VHD",
    .priv_size = sizeof(struct vpc),
    .caps = IMG_CAP_ZERO_INIT | IMG_CAP_SOURCES | IMG_CAP_PARENT_SAME_FMT,
    .create_opts = vpc_create_opts,
    .probe = vpc_probe,
    .open = vpc_open,
    .close = vpc_close,
    .get_info = vpc_get_info,
    .read = vpc_read,
    .block_status = vpc_block_status,
    .write = vpc_write,
    .flush = vpc_flush,
    .create = vpc_create,
    .truncate = vpc_truncate,
    .check = vpc_check,
    .layout = vpc_layout,
    .head_size = vpc_head_size,
    .qemu_info_keys = vpc_qemu_keys,
    .probe_tail = vpc_probe_tail,
};

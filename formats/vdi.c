/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vdi.c: the VirtualBox VDI format driver (dynamic and static images, version 1.1 headers of
 * QEMU's and VirtualBox's sizes). The header is validated field by field before anything is
 * derived from it; the block map (one u32 per 1 MiB guest block: physical block index,
 * 0xFFFFFFFF free, 0xFFFFFFFE zero) is kept in memory. New blocks are appended and written in
 * crash-safe order: data block, fsync, block-map entry, header blocks_allocated. Growing past
 * the block map's room moves the first data blocks to the end of the file (vdi_relocate).
 * Differencing images (type 4) name their parent only by UUID: with the chain asked for, the
 * parent is looked up in the image's own directory (vdi_find_parent) and the core opens it as
 * the backing image; free blocks read through it, zero blocks hide it, a write to a free block
 * copies the parent's block first. Without the chain, reads that need the parent fail.
 * Compaction (vdi_compact) unmaps zero blocks and closes the holes in place.
 * The image's bytes are read and written only through its byte source (core/block/src.h), so a
 * vdi on a block device or an NBD export works as one in a file; only a file changes size.
 * Talks to: core/block/src.h for the image's bytes, core/base/io.c for create and the parent
 * lookup, core/block/opts.c for create options, core/block/img.c
 * (img_open of a new child's parent, img_read_backing); formats/registry.c lists it.
 */
#include "core/base/bytes.h"
#include "core/base/io.h"
#include "formats/drivers.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#define ULL(x) ((unsigned long long)(x))

/* Header field offsets (from the start of the file). */
#define VDI_OFF_SIGNATURE 0x40
#define VDI_OFF_VERSION 0x44
#define VDI_OFF_HEADER_SIZE 0x48
#define VDI_OFF_IMAGE_TYPE 0x4c
#define VDI_OFF_BMAP 0x154
#define VDI_OFF_DATA 0x158
#define VDI_OFF_SECTOR_SIZE 0x168
#define VDI_OFF_DISK_SIZE 0x170
#define VDI_OFF_BLOCK_SIZE 0x178
#define VDI_OFF_BLOCK_EXTRA 0x17c
#define VDI_OFF_BLOCKS 0x180
#define VDI_OFF_ALLOCATED 0x184
#define VDI_OFF_UUID_IMAGE 0x188
#define VDI_OFF_UUID_SNAP 0x198
#define VDI_OFF_UUID_LINK 0x1a8
#define VDI_OFF_UUID_PARENT 0x1b8

#define VDI_SIGNATURE 0xbeda107fu
#define VDI_VERSION_1_1 0x00010001u
#define VDI_PREHEADER 0x48 /* header_size counts from here */
#define VDI_HEADER_SIZE_QEMU 0x180
#define VDI_HEADER_SIZE_MAX 0x1000 /* VirtualBox writes 0x190; anything far larger is bogus */
#define VDI_TYPE_DYNAMIC 1
#define VDI_TYPE_STATIC 2
#define VDI_TYPE_UNDO 3
#define VDI_TYPE_DIFF 4
#define VDI_SECTOR 512
#define VDI_BLOCK_SIZE (1u << 20) /* the only block size QEMU (and VirtualBox) use */
#define VDI_FREE 0xffffffffu
#define VDI_ZERO 0xfffffffeu
#define VDI_BLOCKS_MAX 0x1fffff80u /* QEMU's limit: block map <= 2 GiB - 512 */
#define VDI_DISK_MAX 0x1fffff8000000ull
/* The block map lives in memory; beyond this (images > 64 TiB) we refuse rather than
 * allocate gigabytes on the word of a header. */
#define VDI_BMAP_MEM_MAX (256ull << 20)
/* Directory entries a differencing image's parent lookup looks at (one sector read each). */
#define VDI_SCAN_MAX 4096
#define VDI_SCAN_MAX_STR "4096"

struct vdi {
    uint32_t header_size, type, block_size, blocks, allocated;
    /* As stored (mixed-endian); link/parent only in differencing images. */
    uint8_t uuid_image[16], uuid_modify[16], uuid_link[16], uuid_parent[16];
    uint32_t off_bmap, off_data;
    uint64_t disk_size;
    uint64_t file_size; /* tracked across our own appends */
    uint32_t next_idx;  /* physical index the next new block gets */
    uint32_t *bmap;     /* host-endian copy of the block map */
    /* Scratch target (IMG_OPEN_SCRATCH): map entries [dirty_lo, dirty_hi) and blocks_allocated
     * are newer in memory than on disk; written once, at flush or close. */
    bool dirty;
    uint32_t dirty_lo, dirty_hi;
};

static bool vdi_is_alloc(uint32_t e)
{
    return e < VDI_ZERO;
}

/* A block that reads through to the parent: a free entry of a differencing image. (Zero
 * entries read as zeros everywhere; free ones of other images too.) */
static bool vdi_from_parent(const struct vdi *s, uint32_t e)
{
    return s->type == VDI_TYPE_DIFF && e == VDI_FREE;
}

/* The canonical text form of a UUID stored in VirtualBox's mixed-endian order. */
static void vdi_uuid_str(const uint8_t *u, char out[37])
{
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[3],
             u[2], u[1], u[0], u[5], u[4], u[7], u[6], u[8], u[9], u[10], u[11], u[12], u[13],
             u[14], u[15]);
}

static int vdi_probe(const uint8_t *buf, size_t len)
{
    if (len >= VDI_OFF_SIGNATURE + 4 && le32_load(buf + VDI_OFF_SIGNATURE) == VDI_SIGNATURE)
        return 100;
    return 0;
}

static uint64_t vdi_head_size(const uint8_t *buf, size_t len)
{
    return len >= VDI_OFF_DISK_SIZE + 8 ? le64_load(buf + VDI_OFF_DISK_SIZE) : 0;
}

static bool vdi_uuid_null(const uint8_t *p)
{
    for (int i = 0; i < 16; i++)
        if (p[i])
            return false;
    return true;
}

/* Validate every field we rely on; fills s (except bmap). */
static int vdi_parse_header(struct img *img, struct vdi *s, const uint8_t *h)
{
    uint32_t sig = le32_load(h + VDI_OFF_SIGNATURE), ver = le32_load(h + VDI_OFF_VERSION);
    if (sig != VDI_SIGNATURE)
        return img_error(img, -EINVAL, "bad signature 0x%08x (expected 0x%08x)", sig,
                         VDI_SIGNATURE);
    if (ver != VDI_VERSION_1_1)
        return img_error(img, -ENOTSUP, "version %u.%u is not supported (only 1.1)", ver >> 16,
                         ver & 0xffff);
    s->header_size = le32_load(h + VDI_OFF_HEADER_SIZE);
    if (s->header_size < VDI_HEADER_SIZE_QEMU || s->header_size > VDI_HEADER_SIZE_MAX)
        return img_error(img, -EINVAL, "header_size %u is out of range (%u..%u)", s->header_size,
                         VDI_HEADER_SIZE_QEMU, VDI_HEADER_SIZE_MAX);
    s->type = le32_load(h + VDI_OFF_IMAGE_TYPE);
    if (s->type != VDI_TYPE_DYNAMIC && s->type != VDI_TYPE_STATIC && s->type != VDI_TYPE_DIFF)
        return img_error(img, -ENOTSUP,
                         "image_type %u is not supported (1 dynamic, 2 static or "
                         "4 differencing)",
                         s->type);
    memcpy(s->uuid_image, h + VDI_OFF_UUID_IMAGE, 16);
    memcpy(s->uuid_modify, h + VDI_OFF_UUID_SNAP, 16);
    memcpy(s->uuid_link, h + VDI_OFF_UUID_LINK, 16);
    memcpy(s->uuid_parent, h + VDI_OFF_UUID_PARENT, 16);
    if (s->type == VDI_TYPE_DIFF) {
        /* VirtualBox refuses both as well: the parent is named by these UUIDs alone. */
        if (vdi_uuid_null(s->uuid_link))
            return img_error(img, -EINVAL,
                             "differencing image with a null uuid_link: no parent named");
        if (vdi_uuid_null(s->uuid_parent))
            return img_error(img, -EINVAL,
                             "differencing image with a null uuid_parent_modification");
    } else if (!vdi_uuid_null(s->uuid_link) || !vdi_uuid_null(s->uuid_parent)) {
        /* A base image naming a parent is a differencing image in disguise (QEMU refuses it
         * too). */
        return img_error(img, -ENOTSUP,
                         "uuid_link/uuid_parent_modification set on an image of type %u "
                         "(only differencing images, type 4, have a parent)",
                         s->type);
    }
    uint32_t sector = le32_load(h + VDI_OFF_SECTOR_SIZE);
    if (sector != VDI_SECTOR)
        return img_error(img, -EINVAL, "sector_size %u is not supported (only 512)", sector);
    s->block_size = le32_load(h + VDI_OFF_BLOCK_SIZE);
    if (s->block_size != VDI_BLOCK_SIZE)
        return img_error(img, -ENOTSUP, "block_size %u is not supported (only %u)", s->block_size,
                         VDI_BLOCK_SIZE);
    uint32_t extra = le32_load(h + VDI_OFF_BLOCK_EXTRA);
    if (extra)
        return img_error(img, -ENOTSUP, "block_extra %u is not supported (only 0)", extra);
    s->blocks = le32_load(h + VDI_OFF_BLOCKS);
    if (s->blocks > VDI_BLOCKS_MAX)
        return img_error(img, -EINVAL, "blocks_in_image %u is too large (max %u)", s->blocks,
                         VDI_BLOCKS_MAX);
    s->allocated = le32_load(h + VDI_OFF_ALLOCATED);
    if (s->allocated > s->blocks)
        return img_error(img, -EINVAL, "blocks_allocated %u exceeds blocks_in_image %u",
                         s->allocated, s->blocks);
    s->disk_size = le64_load(h + VDI_OFF_DISK_SIZE);
    if (s->disk_size > VDI_DISK_MAX)
        return img_error(img, -EINVAL, "disk_size %llu is too large (max %llu)", ULL(s->disk_size),
                         ULL(VDI_DISK_MAX));
    if (s->disk_size > (uint64_t)s->blocks * s->block_size)
        return img_error(img, -EINVAL,
                         "disk_size %llu exceeds blocks_in_image %u x "
                         "block_size %u",
                         ULL(s->disk_size), s->blocks, s->block_size);
    s->off_bmap = le32_load(h + VDI_OFF_BMAP);
    s->off_data = le32_load(h + VDI_OFF_DATA);
    if (s->off_bmap % VDI_SECTOR)
        return img_error(img, -EINVAL, "offset_bmap %u is not a multiple of 512", s->off_bmap);
    if (s->off_data % VDI_SECTOR)
        return img_error(img, -EINVAL, "offset_data %u is not a multiple of 512", s->off_data);
    if (s->off_bmap < VDI_PREHEADER + s->header_size)
        return img_error(img, -EINVAL, "offset_bmap %u overlaps the header", s->off_bmap);
    uint64_t bmap_end = s->off_bmap + (uint64_t)s->blocks * 4;
    if (bmap_end > s->off_data)
        return img_error(img, -EINVAL,
                         "block map (offset_bmap %u, blocks_in_image %u) "
                         "overlaps offset_data %u",
                         s->off_bmap, s->blocks, s->off_data);
    if (bmap_end > s->file_size)
        return img_error(img, -EINVAL,
                         "block map (offset_bmap %u, blocks_in_image %u) "
                         "ends past the end of the file (%llu bytes)",
                         s->off_bmap, s->blocks, ULL(s->file_size));
    if (s->off_data > s->file_size)
        return img_error(img, -EINVAL,
                         "offset_data %u is past the end of the file (%llu "
                         "bytes)",
                         s->off_data, ULL(s->file_size));
    if ((uint64_t)s->blocks * 4 > VDI_BMAP_MEM_MAX)
        return img_error(img, -EFBIG,
                         "blocks_in_image %u needs a %llu-byte block map, "
                         "more than dimg's %llu MiB limit",
                         s->blocks, ULL((uint64_t)s->blocks * 4), ULL(VDI_BMAP_MEM_MAX >> 20));
    return 0;
}

/* The search's state: the child's header, the best candidate so far. */
struct vdi_parent_scan {
    struct img *img;
    const struct vdi *s;
    char *best;
    bool best_mod;
};

/* One file beside the child (core/block/siblings.c hands out its first sector): a parent
 * when it is a vdi whose uuid_image is the child's uuid_link; one whose uuid_modify is also
 * the child's uuid_parent_modification wins, among equals the first name in byte order. */
static int vdi_parent_candidate(void *ctx, const char *name, const uint8_t *h, size_t len)
{
    struct vdi_parent_scan *p = ctx;
    if (len < VDI_SECTOR || le32_load(h + VDI_OFF_SIGNATURE) != VDI_SIGNATURE ||
        memcmp(h + VDI_OFF_UUID_IMAGE, p->s->uuid_link, 16) != 0)
        return 0;
    bool mod = memcmp(h + VDI_OFF_UUID_SNAP, p->s->uuid_parent, 16) == 0;
    if (p->best && (p->best_mod > mod || (p->best_mod == mod && strcmp(p->best, name) <= 0)))
        return 0;
    free(p->best);
    if (!(p->best = strdup(name)))
        return img_error(p->img, -ENOMEM, "out of memory");
    p->best_mod = mod;
    return 0;
}

/* A differencing vdi names its parent only by UUID (VirtualBox finds it in its media
 * registry): look for it among the regular files of the image's own directory, at most
 * VDI_SCAN_MAX entries (core walks the directory, under the untrusted rules). A parent whose
 * modification UUID matches wins over one that was changed since; among equals the first
 * name in byte order, so that readdir's order never decides. The core then opens it as the
 * backing image (depth and loop checks included). */
static int vdi_find_parent(struct img *img, const struct vdi *s)
{
    char u[37];
    vdi_uuid_str(s->uuid_link, u);
    struct vdi_parent_scan p = {.img = img, .s = s};
    bool capped;
    int r = img_scan_siblings(img, VDI_SECTOR, VDI_SCAN_MAX, vdi_parent_candidate, &p, &capped);
    if (r < 0) {
        free(p.best);
        if (r == -ENOMEM)
            return r; /* said already */
        char m[sizeof img->err.msg];
        snprintf(m, sizeof m, "%s", img->err.msg);
        return img_error(img, r, "looking for the parent image (uuid %s) in %s", u, m);
    }
    if (!p.best)
        return img_error(img, -ENOENT,
                         "parent image (uuid %s) not found in %s%s; a differencing vdi "
                         "must lie in its parent's directory",
                         u, img->dir,
                         capped ? " (only the first " VDI_SCAN_MAX_STR " entries were looked at)"
                                : "");
    img->backing_name = p.best;
    if (!(img->backing_fmt = strdup("vdi")))
        return img_error(img, -ENOMEM, "out of memory");
    return 0;
}

/* The image is an NBD export: it has no directory here to find a parent in. */
static bool vdi_remote(const struct img *img)
{
    return src_kind(img->src) == SRC_NBD;
}

static int vdi_open(struct img *img, unsigned flags)
{
    struct vdi *s = img->priv;
    uint8_t h[VDI_SECTOR];
    int r = src_size(img->src, &s->file_size);
    if (r < 0)
        return img_error(img, r, "%s", src_errmsg(img->src, r));
    if (s->file_size < VDI_SECTOR)
        return img_error(img, -EINVAL, "file of %llu bytes is too short for a header",
                         ULL(s->file_size));
    if ((r = src_pread(img->src, h, sizeof h, 0)) < 0)
        return img_error(img, r, "reading the header: %s", src_errmsg(img->src, r));
    if ((r = vdi_parse_header(img, s, h)) < 0)
        return r;
    size_t n = s->blocks ? s->blocks : 1;
    s->bmap = malloc(n * 4);
    if (!s->bmap)
        return img_error(img, -ENOMEM, "out of memory for a %u-entry block map", s->blocks);
    if ((r = src_pread(img->src, s->bmap, (size_t)s->blocks * 4, s->off_bmap)) < 0)
        return img_error(img, r, "reading the block map: %s", src_errmsg(img->src, r));
    /* Convert in place; new blocks go after every index in use, so that a map damaged by
     * a crash (entry written, header count not) never leads to two blocks sharing one. */
    s->next_idx = s->allocated;
    for (uint32_t i = 0; i < s->blocks; i++) {
        uint32_t e = le32_load(&s->bmap[i]);
        s->bmap[i] = e;
        if (vdi_is_alloc(e) && e >= s->next_idx)
            s->next_idx = e + 1;
    }
    /* Odd sizes are rounded up to a sector, as QEMU does. */
    img->size = u64_align_up(s->disk_size, VDI_SECTOR);
    if (s->type != VDI_TYPE_DIFF)
        return 0;
    if (!(flags & IMG_OPEN_BACKING)) {
        img->backing_unresolved = true; /* reads through the parent then fail clearly */
        return 0;
    }
    char u[37];
    vdi_uuid_str(s->uuid_link, u);
    if (flags & IMG_OPEN_UNTRUSTED)
        return img_error(img, -EPERM,
                         "parent image (uuid %s) not looked for: external references "
                         "are disabled (--untrusted)",
                         u);
    if (vdi_remote(img))
        return img_error(img, -EPERM,
                         "parent image (uuid %s) not looked for: the image is read over NBD", u);
    return vdi_find_parent(img, s);
}

static int vdi_writeback(struct img *img);

static void vdi_close(struct img *img)
{
    struct vdi *s = img->priv;
    (void)vdi_writeback(img); /* a scratch target closed without a flush (an error is moot) */
    free(s->bmap);
    s->bmap = NULL;
}

/* Host offset of guest block b (allocated entry), validated against the file. */
static int vdi_host(struct img *img, uint64_t b, uint64_t *host)
{
    struct vdi *s = img->priv;
    uint32_t e = s->bmap[b];
    uint64_t h = s->off_data + (uint64_t)e * s->block_size;
    *host = 0; /* set on every path (-O2 cannot tell that img_error returns < 0) */
    if (h >= s->file_size)
        return img_error(img, -EIO,
                         "block map entry %llu (%u) points past the end of the "
                         "file (%llu bytes)",
                         ULL(b), e, ULL(s->file_size));
    *host = h;
    return 0;
}

static int vdi_read(struct img *img, uint64_t off, void *buf, size_t len)
{
    struct vdi *s = img->priv;
    uint8_t *p = buf;
    while (len) {
        uint64_t b = off / s->block_size, in = off % s->block_size;
        size_t n = s->block_size - in < len ? (size_t)(s->block_size - in) : len;
        if (vdi_from_parent(s, s->bmap[b])) {
            int r = img_read_backing(img, off, p, n);
            if (r < 0)
                return r;
        } else if (!vdi_is_alloc(s->bmap[b])) {
            memset(p, 0, n); /* a zero block, or a free one of a base image */
        } else {
            uint64_t host;
            int r = vdi_host(img, b, &host);
            if (r < 0)
                return r;
            /* A block may end past EOF (a truncated file): that part reads as zeros. */
            if ((r = src_pread_zero(img->src, p, n, host + in)) < 0)
                return img_error(img, r, "read at %llu: %s", ULL(host + in),
                                 src_errmsg(img->src, r));
        }
        p += n;
        off += n;
        len -= n;
    }
    return 0;
}

static int vdi_block_status(struct img *img, uint64_t off, uint64_t len, struct img_bs *bs)
{
    struct vdi *s = img->priv;
    uint64_t b = off / s->block_size, in = off % s->block_size;
    uint32_t e = s->bmap[b];
    uint64_t n = s->block_size - in;
    if (!vdi_is_alloc(e)) {
        /* In a base image free and zero blocks both read as zeros decided by this layer
         * (QEMU's map says present/zero for both); in a differencing image free blocks come
         * from the parent. Merge the run of blocks of the same kind. */
        bool up = vdi_from_parent(s, e);
        while (n < len && b + 1 < s->blocks && !vdi_is_alloc(s->bmap[b + 1]) &&
               vdi_from_parent(s, s->bmap[b + 1]) == up) {
            b++;
            n += s->block_size;
        }
        bs->len = n < len ? n : len;
        bs->flags = up ? 0 : IMG_BS_ZERO | IMG_BS_ALLOCATED;
        return 0;
    }
    uint64_t host;
    int r = vdi_host(img, b, &host);
    if (r < 0)
        return r;
    host += in;
    /* Extend over physically contiguous blocks. */
    while (n < len && b + 1 < s->blocks && vdi_is_alloc(s->bmap[b + 1]) &&
           s->bmap[b + 1] == s->bmap[b] + 1) {
        b++;
        n += s->block_size;
    }
    if (n > len)
        n = len;
    bs->flags = IMG_BS_DATA | IMG_BS_ALLOCATED | IMG_BS_OFFSET_VALID;
    bs->host_off = host;
    /* Like QEMU, ask the source about static images (created sparse): a hole there reads as
     * zeros. Dynamic blocks are reported as data, holes or not, as qemu-img map does. */
    uint64_t fsize, end = 0;
    unsigned state = 0;
    if (s->type == VDI_TYPE_STATIC && ((r = src_size(img->src, &fsize)) < 0 ||
                                       (r = src_extent(img->src, host, fsize, &state, &end)) < 0))
        return img_error(img, r, "block status at %llu: %s", ULL(host), src_errmsg(img->src, r));
    if (s->type == VDI_TYPE_STATIC) {
        if (end > host && end - host < n)
            n = end - host;
        if (state & SRC_EXT_ZERO)
            bs->flags |= IMG_BS_ZERO;
    }
    bs->len = n;
    return 0;
}

static int vdi_get_info(struct img *img, struct img_info *info)
{
    struct vdi *s = img->priv;
    info->cluster_size = s->block_size;
    char id[37];
    vdi_uuid_str(s->uuid_image, id);
    img_info_str(info, "uuid", id); /* what a differencing child names as its parent */
    if (s->type == VDI_TYPE_DIFF) {
        char u[37];
        vdi_uuid_str(s->uuid_link, u);
        img_info_str(info, "parent-uuid", u);
    }
    return 0;
}

/* ---- writing ---- */

static int vdi_store_u32(struct img *img, uint64_t at, uint32_t v, const char *what)
{
    uint8_t b[4];
    le32_store(b, v);
    int r = src_pwrite(img->src, b, 4, at);
    return r < 0 ? img_error(img, r, "writing %s: %s", what, src_errmsg(img->src, r)) : 0;
}

static bool vdi_scratch(const struct img *img)
{
    return (img->flags & IMG_OPEN_SCRATCH) != 0;
}

/* Point guest block b at physical block idx (now counted in blocks_allocated): on disk at
 * once, or in a scratch target only in memory until vdi_writeback. */
static int vdi_set_entry(struct img *img, uint64_t b, uint32_t idx, bool count)
{
    struct vdi *s = img->priv;
    int r;
    if (vdi_scratch(img)) {
        if (!s->dirty || b < s->dirty_lo)
            s->dirty_lo = (uint32_t)b;
        if (!s->dirty || b >= s->dirty_hi)
            s->dirty_hi = (uint32_t)b + 1;
        s->dirty = true;
    } else if ((r = vdi_store_u32(img, s->off_bmap + b * 4, idx, "the block map")) < 0) {
        return r;
    }
    s->bmap[b] = idx;
    if (!count)
        return 0;
    s->allocated++;
    return s->dirty ? 0 : vdi_store_u32(img, VDI_OFF_ALLOCATED, s->allocated, "blocks_allocated");
}

/* Write the block map entries and blocks_allocated a scratch target holds in memory. */
static int vdi_writeback(struct img *img)
{
    struct vdi *s = img->priv;
    if (!s->dirty)
        return 0;
    size_t n = (size_t)(s->dirty_hi - s->dirty_lo);
    uint8_t *raw = malloc(n * 4);
    if (!raw)
        return img_error(img, -ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++)
        le32_store(raw + 4 * i, s->bmap[s->dirty_lo + i]);
    int r = src_pwrite(img->src, raw, n * 4, s->off_bmap + (uint64_t)s->dirty_lo * 4);
    free(raw);
    if (r < 0)
        return img_error(img, r, "writing the block map: %s", src_errmsg(img->src, r));
    s->dirty = false;
    return vdi_store_u32(img, VDI_OFF_ALLOCATED, s->allocated, "blocks_allocated");
}

/* Give guest block b a fresh physical block holding buf (NULL: zeros) at [in, in+n), and
 * elsewhere what the block read before: the parent's content (copy-on-write of the whole block
 * in a differencing image), else zeros. */
static int vdi_alloc_block(struct img *img, uint64_t b, uint64_t in, const void *buf, size_t n)
{
    struct vdi *s = img->priv;
    if (s->next_idx >= s->blocks || s->allocated >= s->blocks)
        return img_error(img, -ENOSPC,
                         "no free block index (blocks_allocated %u of %u); "
                         "the block map looks damaged, run check",
                         s->allocated, s->blocks);
    uint32_t idx = s->next_idx;
    uint64_t host = s->off_data + (uint64_t)idx * s->block_size;
    uint8_t *blk = calloc(1, s->block_size);
    if (!blk)
        return img_error(img, -ENOMEM, "out of memory");
    int r = 0;
    if (vdi_from_parent(s, s->bmap[b])) {
        uint64_t start = b * s->block_size;
        uint64_t cnt = img->size - start < s->block_size ? img->size - start : s->block_size;
        r = img_read_backing(img, start, blk, (size_t)cnt);
    }
    if (r < 0) {
        free(blk);
        return r;
    }
    if (buf)
        memcpy(blk + in, buf, n);
    else
        memset(blk + in, 0, n);
    r = src_pwrite(img->src, blk, s->block_size, host);
    free(blk);
    if (r < 0)
        return img_error(img, r, "writing block at %llu: %s", ULL(host), src_errmsg(img->src, r));
    /* The data must be on disk before anything points at it. */
    if (!vdi_scratch(img) && (r = src_flush(img->src)) < 0)
        return img_error(img, r, "flush: %s", src_errmsg(img->src, r));
    if (host + s->block_size > s->file_size)
        s->file_size = host + s->block_size;
    s->next_idx = idx + 1;
    return vdi_set_entry(img, b, idx, true);
}

/* How many blocks from b on (whole ones, within len bytes) can take one write: blocks already
 * allocated at consecutive physical blocks (*fresh false), or, in a scratch target, blocks
 * without one that get consecutive new ones (*fresh true). 0 when b does not start a run. */
static uint64_t vdi_run(struct img *img, uint64_t b, uint64_t len, bool *fresh)
{
    struct vdi *s = img->priv;
    uint64_t k = 0, max = len / s->block_size;
    *fresh = !vdi_is_alloc(s->bmap[b]);
    if (*fresh && !vdi_scratch(img))
        return 0;
    if (*fresh) {
        uint64_t room = s->blocks - (s->next_idx > s->allocated ? s->next_idx : s->allocated);
        if (max > room)
            max = room;
    }
    while (k < max && b + k < s->blocks &&
           (*fresh ? !vdi_is_alloc(s->bmap[b + k])
                   : vdi_is_alloc(s->bmap[b + k]) && s->bmap[b + k] == s->bmap[b] + k))
        k++;
    return k;
}

static int vdi_write(struct img *img, uint64_t off, const void *buf, size_t len)
{
    struct vdi *s = img->priv;
    const uint8_t *p = buf;
    while (len) {
        uint64_t b = off / s->block_size, in = off % s->block_size;
        size_t n = s->block_size - in < len ? (size_t)(s->block_size - in) : len;
        int r;
        bool fresh;
        uint64_t k = in == 0 ? vdi_run(img, b, len, &fresh) : 0;
        if (k > 1 || (k == 1 && fresh)) {
            /* Whole blocks in one write (a new run's blocks need no parent content). */
            uint32_t idx = fresh ? s->next_idx : s->bmap[b];
            uint64_t host = s->off_data + (uint64_t)idx * s->block_size;
            n = (size_t)(k * s->block_size);
            if (!fresh && (r = vdi_host(img, b + k - 1, &host)) < 0) /* the run's last block */
                return r;
            host -= fresh ? 0 : (k - 1) * s->block_size;
            if ((r = src_pwrite(img->src, p, n, host)) < 0)
                return img_error(img, r, "write at %llu: %s", ULL(host), src_errmsg(img->src, r));
            if (fresh) {
                if (host + n > s->file_size)
                    s->file_size = host + n;
                s->next_idx = idx + (uint32_t)k;
                for (uint64_t i = 0; i < k; i++)
                    if ((r = vdi_set_entry(img, b + i, idx + (uint32_t)i, true)) < 0)
                        return r;
            }
        } else if (vdi_is_alloc(s->bmap[b])) {
            uint64_t host;
            if ((r = vdi_host(img, b, &host)) < 0)
                return r;
            if ((r = src_pwrite(img->src, p, n, host + in)) < 0)
                return img_error(img, r, "write at %llu: %s", ULL(host + in),
                                 src_errmsg(img->src, r));
        } else if ((r = vdi_alloc_block(img, b, in, p, n)) < 0) {
            return r;
        }
        p += n;
        off += n;
        len -= n;
    }
    return 0;
}

/* Free and zero blocks already read as zeros and are left alone. Allocated blocks get zeros
 * written (a hole punched where the file system can): marking them 0xFFFFFFFE would orphan
 * the physical block, which VDI cannot reuse and QEMU's check counts as corruption
 * (blocks_allocated mismatch). A differencing image's free blocks show the parent: a whole
 * one becomes a zero entry, a part of one a block of its own (copy-on-write). */
static int vdi_write_zeroes(struct img *img, uint64_t off, uint64_t len)
{
    struct vdi *s = img->priv;
    while (len) {
        uint64_t b = off / s->block_size, in = off % s->block_size;
        uint64_t n = s->block_size - in < len ? s->block_size - in : len;
        if (vdi_is_alloc(s->bmap[b])) {
            uint64_t host;
            int r = vdi_host(img, b, &host);
            if (r < 0)
                return r;
            host += in;
            if ((r = src_zero(img->src, host, n, SRC_ZERO_MAY_PUNCH)) < 0)
                return img_error(img, r, "write at %llu: %s", ULL(host), src_errmsg(img->src, r));
        } else if (vdi_from_parent(s, s->bmap[b])) {
            int r;
            if (in == 0 && (n == s->block_size || off + n == img->size)) {
                if ((r = vdi_set_entry(img, b, VDI_ZERO, false)) < 0)
                    return r;
            } else if ((r = vdi_alloc_block(img, b, in, NULL, (size_t)n)) < 0) {
                return r;
            }
        }
        off += n;
        len -= n;
    }
    return 0;
}

static int vdi_flush(struct img *img)
{
    int r = vdi_writeback(img);
    if (r < 0)
        return r;
    r = src_flush(img->src);
    return r < 0 ? img_error(img, r, "flush: %s", src_errmsg(img->src, r)) : 0;
}

/* ---- resize ---- */

/* Rewrite the header fields a resize changes (offset_bmap, offset_data, disk_size,
 * blocks_in_image, blocks_allocated: all inside bytes 0x154..0x187 of sector 0) with one write
 * and sync it: a crash leaves either the old header or the new one, never a mix. */
static int vdi_store_geometry(struct img *img, uint32_t off_bmap, uint32_t off_data,
                              uint64_t disk_size, uint32_t blocks, uint32_t allocated)
{
    struct vdi *s = img->priv;
    uint8_t g[VDI_OFF_ALLOCATED + 4 - VDI_OFF_BMAP];
    int r = src_pread(img->src, g, sizeof g, VDI_OFF_BMAP);
    if (r == 0) {
        le32_store(g, off_bmap);
        le32_store(g + (VDI_OFF_DATA - VDI_OFF_BMAP), off_data);
        le64_store(g + (VDI_OFF_DISK_SIZE - VDI_OFF_BMAP), disk_size);
        le32_store(g + (VDI_OFF_BLOCKS - VDI_OFF_BMAP), blocks);
        le32_store(g + (VDI_OFF_ALLOCATED - VDI_OFF_BMAP), allocated);
        r = src_pwrite(img->src, g, sizeof g, VDI_OFF_BMAP);
    }
    if (r == 0)
        r = src_flush(img->src);
    if (r < 0)
        return img_error(img, r, "writing the header: %s", src_errmsg(img->src, r));
    s->off_bmap = off_bmap;
    s->off_data = off_data;
    s->disk_size = disk_size;
    s->blocks = blocks;
    s->allocated = allocated;
    img->size = u64_align_up(disk_size, VDI_SECTOR);
    return 0;
}

/* Entry of guest block b >= from in a grown map: the fresh block first + (b - from) of a
 * static image, else unallocated. A differencing image's new area reads as zeros, not as
 * whatever a longer parent holds there (as QEMU makes an overlay's new area). */
static uint32_t vdi_new_entry(const struct vdi *s, uint32_t first, uint64_t b, uint32_t from)
{
    if (first != VDI_FREE)
        return first + (uint32_t)(b - from);
    return s->type == VDI_TYPE_DIFF ? VDI_ZERO : VDI_FREE;
}

/* Append entries for guest blocks [blocks, nb) to the block map, inside the room before
 * offset_data (see vdi_new_entry for first), and sync them; the header does not count them
 * yet. */
static int vdi_map_extend(struct img *img, uint32_t nb, uint32_t first)
{
    struct vdi *s = img->priv;
    if (nb <= s->blocks)
        return 0;
    uint32_t *nm = realloc(s->bmap, (size_t)nb * 4);
    if (!nm)
        return img_error(img, -ENOMEM, "out of memory");
    s->bmap = nm;
    size_t cnt = nb - s->blocks;
    uint8_t *raw = malloc(cnt * 4);
    if (!raw)
        return img_error(img, -ENOMEM, "out of memory");
    for (size_t i = 0; i < cnt; i++)
        le32_store(raw + 4 * i, vdi_new_entry(s, first, s->blocks + i, s->blocks));
    int r = src_pwrite(img->src, raw, cnt * 4, s->off_bmap + (uint64_t)s->blocks * 4);
    free(raw);
    if (r == 0)
        r = src_flush(img->src);
    if (r < 0)
        return img_error(img, r, "writing the block map: %s", src_errmsg(img->src, r));
    for (uint32_t b = s->blocks; b < nb; b++)
        s->bmap[b] = vdi_new_entry(s, first, b, s->blocks);
    return 0;
}

/* Make [start, end) of the image read as zeros with nothing in use after it (start <=
 * file_size, nothing in use at or after start). A file is cut back to start and extended
 * sparse; a device or an NBD export, whose size is fixed, gets the range zeroed (freed where
 * it can) and must be large enough. */
static int vdi_zero_tail(struct img *img, uint64_t start, uint64_t end)
{
    struct vdi *s = img->priv;
    int r;
    if (src_caps(img->src) & SRC_CAP_TRUNCATE) {
        if ((s->file_size > start && (r = src_truncate(img->src, start)) < 0) ||
            (r = src_truncate(img->src, end)) < 0)
            return img_error(img, r, "extending the file: %s", src_errmsg(img->src, r));
        s->file_size = end;
        return 0;
    }
    if (end > s->file_size)
        return img_error(img, -ENOSPC,
                         "the image needs %llu bytes, its source (of fixed size) holds %llu",
                         ULL(end), ULL(s->file_size));
    r = src_zero(img->src, start, end - start, SRC_ZERO_MAY_PUNCH);
    return r < 0 ? img_error(img, r, "zeroing at %llu: %s", ULL(start), src_errmsg(img->src, r))
                 : 0;
}

/* Cut the image after end (nothing in use there): a file is truncated; on a source of fixed
 * size the tail is only discarded (a hint: the source keeps its size). Not synced. */
static int vdi_cut(struct img *img, uint64_t end)
{
    struct vdi *s = img->priv;
    if (s->file_size <= end)
        return 0;
    if (!(src_caps(img->src) & SRC_CAP_TRUNCATE)) {
        (void)src_discard(img->src, end, s->file_size - end);
        return 0;
    }
    int r = src_truncate(img->src, end);
    if (r < 0)
        return img_error(img, r, "truncating the file: %s", src_errmsg(img->src, r));
    s->file_size = end;
    return 0;
}

/* A static image stays fully allocated: cnt fresh physical blocks from next_idx (all below
 * limit) that read as zeros. The file is cut back to the first one (nothing in use lies there)
 * and extended sparse, then synced; the caller points map entries at them and counts them in
 * the same header write that grows the image. */
static int vdi_fresh_blocks(struct img *img, uint32_t cnt, uint64_t limit, uint32_t *first)
{
    struct vdi *s = img->priv;
    uint32_t idx = s->next_idx;
    if (idx > limit || cnt > limit - idx)
        return img_error(img, -ENOSPC,
                         "no free block index (blocks_allocated %u of %u); "
                         "the block map looks damaged, run check",
                         s->allocated, s->blocks);
    uint64_t start = s->off_data + (uint64_t)idx * s->block_size;
    uint64_t end = start + (uint64_t)cnt * s->block_size;
    int r = vdi_zero_tail(img, start, end);
    if (r == 0 && (r = src_flush(img->src)) < 0)
        r = img_error(img, r, "extending the file: %s", src_errmsg(img->src, r));
    if (r < 0)
        return r;
    s->next_idx = idx + cnt;
    *first = idx;
    return 0;
}

/* Step 1 of vdi_relocate: copy the blocks in use among physical 0..k-1 to unused indices >= k
 * (holes first, then the end of the file) and sync. dest[g] is the copy of guest block g, or
 * VDI_FREE when it does not move; *top is one past the highest index now holding data. */
static int vdi_move_out(struct img *img, uint64_t k, uint32_t *dest, uint64_t *top)
{
    struct vdi *s = img->priv;
    uint8_t *used = calloc(s->next_idx ? s->next_idx : 1, 1);
    uint8_t *buf = malloc(s->block_size);
    int r = 0;
    if (!used || !buf) {
        r = img_error(img, -ENOMEM, "out of memory");
        goto out;
    }
    for (uint32_t g = 0; g < s->blocks; g++)
        if (vdi_is_alloc(s->bmap[g]) && s->bmap[g] < s->next_idx)
            used[s->bmap[g]] = 1;
    uint64_t c = k; /* candidate destination */
    *top = s->next_idx;
    for (uint32_t g = 0; g < s->blocks && r == 0; g++) {
        dest[g] = VDI_FREE;
        if (!vdi_is_alloc(s->bmap[g]) || s->bmap[g] >= k)
            continue;
        while (c < s->next_idx && used[c])
            c++;
        uint64_t from = s->off_data + (uint64_t)s->bmap[g] * s->block_size;
        uint64_t to = s->off_data + c * s->block_size;
        r = src_pread_zero(img->src, buf, s->block_size, from);
        if (r == 0)
            r = src_pwrite(img->src, buf, s->block_size, to);
        if (r < 0) {
            r = img_error(img, r, "moving block %u: %s", g, src_errmsg(img->src, r));
            break;
        }
        if (to + s->block_size > s->file_size)
            s->file_size = to + s->block_size;
        dest[g] = (uint32_t)c++;
        if (c > *top)
            *top = c;
    }
    /* Copies exist from here on, referenced or not: never hand their indices out again. */
    if (*top > s->next_idx)
        s->next_idx = (uint32_t)*top;
    if (r == 0 && (r = src_flush(img->src)) < 0)
        r = img_error(img, r, "flush: %s", src_errmsg(img->src, r));
out:
    free(used);
    free(buf);
    return r;
}

/* Grow past the room the block map has before offset_data.
 *
 * Block indices count from offset_data, so a longer map means a new offset_data k blocks
 * further on (k = the blocks the new map needs), every index shifting down by k, and the data
 * in the first k physical blocks moving out of the way. The new map goes where physical block 0
 * was (the old map's room becomes an unused gap), data follows it. In crash-safe order:
 *  1. copy the blocks in use among physical 0..k-1 to unused indices >= k (usually the end of
 *     the file: in a compact image they keep the indices compact), fsync;
 *  2. point their map entries at the copies, fsync: the first k blocks now hold nothing any
 *     reader uses. When a copy's index is >= blocks_in_image, blocks_in_image is raised first
 *     (within the old room, disk_size unchanged) so that qemu-img check stays clean;
 *  3. (static images: extend the file by the new zero blocks, fsync;) write the new map
 *     (indices - k; new entries free, or the new static blocks) over those k blocks, zero the
 *     rest of them, fsync;
 *  4. switch offset_bmap, offset_data, disk_size, blocks_in_image and blocks_allocated in one
 *     header write, fsync.
 * A crash before step 4 leaves the old image with some unused space; after it, the new one.
 * The one window that is not check-clean: a full image whose old room cannot take the copies'
 * indices (step 2 then writes indices >= blocks_in_image); it still reads right in dimg and
 * QEMU, and running the resize again finishes the job. */
static int vdi_relocate(struct img *img, uint32_t nb, uint64_t size)
{
    struct vdi *s = img->priv;
    uint64_t bsz = s->block_size;
    uint64_t k = u64_div_round_up((uint64_t)nb * 4, bsz);
    uint64_t new_bmap = s->off_data, new_data = s->off_data + k * bsz;
    if (new_data > UINT32_MAX)
        return img_error(img, -EFBIG,
                         "a %u-entry block map does not fit below 4 GiB "
                         "(offset_data %u)",
                         nb, s->off_data);
    uint32_t *dest = malloc((size_t)(s->blocks ? s->blocks : 1) * 4);
    size_t mlen = (size_t)u64_align_up((uint64_t)nb * 4, VDI_SECTOR);
    uint8_t *map = calloc(1, mlen);
    uint64_t top = 0;
    uint32_t nold = s->blocks; /* dest[] covers these; the map may get longer below */
    int r = 0;
    if (!dest || !map) {
        r = img_error(img, -ENOMEM, "out of memory");
        goto out;
    }
    if ((r = vdi_move_out(img, k, dest, &top)) < 0)
        goto out;
    if (top > s->blocks && top * 4 <= s->off_data - s->off_bmap &&
        ((r = vdi_map_extend(img, (uint32_t)top, VDI_FREE)) < 0 ||
         (r = vdi_store_geometry(img, s->off_bmap, s->off_data, s->disk_size, (uint32_t)top,
                                 s->allocated)) < 0))
        goto out;
    for (uint32_t g = 0; g < nold && r == 0; g++) {
        if (dest[g] == VDI_FREE)
            continue;
        if ((r = vdi_store_u32(img, s->off_bmap + (uint64_t)g * 4, dest[g], "the block map")) == 0)
            s->bmap[g] = dest[g];
    }
    if (r == 0 && (r = src_flush(img->src)) < 0)
        r = img_error(img, r, "flush: %s", src_errmsg(img->src, r));
    uint32_t add = s->type == VDI_TYPE_STATIC ? nb - nold : 0, first = VDI_FREE;
    if (r < 0 || (add && (r = vdi_fresh_blocks(img, add, nb + k, &first)) < 0))
        goto out;
    /* Step 3: every entry in use is now >= k. */
    if (first != VDI_FREE)
        first -= (uint32_t)k;
    for (uint32_t g = 0; g < nb; g++)
        le32_store(map + 4 * (size_t)g, g >= nold ? vdi_new_entry(s, first, g, nold)
                                        : vdi_is_alloc(s->bmap[g]) ? s->bmap[g] - (uint32_t)k
                                                                   : s->bmap[g]);
    r = src_pwrite(img->src, map, mlen, new_bmap);
    uint64_t gap = new_bmap + mlen, gap_end = new_data < s->file_size ? new_data : s->file_size;
    if (r == 0 && gap < gap_end)
        r = src_zero(img->src, gap, gap_end - gap, SRC_ZERO_MAY_PUNCH);
    if (r == 0)
        r = src_flush(img->src);
    if (r < 0) {
        r = img_error(img, r, "writing the new block map: %s", src_errmsg(img->src, r));
        goto out;
    }
    /* The header check wants offset_data inside the file. */
    if (s->file_size < new_data &&
        ((r = vdi_zero_tail(img, s->file_size, new_data)) < 0 || (r = vdi_flush(img)) < 0))
        goto out;
    uint32_t *nm = realloc(s->bmap, (size_t)nb * 4);
    if (!nm) {
        r = img_error(img, -ENOMEM, "out of memory");
        goto out;
    }
    s->bmap = nm;
    if ((r = vdi_store_geometry(img, (uint32_t)new_bmap, (uint32_t)new_data, size, nb,
                                s->allocated + add)) < 0)
        goto out;
    for (uint32_t g = 0; g < nb; g++)
        nm[g] = le32_load(map + 4 * (size_t)g);
    s->next_idx = s->next_idx > k ? s->next_idx - (uint32_t)k : 0;
    if (s->next_idx < s->allocated)
        s->next_idx = s->allocated;
out:
    free(dest);
    free(map);
    return r;
}

/* Grow (moving data blocks when the block map needs more room, see vdi_relocate), or shrink
 * when the cut-off blocks hold nothing. */
static int vdi_truncate(struct img *img, uint64_t size, enum img_prealloc prealloc)
{
    struct vdi *s = img->priv;
    if (prealloc != IMG_PREALLOC_OFF)
        return img_error(img, -ENOTSUP, "resize supports preallocation=off only");
    if (size > VDI_DISK_MAX)
        return img_error(img, -EFBIG, "size %llu is too large (max %llu)", ULL(size),
                         ULL(VDI_DISK_MAX));
    if (size % VDI_SECTOR)
        return img_error(img, -EINVAL, "size %llu is not a multiple of 512", ULL(size));
    uint64_t nb = u64_div_round_up(size, s->block_size);
    if (nb * 4 > VDI_BMAP_MEM_MAX)
        return img_error(img, -EFBIG, "%llu blocks exceed dimg's block map limit", ULL(nb));
    uint32_t old = s->blocks;
    if (nb < old) {
        for (uint64_t b = nb; b < old; b++)
            if (vdi_is_alloc(s->bmap[b]))
                return img_error(img, -ENOTSUP,
                                 "cannot shrink to %llu bytes: block %llu (guest offset "
                                 "%llu), past the new end, is allocated",
                                 ULL(size), ULL(b), ULL(b * s->block_size));
        /* Only the header changes: the dropped entries are free or zero already. */
        return vdi_store_geometry(img, s->off_bmap, s->off_data, size, (uint32_t)nb, s->allocated);
    }
    if (nb > (s->off_data - s->off_bmap) / 4)
        return vdi_relocate(img, (uint32_t)nb, size);
    /* In the room: new entries (and a static image's new blocks) first, then the header. */
    uint32_t add = s->type == VDI_TYPE_STATIC ? (uint32_t)nb - old : 0, first = VDI_FREE;
    int r = add ? vdi_fresh_blocks(img, add, nb, &first) : 0;
    if (r == 0)
        r = vdi_map_extend(img, (uint32_t)nb, first);
    if (r == 0)
        r = vdi_store_geometry(img, s->off_bmap, s->off_data, size, (uint32_t)nb,
                               s->allocated + add);
    return r;
}

/* ---- check and layout ---- */

static int vdi_check(struct img *img, struct img_check *res, unsigned fix)
{
    struct vdi *s = img->priv;
    if (fix)
        return img_error(img, -ENOTSUP, "check cannot repair vdi images");
    /* owner[p] = 1 + guest block using physical block p, 0 when unused. */
    uint32_t *owner = calloc(s->blocks ? s->blocks : 1, sizeof *owner);
    if (!owner)
        return img_error(img, -ENOMEM, "out of memory");
    uint64_t count = 0;
    for (uint32_t b = 0; b < s->blocks; b++) {
        uint32_t e = s->bmap[b];
        if (!vdi_is_alloc(e))
            continue;
        if (e >= s->blocks) {
            img_check_report(res, "ERROR: block index %u too large, is %u", b, e);
            res->corruptions++;
            continue;
        }
        count++;
        if (owner[e]) {
            img_check_report(res, "ERROR: block index %u also used by %u", e, owner[e] - 1);
            res->corruptions++;
            continue;
        }
        owner[e] = b + 1;
        uint64_t host = s->off_data + (uint64_t)e * s->block_size;
        /* Beyond QEMU: a block starting past the end of the file cannot be read. */
        if (host >= s->file_size) {
            img_check_report(res, "ERROR: block index %u (%u) points past the end of the file", b,
                             e);
            res->corruptions++;
        }
    }
    free(owner);
    if (count != s->allocated) {
        img_check_report(res, "ERROR: allocated blocks mismatch, is %llu, should be %u", ULL(count),
                         s->allocated);
        res->corruptions++;
    }
    return 0;
}

static int vdi_layout(struct img *img, struct img_region **out, size_t *n)
{
    struct vdi *s = img->priv;
    uint64_t fsize = s->file_size;
    uint64_t nphys = fsize > s->off_data ? u64_div_round_up(fsize - s->off_data, s->block_size) : 0;
    uint8_t *used = calloc(nphys ? nphys : 1, 1);
    size_t cap = 3 + 2 * nphys, cnt = 0;
    struct img_region *v = malloc(cap * sizeof *v);
    if (!used || !v) {
        free(used);
        free(v);
        return img_error(img, -ENOMEM, "out of memory");
    }
    for (uint32_t b = 0; b < s->blocks; b++)
        if (vdi_is_alloc(s->bmap[b]) && s->bmap[b] < nphys)
            used[s->bmap[b]] = 1;
    v[cnt++] = (struct img_region){0, VDI_PREHEADER + s->header_size, IMG_R_HEADER};
    if (s->blocks)
        v[cnt++] = (struct img_region){s->off_bmap, (uint64_t)s->blocks * 4, IMG_R_BLOCK_MAP};
    /* Runs of used blocks are data; unused ones below blocks_allocated are leaked. */
    for (uint64_t p = 0; p < nphys;) {
        uint64_t q = p;
        while (q < nphys && used[q] == used[p])
            q++;
        enum img_region_kind k = used[p]            ? IMG_R_DATA
                                 : p < s->allocated ? IMG_R_LEAKED
                                                    : IMG_R_FREE;
        uint64_t start = s->off_data + p * s->block_size;
        uint64_t stop = s->off_data + q * s->block_size;
        if (stop > fsize)
            stop = fsize;
        if (k != IMG_R_FREE)
            v[cnt++] = (struct img_region){start, stop - start, k};
        p = q;
    }
    free(used);
    *out = v;
    *n = cnt;
    return 0;
}

/* ---- compaction ---- */

static bool vdi_all_zero(const uint8_t *p, size_t n)
{
    return n == 0 || (p[0] == 0 && memcmp(p, p + 1, n - 1) == 0);
}

/* What VBoxManage modifymedium --compact does, in place:
 *  1. read every allocated block; those holding only zeros get the zero entry 0xFFFFFFFE
 *     (reads zeros in any image; in a differencing image it also keeps hiding the parent,
 *     which a free entry would show); entries, fsync, blocks_allocated, fsync;
 *  2. move the blocks at the highest physical indices into the lowest unused ones: copy,
 *     fsync, map entry, fsync, one block at a time (a crash leaves an unreferenced copy or an
 *     unreferenced original, never a reference to unwritten data);
 *  3. cut the file after the last block in use, fsync.
 * Every state on the way reads the same. The one window qemu-img check objects to is inside
 * step 1 (entries written, count not yet: "allocated blocks mismatch"); running compact again
 * rewrites the count. Static images stay as they are (their blocks are the disk). */
/* A compaction's working state: who owns each physical block, one block's buffer, progress. */
struct vdi_cwork {
    uint32_t *owner; /* owner[p] = 1 + the guest block using physical block p, 0 when unused */
    uint64_t nphys;
    uint8_t *buf; /* one block */
    uint64_t done, total;
    int (*tick)(void *, uint64_t, uint64_t);
    void *ctx;
};

/* Step 1: the blocks that read as zeros become zero entries (nothing moves until all are
 * known); *zeros counts them. */
static int vdi_compact_zeros(struct img *img, struct vdi_cwork *w, uint64_t *zeros)
{
    struct vdi *s = img->priv;
    uint64_t bsz = s->block_size;
    int r;
    for (uint64_t p = 0; p < w->nphys; p++) {
        if (!w->owner[p])
            continue;
        if (w->tick && w->tick(w->ctx, w->done, w->total))
            return img_error(img, -ECANCELED, "compaction cancelled; the image is unchanged");
        if ((r = src_pread_zero(img->src, w->buf, bsz, s->off_data + p * bsz)) < 0)
            return img_error(img, r, "reading block %llu: %s", ULL(p), src_errmsg(img->src, r));
        w->done += bsz;
        if (!vdi_all_zero(w->buf, bsz))
            continue;
        uint32_t g = w->owner[p] - 1;
        if ((r = vdi_store_u32(img, s->off_bmap + (uint64_t)g * 4, VDI_ZERO, "the block map")) < 0)
            return r;
        s->bmap[g] = VDI_ZERO;
        w->owner[p] = 0;
        (*zeros)++;
    }
    return 0;
}

/* Step 2: the highest used block moves into the lowest hole below keep, one at a time, each
 * move synced before the block map points at it. */
static int vdi_compact_move(struct img *img, struct vdi_cwork *w, uint64_t keep)
{
    struct vdi *s = img->priv;
    uint64_t bsz = s->block_size, hole = 0, top = w->nphys;
    uint32_t *owner = w->owner;
    int r;
    for (;;) {
        while (hole < keep && owner[hole])
            hole++;
        while (top > 0 && !owner[top - 1])
            top--;
        if (hole >= keep || top <= keep)
            return 0;
        if (w->tick && w->tick(w->ctx, w->done, w->total))
            return img_error(img, -ECANCELED,
                             "compaction cancelled; the image is valid and can be compacted "
                             "again");
        uint64_t from = top - 1;
        uint32_t g = owner[from] - 1;
        r = src_pread_zero(img->src, w->buf, bsz, s->off_data + from * bsz);
        if (r == 0)
            r = src_pwrite(img->src, w->buf, bsz, s->off_data + hole * bsz);
        if (r == 0)
            r = src_flush(img->src);
        if (r < 0)
            return img_error(img, r, "moving block %llu to %llu: %s", ULL(from), ULL(hole),
                             src_errmsg(img->src, r));
        if ((r = vdi_store_u32(img, s->off_bmap + (uint64_t)g * 4, (uint32_t)hole,
                               "the block map")) < 0)
            return r;
        if ((r = vdi_flush(img)) < 0)
            return r;
        s->bmap[g] = (uint32_t)hole;
        owner[hole] = g + 1;
        owner[from] = 0;
        w->done += bsz;
    }
}

static int vdi_compact(struct img *img, int (*tick)(void *, uint64_t, uint64_t), void *ctx)
{
    struct vdi *s = img->priv;
    if (s->type == VDI_TYPE_STATIC)
        return img_error(img, -ENOTSUP,
                         "a static (fixed) image cannot be compacted; dimg convert -O vdi "
                         "makes a dynamic copy");
    uint64_t bsz = s->block_size, nphys = 0;
    /* Entries past the end are refused before the table below is sized by them: it stays
     * bounded by the file (one 0xFFFFFFF0 entry asked for 16 GiB). */
    for (uint32_t g = 0; g < s->blocks; g++) {
        uint32_t e = s->bmap[g];
        if (!vdi_is_alloc(e))
            continue;
        if (s->off_data + (uint64_t)e * bsz >= s->file_size)
            return img_error(img, -EUCLEAN,
                             "the image is damaged: block map entry %u (%u) lies past the "
                             "end of the file; not compacting it (see dimg check)",
                             g, e);
        if (e >= nphys)
            nphys = (uint64_t)e + 1;
    }
    struct vdi_cwork w = {.owner = calloc(nphys ? nphys : 1, sizeof *w.owner),
                          .nphys = nphys,
                          .buf = malloc(bsz),
                          .tick = tick,
                          .ctx = ctx};
    uint64_t count = 0, zeros = 0;
    int r = 0;
    if (!w.owner || !w.buf) {
        r = img_error(img, -ENOMEM, "out of memory");
        goto out;
    }
    for (uint32_t g = 0; g < s->blocks; g++) {
        uint32_t e = s->bmap[g];
        if (!vdi_is_alloc(e))
            continue;
        if (w.owner[e] || s->off_data + (uint64_t)e * bsz >= s->file_size) {
            r = img_error(img, -EUCLEAN,
                          "block map entry %u (%u) is shared or past the end of the file; "
                          "not compacting a damaged image (see dimg check)",
                          g, e);
            goto out;
        }
        w.owner[e] = g + 1;
        count++;
    }
    w.total = 2 * count * bsz; /* reading every block, then (at most) moving every block */
    if ((r = vdi_compact_zeros(img, &w, &zeros)) < 0)
        goto out;
    uint64_t keep = count - zeros;
    if ((r = vdi_flush(img)) < 0 ||
        (r = vdi_store_u32(img, VDI_OFF_ALLOCATED, (uint32_t)keep, "blocks_allocated")) < 0 ||
        (r = vdi_flush(img)) < 0)
        goto out;
    s->allocated = (uint32_t)keep;
    w.done = count * bsz + (count - keep) * bsz; /* zero blocks need no move */
    if ((r = vdi_compact_move(img, &w, keep)) < 0)
        goto out;
    /* Step 3: nothing in use lies past keep blocks any more. */
    uint64_t end = s->off_data + keep * bsz;
    if (s->file_size > end && ((r = vdi_cut(img, end)) < 0 || (r = vdi_flush(img)) < 0))
        goto out;
    s->next_idx = (uint32_t)keep;
    if (tick)
        tick(ctx, w.total, w.total);
out:
    free(w.owner);
    free(w.buf);
    return r;
}

/* ---- create ---- */

/* A random (version 4) UUID in VirtualBox's mixed-endian byte order. */
static int vdi_uuid(uint8_t *out)
{
    uint8_t u[16];
    size_t got = 0;
    while (got < sizeof u) {
        ssize_t k = getrandom(u + got, sizeof u - got, 0);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        got += (size_t)k;
    }
    u[6] = (uint8_t)((u[6] & 0x0f) | 0x40);
    u[8] = (uint8_t)((u[8] & 0x3f) | 0x80);
    /* First field and the next two are stored little-endian. */
    out[0] = u[3], out[1] = u[2], out[2] = u[1], out[3] = u[0];
    out[4] = u[5], out[5] = u[4], out[6] = u[7], out[7] = u[6];
    memcpy(out + 8, u + 8, 8);
    return 0;
}

/* The parent of a new differencing image: a vdi in the child's directory (the only place
 * the child's open looks), whose UUIDs go into uuid_link and uuid_parent_modification. */
static int vdi_create_parent(const char *path, const char *backing_file, const char *backing_fmt,
                             uint8_t *link, uint8_t *pmod, uint64_t *psize, struct img_err *err)
{
    if (backing_fmt && strcmp(backing_fmt, "vdi") != 0)
        return img_drv_error(&img_driver_vdi, err, -EINVAL,
                             "the parent of a differencing vdi must be a vdi image, not %s",
                             backing_fmt);
    char *dir = io_dirname(path);
    char *full = dir ? io_path_join(dir, backing_file) : NULL;
    char *pdir = full ? io_dirname(full) : NULL;
    int r = 0;
    struct stat a, b;
    struct img *p = NULL;
    if (!pdir) {
        r = img_drv_error(&img_driver_vdi, err, -ENOMEM, "out of memory");
        goto out;
    }
    if (!(p = img_open(full, "vdi", IMG_OPEN_UNTRUSTED, err))) {
        r = err->code ? err->code : -EIO;
        goto out;
    }
    if (stat(dir, &a) < 0 || stat(pdir, &b) < 0 || a.st_dev != b.st_dev || a.st_ino != b.st_ino) {
        r = img_drv_error(&img_driver_vdi, err, -EINVAL,
                          "the parent %s must lie in the same directory as %s: a differencing "
                          "vdi names its parent only by UUID",
                          backing_file, path);
        goto out;
    }
    const struct vdi *ps = p->priv;
    if (vdi_uuid_null(ps->uuid_image) || vdi_uuid_null(ps->uuid_modify)) {
        r = img_drv_error(&img_driver_vdi, err, -EINVAL,
                          "the parent %s has a null uuid_image or uuid_modification; "
                          "VirtualBox would refuse a differencing image of it",
                          backing_file);
        goto out;
    }
    memcpy(link, ps->uuid_image, 16);
    memcpy(pmod, ps->uuid_modify, 16);
    *psize = p->size;
out:
    img_close(p);
    free(dir);
    free(full);
    free(pdir);
    return r;
}

static int vdi_create(struct img_create_ctx *c, const struct img_create_req *req,
                      struct img_err *err)
{
    const char *path = img_create_path(c);
    bool is_static = false;
    int r = img_opts_take_bool(req->opts, "static", &is_static, err);
    if (r < 0)
        return r;
    uint8_t link[16] = {0}, pmod[16] = {0};
    uint64_t psize = 0;
    if (req->backing_file && is_static)
        return img_drv_error(&img_driver_vdi, err, -EINVAL,
                             "a differencing image cannot be static");
    if (req->backing_file && (r = vdi_create_parent(path, req->backing_file, req->backing_fmt, link,
                                                    pmod, &psize, err)) < 0)
        return r;
    /* Size 0 with a parent: the parent's (VirtualBox always takes it). */
    uint64_t want = req->backing_file && req->size == 0 ? psize : req->size;
    if ((r = img_opts_check_all_taken(req->opts, "vdi", err)) < 0)
        return r;
    if (want > VDI_DISK_MAX)
        return img_drv_error(&img_driver_vdi, err, -EFBIG, "size %llu is too large (max %llu)",
                             ULL(want), ULL(VDI_DISK_MAX));
    uint64_t size = u64_align_up(want, VDI_SECTOR);
    uint64_t blocks = u64_div_round_up(size, VDI_BLOCK_SIZE);
    if (blocks * 4 > VDI_BMAP_MEM_MAX)
        return img_drv_error(&img_driver_vdi, err, -EFBIG,
                             "size %llu needs a block map larger than dimg's %llu "
                             "MiB limit",
                             ULL(want), ULL(VDI_BMAP_MEM_MAX >> 20));
    /* QEMU's layout: block map at 0x200, data right after it, sector-aligned. */
    uint64_t off_bmap = VDI_SECTOR;
    uint64_t off_data = off_bmap + u64_align_up(blocks * 4, VDI_SECTOR);
    uint8_t h[VDI_SECTOR] = {0};
    static const char text[] = "<<< QEMU VM Virtual Disk Image >>>\n";
    memcpy(h, text, sizeof text - 1);
    le32_store(h + VDI_OFF_SIGNATURE, VDI_SIGNATURE);
    le32_store(h + VDI_OFF_VERSION, VDI_VERSION_1_1);
    le32_store(h + VDI_OFF_HEADER_SIZE, VDI_HEADER_SIZE_QEMU);
    le32_store(h + VDI_OFF_IMAGE_TYPE, req->backing_file ? VDI_TYPE_DIFF
                                       : is_static       ? VDI_TYPE_STATIC
                                                         : VDI_TYPE_DYNAMIC);
    le32_store(h + VDI_OFF_BMAP, (uint32_t)off_bmap);
    le32_store(h + VDI_OFF_DATA, (uint32_t)off_data);
    le32_store(h + VDI_OFF_SECTOR_SIZE, VDI_SECTOR);
    le64_store(h + VDI_OFF_DISK_SIZE, size);
    le32_store(h + VDI_OFF_BLOCK_SIZE, VDI_BLOCK_SIZE);
    le32_store(h + VDI_OFF_BLOCKS, (uint32_t)blocks);
    le32_store(h + VDI_OFF_ALLOCATED, is_static ? (uint32_t)blocks : 0);
    if ((r = vdi_uuid(h + VDI_OFF_UUID_IMAGE)) < 0 || (r = vdi_uuid(h + VDI_OFF_UUID_SNAP)) < 0)
        return img_drv_error(&img_driver_vdi, err, r, "getrandom: %s", strerror(-r));
    memcpy(h + VDI_OFF_UUID_LINK, link, 16);
    memcpy(h + VDI_OFF_UUID_PARENT, pmod, 16);

    size_t mlen = (size_t)(off_data - off_bmap);
    uint8_t *map = malloc(mlen ? mlen : 1);
    if (!map)
        return img_drv_error(&img_driver_vdi, err, -ENOMEM, "out of memory");
    memset(map, 0, mlen);
    for (uint64_t b = 0; b < blocks; b++)
        le32_store(map + b * 4, is_static ? (uint32_t)b : VDI_FREE);

    struct img_src *s;
    if ((r = img_create_src(c, &s)) < 0) {
        free(map);
        return r;
    }
    r = src_pwrite(s, h, sizeof h, 0);
    if (r == 0)
        r = src_pwrite(s, map, mlen, off_bmap);
    free(map);
    /* A static image's data area is a sparse extent of zeros (as qemu-img makes it). */
    if (r == 0)
        r = img_create_truncate(s, off_data + (is_static ? blocks * VDI_BLOCK_SIZE : 0));
    return r < 0 ? err_set(err, r, "%s: %s", path, src_errmsg(s, r)) : 0;
}

/* ---- backing link (rebase, commit) ---- */

/* A differencing image is linked to its parent by the parent's uuid_image and uuid_modify
 * (uuid_link, uuid_parent_modification) alone, and found in its own directory; the new
 * parent must lie there too. Giving a parent makes a dynamic image differencing, taking it
 * away (flatten) makes a differencing image dynamic. Type and both UUIDs sit in sector 0,
 * rewritten with one single-sector write: a crash leaves the old or the new link. */
/* Free blocks of a dynamic image read as zeros and count as this layer's (block status says
 * so, and rebase leaves them alone): before the image gets a parent they become zero
 * entries, which read the same and keep hiding the parent. Synced before the type changes. */
static int vdi_free_to_zero(struct img *img)
{
    struct vdi *s = img->priv;
    for (uint32_t b = 0; b < s->blocks; b++) {
        if (s->bmap[b] != VDI_FREE)
            continue;
        uint32_t e = b;
        while (e + 1 < s->blocks && s->bmap[e + 1] == VDI_FREE)
            e++;
        uint32_t n = e - b + 1, *run = malloc((size_t)n * 4);
        if (!run)
            return img_error(img, -ENOMEM, "out of memory");
        for (uint32_t i = 0; i < n; i++)
            le32_store(&run[i], VDI_ZERO);
        int r = src_pwrite(img->src, run, (size_t)n * 4, s->off_bmap + (uint64_t)b * 4);
        free(run);
        if (r < 0)
            return img_error(img, r, "writing the block map: %s", src_errmsg(img->src, r));
        for (uint32_t i = b; i <= e; i++)
            s->bmap[i] = VDI_ZERO;
        b = e;
    }
    int r = src_flush(img->src);
    return r < 0 ? img_error(img, r, "flush: %s", src_errmsg(img->src, r)) : 0;
}

static int vdi_set_backing(struct img *img, const char *name, const char *fmt)
{
    struct vdi *s = img->priv;
    uint8_t link[16] = {0}, pmod[16] = {0}, h[VDI_SECTOR];
    uint32_t type = s->type == VDI_TYPE_DIFF ? VDI_TYPE_DYNAMIC : s->type;
    if (name) {
        if (s->type == VDI_TYPE_STATIC)
            return img_error(img, -EINVAL, "a static (fixed-size) image cannot get a parent");
        if (vdi_remote(img))
            return img_error(img, -EPERM,
                             "a parent cannot be given to an image read over NBD (it is found "
                             "by UUID in the image's directory)");
        uint64_t psize;
        struct img_err perr = {0};
        int r = vdi_create_parent(img->path, name, fmt, link, pmod, &psize, &perr);
        if (r < 0) {
            img->err = perr;
            return r;
        }
        if (memcmp(link, s->uuid_image, 16) == 0)
            return img_error(img, -ELOOP, "'%s' is this image itself (the same uuid)", name);
        type = VDI_TYPE_DIFF;
    }
    int r = 0;
    if (type == VDI_TYPE_DIFF && s->type != VDI_TYPE_DIFF)
        r = vdi_free_to_zero(img);
    if (r < 0)
        return r;
    char *bn = name ? strdup(name) : NULL, *bf = name ? strdup("vdi") : NULL;
    if (name && (!bn || !bf)) {
        free(bn);
        free(bf);
        return img_error(img, -ENOMEM, "out of memory");
    }
    r = src_pread(img->src, h, sizeof h, 0);
    if (r == 0) {
        le32_store(h + VDI_OFF_IMAGE_TYPE, type);
        memcpy(h + VDI_OFF_UUID_LINK, link, 16);
        memcpy(h + VDI_OFF_UUID_PARENT, pmod, 16);
        if ((r = src_pwrite(img->src, h, sizeof h, 0)) == 0)
            r = src_flush(img->src);
    }
    if (r < 0) {
        free(bn);
        free(bf);
        return img_error(img, r, "writing the header: %s", src_errmsg(img->src, r));
    }
    s->type = type;
    memcpy(s->uuid_link, link, 16);
    memcpy(s->uuid_parent, pmod, 16);
    free(img->backing_name);
    free(img->backing_fmt);
    img->backing_name = bn;
    img->backing_fmt = bf;
    img->backing_unresolved = false;
    return 0;
}

/* Every block of a differencing image reads its parent again: the block map first (the data
 * blocks become unreferenced), then blocks_allocated, then the file cut after the map. */
static int vdi_make_empty(struct img *img)
{
    struct vdi *s = img->priv;
    if (s->type != VDI_TYPE_DIFF)
        return img_error(img, -EINVAL, "only a differencing image can be emptied");
    uint32_t *map = malloc(s->blocks ? (size_t)s->blocks * 4 : 1);
    if (!map)
        return img_error(img, -ENOMEM, "out of memory");
    for (uint32_t i = 0; i < s->blocks; i++)
        le32_store(&map[i], VDI_FREE);
    int r = src_pwrite(img->src, map, (size_t)s->blocks * 4, s->off_bmap);
    free(map);
    if (r == 0 && (r = src_flush(img->src)) == 0) {
        for (uint32_t i = 0; i < s->blocks; i++)
            s->bmap[i] = VDI_FREE;
        if ((r = vdi_store_u32(img, VDI_OFF_ALLOCATED, 0, "blocks_allocated")) < 0)
            return r;
        s->allocated = 0;
        s->next_idx = 0;
        r = src_flush(img->src);
    }
    if (r < 0)
        return img_error(img, r, "emptying the image: %s", src_errmsg(img->src, r));
    if ((r = vdi_cut(img, s->off_data)) < 0)
        return r;
    return vdi_flush(img);
}

static const struct img_opt_desc vdi_create_opts[] = {
    {"static", "bool", "preallocate the whole image (fixed-size vdi)"},
    {NULL, NULL, NULL},
};

const struct img_driver img_driver_vdi = {
    .abi = IMG_DRIVER_ABI,
    .name = "vdi",
    .desc = "VirtualBox disk image",
    .priv_size = sizeof(struct vdi),
    .caps = IMG_CAP_ZERO_INIT | IMG_CAP_BACKING | IMG_CAP_PARENT_SAME_FMT | IMG_CAP_SOURCES,
    .create_opts = vdi_create_opts,
    .probe = vdi_probe,
    .open = vdi_open,
    .close = vdi_close,
    .get_info = vdi_get_info,
    .read = vdi_read,
    .block_status = vdi_block_status,
    .write = vdi_write,
    .write_zeroes = vdi_write_zeroes,
    .flush = vdi_flush,
    .create = vdi_create,
    .truncate = vdi_truncate,
    .check = vdi_check,
    .layout = vdi_layout,
    .compact = vdi_compact,
    .set_backing = vdi_set_backing,
    .make_empty = vdi_make_empty,
    .head_size = vdi_head_size,
};

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vmdk_sesparse.c: seSparse extents (ESXi 6.5+ snapshot deltas), read-only.
 *
 * Layout (FORMATS.md 4.6; the format is not officially documented, so every constant is
 * checked as strictly as QEMU does): a 512-byte constant header of little-endian u64s (magic,
 * version 2.1, capacity, grain size 8 sectors, table size 64 sectors, flags 0, 4 reserved
 * zeros, then offset/size pairs in sectors for the volatile header, journal header, journal,
 * grain directory, grain tables, free bitmap, back map and grains), and a volatile header
 * whose journal must not need replaying. Directory entries are 0 or 0x10000000_iiiiiiii
 * (table i of the table area); table entries carry a type in their top nibble: 0 unallocated,
 * 1 unmapped and 2 zero (both read as zeros), 3 allocated with a grain number split into
 * bits 48-59 (low 12 bits) and 0-47 (the rest). This file checks the headers, translates
 * directory and table entries into the sector numbers of the hosted-sparse view (zero grains
 * become zeroed-grain entries), and formats/vmdk.c does the rest. Grain and table sectors must
 * fit in 32 bits (extent files up to 2 TiB). Talks to: formats/vmdk.c.
 */
#include "formats/vmdk.h"

#include "core/base/bytes.h"
#include "core/base/io.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define ULL(x) ((unsigned long long)(x))

#define SE_VOLATILE_MAGIC 0xcafecafeull
#define SE_GRAIN 8u       /* sectors per grain */
#define SE_GT_SECTORS 64u /* sectors per grain table */
#define SE_GD_ALLOCATED 0x10000000u
#define SE_CHUNK 4096u /* entries read at a time */

/* Offset/size pairs of the constant header, from byte 80, in this order. */
enum { SE_VOLATILE, SE_JHEADER, SE_JOURNAL, SE_GD, SE_GTS, SE_BITMAP, SE_BACKMAP, SE_GRAINS };

bool vmdk_sesparse_magic(const uint8_t *b, size_t len)
{
    return len >= 16 && le64_load(b) == VMDK_SE_MAGIC && le64_load(b + 8) == VMDK_SE_VERSION;
}

static bool all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return false;
    return true;
}

static int check_volatile(struct img *img, struct vmdk_extent *e, uint64_t sector)
{
    const char *f = vmdk_ext_name(img, e);
    uint8_t v[VMDK_SECTOR];
    if (sector == 0 || !vmdk_in_file(e, sector, VMDK_SECTOR))
        return img_error(img, -EINVAL,
                         "%s: seSparse volatile header at sector %llu lies outside the "
                         "file",
                         f, ULL(sector));
    int r = src_pread(e->src, v, sizeof v, sector * VMDK_SECTOR);
    if (r < 0)
        return img_error(img, r, "%s: reading the volatile header: %s", f, vmdk_ext_msg(e, r));
    if (le64_load(v) != SE_VOLATILE_MAGIC)
        return img_error(img, -EINVAL, "%s: bad seSparse volatile header magic 0x%llx", f,
                         ULL(le64_load(v)));
    if (le64_load(v + 24) != 0)
        return img_error(img, -ENOTSUP, "%s: seSparse journal needs replaying (the image is dirty)",
                         f);
    if (!all_zero(v + 32, sizeof v - 32))
        return img_error(img, -ENOTSUP, "%s: seSparse volatile header padding is not zero", f);
    return 0;
}

int vmdk_sesparse_open(struct img *img, struct vmdk_extent *e)
{
    const char *f = vmdk_ext_name(img, e);
    uint8_t b[VMDK_SECTOR];
    e->type = VMDK_SESPARSE;
    if (e->file_size < VMDK_SECTOR)
        return img_error(img, -EINVAL, "%s: file shorter than the seSparse header", f);
    int r = src_pread(e->src, b, sizeof b, 0);
    if (r < 0)
        return img_error(img, r, "%s: reading the seSparse header: %s", f, vmdk_ext_msg(e, r));
    if (le64_load(b) != VMDK_SE_MAGIC)
        return img_error(img, -EINVAL, "%s: not a seSparse extent (magic 0x%llx)", f,
                         ULL(le64_load(b)));
    if (le64_load(b + 8) != VMDK_SE_VERSION)
        return img_error(img, -ENOTSUP, "%s: seSparse version 0x%016llx unsupported", f,
                         ULL(le64_load(b + 8)));
    uint64_t capacity = le64_load(b + 16), grain = le64_load(b + 24), gts = le64_load(b + 32);
    if (grain != SE_GRAIN)
        return img_error(img, -ENOTSUP, "%s: seSparse grain size %llu (only %u is known)", f,
                         ULL(grain), SE_GRAIN);
    if (gts != SE_GT_SECTORS)
        return img_error(img, -ENOTSUP, "%s: seSparse grain table size %llu (only %u is known)", f,
                         ULL(gts), SE_GT_SECTORS);
    if (le64_load(b + 40) != 0)
        return img_error(img, -ENOTSUP, "%s: seSparse flags 0x%llx unsupported", f,
                         ULL(le64_load(b + 40)));
    if (!all_zero(b + 48, 32) || !all_zero(b + 208, sizeof b - 208))
        return img_error(img, -ENOTSUP, "%s: seSparse reserved fields or padding are not zero", f);
    uint64_t off[8], size[8];
    for (int i = 0; i < 8; i++) {
        off[i] = le64_load(b + 80 + 16 * i);
        size[i] = le64_load(b + 88 + 16 * i);
    }
    uint64_t span = (uint64_t)VMDK_SE_GTES * SE_GRAIN;
    if (capacity > (uint64_t)VMDK_GD_MAX * span)
        return img_error(img, -EINVAL, "%s: capacity %llu sectors needs more than %u grain tables",
                         f, ULL(capacity), VMDK_GD_MAX);
    uint64_t need = u64_div_round_up(capacity, span);
    /* The directory: every entry the capacity needs, inside the directory area and the file. */
    if (off[SE_GD] == 0 || size[SE_GD] < u64_div_round_up(need * 8, VMDK_SECTOR) ||
        !vmdk_in_file(e, off[SE_GD], need * 8))
        return img_error(img, -EINVAL,
                         "%s: seSparse grain directory (sector %llu, %llu sectors) is "
                         "too small for %llu tables or lies outside the file",
                         f, ULL(off[SE_GD]), ULL(size[SE_GD]), ULL(need));
    /* Tables and grains are addressed by number from the start of their areas; the sectors
     * this yields must fit the 32-bit entries of the hosted-sparse view. Grain sectors also
     * must not be 0 or 1 (unallocated and zeroed-grain entries there). */
    if (off[SE_GTS] == 0 || off[SE_GTS] > UINT32_MAX)
        return img_error(img, -EINVAL, "%s: seSparse grain-table area at sector %llu", f,
                         ULL(off[SE_GTS]));
    if (off[SE_GRAINS] < 2 || off[SE_GRAINS] > UINT32_MAX)
        return img_error(img, -EINVAL, "%s: seSparse grain area at sector %llu", f,
                         ULL(off[SE_GRAINS]));
    if ((r = check_volatile(img, e, off[SE_VOLATILE])) < 0)
        return r;
    if (img->flags & IMG_OPEN_RW)
        return img_error(img, -EROFS, "%s: seSparse extents are read-only in dimg", f);
    memset(&e->h, 0, sizeof e->h);
    e->h.capacity = capacity;
    e->h.grain = SE_GRAIN;
    e->h.gtes = VMDK_SE_GTES;
    e->h.gd_off = off[SE_GD];
    e->h.overhead = off[SE_GRAINS];
    e->h.flags = VMDK_FLAG_ZEROED_GRAIN; /* zero and unmapped grains become such entries */
    e->n_gd = (uint32_t)need;
    e->grain = (uint64_t)SE_GRAIN * VMDK_SECTOR;
    e->se.gt_off = off[SE_GTS];
    e->se.grains_off = off[SE_GRAINS];
    static const int other[5] = {SE_VOLATILE, SE_JHEADER, SE_JOURNAL, SE_BITMAP, SE_BACKMAP};
    for (int i = 0; i < 5; i++) {
        e->se.area[i][0] = off[other[i]];
        e->se.area[i][1] = size[other[i]];
    }
    return vmdk_gd_load(img, e);
}

/* Read n 64-bit entries at byte off into buf (host order). */
static int read_u64s(struct img *img, struct vmdk_extent *e, uint64_t *buf, size_t n, uint64_t off,
                     const char *what)
{
    int r = src_pread(e->src, buf, n * 8, off);
    if (r < 0)
        return img_error(img, r, "%s: reading the %s: %s", vmdk_ext_name(img, e), what,
                         vmdk_ext_msg(e, r));
    for (size_t i = 0; i < n; i++)
        buf[i] = le64_load(&buf[i]);
    return 0;
}

int vmdk_sesparse_gd_read(struct img *img, struct vmdk_extent *e, uint32_t *gd)
{
    const char *f = vmdk_ext_name(img, e);
    uint64_t *buf = malloc(SE_CHUNK * 8);
    if (!buf)
        return img_error(img, -ENOMEM, "out of memory");
    int r = 0;
    for (uint32_t i = 0; r == 0 && i < e->n_gd; i += SE_CHUNK) {
        size_t n = e->n_gd - i < SE_CHUNK ? e->n_gd - i : SE_CHUNK;
        if ((r = read_u64s(img, e, buf, n, e->h.gd_off * VMDK_SECTOR + (uint64_t)i * 8,
                           "grain directory")) < 0)
            break;
        for (size_t k = 0; k < n; k++) {
            uint64_t v = buf[k], idx = v & UINT32_MAX;
            uint64_t sec = e->se.gt_off + idx * SE_GT_SECTORS;
            gd[i + k] = 0;
            if (v == 0)
                continue;
            if (v >> 32 != SE_GD_ALLOCATED) {
                r = img_error(img, -EINVAL,
                              "%s: seSparse grain directory entry %llu (0x%016llx) is "
                              "invalid",
                              f, ULL(i + k), ULL(v));
                break;
            }
            if (sec > UINT32_MAX || !vmdk_in_file(e, sec, SE_GT_SECTORS * VMDK_SECTOR)) {
                r = img_error(img, -EINVAL,
                              "%s: seSparse grain directory entry %llu names table %llu, "
                              "outside the file",
                              f, ULL(i + k), ULL(idx));
                break;
            }
            gd[i + k] = (uint32_t)sec;
        }
    }
    free(buf);
    return r;
}

int vmdk_sesparse_gt_read(struct img *img, struct vmdk_extent *e, uint32_t gi, uint32_t *t)
{
    const char *f = vmdk_ext_name(img, e);
    uint64_t *buf = malloc(VMDK_SE_GTES * 8);
    if (!buf)
        return img_error(img, -ENOMEM, "out of memory");
    int r = read_u64s(img, e, buf, VMDK_SE_GTES, (uint64_t)e->gd[gi] * VMDK_SECTOR, "grain table");
    /* Grain numbers whose sector would not fit in 32 bits. Like QEMU, the sizes of the table
     * and grain areas are not limits: whether VMware grows them with the file is unknown;
     * every table and grain must lie inside the file instead (checked on use). */
    uint64_t max = (UINT32_MAX - e->se.grains_off) / SE_GRAIN;
    for (uint32_t k = 0; r == 0 && k < VMDK_SE_GTES; k++) {
        uint64_t v = buf[k], n;
        switch (v >> 60) {
        case 0:
            t[k] = 0;
            if (v != 0)
                r = img_error(img, -EINVAL,
                              "%s: seSparse grain table %u entry %u (0x%016llx) is "
                              "unallocated but not zero",
                              f, gi, k, ULL(v));
            break;
        case 1: /* unmapped */
        case 2: t[k] = VMDK_GTE_ZEROED; break;
        case 3:
            n = ((v >> 48) & 0xfff) | ((v & 0xffffffffffffull) << 12);
            if (n >= max) {
                r = img_error(img, -EINVAL,
                              "%s: seSparse grain table %u entry %u names grain %llu, "
                              "beyond the 2 TiB of a file dimg reads",
                              f, gi, k, ULL(n));
                break;
            }
            t[k] = (uint32_t)(e->se.grains_off + n * SE_GRAIN);
            break;
        default:
            r = img_error(img, -EINVAL,
                          "%s: seSparse grain table %u entry %u has unknown type %llu", f, gi, k,
                          ULL(v >> 60));
        }
    }
    free(buf);
    return r;
}

void vmdk_sesparse_regions(const struct vmdk_extent *e, struct img_regions *rl)
{
    uint64_t end = e->file_size / VMDK_SECTOR;
    for (int i = 0; i < 5; i++) {
        uint64_t off = e->se.area[i][0], len = e->se.area[i][1];
        if (off == 0 || off >= end || len == 0)
            continue;
        if (len > end - off)
            len = end - off; /* areas may be reserved beyond the file's current end */
        img_regions_add(rl, off * VMDK_SECTOR, len * VMDK_SECTOR, IMG_R_META);
    }
}

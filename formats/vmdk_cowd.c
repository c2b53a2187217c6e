/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vmdk_cowd.c: vmfsSparse extents (ESX "COWD" sparse files), read-only.
 *
 * A COWD file starts with a 2048-byte little-endian header (FORMATS.md 4.5): magic, version,
 * flags, capacity, grain size, directory offset and entry count, next free sector, then
 * root-or-child data, names and generations dimg does not need. The grain directory and the
 * grain tables (always 4096 entries) hold 32-bit sector numbers, 0 where nothing is
 * allocated, exactly like a hosted sparse extent's; so after checking the header this file
 * fills the extent's hosted-sparse view and formats/vmdk.c reads, maps, lays out and checks
 * it with the same code. Writes are refused at open. Talks to: formats/vmdk.c.
 */
#include "formats/vmdk.h"

#include "core/base/bytes.h"
#include "core/base/io.h"

#include <errno.h>
#include <string.h>

#define ULL(x) ((unsigned long long)(x))

int vmdk_cowd_open(struct img *img, struct vmdk_extent *e)
{
    const char *f = vmdk_ext_name(img, e);
    uint8_t b[32];
    e->type = VMDK_VMFSSPARSE;
    if (e->file_size < VMDK_COWD_HDR)
        return img_error(img, -EINVAL, "%s: file shorter than its %u-byte COWD header", f,
                         VMDK_COWD_HDR);
    int r = src_pread(e->src, b, sizeof b, 0);
    if (r < 0)
        return img_error(img, r, "%s: reading the COWD header: %s", f, vmdk_ext_msg(e, r));
    if (memcmp(b, VMDK_COWD_MAGIC, 4) != 0)
        return img_error(img, -EINVAL, "%s: not a vmfsSparse extent (no COWD magic)", f);
    uint32_t version = le32_load(b + 4), capacity = le32_load(b + 12), grain = le32_load(b + 16);
    uint32_t gd_off = le32_load(b + 20), gd_n = le32_load(b + 24);
    if (version != 1)
        return img_error(img, -ENOTSUP, "%s: COWD version %u unsupported (1 is known)", f, version);
    if (!u64_is_pow2(grain) || grain > VMDK_GRAIN_MAX_SECTORS)
        return img_error(img, -EINVAL,
                         "%s: COWD grain size %u sectors is not a power of two of at "
                         "most %u",
                         f, grain, VMDK_GRAIN_MAX_SECTORS);
    /* capacity < 2^32 and grain >= 1: at most 2^20 tables, below VMDK_GD_MAX. */
    uint64_t need = u64_div_round_up(capacity, (uint64_t)VMDK_COWD_GTES * grain);
    if (gd_n < need)
        return img_error(img, -EINVAL,
                         "%s: COWD grain directory has %u entries, the capacity of %u "
                         "sectors needs %llu",
                         f, gd_n, capacity, ULL(need));
    if (gd_off < VMDK_COWD_HDR / VMDK_SECTOR)
        return img_error(img, -EINVAL,
                         "%s: COWD grain directory at sector %u lies inside the header", f, gd_off);
    if (img->flags & IMG_OPEN_RW)
        return img_error(img, -EROFS, "%s: vmfsSparse (COWD) extents are read-only in dimg", f);
    memset(&e->h, 0, sizeof e->h);
    e->h.version = version;
    e->h.capacity = capacity;
    e->h.grain = grain;
    e->h.gtes = VMDK_COWD_GTES;
    e->h.gd_off = gd_off;
    e->h.overhead = VMDK_COWD_HDR / VMDK_SECTOR; /* grains never sit in the header */
    e->n_gd = (uint32_t)need;
    e->grain = (uint64_t)grain * VMDK_SECTOR;
    return vmdk_gd_load(img, e); /* checks the directory and every table against the file */
}

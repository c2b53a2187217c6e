/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vpc_create.c: new VHD images, as qemu-img makes them: subformat=dynamic (the default: footer
 * copy, dynamic header at 512, BAT at 1536, 2 MiB blocks, footer) or fixed (the disk's bytes,
 * then the footer). The size is rounded up to a whole CHS geometry (so that Virtual PC, which
 * sizes by geometry, sees all of it) unless force_size keeps it exactly, recorded with
 * qemu's creator "qem2" so that readers take the footer's size. A fixed image of a whole
 * number of MiB made with force_size is what Azure accepts: its file is the size plus 512.
 * vpc_create writes the whole image into the source core opened (core/block/create.c).
 * Talks to: formats/vpc.h, core/block/src.h.
 */
#include "formats/vpc.h"

#include "core/base/bytes.h"
#include "formats/drivers.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#define ULL(x) ((unsigned long long)(x))

/* The VHD specification's CHS geometry for ts sectors. */
void vpc_geometry(uint64_t ts, uint16_t *cyls, uint8_t *heads, uint8_t *spt)
{
    uint64_t cth, h, sp;
    if (ts > VPC_MAX_GEOMETRY)
        ts = VPC_MAX_GEOMETRY;
    if (ts >= 65535ull * 16 * 63) {
        sp = 255;
        h = 16;
        cth = ts / sp;
    } else {
        sp = 17;
        cth = ts / sp;
        h = (cth + 1023) / 1024;
        if (h < 4)
            h = 4;
        if (cth >= h * 1024 || h > 16) {
            sp = 31;
            h = 16;
            cth = ts / sp;
        }
        if (cth >= h * 1024) {
            sp = 63;
            h = 16;
            cth = ts / sp;
        }
    }
    *cyls = (uint16_t)(cth / h);
    *heads = (uint8_t)h;
    *spt = (uint8_t)sp;
}

/* The footer for a disk of size bytes (geometry already chosen). */
static void vpc_make_footer(uint8_t *f, uint32_t type, uint64_t size, uint16_t c, uint8_t h,
                            uint8_t sp, bool force, const uint8_t uuid[16])
{
    memset(f, 0, VPC_SECTOR);
    memcpy(f, VPC_COOKIE, 8);
    be32_store(f + VPC_F_FEATURES, 2);
    be32_store(f + VPC_F_VERSION, 0x00010000);
    be64_store(f + VPC_F_DATA_OFFSET, type == VPC_FIXED ? UINT64_MAX : VPC_SECTOR);
    time_t now = time(NULL);
    be32_store(f + VPC_F_TIMESTAMP, (uint32_t)((int64_t)now - VPC_TIME_BASE));
    memcpy(f + VPC_F_CREATOR_APP, force ? "qem2" : "qemu", 4);
    be32_store(f + VPC_F_CREATOR_VER, 0x00050003);
    memcpy(f + VPC_F_CREATOR_OS, "Wi2k", 4);
    be64_store(f + VPC_F_ORIG_SIZE, size);
    be64_store(f + VPC_F_CUR_SIZE, size);
    be16_store(f + VPC_F_GEOMETRY, c);
    f[VPC_F_GEOMETRY + 2] = h;
    f[VPC_F_GEOMETRY + 3] = sp;
    be32_store(f + VPC_F_TYPE, type);
    memcpy(f + VPC_F_UUID, uuid, 16);
    be32_store(f + VPC_F_CHECKSUM, vpc_checksum(f, VPC_SECTOR, VPC_F_CHECKSUM));
}

int vpc_pick_size(uint64_t want, bool force, uint64_t *size, uint16_t *c, uint8_t *h, uint8_t *sp,
                  struct img_err *err)
{
    uint64_t sectors = u64_div_round_up(want, VPC_SECTOR);
    if (force) {
        *c = 65535;
        *h = 16;
        *sp = 255;
    } else {
        uint64_t ts = sectors < VPC_MAX_GEOMETRY ? sectors : VPC_MAX_GEOMETRY;
        *c = 0, *h = 0, *sp = 0;
        for (uint64_t i = 0; ts > (uint64_t)*c * *h * *sp; i++)
            vpc_geometry(ts + i, c, h, sp);
        if ((uint64_t)*c * *h * *sp != VPC_MAX_GEOMETRY)
            sectors = (uint64_t)*c * *h * *sp;
    }
    if (sectors == 0 || sectors > VPC_MAX_SECTORS)
        return img_drv_error(&img_driver_vpc, err, -EFBIG,
                             "size %llu out of range (1 sector to 2040 GiB)", ULL(want));
    *size = sectors * VPC_SECTOR;
    return 0;
}

static int vpc_src_put(struct img_src *s, const void *buf, size_t len, uint64_t at,
                       struct img_err *err)
{
    int r = src_pwrite(s, buf, len, at);
    return r < 0 ? img_drv_error(&img_driver_vpc, err, r, "%s", src_errmsg(s, r)) : 0;
}

/* A dynamic disk: footer copy, header, BAT of free entries, footer. */
static int vpc_create_dynamic(struct img_src *s, const uint8_t *footer, uint64_t size,
                              struct img_err *err)
{
    uint64_t entries = u64_div_round_up(size, VPC_DEFAULT_BLOCK);
    uint64_t bat_off = VPC_SECTOR + VPC_DYN_HEADER_SIZE;
    uint64_t bat_len = u64_align_up(entries * 4, VPC_SECTOR);
    uint8_t *b = malloc(bat_off + bat_len + VPC_SECTOR);
    if (!b)
        return err_set(err, -ENOMEM, "out of memory");
    memcpy(b, footer, VPC_SECTOR);
    uint8_t *h = b + VPC_SECTOR;
    memset(h, 0, VPC_DYN_HEADER_SIZE);
    memcpy(h, VPC_DYN_COOKIE, 8);
    be64_store(h + VPC_H_DATA_OFFSET, UINT64_MAX);
    be64_store(h + VPC_H_TABLE_OFFSET, bat_off);
    be32_store(h + VPC_H_VERSION, 0x00010000);
    be32_store(h + VPC_H_MAX_ENTRIES, (uint32_t)entries);
    be32_store(h + VPC_H_BLOCK_SIZE, VPC_DEFAULT_BLOCK);
    be32_store(h + VPC_H_CHECKSUM, vpc_checksum(h, VPC_DYN_HEADER_SIZE, VPC_H_CHECKSUM));
    memset(b + bat_off, 0xff, bat_len);
    memcpy(b + bat_off + bat_len, footer, VPC_SECTOR);
    int r = vpc_src_put(s, b, bat_off + bat_len + VPC_SECTOR, 0, err);
    free(b);
    return r;
}

/* The create slot: a whole new image written into the source core opened. */
int vpc_create(struct img_create_ctx *cc, const struct img_create_req *req, struct img_err *err)
{
    const char *sub = req->opts ? img_opts_take(req->opts, "subformat") : NULL;
    bool force = false;
    int r = req->opts ? img_opts_take_bool(req->opts, "force_size", &force, err) : 0;
    if (r < 0)
        return r;
    if (sub && strcmp(sub, "dynamic") != 0 && strcmp(sub, "fixed") != 0)
        return img_drv_error(&img_driver_vpc, err, -EINVAL,
                             "subformat \"%s\": expected dynamic or fixed", sub);
    if (req->backing_file)
        return img_drv_error(&img_driver_vpc, err, -ENOTSUP,
                             "creating differencing disks is not supported");
    bool fixed = sub && strcmp(sub, "fixed") == 0;
    uint64_t size = 0;
    uint16_t c;
    uint8_t h, sp, uuid[16], footer[VPC_SECTOR];
    if ((r = vpc_pick_size(req->size, force, &size, &c, &h, &sp, err)) < 0)
        return r;
    if (getrandom(uuid, sizeof uuid, 0) != (ssize_t)sizeof uuid)
        return img_drv_error(&img_driver_vpc, err, -errno, "getrandom: %s", strerror(errno));
    uuid[6] = (uint8_t)((uuid[6] & 0x0f) | 0x40);
    uuid[8] = (uint8_t)((uuid[8] & 0x3f) | 0x80);
    vpc_make_footer(footer, fixed ? VPC_FIXED : VPC_DYNAMIC, size, c, h, sp, force, uuid);
    struct img_src *s;
    if ((r = img_create_src(cc, &s)) < 0)
        return r;
    if (!fixed)
        return vpc_create_dynamic(s, footer, size, err);
    /* The guest bytes, then the footer in the last sector (a device must hold both). */
    if ((r = img_create_truncate(s, size + VPC_SECTOR)) < 0)
        return img_drv_error(&img_driver_vpc, err, r, "%s", src_errmsg(s, r));
    return vpc_src_put(s, footer, VPC_SECTOR, size, err);
}

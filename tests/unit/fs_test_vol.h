/* SPDX-License-Identifier: GPL-2.0-or-later */
/* fs_test_vol.h: what the filesystem-reader unit tests (test_fs_lvm, test_fs_ntfs, test_fs_iso)
 * share: a struct fs_vol over a whole raw image. Included once per test program. */
#ifndef DIMG_FS_TEST_VOL_H
#define DIMG_FS_TEST_VOL_H

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "core/base/bytes.h"
#include "core/base/err.h"
#include "core/block/img.h"
#include "core/fs/fs.h"

/* The whole image as one volume. */
static inline void tfs_whole(struct img *img, struct fs_vol *v, struct fs_seg *seg)
{
    memset(v, 0, sizeof *v);
    v->img = img;
    v->kind = FS_VOL_DISK;
    v->size = img_size(img);
    *seg = (struct fs_seg){.vol_off = 0, .img_off = 0, .len = v->size};
    v->seg = seg;
    v->nseg = 1;
}

/* LVM's CRC-32 (seed 0xf597a6cf, no final inversion), through zlib's. */
static inline uint32_t tfs_lvm_crc(const void *p, size_t n)
{
    return ~(uint32_t)crc32(~0xf597a6cfu & 0xffffffffu, p, (uInt)n);
}

#define TFS_LVM_MDA_OFF 4096u

/* The head of an LVM2 PV of pv_size bytes with the 32-character uuid: the label in sector 1,
 * one metadata area of mda_size bytes at 4 KiB holding text (len bytes) at rel, wrapping around
 * the area's end if it must; every checksum right. malloc'd, *n bytes (4 KiB + mda_size). */
static inline uint8_t *tfs_lvm_pv(const void *text, size_t len, uint64_t rel, uint64_t mda_size,
                                  uint64_t pv_size, const char *uuid, size_t *n)
{
    *n = TFS_LVM_MDA_OFF + (size_t)mda_size;
    uint8_t *img = calloc(1, *n);
    uint8_t *lab = img + 512, *mda = img + TFS_LVM_MDA_OFF;
    memcpy(lab, "LABELONE", 8);
    le64_store(lab + 8, 1);
    le32_store(lab + 20, 32);
    memcpy(lab + 24, "LVM2 001", 8);
    memcpy(lab + 32, uuid, 32);
    le64_store(lab + 64, pv_size);
    le64_store(lab + 72, TFS_LVM_MDA_OFF + mda_size); /* the data area, then a terminator */
    le64_store(lab + 104, TFS_LVM_MDA_OFF);
    le64_store(lab + 112, mda_size);
    le32_store(lab + 16, tfs_lvm_crc(lab + 20, 492));
    memcpy(mda + 4, " LVM2 x[5A%r0N*>", 16);
    le32_store(mda + 20, 1);
    le64_store(mda + 24, TFS_LVM_MDA_OFF);
    le64_store(mda + 32, mda_size);
    le64_store(mda + 40, rel);
    le64_store(mda + 48, len);
    size_t first = mda_size - rel < len ? (size_t)(mda_size - rel) : len;
    memcpy(mda + rel, text, first);
    memcpy(mda + 512, (const uint8_t *)text + first, len - first);
    le32_store(mda + 56, tfs_lvm_crc(text, len));
    le32_store(mda, tfs_lvm_crc(mda + 4, 508));
    return img;
}

#endif

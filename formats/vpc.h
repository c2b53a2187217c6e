/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vpc.h: the VHD driver's on-disk constants and handle state, shared by vpc.c (reading),
 * vpc_write.c (the parent's name, writing) and vpc_create.c (new images). Big-endian fields.
 * Talks to: core/block/driver.h.
 */
#ifndef DIMG_VPC_H
#define DIMG_VPC_H

#include "core/block/driver.h"

#define VPC_SECTOR 512u
#define VPC_COOKIE "conectix"
#define VPC_DYN_COOKIE "cxsparse"
#define VPC_DYN_HEADER_SIZE 1024u
#define VPC_UNUSED 0xffffffffu
#define VPC_MAX_SECTORS 0xff000000ull          /* 2040 GiB, qemu's limit */
#define VPC_MAX_GEOMETRY (65535ull * 16 * 255) /* the largest CHS geometry */
#define VPC_MAX_BLOCK (256u << 20)             /* dimg's bound on a block's size */
#define VPC_DEFAULT_BLOCK (2u << 20)
/* dimg's bound on the BAT entries it keeps (256 MiB of table): 2040 GiB at 32 KiB blocks. */
#define VPC_MAX_ENTRIES (1u << 26)
#define VPC_TIME_BASE 946684800ll /* 2000-01-01 in Unix time */

/* Footer fields. */
enum {
    VPC_F_FEATURES = 8,
    VPC_F_VERSION = 12,
    VPC_F_DATA_OFFSET = 16,
    VPC_F_TIMESTAMP = 24,
    VPC_F_CREATOR_APP = 28,
    VPC_F_CREATOR_VER = 32,
    VPC_F_CREATOR_OS = 36,
    VPC_F_ORIG_SIZE = 40,
    VPC_F_CUR_SIZE = 48,
    VPC_F_GEOMETRY = 56,
    VPC_F_TYPE = 60,
    VPC_F_CHECKSUM = 64,
    VPC_F_UUID = 68,
};
/* Dynamic header fields. */
enum {
    VPC_H_DATA_OFFSET = 8,
    VPC_H_TABLE_OFFSET = 16,
    VPC_H_VERSION = 24,
    VPC_H_MAX_ENTRIES = 28,
    VPC_H_BLOCK_SIZE = 32,
    VPC_H_CHECKSUM = 36,
    VPC_H_PARENT_UUID = 40,
    VPC_H_PARENT_TIME = 56,
    VPC_H_PARENT_NAME = 64, /* 512 bytes of UTF-16BE */
    VPC_H_LOCATORS = 576,   /* 8 entries of 24 bytes */
};
enum { VPC_FIXED = 2, VPC_DYNAMIC = 3, VPC_DIFF = 4 };

struct vpc {
    uint8_t footer[VPC_SECTOR];
    uint8_t header[VPC_DYN_HEADER_SIZE];
    uint32_t type;
    uint64_t file_size;
    uint64_t data_end;   /* fixed: where the footer starts */
    uint64_t header_off; /* dynamic header */
    uint64_t bat_off;
    uint32_t entries; /* BAT entries recorded */
    uint32_t nbat;    /* entries kept: those the virtual size reaches */
    uint32_t *bat;    /* host order */
    uint64_t nalloc;
    uint32_t block_size, bitmap_size;
    uint64_t next_free; /* where the next block goes (the footer at the end is there) */
    uint8_t *bmap;      /* bitmap of block bmap_block */
    uint64_t bmap_block;
};

/* One's complement of the byte sum of p[0..n) without the 4-byte field at skip. */
uint32_t vpc_checksum(const uint8_t *p, size_t n, size_t skip);
/* The virtual size a footer gives, by qemu-img's rule (CHS or current size). */
uint64_t vpc_footer_size(const uint8_t *f);
/* The last 512 bytes of a file are a fixed disk's footer (checksum included). */
bool vpc_tail_is_fixed(const uint8_t *t, size_t n);
int vpc_load_bitmap(struct img *img, uint64_t b);
bool vpc_bit(const struct vpc *s, uint64_t sector);

/* vpc_write.c */
int vpc_parent_name(struct img *img, struct vpc *s, unsigned flags);
int vpc_write(struct img *img, uint64_t off, const void *buf, size_t len);
int vpc_flush(struct img *img);
/* src_pwrite with the failure said on img ("writing WHAT at OFF: ..."). */
int vpc_put(struct img *img, const void *buf, size_t len, uint64_t at, const char *what);
/* The barrier between ordered metadata writes (none for a scratch target). */
int vpc_sync(struct img *img);
/* vpc_resize.c */
/* vpc_create.c */
int vpc_create(struct img_create_ctx *c, const struct img_create_req *req, struct img_err *err);
/* CHS geometry for a number of sectors, as the VHD specification computes it. */
void vpc_geometry(uint64_t sectors, uint16_t *cyls, uint8_t *heads, uint8_t *spt);
/* Size and geometry as qemu-img chooses them for want bytes: the smallest geometry holding
 * them and the size it gives; past the largest geometry (or with force) the size as asked,
 * in whole sectors. -EFBIG (err set) past 2040 GiB. */
int vpc_pick_size(uint64_t want, bool force, uint64_t *size, uint16_t *c, uint8_t *h, uint8_t *sp,
                  struct img_err *err);
/* The creator records that readers size the disk by the footer's current size. */
bool vpc_sized_by_footer(const uint8_t *f);
int vpc_truncate(struct img *img, uint64_t size, enum img_prealloc prealloc);

#endif

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* ptable.h: partition tables inside an image's guest view: MBR (with logical partitions in
 * the extended chain) and GPT, read through img_read so that every format works; and moving a
 * GPT's backup header and entries to the end of a grown disk.
 *
 * Callers: cli/info.c (shows the table), core/ops/ops_resize.c (--fix-gpt). Everything read is
 * untrusted: counts and offsets are checked against the disk size and fixed caps before use.
 * Never prints.
 */
#ifndef DIMG_PTABLE_H
#define DIMG_PTABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/block/img.h"

enum ptable_kind { PTABLE_NONE, PTABLE_MBR, PTABLE_GPT };

struct ptable_part {
    unsigned number;       /* as Linux numbers them: MBR 1-4 primary, 5+ logical; GPT slot+1 */
    uint64_t start, size;  /* bytes */
    char type[40];         /* MBR "0x83"; GPT the type GUID in upper case */
    const char *type_name; /* "Linux filesystem", or "" when unknown */
    char name[128];        /* GPT partition name as UTF-8, "" for MBR */
    bool bootable;         /* MBR active flag; GPT legacy BIOS bootable attribute */
};

struct ptable {
    enum ptable_kind kind;
    unsigned sector_size;               /* 512 (or 4096 for a GPT found there) */
    char disk_id[40];                   /* MBR "0x1234abcd"; GPT the disk GUID */
    uint64_t first_usable, last_usable; /* GPT, in sectors */
    uint64_t backup_lba;                /* GPT: where the primary header says the backup is */
    bool backup_at_end;                 /* GPT: that is the last sector of the disk */
    char problem[160];                  /* a damaged table: what is wrong ("" when sound) */
    size_t n;
    struct ptable_part *parts;
};

const char *ptable_kind_name(enum ptable_kind k);
/* Read the table of img's guest view. No table is kind NONE and 0; a damaged table is 0 with
 * problem set; -errno only when reading failed (message in err). */
int ptable_read(struct img *img, struct ptable *pt, struct img_err *err);
void ptable_free(struct ptable *pt);

/* Move the backup GPT (entries, then header) to the end of img and update the primary header
 * (backup LBA, last usable LBA, CRCs) and the protective MBR's size. Ordered for crashes: the
 * new backup is written and flushed before the primary points at it; the old backup header is
 * wiped last. Returns 1 when moved, 0 when there is no GPT or it is already at the end,
 * -errno with err set for a damaged GPT or an I/O failure. */
int ptable_gpt_relocate(struct img *img, struct img_err *err);

#endif

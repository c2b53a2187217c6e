/* SPDX-License-Identifier: GPL-2.0-or-later */
/* fat_util.h: what the FAT12/16/32 reader (fat.c) and the exFAT reader (exfat.c) share: the
 * file allocation table read through a small window, cluster chains walked with a cycle check
 * and a length bound, data read along a chain, DOS timestamps and UTF-16 names. Private to
 * core/fs; reads through fs_vol_read (core/fs/fs.h).
 */
#ifndef DIMG_FS_FAT_UTIL_H
#define DIMG_FS_FAT_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/fs/fs.h"

#define FATU_WIN 65536 /* bytes of the FAT kept in memory at a time */

/* One FAT: entries of bits (12, 16 or 32) masked by mask; cluster numbers 2..count+1 are data,
 * values >= eoc end a chain. Clusters lie at heap + (n - 2) * cs in the volume. */
struct fatu_tab {
    uint64_t off;   /* volume offset of the active FAT */
    uint64_t bytes; /* its length, checked to hold count + 2 entries */
    unsigned bits;
    uint32_t mask;
    uint32_t eoc;
    uint32_t count;
    uint32_t cs;   /* bytes per cluster */
    uint64_t heap; /* volume offset of cluster 2 */
    uint8_t *win;  /* FATU_WIN bytes, allocated by fatu_tab_init */
    uint64_t win_off;
    size_t win_len;
    /* Where the last read along a chain stopped: sequential reads continue from there. */
    uint32_t cur_first, cur_cl;
    uint64_t cur_idx;
    bool cur_valid;
};

int fatu_tab_init(struct fs *fs, struct fatu_tab *t);
void fatu_tab_free(struct fatu_tab *t);
/* The FAT entry of cluster cl (2..count+1), masked. */
int fatu_get(struct fs *fs, struct fatu_tab *t, uint32_t cl, uint32_t *val);
static inline bool fatu_valid(const struct fatu_tab *t, uint32_t cl)
{
    return cl >= 2 && cl - 2 < t->count;
}
static inline uint64_t fatu_cl_off(const struct fatu_tab *t, uint32_t cl)
{
    return t->heap + (uint64_t)(cl - 2) * t->cs;
}

/* A chain walk: contig (exFAT's NoFatChain) steps to cl + 1 without the FAT; otherwise the FAT
 * is followed and a cycle is caught (Brent's tortoise) within twice its length. */
struct fatu_walk {
    uint32_t cl;
    bool contig;
    uint32_t saved;
    uint64_t power, lam;
};
void fatu_walk_start(struct fatu_walk *w, uint32_t first, bool contig);
/* Step to the next cluster: 1 and w->cl set, 0 at the chain's end, -errno (fs->err) on a free,
 * bad or out-of-range entry or a cycle. what names the chain in messages. */
int fatu_walk_next(struct fs *fs, struct fatu_tab *t, struct fatu_walk *w, const char *what);

/* The number of clusters in the chain from first (to its end, a cycle is an error). */
int fatu_chain_len(struct fs *fs, struct fatu_tab *t, uint32_t first, uint64_t *n);

/* A file's data: size bytes in the chain from first (0: no clusters), bytes past valid read
 * as zeros. */
struct fatu_data {
    uint32_t first;
    bool contig;
    uint64_t size, valid;
};
/* Check that the data fits the volume (size in clusters <= count; a contiguous run inside the
 * heap). */
int fatu_data_check(struct fs *fs, struct fatu_tab *t, const struct fatu_data *d);
ssize_t fatu_data_read(struct fs *fs, struct fatu_tab *t, const struct fatu_data *d, uint64_t off,
                       void *buf, size_t len);
/* The runs of the data in file order, contiguous clusters merged. */
int fatu_data_extents(struct fs *fs, struct fatu_tab *t, const struct fatu_data *d,
                      int (*cb)(void *ctx, uint64_t file_off, uint64_t vol_off, uint64_t len),
                      void *ctx);

/* DOS date and time (local time, taken as UTC) in seconds since the epoch; 0 for a date
 * that is not one. */
int64_t fatu_dos_time(uint16_t date, uint16_t time);
/* n UTF-16LE code units at p (stopping at a 0 unit) as UTF-8 in out (cap bytes, terminated).
 * -1 for a lone surrogate or a name that does not fit. */
int fatu_utf16_to_utf8(const uint8_t *p, size_t n, char *out, size_t cap);
/* A name a directory may list: not empty, ".", ".." and without '/'. */
bool fatu_name_ok(const char *s);
/* "XXXX-XXXX", the way blkid shows a FAT or exFAT serial. */
void fatu_serial(uint32_t serial, char *out, size_t cap);

#endif

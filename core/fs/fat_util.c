/* SPDX-License-Identifier: GPL-2.0-or-later */
/* fat_util.c: the pieces FAT12/16/32 (fat.c) and exFAT (exfat.c) share: the allocation table
 * through a window, chain walks that end on a cycle, data reads and extents along a chain,
 * DOS timestamps and UTF-16 names. Reads the volume through fs_vol_read (core/fs/fs.h).
 */
#include "core/fs/fat_util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/bytes.h"

#define FATU_RUN_MAX (4u << 20) /* bytes one read along a chain merges */

int fatu_tab_init(struct fs *fs, struct fatu_tab *t)
{
    t->win = malloc(FATU_WIN);
    if (!t->win)
        return err_set(&fs->err, -ENOMEM, "%s: out of memory", fs->fs_name);
    t->win_len = 0;
    t->cur_valid = false;
    return 0;
}

void fatu_tab_free(struct fatu_tab *t)
{
    free(t->win);
    t->win = NULL;
}

int fatu_get(struct fs *fs, struct fatu_tab *t, uint32_t cl, uint32_t *val)
{
    if (!fatu_valid(t, cl))
        return err_set(&fs->err, -EIO, "%s: cluster %u outside the volume's %u clusters",
                       fs->fs_name, cl, t->count);
    uint64_t o = t->bits == 12 ? (uint64_t)cl + cl / 2 : (uint64_t)cl * (t->bits / 8);
    unsigned w = t->bits == 32 ? 4 : 2;
    if (o + w > t->bytes) /* the open checked the FAT's size: never true */
        return err_set(&fs->err, -EIO, "%s: FAT entry %u past the FAT", fs->fs_name, cl);
    if (t->win_len == 0 || o < t->win_off || o + w > t->win_off + t->win_len) {
        uint64_t start = o & ~(uint64_t)4095;
        size_t n = t->bytes - start < FATU_WIN ? (size_t)(t->bytes - start) : FATU_WIN;
        t->win_len = 0;
        int r = fs_vol_read(fs->vol, t->off + start, t->win, n, &fs->err);
        if (r < 0)
            return r;
        t->win_off = start;
        t->win_len = n;
    }
    const uint8_t *p = t->win + (o - t->win_off);
    uint32_t v;
    if (t->bits == 12)
        v = (cl & 1) ? le16_load(p) >> 4 : le16_load(p) & 0xfff;
    else if (t->bits == 16)
        v = le16_load(p);
    else
        v = le32_load(p);
    *val = v & t->mask;
    return 0;
}

void fatu_walk_start(struct fatu_walk *w, uint32_t first, bool contig)
{
    w->cl = first;
    w->contig = contig;
    w->saved = first;
    w->power = 1;
    w->lam = 0;
}

int fatu_walk_next(struct fs *fs, struct fatu_tab *t, struct fatu_walk *w, const char *what)
{
    uint32_t next;
    if (w->contig) {
        next = w->cl + 1;
        if (!fatu_valid(t, next))
            return err_set(&fs->err, -EIO, "%s: %s runs past the last cluster", fs->fs_name, what);
        w->cl = next;
        return 1;
    }
    int r = fatu_get(fs, t, w->cl, &next);
    if (r < 0)
        return r;
    if (next >= t->eoc)
        return 0;
    if (!fatu_valid(t, next))
        return err_set(&fs->err, -EIO, "%s: %s: cluster %u links to %s %u", fs->fs_name, what,
                       w->cl, next == 0 ? "a free entry" : "cluster", next);
    if (next == w->saved)
        return err_set(&fs->err, -ELOOP, "%s: %s: the cluster chain loops at cluster %u",
                       fs->fs_name, what, next);
    /* Brent: the tortoise jumps to the hare at each power of two; on a cycle the hare meets
       it within two rounds of the cycle's length. */
    if (++w->lam == w->power) {
        w->saved = next;
        w->power *= 2;
        w->lam = 0;
    }
    w->cl = next;
    return 1;
}

int fatu_chain_len(struct fs *fs, struct fatu_tab *t, uint32_t first, uint64_t *n)
{
    struct fatu_walk w;
    int r;
    *n = 1;
    fatu_walk_start(&w, first, false);
    while ((r = fatu_walk_next(fs, t, &w, "directory")) == 1)
        ++*n;
    return r;
}

int fatu_data_check(struct fs *fs, struct fatu_tab *t, const struct fatu_data *d)
{
    if (d->size == 0)
        return 0;
    uint64_t n = u64_div_round_up(d->size, t->cs);
    if (n > t->count)
        return err_set(&fs->err, -EIO, "%s: size %llu is larger than the volume's clusters",
                       fs->fs_name, (unsigned long long)d->size);
    if (!fatu_valid(t, d->first))
        return err_set(&fs->err, -EIO, "%s: first cluster %u outside the volume's %u clusters",
                       fs->fs_name, d->first, t->count);
    if (d->contig && (uint64_t)d->first - 2 + n > t->count)
        return err_set(&fs->err, -EIO,
                       "%s: contiguous data at cluster %u runs past the last "
                       "cluster",
                       fs->fs_name, d->first);
    return 0;
}

/* Position a walk at cluster index idx of d's chain, from the remembered place when it lies
   before idx on the same chain. */
static int fatu_seek(struct fs *fs, struct fatu_tab *t, const struct fatu_data *d, uint64_t idx,
                     struct fatu_walk *w)
{
    uint64_t i = 0;
    uint32_t cl = d->first;
    if (t->cur_valid && t->cur_first == d->first && t->cur_idx <= idx) {
        i = t->cur_idx;
        cl = t->cur_cl;
    }
    if (d->contig) {
        fatu_walk_start(w, (uint32_t)(d->first + idx), true);
        return 0;
    }
    fatu_walk_start(w, cl, false);
    for (; i < idx; i++) {
        int r = fatu_walk_next(fs, t, w, "file");
        if (r < 0)
            return r;
        if (r == 0)
            return err_set(&fs->err, -EIO,
                           "%s: the cluster chain of a file ends before its "
                           "size",
                           fs->fs_name);
    }
    return 0;
}

/* Read the pending run [*poff, +*pn) into dst; empties it. */
static int fatu_flush(struct fs *fs, uint64_t *poff, size_t *pn, uint8_t *dst)
{
    if (*pn == 0)
        return 0;
    int r = fs_vol_read(fs->vol, *poff, dst, *pn, &fs->err);
    *pn = 0;
    return r;
}

/* The file's next cluster; a chain that ends first is -EIO (the size says there is more). */
static int fatu_next_in_file(struct fs *fs, struct fatu_tab *t, struct fatu_walk *w)
{
    int r = fatu_walk_next(fs, t, w, "file");
    if (r > 0)
        return 0;
    return r < 0 ? r
                 : err_set(&fs->err, -EIO, "%s: the cluster chain of a file ends before its size",
                           fs->fs_name);
}

ssize_t fatu_data_read(struct fs *fs, struct fatu_tab *t, const struct fatu_data *d, uint64_t off,
                       void *buf, size_t len)
{
    if (off >= d->size || len == 0)
        return 0;
    if (len > d->size - off)
        len = (size_t)(d->size - off);
    size_t rlen = off >= d->valid ? 0 : (d->valid - off < len ? (size_t)(d->valid - off) : len);
    memset((uint8_t *)buf + rlen, 0, len - rlen);
    if (rlen == 0)
        return (ssize_t)len;
    int r = fatu_data_check(fs, t, d);
    struct fatu_walk w;
    uint64_t idx = off / t->cs;
    if (r < 0 || (r = fatu_seek(fs, t, d, idx, &w)) < 0)
        return r;
    uint8_t *out = buf;
    size_t done = 0, pn = 0, pdst = 0;
    uint64_t poff = 0;
    for (;;) {
        size_t co = (size_t)((off + done) % t->cs);
        size_t n = t->cs - co < rlen - done ? t->cs - co : rlen - done;
        uint64_t voff = fatu_cl_off(t, w.cl) + co;
        if (pn && (poff + pn != voff || pn + n > FATU_RUN_MAX)) {
            if ((r = fatu_flush(fs, &poff, &pn, out + pdst)) < 0)
                return r;
        }
        if (pn == 0) {
            poff = voff;
            pdst = done;
        }
        pn += n;
        done += n;
        if (done == rlen)
            break;
        if ((r = fatu_next_in_file(fs, t, &w)) < 0)
            return r;
        idx++;
    }
    if ((r = fatu_flush(fs, &poff, &pn, out + pdst)) < 0)
        return r;
    t->cur_valid = !d->contig;
    t->cur_first = d->first;
    t->cur_idx = idx;
    t->cur_cl = w.cl;
    return (ssize_t)len;
}

int fatu_data_extents(struct fs *fs, struct fatu_tab *t, const struct fatu_data *d,
                      int (*cb)(void *ctx, uint64_t file_off, uint64_t vol_off, uint64_t len),
                      void *ctx)
{
    int r = fatu_data_check(fs, t, d);
    if (r < 0 || d->size == 0)
        return r;
    struct fatu_walk w;
    fatu_walk_start(&w, d->first, d->contig);
    uint64_t run_file = 0, run_vol = fatu_cl_off(t, d->first), run_len = 0, pos = 0;
    for (;;) {
        uint64_t n = d->size - pos < t->cs ? d->size - pos : t->cs;
        uint64_t voff = fatu_cl_off(t, w.cl);
        if (run_vol + run_len != voff) {
            if ((r = cb(ctx, run_file, run_vol, run_len)) != 0)
                return r;
            run_file = pos;
            run_vol = voff;
            run_len = 0;
        }
        run_len += n;
        pos += n;
        if (pos == d->size)
            break;
        if ((r = fatu_next_in_file(fs, t, &w)) < 0)
            return r;
    }
    return cb(ctx, run_file, run_vol, run_len);
}

static bool fatu_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int64_t fatu_dos_time(uint16_t date, uint16_t time)
{
    static const uint16_t before[12] = {0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334};
    int64_t y = 1980 + (date >> 9);
    unsigned m = (date >> 5) & 15, d = date & 31;
    if (m < 1 || m > 12 || d < 1)
        return 0;
    int64_t days = 0;
    for (int64_t i = 1970; i < y; i++)
        days += fatu_leap(i) ? 366 : 365;
    days += before[m - 1] + (m > 2 && fatu_leap(y)) + (d - 1);
    unsigned hh = time >> 11, mm = (time >> 5) & 63, ss = (time & 31) * 2;
    int64_t secs = hh < 24 && mm < 60 && ss < 60 ? hh * 3600 + mm * 60 + ss : 0;
    return days * 86400 + secs;
}

/* Append code point cp as UTF-8; false when it does not fit (one byte stays for the NUL). */
static bool fatu_put(char *out, size_t cap, size_t *o, uint32_t cp)
{
    uint8_t b[4];
    size_t n;
    if (cp < 0x80) {
        b[0] = (uint8_t)cp;
        n = 1;
    } else if (cp < 0x800) {
        b[0] = (uint8_t)(0xc0 | cp >> 6);
        b[1] = (uint8_t)(0x80 | (cp & 0x3f));
        n = 2;
    } else if (cp < 0x10000) {
        b[0] = (uint8_t)(0xe0 | cp >> 12);
        b[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
        b[2] = (uint8_t)(0x80 | (cp & 0x3f));
        n = 3;
    } else {
        b[0] = (uint8_t)(0xf0 | cp >> 18);
        b[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3f));
        b[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
        b[3] = (uint8_t)(0x80 | (cp & 0x3f));
        n = 4;
    }
    if (*o + n >= cap)
        return false;
    memcpy(out + *o, b, n);
    *o += n;
    return true;
}

int fatu_utf16_to_utf8(const uint8_t *p, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t u = le16_load(p + 2 * i);
        if (u == 0)
            break;
        if (u >= 0xdc00 && u < 0xe000)
            return -1;
        if (u >= 0xd800 && u < 0xdc00) {
            uint32_t lo = i + 1 < n ? le16_load(p + 2 * (i + 1)) : 0;
            if (lo < 0xdc00 || lo >= 0xe000)
                return -1;
            u = 0x10000 + ((u - 0xd800) << 10) + (lo - 0xdc00);
            i++;
        }
        if (!fatu_put(out, cap, &o, u))
            return -1;
    }
    out[o] = 0;
    return (int)o;
}

bool fatu_name_ok(const char *s)
{
    return s[0] && strcmp(s, ".") != 0 && strcmp(s, "..") != 0 && !strchr(s, '/');
}

void fatu_serial(uint32_t serial, char *out, size_t cap)
{
    snprintf(out, cap, "%04X-%04X", serial >> 16, serial & 0xffff);
}

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* ptable.c: MBR and GPT parsing and GPT backup relocation (ptable.h), on an image's guest view.
 *
 * GPT is looked for first (the "EFI PART" header at LBA 1, with 512- and 4096-byte sectors),
 * then an MBR (0x55AA, four entries, the extended chain for logical partitions). Header and
 * entry CRC32s are zlib's crc32. Every count and offset read from the disk is bounded before
 * use. Talks to: img.h (img_read, img_write, img_flush), bytes.h, zlib. Never prints.
 */
#include "core/block/ptable.h"
#include "core/block/driver.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "core/base/bytes.h"

#define GPT_SIG "EFI PART"
#define GPT_HDR_MIN 92
#define GPT_ENTRIES_MAX_BYTES (1u << 20) /* far above the usual 16 KiB */
#define MBR_LOGICAL_MAX 256              /* extended-chain length cap (loops, hostile images) */

struct ptable_type_name {
    const char *id, *name;
};

static const struct ptable_type_name ptable_gpt_types[] = {
    {"C12A7328-F81F-11D2-BA4B-00A0C93EC93B", "EFI System"},
    {"21686148-6449-6E6F-744E-656564454649", "BIOS boot"},
    {"0FC63DAF-8483-4772-8E79-3D69D8477DE4", "Linux filesystem"},
    {"0657FD6D-A4AB-43C4-84E5-0933C84B4F4F", "Linux swap"},
    {"E6D6D379-F507-44C2-A23C-238F2A3DF928", "Linux LVM"},
    {"A19D880F-05FC-4D3B-A006-743F0F84911E", "Linux RAID"},
    {"4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709", "Linux root (x86-64)"},
    {"933AC7E1-2EB4-4F13-B844-0E14E2AEF915", "Linux home"},
    {"BC13C2FF-59E6-4262-A352-B275FD6F7172", "Linux extended boot"},
    {"EBD0A0A2-B9E5-4433-87C0-68B6B72699C7", "Microsoft basic data"},
    {"E3C9E316-0B5C-4DB8-817D-F92DF00215AE", "Microsoft reserved"},
    {"DE94BBA4-06D1-4D40-A16A-BFD50179D6AC", "Windows recovery"},
    {NULL, NULL},
};

static const struct ptable_type_name ptable_mbr_types[] = {
    {"0x01", "FAT12"},
    {"0x04", "FAT16 <32M"},
    {"0x05", "Extended"},
    {"0x06", "FAT16"},
    {"0x07", "HPFS/NTFS/exFAT"},
    {"0x0b", "W95 FAT32"},
    {"0x0c", "W95 FAT32 (LBA)"},
    {"0x0e", "W95 FAT16 (LBA)"},
    {"0x0f", "W95 Ext'd (LBA)"},
    {"0x82", "Linux swap"},
    {"0x83", "Linux"},
    {"0x85", "Linux extended"},
    {"0x8e", "Linux LVM"},
    {"0xee", "GPT"},
    {"0xef", "EFI (FAT-12/16/32)"},
    {"0xfd", "Linux raid autodetect"},
    {NULL, NULL},
};

static const char *ptable_lookup(const struct ptable_type_name *t, const char *id)
{
    for (; t->id; t++)
        if (strcmp(t->id, id) == 0)
            return t->name;
    return "";
}

const char *ptable_kind_name(enum ptable_kind k)
{
    return k == PTABLE_MBR ? "MBR" : k == PTABLE_GPT ? "GPT" : "none";
}

void ptable_free(struct ptable *pt)
{
    free(pt->parts);
    memset(pt, 0, sizeof *pt);
}

/* GUIDs are stored with the first three fields little-endian. */
static void ptable_guid(char *out, size_t n, const uint8_t *g)
{
    snprintf(out, n, "%08X-%04X-%04X-%02X%02X-%02X%02X%02X%02X%02X%02X", le32_load(g),
             le16_load(g + 4), le16_load(g + 6), g[8], g[9], g[10], g[11], g[12], g[13], g[14],
             g[15]);
}

/* UTF-16LE (up to n units, NUL-terminated early) to UTF-8. */
static void ptable_utf16(char *out, size_t cap, const uint8_t *in, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t c = le16_load(in + 2 * i);
        if (c == 0)
            break;
        if (c >= 0xD800 && c < 0xDC00 && i + 1 < n) {
            uint32_t lo = le16_load(in + 2 * (i + 1));
            if (lo >= 0xDC00 && lo < 0xE000) {
                c = 0x10000 + ((c - 0xD800) << 10) + (lo - 0xDC00);
                i++;
            }
        }
        if (c < 0x20 || (c >= 0xD800 && c < 0xE000))
            c = '?'; /* control characters and lone surrogates: never print them raw */
        uint8_t b[4];
        size_t k;
        if (c < 0x80) {
            b[0] = (uint8_t)c;
            k = 1;
        } else if (c < 0x800) {
            b[0] = (uint8_t)(0xC0 | (c >> 6));
            b[1] = (uint8_t)(0x80 | (c & 0x3F));
            k = 2;
        } else if (c < 0x10000) {
            b[0] = (uint8_t)(0xE0 | (c >> 12));
            b[1] = (uint8_t)(0x80 | ((c >> 6) & 0x3F));
            b[2] = (uint8_t)(0x80 | (c & 0x3F));
            k = 3;
        } else {
            b[0] = (uint8_t)(0xF0 | (c >> 18));
            b[1] = (uint8_t)(0x80 | ((c >> 12) & 0x3F));
            b[2] = (uint8_t)(0x80 | ((c >> 6) & 0x3F));
            b[3] = (uint8_t)(0x80 | (c & 0x3F));
            k = 4;
        }
        if (o + k + 1 > cap)
            break;
        memcpy(out + o, b, k);
        o += k;
    }
    out[o] = 0;
}

static int ptable_add(struct ptable *pt, const struct ptable_part *p, struct img_err *err)
{
    struct ptable_part *v = realloc(pt->parts, (pt->n + 1) * sizeof *v);
    if (!v)
        return err_set(err, -ENOMEM, "out of memory");
    pt->parts = v;
    pt->parts[pt->n++] = *p;
    return 0;
}

static int ptable_read_at(struct img *img, uint64_t off, void *buf, size_t len, struct img_err *err)
{
    int r = img_read(img, off, buf, len);
    if (r < 0) {
        *err = img->err;
        if (!err->code)
            err->code = r;
    }
    return r;
}

static uint32_t ptable_crc(const uint8_t *p, size_t n)
{
    return (uint32_t)crc32(crc32(0L, Z_NULL, 0), p, (uInt)n);
}

/* The header's CRC32 over header_size bytes with the CRC field taken as zero. */
static uint32_t gpt_hdr_crc(const uint8_t *hdr)
{
    uint32_t hs = le32_load(hdr + 12);
    uint8_t tmp[4096];
    memcpy(tmp, hdr, hs);
    le32_store(tmp + 16, 0);
    return ptable_crc(tmp, hs);
}

/* A GPT as loaded: header sector and the entry array, both validated. */
struct gpt {
    unsigned ss;
    uint8_t hdr[4096];
    uint8_t *entries;
    size_t ebytes;
    uint32_t nent, esize;
};

/* Load and validate the primary GPT with sector size ss. Returns 1 loaded, 0 no signature,
 * -errno on read failure; a damaged header is 1 with problem set (and g->entries NULL). */
static int gpt_load(struct img *img, unsigned ss, struct gpt *g, char *problem, size_t plen,
                    struct img_err *err)
{
    memset(g, 0, sizeof *g);
    g->ss = ss;
    if (img->size < 3ull * ss)
        return 0;
    int r = ptable_read_at(img, ss, g->hdr, ss, err);
    if (r < 0)
        return r;
    if (memcmp(g->hdr, GPT_SIG, 8) != 0)
        return 0;
    uint32_t hs = le32_load(g->hdr + 12);
    uint64_t sectors = img->size / ss;
    if (hs < GPT_HDR_MIN || hs > ss) {
        snprintf(problem, plen, "GPT header size %u is invalid", hs);
        return 1;
    }
    if (gpt_hdr_crc(g->hdr) != le32_load(g->hdr + 16)) {
        snprintf(problem, plen, "GPT header CRC mismatch");
        return 1;
    }
    uint64_t elba = le64_load(g->hdr + 72);
    g->nent = le32_load(g->hdr + 80);
    g->esize = le32_load(g->hdr + 84);
    if (g->esize < 128 || g->esize > 4096 || g->esize % 8 ||
        (uint64_t)g->nent * g->esize > GPT_ENTRIES_MAX_BYTES) {
        snprintf(problem, plen, "GPT entry array of %u entries of %u bytes is invalid", g->nent,
                 g->esize);
        return 1;
    }
    g->ebytes = (size_t)g->nent * g->esize;
    uint64_t esec = u64_div_round_up(g->ebytes, ss);
    if (elba < 2 || elba >= sectors || esec > sectors - elba) {
        snprintf(problem, plen, "GPT entry array at LBA %llu lies outside the disk",
                 (unsigned long long)elba);
        return 1;
    }
    g->entries = malloc(g->ebytes ? g->ebytes : 1);
    if (!g->entries)
        return err_set(err, -ENOMEM, "out of memory");
    r = ptable_read_at(img, elba * ss, g->entries, g->ebytes, err);
    if (r < 0) {
        free(g->entries);
        g->entries = NULL;
        return r;
    }
    if (ptable_crc(g->entries, g->ebytes) != le32_load(g->hdr + 88)) {
        snprintf(problem, plen, "GPT partition entries CRC mismatch");
        free(g->entries);
        g->entries = NULL;
    }
    return 1;
}

static int gpt_parse(struct img *img, struct gpt *g, struct ptable *pt, struct img_err *err)
{
    pt->kind = PTABLE_GPT;
    pt->sector_size = g->ss;
    ptable_guid(pt->disk_id, sizeof pt->disk_id, g->hdr + 56);
    pt->first_usable = le64_load(g->hdr + 40);
    pt->last_usable = le64_load(g->hdr + 48);
    pt->backup_lba = le64_load(g->hdr + 32);
    pt->backup_at_end = pt->backup_lba == img->size / g->ss - 1;
    if (!g->entries)
        return 0;
    static const uint8_t zero[16];
    for (uint32_t i = 0; i < g->nent; i++) {
        const uint8_t *e = g->entries + (size_t)i * g->esize;
        if (memcmp(e, zero, 16) == 0)
            continue; /* unused slot */
        struct ptable_part p = {.number = i + 1};
        uint64_t first = le64_load(e + 32), last = le64_load(e + 40);
        if (last < first || last > UINT64_MAX / g->ss - 1) {
            snprintf(pt->problem, sizeof pt->problem, "GPT partition %u has an invalid range",
                     i + 1);
            continue;
        }
        p.start = first * g->ss;
        p.size = (last - first + 1) * g->ss;
        ptable_guid(p.type, sizeof p.type, e);
        p.type_name = ptable_lookup(ptable_gpt_types, p.type);
        ptable_utf16(p.name, sizeof p.name, e + 56,
                     (g->esize - 56) / 2 < 36 ? (g->esize - 56) / 2 : 36);
        p.bootable = (le64_load(e + 48) >> 2) & 1;
        int r = ptable_add(pt, &p, err);
        if (r < 0)
            return r;
    }
    return 0;
}

static bool mbr_is_extended(uint8_t t)
{
    return t == 0x05 || t == 0x0f || t == 0x85;
}

static void mbr_part(struct ptable_part *p, unsigned number, const uint8_t *e, uint64_t base)
{
    memset(p, 0, sizeof *p);
    p->number = number;
    p->start = (base + le32_load(e + 8)) * 512;
    p->size = (uint64_t)le32_load(e + 12) * 512;
    snprintf(p->type, sizeof p->type, "0x%02x", e[4]);
    p->type_name = ptable_lookup(ptable_mbr_types, p->type);
    p->bootable = e[0] == 0x80;
}

/* Logical partitions: a chain of EBRs, each with one partition (relative to the EBR) and a
 * link to the next (relative to the extended partition's start). */
static int mbr_logicals(struct img *img, struct ptable *pt, uint64_t ext_start, struct img_err *err)
{
    uint64_t ebr = ext_start;
    uint8_t s[512];
    for (unsigned n = 0; n < MBR_LOGICAL_MAX; n++) {
        if (ebr == 0 || ebr >= img->size / 512)
            return 0;
        int r = ptable_read_at(img, ebr * 512, s, 512, err);
        if (r < 0)
            return r;
        if (s[510] != 0x55 || s[511] != 0xAA)
            return 0;
        const uint8_t *e = s + 446;
        if (e[4] && le32_load(e + 12)) {
            struct ptable_part p;
            mbr_part(&p, 5 + n, e, ebr);
            if ((r = ptable_add(pt, &p, err)) < 0)
                return r;
        }
        const uint8_t *l = s + 462;
        uint64_t next = ext_start + le32_load(l + 8);
        if (!mbr_is_extended(l[4]) || le32_load(l + 8) == 0 || next <= ebr)
            return 0; /* end of the chain (or a loop backwards: stop) */
        ebr = next;
    }
    snprintf(pt->problem, sizeof pt->problem, "extended partition chain longer than %d",
             MBR_LOGICAL_MAX);
    return 0;
}

static int mbr_parse(struct img *img, const uint8_t *s, struct ptable *pt, struct img_err *err)
{
    if (s[510] != 0x55 || s[511] != 0xAA)
        return 0;
    /* A boot sector of a file system also ends in 55 AA: insist on sane entries. */
    bool any = false;
    for (int i = 0; i < 4; i++) {
        const uint8_t *e = s + 446 + 16 * i;
        if (e[0] != 0 && e[0] != 0x80)
            return 0;
        any |= e[4] != 0;
    }
    if (!any)
        return 0;
    pt->kind = PTABLE_MBR;
    pt->sector_size = 512;
    snprintf(pt->disk_id, sizeof pt->disk_id, "0x%08x", le32_load(s + 440));
    for (int i = 0; i < 4; i++) {
        const uint8_t *e = s + 446 + 16 * i;
        if (!e[4])
            continue;
        struct ptable_part p;
        mbr_part(&p, (unsigned)i + 1, e, 0);
        int r = ptable_add(pt, &p, err);
        if (r == 0 && mbr_is_extended(e[4]))
            r = mbr_logicals(img, pt, le32_load(e + 8), err);
        if (r < 0)
            return r;
    }
    return 0;
}

int ptable_read(struct img *img, struct ptable *pt, struct img_err *err)
{
    memset(pt, 0, sizeof *pt);
    static const unsigned sizes[] = {512, 4096};
    for (size_t i = 0; i < 2; i++) {
        struct gpt g;
        int r = gpt_load(img, sizes[i], &g, pt->problem, sizeof pt->problem, err);
        if (r < 0)
            return r;
        if (r == 1) {
            r = gpt_parse(img, &g, pt, err);
            free(g.entries);
            if (r < 0)
                ptable_free(pt);
            return r;
        }
    }
    if (img->size < 512)
        return 0;
    uint8_t s[512];
    int r = ptable_read_at(img, 0, s, 512, err);
    if (r == 0)
        r = mbr_parse(img, s, pt, err);
    if (r < 0)
        ptable_free(pt);
    return r;
}

static int ptable_write_at(struct img *img, uint64_t off, const void *buf, size_t len,
                           struct img_err *err)
{
    int r = img_write(img, off, buf, len);
    if (r == 0)
        r = img_flush(img);
    if (r < 0) {
        *err = img->err;
        if (!err->code)
            err->code = r;
    }
    return r;
}

/* The protective MBR's 0xEE entry covers the whole disk: make it cover the new size. */
static int gpt_fix_pmbr(struct img *img, unsigned ss, struct img_err *err)
{
    uint8_t s[512];
    int r = ptable_read_at(img, 0, s, 512, err);
    if (r < 0 || s[510] != 0x55 || s[511] != 0xAA)
        return r;
    uint64_t sectors = img->size / ss - 1;
    uint32_t want = sectors > 0xFFFFFFFFu ? 0xFFFFFFFFu : (uint32_t)sectors;
    for (int i = 0; i < 4; i++) {
        uint8_t *e = s + 446 + 16 * i;
        if (e[4] != 0xEE || le32_load(e + 8) != 1 || le32_load(e + 12) == want)
            continue;
        le32_store(e + 12, want);
        return ptable_write_at(img, 0, s, 512, err);
    }
    return 0;
}

int ptable_gpt_relocate(struct img *img, struct img_err *err)
{
    static const unsigned sizes[] = {512, 4096};
    struct gpt g;
    char problem[160] = "";
    int r = 0;
    size_t i;
    for (i = 0; i < 2; i++) {
        r = gpt_load(img, sizes[i], &g, problem, sizeof problem, err);
        if (r != 0)
            break;
    }
    if (r <= 0)
        return r;
    if (!g.entries) {
        free(g.entries);
        return err_set(err, -EINVAL, "%s: cannot move the backup GPT: %s", img->path,
                       problem[0] ? problem : "damaged GPT");
    }
    unsigned ss = g.ss;
    uint64_t last = img->size / ss - 1, old_backup = le64_load(g.hdr + 32);
    uint64_t esec = u64_div_round_up(g.ebytes, ss);
    uint64_t new_elba = last - esec;
    if (old_backup == last) {
        free(g.entries);
        return 0;
    }
    /* Every partition and the primary entry array must end before the new backup array. */
    static const uint8_t unused[16];
    uint64_t pend = le64_load(g.hdr + 72) + esec;
    for (uint32_t k = 0; k < g.nent; k++) {
        const uint8_t *e = g.entries + (size_t)k * g.esize;
        uint64_t pl = le64_load(e + 40);
        if (memcmp(e, unused, 16) != 0 && pl + 1 > pend)
            pend = pl + 1;
    }
    if (pend > new_elba) {
        free(g.entries);
        return err_set(err, -ENOSPC,
                       "%s: cannot move the backup GPT: partitions reach past LBA %llu", img->path,
                       (unsigned long long)new_elba);
    }

    /* 1. The new backup: entries, then its header, flushed. */
    uint8_t bh[4096];
    memset(bh, 0, sizeof bh);
    memcpy(bh, g.hdr, ss);
    le64_store(bh + 24, last);
    le64_store(bh + 32, 1);
    le64_store(bh + 48, new_elba - 1);
    le64_store(bh + 72, new_elba);
    le32_store(bh + 16, gpt_hdr_crc(bh));
    r = ptable_write_at(img, new_elba * ss, g.entries, g.ebytes, err);
    if (r == 0)
        r = ptable_write_at(img, last * ss, bh, ss, err);
    free(g.entries);
    if (r < 0)
        return r;

    /* 2. The primary now points at it (and may use the space up to it). */
    le64_store(g.hdr + 32, last);
    le64_store(g.hdr + 48, new_elba - 1);
    le32_store(g.hdr + 16, gpt_hdr_crc(g.hdr));
    r = ptable_write_at(img, ss, g.hdr, ss, err);
    if (r < 0)
        return r;
    if ((r = gpt_fix_pmbr(img, ss, err)) < 0)
        return r;

    /* 3. Wipe the stale backup header so no tool mistakes it for the real one. */
    if (old_backup > 1 && old_backup < last) {
        uint8_t old[4096];
        if (ptable_read_at(img, old_backup * ss, old, ss, err) == 0 &&
            memcmp(old, GPT_SIG, 8) == 0) {
            memset(old, 0, ss);
            if ((r = ptable_write_at(img, old_backup * ss, old, ss, err)) < 0)
                return r;
        }
    }
    return 1;
}

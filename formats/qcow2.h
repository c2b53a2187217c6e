/* SPDX-License-Identifier: GPL-2.0-or-later */
/* qcow2.h: internal state and helpers of the qcow2 driver (not a public header).
 *
 * Shared by qcow2.c (open, read, block status, info), qcow2_alloc.c (refcounts, allocation,
 * write path), qcow2_create.c, qcow2_resize.c (grow, shrink), qcow2_check.c (check, repair,
 * layout), qcow2_snapshot.c (internal snapshots), qcow2_snapcommit.c (their one-write switch
 * to a new metadata state), qcow2_bitmap.c (persistent dirty bitmaps). The static inline
 * helpers below (address translation, compressed descriptors, refcount packing) are pure and
 * unit-tested directly by tests/unit/test_qcow2_unit.c.
 */
#ifndef DIMG_QCOW2_H
#define DIMG_QCOW2_H

#include "core/base/bytes.h"
#include "core/block/driver.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define QCOW2_MAGIC 0x514649fbu

/* The header, by byte offset (big-endian; be32 unless said). Version 2 ends at 72 (its
 * header_length); version 3 adds the fields up to 104, and the compression type byte when
 * header_length is above 104. */
#define QCOW2_H_VERSION 4
#define QCOW2_H_BACKING_OFF 8 /* be64 */
#define QCOW2_H_BACKING_LEN 16
#define QCOW2_H_CLUSTER_BITS 20
#define QCOW2_H_SIZE 24 /* be64 */
#define QCOW2_H_CRYPT 32
#define QCOW2_H_L1_SIZE 36
#define QCOW2_H_L1_OFF 40 /* be64 */
#define QCOW2_H_RT_OFF 48 /* be64 */
#define QCOW2_H_RT_CLUSTERS 56
#define QCOW2_H_NB_SNAPSHOTS 60
#define QCOW2_H_SNAP_OFF 64  /* be64 */
#define QCOW2_H_INCOMPAT 72  /* be64, version 3 from here */
#define QCOW2_H_COMPAT 80    /* be64 */
#define QCOW2_H_AUTOCLEAR 88 /* be64 */
#define QCOW2_H_REFCOUNT_ORDER 96
#define QCOW2_H_HEADER_LEN 100
#define QCOW2_H_COMPRESSION 104 /* one byte */
#define QCOW2_MIN_CLUSTER_BITS 9
#define QCOW2_MAX_CLUSTER_BITS 21
#define QCOW2_MAX_L1_BYTES (32ull << 20)
#define QCOW2_MAX_L1_ENTRIES (QCOW2_MAX_L1_BYTES / 8)
#define QCOW2_MAX_RT_BYTES (8ull << 20)
#define QCOW2_MAX_SNAPSHOTS 65536u
#define QCOW2_MAX_SNAPTABLE_BYTES (64ull << 20)
#define QCOW2_MAX_HOST_OFF (1ull << 56)
#define QCOW2_MAX_BACKING_NAME 1023u
#define QCOW2_MAX_BITMAPS 65535u
#define QCOW2_MAX_BITMAP_DIR_BYTES (64ull << 20)

/* Feature bits. */
#define QCOW2_INCOMPAT_DIRTY (1ull << 0)
#define QCOW2_INCOMPAT_CORRUPT (1ull << 1)
#define QCOW2_INCOMPAT_DATA_FILE (1ull << 2)
#define QCOW2_INCOMPAT_COMPRESSION (1ull << 3)
#define QCOW2_INCOMPAT_EXTL2 (1ull << 4)
#define QCOW2_INCOMPAT_KNOWN 0x1full
#define QCOW2_COMPAT_LAZY (1ull << 0)
#define QCOW2_AUTOCLEAR_BITMAPS (1ull << 0)
#define QCOW2_AUTOCLEAR_DATA_RAW (1ull << 1)

/* Header extension types. */
#define QCOW2_EXT_END 0x00000000u
#define QCOW2_EXT_BACKING_FMT 0xE2792ACAu
#define QCOW2_EXT_FEATURES 0x6803F857u
#define QCOW2_EXT_BITMAPS 0x23852875u
#define QCOW2_EXT_FDE 0x0537BE77u
#define QCOW2_EXT_DATA_FILE 0x44415441u

/* Table entry bits. */
#define QCOW2_OFLAG_COPIED (1ull << 63)
#define QCOW2_OFLAG_COMPRESSED (1ull << 62)
#define QCOW2_OFLAG_ZERO 1ull
#define QCOW2_L1_OFFSET_MASK 0x00fffffffffffe00ull
#define QCOW2_L1_RESERVED 0x7f000000000001ffull
#define QCOW2_L2_OFFSET_MASK 0x00fffffffffffe00ull
#define QCOW2_L2_STD_RESERVED 0x3f000000000001feull
#define QCOW2_RT_OFFSET_MASK 0xfffffffffffffe00ull
/* Bits of an L1 or standard L2 entry that would put its offset at or past 2^56: the masks
 * above drop them, so they are refused where an entry is read instead of read elsewhere. */
#define QCOW2_OFF_HIGH_BITS 0x3f00000000000000ull
#define QCOW2_L1_HIGH_BITS 0x7f00000000000000ull
#define QCOW2_SUBCLUSTERS 32
#define QCOW2_BITMAP_ALL_ALLOC 0xffffffffull
#define QCOW2_BITMAP_ALL_ZERO 0xffffffff00000000ull

/* What one guest cluster (or subcluster) maps to. */
enum qcow2_ctype {
    QCOW2_C_UNALLOC,    /* read the backing file */
    QCOW2_C_ZERO,       /* zero flag, no host cluster */
    QCOW2_C_ZERO_ALLOC, /* zero flag with a preallocated host cluster */
    QCOW2_C_DATA,
    QCOW2_C_COMPRESSED,
};

/* A small cache of metadata clusters (L2 tables, refcount blocks), write-through except for
 * lazy refcounts and scratch targets (IMG_OPEN_SCRATCH), whose entries are written back. */
struct qcow2_cache_ent {
    uint64_t off; /* host offset, 0 = empty slot */
    uint64_t lru;
    bool dirty; /* written back on eviction or flush */
    uint8_t *buf;
};
struct qcow2_cache {
    size_t n;
    uint32_t bufsize; /* bytes of each entry's buf, allocated on first use */
    uint64_t tick;
    size_t last; /* the slot of the last hit: sequential writers ask for it again and again */
    struct qcow2_cache_ent *e;
};

struct qcow2_unknown_ext {
    uint32_t type, len;
    uint64_t off; /* of the payload, inside cluster 0 */
};

struct qcow2_feat_name {
    uint8_t type, bit;
    char name[47];
};

/* One persistent dirty bitmap of the directory (qcow2_bitmap.c). */
struct qcow2_bitmap {
    uint64_t table_off;
    uint32_t table_size; /* entries */
    uint32_t flags;      /* QCOW2_BME_* */
    uint8_t gbits;       /* log2 granularity */
    uint64_t pos;        /* of its entry inside the directory */
    char *name;
};
#define QCOW2_BME_IN_USE 1u
#define QCOW2_BME_AUTO 2u

struct qcow2_snapshot {
    uint64_t l1_offset;
    uint32_t l1_size;
    char *id, *name;
    uint32_t date_sec, date_nsec;
    uint64_t vm_clock_nsec, vm_state_size, disk_size, icount;
};

struct qcow2 {
    uint32_t version;
    unsigned cluster_bits;
    uint32_t cluster_size;
    uint64_t size;
    uint32_t crypt_method;
    uint32_t header_length;
    uint64_t incompat, compat, autoclear;
    unsigned refcount_order, refcount_bits;
    uint64_t refcount_max;
    uint64_t rb_entries; /* refcounts per refcount block */
    uint8_t compression_type;
    bool extended_l2;
    unsigned l2_entry_size; /* 8 or 16 */
    uint64_t l2_entries;    /* entries per L2 table */
    unsigned sc_bits;       /* log2 subcluster size (== cluster_bits without extended L2) */

    uint32_t l1_size;
    uint64_t l1_offset;
    uint64_t *l1; /* host byte order */

    uint64_t rt_offset;
    uint32_t rt_clusters;
    uint64_t rt_entries;
    uint64_t *rt;

    uint32_t nb_snapshots;
    uint64_t snap_offset, snap_size;
    struct qcow2_snapshot *snaps;

    uint64_t backing_off;
    uint32_t backing_len;

    /* Extensions. */
    uint64_t ext_end; /* first byte after the extension area (end marker included) */
    struct qcow2_feat_name *feat;
    size_t nfeat;
    struct qcow2_unknown_ext *unknown;
    size_t nunknown;
    bool has_bitmaps_ext;
    uint32_t nb_bitmaps;
    uint64_t bitmap_dir_off, bitmap_dir_size;
    uint64_t bitmap_ext_off; /* payload of the bitmaps extension in cluster 0 */
    struct qcow2_bitmap *bm; /* the directory, when the bitmaps are in effect */
    uint32_t nbm;
    uint8_t *bm_dir; /* its bytes as on disk */
    char *bm_bad;    /* why the directory cannot be used, or NULL */
    bool has_fde;
    uint64_t fde_off, fde_len;
    char *data_file_name;
    struct img_src *data_src; /* the external data file, or NULL */

    uint64_t file_size;                   /* tracked as we grow the file */
    bool prealloc_checked, prealloc_meta; /* qcow2_block_status: looks preallocation=metadata */
    struct qcow2_cache l2c, rbc;

    /* Compressed-cluster read cache. */
    uint8_t *cbuf;       /* one decompressed cluster */
    uint64_t cbuf_entry; /* L2 entry it came from, 0 = none */
    uint8_t *zin;        /* compressed input buffer (2 clusters) */

    /* Write state. */
    bool writes_started; /* first-write hook ran */
    bool lazy;           /* lazy refcounts in effect: refcounts rebuilt on flush */
    bool lazy_dirty;     /* refcounts on disk are stale */
    uint64_t free_hint;  /* first cluster index that may be free */
    uint64_t free_byte;  /* next byte for compressed data, 0 = start a new cluster */
    uint8_t *wbuf;       /* two clusters of scratch space for the write path */
    bool l1_dirty;       /* scratch target: the L1 table in memory is newer than on disk */

    struct qcow2_crypt *cr; /* encryption state (qcow2_crypt.c), NULL when not encrypted */
};

/* ---- pure helpers ---- */

static inline uint64_t qcow2_l2_index(unsigned cluster_bits, unsigned l2_bits, uint64_t off)
{
    return (off >> cluster_bits) & ((1ull << l2_bits) - 1);
}
static inline uint64_t qcow2_l1_index(unsigned cluster_bits, unsigned l2_bits, uint64_t off)
{
    return off >> (cluster_bits + l2_bits);
}
/* log2 of the number of entries per L2 table. */
static inline unsigned qcow2_l2_bits(unsigned cluster_bits, bool extended)
{
    return cluster_bits - (extended ? 4 : 3);
}
/* L1 entries needed for a virtual size (no overflow for any 64-bit size). */
static inline uint64_t qcow2_l1_needed(uint64_t size, unsigned cluster_bits, unsigned l2_bits)
{
    unsigned shift = cluster_bits + l2_bits;
    return (size >> shift) + ((size & ((1ull << shift) - 1)) != 0);
}

/* Compressed descriptor: bits 0..x-1 byte offset, x..61 extra sectors, x = 70-cluster_bits. */
static inline void qcow2_cdesc_decode(uint64_t entry, unsigned cluster_bits, uint64_t *off,
                                      uint64_t *nbytes)
{
    unsigned x = 70 - cluster_bits;
    uint64_t offmask = (1ull << x) - 1;
    uint64_t secs = ((entry & ((1ull << 62) - 1)) >> x) + 1;
    *off = entry & offmask;
    *nbytes = secs * 512 - (*off & 511);
}
/* Encode; returns 0 when off/len fit the descriptor, -1 otherwise. */
static inline int qcow2_cdesc_encode(uint64_t off, uint64_t len, unsigned cluster_bits,
                                     uint64_t *entry)
{
    unsigned x = 70 - cluster_bits;
    if (len == 0 || off >= QCOW2_MAX_HOST_OFF || (x < 64 && off >> x))
        return -1;
    uint64_t extra = ((off + len - 1) >> 9) - (off >> 9);
    if (extra >> (cluster_bits - 8))
        return -1;
    *entry = QCOW2_OFLAG_COMPRESSED | (extra << x) | off;
    return 0;
}

/* Refcount entry i of a refcount block of width 1 << order bits. */
static inline uint64_t qcow2_rc_get(const uint8_t *blk, unsigned order, uint64_t i)
{
    unsigned bits = 1u << order;
    switch (order) {
    case 0:
    case 1:
    case 2: {
        unsigned per = 8 / bits, shift = (unsigned)(i % per) * bits;
        return (blk[i / per] >> shift) & ((1u << bits) - 1);
    }
    case 3: return blk[i];
    case 4: return be16_load(blk + 2 * i);
    case 5: return be32_load(blk + 4 * i);
    default: return be64_load(blk + 8 * i);
    }
}
static inline void qcow2_rc_set(uint8_t *blk, unsigned order, uint64_t i, uint64_t v)
{
    unsigned bits = 1u << order;
    switch (order) {
    case 0:
    case 1:
    case 2: {
        unsigned per = 8 / bits, shift = (unsigned)(i % per) * bits;
        unsigned mask = ((1u << bits) - 1) << shift;
        blk[i / per] = (uint8_t)((blk[i / per] & ~mask) | (((unsigned)v << shift) & mask));
        break;
    }
    case 3: blk[i] = (uint8_t)v; break;
    case 4: be16_store(blk + 2 * i, (uint16_t)v); break;
    case 5: be32_store(blk + 4 * i, (uint32_t)v); break;
    default: be64_store(blk + 8 * i, v); break;
    }
}

/* Classify an L2 entry (first word) the way the spec defines it. */
static inline enum qcow2_ctype qcow2_entry_type(uint64_t e, bool extended, bool data_file)
{
    if (e & QCOW2_OFLAG_COMPRESSED)
        return QCOW2_C_COMPRESSED;
    if ((e & QCOW2_OFLAG_ZERO) && !extended)
        return (e & QCOW2_L2_OFFSET_MASK) ? QCOW2_C_ZERO_ALLOC : QCOW2_C_ZERO;
    if (!(e & QCOW2_L2_OFFSET_MASK))
        return (data_file && (e & QCOW2_OFLAG_COPIED)) ? QCOW2_C_DATA : QCOW2_C_UNALLOC;
    return QCOW2_C_DATA;
}

static inline struct qcow2 *qcow2_st(struct img *img)
{
    return img->priv;
}

/* ---- qcow2.c ---- */
int qcow2_cache_init(struct qcow2_cache *c, size_t n, uint32_t cluster_size);
void qcow2_cache_free(struct qcow2_cache *c);
/* Cached copy of the metadata cluster at off (validated: aligned, inside the file). */
int qcow2_cache_get(struct img *img, struct qcow2_cache *c, uint64_t off, const char *what,
                    uint8_t **buf);
/* Put a freshly written cluster into the cache (copying buf). */
void qcow2_cache_put(struct img *img, struct qcow2_cache *c, uint64_t off, const uint8_t *buf);
void qcow2_cache_drop(struct qcow2_cache *c, uint64_t off);
/* Mark the cached cluster at off dirty (written back on eviction or flush). */
void qcow2_cache_dirty(struct qcow2_cache *c, uint64_t off);
/* Cache a new all-zero cluster at off as dirty, without writing it yet (scratch targets). */
int qcow2_cache_new(struct img *img, struct qcow2_cache *c, uint64_t off);
/* Write back every dirty entry. */
int qcow2_cache_writeback(struct img *img, struct qcow2_cache *c);
/* L2 entry (and bitmap for extended L2) for a guest offset; *l2off 0 when no L2 table. */
int qcow2_get_l2(struct img *img, uint64_t guest, uint64_t *l2off, uint64_t *entry,
                 uint64_t *bitmap);
/* Decompress the compressed cluster of an L2 entry into s->cbuf. */
int qcow2_decompress_entry(struct img *img, uint64_t entry);
int qcow2_write_header_field(struct img *img, uint64_t off, const void *p, size_t len);
int qcow2_load_l1(struct img *img, uint64_t off, uint32_t n, uint64_t **out);
int qcow2_read_refblock(struct img *img, uint64_t off, uint8_t **buf);
/* 0, or the error for L1 entry l1i (value e) whose L2 offset is at or beyond 2^56. */
int qcow2_l1e_check(struct img *img, uint64_t l1i, uint64_t e);
/* The error for a data L2 entry e whose offset is at or beyond 2^56 (QCOW2_OFF_HIGH_BITS). */
int qcow2_l2e_high(struct img *img, uint64_t e);

/* ---- qcow2_alloc.c ---- */
int qcow2_get_refcount(struct img *img, uint64_t cluster, uint64_t *rc);
int qcow2_update_refcount(struct img *img, uint64_t cluster, int64_t delta);
/* Write to a host file (img->src or the data file), tracking the file size. */
int qcow2_host_write(struct img *img, struct img_src *src, const void *buf, size_t len,
                     uint64_t off);
/* fsync between a refcount/data step and the table update that depends on it (none when
 * refcounts are lazy). */
int qcow2_barrier(struct img *img);
/* Claim n contiguous free clusters from s->free_hint on (refcount 0 -> 1); no barrier. */
int qcow2_alloc_clusters(struct img *img, uint64_t n, uint64_t *start);
/* Add delta to the refcount of each host cluster an L2 entry uses. */
int qcow2_entry_refs(struct img *img, uint64_t e, int64_t delta);
/* Drop one reference to each host cluster an L2 entry uses. */
int qcow2_free_entry_clusters(struct img *img, uint64_t e);
/* The checks and state set-up before the first change (dirty/corrupt bits, lazy refcounts). */
int qcow2_prepare_write(struct img *img);
/* The L2 table for guest offset off, ours alone: allocated (zeroed) when missing, copied
 * first when a snapshot shares it. */
int qcow2_ensure_l2(struct img *img, uint64_t off, uint64_t *l2off);
int qcow2_write(struct img *img, uint64_t off, const void *buf, size_t len);
int qcow2_write_zeroes(struct img *img, uint64_t off, uint64_t len);
size_t qcow2_compress_cluster(struct img *img, const void *in, size_t len, void *out, size_t cap);
int qcow2_write_compressed_z(struct img *img, uint64_t off, const void *buf, size_t len,
                             const void *z, size_t zlen);
int qcow2_flush(struct img *img);
/* Compress one cluster into out (cap bytes); returns the length, or 0 if it doesn't shrink. */
size_t qcow2_compress(uint8_t type, const uint8_t *in, size_t len, uint8_t *out, size_t cap);
/* Decompress exactly outlen bytes; 0, -1, or -2 for a zstd window larger than outlen needs. */
int qcow2_decompress(uint8_t type, const uint8_t *in, size_t inlen, uint8_t *out, size_t outlen);

/* ---- qcow2_create.c ---- */
int qcow2_create(struct img_create_ctx *c, const struct img_create_req *req, struct img_err *err);
/* Append one header extension (type, length, data padded to 8) at p; returns its size. */
size_t qcow2_put_ext(uint8_t *p, uint32_t type, const void *data, uint32_t len);

/* ---- qcow2_backing.c (set_backing) and qcow2_alloc.c (make_empty) ---- */
int qcow2_set_backing(struct img *img, const char *name, const char *fmt);
int qcow2_make_empty(struct img *img);

/* ---- qcow2_resize.c ---- */
int qcow2_truncate(struct img *img, uint64_t size, enum img_prealloc prealloc);
/* One header write of size, l1_size and l1_table_offset (synced); sets s->size and img->size. */
int qcow2_write_size_l1(struct img *img, uint64_t size, uint64_t l1_size, uint64_t l1_off);

/* ---- qcow2_snapshot.c ---- */
int qcow2_snap_create(struct img *img, const char *name);
int qcow2_snap_apply(struct img *img, const char *id_or_name);
int qcow2_snap_delete(struct img *img, const char *id_or_name);
int qcow2_snap_load(struct img *img, const char *id_or_name);

/* ---- qcow2_bitmap.c ---- */
/* Read the bitmap directory at open (bitmaps extension with autoclear bit 0 set); a damaged
 * one only sets s->bm_bad (reads go on, changes are refused). */
int qcow2_bitmaps_load(struct img *img);
void qcow2_bitmaps_free(struct qcow2 *s);
/* 0, or the refusal (naming them) when enabled bitmaps would miss a change of guest data. */
int qcow2_bitmaps_guard(struct img *img, const char *what);
/* Resize: _begin checks that every bitmap can follow the new size and marks them in use on
 * disk (a crash in between leaves them inconsistent, never wrong); _end rewrites them from
 * old_size to img->size (tables grown or cut, bits past the end cleared) and clears the
 * mark. */
int qcow2_bitmaps_resize_begin(struct img *img, uint64_t size);
int qcow2_bitmaps_resize_end(struct img *img, uint64_t old_size);
int qcow2_bitmap_list(struct img *img, struct img_bitmap **out, size_t *n);
/* Driver slots that change guest data: the bitmap guard, then the real thing. */
int qcow2_bm_write(struct img *img, uint64_t off, const void *buf, size_t len);
int qcow2_bm_write_zeroes(struct img *img, uint64_t off, uint64_t len);
int qcow2_bm_write_compressed_z(struct img *img, uint64_t off, const void *buf, size_t len,
                                const void *z, size_t zlen);

/* ---- qcow2_crypt.c ---- */
int qcow2_crypt_open(struct img *img);
void qcow2_crypt_close(struct img *img);
/* Set up the key (asks for the password) before the first data access or change. */
int qcow2_crypt_ready(struct img *img);
/* The error for compressed clusters in an encrypted image. */
int qcow2_crypt_compressed(struct img *img);
/* Guest data at a host offset of src (guest: its guest offset), through the cipher when the
 * image is encrypted. */
int qcow2_data_read(struct img *img, struct img_src *src, void *buf, size_t len, uint64_t host,
                    uint64_t guest);
int qcow2_data_write(struct img *img, struct img_src *src, const void *buf, size_t len,
                     uint64_t host, uint64_t guest);
void qcow2_crypt_info(struct img *img, struct img_info *info);
/* Encryption of a new image: the header's crypt_method and, for LUKS, the header area. */
struct qcow2_crypt_new {
    unsigned method;
    uint8_t *area; /* LUKS area (malloc'd), NULL otherwise */
    size_t len;
};
/* Take and check the encryption create options and build what the image needs (asks for
 * the password). Free with qcow2_crypt_new_free. */
int qcow2_crypt_create_opts(const char *path, const struct img_create_req *req, unsigned version,
                            enum img_prealloc prealloc, struct qcow2_crypt_new *cn,
                            struct img_err *err);
void qcow2_crypt_new_free(struct qcow2_crypt_new *cn);
/* Add (add) or erase LUKS key slots: slot -1 picks the first free one / erases by the old
 * password; iter_time 0 for the default. Asks for the image's password when needed. */
int qcow2_crypt_amend(struct img *img, bool add, int slot, uint64_t iter_time,
                      const struct img_amend_req *req);

/* ---- qcow2_amend.c ---- */
int qcow2_amend(struct img *img, const struct img_amend_req *req);

/* ---- qcow2_check.c ---- */
int qcow2_check(struct img *img, struct img_check *res, unsigned fix);
int qcow2_layout(struct img *img, struct img_region **out, size_t *n);
/* Recompute every refcount from the references and write a fresh refcount structure. */
int qcow2_rebuild_refcounts(struct img *img);
/* One L1 table of a state being planned: in memory (mem) or on disk at off; n entries. */
struct qcow2_l1ref {
    const uint64_t *mem;
    uint64_t off;
    uint32_t n;
};
/* Count, as check does, the references of a state made of the header cluster, the encryption
 * header, bitmaps, and the L1 tables l1s (l1s[0] the active one) with their L2 tables and the
 * host clusters these reach; the L1 tables' own clusters are not counted. *refs (one counter
 * per cluster of the file, *nb of them) is the caller's to free. Anything check would call
 * corruption is an error (-ERANGE for a refcount overflow). */
int qcow2_count_refs(struct img *img, const struct qcow2_l1ref *l1s, size_t n, uint64_t **refs,
                     uint64_t *nb);

/* ---- qcow2_snapcommit.c ---- */
/* A complete new metadata state for qcow2_commit_state. */
struct qcow2_newstate {
    uint64_t size;      /* virtual disk size */
    const uint64_t *l1; /* the active L1 table (COPIED bits are recomputed) */
    uint32_t l1_size;
    bool l1_moved;                /* the active L1 is not the one on disk (write it fresh) */
    struct qcow2_snapshot *snaps; /* nb entries; l1_offset may be patched */
    uint32_t nb;
    long copy_of_active; /* index of a snapshot whose L1 is a copy of the active one, -1 */
    uint8_t *tbl;        /* the snapshot table (tlen bytes); entry i starts at tstart[i] */
    uint64_t tlen;
    const uint64_t *tstart;
    bool tbl_changed; /* the table differs from the one on disk */
    bool switched;    /* out: the header names the new state (even if an error followed) */
};
/* Switch the image to ns in one header write: tables whose content changes (COPIED bits set
 * exactly where the new refcount is 1) and a new refcount structure go to clusters the current
 * state does not use, synced, then the header, synced; what only the old state used ends with
 * refcount 0. A crash at any point leaves the old or the new state, never a mix. */
int qcow2_commit_state(struct img *img, struct qcow2_newstate *ns);

#endif

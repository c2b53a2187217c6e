/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vmdk.h: what the VMware vmdk driver's files share (formats/vmdk.c: open, read, write, map;
 * formats/vmdk_desc.c: the descriptor text; formats/vmdk_create.c: create and grow).
 *
 * A vmdk image is a descriptor (text, either its own file or embedded in a sparse extent)
 * listing extents in guest order. Each extent is FLAT (a raw piece of a file), ZERO (no file),
 * or SPARSE (a "KDMV" hosted sparse file: header, grain directory, grain tables, grains; the
 * streamOptimized variant stores zlib-compressed grains behind markers), or one of the two
 * read-only kinds read by the same grain code: VMFSSPARSE ("COWD", formats/vmdk_cowd.c) and
 * SESPARSE (formats/vmdk_sesparse.c). Not a public header:
 * only formats/vmdk*.c and tests include it.
 */
#ifndef DIMG_VMDK_H
#define DIMG_VMDK_H

#include "core/block/driver.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#define VMDK_SECTOR 512u
#define VMDK_MAGIC "KDMV"
#define VMDK_GD_AT_END 0xffffffffffffffffull
#define VMDK_FLAG_NL_TEST (1u << 0)
#define VMDK_FLAG_RGD (1u << 1)
#define VMDK_FLAG_ZEROED_GRAIN (1u << 2)
#define VMDK_FLAG_COMPRESSED (1u << 16)
#define VMDK_FLAG_MARKERS (1u << 17)
#define VMDK_GTE_ZEROED 1u
#define VMDK_MARKER_EOS 0
#define VMDK_MARKER_GT 1
#define VMDK_MARKER_GD 2
#define VMDK_MARKER_FOOTER 3

/* Documented limits (README, Limits): what an image may claim before we refuse it. */
#define VMDK_DESC_MAX ((1u << 20) - 1)  /* descriptor text, bytes */
#define VMDK_EXTENTS_MAX 1024           /* extents (and open extent files) per image */
#define VMDK_GRAIN_MAX_SECTORS 0x10000u /* 32 MiB grains: buffers are grain-sized */
#define VMDK_GTES_MAX 512u              /* entries per grain table (QEMU's limit) */
#define VMDK_GD_MAX (32u << 20)         /* grain directory entries */
#define VMDK_GT_CACHE 64                /* grain tables kept in memory per extent */
#define VMDK_DIR_MEM_MAX (256ull << 20) /* grain directories of all extents together, bytes */
#define VMDK_SPLIT_BYTES (2ull << 30)   /* twoGbMaxExtent* piece size */

enum vmdk_access { VMDK_RW, VMDK_RDONLY, VMDK_NOACCESS };
enum vmdk_etype { VMDK_FLAT, VMDK_SPARSE, VMDK_ZERO, VMDK_VMFS, VMDK_VMFSSPARSE, VMDK_SESPARSE };

/* ---- descriptor (vmdk_desc.c) ---- */
struct vmdk_desc_extent {
    enum vmdk_access access;
    uint64_t sectors;
    enum vmdk_etype type;
    char file[512];
    uint64_t offset; /* sectors, FLAT/VMFS only */
};

struct vmdk_desc_kv {
    char key[64];
    char val[256];
    bool quoted;
};

struct vmdk_desc {
    unsigned version;
    uint32_t cid, parent_cid; /* parent_cid 0xffffffff: no parent */
    char create_type[32];
    char parent_hint[1024]; /* parentFileNameHint, "" when none */
    size_t n_ext;
    struct vmdk_desc_extent *ext;
    size_t n_kv; /* every other key (ddb.* and the rest), kept in order for rewriting */
    struct vmdk_desc_kv *kv;
};

/* Parse descriptor text (len bytes, need not be NUL-terminated; stops at the first NUL as an
 * embedded descriptor's padding). Fills d (free with vmdk_desc_free). 0 or -EINVAL with a
 * one-line reason in err. */
int vmdk_desc_parse(const char *text, size_t len, struct vmdk_desc *d, struct img_err *err);
void vmdk_desc_free(struct vmdk_desc *d);
/* Render d as descriptor text (malloc'd, NUL-terminated, *len without the NUL). */
char *vmdk_desc_format(const struct vmdk_desc *d, size_t *len);
/* The value of key (ddb.adapterType, ...), or NULL. */
const char *vmdk_desc_get(const struct vmdk_desc *d, const char *key);
/* Set (or add) key; 0 or -ENOMEM/-EINVAL (value too long). */
int vmdk_desc_set(struct vmdk_desc *d, const char *key, const char *val, bool quoted);
/* Append an extent line; 0 or -ENOMEM/-EINVAL. */
int vmdk_desc_add_extent(struct vmdk_desc *d, enum vmdk_access acc, uint64_t sectors,
                         enum vmdk_etype type, const char *file, uint64_t offset);
/* The descriptor keyword of an extent type ("SPARSE", "FLAT", ...). */
const char *vmdk_etype_name(enum vmdk_etype t);
/* createType values dimg knows (NULL-terminated); create can write the first five. */
extern const char *const vmdk_create_types[];

/* ---- hosted sparse header (vmdk.c) ---- */
struct vmdk_header {
    uint32_t version, flags, gtes;
    uint64_t capacity, grain, desc_off, desc_size, rgd_off, gd_off, overhead; /* sectors */
    uint8_t unclean;
    uint16_t compress;
};
void vmdk_header_load(struct vmdk_header *h, const uint8_t *b);
void vmdk_header_store(const struct vmdk_header *h, uint8_t *b);

/* ---- open state ---- */
struct vmdk_gt {
    uint32_t idx;  /* grain-directory index held, UINT32_MAX when the slot is empty */
    bool dirty;    /* changed in memory, not yet on disk */
    uint32_t *e;   /* gtes entries, host-endian */
    uint64_t used; /* last use, for eviction */
};

struct vmdk_extent {
    enum vmdk_etype type;
    enum vmdk_access access;
    struct img_src *src; /* its file (img->src when the extent is inside it); NULL: ZERO */
    char *file;          /* as the descriptor names it */
    uint64_t start, len; /* guest bytes covered */
    uint64_t flat_off;   /* FLAT: byte offset of the extent in its file */
    uint64_t file_size;  /* tracked across our own appends */
    /* SPARSE only */
    struct vmdk_header h;
    uint64_t grain;     /* bytes */
    uint32_t n_gd;      /* grain-directory entries */
    uint32_t *gd, *rgd; /* host-endian copies (rgd NULL when not in use) */
    bool gd_dirty;
    bool stream;             /* compressed grains behind markers */
    bool tail_mode;          /* stream with GD at the end: tables live in memory (pinned) and
                              * are written with the footer on flush */
    struct vmdk_gt **pinned; /* tail_mode: n_gd grain tables, NULL where none */
    uint64_t tail_off;       /* tail_mode: where the next grain (and then the tail) goes */
    bool tail_dirty;         /* tail_mode: the on-disk tail is stale */
    struct vmdk_gt cache[VMDK_GT_CACHE];
    uint64_t tick;
    /* seSparse only (vmdk_sesparse.c): where its tables and grains live, in sectors */
    struct vmdk_se {
        uint64_t gt_off, grains_off; /* table and grain areas: entries count from there */
        uint64_t area[5][2];         /* other areas (offset, size) for layout and check */
    } se;
};

struct vmdk {
    struct vmdk_desc desc;
    bool has_desc_file;          /* img->fd is a text descriptor (else a sparse file) */
    uint64_t desc_off, desc_cap; /* embedded descriptor: byte offset and room */
    size_t n_ext;
    struct vmdk_extent *ext;
    bool cid_updated; /* the CID was changed after this open's first write */
    bool parent_checked;
    uint64_t dir_mem; /* bytes of grain directories loaded (VMDK_DIR_MEM_MAX) */
    uint8_t *gbuf;    /* one grain (COW fills, compression) */
    uint8_t *zbuf;    /* compressed-grain scratch */
    size_t gbuf_size, zbuf_size;
    struct vmdk_stream *sr; /* read front to back from a stream source (vmdk_stream.c) */
};

/* ---- a streamOptimized vmdk on a source without random access (vmdk_stream.c) ----
 * vmdk.c hands open, read, block status, info and close over when the source has no
 * SRC_CAP_RANDOM. */
struct vmdk_stream;
/* The first bytes start a streamOptimized extent (compressed grains behind markers). */
bool vmdk_stream_head(const uint8_t *head, size_t n);
int vmdk_stream_open(struct img *img);
int vmdk_stream_read(struct img *img, uint64_t off, void *buf, size_t len);
int vmdk_stream_block_status(struct img *img, uint64_t off, uint64_t len, struct img_bs *bs);
int vmdk_stream_get_info(struct img *img, struct img_info *info);
void vmdk_stream_close(struct img *img);

/* ---- vmfsSparse (COWD, vmdk_cowd.c) and seSparse (vmdk_sesparse.c), read-only ----
 * Both fill e->h as if the extent were a hosted sparse one (grain, capacity, 4096 entries per
 * table, directory offset, first data sector) so that vmdk.c's grain machinery reads them;
 * seSparse tables are translated to sector numbers as they are read. e->src and e->file_size
 * are set; they read their own headers, refuse read-write opens, and load the directory. */
#define VMDK_COWD_MAGIC "COWD"
#define VMDK_COWD_HDR 2048u /* bytes */
#define VMDK_COWD_GTES 4096u
#define VMDK_SE_MAGIC 0xcafebabeull
#define VMDK_SE_VERSION 0x0000000200000001ull
#define VMDK_SE_GTES 4096u
int vmdk_cowd_open(struct img *img, struct vmdk_extent *e);
int vmdk_sesparse_open(struct img *img, struct vmdk_extent *e);
/* The 16 bytes that start a seSparse extent (magic and version, little-endian). */
bool vmdk_sesparse_magic(const uint8_t *b, size_t len);
/* Load e->gd from the 64-bit directory; read table gi into t as sector numbers. */
int vmdk_sesparse_gd_read(struct img *img, struct vmdk_extent *e, uint32_t *gd);
int vmdk_sesparse_gt_read(struct img *img, struct vmdk_extent *e, uint32_t gi, uint32_t *t);
/* The seSparse areas besides header, directory and tables, for layout and check. */
void vmdk_sesparse_regions(const struct vmdk_extent *e, struct img_regions *rl);

/* The extent has a file of its own (else it lies in img->src, or is a ZERO extent). */
static inline bool vmdk_ext_own(const struct img *img, const struct vmdk_extent *e)
{
    return e->src && e->src != img->src;
}
/* The message of an extent source's last failure (code r). */
static inline const char *vmdk_ext_msg(const struct vmdk_extent *e, int r)
{
    return e->src ? src_errmsg(e->src, r) : strerror(-r);
}

/* vmdk.c helpers vmdk_create.c also uses. */
int vmdk_sparse_parse(struct img *img, struct vmdk_extent *e, const uint8_t *hdr);
int vmdk_write_desc(struct img *img);
int vmdk_gd_load(struct img *img, struct vmdk_extent *e);
const char *vmdk_ext_name(struct img *img, const struct vmdk_extent *e);
bool vmdk_in_file(const struct vmdk_extent *e, uint64_t sector, uint64_t bytes);
int vmdk_ext_flush(struct img *img, struct vmdk_extent *e);
int vmdk_create(struct img_create_ctx *c, const struct img_create_req *req, struct img_err *err);
int vmdk_truncate(struct img *img, uint64_t size, enum img_prealloc prealloc);
/* The last three sectors b of a stream are footer marker, footer (magic checked) and
 * end-of-stream marker. */
bool vmdk_footer_markers(const uint8_t *b);
/* vmdk_backing.c: the set_backing and make_empty slots. */
int vmdk_set_backing(struct img *img, const char *name, const char *fmt);
int vmdk_make_empty(struct img *img);

#endif

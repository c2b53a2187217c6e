/* SPDX-License-Identifier: GPL-2.0-or-later */
/* map.h: the allocation map model behind the interactive map view.
 *
 * Two views of one image as compact run arrays: the guest view (what each guest byte range
 * is: data, zero, compressed, from a backing file, unallocated), built from ops_map's merged
 * walk of img_block_status through the chain, and the host view (what each range of the
 * image file is: header, tables, data, free...), built from img_layout. map_cells folds runs
 * into screen cells (a dominant state plus the bytes of every state), map_zoom_levels offers
 * the cell sizes, map_partitions the guest's partition starts, map_describe one status line.
 *
 * Talks to: img.h, ops.h (ops_map), ptable.h. Callers: tui/ (the map view). Never prints;
 * the build functions may take a while on big images, so a UI runs them in a job.
 */
#ifndef DIMG_MAP_H
#define DIMG_MAP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/block/img.h"

#define MAP_NO_HOST UINT64_MAX

enum map_state {
    MAP_NONE = 0, /* a cell wholly past the end of the image */
    /* guest view */
    MAP_UNALLOC,    /* no layer holds it (reads as zeros, or from an unopened backing file) */
    MAP_BACKING,    /* a backing layer holds it (depth > 0) */
    MAP_ZERO,       /* this image says zeros */
    MAP_COMPRESSED, /* compressed data (guest), compressed clusters (host) */
    MAP_DATA,       /* data in this image (guest), data clusters (host) */
    /* host view */
    MAP_FREE, /* unused space in the file */
    MAP_LEAKED,
    MAP_META, /* other metadata: extensions, bitmaps directory, descriptor */
    MAP_BITMAP,
    MAP_GRAIN_TABLE,
    MAP_REFBLOCK,
    MAP_L2,
    MAP_BLOCK_MAP,
    MAP_GRAIN_DIR,
    MAP_SNAP_L1,
    MAP_SNAPTABLE,
    MAP_REFTABLE,
    MAP_L1,
    MAP_HEADER,
    MAP_STATE_COUNT
};
/* "data", "zero", "refcount-block", ... (the host names match img_region_name). */
const char *map_state_name(enum map_state s);
/* Which state wins a cell: guest data > compressed > zero > backing > unallocated; host: the
 * most specific metadata (header first) > leaked > data > compressed > free. */
int map_state_priority(enum map_state s);

enum map_view { MAP_VIEW_GUEST, MAP_VIEW_HOST };

struct map_run {
    uint64_t off, len; /* guest offsets (guest view) or file offsets (host view) */
    uint64_t host;     /* guest view: host offset in the answering layer, or MAP_NO_HOST */
    uint8_t state;     /* enum map_state */
    uint8_t flags;     /* guest view: the IMG_BS_* flags of the answering layer */
    uint16_t depth;    /* guest view: chain layer that answered (0 = this image) */
};

struct map_runs {
    enum map_view view;
    uint64_t size;         /* extent covered: virtual size (guest) or file size (host) */
    uint32_t cluster_size; /* of the top image, 0 when the format has none */
    size_t n, cap;
    struct map_run *v; /* sorted, contiguous from 0 to size, equal neighbours merged */
    size_t nlayers;
    char **layers; /* guest view: file name of each chain layer (escaped), by depth */
};

/* Guest view of img through its opened chain. out is reset first; free with map_runs_free.
 * 0, or -errno with err set. */
int map_build_guest(struct img *img, struct map_runs *out, struct img_err *err);
/* The same, stopping with -ECANCELED when *cancel becomes non-zero (checked between runs). */
int map_build_guest_cancel(struct img *img, const atomic_int *cancel, struct map_runs *out,
                           struct img_err *err);
/* Host view from the driver's layout; gaps are MAP_FREE, the extent is the file size. */
int map_build_host(struct img *img, struct map_runs *out, struct img_err *err);
void map_runs_free(struct map_runs *r);
/* Append a run, merging it with the last one when state, depth, flags agree and host
 * offsets continue. Runs must come in order without gaps. 0 or -ENOMEM. */
int map_runs_add(struct map_runs *r, uint64_t off, uint64_t len, enum map_state state,
                 uint64_t host, unsigned flags, unsigned depth);
/* Index of the run holding off, or r->n when off is past the end. */
size_t map_find(const struct map_runs *r, uint64_t off);

struct map_cell {
    uint64_t off, len;               /* the cell's range, clipped to the extent */
    uint8_t state;                   /* dominant state (MAP_NONE when len is 0) */
    uint64_t bytes[MAP_STATE_COUNT]; /* bytes of each state inside the cell */
};
/* Fill ncells cells of bytes_per_cell bytes each, the first starting at start. The last cell
 * may be partial; cells past the extent are empty (MAP_NONE). O(ncells + runs). */
void map_cells(const struct map_runs *r, uint64_t start, uint64_t bytes_per_cell, size_t ncells,
               struct map_cell *out);
/* Share of state s in a cell, 0..1. */
double map_cell_fraction(const struct map_cell *c, enum map_state s);

/* Cell sizes for a map of total bytes on ncells cells: cluster_size << k for k = 0, 1, ...
 * up to the first size at which everything fits (cluster_size 0 counts as 512). Returns the
 * number of levels written to out (at most max). */
size_t map_zoom_levels(uint64_t total, uint32_t cluster_size, size_t ncells, uint64_t *out,
                       size_t max);

/* Partition starts from the guest's MBR/GPT, sorted. *out malloc'd (NULL when there is no
 * table). A guest that cannot be read where the table lies (e.g. an overlay without its
 * backing file) has none; -errno only for out of memory. */
struct map_part {
    uint64_t start, size;
    unsigned number;
};
int map_partitions(struct img *img, struct map_part **out, size_t *n, struct img_err *err);

/* One line about what lies at off: "0x10000+0x20000 (128 KiB) data at host 0x50000, depth 0
 * (disk.qcow2)". Returns buf. */
const char *map_describe(const struct map_runs *r, uint64_t off, char *buf, size_t n);

#endif

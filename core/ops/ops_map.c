/* SPDX-License-Identifier: GPL-2.0-or-later */
/* ops_map.c: ops_map(), the guest allocation map of an image chain as merged runs.
 *
 * Asks img_block_status (which resolves the backing chain) for runs and merges neighbours the
 * way qemu-img map does: same depth, same present/zero/data flags, and host offsets that
 * continue each other. Rendering (JSON or the human table) is the caller's.
 * Talks to: img.h. Never prints.
 */
#include "core/ops/ops.h"
#include "core/block/driver.h"
#include "core/base/io.h"

#include <string.h>

static const struct img *map_layer(const struct img *img, unsigned depth)
{
    while (depth-- > 0 && img->backing)
        img = img->backing;
    return img;
}

static bool map_mergeable(const struct ops_map_entry *a, const struct ops_map_entry *b)
{
    return a->depth == b->depth && a->present == b->present && a->zero == b->zero &&
           a->data == b->data && a->compressed == b->compressed && a->has_offset == b->has_offset &&
           a->other_file == b->other_file &&
           (!a->has_offset || (a->offset + a->length == b->offset && a->file_src == b->file_src &&
                               a->file_fd == b->file_fd));
}

/* Data at a host offset that is a hole in its file (preallocation=metadata, a sparse copy of
 * one: the driver says IMG_BS_HOST_HOLES) reads as zeros: qemu-img map says "zero": true
 * there, and ends the run where the file's hole or data ends. A file system without
 * SEEK_HOLE answers "data". */
static void map_host_zero(struct ops_map_entry *e, int fd, struct img_src *src)
{
    uint64_t size, end;
    int is_data = 1;
    if (src) { /* the layer's own source (an NBD export too): what it says is zero */
        unsigned state;
        if (src_size(src, &size) < 0)
            return;
        if (e->offset >= size) {
            e->zero = true;
            return;
        }
        if (src_extent(src, e->offset, size, &state, &end) < 0)
            return;
        if (end - e->offset < e->length)
            e->length = end - e->offset;
        e->zero = (state & SRC_EXT_ZERO) != 0;
        return;
    }
    if (fd < 0 || io_file_size(fd, &size) < 0)
        return;
    if (e->offset >= size) {
        e->zero = true; /* past the end of the file: zeros, the whole run */
        return;
    }
    if (io_seek_extent(fd, e->offset, size, &is_data, &end) < 0 || end <= e->offset)
        return;
    if (end - e->offset < e->length)
        e->length = end - e->offset;
    e->zero = !is_data;
}

int ops_map(struct img *img, uint64_t start, uint64_t len,
            int (*cb)(void *ctx, const struct ops_map_entry *e), void *ctx)
{
    uint64_t end = start + len;
    if (end < start || end > img->size)
        end = img->size;
    struct ops_map_entry cur;
    bool have = false;
    memset(&cur, 0, sizeof cur);
    for (uint64_t off = start; off < end;) {
        /* The whole rest in one request: drivers answer an empty L1 range or a zero extent
         * in one run, and a fixed bound (qemu-img's 1 GiB) made a 4 EiB extent 2^32
         * requests. Merging makes the runs the same either way. */
        struct img_bs bs;
        int r = img_block_status(img, off, end - off, &bs);
        if (r < 0)
            return r;
        struct ops_map_entry next = {
            .start = off,
            .length = bs.len,
            .depth = bs.depth,
            .present = (bs.flags & IMG_BS_ALLOCATED) != 0,
            .zero = (bs.flags & IMG_BS_ZERO) != 0,
            .data = (bs.flags & IMG_BS_DATA) != 0,
            .compressed = (bs.flags & IMG_BS_COMPRESSED) != 0,
            /* A compressed run's host offset is a compressed stream, not a mapping. */
            .has_offset = (bs.flags & IMG_BS_OFFSET_VALID) && !(bs.flags & IMG_BS_COMPRESSED),
            .offset = bs.host_off,
            .layer = map_layer(img, bs.depth),
            .other_file = (bs.flags & IMG_BS_OFFSET_VALID) && (bs.flags & IMG_BS_HOST_FILE),
        };
        /* The layer's own file is asked through its source (any kind); another file (an
         * extent, a data file) through the source the driver gave; a handle without a
         * source (an archive member's temporary copy) by its descriptor. */
        next.file_src = next.other_file ? bs.host_src : next.layer->src;
        next.file_fd = next.file_src ? -1 : next.layer->fd;
        next.file_name = next.other_file ? bs.host_name : NULL;
        if (!next.has_offset)
            next.offset = 0;
        else if (next.data && !next.zero && (bs.flags & IMG_BS_HOST_HOLES))
            map_host_zero(&next, next.file_fd, next.file_src);
        bs.len = next.length;
        if (have && map_mergeable(&cur, &next)) {
            cur.length += next.length;
        } else {
            if (have && (r = cb(ctx, &cur)) != 0)
                return r;
            cur = next;
            have = true;
        }
        off += bs.len;
    }
    return have ? cb(ctx, &cur) : 0;
}

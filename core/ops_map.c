/* ops_map.c: ops_map(), the guest allocation map of an image chain as merged runs.
 *
 * Asks img_block_status (which resolves the backing chain) for runs and merges neighbours the
 * way qemu-img map does: same depth, same present/zero/data flags, and host offsets that
 * continue each other. Rendering (JSON or the human table) is the caller's.
 * Talks to: img.h. Never prints.
 */
#include "core/ops.h"

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
           a->data == b->data && a->compressed == b->compressed &&
           a->has_offset == b->has_offset &&
           (!a->has_offset || a->offset + a->length == b->offset);
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
        };
        if (!next.has_offset)
            next.offset = 0;
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

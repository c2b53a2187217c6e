/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vmdk_backing.c: a vmdk child's parent link rewritten (rebase, commit) and a child emptied
 * into its parent (commit).
 *
 * A child names its parent in the descriptor: parentFileNameHint (the file) and parentCID
 * (the parent's content ID when the child was made; a child reads through a parent only while
 * they match). set_backing opens the new parent to learn its CID and renders the descriptor
 * again with the new hint and parentCID, or, to flatten, with neither (parentCID ffffffff).
 * The text reaches the disk so that a crash leaves the old or the new descriptor readable:
 * a descriptor file is replaced by rename; the descriptor embedded in a monolithicSparse
 * file is switched through a spare copy the header points at meanwhile (see embed_write).
 * make_empty zeroes the grain tables of every sparse extent, so that the child reads its
 * parent everywhere; grains left behind are unreferenced space, never a wrong reference.
 * Talks to: formats/vmdk_desc.c (rendering), formats/vmdk.c (state, vmdk_ext_flush),
 * core/block/img.c (img_open of the new parent), core/block/rewrite.c (the new descriptor
 * file). The slots are wired in vmdk.c.
 */
#include "formats/vmdk.h"

#include "core/base/bytes.h"
#include "core/base/io.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ULL(x) ((unsigned long long)(x))
#define VMDK_HDR_DESC_OFF 28  /* le64 sectors, in the sparse header */
#define VMDK_HDR_DESC_SIZE 36 /* le64 sectors */

/* The CID of the vmdk at name (resolved against the child's directory), which must be
 * another file than the child. */
static int parent_cid(struct img *img, const char *name, uint32_t *cid)
{
    if (img->flags & IMG_OPEN_UNTRUSTED)
        return img_error(img, -EPERM,
                         "parent '%s' not opened: external references are disabled "
                         "(--untrusted)",
                         name);
    if (strncmp(name, "json:", 5) == 0 || strstr(name, "://"))
        return img_error(img, -EPERM, "parent '%s' is not a plain file name", name);
    char *full = io_path_join(img->dir, name);
    if (!full)
        return img_error(img, -ENOMEM, "out of memory");
    struct img_err perr = {0};
    struct img *p = img_open(full, "vmdk", 0, &perr);
    free(full);
    if (!p)
        return img_error(img, perr.code ? perr.code : -EIO,
                         "the parent's CID is needed for the link: %s", perr.msg);
    int r = 0;
    if (p->st_dev == img->st_dev && p->st_ino == img->st_ino)
        r = img_error(img, -ELOOP, "'%s' is this image itself", name);
    *cid = ((const struct vmdk *)p->priv)->desc.cid;
    img_close(p);
    return r;
}

/* Replace the descriptor file by rename (core/block/rewrite.c): the new text goes to
 * PATH.part (same mode), which is synced, locked when the handle is, renamed over the old
 * one; the handle's source then is the new file, so that later CID updates land there.
 * Regular files only (a rename has no meaning on a device or an NBD export). */
static int file_write(struct img *img, const char *text, size_t n)
{
    struct img_rewrite *rw;
    struct img_src *dst;
    int r = img_rewrite_begin(img, &rw, &dst);
    if (r < 0)
        return r;
    if ((r = src_pwrite(dst, text, n, 0)) < 0) {
        r = img_error(img, r, "writing the new descriptor of %s: %s", img->path,
                      src_errmsg(dst, r));
        img_rewrite_abort(rw);
        return r;
    }
    return img_rewrite_commit(img, rw);
}

static int sync_or_fail(struct img *img)
{
    int r = src_flush(img->src);
    return r < 0 ? img_error(img, r, "flush: %s", src_errmsg(img->src, r)) : 0;
}

/* Point the header's descriptor fields at [off, off+size) sectors: one sector written. */
static int header_point(struct img *img, uint8_t *hdr, uint64_t off, uint64_t size)
{
    le64_store(hdr + VMDK_HDR_DESC_OFF, off);
    le64_store(hdr + VMDK_HDR_DESC_SIZE, size);
    int r = src_pwrite(img->src, hdr, VMDK_SECTOR, 0);
    if (r < 0)
        return img_error(img, r, "writing the header: %s", src_errmsg(img->src, r));
    return sync_or_fail(img);
}

/* The descriptor embedded in a sparse file has a fixed area (desc_cap bytes at desc_off) and
 * no room elsewhere, so the new text is switched in through the area's second half:
 *   1. the new text, NUL-padded, into the second half (nothing reads it yet); sync
 *   2. the header points at the second half (a single-sector write); sync
 *   3. the new text, NUL-padded, into the first half (nothing reads it now), its first
 *      sector as a write of its own, last; sync
 *   4. the header points at the whole area again; sync
 *   5. the second half zeroed (after the first half's NUL, so never read); sync
 * Every state in between has a header pointing at a complete old or new text. Both texts
 * must therefore fit in half the area (with a NUL). QEMU reads the embedded descriptor at
 * byte 512 whatever the header says, and takes CID, parentCID and parentFileNameHint from
 * the first lines: until step 3 it sees the old text, and step 3 writes the sector holding
 * those lines by itself (one sector, whole or not at all), so QEMU too sees the old or the
 * new link (the lines fit in that sector unless the name is several hundred bytes); the rest
 * of its copy may be mixed for a moment, which QEMU does not use for a sparse child. */
static int embed_write(struct img *img, const char *text, size_t n)
{
    struct vmdk *s = img->priv;
    uint64_t half_sec = s->desc_cap / VMDK_SECTOR / 2, half = half_sec * VMDK_SECTOR;
    if (s->desc_off % VMDK_SECTOR || n >= half)
        return img_error(img, -ENOSPC,
                         "the new descriptor (%zu bytes) does not fit crash-safely in "
                         "the %llu-byte embedded descriptor area (at most %llu bytes)",
                         n, ULL(s->desc_cap), ULL(half ? half - 1 : 0));
    uint8_t hdr[VMDK_SECTOR];
    char *area = calloc(1, s->desc_cap);
    int r = area ? 0 : img_error(img, -ENOMEM, "out of memory");
    if (r == 0 && ((r = src_pread(img->src, hdr, sizeof hdr, 0)) < 0 ||
                   (r = src_pread(img->src, area, s->desc_cap, s->desc_off)) < 0))
        r = img_error(img, r, "reading the header: %s", src_errmsg(img->src, r));
    if (r < 0)
        goto out;
    uint64_t sec = s->desc_off / VMDK_SECTOR, size = s->desc_cap / VMDK_SECTOR;
    if (le64_load(hdr + VMDK_HDR_DESC_OFF) != sec || le64_load(hdr + VMDK_HDR_DESC_SIZE) != size) {
        r = img_error(img, -EIO, "the header changed under the open image");
        goto out;
    }
    if (memchr(area, 0, half) == NULL) {
        r = img_error(img, -ENOSPC,
                      "the current descriptor fills more than half of its %llu-byte "
                      "area; it cannot be switched crash-safely",
                      ULL(s->desc_cap));
        goto out;
    }
    memset(area, 0, half);
    memcpy(area, text, n);
    if ((r = src_pwrite(img->src, area, half, s->desc_off + half)) < 0 ||
        (r = src_flush(img->src)) < 0) {
        r = img_error(img, r, "writing the descriptor: %s", src_errmsg(img->src, r));
        goto out;
    }
    if ((r = header_point(img, hdr, sec + half_sec, half_sec)) < 0)
        goto out;
    /* Its first sector last (see above). */
    if ((r = src_pwrite(img->src, area + VMDK_SECTOR, half - VMDK_SECTOR,
                        s->desc_off + VMDK_SECTOR)) < 0 ||
        (r = src_flush(img->src)) < 0 ||
        (r = src_pwrite(img->src, area, VMDK_SECTOR, s->desc_off)) < 0 ||
        (r = src_flush(img->src)) < 0) {
        r = img_error(img, r, "writing the descriptor: %s", src_errmsg(img->src, r));
        goto out;
    }
    if ((r = header_point(img, hdr, sec, size)) < 0)
        goto out;
    if ((r = src_write_zeros(img->src, s->desc_off + half, s->desc_cap - half)) < 0 ||
        (r = src_flush(img->src)) < 0)
        r = img_error(img, r, "clearing the spare descriptor copy: %s", src_errmsg(img->src, r));
out:
    free(area);
    return r;
}

int vmdk_set_backing(struct img *img, const char *name, const char *fmt)
{
    struct vmdk *s = img->priv;
    if (name && fmt && strcmp(fmt, "vmdk") != 0)
        return img_error(img, -EINVAL, "the parent of a vmdk must be a vmdk image, not %s", fmt);
    if (!s->has_desc_file && !s->desc_cap)
        return img_error(img, -ENOTSUP, "this sparse file has no descriptor to record a parent in");
    struct vmdk_desc nd = s->desc; /* shares the extent and key arrays: only read */
    if (name) {
        if (strlen(name) >= sizeof nd.parent_hint || strchr(name, '"') || strchr(name, '\n'))
            return img_error(img, -EINVAL,
                             "the parent name must be at most %zu bytes, without "
                             "quotes or newlines",
                             sizeof nd.parent_hint - 1);
        int r = parent_cid(img, name, &nd.parent_cid);
        if (r < 0)
            return r;
        strcpy(nd.parent_hint, name);
    } else {
        nd.parent_cid = 0xffffffffu;
        nd.parent_hint[0] = 0;
    }
    size_t n;
    char *text = vmdk_desc_format(&nd, &n);
    if (!text)
        return img_error(img, -ENOMEM, "out of memory");
    char *bn = name ? strdup(name) : NULL, *bf = name ? strdup("vmdk") : NULL;
    int r = (name && (!bn || !bf)) ? img_error(img, -ENOMEM, "out of memory")
            : s->has_desc_file     ? file_write(img, text, n)
                                   : embed_write(img, text, n);
    free(text);
    if (r < 0) {
        free(bn);
        free(bf);
        return r;
    }
    s->desc.parent_cid = nd.parent_cid;
    memcpy(s->desc.parent_hint, nd.parent_hint, sizeof nd.parent_hint);
    s->parent_checked = false;
    free(img->backing_name);
    free(img->backing_fmt);
    img->backing_name = bn;
    img->backing_fmt = bf;
    return 0;
}

int vmdk_make_empty(struct img *img)
{
    struct vmdk *s = img->priv;
    for (size_t i = 0; i < s->n_ext; i++)
        if (s->ext[i].type != VMDK_SPARSE || s->ext[i].stream)
            return img_error(img, -ENOTSUP,
                             "only hosted sparse extents (not flat, zero or "
                             "streamOptimized ones) can be emptied");
    for (size_t i = 0; i < s->n_ext; i++) {
        struct vmdk_extent *e = &s->ext[i];
        /* Dirty tables first, so that nothing cached is written over the zeros later. */
        int r = vmdk_ext_flush(img, e);
        if (r < 0)
            return r;
        uint64_t tbytes = (uint64_t)e->h.gtes * 4;
        for (uint32_t gi = 0; gi < e->n_gd; gi++) {
            if (e->gd[gi] &&
                (r = src_write_zeros(e->src, (uint64_t)e->gd[gi] * VMDK_SECTOR, tbytes)) < 0)
                break;
            if (e->rgd && e->rgd[gi] &&
                (r = src_write_zeros(e->src, (uint64_t)e->rgd[gi] * VMDK_SECTOR, tbytes)) < 0)
                break;
        }
        if (r == 0)
            r = src_flush(e->src);
        if (r < 0)
            return img_error(img, r, "emptying the grain tables: %s", vmdk_ext_msg(e, r));
        for (int k = 0; k < VMDK_GT_CACHE; k++)
            if (e->cache[k].idx != UINT32_MAX) {
                memset(e->cache[k].e, 0, tbytes);
                e->cache[k].dirty = false;
            }
    }
    return 0;
}

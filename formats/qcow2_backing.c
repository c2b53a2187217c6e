/* SPDX-License-Identifier: GPL-2.0-or-later */
/* qcow2_backing.c: rewriting the backing file name and format of a qcow2 image (rebase).
 *
 * The name lives in cluster 0 after the header extensions; the format is the 0xE2792ACA
 * extension. The new cluster-0 image is built in memory from the header and extensions on
 * disk (other extensions, unknown ones included, are kept byte for byte), the new name is
 * written first to bytes of cluster 0 nothing uses yet, then, after a barrier, the header
 * and extension area are switched in one write. A crash before the switch leaves the old
 * name in force; only when cluster 0 has no such room is the name written with the switch.
 * Talks to: qcow2.h (state, qcow2_put_ext), core/base/io.c. The slot is wired in qcow2.c.
 */
#include "formats/qcow2.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/io.h"

#define ULL(x) ((unsigned long long)(x))

/* Copy the extensions of the on-disk cluster 0 (old) except the backing format into nw at
 * *p, recording the new payload offsets of the unknown ones. */
static int copy_extensions(struct img *img, const uint8_t *old, uint8_t *nw, uint64_t *p)
{
    struct qcow2 *s = qcow2_st(img);
    uint64_t off = s->header_length;
    size_t unknown = 0;
    while (off + 8 <= s->ext_end) {
        uint32_t type = be32_load(old + off), len = be32_load(old + off + 4);
        uint64_t sz = 8 + u64_align_up(len, 8);
        if (type == QCOW2_EXT_END)
            break;
        if (off + sz > s->cluster_size || *p + sz > s->cluster_size)
            return img_error(img, -EINVAL, "header extensions do not fit in cluster 0");
        if (type != QCOW2_EXT_BACKING_FMT) {
            memcpy(nw + *p, old + off, sz);
            if (type == QCOW2_EXT_BITMAPS)
                s->bitmap_ext_off = *p + 8;
            if (unknown < s->nunknown && s->unknown[unknown].type == type &&
                s->unknown[unknown].off == off + 8)
                s->unknown[unknown++].off = *p + 8;
            *p += sz;
        }
        off += sz;
    }
    return 0;
}

static int set_names(struct img *img, const char *name, const char *fmt)
{
    char *n = name ? strdup(name) : NULL, *f = fmt ? strdup(fmt) : NULL;
    if ((name && !n) || (fmt && !f)) {
        free(n);
        free(f);
        return img_error(img, -ENOMEM, "out of memory");
    }
    free(img->backing_name);
    free(img->backing_fmt);
    img->backing_name = n;
    img->backing_fmt = f;
    return 0;
}

int qcow2_set_backing(struct img *img, const char *name, const char *fmt)
{
    struct qcow2 *s = qcow2_st(img);
    uint64_t cs = s->cluster_size;
    size_t nl = name ? strlen(name) : 0, fl = (name && fmt) ? strlen(fmt) : 0;
    if (nl > QCOW2_MAX_BACKING_NAME)
        return img_error(img, -EINVAL, "backing file name longer than %u bytes",
                         QCOW2_MAX_BACKING_NAME);
    if (fl > 31)
        return img_error(img, -EINVAL, "backing format name longer than 31 bytes");
    if (nl && (s->autoclear & QCOW2_AUTOCLEAR_DATA_RAW) && s->data_src != NULL)
        return img_error(img, -EINVAL,
                         "an image with a raw external data file cannot "
                         "have a backing file");
    if (s->incompat & QCOW2_INCOMPAT_CORRUPT)
        return img_error(img, -EROFS, "image is marked corrupt; repair it first");
    uint8_t *old = malloc(cs), *nw = calloc(1, cs);
    int r = (old && nw) ? 0 : img_error(img, -ENOMEM, "out of memory");
    if (r == 0 && (r = src_pread_zero(img->src, old, cs, 0)) < 0)
        r = img_error(img, r, "reading the header: %s", strerror(-r));
    uint64_t p = s->header_length;
    if (r == 0) {
        memcpy(nw, old, s->header_length);
        if (fl)
            p += qcow2_put_ext(nw + p, QCOW2_EXT_BACKING_FMT, fmt, (uint32_t)fl);
        r = copy_extensions(img, old, nw, &p);
    }
    if (r == 0 && p + 8 > cs)
        r = img_error(img, -EINVAL, "header extensions do not fit in cluster 0");
    if (r < 0)
        goto out;
    p += 8; /* end marker (zeros) */
    /* Room for the name that neither the old nor the new header uses: after both. */
    uint64_t live = s->ext_end > p ? s->ext_end : p;
    if (s->backing_off && s->backing_off + s->backing_len > live)
        live = s->backing_off + s->backing_len;
    bool early = nl && live + nl <= cs;
    uint64_t pos = early ? live : p, wlen = p;
    if (nl && pos + nl > cs) {
        r = img_error(img, -EINVAL,
                      "backing file name does not fit in cluster 0 "
                      "(%llu bytes left)",
                      ULL(cs - p));
        goto out;
    }
    be64_store(nw + QCOW2_H_BACKING_OFF, nl ? pos : 0);
    be32_store(nw + QCOW2_H_BACKING_LEN, (uint32_t)nl);
    if (nl)
        memcpy(nw + pos, name, nl);
    if (early) {
        if ((r = src_pwrite(img->src, nw + pos, nl, pos)) < 0 || (r = src_flush(img->src)) < 0) {
            r = img_error(img, r, "writing the backing file name: %s", strerror(-r));
            goto out;
        }
    } else if (nl) {
        wlen = pos + nl;
    }
    if ((r = src_pwrite(img->src, nw, wlen, 0)) < 0 || (r = src_flush(img->src)) < 0) {
        r = img_error(img, r, "writing the header: %s", strerror(-r));
        goto out;
    }
    if (wlen > s->file_size)
        s->file_size = wlen;
    s->ext_end = p;
    s->backing_off = nl ? pos : 0;
    s->backing_len = (uint32_t)nl;
    r = set_names(img, name, fl ? fmt : NULL);
out:
    free(old);
    free(nw);
    return r;
}

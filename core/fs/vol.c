/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vol.c: the volumes of an image: the whole disk, its MBR/GPT partitions (core/block/ptable.h,
 * logical ones included) and the LVM2 logical volumes on them (lvm_scan in lvm.c), each probed
 * for a filesystem (fs.c) and described through the driver's info slot; reading a volume
 * through its segments with bounds checks; choosing one by its name for IMAGE#VOL. Talks to
 * core/fs/fs.h, core/block/ptable.h and img_read.
 */
#include "core/fs/fs.h"

#include <errno.h>
#include <stdio.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "core/block/ptable.h"

int fs_vol_to_img(const struct fs_vol *v, uint64_t off, uint64_t *img_off, uint64_t *run)
{
    if (off >= v->size)
        return -EIO;
    /* Segments are sorted and contiguous: a binary search for the one holding off. */
    size_t lo = 0, hi = v->nseg;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const struct fs_seg *s = &v->seg[mid];
        if (off < s->vol_off)
            hi = mid;
        else if (off - s->vol_off >= s->len)
            lo = mid + 1;
        else {
            *img_off = s->img_off + (off - s->vol_off);
            *run = s->len - (off - s->vol_off);
            return 0;
        }
    }
    return -EIO;
}

int fs_vol_read(const struct fs_vol *v, uint64_t off, void *buf, size_t len, struct img_err *err)
{
    uint8_t *p = buf;
    char d[160];
    if (off > v->size || len > v->size - off)
        return err_set(err, -EIO,
                       "read of %zu bytes at %" PRIu64 " past the end of %s (%" PRIu64 " bytes)",
                       len, off, fs_vol_desc(v, d, sizeof d), v->size);
    while (len) {
        uint64_t io, run;
        if (fs_vol_to_img(v, off, &io, &run) < 0)
            return err_set(err, -EIO, "%s: offset %" PRIu64 " is in no segment",
                           fs_vol_desc(v, d, sizeof d), off);
        size_t n = run < len ? (size_t)run : len;
        if (io > img_size(v->img) || n > img_size(v->img) - io)
            return err_set(err, -EIO, "%s lies past the end of the image",
                           fs_vol_desc(v, d, sizeof d));
        int r = img_read(v->img, io, p, n);
        if (r < 0)
            return err_set(err, r, "%s", img_errmsg(v->img));
        p += n;
        off += n;
        len -= n;
    }
    return 0;
}

/* ---- the list ---- */

struct vol_list {
    struct fs_vol_info *v;
    size_t n, cap;
};

/* A new entry with one segment [img_off, img_off + size). */
static struct fs_vol_info *vol_add(struct vol_list *l, struct img *img, enum fs_vol_kind kind,
                                   const char *name, uint64_t img_off, uint64_t size,
                                   struct img_err *err)
{
    if (l->n >= FS_VOLUMES_MAX) {
        err_set(err, -EFBIG, "more than %d volumes", FS_VOLUMES_MAX);
        return NULL;
    }
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        struct fs_vol_info *v = realloc(l->v, cap * sizeof *v);
        if (!v) {
            err_set(err, -ENOMEM, "out of memory");
            return NULL;
        }
        l->v = v;
        l->cap = cap;
    }
    struct fs_vol_info *e = &l->v[l->n];
    memset(e, 0, sizeof *e);
    e->vol.seg = malloc(sizeof *e->vol.seg);
    if (!e->vol.seg) {
        err_set(err, -ENOMEM, "out of memory");
        return NULL;
    }
    l->n++;
    e->vol.img = img;
    e->vol.kind = kind;
    snprintf(e->vol.name, sizeof e->vol.name, "%s", name);
    e->vol.size = size;
    e->vol.nseg = 1;
    e->vol.seg[0] = (struct fs_seg){0, img_off, size};
    return e;
}

/* Is the entry's volume a sane segment list inside the image? (lvm_scan's output is checked
 * like anything else derived from an image.) */
static bool vol_sane(const struct fs_vol *v)
{
    uint64_t pos = 0, isz = img_size(v->img);
    if (!v->seg || v->nseg == 0)
        return false;
    for (size_t i = 0; i < v->nseg; i++) {
        const struct fs_seg *s = &v->seg[i];
        if (s->vol_off != pos || s->len == 0 || s->img_off > isz || s->len > isz - s->img_off)
            return false;
        pos += s->len;
    }
    return pos == v->size;
}

/* The logical volumes of pv (entry l->v[at]) appended to l (names already listed are dropped:
 * an LV on several PVs is found from each). Damaged LVM metadata is a note on the PV's entry,
 * not a failure of the whole list. */
static int vol_add_lvs(struct vol_list *l, const struct fs_vol *pv, size_t at, struct img_err *err)
{
    struct fs_vol_info *lv = NULL;
    size_t nlv = 0;
    struct img_err lerr = {0};
    int r = lvm_scan(pv, &lv, &nlv, &lerr);
    if (r < 0) {
        fs_volumes_free(lv, nlv);
        if (r == -ENOMEM)
            return err_set(err, r, "%s", lerr.msg);
        snprintf(l->v[at].note, sizeof l->v[at].note, "%.*s", (int)sizeof l->v[at].note - 1,
                 lerr.msg);
        return 0;
    }
    for (size_t i = 0; i < nlv && r == 0; i++) {
        bool dup = false;
        for (size_t k = 0; k < l->n; k++)
            dup |= l->v[k].vol.kind == FS_VOL_LV && strcmp(l->v[k].vol.name, lv[i].vol.name) == 0;
        if (dup)
            continue;
        if (l->n >= FS_VOLUMES_MAX) {
            r = err_set(err, -EFBIG, "more than %d volumes", FS_VOLUMES_MAX);
            break;
        }
        if (l->n == l->cap) {
            size_t cap = l->cap ? l->cap * 2 : 8;
            struct fs_vol_info *v = realloc(l->v, cap * sizeof *v);
            if (!v) {
                r = err_set(err, -ENOMEM, "out of memory");
                break;
            }
            l->v = v;
            l->cap = cap;
        }
        lv[i].vol.img = pv->img;
        lv[i].vol.kind = FS_VOL_LV;
        if (lv[i].vol.nseg && !vol_sane(&lv[i].vol)) {
            free(lv[i].vol.seg);
            lv[i].vol.seg = NULL;
            lv[i].vol.nseg = 0;
            snprintf(lv[i].note, sizeof lv[i].note, "segments outside the physical volume");
        }
        l->v[l->n++] = lv[i];
        lv[i].vol.seg = NULL; /* moved */
    }
    fs_volumes_free(lv, nlv);
    return r;
}

/* The disk, its partitions and logical volumes, not probed yet. The whole disk is listed
 * first; fs_volumes drops it when a partition table holds the filesystems. */
static int vol_collect(struct img *img, struct vol_list *l, struct ptable *pt, struct img_err *err)
{
    int r = ptable_read(img, pt, err);
    if (r < 0)
        return r;
    if (!vol_add(l, img, FS_VOL_DISK, "", 0, img_size(img), err))
        return err->code;
    struct fs_vol disk = l->v[0].vol; /* vol_add_lvs may move l->v */
    if ((r = vol_add_lvs(l, &disk, 0, err)) < 0)
        return r;
    snprintf(l->v[0].type, sizeof l->v[0].type, "disk");
    for (size_t i = 0; i < pt->n; i++) {
        const struct ptable_part *p = &pt->parts[i];
        char name[16];
        snprintf(name, sizeof name, "%u", p->number);
        if (p->size == 0 || p->start >= img_size(img) || p->size > img_size(img) - p->start)
            continue; /* ptable_read reports such a table as damaged; nothing to read here */
        struct fs_vol_info *e = vol_add(l, img, FS_VOL_PART, name, p->start, p->size, err);
        if (!e)
            return err->code;
        if (p->type_name && p->type_name[0])
            snprintf(e->type, sizeof e->type, "%s", p->type_name);
        else
            snprintf(e->type, sizeof e->type, "%s", p->type);
        struct fs_vol pv = e->vol; /* vol_add_lvs may move l->v */
        if ((r = vol_add_lvs(l, &pv, l->n - 1, err)) < 0)
            return r;
    }
    return 0;
}

/* Probe e for a filesystem and fill fs, label, uuid, used. */
static void vol_probe(struct fs_vol_info *e)
{
    struct img_err err = {0}, perr = {0};
    struct fs *fs;
    bool browsable;
    e->browsable = false;
    if (e->vol.nseg == 0)
        return;
    if (fs_open(&e->vol, &fs, &err) == 0) {
        e->browsable = true;
        snprintf(e->fs, sizeof e->fs, "%s", fs->fs_name);
        if (fs->drv->info)
            fs->drv->info(fs, e);
        fs_close(fs);
        return;
    }
    /* Not opened: name what is there; the error says more only when a reader claimed the
     * volume and failed (a damaged filesystem), or reading failed. */
    bool named = fs_probe_name(&e->vol, e->fs, sizeof e->fs, &browsable, &perr) == 0;
    if (e->note[0])
        return; /* lvm_scan's own word on this volume */
    if (!named || err.code != -ENOTSUP || browsable)
        snprintf(e->note, sizeof e->note, "%.*s", (int)sizeof e->note - 1, err.msg);
    else if (strcmp(e->fs, "LVM2_member") == 0)
        snprintf(e->note, sizeof e->note, "LVM2 physical volume");
}

int fs_volumes(struct img *img, struct fs_vol_info **out, size_t *n, struct img_err *err)
{
    struct vol_list l = {0};
    struct ptable pt = {0};
    *out = NULL;
    *n = 0;
    int r = vol_collect(img, &l, &pt, err);
    if (r < 0) {
        ptable_free(&pt);
        fs_volumes_free(l.v, l.n);
        return r;
    }
    for (size_t i = 0; i < l.n; i++)
        vol_probe(&l.v[i]);
    /* The whole disk stays when nothing divides it, or when it holds a filesystem itself (a
     * hybrid ISO has both). */
    if (pt.kind != PTABLE_NONE && !l.v[0].fs[0] && l.n > 1) {
        free(l.v[0].vol.seg);
        memmove(&l.v[0], &l.v[1], (l.n - 1) * sizeof *l.v);
        l.n--;
    }
    ptable_free(&pt);
    *out = l.v;
    *n = l.n;
    return 0;
}

void fs_volumes_free(struct fs_vol_info *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        free(v[i].vol.seg);
    free(v);
}

void fs_vol_free(struct fs_vol *v)
{
    if (!v)
        return;
    free(v->seg);
    free(v);
}

/* "#1 (ext4), #2 (swap), #vg0/root" into buf. */
static void vol_choices(const struct fs_vol_info *v, size_t n, bool browsable_only, char *buf,
                        size_t len)
{
    size_t pos = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n && pos < len; i++) {
        if (browsable_only && !v[i].browsable)
            continue;
        int w = snprintf(buf + pos, len - pos, "%s#%s%s%s%s", pos ? ", " : "",
                         v[i].vol.kind == FS_VOL_DISK ? "0" : v[i].vol.name, v[i].fs[0] ? " (" : "",
                         v[i].fs, v[i].fs[0] ? ")" : "");
        if (w < 0)
            break;
        pos += (size_t)w;
    }
    if (pos >= len && len > 4)
        strcpy(buf + len - 4, "...");
}

/* The entry spec names, or NULL. */
static struct fs_vol_info *vol_pick(struct fs_vol_info *v, size_t n, const char *spec,
                                    struct img *img, struct img_err *err)
{
    char list[400], d[160];
    if (spec[0]) {
        for (size_t i = 0; i < n; i++)
            if (strcmp(v[i].vol.name, spec) == 0 ||
                (v[i].vol.kind == FS_VOL_DISK && strcmp(spec, "0") == 0))
                return &v[i];
        vol_choices(v, n, false, list, sizeof list);
        err_set(err, -ENOENT, "%s: no volume #%s (volumes: %s)", img_path(img), spec,
                list[0] ? list : "none");
        return NULL;
    }
    struct fs_vol_info *only = NULL;
    size_t nb = 0;
    for (size_t i = 0; i < n; i++)
        if (v[i].browsable) {
            only = &v[i];
            nb++;
        }
    if (nb == 1)
        return only;
    if (nb > 1) {
        vol_choices(v, n, true, list, sizeof list);
        err_set(err, -EINVAL, "%s holds %zu filesystems: name one as IMAGE#VOL (%s)", img_path(img),
                nb, list);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) /* one volume named by what it holds says more */
        if (v[i].fs[0] && n == 1) {
            if (v[i].note[0])
                err_set(err, -ENOTSUP, "%s: %s", img_path(img), v[i].note);
            else
                err_set(err, -ENOTSUP, "%s: %s holds %s: recognised but not browsed", img_path(img),
                        fs_vol_desc(&v[i].vol, d, sizeof d), v[i].fs);
            return NULL;
        }
    vol_choices(v, n, false, list, sizeof list);
    err_set(err, -ENOTSUP, "%s: no filesystem dimg can browse (volumes: %s)", img_path(img),
            list[0] ? list : "none");
    return NULL;
}

int fs_vol_open(struct img *img, const char *spec, struct fs_vol **out, struct img_err *err)
{
    struct fs_vol_info *v;
    size_t n;
    *out = NULL;
    int r = fs_volumes(img, &v, &n, err);
    if (r < 0)
        return r;
    struct fs_vol_info *e = vol_pick(v, n, spec ? spec : "", img, err);
    if (!e) {
        fs_volumes_free(v, n);
        return err->code ? err->code : -ENOENT;
    }
    if (e->vol.nseg == 0) {
        err_set(err, -ENOTSUP, "%s#%s: %s", img_path(img), e->vol.name,
                e->note[0] ? e->note : "volume cannot be read");
        fs_volumes_free(v, n);
        return -ENOTSUP;
    }
    struct fs_vol *vol = malloc(sizeof *vol);
    if (!vol) {
        fs_volumes_free(v, n);
        return err_set(err, -ENOMEM, "out of memory");
    }
    *vol = e->vol;
    e->vol.seg = NULL; /* moved */
    fs_volumes_free(v, n);
    *out = vol;
    return 0;
}

int fs_handle_open(const struct fs_addr *a, const char *fmt, unsigned img_flags,
                   struct fs_handle *h, struct img_err *err)
{
    memset(h, 0, sizeof *h);
    h->img = img_open(a->image, fmt, img_flags | IMG_OPEN_BACKING, err);
    if (!h->img)
        return err->code ? err->code : -EIO;
    int r = fs_vol_open(h->img, a->vol, &h->vol, err);
    if (r == 0)
        r = fs_open(h->vol, &h->fs, err);
    if (r < 0)
        fs_handle_close(h);
    return r;
}

void fs_handle_close(struct fs_handle *h)
{
    fs_close(h->fs);
    fs_vol_free(h->vol);
    if (h->img)
        img_close(h->img);
    memset(h, 0, sizeof *h);
}

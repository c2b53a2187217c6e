/* SPDX-License-Identifier: GPL-2.0-or-later */
/* view_tree.c: the tree screen: the images of the directory as a forest linked by backing
 * files (an overlay sits under the image it is backed by), each image's internal snapshots
 * beneath it, missing backing files and cycles reported rather than followed. From here: the
 * map of any image, and snapshot create, apply and delete (apply and delete confirm).
 * Talks to: app.h, core/scan/scan.h (the probed entries), core/block/img.h (snapshot lists).
 */
#include "tui/app.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/block/img.h"
#include "core/base/io.h"

struct tree_node {
    int depth;
    size_t entry; /* scan entry index of the image */
    bool is_snap;
    char label[512];
    char detail[256];
    char snap_id[128];
};

/* The screen's state: the rows, the list over them, and the selected row by name, so that
 * rebuilds (probing, a finished job) keep it. */
struct tree_state {
    struct tree_node *v;
    size_t n;
    struct list list;
    char sel_name[1024];
    char sel_snap[128];
};
static struct tree_state tree_s;

struct tree_build {
    struct app *a;
    size_t n;
    char **real;    /* realpath of each entry, NULL when not an image */
    size_t *parent; /* entry index of the backing image, SIZE_MAX for none */
    bool *placed;
};

static void tree_push(struct app *a, int depth, size_t entry, bool snap, const char *label,
                      const char *detail, const char *id)
{
    struct tree_state *t = &tree_s;
    struct tree_node *v = realloc(t->v, (t->n + 1) * sizeof *v);
    if (!v)
        return;
    t->v = v;
    struct tree_node *nd = &v[t->n++];
    memset(nd, 0, sizeof *nd);
    nd->depth = depth;
    nd->entry = entry;
    nd->is_snap = snap;
    /* A long path is cut to the node's width (the screen shows less anyway). */
    snprintf(nd->label, sizeof nd->label, "%.*s", (int)sizeof nd->label - 1, label);
    snprintf(nd->detail, sizeof nd->detail, "%s", detail ? detail : "");
    if (id)
        snprintf(nd->snap_id, sizeof nd->snap_id, "%s", id);
}

static void tree_snapshots(struct tree_build *b, size_t i, int depth)
{
    const struct scan_entry *e = scan_entry(b->a->scan, i);
    if (!(e->flags & SCAN_F_SNAPSHOTS))
        return;
    char *path = browser_entry_path(b->a, e);
    struct img_err err;
    struct img *img = path ? img_open(path, e->format, IMG_OPEN_UNTRUSTED, &err) : NULL;
    free(path);
    if (!img)
        return;
    struct img_snap *s = NULL;
    size_t n = 0;
    if (img_snap_list(img, &s, &n) == 0) {
        for (size_t k = 0; k < n; k++) {
            char label[400], detail[256], date[32] = "", vm[16];
            time_t t = (time_t)s[k].date_sec;
            struct tm tm;
            if (localtime_r(&t, &tm))
                strftime(date, sizeof date, "%Y-%m-%d %H:%M:%S", &tm);
            snprintf(label, sizeof label, "@%s %s", s[k].id, s[k].name);
            snprintf(detail, sizeof detail, "snapshot  %s  vm state %s", date,
                     app_size(s[k].vm_state_size, vm, sizeof vm));
            tree_push(b->a, depth, i, true, label, detail, s[k].id);
        }
        free(s);
    }
    img_close(img);
}

static void tree_place(struct tree_build *b, size_t i, int depth)
{
    if (b->placed[i] || depth > IMG_CHAIN_MAX_DEPTH)
        return;
    b->placed[i] = true;
    const struct scan_entry *e = scan_entry(b->a->scan, i);
    char label[600], detail[256], vs[16];
    snprintf(label, sizeof label, "%s", e->display);
    snprintf(detail, sizeof detail, "%s  %s", e->format ? e->format : "?",
             app_size(e->virtual_size, vs, sizeof vs));
    if (e->backing && b->parent[i] == SIZE_MAX) {
        size_t len = strlen(detail);
        snprintf(detail + len, sizeof detail - len, "  backing %s (not in this directory%s)",
                 e->backing, "");
    }
    tree_push(b->a, depth, i, false, label, detail, NULL);
    tree_snapshots(b, i, depth + 1);
    for (size_t k = 0; k < b->n; k++)
        if (b->parent[k] == i && k != i)
            tree_place(b, k, depth + 1);
}

static void tree_free(struct app *a)
{
    (void)a;
    free(tree_s.v);
    tree_s.v = NULL;
    tree_s.n = 0;
    tree_s.list = (struct list){0, 0};
}

/* Remember the selected row by name (the entry indices change with every rescan). */
static void tree_remember(struct app *a)
{
    struct tree_state *t = &tree_s;
    size_t cur = t->list.cur;
    if (cur >= t->n)
        return;
    snprintf(t->sel_name, sizeof t->sel_name, "%s", scan_entry(a->scan, t->v[cur].entry)->name);
    snprintf(t->sel_snap, sizeof t->sel_snap, "%s", t->v[cur].snap_id);
}

static void tree_build(struct app *a)
{
    tree_free(a);
    if (!a->scan)
        return;
    struct tree_build b = {.a = a, .n = scan_count(a->scan)};
    b.real = calloc(b.n ? b.n : 1, sizeof *b.real);
    b.parent = calloc(b.n ? b.n : 1, sizeof *b.parent);
    b.placed = calloc(b.n ? b.n : 1, sizeof *b.placed);
    if (!b.real || !b.parent || !b.placed)
        goto out;
    for (size_t i = 0; i < b.n; i++) {
        const struct scan_entry *e = scan_entry(a->scan, i);
        b.parent[i] = SIZE_MAX;
        if (e->is_dir || scan_entry_state(e) != SCAN_DONE || (e->hidden && !a->hidden))
            continue;
        /* Plain files and archives are not images: the tree has no place for them. */
        if ((e->flags & SCAN_F_RAW_GUESS) && (e->flags & (SCAN_F_PLAIN | SCAN_F_ARCHIVE)))
            continue;
        char *p = browser_entry_path(a, e);
        b.real[i] = p ? realpath(p, NULL) : NULL;
        free(p);
    }
    /* Link each overlay to its backing image when that image is in this directory. */
    for (size_t i = 0; i < b.n; i++) {
        const struct scan_entry *e = scan_entry(a->scan, i);
        if (!b.real[i] || !e->backing)
            continue;
        char *bp = io_path_join(a->dir, e->backing);
        char *br = bp ? realpath(bp, NULL) : NULL;
        free(bp);
        for (size_t k = 0; br && k < b.n; k++)
            if (b.real[k] && strcmp(b.real[k], br) == 0)
                b.parent[i] = k;
        free(br);
    }
    /* Differencing vdi name their parent by UUID, not by file name. */
    for (size_t i = 0; i < b.n; i++) {
        const struct scan_entry *e = scan_entry(a->scan, i);
        if (!e->parent_uuid[0] || b.parent[i] != SIZE_MAX)
            continue;
        for (size_t k = 0; k < b.n; k++)
            if (k != i && strcmp(scan_entry(a->scan, k)->uuid, e->parent_uuid) == 0)
                b.parent[i] = k;
    }
    /* Roots first (in name order), then whatever a cycle kept from being reached. */
    size_t *order = malloc(b.n * sizeof *order + 1);
    size_t no = 0;
    for (size_t i = 0; order && i < b.n; i++)
        if (b.real[i])
            order[no++] = i;
    if (order)
        scan_sort(a->scan, order, no, SCAN_SORT_NAME, false, false);
    for (size_t k = 0; k < no; k++)
        if (b.parent[order[k]] == SIZE_MAX)
            tree_place(&b, order[k], 0);
    for (size_t k = 0; k < no; k++) {
        size_t i = order[k];
        if (b.placed[i])
            continue;
        tree_push(a, 0, i, false, "(backing-file cycle)", "these images back each other", NULL);
        tree_place(&b, i, 1);
    }
    free(order);
out:
    for (size_t i = 0; b.real && i < b.n; i++)
        free(b.real[i]);
    free(b.real);
    free(b.parent);
    free(b.placed);
    for (size_t i = 0; i < tree_s.n; i++) {
        struct tree_node *nd = &tree_s.v[i];
        if (strcmp(scan_entry(a->scan, nd->entry)->name, tree_s.sel_name) == 0 &&
            strcmp(nd->snap_id, tree_s.sel_snap) == 0)
            tree_s.list.cur = i;
    }
    if (!tree_s.n && !scan_pending(a->scan))
        app_status(a, false, "no images in this directory");
}

static bool tree_last_sibling(struct tree_state *t, size_t i)
{
    for (size_t k = i + 1; k < t->n; k++) {
        if (t->v[k].depth < t->v[i].depth)
            return true;
        if (t->v[k].depth == t->v[i].depth)
            return false;
    }
    return true;
}

static void tree_draw(struct app *a, struct rect r)
{
    struct tree_state *t = &tree_s;
    app_put(r.y, r.x, r.w, " Image / snapshot                         Details",
            app_attr(a, THEME_E_TITLE), true);
    app_list_position(a, r, &t->list, t->n);
    int rows = r.h - 1;
    list_place(&t->list, t->n, rows);
    for (int i = 0; i < rows && t->list.top + (size_t)i < t->n; i++) {
        size_t k = t->list.top + (size_t)i;
        struct tree_node *nd = &t->v[k];
        char line[1200];
        size_t len = 0;
        line[0] = ' ';
        line[1] = 0;
        len = 1;
        for (int d = 1; d < nd->depth && len + 8 < sizeof line; d++)
            len += (size_t)snprintf(line + len, sizeof line - len, "   ");
        if (nd->depth > 0)
            len += (size_t)snprintf(line + len, sizeof line - len, "%s ",
                                    theme_glyph(&a->theme, tree_last_sibling(t, k)
                                                               ? THEME_G_TREE_LAST
                                                               : THEME_G_TREE_BRANCH));
        /* The details line up in one column whatever the depth. */
        int lw = 44 - (int)(nd->depth ? nd->depth * 3 : 0);
        snprintf(line + len, sizeof line - len, "%-*s %s", lw > 12 ? lw : 12, nd->label,
                 nd->detail);
        bool sel = k == t->list.cur;
        attr_t at = sel ? app_attr(a, THEME_E_SELECTION)
                        : app_attr(a, nd->is_snap ? THEME_E_MARKER : THEME_E_IMAGE);
        app_put(r.y + 1 + i, r.x, r.w, line, at, true);
    }
    if (!t->n)
        app_put(r.y + 1, r.x + 1, r.w - 1, "(no images)", app_attr(a, THEME_E_IMAGE_UNKNOWN),
                false);
}

static void tree_key(struct app *a, int ch, enum km_action act)
{
    struct tree_state *t = &tree_s;
    (void)ch;
    int rows = a->lay.body.h - 1 > 1 ? a->lay.body.h - 1 : 1;
    struct tree_node *nd = t->list.cur < t->n ? &t->v[t->list.cur] : NULL;
    char *path = nd ? browser_entry_path(a, scan_entry(a->scan, nd->entry)) : NULL;
    switch (list_move(&t->list, t->n, rows, act) ? KM_A_NONE : act) {
    case KM_A_MAP:
        if (path)
            map_show(a, path);
        break;
    case KM_A_RESCAN: tree_build(a); break;
    case KM_A_COMMIT:
    case KM_A_REBASE:
        if (!nd || nd->is_snap) {
            app_status(a, true, "select an image (not a snapshot) first");
            break;
        }
        (act == KM_A_COMMIT ? action_commit : action_rebase)(a, path);
        break;
    case KM_A_OVERLAY:
        if (!nd || nd->is_snap) {
            app_status(a, true, "select an image (not a snapshot) first");
            break;
        }
        action_overlay_path(a, path);
        break;
    case KM_A_SNAP_NEW:
    case KM_A_SNAP_APPLY:
    case KM_A_SNAP_DELETE:
        if (!nd)
            break;
        if (act != KM_A_SNAP_NEW && !nd->is_snap) {
            app_status(a, true, "select a snapshot (a line starting with @) first");
            break;
        }
        action_snapshot(a, act, path, nd->is_snap ? nd->snap_id : NULL,
                        nd->is_snap ? nd->label : NULL);
        break;
    default: break;
    }
    free(path);
    if (act != KM_A_SNAP_APPLY && act != KM_A_SNAP_DELETE)
        tree_remember(a);
    else if (act == KM_A_SNAP_DELETE && t->list.cur < t->n) {
        /* After the delete the row is gone: land on its image. */
        t->sel_snap[0] = 0;
    }
}

void tree_select(struct app *a, const char *name)
{
    if (app_top(a) != &screen_tree)
        return;
    snprintf(tree_s.sel_name, sizeof tree_s.sel_name, "%s", name);
    tree_s.sel_snap[0] = 0;
    tree_build(a);
}

/* Opened from the browser: on the image the browser shows. */
static void tree_enter(struct app *a)
{
    const struct scan_entry *e = browser_selected(a, NULL);
    if (e) {
        snprintf(tree_s.sel_name, sizeof tree_s.sel_name, "%s", e->name);
        tree_s.sel_snap[0] = 0;
    }
    tree_build(a); /* after the push: its "no images" message is for the tree */
}

/* Links appear as the images are probed, and a finished job's file shows. */
static void tree_tick(struct app *a)
{
    if (app_top(a) == &screen_tree)
        tree_build(a);
}

const struct screen screen_tree = {
    .name = "tree",
    .keys = KM_TREE,
    .keys_title = "Tree",
    .hint = "N new snapshot, A apply, D delete, m map, O overlay, K commit, B rebase, q back",
    .enter = tree_enter,
    .leave = tree_free,
    .draw = tree_draw,
    .key = tree_key,
    .tick = tree_tick,
};

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* view_map.c: the allocation map screen. The image is a grid of cells, each a run of bytes
 * coloured by what it holds: the guest view (data, zero, compressed, unallocated, from a
 * backing file) or the host view (the image file's own header, tables, data and free space).
 * A cursor moves over the cells and the line under the grid says what lies there; + and -
 * zoom; partition starts from an MBR or GPT are marked. Everything is drawn from run arrays
 * (core/map) built once (the guest view on open, the host view on the first v), so a huge
 * sparse image draws as fast as a small one.
 * Talks to: app.h, core/ops/map.h, core/block/img.h.
 */
#include "tui/app.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/esc.h"
#include "core/block/img.h"
#include "core/fs/fs.h"
#include "core/ops/map.h"
#include "tui/timing.h"

/* The screen's state: the image shown, its runs, the zoom and the cursor. */
struct mapview {
    char path[4096];
    char fmt[16];
    struct map_runs guest, host;
    bool have_host, host_tried; /* host: built on the first v */
    enum map_view view;
    uint64_t levels[64];
    size_t nlevels, level;  /* bytes per cell = levels[level] */
    uint64_t top;           /* first cell shown (row-aligned cell index) */
    uint64_t cursor;        /* cell index */
    struct map_part *parts; /* guest partitions */
    size_t nparts;
    bool legend;
    char err[256];
    bool timing_pending;     /* DIMG_TIMING: map_drawn not written yet for this open */
    struct fs_owners owners; /* guest view: which file owns the cursor's cell */
};
static struct mapview map_v = {.legend = true};

/* Taken off the stack: the runs go; the legend stays as the user left it. */
static void map_close(struct app *a)
{
    (void)a;
    struct mapview *m = &map_v;
    map_runs_free(&m->guest);
    map_runs_free(&m->host);
    free(m->parts);
    fs_owners_free(&m->owners);
    bool legend = m->legend;
    memset(m, 0, sizeof *m);
    m->legend = legend;
}

static const struct map_runs *map_cur_runs(struct mapview *m)
{
    return m->view == MAP_VIEW_HOST ? &m->host : &m->guest;
}

/* Grid geometry inside r: the cell area and the lines under it. */
struct map_geo {
    int x, y, cols, rows;
};

static struct map_geo map_geometry(struct app *a, struct rect r)
{
    struct map_geo g;
    int below = 1 + (map_v.legend ? 2 : 0);
    g.x = r.x + 1;
    g.y = r.y + 1;
    g.cols = r.w - 2 > 1 ? r.w - 2 : 1;
    g.rows = r.h - 1 - below > 1 ? r.h - 1 - below : 1;
    return g;
}

static void map_levels(struct app *a, size_t ncells)
{
    struct mapview *m = &map_v;
    const struct map_runs *rr = map_cur_runs(m);
    uint64_t keep = m->nlevels ? m->cursor * m->levels[m->level] : 0;
    m->nlevels = map_zoom_levels(rr->size, rr->cluster_size, ncells ? ncells : 1, m->levels,
                                 sizeof m->levels / sizeof m->levels[0]);
    if (!m->nlevels) {
        m->levels[0] = 512;
        m->nlevels = 1;
    }
    if (m->level >= m->nlevels)
        m->level = m->nlevels - 1;
    m->cursor = keep / m->levels[m->level];
}

static struct img *map_img_open(struct app *a, const char *path, struct img_err *err)
{
    unsigned fl = a->opts.untrusted ? IMG_OPEN_UNTRUSTED : IMG_OPEN_BACKING;
    struct img *img = img_open(path, NULL, fl, err);
    if (!img && !a->opts.untrusted) /* a broken chain: the image alone still has a map */
        img = img_open(path, NULL, 0, err);
    return img;
}

/* The host view is built the first time it is asked for (v): a qcow2's layout walks every
 * table and the refcounts again, which doubled the time to the first draw of the guest view
 * of a 1 TiB image. The file's tables need no key, so an encrypted image is not unlocked. */
static void map_load_host(struct app *a)
{
    struct mapview *m = &map_v;
    if (m->host_tried)
        return;
    m->host_tried = true;
    struct img_err err = {0};
    struct img *img = map_img_open(a, m->path, &err);
    if (img && map_build_host(img, &m->host, &err) == 0)
        m->have_host = true;
    else
        snprintf(m->err, sizeof m->err, "host view: %.200s", err.msg);
    if (img)
        img_close(img);
}

static int map_open(struct app *a, const char *path)
{
    map_close(a);
    timing_mark("map_open");
    struct mapview *m = &map_v;
    snprintf(m->path, sizeof m->path, "%s", path);
    struct img_err err = {0};
    struct img *img = map_img_open(a, path, &err);
    if (!img) {
        app_status(a, true, "%s", err.msg);
        return -1;
    }
    /* An encrypted image's partitions lie in encrypted data: ask for the key first, and show
     * no map when it is wrong or the box is cancelled. */
    if (app_secret_unlock(a, &img, "map", false) < 0) {
        if (img)
            img_close(img);
        map_close(a);
        return -1;
    }
    snprintf(m->fmt, sizeof m->fmt, "%s", img_format(img));
    int r = map_build_guest(img, &m->guest, &err);
    if (r == 0) {
        struct img_err perr = {0};
        map_partitions(img, &m->parts, &m->nparts, &perr);
        /* Best effort: an image whose filesystems cannot be read still has its map. */
        struct img_err oerr = {0};
        (void)fs_owners_build(img, &m->owners, &oerr);
    }
    img_close(img);
    if (r < 0) {
        app_status(a, true, "map: %s", err.msg);
        map_close(a);
        return -1;
    }
    m->view = MAP_VIEW_GUEST;
    m->nlevels = 0;
    m->level = 63; /* start zoomed out: the whole image on one screen */
    struct map_geo g = map_geometry(a, a->lay.body);
    map_levels(a, (size_t)g.cols * (size_t)g.rows);
    m->cursor = 0;
    m->top = 0;
    m->timing_pending = true;
    return 0;
}

static enum theme_elem map_elem(enum map_state s)
{
    switch (s) {
    case MAP_DATA: return THEME_E_MAP_DATA;
    case MAP_ZERO: return THEME_E_MAP_ZERO;
    case MAP_COMPRESSED: return THEME_E_MAP_COMPRESSED;
    case MAP_BACKING: return THEME_E_MAP_BACKING;
    case MAP_HEADER: return THEME_E_MAP_HEADER;
    case MAP_L1:
    case MAP_SNAP_L1: return THEME_E_MAP_L1;
    case MAP_L2:
    case MAP_GRAIN_TABLE: return THEME_E_MAP_L2;
    case MAP_REFTABLE:
    case MAP_REFBLOCK: return THEME_E_MAP_REFCOUNT;
    case MAP_SNAPTABLE: return THEME_E_MAP_SNAPSHOT;
    case MAP_FREE: return THEME_E_MAP_FREE;
    case MAP_LEAKED: return THEME_E_MAP_LEAKED;
    case MAP_META:
    case MAP_BITMAP:
    case MAP_BLOCK_MAP:
    case MAP_GRAIN_DIR: return THEME_E_MAP_META;
    default: return THEME_E_MAP_UNALLOC;
    }
}

/* The glyph of a state. Without colours the metadata kinds get letters of their own, since
 * one shade for all of them would say nothing. */
static const char *map_glyph(struct app *a, enum map_state s)
{
    /* NO_COLOR keeps the colour pairs of a mono theme apart from nothing: letters then too. */
    bool mono = a->theme.colors == 0 || theme_env_no_color();
    switch (s) {
    case MAP_NONE: return " ";
    case MAP_DATA: return theme_glyph(&a->theme, THEME_G_MAP_DATA);
    case MAP_ZERO: return theme_glyph(&a->theme, THEME_G_MAP_ZERO);
    case MAP_COMPRESSED: return theme_glyph(&a->theme, THEME_G_MAP_COMPRESSED);
    case MAP_BACKING: return theme_glyph(&a->theme, THEME_G_MAP_BACKING);
    case MAP_UNALLOC: return theme_glyph(&a->theme, THEME_G_MAP_UNALLOC);
    case MAP_FREE: return theme_glyph(&a->theme, THEME_G_MAP_FREE);
    case MAP_LEAKED: return theme_glyph(&a->theme, THEME_G_MAP_LEAKED);
    case MAP_HEADER: return mono ? "H" : theme_glyph(&a->theme, THEME_G_MAP_META);
    case MAP_L1:
    case MAP_SNAP_L1: return mono ? "1" : theme_glyph(&a->theme, THEME_G_MAP_META);
    case MAP_L2:
    case MAP_GRAIN_TABLE: return mono ? "2" : theme_glyph(&a->theme, THEME_G_MAP_META);
    case MAP_REFTABLE:
    case MAP_REFBLOCK: return mono ? "R" : theme_glyph(&a->theme, THEME_G_MAP_META);
    case MAP_SNAPTABLE: return mono ? "S" : theme_glyph(&a->theme, THEME_G_MAP_META);
    case MAP_BLOCK_MAP: return mono ? "M" : theme_glyph(&a->theme, THEME_G_MAP_META);
    case MAP_GRAIN_DIR: return mono ? "D" : theme_glyph(&a->theme, THEME_G_MAP_META);
    case MAP_BITMAP: return mono ? "b" : theme_glyph(&a->theme, THEME_G_MAP_META);
    default: return theme_glyph(&a->theme, THEME_G_MAP_META);
    }
}

static bool map_is_part_start(struct mapview *m, uint64_t off, uint64_t len)
{
    if (m->view != MAP_VIEW_GUEST)
        return false;
    for (size_t i = 0; i < m->nparts; i++)
        if (m->parts[i].start >= off && m->parts[i].start < off + len)
            return true;
    return false;
}

static void map_legend(struct app *a, int y, int x, int w)
{
    static const enum map_state guest[] = {MAP_DATA, MAP_COMPRESSED, MAP_ZERO, MAP_BACKING,
                                           MAP_UNALLOC};
    static const enum map_state host_all[] = {
        MAP_HEADER,    MAP_L1,         MAP_SNAP_L1,  MAP_L2,        MAP_GRAIN_DIR, MAP_GRAIN_TABLE,
        MAP_BLOCK_MAP, MAP_REFTABLE,   MAP_REFBLOCK, MAP_SNAPTABLE, MAP_BITMAP,    MAP_META,
        MAP_DATA,      MAP_COMPRESSED, MAP_LEAKED,   MAP_FREE};
    /* The host view names only the regions this file has (a vdi has no L1 table). */
    enum map_state host[sizeof host_all / sizeof host_all[0]];
    size_t nh = 0;
    for (size_t k = 0; k < sizeof host_all / sizeof host_all[0]; k++) {
        bool seen = false;
        for (size_t i = 0; !seen && i < map_v.host.n; i++)
            seen = map_v.host.v[i].state == host_all[k];
        /* Two states sharing a glyph and colour show once (the first name). */
        for (size_t i = 0; seen && i < nh; i++)
            if (strcmp(map_glyph(a, host[i]), map_glyph(a, host_all[k])) == 0 &&
                map_elem(host[i]) == map_elem(host_all[k]))
                seen = false;
        if (seen)
            host[nh++] = host_all[k];
    }
    const enum map_state *v = map_v.view == MAP_VIEW_GUEST ? guest : host;
    size_t n = map_v.view == MAP_VIEW_GUEST ? sizeof guest / sizeof guest[0] : nh;
    int cx = x;
    for (size_t i = 0; i < n && cx < x + w; i++) {
        app_put(y, cx, x + w - cx, map_glyph(a, v[i]), app_attr(a, map_elem(v[i])), false);
        cx += 2;
        char buf[40];
        snprintf(buf, sizeof buf, "%s  ", map_state_name(v[i]));
        app_put(y, cx, x + w - cx, buf, app_attr(a, THEME_E_DEFAULT), false);
        cx += (int)strlen(buf);
    }
    if (map_v.view == MAP_VIEW_GUEST && map_v.owners.nfree && cx + 16 < x + w) {
        app_put(y, cx, x + w - cx, map_glyph(a, MAP_LEAKED), app_attr(a, map_elem(MAP_LEAKED)),
                false);
        app_put(y, cx + 2, x + w - cx - 2, "free in guest  ", app_attr(a, THEME_E_DEFAULT), false);
        cx += 17;
    }
    if (map_v.nparts && map_v.view == MAP_VIEW_GUEST && cx + 20 < x + w)
        app_put(y, cx, x + w - cx, "[partition start]", app_attr(a, THEME_E_MAP_PARTITION), false);
}

static void map_draw(struct app *a, struct rect r)
{
    struct mapview *m = &map_v;
    const struct map_runs *rr = map_cur_runs(m);
    struct map_geo g = map_geometry(a, r);
    size_t ncells = (size_t)g.cols * (size_t)g.rows;
    if (!m->nlevels || m->levels[m->nlevels - 1] * ncells < rr->size ||
        (m->nlevels > 1 && m->levels[m->nlevels - 2] * ncells >= rr->size))
        map_levels(a, ncells); /* the terminal changed size */
    uint64_t bpc = m->levels[m->level];
    uint64_t total = rr->size ? (rr->size + bpc - 1) / bpc : 0;
    if (total && m->cursor >= total)
        m->cursor = total - 1;
    /* Keep the cursor's row on screen. */
    uint64_t crow = m->cursor / (uint64_t)g.cols;
    if (crow < m->top)
        m->top = crow;
    if (crow >= m->top + (uint64_t)g.rows)
        m->top = crow - (uint64_t)g.rows + 1;

    char title[256], a1[16], a2[16];
    /* fmt's bound spelled out: gcc cannot see it through the static state. */
    snprintf(title, sizeof title, " %.*s  %s, %s view, %s per cell, %zu run%s%s",
             (int)sizeof m->fmt - 1, m->fmt, app_size(rr->size, a1, sizeof a1),
             m->view == MAP_VIEW_GUEST ? "guest" : "host file", app_size(bpc, a2, sizeof a2), rr->n,
             rr->n == 1 ? "" : "s",
             m->err[0] && m->view == MAP_VIEW_HOST ? "  (host view unavailable)" : "");
    app_put(r.y, r.x, r.w, title, app_attr(a, THEME_E_TITLE), true);
    /* Where the cursor is: its offset in the view's address space and the cell position,
     * at the title's right end. */
    uint64_t ncell = rr->size ? (rr->size + bpc - 1) / bpc : 1;
    char pos[48], where[128];
    list_position(pos, sizeof pos, (size_t)m->cursor, (size_t)ncell);
    snprintf(where, sizeof where, "at %s offset %llu, cell %s ",
             m->view == MAP_VIEW_GUEST ? "guest" : "file", (unsigned long long)(m->cursor * bpc),
             pos);
    int ww = (int)strlen(where);
    if ((int)strlen(title) + ww + 2 <= r.w)
        app_put(r.y, r.x + r.w - ww, ww, where, app_attr(a, THEME_E_TITLE), false);

    struct map_cell *cells = calloc(ncells, sizeof *cells);
    if (!cells)
        return;
    uint64_t start = m->top * (uint64_t)g.cols * bpc;
    map_cells(rr, start, bpc, ncells, cells);
    for (int row = 0; row < g.rows; row++) {
        move(g.y + row, g.x);
        for (int col = 0; col < g.cols; col++) {
            struct map_cell *c = &cells[(size_t)row * (size_t)g.cols + (size_t)col];
            if (c->state == MAP_NONE)
                break;
            uint64_t ci = (m->top + (uint64_t)row) * (uint64_t)g.cols + (uint64_t)col;
            enum map_state st = (enum map_state)c->state;
            /* Guest view: data the guest filesystem does not use is shown as wasted, with the
             * glyph and colour of a leaked cluster ("free in guest" in the legend). */
            if (m->view == MAP_VIEW_GUEST && st == MAP_DATA && m->owners.nfree &&
                fs_owners_is_free(&m->owners, c->off, c->len))
                st = MAP_LEAKED;
            attr_t at = app_attr(a, map_elem(st));
            if (map_is_part_start(m, c->off, c->len))
                at = app_attr(a, THEME_E_MAP_PARTITION);
            if (ci == m->cursor)
                at = app_attr(a, THEME_E_MAP_CURSOR) | A_REVERSE;
            app_put(g.y + row, g.x + col, 1, map_glyph(a, st), at, false);
        }
    }
    free(cells);

    /* What is under the cursor. */
    int y = g.y + g.rows;
    struct map_cell cc;
    map_cells(rr, m->cursor * bpc, bpc, 1, &cc);
    char desc[512], line[768];
    map_describe(rr, m->cursor * bpc, desc, sizeof desc);
    const char *dom = map_state_name((enum map_state)cc.state);
    snprintf(line, sizeof line, " cell %llu: %s %.0f%%  |  %s", (unsigned long long)m->cursor, dom,
             100.0 * map_cell_fraction(&cc, (enum map_state)cc.state), desc);
    if (m->view == MAP_VIEW_GUEST && (m->owners.n || m->owners.nfree)) {
        /* The guest files (or free space) under the cursor, names escaped. */
        char own[400], eown[400];
        fs_owners_describe(&m->owners, m->cursor * bpc, bpc, own, sizeof own);
        if (own[0]) {
            size_t l = strlen(line);
            snprintf(line + l, sizeof line - l, "  |  %s", esc_str(eown, sizeof eown, own));
        }
    }
    app_put(y, r.x, r.w, line, app_attr(a, THEME_E_STATUS), true);
    if (m->legend && y + 2 < r.y + r.h + 1)
        map_legend(a, y + 1, r.x + 1, r.w - 2);
    if (m->legend && m->nparts && m->view == MAP_VIEW_GUEST && y + 2 < r.y + r.h) {
        char pl[512];
        size_t len = 0;
        len += (size_t)snprintf(pl, sizeof pl, " partitions:");
        for (size_t i = 0; i < m->nparts && len < sizeof pl - 40; i++)
            len += (size_t)snprintf(pl + len, sizeof pl - len, " #%u@%s", m->parts[i].number,
                                    app_size(m->parts[i].start, a1, sizeof a1));
        app_put(y + 2, r.x, r.w, pl, app_attr(a, THEME_E_MAP_PARTITION), false);
    }
    if (m->timing_pending) {
        m->timing_pending = false;
        app_timing_after_frame(a, "map_drawn");
    }
}

static void map_key(struct app *a, int ch, enum km_action act)
{
    struct mapview *m = &map_v;
    const struct map_runs *rr = map_cur_runs(m);
    struct map_geo g = map_geometry(a, a->lay.body);
    uint64_t bpc = m->levels[m->level];
    uint64_t total = rr->size ? (rr->size + bpc - 1) / bpc : 1;
    uint64_t cols = (uint64_t)g.cols, page = cols * (uint64_t)g.rows;
    (void)ch;
    switch (act) {
    case KM_A_LEFT:
        if (m->cursor)
            m->cursor--;
        break;
    case KM_A_RIGHT:
        if (m->cursor + 1 < total)
            m->cursor++;
        break;
    case KM_A_UP:
        if (m->cursor >= cols)
            m->cursor -= cols;
        break;
    case KM_A_DOWN:
        if (m->cursor + cols < total)
            m->cursor += cols;
        break;
    case KM_A_PGUP: m->cursor = m->cursor > page ? m->cursor - page : 0; break;
    case KM_A_PGDN: m->cursor = m->cursor + page < total ? m->cursor + page : total - 1; break;
    case KM_A_HOME: m->cursor = 0; break;
    case KM_A_END: m->cursor = total - 1; break;
    case KM_A_ZOOM_IN:
    case KM_A_ZOOM_OUT: {
        uint64_t off = m->cursor * bpc;
        if (act == KM_A_ZOOM_IN && m->level > 0)
            m->level--;
        else if (act == KM_A_ZOOM_OUT && m->level + 1 < m->nlevels)
            m->level++;
        else
            break;
        m->cursor = off / m->levels[m->level];
        m->top =
            m->cursor / cols > (uint64_t)g.rows / 2 ? m->cursor / cols - (uint64_t)g.rows / 2 : 0;
        break;
    }
    case KM_A_VIEW_TOGGLE:
        map_load_host(a);
        if (!m->have_host) {
            app_status(a, true, "%s", m->err[0] ? m->err : "no host view for this format");
            break;
        }
        m->view = m->view == MAP_VIEW_GUEST ? MAP_VIEW_HOST : MAP_VIEW_GUEST;
        m->level = 63;
        m->nlevels = 0;
        m->cursor = m->top = 0;
        map_levels(a, (size_t)page);
        break;
    case KM_A_LEGEND: m->legend = !m->legend; break;
    default: break;
    }
}

int map_show(struct app *a, const char *path)
{
    if (map_open(a, path) < 0)
        return -1;
    app_push(a, &screen_map);
    return 0;
}

static void map_header(struct app *a, struct rect r)
{
    app_header(a, r, map_v.view == MAP_VIEW_GUEST ? "map (guest)" : "map (host file)", map_v.path);
}

const struct screen screen_map = {
    .name = "map",
    .keys = KM_MAP,
    .keys_title = "Allocation map",
    .hint = "arrows move, +/- zoom, v host/guest view, L legend, q back",
    .leave = map_close,
    .draw = map_draw,
    .key = map_key,
    .header = map_header,
};

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* view_inside.c: inside an image, browsed like a directory: its volumes (partitions, LVM
 * logical volumes, or the whole disk), then a volume's filesystem tree, read-only. Enter goes
 * into a volume or directory (a file: its text in a pager), Backspace/Left goes up: from a
 * filesystem's root to the volumes, from there back to the host directory. The info pane shows
 * the selection's type, size, mode, times and where its data lies in the volume; v reads a
 * file, c copies the selection out beside the image (a job).
 *
 * The image stays open while the screen is up (one handle, this thread); the copy job opens
 * its own. Every name shown comes from the image: escaped (esc.h) before it is drawn.
 * Talks to: app.h, core/fs/fs.h (volumes, filesystems), core/block/img.h, core/base/esc.h.
 */
#include "tui/app.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "core/base/esc.h"
#include "core/base/io.h"
#include "core/block/img.h"
#include "core/fs/fs.h"
#include "tui/timing.h"

#define INSIDE_VIEW_MAX (4u << 20) /* bytes of a file the pager reads */
#define INSIDE_VIEW_LINES 100000   /* lines it keeps */

struct inside_view { /* the pager */
    bool on;
    char title[512];
    char **lines;
    size_t n;
    struct list list; /* only .top */
};

struct inside {
    char path[4096]; /* the image */
    struct img *img;
    struct fs_vol_info *vols;
    size_t nvols;
    struct list vlist;  /* over vols */
    struct fs_vol *vol; /* the volume open (NULL: the volume list is shown) */
    struct fs *fs;
    char vol_name[128];
    char dir[FS_PATH_MAX]; /* the directory shown, absolute */
    uint64_t dir_ino;
    struct fs_dirent *ents;
    size_t nents;
    size_t *vis, nvis; /* the entries shown (filtered, sorted): indices into ents */
    struct list list;  /* over vis */
    char filter[128];  /* / as in the browser: names containing it (any case) */
    bool filtering;
    enum km_action sort; /* KM_A_SORT_NAME, _SIZE or _TIME */
    bool sort_rev;
    struct inside_view view;
    bool timing_pending; /* DIMG_TIMING: inside_drawn not written yet for this open */
    char extents[256];   /* the info pane's "data at ..." of the selection, cached */
    uint64_t extents_for;
    bool extents_valid;
};
static struct inside in_s;

static void inside_view_close(struct inside_view *v)
{
    for (size_t i = 0; i < v->n; i++)
        free(v->lines[i]);
    free(v->lines);
    *v = (struct inside_view){0};
}

static void inside_fs_close(struct inside *s)
{
    fs_dirents_free(s->ents, s->nents);
    s->ents = NULL;
    s->nents = 0;
    free(s->vis);
    s->vis = NULL;
    s->nvis = 0;
    fs_close(s->fs);
    s->fs = NULL;
    fs_vol_free(s->vol);
    s->vol = NULL;
    s->extents_valid = false;
}

static void inside_leave(struct app *a)
{
    (void)a;
    struct inside *s = &in_s;
    inside_view_close(&s->view);
    inside_fs_close(s);
    fs_volumes_free(s->vols, s->nvols);
    s->vols = NULL;
    s->nvols = 0;
    img_close(s->img);
    s->img = NULL;
}

static const struct inside *inside_cmp_s; /* for the comparator (main thread only) */

static int inside_cmp(const void *x, const void *y)
{
    const struct inside *s = inside_cmp_s;
    const struct fs_dirent *a = &s->ents[*(const size_t *)x], *b = &s->ents[*(const size_t *)y];
    int r = 0;
    if (s->sort == KM_A_SORT_SIZE)
        r = a->st.size < b->st.size ? -1 : a->st.size > b->st.size;
    else if (s->sort == KM_A_SORT_TIME)
        r = a->st.mtime < b->st.mtime ? -1 : a->st.mtime > b->st.mtime;
    if (r == 0)
        r = strcmp(a->name, b->name);
    return s->sort_rev ? -r : r;
}

/* The entries shown: those matching the filter, in the chosen order; the cursor stays on the
 * entry named keep (or the first). */
static void inside_refresh(struct inside *s, const char *keep)
{
    size_t *v = realloc(s->vis, (s->nents ? s->nents : 1) * sizeof *v);
    if (!v)
        return;
    s->vis = v;
    s->nvis = 0;
    for (size_t i = 0; i < s->nents; i++)
        if (!s->filter[0] || strcasestr(s->ents[i].name, s->filter))
            s->vis[s->nvis++] = i;
    inside_cmp_s = s;
    qsort(s->vis, s->nvis, sizeof *s->vis, inside_cmp);
    s->list = (struct list){0};
    for (size_t k = 0; keep && k < s->nvis; k++)
        if (strcmp(s->ents[s->vis[k]].name, keep) == 0)
            s->list.cur = k;
    s->extents_valid = false;
}

/* The entry under the cursor, or NULL. */
static const struct fs_dirent *inside_sel(const struct inside *s)
{
    return s->fs && s->list.cur < s->nvis ? &s->ents[s->vis[s->list.cur]] : NULL;
}

/* Read directory path of the open filesystem; the cursor goes to the entry named select. */
static int inside_chdir(struct app *a, const char *path, const char *select)
{
    struct inside *s = &in_s;
    struct fs_stat st;
    if (fs_lookup(s->fs, path, true, &st) < 0 || st.type != FS_T_DIR) {
        app_status(a, true, "%s",
                   st.type != FS_T_DIR && !s->fs->err.msg[0] ? "not a directory" : s->fs->err.msg);
        return -1;
    }
    struct fs_dirent *ents = NULL;
    size_t n = 0;
    if (fs_list(s->fs, st.ino, &ents, &n) < 0) {
        app_status(a, true, "%s", s->fs->err.msg);
        return -1;
    }
    fs_dirents_free(s->ents, s->nents);
    s->ents = ents;
    s->nents = n;
    s->dir_ino = st.ino;
    snprintf(s->dir, sizeof s->dir, "%s", path);
    s->filter[0] = 0; /* a new directory: the whole of it */
    s->filtering = false;
    inside_refresh(s, select);
    return 0;
}

/* Open volume k and show its root. */
static int inside_open_vol(struct app *a, size_t k)
{
    struct inside *s = &in_s;
    const struct fs_vol_info *vi = &s->vols[k];
    if (!vi->browsable) {
        char e[160];
        app_status(a, true, "%s: %s", esc_str(e, sizeof e, vi->vol.name[0] ? vi->vol.name : "disk"),
                   vi->note[0] ? vi->note
                   : vi->fs[0] ? "not browsable"
                               : "no filesystem");
        return -1;
    }
    struct img_err err = {0};
    if (fs_vol_open(s->img, vi->vol.name, &s->vol, &err) < 0 || fs_open(s->vol, &s->fs, &err) < 0) {
        app_status(a, true, "%s", err.msg);
        inside_fs_close(s);
        return -1;
    }
    snprintf(s->vol_name, sizeof s->vol_name, "%s", vi->vol.name);
    if (inside_chdir(a, "/", NULL) < 0) {
        inside_fs_close(s);
        return -1;
    }
    return 0;
}

static size_t inside_browsable(const struct inside *s, size_t *only)
{
    size_t n = 0;
    for (size_t i = 0; i < s->nvols; i++)
        if (s->vols[i].browsable && n++ == 0)
            *only = i; /* the first: where the cursor starts */
    return n;
}

int inside_show(struct app *a, const char *path)
{
    struct inside *s = &in_s;
    inside_leave(a);
    timing_mark("inside_open");
    snprintf(s->path, sizeof s->path, "%s", path);
    struct img_err err = {0};
    unsigned fl = a->opts.untrusted ? IMG_OPEN_UNTRUSTED : IMG_OPEN_BACKING;
    s->img = img_open(path, NULL, fl, &err);
    if (!s->img) {
        app_status(a, true, "%s", err.msg);
        return -1;
    }
    if (app_secret_unlock(a, &s->img, "volumes", false) < 0) {
        inside_leave(a);
        return -1;
    }
    if (fs_volumes(s->img, &s->vols, &s->nvols, &err) < 0) {
        app_status(a, true, "%s", err.msg);
        inside_leave(a);
        return -1;
    }
    size_t only = 0, nb = inside_browsable(s, &only);
    if (nb == 0) {
        inside_leave(a);
        return 1; /* nothing to browse: the caller shows the map */
    }
    s->vlist = (struct list){0};
    s->vlist.cur = only;
    /* One filesystem and nothing else: straight to its root. */
    if (s->nvols == 1 && inside_open_vol(a, only) < 0) {
        inside_leave(a);
        return -1;
    }
    s->timing_pending = true;
    app_push(a, &screen_inside);
    return 0;
}

/* ---- drawing ---- */

static char inside_type_char(enum fs_type t)
{
    static const char c[] = {'-', 'd', 'l', 'c', 'b', 'p', 's', '?'};
    return (unsigned)t < sizeof c ? c[t] : '?';
}

static void inside_time(int64_t t, char *buf, size_t n)
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (!gmtime_r(&tt, &tm) || !strftime(buf, n, "%Y-%m-%d %H:%M", &tm))
        snprintf(buf, n, "?");
}

static void inside_draw_vols(struct app *a, struct rect r)
{
    struct inside *s = &in_s;
    app_put(r.y, r.x, r.w, " Volume        Size        Type                 Filesystem  Label",
            app_attr(a, THEME_E_TITLE), true);
    app_list_position(a, r, &s->vlist, s->nvols);
    int rows = r.h - 1 > 0 ? r.h - 1 : 1;
    list_place(&s->vlist, s->nvols, rows);
    for (int i = 0; i < rows && s->vlist.top + (size_t)i < s->nvols; i++) {
        size_t k = s->vlist.top + (size_t)i;
        const struct fs_vol_info *v = &s->vols[k];
        char nm[160], ty[80], lb[160], sz[32], line[700];
        esc_str(nm, sizeof nm, v->vol.name[0] ? v->vol.name : "(whole disk)");
        esc_str(ty, sizeof ty, v->type);
        esc_str(lb, sizeof lb, v->label);
        snprintf(line, sizeof line, " %-12s %10s  %-20s %-11s %s", nm,
                 app_size(v->vol.size, sz, sizeof sz), ty, v->fs[0] ? v->fs : "-", lb);
        attr_t at = k == s->vlist.cur
                        ? app_attr(a, THEME_E_SELECTION)
                        : app_attr(a, v->browsable ? THEME_E_DIR : THEME_E_IMAGE_UNKNOWN);
        app_put(r.y + 1 + i, r.x, r.w, line, at, true);
    }
}

static void inside_draw_dir(struct app *a, struct rect r)
{
    struct inside *s = &in_s;
    app_put(r.y, r.x, r.w, " Mode        Size  Modified          Name", app_attr(a, THEME_E_TITLE),
            true);
    app_list_position(a, r, &s->list, s->nvis);
    int rows = r.h - 1 > 0 ? r.h - 1 : 1;
    list_place(&s->list, s->nvis, rows);
    for (int i = 0; i < rows && s->list.top + (size_t)i < s->nvis; i++) {
        size_t k = s->list.top + (size_t)i;
        const struct fs_dirent *d = &s->ents[s->vis[k]];
        char nm[600], sz[32], tm[32], line[800];
        esc_str(nm, sizeof nm, d->name);
        inside_time(d->st.mtime, tm, sizeof tm);
        snprintf(line, sizeof line, " %c%04o %10s  %s  %s%s", inside_type_char(d->st.type),
                 d->st.mode & 07777,
                 d->st.type == FS_T_DIR ? "" : app_size(d->st.size, sz, sizeof sz), tm, nm,
                 d->st.type == FS_T_DIR ? "/" : "");
        attr_t at = k == s->list.cur
                        ? app_attr(a, THEME_E_SELECTION)
                        : app_attr(a, d->st.type == FS_T_DIR ? THEME_E_DIR : THEME_E_IMAGE);
        app_put(r.y + 1 + i, r.x, r.w, line, at, true);
    }
    if (!s->nvis)
        app_put(r.y + 1, r.x + 1, r.w - 1,
                s->nents ? "(nothing matches the filter)" : "(empty directory)",
                app_attr(a, THEME_E_IMAGE_UNKNOWN), false);
}

struct inside_ext {
    uint64_t first, runs, bytes;
};

static int inside_ext_cb(void *ctx, uint64_t file_off, uint64_t vol_off, uint64_t len)
{
    struct inside_ext *e = ctx;
    (void)file_off;
    if (e->runs == 0)
        e->first = vol_off;
    e->runs++;
    e->bytes += len;
    return e->runs >= 100000; /* enough to describe it */
}

/* "data: 3 runs, first at byte 1048576 of the image" for the selection. */
static const char *inside_extents(struct inside *s, const struct fs_dirent *d)
{
    if (s->extents_valid && s->extents_for == d->st.ino)
        return s->extents;
    s->extents_valid = true;
    s->extents_for = d->st.ino;
    struct inside_ext e = {0};
    uint64_t at = 0, run = 0;
    if (d->st.type != FS_T_REG || !s->fs->drv->extents) {
        snprintf(s->extents, sizeof s->extents, "-");
    } else if (s->fs->drv->extents(s->fs, d->st.ino, inside_ext_cb, &e) < 0) {
        snprintf(s->extents, sizeof s->extents, "unknown (%.200s)", s->fs->err.msg);
    } else if (e.runs == 0) {
        snprintf(s->extents, sizeof s->extents, "none (empty, sparse or inline)");
    } else if (fs_vol_to_img(s->vol, e.first, &at, &run) == 0) {
        snprintf(s->extents, sizeof s->extents, "image byte %llu, %llu run%s",
                 (unsigned long long)at, (unsigned long long)e.runs, e.runs == 1 ? "" : "s");
    } else {
        snprintf(s->extents, sizeof s->extents, "%llu runs", (unsigned long long)e.runs);
    }
    return s->extents;
}

static void inside_info(struct app *a, struct rect r)
{
    struct inside *s = &in_s;
    if (r.w <= 2 || r.h <= 0)
        return;
    attr_t bd = app_attr(a, THEME_E_BORDER), df = app_attr(a, THEME_E_DEFAULT);
    for (int y = r.y; y < r.y + r.h; y++)
        app_put(y, r.x, 1, "|", bd, false);
    char lines[8][700];
    int n = 0;
    char b1[600], b2[64];
    if (!s->fs) {
        if (s->vlist.cur >= s->nvols)
            return;
        const struct fs_vol_info *v = &s->vols[s->vlist.cur];
        snprintf(lines[n++], sizeof lines[0], "volume: %s",
                 esc_str(b1, sizeof b1, v->vol.name[0] ? v->vol.name : "(whole disk)"));
        snprintf(lines[n++], sizeof lines[0], "size: %s", app_size(v->vol.size, b2, sizeof b2));
        snprintf(lines[n++], sizeof lines[0], "filesystem: %s", v->fs[0] ? v->fs : "none found");
        snprintf(lines[n++], sizeof lines[0], "label: %s", esc_str(b1, sizeof b1, v->label));
        snprintf(lines[n++], sizeof lines[0], "uuid: %s", esc_str(b1, sizeof b1, v->uuid));
        if (v->used_known)
            snprintf(lines[n++], sizeof lines[0], "used: %s", app_size(v->used, b2, sizeof b2));
        if (v->note[0])
            snprintf(lines[n++], sizeof lines[0], "%s", esc_str(b1, sizeof b1, v->note));
    } else if (inside_sel(s)) {
        const struct fs_dirent *d = inside_sel(s);
        char t1[32], t2[32];
        snprintf(lines[n++], sizeof lines[0], "%s", esc_str(b1, sizeof b1, d->name));
        snprintf(lines[n++], sizeof lines[0], "size: %llu bytes", (unsigned long long)d->st.size);
        snprintf(lines[n++], sizeof lines[0], "mode: %c%04o  uid %u gid %u",
                 inside_type_char(d->st.type), d->st.mode & 07777, d->st.uid, d->st.gid);
        inside_time(d->st.mtime, t1, sizeof t1);
        inside_time(d->st.ctime, t2, sizeof t2);
        snprintf(lines[n++], sizeof lines[0], "modified: %s UTC", t1);
        snprintf(lines[n++], sizeof lines[0], "changed:  %s UTC", t2);
        snprintf(lines[n++], sizeof lines[0], "data: %s", inside_extents(s, d));
    }
    for (int i = 0; i < n && i < r.h; i++)
        app_put(r.y + i, r.x + 2, r.w - 2, lines[i], df, false);
}

static void inside_draw_view(struct app *a, struct rect r)
{
    struct inside_view *v = &in_s.view;
    app_put(r.y, r.x, r.w, v->title, app_attr(a, THEME_E_TITLE), true);
    int rows = r.h - 1;
    for (int i = 0; i < rows && v->list.top + (size_t)i < v->n; i++)
        app_put(r.y + 1 + i, r.x, r.w, v->lines[v->list.top + (size_t)i],
                app_attr(a, THEME_E_DEFAULT), false);
}

static void inside_draw(struct app *a, struct rect body)
{
    struct inside *s = &in_s;
    if (s->view.on) {
        inside_draw_view(a, body);
        return;
    }
    struct rect r = a->lay.list;
    if (s->fs)
        inside_draw_dir(a, r);
    else
        inside_draw_vols(a, r);
    if (a->lay.mode == LAYOUT_BESIDE || a->lay.mode == LAYOUT_BELOW)
        inside_info(a, a->lay.info);
    if (s->timing_pending) {
        s->timing_pending = false;
        app_timing_after_frame(a, "inside_drawn");
    }
}

static void inside_header(struct app *a, struct rect r)
{
    struct inside *s = &in_s;
    char where[FS_PATH_MAX + 1400], e1[1024], e2[256], e3[FS_PATH_MAX];
    esc_str(e1, sizeof e1, s->path);
    if (s->fs)
        snprintf(where, sizeof where, "%s%s%s:%s", e1, s->vol_name[0] ? "#" : "",
                 esc_str(e2, sizeof e2, s->vol_name), esc_str(e3, sizeof e3, s->dir));
    else
        snprintf(where, sizeof where, "%s", e1);
    app_header(a, r, s->view.on ? "view" : "inside", where);
}

/* ---- keys ---- */

static char *inside_child(const struct inside *s, const char *name)
{
    size_t dl = strlen(s->dir), nl = strlen(name);
    if (dl + 1 + nl >= FS_PATH_MAX)
        return NULL;
    char *p = malloc(dl + nl + 2);
    if (!p)
        return NULL;
    memcpy(p, s->dir, dl);
    if (strcmp(s->dir, "/") != 0)
        p[dl++] = '/';
    memcpy(p + dl, name, nl + 1);
    return p;
}

/* Read up to INSIDE_VIEW_MAX bytes of ino into escaped lines. */
static void inside_view_open(struct app *a, const struct fs_dirent *d)
{
    struct inside *s = &in_s;
    uint8_t *buf = malloc(INSIDE_VIEW_MAX);
    if (!buf) {
        app_status(a, true, "out of memory");
        return;
    }
    size_t got = 0;
    while (got < INSIDE_VIEW_MAX) {
        ssize_t k = fs_read(s->fs, d->st.ino, got, buf + got, INSIDE_VIEW_MAX - got);
        if (k < 0) {
            app_status(a, true, "%s", s->fs->err.msg);
            free(buf);
            return;
        }
        if (k == 0)
            break;
        got += (size_t)k;
    }
    struct inside_view *v = &s->view;
    inside_view_close(v);
    size_t cap = 0;
    for (size_t p = 0; p < got && v->n < INSIDE_VIEW_LINES;) {
        uint8_t *nl = memchr(buf + p, '\n', got - p);
        size_t len = nl ? (size_t)(nl - (buf + p)) : got - p;
        if (v->n == cap) {
            cap = cap ? cap * 2 : 256;
            char **nlines = realloc(v->lines, cap * sizeof *nlines);
            if (!nlines)
                break;
            v->lines = nlines;
        }
        char *line = esc_dup((const char *)buf + p, len);
        if (!line)
            break;
        v->lines[v->n++] = line;
        p += len + 1;
    }
    free(buf);
    char nm[400];
    snprintf(v->title, sizeof v->title, " %s  %llu bytes%s", esc_str(nm, sizeof nm, d->name),
             (unsigned long long)d->st.size,
             d->st.size > INSIDE_VIEW_MAX ? " (the first 4 MiB)" : "");
    v->on = true;
}

/* Up: the parent directory, the volume list from a root, the host from the volumes. */
static void inside_up(struct app *a)
{
    struct inside *s = &in_s;
    if (s->fs && strcmp(s->dir, "/") != 0) {
        char parent[FS_PATH_MAX], name[FS_PATH_MAX];
        memcpy(parent, s->dir, sizeof parent);
        char *slash = strrchr(parent, '/');
        memcpy(name, slash + 1, strlen(slash + 1) + 1);
        if (slash == parent)
            slash[1] = 0;
        else
            *slash = 0;
        inside_chdir(a, parent, name);
    } else if (s->fs && s->nvols > 1) {
        inside_fs_close(s);
    } else {
        app_pop(a); /* back where the image was chosen */
    }
}

static void inside_open(struct app *a)
{
    struct inside *s = &in_s;
    if (!s->fs) {
        if (s->vlist.cur < s->nvols)
            inside_open_vol(a, s->vlist.cur);
        return;
    }
    const struct fs_dirent *d = inside_sel(s);
    if (!d)
        return;
    if (d->st.type == FS_T_DIR) {
        char *p = inside_child(s, d->name);
        if (p)
            inside_chdir(a, p, NULL);
        else
            app_status(a, true, "path too long");
        free(p);
    } else if (d->st.type == FS_T_REG) {
        inside_view_open(a, d);
    } else {
        app_status(a, false, "not a file or directory");
    }
}

/* The pager takes its keys before the application: q, Esc, Backspace or v close it (not the
 * screen), the movement keys scroll it; the rest (help, jobs) go on as usual. */
/* Typing the filter: Esc clears it, Enter keeps it, Backspace takes a character back; the
 * list follows each key. */
static void inside_filter_key(struct inside *s, int ch)
{
    size_t n = strlen(s->filter);
    const struct fs_dirent *d = inside_sel(s);
    char keep[FS_NAME_MAX + 1] = "";
    if (d)
        snprintf(keep, sizeof keep, "%s", d->name);
    if (ch == 27) {
        s->filter[0] = 0;
        s->filtering = false;
    } else if (ch == '\n' || ch == '\r' || ch == KEY_ENTER) {
        s->filtering = false;
    } else if (ch == KEY_BACKSPACE || ch == 127 || ch == 8) {
        if (n)
            s->filter[n - 1] = 0;
    } else if (ch >= 32 && ch < 256 && n + 1 < sizeof s->filter) {
        s->filter[n] = (char)ch;
        s->filter[n + 1] = 0;
    } else {
        return;
    }
    inside_refresh(s, keep);
}

static bool inside_prompt(struct app *a, struct rect r, int keep)
{
    struct inside *s = &in_s;
    if (!s->filtering)
        return false;
    char buf[200];
    snprintf(buf, sizeof buf, "/%.127s", s->filter);
    app_put(r.y, r.x, r.w - keep - 1, buf, app_attr(a, THEME_E_INPUT), false);
    curs_set(1);
    move(r.y, r.x + 1 + (int)strlen(s->filter));
    return true;
}

static bool inside_input(struct app *a, int ch)
{
    struct inside_view *v = &in_s.view;
    if (in_s.filtering) {
        inside_filter_key(&in_s, ch);
        return true;
    }
    if (!v->on)
        return false;
    enum km_action act = keymap_lookup(KM_INSIDE, ch);
    if (act == KM_A_QUIT || ch == 27 || act == KM_A_BACK || act == KM_A_FS_VIEW) {
        inside_view_close(v);
        return true;
    }
    return list_scroll(&v->list, v->n, a->lay.body.h - 1, 10, act);
}

static void inside_key(struct app *a, int ch, enum km_action act)
{
    struct inside *s = &in_s;
    (void)ch;
    int rows = a->lay.list.h - 1 > 1 ? a->lay.list.h - 1 : 1;
    struct list *l = s->fs ? &s->list : &s->vlist;
    if (list_move(l, s->fs ? s->nvis : s->nvols, rows, act)) {
        s->extents_valid = false;
        return;
    }
    switch (act) {
    case KM_A_OPEN: inside_open(a); break;
    case KM_A_BACK: inside_up(a); break;
    case KM_A_INFO: a->info_pane = !a->info_pane; break;
    case KM_A_FILTER:
        if (s->fs)
            s->filtering = true;
        break;
    case KM_A_SORT_NAME:
    case KM_A_SORT_SIZE:
    case KM_A_SORT_TIME:
        if (s->fs) {
            const struct fs_dirent *d = inside_sel(s);
            char keep[FS_NAME_MAX + 1] = "";
            if (d)
                snprintf(keep, sizeof keep, "%s", d->name);
            s->sort_rev = s->sort == act ? !s->sort_rev : false; /* again: reverse */
            s->sort = act;
            inside_refresh(s, keep);
        }
        break;
    case KM_A_FS_VIEW:
        if (inside_sel(s) && inside_sel(s)->st.type == FS_T_REG)
            inside_view_open(a, inside_sel(s));
        else
            app_status(a, true, "select a file to read");
        break;
    case KM_A_FS_GET:
        if (inside_sel(s)) {
            char *p = inside_child(s, inside_sel(s)->name);
            if (p)
                inside_get(a, s->path, s->vol_name, p);
            free(p);
        } else {
            app_status(a, true, "select a file or directory to copy");
        }
        break;
    default: break;
    }
}

const struct screen screen_inside = {
    .name = "inside",
    .keys = KM_INSIDE,
    .keys_title = "Inside an image (volumes and files)",
    .hint = "Enter open, Backspace up, v view, c copy out, / filter, s S M sort, q back",
    .leave = inside_leave,
    .draw = inside_draw,
    .key = inside_key,
    .header = inside_header,
    .input = inside_input,
    .prompt = inside_prompt,
};

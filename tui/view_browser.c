/* SPDX-License-Identifier: GPL-2.0-or-later */
/* view_browser.c: the directory browser, dimg's home screen: one row per entry (name, format,
 * virtual size, size on disk, allocation, markers), sorted and filtered, with the info pane
 * (what `dimg info` says about the selected image) beside or below it. Entries fill in as the
 * background scan (core/scan) probes them; the rows on screen are probed first.
 * Talks to: app.h (frame, drawing kit), core/scan/scan.h, core/describe/describe.h (what the
 * info pane shows, the same as dimg info).
 */
#include "tui/app.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/block/img.h"
#include "core/base/io.h"
#include "core/describe/describe.h"
#include "core/base/esc.h"

const struct scan_entry *browser_selected(struct app *a, size_t *entry_index)
{
    if (!a->scan || a->list.cur >= a->nidx)
        return NULL;
    if (entry_index)
        *entry_index = a->idx[a->list.cur];
    return scan_entry(a->scan, a->idx[a->list.cur]);
}

char *browser_selected_path(struct app *a)
{
    const struct scan_entry *e = browser_selected(a, NULL);
    return e ? browser_entry_path(a, e) : NULL;
}

static bool browser_visible(struct app *a, const struct scan_entry *e)
{
    if (e->is_dotdot)
        return true;
    if (e->hidden && !a->hidden)
        return false;
    return !a->filter[0] || strcasestr(e->display, a->filter) != NULL;
}

void browser_refresh(struct app *a)
{
    if (!a->scan)
        return;
    size_t n = scan_count(a->scan);
    size_t keep = a->list.cur < a->nidx ? a->idx[a->list.cur] : SIZE_MAX;
    size_t *idx = realloc(a->idx, (n ? n : 1) * sizeof *idx);
    if (!idx)
        return;
    a->idx = idx;
    a->nidx = 0;
    for (size_t i = 0; i < n; i++)
        if (browser_visible(a, scan_entry(a->scan, i)))
            a->idx[a->nidx++] = i;
    scan_sort(a->scan, a->idx, a->nidx, a->sort, a->sort_rev, true);
    a->list.cur = 0;
    for (size_t i = 0; i < a->nidx; i++)
        if (a->idx[i] == keep)
            a->list.cur = i;
}

/* ARCHIVE/.. is the directory holding the archive (realpath cannot see through a file). */
static char *browser_out_of_archive(const char *dir)
{
    size_t n = strlen(dir);
    if (n < 4 || strcmp(dir + n - 3, "/..") != 0)
        return NULL;
    char *prefix = strndup(dir, n - 3);
    struct stat st;
    char *up = NULL;
    if (prefix && stat(prefix, &st) == 0 && S_ISREG(st.st_mode))
        up = io_dirname(prefix);
    free(prefix);
    return up;
}

const char *browser_where(struct app *a)
{
    return a->scan && scan_is_remote(a->scan) ? scan_path(a->scan) : a->dir;
}

char *browser_entry_path(struct app *a, const struct scan_entry *e)
{
    return a->scan && scan_is_remote(a->scan) ? strdup(e->name) : io_path_join(a->dir, e->name);
}

/* The listing of dir into real (PATH_MAX): a directory, an archive's members, or one remote
 * image (an NBD URI) alone, whose entry is named by the URI (browser_entry_path) and whose
 * real is the current directory, where new files (a convert's output) go. NULL with the
 * status said. */
static struct scan_dir *browser_list(struct app *a, const char *dir, char *real)
{
    struct img_err err = {0};
    struct scan_dir *s = NULL;
    if (img_name_is_uri(dir)) {
        if (!getcwd(real, PATH_MAX)) {
            app_status(a, true, ".: %s", strerror(errno));
            return NULL;
        }
        s = scan_open_uri(dir, &err);
    } else {
        char *up = browser_out_of_archive(dir);
        bool ok = realpath(up ? up : dir, real) != NULL;
        free(up);
        if (!ok) {
            app_status(a, true, "%s: %s", dir, strerror(errno));
            return NULL;
        }
        struct stat st;
        /* An archive is entered like a directory: its members, listed by core/archive. */
        bool arc = stat(real, &st) == 0 && S_ISREG(st.st_mode);
        s = arc ? scan_open_archive(real, &err) : scan_open(real, 0, &err);
    }
    if (!s)
        app_status(a, true, "%s", err.msg);
    return s;
}

int browser_chdir(struct app *a, const char *dir)
{
    char real[PATH_MAX];
    struct scan_dir *s = browser_list(a, dir, real);
    if (!s)
        return -1;
    /* Coming back up: keep the cursor on the directory we came from. */
    char *from = NULL;
    if (a->dir && strncmp(a->dir, real, strlen(real)) == 0) {
        const char *rest = a->dir + strlen(real);
        while (*rest == '/')
            rest++;
        from = strndup(rest, strcspn(rest, "/"));
    }
    if (a->scan)
        scan_close(a->scan);
    a->scan = s;
    free(a->dir);
    a->dir = strdup(real);
    a->list = (struct list){0, 0};
    a->filter[0] = 0;
    a->info_for[0] = 0;
    browser_refresh(a);
    if (from) {
        for (size_t i = 0; i < a->nidx; i++)
            if (strcmp(scan_entry(s, a->idx[i])->name, from) == 0)
                a->list.cur = i;
        free(from);
    } else if (a->nidx > 1 && scan_entry(s, a->idx[0])->is_dotdot) {
        a->list.cur = 1; /* start on the first real entry, not on ".." */
    }
    return 0;
}

void browser_count_status(struct app *a)
{
    size_t n = 0;
    for (size_t i = 0; a->scan && i < scan_count(a->scan); i++)
        if (!scan_entry(a->scan, i)->is_dotdot)
            n++;
    app_status(a, false, "%zu %s%s", n,
               a->scan && scan_is_archive(a->scan) ? (n == 1 ? "member" : "members")
                                                   : (n == 1 ? "entry" : "entries"),
               a->scan && scan_is_archive(a->scan)
                   ? " in the archive; Backspace leaves it"
                   : ". Enter opens, m map, t tree, c convert, ? help");
}

int browser_rescan(struct app *a)
{
    if (!a->dir)
        return -1;
    /* A remote image is probed again from its URI. */
    bool remote = a->scan && scan_is_remote(a->scan);
    char *d = strdup(remote ? scan_path(a->scan) : a->dir), *keep = NULL;
    const struct scan_entry *e = browser_selected(a, NULL);
    if (e)
        keep = strdup(e->name);
    char filter[sizeof a->filter];
    memcpy(filter, a->filter, sizeof filter);
    size_t cur = a->list.cur, top = a->list.top;
    int r = d ? browser_chdir(a, d) : -1;
    if (r == 0) {
        /* Same filter, same entry under the cursor (or the same row), same scroll. */
        memcpy(a->filter, filter, sizeof filter);
        browser_refresh(a);
        a->list.cur = cur < a->nidx ? cur : (a->nidx ? a->nidx - 1 : 0);
        for (size_t k = 0; keep && k < a->nidx; k++)
            if (strcmp(scan_entry(a->scan, a->idx[k])->name, keep) == 0)
                a->list.cur = k;
        a->list.top = top;
    }
    free(keep);
    free(d);
    return r;
}

char *browser_write_dir(struct app *a)
{
    if (!a->dir)
        return NULL;
    return a->scan && scan_is_archive(a->scan) ? io_dirname(a->dir) : strdup(a->dir);
}

bool browser_opens_archive(struct app *a)
{
    const struct scan_entry *e = browser_selected(a, NULL);
    /* Archives probed as raw only: a qcow2 named x.gz stays an image. */
    return e && !e->is_dir && !scan_is_archive(a->scan) && (e->flags & SCAN_F_ARCHIVE) &&
           scan_entry_state(e) == SCAN_DONE && (e->flags & SCAN_F_RAW_GUESS);
}

/* "SBECL": snapshots, backing file, encryption, compressed clusters, locked by a VM. */
static void browser_markers(const struct scan_entry *e, char *m)
{
    memcpy(m, "     ", 6);
    if (e->flags & SCAN_F_SNAPSHOTS)
        m[0] = 'S';
    if (e->flags & SCAN_F_BACKING)
        m[1] = 'B';
    if (e->flags & SCAN_F_ENCRYPTED)
        m[2] = 'E';
    if (e->flags & SCAN_F_COMPRESSED)
        m[3] = 'C';
    if (e->flags & SCAN_F_LOCKED)
        m[4] = 'L';
}

/* The columns after the name, as many as fit (the title row passes its headings). */
static void browser_columns(char *out, size_t n, int ncols, const char *fmt, const char *vs,
                            const char *ds, const char *pct, const char *mk)
{
    size_t len = 0;
    out[0] = 0;
    const char *v[5] = {fmt, vs, ds, pct, mk};
    for (int i = 0; i < ncols && len < n; i++) {
        int w = layout_browser_col_w[i];
        /* format and flags left-aligned after a blank; sizes right-aligned */
        if (i == 0 || i == 4)
            len += (size_t)snprintf(out + len, n - len, " %-*.*s", w - 1, w - 1, v[i]);
        else
            len += (size_t)snprintf(out + len, n - len, "%*.*s", w, w - 1, v[i]);
    }
}

/* The format column of an entry that is not probed: what kind of thing it is. */
static const char *browser_kind(const struct scan_entry *e)
{
    if (e->is_dangling)
        return "<link>";
    if (S_ISBLK(e->mode))
        return "<block>";
    if (S_ISCHR(e->mode))
        return "<char>";
    if (S_ISFIFO(e->mode))
        return "<fifo>";
    if (S_ISSOCK(e->mode))
        return "<sock>";
    return "?";
}

static void browser_row(struct app *a, int y, struct rect r, const struct scan_entry *e, bool sel)
{
    char fmt[24] = "", vs[16] = "", ds[16] = "", pct[8] = "", mk[8] = "     ";
    enum theme_elem el = THEME_E_IMAGE;
    enum scan_state st = scan_entry_state(e);
    app_size(e->disk_bytes, ds, sizeof ds);
    if (e->is_dir) {
        snprintf(fmt, sizeof fmt, "<dir>");
        ds[0] = 0;
        el = THEME_E_DIR;
    } else if (st == SCAN_PENDING) {
        snprintf(fmt, sizeof fmt, "...");
        el = THEME_E_IMAGE_UNKNOWN;
    } else if (st == SCAN_ERROR) {
        snprintf(fmt, sizeof fmt, "%s", e->format ? e->format : "error");
        el = THEME_E_IMAGE_ERROR;
    } else if (st == SCAN_DONE) {
        snprintf(fmt, sizeof fmt, "%s", e->format ? e->format : "?");
        if ((e->flags & SCAN_F_ARCHIVE) && (e->flags & SCAN_F_RAW_GUESS))
            snprintf(fmt, sizeof fmt, "archive"); /* Enter lists its members */
        app_size(e->virtual_size, vs, sizeof vs);
        if (e->virtual_size && !scan_is_archive(a->scan))
            snprintf(pct, sizeof pct, "%3.0f%%",
                     100.0 * (double)e->alloc_bytes / (double)e->virtual_size);
        browser_markers(e, mk);
        if (e->flags & SCAN_F_RAW_GUESS)
            el = THEME_E_IMAGE_UNKNOWN;
        if ((e->flags & SCAN_F_RAW_GUESS) && (e->flags & SCAN_F_PLAIN)) {
            snprintf(fmt, sizeof fmt, "file"); /* not a disk: no virtual size, no usage */
            vs[0] = pct[0] = 0;
        }
    } else {
        snprintf(fmt, sizeof fmt, "%s", browser_kind(e));
        el = THEME_E_IMAGE_UNKNOWN; /* devices, sockets, dangling links */
    }
    /* name | format | virtual | disk | used | flags: the name shrinks first, then the columns
     * go from the right (layout_browser_cols). */
    int nw, ncols = layout_browser_cols(r.w, &nw);
    attr_t base = sel ? app_attr(a, THEME_E_SELECTION) : app_attr(a, el);
    app_fill(y, r.x, r.w, base);
    char name[4200];
    snprintf(name, sizeof name, " %s%s%s%.2000s", e->display, e->is_dir && !e->is_dotdot ? "/" : "",
             e->is_dangling ? " -> " : "", e->is_dangling && e->link_target ? e->link_target : "");
    app_put(y, r.x, nw, name, base, true);
    char rest[96];
    browser_columns(rest, sizeof rest, ncols, fmt, vs, ds, pct, mk);
    app_put(y, r.x + nw, r.w - nw, rest,
            sel ? base : app_attr(a, el == THEME_E_IMAGE ? THEME_E_SIZE : el), false);
}

/* A member past the pane's quick listing: what the archive view's full listing learnt. */
static void browser_member_facts(FILE *f, const struct app *a, const struct scan_entry *e)
{
    const char *ap = scan_path(a->scan);
    char *ad = esc_dup(ap, strlen(ap));
    fprintf(f, "archive: %s\nmember: %s\ntype: file\n", ad ? ad : "?", e->display);
    free(ad);
    describe_member_facts(f, e->format, e->flags & SCAN_F_RAW_GUESS, true, e->size,
                          e->virtual_size);
}

static void browser_info(struct app *a, struct rect r)
{
    if (r.w <= 2 || r.h <= 0)
        return;
    attr_t bd = app_attr(a, THEME_E_BORDER);
    for (int y = r.y; y < r.y + r.h; y++)
        app_put(y, r.x, 1, "|", bd, false);
    if (a->lay.mode == LAYOUT_BELOW) {
        app_fill(r.y, r.x, r.w, bd);
        app_put(r.y, r.x, r.w, "-- info ", bd, false);
    }
    size_t ei;
    const struct scan_entry *e = browser_selected(a, &ei);
    if (!e)
        return;
    char *path = browser_entry_path(a, e);
    if (!path)
        return;
    int st = scan_entry_state(e);
    if (strcmp(a->info_for, path) != 0 || a->info_state != st) {
        free(a->info_text);
        a->info_text = NULL;
        snprintf(a->info_for, sizeof a->info_for, "%s", path);
        a->info_state = st;
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        if (f) {
            if (e->is_dir) {
                fprintf(f, "directory: %s\n\nEnter opens it.\n", e->display);
            } else if (e->is_dangling) {
                fprintf(f, "%s -> %s\n\nbroken symbolic link: its target\n%s\ndoes not exist.\n",
                        e->display, e->link_target ? e->link_target : "?",
                        e->link_target ? e->link_target : "");
            } else if (st == SCAN_DONE && (e->flags & SCAN_F_RAW_GUESS) &&
                       (e->flags & SCAN_F_PLAIN)) {
                char sz[16];
                fprintf(f,
                        "%s\n\nplain file, %s (%llu bytes): no image format claims it, and it\n"
                        "is not a raw disk (%s, no boot sector).\n"
                        "Actions still read it as raw bytes.\n",
                        e->display, app_size(e->size, sz, sizeof sz), (unsigned long long)e->size,
                        e->size % 512 || !e->size ? "not a whole number of 512-byte sectors"
                                                  : "it starts with text");
            } else if (st == SCAN_PENDING) {
                fprintf(f, "%s\n\nprobing...\n", e->display);
            } else if (st == SCAN_ERROR) {
                fprintf(f, "%s\n\nerror: %s\n", e->display, e->msg ? e->msg : "unreadable");
            } else if (st == SCAN_DONE) {
                char err[512];
                unsigned fl = a->opts.untrusted ? IMG_OPEN_UNTRUSTED : 0;
                /* An archive probed as raw is shown as an archive, not as raw bytes. */
                const char *fmt =
                    (e->flags & SCAN_F_ARCHIVE) && (e->flags & SCAN_F_RAW_GUESS) ? NULL : e->format;
                if (scan_is_archive(a->scan))
                    fmt = NULL; /* a member: its archive is read again for the pane */
                /* Archives: listed without inflating a compressed file to the end. */
                int ar = describe_archive_write(f, path, fmt, false, true, err, sizeof err);
                if (ar == 2)
                    browser_member_facts(f, a, e); /* the view's listing read it all */
                else if (ar > 0)
                    fprintf(f, "error: %s\n", err);
                if (ar < 0 && describe_write(f, path, fmt, fl, !a->opts.untrusted, false, err,
                                             sizeof err) != 0) {
                    /* A broken chain still deserves the top image's facts. */
                    fflush(f);
                    if (describe_write(f, path, fmt, fl, false, false, err, sizeof err))
                        fprintf(f, "error: %s\n", err);
                }
                if (e->flags & SCAN_F_LOCKED)
                    fprintf(f, "\nin use: a running QEMU holds this image's locks\n");
                if ((e->flags & SCAN_F_ARCHIVE) && !scan_is_archive(a->scan))
                    fprintf(f, "\nEnter opens the archive.\n");
            } else if (S_ISBLK(e->mode)) {
                /* The CLI takes block devices: show what it would say. */
                char err[512];
                fprintf(f, "block device: %s\n\n", e->display);
                fflush(f);
                if (describe_write(f, path, NULL, IMG_OPEN_UNTRUSTED, false, false, err,
                                   sizeof err) != 0)
                    fprintf(f, "error: %s\n", err);
            } else {
                fprintf(f, "%s\n\n%s: not a regular file\n", e->display, browser_kind(e));
            }
            fclose(f);
            a->info_text = buf;
        }
    }
    free(path);
    if (!a->info_text)
        return;
    int y = r.y + (a->lay.mode == LAYOUT_BELOW ? 1 : 0);
    const char *p = a->info_text;
    while (*p && y < r.y + r.h) {
        size_t n = strcspn(p, "\n");
        char line[512];
        snprintf(line, sizeof line, "%.*s", (int)(n < sizeof line - 1 ? n : sizeof line - 1), p);
        enum theme_elem el = strncmp(line, "error", 5) == 0 ? THEME_E_ERROR : THEME_E_DEFAULT;
        if (y == r.y + (a->lay.mode == LAYOUT_BELOW ? 1 : 0))
            el = THEME_E_TITLE;
        /* Long lines (an archive member's NAME) continue on the next rows, broken between
         * words. */
        int w = r.w - 3;
        if (w > 8)
            app_put_wrapped(&y, r.y + r.h, r.x + 2, w, 2, line, app_attr(a, el));
        else
            app_put(y++, r.x + 2, w, line, app_attr(a, el), false);
        p += n;
        if (*p)
            p++;
    }
}

static void browser_draw(struct app *a, struct rect body)
{
    (void)body; /* the list and the info pane have rectangles of their own */
    struct rect r = a->lay.list;
    int rows = r.h - 1;
    if (rows < 1)
        rows = 1;
    list_place(&a->list, a->nidx, rows);
    /* Column titles. */
    int nw, ncols = layout_browser_cols(r.w, &nw);
    app_fill(r.y, r.x, r.w, app_attr(a, THEME_E_TITLE));
    app_put(r.y, r.x, nw, " Name", app_attr(a, THEME_E_TITLE), true);
    char heads[96];
    browser_columns(heads, sizeof heads, ncols, "Format", "Virtual", "On disk", "Used", "Flags");
    app_put(r.y, r.x + nw, r.w - nw, heads, app_attr(a, THEME_E_TITLE), false);
    size_t prefer[256];
    size_t np = 0;
    for (int i = 0; i < rows; i++) {
        size_t k = a->list.top + (size_t)i;
        if (k >= a->nidx)
            break;
        const struct scan_entry *e = scan_entry(a->scan, a->idx[k]);
        browser_row(a, r.y + 1 + i, r, e, k == a->list.cur);
        if (scan_entry_state(e) == SCAN_PENDING && np < 256)
            prefer[np++] = a->idx[k];
    }
    if (np)
        scan_prefer(a->scan, prefer, np);
    if (!a->nidx)
        app_put(r.y + 1, r.x + 1, r.w - 1,
                a->filter[0] ? "(nothing matches the filter)" : "(empty)",
                app_attr(a, THEME_E_IMAGE_UNKNOWN), false);
    if (a->lay.mode == LAYOUT_BESIDE || a->lay.mode == LAYOUT_BELOW)
        browser_info(a, a->lay.info);
}

static void browser_sort(struct app *a, enum scan_sort s)
{
    if (a->sort == s)
        a->sort_rev = !a->sort_rev;
    else
        a->sort_rev = false;
    a->sort = s;
    browser_refresh(a);
}

static void browser_filter_key(struct app *a, int ch)
{
    size_t n = strlen(a->filter);
    if (ch == 27) {
        a->filter[0] = 0;
        a->filtering = false;
    } else if (ch == '\n' || ch == '\r' || ch == KEY_ENTER) {
        a->filtering = false;
    } else if (ch == KEY_BACKSPACE || ch == 127 || ch == 8) {
        if (n)
            a->filter[n - 1] = 0;
    } else if (ch >= 32 && ch < 256 && ch != 127 && n + 1 < sizeof a->filter) {
        a->filter[n] = (char)ch;
        a->filter[n + 1] = 0;
    } else {
        return;
    }
    a->list.cur = 0;
    browser_refresh(a);
    if (a->filter[0] && a->nidx > 1 && scan_entry(a->scan, a->idx[0])->is_dotdot)
        a->list.cur = 1; /* on the first match */
}

static void browser_key(struct app *a, int ch, enum km_action act)
{
    int rows = a->lay.list.h - 1 > 1 ? a->lay.list.h - 1 : 1;
    const struct scan_entry *e = browser_selected(a, NULL);
    if (list_move(&a->list, a->nidx, rows, act))
        return;
    switch (act) {
    case KM_A_OPEN:
        if (e && (e->is_dir || browser_opens_archive(a))) {
            char *p = browser_entry_path(a, e);
            if (p && browser_chdir(a, p) == 0)
                browser_count_status(a);
            free(p);
        }
        break;
    case KM_A_BACK: {
        /* From a remote image: the current directory. */
        char *p = a->scan && scan_is_remote(a->scan) ? strdup(a->dir) : io_path_join(a->dir, "..");
        if (p && browser_chdir(a, p) == 0)
            browser_count_status(a);
        free(p);
        break;
    }
    case KM_A_FILTER: a->filtering = true; break;
    case KM_A_INFO: a->info_pane = !a->info_pane; break;
    case KM_A_SORT_NAME: browser_sort(a, SCAN_SORT_NAME); break;
    case KM_A_SORT_SIZE: browser_sort(a, SCAN_SORT_DISK); break;
    case KM_A_SORT_FORMAT: browser_sort(a, SCAN_SORT_FORMAT); break;
    case KM_A_SORT_TIME: browser_sort(a, SCAN_SORT_MTIME); break;
    case KM_A_HIDDEN:
        a->hidden = !a->hidden;
        browser_refresh(a);
        app_status(a, false, "hidden files %s", a->hidden ? "shown" : "hidden");
        break;
    case KM_A_RESCAN: browser_rescan(a); break;
    case KM_A_CONVERT: action_convert(a); break;
    case KM_A_RESIZE: action_resize(a); break;
    case KM_A_APPEND: action_append(a); break;
    case KM_A_OVERLAY: action_overlay(a); break;
    case KM_A_COMMIT: action_commit(a, NULL); break;
    case KM_A_REBASE: action_rebase(a, NULL); break;
    case KM_A_CHECK: action_check(a); break;
    case KM_A_COMPACT: action_compact(a); break;
    case KM_A_EXPORT: action_export(a); break;
    case KM_A_IMPORT: action_import(a); break;
    case KM_A_UNTRUSTED:
        if (a->opts.untrusted_fixed) {
            app_status(a, true, "started with --untrusted: it stays on");
            break;
        }
        a->opts.untrusted = !a->opts.untrusted;
        a->info_for[0] = 0; /* the info pane follows the backing chain only when trusted */
        app_status(a, false, "untrusted mode %s",
                   a->opts.untrusted ? "on: no backing, extent or data file is followed"
                                     : "off: backing files are followed when asked for");
        break;
    default:
        if (ch == 27 && a->filter[0]) {
            a->filter[0] = 0;
            browser_refresh(a);
        }
        break;
    }
}

/* The keys that open another screen: the tree, and the map of an image (an archive's "map" is
 * its listing); the rest are the browser's own. */
static void browser_screen_key(struct app *a, int ch, enum km_action act)
{
    const struct scan_entry *e = browser_selected(a, NULL);
    if (act == KM_A_TREE) {
        app_push(a, &screen_tree); /* on the image the browser shows */
    } else if (act == KM_A_MAP && browser_opens_archive(a)) {
        browser_key(a, ch, KM_A_OPEN);
    } else if ((act == KM_A_MAP || act == KM_A_OPEN) && a->scan && scan_is_archive(a->scan) && e &&
               !e->is_dotdot) {
        app_status(a, true,
                   "%s is inside an archive: the map reads images in place; "
                   "c converts it out first",
                   e->display);
    } else if (act == KM_A_MAP ||
               (act == KM_A_OPEN && e && !e->is_dir && !browser_opens_archive(a))) {
        /* Enter opens an image like a directory when there is something inside to browse. */
        char *p = browser_selected_path(a);
        if (p && (act == KM_A_MAP || inside_show(a, p) == 1))
            map_show(a, p);
        free(p);
    } else {
        browser_key(a, ch, act);
    }
}

/* The application starts here: how many entries, and the main keys. */
static void browser_enter(struct app *a)
{
    if (!a->status[0])
        browser_count_status(a);
}

/* Entries appear and fill in as the scan probes them. */
static void browser_tick(struct app *a)
{
    browser_refresh(a);
}

/* " dimg  DIR", and at the right end the position, the modes, the filter and the sort. */
static void browser_header(struct app *a, struct rect r)
{
    static const char *const sorts[] = {"name", "size", "disk", "vsize", "format", "time"};
    app_header(a, r, NULL, browser_where(a));
    char right[320], pos[48]; /* the cursor's position in the list first */
    list_position(pos, sizeof pos, a->list.cur, a->nidx);
    snprintf(right, sizeof right, "%s  %s%s%s%s%s%s%s  ?:help ", pos,
             a->opts.read_only ? "[read-only] " : "", a->opts.untrusted ? "[untrusted] " : "",
             a->filter[0] ? "filter: " : "", a->filter, a->filter[0] ? "  " : "",
             a->sort_rev ? "-" : "", sorts[a->sort]);
    int rw = (int)strlen(right);
    if (rw < r.w / 2)
        app_put(r.y, r.x + r.w - rw, rw, right, app_attr(a, THEME_E_HEADER), false);
}

/* Typing a filter (/): every key is the filter's until Enter or Esc. */
static bool browser_input(struct app *a, int ch)
{
    if (!a->filtering)
        return false;
    browser_filter_key(a, ch);
    return true;
}

static bool browser_prompt(struct app *a, struct rect r, int keep)
{
    if (!a->filtering)
        return false;
    char buf[200];
    snprintf(buf, sizeof buf, "/%s", a->filter);
    app_put(r.y, r.x, r.w - keep - 1, buf, app_attr(a, THEME_E_INPUT), false);
    curs_set(1);
    move(r.y, r.x + 1 + (int)strlen(a->filter));
    return true;
}

/* A click on a row selects it; a double click opens it (Enter). */
static int browser_click(struct app *a, int y, int x, bool twice)
{
    struct rect r = a->lay.list;
    if (y <= r.y || y >= r.y + r.h || x < r.x || x >= r.x + r.w)
        return 0;
    size_t row = a->list.top + (size_t)(y - r.y - 1);
    if (row >= a->nidx)
        return 0;
    a->list.cur = row;
    return twice ? '\n' : 0;
}

const struct screen screen_browser = {
    .name = "browser",
    .keys = KM_BROWSER,
    .keys_title = "Browser",
    .hint = "Enter open, m map, t tree, c convert, R resize, C check, / filter, ? help",
    .enter = browser_enter,
    .draw = browser_draw,
    .key = browser_screen_key,
    .tick = browser_tick,
    .header = browser_header,
    .input = browser_input,
    .prompt = browser_prompt,
    .click = browser_click,
};

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* dialog.c: the one modal at a time: a small form (choice fields changed with Left/Right or
 * Space, text fields edited in place) with OK and Cancel, or a yes/no question whose default
 * is No. A question about something that loses data can require a typed word ("yes").
 * Enter accepts the form from any field (as mc, dialog and whiptail do; on Cancel it cancels),
 * Tab/Down and Shift-Tab/Up move between fields, Esc cancels. The focused field carries a '>'
 * marker and reverse video; a choice with one value is plain text and takes no focus. The box
 * grows to its text within the screen and wraps what is wider; an ok() that refuses the input
 * opens the form again as it was, with the reason inside (dlg_reopen).
 * Talks to: app.h (drawing kit). The ok callback does the work (usually starts a job).
 */
#include "tui/app.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

static void dlg_decline(struct app *a);

void dlg_begin(struct app *a, const char *title, void (*ok)(struct app *, struct dialog *))
{
    struct dialog *d = &a->dlg;
    memset(d, 0, sizeof *d);
    d->open = true;
    snprintf(d->title, sizeof d->title, "%s", title);
    d->ok = ok;
}

struct dlg_field *dlg_add_text(struct app *a, const char *label, const char *init)
{
    struct dialog *d = &a->dlg;
    if (d->nf >= DLG_MAX_FIELDS)
        return NULL;
    struct dlg_field *f = &d->f[d->nf++];
    f->kind = DLG_TEXT;
    f->label = label;
    snprintf(f->text, sizeof f->text, "%s", init ? init : "");
    f->cursor = strlen(f->text);
    return f;
}

struct dlg_field *dlg_add_choice(struct app *a, const char *label, const char *const *choices,
                                 int n, int sel)
{
    struct dialog *d = &a->dlg;
    if (d->nf >= DLG_MAX_FIELDS)
        return NULL;
    struct dlg_field *f = &d->f[d->nf++];
    f->kind = DLG_CHOICE;
    f->label = label;
    if (n > DLG_MAX_CHOICES)
        n = DLG_MAX_CHOICES;
    for (int i = 0; i < n; i++)
        f->choices[i] = choices[i];
    f->nchoices = n;
    f->choice = sel >= 0 && sel < n ? sel : 0;
    return f;
}

void dlg_confirm(struct app *a, const char *title, const char *question, const char *type_yes,
                 void (*ok)(struct app *, struct dialog *))
{
    dlg_begin(a, title, ok);
    struct dialog *d = &a->dlg;
    d->confirm = true;
    snprintf(d->msg[0], sizeof d->msg[0], "%s", question);
    if (type_yes) {
        snprintf(d->type_yes, sizeof d->type_yes, "%s", type_yes);
        snprintf(d->msg[1], sizeof d->msg[1], "Type '%s' and press Enter to go ahead.", type_yes);
    }
    d->focus = 1; /* No */
}

attr_t dlg_frame(struct app *a, int y, int x, int h, int w, const char *title)
{
    attr_t bg = app_attr(a, THEME_E_DIALOG);
    for (int i = 0; i < h; i++)
        app_fill(y + i, x, w, bg);
    attrset(bg);
    mvhline(y, x, ACS_HLINE, w);
    mvhline(y + h - 1, x, ACS_HLINE, w);
    if (h >= 2 && w >= 2) { /* side borders: the box stands apart from the screen below */
        mvvline(y, x, ACS_VLINE, h);
        mvvline(y, x + w - 1, ACS_VLINE, h);
        mvaddch(y, x, ACS_ULCORNER);
        mvaddch(y, x + w - 1, ACS_URCORNER);
        mvaddch(y + h - 1, x, ACS_LLCORNER);
        mvaddch(y + h - 1, x + w - 1, ACS_LRCORNER);
    }
    attrset(A_NORMAL);
    char t[160];
    snprintf(t, sizeof t, " %s ", title);
    app_put(y, x + 2, w - 4, t, app_attr(a, THEME_E_TITLE), false);
    return bg;
}

static int dlg_nlines(const char *s, int w)
{
    int n = 0;
    while (*s) {
        app_wrap_line(s, w, &s);
        n++;
    }
    return n;
}

/* A choice with a single value cannot change: it is shown as text and takes no focus. */
static bool dlg_focusable(const struct dialog *d, int i)
{
    return i >= d->nf || d->f[i].kind == DLG_TEXT || d->f[i].nchoices > 1;
}

/* Move the focus by dir (+1/-1) over the fields and the two buttons, skipping fixed ones. */
static void dlg_move(struct dialog *d, int dir)
{
    int n = d->nf + 2;
    for (int k = 0; k < n; k++) {
        d->focus = (d->focus + dir + n) % n;
        if (dlg_focusable(d, d->focus))
            return;
    }
}

#define DLG_LABEL_W 14 /* label column; values start after it and the marker */

/* As wide as its text wants, within a screen W columns wide; wider text wraps. */
static int dlg_width(const struct dialog *d, int W)
{
    int maxw = W > 24 ? W - 2 : W;
    if (maxw > 110)
        maxw = 110;
    int need = 52;
    int tcols = app_cols(d->title) + 6;
    need = tcols > need ? tcols : need;
    for (int i = 0; i < 3; i++) {
        int c = app_cols(d->msg[i]) + 4;
        need = c > need ? c : need;
    }
    for (int i = 0; i < d->nf; i++) {
        const struct dlg_field *f = &d->f[i];
        int c = 0;
        if (f->kind == DLG_CHOICE)
            for (int k = 0; k < f->nchoices; k++) {
                int cc = app_cols(f->choices[k]) + 4;
                c = cc > c ? cc : c;
            }
        else
            c = app_cols(f->text) + 1 > 30 ? app_cols(f->text) + 1 : 30;
        c += 4 + DLG_LABEL_W + 3;
        need = c > need ? c : need;
    }
    return need < maxw ? need : maxw;
}

/* The fields of a dialog at column x, w wide, from *row until stop; the text cursor's place
 * goes to *cy, *cx when a text field has the focus. */
static void dlg_draw_fields(struct app *a, const struct dialog *d, int *row, int stop, int x, int w,
                            attr_t bg, int *cy, int *cx)
{
    int vx = x + 4 + DLG_LABEL_W + 1, vw = x + w - 2 - vx;
    for (int i = 0; i < d->nf && *row < stop; i++, (*row)++) {
        const struct dlg_field *f = &d->f[i];
        bool focus = i == d->focus;
        app_put(*row, x + 2, 2, focus ? ">" : "", bg | (focus ? A_BOLD : 0), true);
        char lab[64];
        snprintf(lab, sizeof lab, "%s", f->label);
        app_put(*row, x + 4, DLG_LABEL_W, lab, bg | (focus ? A_BOLD : 0), true);
        attr_t at = app_attr(a, THEME_E_INPUT) | (focus ? A_REVERSE | A_BOLD : 0);
        if (f->kind == DLG_CHOICE && f->nchoices <= 1) {
            app_put(*row, vx, vw, f->nchoices ? f->choices[0] : "", bg, false);
        } else if (f->kind == DLG_CHOICE) {
            char v[160];
            snprintf(v, sizeof v, "< %s >", f->choices[f->choice]);
            app_put(*row, vx, vw, v, at, true);
        } else {
            /* Show the end of long texts so the cursor stays visible. */
            size_t len = strlen(f->text);
            size_t off = vw > 0 && len + 1 > (size_t)vw ? len + 1 - (size_t)vw : 0;
            app_put(*row, vx, vw, f->text + off, at, true);
            if (focus) {
                *cy = *row;
                *cx = vx + (int)(f->cursor - off);
            }
        }
    }
}

/* OK and Cancel (Yes and No for a question) centred on row by of a dialog at x, w wide. */
static void dlg_draw_buttons(struct app *a, const struct dialog *d, int by, int x, int w)
{
    const char *yes = d->confirm ? "[ Yes ]" : "[ OK ]";
    const char *no = d->confirm ? "[ No ]" : "[ Cancel ]";
    int bx = x + w / 2 - (int)(strlen(yes) + strlen(no) + 2) / 2;
    if (bx < x + 1)
        bx = x + 1;
    app_put(by, bx, (int)strlen(yes), yes,
            app_attr(a, d->focus == d->nf ? THEME_E_DIALOG_BUTTON_FOCUS : THEME_E_DIALOG_BUTTON) |
                (d->focus == d->nf ? A_REVERSE : 0),
            false);
    app_put(
        by, bx + (int)strlen(yes) + 2, (int)strlen(no), no,
        app_attr(a, d->focus == d->nf + 1 ? THEME_E_DIALOG_BUTTON_FOCUS : THEME_E_DIALOG_BUTTON) |
            (d->focus == d->nf + 1 ? A_REVERSE : 0),
        false);
}

void dlg_draw(struct app *a)
{
    struct dialog *d = &a->dlg;
    if (!dlg_focusable(d, d->focus))
        dlg_move(d, 1);
    int H, W;
    getmaxyx(stdscr, H, W);
    int w = dlg_width(d, W);
    int tw = w - 4 > 1 ? w - 4 : 1;
    int nmsg = 0;
    for (int i = 0; i < 3; i++)
        nmsg += dlg_nlines(d->msg[i], tw);
    int nerr = dlg_nlines(d->err, tw);
    int h = 4 + nmsg + d->nf + (d->type_yes[0] ? 1 : 0) + nerr;
    if (h > H)
        h = H; /* too little room: the lines that do not fit are left out, the buttons stay */
    if (h < 3)
        h = H < 3 ? H : 3;
    int x = (W - w) / 2, y = (H - h) / 2;
    attr_t bg = dlg_frame(a, y, x, h, w, d->title);
    int row = y + 1, stop = y + h - 2;
    for (int i = 0; i < 3; i++)
        app_put_wrapped(&row, stop, x + 2, tw, 0, d->msg[i], bg);
    int cx = -1, cy = -1;
    dlg_draw_fields(a, d, &row, stop, x, w, bg, &cy, &cx);
    if (d->type_yes[0] && row < stop) {
        char v[64];
        snprintf(v, sizeof v, "> %s", d->typed);
        app_put(row, x + 2, tw, v, app_attr(a, THEME_E_INPUT), true);
        cy = row;
        cx = x + 4 + (int)strlen(d->typed);
        row++;
    }
    app_put_wrapped(&row, stop, x + 2, tw, 0, d->err, app_attr(a, THEME_E_ERROR));
    dlg_draw_buttons(a, d, y + h - 2, x, w);
    if (cy >= 0) {
        curs_set(1);
        move(cy, cx);
    }
}

void dlg_reopen(struct app *a, const struct dialog *d, int field, const char *fmt, ...)
{
    a->dlg = *d;
    struct dialog *n = &a->dlg;
    n->open = true;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(n->err, sizeof n->err, fmt, ap);
    va_end(ap);
    if (field >= 0 && field < n->nf)
        n->focus = field;
    for (int i = 0; i < n->nf; i++)
        n->f[i].cursor = strlen(n->f[i].text);
    app_status(a, true, "%s", n->err);
}

static void dlg_accept(struct app *a)
{
    struct dialog d = a->dlg; /* ok() may open another dialog */
    if (d.type_yes[0] && strcmp(d.typed, d.type_yes) != 0) {
        dlg_decline(a);
        app_status(a, true, "not confirmed: type '%s' to go ahead", d.type_yes);
        return;
    }
    a->dlg.open = false;
    if (d.ok)
        d.ok(a, &d);
}

static void dlg_decline(struct app *a)
{
    struct dialog d = a->dlg;
    a->dlg.open = false;
    app_status(a, false, "cancelled");
    if (d.cancel)
        d.cancel(a, &d);
}

static void dlg_text_key(struct dlg_field *f, int ch)
{
    size_t len = strlen(f->text);
    if (ch == KEY_LEFT && f->cursor) {
        f->cursor--;
    } else if (ch == KEY_RIGHT && f->cursor < len) {
        f->cursor++;
    } else if (ch == KEY_HOME || ch == 1) {
        f->cursor = 0;
    } else if (ch == KEY_END || ch == 5) {
        f->cursor = len;
    } else if ((ch == KEY_BACKSPACE || ch == 127 || ch == 8) && f->cursor) {
        memmove(f->text + f->cursor - 1, f->text + f->cursor, len - f->cursor + 1);
        f->cursor--;
    } else if (ch == KEY_DC && f->cursor < len) {
        memmove(f->text + f->cursor, f->text + f->cursor + 1, len - f->cursor);
    } else if (ch == 21) { /* ^U */
        f->text[0] = 0;
        f->cursor = 0;
    } else if (ch >= 32 && ch < 256 && ch != 127 && len + 1 < sizeof f->text) {
        memmove(f->text + f->cursor + 1, f->text + f->cursor, len - f->cursor + 1);
        f->text[f->cursor++] = (char)ch;
    }
}

void dlg_key(struct app *a, int ch)
{
    struct dialog *d = &a->dlg;
    if (ch == 27) {
        dlg_decline(a);
        return;
    }
    if (d->type_yes[0] && ch != '\n' && ch != '\r' && ch != KEY_ENTER && ch != '\t') {
        size_t n = strlen(d->typed);
        if ((ch == KEY_BACKSPACE || ch == 127 || ch == 8) && n)
            d->typed[n - 1] = 0;
        else if (ch >= 32 && ch < 127 && n + 1 < sizeof d->typed) {
            d->typed[n] = (char)ch;
            d->typed[n + 1] = 0;
        }
        if (strcmp(d->typed, d->type_yes) == 0)
            d->focus = d->nf; /* typed: Enter now means Yes */
        return;
    }
    if (d->confirm && !d->type_yes[0] && (ch == 'y' || ch == 'Y')) {
        dlg_accept(a);
        return;
    }
    if (d->confirm && (ch == 'n' || ch == 'N' || ch == 'q')) {
        dlg_decline(a);
        return;
    }
    if (ch == '\t' || ch == KEY_DOWN) {
        dlg_move(d, 1);
        return;
    }
    if (ch == KEY_BTAB || ch == KEY_UP) {
        dlg_move(d, -1);
        return;
    }
    if (ch == '\n' || ch == '\r' || ch == KEY_ENTER) {
        /* Enter accepts from any field; only on Cancel (or No) does it cancel. */
        if (d->focus == d->nf + 1)
            dlg_decline(a);
        else
            dlg_accept(a);
        return;
    }
    if (d->focus >= d->nf) {
        if (ch == KEY_LEFT || ch == KEY_RIGHT)
            d->focus = d->focus == d->nf ? d->nf + 1 : d->nf;
        return;
    }
    struct dlg_field *f = &d->f[d->focus];
    if (f->kind == DLG_CHOICE) {
        int was = f->choice;
        if (ch == KEY_RIGHT || ch == ' ' || ch == 'l')
            f->choice = (f->choice + 1) % f->nchoices;
        else if (ch == KEY_LEFT || ch == 'h')
            f->choice = (f->choice + f->nchoices - 1) % f->nchoices;
        if (f->choice != was && d->changed)
            d->changed(a, d, d->focus);
    } else {
        dlg_text_key(f, ch);
    }
}

/* dialog.c: the one modal at a time: a small form (choice fields changed with Left/Right or
 * Space, text fields edited in place) with OK and Cancel, or a yes/no question whose default
 * is No. A question about something that loses data can require a typed word ("yes").
 * Tab/Down and Shift-Tab/Up move between fields, Enter on a field moves on (on the last one,
 * or on OK, it accepts), Esc cancels.
 * Talks to: app.h (drawing kit). The ok callback does the work (usually starts a job).
 */
#include "tui/app.h"

#include <stdio.h>
#include <string.h>

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
    attrset(A_NORMAL);
    char t[160];
    snprintf(t, sizeof t, " %s ", title);
    app_put(y, x + 2, w - 4, t, app_attr(a, THEME_E_TITLE), false);
    return bg;
}

void dlg_draw(struct app *a)
{
    struct dialog *d = &a->dlg;
    int H, W;
    getmaxyx(stdscr, H, W);
    int w = W - 4 < 72 ? W - 4 : 72;
    int nmsg = 0;
    for (int i = 0; i < 3; i++)
        if (d->msg[i][0])
            nmsg = i + 1;
    int h = 4 + nmsg + d->nf + (d->type_yes[0] ? 1 : 0);
    if (h > H)
        h = H;
    int x = (W - w) / 2, y = (H - h) / 2;
    attr_t bg = dlg_frame(a, y, x, h, w, d->title);
    int row = y + 1;
    for (int i = 0; i < nmsg; i++)
        app_put(row++, x + 2, w - 4, d->msg[i], bg, false);
    int cx = -1, cy = -1;
    for (int i = 0; i < d->nf; i++, row++) {
        struct dlg_field *f = &d->f[i];
        char lab[40];
        snprintf(lab, sizeof lab, "%-14.14s", f->label);
        app_put(row, x + 2, 15, lab, bg, false);
        attr_t at =
            i == d->focus ? app_attr(a, THEME_E_INPUT) | A_BOLD : app_attr(a, THEME_E_INPUT);
        if (f->kind == DLG_CHOICE) {
            char v[160];
            snprintf(v, sizeof v, "< %s >", f->choices[f->choice]);
            app_put(row, x + 17, w - 19, v, at, true);
        } else {
            /* Show the end of long texts so the cursor stays visible. */
            int fw = w - 19;
            size_t len = strlen(f->text);
            size_t off = len + 1 > (size_t)fw ? len + 1 - (size_t)fw : 0;
            app_put(row, x + 17, fw, f->text + off, at, true);
            if (i == d->focus) {
                cy = row;
                cx = x + 17 + (int)(f->cursor - off);
            }
        }
    }
    if (d->type_yes[0]) {
        char v[64];
        snprintf(v, sizeof v, "> %s", d->typed);
        app_put(row, x + 2, w - 4, v, app_attr(a, THEME_E_INPUT), true);
        cy = row;
        cx = x + 4 + (int)strlen(d->typed);
        row++;
    }
    const char *yes = d->confirm ? "[ Yes ]" : "[ OK ]";
    const char *no = d->confirm ? "[ No ]" : "[ Cancel ]";
    int by = y + h - 2;
    int bx = x + w / 2 - (int)(strlen(yes) + strlen(no) + 2) / 2;
    app_put(by, bx, (int)strlen(yes), yes,
            app_attr(a, d->focus == d->nf ? THEME_E_DIALOG_BUTTON_FOCUS : THEME_E_DIALOG_BUTTON) |
                (d->focus == d->nf ? A_REVERSE : 0),
            false);
    app_put(
        by, bx + (int)strlen(yes) + 2, (int)strlen(no), no,
        app_attr(a, d->focus == d->nf + 1 ? THEME_E_DIALOG_BUTTON_FOCUS : THEME_E_DIALOG_BUTTON) |
            (d->focus == d->nf + 1 ? A_REVERSE : 0),
        false);
    if (cy >= 0) {
        curs_set(1);
        move(cy, cx);
    }
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
    int nfocus = d->nf + 2;
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
        d->focus = (d->focus + 1) % nfocus;
        return;
    }
    if (ch == KEY_BTAB || ch == KEY_UP) {
        d->focus = (d->focus + nfocus - 1) % nfocus;
        return;
    }
    if (ch == '\n' || ch == '\r' || ch == KEY_ENTER) {
        if (d->focus == d->nf + 1) {
            dlg_decline(a);
        } else if (d->focus >= d->nf - 1) {
            dlg_accept(a);
        } else {
            d->focus++;
        }
        return;
    }
    if (d->focus >= d->nf) {
        if (ch == KEY_LEFT || ch == KEY_RIGHT)
            d->focus = d->focus == d->nf ? d->nf + 1 : d->nf;
        return;
    }
    struct dlg_field *f = &d->f[d->focus];
    if (f->kind == DLG_CHOICE) {
        if (ch == KEY_RIGHT || ch == ' ' || ch == 'l')
            f->choice = (f->choice + 1) % f->nchoices;
        else if (ch == KEY_LEFT || ch == 'h')
            f->choice = (f->choice + f->nchoices - 1) % f->nchoices;
    } else {
        dlg_text_key(f, ch);
    }
}

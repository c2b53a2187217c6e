/* SPDX-License-Identifier: GPL-2.0-or-later */
/* app.c: the interactive application's frame: terminal setup and restore, the event loop, the
 * screen stack, the header, status line and function-key bar, and the drawing kit.
 *
 * The loop blocks in poll() on the terminal, the job engine's wakeup fd, the directory scan's
 * wakeup fd and a self-pipe for SIGINT/SIGTERM. It ticks (100 ms) only while jobs run or the
 * scan is still probing, so an idle dimg uses no CPU. SIGWINCH reaches curses, which turns it
 * into KEY_RESIZE; workers block these signals (core/job, core/scan). The terminal is restored
 * on quit, on SIGTERM and on a crash signal.
 * The screens are data (screen.h): the loop draws and feeds keys to the one on top of the stack,
 * closes it on q or Esc, opens help and jobs by the key each names, and tells them all when the
 * directory listing changes; it knows none of them by name.
 * Talks to: app.h, screen.h (the screen table), core/jobs/job.h, core/scan/scan.h, theme.h,
 * theme_curses.h, layout.h.
 */
#include "tui/app.h"
#include "tui/tui.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <locale.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <wchar.h>

#include "core/base/esc.h"
#include "tui/theme_curses.h"
#include "tui/timing.h"

static int app_sig_pipe[2] = {-1, -1};
static volatile sig_atomic_t app_sig_term, app_sig_int;
static volatile sig_atomic_t app_curses_on;

static void app_on_signal(int sig)
{
    int saved = errno;
    if (sig == SIGTERM || sig == SIGHUP)
        app_sig_term = 1;
    else
        app_sig_int = 1;
    if (app_sig_pipe[1] >= 0) {
        char c = 0;
        ssize_t w = write(app_sig_pipe[1], &c, 1);
        (void)w;
    }
    errno = saved;
}

/* A crash must not leave the terminal in raw mode: restore it, then die as we would have. */
static void app_on_crash(int sig)
{
    if (app_curses_on)
        endwin();
    signal(sig, SIG_DFL);
    raise(sig);
}

/* ---- drawing kit ---- */

attr_t app_attr(struct app *a, enum theme_elem e)
{
    (void)a;
    return theme_attr(e);
}

void app_fill(int y, int x, int w, attr_t at)
{
    if (w <= 0)
        return;
    attrset(at);
    mvhline(y, x, ' ', w);
    attrset(A_NORMAL);
}

int app_bar(struct app *a, int y, int x, int cells, double frac)
{
    int full = (int)((frac < 0 ? 0 : frac > 1 ? 1 : frac) * cells + 0.5);
    for (int c = 0; c < cells; c++, x++)
        app_put(y, x, 1,
                theme_glyph(&a->theme, c < full ? THEME_G_PROGRESS_FULL : THEME_G_PROGRESS_EMPTY),
                app_attr(a, c < full ? THEME_E_PROGRESS_DONE : THEME_E_PROGRESS_TODO), false);
    return x;
}

/* Columns of one character of s (n: its bytes); bytes that do not decode count as one '?',
 * as app_put draws them. */
static int app_char_cols(const char *s, mbstate_t *st, size_t *n)
{
    wchar_t wc;
    size_t k = mbrtowc(&wc, s, MB_CUR_MAX, st);
    if (k == (size_t)-1 || k == (size_t)-2 || k == 0) {
        memset(st, 0, sizeof *st);
        *n = 1;
        return 1;
    }
    *n = k;
    int cw = wcwidth(wc);
    return cw < 0 ? 1 : cw;
}

int app_cols(const char *s)
{
    mbstate_t st;
    memset(&st, 0, sizeof st);
    int col = 0;
    for (size_t n; *s; s += n)
        col += app_char_cols(s, &st, &n);
    return col;
}

/* The first line of s that fits w columns: its byte length, broken after the last space that
 * fits when the text goes on (a word longer than the line is cut); *next: where the next line
 * starts, its spaces skipped. */
size_t app_wrap_line(const char *s, int w, const char **next)
{
    mbstate_t st;
    memset(&st, 0, sizeof st);
    const char *p = s, *brk = NULL;
    int col = 0;
    while (*p) {
        size_t n;
        int cw = app_char_cols(p, &st, &n);
        if (col + cw > w)
            break;
        if (*p == ' ')
            brk = p;
        col += cw;
        p += n;
    }
    const char *end = p;
    if (*p && *p != ' ' && brk && brk > s)
        end = brk;
    if (end == s && *s)
        end = s + 1; /* not even one character fits: never loop */
    const char *q = end;
    while (*q == ' ')
        q++;
    *next = q;
    return (size_t)(end - s);
}

void app_put_wrapped(int *row, int stop, int x, int w, int indent, const char *s, attr_t at)
{
    int ind = 0;
    while (*s && *row < stop) {
        const char *next;
        size_t len = app_wrap_line(s, w - ind, &next);
        char buf[512];
        snprintf(buf, sizeof buf, "%.*s", (int)(len < sizeof buf ? len : sizeof buf - 1), s);
        app_put((*row)++, x + ind, w - ind, buf, at, false);
        s = next;
        ind = indent;
    }
}

void app_put(int y, int x, int w, const char *s, attr_t at, bool pad)
{
    if (w <= 0)
        return;
    attrset(at);
    move(y, x);
    int col = 0;
    mbstate_t st;
    memset(&st, 0, sizeof st);
    /* Whatever the caller passes, no control byte reaches the terminal: a CR in a name would
     * move the cursor and overwrite another row (core/base/esc.h; already escaped text is kept). */
    char *esc = esc_needed(s) ? esc_dup(s, strlen(s)) : NULL;
    const char *p = esc ? esc : s;
    while (*p && col < w) {
        wchar_t wc;
        size_t n = mbrtowc(&wc, p, MB_CUR_MAX, &st);
        if (n == (size_t)-1 || n == (size_t)-2 || n == 0) {
            /* Not valid in this locale: show one '?' per byte. */
            memset(&st, 0, sizeof st);
            addch('?');
            col++;
            p++;
            continue;
        }
        int cw = wcwidth(wc);
        if (cw < 0) { /* unprintable: never sent as it is */
            addch('?');
            col++;
            p += n;
            continue;
        }
        if (col + cw > w)
            break;
        addnstr(p, (int)n);
        col += cw;
        p += n;
    }
    free(esc);
    if (pad)
        for (; col < w; col++)
            addch(' ');
    attrset(A_NORMAL);
}

void app_status(struct app *a, bool err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(a->status, sizeof a->status, fmt, ap);
    va_end(ap);
    for (char *p = a->status; *p; p++)
        if ((unsigned char)*p < 32)
            *p = ' ';
    a->status_err = err;
}

const char *app_size(uint64_t v, char *buf, size_t n)
{
    static const char *const unit[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    int i = 0;
    double d = (double)v;
    while (d >= 1024.0 && i < 6) {
        d /= 1024.0;
        i++;
    }
    if (i == 0)
        snprintf(buf, n, "%llu B", (unsigned long long)v);
    else
        snprintf(buf, n, d < 10 ? "%.1f %s" : "%.0f %s", d, unit[i]);
    return buf;
}

/* ---- frame ---- */

const struct screen *const screen_table[] = {
#define SCREEN_ENTRY(n) &screen_##n,
    SCREEN_LIST(SCREEN_ENTRY)
#undef SCREEN_ENTRY
};
const int screen_count = (int)(sizeof screen_table / sizeof screen_table[0]);

const struct screen *app_top(const struct app *a)
{
    return a->stack[a->nstack - 1];
}

void app_header(struct app *a, struct rect r, const char *what, const char *subject)
{
    char buf[4600];
    snprintf(buf, sizeof buf, " dimg%s%s  %s", what ? " " : "", what ? what : "", subject);
    app_fill(r.y, r.x, r.w, app_attr(a, THEME_E_HEADER));
    app_put(r.y, r.x, r.w, buf, app_attr(a, THEME_E_HEADER), true);
}

void app_list_position(struct app *a, struct rect r, const struct list *l, size_t n)
{
    char pos[48];
    list_position(pos, sizeof pos, l->cur, n);
    app_put(r.y, r.x + r.w - (int)strlen(pos) - 1, (int)strlen(pos), pos,
            app_attr(a, THEME_E_TITLE), false);
}

static void app_draw_header(struct app *a)
{
    const struct screen *s = app_top(a);
    if (s->header)
        s->header(a, a->lay.header);
    else
        app_header(a, a->lay.header, s->name, browser_where(a));
}

static void app_draw_status(struct app *a)
{
    struct rect r = a->lay.status;
    const struct screen *s = app_top(a);
    char jobs[128];
    jobs_summary(a, jobs, sizeof jobs);
    attr_t at = app_attr(a, a->status_err ? THEME_E_ERROR : THEME_E_STATUS);
    app_fill(r.y, r.x, r.w, app_attr(a, THEME_E_STATUS));
    int jw = (int)strlen(jobs);
    if (s->prompt && s->prompt(a, r, jw)) {
        /* the screen reads text there */
    } else if (a->status[0]) {
        app_put(r.y, r.x + 1, r.w - jw - 2, a->status, at, false);
    } else {
        /* No message: the screen's own keys, one line. */
        app_put(r.y, r.x + 1, r.w - jw - 2, s->hint, app_attr(a, THEME_E_STATUS), false);
    }
    if (jw && jw < r.w)
        app_put(r.y, r.x + r.w - jw, jw, jobs, app_attr(a, THEME_E_JOB_RUNNING), false);
}

static void app_draw_fbar(struct app *a)
{
    struct rect r = a->lay.fbar;
    unsigned ctx = app_top(a)->keys;
    app_fill(r.y, r.x, r.w, app_attr(a, THEME_E_FBAR_LABEL));
    for (int f = 1; f <= 10; f++) {
        int lw, x = r.x + layout_fkey_x(r.w, f, &lw);
        if (x >= r.x + r.w)
            break;
        const struct km_binding *b = NULL;
        for (int act = 1; act < KM_A_COUNT; act++) {
            const struct km_binding *c = keymap_binding((enum km_action)act);
            if (c->fkey == f && (c->ctx & ctx)) {
                b = c;
                break;
            }
        }
        char key[4];
        snprintf(key, sizeof key, "%d", f);
        app_put(r.y, x, r.x + r.w - x, key, app_attr(a, THEME_E_FBAR_KEY), false);
        x += (int)strlen(key);
        /* Blank slots for actions this screen or --read-only does not offer (htop). */
        const char *label = (b && !(b->mutates && a->opts.read_only)) ? b->label : "";
        char cell[16];
        snprintf(cell, sizeof cell, "%-*.*s", lw, lw, label ? label : "");
        app_put(r.y, x, r.x + r.w - x, cell, app_attr(a, THEME_E_FBAR_LABEL), false);
    }
}

void app_timing_after_frame(struct app *a, const char *mark)
{
    a->timing_after = mark;
}

/* DIMG_TIMING: the milestones a finished draw reached (once each; a screen's when it asked). */
static void app_timing(struct app *a)
{
    if (!a->timing_first_screen) {
        a->timing_first_screen = true;
        timing_mark("first_screen");
    }
    if (!a->timing_rows_filled && a->scan && !scan_pending(a->scan)) {
        a->timing_rows_filled = true;
        timing_mark("rows_filled");
    }
    if (a->timing_after) {
        timing_mark(a->timing_after);
        a->timing_after = NULL;
    }
}

/* Below LAYOUT_MIN_W x LAYOUT_MIN_H: short lines, so that even a tiny terminal shows the size
 * it needs. */
static void app_draw_too_small(struct app *a, int w, int h)
{
    char need[32], have[32];
    snprintf(need, sizeof need, "need %dx%d", LAYOUT_MIN_W, LAYOUT_MIN_H);
    snprintf(have, sizeof have, "have %dx%d", w, h);
    const char *lines[] = {"terminal too small:", need, have, "q quits"};
    for (int i = 0; i < 4 && i < h; i++)
        app_put(i, 0, w, lines[i], app_attr(a, THEME_E_WARN), false);
    if (a->dlg.open)
        dlg_draw(a); /* an open dialog takes the keys: it is always drawn, if clipped */
    refresh();
}

static void app_draw(struct app *a)
{
    int h, w;
    getmaxyx(stdscr, h, w);
    a->lay = layout_compute(w, h, a->info_pane);
    curs_set(0);
    erase();
    if (a->lay.mode == LAYOUT_TOO_SMALL) {
        app_draw_too_small(a, w, h);
        return;
    }
    app_draw_header(a);
    app_top(a)->draw(a, a->lay.body);
    app_draw_fbar(a);
    app_draw_status(a);
    if (a->dlg.open)
        dlg_draw(a);
    refresh();
    app_timing(a);
}

void app_redraw(struct app *a)
{
    app_draw(a);
}

void app_push(struct app *a, const struct screen *s)
{
    if (app_top(a) != s) {
        a->status[0] = 0; /* the last screen's message does not belong to the next one */
        a->status_err = false;
        if (a->nstack >= (int)(sizeof a->stack / sizeof a->stack[0]))
            return;
        a->stack[a->nstack++] = s;
    }
    if (s->enter)
        s->enter(a);
}

void app_pop(struct app *a)
{
    if (a->nstack <= 1)
        return;
    const struct screen *s = a->stack[--a->nstack];
    if (s->leave)
        s->leave(a);
    if (!a->status_err)
        a->status[0] = 0; /* the closed screen's hint no longer applies */
}

void app_tick(struct app *a)
{
    for (int i = 0; i < a->nstack; i++)
        if (a->stack[i]->tick)
            a->stack[i]->tick(a);
}

static void app_quit_ok(struct app *a, struct dialog *d)
{
    (void)d;
    a->quit = true;
}

static void app_quit_no(struct app *a, struct dialog *d)
{
    (void)d;
    unsigned n = jobs_running(a);
    app_status(a, false, "not quitting: %u job%s still running (J shows %s)", n,
               n == 1 ? " is" : "s are", n == 1 ? "it" : "them");
}

/* q in the browser: quit, asking first when jobs are running. */
static void app_request_quit(struct app *a)
{
    unsigned n = jobs_running(a);
    if (!n) {
        a->quit = true;
        return;
    }
    char q[128];
    snprintf(q, sizeof q, "%u job%s still running. Cancel %s and quit?", n,
             n == 1 ? " is" : "s are", n == 1 ? "it" : "them");
    dlg_confirm(a, "Quit", q, NULL, app_quit_ok);
    a->dlg.cancel = app_quit_no;
}

static void app_key(struct app *a, int ch);

/* --mouse: a click on the F-key bar is that key (htop), the wheel moves, a click in the body
 * is the screen's (the browser selects a row, and opens it on a double click). Mapped onto
 * keys so there is one code path. */
static void app_mouse(struct app *a)
{
    MEVENT ev;
    if (getmouse(&ev) != OK)
        return;
    if (ev.bstate & BUTTON4_PRESSED) {
        app_key(a, KEY_UP);
        return;
    }
    if (ev.bstate & BUTTON5_PRESSED) {
        app_key(a, KEY_DOWN);
        return;
    }
    if (!(ev.bstate & (BUTTON1_CLICKED | BUTTON1_DOUBLE_CLICKED)))
        return;
    if (ev.y == a->lay.fbar.y && !a->dlg.open) {
        int f = 10; /* the slot under the click, as app_draw_fbar laid them out */
        while (f > 1 && ev.x - a->lay.fbar.x < layout_fkey_x(a->lay.fbar.w, f, NULL))
            f--;
        app_key(a, KEY_F(f));
        return;
    }
    const struct screen *s = app_top(a);
    if (s->click && !a->dlg.open) {
        int ch = s->click(a, ev.y, ev.x, (ev.bstate & BUTTON1_DOUBLE_CLICKED) != 0);
        if (ch)
            app_key(a, ch);
    }
}

/* Keys every screen shares: closing it, the screens that open from anywhere, redraw. true
 * when act was one of them. */
static bool app_global_key(struct app *a, int ch, enum km_action act)
{
    if (act == KM_A_QUIT) {
        if (a->nstack > 1)
            app_pop(a);
        else
            app_request_quit(a);
        return true;
    }
    if (act == KM_A_REDRAW) {
        clearok(curscr, TRUE);
        return true;
    }
    for (int i = 0; act != KM_A_NONE && i < screen_count; i++)
        if (screen_table[i]->opens == act) {
            app_push(a, screen_table[i]);
            return true;
        }
    if (ch == 27 && a->nstack > 1) {
        app_pop(a);
        return true;
    }
    return false;
}

static void app_key(struct app *a, int ch)
{
    if (ch == KEY_RESIZE)
        return; /* the next draw lays out for the new size */
    if (ch == KEY_MOUSE) {
        app_mouse(a);
        return;
    }
    if (a->dlg.open) {
        dlg_key(a, ch);
        return;
    }
    if (a->lay.mode == LAYOUT_TOO_SMALL) {
        if (ch == 'q')
            app_request_quit(a);
        return;
    }
    const struct screen *s = app_top(a);
    if (s->input && s->input(a, ch))
        return;
    enum km_action act = keymap_lookup(s->keys, ch);
    const struct km_binding *b = keymap_binding(act);
    if (b->mutates && a->opts.read_only) {
        app_status(a, true, "read-only mode (-r): %s is disabled", b->help);
        return;
    }
    if (!app_global_key(a, ch, act))
        s->key(a, ch, act);
}

static int app_colors(void)
{
    if (!has_colors())
        return 0;
    return theme_curses_colors();
}

static int app_init_curses(struct app *a)
{
    if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
        fprintf(stderr, "dimg: the interactive application needs a terminal; "
                        "use a command (dimg --help) in scripts\n");
        return -1;
    }
    const char *term = getenv("TERM");
    if (!term || !*term || strcmp(term, "dumb") == 0) {
        fprintf(stderr,
                "dimg: TERM is %s; the interactive application needs a real terminal "
                "(use a command, dimg --help, in scripts)\n",
                term && *term ? "dumb" : "not set");
        return -1;
    }
    if (!newterm(NULL, stdout, stdin)) {
        fprintf(stderr, "dimg: cannot initialise the terminal '%s'\n", term);
        return -1;
    }
    app_curses_on = 1;
    cbreak();
    noecho();
    nonl();
    keypad(stdscr, TRUE);
    nodelay(stdscr, TRUE);
    set_escdelay(25);
    curs_set(0);
    if (has_colors())
        start_color();
    if (a->opts.mouse)
        mousemask(BUTTON1_CLICKED | BUTTON1_DOUBLE_CLICKED | BUTTON4_PRESSED | BUTTON5_PRESSED,
                  NULL);
    return 0;
}

static void app_load_theme(struct app *a)
{
    int colors = app_colors();
    const char *name = theme_choose(a->opts.theme, theme_env_no_color(), colors > 0);
    char err[256];
    a->utf8 = theme_want_utf8(a->opts.ascii);
    if (theme_load(&a->theme, name, colors, a->utf8, err, sizeof err) < 0) {
        app_status(a, true, "theme: %s (using the built-in default)", err);
        theme_load(&a->theme, colors ? "default" : "mono", colors, a->utf8, err, sizeof err);
    } else if (a->theme.nwarn) {
        app_status(a, true, "%s (and %zu more theme warnings)", a->theme.warnings[0],
                   a->theme.nwarn - 1);
    }
    theme_curses_apply(&a->theme);
}

static bool app_busy(struct app *a)
{
    return jobs_running(a) || (a->scan && scan_pending(a->scan));
}

static void app_free(struct app *a)
{
    while (a->nstack > 0) { /* the screens let go of their state, top first */
        const struct screen *sc = a->stack[--a->nstack];
        if (sc->leave)
            sc->leave(a);
    }
    if (a->jobs)
        job_engine_free(a->jobs); /* cancels and joins what still runs */
    for (size_t i = 0; i < a->najobs; i++) {
        free(a->ajobs[i].target);
        if (a->ajobs[i].free_arg)
            a->ajobs[i].free_arg(a->ajobs[i].arg);
    }
    free(a->ajobs);
    if (a->scan)
        scan_close(a->scan);
    free(a->idx);
    free(a->dir);
    free(a->info_text);
    theme_free(&a->theme);
}

static struct tui_opts tui_opts; /* what tui_take_opt took, for tui_main */

int tui_take_opt(int argc, char **argv, int *i, const char **why)
{
    const char *a = argv[*i];
    if (!strcmp(a, "-r") || !strcmp(a, "--read-only"))
        tui_opts.read_only = true;
    else if (!strcmp(a, "--ascii"))
        tui_opts.ascii = true;
    else if (!strcmp(a, "--mouse"))
        tui_opts.mouse = true;
    else if (!strncmp(a, "--theme=", 8))
        tui_opts.theme = a + 8;
    else if (!strcmp(a, "--theme") && *i + 1 < argc)
        tui_opts.theme = argv[++*i];
    else if (!strcmp(a, "--theme"))
        return *why = "--theme needs a name or a path", -1;
    else
        return 0;
    return 1;
}

int tui_main(const char *dir, bool untrusted, bool ask_password)
{
    tui_opts.untrusted = tui_opts.untrusted_fixed = untrusted;
    tui_opts.ask_password = ask_password;
    return tui_run(dir, &tui_opts);
}

/* The state before the terminal is touched: the job engine, the signal pipe and the listing
 * of dir. 0, or -1 after saying why on stderr (a freed). */
static int app_open(struct app *a, const char *dir, const struct tui_opts *o)
{
    memset(a, 0, sizeof *a);
    a->opts = *o;
    a->stack[0] = screen_table[0]; /* the home screen */
    a->nstack = 1;
    a->info_pane = true;
    setlocale(LC_ALL, "");

    struct img_err err = {0};
    a->jobs = job_engine_new(0, &err);
    if (!a->jobs) {
        fprintf(stderr, "dimg: %s\n", err.msg); /* err_set escaped it */
        return -1;
    }
    if (pipe2(app_sig_pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
        perror("dimg: pipe");
        job_engine_free(a->jobs);
        return -1;
    }
    if (browser_chdir(a, dir) < 0) {
        char line[sizeof a->status * 4];
        fprintf(stderr, "dimg: %s\n", esc_str(line, sizeof line, a->status));
        app_free(a);
        return -1;
    }
    return 0;
}

/* SIGINT asks to quit, SIGTERM and SIGHUP end the loop, a crash restores the terminal. */
static void app_catch_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = app_on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sa.sa_handler = app_on_crash;
    sa.sa_flags = SA_RESETHAND;
    sigaction(SIGSEGV, &sa, NULL);
    sigaction(SIGBUS, &sa, NULL);
    sigaction(SIGABRT, &sa, NULL);
    sigaction(SIGFPE, &sa, NULL);
}

/* One wait of the loop and what it brought: signals, finished jobs, probed entries, keys.
 * false when the loop must end (the terminal is gone, or poll failed). */
static bool app_step(struct app *a, bool *dirty, int *errs)
{
    struct pollfd p[4] = {
        {.fd = STDIN_FILENO, .events = POLLIN},
        {.fd = job_engine_wakeup_fd(a->jobs), .events = POLLIN},
        {.fd = app_sig_pipe[0], .events = POLLIN},
        {.fd = a->scan ? scan_wakeup_fd(a->scan) : -1, .events = POLLIN},
    };
    int r = poll(p, 4, app_busy(a) ? 100 : -1);
    if (r < 0 && errno != EINTR)
        return false;
    if (r == 0 || (r < 0 && errno == EINTR)) {
        *dirty = true; /* the tick: progress moved; or SIGWINCH arrived */
    }
    if (p[2].revents & POLLIN) {
        char buf[16];
        while (read(app_sig_pipe[0], buf, sizeof buf) > 0)
            ;
    }
    if (p[1].revents & POLLIN) {
        job_engine_drain(a->jobs);
        jobs_poll(a);
        *dirty = true;
    }
    if (p[3].fd >= 0 && (p[3].revents & POLLIN)) {
        scan_drain_wakeup(a->scan);
        app_tick(a); /* entries and links appear as the images are probed */
        *dirty = true;
    }
    if (r > 0 && (p[0].revents & (POLLHUP | POLLERR | POLLNVAL)) && !(p[0].revents & POLLIN))
        return false; /* the terminal is gone: exit instead of spinning */
    if (p[0].revents & POLLIN || r < 0) {
        int ch, got = 0;
        while ((ch = getch()) != ERR) {
            got++;
            app_key(a, ch);
            *dirty = true;
            if (a->quit)
                break;
        }
        if (!got && (p[0].revents & POLLIN) && ++*errs > 100)
            return false; /* readable but nothing to read, again and again: EOF */
        if (got)
            *errs = 0;
    }
    if (r == 0)
        jobs_poll(a);
    return true;
}

/* Draw, wait, act, until quit or a terminating signal. */
static void app_loop(struct app *a)
{
    int errs = 0;
    bool dirty = true;
    while (!a->quit) {
        if (app_sig_term)
            break;
        if (app_sig_int) {
            app_sig_int = 0;
            app_request_quit(a);
            dirty = true;
        }
        if (dirty) {
            app_draw(a);
            dirty = false;
        }
        if (!app_step(a, &dirty, &errs))
            break;
    }
}

int tui_run(const char *dir, const struct tui_opts *o)
{
    struct app a;
    if (app_open(&a, dir, o) < 0)
        return 1;
    if (app_init_curses(&a) < 0) {
        app_free(&a);
        return 1;
    }
    app_catch_signals();
    app_load_theme(&a);
    if (a.opts.ask_password)
        app_secret_install(&a);
    if (a.stack[0]->enter)
        a.stack[0]->enter(&a); /* the home screen's first words on the status line */
    app_loop(&a);
    endwin();
    app_curses_on = 0;
    app_free(&a); /* joins the jobs before their passwords go */
    if (a.opts.ask_password)
        app_secret_uninstall();
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    return app_sig_term ? 143 : 0;
}

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* secret_dialog.c: passwords for encrypted images in the interactive application. Installed
 * as the process's secret provider (img_set_secret_provider) when no --password-file or
 * --password-env was given, so core and the drivers stay curses-free. When an action the user
 * started needs a key (the map of an encrypted image, the check before a convert; never the
 * info pane or the tree), a modal box asks for it, echoing only '*', into a locked buffer; Esc
 * cancels. The unlock itself (a LUKS header's PBKDF2 runs take seconds) runs on a worker
 * thread while a second box shows which key slot is being tried and for how long; Esc there
 * gives the screen back at once and the worker's result is thrown away when it ends. Jobs run
 * on worker threads and cannot ask: the form that starts one asks first (app_secret_hold) and
 * a locked copy is kept for that image until the job finishes.
 * Talks to: core/block/img.h (provider, img_unlock), core/crypto/luks.h (progress and cancel of an
 * unlock), core/crypto/crypto.h (locked buffers, wiping), app.h (drawing kit, status line).
 */
#include "tui/app.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/base/cancel.h"
#include "core/crypto/crypto.h"
#include "core/block/img.h"
#include "core/crypto/luks.h"

#define SD_HELD_MAX 8 /* images with a password kept for running jobs */

struct sd_held {
    char *path;
    uint8_t *pw; /* IMG_SECRET_MAX bytes, locked */
    size_t len;
};

/* One unlock on a worker thread. The UI thread and the worker each hold a reference; the one
 * that lets go last closes the image and wipes the password (the UI thread lets go early when
 * the user walks away with Esc). */
struct sd_unlock {
    struct img *img;
    char *path;
    uint8_t *pw; /* IMG_SECRET_MAX bytes, locked */
    size_t len;
    struct luks_watch watch;
    atomic_int cancel; /* Esc: the unlock stops before its next key slot */
    atomic_int done, refs;
    int result;    /* img_unlock's, once done */
    char msg[256]; /* its error */
};

static struct app *sd_app;
static pthread_mutex_t sd_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sd_held sd_held[SD_HELD_MAX];
static _Thread_local struct sd_unlock *sd_self; /* the unlock this worker thread runs */

/* A box of h rows (up to 64 columns) in the middle of the screen with its first line of text;
 * *y, *x, *h, *w get where it went. */
static attr_t sd_box(struct app *a, const char *title, const char *first, int *y, int *x, int *h,
                     int *w)
{
    int H, W;
    getmaxyx(stdscr, H, W);
    *w = W - 4 < 64 ? W - 4 : 64;
    /* The box takes every key: on a tiny screen it is drawn clipped, never left out. */
    if (*w < 20)
        *w = W < 20 ? W : 20;
    if (*h > H)
        *h = H;
    *x = (W - *w) / 2;
    *y = (H - *h) / 2;
    attr_t bg = dlg_frame(a, *y, *x, *h, *w, title);
    if (*h > 2)
        app_put(*y + 1, *x + 2, *w - 4, first, bg, false);
    return bg;
}

static void sd_draw(struct app *a, const char *name, size_t n)
{
    char line[320];
    snprintf(line, sizeof line, "%s is encrypted.", name);
    int y, x, h = 6, w;
    attr_t bg = sd_box(a, "Password", line, &y, &x, &h, &w);
    char stars[64];
    size_t ns = n < sizeof stars - 1 ? n : sizeof stars - 1;
    memset(stars, '*', ns);
    stars[ns] = 0;
    if (h > 3) {
        app_put(y + 2, x + 2, 10, "Password:", bg, false);
        app_put(y + 2, x + 12, w - 14, stars, app_attr(a, THEME_E_INPUT), true);
    }
    if (h > 5)
        app_put(y + 4, x + 2, w - 4, "Enter unlocks, Esc cancels", bg, false);
    refresh();
}

/* The modal box: bytes typed into buf (cap bytes). 0, or -ECANCELED on Esc. */
static int sd_prompt(struct app *a, const char *path, uint8_t *buf, size_t cap, size_t *len,
                     struct img_err *err)
{
    const char *slash = strrchr(path, '/');
    const char *name = slash ? slash + 1 : path;
    size_t n = 0;
    int r = 1, errs = 0;
    nodelay(stdscr, FALSE);
    while (r == 1) {
        sd_draw(a, name, n);
        int ch = getch();
        if (ch == KEY_RESIZE) {
            app_redraw(a); /* the screen below, laid out anew; the box goes on it */
        } else if (ch == ERR) {
            if (++errs > 100) /* the terminal is gone */
                r = -ECANCELED;
        } else if (ch == 27) {
            r = -ECANCELED;
        } else if (ch == '\n' || ch == '\r' || ch == KEY_ENTER) {
            r = 0;
        } else if (ch == KEY_BACKSPACE || ch == 127 || ch == 8) {
            if (n)
                buf[--n] = 0;
        } else if (ch == 21) { /* Ctrl-U: start over */
            crypto_wipe(buf, n);
            n = 0;
        } else if (ch >= 32 && ch < 256 && n < cap) {
            buf[n++] = (uint8_t)ch;
        }
    }
    nodelay(stdscr, TRUE);
    if (r < 0) {
        crypto_wipe(buf, cap);
        return err_set(err, r, "password entry cancelled");
    }
    *len = n;
    return 0;
}

/* Keep a copy of pw for path (the job that will open it); sd_lock held. */
static void sd_keep(const char *path, const uint8_t *pw, size_t len)
{
    for (int i = 0; i < SD_HELD_MAX; i++)
        if (!sd_held[i].path) {
            uint8_t *b = crypto_secure_alloc(IMG_SECRET_MAX);
            char *p = strdup(path);
            if (!b || !p) {
                crypto_secure_free(b, IMG_SECRET_MAX);
                free(p);
                return;
            }
            memcpy(b, pw, len);
            sd_held[i] = (struct sd_held){p, b, len};
            return;
        }
}

/* The password kept for path into buf (cap bytes): true when there is one. */
static bool sd_find(const char *path, uint8_t *buf, size_t cap, size_t *len)
{
    bool found = false;
    pthread_mutex_lock(&sd_lock);
    for (int i = 0; i < SD_HELD_MAX && !found; i++)
        if (sd_held[i].path && !strcmp(sd_held[i].path, path) && sd_held[i].len <= cap) {
            memcpy(buf, sd_held[i].pw, sd_held[i].len);
            *len = sd_held[i].len;
            found = true;
        }
    pthread_mutex_unlock(&sd_lock);
    return found;
}

/* Drivers ask here. The unlock worker gets the password typed for it; jobs get the copy kept
 * for their image; nothing else is ever asked on the spot. */
static int sd_provider(void *ctx, const char *path, uint8_t *buf, size_t cap, size_t *len,
                       struct img_err *err)
{
    (void)ctx;
    struct sd_unlock *u = sd_self;
    if (u && !strcmp(u->path, path) && u->len <= cap) {
        memcpy(buf, u->pw, u->len);
        *len = u->len;
        return 0;
    }
    if (sd_find(path, buf, cap, len))
        return 0;
    return err_set(err, -ENOKEY, "no password given for %s", path);
}

void app_secret_install(struct app *a)
{
    sd_app = a;
    img_set_secret_provider(sd_provider, NULL);
}

void app_secret_uninstall(void)
{
    sd_app = NULL; /* curses is gone: no more prompts */
    pthread_mutex_lock(&sd_lock);
    for (int i = 0; i < SD_HELD_MAX; i++) {
        crypto_secure_free(sd_held[i].pw, IMG_SECRET_MAX);
        free(sd_held[i].path);
        sd_held[i] = (struct sd_held){0};
    }
    pthread_mutex_unlock(&sd_lock);
}

static void sd_unlock_put(struct sd_unlock *u)
{
    if (atomic_fetch_sub(&u->refs, 1) != 1)
        return;
    if (u->img)
        img_close(u->img);
    crypto_secure_free(u->pw, IMG_SECRET_MAX);
    free(u->path);
    free(u);
}

static void *sd_unlock_run(void *arg)
{
    struct sd_unlock *u = arg;
    sd_self = u;
    luks_watch_thread(&u->watch);
    cancel_attach(&u->cancel);
    u->result = img_unlock(u->img);
    if (u->result < 0)
        snprintf(u->msg, sizeof u->msg, "%s", img_errmsg(u->img));
    cancel_attach(NULL);
    luks_watch_thread(NULL);
    sd_self = NULL;
    atomic_store(&u->done, 1);
    sd_unlock_put(u);
    return NULL;
}

static double sd_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sd_draw_unlock(struct app *a, const char *name, const struct sd_unlock *u, double t)
{
    char line[320];
    snprintf(line, sizeof line, "Unlocking %s", name);
    int y, x, h = 7, w;
    attr_t bg = sd_box(a, "Unlocking", line, &y, &x, &h, &w);
    int slot = atomic_load(&u->watch.slot), todo = atomic_load(&u->watch.todo);
    uint64_t total = atomic_load(&u->watch.total), spent = atomic_load(&u->watch.spent);
    if (slot >= 0)
        snprintf(line, sizeof line, "key slot %d (%d of %d), %.1f s", slot,
                 atomic_load(&u->watch.tried), todo, t);
    else
        snprintf(line, sizeof line, "checking the password, %.1f s", t);
    if (h > 3)
        app_put(y + 2, x + 2, w - 4, line, bg, true);
    if (h > 4)
        app_bar(a, y + 3, x + 2, w - 4 < 40 ? w - 4 : 40,
                total ? (double)spent / (double)total : 0);
    if (h > 6)
        app_put(y + 5, x + 2, w - 4, "Esc cancels", bg, false);
    refresh();
}

/* Wait for the worker, drawing its progress: 0 when it ended (u->result), -ECANCELED when
 * the user pressed Esc first. */
static int sd_wait(struct app *a, const char *name, struct sd_unlock *u)
{
    double t0 = sd_now();
    int r = 1, errs = 0;
    wtimeout(stdscr, 100);
    while (r == 1 && !atomic_load(&u->done)) {
        sd_draw_unlock(a, name, u, sd_now() - t0);
        int ch = getch();
        if (ch == KEY_RESIZE)
            app_redraw(a);
        else if (ch == 27 || (ch == ERR && ++errs > 600)) /* Esc, or the terminal is gone */
            r = -ECANCELED;
        else if (ch != ERR)
            errs = 0;
    }
    nodelay(stdscr, TRUE);
    return r == 1 || atomic_load(&u->done) ? 0 : r;
}

int app_secret_unlock(struct app *a, struct img **pimg, const char *what, bool keep)
{
    struct img *img = *pimg;
    struct img_info info;
    memset(&info, 0, sizeof info);
    if (img_get_info(img, &info) < 0 || !info.encrypted || !img_size(img))
        return 0;
    struct sd_unlock *u = calloc(1, sizeof *u);
    uint8_t *pw = crypto_secure_alloc(IMG_SECRET_MAX);
    char *path = strdup(img_path(img));
    if (!u || !pw || !path) {
        free(u);
        crypto_secure_free(pw, IMG_SECRET_MAX);
        free(path);
        app_status(a, true, "%s: out of memory", what);
        return -1;
    }
    *u = (struct sd_unlock){.img = img, .path = path, .pw = pw};
    atomic_init(&u->refs, 1);
    const char *slash = strrchr(path, '/');
    const char *name = slash ? slash + 1 : path;
    /* The password kept for a job on this image answers; else the box asks for it. */
    struct img_err err = {0};
    int r = sd_find(path, pw, IMG_SECRET_MAX, &u->len) ? 0
            : sd_app ? sd_prompt(a, path, pw, IMG_SECRET_MAX, &u->len, &err)
                     : err_set(&err, -ENOKEY, "no password given for %s", path);
    pthread_t t;
    if (r == 0) {
        atomic_store(&u->refs, 2);
        if (pthread_create(&t, NULL, sd_unlock_run, u) != 0) {
            atomic_store(&u->refs, 1);
            r = err_set(&err, -EAGAIN, "cannot start the unlock");
        } else {
            pthread_detach(t);
            r = sd_wait(a, name, u);
            if (r == -ECANCELED) {
                atomic_store(&u->cancel, 1); /* the worker stops before its next slot */
                err_set(&err, r, "unlock cancelled");
                *pimg = NULL; /* the worker closes it when it ends */
            } else if ((r = u->result) < 0) {
                err_set(&err, r, "%s", u->msg);
            }
        }
    }
    if (r == 0 && keep) {
        pthread_mutex_lock(&sd_lock);
        sd_keep(path, pw, u->len);
        pthread_mutex_unlock(&sd_lock);
    }
    if (*pimg)
        u->img = NULL; /* the caller's again */
    sd_unlock_put(u);
    if (r < 0) {
        app_status(a, true, "%s: %s", what, err.msg);
        return -1;
    }
    return 1;
}

int app_secret_hold(struct app *a, const char *path, const char *what)
{
    if (!sd_app)
        return 0; /* --password-file / --password-env: the command line's provider answers */
    struct img_err err = {0};
    struct img *img = img_open(path, NULL, a->opts.untrusted ? IMG_OPEN_UNTRUSTED : 0, &err);
    if (!img) {
        app_status(a, true, "%s: %s", what, err.msg);
        return -1;
    }
    int r = app_secret_unlock(a, &img, what, true);
    if (img)
        img_close(img);
    return r;
}

void app_secret_release(const char *path)
{
    pthread_mutex_lock(&sd_lock);
    for (int i = 0; i < SD_HELD_MAX; i++)
        if (sd_held[i].path && !strcmp(sd_held[i].path, path)) {
            crypto_secure_free(sd_held[i].pw, IMG_SECRET_MAX);
            free(sd_held[i].path);
            sd_held[i] = (struct sd_held){0};
            break;
        }
    pthread_mutex_unlock(&sd_lock);
}

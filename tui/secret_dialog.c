/* SPDX-License-Identifier: GPL-2.0-or-later */
/* secret_dialog.c: passwords for encrypted images in the interactive application. Installed
 * as the process's secret provider (img_set_secret_provider) when no --password-file or
 * --password-env was given, so core and the drivers stay curses-free. When a driver needs a
 * key for an action the user started on the main thread (the map of an encrypted image, the
 * check before a convert; never the info pane or the tree), a modal box asks for it, echoing
 * only '*', typed straight into the driver's locked buffer; Esc cancels. Jobs run on worker
 * threads and cannot ask: the form that starts one asks first (app_secret_hold) and a locked
 * copy is kept for that image until the job finishes.
 * Talks to: core/img.h (provider, reads that trigger the unlock), core/crypto.h (locked
 * buffers, wiping), app.h (drawing kit, status line).
 */
#include "tui/app.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/crypto.h"
#include "core/img.h"

#define SD_HELD_MAX 8 /* images with a password kept for running jobs */

struct sd_held {
    char *path;
    uint8_t *pw; /* IMG_SECRET_MAX bytes, locked */
    size_t len;
};

static struct app *sd_app;
static pthread_t sd_main;
static pthread_mutex_t sd_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sd_held sd_held[SD_HELD_MAX];
static const char *sd_capture; /* the next password typed for this path is kept */
static bool sd_asking;         /* an action asked for the key: the box may open */

static void sd_draw(struct app *a, const char *name, size_t n)
{
    int H, W;
    getmaxyx(stdscr, H, W);
    int w = W - 4 < 64 ? W - 4 : 64, h = 6;
    /* The box takes every key: on a tiny screen it is drawn clipped, never left out. */
    if (w < 20)
        w = W < 20 ? W : 20;
    if (h > H)
        h = H;
    int x = (W - w) / 2, y = (H - h) / 2;
    attr_t bg = dlg_frame(a, y, x, h, w, "Password");
    char line[320];
    snprintf(line, sizeof line, "%s is encrypted.", name);
    if (h > 2)
        app_put(y + 1, x + 2, w - 4, line, bg, false);
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
            /* The screen below, laid out anew (asking nothing meanwhile); the box goes on it. */
            bool asking = sd_asking;
            sd_asking = false;
            app_redraw(a);
            sd_asking = asking;
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

/* Keep a copy of pw for path (the job that will open it). */
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

static int sd_provider(void *ctx, const char *path, uint8_t *buf, size_t cap, size_t *len,
                       struct img_err *err)
{
    (void)ctx;
    pthread_mutex_lock(&sd_lock);
    for (int i = 0; i < SD_HELD_MAX; i++)
        if (sd_held[i].path && !strcmp(sd_held[i].path, path) && sd_held[i].len <= cap) {
            memcpy(buf, sd_held[i].pw, sd_held[i].len);
            *len = sd_held[i].len;
            if (sd_capture && !strcmp(sd_capture, path)) /* a second job on the same image */
                sd_keep(path, buf, *len);
            pthread_mutex_unlock(&sd_lock);
            return 0;
        }
    pthread_mutex_unlock(&sd_lock);
    /* Only an action the user started asks; the info pane, the tree and workers never do. */
    if (!sd_app || !sd_asking || !pthread_equal(pthread_self(), sd_main))
        return err_set(err, -ENOKEY, "no password given for %s", path);
    int r = sd_prompt(sd_app, path, buf, cap, len, err);
    if (r == 0 && sd_capture && !strcmp(sd_capture, path)) {
        pthread_mutex_lock(&sd_lock);
        sd_keep(path, buf, *len);
        pthread_mutex_unlock(&sd_lock);
    }
    return r;
}

void app_secret_install(struct app *a)
{
    sd_app = a;
    sd_main = pthread_self();
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

int app_secret_unlock(struct app *a, struct img *img, const char *what)
{
    struct img_info info;
    memset(&info, 0, sizeof info);
    if (img_get_info(img, &info) < 0 || !info.encrypted || !img->size)
        return 0;
    /* The password is asked for and checked now, and a wrong one is refused before any work
     * starts (whether or not the first clusters are allocated in this layer). */
    sd_asking = true;
    int r = img_unlock(img);
    sd_asking = false;
    if (r < 0) {
        app_status(a, true, "%s: %s", what, img_errmsg(img));
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
    sd_capture = path;
    int r = app_secret_unlock(a, img, what);
    sd_capture = NULL;
    img_close(img);
    if (r < 0)
        app_secret_release(path);
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

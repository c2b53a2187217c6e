/* SPDX-License-Identifier: GPL-2.0-or-later */
/* app.h: the interactive application's shared state and the small drawing kit its screens use.
 *
 * One struct app holds what the screens share: the directory listing (core/scan) and its
 * sorted, filtered index, the screen stack (the browser at the bottom; map, tree, jobs and help
 * pushed on top), at most one modal dialog, the job engine and the jobs started from the UI,
 * the theme. Each screen's own state (the map's runs, the tree's nodes, a list's scroll) is
 * private to its file. Only the main thread touches curses or this struct; workers (scan,
 * jobs) publish through their own atomics and wake the loop through file descriptors.
 *
 * Screens are data (screen.h) implemented in view_*.c; app.c owns the loop, the header, the
 * status line and the function-key bar, and knows no screen by name.
 * Talks to: core/scan/scan.h, core/jobs/job.h, tui/keymap.h, layout.h, screen.h, theme*.h.
 */
#ifndef DIMG_APP_H
#define DIMG_APP_H

#include <curses.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/jobs/job.h"
#include "core/scan/scan.h"
#include "tui/keymap.h"
#include "tui/layout.h"
#include "tui/screen.h"
#include "tui/theme.h"

struct app;

struct tui_opts {
    const char *theme;    /* --theme NAME|PATH, or NULL */
    bool ascii;           /* --ascii */
    bool mouse;           /* --mouse */
    bool read_only;       /* -r: no action changes an image */
    bool untrusted;       /* --untrusted or U: no external reference followed (img.h) */
    bool untrusted_fixed; /* --untrusted given: U cannot turn it off */
    bool ask_password;    /* no --password-file/--password-env: a dialog asks (secret_dialog.c) */
};

/* Run the application in dir; returns the exit status. */
int tui_run(const char *dir, const struct tui_opts *o);

/* A job started from the UI: the engine's job plus what it was about. */
struct app_job {
    struct job *job;
    char title[160];
    char *target; /* file the job creates or changes (rescanned when done) */
    void *arg;    /* the request, freed with free_arg when the job is released */
    void (*free_arg)(void *arg);
    void (*done)(struct app *a, struct app_job *aj); /* on the main thread when it finishes */
    bool finished_seen;
};

/* Modal dialogs: a form of fields, or a yes/no question. */
enum dlg_field_kind { DLG_CHOICE, DLG_TEXT };
#define DLG_MAX_FIELDS 6
#define DLG_MAX_CHOICES 12
struct dlg_field {
    enum dlg_field_kind kind;
    const char *label;
    const char *choices[DLG_MAX_CHOICES];
    int nchoices, choice;
    char text[512];
    size_t cursor;
};
struct dialog {
    bool open;
    char title[128];
    char msg[3][256]; /* lines above the fields */
    struct dlg_field f[DLG_MAX_FIELDS];
    int nf;
    int focus;         /* field index, or nf = the OK button, nf+1 = Cancel */
    bool confirm;      /* a yes/no question (focus starts on No) */
    char type_yes[16]; /* non-empty: the user must type this word to confirm */
    char typed[16];
    void (*ok)(struct app *a, struct dialog *d);
    void (*cancel)(struct app *a, struct dialog *d); /* optional: frees ctx when declined */
    /* Optional: a choice field (index) was changed by the user (the form may update others). */
    void (*changed)(struct app *a, struct dialog *d, int field);
    void *ctx; /* for ok() */
    char ctx_path[4096];
    char aux[512]; /* the form's own note (convert: the name it proposed) */
    char err[256]; /* why the last OK was refused (dlg_reopen), shown in the form */
};

struct app {
    struct tui_opts opts;
    struct theme theme;
    bool utf8, color;
    char *dir; /* absolute path of the listed directory */
    struct scan_dir *scan;
    size_t *idx, nidx; /* visible entries, sorted and filtered */
    struct list list;  /* the browser's selection and first row, indices into idx */
    enum scan_sort sort;
    bool sort_rev, hidden, info_pane;
    char filter[128];
    bool filtering;                /* typing into the filter */
    const struct screen *stack[8]; /* stack[0] is the home screen */
    int nstack;
    struct dialog dlg;
    struct job_engine *jobs;
    struct app_job *ajobs;
    size_t najobs;
    char status[256];
    bool status_err;
    bool quit_asked, quit;
    struct layout lay;
    /* Info pane cache: the text of the selected entry's info. */
    char *info_text;
    char info_for[4096];
    int info_state; /* scan state the text was made from */
    /* DIMG_TIMING milestones already written (timing.h). */
    bool timing_first_screen, timing_rows_filled;
    const char *timing_after; /* a milestone to write once this frame is on screen */
};

/* ---- drawing kit (main thread) ---- */
attr_t app_attr(struct app *a, enum theme_elem e);
/* Print s at (y,x) clipped to w columns (UTF-8 aware), padding with spaces to w when pad. */
void app_put(int y, int x, int w, const char *s, attr_t at, bool pad);
/* Columns s takes as app_put draws it. */
int app_cols(const char *s);
/* The first row of s that fits w columns: its byte length, broken after the last space that
 * fits when the text goes on (a word longer than the row is cut); *next: where the next row
 * starts, its spaces skipped. */
size_t app_wrap_line(const char *s, int w, const char **next);
/* s drawn word-wrapped to w columns from row *row on, stopping before row stop; rows after
 * the first are indented by indent columns. */
void app_put_wrapped(int *row, int stop, int x, int w, int indent, const char *s, attr_t at);
void app_fill(int y, int x, int w, attr_t at);
/* A progress bar of `cells` cells at (y,x), frac (0..1) of them full; returns the column
 * after it. */
int app_bar(struct app *a, int y, int x, int cells, double frac);
void app_status(struct app *a, bool err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* "1.5 GiB"-style sizes, into buf. */
const char *app_size(uint64_t v, char *buf, size_t n);

/* The header row: " dimg WHAT  SUBJECT" (what may be NULL). */
void app_header(struct app *a, struct rect r, const char *what, const char *subject);
/* A list's "12/40" at the right end of its title row r. */
void app_list_position(struct app *a, struct rect r, const struct list *l, size_t n);
/* DIMG_TIMING: write milestone `mark` once the frame being drawn is on the terminal. */
void app_timing_after_frame(struct app *a, const char *mark);

/* Draw the whole screen now (a box with its own key loop, after the terminal was resized). */
void app_redraw(struct app *a);
/* Put s on top of the stack (unless it is on top already), then let it enter. */
void app_push(struct app *a, const struct screen *s);
const struct screen *app_top(const struct app *a);
/* Take the top screen off the stack (never the home screen) and let it leave. */
void app_pop(struct app *a);
/* The directory listing changed: every screen on the stack is told (screen.h: tick). */
void app_tick(struct app *a);

/* ---- what screens offer each other (view_*.c) ---- */
void browser_refresh(struct app *a); /* re-sort / re-filter keeping the cursor's entry */
int browser_chdir(struct app *a, const char *dir);
/* What the browser shows: its directory, or the URI of the remote image shown alone. */
const char *browser_where(struct app *a);
/* The path (or URI) an entry is opened by (malloc'd). */
char *browser_entry_path(struct app *a, const struct scan_entry *e);
/* "12 entries" (or "3 members" in an archive) on the status line. */
void browser_count_status(struct app *a);
/* Read the directory again keeping the filter, the selected entry and the scroll. */
int browser_rescan(struct app *a);
const struct scan_entry *browser_selected(struct app *a, size_t *entry_index);
char *browser_selected_path(struct app *a); /* malloc'd, NULL if nothing selected */
/* Enter on the selection enters an archive (listed like a directory) rather than the map. */
bool browser_opens_archive(struct app *a);
/* Where new files go: the directory shown, or the one holding the archive shown (malloc'd). */
char *browser_write_dir(struct app *a);

/* Open the map of path on top of the current screen: 0, or -1 with a status message. */
int map_show(struct app *a, const char *path);
/* Open the inside of the image at path (view_inside.c): its volumes, or straight the root of
 * its only filesystem. 0 shown; 1 nothing inside to browse (no volume with a filesystem that
 * can be read); -1 with a status message. */
int inside_show(struct app *a, const char *path);
/* Copy path of volume vol of image out into the directory beside the image (a job). */
void inside_get(struct app *a, const char *image, const char *vol, const char *path);

/* When the tree is showing: select the image named name (an entry of the listing) in it,
 * built again. */
void tree_select(struct app *a, const char *name);

/* The footer's job summary ("2 jobs, 41%"), empty when nothing runs. */
void jobs_summary(struct app *a, char *buf, size_t n);
void jobs_poll(struct app *a); /* finished jobs: messages, rescans */
unsigned jobs_running(struct app *a);
/* Start fn(arg) as a job; on failure a status message and free_arg(arg). */
struct app_job *jobs_start(struct app *a, const char *title, const char *target, job_fn fn,
                           void *arg, void (*free_arg)(void *),
                           void (*done)(struct app *, struct app_job *));
/* The same for a job that also reads source (may be NULL): the engine refuses it when another
 * unfinished job writes source or uses target, or when source is target. */
struct app_job *jobs_start_from(struct app *a, const char *title, const char *source,
                                const char *target, job_fn fn, void *arg, void (*free_arg)(void *),
                                void (*done)(struct app *, struct app_job *));

/* ---- actions (actions.c): forms that end in jobs ---- */
void action_convert(struct app *a);
void action_resize(struct app *a);
void action_append(struct app *a);
void action_overlay(struct app *a);
/* The same for the image at path (the tree): vmdk and vdi get a differencing image. */
void action_overlay_path(struct app *a, const char *path);
void action_check(struct app *a);
void action_compact(struct app *a);
void action_snapshot(struct app *a, enum km_action act, const char *path, const char *snap_id,
                     const char *snap_name);
/* Commit path (NULL: the browser's selection) into its backing file / give it a new one:
 * a form, then a job. */
void action_commit(struct app *a, const char *path);
void action_rebase(struct app *a, const char *path);
/* Pack the selected image (and more) into an OVA (action_export.c). */
void action_export(struct app *a);
/* The browser's selection if it is a probed image (*path: its malloc'd path); else a status
 * message and NULL (actions.c, shared with action_export.c). */
const struct scan_entry *act_image(struct app *a, char **path);
/* Unpack the selected archive (or the one being browsed) beside it (action_import.c). */
void action_import(struct app *a);

/* ---- passwords (secret_dialog.c) ---- */
/* Make the password box the secret provider (main thread, curses up); uninstall wipes every
 * kept password and stops prompting. */
void app_secret_install(struct app *a);
void app_secret_uninstall(void);
struct img;
/* When *img is encrypted, set up its key now: the password is asked for on the main thread
 * (unless one is kept for the image), the unlock runs on a worker under a progress box.
 * 0 not encrypted, 1 unlocked, -1 refused or cancelled (status line "WHAT: reason"). When the
 * user cancels a running unlock, *img is set to NULL: the worker closes it when it ends.
 * keep: on success, a locked copy of the password stays for the image's jobs. */
int app_secret_unlock(struct app *a, struct img **img, const char *what, bool keep);
/* The same for path, keeping a locked copy of the password for the jobs that open path
 * until app_secret_release(path): 0 nothing needed, 1 kept, -1 refused (status set). */
int app_secret_hold(struct app *a, const char *path, const char *what);
void app_secret_release(const char *path);

/* ---- dialogs (dialog.c) ---- */
void dlg_begin(struct app *a, const char *title, void (*ok)(struct app *, struct dialog *));
struct dlg_field *dlg_add_text(struct app *a, const char *label, const char *init);
struct dlg_field *dlg_add_choice(struct app *a, const char *label, const char *const *choices,
                                 int n, int sel);
void dlg_confirm(struct app *a, const char *title, const char *question, const char *type_yes,
                 void (*ok)(struct app *, struct dialog *));
/* From an ok() callback: open the form d again as the user left it, focus on field (-1: where
 * it was), with the reason shown in it and on the status line. */
void dlg_reopen(struct app *a, const struct dialog *d, int field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void dlg_draw(struct app *a);
/* A dialog's background, rules and title at (y,x), h by w; returns the background attribute. */
attr_t dlg_frame(struct app *a, int y, int x, int h, int w, const char *title);
void dlg_key(struct app *a, int ch);

#endif

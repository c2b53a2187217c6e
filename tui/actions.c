/* SPDX-License-Identifier: GPL-2.0-or-later */
/* actions.c: the one-keystroke work on the selected image: convert, resize, append, new
 * overlay, check (with repair offered), compact (vdi) and snapshots. Each asks what it needs in a
 * small form, settles every decision there (target name, overwrite, sizes, shrinking), then runs as
 * a job on the engine while the user goes on browsing. The requests own copies of every string, so
 * the browser may change directory while they run.
 * Talks to: app.h (dialogs, jobs, status), core/ops/ops.h (convert, resize, append, compact),
 * core/block/img.h.
 */
#include "tui/app.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/archive/archive.h"
#include "core/block/img.h"
#include "core/base/io.h"
#include "core/block/lock.h"
#include "core/ops/ops.h"
#include "core/block/ptable.h"
#include "core/base/esc.h"

/* ---- helpers ---- */

/* The selected entry if it is a probed image; else a status message and NULL. */
const struct scan_entry *act_image(struct app *a, char **path)
{
    const struct scan_entry *e = browser_selected(a, NULL);
    if (!e || e->is_dir || e->is_dotdot) {
        app_status(a, true, "select an image first");
        return NULL;
    }
    enum scan_state st = scan_entry_state(e);
    if (st == SCAN_PENDING) {
        app_status(a, true, "%s is still being probed", e->display);
        return NULL;
    }
    if (st != SCAN_DONE) {
        app_status(a, true, "%s: %s", e->display, e->msg ? e->msg : "not an image");
        return NULL;
    }
    *path = browser_entry_path(a, e);
    return *path ? e : NULL;
}

/* The name a new file made from the image at path starts from: its last component; for an
 * NBD URI the export's name ("nbd://host/vm1" gives "vm1"), "nbd" when it has none. */
static void act_leaf(const char *path, char *out, size_t n)
{
    if (img_name_is_uri(path)) {
        const char *p = strstr(path, "://") + 3;
        p += strcspn(p, "/?");
        p += *p == '/';
        size_t l = strcspn(p, "?#");
        snprintf(out, n, "%.*s", (int)(l ? l : 3), l ? p : "nbd");
        for (char *q = out; *q; q++) /* a file name, never a path */
            if (*q == '/' || (unsigned char)*q < 0x20)
                *q = '_';
        return;
    }
    const char *slash = strrchr(path, '/');
    snprintf(out, n, "%s", slash ? slash + 1 : path);
}

/* NAME.EXT from the source name without its image extension: "disk.raw" -> "disk.qcow2",
 * and "disk-1.qcow2" and so on while the name is taken. */
static void act_propose(const char *dir, const char *src, const char *suffix, const char *ext,
                        char *out, size_t n)
{
    static const char *const exts[] = {".qcow2", ".qcow", ".cow", ".raw", ".img",
                                       ".vdi",   ".vmdk", ".bin", NULL};
    char base[1024];
    snprintf(base, sizeof base, "%s", src);
    size_t bl = strlen(base);
    for (int i = 0; exts[i]; i++) {
        size_t el = strlen(exts[i]);
        if (bl > el && strcasecmp(base + bl - el, exts[i]) == 0) {
            base[bl - el] = 0;
            break;
        }
    }
    for (int k = 0; k < 1000; k++) {
        char num[16] = "";
        if (k)
            snprintf(num, sizeof num, "-%d", k);
        snprintf(out, n, "%s%s%s.%s", base, suffix, num, ext);
        char *p = io_path_join(dir, out);
        bool taken = !p || access(p, F_OK) == 0;
        free(p);
        if (!taken)
            return;
    }
}

/* Changing the image at path in place needs a file we may write that no other program holds
 * (QEMU's locks): refused when the key is pressed, with the reason, before any form or job.
 * what names the action ("resize"), name the image. */
static bool act_can_change(struct app *a, const char *path, const char *name, const char *what)
{
    if (access(path, W_OK) != 0) {
        app_status(a, true, "%s: %s is not writable (%s)", what, name, strerror(errno));
        return false;
    }
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    int pid = -1;
    bool busy = fd >= 0 && lock_in_use(fd, &pid);
    if (fd >= 0)
        close(fd);
    if (busy) {
        char who[32] = "";
        if (pid > 0)
            snprintf(who, sizeof who, " (pid %d)", pid);
        app_status(a, true, "%s: %s is in use by another program%s; close it first", what, name,
                   who);
        return false;
    }
    return true;
}

/* The driver of a probed format (NULL when unknown). */
static const struct img_driver *act_driver(const struct scan_entry *e)
{
    return e && e->format ? img_driver_find(e->format) : NULL;
}

static bool act_has_opt(const struct img_driver *d, const char *name)
{
    for (const struct img_opt_desc *o = img_driver_create_opts(d); o && o->name; o++)
        if (strcmp(o->name, name) == 0)
            return true;
    return false;
}

/* ---- convert ---- */

struct conv_job {
    char *src, *dst, *fmt;
    struct img_opts opts;
    struct ops_convert_req req;
    bool pw_held; /* a password for src is kept for the job (secret_dialog.c) */
    char *beside; /* a member's copy: the archive's directory (escaped), said when done */
};

static void conv_free(void *p)
{
    struct conv_job *c = p;
    if (c->pw_held)
        app_secret_release(c->src);
    free(c->src);
    free(c->dst);
    free(c->fmt);
    free(c->beside);
    img_opts_free(&c->opts);
    free(c);
}

/* Finished: the source's password is not needed any more (main thread). */
static void conv_done(struct app *a, struct app_job *aj)
{
    (void)a;
    struct conv_job *c = aj->arg;
    if (c->pw_held)
        app_secret_release(c->src);
    c->pw_held = false;
}

static int conv_run(struct job *j, void *arg, struct img_err *err)
{
    struct conv_job *c = arg;
    c->req.progress = job_ops_progress(j);
    job_status(j, "copying");
    int r = arc_convert_any(&c->req, err);
    if (r == 0 && c->beside) /* the user may still be in the archive: say where it went */
        job_status(j, "wrote %s beside the archive, in %s", strrchr(c->dst, '/') + 1, c->beside);
    else if (r == 0)
        job_status(j, "wrote %s", strrchr(c->dst, '/') + 1);
    return r;
}

static const char *conv_fmts[DLG_MAX_CHOICES];
static int conv_nfmts;
static const char *const conv_clusters[] = {"default", "4k", "64k", "256k", "1M", "2M"};
static const char *const yes_no[] = {"no", "yes"};
/* The convert form's Sparsify field: convert --sparsify (and --sparsify-swap). */
static const char *const conv_sparsify[] = {"no", "free blocks", "free blocks and swap"};

static void conv_start(struct app *a, struct dialog *d)
{
    const char *fmt = d->f[1].choices[d->f[1].choice];
    bool compress = d->f[2].choice == 1;
    const char *cl = d->f[3].choices[d->f[3].choice];
    int sparsify = d->f[4].choice;
    const struct img_driver *drv = img_driver_find(fmt);
    /* What the form shows is what is written (the name follows the format: conv_changed). */
    char name[1024];
    snprintf(name, sizeof name, "%s", d->f[0].text);
    char odir[4096];
    char *wdir = browser_write_dir(a); /* inside an archive: the archive's directory */
    snprintf(odir, sizeof odir, "%s", wdir ? wdir : a->dir);
    free(wdir);
    if (!drv || !name[0] || strchr(name, '/')) {
        dlg_reopen(a, d, 0, "convert: give a file name in this directory");
        return;
    }
    if (compress && !img_driver_can_compress(drv)) {
        dlg_reopen(a, d, 2, "convert: %s images cannot hold compressed data", fmt);
        return;
    }
    if (strcmp(cl, "default") != 0 && !act_has_opt(drv, "cluster_size")) {
        dlg_reopen(a, d, 3, "convert: %s has no cluster size option", fmt);
        return;
    }
    struct conv_job *c = calloc(1, sizeof *c);
    if (!c)
        return;
    c->src = strdup(d->ctx_path);
    c->dst = io_path_join(odir, name);
    c->fmt = strdup(fmt);
    struct img_err err = {0};
    char o[64] = "";
    if (strcmp(cl, "default") != 0)
        snprintf(o, sizeof o, "cluster_size=%s", cl);
    if (!c->src || !c->dst || !c->fmt || (o[0] && img_opts_parse(&c->opts, o, &err) < 0)) {
        app_status(a, true, "convert: %s", err.msg[0] ? err.msg : "out of memory");
        conv_free(c);
        return;
    }
    if (access(c->dst, F_OK) == 0) {
        /* Decisions come before the job: never overwrite silently. */
        conv_free(c);
        dlg_reopen(a, d, 0, "convert: %s exists; choose another name", name);
        return;
    }
    c->req = (struct ops_convert_req){.src = c->src,
                                      .dst = c->dst,
                                      .dst_fmt = c->fmt,
                                      .opts = o[0] ? &c->opts : NULL,
                                      .compress = compress,
                                      .sparse = OPS_CONVERT_DEFAULT_SPARSE,
                                      .sparsify = sparsify > 0,
                                      .sparsify_swap = sparsify > 1,
                                      .open_flags = a->opts.untrusted ? IMG_OPEN_UNTRUSTED : 0};
    /* The job cannot ask for a password on its thread: ask (and check it) now. An archive's
     * member is no file to open here (encrypted images inside archives are not unlocked). */
    int held = a->scan && scan_is_archive(a->scan) ? 0 : app_secret_hold(a, c->src, "convert");
    if (held < 0) {
        conv_free(c);
        return;
    }
    c->pw_held = held > 0;
    if (a->scan && scan_is_archive(a->scan))
        c->beside = esc_dup(odir, strlen(odir));
    char title[160];
    char leaf[256];
    act_leaf(c->src, leaf, sizeof leaf);
    snprintf(title, sizeof title, "convert %.60s -> %.60s (%s%s%s)", leaf, name, fmt,
             compress ? ", compressed" : "", sparsify ? ", sparsified" : "");
    /* A member of the archive being browsed: the file the job reads is the archive. */
    const char *reads = a->scan && scan_is_archive(a->scan) ? a->dir : c->src;
    jobs_start_from(a, title, reads, c->dst, conv_run, c, conv_free, conv_done);
}

/* The format changed: a name the user left as proposed follows it ("vm.qcow2" becomes
 * "vm.vdi"); a name they typed stays. */
static void conv_changed(struct app *a, struct dialog *d, int field)
{
    if (field != 1 || strcmp(d->f[0].text, d->aux) != 0)
        return;
    char *wdir = browser_write_dir(a);
    char src[256];
    act_leaf(d->ctx_path, src, sizeof src);
    act_propose(wdir ? wdir : a->dir, src, "", d->f[1].choices[d->f[1].choice], d->aux,
                sizeof d->aux);
    free(wdir);
    snprintf(d->f[0].text, sizeof d->f[0].text, "%s", d->aux);
    d->f[0].cursor = strlen(d->f[0].text);
}

void action_convert(struct app *a)
{
    char *path = NULL;
    const struct scan_entry *e = act_image(a, &path);
    if (!e)
        return;
    size_t n;
    const struct img_driver *const *list = img_driver_list(&n);
    conv_nfmts = 0;
    int sel = 0;
    for (size_t i = 0; i < n && conv_nfmts < DLG_MAX_CHOICES; i++) {
        if (!img_driver_has(list[i], IMG_OP_CREATE))
            continue;
        conv_fmts[conv_nfmts++] =
            img_driver_name(list[i]); /* the first is the default (drivers.h) */
    }
    char name[sizeof a->dlg.aux];
    char *wdir = browser_write_dir(a); /* inside an archive: the archive's directory */
    /* A member's name may hold directories: propose its last component. */
    char leaf[256];
    act_leaf(e->name, leaf, sizeof leaf);
    act_propose(wdir ? wdir : a->dir, leaf, "", "qcow2", name, sizeof name);
    dlg_begin(a, "Convert", conv_start);
    a->dlg.changed = conv_changed;
    snprintf(a->dlg.aux, sizeof a->dlg.aux, "%s", name);
    snprintf(a->dlg.ctx_path, sizeof a->dlg.ctx_path, "%s", path);
    if (wdir && a->scan && scan_is_archive(a->scan)) {
        /* A member: say which archive it comes out of and where the copy goes. */
        const char *an = strrchr(a->dir, '/') ? strrchr(a->dir, '/') + 1 : a->dir;
        char *arc = esc_dup(an, strlen(an));
        char *wd = esc_dup(wdir, strlen(wdir));
        snprintf(a->dlg.msg[0], sizeof a->dlg.msg[0], "Copy member %s (%s) of archive %s",
                 e->display, e->format, arc ? arc : "?");
        snprintf(a->dlg.msg[1], sizeof a->dlg.msg[1], "into a new image beside the archive, in %s.",
                 wd ? wd : "?");
        free(arc);
        free(wd);
    } else {
        snprintf(a->dlg.msg[0], sizeof a->dlg.msg[0], "Copy %s (%s) into a new image.", e->display,
                 e->format);
    }
    dlg_add_text(a, "New file", name);
    dlg_add_choice(a, "Format", conv_fmts, conv_nfmts, sel);
    dlg_add_choice(a, "Compress", yes_no, 2, 0);
    dlg_add_choice(a, "Cluster size", conv_clusters, 6, 0);
    dlg_add_choice(a, "Sparsify", conv_sparsify, 3, 0);
    free(wdir);
    free(path);
}

/* ---- resize ---- */

struct resize_job {
    char *path;
    struct ops_resize_req req;
    struct ops_resize_res res;
};

static void resize_free(void *p)
{
    struct resize_job *r = p;
    free(r->path);
    free(r);
}

static int resize_run(struct job *j, void *arg, struct img_err *err)
{
    struct resize_job *r = arg;
    r->req.progress = job_ops_progress(j);
    int ret = ops_resize(&r->req, &r->res, err);
    if (ret == 0) {
        char s[16];
        job_status(j, "new size %s%s", app_size(r->res.new_size, s, sizeof s),
                   r->res.gpt_moved ? ", backup GPT moved" : "");
    }
    return ret;
}

static void resize_go(struct app *a, struct dialog *d)
{
    struct resize_job *r = d->ctx;
    char title[160];
    snprintf(title, sizeof title, "resize %.100s to %.30s", strrchr(r->path, '/') + 1,
             d->f[0].text);
    jobs_start(a, title, r->path, resize_run, r, resize_free, NULL);
}

static void resize_cancel_free(struct app *a, struct dialog *d)
{
    (void)a;
    resize_free(d->ctx);
}

static void resize_start(struct app *a, struct dialog *d)
{
    const char *txt = d->f[0].text;
    struct resize_job *r = calloc(1, sizeof *r);
    if (!r || !(r->path = strdup(d->ctx_path))) {
        free(r);
        return;
    }
    r->req.path = r->path;
    r->req.fix_gpt = d->nf > 1 && d->f[1].choice == 1; /* offered for a GPT disk only */
    r->req.open_flags = a->opts.untrusted ? IMG_OPEN_UNTRUSTED : 0;
    const char *num = txt;
    while (*num == ' ')
        num++;
    if (*num == '+' || *num == '-') {
        r->req.sign = *num == '+' ? 1 : -1;
        num++;
    }
    uint64_t cur = 0;
    struct img_err err = {0};
    const struct scan_entry *e = browser_selected(a, NULL);
    if (e && scan_entry_state(e) == SCAN_DONE)
        cur = e->virtual_size;
    uint64_t target;
    if (img_parse_size(num, &r->req.amount) < 0 ||
        ops_resize_target(cur, r->req.sign, r->req.amount, &target, &err) < 0) {
        resize_free(r);
        dlg_reopen(a, d, 0, "resize: '%s' is not a size (+4G, -1G, 20G)", txt);
        return;
    }
    if (target < cur) {
        /* Shrinking loses whatever lies past the new end: name it and make them type yes. */
        r->req.shrink = true;
        char q[256], s1[16], s2[16];
        snprintf(q, sizeof q, "Shrink %s from %s to %s? Data past the new end is lost.",
                 strrchr(r->path, '/') + 1, app_size(cur, s1, sizeof s1),
                 app_size(target, s2, sizeof s2));
        char keep[64];
        snprintf(keep, sizeof keep, "%.60s", txt);
        dlg_confirm(a, "Shrink", q, "yes", resize_go);
        a->dlg.ctx = r;
        a->dlg.cancel = resize_cancel_free;
        snprintf(a->dlg.f[0].text, sizeof a->dlg.f[0].text, "%s", keep);
        return;
    }
    struct dialog tmp = *d;
    tmp.ctx = r;
    resize_go(a, &tmp);
}

/* Does the guest of path start with a GPT (so that "Fix GPT" means something)? Also true
 * when the table cannot be read here (an encrypted or broken chain): the choice is offered. */
static bool act_has_gpt(struct app *a, const char *path)
{
    struct img_err err = {0};
    unsigned fl = IMG_OPEN_BACKING | (a->opts.untrusted ? IMG_OPEN_UNTRUSTED : 0);
    struct img *img = img_open(path, NULL, fl, &err);
    if (!img)
        return true;
    struct ptable pt;
    memset(&pt, 0, sizeof pt);
    bool gpt = ptable_read(img, &pt, &err) < 0 || pt.kind == PTABLE_GPT;
    ptable_free(&pt);
    img_close(img);
    return gpt;
}

void action_resize(struct app *a)
{
    char *path = NULL;
    const struct scan_entry *e = act_image(a, &path);
    if (!e)
        return;
    const struct img_driver *drv = act_driver(e);
    if (a->scan && scan_is_archive(a->scan)) {
        /* A member is no file of its own: there is nothing to resize in place. */
        app_status(a, true, "resize: %s is inside an archive; convert it (c) to a file first",
                   e->display);
        free(path);
        return;
    }
    if (!drv || !img_driver_has(drv, IMG_OP_TRUNCATE)) {
        app_status(a, true, "resize: %s images cannot be resized; convert (c) first",
                   e->format ? e->format : "such");
        free(path);
        return;
    }
    if (!act_can_change(a, path, e->display, "resize")) {
        free(path);
        return;
    }
    bool gpt = act_has_gpt(a, path);
    char s[16];
    dlg_begin(a, "Resize", resize_start);
    snprintf(a->dlg.ctx_path, sizeof a->dlg.ctx_path, "%s", path);
    snprintf(a->dlg.msg[0], sizeof a->dlg.msg[0],
             "%s (%s) is %s. New size: +4G grows, -1G "
             "shrinks, 20G sets.",
             e->display, e->format, app_size(e->virtual_size, s, sizeof s));
    dlg_add_text(a, "New size", "+1G");
    if (gpt)
        dlg_add_choice(a, "Fix GPT", yes_no, 2, 1);
    free(path);
}

/* ---- append ---- */

struct append_job {
    char *path, *out, *other;
    struct ops_append_req req;
    struct ops_append_res res;
};

static void append_free(void *p)
{
    struct append_job *j = p;
    free(j->path);
    free(j->out);
    free(j->other);
    free(j);
}

static int append_run(struct job *j, void *arg, struct img_err *err)
{
    struct append_job *x = arg;
    x->req.progress = job_ops_progress(j);
    int r = ops_append(&x->req, &x->res, err);
    if (r == 0) {
        char s[16];
        job_status(j, "now %s", app_size(x->res.new_size, s, sizeof s));
    }
    return r;
}

static const char *const append_modes[] = {"sparse", "dense"};
static const char *const append_where[] = {"in place", "new file"};

static void append_start(struct app *a, struct dialog *d)
{
    struct append_job *x = calloc(1, sizeof *x);
    if (!x || !(x->path = strdup(d->ctx_path))) {
        free(x);
        return;
    }
    x->req.path = x->path;
    x->req.fmt = "raw";
    x->req.dense = d->f[1].choice == 1;
    const char *what = d->f[0].text;
    if (img_parse_size(what, &x->req.zeros) < 0) {
        /* Not a size: another raw image in this directory to concatenate. */
        x->other = io_path_join(a->dir, what);
        if (!x->other || access(x->other, R_OK) != 0) {
            append_free(x);
            dlg_reopen(a, d, 0, "append: '%s' is neither a size nor a readable file", what);
            return;
        }
        x->req.other = x->other;
    }
    if (d->f[2].choice == 1) {
        const char *name = d->f[3].text;
        if (!name[0] || strchr(name, '/')) {
            append_free(x);
            dlg_reopen(a, d, 3, "append: give a new file name in this directory");
            return;
        }
        x->out = io_path_join(a->dir, name);
        if (!x->out || access(x->out, F_OK) == 0) {
            append_free(x);
            dlg_reopen(a, d, 3, "append: %s exists; choose another name", name);
            return;
        }
        x->req.out = x->out;
    }
    char title[200];
    snprintf(title, sizeof title, "append %.40s to %.60s%s%.60s", what, strrchr(x->path, '/') + 1,
             x->out ? " -> " : "", x->out ? strrchr(x->out, '/') + 1 : "");
    jobs_start_from(a, title, x->out ? x->path : NULL, x->out ? x->out : x->path, append_run, x,
                    append_free, NULL);
}

void action_append(struct app *a)
{
    char *path = NULL;
    const struct scan_entry *e = act_image(a, &path);
    if (!e)
        return;
    if (!e->format || !img_format_is_raw(e->format)) {
        app_status(a, true, "append extends raw images; %s is %s: use R (resize)", e->display,
                   e->format ? e->format : "?");
        free(path);
        return;
    }
    char name[1024];
    act_propose(a->dir, e->name, "-bigger", "img", name, sizeof name);
    dlg_begin(a, "Append", append_start);
    snprintf(a->dlg.ctx_path, sizeof a->dlg.ctx_path, "%s", path);
    snprintf(a->dlg.msg[0], sizeof a->dlg.msg[0],
             "Append zeros (a size) or another raw image "
             "(a file name) to %s.",
             e->display);
    dlg_add_text(a, "Append", "1G");
    dlg_add_choice(a, "Zeros", append_modes, 2, 0);
    dlg_add_choice(a, "Write to", append_where, 2, 0);
    dlg_add_text(a, "New file", name);
    free(path);
}

/* ---- compact ---- */

struct compact_job {
    char *path;
    struct ops_compact_req req;
    struct ops_compact_res res;
};

static void compact_free(void *p)
{
    struct compact_job *c = p;
    free(c->path);
    free(c);
}

static int compact_run(struct job *j, void *arg, struct img_err *err)
{
    struct compact_job *c = arg;
    c->req.progress = job_ops_progress(j);
    int r = ops_compact(&c->req, &c->res, err);
    if (r == 0) {
        char s1[16], s2[16];
        job_status(j, "file %s -> %s", app_size(c->res.old_file_size, s1, sizeof s1),
                   app_size(c->res.new_file_size, s2, sizeof s2));
    }
    return r;
}

static const char *compact_fmt; /* the driver name of the image the dialog asks about */

static void compact_go(struct app *a, struct dialog *d)
{
    struct compact_job *c = calloc(1, sizeof *c);
    if (!c || !(c->path = strdup(d->ctx_path))) {
        free(c);
        return;
    }
    c->req.path = c->path;
    c->req.fmt = compact_fmt;
    c->req.open_flags = a->opts.untrusted ? IMG_OPEN_UNTRUSTED : 0;
    char title[160];
    snprintf(title, sizeof title, "compact %.140s", strrchr(c->path, '/') + 1);
    jobs_start(a, title, c->path, compact_run, c, compact_free, NULL);
}

/* The formats that compact in place (those with the compact slot), as "vdi" or "a/b". */
static void act_compact_fmts(char *buf, size_t cap)
{
    size_t n, used = 0;
    const struct img_driver *const *list = img_driver_list(&n);
    buf[0] = '\0';
    for (size_t i = 0; i < n; i++)
        if (img_driver_has(list[i], IMG_OP_COMPACT) && used < cap)
            used += (size_t)snprintf(buf + used, cap - used, "%s%s", used ? "/" : "",
                                     img_driver_name(list[i]));
}

/* Only some formats compact in place; the content stays the same, so a plain yes is enough. */
void action_compact(struct app *a)
{
    char *path = NULL;
    const struct scan_entry *e = act_image(a, &path);
    if (!e)
        return;
    const struct img_driver *drv = e->format ? img_driver_find(e->format) : NULL;
    if (!drv || !img_driver_has(drv, IMG_OP_COMPACT)) {
        char fmts[64];
        act_compact_fmts(fmts, sizeof fmts);
        app_status(a, true, "compact works in place on %s images; %s is %s: use c (convert)", fmts,
                   e->display, e->format ? e->format : "?");
        free(path);
        return;
    }
    compact_fmt = img_driver_name(drv);
    if (!act_can_change(a, path, e->display, "compact")) {
        free(path);
        return;
    }
    char q[256];
    snprintf(q, sizeof q, "Compact %s in place? Zero blocks are given back; the content stays.",
             e->display);
    dlg_confirm(a, "Compact", q, NULL, compact_go);
    snprintf(a->dlg.ctx_path, sizeof a->dlg.ctx_path, "%s", path);
    free(path);
}

/* ---- overlay ---- */

static const char *overlay_fmts[DLG_MAX_CHOICES];
static int overlay_nfmts;

static void overlay_start(struct app *a, struct dialog *d)
{
    const char *name = d->f[0].text;
    const char *fmt = d->f[1].choices[d->f[1].choice];
    if (!name[0] || strchr(name, '/')) {
        dlg_reopen(a, d, 0, "overlay: give a file name in this directory");
        return;
    }
    char *dst = io_path_join(a->dir, name);
    if (!dst)
        return;
    if (access(dst, F_OK) == 0) {
        free(dst);
        dlg_reopen(a, d, 0, "overlay: %s exists; choose another name", name);
        return;
    }
    struct img_err err = {0};
    struct img *base = img_open(d->ctx_path, NULL, 0, &err);
    if (!base) {
        app_status(a, true, "overlay: %s", err.msg);
        free(dst);
        return;
    }
    /* The backing name is stored relative: the pair can move together. */
    struct img_create_req req = {.size = img_size(base),
                                 .backing_file = strrchr(d->ctx_path, '/') + 1,
                                 .backing_fmt = img_format(base)};
    int r = img_create(fmt, dst, &req, &err);
    img_close(base);
    if (r < 0)
        app_status(a, true, "overlay: %s", err.msg);
    else
        app_status(a, false, "created %s (%s) backed by %s", name, fmt, req.backing_file);
    free(dst);
    jobs_poll(a);
    char *dir = strdup(a->dir);
    if (dir) {
        char st[256];
        snprintf(st, sizeof st, "%s", a->status);
        bool se = a->status_err;
        browser_chdir(a, dir);
        snprintf(a->status, sizeof a->status, "%s", st);
        a->status_err = se;
        for (size_t i = 0; i < a->nidx; i++)
            if (strcmp(scan_entry(a->scan, a->idx[i])->name, name) == 0)
                a->list.cur = i;
        free(dir);
        if (r == 0)
            tree_select(a, name); /* when the tree is showing, on the new overlay */
    }
}

static void overlay_dialog(struct app *a, const char *path, const char *ename, const char *display);

/* Formats that take no other parent format (vmdk, vdi) offer instead of an overlay a
 * differencing image (a vmdk child, a differencing vdi) of their own format, beside them (the
 * only place a differencing vdi's parent is looked for). */
static bool act_diff_format(const char *fmt)
{
    const struct img_driver *drv = fmt ? img_driver_find(fmt) : NULL;
    return drv && (img_driver_caps(drv) & IMG_CAP_PARENT_SAME_FMT);
}

static void child_dialog(struct app *a, const char *path, const char *name, const char *display,
                         const char *fmt)
{
    static const char *child_fmt[1];
    child_fmt[0] = img_driver_name(img_driver_find(fmt)); /* static, unlike fmt */
    char proposed[1024];
    act_propose(a->dir, name, "-child", child_fmt[0], proposed, sizeof proposed);
    dlg_begin(a, "New differencing image", overlay_start);
    snprintf(a->dlg.ctx_path, sizeof a->dlg.ctx_path, "%s", path);
    snprintf(a->dlg.msg[0], sizeof a->dlg.msg[0],
             "A %s child of %.100s: it keeps only what is written to it,", child_fmt[0], display);
    snprintf(a->dlg.msg[1], sizeof a->dlg.msg[1], "and reads the rest from %.100s.", display);
    dlg_add_text(a, "New file", proposed);
    dlg_add_choice(a, "Format", child_fmt, 1, 0);
}

/* O in the tree: the image at path, whose format is probed here (nothing it names is
 * followed). */
void action_overlay_path(struct app *a, const char *path)
{
    struct img_err err = {0};
    struct img *img = img_open(path, NULL, IMG_OPEN_UNTRUSTED, &err);
    if (!img) {
        app_status(a, true, "%s", err.msg);
        return;
    }
    char fmt[16];
    snprintf(fmt, sizeof fmt, "%s", img_format(img));
    img_close(img);
    const char *name = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    if (act_diff_format(fmt)) {
        child_dialog(a, path, name, name, fmt);
        return;
    }
    overlay_dialog(a, path, name, name);
}

void action_overlay(struct app *a)
{
    char *path = NULL;
    const struct scan_entry *e = act_image(a, &path);
    if (!e)
        return;
    if (act_diff_format(e->format))
        child_dialog(a, path, e->name, e->display, e->format);
    else
        overlay_dialog(a, path, e->name, e->display);
    free(path);
}

static void overlay_dialog(struct app *a, const char *path, const char *ename, const char *display)
{
    size_t n;
    const struct img_driver *const *list = img_driver_list(&n);
    overlay_nfmts = 0;
    for (size_t i = 0; i < n && overlay_nfmts < DLG_MAX_CHOICES; i++)
        if (img_driver_has(list[i], IMG_OP_CREATE) && (img_driver_caps(list[i]) & IMG_CAP_BACKING))
            overlay_fmts[overlay_nfmts++] = img_driver_name(list[i]);
    if (!overlay_nfmts) {
        app_status(a, true, "no format here can make overlays");
        return;
    }
    char name[1024];
    act_propose(a->dir, ename, "-overlay", overlay_fmts[0], name, sizeof name);
    dlg_begin(a, "New overlay", overlay_start);
    snprintf(a->dlg.ctx_path, sizeof a->dlg.ctx_path, "%s", path);
    snprintf(a->dlg.msg[0], sizeof a->dlg.msg[0],
             "A new image whose unwritten parts read from "
             "%s.",
             display);
    dlg_add_text(a, "New file", name);
    dlg_add_choice(a, "Format", overlay_fmts, overlay_nfmts, 0);
}

/* ---- check ---- */

struct check_job {
    char *path;
    unsigned fix;
    struct img_check res;
    int r;
};

static void check_free(void *p)
{
    struct check_job *c = p;
    free(c->path);
    free(c);
}

static int check_tick(void *ctx, uint64_t done, uint64_t total)
{
    struct job *j = ctx;
    job_progress(j, done, total);
    return job_should_stop(j);
}

static int check_run(struct job *j, void *arg, struct img_err *err)
{
    struct check_job *c = arg;
    struct img *img = img_open(c->path, NULL, c->fix ? IMG_OPEN_RW : 0, err);
    if (!img)
        return err->code ? err->code : -EIO;
    c->res.tick = check_tick;
    c->res.tick_ctx = j;
    int r = img_check(img, &c->res, c->fix);
    if (r == 0 && c->fix && (c->res.leaks_fixed || c->res.corruptions_fixed)) {
        uint64_t lf = c->res.leaks_fixed, cf = c->res.corruptions_fixed;
        memset(&c->res, 0, sizeof c->res);
        r = img_check(img, &c->res, 0);
        c->res.leaks_fixed = lf;
        c->res.corruptions_fixed = cf;
    }
    c->r = r;
    if (r < 0)
        err_set(err, r, "%s", r == -ENOTSUP ? "this format has no check" : img_errmsg(img));
    else if (c->res.corruptions || c->res.leaks || c->res.check_errors)
        job_status(j, "%s%llu corruption%s, %llu leaked cluster%s, %llu error%s%s",
                   c->fix ? "after the repair: " : "", (unsigned long long)c->res.corruptions,
                   c->res.corruptions == 1 ? "" : "s", (unsigned long long)c->res.leaks,
                   c->res.leaks == 1 ? "" : "s", (unsigned long long)c->res.check_errors,
                   c->res.check_errors == 1 ? "" : "s", c->fix ? " left" : "");
    else if (c->fix) /* the same words as the question that offered the repair */
        job_status(j, "repaired %llu leaked cluster%s and %llu corruption%s; now clean",
                   (unsigned long long)c->res.leaks_fixed, c->res.leaks_fixed == 1 ? "" : "s",
                   (unsigned long long)c->res.corruptions_fixed,
                   c->res.corruptions_fixed == 1 ? "" : "s");
    else
        job_status(j, "no errors found");
    img_close(img);
    return r;
}

static void check_repair_go(struct app *a, struct dialog *d)
{
    struct check_job *c = calloc(1, sizeof *c);
    if (!c || !(c->path = strdup(d->ctx_path))) {
        free(c);
        return;
    }
    c->fix = d->f[0].text[0] == 'a' ? IMG_FIX_LEAKS | IMG_FIX_ERRORS : IMG_FIX_LEAKS;
    char title[200];
    snprintf(title, sizeof title, "repair %s", strrchr(c->path, '/') + 1);
    jobs_start(a, title, c->path, check_run, c, check_free, NULL);
}

static void check_done(struct app *a, struct app_job *aj)
{
    struct check_job *c = aj->arg;
    if (c->fix || c->r < 0 || a->opts.read_only)
        return;
    if (!c->res.leaks && !c->res.corruptions)
        return;
    char q[256];
    snprintf(q, sizeof q, "%s has %llu leaked cluster%s and %llu corruption%s. Repair it now?",
             strrchr(c->path, '/') + 1, (unsigned long long)c->res.leaks,
             c->res.leaks == 1 ? "" : "s", (unsigned long long)c->res.corruptions,
             c->res.corruptions == 1 ? "" : "s");
    dlg_confirm(a, "Repair", q, c->res.corruptions ? "yes" : NULL, check_repair_go);
    snprintf(a->dlg.ctx_path, sizeof a->dlg.ctx_path, "%s", c->path);
    /* The mode rides in an (invisible) text field: leaks only, or all with corruptions. */
    a->dlg.nf = 0;
    snprintf(a->dlg.f[0].text, sizeof a->dlg.f[0].text, "%s", c->res.corruptions ? "all" : "leaks");
}

void action_check(struct app *a)
{
    char *path = NULL;
    const struct scan_entry *e = act_image(a, &path);
    if (!e)
        return;
    const struct img_driver *drv = act_driver(e);
    if (drv && !img_driver_has(drv, IMG_OP_CHECK)) {
        /* Refused now rather than by a job that fails: there is no metadata to check. */
        app_status(a, true, "check: %s images have no metadata to check (%s)", img_driver_name(drv),
                   e->display);
        free(path);
        return;
    }
    struct check_job *c = calloc(1, sizeof *c);
    if (!c) {
        free(path);
        return;
    }
    c->path = path;
    char title[200];
    snprintf(title, sizeof title, "check %s", e->display);
    jobs_start(a, title, NULL, check_run, c, check_free, check_done);
}

/* ---- snapshots ---- */

struct snap_job {
    char *path;
    enum km_action act;
    char arg[256]; /* the new name, or the ID to apply or delete */
};

static void snap_free(void *p)
{
    struct snap_job *x = p;
    free(x->path);
    free(x);
}

static int snap_run(struct job *j, void *arg, struct img_err *err)
{
    struct snap_job *x = arg;
    struct img *img = img_open(x->path, NULL, IMG_OPEN_RW, err);
    if (!img)
        return err->code ? err->code : -EIO;
    job_progress(j, 0, 1);
    int r = x->act == KM_A_SNAP_NEW     ? img_snap_create(img, x->arg)
            : x->act == KM_A_SNAP_APPLY ? img_snap_apply(img, x->arg)
                                        : img_snap_delete(img, x->arg);
    if (r == 0)
        r = img_flush(img);
    if (r < 0)
        err_set(err, r, "%s", img_errmsg(img));
    else
        job_progress(j, 1, 1);
    img_close(img);
    return r;
}

static const char *snap_verb(enum km_action act)
{
    return act == KM_A_SNAP_NEW     ? "snapshot"
           : act == KM_A_SNAP_APPLY ? "apply snapshot"
                                    : "delete snapshot";
}

static void snap_go(struct app *a, struct dialog *d)
{
    struct snap_job *x = d->ctx;
    if (x->act == KM_A_SNAP_NEW) {
        snprintf(x->arg, sizeof x->arg, "%.255s", d->f[0].text);
        if (!x->arg[0]) {
            dlg_reopen(a, d, 0, "snapshot: give it a name");
            return;
        }
    }
    char title[200];
    snprintf(title, sizeof title, "%s %.60s of %.80s", snap_verb(x->act), x->arg,
             strrchr(x->path, '/') + 1);
    jobs_start(a, title, x->path, snap_run, x, snap_free, NULL);
}

static void snap_decline(struct app *a, struct dialog *d)
{
    (void)a;
    snap_free(d->ctx);
}

/* The images of the directory shown that use path as their backing file (by name, or a
 * differencing vdi by its parent's UUID), as "a.qcow2, b.qcow2" into out; their count. */
static size_t act_dependents(struct app *a, const char *path, char *out, size_t n)
{
    out[0] = 0;
    if (!a->scan || scan_is_archive(a->scan))
        return 0;
    const char *uuid = "";
    size_t cnt = scan_count(a->scan);
    for (size_t i = 0; i < cnt; i++) {
        const struct scan_entry *e = scan_entry(a->scan, i);
        char *p = scan_entry_state(e) == SCAN_DONE ? browser_entry_path(a, e) : NULL;
        if (p && strcmp(p, path) == 0)
            uuid = e->uuid;
        free(p);
    }
    size_t found = 0, len = 0;
    for (size_t i = 0; i < cnt; i++) {
        const struct scan_entry *e = scan_entry(a->scan, i);
        if (scan_entry_state(e) != SCAN_DONE)
            continue;
        bool dep = uuid[0] && strcmp(e->parent_uuid, uuid) == 0;
        if (!dep && e->backing) {
            char *bp = io_path_join(a->dir, e->backing);
            dep = bp && strcmp(bp, path) == 0;
            free(bp);
        }
        if (!dep)
            continue;
        int w = snprintf(out + len, n - len, "%s%s", found ? ", " : "", e->display);
        if (w > 0)
            len = len + (size_t)w < n ? len + (size_t)w : n - 1;
        found++;
    }
    return found;
}

void action_snapshot(struct app *a, enum km_action act, const char *path, const char *snap_id,
                     const char *snap_name)
{
    struct img_err err = {0};
    struct img *img = img_open(path, NULL, 0, &err);
    if (!img) {
        app_status(a, true, "%s", err.msg);
        return;
    }
    bool can = img_driver_has(img_get_driver(img), IMG_OP_SNAPSHOTS);
    char fmt[16];
    snprintf(fmt, sizeof fmt, "%s", img_format(img));
    img_close(img);
    if (!can && act == KM_A_SNAP_NEW && act_diff_format(fmt)) {
        /* vmdk and vdi keep snapshots as differencing files: offer one of those. */
        action_overlay_path(a, path);
        return;
    }
    if (!can) {
        app_status(a, true, "%s images have no internal snapshots; make %s (O) instead", fmt,
                   act_diff_format(fmt) ? "a differencing image" : "an overlay");
        return;
    }
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    if (!act_can_change(a, path, base, snap_verb(act)))
        return;
    struct snap_job *x = calloc(1, sizeof *x);
    if (!x || !(x->path = strdup(path))) {
        free(x);
        return;
    }
    x->act = act;
    if (act == KM_A_SNAP_NEW) {
        dlg_begin(a, "New snapshot", snap_go);
        a->dlg.ctx = x;
        a->dlg.cancel = snap_decline;
        snprintf(a->dlg.msg[0], sizeof a->dlg.msg[0], "Record the current disk of %s.", base);
        char name[64];
        time_t now = time(NULL);
        struct tm tm;
        localtime_r(&now, &tm);
        strftime(name, sizeof name, "snap-%Y%m%d-%H%M%S", &tm);
        dlg_add_text(a, "Name", name);
        return;
    }
    snprintf(x->arg, sizeof x->arg, "%s", snap_id);
    char q[400];
    if (act == KM_A_SNAP_APPLY)
        snprintf(q, sizeof q, "Revert %.100s to snapshot %.120s? What was written since is lost.",
                 base, snap_name);
    else
        snprintf(q, sizeof q, "Delete snapshot %.120s of %.100s?", snap_name, base);
    /* Images built on this one would read changed data under their own: name them, and
     * make the revert a typed decision. */
    char deps[200];
    size_t nd = act == KM_A_SNAP_APPLY ? act_dependents(a, path, deps, sizeof deps) : 0;
    dlg_confirm(a, act == KM_A_SNAP_APPLY ? "Apply snapshot" : "Delete snapshot", q,
                nd ? "yes" : NULL, snap_go);
    if (nd) {
        snprintf(a->dlg.msg[2], sizeof a->dlg.msg[2], "%s", a->dlg.msg[1]);
        snprintf(a->dlg.msg[1], sizeof a->dlg.msg[1],
                 "Warning: %s use%s %s as backing file; %s would read changed data.", deps,
                 nd == 1 ? "s" : "", base, nd == 1 ? "it" : "they");
    }
    a->dlg.ctx = x;
    a->dlg.cancel = snap_decline;
}

/* ---- backing chains: commit and rebase ---- */

struct chain_job {
    char *path;
    char backing[1024]; /* rebase: the new name ("" flattens) */
    char fmt[32];       /* rebase: its format */
    struct ops_commit_req creq;
    struct ops_commit_res cres;
    struct ops_rebase_req rreq;
    bool rebase;
    bool pw_held; /* a password for path is kept for the job (secret_dialog.c) */
};

static void chain_free(void *p)
{
    struct chain_job *c = p;
    if (c->pw_held)
        app_secret_release(c->path);
    free(c->path);
    free(c);
}

static void chain_decline(struct app *a, struct dialog *d)
{
    (void)a;
    chain_free(d->ctx);
}

static int chain_run(struct job *j, void *arg, struct img_err *err)
{
    struct chain_job *c = arg;
    if (c->rebase) {
        c->rreq.progress = job_ops_progress(j);
        int r = ops_rebase(&c->rreq, err);
        if (r == 0)
            job_status(j, c->backing[0] ? "now backed by %s" : "flattened: no backing file",
                       c->backing);
        return r;
    }
    c->creq.progress = job_ops_progress(j);
    int r = ops_commit(&c->creq, &c->cres, err);
    if (r == 0)
        job_status(j, "committed into %s%s", c->cres.base_path,
                   c->cres.emptied ? "; overlay emptied" : "");
    return r;
}

/* The backing name of img, opened without following anything: as recorded, or for an image
 * that names its parent only by identity (a differencing vdi) the parent the format's own
 * lookup finds beside it, as the browser and the tree show it. False after a status message. */
static bool chain_backing(struct app *a, const char *path, struct img *img, const char *what,
                          char *backing, size_t n)
{
    snprintf(backing, n, "%s", img_backing_name(img) ? img_backing_name(img) : "");
    if (img_backing_name(img) || !img_backing_unresolved(img))
        return true;
    const char *name = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    if (a->opts.untrusted) {
        app_status(a, true, "%s: %s names its parent by UUID, not looked for in untrusted mode",
                   what, name);
        return false;
    }
    struct img_err err = {0};
    struct img *full = img_open(path, NULL, IMG_OPEN_BACKING, &err);
    if (!full) {
        app_status(a, true, "%s: %s", what, err.msg);
        return false;
    }
    snprintf(backing, n, "%s", img_backing_name(full) ? img_backing_name(full) : "");
    img_close(full);
    return true;
}

/* The image at path (NULL: the browser's selection) and its backing name (chain_backing);
 * refused before any form when the image cannot change (rebase: a format without backing
 * files) or another program holds it. NULL after a status message. */
static struct chain_job *chain_target(struct app *a, const char *path, const char *what,
                                      char *backing, size_t n)
{
    char *own = NULL;
    if (!path) {
        if (!act_image(a, &own))
            return NULL;
        path = own;
    }
    const char *name = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    struct img_err err = {0};
    struct img *img = img_open(path, NULL, IMG_OPEN_UNTRUSTED, &err);
    bool ok = img != NULL;
    if (!img)
        app_status(a, true, "%s", err.msg);
    if (ok && !img_driver_has(img_get_driver(img), IMG_OP_SET_BACKING) &&
        strcmp(what, "rebase") == 0) {
        app_status(a, true, "rebase: %s images cannot have a backing file (%s)", img_format(img),
                   name);
        ok = false;
    }
    ok = ok && chain_backing(a, path, img, what, backing, n);
    img_close(img); /* closed first: our own lock must not count as another program's */
    /* Commit writes the backing file, rebase the image: both need it free (commit's base is
     * checked by the job, which names it). */
    ok = ok && act_can_change(a, path, name, what);
    struct chain_job *c = ok ? calloc(1, sizeof *c) : NULL;
    if (c && !(c->path = strdup(path))) {
        free(c);
        c = NULL;
    }
    free(own);
    return c;
}

/* The job cannot ask for a password on its thread: ask (and check it) now. False after a
 * status message, c freed. */
static bool chain_hold(struct app *a, struct chain_job *c, const char *what)
{
    int held = app_secret_hold(a, c->path, what);
    if (held < 0) {
        chain_free(c);
        return false;
    }
    c->pw_held = held > 0;
    return true;
}

static void commit_go(struct app *a, struct dialog *d)
{
    struct chain_job *c = d->ctx;
    c->creq.path = c->path;
    c->creq.keep = d->f[0].choice == 1;
    c->creq.open_flags = a->opts.untrusted ? IMG_OPEN_UNTRUSTED : 0;
    if (!chain_hold(a, c, "commit"))
        return;
    char title[200];
    snprintf(title, sizeof title, "commit %.150s", strrchr(c->path, '/') + 1);
    jobs_start(a, title, c->path, chain_run, c, chain_free, NULL);
}

void action_commit(struct app *a, const char *path)
{
    char backing[1024];
    struct chain_job *c = chain_target(a, path, "commit", backing, sizeof backing);
    if (!c)
        return;
    const char *name = strrchr(c->path, '/') + 1;
    if (!backing[0]) {
        app_status(a, true, "%s has no backing file: nothing to commit into", name);
        chain_free(c);
        return;
    }
    static const char *const after[] = {"empty the overlay", "keep its data (-d)"};
    dlg_begin(a, "Commit", commit_go);
    a->dlg.ctx = c;
    a->dlg.cancel = chain_decline;
    snprintf(a->dlg.msg[0], sizeof a->dlg.msg[0], "Write the data of %.100s into %.120s.", name,
             backing);
    snprintf(a->dlg.msg[1], sizeof a->dlg.msg[1],
             "The backing file changes for every image built on it.");
    dlg_add_choice(a, "Afterwards", after, 2, 0);
}

static const char *rebase_fmts[DLG_MAX_CHOICES];
static int rebase_nfmts;

static void rebase_go(struct app *a, struct dialog *d)
{
    struct chain_job *c = d->ctx;
    snprintf(c->backing, sizeof c->backing, "%s", d->f[0].text);
    c->rebase = true;
    c->rreq.path = c->path;
    c->rreq.unsafe = d->f[2].choice == 1;
    c->rreq.open_flags = a->opts.untrusted ? IMG_OPEN_UNTRUSTED : 0;
    c->rreq.backing = c->backing;
    if (c->backing[0] && d->f[1].choice == 0) {
        /* auto: the new file's format, probed without following anything it names. */
        char *dir = io_dirname(c->path), *full = dir ? io_path_join(dir, c->backing) : NULL;
        struct img_err err = {0};
        struct img *nb = full ? img_open(full, NULL, IMG_OPEN_UNTRUSTED, &err) : NULL;
        free(dir);
        free(full);
        if (!nb) {
            /* The form again with the name kept: a typo is corrected, not retyped. */
            dlg_reopen(a, d, 0, "rebase: %s", err.msg[0] ? err.msg : "out of memory");
            return;
        }
        snprintf(c->fmt, sizeof c->fmt, "%s", img_format(nb));
        img_close(nb);
    } else if (c->backing[0]) {
        snprintf(c->fmt, sizeof c->fmt, "%s", rebase_fmts[d->f[1].choice]);
    }
    c->rreq.backing_fmt = c->backing[0] ? c->fmt : NULL;
    if (!chain_hold(a, c, "rebase"))
        return;
    char title[200];
    snprintf(title, sizeof title, "rebase %.90s onto %.90s", strrchr(c->path, '/') + 1,
             c->backing[0] ? c->backing : "nothing (flatten)");
    jobs_start(a, title, c->path, chain_run, c, chain_free, NULL);
}

void action_rebase(struct app *a, const char *path)
{
    char backing[1024];
    struct chain_job *c = chain_target(a, path, "rebase", backing, sizeof backing);
    if (!c)
        return;
    size_t n;
    const struct img_driver *const *list = img_driver_list(&n);
    rebase_nfmts = 0;
    rebase_fmts[rebase_nfmts++] = "auto";
    for (size_t i = 0; i < n && rebase_nfmts < DLG_MAX_CHOICES; i++)
        if (img_driver_has(list[i], IMG_OP_PROBE))
            rebase_fmts[rebase_nfmts++] = img_driver_name(list[i]);
    static const char *const modes[] = {"safe: copy what differs", "unsafe: name only (-u)"};
    dlg_begin(a, "Rebase", rebase_go);
    a->dlg.ctx = c;
    a->dlg.cancel = chain_decline;
    snprintf(a->dlg.msg[0], sizeof a->dlg.msg[0],
             "New backing file of %.100s (relative to its "
             "directory).",
             strrchr(c->path, '/') + 1);
    snprintf(a->dlg.msg[1], sizeof a->dlg.msg[1],
             "Empty: flatten (copy everything in, no "
             "backing file).");
    dlg_add_text(a, "New backing", backing);
    dlg_add_choice(a, "Format", rebase_fmts, rebase_nfmts, 0);
    dlg_add_choice(a, "Mode", modes, 2, 0);
}

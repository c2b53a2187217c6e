/* SPDX-License-Identifier: GPL-2.0-or-later */
/* action_get.c: c on the inside screen: copy a file, link or directory tree out of an image's
 * filesystem into the host directory beside the image, as a job with progress (bytes of the
 * regular files below the path). The job opens the image, the volume and the filesystem
 * itself (the screen's handles stay on the main thread); fs_get writes each file as NAME.part
 * and renames it, refuses a name that exists, and never writes outside the directory.
 * Talks to: app.h (jobs), core/fs/fs.h (fs_handle_open, fs_walk, fs_get).
 */
#include "tui/app.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/esc.h"
#include "core/block/img.h"
#include "core/fs/fs.h"

struct get_job {
    char *image, *vol, *path, *dest;
    bool untrusted;
    struct job *job;
    uint64_t total;
};

static void get_free(void *arg)
{
    struct get_job *g = arg;
    free(g->image);
    free(g->vol);
    free(g->path);
    free(g->dest);
    free(g);
}

static int get_sum(void *ctx, const char *path, const struct fs_dirent *e)
{
    (void)path;
    struct get_job *g = ctx;
    if (e->st.type == FS_T_REG)
        g->total += e->st.size;
    return job_should_stop(g->job) ? -ECANCELED : 0;
}

static int get_tick(void *ctx, uint64_t done)
{
    struct get_job *g = ctx;
    job_progress(g->job, done, g->total > done ? g->total : done);
    return job_should_stop(g->job);
}

static int get_run(struct job *j, void *arg, struct img_err *err)
{
    struct get_job *g = arg;
    g->job = j;
    struct fs_addr ad = {.image = g->image, .vol = g->vol, .path = g->path};
    struct fs_handle h;
    int r = fs_handle_open(&ad, NULL, g->untrusted ? IMG_OPEN_UNTRUSTED : 0, &h, err);
    if (r < 0)
        return r;
    struct fs_stat st;
    r = fs_lookup(h.fs, g->path, false, &st);
    if (r < 0) {
        *err = h.fs->err;
    } else {
        g->total = st.type == FS_T_REG ? st.size : 0;
        if (st.type == FS_T_DIR && (r = fs_walk(h.fs, st.ino, get_sum, g)) < 0)
            *err = h.fs->err;
    }
    if (r == 0) {
        job_status(j, "copying");
        struct fs_get_opts o = {.tick = get_tick, .ctx = g};
        r = fs_get(h.fs, g->path, g->dest, &o, err);
    }
    if (r == 0)
        job_status(j, "copied");
    if (r == -ECANCELED && !err->msg[0])
        err_set(err, r, "copy cancelled");
    fs_handle_close(&h);
    return r;
}

void inside_get(struct app *a, const char *image, const char *vol, const char *path)
{
    struct get_job *g = calloc(1, sizeof *g);
    if (!g || !(g->image = strdup(image)) || !(g->vol = strdup(vol)) || !(g->path = strdup(path)) ||
        !(g->dest = browser_write_dir(a))) {
        app_status(a, true, "out of memory");
        if (g)
            get_free(g);
        return;
    }
    g->untrusted = a->opts.untrusted;
    const char *name = strrchr(path, '/');
    name = name && name[1] ? name + 1 : path;
    char en[200], title[260];
    snprintf(title, sizeof title, "copy %s out of %s", esc_str(en, sizeof en, name),
             strrchr(image, '/') ? strrchr(image, '/') + 1 : image);
    /* The job reads the image and makes DEST/NAME (the root's contents: into DEST). */
    char *target = malloc(strlen(g->dest) + strlen(name) + 2);
    if (target)
        sprintf(target, "%s/%s", g->dest, strcmp(path, "/") == 0 ? "" : name);
    jobs_start_from(a, title, image, target ? target : g->dest, get_run, g, get_free, NULL);
    free(target);
}

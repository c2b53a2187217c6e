/* SPDX-License-Identifier: GPL-2.0-or-later */
/* action_import.c: I in the browser: unpack the selected archive (an OVA), or the archive being
 * browsed, into a directory beside it with the manifest's digests checked, optionally
 * converting the disks, or without a manifest when the user says it is not needed: a small
 * form, then arc_import() as a job.
 * Talks to: app.h (dialogs, jobs, the browser's selection), core/archive/archive.h, img.h.
 */
#include "tui/app.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/archive/archive.h"
#include "core/block/img.h"
#include "core/base/io.h"
#include "core/ops/ops.h"

struct import_job {
    char *archive, *dir, *fmt;
    struct arc_import_req req;
    struct arc_import_res res;
};

static const char *const import_fmts[] = {"keep", "qcow2", "raw", "vdi", "vmdk"};
/* The command line's --no-manifest: without it an archive lacking a manifest, or with
 * members the manifest does not cover, is refused. */
static const char *const import_manifest[] = {"required", "not needed"};

static void import_free(void *p)
{
    struct import_job *j = p;
    free(j->archive);
    free(j->dir);
    free(j->fmt);
    free(j);
}

static int import_run(struct job *j, void *arg, struct img_err *err)
{
    struct import_job *im = arg;
    im->req.progress = job_ops_progress(j);
    job_status(j, "unpacking");
    int r = arc_import(&im->req, &im->res, err);
    char out[64] = "";
    if (r == 0 && im->res.left_out)
        snprintf(out, sizeof out, ", %zu left out (not in the manifest)", im->res.left_out);
    if (r == 0)
        job_status(j, "%zu file%s%s%s", im->res.nwritten, im->res.nwritten == 1 ? "" : "s",
                   im->res.manifest ? ", digests match" : ", no manifest", out);
    return r;
}

static void import_start(struct app *a, struct dialog *d)
{
    const char *name = d->f[0].text;
    const char *fmt = import_fmts[d->f[1].choice];
    if (!name[0] || strchr(name, '/') || !strcmp(name, "..")) {
        dlg_reopen(a, d, 0, "import: give a directory name beside the archive");
        return;
    }
    struct import_job *im = calloc(1, sizeof *im);
    char *wdir = browser_write_dir(a);
    if (!im || !wdir || !(im->archive = strdup(d->ctx_path)) ||
        !(im->dir = io_path_join(wdir, name)) || !(im->fmt = strdup(fmt))) {
        free(wdir);
        if (im)
            import_free(im);
        app_status(a, true, "out of memory");
        return;
    }
    free(wdir);
    /* arc_import creates the directory (and removes it again when the import fails). */
    im->req.archive = im->archive;
    im->req.dir = im->dir;
    im->req.convert_fmt = strcmp(fmt, "keep") ? im->fmt : NULL;
    im->req.no_manifest = d->f[2].choice == 1;
    char title[160];
    snprintf(title, sizeof title, "import %.70s -> %.70s/", strrchr(im->archive, '/') + 1, name);
    jobs_start_from(a, title, im->archive, im->dir, import_run, im, import_free, NULL);
}

void action_import(struct app *a)
{
    char *path = NULL;
    const struct scan_entry *e = browser_selected(a, NULL);
    if (a->scan && scan_is_archive(a->scan))
        path = strdup(a->dir); /* inside an archive: that archive */
    else if (e && !e->is_dir && (e->flags & SCAN_F_ARCHIVE))
        path = browser_entry_path(a, e);
    if (!path) {
        app_status(a, true, "import: select an archive (.ova, .tar, .zip) first");
        return;
    }
    /* The proposed directory: the archive's name without its suffixes. */
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    char stem[256];
    snprintf(stem, sizeof stem, "%s", base);
    char *dot = strchr(stem + 1, '.');
    if (dot)
        *dot = 0;
    dlg_begin(a, "Import", import_start);
    snprintf(a->dlg.ctx_path, sizeof a->dlg.ctx_path, "%s", path);
    snprintf(a->dlg.msg[0], sizeof a->dlg.msg[0], "Unpack the files of %.200s,", base);
    snprintf(a->dlg.msg[1], sizeof a->dlg.msg[1],
             "checking them against its manifest, into a directory beside it.");
    dlg_add_text(a, "Directory", stem);
    dlg_add_choice(a, "Disks", import_fmts, 5, 0);
    dlg_add_choice(a, "Manifest", import_manifest, 2, 0);
    free(path);
}

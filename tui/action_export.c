/* SPDX-License-Identifier: GPL-2.0-or-later */
/* action_export.c: the interactive face of `dimg export --ova`: E on an image opens a form
 * (OVA file, machine name, CPUs, memory, controller, more disks from this directory), every
 * decision is checked there, then export_ova runs as a job like the other actions.
 * Talks to: app.h (dialog, jobs, status, the selection through act_image), core/archive/export.h.
 */
#include "tui/app.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/archive/export.h"
#include "core/base/io.h"

struct export_job {
    char *out, *name;
    char **images;
    size_t n;
    struct export_ova_req req;
};

static void export_job_free(void *p)
{
    struct export_job *x = p;
    free(x->out);
    free(x->name);
    for (size_t i = 0; i < x->n; i++)
        free(x->images[i]);
    free(x->images);
    free(x);
}

static int export_job_run(struct job *j, void *arg, struct img_err *err)
{
    struct export_job *x = arg;
    x->req.progress = job_ops_progress(j);
    job_status(j, "converting and packing %zu disk(s)", x->n);
    int r = export_ova(&x->req, err);
    if (r == 0)
        job_status(j, "wrote %s", strrchr(x->out, '/') + 1);
    return r;
}

static const char *const export_ctls[] = {"scsi", "ide"};

/* Add dir/name to x's images; false when out of memory. */
static bool export_add_image(struct export_job *x, const char *dir, const char *name)
{
    char **v = realloc(x->images, (x->n + 1) * sizeof *v);
    if (!v)
        return false;
    x->images = v;
    if (!(x->images[x->n] = io_path_join(dir, name)))
        return false;
    x->n++;
    return true;
}

static void export_start(struct app *a, struct dialog *d)
{
    const char *outname = d->f[0].text;
    uint64_t cpus, mem;
    if (!outname[0] || strchr(outname, '/')) {
        dlg_reopen(a, d, 0, "export: give a file name in this directory");
        return;
    }
    if (!d->f[1].text[0]) {
        dlg_reopen(a, d, 1, "export: give the machine a name");
        return;
    }
    if (!export_parse_count(d->f[2].text, EXPORT_OVA_MAX_CPUS, &cpus) ||
        !export_parse_count(d->f[3].text, EXPORT_OVA_MAX_MEMORY_MIB, &mem)) {
        dlg_reopen(a, d, 2, "export: CPUs and memory (MiB) are whole numbers, at least 1");
        return;
    }
    struct export_job *x = calloc(1, sizeof *x);
    if (!x)
        return;
    bool ok = (x->out = io_path_join(a->dir, outname)) && (x->name = strdup(d->f[1].text)) &&
              (x->images = malloc(sizeof *x->images)) && (x->images[0] = strdup(d->ctx_path));
    if (ok)
        x->n = 1;
    /* More disks: names in this directory, separated by spaces. */
    char more[sizeof d->f[5].text];
    snprintf(more, sizeof more, "%s", d->f[5].text);
    for (char *save = NULL, *t = strtok_r(more, " ", &save); ok && t;
         t = strtok_r(NULL, " ", &save)) {
        char *p = strchr(t, '/') ? NULL : io_path_join(a->dir, t);
        bool there = p && access(p, F_OK) == 0;
        free(p);
        if (!there) {
            export_job_free(x);
            dlg_reopen(a, d, 5, "export: %s is not a file in this directory", t);
            return;
        }
        ok = export_add_image(x, a->dir, t);
    }
    if (!ok) {
        app_status(a, true, "export: out of memory");
        export_job_free(x);
        return;
    }
    if (access(x->out, F_OK) == 0) {
        export_job_free(x);
        dlg_reopen(a, d, 0, "export: %s exists; choose another name", outname);
        return;
    }
    x->req = (struct export_ova_req){
        .out = x->out,
        .name = x->name,
        .cpus = (unsigned)cpus,
        .memory_mib = mem,
        .controller = d->f[4].choice == 1 ? EXPORT_CTL_IDE : EXPORT_CTL_SCSI,
        .images = (const char *const *)x->images,
        .nimages = x->n,
        .open_flags = a->opts.untrusted ? IMG_OPEN_UNTRUSTED : 0,
    };
    char title[160];
    snprintf(title, sizeof title, "export %.60s (%zu disk%s)", outname, x->n, x->n > 1 ? "s" : "");
    jobs_start(a, title, x->out, export_job_run, x, export_job_free, NULL);
}

void action_export(struct app *a)
{
    char *path = NULL;
    const struct scan_entry *e = act_image(a, &path);
    if (!e)
        return;
    char stem[96], out[128];
    export_member_name(e->name, true, "", stem, sizeof stem);
    snprintf(out, sizeof out, "%s.ova", stem);
    for (int k = 1; k < 1000; k++) {
        char *p = io_path_join(a->dir, out);
        bool taken = !p || access(p, F_OK) == 0;
        free(p);
        if (!taken)
            break;
        snprintf(out, sizeof out, "%s-%d.ova", stem, k);
    }
    dlg_begin(a, "Export OVA", export_start);
    snprintf(a->dlg.ctx_path, sizeof a->dlg.ctx_path, "%s", path);
    snprintf(a->dlg.msg[0], sizeof a->dlg.msg[0],
             "Pack %s (%s) as a streamOptimized vmdk into an OVA appliance.", e->display,
             e->format);
    snprintf(a->dlg.msg[1], sizeof a->dlg.msg[1],
             "More disks: names of images in this directory, separated by spaces.");
    dlg_add_text(a, "OVA file", out);
    dlg_add_text(a, "Name", stem);
    dlg_add_text(a, "CPUs", "1");
    dlg_add_text(a, "Memory MiB", "1024");
    dlg_add_choice(a, "Controller", export_ctls, 2, 0);
    dlg_add_text(a, "More disks", "");
    free(path);
}

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* describe_archive.c: what info shows for archives and their members (ARCHIVE or
 * ARCHIVE/MEMBER): the member list with each member's probed format and sizes, refused members
 * marked with the reason, and an OVA's descriptor (disks, virtual hardware); human or JSON.
 * `dimg info` prints it; the interactive browser shows it (quick listing) in its info pane.
 * Talks to: core/archive/archive.h (the lister), core/archive/ovf.h, img.h (probing),
 * core/scan/scan.h (escaping names), json.h, describe.h.
 */
#include "core/describe/describe.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/archive/archive.h"
#include "core/block/driver.h"
#include "core/base/io.h"
#include "core/archive/ovf.h"
#include "core/scan/scan.h"
#include "core/describe/json.h"
#include "core/base/esc.h"

static const char *describe_member_type(enum arc_type t)
{
    switch (t) {
    case ARC_T_FILE: return "file";
    case ARC_T_DIR: return "dir";
    case ARC_T_SYMLINK: return "symlink";
    case ARC_T_HARDLINK: return "hardlink";
    default: return "other";
    }
}

/* The last component of a format URI ("…#streamOptimized"), or the whole string. */
static const char *describe_ovf_format_short(const char *uri)
{
    const char *h = strrchr(uri, '#');
    return h ? h + 1 : uri;
}

static void describe_ovf_human(FILE *f, const struct ovf *o)
{
    char a[32], b[32];
    fprintf(f, "virtual system: %s\n", o->name[0] ? o->name : "(unnamed)");
    if (o->os[0])
        fprintf(f, "operating system: %s\n", o->os);
    if (o->cpus)
        fprintf(f, "CPUs: %u\n", o->cpus);
    if (o->memory)
        fprintf(f, "memory: %s\n", describe_size_str(o->memory, a, sizeof a));
    if (o->nctrl) {
        fprintf(f, "controllers:");
        for (size_t i = 0; i < o->nctrl; i++)
            fprintf(f, "%s %s", i ? "," : "", o->ctrl[i].type);
        fputc('\n', f);
    }
    if (o->nnet)
        fprintf(f, "network adapters: %zu\n", o->nnet);
    fprintf(f, "disks: %zu\n", o->ndisks);
    for (size_t i = 0; i < o->ndisks; i++) {
        const struct ovf_disk *d = &o->disks[i];
        fprintf(f, "    %s: %s, capacity %s", d->id[0] ? d->id : "?",
                d->href[0] ? d->href : "(no file)", describe_size_str(d->capacity, a, sizeof a));
        if (d->populated_size)
            fprintf(f, ", populated %s", describe_size_str(d->populated_size, b, sizeof b));
        if (d->format[0])
            fprintf(f, ", %s", describe_ovf_format_short(d->format));
        fputc('\n', f);
    }
}

static void describe_ovf_json(struct json *j, const struct ovf *o)
{
    json_object_open(j, "ovf");
    json_string(j, "name", o->name);
    if (o->os[0])
        json_string(j, "operating-system", o->os);
    json_uint(j, "cpus", o->cpus);
    json_uint(j, "memory", o->memory);
    json_array_open(j, "controllers");
    for (size_t i = 0; i < o->nctrl; i++) {
        json_object_open(j, NULL);
        json_string(j, "type", o->ctrl[i].type);
        json_uint(j, "instance", o->ctrl[i].instance);
        json_object_close(j);
    }
    json_array_close(j);
    json_uint(j, "network-adapters", o->nnet);
    json_array_open(j, "disks");
    for (size_t i = 0; i < o->ndisks; i++) {
        const struct ovf_disk *d = &o->disks[i];
        json_object_open(j, NULL);
        json_string(j, "id", d->id);
        json_string(j, "file", d->href);
        json_uint(j, "capacity", d->capacity);
        json_uint(j, "populated-size", d->populated_size);
        json_string(j, "format", d->format);
        json_object_close(j);
    }
    json_array_close(j);
    json_object_close(j);
}

static void describe_member_json(struct json *j, const struct arc_member *m)
{
    json_object_open(j, NULL);
    json_string(j, "name", m->display);
    json_string(j, "type", describe_member_type(m->type));
    if (m->size_known)
        json_uint(j, "size", m->size);
    if (m->format) {
        json_string(j, "format", m->format);
        json_bool(j, "format-guessed", m->raw_guess);
    }
    if (m->virtual_size)
        json_uint(j, "virtual-size", m->virtual_size);
    if (m->link)
        json_string(j, "link", m->link);
    if (m->unsafe)
        json_string(j, "refused", m->why);
    json_object_close(j);
}

/* narrow (the browser's pane): the NAME on a row of its own, so that it is never cut. */
static void describe_member_human_line(FILE *f, const struct arc_member *m, bool narrow)
{
    char sz[32] = "-", vs[32] = "-";
    if (m->size_known)
        describe_size_str(m->size, sz, sizeof sz);
    if (m->virtual_size)
        describe_size_str(m->virtual_size, vs, sizeof vs);
    if (narrow)
        fprintf(f, "  %s", m->display);
    else
        fprintf(f, "    %-8s %-7s %12s %12s  %s", describe_member_type(m->type),
                m->format ? m->format : "-", sz, vs, m->display);
    if (m->link)
        fprintf(f, " -> %s", m->link);
    if (m->unsafe)
        fprintf(f, "  (refused: %s)", m->why);
    if (narrow)
        fprintf(f, "\n    %-8s %-7s %10s %10s", describe_member_type(m->type),
                m->format ? m->format : "-", sz, vs);
    fputc('\n', f);
}

static void describe_archive_human(FILE *f, const struct arc_list *l, bool narrow)
{
    char *p = esc_dup(l->path, strlen(l->path));
    fprintf(f, "archive: %s\n", p ? p : "?");
    free(p);
    fprintf(f, "archive type: %s\n", l->desc);
    fprintf(f, "members: %zu%s\n", l->n, l->partial ? " so far" : "");
    if (narrow)
        fprintf(f, "  NAME\n    %-8s %-7s %10s %10s\n", "TYPE", "FORMAT", "SIZE", "VIRTUAL");
    else
        fprintf(f, "    %-8s %-7s %12s %12s  %s\n", "TYPE", "FORMAT", "SIZE", "VIRTUAL", "NAME");
    for (size_t i = 0; i < l->n; i++)
        describe_member_human_line(f, &l->v[i], narrow);
    if (l->partial)
        fprintf(f, "    ... (listing stopped after %u MiB of the archive; Enter reads it all)\n",
                ARC_QUICK_BYTES >> 20);
    if (l->ovf) {
        fprintf(f, "OVF descriptor:\n");
        describe_ovf_human(f, l->ovf);
    } else if (l->ovf_err[0]) {
        fprintf(f, "OVF descriptor: unreadable: %s\n", l->ovf_err);
    }
}

static void describe_archive_json(FILE *f, const struct arc_list *l)
{
    struct json j;
    json_init(&j, f);
    json_object_open(&j, NULL);
    json_string(&j, "archive", l->path);
    json_string(&j, "archive-type", l->desc);
    json_array_open(&j, "members");
    for (size_t i = 0; i < l->n; i++)
        describe_member_json(&j, &l->v[i]);
    json_array_close(&j);
    if (l->ovf)
        describe_ovf_json(&j, l->ovf);
    else if (l->ovf_err[0])
        json_string(&j, "ovf-error", l->ovf_err);
    json_object_close(&j);
}

/* Is path an existing file to show as an archive: an archive name or magic, and no image
 * format other than raw claims it? */
static bool describe_is_archive_file(const char *path, const char *fmt)
{
    if (fmt)
        return false;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return false;
    struct stat st;
    uint8_t head[IMG_PROBE_BYTES];
    ssize_t n = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) ? pread(fd, head, sizeof head, 0) : -1;
    close(fd);
    if (n < 0)
        return false;
    const struct img_driver *d = img_probe_buf(head, (size_t)n, NULL);
    if (d && !(d->caps & IMG_CAP_RAW))
        return false;
    return arc_detect(path, head, (size_t)n);
}

void describe_member_facts(FILE *f, const char *format, bool raw_guess, bool size_known,
                           uint64_t size, uint64_t virtual_size)
{
    char sz[32];
    if (format)
        fprintf(f, "file format: %s%s\n", format, raw_guess ? " (no other format claims it)" : "");
    if (size_known)
        fprintf(f, "member size: %s (%llu bytes)\n", describe_size_str(size, sz, sizeof sz),
                (unsigned long long)size);
    if (virtual_size)
        fprintf(f, "virtual size: %s (%llu bytes)\n",
                describe_size_str(virtual_size, sz, sizeof sz), (unsigned long long)virtual_size);
}

/* One member of the archive named archive (human). */
static void describe_member_human(FILE *f, const char *archive, const struct arc_list *l,
                                  const struct arc_member *m)
{
    char sz[32], vs[32];
    fprintf(f, "archive: %s (%s)\n", archive, l->desc);
    fprintf(f, "member: %s\n", m->display);
    fprintf(f, "type: %s\n", describe_member_type(m->type));
    if (m->link)
        fprintf(f, "link target: %s\n", m->link);
    if (m->unsafe)
        fprintf(f, "refused: %s\n", m->why);
    describe_member_facts(f, m->format, m->raw_guess, m->size_known, m->size, m->virtual_size);
    /* An OVA's disk: what the descriptor says about it. */
    for (size_t i = 0; l->ovf && i < l->ovf->ndisks; i++) {
        const struct ovf_disk *d = &l->ovf->disks[i];
        if (strcmp(d->href, m->name) != 0)
            continue;
        fprintf(f, "OVF disk: %s, capacity %s", d->id,
                describe_size_str(d->capacity, vs, sizeof vs));
        if (d->populated_size)
            fprintf(f, ", populated %s", describe_size_str(d->populated_size, sz, sizeof sz));
        fputc('\n', f);
    }
}

int describe_archive_write(FILE *f, const char *path, const char *fmt, bool json, bool quick,
                           char *errbuf, size_t errlen)
{
    char *archive = NULL, *member = NULL;
    int k = arc_split(path, &archive, &member);
    if (k < 0) {
        snprintf(errbuf, errlen, "out of memory");
        return 1;
    }
    if (k == 0 && !describe_is_archive_file(path, fmt))
        return -1;
    struct arc_list l;
    struct img_err err = {0};
    int status = 0;
    if (arc_list_read_flags(archive ? archive : path,
                            quick ? ARC_LIST_NO_COUNT | ARC_LIST_QUICK : 0, &l, &err) < 0) {
        snprintf(errbuf, errlen, "%s", err.msg);
        free(archive);
        free(member);
        return 1;
    }
    if (!member) {
        if (json)
            describe_archive_json(f, &l);
        else
            describe_archive_human(f, &l, quick);
    } else {
        const struct arc_member *m = arc_list_find(&l, member);
        if (!m && l.partial) {
            status = 2; /* past the quick listing's budget: the caller knows the member */
        } else if (!m) {
            char *d = esc_dup(member, strlen(member));
            snprintf(errbuf, errlen, "%s: no member named %s", archive, d ? d : "?");
            free(d);
            status = 1;
        } else if (json) {
            struct json j;
            json_init(&j, f);
            json_object_open(&j, NULL);
            json_string(&j, "archive", archive);
            json_string(&j, "archive-type", l.desc);
            json_array_open(&j, "members");
            describe_member_json(&j, m);
            json_array_close(&j);
            json_object_close(&j);
        } else {
            describe_member_human(f, archive, &l, m);
        }
    }
    arc_list_free(&l);
    free(archive);
    free(member);
    return status;
}

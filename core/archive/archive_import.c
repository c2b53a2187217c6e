/* SPDX-License-Identifier: GPL-2.0-or-later */
/* archive_import.c: arc_import(), unpacking an OVA (or any flat tar/zip of images) into a
 * directory with its manifest verified, optionally converting each disk.
 *
 * One pass over the archive: every member must be a plain file name (no directory part, no
 * "..", not absolute, not a link) and appear once; each is written to DIR/NAME.part while its
 * SHA-1 and SHA-256 are computed. At the end the .mf manifest (lines "SHA256(name)= hex" or
 * "SHA1 (name) = hex", as VMware and VirtualBox write them) must cover every member with a
 * matching digest (unless asked: no_manifest imports an archive without one, and leaves out
 * what a manifest does not cover); only then are the .part files renamed into place (or
 * converted). Any
 * failure removes every .part file: nothing is left half-imported, nothing is written
 * outside DIR.
 * Talks to: archive.c (the walk), ovf.h, ops.h (convert), io.h, OpenSSL EVP. Never prints.
 */
#include "core/archive/archive.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/block/driver.h"
#include "core/base/io.h"
#include "core/ops/ops.h"
#include "core/archive/ovf.h"

#define IMPORT_MF_MAX (1u << 20) /* a bigger manifest is refused */
#define IMPORT_FILES_MAX 1024u   /* an OVA holds a handful of files; more is refused */

struct imp_file {
    char *name, *display;
    struct io_tmpfile t;
    bool open; /* t holds a .part file */
    uint8_t sha1[20], sha256[32];
    bool checked;
    bool left_out; /* not covered by the manifest: never put in place (no_manifest) */
};

struct imp {
    const struct arc_import_req *req;
    struct img_err *err;
    struct imp_file *v;
    size_t n, cap;
    char *mf; /* manifest text */
    size_t mflen;
    char *ovf; /* descriptor text */
    size_t ovflen;
    struct arc_reader *rd;
};

/* Progress in bytes of the archive file consumed; non-zero asks to stop. */
static int imp_tick(void *ctx, uint64_t member_done)
{
    struct imp *im = ctx;
    return ops_progress_step(im->req->progress, arc_walk_bytes(im->rd)) ? 1 : 0;
}

static void imp_cleanup(struct imp *im)
{
    for (size_t i = 0; i < im->n; i++) {
        if (im->v[i].open)
            io_tmp_abort(&im->v[i].t);
        free(im->v[i].name);
        free(im->v[i].display);
    }
    free(im->v);
    free(im->mf);
    free(im->ovf);
}

static int imp_hexval(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* Keep a small member's text (descriptor, manifest) while it is extracted. */
static int imp_keep_text(struct imp *im, const struct arc_member *m, char **out, size_t *len,
                         int fd)
{
    if (m->size > IMPORT_MF_MAX)
        return err_set(im->err, -EFBIG, "%s: %s of %llu bytes exceeds the limit of %u",
                       im->req->archive, m->display, (unsigned long long)m->size, IMPORT_MF_MAX);
    struct stat st;
    if (fstat(fd, &st) < 0 || (uint64_t)st.st_size > IMPORT_MF_MAX)
        return err_set(im->err, -EFBIG, "%s: %s is too large", im->req->archive, m->display);
    char *b = malloc((size_t)st.st_size + 1);
    if (!b)
        return err_set(im->err, -ENOMEM, "out of memory");
    if (st.st_size && io_pread_exact(fd, b, (size_t)st.st_size, 0) < 0) {
        free(b);
        return err_set(im->err, -EIO, "%s: reading back %s failed", im->req->archive, m->display);
    }
    b[st.st_size] = 0;
    free(*out);
    *out = b;
    *len = (size_t)st.st_size;
    return 0;
}

static struct imp_file *imp_find(struct imp *im, const char *name)
{
    for (size_t i = 0; i < im->n; i++)
        if (strcmp(im->v[i].name, name) == 0)
            return &im->v[i];
    return NULL;
}

static bool imp_has_suffix(const char *name, const char *suf)
{
    size_t n = strlen(name), s = strlen(suf);
    return n > s && strcasecmp(name + n - s, suf) == 0;
}

/* One member: checks, DIR/NAME.part, digests. */
static int imp_member(struct imp *im, struct arc_reader *rd)
{
    const struct arc_member *m = arc_reader_member(rd);
    const char *arc = im->req->archive;
    if (m->type == ARC_T_DIR && !m->unsafe)
        return 0; /* "./" and the like: nothing to create */
    if (m->unsafe)
        return err_set(im->err, -EPERM, "%s: member %s refused: %s%s%s", arc, m->display, m->why,
                       m->link ? " to " : "", m->link ? m->link : "");
    if (strchr(m->name, '/'))
        return err_set(im->err, -EPERM,
                       "%s: member %s refused: not a plain file name (import "
                       "unpacks flat archives such as OVAs)",
                       arc, m->display);
    if (m->name[0] == '.')
        return err_set(im->err, -EPERM, "%s: member %s refused: hidden name", arc, m->display);
    for (const char *p = m->name; *p; p++)
        if ((unsigned char)*p < 32 || *p == 127)
            return err_set(im->err, -EPERM,
                           "%s: member %s refused: control characters in the "
                           "name",
                           arc, m->display);
    if (im->n >= IMPORT_FILES_MAX)
        return err_set(im->err, -E2BIG, "%s: more than %u files", arc, IMPORT_FILES_MAX);
    if (imp_find(im, m->name))
        return err_set(im->err, -EEXIST, "%s: member %s appears twice", arc, m->display);
    if (im->n == im->cap) {
        size_t nc = im->cap ? im->cap * 2 : 8;
        struct imp_file *v = realloc(im->v, nc * sizeof *v);
        if (!v)
            return err_set(im->err, -ENOMEM, "out of memory");
        im->v = v;
        im->cap = nc;
    }
    struct imp_file *f = &im->v[im->n];
    memset(f, 0, sizeof *f);
    if (!(f->name = strdup(m->name)) || !(f->display = strdup(m->display))) {
        free(f->name);
        return err_set(im->err, -ENOMEM, "out of memory");
    }
    im->n++;
    char *final = io_path_join(im->req->dir, m->name);
    if (!final)
        return err_set(im->err, -ENOMEM, "out of memory");
    struct stat st;
    int r = 0;
    if (lstat(final, &st) == 0)
        r = err_set(im->err, -EEXIST, "%s already exists; not overwritten", final);
    else if ((r = io_tmp_create(&f->t, final)) < 0)
        r = err_set(im->err, r, "%s.part: %s", final, strerror(-r));
    free(final);
    if (r < 0)
        return r;
    f->open = true;

    EVP_MD_CTX *c1 = EVP_MD_CTX_new(), *c2 = EVP_MD_CTX_new();
    if (!c1 || !c2 || EVP_DigestInit_ex(c1, EVP_sha1(), NULL) != 1 ||
        EVP_DigestInit_ex(c2, EVP_sha256(), NULL) != 1) {
        r = err_set(im->err, -ENOMEM, "digest setup failed");
    } else {
        void *md[2] = {c1, c2};
        r = arc_reader_copy_fd(rd, f->t.fd, NULL, md, 2, imp_tick, im, im->err);
        unsigned l1 = 0, l2 = 0;
        if (r == 0 && (EVP_DigestFinal_ex(c1, f->sha1, &l1) != 1 ||
                       EVP_DigestFinal_ex(c2, f->sha256, &l2) != 1 || l1 != 20 || l2 != 32))
            r = err_set(im->err, -EIO, "digest failed");
    }
    EVP_MD_CTX_free(c1);
    EVP_MD_CTX_free(c2);
    if (r < 0) {
        /* The reader's message names the archive already; keep it. */
        return r;
    }
    if (imp_has_suffix(m->name, ".mf")) {
        if (im->mf)
            return err_set(im->err, -EEXIST, "%s: more than one manifest", arc);
        r = imp_keep_text(im, m, &im->mf, &im->mflen, f->t.fd);
    } else if (imp_has_suffix(m->name, ".ovf") && !im->ovf) {
        r = imp_keep_text(im, m, &im->ovf, &im->ovflen, f->t.fd);
    }
    /* Flushed and closed now (renamed by name later): one descriptor at a time. */
    if (r == 0 && fsync(f->t.fd) < 0)
        r = err_set(im->err, -errno, "%s: %s", f->t.tmp_path, strerror(errno));
    if (f->t.fd >= 0) {
        close(f->t.fd);
        f->t.fd = -1;
    }
    return r;
}

/* Check one manifest line against the digests. */
static int imp_mf_line(struct imp *im, char *line, unsigned lineno)
{
    const char *arc = im->req->archive;
    char *p = line;
    while (*p == ' ' || *p == '\t')
        p++;
    if (!*p)
        return 0;
    char *lp = strchr(p, '('), *eq = strrchr(p, '=');
    if (!lp || !eq || eq < lp)
        return err_set(im->err, -EINVAL, "%s: manifest line %u not understood", arc, lineno);
    char *alg_end = lp;
    while (alg_end > p && (alg_end[-1] == ' ' || alg_end[-1] == '\t'))
        alg_end--;
    *alg_end = 0;
    char *rp = eq;
    while (rp > lp && (rp[-1] == ' ' || rp[-1] == '\t'))
        rp--;
    if (rp <= lp + 1 || rp[-1] != ')')
        return err_set(im->err, -EINVAL, "%s: manifest line %u not understood", arc, lineno);
    rp[-1] = 0;
    char *name = lp + 1;
    char *hex = eq + 1;
    while (*hex == ' ' || *hex == '\t')
        hex++;
    size_t hl = strcspn(hex, " \t\r");
    hex[hl] = 0;
    size_t want;
    bool is256;
    if (strcasecmp(p, "SHA1") == 0) {
        want = 20;
        is256 = false;
    } else if (strcasecmp(p, "SHA256") == 0) {
        want = 32;
        is256 = true;
    } else {
        return err_set(im->err, -ENOTSUP,
                       "%s: manifest line %u: digest '%.16s' not supported "
                       "(SHA1 and SHA256 are)",
                       arc, lineno, p);
    }
    uint8_t d[32];
    if (hl != want * 2)
        return err_set(im->err, -EINVAL, "%s: manifest line %u: digest of the wrong length", arc,
                       lineno);
    for (size_t i = 0; i < want; i++) {
        int a = imp_hexval(hex[2 * i]), b = imp_hexval(hex[2 * i + 1]);
        if (a < 0 || b < 0)
            return err_set(im->err, -EINVAL, "%s: manifest line %u: digest is not hex", arc,
                           lineno);
        d[i] = (uint8_t)(a << 4 | b);
    }
    struct imp_file *f = imp_find(im, name);
    if (!f)
        return err_set(im->err, -ENOENT,
                       "%s: the manifest names %.200s, which the archive "
                       "lacks",
                       arc, name);
    if (memcmp(d, is256 ? f->sha256 : f->sha1, want) != 0)
        return err_set(im->err, -EBADMSG,
                       "%s: member %s: %s digest does not match the "
                       "manifest; refused",
                       arc, f->display, is256 ? "SHA-256" : "SHA-1");
    f->checked = true;
    return 0;
}

static int imp_verify(struct imp *im, struct arc_import_res *res)
{
    if (!im->mf) {
        res->manifest = false;
        if (!im->req->no_manifest)
            return err_set(im->err, -EBADMSG,
                           "%s has no manifest: its files cannot be verified; refused "
                           "(--no-manifest imports them unverified)",
                           im->req->archive);
        return 0;
    }
    res->manifest = true;
    if (memchr(im->mf, 0, im->mflen))
        return err_set(im->err, -EINVAL, "%s: the manifest is not text", im->req->archive);
    unsigned lineno = 0;
    for (char *save = NULL, *line = strtok_r(im->mf, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        int r = imp_mf_line(im, line, ++lineno);
        if (r < 0)
            return r;
    }
    /* A member the manifest does not cover (a .cert too: dimg does not check signatures)
     * is unverified: refused, or with no_manifest left out, never written. */
    for (size_t i = 0; i < im->n; i++) {
        struct imp_file *f = &im->v[i];
        if (f->checked || imp_has_suffix(f->name, ".mf"))
            continue;
        if (!im->req->no_manifest)
            return err_set(im->err, -EBADMSG,
                           "%s: member %s is not in the manifest; refused (--no-manifest "
                           "leaves such members out)",
                           im->req->archive, f->display);
        f->left_out = true;
        res->left_out++;
    }
    return 0;
}

/* Is member f one of the disks (an OVF disk file, or a non-raw image by its probe)? */
static bool imp_is_disk(struct imp *im, const struct ovf *o, struct imp_file *f)
{
    if (o) {
        for (size_t i = 0; i < o->ndisks; i++)
            if (strcmp(o->disks[i].href, f->name) == 0)
                return true;
        return false;
    }
    if (imp_has_suffix(f->name, ".mf") || imp_has_suffix(f->name, ".ovf") ||
        imp_has_suffix(f->name, ".cert"))
        return false;
    return true;
}

/* Convert the verified DIR/NAME.part into DIR/STEM.FMT; the .part is removed afterwards. */
static int imp_convert(struct imp *im, struct imp_file *f, struct arc_import_res *res)
{
    const char *fmt = im->req->convert_fmt;
    const char *dot = strrchr(f->name, '.');
    size_t stem = dot && dot != f->name ? (size_t)(dot - f->name) : strlen(f->name);
    char *leaf = malloc(stem + strlen(fmt) + 2);
    if (!leaf)
        return err_set(im->err, -ENOMEM, "out of memory");
    sprintf(leaf, "%.*s.%s", (int)stem, f->name, fmt);
    char *dst = io_path_join(im->req->dir, leaf);
    free(leaf);
    if (!dst)
        return err_set(im->err, -ENOMEM, "out of memory");
    struct stat st;
    int r;
    if (lstat(dst, &st) == 0) {
        r = err_set(im->err, -EEXIST, "%s already exists; not overwritten", dst);
    } else {
        /* The convert opens the verified file by name, untrusted and following no file it
         * names: NAME.part is not beside the other members, and DIR is the user's. */
        struct ops_convert_req cr = {
            .src = f->t.tmp_path,
            .dst = dst,
            .dst_fmt = fmt,
            .sparse = OPS_CONVERT_DEFAULT_SPARSE,
            .open_flags = IMG_OPEN_UNTRUSTED | IMG_OPEN_NO_REFS,
            .progress = im->req->progress,
        };
        r = ops_convert(&cr, im->err);
        if (r == 0 && res->nwritten < ARC_IMPORT_MAX_OUT)
            snprintf(res->written[res->nwritten++], sizeof res->written[0], "%s", dst);
    }
    free(dst);
    io_tmp_abort(&f->t);
    f->open = false;
    return r;
}

int arc_import(const struct arc_import_req *req, struct arc_import_res *res, struct img_err *err)
{
    struct imp im = {.req = req, .err = err};
    memset(res, 0, sizeof *res);
    err_clear(err);
    if (req->convert_fmt && !img_driver_find(req->convert_fmt))
        return err_set(err, -EINVAL, "unknown output format '%s'", req->convert_fmt);
    struct stat st;
    bool made_dir = false;
    if (stat(req->dir, &st) < 0 && errno == ENOENT && mkdir(req->dir, 0755) == 0)
        made_dir = true; /* one level, removed again if the import fails */
    if (stat(req->dir, &st) < 0 || !S_ISDIR(st.st_mode))
        return err_set(err, -ENOTDIR, "%s: not a directory", req->dir);
    struct arc_reader *rd = arc_walk_open(req->archive, err);
    if (!rd) {
        if (made_dir)
            rmdir(req->dir);
        return err->code ? err->code : -EIO;
    }
    im.rd = rd;
    if (req->progress) {
        req->progress->total = 0;
        if (stat(req->archive, &st) == 0)
            req->progress->total = (uint64_t)st.st_size;
    }
    int r;
    if (arc_walk_single(rd)) {
        arc_reader_close(rd);
        if (made_dir)
            rmdir(req->dir);
        return err_set(err, -EINVAL,
                       "%s is a single compressed file, not an archive; use "
                       "dimg convert",
                       req->archive);
    }
    while ((r = arc_walk_next(rd, err)) > 0) {
        r = imp_member(&im, rd);
        if (r < 0)
            break;
    }
    arc_reader_close(rd);
    if (r == 0 && im.n == 0)
        r = err_set(err, -ENOENT, "%s: holds no files", req->archive);
    if (r == 0)
        r = imp_verify(&im, res);
    struct ovf *o = NULL;
    if (r == 0 && im.ovf) {
        struct img_err oerr = {0};
        if (ovf_parse(im.ovf, im.ovflen, &o, &oerr) < 0)
            r = err_set(err, oerr.code, "%s: %s", req->archive, oerr.msg);
    }
    /* Everything checked: put the files in place (or convert the disks). */
    for (size_t i = 0; r == 0 && i < im.n; i++) {
        struct imp_file *f = &im.v[i];
        if (f->left_out) {
            io_tmp_abort(&f->t);
            f->open = false;
            continue;
        }
        if (req->convert_fmt && imp_is_disk(&im, o, f)) {
            r = imp_convert(&im, f, res);
            continue;
        }
        char final[4096];
        snprintf(final, sizeof final, "%s", f->t.final_path);
        if (lstat(final, &st) == 0) {
            r = err_set(err, -EEXIST, "%s already exists; not overwritten", final);
            break;
        }
        r = io_tmp_commit(&f->t);
        f->open = false;
        if (r < 0)
            r = err_set(err, r, "%s: %s", final, strerror(-r));
        else if (res->nwritten < ARC_IMPORT_MAX_OUT)
            snprintf(res->written[res->nwritten++], sizeof res->written[0], "%s", final);
    }
    res->members = im.n;
    ovf_free(o);
    imp_cleanup(&im);
    if (r < 0) {
        /* Files already renamed stay only when every one made it: undo a partial import. */
        for (size_t i = 0; i < res->nwritten; i++)
            unlink(res->written[i]);
        res->nwritten = 0;
        if (made_dir)
            rmdir(req->dir);
    }
    return r;
}

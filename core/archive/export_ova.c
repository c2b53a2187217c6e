/* SPDX-License-Identifier: GPL-2.0-or-later */
/* export_ova.c: `dimg export --ova`: an OVA appliance from a list of images.
 *
 * Each image is converted (ops_convert, the vmdk driver) to a streamOptimized vmdk in a
 * staging directory OUT.part.d beside OUT: a tar header carries the member's size before its
 * bytes and a stream-optimized disk's size is only known once it is written, so one temporary
 * copy of the compressed disks is the price (the directory is removed at the end, whatever
 * happens). Then OUT.part is written as a tar in the order OVF asks for: the descriptor first,
 * the disks, the manifest (SHA-256 of every member, hashed while the member is written) last;
 * it is flushed and renamed to OUT.
 * Talks to: ops.h (ops_convert), img.h (sizes and allocation of the sources and the disks),
 * ovf_write.h (descriptor), io.h (temp file + rename), libarchive (tar), OpenSSL (SHA-256).
 */
#include "core/archive/export.h"
#include "core/block/driver.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/base/io.h"
#include "core/archive/ovf_write.h"

#define OVA_COPY_CHUNK (1u << 20)
#define OVA_NAME_MAX 64

void export_member_name(const char *path, bool strip_ext, const char *ext, char *buf, size_t cap)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t n = strlen(base);
    const char *dot = strip_ext ? strrchr(base, '.') : NULL;
    if (dot && dot != base)
        n = (size_t)(dot - base);
    while (n > 0 && (*base == '.' || *base == '-')) { /* no hidden or option-like names */
        base++;
        n--;
    }
    size_t o = 0;
    for (size_t i = 0; i < n && o < OVA_NAME_MAX && o + 1 < cap; i++) {
        unsigned char ch = (unsigned char)base[i];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-';
        buf[o++] = ok ? (char)ch : '_';
    }
    buf[o] = '\0';
    if (o == 0)
        snprintf(buf, cap, "disk");
    size_t len = strlen(buf);
    snprintf(buf + len, cap - len, "%s", ext);
}

bool export_parse_count(const char *s, uint64_t max, uint64_t *out)
{
    char *end;
    while (*s == ' ')
        s++;
    if (*s < '0' || *s > '9')
        return false;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    while (*end == ' ')
        end++;
    if (errno || *end || v == 0 || v > max)
        return false;
    *out = v;
    return true;
}

struct ova_disk {
    char member[OVA_NAME_MAX + 16];
    char *stage_path; /* the converted disk in the staging directory */
    uint64_t src_size;
    struct ovf_disk ovf;
};

struct ova {
    const struct export_ova_req *req;
    struct img_err *err;
    struct ova_disk *disks;
    char *stage_dir;       /* OUT.part.d, once created */
    struct io_tmpfile out; /* OUT.part */
    struct archive *a;
    uint8_t *buf;
    uint64_t done, total; /* progress over both phases */
};

/* ---- progress: the phases report into the request's ops_progress ---- */
struct ova_sub {
    struct ova *o;
    uint64_t base;
};

static void ova_report(struct ova *o, uint64_t done)
{
    struct ops_progress *p = o->req->progress;
    if (!p)
        return;
    p->total = o->total;
    ops_progress_step(p, done);
}

static void ova_sub_cb(void *ctx, const struct ops_progress *p)
{
    struct ova_sub *s = ctx;
    ova_report(s->o, s->base + p->done);
}

static bool ova_cancelled(const struct ova *o)
{
    const struct ops_progress *p = o->req->progress;
    return p && p->cancel && atomic_load(p->cancel);
}

/* ---- phase 1: the disks ---- */

static char *ova_path_cat(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);
    char *p = malloc(na + nb + 1);
    if (p) {
        memcpy(p, a, na);
        memcpy(p + na, b, nb + 1);
    }
    return p;
}

/* Open every source first, so that a missing or unreadable image fails the export before
 * anything is written; note the sizes and pick unique member names. */
static int ova_check_sources(struct ova *o)
{
    const struct export_ova_req *req = o->req;
    struct stat out_st;
    bool out_exists = stat(req->out, &out_st) == 0;
    for (size_t i = 0; i < req->nimages; i++) {
        struct img *src = img_open(req->images[i], req->fmt,
                                   (req->open_flags & ~IMG_OPEN_RW) | IMG_OPEN_BACKING, o->err);
        if (!src)
            return o->err->code ? o->err->code : -EIO;
        o->disks[i].src_size = src->size;
        /* The rename at the end would replace a source (or a file of its chain). */
        bool hit = false;
        for (const struct img *l = src; out_exists && l; l = l->backing)
            hit |= l->st_dev == out_st.st_dev && l->st_ino == out_st.st_ino;
        img_close(src);
        if (hit)
            return err_set(o->err, -EINVAL, "%s: the target is %s or one of its backing files",
                           req->out, req->images[i]);
        o->total += o->disks[i].src_size;

        struct ova_disk *d = &o->disks[i];
        export_member_name(req->images[i], true, ".vmdk", d->member, sizeof d->member);
        for (unsigned k = 2;; k++) {
            bool taken = false;
            for (size_t j = 0; j < i && !taken; j++)
                taken = strcmp(o->disks[j].member, d->member) == 0;
            if (!taken)
                break;
            char stem[OVA_NAME_MAX + 16];
            export_member_name(req->images[i], true, "", stem, sizeof stem);
            snprintf(d->member, sizeof d->member, "%.*s-%u.vmdk", OVA_NAME_MAX, stem, k);
        }
    }
    return 0;
}

/* Guest bytes the disk stores (grains that are not zero), for ovf:populatedSize. */
static int ova_populated(struct img *img, uint64_t *out)
{
    uint64_t off = 0, sum = 0;
    while (off < img->size) {
        struct img_bs bs;
        int r = img_block_status(img, off, img->size - off, &bs);
        if (r < 0)
            return r;
        if (!(bs.flags & IMG_BS_ZERO))
            sum += bs.len;
        off += bs.len;
    }
    *out = sum;
    return 0;
}

static int ova_convert_disk(struct ova *o, size_t i, uint64_t base)
{
    const struct export_ova_req *req = o->req;
    struct ova_disk *d = &o->disks[i];
    char *path = io_path_join(o->stage_dir, d->member);
    if (!path)
        return err_set(o->err, -ENOMEM, "out of memory");
    d->stage_path = path;

    struct img_opts opts = {0};
    int r = img_opts_parse(&opts, "subformat=streamOptimized", o->err);
    if (r < 0)
        return r;
    struct ova_sub sub = {.o = o, .base = base};
    struct ops_progress prog = {
        .cb = ova_sub_cb,
        .ctx = &sub,
        .cancel = req->progress ? req->progress->cancel : NULL,
    };
    struct ops_convert_req creq = {
        .src = req->images[i],
        .src_fmt = req->fmt,
        .dst = path,
        .dst_fmt = "vmdk",
        .opts = &opts,
        .sparse = OPS_CONVERT_DEFAULT_SPARSE,
        .open_flags = req->open_flags,
        .progress = &prog,
    };
    r = ops_convert(&creq, o->err);
    img_opts_free(&opts);
    if (r < 0) {
        err_prefix(o->err, "%s", req->images[i]);
        return r;
    }

    struct img *v = img_open(path, "vmdk", 0, o->err);
    if (!v)
        return o->err->code ? o->err->code : -EIO;
    struct stat st;
    d->ovf.href = d->member;
    d->ovf.capacity = v->size;
    r = ova_populated(v, &d->ovf.populated);
    if (r < 0)
        err_set(o->err, r, "%s", img_errmsg(v));
    img_close(v);
    if (r < 0)
        return r;
    if (stat(path, &st) < 0)
        return err_set(o->err, -errno, "%s: %s", path, strerror(errno));
    d->ovf.file_size = (uint64_t)st.st_size;
    return 0;
}

/* ---- phase 2: the tar ---- */

static int ova_archive_fail(struct ova *o)
{
    return export_archive_fail(o->a, o->req->out, o->err);
}

static int ova_header(struct ova *o, const char *name, uint64_t size)
{
    struct archive_entry *e = archive_entry_new();
    if (!e)
        return err_set(o->err, -ENOMEM, "out of memory");
    archive_entry_set_pathname(e, name);
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_size(e, (la_int64_t)size);
    archive_entry_set_mtime(e, time(NULL), 0);
    int r = archive_write_header(o->a, e);
    archive_entry_free(e);
    return r == ARCHIVE_OK ? 0 : ova_archive_fail(o);
}

static int ova_data(struct ova *o, EVP_MD_CTX *md, const void *buf, size_t n)
{
    if (md && EVP_DigestUpdate(md, buf, n) != 1)
        return err_set(o->err, -EIO, "SHA-256 failed");
    return export_archive_put(o->a, buf, n) < 0 ? ova_archive_fail(o) : 0;
}

/* Append "SHA256(name)= hex\n" for the digest md has accumulated. */
static int ova_manifest_line(struct ova *o, FILE *mf, EVP_MD_CTX *md, const char *name)
{
    unsigned char dig[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (EVP_DigestFinal_ex(md, dig, &n) != 1)
        return err_set(o->err, -EIO, "SHA-256 failed");
    fprintf(mf, "SHA256(%s)= ", name);
    for (unsigned i = 0; i < n; i++)
        fprintf(mf, "%02x", dig[i]);
    fputc('\n', mf);
    return 0;
}

/* A whole member from memory. */
static int ova_put_text(struct ova *o, FILE *mf, EVP_MD_CTX *md, const char *name, const char *text,
                        size_t len)
{
    int r = ova_header(o, name, len);
    if (r == 0 && md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1)
        r = err_set(o->err, -EIO, "SHA-256 failed");
    if (r == 0)
        r = ova_data(o, md, text, len);
    if (r == 0 && md)
        r = ova_manifest_line(o, mf, md, name);
    return r;
}

/* A disk from the staging directory; its size must still be what the header said. */
static int ova_put_disk(struct ova *o, FILE *mf, EVP_MD_CTX *md, const struct ova_disk *d)
{
    int fd = open(d->stage_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return err_set(o->err, -errno, "%s: %s", d->stage_path, strerror(errno));
    int r = ova_header(o, d->member, d->ovf.file_size);
    if (r == 0 && EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1)
        r = err_set(o->err, -EIO, "SHA-256 failed");
    uint64_t off = 0;
    while (r == 0 && off < d->ovf.file_size) {
        if (ova_cancelled(o)) {
            r = err_set(o->err, -ECANCELED, "%s: export cancelled", o->req->out);
            break;
        }
        uint64_t left = d->ovf.file_size - off;
        size_t n = left < OVA_COPY_CHUNK ? (size_t)left : OVA_COPY_CHUNK;
        r = io_pread_exact(fd, o->buf, n, off);
        if (r < 0) {
            err_set(o->err, r, "%s: read: %s", d->stage_path, strerror(-r));
            break;
        }
        r = ova_data(o, md, o->buf, n);
        off += n;
        o->done += n;
        ova_report(o, o->done);
    }
    close(fd);
    if (r == 0)
        r = ova_manifest_line(o, mf, md, d->member);
    return r;
}

static int ova_write_tar(struct ova *o, const char *ovf, size_t ovf_len, const char *stem)
{
    const struct export_ova_req *req = o->req;
    char ovf_name[OVA_NAME_MAX + 16], mf_name[OVA_NAME_MAX + 16];
    /* stem comes from export_member_name (at most OVA_NAME_MAX bytes); the precision says so. */
    snprintf(ovf_name, sizeof ovf_name, "%.*s.ovf", OVA_NAME_MAX, stem);
    snprintf(mf_name, sizeof mf_name, "%.*s.mf", OVA_NAME_MAX, stem);

    char *mf_text = NULL;
    size_t mf_len = 0;
    FILE *mf = open_memstream(&mf_text, &mf_len);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int r = 0;
    if (!mf || !md) {
        r = err_set(o->err, -ENOMEM, "out of memory");
        goto out;
    }
    /* pax_restricted is plain ustar unless a member needs more (a disk of 8 GiB or more then
     * gets a pax size record before it; the descriptor stays the first file). */
    if (!(o->a = archive_write_new()) ||
        archive_write_set_format_pax_restricted(o->a) != ARCHIVE_OK ||
        archive_write_open_fd(o->a, o->out.fd) != ARCHIVE_OK) {
        r = o->a ? ova_archive_fail(o) : err_set(o->err, -ENOMEM, "out of memory");
        goto out;
    }
    r = ova_put_text(o, mf, md, ovf_name, ovf, ovf_len);
    for (size_t i = 0; r == 0 && i < req->nimages; i++)
        r = ova_put_disk(o, mf, md, &o->disks[i]);
    if (r < 0)
        goto out;
    if (fclose(mf) != 0) {
        mf = NULL;
        r = err_set(o->err, -ENOMEM, "out of memory");
        goto out;
    }
    mf = NULL;
    r = ova_put_text(o, NULL, NULL, mf_name, mf_text, mf_len);
    if (r == 0 && archive_write_close(o->a) != ARCHIVE_OK)
        r = ova_archive_fail(o);
out:
    if (mf)
        fclose(mf);
    free(mf_text);
    EVP_MD_CTX_free(md);
    return r;
}

/* ---- the whole export ---- */

static int ova_stage_dir(struct ova *o)
{
    char *dir = ova_path_cat(o->req->out, ".part.d");
    if (!dir)
        return err_set(o->err, -ENOMEM, "out of memory");
    if (mkdir(dir, 0700) < 0) {
        int e = errno;
        if (e == EEXIST)
            err_set(o->err, -EEXIST, "%s already exists (left from an interrupted run?); remove it",
                    dir);
        else
            err_set(o->err, -e, "%s: %s", dir, strerror(e));
        free(dir);
        return -e;
    }
    o->stage_dir = dir;
    return 0;
}

static void ova_cleanup_stage(struct ova *o)
{
    if (!o->stage_dir)
        return;
    for (size_t i = 0; i < o->req->nimages; i++)
        if (o->disks[i].stage_path)
            unlink(o->disks[i].stage_path);
    rmdir(o->stage_dir);
}

int export_ova(const struct export_ova_req *req, struct img_err *err)
{
    struct ova o = {.req = req, .err = err, .out = {.fd = -1}};
    err_clear(err);
    unsigned cpus = req->cpus ? req->cpus : 1;
    uint64_t mem = req->memory_mib ? req->memory_mib : 1024;
    size_t max = req->controller == EXPORT_CTL_IDE ? 4 : EXPORT_OVA_MAX_DISKS;
    if (req->nimages == 0 || req->nimages > max)
        return err_set(err, -EINVAL, "%s: an appliance holds 1 to %zu disks on %s, not %zu",
                       req->out, max, req->controller == EXPORT_CTL_IDE ? "IDE" : "SCSI",
                       req->nimages);
    if (cpus > EXPORT_OVA_MAX_CPUS || mem > EXPORT_OVA_MAX_MEMORY_MIB)
        return err_set(err, -EINVAL, "%s: at most %u CPUs and %" PRIu64 " MiB of memory", req->out,
                       EXPORT_OVA_MAX_CPUS, (uint64_t)EXPORT_OVA_MAX_MEMORY_MIB);

    /* The name: given, or OUT's base name without ".ova". */
    char name_buf[256];
    const char *name = req->name;
    if (!name || !*name) {
        const char *b = strrchr(req->out, '/');
        snprintf(name_buf, sizeof name_buf, "%s", b ? b + 1 : req->out);
        size_t n = strlen(name_buf);
        if (n > 4 && strcmp(name_buf + n - 4, ".ova") == 0)
            name_buf[n - 4] = '\0';
        name = name_buf;
    }
    char stem[OVA_NAME_MAX + 16];
    export_member_name(name, false, "", stem, sizeof stem);

    char *ovf = NULL;
    size_t ovf_len = 0;
    struct ovf_disk *odisks = NULL;
    bool out_open = false;
    int r;
    o.disks = calloc(req->nimages, sizeof *o.disks);
    o.buf = malloc(OVA_COPY_CHUNK);
    odisks = calloc(req->nimages, sizeof *odisks);
    if (!o.disks || !o.buf || !odisks) {
        r = err_set(err, -ENOMEM, "out of memory");
        goto out;
    }
    if ((r = ova_check_sources(&o)) < 0)
        goto out;
    struct stat st;
    char *part = ova_path_cat(req->out, ".part");
    if (!part) {
        r = err_set(err, -ENOMEM, "out of memory");
        goto out;
    }
    r = lstat(part, &st) == 0 ? -EEXIST : 0;
    if (r < 0)
        err_set(err, r, "%s already exists (left from an interrupted run?); remove it", part);
    free(part);
    if (r < 0 || (r = ova_stage_dir(&o)) < 0)
        goto out;
    ova_report(&o, 0);

    uint64_t base = 0;
    for (size_t i = 0; i < req->nimages; i++) {
        if ((r = ova_convert_disk(&o, i, base)) < 0)
            goto out;
        base += o.disks[i].src_size;
        odisks[i] = o.disks[i].ovf;
    }
    /* The packing phase: the disks' bytes join the total now that they are known. */
    o.done = base;
    for (size_t i = 0; i < req->nimages; i++)
        o.total += o.disks[i].ovf.file_size;
    ova_report(&o, o.done);

    struct ovf_system sys = {
        .name = name,
        .cpus = cpus,
        .memory_mib = mem,
        .ide = req->controller == EXPORT_CTL_IDE,
        .network = req->network,
        .disks = odisks,
        .ndisks = req->nimages,
    };
    if (!(ovf = ovf_write(&sys, &ovf_len, err))) {
        r = err->code ? err->code : -ENOMEM;
        goto out;
    }
    if ((r = io_tmp_create(&o.out, req->out)) < 0) {
        err_set(err, r, "%s.part: %s", req->out, strerror(-r));
        goto out;
    }
    out_open = true;
    if ((r = ova_write_tar(&o, ovf, ovf_len, stem)) < 0)
        goto out;
    archive_write_free(o.a);
    o.a = NULL;
    if ((r = io_tmp_commit(&o.out)) < 0) {
        err_set(err, r, "%s: %s", req->out, strerror(-r));
        goto out;
    }
    out_open = false;

out:
    if (o.a)
        archive_write_free(o.a);
    if (out_open)
        io_tmp_abort(&o.out);
    ova_cleanup_stage(&o);
    if (o.disks)
        for (size_t i = 0; i < req->nimages; i++)
            free(o.disks[i].stage_path);
    free(o.disks);
    free(o.stage_dir);
    free(o.buf);
    free(odisks);
    free(ovf);
    return r;
}

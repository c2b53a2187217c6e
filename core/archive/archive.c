/* SPDX-License-Identifier: GPL-2.0-or-later */
/* archive.c: archives and compressed files on libarchive, read side (see archive.h).
 *
 * One libarchive reader per walk: tar, zip and raw formats only, with the gzip, bzip2,
 * xz/lzma and zstd filters. Members are read with archive_read_data_block so that sparse tar
 * members skip their holes; struct arc_reader turns the blocks back into a byte stream (gaps
 * and the tail read as zeros) and enforces the declared size and the inflation limit.
 * Member names are checked before anything is opened or written: no ".." component, no
 * absolute names, no links.
 * Talks to: libarchive, img.h (probe, the streaming handle), ovf.h, esc.h (escaping names),
 * io.h. Never prints.
 */
#include "core/archive/archive.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/base/bytes.h"
#include "core/block/driver.h"
#include "core/archive/ovf.h"
#include "core/block/resolve.h"
#include "core/base/esc.h"

#define ARC_BLOCK (64u << 10) /* libarchive read block size */

/* ---- names ---- */

static bool arc_suffix(const char *name, const char *suf)
{
    size_t n = strlen(name), s = strlen(suf);
    return n > s && strcasecmp(name + n - s, suf) == 0;
}

/* Single-file compression suffixes (also what a member's name loses). */
static const char *const arc_comp_exts[] = {".gz", ".xz", ".bz2", ".zst", ".zstd", ".lzma"};
static const char *const arc_cont_exts[] = {".tar", ".tgz",  ".txz", ".tbz2",
                                            ".tbz", ".tzst", ".zip", ".ova"};

bool arc_name_is_archive(const char *name)
{
    for (size_t i = 0; i < sizeof arc_comp_exts / sizeof *arc_comp_exts; i++)
        if (arc_suffix(name, arc_comp_exts[i]))
            return true;
    for (size_t i = 0; i < sizeof arc_cont_exts / sizeof *arc_cont_exts; i++)
        if (arc_suffix(name, arc_cont_exts[i]))
            return true;
    return false;
}

/* Compressed-stream magic (a single compressed file or a compressed tar). */
static bool arc_magic_compressed(const uint8_t *b, size_t n)
{
    return (n >= 2 && b[0] == 0x1f && b[1] == 0x8b) ||
           (n >= 6 && memcmp(b,
                             "\xfd"
                             "7zXZ\0",
                             6) == 0) ||
           (n >= 4 && memcmp(b, "\x28\xb5\x2f\xfd", 4) == 0) ||
           (n >= 4 && memcmp(b, "BZh", 3) == 0 && b[3] >= '1' && b[3] <= '9');
}

bool arc_detect(const char *name, const uint8_t *b, size_t n)
{
    if (arc_name_is_archive(name) || arc_magic_compressed(b, n))
        return true;
    if (n >= 4 && (memcmp(b, "PK\3\4", 4) == 0 || memcmp(b, "PK\5\6", 4) == 0))
        return true;
    return n >= 262 && memcmp(b + 257, "ustar", 5) == 0;
}

int arc_split(const char *path, char **archive, char **member)
{
    *archive = *member = NULL;
    struct stat st;
    if (stat(path, &st) == 0)
        return 0;
    size_t n = strlen(path);
    char *buf = strdup(path);
    if (!buf)
        return -ENOMEM;
    /* From the longest prefix down: the first one that is a regular file decides. */
    for (size_t i = n; i-- > 1;) {
        if (buf[i] != '/')
            continue;
        buf[i] = 0;
        if (stat(buf, &st) == 0) {
            if (S_ISREG(st.st_mode) && arc_name_is_archive(buf) && path[i + 1]) {
                *member = strdup(path + i + 1);
                *archive = buf;
                if (!*member) {
                    free(buf);
                    *archive = NULL;
                    return -ENOMEM;
                }
                return 1;
            }
            break; /* a directory or another file: not an archive path */
        }
    }
    free(buf);
    return 0;
}

int arc_convert_source(const char *path, char **archive, char **member)
{
    int r = arc_split(path, archive, member);
    if (r != 0)
        return r;
    /* A compressed file itself (disk.raw.xz): by its magic, whatever its name. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return 0;
    uint8_t head[8];
    ssize_t got = pread(fd, head, sizeof head, 0);
    struct stat st;
    bool reg = fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
    close(fd);
    if (!reg || got <= 0 || !arc_magic_compressed(head, (size_t)got))
        return 0;
    if (!(*archive = strdup(path)))
        return -ENOMEM;
    return 1;
}

/* Drop leading "./" (tar writes them); the rest is kept as stored. */
static const char *arc_norm(const char *name)
{
    while (name[0] == '.' && name[1] == '/') {
        name += 2;
        while (*name == '/' && name[1] == '/')
            name++;
    }
    return name;
}

/* Why a member name is unsafe to use as a file name below a directory, or NULL. */
static const char *arc_name_problem(const char *name)
{
    if (!name[0])
        return "empty name";
    if (name[0] == '/')
        return "absolute path";
    for (const char *p = name; *p;) {
        size_t n = strcspn(p, "/");
        if (n == 2 && p[0] == '.' && p[1] == '.')
            return "'..' in the path";
        p += n;
        p += *p == '/';
    }
    return NULL;
}

/* ---- libarchive ---- */

/* NAME.gz (.xz, ...) where NAME is not NAME.tar: a single compressed file. */
static bool arc_single_by_name(const char *path)
{
    for (size_t i = 0; i < sizeof arc_comp_exts / sizeof *arc_comp_exts; i++) {
        size_t n = strlen(path), s = strlen(arc_comp_exts[i]);
        if (arc_suffix(path, arc_comp_exts[i]))
            return !(n - s >= 4 && strncasecmp(path + n - s - 4, ".tar", 4) == 0);
    }
    return false;
}

/* The archive file behind libarchive: a regular file only (a FIFO named x.tar must not hang
 * us), read in blocks, skipped by seeking where possible, with an optional budget of bytes
 * read after which reading stops (a quick listing for the browser's info pane). */
struct arc_src {
    int fd;
    uint64_t size, used, budget; /* budget 0: none */
    bool stopped;
    uint8_t buf[ARC_BLOCK];
};

static la_ssize_t arc_src_read(struct archive *a, void *cd, const void **buf)
{
    struct arc_src *s = cd;
    if (s->budget && s->used >= s->budget) {
        s->stopped = true;
        archive_set_error(a, ECANCELED, "listing stopped after %llu bytes",
                          (unsigned long long)s->used);
        return -1;
    }
    ssize_t n;
    do
        n = read(s->fd, s->buf, sizeof s->buf);
    while (n < 0 && errno == EINTR);
    if (n < 0) {
        archive_set_error(a, errno, "%s", strerror(errno));
        return -1;
    }
    s->used += (uint64_t)n;
    *buf = s->buf;
    return n;
}

static la_int64_t arc_src_skip(struct archive *a, void *cd, la_int64_t req)
{
    struct arc_src *s = cd;
    off_t cur = lseek(s->fd, 0, SEEK_CUR);
    /* Never past the end (libarchive then reads and reports the truncation itself). */
    if (cur < 0 || req < 0 || (uint64_t)cur >= s->size || (uint64_t)req > s->size - (uint64_t)cur)
        return 0;
    off_t now = lseek(s->fd, (off_t)req, SEEK_CUR);
    return now < 0 ? 0 : (la_int64_t)(now - cur);
}

static la_int64_t arc_src_seek(struct archive *a, void *cd, la_int64_t off, int whence)
{
    struct arc_src *s = cd;
    off_t r = lseek(s->fd, (off_t)off, whence);
    if (r < 0)
        archive_set_error(a, errno, "%s", strerror(errno));
    return r < 0 ? ARCHIVE_FATAL : (la_int64_t)r;
}

static int arc_src_close(struct archive *a, void *cd)
{
    struct arc_src *s = cd;
    close(s->fd);
    free(s);
    return ARCHIVE_OK;
}

/* Open path for reading; budget > 0 stops reading after that many bytes (*src tells). */
static struct archive *arc_new_budget(const char *path, uint64_t budget, struct arc_src **src,
                                      struct img_err *err)
{
    struct stat st;
    int fd = resolve_open_file(path, O_RDONLY, 0, &st, err); /* never blocks on a FIFO */
    if (fd < 0)
        return NULL;
    struct arc_src *s = calloc(1, sizeof *s);
    struct archive *a = s ? archive_read_new() : NULL;
    if (!a) {
        free(s);
        close(fd);
        err_set(err, -ENOMEM, "out of memory");
        return NULL;
    }
    s->fd = fd;
    s->size = (uint64_t)st.st_size;
    s->budget = budget;
    archive_read_support_filter_gzip(a);
    archive_read_support_filter_bzip2(a);
    archive_read_support_filter_xz(a);
    archive_read_support_filter_lzma(a);
    archive_read_support_filter_zstd(a);
    /* disk.raw.gz is one compressed file whatever its bytes look like (a gzip of zeros reads
     * as an empty tar otherwise); cloud.tar.gz and names without a suffix are probed. */
    if (!arc_single_by_name(path)) {
        archive_read_support_format_tar(a);
        archive_read_support_format_gnutar(a);
        archive_read_support_format_zip(a);
    }
    archive_read_support_format_raw(a);
    archive_read_set_callback_data(a, s);
    archive_read_set_read_callback(a, arc_src_read);
    archive_read_set_skip_callback(a, arc_src_skip);
    archive_read_set_seek_callback(a, arc_src_seek);
    archive_read_set_close_callback(a, arc_src_close);
    if (src)
        *src = s;
    if (archive_read_open1(a) != ARCHIVE_OK) {
        const char *m = archive_error_string(a);
        int e = archive_errno(a);
        err_set(err, e > 0 ? -e : -EINVAL, "%s: %s", path, m ? m : "not a readable archive");
        archive_read_free(a); /* closes s */
        return NULL;
    }
    return a;
}

static struct archive *arc_new(const char *path, struct img_err *err)
{
    return arc_new_budget(path, 0, NULL, err);
}

static int arc_fail(struct archive *a, const char *path, struct img_err *err)
{
    const char *m = archive_error_string(a);
    int e = archive_errno(a);
    /* libarchive's errno for damaged data is often a generic one; keep it an I/O error. */
    return err_set(err, e > 0 && e != -1 ? -e : -EIO, "%s: %s", path, m ? m : "damaged archive");
}

static bool arc_is_single(struct archive *a)
{
    return archive_format(a) == ARCHIVE_FORMAT_RAW;
}

/* The member name of a single compressed file: its own name without the suffix. */
static char *arc_single_name(const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t n = strlen(base);
    for (size_t i = 0; i < sizeof arc_comp_exts / sizeof *arc_comp_exts; i++)
        if (arc_suffix(base, arc_comp_exts[i])) {
            n -= strlen(arc_comp_exts[i]);
            break;
        }
    if (n == 0)
        return strdup("data");
    return strndup(base, n);
}

/* Fill m from the current header (name, type, size, safety). */
static int arc_member_fill(struct archive *a, struct archive_entry *ent, const char *path,
                           struct arc_member *m)
{
    memset(m, 0, sizeof *m);
    const char *raw = archive_entry_pathname(ent);
    if (arc_is_single(a)) {
        m->name = arc_single_name(path);
    } else {
        if (!raw)
            raw = "";
        if (strlen(raw) > ARC_NAME_MAX)
            return -ENAMETOOLONG;
        m->name = strdup(arc_norm(raw));
    }
    if (!m->name)
        return -ENOMEM;
    m->display = esc_dup(m->name, strlen(m->name));
    if (!m->display)
        return -ENOMEM;
    mode_t ft = archive_entry_filetype(ent);
    const char *hl = archive_entry_hardlink(ent), *sl = archive_entry_symlink(ent);
    if (hl) {
        m->type = ARC_T_HARDLINK;
        m->link = esc_dup(hl, strlen(hl));
    } else if (ft == AE_IFLNK) {
        m->type = ARC_T_SYMLINK;
        m->link = sl ? esc_dup(sl, strlen(sl)) : strdup("");
    } else if (ft == AE_IFDIR) {
        m->type = ARC_T_DIR;
    } else if (ft == AE_IFREG || arc_is_single(a)) {
        m->type = ARC_T_FILE;
    } else {
        m->type = ARC_T_OTHER;
    }
    if ((m->type == ARC_T_HARDLINK || m->type == ARC_T_SYMLINK) && !m->link)
        return -ENOMEM;
    m->why = arc_name_problem(m->name);
    if (!m->why && m->type == ARC_T_SYMLINK)
        m->why = "symbolic link";
    if (!m->why && m->type == ARC_T_HARDLINK)
        m->why = "hard link";
    if (!m->why && m->type == ARC_T_OTHER)
        m->why = "not a regular file";
    m->unsafe = m->why != NULL;
    if (archive_entry_size_is_set(ent) && archive_entry_size(ent) >= 0 && !arc_is_single(a)) {
        m->size_known = true;
        m->size = (uint64_t)archive_entry_size(ent);
    }
    return 0;
}

static void arc_member_free(struct arc_member *m)
{
    free(m->name);
    free(m->display);
    free(m->link);
}

uint64_t arc_inflate_limit(void)
{
    const char *s = getenv("DIMG_ARCHIVE_LIMIT");
    uint64_t v;
    if (s && img_parse_size(s, &v) == 0 && v > 0)
        return v;
    return ARC_INFLATE_LIMIT;
}

/* ---- the reader ---- */

struct arc_reader {
    struct archive *a;
    char *path;
    struct arc_member m;
    uint64_t limit;     /* bytes this member may produce */
    uint64_t pos;       /* bytes handed out so far */
    const uint8_t *blk; /* current data block from libarchive */
    size_t blen;
    uint64_t boff; /* its offset in the member */
    bool eof;      /* libarchive has no more blocks */
    size_t count;  /* members seen */
};

const struct arc_member *arc_reader_member(const struct arc_reader *r)
{
    return &r->m;
}

void arc_reader_close(struct arc_reader *r)
{
    if (!r)
        return;
    if (r->a)
        archive_read_free(r->a);
    arc_member_free(&r->m);
    free(r->path);
    free(r);
}

static int arc_limit_check(const struct arc_member *m, uint64_t limit, const char *path,
                           struct img_err *err)
{
    char a[32], b[32];
    if (m->size_known && m->size > limit)
        return err_set(err, -EFBIG,
                       "%s: member %s declares %s, over the limit of %s "
                       "(DIMG_ARCHIVE_LIMIT)",
                       path, m->display, img_fmt_size(m->size, a, sizeof a),
                       img_fmt_size(limit, b, sizeof b));
    return 0;
}

struct arc_reader *arc_walk_open(const char *archive, struct img_err *err)
{
    err_clear(err);
    struct arc_reader *r = calloc(1, sizeof *r);
    if (!r || !(r->path = strdup(archive))) {
        free(r);
        err_set(err, -ENOMEM, "out of memory");
        return NULL;
    }
    if (!(r->a = arc_new(archive, err))) {
        arc_reader_close(r);
        return NULL;
    }
    return r;
}

int arc_walk_next(struct arc_reader *r, struct img_err *err)
{
    struct archive_entry *ent;
    int h = archive_read_next_header(r->a, &ent);
    if (h == ARCHIVE_EOF)
        return 0;
    if (h < ARCHIVE_WARN)
        return arc_fail(r->a, r->path, err);
    if (++r->count > ARC_MAX_MEMBERS)
        return err_set(err, -E2BIG, "%s: more than %u members", r->path, ARC_MAX_MEMBERS);
    arc_member_free(&r->m);
    int e = arc_member_fill(r->a, ent, r->path, &r->m);
    if (e < 0)
        return err_set(err, e, "%s: %s", r->path,
                       e == -ENAMETOOLONG ? "member name too long" : strerror(-e));
    r->pos = r->boff = 0;
    r->blk = NULL;
    r->blen = 0;
    r->eof = false;
    r->limit = arc_inflate_limit();
    if (r->m.type == ARC_T_FILE && !r->m.unsafe) {
        e = arc_limit_check(&r->m, r->limit, r->path, err);
        if (e < 0)
            return e;
    }
    if (r->m.size_known)
        r->limit = r->m.size;
    return 1;
}

bool arc_walk_single(const struct arc_reader *r)
{
    return arc_is_single(r->a);
}

uint64_t arc_walk_bytes(const struct arc_reader *r)
{
    la_int64_t n = archive_filter_bytes(r->a, -1);
    return n > 0 ? (uint64_t)n : 0;
}

struct arc_reader *arc_reader_open(const char *archive, const char *member, struct img_err *err)
{
    struct arc_reader *r = arc_walk_open(archive, err);
    if (!r)
        return NULL;
    const char *want = member ? arc_norm(member) : NULL;
    int h;
    while ((h = arc_walk_next(r, err)) > 0) {
        if (!want && !arc_is_single(r->a)) {
            err_set(err, -EINVAL, "%s holds several files; name one as %s/MEMBER", archive,
                    archive);
            goto fail;
        }
        if (!want || strcmp(r->m.name, want) == 0)
            break;
    }
    if (h < 0)
        goto fail;
    if (h == 0) {
        char *d = want ? esc_dup(want, strlen(want)) : NULL;
        err_set(err, -ENOENT, "%s: no member named %s", archive, d ? d : "?");
        free(d);
        goto fail;
    }
    if (r->m.unsafe) {
        err_set(err, -EPERM, "%s: member %s refused: %s", archive, r->m.display, r->m.why);
        goto fail;
    }
    if (r->m.type != ARC_T_FILE) {
        err_set(err, -EISDIR, "%s: member %s is not a file", archive, r->m.display);
        goto fail;
    }
    return r;
fail:
    arc_reader_close(r);
    return NULL;
}

/* Make a block current (r->blk) or set eof; 0 or -errno. */
static int arc_next_block(struct arc_reader *r, struct img_err *err)
{
    const void *b;
    size_t n;
    la_int64_t off;
    int h = archive_read_data_block(r->a, &b, &n, &off);
    if (h == ARCHIVE_EOF) {
        r->eof = true;
        r->blen = 0;
        return 0;
    }
    if (h < ARCHIVE_WARN)
        return arc_fail(r->a, r->path, err);
    if (off < 0 || (uint64_t)off < r->pos)
        return err_set(err, -EIO, "%s: member %s: data blocks out of order", r->path, r->m.display);
    r->blk = b;
    r->blen = n;
    r->boff = (uint64_t)off;
    return 0;
}

ssize_t arc_reader_read(struct arc_reader *r, void *buf, size_t len, struct img_err *err)
{
    uint8_t *out = buf;
    size_t got = 0;
    if (r->m.unsafe || r->m.type != ARC_T_FILE)
        return err_set(err, -EPERM, "%s: member %s refused: %s", r->path, r->m.display,
                       r->m.why ? r->m.why : "not a file");
    while (got < len) {
        if (r->blen == 0 || r->pos >= r->boff + r->blen) {
            if (r->eof)
                break;
            int e = arc_next_block(r, err);
            if (e < 0)
                return e;
            continue;
        }
        if (r->pos < r->boff) {
            /* A hole of a sparse member: zeros up to the block. */
            uint64_t n = r->boff - r->pos;
            if (n > len - got)
                n = len - got;
            memset(out + got, 0, (size_t)n);
            got += (size_t)n;
            r->pos += n;
        } else {
            uint64_t n = r->boff + r->blen - r->pos;
            if (n > len - got)
                n = len - got;
            memcpy(out + got, r->blk + (r->pos - r->boff), (size_t)n);
            got += (size_t)n;
            r->pos += n;
        }
        if (r->pos > r->limit) {
            char a[32];
            if (r->m.size_known)
                return err_set(err, -EIO, "%s: member %s: more data than its declared size",
                               r->path, r->m.display);
            return err_set(err, -EFBIG,
                           "%s: %s inflates past the limit of %s "
                           "(DIMG_ARCHIVE_LIMIT); refused as a decompression bomb",
                           r->path, r->m.display, img_fmt_size(r->limit, a, sizeof a));
        }
    }
    /* A sparse member may end in a hole: zeros up to the declared size. */
    if (got < len && r->eof && r->m.size_known && r->pos < r->m.size) {
        uint64_t n = r->m.size - r->pos;
        if (n > len - got)
            n = len - got;
        memset(out + got, 0, (size_t)n);
        got += (size_t)n;
        r->pos += n;
    }
    return (ssize_t)got;
}

static bool arc_all_zero(const uint8_t *p, size_t n)
{
    return n == 0 || (p[0] == 0 && memcmp(p, p + 1, n - 1) == 0);
}

int arc_reader_copy_fd(struct arc_reader *r, int fd, uint64_t *copied, void *const *md, size_t nmd,
                       int (*tick)(void *ctx, uint64_t done), void *ctx, struct img_err *err)
{
    size_t cap = 1u << 20;
    uint8_t *buf = malloc(cap);
    if (!buf)
        return err_set(err, -ENOMEM, "out of memory");
    uint64_t off = 0;
    int rc = 0;
    for (;;) {
        ssize_t n = arc_reader_read(r, buf, cap, err);
        if (n < 0) {
            rc = (int)n;
            break;
        }
        if (n == 0)
            break;
        for (size_t i = 0; i < nmd && rc == 0; i++)
            if (EVP_DigestUpdate(md[i], buf, (size_t)n) != 1)
                rc = err_set(err, -EIO, "digest failed");
        if (rc)
            break;
        /* Zero blocks stay holes (the file is new and grows by ftruncate at the end). */
        for (size_t i = 0; i < (size_t)n; i += 4096) {
            size_t l = (size_t)n - i < 4096 ? (size_t)n - i : 4096;
            if (arc_all_zero(buf + i, l))
                continue;
            if (pwrite(fd, buf + i, l, (off_t)(off + i)) != (ssize_t)l) {
                rc =
                    err_set(err, errno ? -errno : -EIO, "write: %s", strerror(errno ? errno : EIO));
                break;
            }
        }
        if (rc)
            break;
        off += (uint64_t)n;
        if (tick && tick(ctx, off)) {
            rc = err_set(err, -ECANCELED, "cancelled");
            break;
        }
    }
    if (rc == 0 && ftruncate(fd, (off_t)off) < 0)
        rc = err_set(err, -errno, "truncate: %s", strerror(errno));
    free(buf);
    if (copied)
        *copied = off;
    return rc;
}

/* ---- listing ---- */

static void arc_probe_head(struct arc_member *m, const uint8_t *head, size_t n)
{
    int score = 0;
    const struct img_driver *d = img_probe_buf(head, n, &score);
    m->format = d ? d->name : "raw";
    m->raw_guess = !d || (d->caps & IMG_CAP_RAW);
    const struct img_foreign *fo = m->raw_guess ? img_foreign_probe(head, n, NULL, 0) : NULL;
    if (fo) { /* named, not offered as raw bytes */
        m->format = fo->name;
        m->raw_guess = false;
    }
    if (m->raw_guess)
        m->virtual_size = m->size;
    else if (!fo && d->head_size) /* formats that keep it at a fixed place in the header */
        m->virtual_size = d->head_size(head, n);
    else
        m->virtual_size = 0;
}

int arc_list_read(const char *path, struct arc_list *l, struct img_err *err)
{
    return arc_list_read_flags(path, 0, l, err);
}

/* Read up to n bytes of the current member into buf (fewer at its end): *got says how many. */
static int arc_read_upto(struct archive *a, const char *path, void *buf, size_t n, size_t *got,
                         struct img_err *err)
{
    *got = 0;
    while (*got < n) {
        la_ssize_t k = archive_read_data(a, (uint8_t *)buf + *got, n - *got);
        if (k < 0)
            return arc_fail(a, path, err);
        if (k == 0)
            break;
        *got += (size_t)k;
    }
    return 0;
}

/* A compressed file declares no size: count the rest of it (bounded by the limit). */
static int arc_count_rest(struct archive *a, const char *path, struct arc_member *m, size_t got,
                          struct img_err *err)
{
    uint64_t total = got, limit = arc_inflate_limit();
    uint8_t *skip = malloc(ARC_BLOCK);
    int r = skip ? 0 : err_set(err, -ENOMEM, "out of memory");
    while (r == 0) {
        la_ssize_t k = archive_read_data(a, skip, ARC_BLOCK);
        if (k < 0) {
            r = arc_fail(a, path, err);
        } else if (k == 0) {
            break;
        } else if ((total += (uint64_t)k) > limit) {
            char b[32];
            r = err_set(err, -EFBIG,
                        "%s: inflates past the limit of %s (DIMG_ARCHIVE_LIMIT); refused as a "
                        "decompression bomb",
                        path, img_fmt_size(limit, b, sizeof b));
        }
    }
    free(skip);
    m->size = total;
    m->size_known = true;
    return r;
}

/* The first .ovf member: read it whole (bounded) and parse it into l->ovf; a descriptor that
 * does not parse is reported in l->ovf_err, not as a failure of the listing. */
static int arc_list_ovf(struct archive *a, const char *path, const struct arc_member *m,
                        const uint8_t *head, size_t got, struct arc_list *l, struct img_err *err)
{
    if (!m->size_known || got > m->size) { /* the buffer is sized by the declared size */
        snprintf(l->ovf_err, sizeof l->ovf_err, "descriptor size not declared by the archive");
        return 0;
    }
    if (m->size > OVF_MAX_BYTES) {
        snprintf(l->ovf_err, sizeof l->ovf_err, "descriptor of %llu bytes exceeds the limit of %u",
                 (unsigned long long)m->size, OVF_MAX_BYTES);
        return 0;
    }
    char *text = malloc(m->size + 1);
    if (!text)
        return err_set(err, -ENOMEM, "out of memory");
    memcpy(text, head, got);
    size_t more = 0;
    int r = arc_read_upto(a, path, text + got, m->size - got, &more, err);
    if (r == 0) {
        struct img_err oerr = {0};
        if (ovf_parse(text, got + more, &l->ovf, &oerr) < 0)
            snprintf(l->ovf_err, sizeof l->ovf_err, "%.200s", oerr.msg);
    }
    free(text);
    return r;
}

/* The archive's description: "gzip" for a compressed file, "tar + xz", "zip". */
static void arc_list_desc(struct archive *a, struct arc_list *l)
{
    l->single = arc_is_single(a);
    int nf = archive_filter_count(a);
    char filt[40] = "";
    for (int i = 0; i < nf; i++) {
        const char *fn = archive_filter_name(a, i);
        if (fn && strcmp(fn, "none") != 0 && !filt[0])
            snprintf(filt, sizeof filt, "%s", fn);
    }
    if (l->single)
        snprintf(l->desc, sizeof l->desc, "%s", filt[0] ? filt : "raw");
    else
        snprintf(l->desc, sizeof l->desc, "%s%s%s",
                 archive_format(a) == ARCHIVE_FORMAT_ZIP ? "zip" : "tar", filt[0] ? " + " : "",
                 filt);
}

/* One more member slot in l (bounded by ARC_MAX_MEMBERS). */
static struct arc_member *arc_list_slot(struct arc_list *l, size_t *cap, const char *path,
                                        struct img_err *err)
{
    if (l->n >= ARC_MAX_MEMBERS) {
        err_set(err, -E2BIG, "%s: more than %u members", path, ARC_MAX_MEMBERS);
        return NULL;
    }
    if (l->n == *cap) {
        size_t nc = *cap ? *cap * 2 : 16;
        struct arc_member *v = realloc(l->v, nc * sizeof *v);
        if (!v) {
            err_set(err, -ENOMEM, "out of memory");
            return NULL;
        }
        l->v = v;
        *cap = nc;
    }
    return &l->v[l->n];
}

/* The member the header just read: its fields, and for a regular file its format from the
 * first bytes, its size when undeclared, and the OVF descriptor. */
static int arc_list_member(struct archive *a, struct archive_entry *ent, const char *path,
                           unsigned flags, uint8_t *head, bool *want_ovf, struct arc_list *l,
                           struct arc_member *m, struct img_err *err)
{
    int e = arc_member_fill(a, ent, path, m);
    l->n++;
    if (e < 0)
        return err_set(err, e, "%s: %s", path,
                       e == -ENAMETOOLONG ? "member name too long" : strerror(-e));
    if (m->type != ARC_T_FILE || m->unsafe)
        return 0;
    /* First bytes for the probe (sequential: this is where the stream is). */
    size_t got = 0;
    int r = arc_read_upto(a, path, head, IMG_PROBE_BYTES, &got, err);
    if (r == 0 && arc_is_single(a) && !(flags & ARC_LIST_NO_COUNT))
        r = arc_count_rest(a, path, m, got, err);
    if (r < 0)
        return r;
    arc_probe_head(m, head, got);
    if (*want_ovf && arc_suffix(m->name, ".ovf") && !arc_is_single(a)) {
        *want_ovf = false;
        r = arc_list_ovf(a, path, m, head, got, l, err);
    }
    return r;
}

int arc_list_read_flags(const char *path, unsigned flags, struct arc_list *l, struct img_err *err)
{
    memset(l, 0, sizeof *l);
    err_clear(err);
    if (!(l->path = strdup(path)))
        return err_set(err, -ENOMEM, "out of memory");
    struct arc_src *src = NULL;
    struct archive *a =
        arc_new_budget(path, (flags & ARC_LIST_QUICK) ? ARC_QUICK_BYTES : 0, &src, err);
    if (!a) {
        arc_list_free(l);
        return err->code ? err->code : -EIO;
    }
    uint8_t *head = malloc(IMG_PROBE_BYTES);
    size_t cap = 0;
    bool want_ovf = true;
    int r = head ? 0 : err_set(err, -ENOMEM, "out of memory");
    struct archive_entry *ent;
    while (r == 0) {
        int h = archive_read_next_header(a, &ent);
        if (h == ARCHIVE_EOF)
            break;
        if (h < ARCHIVE_WARN && src->stopped) {
            l->partial = true; /* what was listed so far stands */
            break;
        }
        if (h < ARCHIVE_WARN) {
            r = arc_fail(a, path, err);
            break;
        }
        struct arc_member *m = arc_list_slot(l, &cap, path, err);
        r = m ? arc_list_member(a, ent, path, flags, head, &want_ovf, l, m, err) : err->code;
    }
    if (r < 0 && src->stopped) {
        /* The budget ran out inside a member's data: the listing so far stands. */
        l->partial = true;
        err_clear(err);
        r = 0;
    }
    if (r == 0)
        arc_list_desc(a, l);
    free(head);
    archive_read_free(a);
    if (r < 0)
        arc_list_free(l);
    return r;
}

void arc_list_free(struct arc_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        arc_member_free(&l->v[i]);
    free(l->v);
    free(l->path);
    ovf_free(l->ovf);
    memset(l, 0, sizeof *l);
}

const struct arc_member *arc_list_find(const struct arc_list *l, const char *name)
{
    name = arc_norm(name);
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i].name, name) == 0)
            return &l->v[i];
    return NULL;
}

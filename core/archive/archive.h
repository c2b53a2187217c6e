/* SPDX-License-Identifier: GPL-2.0-or-later */
/* archive.h: looking into archives and compressed files (libarchive, read side).
 *
 * An "archive" is a tar (.ova, .tar, .tar.gz/.tgz, .tar.xz, .tar.zst, .tar.bz2), a zip, or a
 * single compressed file (.gz, .xz, .bz2, .zst), which shows as one member named after the
 * file without its suffix (disk.raw.xz holds disk.raw). Paths name a member as ARCHIVE/MEMBER
 * (cloud.tar.gz/disk.raw). Every archive is hostile:
 * - member names with a ".." component, absolute names, symbolic and hard links are marked
 *   unsafe; they are listed (escaped) but never opened or extracted;
 * - at most ARC_MAX_MEMBERS members and ARC_NAME_MAX bytes per name;
 * - nothing inflates past a member's declared size, nor past arc_inflate_limit() bytes when
 *   the size is not declared (single compressed files): ARC_INFLATE_LIMIT by default, or the
 *   size in the environment variable DIMG_ARCHIVE_LIMIT (e.g. "64G");
 * - only tar, zip and raw streams and the gzip, bzip2, xz/lzma and zstd filters are enabled.
 * Images inside archives are opened with IMG_OPEN_UNTRUSTED only (no external references).
 *
 * Talks to: libarchive, img.h (probing members, the streaming read-only handle), ops.h
 * (convert from a member), io.h (temporary files). Never prints.
 */
#ifndef DIMG_ARCHIVE_H
#define DIMG_ARCHIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/base/err.h"

struct img;
struct ops_convert_req;
struct ovf;

#define ARC_MAX_MEMBERS 100000u
#define ARC_NAME_MAX 4096u
#define ARC_INFLATE_LIMIT (4ull << 40) /* 4 TiB: undeclared sizes stop here */

enum arc_type { ARC_T_FILE, ARC_T_DIR, ARC_T_SYMLINK, ARC_T_HARDLINK, ARC_T_OTHER };

struct arc_member {
    char *name;    /* as stored, "./" prefixes dropped (untrusted bytes) */
    char *display; /* name escaped for display */
    char *link;    /* link target (escaped) for links, else NULL */
    enum arc_type type;
    bool unsafe;     /* ".." component, absolute name, a link, or not a plain name */
    const char *why; /* unsafe: the reason ("absolute path", "symbolic link", ...) */
    bool size_known;
    uint64_t size;         /* bytes of the member (declared) */
    const char *format;    /* driver name probed from the first bytes, NULL if not a file */
    bool raw_guess;        /* format "raw" by fallback */
    uint64_t virtual_size; /* from the image header when cheap to read, else 0 */
};

struct arc_list {
    char *path;    /* the archive */
    char desc[64]; /* "tar", "zip", "gzip", "tar + xz", ... */
    bool single;   /* a single compressed file, not a container */
    bool partial;  /* ARC_LIST_QUICK stopped before the end: more members may follow */
    size_t n;
    struct arc_member *v;
    struct ovf *ovf;   /* parsed descriptor when a member ends in .ovf (first one) */
    char ovf_err[256]; /* why the descriptor could not be parsed, or "" */
};

/* Does the name (suffix) or the first bytes say this is an archive or compressed file? */
bool arc_detect(const char *name, const uint8_t *head, size_t n);
/* Cheaper: the name alone. */
bool arc_name_is_archive(const char *name);

/* Split path into an existing archive file and a member name: 1 and both malloc'd when path
 * is ARCHIVE/MEMBER (the longest prefix that is a regular file with an archive name), 0 when
 * it is not such a path (path itself exists, or no prefix is an archive), -ENOMEM. */
int arc_split(const char *path, char **archive, char **member);

/* Read the whole archive once: its members (probed), the OVF descriptor if any. */
int arc_list_read(const char *path, struct arc_list *l, struct img_err *err);
/* ARC_LIST_NO_COUNT: a single compressed file's size is not counted by inflating it all (the
 * member's size stays unknown): for the interactive browser, which must not stall. */
enum { ARC_LIST_NO_COUNT = 1u << 0, ARC_LIST_QUICK = 1u << 1 };
/* ARC_LIST_QUICK: stop after reading ARC_QUICK_BYTES of the archive file (a compressed tar
 * must be inflated to its end to be listed); the members seen so far are kept and partial is
 * set. */
#define ARC_QUICK_BYTES (32u << 20)
int arc_list_read_flags(const char *path, unsigned flags, struct arc_list *l, struct img_err *err);
void arc_list_free(struct arc_list *l);
/* The member named name (exact, after "./" stripping), or NULL. */
const struct arc_member *arc_list_find(const struct arc_list *l, const char *name);

/* ---- sequential reading of one member ---- */
struct arc_reader;
/* Open archive and position at member (NULL: the single member of a compressed file, or the
 * only file). Unsafe members are refused with the reason. */
struct arc_reader *arc_reader_open(const char *archive, const char *member, struct img_err *err);
/* Walk every member: open, then arc_walk_next() gives 1 when positioned at the next member
 * (arc_reader_member; readable with arc_reader_read when it is a safe file), 0 at the end,
 * -errno on a damaged archive. */
struct arc_reader *arc_walk_open(const char *archive, struct img_err *err);
int arc_walk_next(struct arc_reader *r, struct img_err *err);
/* A single compressed file (one member named after the file)? */
bool arc_walk_single(const struct arc_reader *r);
/* Bytes of the archive file consumed so far (progress). */
uint64_t arc_walk_bytes(const struct arc_reader *r);
/* Read up to len bytes; 0 at the end; -errno with err set (truncated archive, limit hit). */
ssize_t arc_reader_read(struct arc_reader *r, void *buf, size_t len, struct img_err *err);
const struct arc_member *arc_reader_member(const struct arc_reader *r);
void arc_reader_close(struct arc_reader *r);

/* Inflation limit for members of undeclared size (see above). */
uint64_t arc_inflate_limit(void);

/* Copy member's bytes into fd from offset 0 (holes for zero blocks), at most the declared size
 * (or the limit); *copied gets the length. md: nmd OpenSSL EVP_MD_CTX * fed with every byte.
 * tick (optional) gets bytes done; non-zero stops with -ECANCELED. */
int arc_reader_copy_fd(struct arc_reader *r, int fd, uint64_t *copied, void *const *md, size_t nmd,
                       int (*tick)(void *ctx, uint64_t done), void *ctx, struct img_err *err);

/* A read-only image handle reading member sequentially (formats that need no random access:
 * raw, streamOptimized vmdk) through a forward-only byte source (core/block/src_stream.c):
 * reads must go forward (the first SRC_STREAM_HEAD bytes and a short look-back may be read
 * again); a backward read fails. NULL with -ENOTSUP in err when the format needs random
 * access. */
struct img *arc_open_stream_img(const char *archive, const char *member, const char *fmt,
                                struct img_err *err);

/* Convert any request (what `dimg convert` and the convert job call): a source that is
 * ARCHIVE/MEMBER or a compressed file goes through arc_convert, a target through a
 * compression filter (req->filter) is written by export_convert_filtered, everything else is
 * ops_convert. The archive room sits above ops: ops never calls back into it. */
int arc_convert_any(const struct ops_convert_req *req, struct img_err *err);

/* The path for a source that is ARCHIVE/MEMBER or a compressed file: streams raw members;
 * extracts other formats to a temporary file in the target's directory (removed afterwards)
 * and opens it untrusted. */
int arc_convert(const struct ops_convert_req *req, const char *archive, const char *member,
                struct img_err *err);

/* The format probed from member's first bytes (a driver name; "raw" by fallback), and whether
 * convert can stream it (raw, streamOptimized vmdk) rather than copy it to a temporary file. */
int arc_member_format(const char *archive, const char *member, const char **fmt, bool *stream,
                      struct img_err *err);

/* ---- import ---- */
#define ARC_IMPORT_MAX_OUT 64
struct arc_import_req {
    const char *archive;
    const char *dir;               /* existing target directory */
    const char *convert_fmt;       /* NULL: keep the disks as stored; else convert each disk
                                    * (the OVF's disk files, or every non-descriptor member) */
    struct ops_progress *progress; /* may be NULL: bytes of the archive file consumed */
    /* Asked for (--no-manifest): an archive without a manifest is imported unverified, and
     * members a manifest does not cover are left out; without it both are refused. */
    bool no_manifest;
};
struct arc_import_res {
    size_t members;
    size_t left_out; /* members the manifest does not cover, not written (no_manifest) */
    bool manifest;   /* a manifest was found and every member written matched it */
    size_t nwritten;
    char written[ARC_IMPORT_MAX_OUT][4096]; /* files created (after success) */
};
/* Unpack a flat archive (an OVA) into dir (created when missing, one level; removed again on
 * failure): every member must be a plain, safe, unique file
 * name and not exist yet in dir; each is written as NAME.part with its SHA-1/SHA-256
 * computed; a manifest (.mf) must then cover every member with matching digests (the
 * mismatching member is named; see no_manifest); only then are files renamed into place,
 * disks converted when convert_fmt is set. On any failure nothing is left in dir. */
int arc_import(const struct arc_import_req *req, struct arc_import_res *res, struct img_err *err);

/* Is path an archive member or a compressed file to convert from? (archive/member set) */
int arc_convert_source(const char *path, char **archive, char **member);

#endif

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* export.h: writing images out into containers other tools read: a raw image through a
 * compression filter (.xz, .gz, .zst, .bz2) and an OVA appliance (OVF descriptor,
 * streamOptimized vmdk disks and a SHA-256 manifest in a tar).
 *
 * Both go through libarchive's write side (filters, raw and tar formats) and write their
 * result as TARGET.part, renamed into place only when complete; a failure or cancel removes
 * every file they created. Talks to: ops.h (ops_convert for the vmdk disks, the progress
 * struct), ovf_write.h (the descriptor), OpenSSL (SHA-256). Never prints.
 */
#ifndef DIMG_EXPORT_H
#define DIMG_EXPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/block/img.h"
#include "core/ops/ops.h"

/* ---- compressed raw output (ops_convert with req->filter) ---- */
/* The canonical filter name ("xz", "gz", "zst", "bz2") for a user's spelling (also "gzip",
 * "zstd", "bzip2"), or NULL when it is none of them. */
const char *export_filter_name(const char *s);
/* The filter a file name's suffix asks for (".xz" -> "xz"), or NULL. */
const char *export_filter_for_path(const char *path);
/* Stream the guest contents of src (its whole chain; zeros for holes) through the filter
 * req->filter into the new file part (created exclusively), then fsync it and rename it to
 * req->dst. On failure part is removed. Called by ops_convert after its checks. */
int export_convert_filtered(struct img *src, const struct ops_convert_req *req, const char *part,
                            struct img_err *err);

/* For the writers here: archive_write_data all of buf (it may take less per call), and the
 * failure of archive a (its message prefixed with what) into err. Both return 0 / -errno. */
struct archive;
int export_archive_put(struct archive *a, const void *buf, size_t n);
int export_archive_fail(struct archive *a, const char *what, struct img_err *err);

/* ---- OVA ---- */
enum export_controller { EXPORT_CTL_SCSI, EXPORT_CTL_IDE };

struct export_ova_req {
    const char *out;     /* OUT.ova; written as OUT.ova.part, renamed when done */
    const char *name;    /* virtual system name (NULL: OUT's base name without .ova) */
    unsigned cpus;       /* 0: 1 */
    uint64_t memory_mib; /* 0: 1024 */
    enum export_controller controller;
    const char *network;       /* NULL: no NetworkSection and no network adapter */
    const char *const *images; /* the disks, in order */
    size_t nimages;
    const char *fmt;               /* source format for every image (NULL: probe each) */
    unsigned open_flags;           /* extra IMG_OPEN_* for the sources */
    struct ops_progress *progress; /* may be NULL; see export_ova */
};

#define EXPORT_OVA_MAX_DISKS 15 /* one SCSI controller's units (IDE: 4) */
#define EXPORT_OVA_MAX_CPUS 1024
#define EXPORT_OVA_MAX_MEMORY_MIB (16ull << 20) /* 16 TiB */

/* Convert every image to a streamOptimized vmdk in a temporary directory OUT.ova.part.d
 * beside OUT (removed afterwards: the tar header needs each disk's size before its bytes),
 * then write OUT.ova.part as a tar (ustar, pax headers only for members over 8 GiB): NAME.ovf,
 * the disks, NAME.mf with SHA256(member)= lines; fsync it and rename it to OUT. Progress:
 * guest bytes converted, then the disk bytes packed (the total grows by the disks' sizes once
 * they are known). */
int export_ova(const struct export_ova_req *req, struct img_err *err);

/* A decimal count in [1, max] (--cpus, --memory; spaces around it allowed), into *out. */
bool export_parse_count(const char *s, uint64_t max, uint64_t *out);

/* A safe member name: the base name of path (without its last extension when strip_ext),
 * every byte outside [A-Za-z0-9._-] made '_', no leading '.' or '-', at most 64 bytes,
 * "disk" when nothing is left; then ext appended. Writes into buf (cap >= 80). */
void export_member_name(const char *path, bool strip_ext, const char *ext, char *buf, size_t cap);

#endif

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* describe.h: what both faces show about an image or an archive, in one place. core fills a
 * model (struct img_describe: one layer per image of the chain, with its info, snapshots,
 * bitmaps, extents and the guest's partition table; for archives the member list of
 * core/archive/archive.h) and renders it as qemu-img info's human text or JSON. The command
 * line (cli/info.c) sends the rendering to stdout, the interactive browser (tui/) into its
 * info pane. Renderers write only to the stream the caller hands in (a memory stream in both
 * faces); nothing here touches stdout, stderr or the terminal.
 * Talks to: core/block/img.h, core/block/ptable.h, core/archive (the lister, OVF),
 * core/describe/json.h and qtree.h (qemu's member order).
 */
#ifndef DIMG_DESCRIBE_H
#define DIMG_DESCRIBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/block/img.h"
#include "core/block/ptable.h"

/* One image of the chain, as info shows it. */
struct describe_layer {
    struct img *img;
    char *name; /* as qemu shows it: given path, then path_combine'd backing names */
    struct img_info info;
    struct img_snap *snaps;
    size_t nsnaps;
    struct img_bitmap *bitmaps; /* qcow2 persistent dirty bitmaps */
    size_t nbitmaps;
    struct ptable pt;       /* the guest's partition table (top image only) */
    struct img_extent *ext; /* vmdk: the files the descriptor names */
    size_t next;
};

/* An image (and its backing chain when asked for), open while the model lives. */
struct img_describe {
    struct img *top;
    bool chain; /* the whole chain was asked for: JSON prints a list */
    size_t n;
    struct describe_layer *layer; /* layer[0] is the image named */
};

/* Fill d for the image at path (fmt NULL: probe; flags: IMG_OPEN_*; chain: every backing
 * image too). 0, or 1 with the reason in errbuf (d is then empty). */
int describe_image(struct img_describe *d, const char *path, const char *fmt, unsigned flags,
                   bool chain, char *errbuf, size_t errlen);
void describe_image_free(struct img_describe *d);
/* qemu-img info's human text: each layer's block, a blank line between layers. */
void describe_image_human(FILE *f, const struct img_describe *d);
/* qemu-img info --output=json: one object, or a list of them for a chain. */
void describe_image_json(FILE *f, const struct img_describe *d);

/* What `dimg info` shows for path, written to f: an archive or member (describe_archive_write)
 * or else the image. Returns 0, or 1 with the reason in errbuf (f may hold a part). */
int describe_write(FILE *f, const char *path, const char *fmt, unsigned flags, bool chain,
                   bool json, char *errbuf, size_t errlen);

/* Archives (describe_archive.c): what info shows for ARCHIVE or ARCHIVE/MEMBER. Returns -1
 * when path is neither (the caller shows it as an image), else 0 or 1 like describe_write.
 * quick: do not inflate a whole compressed file to learn its size (the interactive pane); then
 * 2, with nothing written, when a member lies past what the quick listing read. */
int describe_archive_write(FILE *f, const char *path, const char *fmt, bool json, bool quick,
                           char *errbuf, size_t errlen);
/* A member's format and sizes as info shows them ("file format:", "member size:" when
 * size_known, "virtual size:" when not 0): also the pane's lines for a member it knows from
 * a full listing. */
void describe_member_facts(FILE *f, const char *format, bool raw_guess, bool size_known,
                           uint64_t size, uint64_t virtual_size);

/* qemu-img's size_to_str: "16 MiB", "196 KiB", "1.5 GiB", "0.977 MiB". */
const char *describe_size_str(uint64_t v, char *buf, size_t n);
/* qemu's path_combine: name relative to base's directory (as qemu shows backing files);
 * malloc'd, NULL when out of memory. */
char *describe_path_combine(const char *base, const char *name);
/* The "Snapshot list:" block of qemu-img snapshot -l and info (nothing when n is 0). */
void describe_snap_table(FILE *f, const struct img_snap *v, size_t n);

#endif

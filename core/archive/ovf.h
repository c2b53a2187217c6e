/* SPDX-License-Identifier: GPL-2.0-or-later */
/* ovf.h: a small, tolerant reader of OVF descriptors (the .ovf inside an OVA).
 *
 * Takes the descriptor's bytes (at most OVF_MAX_BYTES) and pulls out what dimg shows: the
 * file references, the disks (file, capacity, populated size, format URI) and the virtual
 * hardware summary (name, CPUs, memory, storage controllers). It is not a validating XML
 * parser: tags and attributes are matched by local name (namespace prefixes ignored), only
 * the five predefined entities and numeric character references are decoded, and a document
 * with a DOCTYPE (where entity definitions and external references would live) is refused.
 *
 * Talks to: nothing (pure). Callers: core/archive/archive.c, cli/archive.c.
 */
#ifndef DIMG_OVF_H
#define DIMG_OVF_H

#include <stddef.h>
#include <stdint.h>

#include "core/base/err.h"

#define OVF_MAX_BYTES (1u << 20) /* a bigger descriptor is refused */
#define OVF_MAX_ITEMS 256        /* files, disks, controllers: more are refused */

struct ovf_file {
    char id[64];
    char href[256];
    uint64_t size; /* ovf:size, 0 when absent */
};

struct ovf_disk {
    char id[64];
    char file_ref[64];
    char href[256];          /* the referenced file's name ("" when it has none) */
    uint64_t capacity;       /* bytes (capacity x allocation units) */
    uint64_t populated_size; /* bytes, 0 when absent */
    char format[160];        /* format URI (…#streamOptimized) */
};

struct ovf_controller {
    char type[48];     /* "IDE", "SCSI lsilogic", "SATA AHCI", ... */
    unsigned instance; /* rasd:InstanceID */
};

struct ovf {
    char name[128];  /* VirtualSystem id or Name */
    char os[128];    /* OperatingSystemSection description, "" when absent */
    unsigned cpus;   /* 0 when absent */
    uint64_t memory; /* bytes, 0 when absent */
    size_t nfiles, ndisks, nctrl, nnet;
    struct ovf_file files[OVF_MAX_ITEMS];
    struct ovf_disk disks[OVF_MAX_ITEMS];
    struct ovf_controller ctrl[OVF_MAX_ITEMS];
};

/* Parse len bytes of descriptor text into a malloc'd struct ovf (*out); 0 or -errno with a
 * one-line reason in err. */
int ovf_parse(const char *text, size_t len, struct ovf **out, struct img_err *err);
void ovf_free(struct ovf *o);

/* Parse "byte * 2^30", "MegaBytes", "byte", ... into a multiplier; 0 or -EINVAL. */
int ovf_units(const char *s, uint64_t *mult);

#endif

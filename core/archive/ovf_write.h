/* SPDX-License-Identifier: GPL-2.0-or-later */
/* ovf_write.h: the text of an OVF 1.0 descriptor for an appliance dimg exports: References
 * (one File per disk), DiskSection (capacity and populated size in bytes, streamOptimized
 * vmdk), an optional NetworkSection, and one minimal VirtualSystem (CPUs, memory, one SCSI or
 * IDE controller with the disks attached, a network adapter when there is a network).
 *
 * Pure text building: no I/O. Every string from the user is XML-escaped. Used by
 * core/archive/export_ova.c; the reading side (core/archive/ovf.c) is separate.
 */
#ifndef DIMG_OVF_WRITE_H
#define DIMG_OVF_WRITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/base/err.h"

struct ovf_disk {
    const char *href;   /* member name in the OVA */
    uint64_t file_size; /* bytes of the member */
    uint64_t capacity;  /* virtual size in bytes */
    uint64_t populated; /* bytes of guest data stored */
};

struct ovf_system {
    const char *name; /* VirtualSystem id and Name */
    unsigned cpus;
    uint64_t memory_mib;
    bool ide;            /* IDE controllers instead of one SCSI (LSI Logic) controller */
    const char *network; /* NULL: none */
    const struct ovf_disk *disks;
    size_t ndisks; /* SCSI: up to 15; IDE: up to 4 (two controllers, two each) */
};

/* The descriptor as a NUL-terminated malloc'd string (*len its length), or NULL with err set
 * (too many disks for the controller, out of memory). */
char *ovf_write(const struct ovf_system *sys, size_t *len, struct img_err *err);

/* Write s to f escaped for XML text and attribute values: &, <, >, " and ' as entities, tab,
 * CR and LF as character references (attribute values would fold them to spaces), other
 * control bytes and bytes that are not well-formed UTF-8 as '?' (XML 1.0 cannot carry them). */
void ovf_xml_escape(FILE *f, const char *s);

#endif

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* ovf_write.c: builds the OVF 1.0 descriptor of an exported appliance (see ovf_write.h).
 * The rasd and vssd elements are written in the alphabetical order the CIM schemas give them,
 * so that validating readers (ovftool, VirtualBox) accept the file.
 * Talks to: err.h only.
 */
#include "core/archive/ovf_write.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* Length of the well-formed UTF-8 sequence at p (1..4), or 0 (overlong forms, surrogates,
 * code points past U+10FFFF and U+FFFE/U+FFFF, which XML excludes, count as malformed). */
static size_t ovf_utf8_len(const unsigned char *p)
{
    uint32_t cp;
    size_t n;
    if (p[0] < 0x80)
        return 1;
    if ((p[0] & 0xe0) == 0xc0) {
        cp = p[0] & 0x1f;
        n = 2;
    } else if ((p[0] & 0xf0) == 0xe0) {
        cp = p[0] & 0x0f;
        n = 3;
    } else if ((p[0] & 0xf8) == 0xf0) {
        cp = p[0] & 0x07;
        n = 4;
    } else {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80) /* also stops at the NUL */
            return 0;
        cp = cp << 6 | (p[i] & 0x3f);
    }
    static const uint32_t min[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) || cp == 0xfffe ||
        cp == 0xffff)
        return 0;
    return n;
}

void ovf_xml_escape(FILE *f, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        switch (*p) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&apos;", f); break;
        case '\t': fputs("&#9;", f); break;
        case '\n': fputs("&#10;", f); break;
        case '\r': fputs("&#13;", f); break;
        default: {
            size_t n = *p < 0x20 || *p == 0x7f ? 0 : ovf_utf8_len(p);
            if (n == 0) {
                fputc('?', f);
                p++;
            } else {
                fwrite(p, 1, n, f);
                p += n;
            }
            continue;
        }
        }
        p++;
    }
}

/* One <Item> of the hardware section; fields that are NULL are left out. The order of the
 * arguments is the schema's (alphabetical) order. */
struct ovf_item {
    const char *address, *address_on_parent, *allocation_units, *caption, *description,
        *element_name, *host_resource;
    unsigned instance_id;
    const char *parent, *resource_subtype;
    unsigned resource_type;
    const char *virtual_quantity;
};

static void ovf_rasd(FILE *f, const char *tag, const char *val)
{
    if (!val)
        return;
    fprintf(f, "        <rasd:%s>", tag);
    ovf_xml_escape(f, val);
    fprintf(f, "</rasd:%s>\n", tag);
}

static void ovf_put_item(FILE *f, const struct ovf_item *it)
{
    char id[16], type[16];
    snprintf(id, sizeof id, "%u", it->instance_id);
    snprintf(type, sizeof type, "%u", it->resource_type);
    fputs("      <Item>\n", f);
    ovf_rasd(f, "Address", it->address);
    ovf_rasd(f, "AddressOnParent", it->address_on_parent);
    ovf_rasd(f, "AllocationUnits", it->allocation_units);
    ovf_rasd(f, "Caption", it->caption);
    ovf_rasd(f, "Description", it->description);
    ovf_rasd(f, "ElementName", it->element_name);
    ovf_rasd(f, "HostResource", it->host_resource);
    ovf_rasd(f, "InstanceID", id);
    ovf_rasd(f, "Parent", it->parent);
    ovf_rasd(f, "ResourceSubType", it->resource_subtype);
    ovf_rasd(f, "ResourceType", type);
    ovf_rasd(f, "VirtualQuantity", it->virtual_quantity);
    fputs("      </Item>\n", f);
}

/* CIM resource types (DSP1041). */
enum {
    OVF_RT_CPU = 3,
    OVF_RT_MEMORY = 4,
    OVF_RT_IDE = 5,
    OVF_RT_SCSI = 6,
    OVF_RT_ETHERNET = 10,
    OVF_RT_DISK = 17,
};

#define OVF_VMDK_STREAM "http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized"

static void ovf_put_hardware(FILE *f, const struct ovf_system *sys)
{
    char buf[4][64];
    unsigned id = 1;
    fputs("    <VirtualHardwareSection>\n"
          "      <Info>Virtual hardware requirements</Info>\n"
          "      <System>\n"
          "        <vssd:ElementName>Virtual Hardware Family</vssd:ElementName>\n"
          "        <vssd:InstanceID>0</vssd:InstanceID>\n"
          "        <vssd:VirtualSystemIdentifier>",
          f);
    ovf_xml_escape(f, sys->name);
    /* vmx-07 is the family every importer we know of accepts (VirtualBox ignores it). */
    fputs("</vssd:VirtualSystemIdentifier>\n"
          "        <vssd:VirtualSystemType>vmx-07</vssd:VirtualSystemType>\n"
          "      </System>\n",
          f);

    snprintf(buf[0], sizeof buf[0], "%u virtual CPU(s)", sys->cpus);
    snprintf(buf[1], sizeof buf[1], "%u", sys->cpus);
    ovf_put_item(f, &(struct ovf_item){.allocation_units = "hertz * 10^6",
                                       .description = "Number of virtual CPUs",
                                       .element_name = buf[0],
                                       .instance_id = id++,
                                       .resource_type = OVF_RT_CPU,
                                       .virtual_quantity = buf[1]});
    snprintf(buf[0], sizeof buf[0], "%" PRIu64 " MB of memory", sys->memory_mib);
    snprintf(buf[1], sizeof buf[1], "%" PRIu64, sys->memory_mib);
    ovf_put_item(f, &(struct ovf_item){.allocation_units = "byte * 2^20",
                                       .description = "Memory Size",
                                       .element_name = buf[0],
                                       .instance_id = id++,
                                       .resource_type = OVF_RT_MEMORY,
                                       .virtual_quantity = buf[1]});

    /* Controllers: one SCSI, or the two IDE channels (two disks each). */
    unsigned nctl = sys->ide ? (sys->ndisks > 2 ? 2 : 1) : 1;
    unsigned ctl_id = id;
    for (unsigned c = 0; c < nctl; c++) {
        snprintf(buf[0], sizeof buf[0], "%u", c);
        snprintf(buf[1], sizeof buf[1], "%sController%u", sys->ide ? "IDE" : "SCSI", c);
        ovf_put_item(
            f, &(struct ovf_item){.address = buf[0],
                                  .description = sys->ide ? "IDE Controller" : "SCSI Controller",
                                  .element_name = buf[1],
                                  .instance_id = id++,
                                  .resource_subtype = sys->ide ? NULL : "lsilogic",
                                  .resource_type = sys->ide ? OVF_RT_IDE : OVF_RT_SCSI});
    }
    for (size_t i = 0; i < sys->ndisks; i++) {
        /* IDE: master and slave of two channels; SCSI: units 0-15 but 7, the controller's. */
        unsigned per = sys->ide ? 2 : 16;
        size_t unit = sys->ide ? i % 2 : (i < 7 ? i : i + 1);
        snprintf(buf[0], sizeof buf[0], "%zu", unit);
        snprintf(buf[1], sizeof buf[1], "disk%zu", i + 1);
        snprintf(buf[2], sizeof buf[2], "ovf:/disk/vmdisk%zu", i + 1);
        snprintf(buf[3], sizeof buf[3], "%u", ctl_id + (unsigned)(i / per));
        ovf_put_item(f, &(struct ovf_item){.address_on_parent = buf[0],
                                           .element_name = buf[1],
                                           .host_resource = buf[2],
                                           .instance_id = id++,
                                           .parent = buf[3],
                                           .resource_type = OVF_RT_DISK});
    }
    if (sys->network) {
        fputs("      <Item>\n"
              "        <rasd:AddressOnParent>0</rasd:AddressOnParent>\n"
              "        <rasd:AutomaticAllocation>true</rasd:AutomaticAllocation>\n"
              "        <rasd:Connection>",
              f);
        ovf_xml_escape(f, sys->network);
        fprintf(f,
                "</rasd:Connection>\n"
                "        <rasd:Description>E1000 ethernet adapter</rasd:Description>\n"
                "        <rasd:ElementName>ethernet0</rasd:ElementName>\n"
                "        <rasd:InstanceID>%u</rasd:InstanceID>\n"
                "        <rasd:ResourceSubType>E1000</rasd:ResourceSubType>\n"
                "        <rasd:ResourceType>%d</rasd:ResourceType>\n"
                "      </Item>\n",
                id++, OVF_RT_ETHERNET);
    }
    fputs("    </VirtualHardwareSection>\n", f);
}

char *ovf_write(const struct ovf_system *sys, size_t *len, struct img_err *err)
{
    size_t max = sys->ide ? 4 : 15;
    if (sys->ndisks == 0 || sys->ndisks > max)
        return err_set(err, -EINVAL, "an appliance holds 1 to %zu disks on %s, not %zu", max,
                       sys->ide ? "IDE" : "SCSI", sys->ndisks),
               NULL;
    char *text = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&text, &n);
    if (!f)
        return err_set(err, -ENOMEM, "out of memory"), NULL;

    fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
          "<Envelope ovf:version=\"1.0\" xml:lang=\"en-US\""
          " xmlns=\"http://schemas.dmtf.org/ovf/envelope/1\""
          " xmlns:ovf=\"http://schemas.dmtf.org/ovf/envelope/1\""
          " xmlns:rasd=\"http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/"
          "CIM_ResourceAllocationSettingData\""
          " xmlns:vssd=\"http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/"
          "CIM_VirtualSystemSettingData\""
          " xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">\n"
          "  <References>\n",
          f);
    for (size_t i = 0; i < sys->ndisks; i++) {
        fprintf(f, "    <File ovf:href=\"");
        ovf_xml_escape(f, sys->disks[i].href);
        fprintf(f, "\" ovf:id=\"file%zu\" ovf:size=\"%" PRIu64 "\"/>\n", i + 1,
                sys->disks[i].file_size);
    }
    fputs("  </References>\n"
          "  <DiskSection>\n"
          "    <Info>List of the virtual disks</Info>\n",
          f);
    for (size_t i = 0; i < sys->ndisks; i++)
        fprintf(f,
                "    <Disk ovf:capacity=\"%" PRIu64 "\" ovf:capacityAllocationUnits=\"byte\""
                " ovf:diskId=\"vmdisk%zu\" ovf:fileRef=\"file%zu\" ovf:format=\"%s\""
                " ovf:populatedSize=\"%" PRIu64 "\"/>\n",
                sys->disks[i].capacity, i + 1, i + 1, OVF_VMDK_STREAM, sys->disks[i].populated);
    fputs("  </DiskSection>\n", f);
    if (sys->network) {
        fputs("  <NetworkSection>\n"
              "    <Info>The list of logical networks</Info>\n"
              "    <Network ovf:name=\"",
              f);
        ovf_xml_escape(f, sys->network);
        fputs("\">\n"
              "      <Description>The network the adapter connects to</Description>\n"
              "    </Network>\n"
              "  </NetworkSection>\n",
              f);
    }
    fputs("  <VirtualSystem ovf:id=\"", f);
    ovf_xml_escape(f, sys->name);
    fputs("\">\n"
          "    <Info>A virtual machine</Info>\n"
          "    <Name>",
          f);
    ovf_xml_escape(f, sys->name);
    /* Operating system 1 is CIM's "Other": dimg does not know what the disks hold. */
    fputs("</Name>\n"
          "    <OperatingSystemSection ovf:id=\"1\">\n"
          "      <Info>The kind of installed guest operating system</Info>\n"
          "    </OperatingSystemSection>\n",
          f);
    ovf_put_hardware(f, sys);
    fputs("  </VirtualSystem>\n"
          "</Envelope>\n",
          f);
    if (fclose(f) != 0 || !text) {
        free(text);
        return err_set(err, -ENOMEM, "out of memory"), NULL;
    }
    *len = n;
    return text;
}

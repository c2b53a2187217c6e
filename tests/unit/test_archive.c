/* SPDX-License-Identifier: GPL-2.0-or-later */
/* test_archive.c: unit tests for core/archive/ovf.c (descriptors as ovftool and VirtualBox write
 * them, units, hostile XML: DOCTYPE/entities, truncation, overflow, size limit) and
 * core/archive/archive.c with archives written here by libarchive's own writer, so that names GNU
 * tar would rewrite can be stored as they are: "../" and absolute names, symbolic and hard links, a
 * sparse member declaring far more than it stores, a member truncated mid-data. Checks the listing
 * (probed formats, sizes, refusals), the sequential reader (content, holes as zeros,
 * truncation as one error) and scan_open_archive (the browser's view of an archive). */
#include "testutil.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/archive/archive.h"
#include "core/block/driver.h"
#include "core/archive/ovf.h"
#include "core/scan/scan.h"

/* ---- OVF ---- */

static const char ovf_vbox[] =
    "<?xml version=\"1.0\"?>\n"
    "<Envelope ovf:version=\"1.0\" xml:lang=\"en-US\" "
    "xmlns=\"http://schemas.dmtf.org/ovf/envelope/1\"\n"
    " xmlns:ovf=\"http://schemas.dmtf.org/ovf/envelope/1\" xmlns:rasd=\"x\" xmlns:vbox=\"y\">\n"
    "  <References>\n"
    "    <File ovf:id=\"file1\" ovf:href=\"vm-disk001.vmdk\"/>\n"
    "    <File ovf:id=\"file2\" ovf:href=\"vm-disk002.vmdk\" ovf:size=\"4096\"/>\n"
    "  </References>\n"
    "  <DiskSection>\n"
    "    <Info>List of the virtual disks used in the package</Info>\n"
    "    <Disk ovf:capacity=\"21474836480\" ovf:diskId=\"vmdisk1\" ovf:fileRef=\"file1\"\n"
    "      "
    "ovf:format=\"http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized\"/>\n"
    "    <Disk ovf:capacity=\"2\" ovf:capacityAllocationUnits=\"byte * 2^30\" "
    "ovf:diskId=\"vmdisk2\"\n"
    "      ovf:fileRef=\"file2\" ovf:populatedSize=\"1048576\"/>\n"
    "  </DiskSection>\n"
    "  <VirtualSystem ovf:id=\"vm\">\n"
    "    <Info>A virtual machine</Info>\n"
    "    <OperatingSystemSection ovf:id=\"96\"><Info>x</Info><Description>Debian_64</Description>"
    "</OperatingSystemSection>\n"
    "    <VirtualHardwareSection>\n"
    "      <Item><rasd:Caption>1 virtual CPU</rasd:Caption><rasd:InstanceID>1</rasd:InstanceID>"
    "<rasd:ResourceType>3</rasd:ResourceType><rasd:VirtualQuantity>1</rasd:VirtualQuantity></"
    "Item>\n"
    "      "
    "<Item><rasd:AllocationUnits>MegaBytes</rasd:AllocationUnits><rasd:InstanceID>2</"
    "rasd:InstanceID>"
    "<rasd:ResourceType>4</rasd:ResourceType><rasd:VirtualQuantity>512</rasd:VirtualQuantity></"
    "Item>\n"
    "      "
    "<Item><rasd:InstanceID>3</rasd:InstanceID><rasd:ResourceSubType>PIIX4</rasd:ResourceSubType>"
    "<rasd:ResourceType>5</rasd:ResourceType></Item>\n"
    "      "
    "<Item><rasd:InstanceID>4</rasd:InstanceID><rasd:ResourceSubType>AHCI</rasd:ResourceSubType>"
    "<rasd:ResourceType>20</rasd:ResourceType></Item>\n"
    "      "
    "<Item><rasd:InstanceID>5</rasd:InstanceID><rasd:ResourceType>10</rasd:ResourceType></Item>\n"
    "    </VirtualHardwareSection>\n"
    "  </VirtualSystem>\n"
    "</Envelope>\n";

static void test_ovf_vbox(void **state)
{
    struct ovf *o;
    struct img_err err = {0};
    assert_int_equal(ovf_parse(ovf_vbox, strlen(ovf_vbox), &o, &err), 0);
    assert_string_equal(o->name, "vm");
    assert_string_equal(o->os, "Debian_64");
    assert_int_equal(o->cpus, 1);
    assert_true(o->memory == 512ull << 20);
    assert_int_equal(o->nctrl, 2);
    assert_string_equal(o->ctrl[0].type, "IDE PIIX4");
    assert_string_equal(o->ctrl[1].type, "SATA AHCI");
    assert_int_equal(o->nnet, 1);
    assert_int_equal(o->ndisks, 2);
    assert_string_equal(o->disks[0].href, "vm-disk001.vmdk");
    assert_true(o->disks[0].capacity == 21474836480ull);
    assert_string_equal(o->disks[1].href, "vm-disk002.vmdk");
    assert_true(o->disks[1].capacity == 2ull << 30);
    assert_true(o->disks[1].populated_size == 1048576);
    assert_int_equal(o->nfiles, 2);
    assert_true(o->files[1].size == 4096);
    ovf_free(o);
}

static void expect_ovf_error(const char *text, size_t len, const char *word)
{
    struct ovf *o = NULL;
    struct img_err err = {0};
    int r = ovf_parse(text, len, &o, &err);
    if (r == 0 || !strstr(err.msg, word))
        fail_msg("want an error naming '%s', got %d '%s'", word, r, err.msg);
    assert_null(o);
}

static void test_ovf_hostile(void **state)
{
    /* Entity definitions (billion laughs) and external entities live in a DOCTYPE. */
    const char *laughs = "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\">"
                         "<!ENTITY lol2 \"&lol;&lol;&lol;\">]><Envelope>&lol2;</Envelope>";
    expect_ovf_error(laughs, strlen(laughs), "document type");
    const char *ext = "<!DOCTYPE x SYSTEM \"file:///etc/passwd\"><Envelope/>";
    expect_ovf_error(ext, strlen(ext), "document type");
    /* An undefined entity is left as written, never looked up. */
    const char *undef = "<Envelope><VirtualSystem ovf:id=\"a&xxe;b\"/></Envelope>";
    struct ovf *o;
    struct img_err err = {0};
    assert_int_equal(ovf_parse(undef, strlen(undef), &o, &err), 0);
    assert_string_equal(o->name, "a&xxe;b");
    ovf_free(o);
    /* Truncated in the middle, mismatched tags, more than one root. */
    expect_ovf_error(ovf_vbox, strlen(ovf_vbox) / 2, "");
    const char *mism = "<Envelope><References></Envelope>";
    expect_ovf_error(mism, strlen(mism), "mismatched");
    const char *roots = "<Envelope><VirtualSystem ovf:id=\"a\"/></Envelope><Envelope/>";
    expect_ovf_error(roots, strlen(roots), "more than one root");
    /* Capacities that overflow 64 bits, units nobody defines. */
    const char *big = "<Envelope><DiskSection><Disk ovf:diskId=\"d\" ovf:capacity=\"17179869184\" "
                      "ovf:capacityAllocationUnits=\"byte * 2^40\"/></DiskSection></Envelope>";
    expect_ovf_error(big, strlen(big), "overflows");
    const char *digits = "<Envelope><DiskSection><Disk ovf:diskId=\"d\" "
                         "ovf:capacity=\"99999999999999999999999\"/></DiskSection></Envelope>";
    expect_ovf_error(digits, strlen(digits), "not a number");
    const char *units = "<Envelope><DiskSection><Disk ovf:diskId=\"d\" ovf:capacity=\"1\" "
                        "ovf:capacityAllocationUnits=\"furlongs\"/></DiskSection></Envelope>";
    expect_ovf_error(units, strlen(units), "not understood");
    /* Deep nesting and the size limit. */
    char deep[2048] = "";
    for (int i = 0; i < 100; i++)
        strcat(deep, "<a>");
    expect_ovf_error(deep, strlen(deep), "nested too deeply");
    size_t n = OVF_MAX_BYTES + 1;
    char *huge = malloc(n);
    assert_non_null(huge);
    memset(huge, ' ', n);
    expect_ovf_error(huge, n, "exceeds the limit");
    free(huge);
    /* Not OVF at all. */
    const char *html = "<html><body>hi</body></html>";
    expect_ovf_error(html, strlen(html), "not OVF");
}

static void test_ovf_units(void **state)
{
    uint64_t m;
    assert_int_equal(ovf_units("byte", &m), 0);
    assert_true(m == 1);
    assert_int_equal(ovf_units("byte * 2^20", &m), 0);
    assert_true(m == 1u << 20);
    assert_int_equal(ovf_units("GigaBytes", &m), 0);
    assert_true(m == 1u << 30);
    assert_int_equal(ovf_units("byte * 10^3", &m), 0);
    assert_true(m == 1000);
    assert_int_equal(ovf_units("byte * 2^64", &m), -EINVAL);
    assert_int_equal(ovf_units("byte * 2^", &m), -EINVAL);
    assert_int_equal(ovf_units("", &m), -EINVAL);
}

/* ---- archives written by libarchive's writer ---- */

struct member_spec {
    const char *name;
    mode_t type;      /* AE_IFREG, AE_IFLNK, or 0 for a hard link */
    const char *link; /* link target */
    const void *data;
    size_t len;
    int64_t declared;    /* -1: len */
    int64_t sparse_size; /* > 0: a sparse member of this size holding data at its start */
};

static void write_tar(const char *path, const struct member_spec *m, size_t n)
{
    struct archive *a = archive_write_new();
    assert_non_null(a);
    archive_write_set_format_pax_restricted(a);
    assert_int_equal(archive_write_open_filename(a, path), ARCHIVE_OK);
    for (size_t i = 0; i < n; i++) {
        struct archive_entry *e = archive_entry_new();
        archive_entry_set_pathname(e, m[i].name);
        archive_entry_set_perm(e, 0644);
        if (m[i].type == 0) {
            archive_entry_set_filetype(e, AE_IFREG);
            archive_entry_set_hardlink(e, m[i].link);
            archive_entry_set_size(e, 0);
        } else if (m[i].type == AE_IFLNK) {
            archive_entry_set_filetype(e, AE_IFLNK);
            archive_entry_set_symlink(e, m[i].link);
        } else {
            archive_entry_set_filetype(e, AE_IFREG);
            if (m[i].sparse_size > 0) {
                archive_entry_sparse_add_entry(e, 0, (int64_t)m[i].len);
                archive_entry_set_size(e, m[i].sparse_size);
            } else {
                archive_entry_set_size(e, m[i].declared >= 0 ? m[i].declared : (int64_t)m[i].len);
            }
        }
        assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
        if (m[i].len)
            assert_true(archive_write_data(a, m[i].data, m[i].len) == (la_ssize_t)m[i].len);
        archive_entry_free(e);
    }
    archive_write_close(a);
    archive_write_free(a);
}

static void test_list_hostile_members(void **state)
{
    uint8_t qhead[512] = {'Q', 'F', 'I', 0xfb, 0, 0, 0, 3};
    qhead[24 + 4] = 0x40; /* virtual size 1 GiB (big-endian at 24) */
    qhead[20 + 3] = 16;   /* cluster_bits */
    char raw[3000];
    tu_pattern(raw, sizeof raw, 0, 7);
    const struct member_spec ms[] = {
        {"./disk.raw", AE_IFREG, NULL, raw, sizeof raw, -1, 0},
        {"inner.qcow2", AE_IFREG, NULL, qhead, sizeof qhead, -1, 0},
        {"../escape.raw", AE_IFREG, NULL, raw, 10, -1, 0},
        {"/etc/cron.d/evil", AE_IFREG, NULL, raw, 10, -1, 0},
        {"a/../../b", AE_IFREG, NULL, raw, 10, -1, 0},
        {"link.vmdk", AE_IFLNK, "/etc/shadow", NULL, 0, -1, 0},
        {"hard.raw", 0, "disk.raw", NULL, 0, -1, 0},
    };
    const char *path = tu_path("hostile.tar");
    write_tar(path, ms, sizeof ms / sizeof *ms);

    struct arc_list l;
    struct img_err err = {0};
    assert_int_equal(arc_list_read(path, &l, &err), 0);
    assert_int_equal(l.n, 7);
    assert_string_equal(l.v[0].name, "disk.raw");
    assert_false(l.v[0].unsafe);
    assert_string_equal(l.v[0].format, "raw");
    assert_true(l.v[0].raw_guess);
    assert_true(l.v[0].size == sizeof raw);
    assert_string_equal(l.v[1].format, "qcow2");
    assert_true(l.v[1].virtual_size == 1ull << 30);
    assert_true(l.v[2].unsafe);
    assert_string_equal(l.v[2].why, "'..' in the path");
    assert_string_equal(l.v[3].why, "absolute path");
    assert_string_equal(l.v[4].why, "'..' in the path");
    assert_int_equal(l.v[5].type, ARC_T_SYMLINK);
    assert_string_equal(l.v[5].link, "/etc/shadow");
    assert_int_equal(l.v[6].type, ARC_T_HARDLINK);
    assert_true(l.v[6].unsafe);
    arc_list_free(&l);

    /* The reader gives a safe member's bytes and refuses every unsafe one. */
    struct arc_reader *r = arc_reader_open(path, "disk.raw", &err);
    assert_non_null(r);
    char buf[4000];
    ssize_t k = arc_reader_read(r, buf, sizeof buf, &err);
    assert_int_equal(k, sizeof raw);
    assert_memory_equal(buf, raw, sizeof raw);
    assert_int_equal(arc_reader_read(r, buf, sizeof buf, &err), 0);
    arc_reader_close(r);
    const char *bad[] = {"../escape.raw", "/etc/cron.d/evil", "a/../../b", "link.vmdk", "hard.raw"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_null(arc_reader_open(path, bad[i], &err));
        assert_int_equal(err.code, -EPERM);
        assert_non_null(strstr(err.msg, "refused"));
    }
    assert_null(arc_reader_open(path, "nothing", &err));
    assert_int_equal(err.code, -ENOENT);

    /* The browser's view: ".." first, members sorted, refused ones as errors. */
    struct scan_dir *d = scan_open_archive(path, &err);
    assert_non_null(d);
    assert_true(scan_is_archive(d));
    assert_int_equal(scan_count(d), 8);
    assert_true(scan_entry(d, 0)->is_dotdot);
    size_t ok = 0, refused = 0;
    for (size_t i = 1; i < scan_count(d); i++) {
        const struct scan_entry *e = scan_entry(d, i);
        if (scan_entry_state(e) == SCAN_DONE) {
            ok++;
            if (!strcmp(e->name, "inner.qcow2")) {
                assert_string_equal(e->format, "qcow2");
                assert_true(e->virtual_size == 1ull << 30);
            }
        } else {
            assert_int_equal(scan_entry_state(e), SCAN_ERROR);
            assert_non_null(strstr(e->msg, "refused"));
            refused++;
        }
    }
    assert_int_equal(ok, 2);
    assert_int_equal(refused, 5);
    assert_int_equal(scan_reprobe(d, 1), -ECANCELED);
    scan_close(d);
}

static void test_sparse_and_truncated(void **state)
{
    char data[8192];
    tu_pattern(data, sizeof data, 0, 3);
    /* A sparse member: 8 KiB of data, then 64 MiB of hole; read back as data + zeros. */
    const struct member_spec sp[] = {
        {"sparse.raw", AE_IFREG, NULL, data, sizeof data, -1, 64 << 20},
    };
    const char *path = tu_path("sparse.tar");
    write_tar(path, sp, 1);
    struct img_err err = {0};
    struct arc_reader *r = arc_reader_open(path, "sparse.raw", &err);
    assert_non_null(r);
    assert_true(arc_reader_member(r)->size == 64u << 20);
    uint8_t *buf = malloc(1 << 20);
    assert_non_null(buf);
    uint64_t total = 0;
    bool zeros_ok = true;
    for (;;) {
        ssize_t k = arc_reader_read(r, buf, 1 << 20, &err);
        assert_true(k >= 0);
        if (k == 0)
            break;
        for (ssize_t i = 0; i < k; i++) {
            uint64_t off = total + (uint64_t)i;
            uint8_t want = off < sizeof data ? (uint8_t)data[off] : 0;
            if (buf[i] != want)
                zeros_ok = false;
        }
        total += (uint64_t)k;
    }
    assert_true(zeros_ok);
    assert_true(total == 64u << 20);
    arc_reader_close(r);

    /* The limit refuses a member declaring more than it allows, before reading it. */
    setenv("DIMG_ARCHIVE_LIMIT", "16M", 1);
    assert_null(arc_reader_open(path, "sparse.raw", &err));
    assert_int_equal(err.code, -EFBIG);
    assert_non_null(strstr(err.msg, "over the limit of 16 MiB"));
    unsetenv("DIMG_ARCHIVE_LIMIT");

    /* A member cut short: one error from the reader, no crash, no endless loop. */
    const struct member_spec one[] = {{"disk.raw", AE_IFREG, NULL, data, sizeof data, -1, 0}};
    const char *full = tu_path("full.tar"), *cut = tu_path("cut.tar");
    write_tar(full, one, 1);
    assert_int_equal(tu_sh("head -c 4608 '%s' >'%s'", full, cut), 0);
    r = arc_reader_open(cut, "disk.raw", &err);
    assert_non_null(r);
    ssize_t k, got = 0;
    while ((k = arc_reader_read(r, buf, 1 << 20, &err)) > 0)
        got += k;
    assert_true(k < 0);
    assert_true(got < (ssize_t)sizeof data);
    assert_non_null(strstr(err.msg, "cut.tar"));
    arc_reader_close(r);
    struct arc_list l;
    assert_true(arc_list_read(cut, &l, &err) < 0);
    free(buf);
}

static void test_split(void **state)
{
    const struct member_spec one[] = {{"d.raw", AE_IFREG, NULL, "x", 1, -1, 0}};
    write_tar(tu_path("s.tar"), one, 1);
    char *a, *m;
    char p[4200];
    snprintf(p, sizeof p, "%s/s.tar/d.raw", tu_dir());
    assert_int_equal(arc_split(p, &a, &m), 1);
    assert_string_equal(a, tu_path("s.tar"));
    assert_string_equal(m, "d.raw");
    free(a);
    free(m);
    /* The archive itself, a missing file, a directory: not archive members. */
    assert_int_equal(arc_split(tu_path("s.tar"), &a, &m), 0);
    snprintf(p, sizeof p, "%s/none.tar/d.raw", tu_dir());
    assert_int_equal(arc_split(p, &a, &m), 0);
    assert_true(arc_name_is_archive("x.OVA") && arc_name_is_archive("a.raw.zst"));
    assert_false(arc_name_is_archive("disk.qcow2"));
}

/* The quick listing (the browser's info pane) stops after ARC_QUICK_BYTES of a compressed tar
 * and says so; a plain tar is skipped through by seeking, so it is listed whole; the full
 * listing always reaches the end. */
static void test_quick_listing(void **state)
{
    const char *d = tu_dir();
    assert_int_equal(
        tu_sh("cd '%s' && head -c 40M /dev/urandom >big.bin && echo hi >small.txt && "
              "tar czf big.tar.gz big.bin small.txt && tar cf big.tar big.bin small.txt "
              "&& rm big.bin small.txt",
              d),
        0);
    struct arc_list l;
    struct img_err err = {0};
    assert_int_equal(arc_list_read_flags(tu_path("big.tar.gz"), ARC_LIST_QUICK, &l, &err), 0);
    assert_true(l.partial);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.v[0].name, "big.bin");
    arc_list_free(&l);
    assert_int_equal(arc_list_read(tu_path("big.tar.gz"), &l, &err), 0);
    assert_false(l.partial);
    assert_int_equal(l.n, 2);
    arc_list_free(&l);
    assert_int_equal(arc_list_read_flags(tu_path("big.tar"), ARC_LIST_QUICK, &l, &err), 0);
    assert_false(l.partial);
    assert_int_equal(l.n, 2);
    arc_list_free(&l);
    /* Not a regular file: refused at once, never read (a FIFO would block). */
    assert_int_equal(tu_sh("mkfifo '%s/fifo.tar'", d), 0);
    assert_true(arc_list_read(tu_path("fifo.tar"), &l, &err) < 0);
    assert_non_null(strstr(err.msg, "not a regular file"));
}

/* A tar of n empty members (GNU headers written by Python's tarfile). */
static const char *tar_of_empty(const char *name, unsigned n)
{
    const char *p = tu_path(name);
    assert_int_equal(tu_sh("python3 -c 'import tarfile, sys\n"
                           "with tarfile.open(sys.argv[1], \"w\", format=tarfile.GNU_FORMAT) "
                           "as t:\n"
                           "    for i in range(int(sys.argv[2])): t.addfile(tarfile.TarInfo("
                           "\"m%%06d\" %% i))' '%s' %u",
                           p, n),
                     0);
    return p;
}

/* README's listing limit: 100000 members are listed, one more is refused naming the count
 * (before the list grows further). */
static void test_member_limit(void **state)
{
    (void)state;
    struct arc_list l;
    struct img_err err = {0};
    const char *ok = tar_of_empty("m100000.tar", ARC_MAX_MEMBERS);
    if (arc_list_read(ok, &l, &err) != 0)
        fail_msg("100000 members: %s", err.msg);
    assert_int_equal(l.n, ARC_MAX_MEMBERS);
    arc_list_free(&l);
    unlink(ok);
    const char *over = tar_of_empty("m100001.tar", ARC_MAX_MEMBERS + 1);
    memset(&err, 0, sizeof err);
    assert_int_equal(arc_list_read(over, &l, &err), -E2BIG);
    assert_non_null(strstr(err.msg, "m100001.tar: more than 100000 members"));
    unlink(over);
}

/* README's import limit: an archive of 1024 files is imported, 1025 are refused naming the
 * count, and nothing is left in the target directory. */
static void test_import_file_limit(void **state)
{
    (void)state;
    struct img_err err = {0};
    struct arc_import_res *res = calloc(1, sizeof *res);
    assert_non_null(res);
    const char *ok = tar_of_empty("i1024.tar", 1024);
    const char *dok = tu_path("i1024");
    struct arc_import_req req = {.archive = ok, .dir = dok, .no_manifest = true};
    if (arc_import(&req, res, &err) != 0)
        fail_msg("1024 files: %s", err.msg);
    assert_int_equal(res->members, 1024);
    assert_int_equal(tu_sh("test $(ls '%s' | wc -l) -eq 1024 && test -f '%s/m001023'", dok, dok),
                     0);
    const char *over = tar_of_empty("i1025.tar", 1025);
    const char *dover = tu_path("i1025");
    memset(res, 0, sizeof *res);
    memset(&err, 0, sizeof err);
    req = (struct arc_import_req){.archive = over, .dir = dover, .no_manifest = true};
    assert_int_equal(arc_import(&req, res, &err), -E2BIG);
    assert_non_null(strstr(err.msg, "i1025.tar: more than 1024 files"));
    assert_false(tu_exists(dover) && tu_sh("test -n \"$(ls -A '%s')\"", dover) == 0);
    free(res);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ovf_vbox),
        cmocka_unit_test(test_ovf_hostile),
        cmocka_unit_test(test_import_file_limit),
        cmocka_unit_test(test_ovf_units),
        cmocka_unit_test(test_list_hostile_members),
        cmocka_unit_test(test_sparse_and_truncated),
        cmocka_unit_test(test_split),
        cmocka_unit_test(test_quick_listing),
        cmocka_unit_test(test_member_limit),
    };
    return cmocka_run_group_tests(tests, NULL, tu_teardown);
}

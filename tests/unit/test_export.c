/* SPDX-License-Identifier: GPL-2.0-or-later */
/* test_export.c: unit tests for core/archive/ovf_write.c and core/export_*.c: XML escaping of
 * hostile names (markup, control bytes, malformed UTF-8), safe member names, the disk limits of the
 * controllers and SCSI unit 7 left to the controller, and cancellation of an OVA export and a
 * compressed convert (nothing left: no OUT, no OUT.part, no staging directory). */
#include "testutil.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/archive/archive.h"
#include "core/archive/export.h"
#include "core/archive/ovf_write.h"

static char *escape(const char *s)
{
    char *out = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&out, &n);
    assert_non_null(f);
    ovf_xml_escape(f, s);
    fclose(f);
    return out;
}

static void test_xml_escape(void **state)
{
    (void)state;
    static const struct {
        const char *in, *want;
    } cases[] = {
        {"a&b<c>d\"e'f", "a&amp;b&lt;c&gt;d&quot;e&apos;f"},
        {"t\tn\nr\r", "t&#9;n&#10;r&#13;"},
        {"\x01x\x1f\x7f", "?x??"},
        {"caf\xc3\xa9 \xf0\x9f\x98\x80", "caf\xc3\xa9 \xf0\x9f\x98\x80"}, /* valid 2- and 4-byte */
        {"\xff\xfe", "??"},
        {"\xc0\xaf", "??"},           /* overlong '/' */
        {"\xed\xa0\x80", "???"},      /* a surrogate */
        {"\xf4\x90\x80\x80", "????"}, /* past U+10FFFF */
        {"\xef\xbf\xbe", "???"},      /* U+FFFE */
        {"\xe2\x82", "??"},           /* cut short by the end */
        {"\xe2\x82<", "??&lt;"},      /* cut short by markup */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *got = escape(cases[i].in);
        assert_string_equal(got, cases[i].want);
        free(got);
    }
}

static void test_member_names(void **state)
{
    (void)state;
    char buf[96];
    static const struct {
        const char *path;
        bool strip;
        const char *want;
    } cases[] = {
        {"dir/disk.qcow2", true, "disk.vmdk"}, {"x.tar.gz", true, "x.tar.vmdk"},
        {"../..", true, "disk.vmdk"},          {"a/b/", true, "disk.vmdk"},
        {".hidden", true, "hidden.vmdk"},      {"-rf x;$(y).img", true, "rf_x___y_.vmdk"},
        {"My VM.v2", false, "My_VM.v2.vmdk"},  {"\xc3\xa9t\xc3\xa9.raw", true, "__t__.vmdk"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        export_member_name(cases[i].path, cases[i].strip, ".vmdk", buf, sizeof buf);
        assert_string_equal(buf, cases[i].want);
    }
    char longname[300];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    export_member_name(longname, true, ".vmdk", buf, sizeof buf);
    assert_int_equal(strlen(buf), 64 + 5);
}

static void test_ovf_limits(void **state)
{
    (void)state;
    struct ovf_disk disks[16];
    for (size_t i = 0; i < 16; i++)
        disks[i] = (struct ovf_disk){.href = "d.vmdk", .file_size = 1, .capacity = 512};
    struct ovf_system sys = {.name = "vm", .cpus = 1, .memory_mib = 64, .disks = disks};
    struct img_err err = {0};
    size_t len;

    sys.ndisks = 0;
    assert_null(ovf_write(&sys, &len, &err));
    sys.ndisks = 16;
    assert_null(ovf_write(&sys, &len, &err));
    assert_int_equal(err.code, -EINVAL);
    sys.ide = true;
    sys.ndisks = 5;
    assert_null(ovf_write(&sys, &len, &err));

    /* 15 SCSI disks: units 0-6 and 8-15; 7 is the controller's own. */
    sys.ide = false;
    sys.ndisks = 15;
    char *x = ovf_write(&sys, &len, &err);
    assert_non_null(x);
    assert_int_equal(strlen(x), len);
    assert_null(strstr(x, "<rasd:AddressOnParent>7<"));
    assert_non_null(strstr(x, "<rasd:AddressOnParent>15<"));
    assert_non_null(strstr(x, "ovf:diskId=\"vmdisk15\""));
    free(x);
}

static void test_ova_cancel(void **state)
{
    (void)state;
    char *src = strdup(tu_path("src.raw"));
    tu_create("raw", src, NULL, 8 << 20, NULL, NULL);
    assert_int_equal(tu_sh("qemu-io -f raw -c 'write -P 7 0 1M' %s >/dev/null", src), 0);
    atomic_int cancel = 1;
    struct ops_progress prog = {.cancel = &cancel};
    const char *images[] = {src};
    char *out = strdup(tu_path("c.ova"));
    struct export_ova_req req = {.out = out, .images = images, .nimages = 1, .progress = &prog};
    struct img_err err = {0};
    assert_int_equal(export_ova(&req, &err), -ECANCELED);
    assert_non_null(strstr(err.msg, "cancelled"));
    assert_false(tu_exists(out));
    assert_false(tu_exists(tu_path("c.ova.part")));
    assert_false(tu_exists(tu_path("c.ova.part.d")));

    /* Not cancelled: the same request succeeds and leaves only OUT. */
    cancel = 0;
    assert_int_equal(export_ova(&req, &err), 0);
    assert_true(tu_exists(out));
    assert_false(tu_exists(tu_path("c.ova.part.d")));

    cancel = 1;
    char *dst = strdup(tu_path("c.raw.xz"));
    struct ops_convert_req creq = {
        .src = src, .dst = dst, .dst_fmt = "raw", .filter = "xz", .progress = &prog};
    assert_int_equal(arc_convert_any(&creq, &err), -ECANCELED);
    assert_false(tu_exists(dst));
    assert_false(tu_exists(tu_path("c.raw.xz.part")));
    free(dst);
    free(out);
    free(src);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_xml_escape),
        cmocka_unit_test(test_member_names),
        cmocka_unit_test(test_ovf_limits),
        cmocka_unit_test(test_ova_cancel),
    };
    return cmocka_run_group_tests(tests, NULL, tu_teardown);
}

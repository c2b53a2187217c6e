/* SPDX-License-Identifier: GPL-2.0-or-later */
/* test_fs_lvm.c: unit tests for core/fs/lvm.c. A volume group made by the real LVM2 tools
 * (pvcreate/vgcreate/lvcreate on two loop devices, root only, device-mapper not needed:
 * --driverloaded n) with a linear LV in two segments, a second linear LV, a striped LV and an
 * LV spanning both PVs: the linear ones read back exactly the extents `lvs` reports, the others
 * are listed and refused by name. Then hand-made PVs (label, PV header, metadata area and
 * text, with LVM's checksums): metadata wrapping around the circular buffer, a raid1 LV, and
 * hostile ones (checksums, extents past the PV, overlapping segments, absurd sizes, syntax,
 * deep nesting): one error or note, never a crash. */
#include "testutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/base/bytes.h"
#include "fs_test_vol.h"

#define MIB (1024 * 1024)
#define LVMCONF                                                                                    \
    "--config 'devices { obtain_device_list_from_udev=0 use_devicesfile=0 } "                      \
    "activation { udev_sync=0 udev_rules=0 }' --driverloaded n"

struct scan {
    struct img *img;
    struct fs_vol vol;
    struct fs_seg seg;
    struct fs_vol_info *v;
    size_t n;
    struct img_err err;
    int r;
};

static void scan_file(const char *path, struct scan *s)
{
    memset(s, 0, sizeof *s);
    s->img = img_open(path, "raw", 0, &s->err);
    assert_non_null(s->img);
    tfs_whole(s->img, &s->vol, &s->seg);
    err_clear(&s->err);
    s->r = lvm_scan(&s->vol, &s->v, &s->n, &s->err);
}

static void scan_done(struct scan *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i].vol.seg);
    free(s->v);
    img_close(s->img);
}

static const struct fs_vol_info *find_lv(const struct scan *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->v[i].vol.name, name))
            return &s->v[i];
    fail_msg("no volume %s", name);
    return NULL;
}

/* The LV's bytes equal the file expect (made from lvs's PE ranges). */
static void assert_lv_reads(const struct fs_vol_info *vi, const char *expect)
{
    size_t len;
    uint8_t *want = tu_read_file(expect, &len);
    assert_non_null(want);
    assert_int_equal(vi->vol.size, len);
    uint8_t *got = malloc(len);
    struct img_err err;
    assert_int_equal(fs_vol_read(&vi->vol, 0, got, len, &err), 0);
    assert_memory_equal(got, want, len);
    free(got);
    free(want);
}

static bool lvm_usable(void)
{
    return geteuid() == 0 &&
           tu_sh("command -v pvcreate >/dev/null && command -v losetup >/dev/null") == 0 &&
           tu_sh("test -e /dev/loop-control") == 0;
}

/* Two PVs on loop devices; the LVs; the expected bytes of each linear LV from `lvs`. */
static int make_tool_vg(const char *f1, const char *f2)
{
    const char *d = tu_dir();
    return tu_sh(
        "set -e; cd '%s'; export LVM_SUPPRESS_FD_WARNINGS=1; truncate -s 16M '%s' '%s';"
        "L1=$(losetup -f --show '%s'); L2=$(losetup -f --show '%s');"
        "done_() { vgremove " LVMCONF " -f dimgtvg >/dev/null 2>&1; losetup -d $L1 $L2; };"
        "trap done_ EXIT;"
        "vgcreate " LVMCONF " -s 1m dimgtvg $L1 $L2 >/dev/null 2>&1;"
        "lvcreate " LVMCONF " -an -Zn -y -L 3m -n a dimgtvg $L1 >/dev/null 2>&1;"
        "lvcreate " LVMCONF " -an -Zn -y -L 2m -n b dimgtvg $L1 >/dev/null 2>&1;"
        "lvextend " LVMCONF " -L +2m dimgtvg/a $L1 >/dev/null 2>&1;"
        "lvcreate " LVMCONF " -an -Zn -y -i 2 -I 64k -L 2m -n st dimgtvg >/dev/null 2>&1;"
        "lvcreate " LVMCONF " -an -Zn -y -L 12m -n span dimgtvg $L1 $L2 >/dev/null 2>&1;"
        "pe=$(pvs " LVMCONF " --noheadings --units b --nosuffix -o pe_start $L1 2>/dev/null);"
        "test $pe -eq 1048576;"
        "head -c 15M /dev/urandom | dd of='%s' bs=1M seek=1 conv=notrunc iflag=fullblock "
        "status=none;"
        "sync; lvs " LVMCONF " --noheadings -o lv_name,seg_pe_ranges dimgtvg 2>/dev/null |"
        "while read lv r; do case $lv in a|b) r=${r#*:}; s=${r%%-*}; e=${r#*-};"
        "  dd if='%s' bs=1M skip=$((1+s)) count=$((e-s+1)) status=none >>exp_$lv;; esac; done;"
        "cp '%s' pv1.copy; cp '%s' pv2.copy",
        d, f1, f2, f1, f2, f1, f1, f1, f2);
}

static void test_tool_vg(void **state)
{
    (void)state;
    if (!lvm_usable())
        skip();
    const char *f1 = tu_path("pv1.raw"), *f2 = tu_path("pv2.raw");
    if (make_tool_vg(f1, f2) != 0)
        skip(); /* no loop devices or LVM cannot run here */
    struct scan s;
    scan_file(tu_path("pv1.copy"), &s);
    assert_int_equal(s.r, 0);
    assert_int_equal(s.n, 4);
    const struct fs_vol_info *a = find_lv(&s, "dimgtvg/a"), *b = find_lv(&s, "dimgtvg/b");
    assert_true(a->browsable);
    assert_int_equal(a->vol.kind, FS_VOL_LV);
    assert_string_equal(a->type, "LV linear");
    assert_int_equal(a->vol.size, 5 * MIB);
    assert_int_equal(a->vol.nseg, 2);
    assert_lv_reads(a, tu_path("exp_a"));
    assert_true(b->browsable);
    assert_lv_reads(b, tu_path("exp_b"));
    const struct fs_vol_info *st = find_lv(&s, "dimgtvg/st"), *sp = find_lv(&s, "dimgtvg/span");
    assert_false(st->browsable);
    assert_string_equal(st->type, "LV striped");
    assert_non_null(strstr(st->note, "striped"));
    assert_false(sp->browsable);
    assert_non_null(strstr(sp->note, "another physical volume"));
    scan_done(&s);
    /* The second PV carries the same metadata: its LVs lie elsewhere or span. */
    scan_file(tu_path("pv2.copy"), &s);
    assert_int_equal(s.r, 0);
    assert_int_equal(s.n, 4);
    assert_false(find_lv(&s, "dimgtvg/a")->browsable);
    scan_done(&s);
}

/* ---- hand-made PVs ---- */

#define UUID "abcdefABCDEF0123456789ghijklmnop"
#define UUID_DASHED "abcdef-ABCD-EF01-2345-6789-ghij-klmnop"
#define MDA_OFF 4096
#define MDA_SIZE (MIB - 4096)

/* A 16 MiB PV: label in sector 1, one metadata area, text at rel (wrapping if it must). */
static void make_pv(const char *path, const char *text, uint64_t rel)
{
    size_t n;
    uint8_t *img = tfs_lvm_pv(text, strlen(text) + 1, rel, MDA_SIZE, 16 * MIB, UUID, &n);
    tu_write_file(path, img, n);
    assert_int_equal(truncate(path, 16 * MIB), 0);
    free(img);
}

/* Metadata of VG "vg" with this PV as pv0 (15 extents of 1 MiB from 1 MiB) and LVs lvs. */
static char *vg_text(const char *lvs)
{
    size_t cap = strlen(lvs) + 512;
    char *t = malloc(cap);
    assert_true(snprintf(t, cap,
                         "vg {\nid = \"x\"\nseqno = 3\nextent_size = 2048 # 1 MiB\n"
                         "physical_volumes {\npv0 {\nid = \"" UUID_DASHED "\"\n"
                         "pe_start = 2048\npe_count = 15\n}\n}\nlogical_volumes {\n%s}\n}\n"
                         "contents = \"Text Format Volume Group\"\nversion = 1\n",
                         lvs) < (int)cap);
    return t;
}

#define LV(name, segs)                                                                             \
    name " {\nid = \"y\"\nstatus = [\"READ\", \"WRITE\", \"VISIBLE\"]\nflags = []\n" segs "}\n"
#define SEG(n, start, count, type, extra)                                                          \
    "segment" #n " {\nstart_extent = " #start "\nextent_count = " #count "\ntype = \"" type        \
    "\"\n" extra "}\n"
#define LIN(pe) "stripe_count = 1\nstripes = [\n\"pv0\", " #pe "\n]\n"

static void scan_text(const char *lvs, uint64_t rel, struct scan *s)
{
    char *t = vg_text(lvs);
    const char *f = tu_path("hand.raw");
    make_pv(f, t, rel);
    free(t);
    scan_file(f, s);
}

static void test_hand_wrap(void **state)
{
    (void)state;
    struct scan s;
    const char *lvs = LV("root", SEG(1, 0, 2, "striped", LIN(3)) SEG(2, 2, 1, "striped", LIN(0)))
        LV("mirror", SEG(1, 0, 1, "raid1", "device_count = 2\n")) "hidden {\nid = \"z\"\nstatus = "
                                                                  "[\"READ\"]\n" SEG(1, 0, 1,
                                                                                     "striped",
                                                                                     LIN(9)) "}\n";
    for (int k = 0; k < 2; k++) { /* at the start of the buffer; wrapped around its end */
        scan_text(lvs, k ? MDA_SIZE - 100 : 512, &s);
        assert_int_equal(s.r, 0);
        assert_int_equal(s.n, 2);
        const struct fs_vol_info *r = find_lv(&s, "vg/root");
        assert_true(r->browsable);
        assert_int_equal(r->vol.size, 3 * MIB);
        assert_int_equal(r->vol.nseg, 2);
        assert_int_equal(r->vol.seg[0].img_off, 4 * MIB);
        assert_int_equal(r->vol.seg[0].len, 2 * MIB);
        assert_int_equal(r->vol.seg[1].vol_off, 2 * MIB);
        assert_int_equal(r->vol.seg[1].img_off, 1 * MIB);
        const struct fs_vol_info *m = find_lv(&s, "vg/mirror");
        assert_false(m->browsable);
        assert_string_equal(m->type, "LV raid1");
        assert_string_equal(m->note, "LV segment type raid1 not supported");
        scan_done(&s);
    }
}

static void test_hand_not_lvm(void **state)
{
    (void)state;
    const char *f = tu_path("zero.raw");
    assert_int_equal(tu_sh("truncate -s 4M '%s'", f), 0);
    struct scan s;
    scan_file(f, &s);
    assert_int_equal(s.r, 0);
    assert_int_equal(s.n, 0);
    scan_done(&s);
}

/* One LV whose only problem is its segments: listed, not browsable, with this note. */
static void expect_note(const char *lvs, const char *note)
{
    struct scan s;
    scan_text(lvs, 512, &s);
    assert_int_equal(s.r, 0);
    assert_int_equal(s.n, 1);
    assert_false(s.v[0].browsable);
    assert_null(s.v[0].vol.seg);
    if (!strstr(s.v[0].note, note))
        fail_msg("note \"%s\", expected \"%s\"", s.v[0].note, note);
    scan_done(&s);
}

static void test_hand_bad_segments(void **state)
{
    (void)state;
    expect_note(LV("x", SEG(1, 0, 2, "striped", LIN(14))), "past the end");
    expect_note(LV("x", SEG(1, 0, 2, "striped", LIN(18446744073709551615))), "malformed");
    expect_note(LV("x", SEG(1, 0, 2, "striped", LIN(9223372036854775807))), "past the end");
    expect_note(LV("x", SEG(1, 0, 2, "striped", LIN(1)) SEG(2, 1, 2, "striped", LIN(5))),
                "overlap");
    expect_note(LV("x", SEG(1, 0, 2, "striped", LIN(1)) SEG(2, 0, 2, "striped", LIN(1))),
                "overlap");
    expect_note(LV("x", SEG(1, 0, 2, "striped", LIN(1)) SEG(2, 3, 2, "striped", LIN(5))), "gap");
    expect_note(LV("x", SEG(1, 0, 4294967295, "striped", LIN(1))), "past the end");
    expect_note(LV("x", SEG(1, 0, 99999999999, "striped", LIN(1))), "malformed");
    expect_note(LV("x", SEG(1, 0, 1, "striped", "stripe_count = 1\nstripes = [\"pv7\", 0]\n")),
                "another physical volume");
    expect_note(LV("x", SEG(1, 0, 1, "striped", "stripe_count = 1\nstripes = [0, 0]\n")),
                "malformed");
    expect_note(LV("x", SEG(1, 0, 1, "thin\\\"\x1b[31m", "")), "type unknown");
    expect_note(LV("x", ""), "malformed");
}

/* A PV whose text or header is damaged: one error line. */
static void expect_error(const char *text, const char *msg)
{
    const char *f = tu_path("bad.raw");
    make_pv(f, text, 512);
    struct scan s;
    scan_file(f, &s);
    assert_true(s.r < 0);
    if (!strstr(s.err.msg, msg))
        fail_msg("error \"%s\", expected \"%s\"", s.err.msg, msg);
    assert_null(strchr(s.err.msg, '\n'));
    scan_done(&s);
}

static void test_hand_bad_text(void **state)
{
    (void)state;
    expect_error("vg { extent_size = 2048 ", "unterminated section");
    expect_error("vg { id = \"abc", "unterminated string");
    expect_error("vg { } } ", "unbalanced");
    expect_error("vg { a = [1 2] }", "array");
    expect_error("vg { = 3 }", "name expected");
    expect_error("vg { extent_size = 0 }", "extent_size");
    expect_error("vg { extent_size = 99999999999999999999 }", "extent_size");
    expect_error("vg { extent_size = 2048 physical_volumes { } }", "does not list");
    char deep[400] = "";
    for (int i = 0; i < 40; i++)
        strcat(deep, "a{");
    expect_error(deep, "nested too deep");
    char *t = vg_text("");
    char *p = strstr(t, "pe_count = 15");
    memcpy(p, "pe_count =-1 ", 13);
    expect_error(t, "pe_count");
    free(t);
}

static void test_hand_bad_header(void **state)
{
    (void)state;
    char *t = vg_text(LV("x", SEG(1, 0, 1, "striped", LIN(0))));
    const char *f = tu_path("hdr.raw");
    struct scan s;
    static const struct {
        uint64_t off;
        uint8_t b;
        const char *msg;
    } pokes[] = {
        {512 + 40, 1, "label in sector 1: checksum"}, /* uuid byte: label crc fails */
        {MDA_OFF + 100, 1, "header checksum"},
        {MDA_OFF + 700, 1, "text: checksum"},
        {MDA_OFF + 4, 'x', "bad magic"},
    };
    for (size_t i = 0; i < sizeof pokes / sizeof pokes[0]; i++) {
        make_pv(f, t, 512);
        tu_poke(f, pokes[i].off, &pokes[i].b, 1);
        scan_file(f, &s);
        assert_true(s.r < 0);
        if (!strstr(s.err.msg, pokes[i].msg))
            fail_msg("error \"%s\", expected \"%s\"", s.err.msg, pokes[i].msg);
        scan_done(&s);
    }
    /* Absurd text size and metadata area size, checksums made right. */
    uint8_t h[512];
    for (int k = 0; k < 2; k++) {
        make_pv(f, t, 512);
        FILE *fp = fopen(f, "r+b");
        assert_non_null(fp);
        assert_int_equal(fseek(fp, k ? 512 : MDA_OFF, SEEK_SET), 0);
        assert_int_equal(fread(h, 1, 512, fp), 512);
        if (k) { /* the PV header's area: past the volume */
            le64_store(h + 112, UINT64_MAX - 100);
            le32_store(h + 16, tfs_lvm_crc(h + 20, 492));
        } else {
            le64_store(h + 48, 5 * MIB);
            le32_store(h, tfs_lvm_crc(h + 4, 508));
        }
        assert_int_equal(fseek(fp, k ? 512 : MDA_OFF, SEEK_SET), 0);
        assert_int_equal(fwrite(h, 1, 512, fp), 512);
        fclose(fp);
        scan_file(f, &s);
        assert_true(s.r < 0);
        assert_non_null(strstr(s.err.msg, k ? "outside the volume" : "out of range"));
        scan_done(&s);
    }
    free(t);
}

int main(void)
{
#define HOSTILE(t) cmocka_unit_test_setup_teardown(t, tu_group_cap_1g, tu_group_uncap)
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tool_vg),      cmocka_unit_test(test_hand_wrap),
        cmocka_unit_test(test_hand_not_lvm), HOSTILE(test_hand_bad_segments),
        HOSTILE(test_hand_bad_text),         HOSTILE(test_hand_bad_header),
    };
    return cmocka_run_group_tests(tests, NULL, tu_teardown);
}

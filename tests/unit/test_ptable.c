/* SPDX-License-Identifier: GPL-2.0-or-later */
/* test_ptable.c: unit tests for core/block/ptable.c against tables made by util-linux sfdisk and
 * gdisk's sgdisk: MBR with an extended chain, GPT with names and types; growing with
 * --fix-gpt leaves `sgdisk -v` and `sfdisk --verify` clean and the partitions unchanged, while
 * growing without it leaves the backup behind (sfdisk --verify complains, resize says so);
 * a damaged entry array is reported and never relocated. */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/block/driver.h"
#include "core/ops/ops.h"
#include "core/block/ptable.h"

static bool have_tools(void)
{
    return tu_sh("command -v sfdisk >/dev/null && command -v sgdisk >/dev/null") == 0;
}

/* sfdisk --verify exits 0 even when it finds errors: read what it says. */
static bool sfdisk_clean(const char *f)
{
    char *out = tu_sh_out("sfdisk --verify '%s' 2>&1", f);
    bool ok = out && strstr(out, "No errors detected") && !strstr(out, "error detected");
    free(out);
    return ok;
}

static void read_table(const char *path, struct ptable *pt)
{
    struct img_err err;
    struct img *img = img_open(path, "raw", 0, &err);
    assert_non_null(img);
    assert_int_equal(ptable_read(img, pt, &err), 0);
    img_close(img);
}

static void mk_gpt(const char *f)
{
    assert_int_equal(tu_sh("rm -f '%s' && truncate -s 64M '%s' && printf 'label: gpt\\n,16M,L\\n"
                           ",8M,S\\n,4M,U\\n' | sfdisk -q '%s' && sgdisk -c 1:root '%s' >/dev/null",
                           f, f, f, f),
                     0);
}

static void test_mbr(void **state)
{
    const char *f = tu_path("mbr.raw");
    assert_int_equal(tu_sh("truncate -s 32M '%s' && printf 'label: dos\\nlabel-id: 0x1234abcd\\n"
                           ",8M,83,*\\n,4M,82\\n,,E\\n,2M,83\\n,2M,8e\\n' | sfdisk -q '%s'",
                           f, f),
                     0);
    struct ptable pt;
    read_table(f, &pt);
    assert_int_equal(pt.kind, PTABLE_MBR);
    assert_string_equal(pt.disk_id, "0x1234abcd");
    assert_int_equal(pt.n, 5);
    static const struct {
        unsigned num;
        uint64_t start, size;
        const char *type;
    } want[] = {{1, 1 << 20, 8 << 20, "0x83"},
                {2, 9 << 20, 4 << 20, "0x82"},
                {3, 13 << 20, 19 << 20, "0x05"},
                {5, 14 << 20, 2 << 20, "0x83"},
                {6, 17 << 20, 2 << 20, "0x8e"}};
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(pt.parts[i].number, want[i].num);
        assert_int_equal(pt.parts[i].start, want[i].start);
        assert_int_equal(pt.parts[i].size, want[i].size);
        assert_string_equal(pt.parts[i].type, want[i].type);
    }
    assert_true(pt.parts[0].bootable);
    assert_false(pt.parts[1].bootable);
    assert_string_equal(pt.parts[4].type_name, "Linux LVM");
    ptable_free(&pt);
}

static void test_gpt_parse(void **state)
{
    const char *f = tu_path("gpt.raw");
    mk_gpt(f);
    struct ptable pt;
    read_table(f, &pt);
    assert_int_equal(pt.kind, PTABLE_GPT);
    assert_string_equal(pt.problem, "");
    assert_true(pt.backup_at_end);
    assert_int_equal(pt.n, 3);
    assert_int_equal(pt.parts[0].start, 1 << 20);
    assert_int_equal(pt.parts[0].size, 16 << 20);
    assert_string_equal(pt.parts[0].type, "0FC63DAF-8483-4772-8E79-3D69D8477DE4");
    assert_string_equal(pt.parts[0].name, "root");
    assert_string_equal(pt.parts[1].type_name, "Linux swap");
    assert_string_equal(pt.parts[2].type_name, "EFI System");
    char *guid = tu_sh_out("sfdisk --disk-id '%s'", f);
    assert_non_null(strstr(guid, pt.disk_id));
    free(guid);
    ptable_free(&pt);
}

static int grow(const char *f, uint64_t by, bool fix, struct ops_resize_res *res)
{
    struct img_err err;
    struct ops_resize_req req = {.path = f, .fmt = "raw", .sign = 1, .amount = by, .fix_gpt = fix};
    int r = ops_resize(&req, res, &err);
    if (r)
        fail_msg("resize: %s", err.msg);
    return r;
}

static void test_gpt_grow_fix(void **state)
{
    const char *f = tu_path("gpt_grow.raw");
    mk_gpt(f);
    char *before = tu_sh_out("sfdisk -d '%s' | grep -v '^last-lba'", f);
    struct ops_resize_res res;

    /* Without --fix-gpt the backup stays behind: the tools see it, and so does resize. */
    grow(f, 64 << 20, false, &res);
    assert_true(res.gpt_stale);
    assert_false(res.gpt_moved);
    assert_false(sfdisk_clean(f));

    /* With it (here on a later grow, which also repairs the earlier one) all is clean. */
    grow(f, 36 << 20, true, &res);
    assert_true(res.gpt_moved);
    assert_true(sfdisk_clean(f));
    char *v = tu_sh_out("sgdisk -v '%s'", f);
    assert_non_null(strstr(v, "No problems found"));
    char *after = tu_sh_out("sfdisk -d '%s' | grep -v '^last-lba'", f);
    assert_string_equal(before, after);
    char *last = tu_sh_out("sfdisk -d '%s' | sed -n 's/^last-lba: //p'", f);
    /* 164 MiB disk: last usable = sectors - 1 - 32 (entries) - 1 (header). */
    assert_int_equal(strtoull(last, NULL, 10), (164ull << 20) / 512 - 34);
    struct ptable pt;
    read_table(f, &pt);
    assert_true(pt.backup_at_end);
    assert_int_equal(pt.n, 3);
    ptable_free(&pt);
    /* One more sector: moved again. */
    grow(f, 512, true, &res);
    assert_true(res.gpt_moved);
    assert_true(sfdisk_clean(f));
    free(before);
    free(after);
    free(v);
    free(last);
}

static void test_gpt_damaged(void **state)
{
    const char *f = tu_path("gpt_bad.raw");
    mk_gpt(f);
    /* Flip a byte of the first entry's name: the entry array CRC no longer matches. */
    int fd = open(f, O_RDWR);
    uint8_t b;
    assert_int_equal(pread(fd, &b, 1, 1024 + 60), 1);
    b ^= 0xFF;
    assert_int_equal(pwrite(fd, &b, 1, 1024 + 60), 1);
    close(fd);
    struct ptable pt;
    read_table(f, &pt);
    assert_int_equal(pt.kind, PTABLE_GPT);
    assert_non_null(strstr(pt.problem, "CRC"));
    ptable_free(&pt);
    assert_int_equal(tu_sh("truncate -s +1M '%s'", f), 0);
    struct img_err err;
    struct img *img = img_open(f, "raw", IMG_OPEN_RW, &err);
    assert_non_null(img);
    assert_int_equal(ptable_gpt_relocate(img, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "CRC"));
    img_close(img);
}

static void test_no_table(void **state)
{
    const char *f = tu_path("empty.raw");
    assert_int_equal(tu_sh("truncate -s 1M '%s'", f), 0);
    struct ptable pt;
    read_table(f, &pt);
    assert_int_equal(pt.kind, PTABLE_NONE);
    assert_int_equal(pt.n, 0);
    ptable_free(&pt);
}

int main(void)
{
    /* Without the tools four of the five tests cannot run: skipped (ctest's SKIP_RETURN_CODE),
       not passed. */
    if (!have_tools()) {
        fputs("SKIP: sfdisk or sgdisk missing\n", stderr);
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mbr),          cmocka_unit_test(test_gpt_parse),
        cmocka_unit_test(test_gpt_grow_fix), cmocka_unit_test(test_gpt_damaged),
        cmocka_unit_test(test_no_table),
    };
    return cmocka_run_group_tests(tests, NULL, tu_teardown);
}

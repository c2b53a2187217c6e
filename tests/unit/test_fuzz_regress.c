/* SPDX-License-Identifier: GPL-2.0-or-later */
/* test_fuzz_regress.c: every input the fuzzers (tests/fuzz) found a problem with, kept as a
 * hex fixture in tests/fixtures/fuzz/FORMAT-NAME.hex (FORMAT: the driver the target named,
 * "probe", or the setup "crypt" or "datafile"), goes again through the fuzz targets' own
 * sequence (tests/fuzz/fuzz_exercise.c: open untrusted, info, snapshots, block status over
 * everything, reads, layout, check), so the sanitizer build and Valgrind see it on every run; plus
 * one test per finding that checks the fixed behaviour itself. */
#include "testutil.h"

#include "core/block/driver.h"
#include "formats/vmdk.h"
#include "fuzz_exercise.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Decode tests/fixtures/fuzz/name into the temp dir; returns its path. */
static const char *decode(const char *name)
{
    char rel[300];
    snprintf(rel, sizeof rel, "fuzz/%s", name);
    const char *out = tu_path(name);
    tu_hex_decode(tu_fixture(rel), out);
    return out;
}

static void test_all_fixtures(void **state)
{
    (void)state;
    DIR *d = opendir(tu_fixture("fuzz"));
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l < 5 || strcmp(e->d_name + l - 4, ".hex") != 0)
            continue;
        char fmt[32];
        snprintf(fmt, sizeof fmt, "%.*s", (int)strcspn(e->d_name, "-"), e->d_name);
        size_t len;
        uint8_t *data = tu_read_file(decode(e->d_name), &len);
        assert_non_null(data);
        char err[512] = "";
        /* crypt-*, datafile-*: the setup of the target of that name (fuzz_exercise.h). */
        const struct fuzz_setup *setup = fuzz_setup_named(fmt);
        const char *f = strcmp(fmt, "probe") ? fmt : NULL;
        if (setup)
            f = setup->fmt;
        int r = fuzz_exercise_with(data, len, f, setup, err, sizeof err);
        printf("%s: %s%s\n", e->d_name, r == 0 ? "opens" : "refused: ", err);
        free(data);
        n++;
    }
    closedir(d);
    assert_true(n > 0);
}

/* Read system calls (read, pread, ...) this process has made so far (/proc/self/io), or 0
 * when the kernel does not say. */
static uint64_t read_calls(void)
{
    FILE *f = fopen("/proc/self/io", "r");
    unsigned long long v = 0;
    if (f) {
        if (fscanf(f, "rchar: %*u wchar: %*u syscr: %llu", &v) != 1)
            v = 0;
        fclose(f);
    }
    return v;
}

static struct img *open_ro(const char *path, const char *fmt)
{
    struct img_err err = {0};
    struct img *img = img_open(path, fmt, IMG_OPEN_UNTRUSTED, &err);
    if (!img)
        fail_msg("open %s: %s", path, err.msg);
    return img;
}

/* A 1 TiB ucow whose sector bitmap (256 MiB, from 8192 on) runs past the end of its 17 KiB
 * file: the clear run after the last set bit reaches the end of the disk in one answer (it
 * used to read every zero window of the bitmap past EOF: seconds per call), and set bits
 * before it are still seen. The file's last byte (17919, 0xee) is bitmap byte 9727: its top
 * bit is sector 77823, the last one set. */
static void test_ucow_bitmap_past_eof(void **state)
{
    (void)state;
    struct img *img = open_ro(decode("ucow-bitmap-past-eof.hex"), "ucow");
    assert_int_equal(img->size, 1099511632996ull);
    struct img_bs bs;
    assert_int_equal(img_block_status_layer(img, 0, img->size, &bs), 0);
    assert_int_equal(bs.len, 512);
    assert_int_equal(bs.flags, 0);
    assert_int_equal(img_block_status_layer(img, 512, img->size - 512, &bs), 0);
    assert_int_equal(bs.len, 512);
    assert_true(bs.flags & IMG_BS_DATA);
    uint64_t last = 77823ull * 512;
    assert_int_equal(img_block_status_layer(img, last, img->size - last, &bs), 0);
    assert_int_equal(bs.len, 512);
    assert_true(bs.flags & IMG_BS_DATA);
    uint64_t before = read_calls();
    assert_int_equal(img_block_status_layer(img, last + 512, img->size - last - 512, &bs), 0);
    assert_int_equal(bs.len, img->size - last - 512);
    assert_int_equal(bs.flags, 0);
    /* ... without reading the bitmap past EOF window by window (65536 reads before the fix). */
    if (before)
        assert_true(read_calls() - before < 100);
    /* Mid-byte starts (sectors not on a byte boundary) take the same path. */
    assert_int_equal(img_block_status_layer(img, last + 1536, img->size - last - 1536, &bs), 0);
    assert_int_equal(bs.len, img->size - last - 1536);
    img_close(img);
}

/* A file the image names that cannot be followed: the message names the image once (the
 * fuzz harness showed "PATH: PATH: extent file ..."). */
static void test_ref_error_names_image_once(void **state)
{
    (void)state;
    const char *p = tu_path("lonely.vmdk");
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs("# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\n"
          "createType=\"monolithicFlat\"\nRW 128 FLAT \"gone-flat.vmdk\" 0\n",
          f);
    fclose(f);
    struct img_err err = {0};
    assert_null(img_open(p, NULL, 0, &err));
    char want[1200];
    snprintf(want, sizeof want, "%s: extent file 'gone-flat.vmdk': No such file or directory", p);
    assert_string_equal(err.msg, want);
}

/* fuzz_vmdk_desc's finding (the input as it minimized, text): an unquoted parentFileNameHint
 * holding a quote was written back quoted, and the rewritten descriptor no longer parsed (a
 * write that rewrites the descriptor would have left an image dimg and QEMU refuse). Now the
 * rendering parses back to the same hint and renders the same. */
static void test_desc_hint_with_quote(void **state)
{
    (void)state;
    static const char in[] = "RW 1 SPARSE \"=\"\ncreateType=\"monolithicFlat\"\n"
                             "parentFileNameHint=a\"\n";
    struct vmdk_desc d = {0}, d2 = {0};
    struct img_err err = {0};
    assert_int_equal(vmdk_desc_parse(in, sizeof in - 1, &d, &err), 0);
    assert_string_equal(d.parent_hint, "a\"");
    size_t n1, n2;
    char *t1 = vmdk_desc_format(&d, &n1);
    assert_non_null(t1);
    if (vmdk_desc_parse(t1, n1, &d2, &err) != 0)
        fail_msg("rendered descriptor does not parse: %s\n%s", err.msg, t1);
    assert_string_equal(d2.parent_hint, "a\"");
    char *t2 = vmdk_desc_format(&d2, &n2);
    assert_non_null(t2);
    assert_string_equal(t1, t2);
    free(t1);
    free(t2);
    vmdk_desc_free(&d);
    vmdk_desc_free(&d2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_all_fixtures),
        cmocka_unit_test(test_ucow_bitmap_past_eof),
        cmocka_unit_test(test_ref_error_names_image_once),
        cmocka_unit_test(test_desc_hint_with_quote),
    };
    return cmocka_run_group_tests(tests, NULL, tu_teardown);
}

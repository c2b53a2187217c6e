/* SPDX-License-Identifier: GPL-2.0-or-later */
/* test_describe.c: unit tests for core/describe, the model both faces show: qemu-img's size
 * strings and path_combine, a two-image chain filled into struct img_describe (names as qemu
 * shows them, the backing file on the top layer), and its human and JSON renderings written
 * into a memory stream, qemu-img info as the oracle when it is installed. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/block/driver.h"
#include "core/describe/describe.h"

static void test_size_str(void **state)
{
    (void)state;
    char b[32];
    assert_string_equal(describe_size_str(0, b, sizeof b), "0 B");
    assert_string_equal(describe_size_str(512, b, sizeof b), "512 B");
    assert_string_equal(describe_size_str(1000, b, sizeof b), "0.977 KiB");
    assert_string_equal(describe_size_str(200704, b, sizeof b), "196 KiB");
    assert_string_equal(describe_size_str(16ull << 20, b, sizeof b), "16 MiB");
    assert_string_equal(describe_size_str(3ull << 29, b, sizeof b), "1.5 GiB");
}

static void test_path_combine(void **state)
{
    (void)state;
    const char *cases[][3] = {
        {"dir/top.qcow2", "base.raw", "dir/base.raw"},
        {"top.qcow2", "base.raw", "base.raw"},
        {"/a/b/top", "/abs/base", "/abs/base"},
        {"/a/b/top", "../c/base", "/a/b/../c/base"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *p = describe_path_combine(cases[i][0], cases[i][1]);
        assert_non_null(p);
        assert_string_equal(p, cases[i][2]);
        free(p);
    }
}

/* s without its lines that hold key (sizes on disk depend on the filesystem), in place. */
static char *drop_lines(char *s, const char *key)
{
    char *w = s;
    for (const char *r = s; *r;) {
        const char *nl = strchr(r, '\n');
        size_t n = nl ? (size_t)(nl - r) + 1 : strlen(r);
        bool drop = false;
        for (size_t i = 0; i + strlen(key) <= n && !drop; i++)
            drop = memcmp(r + i, key, strlen(key)) == 0;
        if (!drop) {
            memmove(w, r, n);
            w += n;
        }
        r += n;
    }
    *w = 0;
    return s;
}

/* Render d into a malloc'd string. */
static char *render(const struct img_describe *d, bool json)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    if (json)
        describe_image_json(f, d);
    else
        describe_image_human(f, d);
    fclose(f);
    return buf;
}

static void test_chain(void **state)
{
    (void)state;
    tu_create("raw", tu_path("base.raw"), NULL, 1 << 20, NULL, NULL);
    tu_create("qcow2", tu_path("top.qcow2"), NULL, 1 << 20, "base.raw", "raw");
    char err[256];
    struct img_describe d;
    assert_int_equal(describe_image(&d, tu_path("top.qcow2"), NULL, 0, true, err, sizeof err), 0);
    assert_int_equal(d.n, 2);
    assert_string_equal(d.layer[0].info.format, "qcow2");
    assert_string_equal(d.layer[0].info.backing_file, "base.raw");
    assert_string_equal(d.layer[1].info.format, "raw");
    char want[512];
    snprintf(want, sizeof want, "%s/base.raw", tu_dir());
    assert_string_equal(d.layer[1].name, want);

    char *human = render(&d, false);
    assert_non_null(strstr(human, "file format: qcow2\nvirtual size: 1 MiB (1048576 bytes)\n"));
    assert_non_null(strstr(human, "backing file: base.raw (actual path: "));
    assert_non_null(strstr(human, "\n\nimage: "));
    char *json = render(&d, true);
    assert_true(json[0] == '[');
    assert_non_null(strstr(json, "\"backing-filename\": \"base.raw\""));

    if (tu_sh("command -v qemu-img >/dev/null") == 0) {
        char *q = tu_sh_out("qemu-img info --backing-chain '%s'", tu_path("top.qcow2"));
        char *qj =
            tu_sh_out("qemu-img info --output=json --backing-chain '%s'", tu_path("top.qcow2"));
        assert_non_null(q);
        assert_non_null(qj);
        assert_string_equal(drop_lines(human, "disk size:"), drop_lines(q, "disk size:"));
        assert_string_equal(drop_lines(json, "actual-size"), drop_lines(qj, "actual-size"));
        free(q);
        free(qj);
    }
    free(human);
    free(json);
    describe_image_free(&d);
    assert_null(d.layer);
}

static void test_missing(void **state)
{
    (void)state;
    char err[256] = "";
    struct img_describe d;
    assert_int_equal(describe_image(&d, tu_path("nope.qcow2"), NULL, 0, false, err, sizeof err), 1);
    assert_true(err[0] != 0);
    assert_null(d.layer);
    assert_null(d.top);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_size_str),
        cmocka_unit_test(test_path_combine),
        cmocka_unit_test(test_chain),
        cmocka_unit_test(test_missing),
    };
    return cmocka_run_group_tests(tests, NULL, tu_teardown);
}

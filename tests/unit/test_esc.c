/* SPDX-License-Identifier: GPL-2.0-or-later */
/* test_esc.c: the one escaping rule (core/base/esc.h) and the foreign-format recognisers
 * (formats/foreign.c), as pure functions. */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#include "core/base/esc.h"
#include "core/block/driver.h"

static void test_escape_classes(void **state)
{
    char out[256];
    /* C0 controls, DEL, a C1 control (U+009B, CSI), a bidi override, invalid UTF-8. */
    const char in[] = "a\tb\nc\rd\x1b[31me\x7f"
                      "f\xc2\x9bg\xe2\x80\xaeh\xffi\xc0\xafj";
    esc_into(out, sizeof out, in, sizeof in - 1, NULL);
    assert_string_equal(out,
                        "a\\tb\\nc\\rd\\e[31me\\x7ff\\xc2\\x9bg\\xe2\\x80\\xaeh\\xffi\\xc0\\xafj");
    assert_true(esc_needed(in));
    /* Printable UTF-8 passes, and escaping twice changes nothing. */
    const char ok[] = "caf\xc3\xa9 \xe6\x97\xa5 \xf0\x9f\x98\x80 back\\slash";
    assert_false(esc_needed(ok));
    assert_string_equal(esc_str(out, sizeof out, ok), ok);
    char twice[256];
    esc_into(out, sizeof out, in, sizeof in - 1, NULL);
    assert_string_equal(esc_str(twice, sizeof twice, out), out);
    /* NUL inside a length-bounded buffer is escaped, not an end. */
    esc_into(out, sizeof out, "x\0y", 3, NULL);
    assert_string_equal(out, "x\\x00y");
}

static void test_escape_keep_and_cut(void **state)
{
    char out[16];
    esc_into(out, sizeof out, "l1\nl2\r", 6, "\n");
    assert_string_equal(out, "l1\nl2\\r");
    /* Cut before an escape or a character that does not fit, never inside one. */
    char small[6];
    assert_int_equal(esc_into(small, sizeof small, "ab\x1b", 3, NULL), 4);
    assert_string_equal(small, "ab\\e");
    assert_int_equal(esc_into(small, sizeof small, "abc\x01", 4, NULL), 3);
    assert_string_equal(small, "abc");
    assert_int_equal(esc_into(small, sizeof small, "abc\xc3\xa9\xc3\xa9", 7, NULL), 5);
    assert_string_equal(small, "abc\xc3\xa9");
    char *d = esc_dup("\x1b", 1);
    assert_non_null(d);
    assert_string_equal(d, "\\e");
    free(d);
}

static void test_foreign_recognisers(void **state)
{
    uint8_t head[512] = {0}, tail[512] = {0};
    assert_null(img_foreign_probe(head, sizeof head, tail, sizeof tail));
    memcpy(tail, "conectix", 8); /* a VHD footer: read by the vpc driver, not foreign */
    assert_null(img_foreign_probe(head, sizeof head, tail, sizeof tail));
    /* A shorter file has no tail: nothing found there. */
    assert_null(img_foreign_probe(head, sizeof head, NULL, 0));
    /* LUKS is read by the luks driver (LUKS2 named and refused there), not foreign. */
    memcpy(head, "LUKS\xba\xbe\0\x02", 8);
    assert_null(img_foreign_probe(head, 8, NULL, 0));
    memcpy(head, "QED\0", 4);
    assert_string_equal(img_foreign_probe(head, 4, NULL, 0)->name, "qed");
    assert_null(img_foreign_probe(head, 3, NULL, 0)); /* too short to hold the magic */
    assert_string_equal(img_foreign_find("parallels")->desc, "Parallels");
    assert_null(img_foreign_find("qcow2"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escape_classes),
        cmocka_unit_test(test_escape_keep_and_cut),
        cmocka_unit_test(test_foreign_recognisers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

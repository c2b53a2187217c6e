/* SPDX-License-Identifier: GPL-2.0-or-later */
/* test_bytes.c: byte-order loads/stores and overflow helpers (core/base/bytes.h). */
#include "testutil.h"

#include "core/base/bytes.h"

static void test_be_roundtrip(void **state)
{
    uint8_t b[8];
    be64_store(b, 0x0102030405060708ull);
    assert_int_equal(b[0], 1);
    assert_int_equal(b[7], 8);
    assert_true(be64_load(b) == 0x0102030405060708ull);
    be32_store(b, 0x514649fb);
    assert_memory_equal(b, "QFI\xfb", 4);
    assert_int_equal(be32_load(b), 0x514649fb);
    be16_store(b, 0xabcd);
    assert_int_equal(b[0], 0xab);
    assert_int_equal(be16_load(b), 0xabcd);
}

static void test_le_roundtrip(void **state)
{
    uint8_t b[9];
    le64_store(b + 1, 0x0102030405060708ull); /* unaligned on purpose */
    assert_int_equal(b[1], 8);
    assert_int_equal(b[8], 1);
    assert_true(le64_load(b + 1) == 0x0102030405060708ull);
    le32_store(b, 0x564D444B);
    assert_memory_equal(b, "KDMV", 4);
    assert_int_equal(le32_load(b), 0x564D444B);
    le16_store(b, 0x1234);
    assert_int_equal(b[0], 0x34);
    assert_int_equal(le16_load(b), 0x1234);
}

static void test_overflow(void **state)
{
    uint64_t r;
    assert_true(u64_add_overflow(UINT64_MAX, 1, &r));
    assert_false(u64_add_overflow(UINT64_MAX - 1, 1, &r));
    assert_true(r == UINT64_MAX);
    assert_true(u64_mul_overflow(1ull << 32, 1ull << 32, &r));
    assert_false(u64_mul_overflow(1ull << 31, 1ull << 32, &r));
    assert_true(u64_div_round_up(0, 512) == 0);
    assert_true(u64_div_round_up(1, 512) == 1);
    assert_true(u64_div_round_up(UINT64_MAX, 2) == (UINT64_MAX >> 1) + 1);
    assert_true(u64_align_up(513, 512) == 1024);
    assert_true(u64_is_pow2(65536));
    assert_false(u64_is_pow2(0));
    assert_false(u64_is_pow2(65537));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_be_roundtrip),
        cmocka_unit_test(test_le_roundtrip),
        cmocka_unit_test(test_overflow),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* test_qcow2_unit.c: the pure qcow2 helpers in formats/qcow2.h: address translation for every
 * cluster size, compressed descriptors for every cluster_bits 9..21, refcount packing for
 * every width 1..64 (sub-byte entries LSB-first, >= 8 bits big-endian), entry classification. */
#include "testutil.h"

#include "formats/qcow2.h"

#include <string.h>

static void test_translation(void **state)
{
    for (unsigned cb = 9; cb <= 21; cb++) {
        for (int ext = 0; ext < 2; ext++) {
            unsigned l2b = qcow2_l2_bits(cb, ext);
            uint64_t entries = (1ull << cb) / (ext ? 16 : 8);
            assert_int_equal(1ull << l2b, entries);
            uint64_t cs = 1ull << cb;
            /* Last byte of the first L2 range, first byte of the second. */
            uint64_t span = cs * entries;
            assert_int_equal(qcow2_l1_index(cb, l2b, span - 1), 0);
            assert_int_equal(qcow2_l2_index(cb, l2b, span - 1), entries - 1);
            assert_int_equal(qcow2_l1_index(cb, l2b, span), 1);
            assert_int_equal(qcow2_l2_index(cb, l2b, span), 0);
            assert_int_equal(qcow2_l2_index(cb, l2b, 5 * cs + 3), 5 % entries);
            assert_int_equal(qcow2_l1_needed(0, cb, l2b), 0);
            assert_int_equal(qcow2_l1_needed(1, cb, l2b), 1);
            assert_int_equal(qcow2_l1_needed(span, cb, l2b), 1);
            assert_int_equal(qcow2_l1_needed(span + 1, cb, l2b), 2);
        }
    }
    /* 64 KiB clusters: one L2 table maps 512 MiB. */
    assert_int_equal(qcow2_l1_index(16, 13, 512ull << 20), 1);
    assert_int_equal(qcow2_l1_needed(UINT64_MAX, 9, 6), 1ull << 49);
}

static void test_cdesc(void **state)
{
    for (unsigned cb = 9; cb <= 21; cb++) {
        unsigned x = 70 - cb;
        uint64_t cs = 1ull << cb;
        static const uint64_t offs[] = {0x50000, 0x52060, 512, 511, 1, 0x123456789abull};
        for (size_t i = 0; i < sizeof offs / sizeof *offs; i++) {
            for (uint64_t len = 1; len <= cs; len = len * 3 + 1) {
                uint64_t e = 0, off, n;
                if (x < 56 && offs[i] >> x)
                    continue;
                assert_int_equal(qcow2_cdesc_encode(offs[i], len, cb, &e), 0);
                assert_true(e & QCOW2_OFLAG_COMPRESSED);
                assert_false(e & QCOW2_OFLAG_COPIED);
                qcow2_cdesc_decode(e, cb, &off, &n);
                assert_int_equal(off, offs[i]);
                /* Covers the data, ends at the sector holding its last byte. */
                assert_true(n >= len);
                assert_int_equal((off + n) % 512, 0);
                assert_int_equal((off + n - 1) >> 9, (offs[i] + len - 1) >> 9);
            }
        }
        /* Largest possible stream: a cluster plus one sector starting mid-sector. */
        uint64_t e = 0, off, n;
        assert_int_equal(qcow2_cdesc_encode(100, cs, cb, &e), 0);
        qcow2_cdesc_decode(e, cb, &off, &n);
        assert_int_equal(n, cs + 512 - 100);
        /* Offsets beyond the field are refused. */
        if (x < 56)
            assert_int_equal(qcow2_cdesc_encode(1ull << x, 10, cb, &e), -1);
        assert_int_equal(qcow2_cdesc_encode(1ull << 56, 10, cb, &e), -1);
    }
    /* The example from qemu 7.2: 64 KiB clusters, 0x4400000000050000 -> 17 sectors. */
    uint64_t off, n;
    qcow2_cdesc_decode(0x4400000000050000ull, 16, &off, &n);
    assert_int_equal(off, 0x50000);
    assert_int_equal(n, 17 * 512);
}

static void test_refcounts(void **state)
{
    uint8_t blk[4096];
    for (unsigned order = 0; order <= 6; order++) {
        unsigned bits = 1u << order;
        uint64_t max = bits == 64 ? UINT64_MAX : (1ull << bits) - 1;
        uint64_t n = sizeof blk * 8 / bits;
        memset(blk, 0, sizeof blk);
        for (uint64_t i = 0; i < n; i++)
            qcow2_rc_set(blk, order, i, (i * 0x9E3779B97F4A7C15ull) & max);
        for (uint64_t i = 0; i < n; i++)
            assert_true(qcow2_rc_get(blk, order, i) == ((i * 0x9E3779B97F4A7C15ull) & max));
        /* Setting one entry leaves its neighbours alone. */
        uint64_t before = qcow2_rc_get(blk, order, 6), after = qcow2_rc_get(blk, order, 8);
        qcow2_rc_set(blk, order, 7, max);
        assert_true(qcow2_rc_get(blk, order, 7) == max);
        assert_true(qcow2_rc_get(blk, order, 6) == before);
        assert_true(qcow2_rc_get(blk, order, 8) == after);
    }
    /* Byte layout: sub-byte widths LSB first, wider ones big-endian. */
    memset(blk, 0, 16);
    qcow2_rc_set(blk, 0, 0, 1);
    qcow2_rc_set(blk, 0, 3, 1);
    assert_int_equal(blk[0], 0x09);
    memset(blk, 0, 16);
    qcow2_rc_set(blk, 1, 1, 2);
    assert_int_equal(blk[0], 0x08);
    memset(blk, 0, 16);
    qcow2_rc_set(blk, 2, 1, 0xa);
    qcow2_rc_set(blk, 2, 0, 0x3);
    assert_int_equal(blk[0], 0xa3);
    memset(blk, 0, 16);
    qcow2_rc_set(blk, 4, 1, 0x0102);
    assert_int_equal(blk[2], 0x01);
    assert_int_equal(blk[3], 0x02);
    qcow2_rc_set(blk, 5, 1, 0x01020304);
    assert_memory_equal(blk + 4, "\x01\x02\x03\x04", 4);
    qcow2_rc_set(blk, 6, 1, 0x0102030405060708ull);
    assert_memory_equal(blk + 8, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
}

static void test_entry_type(void **state)
{
    assert_int_equal(qcow2_entry_type(0, false, false), QCOW2_C_UNALLOC);
    assert_int_equal(qcow2_entry_type(1, false, false), QCOW2_C_ZERO);
    assert_int_equal(qcow2_entry_type(0x50000 | 1, false, false), QCOW2_C_ZERO_ALLOC);
    assert_int_equal(qcow2_entry_type(0x8000000000050000ull, false, false), QCOW2_C_DATA);
    assert_int_equal(qcow2_entry_type(0x4400000000050000ull, false, false), QCOW2_C_COMPRESSED);
    /* Extended L2 ignores the zero flag; an external data file makes offset 0 valid. */
    assert_int_equal(qcow2_entry_type(1, true, false), QCOW2_C_UNALLOC);
    assert_int_equal(qcow2_entry_type(QCOW2_OFLAG_COPIED, false, true), QCOW2_C_DATA);
    assert_int_equal(qcow2_entry_type(QCOW2_OFLAG_COPIED, false, false), QCOW2_C_UNALLOC);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_translation),
        cmocka_unit_test(test_cdesc),
        cmocka_unit_test(test_refcounts),
        cmocka_unit_test(test_entry_type),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

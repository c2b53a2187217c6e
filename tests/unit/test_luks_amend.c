/* SPDX-License-Identifier: GPL-2.0-or-later */
/* test_luks_amend.c: core/crypto/luks.c key-slot changes on an in-memory LUKS area: the order of
 * writes and syncs (a new slot's material synced before its header entry turns active; an
 * erased slot's entry synced inactive before its material is overwritten), that the passwords
 * open what they should afterwards, and that refused requests write nothing; and the header
 * limits luks_parse enforces (iterations, stripes). */
#include "testutil.h"

#include "core/base/bytes.h"
#include "core/crypto/luks.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The area and a log of what reached it: "W<off>+<len>" and "S", space-separated. */
struct mem {
    uint8_t *area;
    size_t len;
    char log[512];
};

static int mem_rd(void *ctx, void *buf, size_t len, uint64_t off)
{
    struct mem *m = ctx;
    if (off > m->len || len > m->len - off)
        return -EIO;
    memcpy(buf, m->area + off, len);
    return 0;
}

static int mem_wr(void *ctx, const void *buf, size_t len, uint64_t off)
{
    struct mem *m = ctx;
    if (off > m->len || len > m->len - off)
        return -EIO;
    memcpy(m->area + off, buf, len);
    size_t n = strlen(m->log);
    snprintf(m->log + n, sizeof m->log - n, "W%llu+%zu ", (unsigned long long)off, len);
    return 0;
}

static int mem_sync(void *ctx)
{
    struct mem *m = ctx;
    size_t n = strlen(m->log);
    snprintf(m->log + n, sizeof m->log - n, "S ");
    return 0;
}

static const uint8_t PW0[] = "zero", PW1[] = "one";

/* A fresh area with slot 0 under PW0, its parsed header and the logging I/O. */
struct fix {
    struct mem m;
    struct luks l;
    struct luks_io io;
    struct img_err e;
};

static int fix_setup(void **state)
{
    struct fix *f = calloc(1, sizeof *f);
    struct luks_params p = {"aes-256", "xts", "plain64", "sha256", "sha256", 1};
    assert_non_null(f);
    assert_int_equal(luks_format(&p, PW0, 4, &f->m.area, &f->m.len, &f->e), 0);
    assert_int_equal(luks_parse(f->m.area, f->m.len, &f->l, &f->e), 0);
    f->io = (struct luks_io){mem_rd, mem_wr, mem_sync, &f->m};
    *state = f;
    return 0;
}

static int fix_teardown(void **state)
{
    struct fix *f = *state;
    free(f->m.area);
    free(f);
    return 0;
}

static bool opens(struct mem *m, const uint8_t *pw, size_t n)
{
    struct luks l;
    struct img_err e = {0};
    struct crypto_cipher *c = NULL;
    assert_int_equal(luks_parse(m->area, m->len, &l, &e), 0);
    int r = luks_unlock(&l, pw, n, mem_rd, m, &c, &e);
    crypto_cipher_free(c);
    return r == 0;
}

static void test_add_then_erase_order(void **state)
{
    struct fix *f = *state;
    struct luks_amend add = {.add = true,
                             .slot = -1,
                             .pw = PW0,
                             .pwlen = 4,
                             .new_pw = PW1,
                             .new_len = 3,
                             .iter_time = 1};
    assert_int_equal(luks_amend(&f->l, &add, &f->io, &f->e), 0);
    char want[256];
    /* Slot 1 (the first free one): material (64-byte key * 4000 stripes) then sync, then its
     * 48-byte entry at 208 + 48, then sync. */
    snprintf(want, sizeof want, "W%llu+256000 S W256+48 S ", (unsigned long long)f->l.slot[1].off);
    assert_string_equal(f->m.log, want);
    assert_true(f->l.slot[1].active);
    assert_true(opens(&f->m, PW1, 3));
    assert_true(opens(&f->m, PW0, 4));

    f->m.log[0] = 0;
    struct luks_amend rm = {.slot = -1, .old_pw = PW0, .old_len = 4};
    assert_int_equal(luks_amend(&f->l, &rm, &f->io, &f->e), 0);
    snprintf(want, sizeof want, "W208+48 S W%llu+256000 S ", (unsigned long long)f->l.slot[0].off);
    assert_string_equal(f->m.log, want);
    assert_false(opens(&f->m, PW0, 4));
    assert_true(opens(&f->m, PW1, 3));
}

static void test_refusals_write_nothing(void **state)
{
    struct fix *f = *state;
    struct luks_amend bad = {.add = true,
                             .slot = -1,
                             .pw = PW1,
                             .pwlen = 3,
                             .new_pw = PW1,
                             .new_len = 3,
                             .iter_time = 1};
    assert_int_equal(luks_amend(&f->l, &bad, &f->io, &f->e), -EACCES);
    struct luks_amend last = {.slot = 0, .pw = PW0, .pwlen = 4};
    assert_int_equal(luks_amend(&f->l, &last, &f->io, &f->e), -EPERM);
    struct luks_amend byold = {.slot = -1, .old_pw = PW0, .old_len = 4};
    assert_int_equal(luks_amend(&f->l, &byold, &f->io, &f->e), -EPERM);
    struct luks_amend over = {
        .add = true, .slot = 0, .pw = PW0, .pwlen = 4, .new_pw = PW1, .new_len = 3, .iter_time = 1};
    assert_int_equal(luks_amend(&f->l, &over, &f->io, &f->e), -EEXIST);
    struct luks_amend range = {.slot = 8, .pw = PW0, .pwlen = 4};
    assert_int_equal(luks_amend(&f->l, &range, &f->io, &f->e), -EINVAL);
    assert_string_equal(f->m.log, "");
    /* Forced: the last slot goes, and nothing opens any more. */
    last.force = true;
    assert_int_equal(luks_amend(&f->l, &last, &f->io, &f->e), 0);
    assert_false(opens(&f->m, PW0, 4));
}

/* luks_parse's field's error for the header h (or NULL when it parses). */
static const char *parse_err(const uint8_t *h, size_t len)
{
    static struct img_err e;
    struct luks l;
    memset(&e, 0, sizeof e);
    return luks_parse(h, len, &l, &e) == 0 ? NULL : e.msg;
}

/* README's LUKS limits: iterations 1..2^25 for the master-key digest and each active slot
 * (2^25 itself parses), 4000 stripes; then the fuzz targets' lower iteration limit
 * (luks_set_iter_limit), which can only lower it and is named in the same error. Runs last:
 * the lowered limit stays for the rest of the process. */
static void test_parse_limits(void **state)
{
    struct fix *f = *state;
    uint8_t *h = f->m.area; /* mk iterations at 164; slot 0 (active) at 208: iter +4, stripes +44 */
    size_t n = f->m.len;
    be32_store(h + 164, 1u << 25);
    be32_store(h + 208 + 4, 1u << 25);
    assert_null(parse_err(h, n));
    be32_store(h + 164, (1u << 25) + 1);
    assert_string_equal(parse_err(h, n),
                        "LUKS: master key digest iterations 33554433 out of range (1..33554432)");
    be32_store(h + 164, 0);
    assert_non_null(strstr(parse_err(h, n), "master key digest iterations 0 out of range"));
    be32_store(h + 164, 1000);
    be32_store(h + 208 + 4, (1u << 25) + 1);
    assert_string_equal(parse_err(h, n),
                        "LUKS: key slot 0: iterations 33554433 out of range (1..33554432)");
    be32_store(h + 208 + 4, 1000);
    be32_store(h + 208 + 44, 4001);
    assert_string_equal(parse_err(h, n), "LUKS: key slot 0: 4001 stripes (must be 4000)");
    be32_store(h + 208 + 44, 4000);
    assert_null(parse_err(h, n));

    luks_set_iter_limit(1u << 30); /* never raised */
    be32_store(h + 208 + 4, (1u << 25) + 1);
    assert_non_null(parse_err(h, n));
    luks_set_iter_limit(1000);
    be32_store(h + 208 + 4, 1000);
    assert_null(parse_err(h, n));
    be32_store(h + 208 + 4, 1001);
    assert_string_equal(parse_err(h, n),
                        "LUKS: key slot 0: iterations 1001 out of range (1..1000)");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_add_then_erase_order, fix_setup, fix_teardown),
        cmocka_unit_test_setup_teardown(test_refusals_write_nothing, fix_setup, fix_teardown),
        cmocka_unit_test_setup_teardown(test_parse_limits, fix_setup, fix_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

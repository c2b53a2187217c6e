/* SPDX-License-Identifier: GPL-2.0-or-later */
/* test_tui_model.c: the curses-free parts of the interactive application: the key table
 * (no key means two things on one screen, every F-key has a letter, help text everywhere,
 * lookup per screen, names) and the layout at 20x5, 80x24, 200x60 and the edges between
 * modes (rectangles inside the screen and not overlapping).
 * Talks to: tui/keymap.h, tui/layout.h.
 */
#include <curses.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "tui/keymap.h"
#include "tui/layout.h"

static void test_no_collisions(void **state)
{
    (void)state;
    char out[16][96];
    size_t n = keymap_collisions(out, 16);
    for (size_t i = 0; i < n && i < 16; i++)
        print_message("collision: %s\n", out[i]);
    assert_int_equal(n, 0);
}

static void test_bindings_complete(void **state)
{
    (void)state;
    unsigned fctx[11] = {0}; /* the screens each F-key already means something on */
    for (int a = 1; a < KM_A_COUNT; a++) {
        const struct km_binding *b = keymap_binding((enum km_action)a);
        assert_int_equal(b->act, a);
        assert_non_null(b->help);
        assert_true(strlen(b->help) > 3);
        assert_true(b->ctx != 0);
        char keys[64];
        keymap_keys_text((enum km_action)a, keys, sizeof keys);
        /* Every action has a key that is not an F-key (htop#576: F-keys need aliases). */
        assert_true(keys[0] != 0);
        assert_false(keys[0] == 'F' && keys[1] >= '0' && keys[1] <= '9' &&
                     strchr(keys, ' ') == NULL);
        if (b->fkey) {
            assert_in_range(b->fkey, 1, 10);
            assert_non_null(b->label);
            assert_true(strlen(b->label) <= 6); /* fits the bar's cell */
            /* One meaning per screen: View and Map share F3 on different screens. */
            assert_false(fctx[b->fkey] & b->ctx);
            fctx[b->fkey] |= b->ctx;
        }
    }
    for (int f = 1; f <= 10; f++)
        assert_true(fctx[f] != 0);
}

static void test_lookup(void **state)
{
    (void)state;
    assert_int_equal(keymap_lookup(KM_BROWSER, 'q'), KM_A_QUIT);
    assert_int_equal(keymap_lookup(KM_MAP, KEY_F(10)), KM_A_QUIT);
    assert_int_equal(keymap_lookup(KM_BROWSER, 'c'), KM_A_CONVERT);
    assert_int_equal(keymap_lookup(KM_BROWSER, KEY_F(5)), KM_A_CONVERT);
    /* Screen-specific meanings of one key. */
    assert_int_equal(keymap_lookup(KM_BROWSER, 'A'), KM_A_APPEND);
    assert_int_equal(keymap_lookup(KM_TREE, 'A'), KM_A_SNAP_APPLY);
    assert_int_equal(keymap_lookup(KM_BROWSER, 'h'), KM_A_BACK);
    assert_int_equal(keymap_lookup(KM_MAP, 'h'), KM_A_LEFT);
    assert_int_equal(keymap_lookup(KM_BROWSER, '\r'), KM_A_OPEN);
    assert_int_equal(keymap_lookup(KM_MAP, 'c'), KM_A_NONE); /* no convert from the map */
    /* vi motions and '/' are never actions that change images (htop#638). */
    const int motions[] = {'h', 'j', 'k', 'l', 'g', 'G', '/'};
    for (size_t i = 0; i < sizeof motions / sizeof motions[0]; i++)
        for (unsigned ctx = 1; ctx <= KM_INSIDE; ctx <<= 1)
            assert_false(keymap_binding(keymap_lookup(ctx, motions[i]))->mutates);
    /* Actions that change images use capital letters, or are convert (a new file). */
    for (int a = 1; a < KM_A_COUNT; a++) {
        const struct km_binding *b = keymap_binding((enum km_action)a);
        char keys[64];
        keymap_keys_text((enum km_action)a, keys, sizeof keys);
        if (b->mutates && a != KM_A_CONVERT)
            assert_true(keys[0] >= 'A' && keys[0] <= 'Z' && (keys[1] == ' ' || !keys[1]));
    }
}

static void test_key_names(void **state)
{
    (void)state;
    assert_string_equal(keymap_key_name('q'), "q");
    assert_string_equal(keymap_key_name(KEY_F(5)), "F5");
    assert_string_equal(keymap_key_name('L' & 0x1f), "^L");
    assert_string_equal(keymap_key_name(KEY_NPAGE), "PgDn");
    char buf[64];
    assert_string_equal(keymap_keys_text(KM_A_QUIT, buf, sizeof buf), "q F10");
    assert_string_equal(keymap_keys_text(KM_A_UP, buf, sizeof buf), "Up k");
}

static bool inside(struct rect r, int w, int h)
{
    return r.x >= 0 && r.y >= 0 && r.w >= 0 && r.h >= 0 && r.x + r.w <= w && r.y + r.h <= h;
}

static bool overlap(struct rect a, struct rect b)
{
    if (!a.w || !a.h || !b.w || !b.h)
        return false;
    return a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
}

static void check_sane(struct layout l, int w, int h)
{
    struct rect all[] = {l.header, l.list, l.info, l.status, l.fbar};
    for (size_t i = 0; i < 5; i++) {
        assert_true(inside(all[i], w, h));
        for (size_t k = i + 1; k < 5; k++)
            assert_false(overlap(all[i], all[k]));
    }
    assert_int_equal(l.header.y, 0);
    assert_int_equal(l.fbar.y, h - 1);
    assert_int_equal(l.status.y, h - 2);
    assert_true(l.list.h >= 2);
}

static void test_layout_sizes(void **state)
{
    (void)state;
    struct layout l = layout_compute(20, 5, true);
    assert_int_equal(l.mode, LAYOUT_TOO_SMALL);
    l = layout_compute(80, 24, true);
    assert_int_equal(l.mode, LAYOUT_BELOW);
    check_sane(l, 80, 24);
    assert_int_equal(l.list.w, 80);
    assert_true(l.list.h >= 8);
    assert_int_equal(l.info.y, l.list.y + l.list.h);
    assert_int_equal(l.list.h + l.info.h, 24 - 3);
    l = layout_compute(200, 60, true);
    assert_int_equal(l.mode, LAYOUT_BESIDE);
    check_sane(l, 200, 60);
    assert_int_equal(l.list.w + l.info.w, 200);
    assert_int_equal(l.info.h, 57);
    assert_true(l.list.w >= 60);
    l = layout_compute(200, 60, false);
    assert_int_equal(l.mode, LAYOUT_LIST);
    assert_int_equal(l.list.w, 200);
}

static void test_layout_edges(void **state)
{
    (void)state;
    /* The smallest usable size, and one below it in each direction. */
    assert_int_equal(layout_compute(LAYOUT_MIN_W, LAYOUT_MIN_H, true).mode, LAYOUT_LIST);
    check_sane(layout_compute(LAYOUT_MIN_W, LAYOUT_MIN_H, true), LAYOUT_MIN_W, LAYOUT_MIN_H);
    assert_int_equal(layout_compute(LAYOUT_MIN_W - 1, 40, true).mode, LAYOUT_TOO_SMALL);
    assert_int_equal(layout_compute(200, LAYOUT_MIN_H - 1, true).mode, LAYOUT_TOO_SMALL);
    assert_int_equal(layout_compute(0, 0, true).mode, LAYOUT_TOO_SMALL);
    assert_int_equal(layout_compute(-5, -5, true).mode, LAYOUT_TOO_SMALL);
    /* Every size from tiny to large: sane whatever the mode. */
    for (int w = LAYOUT_MIN_W; w <= 220; w += 7)
        for (int h = LAYOUT_MIN_H; h <= 70; h += 3)
            check_sane(layout_compute(w, h, true), w, h);
    assert_int_equal(layout_compute(99, 40, true).mode, LAYOUT_BELOW);
    assert_int_equal(layout_compute(100, 40, true).mode, LAYOUT_BESIDE);
    assert_int_equal(layout_compute(59, 40, true).mode, LAYOUT_LIST);
}

/* The list behaviour every list screen shares (issue 15): End reaches the last item and the
 * cursor stays on screen; a shrunk list leaves no blank screen; the position is 1-based. */
static void test_list_scroll(void **state)
{
    (void)state;
    size_t cur = 0, top = 0;
    assert_true(list_key(&cur, 40, 10, KM_A_END));
    assert_int_equal(cur, 39);
    top = list_top(cur, top, 40, 10);
    assert_int_equal(top, 30); /* the last item on the last row */
    assert_true(list_key(&cur, 40, 10, KM_A_PGUP));
    assert_int_equal(cur, 29);
    top = list_top(cur, top, 40, 10);
    assert_true(cur >= top && cur < top + 10);
    assert_true(list_key(&cur, 40, 10, KM_A_HOME));
    assert_int_equal(list_top(cur, top, 40, 10), 0);
    assert_true(list_key(&cur, 40, 10, KM_A_UP));
    assert_int_equal(cur, 0);
    cur = 39;
    assert_true(list_key(&cur, 40, 10, KM_A_DOWN));
    assert_int_equal(cur, 39);
    assert_true(list_key(&cur, 40, 10, KM_A_PGDN));
    assert_int_equal(cur, 39);
    /* The list shrank to 12 items with top at 30: the cursor is clamped, the screen full. */
    cur = 11;
    assert_int_equal(list_top(cur, 30, 12, 10), 2);
    assert_int_equal(list_top(0, 5, 3, 10), 0);
    cur = 7;
    assert_true(list_key(&cur, 0, 10, KM_A_END));
    assert_int_equal(cur, 0);
    assert_false(list_key(&cur, 40, 10, KM_A_MAP));
    char buf[32];
    list_position(buf, sizeof buf, 11, 40);
    assert_string_equal(buf, "12/40");
    list_position(buf, sizeof buf, 0, 0);
    assert_string_equal(buf, "0/0");
}

/* The list widget on top of it (issue 16): the selection placed on screen after End and
 * after the list shrank; a text without selection scrolls by lines and pages, never past its
 * last screenful. */
static void test_list_widget(void **state)
{
    (void)state;
    struct list l = {0, 0};
    assert_true(list_move(&l, 40, 10, KM_A_END));
    list_place(&l, 40, 10);
    assert_int_equal(l.cur, 39);
    assert_int_equal(l.top, 30);
    list_place(&l, 12, 10); /* 28 items went */
    assert_int_equal(l.cur, 11);
    assert_int_equal(l.top, 2);
    list_place(&l, 0, 10);
    assert_int_equal(l.top, 0);
    assert_false(list_move(&l, 40, 10, KM_A_CONVERT));
    struct list t = {0, 0};
    assert_true(list_scroll(&t, 50, 20, 10, KM_A_PGDN));
    assert_int_equal(t.top, 10);
    assert_true(list_scroll(&t, 50, 20, 10, KM_A_PGDN));
    assert_true(list_scroll(&t, 50, 20, 10, KM_A_PGDN));
    assert_int_equal(t.top, 30); /* the last screenful */
    assert_true(list_scroll(&t, 50, 20, 10, KM_A_DOWN));
    assert_int_equal(t.top, 30);
    assert_true(list_scroll(&t, 50, 20, 10, KM_A_UP));
    assert_int_equal(t.top, 29);
    assert_true(list_scroll(&t, 50, 20, 10, KM_A_HOME));
    assert_int_equal(t.top, 0);
    assert_true(list_scroll(&t, 50, 20, 10, KM_A_END));
    assert_int_equal(t.top, 30);
    assert_true(list_scroll(&t, 5, 20, 10, KM_A_END));
    assert_int_equal(t.top, 0); /* shorter than the screen: nothing to scroll */
    assert_false(list_scroll(&t, 50, 20, 10, KM_A_MAP));
}

/* Issue 15: F-bar labels never touch ("6Resize7Append") and 10Quit fits at 60 columns; the
 * name column shrinks before the size columns go. */
static void test_fbar_and_columns(void **state)
{
    (void)state;
    static const int widths[] = {30, 40, 60, 80, 120, 200};
    for (size_t k = 0; k < sizeof widths / sizeof widths[0]; k++) {
        int w = widths[k], lw, prev_end = -1;
        for (int f = 1; f <= 10; f++) {
            int x = layout_fkey_x(w, f, &lw);
            assert_true(x > prev_end); /* a blank (or more) after the previous label */
            int end = x + (f == 10 ? 2 : 1) + lw;
            assert_true(end <= w);
            prev_end = end;
        }
        if (w >= 60) {
            layout_fkey_x(w, 10, &lw);
            assert_int_equal(lw, 4); /* "Quit" whole */
        }
    }
    int nw;
    assert_int_equal(layout_browser_cols(120, &nw), 5);
    assert_int_equal(nw, 120 - 39);
    assert_int_equal(layout_browser_cols(40, &nw), 3); /* format, virtual, on disk */
    assert_int_equal(nw, 12);
    assert_int_equal(layout_browser_cols(51, &nw), 5);
    assert_int_equal(nw, 12);
    assert_int_equal(layout_browser_cols(20, &nw), 1);
    assert_true(layout_browser_cols(5, &nw) == 0 && nw == 5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_collisions),    cmocka_unit_test(test_bindings_complete),
        cmocka_unit_test(test_lookup),           cmocka_unit_test(test_key_names),
        cmocka_unit_test(test_layout_sizes),     cmocka_unit_test(test_layout_edges),
        cmocka_unit_test(test_list_scroll),      cmocka_unit_test(test_list_widget),
        cmocka_unit_test(test_fbar_and_columns),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

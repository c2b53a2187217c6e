/* SPDX-License-Identifier: GPL-2.0-or-later */
/* test_theme.c: unit tests for tui/theme.c (headless, no curses): the shipped themes parse
 * cleanly on every colour tier, inherit and @references (and their cycles), warnings with
 * file:line, colour parsing and downgrade (rgb -> 256 -> 16 -> 8, checked numerically),
 * tiers overriding only what they list, glyph forms, theme_choose and NO_COLOR, the lookup
 * order through XDG directories, the file-size cap, and a fuzz loop over random input. */
#include "testutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tui/theme.h"

static const char *const shipped[] = {"default", "mono", "dark", "light", "classic-blue"};
static const int tiers[] = {0, 8, 16, 256, THEME_TRUECOLOR};

static void dump_warnings(const struct theme *t)
{
    for (size_t i = 0; i < t->nwarn; i++)
        print_message("warning: %s\n", t->warnings[i]);
}

/* Parse text as fname; the caller frees. */
static void parse(struct theme *t, const char *text, int colors)
{
    assert_int_equal(theme_parse_buf(t, text, strlen(text), "t.theme", colors, true), 0);
}

static bool has_warning(const struct theme *t, const char *needle)
{
    for (size_t i = 0; i < t->nwarn; i++)
        if (strstr(t->warnings[i], needle))
            return true;
    return false;
}

static void expect_warning(const struct theme *t, const char *needle)
{
    if (!has_warning(t, needle)) {
        dump_warnings(t);
        fail_msg("no warning containing \"%s\"", needle);
    }
}

static void expect_clean(const struct theme *t)
{
    if (t->nwarn) {
        dump_warnings(t);
        fail_msg("%zu unexpected warnings", t->nwarn);
    }
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

static void mkdirs(const char *path)
{
    assert_int_equal(tu_sh("mkdir -p '%s'", path), 0);
}

#define E(x) THEME_E_##x

static void expect_color(const struct theme *t, enum theme_elem e, int32_t fg, int32_t bg,
                         unsigned attrs)
{
    const struct theme_color *c = &t->c[e];
    if (c->fg != fg || c->bg != bg || c->attrs != attrs)
        fail_msg("%s: fg %d bg %d attrs %#x, want fg %d bg %d attrs %#x", theme_elem_name(e),
                 (int)c->fg, (int)c->bg, c->attrs, (int)fg, (int)bg, attrs);
}

/* ---- shipped themes ---- */

static void test_shipped_themes_clean(void **state)
{
    for (size_t i = 0; i < sizeof shipped / sizeof shipped[0]; i++)
        for (size_t k = 0; k < sizeof tiers / sizeof tiers[0]; k++) {
            char path[1024], err[256] = "";
            snprintf(path, sizeof path, "%s/%s.theme", DIMG_SOURCE_THEME_DIR, shipped[i]);
            struct theme t;
            int r = theme_load(&t, path, tiers[k], k & 1, err, sizeof err);
            if (r != 0)
                fail_msg("%s: %s", path, err);
            if (t.nwarn) {
                dump_warnings(&t);
                fail_msg("%s at %d colours: warnings", path, tiers[k]);
            }
            assert_string_equal(t.name, shipped[i]);
            for (int e = 0; e < THEME_E_COUNT; e++) {
                int32_t max = tiers[k] >= THEME_TRUECOLOR ? THEME_RGB_FLAG | 0xffffff
                              : tiers[k] >= 256           ? 255
                              : tiers[k] >= 16            ? 15
                                                          : 7;
                assert_true(t.c[e].fg >= -1 && t.c[e].fg <= max);
                assert_true(t.c[e].bg >= -1 && t.c[e].bg <= max);
                if (tiers[k] == 0)
                    assert_true(t.c[e].fg == -1 && t.c[e].bg == -1);
            }
            theme_free(&t);
        }
}

static void test_builtins_match_files(void **state)
{
    const char *names[] = {"default", "mono"};
    for (int i = 0; i < 2; i++) {
        size_t blen, flen;
        const char *b = theme_builtin(names[i], &blen);
        assert_non_null(b);
        char path[1024];
        snprintf(path, sizeof path, "%s/%s.theme", DIMG_SOURCE_THEME_DIR, names[i]);
        char *f = tu_read_file(path, &flen);
        assert_non_null(f);
        assert_int_equal(blen, flen);
        assert_memory_equal(b, f, flen);
        assert_int_equal(b[blen], 0); /* also a C string */
        free(f);
        struct theme t;
        assert_int_equal(theme_parse_buf(&t, b, blen, "builtin", 256, true), 0);
        expect_clean(&t);
        theme_free(&t);
    }
    size_t len;
    assert_null(theme_builtin("dark", &len));
}

/* default.theme lists the glyph table as documentation: it must say what the code has. */
static void test_default_glyphs_match_table(void **state)
{
    struct theme fb, def;
    parse(&fb, "", 256);
    char path[1024], err[256];
    snprintf(path, sizeof path, "%s/default.theme", DIMG_SOURCE_THEME_DIR);
    assert_int_equal(theme_load(&def, path, 256, true, err, sizeof err), 0);
    for (int g = 0; g < THEME_G_COUNT; g++)
        for (int k = 0; k < 2; k++)
            if (strcmp(fb.glyph[g][k], def.glyph[g][k]))
                fail_msg("glyph %s: table '%s', default.theme '%s'", theme_glyph_name(g),
                         fb.glyph[g][k], def.glyph[g][k]);
    theme_free(&fb);
    theme_free(&def);
}

static void test_readme_lists_names(void **state)
{
    char path[1024], want[128];
    snprintf(path, sizeof path, "%s/README.md", DIMG_SOURCE_THEME_DIR);
    size_t len;
    char *text = tu_read_file(path, &len);
    assert_non_null(text);
    char *z = realloc(text, len + 1);
    assert_non_null(z);
    z[len] = 0;
    for (int e = 0; e < THEME_E_COUNT; e++) {
        snprintf(want, sizeof want, "`%s`", theme_elem_name(e));
        if (!strstr(z, want))
            fail_msg("themes/README.md does not document element %s", want);
    }
    for (int g = 0; g < THEME_G_COUNT; g++) {
        snprintf(want, sizeof want, "`%s`", theme_glyph_name(g));
        if (!strstr(z, want))
            fail_msg("themes/README.md does not document glyph %s", want);
    }
    free(z);
}

static void test_names(void **state)
{
    assert_int_equal(THEME_E_COUNT, 46);
    assert_int_equal(theme_elem_find("default"), E(DEFAULT));
    assert_int_equal(theme_elem_find("Dialog.Button.Focus"), E(DIALOG_BUTTON_FOCUS));
    assert_int_equal(theme_elem_find("tree.line"), E(TREE_LINE));
    assert_int_equal(theme_elem_find("map"), -1);
    assert_string_equal(theme_elem_name(E(MAP_L2)), "map.l2");
    assert_null(theme_elem_name(THEME_E_COUNT));
    assert_int_equal(theme_glyph_find("tree.last"), THEME_G_TREE_LAST);
    assert_int_equal(theme_glyph_find("nope"), -1);
}

/* ---- parsing ---- */

static void test_basic_entries_and_comments(void **state)
{
    struct theme t;
    parse(&t,
          "# a comment\n"
          "[theme]   # trailing comment\n"
          "name = mine\r\n"
          "[colors]\n"
          "selection = black cyan bold   # why\n"
          "dir = brightblue default underline dim\n"
          "size = 3\n"
          "[colors.256]\n"
          "default = 252 #1c1c3a   # 0-255 or #rrggbb\n",
          256);
    expect_clean(&t);
    assert_string_equal(t.name, "mine");
    expect_color(&t, E(SELECTION), 0, 6, THEME_A_BOLD);
    expect_color(&t, E(DIR), 12, 235, THEME_A_UNDERLINE | THEME_A_DIM);
    expect_color(&t, E(SIZE), 3, 235, 0); /* bg "default" = the default element's */
    expect_color(&t, E(DEFAULT), 252, 235, 0);
    /* left out: default's colours, the built-in attribute */
    expect_color(&t, E(HEADER), 252, 235, THEME_A_REVERSE);
    theme_free(&t);

    /* a file without `name =` is named after the file */
    assert_int_equal(theme_parse_buf(&t, "", 0, "/x/y/nice.one.theme", 8, false), 0);
    assert_string_equal(t.name, "nice.one");
    theme_free(&t);
}

static void test_unknown_element_line(void **state)
{
    struct theme t;
    parse(&t,
          "[colors]\nselection = black cyan\n\nfoo.bar = red default\n[glyphs]\nnope = a\n"
          "[what]\nx = y\n[colors]\nstray\n",
          16);
    expect_warning(&t, "t.theme:4: unknown element 'foo.bar'");
    expect_warning(&t, "t.theme:6: unknown glyph 'nope'");
    expect_warning(&t, "t.theme:7: unknown section [what]");
    expect_warning(&t, "t.theme:10: expected 'name = value'");
    assert_int_equal(t.nwarn, 4); /* x = y inside [what] is not warned again */
    expect_color(&t, E(SELECTION), 0, 6, 0);
    theme_free(&t);

    parse(&t, "selection = red default\n", 16);
    expect_warning(&t, "t.theme:1: 'selection' outside a section");
    theme_free(&t);
}

static void test_bad_colours(void **state)
{
    struct theme t;
    parse(&t,
          "[colors]\n"
          "selection = purple default\n"
          "header = 256 default\n"
          "footer = #12345g default\n"
          "status = red green blue\n"
          "dir = @image red\n"
          "size =\n"
          "title = #fff default\n"
          "border = -1 default\n",
          256);
    expect_warning(&t, "t.theme:2: selection: 'purple' is not a colour");
    expect_warning(&t, "t.theme:3: header: '256' is not a colour");
    expect_warning(&t, "t.theme:4: footer: '#12345g'");
    expect_warning(&t, "t.theme:5: status: more than two colours");
    expect_warning(&t, "t.theme:6: dir: 'red' is not a colour (a reference");
    expect_warning(&t, "t.theme:7: size: no value");
    expect_warning(&t, "t.theme:8: title: '#fff'");
    expect_warning(&t, "t.theme:9: border: '-1'");
    assert_int_equal(t.nwarn, 8);
    /* skipped lines leave the fallbacks */
    expect_color(&t, E(SELECTION), -1, -1, THEME_A_REVERSE);
    expect_color(&t, E(DIR), -1, -1, THEME_A_BOLD);
    theme_free(&t);
}

static void test_bright_background_base_tier(void **state)
{
    struct theme t;
    parse(&t,
          "[colors]\nselection = black brightcyan\nheader = brightyellow blue\n"
          "[colors.256]\nfooter = black brightcyan\n",
          256);
    expect_warning(&t, "t.theme:2: selection: bright background in [colors]; using cyan");
    assert_int_equal(t.nwarn, 1);
    expect_color(&t, E(SELECTION), 0, 6, 0);
    expect_color(&t, E(HEADER), 11, 4, 0); /* bright foreground is fine */
    expect_color(&t, E(FOOTER), 0, 14, 0); /* and the 256 tier may use bright backgrounds */
    theme_free(&t);

    /* a number or rgb colour that lands on a bright background in the base tier, too */
    parse(&t, "[colors]\nselection = black 14\nheader = black #00ffff\n", 16);
    expect_color(&t, E(SELECTION), 0, 6, 0);
    expect_color(&t, E(HEADER), 0, 6, 0);
    theme_free(&t);
}

static void test_tiers_override_what_they_list(void **state)
{
    const char *text = "[colors]\n"
                       "selection = black cyan\n"
                       "dir = blue default\n"
                       "size = yellow default\n"
                       "[colors.256]\n"
                       "selection = 16 117\n"
                       "size = 179 default\n"
                       "[colors.truecolor]\n"
                       "selection = #102030 #405060\n";
    struct theme t;
    parse(&t, text, 16);
    expect_color(&t, E(SELECTION), 0, 6, 0);
    expect_color(&t, E(DIR), 4, -1, 0);
    theme_free(&t);
    parse(&t, text, 256);
    expect_color(&t, E(SELECTION), 16, 117, 0);
    expect_color(&t, E(DIR), 4, -1, 0);
    expect_color(&t, E(SIZE), 179, -1, 0);
    theme_free(&t);
    parse(&t, text, THEME_TRUECOLOR);
    expect_color(&t, E(SELECTION), theme_rgb(0x10, 0x20, 0x30), theme_rgb(0x40, 0x50, 0x60), 0);
    expect_color(&t, E(SIZE), 179, -1, 0);
    expect_clean(&t);
    theme_free(&t);

    /* a missing tier falls back silently */
    parse(&t, "[colors]\nselection = black cyan\n", THEME_TRUECOLOR);
    expect_clean(&t);
    expect_color(&t, E(SELECTION), 0, 6, 0);
    theme_free(&t);
}

static void test_reuse(void **state)
{
    struct theme t;
    parse(&t,
          "[colors]\n"
          "default = white blue\n"
          "selection = black cyan\n"
          "dir = @default bold\n"
          "marker = @selection underline\n"
          "size = @marker\n", /* a chain of references */
          8);
    expect_clean(&t);
    expect_color(&t, E(DIR), 7, 4, THEME_A_BOLD);
    expect_color(&t, E(MARKER), 0, 6, THEME_A_UNDERLINE);
    expect_color(&t, E(SIZE), 0, 6, THEME_A_UNDERLINE);
    theme_free(&t);

    /* reference to a 256-tier value from the base tier follows the tier in use */
    parse(&t,
          "[colors]\nselection = black cyan\ndir = @selection\n[colors.256]\nselection = 16 117\n",
          256);
    expect_color(&t, E(DIR), 16, 117, 0);
    theme_free(&t);
}

static void test_reuse_cycle(void **state)
{
    struct theme t;
    parse(&t,
          "[colors]\ndefault = white blue\ndir = @size bold\nsize = @title\ntitle = @dir\n"
          "marker = @marker\nheader = @default\n",
          16);
    expect_warning(&t, "reference cycle");
    expect_warning(&t, "t.theme:6: marker = @marker");
    assert_int_equal(t.nwarn, 2);
    /* the cycle's elements still get usable colours */
    assert_int_equal(t.c[E(DIR)].fg, 7);
    assert_int_equal(t.c[E(DIR)].bg, 4);
    expect_color(&t, E(HEADER), 7, 4, 0);
    theme_free(&t);

    /* default referring to an element that uses "default" is not a cycle */
    parse(&t, "[colors]\ndefault = @size\nsize = yellow default\n", 16);
    expect_clean(&t);
    expect_color(&t, E(DEFAULT), 3, -1, 0);
    theme_free(&t);
}

static void test_inherit(void **state)
{
    const char *dir = tu_path("inh");
    char p[1024], c[1024];
    mkdirs(dir);
    snprintf(p, sizeof p, "%s/parent.theme", dir);
    snprintf(c, sizeof c, "%s/child.theme", dir);
    write_file(p, "[theme]\nname = parent\n[colors]\ndefault = white blue\n"
                  "selection = black cyan\nheader = red default\n"
                  "[colors.256]\nselection = 16 117\nheader = 196 default\n"
                  "[glyphs]\nmap.data = X | x\nmap.zero = Z | z\n");
    write_file(c, "[colors]\nselection = red default\ndefault = white black\n"
                  "[glyphs]\nmap.zero = ~\n"
                  "[theme]\ninherit = parent.theme\n"); /* inherit may come last */
    struct theme t;
    char err[256];
    assert_int_equal(theme_load(&t, c, 256, true, err, sizeof err), 0);
    expect_clean(&t);
    assert_string_equal(t.name, "child"); /* named after the file, not the parent */
    /* the child's [colors] entry wins over the parent's [colors.256] one */
    expect_color(&t, E(SELECTION), 1, 0, 0);
    /* untouched parent entries, with "default" now meaning the child's default */
    expect_color(&t, E(HEADER), 196, 0, 0);
    expect_color(&t, E(DIR), 7, 0, THEME_A_BOLD);
    assert_string_equal(theme_glyph(&t, THEME_G_MAP_DATA), "X");
    assert_string_equal(theme_glyph(&t, THEME_G_MAP_ZERO), "~");
    t.utf8 = false;
    assert_string_equal(theme_glyph(&t, THEME_G_MAP_DATA), "x");
    theme_free(&t);

    /* missing parent: a warning, the rest still loads */
    write_file(c, "[theme]\ninherit = nosuchtheme\n[colors]\nselection = red default\n");
    assert_int_equal(theme_load(&t, c, 8, true, err, sizeof err), 0);
    expect_warning(&t, "child.theme:2: inherit: theme 'nosuchtheme' not found");
    expect_color(&t, E(SELECTION), 1, -1, 0);
    theme_free(&t);

    /* a cycle through files */
    write_file(p, "[theme]\ninherit = child.theme\n[colors]\nheader = green default\n");
    write_file(c, "[theme]\ninherit = parent.theme\n[colors]\nselection = red default\n");
    assert_int_equal(theme_load(&t, c, 8, true, err, sizeof err), 0);
    expect_warning(&t, "parent.theme:2: inherit: 'child.theme' is already being loaded");
    assert_int_equal(t.nwarn, 1);
    expect_color(&t, E(HEADER), 2, -1, 0);
    expect_color(&t, E(SELECTION), 1, -1, 0);
    theme_free(&t);

    /* a theme inheriting itself */
    write_file(c, "[theme]\ninherit = child.theme\n");
    assert_int_equal(theme_load(&t, c, 8, true, err, sizeof err), 0);
    expect_warning(&t, "already being loaded");
    theme_free(&t);

    /* a too-deep chain stops with a warning */
    for (int i = 0; i < 12; i++) {
        char f[1024], body[128];
        snprintf(f, sizeof f, "%s/deep%d.theme", dir, i);
        snprintf(body, sizeof body, "[theme]\ninherit = deep%d.theme\n", i + 1);
        write_file(f, body);
    }
    snprintf(c, sizeof c, "%s/deep0.theme", dir);
    assert_int_equal(theme_load(&t, c, 8, true, err, sizeof err), 0);
    expect_warning(&t, "chain deeper than");
    theme_free(&t);
}

/* ---- colours ---- */

static void test_downgrade_values(void **state)
{
    int32_t red = theme_rgb(0xff, 0, 0);
    assert_int_equal(theme_downgrade(red, THEME_TRUECOLOR), red);
    assert_int_equal(theme_downgrade(red, 256), 196);
    assert_int_equal(theme_downgrade(red, 16), 9);
    assert_int_equal(theme_downgrade(red, 8), 1);
    assert_int_equal(theme_downgrade(red, 0), -1);
    /* exact cube and grey entries */
    assert_int_equal(theme_downgrade(theme_rgb(0x5f, 0x87, 0xaf), 256), 16 + 36 * 1 + 6 * 2 + 3);
    assert_int_equal(theme_downgrade(theme_rgb(0x80, 0x80, 0x80), 256), 244);
    assert_int_equal(theme_downgrade(theme_rgb(0, 0, 0), 256), 16);
    assert_int_equal(theme_downgrade(theme_rgb(0xff, 0xff, 0xff), 256), 231);
    assert_int_equal(theme_downgrade(theme_rgb(0x1c, 0x1c, 0x3a), 256), 235); /* nearer grey */
    assert_int_equal(theme_downgrade(theme_rgb(0, 0, 0x80), 256), 18);
    assert_int_equal(theme_downgrade(theme_rgb(0x12, 0x12, 0x12), 256), 233); /* dark grey */
    assert_int_equal(theme_downgrade(theme_rgb(0xee, 0xee, 0xee), 256), 255);
    /* 256 -> 16 keeps the hue */
    assert_int_equal(theme_downgrade(17, 16), 4);  /* dark blue stays blue */
    assert_int_equal(theme_downgrade(21, 16), 12); /* full blue is bright blue */
    assert_int_equal(theme_downgrade(46, 16), 10);
    assert_int_equal(theme_downgrade(22, 16), 2);
    assert_int_equal(theme_downgrade(58, 16), 3);  /* olive */
    assert_int_equal(theme_downgrade(208, 16), 9); /* orange: bright red */
    assert_int_equal(theme_downgrade(231, 16), 15);
    assert_int_equal(theme_downgrade(232, 16), 0);
    assert_int_equal(theme_downgrade(240, 16), 8);
    assert_int_equal(theme_downgrade(250, 16), 7);
    assert_int_equal(theme_downgrade(16, 16), 0);
    assert_int_equal(theme_downgrade(12, 16), 12);
    assert_int_equal(theme_downgrade(12, 8), 4);
    assert_int_equal(theme_downgrade(196, 8), 1);
    assert_int_equal(theme_downgrade(117, 8), 6); /* sky blue: cyan */
    assert_int_equal(theme_downgrade(-1, 256), -1);
    assert_int_equal(theme_downgrade(300, 256), -1);
    /* every value lands inside the tier */
    for (int c = 0; c < 256; c++) {
        assert_true(theme_downgrade(c, 16) >= 0 && theme_downgrade(c, 16) < 16);
        assert_true(theme_downgrade(c, 8) >= 0 && theme_downgrade(c, 8) < 8);
    }
    for (uint32_t v = 0; v < 0x1000000; v += 0x10101 * 7 + 13) {
        int32_t c = theme_downgrade(THEME_RGB_FLAG | (int32_t)v, 256);
        assert_true(c >= 16 && c <= 255);
    }
}

static void test_downgrade_in_themes(void **state)
{
    const char *text = "[colors]\nselection = #ff0000 #000080\nsize = brightred default\n";
    struct theme t;
    parse(&t, text, 256);
    expect_color(&t, E(SELECTION), 196, 18, 0);
    theme_free(&t);
    parse(&t, text, 16);
    expect_color(&t, E(SELECTION), 9, 4, 0);
    expect_color(&t, E(SIZE), 9, -1, 0);
    theme_free(&t);
    /* 8 colours: bright foregrounds turn into bold */
    parse(&t, text, 8);
    expect_color(&t, E(SELECTION), 1, 4, THEME_A_BOLD);
    expect_color(&t, E(SIZE), 1, -1, THEME_A_BOLD);
    theme_free(&t);
    /* no colours: attributes carry the meaning */
    parse(&t, text, 0);
    expect_color(&t, E(SELECTION), -1, -1, THEME_A_REVERSE);
    expect_color(&t, E(SIZE), -1, -1, 0);
    assert_int_equal(t.colors, 0);
    theme_free(&t);

    char path[1024], err[256];
    snprintf(path, sizeof path, "%s/dark.theme", DIMG_SOURCE_THEME_DIR);
    assert_int_equal(theme_load(&t, path, 0, false, err, sizeof err), 0);
    assert_true(t.c[E(SELECTION)].attrs & THEME_A_REVERSE);
    assert_true(t.c[E(HEADER)].attrs & THEME_A_REVERSE);
    theme_free(&t);
}

/* ---- glyphs ---- */

static void test_glyphs(void **state)
{
    struct theme t;
    parse(&t,
          "[glyphs]\n"
          "map.data = @@ | @\n"
          "map.free = \" \" | \"_\"\n"
          "tree.vertical = \"|\" | \"|\"\n"
          "ellipsis = ... | \"#\"   # a comment after quotes\n"
          "marker.locked = K\n"
          "map.zero = Ø\n"                     /* single form must be ASCII */
          "map.meta = x | Ø\n"                 /* ASCII side must be ASCII */
          "map.mixed = 0123456789abcdef | x\n" /* too long */
          "map.backing = \"a | b\n"            /* unbalanced quote */
          "map.unalloc = \x01 | .\n"           /* control character */
          "map.leaked = \xc0\xaf | x\n",       /* overlong UTF-8 */
          256);
    assert_int_equal(t.nwarn, 6);
    expect_warning(&t, "t.theme:7: map.zero");
    expect_warning(&t, "t.theme:12: map.leaked");
    assert_string_equal(theme_glyph(&t, THEME_G_MAP_DATA), "@@");
    assert_string_equal(theme_glyph(&t, THEME_G_MAP_FREE), " ");
    assert_string_equal(theme_glyph(&t, THEME_G_TREE_VERTICAL), "|");
    assert_string_equal(theme_glyph(&t, THEME_G_ELLIPSIS), "...");
    assert_string_equal(theme_glyph(&t, THEME_G_MARKER_LOCKED), "K");
    assert_string_equal(theme_glyph(&t, THEME_G_MAP_ZERO), "\u2591"); /* unchanged */
    t.utf8 = false;
    assert_string_equal(theme_glyph(&t, THEME_G_MAP_DATA), "@");
    assert_string_equal(theme_glyph(&t, THEME_G_MAP_FREE), "_");
    assert_string_equal(theme_glyph(&t, THEME_G_ELLIPSIS), "#");
    assert_string_equal(theme_glyph(&t, THEME_G_MARKER_LOCKED), "K");
    assert_string_equal(theme_glyph(&t, THEME_G_MAP_ZERO), "0");
    theme_free(&t);

    /* the utf8 flag picks the form; every ASCII form is printable ASCII */
    assert_int_equal(theme_parse_buf(&t, "", 0, "x", 8, false), 0);
    assert_false(t.utf8);
    assert_string_equal(theme_glyph(&t, THEME_G_TREE_BRANCH), "|-");
    for (int g = 0; g < THEME_G_COUNT; g++)
        for (const char *p = t.glyph[g][1]; *p; p++)
            assert_true(*p >= 0x20 && *p < 0x7f);
    theme_free(&t);
    assert_int_equal(theme_parse_buf(&t, "", 0, "x", 8, true), 0);
    assert_string_equal(theme_glyph(&t, THEME_G_TREE_BRANCH), "\u251c\u2500");
    theme_free(&t);
}

static void test_choose_and_env(void **state)
{
    assert_string_equal(theme_choose("dark", true, false), "dark");
    assert_string_equal(theme_choose("dark", false, true), "dark");
    assert_string_equal(theme_choose(NULL, true, true), "mono");
    assert_string_equal(theme_choose("", true, true), "mono");
    assert_string_equal(theme_choose(NULL, false, false), "mono");
    assert_string_equal(theme_choose(NULL, false, true), "default");

    unsetenv("NO_COLOR");
    assert_false(theme_env_no_color());
    setenv("NO_COLOR", "", 1);
    assert_false(theme_env_no_color()); /* set but empty does not count */
    setenv("NO_COLOR", "1", 1);
    assert_true(theme_env_no_color());
    assert_string_equal(theme_choose(NULL, theme_env_no_color(), true), "mono");
    unsetenv("NO_COLOR");

    assert_true(theme_want_utf8(true) == false); /* --ascii always wins */
}

/* ---- lookup ---- */

/* Write zz.theme into base+sub and check that theme_find("zz") now finds that one. */
static void expect_found_in(const char *base, const char *sub, const char *body)
{
    char dir[1024], f[1100], path[1100];
    snprintf(dir, sizeof dir, "%s%s", base, sub);
    mkdirs(dir);
    snprintf(f, sizeof f, "%s/zz.theme", dir);
    write_file(f, body);
    assert_int_equal(theme_find("zz", path, sizeof path), THEME_FOUND_FILE);
    assert_string_equal(path, f);
}

static void test_lookup_order(void **state)
{
    char cfg[512], d1[512], d2[512], home[512], path[1024], f[1024];
    snprintf(cfg, sizeof cfg, "%s", tu_path("cfg"));
    snprintf(d1, sizeof d1, "%s", tu_path("d1"));
    snprintf(d2, sizeof d2, "%s", tu_path("d2"));
    snprintf(home, sizeof home, "%s", tu_path("home"));
    char dd[1100];
    snprintf(dd, sizeof dd, "relative/ignored:%s::%s", d1, d2);
    setenv("XDG_CONFIG_HOME", cfg, 1);
    setenv("XDG_DATA_DIRS", dd, 1);
    setenv("HOME", home, 1);

    assert_int_equal(theme_find("zz", path, sizeof path), -ENOENT);
    /* each directory earlier in the order hides the ones after it */
    expect_found_in(d2, "/dimg/themes", "[colors]\nselection = red default\n");
    expect_found_in(d1, "/dimg/themes", "[colors]\nselection = green default\n");
    expect_found_in(cfg, "/dimg/themes", "[colors]\nselection = blue default\n");

    struct theme t;
    char err[256];
    assert_int_equal(theme_load(&t, "zz", 8, true, err, sizeof err), 0);
    assert_string_equal(t.name, "zz");
    expect_color(&t, E(SELECTION), 4, -1, 0);
    theme_free(&t);

    /* without XDG_CONFIG_HOME: ~/.config */
    unsetenv("XDG_CONFIG_HOME");
    expect_found_in(home, "/.config/dimg/themes", "[colors]\nselection = cyan default\n");
    setenv("XDG_CONFIG_HOME", cfg, 1);

    /* the source tree is not searched: an uninstalled build reaches the shipped themes
     * through XDG_DATA_DIRS=BUILD/share (BUILD/share/dimg/themes links to themes/) */
    if (access(DIMG_INSTALLED_THEME_DIR "/dark.theme", F_OK) != 0) /* not installed here */
        assert_int_equal(theme_find("dark", path, sizeof path), -ENOENT);
    setenv("XDG_DATA_DIRS", DIMG_BUILD_DATA_DIR, 1);
    assert_int_equal(theme_find("dark", path, sizeof path), THEME_FOUND_FILE);
    assert_non_null(strstr(path, "/dark.theme"));
    setenv("XDG_DATA_DIRS", dd, 1);

    /* a user theme named default may inherit the shipped default */
    snprintf(f, sizeof f, "%s/dimg/themes/default.theme", cfg);
    write_file(f, "[theme]\ninherit = default\n[colors]\nselection = red default\n");
    assert_int_equal(theme_find("default", path, sizeof path), THEME_FOUND_FILE);
    assert_string_equal(path, f);
    assert_int_equal(theme_load(&t, "default", 16, true, err, sizeof err), 0);
    expect_clean(&t);
    expect_color(&t, E(SELECTION), 1, -1, 0);
    expect_color(&t, E(HEADER), -1, -1, THEME_A_REVERSE); /* from the shipped default */
    expect_color(&t, E(MARKER), 6, -1, 0);
    theme_free(&t);
    remove(f);

    /* paths and bad names */
    assert_int_equal(theme_find("nosuch", path, sizeof path), -ENOENT);
    assert_int_equal(theme_find("a b", path, sizeof path), -EINVAL);
    assert_int_equal(theme_find(".hidden", path, sizeof path), -EINVAL);
    assert_int_equal(theme_find("", path, sizeof path), -EINVAL);
    assert_int_equal(theme_find("missing.theme", path, sizeof path), -ENOENT);
    assert_int_equal(theme_find("./nothere", path, sizeof path), -ENOENT);
    assert_int_equal(theme_find(f, path, 4), -ENAMETOOLONG);
    assert_int_equal(theme_load(&t, "nosuch", 8, true, err, sizeof err), -ENOENT);
    assert_non_null(strstr(err, "theme 'nosuch' not found"));
    expect_color(&t, E(SELECTION), -1, -1, THEME_A_REVERSE); /* still usable */
    theme_free(&t);
    assert_int_equal(theme_load(&t, "bad name", 8, true, err, sizeof err), -EINVAL);
    theme_free(&t);
    assert_int_equal(theme_load(&t, tu_dir(), 8, true, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "not a regular file"));
    theme_free(&t);

    unsetenv("XDG_CONFIG_HOME");
    unsetenv("XDG_DATA_DIRS");
}

static void test_size_limits(void **state)
{
    const char *big = tu_path("big.theme");
    char *buf = malloc(THEME_FILE_MAX + 2);
    assert_non_null(buf);
    /* exactly at the cap: fine (comment lines) */
    memset(buf, '\n', THEME_FILE_MAX);
    for (size_t i = 0; i + 80 < THEME_FILE_MAX; i += 81)
        memset(buf + i, '#', 80);
    buf[THEME_FILE_MAX] = 0;
    write_file(big, buf);
    struct theme t;
    char err[256] = "";
    assert_int_equal(theme_load(&t, big, 256, true, err, sizeof err), 0);
    expect_clean(&t);
    theme_free(&t);
    /* one byte more: refused with a clear error */
    buf[THEME_FILE_MAX] = '\n';
    buf[THEME_FILE_MAX + 1] = 0;
    write_file(big, buf);
    assert_int_equal(theme_load(&t, big, 256, true, err, sizeof err), -EFBIG);
    assert_non_null(strstr(err, "big.theme: larger than 64 KiB"));
    theme_free(&t);
    assert_int_equal(theme_parse_buf(&t, buf, THEME_FILE_MAX + 1, "x", 256, true), -EFBIG);
    theme_free(&t);
    free(buf);

    /* long lines and NUL bytes are skipped with a warning */
    char line[THEME_LINE_MAX + 64];
    memset(line, 'a', sizeof line);
    const char *head = "[colors]\nselection = red default ";
    memcpy(line, head, strlen(head));
    line[sizeof line - 1] = 0;
    parse(&t, line, 16);
    expect_warning(&t, "t.theme:2: line longer than 512 bytes");
    theme_free(&t);
    static const char nul[] = "[colors]\nselection = red\0 default\nheader = red default\n";
    assert_int_equal(theme_parse_buf(&t, nul, sizeof nul - 1, "n.theme", 16, true), 0);
    expect_warning(&t, "n.theme:2: NUL byte");
    assert_int_equal(t.nwarn, 1);
    expect_color(&t, E(HEADER), 1, -1, 0);
    theme_free(&t);

    /* a flood of bad lines keeps THEME_WARN_MAX warnings and says how many more there were */
    char *flood = malloc(200 * 8 + 1);
    assert_non_null(flood);
    for (int i = 0; i < 200; i++)
        memcpy(flood + i * 8, "garbage\n", 8);
    flood[1600] = 0;
    parse(&t, flood, 16);
    assert_int_equal(t.nwarn, THEME_WARN_MAX + 1);
    assert_non_null(strstr(t.warnings[THEME_WARN_MAX], "136 more warnings"));
    theme_free(&t);
    free(flood);
}

/* ---- fuzz ---- */

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}

static void check_sane(const struct theme *t, int colors)
{
    assert_true(t->nwarn <= THEME_WARN_MAX + 1);
    for (int e = 0; e < THEME_E_COUNT; e++) {
        int32_t fg = t->c[e].fg, bg = t->c[e].bg;
        if (colors < THEME_TRUECOLOR) {
            int max = colors >= 256 ? 255 : colors >= 16 ? 15 : colors >= 8 ? 7 : -1;
            assert_true(fg >= -1 && fg <= max && bg >= -1 && bg <= max);
        }
        assert_true(t->c[e].attrs <= 0xf);
    }
    for (int g = 0; g < THEME_G_COUNT; g++)
        for (int k = 0; k < 2; k++)
            assert_true(t->glyph[g][k][0] && strlen(t->glyph[g][k]) < THEME_GLYPH_MAX);
    assert_true(memchr(t->name, 0, sizeof t->name) != NULL);
}

#ifndef THEME_FUZZ_ITERS
#define THEME_FUZZ_ITERS 20000
#endif

static void test_fuzz(void **state)
{
    static const char *const pieces[] = {"[colors]",
                                         "[colors.256]",
                                         "[colors.truecolor]",
                                         "[glyphs]",
                                         "[theme]",
                                         "[",
                                         "]",
                                         "selection",
                                         "default",
                                         "dir",
                                         "map.data",
                                         "tree.line",
                                         "=",
                                         " = ",
                                         "@",
                                         "@dir",
                                         "@default",
                                         "@selection",
                                         "red",
                                         "brightred",
                                         "#ff00ff",
                                         "#",
                                         "\"",
                                         "|",
                                         " | ",
                                         "255",
                                         "999",
                                         "bold",
                                         "dim",
                                         "reverse",
                                         "underline",
                                         "inherit",
                                         "name",
                                         "mono",
                                         "\n",
                                         "\n",
                                         "\n",
                                         " ",
                                         "\t",
                                         "\r",
                                         "\xe2\x96\x88",
                                         "\xff",
                                         "\xc0",
                                         "\xe2\x96",
                                         "# c",
                                         " # x",
                                         "classic-blue",
                                         "t.theme",
                                         "/",
                                         "..",
                                         "\0"};
    size_t npieces = sizeof pieces / sizeof pieces[0];
    char *buf = malloc(8192);
    assert_non_null(buf);
    for (int iter = 0; iter < THEME_FUZZ_ITERS; iter++) {
        size_t len = 0, want = rnd() % 4000;
        if (iter % 3 == 0) { /* raw bytes */
            for (; len < want; len++)
                buf[len] = (char)rnd();
        } else { /* plausible lines */
            while (len < want) {
                size_t k = rnd() % npieces;
                size_t pl = k == npieces - 1 ? 1 : strlen(pieces[k]);
                if (len + pl > 8000)
                    break;
                memcpy(buf + len, pieces[k], pl);
                len += pl;
            }
        }
        int colors = tiers[rnd() % (sizeof tiers / sizeof tiers[0])];
        struct theme t;
        assert_int_equal(theme_parse_buf(&t, buf, len, "/nonexistent/fuzz.theme", colors, iter & 1),
                         0);
        check_sane(&t, colors);
        theme_free(&t);
    }
    free(buf);
}

static int group_teardown(void **state)
{
    tu_cleanup();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shipped_themes_clean),
        cmocka_unit_test(test_builtins_match_files),
        cmocka_unit_test(test_default_glyphs_match_table),
        cmocka_unit_test(test_readme_lists_names),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_basic_entries_and_comments),
        cmocka_unit_test(test_unknown_element_line),
        cmocka_unit_test(test_bad_colours),
        cmocka_unit_test(test_bright_background_base_tier),
        cmocka_unit_test(test_tiers_override_what_they_list),
        cmocka_unit_test(test_reuse),
        cmocka_unit_test(test_reuse_cycle),
        cmocka_unit_test(test_inherit),
        cmocka_unit_test(test_downgrade_values),
        cmocka_unit_test(test_downgrade_in_themes),
        cmocka_unit_test(test_glyphs),
        cmocka_unit_test(test_choose_and_env),
        cmocka_unit_test(test_lookup_order),
        cmocka_unit_test(test_size_limits),
        cmocka_unit_test(test_fuzz),
    };
    return cmocka_run_group_tests(tests, NULL, group_teardown);
}

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* test_fs.c: the filesystem layer above the readers (core/fs/fs.c): the IMAGE[#VOL][:/PATH]
 * address syntax with names holding '#' and ':', fs_list's checks (., .., '/', empty and
 * over-long names dropped, sorted, the entry cap) and fs_lookup (.., links in the middle and
 * at the end, link loops bounded, ENOENT/ENOTDIR) on a small fake driver.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fs/fs.h"
#include "testutil.h"

static void touch(const char *name)
{
    FILE *f = fopen(tu_path(name), "w");
    assert_non_null(f);
    fclose(f);
}

static void parse_ok(const char *s, const char *image, const char *vol, const char *path)
{
    struct fs_addr a;
    struct img_err err = {0};
    assert_int_equal(fs_addr_parse(s, &a, &err), 0);
    assert_string_equal(a.image, image);
    if (vol)
        assert_string_equal(a.vol, vol);
    else
        assert_null(a.vol);
    if (path)
        assert_string_equal(a.path, path);
    else
        assert_null(a.path);
    fs_addr_free(&a);
}

static void test_addr(void **state)
{
    char s[1200], img[1024], odd[1024];
    touch("img.raw");
    touch("we#ird:name");
    snprintf(img, sizeof img, "%s", tu_path("img.raw"));
    snprintf(odd, sizeof odd, "%s", tu_path("we#ird:name"));
    parse_ok(img, img, NULL, NULL);
    snprintf(s, sizeof s, "%s:/a/b", img);
    parse_ok(s, img, NULL, "/a/b");
    snprintf(s, sizeof s, "%s:", img);
    parse_ok(s, img, NULL, "/");
    snprintf(s, sizeof s, "%s#2:/x:y#z", img);
    parse_ok(s, img, "2", "/x:y#z");
    snprintf(s, sizeof s, "%s#vg0/root:/etc", img);
    parse_ok(s, img, "vg0/root", "/etc");
    snprintf(s, sizeof s, "%s#5", img);
    parse_ok(s, img, "5", NULL);
    parse_ok(odd, odd, NULL, NULL); /* exists as given: taken whole */
    snprintf(s, sizeof s, "%s#1:/p", odd);
    parse_ok(s, odd, "1", "/p");
    snprintf(s, sizeof s, "%s:/q", odd);
    parse_ok(s, odd, NULL, "/q");
    parse_ok("missing.img#3:/x", "missing.img", "3", "/x"); /* by syntax: the open says */

    struct fs_addr a;
    struct img_err err = {0};
    snprintf(s, sizeof s, "%s:relative", img);
    assert_int_equal(fs_addr_parse(s, &a, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "must start with '/'"));
    snprintf(s, sizeof s, "%s#:/x", img);
    assert_int_equal(fs_addr_parse(s, &a, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "empty volume"));
    assert_int_equal(fs_addr_parse("", &a, &err), -EINVAL);
}

/* ---- a fake filesystem ---- */

struct node {
    const char *name; /* in its directory */
    uint64_t dir;     /* parent */
    enum fs_type type;
    const char *target;
};
static const struct node nodes[] = {
    [1] = {"", 0, FS_T_DIR, NULL},        [2] = {"ok", 1, FS_T_REG, NULL},
    [3] = {"b", 1, FS_T_REG, NULL},       [4] = {"zz", 1, FS_T_REG, NULL},
    [5] = {"loop", 1, FS_T_LNK, "/loop"}, [6] = {"dir", 1, FS_T_DIR, NULL},
    [7] = {"back", 6, FS_T_LNK, "../ok"}, [8] = {"abs", 6, FS_T_LNK, "/dir/back"},
    [9] = {"a/b", 1, FS_T_REG, NULL},     [10] = {".", 1, FS_T_DIR, NULL},
    [11] = {"..", 1, FS_T_DIR, NULL},     [12] = {"", 1, FS_T_REG, NULL},
};
#define NNODES (sizeof nodes / sizeof nodes[0])
static bool many; /* the root lists FS_DIR_ENTRIES_MAX + 1 entries */
static char longname[FS_NAME_MAX + 2];

static int fake_root(struct fs *fs, uint64_t *ino)
{
    *ino = 1;
    return 0;
}

static int fake_stat(struct fs *fs, uint64_t ino, struct fs_stat *st)
{
    if (ino == 0 || ino >= NNODES)
        ino = 2;
    st->ino = ino;
    st->type = nodes[ino].type;
    st->size = nodes[ino].target ? strlen(nodes[ino].target) : 0;
    return 0;
}

static int fake_readdir(struct fs *fs, uint64_t dir,
                        int (*cb)(void *ctx, const char *name, uint64_t ino), void *ctx)
{
    int r = 0;
    if (many) {
        char name[32];
        for (unsigned i = 0; i <= FS_DIR_ENTRIES_MAX && r == 0; i++) {
            snprintf(name, sizeof name, "f%u", i);
            r = cb(ctx, name, 2);
        }
        return r;
    }
    for (uint64_t i = 2; i < NNODES && r == 0; i++)
        if (nodes[i].dir == dir)
            r = cb(ctx, nodes[i].name, i);
    if (r == 0 && dir == 1)
        r = cb(ctx, longname, 2);
    return r;
}

static int fake_readlink(struct fs *fs, uint64_t ino, char *buf, size_t len)
{
    snprintf(buf, len, "%s", nodes[ino].target);
    return 0;
}

static ssize_t fake_read(struct fs *fs, uint64_t ino, uint64_t off, void *buf, size_t len)
{
    return 0;
}

static const struct fs_driver fake = {.name = "fake",
                                      .root = fake_root,
                                      .stat = fake_stat,
                                      .readdir = fake_readdir,
                                      .read = fake_read,
                                      .readlink = fake_readlink};

static void test_list(void **state)
{
    struct fs fs = {.drv = &fake};
    memset(longname, 'x', sizeof longname - 1);
    struct fs_dirent *d;
    size_t n;
    assert_int_equal(fs_list(&fs, 1, &d, &n), 0);
    assert_int_equal(n, 5);
    const char *want[] = {"b", "dir", "loop", "ok", "zz"};
    for (size_t i = 0; i < n; i++)
        assert_string_equal(d[i].name, want[i]);
    assert_int_equal(d[1].st.type, FS_T_DIR);
    fs_dirents_free(d, n);

    many = true;
    assert_int_equal(fs_list(&fs, 1, &d, &n), -EFBIG);
    assert_non_null(strstr(fs.err.msg, "more than"));
    many = false;
}

static void test_lookup(void **state)
{
    struct fs fs = {.drv = &fake};
    struct fs_stat st;
    assert_int_equal(fs_lookup(&fs, "/", true, &st), 0);
    assert_int_equal(st.ino, 1);
    assert_int_equal(fs_lookup(&fs, "//dir/./../ok", true, &st), 0);
    assert_int_equal(st.ino, 2);
    assert_int_equal(fs_lookup(&fs, "/../../ok", true, &st), 0); /* .. at the root stays */
    assert_int_equal(st.ino, 2);
    assert_int_equal(fs_lookup(&fs, "/dir/back", true, &st), 0);
    assert_int_equal(st.ino, 2);
    assert_int_equal(fs_lookup(&fs, "/dir/back", false, &st), 0);
    assert_int_equal(st.ino, 7);
    assert_int_equal(fs_lookup(&fs, "/dir/abs", true, &st), 0); /* a link to a link */
    assert_int_equal(st.ino, 2);
    assert_int_equal(fs_lookup(&fs, "/loop", false, &st), 0);
    assert_int_equal(fs_lookup(&fs, "/loop", true, &st), -ELOOP);
    assert_non_null(strstr(fs.err.msg, "symbolic links"));
    assert_int_equal(fs_lookup(&fs, "/loop/x", false, &st), -ELOOP);
    assert_int_equal(fs_lookup(&fs, "/nope", true, &st), -ENOENT);
    assert_non_null(strstr(fs.err.msg, "no such file"));
    assert_int_equal(fs_lookup(&fs, "/ok/x", true, &st), -ENOTDIR);
    assert_int_equal(fs_lookup(&fs, "/ok/..", true, &st), -ENOTDIR);
    assert_non_null(strstr(fs.err.msg, "not a directory"));
    assert_int_equal(fs_lookup(&fs, "relative", true, &st), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_addr),
        cmocka_unit_test(test_list),
        cmocka_unit_test(test_lookup),
    };
    return cmocka_run_group_tests(tests, NULL, tu_teardown);
}

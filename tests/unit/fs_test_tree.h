/* SPDX-License-Identifier: GPL-2.0-or-later */
/* fs_test_tree.h: what the filesystem-driver unit tests share after fs_test_vol.h: open a raw
 * image's whole disk with one driver's slots (fs_open lives in fs.c), walk the tree the driver
 * lists, look a path up by readdir, and compare names, types, sizes and contents with the
 * source directory tu_dir()/src the test made the filesystem from. Include after testutil.h. */
#ifndef DIMG_FS_TEST_TREE_H
#define DIMG_FS_TEST_TREE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs_test_vol.h"

struct tfs {
    struct img *img;
    struct fs_vol vol;
    struct fs_seg seg;
    struct fs fs;
};

/* Open path (a raw image) as one volume with drv's slots (probe, then open): 0, -ENOTSUP when
 * the probe says no, or the driver's -errno (t->fs.err says why). */
static inline int tfs_open(const char *path, const struct fs_driver *drv, struct tfs *t)
{
    struct img_err err;
    memset(t, 0, sizeof *t);
    t->img = img_open(path, "raw", 0, &err);
    assert_non_null(t->img);
    tfs_whole(t->img, &t->vol, &t->seg);
    t->fs.drv = drv;
    t->fs.vol = &t->vol;
    static uint8_t head[FS_PROBE_BYTES];
    size_t hn = t->vol.size < sizeof head ? (size_t)t->vol.size : sizeof head;
    assert_int_equal(fs_vol_read(&t->vol, 0, head, hn, &err), 0);
    if (!drv->probe(&t->vol, head, hn)) {
        img_close(t->img);
        return -ENOTSUP;
    }
    int r = drv->open(&t->fs);
    if (r)
        img_close(t->img);
    return r;
}

static inline void tfs_close(struct tfs *t)
{
    t->fs.drv->close(&t->fs);
    img_close(t->img);
}

struct walk {
    struct tfs *t;
    char *out; /* "path type size\n" lines */
    size_t len;
    int depth;
    char path[FS_PATH_MAX];
};

static inline void walk_dir(struct walk *w, uint64_t dir);

static inline int walk_cb(void *ctx, const char *name, uint64_t ino)
{
    struct walk *w = ctx;
    struct fs_stat st;
    assert_int_equal(w->t->fs.drv->stat(&w->t->fs, ino, &st), 0);
    size_t plen = strlen(w->path);
    snprintf(w->path + plen, sizeof w->path - plen, "/%s", name);
    char line[FS_PATH_MAX + 64];
    char type = st.type == FS_T_DIR ? 'd' : st.type == FS_T_LNK ? 'l' : 'f';
    int n = snprintf(line, sizeof line, "%s %c %llu\n", w->path + 1, type,
                     type == 'f' ? (unsigned long long)st.size : 0ull);
    w->out = realloc(w->out, w->len + (size_t)n + 1);
    memcpy(w->out + w->len, line, (size_t)n + 1);
    w->len += (size_t)n;
    if (st.type == FS_T_DIR && w->depth < 16) {
        w->depth++;
        walk_dir(w, ino);
        w->depth--;
    }
    w->path[plen] = 0;
    return 0;
}

static inline void walk_dir(struct walk *w, uint64_t dir)
{
    assert_int_equal(w->t->fs.drv->readdir(&w->t->fs, dir, walk_cb, w), 0);
}

/* The lines of text, sorted (qsort of pointers into a copy). */
static inline int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static inline char *sorted_lines(const char *text)
{
    char *copy = strdup(text), *lines[4096];
    size_t n = 0;
    for (char *s = strtok(copy, "\n"); s && n < 4096; s = strtok(NULL, "\n"))
        lines[n++] = s;
    qsort(lines, n, sizeof lines[0], cmp_str);
    char *out = calloc(1, strlen(text) + 2);
    for (size_t i = 0; i < n; i++) {
        strcat(out, lines[i]);
        strcat(out, "\n");
    }
    free(copy);
    return out;
}

/* Resolve a relative path by readdir, the way fs_lookup will. */
struct find {
    const char *name;
    uint64_t ino;
    bool found;
};

static inline int find_cb(void *ctx, const char *name, uint64_t ino)
{
    struct find *f = ctx;
    if (strcmp(name, f->name))
        return 0;
    f->ino = ino;
    f->found = true;
    return 1;
}

static inline uint64_t lookup(struct tfs *t, const char *path)
{
    uint64_t ino;
    assert_int_equal(t->fs.drv->root(&t->fs, &ino), 0);
    char buf[FS_PATH_MAX];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *s = strtok(buf, "/"); s; s = strtok(NULL, "/")) {
        struct find f = {.name = s};
        assert_int_equal(t->fs.drv->readdir(&t->fs, ino, find_cb, &f), 1);
        ino = f.ino;
    }
    return ino;
}

/* The file reads back equal to src in 7001-byte pieces. */
static inline void assert_same_content(struct tfs *t, uint64_t ino, const char *src)
{
    size_t len;
    uint8_t *want = tu_read_file(src, &len);
    assert_non_null(want);
    uint8_t *got = malloc(len + 7001);
    size_t at = 0;
    for (;;) {
        ssize_t n = t->fs.drv->read(&t->fs, ino, at, got + at, 7001);
        assert_true(n >= 0);
        if (!n)
            break;
        at += (size_t)n;
        assert_true(at <= len);
    }
    assert_int_equal(at, len);
    assert_memory_equal(got, want, len);
    free(got);
    free(want);
}

static inline int check_file_cb(void *ctx, const char *name, uint64_t ino);

struct check {
    struct tfs *t;
    char path[FS_PATH_MAX];
};

static inline int check_file_cb(void *ctx, const char *name, uint64_t ino)
{
    struct check *c = ctx;
    struct fs_stat st;
    assert_int_equal(c->t->fs.drv->stat(&c->t->fs, ino, &st), 0);
    size_t plen = strlen(c->path);
    snprintf(c->path + plen, sizeof c->path - plen, "/%s", name);
    if (st.type == FS_T_REG)
        assert_same_content(c->t, ino, c->path);
    else if (st.type == FS_T_DIR)
        assert_int_equal(c->t->fs.drv->readdir(&c->t->fs, ino, check_file_cb, c), 0);
    c->path[plen] = 0;
    return 0;
}

/* The tree listed by the driver equals `find tu_dir()/src` (links listed, not followed) plus the
 * lines extra ("name type size\n"), and every regular file reads back equal to its source. */
static inline void assert_same_tree(struct tfs *t, const char *extra)
{
    struct walk w = {.t = t};
    uint64_t root;
    assert_int_equal(t->fs.drv->root(&t->fs, &root), 0);
    walk_dir(&w, root);
    char *want = tu_sh_out("cd '%s/src' && find . -mindepth 1 -printf '%%P %%y %%s\\n' | "
                           "sed 's/ d [0-9]*$/ d 0/; s/ l [0-9]*$/ l 0/'; printf '%s'",
                           tu_dir(), extra);
    char *a = sorted_lines(w.out ? w.out : ""), *b = sorted_lines(want);
    assert_string_equal(a, b);
    free(a);
    free(b);
    free(want);
    free(w.out);
    struct check c = {.t = t};
    snprintf(c.path, sizeof c.path, "%s/src", tu_dir());
    assert_int_equal(t->fs.drv->readdir(&t->fs, root, check_file_cb, &c), 0);
}

#endif

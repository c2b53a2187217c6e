/* SPDX-License-Identifier: GPL-2.0-or-later */
/* test_qcow2_snapcrash.c: qcow2 internal snapshot create, apply and delete stopped at every
 * write (tu_crash.h), with every earlier write kept, with the writes since the last fsync
 * lost, and with all of those but the last lost (a reordering disk), on images made by qemu
 * (snapshots sharing some L2 tables and not others, compressed and zero clusters, refcount widths
 * 16 and 2, extended L2). After each stop the image must open, dimg's check must find no corruption
 * (leaks are allowed), the disk must read byte for byte as before the operation (or, for apply, as
 * before or after), the snapshot list must be the old or the new one, and every listed snapshot
 * must read as it did when it was taken; on a sample of stops `qemu-img check` must exit 0 or 3.
 * Talks to: dimgcore (img_open, img_snap_*, img_check, img_read), qemu-img/qemu-io.
 */
#include "test_qcow2_common.h"
#include "tu_crash.h"

#include <stdbool.h>

#include "core/block/driver.h"

#include <stdarg.h>

#define MAX_SNAPS 8
#define PW "snapcrash-pw"
#define SECRET "--object secret,id=s0,data=" PW " "
#define OPTS(f) "--image-opts driver=qcow2,file.filename=" f ",encrypt.key-secret=s0"

/* How qemu-img check opens the image (%s: its path); encrypted ones need the secret. */
static bool qemu_luks;      /* qemu-img check needs the secret and image options */
static long qemu_every = 8; /* run it on every qemu_every-th stop (and on completion) */

static int test_secret(void *ctx, const char *path, uint8_t *buf, size_t cap, size_t *len,
                       struct img_err *err)
{
    (void)ctx, (void)path, (void)cap, (void)err;
    *len = strlen(PW);
    memcpy(buf, PW, *len);
    return 0;
}

/* dst becomes a byte-for-byte copy of src (small files: no fork per stop). */
static void copy_file(const char *src, const char *dst)
{
    size_t n;
    uint8_t *b = tu_read_file(src, &n);
    assert_non_null(b);
    tu_write_file(dst, b, n);
    free(b);
}

/* One state of the image as read through dimg: disk, size and snapshots (with content). */
struct sc_state {
    uint64_t size;
    uint8_t *disk;
    size_t nsnap;
    struct img_snap snap[MAX_SNAPS];
    uint8_t *sdisk[MAX_SNAPS];
    uint64_t ssize[MAX_SNAPS];
};

static uint8_t *read_all(struct img *img, const char *what)
{
    uint8_t *b = malloc(img->size ? img->size : 1);
    assert_non_null(b);
    if (img_read(img, 0, b, img->size) < 0)
        fail_msg("%s: read: %s", what, img_errmsg(img));
    return b;
}

/* The state seen through img (read-only; its view ends on the last snapshot). */
static void state_read(struct img *img, struct sc_state *st, const char *what)
{
    memset(st, 0, sizeof *st);
    st->size = img->size;
    st->disk = read_all(img, what);
    struct img_snap *v;
    size_t n;
    if (img_snap_list(img, &v, &n) < 0)
        fail_msg("%s: snapshot list: %s", what, img_errmsg(img));
    assert_true(n <= MAX_SNAPS);
    st->nsnap = n;
    if (n)
        memcpy(st->snap, v, n * sizeof *v);
    free(v);
    for (size_t i = 0; i < n; i++) {
        if (img_snap_load(img, st->snap[i].id) < 0)
            fail_msg("%s: view snapshot %s: %s", what, st->snap[i].name, img_errmsg(img));
        st->ssize[i] = img->size;
        st->sdisk[i] = read_all(img, what);
    }
}

static void state_load(const char *path, struct sc_state *st, const char *what)
{
    struct img *img = tq_open(path, 0);
    state_read(img, st, what);
    img_close(img);
}

static void state_free(struct sc_state *st)
{
    free(st->disk);
    for (size_t i = 0; i < st->nsnap; i++)
        free(st->sdisk[i]);
}

static bool same_list(const struct sc_state *a, const struct sc_state *b)
{
    if (a->nsnap != b->nsnap)
        return false;
    for (size_t i = 0; i < a->nsnap; i++)
        if (strcmp(a->snap[i].id, b->snap[i].id) || strcmp(a->snap[i].name, b->snap[i].name))
            return false;
    return true;
}

/* Does img read exactly as want (wsize bytes)? Read in pieces into one reused buffer. */
static bool reads_as(struct img *img, const uint8_t *want, uint64_t wsize, const char *what)
{
    static uint8_t buf[1 << 20];
    if (img->size != wsize)
        return false;
    for (uint64_t off = 0; off < wsize; off += sizeof buf) {
        size_t n = wsize - off < sizeof buf ? (size_t)(wsize - off) : sizeof buf;
        if (img_read(img, off, buf, n) < 0)
            fail_msg("%s: read: %s", what, img_errmsg(img));
        if (memcmp(buf, want + off, n) != 0)
            return false;
    }
    return true;
}

/* The snapshot named name in before or after (its content never changes), or NULL. */
static const struct sc_state *snap_owner(const char *name, const struct sc_state *before,
                                         const struct sc_state *after, size_t *j)
{
    const struct sc_state *ref[2] = {before, after};
    for (int k = 0; k < 2; k++)
        for (*j = 0; *j < ref[k]->nsnap; (*j)++)
            if (strcmp(ref[k]->snap[*j].name, name) == 0)
                return ref[k];
    return NULL;
}

enum sc_op { OP_CREATE, OP_APPLY, OP_DELETE };
static const char *const op_names[] = {"create", "apply", "delete"};

static int run_op(struct img *img, enum sc_op op, const char *arg)
{
    switch (op) {
    case OP_CREATE: return img_snap_create(img, arg);
    case OP_APPLY: return img_snap_apply(img, arg);
    default: return img_snap_delete(img, arg);
    }
}

/* The state after a stop: opens, checks without corruption, old-or-new everywhere. */
static void verify(const char *path, enum sc_op op, const struct sc_state *before,
                   const struct sc_state *after, const char *when, bool qemu)
{
    struct img_err err = {0};
    struct img *img = img_open(path, NULL, 0, &err);
    if (!img)
        fail_msg("%s: open: %s", when, err.msg);
    struct img_check c = {0};
    if (img_check(img, &c, 0) < 0)
        fail_msg("%s: dimg check: %s", when, img_errmsg(img));
    if (c.corruptions || c.check_errors)
        fail_msg("%s: dimg check: %llu corruptions, %llu errors", when,
                 (unsigned long long)c.corruptions, (unsigned long long)c.check_errors);
    bool disk_before = reads_as(img, before->disk, before->size, when);
    if (!disk_before && !(op == OP_APPLY && reads_as(img, after->disk, after->size, when)))
        fail_msg("%s: the disk reads neither as before%s", when,
                 op == OP_APPLY ? " nor as after" : "");
    struct sc_state got; /* the list only */
    struct img_snap *v;
    if (img_snap_list(img, &v, &got.nsnap) < 0)
        fail_msg("%s: snapshot list: %s", when, img_errmsg(img));
    assert_true(got.nsnap <= MAX_SNAPS);
    if (got.nsnap)
        memcpy(got.snap, v, got.nsnap * sizeof *v);
    free(v);
    if (!same_list(&got, before) && !same_list(&got, after))
        fail_msg("%s: the snapshot list is neither the old nor the new one", when);
    for (size_t i = 0; i < got.nsnap; i++) {
        size_t j;
        const struct sc_state *o = snap_owner(got.snap[i].name, before, after, &j);
        if (img_snap_load(img, got.snap[i].id) < 0)
            fail_msg("%s: view snapshot %s: %s", when, got.snap[i].name, img_errmsg(img));
        if (!o || !reads_as(img, o->sdisk[j], o->ssize[j], when))
            fail_msg("%s: snapshot %s reads differently", when, got.snap[i].name);
    }
    img_close(img);
    if (qemu) {
        char cmd[600];
        snprintf(cmd, sizeof cmd,
                 qemu_luks ? "qemu-img check -q " SECRET OPTS("'%s'") : "qemu-img check -q '%s'",
                 path);
        int r = tu_sh("%s >/dev/null 2>&1", cmd);
        if (r != 0 && r != 3) {
            tu_sh("%s", cmd);
            fail_msg("%s: qemu-img check exited %d", when, r);
        }
    }
}

/* Run op on a copy of orig stopped after 0, 1, 2, ... writes until it completes. */
static void crash_loop(const char *orig, enum sc_op op, const char *arg)
{
    const char *p = tu_path("work.qcow2");
    char when[200];
    struct sc_state before, after;
    state_load(orig, &before, "before");
    copy_file(orig, p);
    struct img *img = tq_open(p, IMG_OPEN_RW);
    if (run_op(img, op, arg) < 0)
        fail_msg("%s %s: %s", op_names[op], arg, img_errmsg(img));
    img_close(img);
    state_load(p, &after, "after");
    for (int lose = 0; lose < 3; lose++) {
        for (long n = 0;; n++) {
            copy_file(orig, p);
            img = tq_open(p, IMG_OPEN_RW);
            tu_crash_clear_log();
            tu_crash_undo = lose;
            tu_crash_budget = n;
            int r = run_op(img, op, arg);
            bool done = r == 0 && tu_crash_budget != 0;
            tu_crash_budget = done ? -1 : 0; /* after a stop nothing more reaches the file */
            if (!done && lose == 1)
                tu_crash_revert();
            if (!done && lose == 2)
                tu_crash_revert_but_last();
            img_close(img);
            tu_crash_budget = -1;
            tu_crash_undo = false;
            tu_crash_clear_log();
            snprintf(when, sizeof when, "%s %s %s %ld writes%s", op_names[op], arg,
                     done ? "completed with" : "stopped after", n,
                     lose == 1   ? ", unsynced ones lost"
                     : lose == 2 ? ", unsynced ones but the last lost"
                                 : "");
            verify(p, op, &before, &after, when, (done && !lose) || n % qemu_every == 5);
            if (done)
                break;
            assert_true(n < 500);
        }
    }
    if (op != OP_APPLY && same_list(&before, &after))
        fail_msg("%s: nothing changed", op_names[op]);
    state_free(&before);
    state_free(&after);
}

/* orig.qcow2 made by qemu: create options opts, then the qemu-io/qemu-img steps in script
 * (a shell fragment; $F is the image). */
static const char *make_image(const char *opts, const char *size, const char *script)
{
    const char *orig = tu_path("orig.qcow2");
    /* LUKS creation times its key derivation, which fails now and then on a loaded machine. */
    assert_int_equal(tu_sh("cd '%s' && rm -f orig.qcow2 && for i in $(seq 20); do qemu-img "
                           "create -q -f qcow2 %s orig.qcow2 %s 2>/dev/null && break; sleep 0.2; "
                           "done && F=orig.qcow2 && { %s; } >/dev/null",
                           tu_dir(), opts, size, script),
                     0);
    return orig;
}

static void all_ops(const char *orig, const char *apply_to, const char *delete_what)
{
    crash_loop(orig, OP_CREATE, "new");
    crash_loop(orig, OP_APPLY, apply_to);
    crash_loop(orig, OP_DELETE, delete_what);
}

/* Two snapshots; after s1 only the first L2 table is rewritten, so the second stays shared
 * by the active disk, s0 and s1; a compressed and a zero cluster. */
static void test_two_snapshots_rc16(void **state)
{
    (void)state;
    const char *orig = make_image(
        "-o cluster_size=4096", "4M",
        "qemu-io -c 'write -P 1 0 64k' -c 'write -P 2 2M 40k' -c 'write -c -P 9 1M 4k' $F && "
        "qemu-img snapshot -c s0 $F && qemu-io -c 'write -P 3 8k 8k' -c 'write -z 32k 4k' $F "
        "&& qemu-img snapshot -c s1 $F && qemu-io -c 'write -P 4 12k 20k' $F");
    all_ops(orig, "s0", "s0");
}

/* 2-bit refcounts (at most 3 references): one earlier snapshot. */
static void test_refcount_bits_2(void **state)
{
    (void)state;
    const char *orig = make_image(
        "-o cluster_size=4096,refcount_bits=2", "4M",
        "qemu-io -c 'write -P 1 0 64k' -c 'write -P 2 2M 40k' $F && "
        "qemu-img snapshot -c s1 $F && qemu-io -c 'write -P 3 8k 8k' -c 'write -z 16k 4k' $F");
    all_ops(orig, "s1", "s1");
}

/* Extended L2 (subclusters of 512 bytes), 64-bit refcounts; one unshared, one shared table. */
static void test_extended_l2(void **state)
{
    (void)state;
    const char *orig = make_image(
        "-o cluster_size=16384,extended_l2=on,refcount_bits=64", "20M",
        "qemu-io -c 'write -P 1 0 40k' -c 'write -P 2 17M 3k' $F && qemu-img snapshot -c s1 $F "
        "&& qemu-io -c 'write -P 3 1k 2k' -c 'write -z 20k 1k' $F");
    all_ops(orig, "s1", "s1");
}

/* Lazy refcounts (the dirty bit is set before the commit, cleared after), 8-bit refcounts. */
static void test_lazy_refcounts(void **state)
{
    (void)state;
    const char *orig = make_image(
        "-o cluster_size=4096,lazy_refcounts=on,refcount_bits=8", "4M",
        "qemu-io -c 'write -P 1 0 64k' -c 'write -P 2 2M 8k' $F && qemu-img snapshot -c s1 $F "
        "&& qemu-io -c 'write -P 3 8k 8k' -c 'write -z 16k 4k' $F");
    all_ops(orig, "s1", "s1");
}

/* LUKS encryption (table updates never touch the cipher): create only, since every open
 * derives the key. */
static void test_luks(void **state)
{
    (void)state;
    const char *orig = make_image(
        SECRET "-o cluster_size=4096,encrypt.format=luks,encrypt.key-secret=s0,"
               "encrypt.iter-time=10",
        "4M",
        "qemu-io " SECRET OPTS(
            "$F") " -c 'write -P 1 0 64k' -c 'write -P 2 2M 8k' && "
                  "qemu-img snapshot " SECRET OPTS("$F") " -c s1 && qemu-io " SECRET OPTS(
                      "$F") " -c 'write -P 3 8k 8k' -c 'write -z 16k 4k'");
    qemu_luks = true;
    qemu_every = 1000;
    crash_loop(orig, OP_CREATE, "new");
    qemu_luks = false;
    qemu_every = 8;
}

int main(void)
{
    img_set_secret_provider(test_secret, NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_two_snapshots_rc16, tu_teardown),
        cmocka_unit_test_teardown(test_refcount_bits_2, tu_teardown),
        cmocka_unit_test_teardown(test_extended_l2, tu_teardown),
        cmocka_unit_test_teardown(test_lazy_refcounts, tu_teardown),
        cmocka_unit_test_teardown(test_luks, tu_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

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

#include "core/img.h"

#include <stdarg.h>

#define MAX_SNAPS 8

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

static void state_load(const char *path, struct sc_state *st, const char *what)
{
    memset(st, 0, sizeof *st);
    struct img *img = tq_open(path, 0);
    st->size = img->size;
    st->disk = read_all(img, what);
    struct img_snap *v;
    size_t n;
    if (img_snap_list(img, &v, &n) < 0)
        fail_msg("%s: snapshot list: %s", what, img_errmsg(img));
    assert_true(n <= MAX_SNAPS);
    st->nsnap = n;
    memcpy(st->snap, v, n * sizeof *v);
    free(v);
    img_close(img);
    for (size_t i = 0; i < n; i++) {
        img = tq_open(path, 0);
        if (img_snap_load(img, st->snap[i].id) < 0)
            fail_msg("%s: view snapshot %s: %s", what, st->snap[i].name, img_errmsg(img));
        st->ssize[i] = img->size;
        st->sdisk[i] = read_all(img, what);
        img_close(img);
    }
}

static void state_free(struct sc_state *st)
{
    free(st->disk);
    for (size_t i = 0; i < st->nsnap; i++)
        free(st->sdisk[i]);
}

static bool same_disk(const uint8_t *a, uint64_t asz, const uint8_t *b, uint64_t bsz)
{
    return asz == bsz && memcmp(a, b, asz) == 0;
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

/* The content a snapshot named name must show: the one it had in before or after. */
static bool snap_ok(const struct sc_state *got, size_t i, const struct sc_state *before,
                    const struct sc_state *after)
{
    const struct sc_state *ref[2] = {before, after};
    for (int k = 0; k < 2; k++)
        for (size_t j = 0; j < ref[k]->nsnap; j++)
            if (strcmp(ref[k]->snap[j].name, got->snap[i].name) == 0)
                return same_disk(got->sdisk[i], got->ssize[i], ref[k]->sdisk[j], ref[k]->ssize[j]);
    return false;
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
    img_close(img);
    struct sc_state got;
    state_load(path, &got, when);
    bool disk_before = same_disk(got.disk, got.size, before->disk, before->size);
    bool disk_after = same_disk(got.disk, got.size, after->disk, after->size);
    if (!disk_before && !(op == OP_APPLY && disk_after))
        fail_msg("%s: the disk reads neither as before%s", when,
                 op == OP_APPLY ? " nor as after" : "");
    if (!same_list(&got, before) && !same_list(&got, after))
        fail_msg("%s: the snapshot list is neither the old nor the new one", when);
    for (size_t i = 0; i < got.nsnap; i++)
        if (!snap_ok(&got, i, before, after))
            fail_msg("%s: snapshot %s reads differently", when, got.snap[i].name);
    state_free(&got);
    if (qemu) {
        int r = tu_sh("qemu-img check -q '%s' >/dev/null 2>&1", path);
        if (r != 0 && r != 3) {
            tu_sh("qemu-img check '%s'", path);
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
    assert_int_equal(tu_sh("cp --sparse=always '%s' '%s'", orig, p), 0);
    struct img *img = tq_open(p, IMG_OPEN_RW);
    if (run_op(img, op, arg) < 0)
        fail_msg("%s %s: %s", op_names[op], arg, img_errmsg(img));
    img_close(img);
    state_load(p, &after, "after");
    for (int lose = 0; lose < 3; lose++) {
        for (long n = 0;; n++) {
            assert_int_equal(tu_sh("cp --sparse=always '%s' '%s'", orig, p), 0);
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
            verify(p, op, &before, &after, when, done || n % 5 == 0);
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
    assert_int_equal(tu_sh("cd '%s' && rm -f orig.qcow2 && qemu-img create -q -f qcow2 %s "
                           "orig.qcow2 %s && F=orig.qcow2 && { %s; } >/dev/null",
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_two_snapshots_rc16, tu_teardown),
        cmocka_unit_test_teardown(test_refcount_bits_2, tu_teardown),
        cmocka_unit_test_teardown(test_extended_l2, tu_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

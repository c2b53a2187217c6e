/* SPDX-License-Identifier: GPL-2.0-or-later */
/* test_relink.c: the set_backing and make_empty slots of vmdk and vdi, stopped part way.
 *
 * Every write the drivers make (pwrite, ftruncate, fallocate, rename) goes through the
 * wrappers of tu_crash.h; once tu_crash_budget reaches 0 the rest fail (the interrupted write
 * having reached the disk in part), which leaves the files as a crash at that point would (the
 * drivers sync between their steps). For each stopping point
 * the image must open with its chain, name the old or the new parent (never anything else),
 * and read what it read before, through dimg and (vmdk) through qemu-img, whose reading
 * checks the parent's CID as well. Covered: a vmdk child with the descriptor embedded
 * (switched through its spare half) and with a descriptor file (replaced by rename, later
 * CID updates landing in the new file), flattening, a dynamic vdi becoming differencing and
 * a differencing vdi moved to another parent, make_empty of both after the base took the
 * child's data, and the refusals (wrong format, the image itself, a descriptor too large to
 * switch safely, a static vdi, a parent in another directory) leaving the file unchanged.
 */
#include "test_qcow2_common.h"

#include "core/base/bytes.h"
#include "core/block/driver.h"
#include "core/block/lock.h"
#include "core/ops/ops.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#define MiB (1ull << 20)
#define ULL(x) ((unsigned long long)(x))

#include "tu_crash.h"

/* tu_path's buffers rotate: names kept across other calls are copied into this table, which
 * holds them until exit (reachable: no leak for LeakSanitizer). */
static char *path_kept[256];
static size_t path_nkept;

static const char *path(const char *name)
{
    for (size_t i = 0; i < path_nkept; i++)
        if (!strcmp(path_kept[i], tu_path(name)))
            return path_kept[i];
    assert_true(path_nkept < sizeof path_kept / sizeof path_kept[0]);
    char *p = strdup(tu_path(name));
    assert_non_null(p);
    return path_kept[path_nkept++] = p;
}

static void sh(const char *cmd)
{
    if (tu_sh("%s", cmd) != 0)
        fail_msg("command failed: %s", cmd);
}

/* The whole guest view of path through its chain (malloc'd, *len bytes). */
static uint8_t *read_view(const char *path, size_t *len)
{
    struct img *img = tq_open(path, IMG_OPEN_BACKING);
    uint8_t *buf = malloc(img->size);
    assert_non_null(buf);
    if (img_read(img, 0, buf, img->size) < 0)
        fail_msg("read %s: %s", path, img_errmsg(img));
    *len = img->size;
    img_close(img);
    return buf;
}

static void same_view(const char *path, const uint8_t *want, size_t len, const char *when)
{
    size_t n;
    uint8_t *got = read_view(path, &n);
    if (n != len || memcmp(got, want, len) != 0)
        fail_msg("%s: %s reads differently", when, path);
    free(got);
}

/* The backing name dimg records for path ("" for none). */
static char *backing_of(const char *path)
{
    struct img *img = tq_open(path, 0);
    char *n = strdup(img->backing_name ? img->backing_name : "");
    img_close(img);
    return n;
}

/* What qemu-img info says path's backing file is ("" for none). */
static char *qemu_backing_of(const char *path)
{
    char *out = tu_sh_out("qemu-img info --output=json '%s' | sed -n "
                          "'s/.*\"backing-filename\": \"\\([^\"]*\\)\".*/\\1/p'",
                          path);
    assert_non_null(out);
    out[strcspn(out, "\n")] = 0;
    return out;
}

static int64_t info_int(const char *path, const char *key)
{
    struct img *img = tq_open(path, 0);
    struct img_info info;
    assert_int_equal(img_get_info(img, &info), 0);
    img_close(img);
    for (size_t i = 0; i < info.nkv; i++)
        if (strcmp(info.kv[i].key, key) == 0)
            return info.kv[i].num;
    fail_msg("%s: no %s in info", path, key);
    return -1;
}

/* After a stop at write n: the link is one of old/nw (NULL: none), dimg and qemu-img agree
 * on it, and the content is what it is with that link (want_new NULL: not compared). r: what
 * set_backing returned. */
static char *ddb_want; /* the disk-database lines every state must keep (NULL: no check) */
static char *ddb_lines(const char *p);

static void vmdk_state_ok(const char *p, const char *old, const char *nw, const uint8_t *want_old,
                          const uint8_t *want_new, size_t len, long n, int r)
{
    char when[64];
    snprintf(when, sizeof when, "stopped after %ld writes", n);
    char *b = backing_of(p), *qb = qemu_backing_of(p);
    bool is_old = strcmp(b, old ? old : "") == 0, is_new = strcmp(b, nw ? nw : "") == 0;
    if (!is_old && !is_new)
        fail_msg("%s: backing '%s'", when, b);
    if (r == 0 && !is_new)
        fail_msg("%s: success reported, but the backing is still '%s'", when, b);
    /* QEMU reads an embedded descriptor at byte 512 whatever the header says, so while
     * the header points at the spare copy it still sees the old text: old, never a mix. */
    bool q_old = strcmp(qb, old ? old : "") == 0, q_new = strcmp(qb, nw ? nw : "") == 0;
    if ((!q_old && !q_new) || (q_old && !q_new && !is_old && r == 0))
        fail_msg("%s: dimg reads backing '%s', qemu-img '%s'", when, b, qb);
    if (b[0]) {
        /* The link's CID is the parent's: both readers would refuse the parent otherwise. */
        char *pp = strdup(tu_path(b));
        assert_int_equal(info_int(p, "parent-cid"), info_int(pp, "cid"));
        free(pp);
    }
    if (ddb_want) {
        char *d = ddb_lines(p);
        if (strcmp(d, ddb_want) != 0)
            fail_msg("%s: the disk database lines changed:\n%s", when, d);
        free(d);
    }
    const uint8_t *want = is_old ? want_old : want_new;
    if (want)
        same_view(p, want, len, when);
    if (strcmp(b, qb) == 0) {
        tq_compare_raw(p);
    } else {
        const char *raw = path("q.raw");
        assert_int_equal(tu_sh("rm -f '%s' && qemu-img convert -O raw '%s' '%s'", raw, p, raw), 0);
        size_t ql;
        uint8_t *q = tu_read_file(raw, &ql);
        if (ql != len || memcmp(q, want_old, len) != 0)
            fail_msg("%s: qemu-img reads the old link but not the old content", when);
        free(q);
    }
    if (tu_sh("qemu-img check -q '%s'", p) != 0)
        fail_msg("%s: qemu-img check is not clean", when);
    free(b);
    free(qb);
}

/* Stop set_backing(p, name) after 0, 1, 2, ... writes, p restored from orig each time. */
static long vmdk_crash_loop(const char *orig_glob, const char *p, const char *old, const char *nw,
                            const uint8_t *want, size_t len)
{
    for (long n = 0;; n++) {
        assert_int_equal(tu_sh("cd '%s' && for f in %s; do cp --sparse=always \"$f\" "
                               "\"${f%%.orig}\"; done",
                               tu_dir(), orig_glob),
                         0);
        struct img *img = tq_open(p, IMG_OPEN_RW);
        tu_crash_budget = n;
        int r = img_set_backing(img, nw, nw ? "vmdk" : NULL);
        tu_crash_budget = -1;
        img_close(img);
        vmdk_state_ok(p, old, nw, want, nw ? want : NULL, len, n, r);
        if (tu_sh("ls '%s' | grep -q '\\.part$'", tu_dir()) == 0)
            fail_msg("stopped after %ld writes: a .part file was left behind", n);
        if (r == 0)
            return n;
        assert_true(n < 50);
    }
}

/* b.vmdk (pattern 1), nb.vmdk (the same content, its own CID), c.vmdk a child of b.vmdk
 * (opts: -o for qemu-img create) with data of its own; *.orig copies of all of them. */
static void vmdk_family(const char *opts)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "cd '%s' && rm -f *.vmdk *.orig && qemu-img create -q -f vmdk b.vmdk 4M && "
             "qemu-io -f vmdk -c 'write -P 1 0 3M' b.vmdk >/dev/null && "
             "qemu-img convert -O vmdk b.vmdk nb.vmdk && "
             "qemu-img create -q -f vmdk %s -b b.vmdk -F vmdk c.vmdk && "
             "qemu-io -f vmdk -c 'write -P 7 100k 200k' -c 'write -P 8 4193792 512' c.vmdk "
             ">/dev/null && for f in *.vmdk; do cp --sparse=always $f $f.orig; done",
             tu_dir(), opts);
    sh(cmd);
    assert_true(info_int(path("b.vmdk"), "cid") != info_int(path("nb.vmdk"), "cid"));
}

/* The "ddb" lines of the text at off (up to the first NUL) appended to out. */
static void ddb_of(const uint8_t *f, size_t flen, uint64_t off, uint64_t len, char *out, size_t cap)
{
    if (off > flen || len > flen - off)
        fail_msg("descriptor at %llu+%llu outside the file", ULL(off), ULL(len));
    const char *t = (const char *)f + off, *end = memchr(t, 0, len);
    end = end ? end : t + len;
    for (const char *l = t; l < end;) {
        const char *nl = memchr(l, '\n', (size_t)(end - l));
        size_t n = (size_t)((nl ? nl + 1 : end) - l);
        if (n >= 3 && memcmp(l, "ddb", 3) == 0 && strlen(out) + n < cap)
            strncat(out, l, n);
        l += n;
    }
}

/* The disk-database lines dimg sees: in a descriptor file, or in the embedded descriptor
 * where the header points. (QEMU reads byte 512 whatever the header says; while the header
 * points at the spare copy only its parent lines are promised, checked through qemu-img.) */
static char *ddb_lines(const char *p)
{
    size_t flen;
    uint8_t *f = tu_read_file(p, &flen);
    assert_non_null(f);
    char *out = calloc(1, 16384);
    if (flen < 4 || memcmp(f, "KDMV", 4) != 0)
        ddb_of(f, flen, 0, flen, out, 16384);
    else
        ddb_of(f, flen, le64_load(f + 28) * 512, le64_load(f + 36) * 512, out, 16384);
    free(f);
    return out;
}

/* A descriptor spanning several sectors: 40 more disk-database lines (QEMU ignores them). */
static void vmdk_long_desc(const char *p)
{
    assert_int_equal(tu_sh("cd '%s' && dd if='%s' bs=512 skip=1 count=20 status=none | "
                           "tr -d '\\0' >d.txt && for i in $(seq 10 49); do echo "
                           "\"ddb.comment$i = \\\"padding line $i of the disk database\\\"\" "
                           ">>d.txt; done && truncate -s 10240 d.txt && dd if=d.txt of='%s' "
                           "bs=512 seek=1 conv=notrunc status=none && cp '%s' '%s.orig'",
                           tu_dir(), p, p, p, p),
                     0);
    char *d = ddb_lines(p);
    assert_non_null(strstr(d, "ddb.comment49 = \"padding line 49"));
    free(d);
}

static void test_vmdk_embedded_crash(void **state)
{
    (void)state;
    vmdk_family("");
    vmdk_long_desc(path("c.vmdk"));
    size_t len;
    uint8_t *want = read_view(path("c.vmdk"), &len);
    ddb_want = ddb_lines(path("c.vmdk"));
    long n = vmdk_crash_loop("c.vmdk.orig", path("c.vmdk"), "b.vmdk", "nb.vmdk", want, len);
    assert_true(n >= 5); /* spare half, header, first half, header, spare cleared */
    /* Flattening, stopped the same way (content is the child's own once flat). */
    vmdk_crash_loop("c.vmdk.orig", path("c.vmdk"), "b.vmdk", NULL, want, len);
    free(want);
    free(ddb_want);
    ddb_want = NULL;
}

static void test_vmdk_descfile_crash(void **state)
{
    (void)state;
    vmdk_family("-o subformat=twoGbMaxExtentSparse");
    const char *p = path("c.vmdk");
    assert_true(tu_file_size(p) < 4096); /* a descriptor file beside its extent */
    size_t len;
    uint8_t *want = read_view(p, &len);
    long n = vmdk_crash_loop("c*.orig", p, "b.vmdk", "nb.vmdk", want, len);
    assert_true(n >= 2); /* the temporary file, the rename */
    /* After the rename the handle writes to the new file: a write bumps the CID there. */
    assert_int_equal(
        tu_sh("cd '%s' && for f in c*.orig; do cp \"$f\" \"${f%%.orig}\"; done", tu_dir()), 0);
    struct img *img = tq_open(p, IMG_OPEN_RW);
    int64_t cid0 = info_int(p, "cid");
    assert_int_equal(img_set_backing(img, "nb.vmdk", "vmdk"), 0);
    /* The new descriptor file is locked as the old one was (QEMU's lock bytes). */
    int lfd = open(p, O_RDONLY);
    int holder;
    assert_true(lfd >= 0);
    assert_true(lock_in_use(lfd, &holder));
    close(lfd);
    uint8_t blk[65536]; /* a whole grain: no copy from the parent */
    memset(blk, 0x5a, sizeof blk);
    assert_int_equal(img_write(img, 3 * MiB, blk, sizeof blk), 0);
    img_close(img);
    memcpy(want + 3 * MiB, blk, sizeof blk);
    assert_true(info_int(p, "cid") != cid0);
    vmdk_state_ok(p, "nb.vmdk", "nb.vmdk", want, want, len, -1, 0);
    free(want);
}

/* vdi: b.vdi (pattern 1) and nb.vdi (same content, own UUIDs), c.vdi dynamic with data. */
static void vdi_family(void)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "cd '%s' && rm -f *.vdi *.orig && qemu-img create -q -f vdi b.vdi 4M && "
             "qemu-io -f vdi -c 'write -P 1 0 3M' b.vdi >/dev/null && "
             "qemu-img convert -O vdi b.vdi nb.vdi && qemu-img create -q -f vdi c.vdi 4M && "
             "qemu-io -f vdi -c 'write -P 7 100k 200k' -c 'write -P 8 4193792 512' c.vdi "
             ">/dev/null && cp c.vdi c.vdi.orig",
             tu_dir());
    sh(cmd);
}

/* Stop set_backing of the vdi at p after 0, 1, ... writes; p restored from orig each time. */
static long vdi_crash_loop(const char *orig, const char *p, const char *old, const char *nw,
                           const uint8_t *want, size_t len)
{
    for (long n = 0;; n++) {
        assert_int_equal(tu_sh("cp '%s' '%s'", orig, p), 0);
        struct img *img = tq_open(p, IMG_OPEN_RW);
        tu_crash_budget = n;
        int r = img_set_backing(img, nw, nw ? "vdi" : NULL);
        tu_crash_budget = -1;
        img_close(img);
        struct img *c = tq_open(p, IMG_OPEN_BACKING);
        const char *b = c->backing_name ? c->backing_name : "";
        bool is_old = strcmp(b, old ? old : "") == 0, is_new = strcmp(b, nw ? nw : "") == 0;
        if ((!is_old && !is_new) || (r == 0 && !is_new))
            fail_msg("stopped after %ld writes: backing '%s' (set_backing gave %d)", n, b, r);
        struct img_check chk = {0};
        assert_int_equal(img_check(c, &chk, 0), 0);
        assert_int_equal(chk.corruptions, 0);
        img_close(c);
        same_view(p, want, len, "vdi relink");
        if (r == 0)
            return n;
        assert_true(n < 50);
    }
}

static void test_vdi_crash(void **state)
{
    (void)state;
    vdi_family();
    const char *p = path("c.vdi"), *orig = path("c.vdi.orig");
    size_t len;
    uint8_t *want = read_view(p, &len);
    /* Dynamic to differencing: the free blocks become zero blocks first, then the header. */
    long n = vdi_crash_loop(orig, p, NULL, "b.vdi", want, len);
    assert_true(n >= 2);
    assert_int_equal(tu_sh("cp '%s' '%s'", p, orig), 0);
    /* Differencing, moved to another parent: one header write. */
    vdi_crash_loop(orig, p, "b.vdi", "nb.vdi", want, len);
    /* Flattened again: qemu-img reads it (a dynamic image again) as dimg read the chain. */
    vdi_crash_loop(orig, p, "b.vdi", NULL, want, len);
    tq_compare_raw(p);
    assert_int_equal(tu_sh("qemu-img check -q '%s'", p), 0);
    free(want);
}

/* make_empty after commit -d put the child's data into the base: every stopping point reads
 * the same, and the finished child allocates nothing. */
static void empty_crash(const char *fmt, const char *p, const char *orig)
{
    struct ops_commit_req req = {.path = p, .keep = true};
    struct ops_commit_res res;
    struct img_err err = {0};
    if (ops_commit(&req, &res, &err) < 0)
        fail_msg("commit -d %s: %s", p, err.msg);
    size_t len;
    uint8_t *want = read_view(p, &len);
    assert_int_equal(tu_sh("cp --sparse=always '%s' '%s'", p, orig), 0);
    for (long n = 0;; n++) {
        assert_int_equal(tu_sh("cp --sparse=always '%s' '%s'", orig, p), 0);
        struct img *img = tq_open(p, IMG_OPEN_RW | IMG_OPEN_BACKING);
        tu_crash_budget = n;
        int r = img_make_empty(img);
        tu_crash_budget = -1;
        if (r == 0) {
            /* The same handle reads through to the base now (no stale cached tables). */
            uint8_t *got = malloc(len);
            assert_int_equal(img_read(img, 0, got, len), 0);
            assert_memory_equal(got, want, len);
            free(got);
            struct img_bs bs;
            assert_int_equal(img_block_status_layer(img, 0, len, &bs), 0);
            assert_int_equal(bs.flags & IMG_BS_ALLOCATED, 0);
        }
        img_close(img);
        same_view(p, want, len, fmt);
        if (r == 0)
            break;
        assert_true(n < 200);
    }
    free(want);
}

static void test_make_empty_crash(void **state)
{
    (void)state;
    vmdk_family("");
    empty_crash("vmdk", path("c.vmdk"), path("c.vmdk.orig"));
    tq_compare_raw(path("c.vmdk"));
    assert_int_equal(tu_sh("qemu-img check -q '%s'", path("c.vmdk")), 0);
    vdi_family();
    struct img *img = tq_open(path("c.vdi"), IMG_OPEN_RW);
    assert_int_equal(img_set_backing(img, "b.vdi", "vdi"), 0);
    img_close(img);
    empty_crash("vdi", path("c.vdi"), path("c.vdi.orig"));
    assert_int_equal(tu_file_size(path("c.vdi")), 1024); /* header and map only */
}

/* A refused set_backing leaves the file as it was, with one line naming the reason. */
static void refused(const char *p, const char *fmt, const char *name, const char *bfmt,
                    const char *needle)
{
    assert_int_equal(tu_sh("cp '%s' '%s.keep'", p, p), 0);
    struct img_err err = {0};
    struct img *img = img_open(p, fmt, IMG_OPEN_RW, &err);
    assert_non_null(img);
    int r = img_set_backing(img, name, bfmt);
    if (r >= 0 || !strstr(img_errmsg(img), needle) || strchr(img_errmsg(img), '\n'))
        fail_msg("set_backing(%s, %s): %d '%s' (want '%s')", p, name, r, img_errmsg(img), needle);
    img_close(img);
    if (tu_sh("cmp -s '%s' '%s.keep'", p, p) != 0)
        fail_msg("a refused set_backing changed %s", p);
}

static void test_refusals(void **state)
{
    (void)state;
    vmdk_family("");
    const char *c = path("c.vmdk");
    assert_int_equal(tu_sh("qemu-img create -q -f qcow2 '%s' 4M", path("q.qcow2")), 0);
    refused(c, "vmdk", "q.qcow2", "qcow2", "must be a vmdk");
    refused(c, "vmdk", "q.qcow2", NULL, "parent's CID");
    refused(c, "vmdk", "c.vmdk", "vmdk", "this image itself");
    refused(c, "vmdk", "missing.vmdk", "vmdk", "missing.vmdk");
    /* An embedded descriptor more than half its area long cannot be switched safely. */
    char *big = calloc(1, 10240);
    size_t at = (size_t)snprintf(big, 10240,
                                 "# Disk DescriptorFile\nversion=1\nCID=12345678\n"
                                 "parentCID=ffffffff\ncreateType=\"monolithicSparse\"\n"
                                 "RW 8192 SPARSE \"c.vmdk\"\n");
    for (int i = 0; at < 6000; i++)
        at += (size_t)snprintf(big + at, 10240 - at, "ddb.comment%03d = \"%040d\"\n", i, i);
    assert_int_equal(tu_sh("qemu-img create -q -f vmdk '%s' 4M", path("big.vmdk")), 0);
    tu_poke(path("big.vmdk"), 512, big, 10240);
    free(big);
    refused(path("big.vmdk"), "vmdk", "b.vmdk", "vmdk", "crash-safely");
    /* vdi: a static image, a parent in another directory, the image itself. */
    vdi_family();
    assert_int_equal(tu_sh("cd '%s' && qemu-img create -q -f vdi -o static=on s.vdi 4M && "
                           "mkdir -p sub && qemu-img create -q -f vdi sub/o.vdi 4M",
                           tu_dir()),
                     0);
    refused(path("s.vdi"), "vdi", "b.vdi", "vdi", "static");
    refused(path("c.vdi"), "vdi", "sub/o.vdi", "vdi", "same directory");
    refused(path("c.vdi"), "vdi", "c.vdi", "vdi", "itself");
    refused(path("c.vdi"), "vdi", "b.vmdk", "vmdk", "must be a vdi");
}

int main(void)
{
    tu_crash_partial = 512; /* an interrupted write leaves its first sector */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vmdk_embedded_crash),
        cmocka_unit_test(test_vmdk_descfile_crash),
        cmocka_unit_test(test_vdi_crash),
        cmocka_unit_test(test_make_empty_crash),
        cmocka_unit_test(test_refusals),
    };
    int r = cmocka_run_group_tests(tests, NULL, NULL);
    tu_teardown(NULL);
    return r;
}

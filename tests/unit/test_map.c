/* SPDX-License-Identifier: GPL-2.0-or-later */
/* test_map.c: unit tests for core/map: guest runs of a qcow2 overlay (data, zero, compressed
 * clusters over a backing file) equal ops_map's and qemu-img map's; a 1 TiB qcow2 with 2000
 * scattered clusters maps to exactly 4001 runs (and scan counts its allocation exactly); cells
 * on hand-made runs (priority, byte counts, boundaries, the partial last cell, a start inside
 * a run, cells past the end); the host view covers the file with the header at 0; zoom
 * levels; partition starts; describe lines; cancellation. */
#include "testutil.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/block/driver.h"
#include "core/ops/map.h"
#include "core/ops/ops.h"
#include "core/scan/scan.h"

#define KiB 1024ull
#define MiB (1024ull * 1024)
#define GiB (1024ull * MiB)
#define TiB (1024ull * GiB)

static bool have_qemu;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static struct img *open_rw(const char *path)
{
    struct img_err err = {0};
    struct img *img = img_open(path, NULL, IMG_OPEN_RW | IMG_OPEN_BACKING, &err);
    if (!img)
        fail_msg("open %s: %s", path, err.msg);
    return img;
}

static void put(struct img *img, uint64_t off, size_t len)
{
    uint8_t *b = malloc(len);
    tu_pattern(b, len, off, 5);
    if (img_write(img, off, b, len) < 0)
        fail_msg("write: %s", img_errmsg(img));
    free(b);
}

/* base.qcow2: data at [0, 128K) and [4M, 4M+64K). over.qcow2 on it: data at 64K (shadowing
 * base), zeros over base's data at 4M, a zero cluster at 8M, a compressed cluster at 16M. */
static int setup(void **state)
{
    have_qemu = tu_sh("qemu-img --version >/dev/null 2>&1") == 0;
    tu_create("qcow2", tu_path("base.qcow2"), NULL, 64 * MiB, NULL, NULL);
    struct img *b = open_rw(tu_path("base.qcow2"));
    put(b, 0, 128 * KiB);
    put(b, 4 * MiB, 64 * KiB);
    assert_int_equal(img_flush(b), 0);
    img_close(b);

    tu_create("qcow2", tu_path("over.qcow2"), NULL, 64 * MiB, "base.qcow2", "qcow2");
    struct img *o = open_rw(tu_path("over.qcow2"));
    put(o, 64 * KiB, 64 * KiB);
    assert_int_equal(img_write_zeroes(o, 4 * MiB, 64 * KiB), 0);
    assert_int_equal(img_write_zeroes(o, 8 * MiB, 64 * KiB), 0);
    uint8_t *c = calloc(1, 64 * KiB);
    memset(c, 'q', 1000);
    assert_int_equal(img_write_compressed(o, 16 * MiB, c, 64 * KiB), 0);
    free(c);
    put(o, 20 * MiB, 192 * KiB);
    assert_int_equal(img_flush(o), 0);
    img_close(o);
    *state = NULL;
    return 0;
}

static struct img *open_ro(const char *path, unsigned extra)
{
    struct img_err err = {0};
    struct img *img = img_open(path, NULL, extra, &err);
    if (!img)
        fail_msg("open %s: %s", path, err.msg);
    return img;
}

static void assert_covers(const struct map_runs *r)
{
    uint64_t pos = 0;
    for (size_t i = 0; i < r->n; i++) {
        assert_int_equal(r->v[i].off, pos);
        assert_true(r->v[i].len > 0);
        pos += r->v[i].len;
    }
    assert_int_equal(pos, r->size);
}

/* ---- guest view against ops_map and qemu-img map ---- */

struct ops_list {
    struct ops_map_entry v[256];
    size_t n;
};

static int collect(void *ctx, const struct ops_map_entry *e)
{
    struct ops_list *l = ctx;
    assert_true(l->n < 256);
    l->v[l->n++] = *e;
    return 0;
}

static uint64_t json_num(const char *line, const char *key, bool *found)
{
    char k[64];
    snprintf(k, sizeof k, "\"%s\": ", key);
    const char *p = strstr(line, k);
    if (found)
        *found = p != NULL;
    return p ? strtoull(p + strlen(k), NULL, 10) : 0;
}

static bool json_bool(const char *line, const char *key)
{
    char k[64];
    snprintf(k, sizeof k, "\"%s\": true", key);
    return strstr(line, k) != NULL;
}

static void test_guest_runs(void **state)
{
    struct img *img = open_ro(tu_path("over.qcow2"), IMG_OPEN_BACKING);
    struct map_runs r;
    struct img_err err = {0};
    assert_int_equal(map_build_guest(img, &r, &err), 0);
    assert_int_equal(r.view, MAP_VIEW_GUEST);
    assert_int_equal(r.size, 64 * MiB);
    assert_int_equal(r.cluster_size, 65536);
    assert_covers(&r);
    assert_int_equal(r.nlayers, 2);
    assert_string_equal(r.layers[1], "base.qcow2");

    struct ops_list l = {.n = 0};
    assert_int_equal(ops_map(img, 0, img->size, collect, &l), 0);
    assert_int_equal(r.n, l.n);
    for (size_t i = 0; i < r.n; i++) {
        const struct map_run *m = &r.v[i];
        assert_int_equal(m->off, l.v[i].start);
        assert_int_equal(m->len, l.v[i].length);
        assert_int_equal(m->depth, l.v[i].depth);
        assert_int_equal(m->host, l.v[i].has_offset ? l.v[i].offset : MAP_NO_HOST);
    }

    /* The states, run by run. */
    size_t i = map_find(&r, 0);
    assert_int_equal(r.v[i].state, MAP_BACKING);
    assert_int_equal(r.v[i].len, 64 * KiB);
    assert_int_equal(r.v[i].depth, 1);
    i = map_find(&r, 64 * KiB);
    assert_int_equal(r.v[i].state, MAP_DATA);
    assert_int_equal(r.v[i].depth, 0);
    assert_int_equal(r.v[i].len, 64 * KiB);
    assert_int_equal(r.v[map_find(&r, 128 * KiB)].state, MAP_UNALLOC);
    assert_int_equal(r.v[map_find(&r, 4 * MiB)].state, MAP_ZERO);
    assert_int_equal(r.v[map_find(&r, 8 * MiB)].state, MAP_ZERO);
    i = map_find(&r, 16 * MiB);
    assert_int_equal(r.v[i].state, MAP_COMPRESSED);
    assert_int_equal(r.v[i].host, MAP_NO_HOST);
    i = map_find(&r, 20 * MiB + 70000);
    assert_int_equal(r.v[i].state, MAP_DATA);
    assert_int_equal(r.v[i].off, 20 * MiB);
    assert_int_equal(r.v[i].len, 192 * KiB); /* three clusters, contiguous on the host */
    assert_int_equal(map_find(&r, 64 * MiB), r.n);

    if (have_qemu) {
        char *js = tu_sh_out("qemu-img map --output=json '%s'", tu_path("over.qcow2"));
        assert_non_null(js);
        size_t k = 0;
        for (char *line = strtok(js, "\n"); line; line = strtok(NULL, "\n")) {
            if (!strstr(line, "\"start\""))
                continue;
            assert_true(k < r.n);
            const struct map_run *m = &r.v[k++];
            bool has_off;
            uint64_t off = json_num(line, "offset", &has_off);
            assert_int_equal(json_num(line, "start", NULL), m->off);
            assert_int_equal(json_num(line, "length", NULL), m->len);
            assert_int_equal(json_num(line, "depth", NULL), m->depth);
            assert_int_equal(json_bool(line, "present"), (m->flags & IMG_BS_ALLOCATED) != 0);
            assert_int_equal(json_bool(line, "zero"), (m->flags & IMG_BS_ZERO) != 0);
            assert_int_equal(json_bool(line, "data"), (m->flags & IMG_BS_DATA) != 0);
            assert_int_equal(has_off ? off : MAP_NO_HOST, m->host);
        }
        assert_int_equal(k, r.n);
        free(js);
    }

    /* Without the backing chain open the base's runs are unknown, not zeros. */
    map_runs_free(&r);
    img_close(img);
    img = open_ro(tu_path("over.qcow2"), 0);
    assert_int_equal(map_build_guest(img, &r, &err), 0);
    i = map_find(&r, 0);
    assert_int_equal(r.v[i].state, MAP_UNALLOC);
    assert_int_equal(r.v[i].flags & IMG_BS_ZERO, 0);
    char line[256];
    map_describe(&r, 0, line, sizeof line);
    assert_non_null(strstr(line, "backing file not opened"));
    map_runs_free(&r);
    img_close(img);
}

static void test_cancel(void **state)
{
    struct img *img = open_ro(tu_path("over.qcow2"), IMG_OPEN_BACKING);
    struct map_runs r;
    struct img_err err = {0};
    atomic_int cancel = 1;
    assert_int_equal(map_build_guest_cancel(img, &cancel, &r, &err), -ECANCELED);
    assert_int_equal(r.n, 0);
    assert_null(r.v);
    assert_non_null(strstr(err.msg, "cancelled"));
    img_close(img);
}

/* ---- a 1 TiB qcow2 with 2000 scattered clusters ---- */

static void test_big_sparse(void **state)
{
    const char *p = tu_path("big.qcow2");
    tu_create("qcow2", p, NULL, TiB, NULL, NULL);
    struct img *img = open_rw(p);
    const uint64_t nclusters = TiB / (64 * KiB), k = 2000, stride = nclusters / k;
    uint8_t *buf = malloc(64 * KiB);
    memset(buf, 0xa5, 64 * KiB);
    for (uint64_t i = 0; i < k; i++) {
        /* jitter < stride - 1: no two clusters touch, so each is its own run */
        uint64_t c = 1 + i * stride + (i * 7919) % (stride - 2);
        if (img_write(img, c * 64 * KiB, buf, 64 * KiB) < 0)
            fail_msg("write: %s", img_errmsg(img));
    }
    free(buf);
    assert_int_equal(img_flush(img), 0);
    img_close(img);

    img = open_ro(p, 0);
    struct map_runs r;
    struct img_err err = {0};
    double t0 = now_s();
    assert_int_equal(map_build_guest(img, &r, &err), 0);
    double t = now_s() - t0;
    print_message("1 TiB qcow2, %llu clusters: %zu guest runs in %.3f s\n", (unsigned long long)k,
                  r.n, t);
    assert_int_equal(r.n, 2 * k + 1);
    assert_covers(&r);
    uint64_t data = 0;
    for (size_t i = 0; i < r.n; i++)
        if (r.v[i].state == MAP_DATA)
            data += r.v[i].len;
    assert_int_equal(data, k * 64 * KiB);

    /* Cells over the whole disk: every data byte lands in some cell. */
    uint64_t lv[64];
    size_t nl = map_zoom_levels(r.size, r.cluster_size, 4000, lv, 64);
    struct map_cell *cells = malloc(4000 * sizeof *cells);
    t0 = now_s();
    map_cells(&r, 0, lv[nl - 1], 4000, cells);
    print_message("4000 cells at %llu bytes each: %.6f s\n", (unsigned long long)lv[nl - 1],
                  now_s() - t0);
    uint64_t cdata = 0, cover = 0;
    for (size_t i = 0; i < 4000; i++) {
        cdata += cells[i].bytes[MAP_DATA];
        cover += cells[i].len;
    }
    assert_int_equal(cdata, data);
    assert_int_equal(cover, TiB);
    free(cells);
    map_runs_free(&r);

    t0 = now_s();
    assert_int_equal(map_build_host(img, &r, &err), 0);
    print_message("host view: %zu runs in %.3f s\n", r.n, now_s() - t0);
    assert_covers(&r);
    assert_int_equal(r.v[0].state, MAP_HEADER);
    map_runs_free(&r);
    img_close(img);

    /* The browser's probe counts the same bytes, exactly, within its budget. */
    struct scan_dir *d = scan_open(tu_dir(), 0, &err);
    assert_non_null(d);
    t0 = now_s();
    while (scan_pending(d) > 0) {
        struct pollfd pf = {.fd = scan_wakeup_fd(d), .events = POLLIN};
        poll(&pf, 1, 200);
        scan_drain_wakeup(d);
        assert_true(now_s() - t0 < 60);
    }
    for (size_t i = 0; i < scan_count(d); i++) {
        const struct scan_entry *e = scan_entry(d, i);
        if (strcmp(e->name, "big.qcow2") != 0)
            continue;
        assert_int_equal(scan_entry_state(e), SCAN_DONE);
        print_message("scan of the directory: %.3f s; big.qcow2 alloc %llu%s\n", now_s() - t0,
                      (unsigned long long)e->alloc_bytes,
                      (e->flags & SCAN_F_ALLOC_APPROX) ? " (approximate)" : "");
        if (e->flags & SCAN_F_ALLOC_APPROX) {
            /* The walk hit its time budget: a lower bound over the part it covered. */
            print_message("  walked %llu of %llu bytes\n", (unsigned long long)e->alloc_walked,
                          (unsigned long long)TiB);
            assert_true(e->alloc_walked < TiB);
            assert_true(e->alloc_bytes > 0 && e->alloc_bytes < k * 64 * KiB);
        } else {
            assert_int_equal(e->alloc_walked, TiB);
            assert_int_equal(e->alloc_bytes, k * 64 * KiB);
        }
    }
    scan_close(d);
    unlink(p);
}

/* ---- cells on hand-made runs ---- */

static void hand_runs(struct map_runs *r)
{
    memset(r, 0, sizeof *r);
    r->view = MAP_VIEW_GUEST;
    r->size = 1000;
    assert_int_equal(map_runs_add(r, 0, 60, MAP_UNALLOC, MAP_NO_HOST, 0, 0), 0);
    assert_int_equal(map_runs_add(r, 60, 40, MAP_UNALLOC, MAP_NO_HOST, 0, 0), 0); /* merges */
    assert_int_equal(map_runs_add(r, 100, 50, MAP_DATA, 5000, IMG_BS_DATA, 0), 0);
    assert_int_equal(map_runs_add(r, 150, 250, MAP_ZERO, MAP_NO_HOST, IMG_BS_ZERO, 0), 0);
    assert_int_equal(map_runs_add(r, 400, 20, MAP_COMPRESSED, MAP_NO_HOST, 0, 0), 0);
    assert_int_equal(map_runs_add(r, 420, 280, MAP_BACKING, MAP_NO_HOST, IMG_BS_DATA, 1), 0);
    assert_int_equal(map_runs_add(r, 700, 300, MAP_UNALLOC, MAP_NO_HOST, 0, 0), 0);
    assert_int_equal(r->n, 6);
}

static void test_cells(void **state)
{
    struct map_runs r;
    hand_runs(&r);
    struct map_cell c[12];

    /* Cells of 100 starting at 50, in the middle of the first run. */
    map_cells(&r, 50, 100, 11, c);
    assert_int_equal(c[0].off, 50);
    assert_int_equal(c[0].len, 100);
    assert_int_equal(c[0].state, MAP_DATA); /* 50 bytes of data beat 50 unallocated */
    assert_int_equal(c[0].bytes[MAP_UNALLOC], 50);
    assert_int_equal(c[0].bytes[MAP_DATA], 50);
    assert_true(map_cell_fraction(&c[0], MAP_DATA) == 0.5);
    assert_int_equal(c[1].state, MAP_ZERO); /* [150, 250) exactly one run */
    assert_int_equal(c[1].bytes[MAP_ZERO], 100);
    assert_int_equal(c[3].state, MAP_COMPRESSED); /* [350,450): 50 zero, 20 compr, 30 backing */
    assert_int_equal(c[3].bytes[MAP_ZERO], 50);
    assert_int_equal(c[3].bytes[MAP_COMPRESSED], 20);
    assert_int_equal(c[3].bytes[MAP_BACKING], 30);
    assert_int_equal(c[6].state, MAP_BACKING); /* [650,750): backing beats unallocated */
    assert_int_equal(c[6].bytes[MAP_BACKING], 50);
    assert_int_equal(c[6].bytes[MAP_UNALLOC], 50);
    assert_int_equal(c[9].off, 950); /* the partial last cell */
    assert_int_equal(c[9].len, 50);
    assert_int_equal(c[9].state, MAP_UNALLOC);
    assert_int_equal(c[9].bytes[MAP_UNALLOC], 50);
    assert_int_equal(c[10].len, 0); /* past the end */
    assert_int_equal(c[10].state, MAP_NONE);
    uint64_t total = 0;
    for (int i = 0; i < 11; i++)
        for (int s = 0; s < MAP_STATE_COUNT; s++)
            total += c[i].bytes[s];
    assert_int_equal(total, 950);

    /* Boundaries on run edges; one byte per cell. */
    map_cells(&r, 99, 1, 3, c);
    assert_int_equal(c[0].state, MAP_UNALLOC);
    assert_int_equal(c[1].state, MAP_DATA);
    assert_int_equal(c[2].state, MAP_DATA);
    map_cells(&r, 0, 150, 1, c);
    assert_int_equal(c[0].state, MAP_DATA);
    assert_int_equal(c[0].bytes[MAP_DATA], 50);

    /* One cell for everything, and a start past the end. */
    map_cells(&r, 0, 4096, 2, c);
    assert_int_equal(c[0].len, 1000);
    assert_int_equal(c[0].state, MAP_DATA);
    assert_int_equal(c[0].bytes[MAP_BACKING], 280);
    assert_int_equal(c[1].state, MAP_NONE);
    map_cells(&r, 5000, 10, 2, c);
    assert_int_equal(c[0].state, MAP_NONE);
    assert_int_equal(c[1].len, 0);
    map_cells(&r, 0, UINT64_MAX, 2, c); /* no overflow */
    assert_int_equal(c[0].len, 1000);
    assert_int_equal(c[1].len, 0);

    /* Host priorities: metadata over leaked over data over compressed over free. */
    struct map_runs h = {.view = MAP_VIEW_HOST, .size = 600};
    map_runs_add(&h, 0, 100, MAP_FREE, MAP_NO_HOST, 0, 0);
    map_runs_add(&h, 100, 100, MAP_COMPRESSED, MAP_NO_HOST, 0, 0);
    map_runs_add(&h, 200, 100, MAP_DATA, MAP_NO_HOST, 0, 0);
    map_runs_add(&h, 300, 100, MAP_LEAKED, MAP_NO_HOST, 0, 0);
    map_runs_add(&h, 400, 100, MAP_L2, MAP_NO_HOST, 0, 0);
    map_runs_add(&h, 500, 100, MAP_HEADER, MAP_NO_HOST, 0, 0);
    const enum map_state want[5] = {MAP_COMPRESSED, MAP_DATA, MAP_LEAKED, MAP_L2, MAP_HEADER};
    for (int i = 0; i < 5; i++) {
        map_cells(&h, (uint64_t)i * 100, 200, 1, c);
        assert_int_equal(c[0].state, want[i]);
    }
    map_cells(&h, 0, 100, 1, c);
    assert_int_equal(c[0].state, MAP_FREE);
    assert_true(map_state_priority(MAP_HEADER) > map_state_priority(MAP_REFTABLE));
    assert_true(map_state_priority(MAP_REFBLOCK) > map_state_priority(MAP_LEAKED));
    assert_string_equal(map_state_name(MAP_REFBLOCK), img_region_name(IMG_R_REFBLOCK));
    assert_string_equal(map_state_name(MAP_GRAIN_DIR), img_region_name(IMG_R_GRAIN_DIR));
    map_runs_free(&h);

    /* Merging needs equal state, depth, flags and continuing host offsets. */
    struct map_runs m = {.size = 400};
    map_runs_add(&m, 0, 100, MAP_DATA, 1000, IMG_BS_DATA, 0);
    map_runs_add(&m, 100, 100, MAP_DATA, 1100, IMG_BS_DATA, 0); /* merges */
    map_runs_add(&m, 200, 100, MAP_DATA, 9000, IMG_BS_DATA, 0); /* host jumps */
    map_runs_add(&m, 300, 100, MAP_DATA, 9100, IMG_BS_DATA, 1); /* other depth */
    assert_int_equal(m.n, 3);
    assert_int_equal(m.v[0].len, 200);
    map_runs_free(&m);
    map_runs_free(&r);
}

static void test_zoom(void **state)
{
    uint64_t lv[64];
    size_t n = map_zoom_levels(TiB, 65536, 1000, lv, 64);
    assert_int_equal(n, 16); /* 64 KiB ... 2 GiB: 1 TiB / 2 GiB = 512 cells fit */
    assert_int_equal(lv[0], 65536);
    assert_int_equal(lv[15], 2 * GiB);
    for (size_t i = 1; i < n; i++)
        assert_int_equal(lv[i], lv[i - 1] * 2);
    n = map_zoom_levels(1000, 0, 2, lv, 64); /* no cluster: 512-byte steps */
    assert_int_equal(n, 1);
    assert_int_equal(lv[0], 512);
    n = map_zoom_levels(1025, 0, 2, lv, 64);
    assert_int_equal(n, 2);
    assert_int_equal(lv[1], 1024);
    assert_int_equal(map_zoom_levels(TiB, 512, 1, lv, 4), 4); /* capped by max */
    assert_int_equal(map_zoom_levels(TiB, 512, 0, lv, 4), 0);
    n = map_zoom_levels(UINT64_MAX, 512, 1, lv, 64); /* stops before overflowing */
    assert_true(n > 0 && n <= 64);
}

/* ---- host view ---- */

static void test_host(void **state)
{
    struct img *img = open_ro(tu_path("over.qcow2"), 0);
    struct map_runs r;
    struct img_err err = {0};
    assert_int_equal(map_build_host(img, &r, &err), 0);
    assert_int_equal(r.view, MAP_VIEW_HOST);
    assert_int_equal(r.size, tu_file_size(tu_path("over.qcow2")));
    assert_covers(&r);
    assert_int_equal(r.v[0].off, 0);
    assert_int_equal(r.v[0].state, MAP_HEADER);

    /* Every region of the layout shows with its state. */
    struct img_region *reg;
    size_t nreg;
    assert_int_equal(img_layout(img, &reg, &nreg), 0);
    bool saw_l1 = false, saw_l2 = false, saw_ref = false, saw_comp = false;
    for (size_t i = 0; i < nreg; i++) {
        size_t k = map_find(&r, reg[i].off);
        assert_true(k < r.n);
        assert_string_equal(map_state_name((enum map_state)r.v[k].state),
                            img_region_name(reg[i].kind));
        assert_true(r.v[k].off + r.v[k].len >= reg[i].off + reg[i].len);
        saw_l1 |= reg[i].kind == IMG_R_L1;
        saw_l2 |= reg[i].kind == IMG_R_L2;
        saw_ref |= reg[i].kind == IMG_R_REFBLOCK;
        saw_comp |= reg[i].kind == IMG_R_COMPRESSED;
    }
    assert_true(saw_l1 && saw_l2 && saw_ref && saw_comp);
    free(reg);

    char line[256];
    map_describe(&r, 0, line, sizeof line);
    assert_string_equal(line, "0x0+0x10000 (64 KiB) header");
    map_runs_free(&r);
    img_close(img);

    /* A raw file: data and holes. */
    const char *raw = tu_path("host.raw");
    tu_create("raw", raw, NULL, 4 * MiB, NULL, NULL);
    img = open_rw(raw);
    put(img, MiB, 64 * KiB);
    img_close(img);
    img = open_ro(raw, 0);
    assert_int_equal(map_build_host(img, &r, &err), 0);
    assert_covers(&r);
    assert_int_equal(r.size, 4 * MiB);
    size_t k = map_find(&r, MiB);
    assert_int_equal(r.v[k].state, MAP_DATA);
    assert_int_equal(r.v[k].len, 64 * KiB);
    assert_int_equal(r.v[map_find(&r, 0)].state, MAP_FREE);
    map_runs_free(&r);
    img_close(img);
}

/* ---- describe ---- */

static void test_describe(void **state)
{
    struct img *img = open_ro(tu_path("over.qcow2"), IMG_OPEN_BACKING);
    struct map_runs r;
    struct img_err err = {0};
    assert_int_equal(map_build_guest(img, &r, &err), 0);
    char line[512];
    const struct map_run *d = &r.v[map_find(&r, 64 * KiB)];
    char want[512];
    snprintf(want, sizeof want, "0x10000+0x10000 (64 KiB) data at host 0x%llx, depth 0 (%s)",
             (unsigned long long)d->host, tu_path("over.qcow2"));
    assert_string_equal(map_describe(&r, 64 * KiB + 5, line, sizeof line), want);
    map_describe(&r, 100, line, sizeof line);
    snprintf(want, sizeof want,
             "0x0+0x10000 (64 KiB) backing (data) at host 0x%llx, depth 1 "
             "(base.qcow2)",
             (unsigned long long)r.v[0].host);
    assert_string_equal(line, want);
    map_describe(&r, 16 * MiB, line, sizeof line);
    snprintf(want, sizeof want, "0x1000000+0x10000 (64 KiB) compressed, depth 0 (%s)",
             tu_path("over.qcow2")); /* no host offset: a compressed stream is no mapping */
    assert_string_equal(line, want);
    map_describe(&r, 64 * MiB, line, sizeof line);
    assert_string_equal(line, "0x4000000: past the end (64 MiB)");
    /* Small buffers are cut, never overrun. */
    char tiny[8];
    memset(tiny, 'x', sizeof tiny);
    map_describe(&r, 0, tiny, 6);
    assert_string_equal(tiny, "0x0+0");
    assert_int_equal(tiny[6], 'x');
    map_runs_free(&r);
    img_close(img);
}

/* ---- partitions ---- */

static void test_partitions(void **state)
{
    const char *p = tu_path("parts.raw");
    tu_create("raw", p, NULL, 16 * MiB, NULL, NULL);
    uint8_t mbr[512] = {0};
    /* Entry 1 at LBA 10240 (5 MiB), entry 2 at LBA 2048 (1 MiB): returned sorted. */
    mbr[446 + 4] = 0x83, mbr[446 + 9] = 0x28, mbr[446 + 13] = 0x08;
    mbr[462 + 4] = 0x0c, mbr[462 + 9] = 0x08, mbr[462 + 13] = 0x08;
    mbr[510] = 0x55, mbr[511] = 0xaa;
    tu_poke(p, 0, mbr, sizeof mbr);
    struct img *img = open_ro(p, 0);
    struct map_part *v;
    size_t n;
    struct img_err err = {0};
    assert_int_equal(map_partitions(img, &v, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_int_equal(v[0].start, MiB);
    assert_int_equal(v[0].number, 2);
    assert_int_equal(v[0].size, MiB);
    assert_int_equal(v[1].start, 5 * MiB);
    assert_int_equal(v[1].number, 1);
    free(v);
    img_close(img);

    img = open_ro(tu_path("base.qcow2"), 0);
    assert_int_equal(map_partitions(img, &v, &n, &err), 0);
    assert_int_equal(n, 0);
    assert_null(v);
    img_close(img);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_guest_runs), cmocka_unit_test(test_cancel),
        cmocka_unit_test(test_cells),      cmocka_unit_test(test_zoom),
        cmocka_unit_test(test_host),       cmocka_unit_test(test_describe),
        cmocka_unit_test(test_partitions), cmocka_unit_test(test_big_sparse),
    };
    return cmocka_run_group_tests(tests, setup, tu_teardown);
}

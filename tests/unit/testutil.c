/* SPDX-License-Identifier: GPL-2.0-or-later */
/* testutil.c: the shared test helpers declared in testutil.h. */
#include "testutil.h"

#include "core/block/driver.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/resource.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char dir[512];

const char *tu_dir(void)
{
    if (!dir[0]) {
        const char *base = getenv("DIMG_TEST_TMP");
        char tmpl[512];
        if (!base)
            base = "/tmp";
        mkdir(base, 0755);
        snprintf(tmpl, sizeof tmpl, "%s/unit-XXXXXX", base);
        if (!mkdtemp(tmpl)) {
            perror("mkdtemp");
            abort();
        }
        snprintf(dir, sizeof dir, "%s", tmpl);
    }
    return dir;
}

const char *tu_path(const char *name)
{
    static char bufs[8][1024];
    static int i;
    char *b = bufs[i++ & 7];
    snprintf(b, 1024, "%s/%s", tu_dir(), name);
    return b;
}

void tu_cleanup(void)
{
    if (dir[0]) {
        tu_sh("rm -rf '%s'", dir);
        dir[0] = 0;
    }
}

static char *vfmt(const char *fmt, va_list ap)
{
    char *cmd = NULL;
    if (vasprintf(&cmd, fmt, ap) < 0)
        abort();
    return cmd;
}

int tu_sh(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *cmd = vfmt(fmt, ap);
    va_end(ap);
    int st = system(cmd);
    free(cmd);
    if (st == -1 || !WIFEXITED(st))
        return -1;
    return WEXITSTATUS(st);
}

char *tu_sh_out(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *cmd = vfmt(fmt, ap);
    va_end(ap);
    FILE *f = popen(cmd, "r");
    free(cmd);
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0;
    char *out = malloc(cap);
    size_t k;
    while ((k = fread(out + n, 1, cap - n - 1, f)) > 0) {
        n += k;
        if (cap - n < 2) {
            cap *= 2;
            out = realloc(out, cap);
        }
    }
    out[n] = 0;
    pclose(f);
    return out;
}

void tu_pattern(void *buf, size_t len, uint64_t off, unsigned seed)
{
    uint8_t *p = buf;
    for (size_t i = 0; i < len; i++) {
        uint64_t x = (off + i) * 0x9E3779B97F4A7C15ull + seed * 0xBF58476D1CE4E5B9ull;
        x ^= x >> 29;
        p[i] = (uint8_t)(x ^ (x >> 17));
    }
}

void tu_create(const char *fmt, const char *path, const char *opts, uint64_t size,
               const char *backing, const char *backing_fmt)
{
    struct img_opts o = {0};
    struct img_err err = {0};
    if (opts && opts[0] && img_opts_parse(&o, opts, &err) < 0)
        fail_msg("options '%s': %s", opts, err.msg);
    struct img_create_req req = {
        .size = size, .backing_file = backing, .backing_fmt = backing_fmt, .opts = &o};
    if (img_create(fmt, path, &req, &err) < 0)
        fail_msg("create %s %s (%s): %s", fmt, path, opts ? opts : "", err.msg);
    img_opts_free(&o);
}

void *tu_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    void *buf = malloc(n > 0 ? (size_t)n : 1);
    if (buf && n > 0 && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf && len)
        *len = (size_t)n;
    return buf;
}

bool tu_exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

uint64_t tu_file_size(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return (uint64_t)st.st_size;
}

uint64_t tu_alloc_bytes(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return (uint64_t)st.st_blocks * 512;
}

void tu_poke(const char *path, uint64_t off, const void *bytes, size_t n)
{
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    assert_int_equal(fseeko(f, (off_t)off, SEEK_SET), 0);
    assert_int_equal(fwrite(bytes, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

int tu_teardown(void **state)
{
    (void)state;
    tu_cleanup();
    return 0;
}

#if defined(__SANITIZE_ADDRESS__)
#define TU_UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TU_UNDER_ASAN 1
#endif
#endif

void tu_cap_address_space(unsigned long long bytes)
{
#ifndef TU_UNDER_ASAN
    struct rlimit rl;
    if (getrlimit(RLIMIT_AS, &rl) != 0)
        return;
    rl.rlim_cur = bytes ? (rlim_t)bytes : rl.rlim_max;
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_cur > rl.rlim_max)
        rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_AS, &rl);
#else
    (void)bytes;
#endif
}

int tu_group_cap_1g(void **state)
{
    (void)state;
    tu_cap_address_space(1ull << 30); /* soft only: later groups restore it */
    return 0;
}

int tu_group_uncap(void **state)
{
    (void)state;
    tu_cap_address_space(0);
    return 0;
}

/* tests/fixtures/name, found from this source file's path. */
const char *tu_fixture(const char *name)
{
    static char buf[4096];
#ifdef DIMG_SOURCE_DIR /* __FILE__ is relative under -ffile-prefix-map (Debian's builds) */
    snprintf(buf, sizeof buf, "%s/tests/unit/testutil.c", DIMG_SOURCE_DIR);
#else
    snprintf(buf, sizeof buf, "%s", __FILE__);
#endif
    char *u = strstr(buf, "tests/unit/testutil.c");
    assert_non_null(u);
    snprintf(u, sizeof buf - (size_t)(u - buf), "tests/fixtures/%s", name);
    return buf;
}

/* Decode the fixture syntax (see the .hex file's header) into path. */
void tu_hex_decode(const char *hexfile, const char *path)
{
    FILE *f = fopen(hexfile, "r");
    if (!f)
        fail_msg("cannot open %s", hexfile);
    uint8_t *img = NULL;
    size_t size = 0;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        char *hash = strchr(line, '#');
        if (hash)
            *hash = 0;
        char *p = line;
        while (*p == ' ' || *p == '\t')
            p++;
        if (!*p || *p == '\n')
            continue;
        if (!strncmp(p, "size ", 5)) {
            size = strtoul(p + 5, NULL, 10);
            img = calloc(1, size);
            continue;
        }
        assert_true(*p == '@' && img);
        unsigned long off = strtoul(p + 1, &p, 10), fill = 0;
        if (*p == '*')
            fill = strtoul(p + 1, &p, 10);
        for (;;) {
            char *e;
            unsigned long v = strtoul(p, &e, 16);
            if (e == p)
                break;
            p = e;
            assert_true(v < 256);
            size_t n = fill ? fill : 1;
            assert_true(off + n <= size);
            memset(img + off, (int)v, n);
            off += n;
        }
    }
    fclose(f);
    tu_write_file(path, img, size);
    free(img);
}

void tu_assert_same_file(const char *a, const char *b)
{
    size_t na, nb;
    uint8_t *x = tu_read_file(a, &na), *y = tu_read_file(b, &nb);
    assert_non_null(x);
    assert_non_null(y);
    assert_int_equal(na, nb);
    assert_memory_equal(x, y, na);
    free(x);
    free(y);
}

void tu_write_file(const char *path, const void *buf, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, buf, len), (ssize_t)len);
    close(fd);
}

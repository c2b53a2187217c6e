/* SPDX-License-Identifier: GPL-2.0-or-later */
/* testutil.h: helpers shared by the cmocka unit tests: a fresh temp directory per test
 * program, deterministic patterns, running qemu-img/qemu-io as the oracle. */
#ifndef DIMG_TESTUTIL_H
#define DIMG_TESTUTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

/* Directory for this test program's files (created on first use, removed by tu_cleanup). */
const char *tu_dir(void);
/* tu_dir()/name in a static rotating buffer. */
const char *tu_path(const char *name);
/* Remove tu_dir() and everything in it. */
void tu_cleanup(void);
/* A cmocka group teardown that calls tu_cleanup (the same in every test program). */
int tu_teardown(void **state);
/* Lower (bytes) or restore (0) the soft address-space limit, so that a huge allocation fails
 * instead of succeeding lazily; a no-op under AddressSanitizer, which reserves terabytes. */
void tu_cap_address_space(unsigned long long bytes);
/* cmocka group setup and teardown for hostile-input groups: cap the address space at 1 GiB,
 * and restore it. */
int tu_group_cap_1g(void **state);
int tu_group_uncap(void **state);
/* Run a shell command (printf format); returns its exit status, or -1. */
int tu_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Run a shell command and capture stdout into a malloc'd string. */
char *tu_sh_out(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Fill buf with a deterministic pattern depending on seed and absolute offset. */
void tu_pattern(void *buf, size_t len, uint64_t off, unsigned seed);
/* Create an image through the core (img_create) with -o options and an optional backing
 * file; fails the test with the core's message on error. */
void tu_create(const char *fmt, const char *path, const char *opts, uint64_t size,
               const char *backing, const char *backing_fmt);
/* Read a whole file into memory (malloc'd); NULL on failure. */
void *tu_read_file(const char *path, size_t *len);
/* Both files hold the same bytes (the test fails otherwise). */
void tu_assert_same_file(const char *a, const char *b);
/* Write len bytes of buf to path (created or truncated). */
void tu_write_file(const char *path, const void *buf, size_t len);
/* lstat succeeds. */
bool tu_exists(const char *path);
/* st_size and st_blocks * 512 (the test fails when stat does). */
uint64_t tu_file_size(const char *path);
uint64_t tu_alloc_bytes(const char *path);
/* Overwrite n bytes of path at off (for hand-damaging images); asserts on failure. */
void tu_poke(const char *path, uint64_t off, const void *bytes, size_t n);
/* The path of tests/fixtures/name in the source tree (a static buffer). */
const char *tu_fixture(const char *name);
/* Decode a fixture in the .hex syntax of tests/fixtures (see cow_golden.hex's header) into the
 * file path; fails the test on a malformed fixture. */
void tu_hex_decode(const char *hexfile, const char *path);

#endif

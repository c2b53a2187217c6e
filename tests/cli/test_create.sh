#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# test_create.sh: dimg create raw: sizes with suffixes agree with qemu-img, sparse by default,
# preallocation=full/falloc allocate, -o help, -b without -F refused, bad sizes and options.
source "$(dirname "$0")/lib.sh"
du_k() { du -k "$1" | cut -f1; }

for size in 1M 1.5G 512 100k 2T 0.5M; do
  run "$DIMG" create -f raw "d$size.img" "$size"
  expect_rc 0 "create raw $size"
  qemu-img create -q -f raw "q$size.img" "$size"
  [ "$(stat -c %s "d$size.img")" = "$(stat -c %s "q$size.img")" ] && pass ||
    fail "create $size: $(stat -c %s "d$size.img") bytes, qemu-img $(stat -c %s "q$size.img")"
  grep -qx "Formatting 'd$size.img', fmt=raw size=$(stat -c %s "q$size.img")" "$T/out" && pass ||
    fail "create $size message: $(cat "$T/out")"
  rm -f "d$size.img" "q$size.img"
done

# Too large for the file system: both refuse (no stray file either).
run "$DIMG" create -f raw huge.img 1E
[ "$rc" -ne 0 ] && pass || fail "create 1E succeeded"
expect_one_error_line "huge.img" "create 1E"
[ -e huge.img ] && fail "failed create left huge.img"

run "$DIMG" create -f raw sparse.img 64M
[ "$(du_k sparse.img)" -lt 64 ] && pass || fail "plain create allocated $(du_k sparse.img) KiB"

run "$DIMG" create -f raw -o preallocation=full full.img 8M
expect_rc 0 "create preallocation=full"
[ "$(du_k full.img)" -ge 8192 ] && pass || fail "preallocation=full allocated only $(du_k full.img) KiB"
cmp full.img <(head -c 8M /dev/zero) && pass || fail "preallocation=full is not all zeros"

run "$DIMG" create -f raw -o preallocation=falloc fa.img 8M
expect_rc 0 "create preallocation=falloc"
[ "$(du_k fa.img)" -ge 8192 ] && pass || fail "preallocation=falloc allocated only $(du_k fa.img) KiB"

run "$DIMG" create -f raw -o help
expect_rc 0 "create -o help"
grep -q '^Supported raw options:' "$T/out" && grep -q '^  preallocation=' "$T/out" && pass ||
  fail "-o help output: $(cat "$T/out")"

run "$DIMG" create -f raw -o preallocation=bogus bad.img 1M
expect_rc 1 "bad preallocation"
expect_one_error_line "preallocation" "bad preallocation"

run "$DIMG" create -f raw -o nosuch=1 bad.img 1M
expect_rc 1 "unknown -o key"
expect_one_error_line "nosuch" "unknown -o key"
[ -e bad.img ] && fail "unknown -o key left bad.img"

for bad in 1Q 5x abc 9E ""; do
  run "$DIMG" create -f raw bad.img "$bad"
  expect_rc 1 "create size '$bad'"
  expect_one_error_line "size" "create size '$bad'"
done

run "$DIMG" create -f raw nosize.img
expect_rc 1 "create without size"
expect_one_error_line "size is required" "create without size"

run "$DIMG" create -f raw -b sparse.img over.img
expect_rc 1 "create -b without -F"
expect_one_error_line "without backing format" "create -b without -F"

run "$DIMG" create bad.img 1M
expect_rc 1 "create without -f"
expect_one_error_line "format is required" "create without -f"

run "$DIMG" create -q -f raw quiet.img 1M
expect_rc 0 "create -q"
[ -s "$T/out" ] && fail "create -q printed: $(cat "$T/out")"

finish

#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# test_check.sh: dimg check on formats without a check (raw) says so like qemu-img and exits
# 63, with -r too; bad -r values are usage errors.
source "$(dirname "$0")/lib.sh"

mk_sparse_raw r.img 4M 0:4096
for args in "" "--output=json" "-r leaks" "-r all"; do
  run "$DIMG" check $args r.img
  expect_rc 63 "check $args on raw"
  expect_one_error_line "This image format does not support checks" "check $args on raw"
  [ -s "$T/out" ] && fail "check $args on raw printed to stdout"
  set +e; qemu-img check $args r.img >/dev/null 2>"$T/q.err"; qrc=$?; set -e
  [ $qrc -eq 63 ] && pass || fail "qemu-img check $args gave $qrc (test assumption)"
  sed -n 's/^qemu-img: //p' "$T/q.err" >"$T/q.msg"; sed 's/^dimg: //' "$T/err" >"$T/d.msg"
  expect_same "$T/d.msg" "$T/q.msg" "check $args message vs qemu-img"
done

run "$DIMG" check -r some r.img
expect_rc 1 "check -r some"
expect_one_error_line "leaks or all" "check -r some"

finish

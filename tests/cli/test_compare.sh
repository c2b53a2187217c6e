#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# test_compare.sh: dimg compare against qemu-img compare: the same stdout and exit status for
# identical, different, size-mismatched and strict-mode cases; open errors exit 2.
source "$(dirname "$0")/lib.sh"

mk_sparse_raw a.img 16M 70000:5 6553600:196608
cp --sparse=always a.img same.img
cp --sparse=never a.img dense.img
cp a.img diff.img; printf 'X' | dd of=diff.img bs=1 seek=1000 conv=notrunc status=none
cp a.img diff2.img; printf 'X' | dd of=diff2.img bs=1 seek=$((9 * 1048576 + 777)) conv=notrunc status=none
cp a.img bigger.img; truncate -s 17M bigger.img
cp bigger.img bigger2.img; printf 'X' | dd of=bigger2.img bs=1 seek=$((16 * 1048576 + 700)) conv=notrunc status=none

# same_as_qemu ARGS...: stdout and exit status equal qemu-img compare's.
same_as_qemu() {
  run "$DIMG" compare "$@"
  local drc=$rc
  cp "$T/out" "$T/d.out"
  set +e; qemu-img compare "$@" >"$T/q.out" 2>/dev/null; local qrc=$?; set -e
  [ $drc -eq $qrc ] && pass || fail "compare $*: exit $drc, qemu-img $qrc"
  expect_same "$T/d.out" "$T/q.out" "compare $* output vs qemu-img"
}
same_as_qemu a.img same.img
same_as_qemu a.img dense.img
same_as_qemu -f raw -F raw a.img diff.img
same_as_qemu a.img diff2.img
same_as_qemu a.img bigger.img
same_as_qemu bigger.img a.img
same_as_qemu a.img bigger2.img
same_as_qemu bigger2.img a.img
same_as_qemu -s a.img bigger.img
same_as_qemu -s a.img dense.img
same_as_qemu -s a.img same.img

# Content checks that do not depend on qemu's wording.
run "$DIMG" compare a.img diff.img
expect_rc 1 "compare different"
grep -qx 'Content mismatch at offset 512!' "$T/out" && pass || fail "mismatch offset: $(cat "$T/out")"
run "$DIMG" compare a.img same.img
expect_rc 0 "compare identical"
grep -qx 'Images are identical.' "$T/out" && pass || fail "identical message: $(cat "$T/out")"
run "$DIMG" compare -q a.img diff.img
expect_rc 1 "compare -q different"
[ -s "$T/out" ] && fail "compare -q printed"

run "$DIMG" compare a.img "$T/none.img"
expect_rc 2 "compare with a missing file"
expect_one_error_line "none.img" "compare with a missing file"

finish

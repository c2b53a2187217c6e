#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# test_info.sh: dimg info on raw images against qemu-img info (human and JSON, byte for byte),
# JSON escaping of hostile file names, -f mismatch errors, --backing-chain on raw.
source "$(dirname "$0")/lib.sh"

mk_sparse_raw r.img 16M 70000:5 6553600:196608
for img in r.img; do
  run "$DIMG" info --output=json "$img"
  expect_rc 0 "info json $img"
  qemu-img info --output=json "$img" >"$T/q.json"
  expect_same "$T/out" "$T/q.json" "info --output=json $img vs qemu-img"
  [ "$(json_num "$T/out" virtual-size)" = 16777216 ] || fail "virtual-size: $(json_num "$T/out" virtual-size)"
  [ "$(json_str "$T/out" format)" = raw ] || fail "format: $(json_str "$T/out" format)"

  run "$DIMG" info "$img"
  expect_rc 0 "info human $img"
  qemu-img info "$img" >"$T/q.txt"
  expect_same "$T/out" "$T/q.txt" "info human $img vs qemu-img"
done

# Odd sizes: 1000 KiB shows as "0.977 MiB" in qemu's size_to_str; an empty file as "0 B".
truncate -s 1024000 odd.img
: >empty.img
for img in odd.img empty.img; do
  run "$DIMG" info "$img"
  qemu-img info "$img" >"$T/q.txt"
  expect_same "$T/out" "$T/q.txt" "info human $img vs qemu-img"
done

# Names with quotes, backslashes and control characters are escaped in JSON.
name=$'we"ird\\na\tme.img'
cp r.img "$name"
run "$DIMG" info --output=json "$name"
expect_rc 0 "info json weird name"
grep -qF '"filename": "we\"ird\\na\tme.img"' "$T/out" || fail "weird name not escaped: $(grep filename "$T/out")"
qemu-img info --output=json "$name" >"$T/q.json"
expect_same "$T/out" "$T/q.json" "info json weird name vs qemu-img"

# Naming the wrong format is one error line.
run "$DIMG" info -f qcow2 r.img
[ "$rc" -ne 0 ] && pass || fail "info -f qcow2 on raw succeeded"
[ "$(wc -l <"$T/err")" -eq 1 ] && grep -q '^dimg: ' "$T/err" && pass || fail "info -f qcow2 on raw: $(cat "$T/err")"
[ -s "$T/out" ] && fail "info -f qcow2 on raw wrote to stdout"

run "$DIMG" info -f nosuchfmt r.img
expect_rc 1 "unknown format"
expect_one_error_line "unknown format 'nosuchfmt'" "unknown format"

# --backing-chain of a raw image is the image alone (JSON: a one-element array).
run "$DIMG" info --backing-chain --output=json r.img
expect_rc 0 "info --backing-chain json"
qemu-img info --backing-chain --output=json r.img >"$T/q.json"
expect_same "$T/out" "$T/q.json" "info --backing-chain json vs qemu-img"

finish

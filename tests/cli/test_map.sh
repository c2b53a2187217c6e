#!/usr/bin/env bash
# test_map.sh: dimg map on sparse raw files must equal qemu-img map byte for byte (JSON and the
# human table), including --start-offset/--max-length windows.
source "$(dirname "$0")/lib.sh"

mk_sparse_raw a.img 16M 70000:5 6553600:196608
mk_sparse_raw b.img 4M                              # all hole
mk_sparse_raw c.img 3M 0:3M                         # all data
mk_sparse_raw d.img 10M 0:4096 1M:1M 9M:1M          # data at both ends
mk_sparse_raw e.img 1M 4096:4096 12288:4096 20480:512
for img in a.img b.img c.img d.img e.img; do
  run "$DIMG" map --output=json "$img"
  expect_rc 0 "map json $img"
  qemu-img map --output=json "$img" >"$T/q.json"
  expect_same "$T/out" "$T/q.json" "map --output=json $img vs qemu-img"

  run "$DIMG" map "$img"
  expect_rc 0 "map human $img"
  qemu-img map "$img" >"$T/q.txt"
  expect_same "$T/out" "$T/q.txt" "map human $img vs qemu-img"

  run "$DIMG" map -f raw --output=json --start-offset=4096 --max-length=2M "$img"
  qemu-img map -f raw --output=json --start-offset=4096 --max-length=2M "$img" >"$T/q.json"
  expect_same "$T/out" "$T/q.json" "map window $img vs qemu-img"
done

run "$DIMG" map "$T/missing.img"
expect_rc 1 "map of a missing file"
expect_one_error_line "missing.img" "map of a missing file"
[ -s "$T/out" ] && fail "map error wrote to stdout"

finish

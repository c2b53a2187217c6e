#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
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

# Sparse qcow2 images whose L2 tables are mostly zero entries (the map skips those stretches
# a word at a time): scattered clusters, a run across an L2 table's end, extended L2 entries
# (16 bytes each, with a cluster only partly written: its unallocated and zeroed subclusters
# keep their host offset, as qemu-img reports them), small clusters; whole and windowed maps.
mk_sparse_qcow2() { # NAME OPTS SMALL_WRITE_LENGTH
  qemu-img create -q -f qcow2 -o "$2" "$T/$1" 64G
  qemu-io -f qcow2 -c 'write -P 1 0 64k' -c "write -P 2 5G $3" -c 'write -P 3 17179803648 192k' \
    -c 'write -z 20G 1M' -c 'write -P 4 40G 64k' -c 'write -P 5 68719411200 64k' "$T/$1" >/dev/null
}
mk_sparse_qcow2 s64.qcow2 cluster_size=65536 4k
mk_sparse_qcow2 sx.qcow2 cluster_size=65536,extended_l2=on 64k
mk_sparse_qcow2 sxp.qcow2 cluster_size=65536,extended_l2=on 6k
qemu-io -f qcow2 -c 'write -z 5368727552 4k' -c 'write -P 6 5368733696 2k' "$T/sxp.qcow2" >/dev/null
mk_sparse_qcow2 s4k.qcow2 cluster_size=4096 4k
for img in s64.qcow2 sx.qcow2 sxp.qcow2 s4k.qcow2; do
  for win in "" "--start-offset=4096 --max-length=21474836480" "--start-offset=5G --max-length=12G"; do
    # shellcheck disable=SC2086
    run "$DIMG" map --output=json $win "$T/$img"
    expect_rc 0 "map json $img $win"
    # shellcheck disable=SC2086
    qemu-img map --output=json $win "$T/$img" >"$T/q.json"
    expect_same "$T/out" "$T/q.json" "map --output=json $win $img vs qemu-img"
  done
done

run "$DIMG" map "$T/missing.img"
expect_rc 1 "map of a missing file"
expect_one_error_line "missing.img" "map of a missing file"
[ -s "$T/out" ] && fail "map error wrote to stdout"

finish

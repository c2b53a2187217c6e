#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# test_qcow2_interop.sh: the command line on qcow2 against qemu-img as the oracle: create ->
# qemu-img check clean; convert raw<->qcow2 (plain and -c) -> qemu-img compare and cmp; map,
# info and check output of qemu-made images equal to qemu-img's.
source "$(dirname "$0")/lib.sh"

mk_sparse_raw src.raw 16M 0:64k 70000:5 1M:192k 6553600:196608 15M:1M

# --- create ---
run "$DIMG" create -f qcow2 new.qcow2 16M
expect_rc 0 "create qcow2"
grep -q "^Formatting 'new.qcow2', fmt=qcow2" "$T/out" && pass || fail "create message: $(cat "$T/out")"
run qemu-img check new.qcow2
expect_rc 0 "qemu-img check of a dimg-made qcow2"
qemu-img info --output=json new.qcow2 >"$T/q.json"
[ "$(json_num "$T/q.json" virtual-size)" = 16777216 ] && pass || fail "created size: $(json_num "$T/q.json" virtual-size)"
[ "$(json_num "$T/q.json" cluster-size)" = 65536 ] && pass || fail "created cluster size"

run "$DIMG" create -f qcow2 -o cluster_size=4k small.qcow2 1M
expect_rc 0 "create qcow2 cluster_size=4k"
qemu-img info --output=json small.qcow2 >"$T/q.json"
[ "$(json_num "$T/q.json" cluster-size)" = 4096 ] && pass || fail "cluster_size=4k not honoured"

run "$DIMG" create -f qcow2 -b src.raw -F raw over.qcow2
expect_rc 0 "create qcow2 overlay without size"
qemu-img info --output=json over.qcow2 >"$T/q.json"
[ "$(json_num "$T/q.json" virtual-size)" = 16777216 ] && pass || fail "overlay size not taken from backing"
[ "$(json_str "$T/q.json" backing-filename)" = src.raw ] && pass || fail "overlay backing name"
run qemu-img compare over.qcow2 src.raw
expect_rc 0 "overlay reads as its backing"

# --- convert ---
run "$DIMG" convert -f raw -O qcow2 src.raw conv.qcow2
expect_rc 0 "convert raw->qcow2"
run qemu-img check conv.qcow2
expect_rc 0 "qemu-img check of converted qcow2"
run qemu-img compare -f raw -F qcow2 src.raw conv.qcow2
expect_rc 0 "qemu-img compare raw vs converted qcow2"
run "$DIMG" convert -f qcow2 -O raw conv.qcow2 back.raw
expect_rc 0 "convert qcow2->raw"
cmp src.raw back.raw && pass || fail "raw->qcow2->raw round trip differs"

run "$DIMG" convert -c -O qcow2 src.raw comp.qcow2
expect_rc 0 "convert -c raw->qcow2"
run qemu-img check --output=json comp.qcow2
expect_rc 0 "qemu-img check of compressed qcow2"
[ -n "$(json_num "$T/out" compressed-clusters)" ] && pass || fail "no compressed clusters: $(cat "$T/out")"
run qemu-img compare src.raw comp.qcow2
expect_rc 0 "compressed qcow2 content"

# Whole chain flattened: overlay with its own data over a qcow2 base.
qemu-img create -q -f qcow2 base.qcow2 16M
qemu-io -c 'write -P 0x11 0 64k' -c 'write -z 1M 64k' -c 'write -P 0x22 2M 128k' base.qcow2 >/dev/null
qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 top.qcow2
qemu-io -c 'write -P 0x33 64k 64k' -c 'write -P 0x44 2M 4k' top.qcow2 >/dev/null
run "$DIMG" convert -O raw top.qcow2 flat.raw
expect_rc 0 "convert of a qcow2 chain"
run qemu-img compare top.qcow2 flat.raw
expect_rc 0 "flattened chain content"
run "$DIMG" compare top.qcow2 flat.raw
expect_rc 0 "dimg compare of chain vs flattened"

# --- map: byte for byte against qemu-img (plain, chain, compressed) ---
for img in base.qcow2 top.qcow2 comp.qcow2 conv.qcow2; do
  run "$DIMG" map --output=json "$img"
  expect_rc 0 "map json $img"
  qemu-img map --output=json "$img" >"$T/q.json"
  expect_same "$T/out" "$T/q.json" "map --output=json $img vs qemu-img"
done
for img in base.qcow2 top.qcow2; do
  run "$DIMG" map "$img"
  qemu-img map "$img" >"$T/q.txt"
  expect_same "$T/out" "$T/q.txt" "map human $img vs qemu-img"
done
run "$DIMG" map comp.qcow2
expect_rc 1 "human map of compressed clusters"
[ -s "$T/out" ] && fail "human map of compressed clusters printed to stdout"

# --- info ---
for img in base.qcow2 top.qcow2; do
  run "$DIMG" info --output=json "$img"
  qemu-img info --output=json "$img" >"$T/q.json"
  for k in virtual-size cluster-size actual-size; do
    [ "$(json_num "$T/out" $k)" = "$(json_num "$T/q.json" $k)" ] && pass || fail "info $img $k: $(json_num "$T/out" $k) vs $(json_num "$T/q.json" $k)"
  done
  for k in format compat backing-filename; do
    [ "$(json_str "$T/out" $k)" = "$(json_str "$T/q.json" $k)" ] && pass || fail "info $img $k"
  done
  expect_same "$T/out" "$T/q.json" "info --output=json $img vs qemu-img"
  run "$DIMG" info "$img"
  qemu-img info "$img" >"$T/q.txt"
  expect_same "$T/out" "$T/q.txt" "info human $img vs qemu-img"
done
run "$DIMG" info --backing-chain --output=json top.qcow2
qemu-img info --backing-chain --output=json top.qcow2 >"$T/q.json"
expect_same "$T/out" "$T/q.json" "info --backing-chain json vs qemu-img"

# --untrusted: names are shown, never followed; a missing backing file is one error line.
run "$DIMG" --untrusted info top.qcow2
expect_rc 0 "--untrusted info shows an overlay"
grep -qx 'backing file: base.qcow2' "$T/out" && pass || fail "--untrusted info: $(cat "$T/out")"
run "$DIMG" --untrusted info --backing-chain top.qcow2
expect_rc 1 "--untrusted info --backing-chain"
expect_one_error_line "untrusted" "--untrusted info --backing-chain"
run "$DIMG" --untrusted convert -O raw top.qcow2 never.raw
expect_rc 1 "--untrusted convert of an overlay"
[ -e never.raw ] || [ -e never.raw.part ] && fail "--untrusted convert left a file" || pass
qemu-img create -q -f qcow2 -b gone.qcow2 -F qcow2 -u orphan.qcow2 16M
for cmd in "info --backing-chain" map "compare orphan.qcow2" "convert -O raw"; do
  if [[ $cmd == convert* ]]; then run "$DIMG" $cmd orphan.qcow2 x.raw; else run "$DIMG" $cmd orphan.qcow2; fi
  [ "$rc" -ne 0 ] && pass || fail "$cmd with a missing backing file succeeded"
  expect_one_error_line "gone.qcow2" "$cmd with a missing backing file"
done

# --- check: clean, then a leak and a corruption planted in the refcount block ---
for img in base.qcow2 comp.qcow2; do
  run "$DIMG" check --output=json "$img"
  expect_rc 0 "check $img"
  qemu-img check --output=json "$img" >"$T/q.json"
  expect_same "$T/out" "$T/q.json" "check --output=json $img vs qemu-img"
  run "$DIMG" check "$img"
  qemu-img check "$img" >"$T/q.txt"
  expect_same "$T/out" "$T/q.txt" "check human $img vs qemu-img"
done
cp base.qcow2 leak.qcow2
rb=$(od -An -t u8 --endian=big -j $(( $(od -An -t u8 --endian=big -j 48 -N 8 leak.qcow2) )) -N 8 leak.qcow2)
printf '\x00\x02' | dd of=leak.qcow2 bs=1 seek=$((rb + 10)) conv=notrunc status=none   # cluster 5: 2
run "$DIMG" check --output=json leak.qcow2
drc=$rc; cp "$T/out" "$T/d.json"
set +e; qemu-img check --output=json leak.qcow2 >"$T/q.json" 2>/dev/null; qrc=$?; set -e
[ $drc -eq $qrc ] && pass || fail "check of a damaged image: exit $drc, qemu-img $qrc"
for k in corruptions leaks check-errors allocated-clusters image-end-offset total-clusters; do
  [ "$(json_num "$T/d.json" $k)" = "$(json_num "$T/q.json" $k)" ] && pass || fail "check $k: $(json_num "$T/d.json" $k) vs $(json_num "$T/q.json" $k)"
done
expect_same "$T/d.json" "$T/q.json" "check --output=json of a damaged image vs qemu-img"
cp leak.qcow2 leak2.qcow2
run "$DIMG" check -r all leak2.qcow2
expect_rc 0 "check -r all repairs"
run qemu-img check leak2.qcow2
expect_rc 0 "qemu-img check after dimg repair"

finish

#!/usr/bin/env bash
# test_vdi.sh: the command line on vdi against qemu-img as the oracle: create (dynamic and
# static) -> qemu-img check clean; convert raw -> vdi -> raw and qcow2 <-> vdi -> qemu-img
# compare and cmp; info, map and check --output=json of qemu-made images equal to qemu-img's;
# a hostile header gives one error line.
source "$(dirname "$0")/lib.sh"

# Data at the first and last sector, across 1 MiB block boundaries, plus holes.
mk_sparse_raw src.raw 9437696 0:512 1048000:1000 3145735:2097165 9437184:512

# --- create ---
for st in off on; do
  run "$DIMG" create -f vdi -o static=$st new-$st.vdi 10M
  expect_rc 0 "create vdi static=$st"
  run qemu-img check -f vdi new-$st.vdi
  expect_rc 0 "qemu-img check of a dimg-made vdi (static=$st)"
  qemu-img info --output=json new-$st.vdi >"$T/q.json"
  [ "$(json_num "$T/q.json" virtual-size)" = 10485760 ] && pass || fail "created size (static=$st)"
done

# --- convert both ways ---
for st in off on; do
  run "$DIMG" convert -f raw -O vdi -o static=$st src.raw conv-$st.vdi
  expect_rc 0 "convert raw->vdi static=$st"
  run qemu-img check -f vdi conv-$st.vdi
  expect_rc 0 "qemu-img check of converted vdi (static=$st)"
  run qemu-img compare -f raw -F vdi src.raw conv-$st.vdi
  expect_rc 0 "qemu-img compare raw vs converted vdi (static=$st)"
  run "$DIMG" convert -O raw conv-$st.vdi back-$st.raw
  expect_rc 0 "convert vdi->raw (static=$st)"
  expect_same src.raw back-$st.raw "raw -> vdi -> raw round trip (static=$st)"
done
qemu-img convert -f raw -O qcow2 src.raw src.qcow2
run "$DIMG" convert -O vdi src.qcow2 fromq.vdi
expect_rc 0 "convert qcow2->vdi"
run qemu-img compare src.qcow2 fromq.vdi
expect_rc 0 "qemu-img compare qcow2 vs vdi"
qemu-img convert -f raw -O vdi src.raw q.vdi
run "$DIMG" convert -O qcow2 q.vdi toq.qcow2
expect_rc 0 "convert qemu-made vdi->qcow2"
run qemu-img compare -f vdi -F qcow2 q.vdi toq.qcow2
expect_rc 0 "qemu-img compare vdi vs qcow2"

# --- info, map and check like qemu-img ---
run "$DIMG" map --output=json q.vdi
expect_rc 0 "map of a qemu-made vdi"
qemu-img map --output=json q.vdi >"$T/qmap"
expect_same "$T/out" "$T/qmap" "map --output=json vs qemu-img"
run "$DIMG" info --output=json q.vdi
for k in virtual-size cluster-size; do
  [ "$(json_num "$T/out" $k)" = "$(json_num <(qemu-img info --output=json q.vdi) $k)" ] && pass || fail "info $k"
done
cp q.vdi dup.vdi
printf '\x01\x00\x00\x00' | dd of=dup.vdi bs=1 seek=$((0x200 + 8)) conv=notrunc status=none
run "$DIMG" check --output=json dup.vdi
drc=$rc; cp "$T/out" "$T/d.json"
set +e; qemu-img check --output=json dup.vdi >"$T/q.json" 2>/dev/null; qrc=$?; set -e
[ $drc -eq $qrc ] && pass || fail "check of a damaged vdi: exit $drc, qemu-img $qrc"
[ "$(json_num "$T/d.json" corruptions)" = "$(json_num "$T/q.json" corruptions)" ] && pass || fail "check corruptions: $(json_num "$T/d.json" corruptions) vs $(json_num "$T/q.json" corruptions)"

# --- hostile header ---
cp q.vdi bad.vdi
printf '\x00\x00\x20\x00' | dd of=bad.vdi bs=1 seek=$((0x178)) conv=notrunc status=none
run "$DIMG" info bad.vdi
expect_rc 1 "info of a vdi with block_size 2 MiB"
expect_one_error_line "vdi: block_size 2097152 is not supported" "block_size refused"

finish

#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# test_check_qemu.sh: dimg check against qemu-img check, output text, JSON and exit status:
# vmdk of every subformat qemu-img writes (qemu-img prints no allocation statistics for vmdk:
# neither does dimg, unless --stats), and qcow2 images whose refcount table has an entry with
# reserved bits set (in use and unused) or a refcount block that is not cluster aligned.
source "$(dirname "$0")/lib.sh"

# same_check DESC ARGS... FILE: stdout, exit status and the ERROR/Leaked lines of stderr of
# dimg check equal qemu-img check's.
same_check() {
  local desc=$1 qrc
  shift
  set +e
  qemu-img check "$@" >"$T/qout" 2>"$T/qerr"
  qrc=$?
  set -e
  run "$DIMG" check "$@"
  expect_rc "$qrc" "$desc: exit status"
  expect_same "$T/out" "$T/qout" "$desc: output"
  grep -E '^(ERROR|Leaked|Repairing)' "$T/err" >"$T/derr.lines" || true
  grep -E '^(ERROR|Leaked|Repairing)' "$T/qerr" >"$T/qerr.lines" || true
  expect_same "$T/derr.lines" "$T/qerr.lines" "$desc: error lines"
}

mk_sparse_raw src.raw 20M 0:1M 10M:64k
for sub in monolithicSparse streamOptimized monolithicFlat twoGbMaxExtentSparse \
  twoGbMaxExtentFlat; do
  qemu-img convert -O vmdk -o subformat=$sub src.raw v-$sub.vmdk
  same_check "vmdk $sub" v-$sub.vmdk
  same_check "vmdk $sub json" --output=json v-$sub.vmdk
done
run "$DIMG" check --stats v-streamOptimized.vmdk
grep -qx "17/320 = 5.31% allocated, 0.00% fragmented, 100.00% compressed clusters" "$T/out" &&
  pass || fail "check --stats: $(cat "$T/out")"
run "$DIMG" check --stats --output=json v-monolithicSparse.vmdk
[ "$(json_num "$T/out" allocated-clusters)" = 17 ] && pass || fail "check --stats json: $(cat "$T/out")"

# qcow2 refcount table entries: reserved bits in the entry of a refcount block in use (its
# cluster is then leaked), in an unused entry, and an entry 512 bytes off the cluster.
qemu-img create -q -f qcow2 c.qcow2 10M
qemu-io -c 'write 0 64k' c.qcow2 >/dev/null
rt=$((16#$(od -An -tx1 -j48 -N8 c.qcow2 | tr -d ' \n')))
cp c.qcow2 c1.qcow2
cp c.qcow2 c2.qcow2
cp c.qcow2 c3.qcow2
printf '\x01' | dd of=c1.qcow2 bs=1 seek=$((rt + 7)) conv=notrunc status=none
printf '\x02' | dd of=c2.qcow2 bs=1 seek=$((rt + 6)) conv=notrunc status=none
printf '\x01' | dd of=c3.qcow2 bs=1 seek=$((rt + 8 * 5 + 7)) conv=notrunc status=none
for f in c1 c3; do
  same_check "qcow2 $f reserved bits" $f.qcow2
  same_check "qcow2 $f reserved bits, json" --output=json $f.qcow2
  grep -q "refcount table entry .* has reserved bits set" "$T/err" && pass ||
    fail "$f: no reserved-bits line: $(cat "$T/err")"
  cp $f.qcow2 r.qcow2
  cp $f.qcow2 rq.qcow2
  run "$DIMG" check -r all r.qcow2
  expect_rc 0 "$f: check -r all"
  c=$(qemu-img check r.qcow2 2>&1 | head -n 1 || true)
  [ "$c" = "No errors were found on the image." ] && pass || fail "$f repaired: qemu-img check: $c"
  qemu-img compare -q c.qcow2 r.qcow2 && pass || fail "$f: repair changed the guest data"
done
run "$DIMG" check c2.qcow2
expect_rc 1 "qcow2 c2 unaligned refcount block: exit status (qemu-img: 1)"
grep -q "^ERROR refcount block 0 is not cluster aligned; refcount table entry corrupted" "$T/err" &&
  pass || fail "c2: $(cat "$T/err")"

finish

#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# test_map_json.sh: `map --output=json` equals qemu-img map byte for byte where dimg used to
# differ: a qcow2 made with preallocation=metadata (allocated clusters whose host range is a
# hole read "zero": true, "data": true; also a sparse copy of it, and falloc where nothing is a
# hole), vmdk extents in separate files (flat and sparse: "offset" within the extent's file),
# an encrypted qcow2 (data clusters carry no "offset"), and a qcow2 with an external data file.
# The human table of the extent and data-file images names the file each run is in, as
# qemu-img does.
source "$(dirname "$0")/lib.sh"

same_map() { # DESCRIPTION QEMU-IMG-ARGS... -- DIMG-ARGS...
  local desc=$1; shift
  local q=() d=()
  while [ "$1" != -- ]; do q+=("$1"); shift; done
  shift
  d=("$@")
  qemu-img map --output=json "${q[@]}" >q.json
  run "$DIMG" map --output=json "${d[@]}"
  expect_rc 0 "$desc: map"
  expect_same "$T/out" q.json "$desc: map --output=json vs qemu-img"
}

qemu-img create -q -f qcow2 -o preallocation=metadata pm.qcow2 8M
qemu-io -c "write -P 1 1M 64k" -c "write -P 2 5M 192k" pm.qcow2 >/dev/null
same_map "preallocation=metadata" pm.qcow2 -- pm.qcow2
grep -q '"zero": true, "data": true' "$T/out" && pass || fail "no zero+data run: $(cat "$T/out")"
cp --sparse=always pm.qcow2 copy.qcow2
same_map "sparse copy of a preallocated qcow2" copy.qcow2 -- copy.qcow2
qemu-img create -q -f qcow2 -o preallocation=falloc pf.qcow2 4M
same_map "preallocation=falloc" pf.qcow2 -- pf.qcow2

for sub in monolithicFlat twoGbMaxExtentFlat twoGbMaxExtentSparse; do
  qemu-img create -q -f vmdk -o subformat=$sub "$sub.vmdk" 3G
  qemu-io -c "write -P 5 1M 64k" -c "write -P 6 2100M 128k" "$sub.vmdk" >/dev/null
  same_map "vmdk $sub" "$sub.vmdk" -- "$sub.vmdk"
  grep -q '"offset"' "$T/out" && pass || fail "vmdk $sub: no offsets"
done

qcreate -f qcow2 --object secret,id=s,data=pw \
  -o encrypt.format=luks,encrypt.key-secret=s,encrypt.iter-time=10 luks.qcow2 4M
qemu-io --object secret,id=s,data=pw \
  --image-opts "driver=qcow2,file.filename=luks.qcow2,encrypt.key-secret=s" \
  -c "write -P 3 64k 128k" >/dev/null
same_map "LUKS qcow2" --object secret,id=s,data=pw \
  --image-opts "driver=qcow2,file.filename=luks.qcow2,encrypt.key-secret=s" -- luks.qcow2
grep -q '"data": true' "$T/out" && pass || fail "LUKS: no data run"

qemu-img create -q -f qcow2 -o data_file=df.data df.qcow2 4M
qemu-io -c "write -P 4 1M 64k" df.qcow2 >/dev/null
same_map "qcow2 with a data file" df.qcow2 -- df.qcow2

for img in monolithicFlat.vmdk twoGbMaxExtentFlat.vmdk twoGbMaxExtentSparse.vmdk df.qcow2 pm.qcow2; do
  qemu-img map "$img" >q.txt
  run "$DIMG" map "$img"
  expect_rc 0 "map $img"
  expect_same "$T/out" q.txt "map $img (human) vs qemu-img"
done

finish

#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# test_blockdev.sh: block devices as sources and targets, on loop devices over sparse files
# this test attaches and detaches: a device as the source of info, map and convert (compared
# with cmp and with qemu-img map), as the target of convert -n and of convert -O raw (written
# in place, never DST.part beside the node), and a mounted device refused for writing. vdi and
# cow images on devices read, map and write as in files.
# ctest-labels: root
source "$(dirname "$0")/lib.sh"
need qemu-img qemu-io losetup mkfs.ext4 mount umount
[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root (loop devices)"; exit 77; }

source "$(dirname "$0")/loop_lib.sh"

mk_sparse_raw src.raw 32M 1M:64k 5M:1M 31M:512k
qemu-img create -q -f qcow2 q.qcow2 32M
qemu-io -f qcow2 -c 'write -P 0x33 2M 3M' -c 'write -P 0x44 20M 64k' q.qcow2 >/dev/null
qemu-img convert -f qcow2 -O raw q.qcow2 q.raw

# Source: a device over a sparse file.
attach src.raw
SRC=$LOOP
run "$DIMG" info --output=json "$SRC"
expect_rc 0 "info on a device"
[ "$(json_num "$T/out" virtual-size)" = 33554432 ] || fail "device size $(json_num "$T/out" virtual-size)"
rm -f out.raw
run "$DIMG" convert -O raw "$SRC" out.raw
expect_rc 0 "convert from a device"
cmp -s src.raw out.raw && pass || fail "convert from a device: bytes differ"
run "$DIMG" map --output=json "$SRC"
expect_rc 0 "map of a device"
cp "$T/out" d.json
qemu-img map -f raw --output=json "$SRC" >q.json
expect_same d.json q.json "map of a device with holes vs qemu-img"
run "$DIMG" compare src.raw "$SRC"
expect_rc 0 "compare file and device"

# Target: convert -n into a device, then -O raw without -n (in place as well).
truncate -s 32M dst.raw
attach dst.raw
DST=$LOOP
run "$DIMG" convert -n -O raw q.qcow2 "$DST"
expect_rc 0 "convert -n into a device"
cmp -s q.raw "$DST" && pass || fail "convert -n into a device: bytes differ"
run "$DIMG" convert -O raw "$SRC" "$DST"
expect_rc 0 "convert -O raw into a device"
cmp -s src.raw "$DST" && pass || fail "convert -O raw into a device: bytes differ"
[ ! -e "$DST.part" ] && [ -b "$DST" ] && pass || fail "the device node was replaced or a .part made"
run "$DIMG" convert -O qcow2 q.qcow2 "$DST"
expect_rc 1 "convert -O qcow2 into a device"
expect_one_error_line "raw image only" "convert -O qcow2 into a device"
# A device too small for the source.
truncate -s 16M small.raw
attach small.raw
run "$DIMG" convert -n -O raw q.qcow2 "$LOOP"
expect_rc 1 "convert -n into a smaller device"
expect_one_error_line "smaller" "convert -n into a smaller device"

# vdi and cow images whose bytes lie on a device: read as the files read (map as qemu-img
# maps the device), a static vdi written in place, a cow grow that rewrites the file refused.
mk_sparse_raw b.raw 8M 0:64k 3M:1M 7M:4k
mk_sparse_raw b2.raw 8M 100k:3M
qemu-img create -q -f vdi -o static=on s.vdi 8M
qemu-io -f vdi -c 'write -P 0x44 1M 1M' s.vdi >/dev/null
qemu-img convert -f raw -O vdi b.raw d.vdi
"$DIMG" convert -f raw -O cow b.raw c.cow
for img in s.vdi d.vdi c.cow; do
  fmt=${img##*.}
  attach "$img"
  rm -f dev.out
  run "$DIMG" convert -f "$fmt" -O raw "$LOOP" dev.out
  expect_rc 0 "$img on a device: convert"
  "$DIMG" convert -f "$fmt" -O raw "$img" file.out
  cmp -s file.out dev.out && pass || fail "$img on a device: bytes differ"
  run "$DIMG" map --output=json -f "$fmt" "$LOOP"
  cp "$T/out" d.json
  if [ "$fmt" = cow ]; then "$DIMG" map --output=json "$img" >q.json; else
    qemu-img map --output=json -f "$fmt" "$LOOP" >q.json; fi
  expect_same d.json q.json "$img on a device: map"
done
attach s.vdi
run "$DIMG" convert -n -O vdi b2.raw "$LOOP"
expect_rc 0 "convert -n into a static vdi on a device"
run qemu-img compare -f vdi -F raw "$LOOP" b2.raw
expect_rc 0 "static vdi on a device: written in place"
attach c.cow
run "$DIMG" resize -f cow "$LOOP" 1G
expect_rc 1 "cow on a device: grow past the slack"
expect_one_error_line "rewrites the image as a new file" "cow on a device: grow past the slack"

# A mounted device is not written; after the unmount it is.
truncate -s 16M fs.raw
mkfs.ext4 -q -F fs.raw
attach fs.raw
FS=$LOOP
mkdir -p m
mount "$FS" m && mnt=$T/m
mk_sparse_raw small.img 8M 0:64k
run "$DIMG" convert -n -O raw small.img "$FS"
expect_rc 1 "convert -n into a mounted device"
expect_one_error_line "mounted" "convert -n into a mounted device"
umount "$mnt" && mnt=""
cmp -s fs.raw "$FS" && pass || fail "the refused device changed"
run "$DIMG" convert -n -O raw small.img "$FS"
expect_rc 0 "convert -n into the unmounted device"
cmp -s -n 8388608 small.img "$FS" && pass || fail "unmounted device: bytes differ"

finish

#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# test_create_dev.sh: `dimg create` onto an existing block device (a loop device over a sparse
# file this test attaches and detaches) writes the image into the device, as qemu-img does:
# the node stays, each format reads back as qemu-img sees it (info, check), a raw image larger
# than the device, files beside it (vmdk extents, a qcow2 data file) and a mounted device are
# refused with one line and change nothing. The old
# code truncated the device (ftruncate fails there) and then unlinked the device node.
# ctest-labels: root
source "$(dirname "$0")/lib.sh"
need qemu-img losetup mkfs.ext4 mount umount e2fsck
[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root (loop devices)"; exit 77; }

source "$(dirname "$0")/loop_lib.sh"

# node_kept DESC: the device node is still there (else put back, so that cleanup detaches it).
node_kept() {
  if [ -b "$LOOP" ]; then pass; else
    fail "$1: the device node $LOOP was removed"
    mknod "$LOOP" b 7 "${LOOP#/dev/loop}"
  fi
}

truncate -s 8M dev.raw
attach dev.raw
for fmt in raw qcow2 qcow vdi vmdk cow; do
  run "$DIMG" create -q -f "$fmt" "$LOOP" 4M
  expect_rc 0 "create -f $fmt on a device"
  node_kept "create -f $fmt"
  # A raw image is the whole device, as qemu-img sees it; the others record 4 MiB.
  want=4194304
  [ "$fmt" = raw ] && want=8388608
  run "$DIMG" info --output=json -f "$fmt" "$LOOP"
  [ "$(json_num "$T/out" virtual-size)" = "$want" ] && pass ||
    fail "create -f $fmt on a device: dimg reads $(json_num "$T/out" virtual-size)"
  [ "$fmt" = cow ] && continue # qemu-img 7 no longer reads cow
  [ "$(qemu-img info --output=json -f "$fmt" "$LOOP" | json_num /dev/stdin virtual-size)" = "$want" ] &&
    pass || fail "create -f $fmt on a device: qemu-img's size differs"
  case $fmt in qcow2 | vdi | vmdk)
    qemu-img check -q -f "$fmt" "$LOOP" && pass || fail "create -f $fmt on a device: qemu-img check" ;;
  esac
done

# Larger than the device: refused, the device as it was.
cp dev.raw before.raw
run "$DIMG" create -q -f raw "$LOOP" 16M
expect_rc 1 "create -f raw larger than the device"
expect_one_error_line "smaller" "create -f raw larger than the device"
node_kept "create larger than the device"
cmp -s before.raw "$LOOP" && pass || fail "the refused device changed"

# Files beside a device node (split or flat vmdk extents, a qcow2 data file) are refused
# before the device is written: nothing lands in /dev.
for o in "-f vmdk -o subformat=monolithicFlat" "-f qcow2 -o data_file=dev-data.raw"; do
  run "$DIMG" create -q $o "$LOOP" 4M
  expect_rc 1 "create $o on a device"
  expect_one_error_line "beside a block device" "create $o on a device"
  node_kept "create $o"
  cmp -s before.raw "$LOOP" && pass || fail "create $o: the refused device changed"
done
[ -z "$(ls /dev | grep -E 'flat.vmdk|dev-data.raw')" ] && pass || fail "files were made in /dev"

# A mounted device is not written.
truncate -s 16M fs.raw
mkfs.ext4 -q -F fs.raw
attach fs.raw
mkdir -p m
mount "$LOOP" m && mnt=$T/m
run "$DIMG" create -q -f qcow2 "$LOOP" 1M
expect_rc 1 "create on a mounted device"
expect_one_error_line "mounted" "create on a mounted device"
node_kept "create on a mounted device"
umount "$mnt" && mnt=""
e2fsck -fn "$LOOP" >/dev/null 2>&1 && pass || fail "the mounted file system was damaged"

finish

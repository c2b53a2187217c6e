#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# test_sparsify.sh: convert --sparsify and sparsify --in-place (issue 19), with e2fsck,
# debugfs and qemu-img as the oracles. A 1 GiB ext4 disk where a 600 MiB file was written and
# then deleted (debugfs rm: its blocks keep their bytes): the sparsified qcow2 is under a fifth
# of a plain convert, e2fsck -fn is clean on it and every remaining file reads back identical
# (debugfs dump); in place, raw gets holes and qcow2 zero clusters reading the same as the
# copy, and so do vdi, vmdk and qcow. On a partitioned disk, a partition no reader knows keeps
# every byte. An image in use is refused.
# ctest-sections: copy in_place partitions in_use
source "$(dirname "$0")/lib.sh"
need qemu-img qemu-io mkfs.ext4 debugfs e2fsck sfdisk

# deleted_fs FILE SIZE BIG: an ext4 of SIZE holding keep/ and a file of BIG MiB, then deleted.
deleted_fs() {
  mkdir -p src/keep/sub
  echo "stays" >src/keep/a.txt
  seq 1 20000 >src/keep/sub/numbers.txt
  head -c "$(($3 * 1048576))" /dev/urandom >src/big
  truncate -s "$2" "$1"
  mkfs.ext4 -q -L sparse -d src "$1"
  debugfs -w -R "rm big" "$1" >/dev/null 2>&1
  rm -f src/big
  e2fsck -fn "$1" >/dev/null 2>&1 || fail "the fixture's filesystem is not clean"
}

# same_files RAW: e2fsck -fn is clean and keep/'s files read back as the source.
same_files() {
  e2fsck -fn "$1" >/dev/null 2>&1 && pass || fail "$2: e2fsck -fn: $(e2fsck -fn "$1" 2>&1 | tail -3)"
  local f
  for f in keep/a.txt keep/sub/numbers.txt; do
    debugfs -R "dump /$f $T/dumped" "$1" >/dev/null 2>&1
    cmp -s "$T/dumped" "src/$f" && pass || fail "$2: /$f differs"
  done
}

sec_copy() {
  deleted_fs disk.raw 1G 600
  run "$DIMG" convert -O qcow2 disk.raw plain.qcow2
  expect_rc 0 "plain convert"
  run "$DIMG" convert --sparsify -O qcow2 disk.raw sparse.qcow2
  expect_rc 0 "convert --sparsify"
  local plain sparse
  plain=$(stat -c %s plain.qcow2) sparse=$(stat -c %s sparse.qcow2)
  [ "$sparse" -lt $((plain / 5)) ] && pass || fail "sparsified $sparse bytes, plain $plain: not under a fifth"
  qemu-img convert -O raw sparse.qcow2 back.raw
  same_files back.raw "convert --sparsify"
  # The source is only read.
  e2fsck -fn disk.raw >/dev/null 2>&1 && pass || fail "the source changed"
  run "$DIMG" convert --sparsify-swap -O raw disk.raw x.raw
  expect_rc 1 "--sparsify-swap alone"
  run "$DIMG" convert --sparsify -O raw disk.raw x.raw.xz
  expect_rc 1 "--sparsify with a compressed target"
  [ -e x.raw ] || [ -e x.raw.xz ] && fail "a refused convert left a file" || pass
}

sec_in_place() {
  deleted_fs disk.raw 256M 150
  qemu-img convert -O qcow2 disk.raw disk.qcow2
  local f
  for f in vdi vmdk qcow; do qemu-img convert -f raw -O $f disk.raw "d.$f"; done
  "$DIMG" convert --sparsify -O raw disk.raw want.raw
  local before after
  before=$(du -k disk.raw | cut -f1)
  run "$DIMG" sparsify --in-place disk.raw
  expect_rc 0 "sparsify --in-place raw"
  grep -q '^Image sparsified: [0-9]* bytes in [0-9]* ranges' "$T/out" && pass || fail "the summary: $(cat "$T/out")"
  after=$(du -k disk.raw | cut -f1)
  [ "$after" -lt $((before / 5)) ] && pass || fail "raw in place: $before KiB before, $after after"
  qemu-img compare -q want.raw disk.raw && pass || fail "raw in place differs from the sparsified copy"
  same_files disk.raw "raw in place"
  run "$DIMG" sparsify --in-place disk.qcow2
  expect_rc 0 "sparsify --in-place qcow2"
  qemu-img check disk.qcow2 >"$T/check" 2>&1 && pass || fail "qemu-img check after sparsify: $(cat "$T/check")"
  local alloc
  alloc=$(sed -n 's|^\([0-9]*\)/[0-9]* = .* allocated.*|\1|p' "$T/check")
  [ -n "$alloc" ] && [ "$alloc" -lt 400 ] && pass || fail "qcow2 clusters still allocated: $(grep allocated "$T/check")"
  qemu-img compare -q want.raw disk.qcow2 && pass || fail "qcow2 in place differs from the sparsified copy"
  # vdi, vmdk and qcow through their zero paths: the same guest contents as the copy (and
  # not before: the deleted file's bytes were there).
  qemu-img compare -q want.raw d.vdi && fail "the vdi read as the sparsified copy before" || pass
  for f in vdi vmdk qcow; do
    run "$DIMG" sparsify --in-place "d.$f"
    expect_rc 0 "sparsify --in-place $f"
    qemu-img compare -q want.raw "d.$f" && pass || fail "$f in place differs from the sparsified copy"
  done
  run "$DIMG" sparsify disk.qcow2
  expect_rc 1 "sparsify without --in-place"
}

sec_partitions() {
  deleted_fs p1.img 32M 20
  head -c $((16 * 1048576)) /dev/urandom >p2.img
  truncate -s 52M disk.raw
  printf 'label: dos\nstart=2048, size=65536, type=83\nstart=67584, size=32768, type=83\n' |
    sfdisk -q disk.raw
  dd if=p1.img of=disk.raw bs=512 seek=2048 conv=notrunc status=none
  dd if=p2.img of=disk.raw bs=512 seek=67584 conv=notrunc status=none
  run "$DIMG" convert --sparsify -O qcow2 disk.raw s.qcow2
  expect_rc 0 "convert --sparsify of a partitioned disk"
  qemu-img convert -O raw s.qcow2 back.raw
  dd if=back.raw of=p1.back bs=512 skip=2048 count=65536 status=none
  same_files p1.back "partition 1"
  dd if=back.raw of=p2.back bs=512 skip=67584 count=32768 status=none
  cmp -s p2.back p2.img && pass || fail "the partition no reader knows changed"
  cmp -s <(head -c 1048576 back.raw) <(head -c 1048576 disk.raw) && pass || fail "the partition table changed"
  [ "$(stat -c %s s.qcow2)" -lt $((30 * 1048576)) ] && pass || fail "the deleted data was copied: $(stat -c %s s.qcow2) bytes"
}

sec_in_use() {
  deleted_fs disk.raw 64M 10
  qemu-img convert -O qcow2 disk.raw d.qcow2
  cp d.qcow2 d.orig
  qemu-io -f qcow2 -c 'sleep 600000' d.qcow2 >/dev/null 2>&1 &
  local holder=$! i ino
  ino=$(stat -c %i d.qcow2)
  for i in $(seq 200); do grep -q "OFDLCK .*:$ino 100 " /proc/locks && break; sleep 0.05; done
  run "$DIMG" sparsify --in-place d.qcow2
  kill "$holder" 2>/dev/null; wait "$holder" 2>/dev/null || true
  expect_rc 1 "an image in use"
  expect_one_error_line "in use" "an image in use"
  cmp -s d.qcow2 d.orig && pass || fail "the image in use was changed"
}

sections "$@"
finish

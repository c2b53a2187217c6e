#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# test_vdi.sh: the command line on vdi against qemu-img as the oracle: create (dynamic and
# static) -> qemu-img check clean; convert raw -> vdi -> raw and qcow2 <-> vdi -> qemu-img
# compare and cmp; info, map and check --output=json of qemu-made images equal to qemu-img's;
# a hostile header gives one error line. Differencing images (created with -b, written by
# convert -B, read back equal to an overlay made with dd; header fields checked in hex; a
# missing parent and --untrusted), compact (content, sizes, qemu-img check), zero blocks left
# unallocated by convert, and shrinking over free blocks only.
# One ctest entry per behaviour (cli.test_vdi.SECTION), each on its own files:
# ctest-sections: create convert_raw convert_qcow2 map_info check_damaged hostile_header
# ctest-sections: differencing compact zero_blocks shrink
source "$(dirname "$0")/lib.sh"

mk_src() {
  # Data at the first and last sector, across 1 MiB block boundaries, plus holes.
  mk_sparse_raw src.raw 9437696 0:512 1048000:1000 3145735:2097165 9437184:512
}

# mk_qvdi: src.raw and q.vdi, its qemu-made vdi.
mk_qvdi() {
  mk_src
  qemu-img convert -f raw -O vdi src.raw q.vdi
}

sec_create() {
  # --- create ---
  for st in off on; do
    run "$DIMG" create -f vdi -o static=$st new-$st.vdi 10M
    expect_rc 0 "create vdi static=$st"
    run qemu-img check -f vdi new-$st.vdi
    expect_rc 0 "qemu-img check of a dimg-made vdi (static=$st)"
    qemu-img info --output=json new-$st.vdi >"$T/q.json"
    [ "$(json_num "$T/q.json" virtual-size)" = 10485760 ] && pass || fail "created size (static=$st)"
  done
}

sec_convert_raw() {
  mk_src
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
}

sec_convert_qcow2() {
  mk_src
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
}

sec_map_info() {
  mk_qvdi
  # --- info, map and check like qemu-img ---
  run "$DIMG" map --output=json q.vdi
  expect_rc 0 "map of a qemu-made vdi"
  qemu-img map --output=json q.vdi >"$T/qmap"
  expect_same "$T/out" "$T/qmap" "map --output=json vs qemu-img"
  run "$DIMG" info --output=json q.vdi
  for k in virtual-size cluster-size; do
    [ "$(json_num "$T/out" $k)" = "$(json_num <(qemu-img info --output=json q.vdi) $k)" ] && pass || fail "info $k"
  done
}

sec_check_damaged() {
  mk_qvdi
  cp q.vdi dup.vdi
  printf '\x01\x00\x00\x00' | dd of=dup.vdi bs=1 seek=$((0x200 + 8)) conv=notrunc status=none
  run "$DIMG" check --output=json dup.vdi
  drc=$rc; cp "$T/out" "$T/d.json"
  set +e; qemu-img check --output=json dup.vdi >"$T/q.json" 2>/dev/null; qrc=$?; set -e
  [ $drc -eq $qrc ] && pass || fail "check of a damaged vdi: exit $drc, qemu-img $qrc"
  [ "$(json_num "$T/d.json" corruptions)" = "$(json_num "$T/q.json" corruptions)" ] && pass || fail "check corruptions: $(json_num "$T/d.json" corruptions) vs $(json_num "$T/q.json" corruptions)"
}

sec_hostile_header() {
  mk_qvdi
  # --- hostile header ---
  cp q.vdi bad.vdi
  printf '\x00\x00\x20\x00' | dd of=bad.vdi bs=1 seek=$((0x178)) conv=notrunc status=none
  run "$DIMG" info bad.vdi
  expect_rc 1 "info of a vdi with block_size 2 MiB"
  expect_one_error_line "vdi: block_size 2097152 is not supported" "block_size refused"
}

sec_differencing() {
  # --- differencing vdi (qemu-img 7.2 cannot open them: the reference is built with dd) ---
  head -c 6291456 /dev/urandom >par.raw                      # 6 MiB of data, every block
  run "$DIMG" convert -O vdi par.raw par.vdi
  expect_rc 0 "convert raw -> parent vdi"
  cp par.raw over.raw                                         # the expected overlay:
  dd if=/dev/zero of=over.raw bs=1M seek=2 count=1 conv=notrunc status=none   # a zero block
  printf 'first' | dd of=over.raw bs=1 conv=notrunc status=none               # first sector
  printf 'last!' | dd of=over.raw bs=1 seek=$((6291456 - 5)) conv=notrunc status=none
  head -c 3000 /dev/urandom | dd of=over.raw bs=1 seek=$((4194304 - 1500)) conv=notrunc status=none
  run "$DIMG" create -f vdi -b par.vdi child.vdi
  expect_rc 0 "create -b without -F (a vdi's parent is a vdi)"
  grep -q "backing_file=par.vdi backing_fmt=vdi" "$T/out" && pass || fail "create line names the parent"
  # Header fields as VirtualBox documents them: type 4, link = parent's image UUID, parent
  # modification = parent's modification UUID.
  [ "$(xxd -p -s 0x4c -l 4 child.vdi)" = 04000000 ] && pass || fail "child image_type"
  [ "$(xxd -p -s 0x1a8 -l 16 child.vdi)" = "$(xxd -p -s 0x188 -l 16 par.vdi)" ] && pass || fail "uuid_link"
  [ "$(xxd -p -s 0x1b8 -l 16 child.vdi)" = "$(xxd -p -s 0x198 -l 16 par.vdi)" ] && pass || fail "uuid_parent_modification"
  run qemu-img info child.vdi
  expect_rc 1 "qemu-img 7.2 refuses a differencing vdi"
  grep -q "non-NULL link UUID" "$T/err" && pass || fail "qemu-img's reason: $(cat "$T/err")"
  run "$DIMG" compare par.vdi child.vdi
  expect_rc 0 "a fresh child reads as its parent"
  # Write the overlay into the child as differences from the parent; read it back.
  run "$DIMG" convert -O vdi -B par.vdi -F vdi over.raw child2.vdi
  expect_rc 0 "convert -B onto a vdi parent"
  [ "$(xxd -p -s 0x4c -l 4 child2.vdi)" = 04000000 ] && pass || fail "convert -B makes a differencing vdi"
  run "$DIMG" convert -O raw child2.vdi child2.raw
  expect_rc 0 "convert child -> raw"
  expect_same over.raw child2.raw "child read through the parent equals the dd-made overlay"
  run "$DIMG" info --backing-chain --output=json child2.vdi
  grep -q '"backing-filename": "par.vdi"' "$T/out" && pass || fail "info --backing-chain names the parent: $(cat "$T/out")"
  grep -q '"parent-uuid"' "$T/out" && pass || fail "info shows parent-uuid"
  run "$DIMG" map --output=json child2.vdi
  grep -q '"start": 2097152, "length": 1048576, "depth": 0, "present": true, "zero": true, "data": false' "$T/out" \
    && pass || fail "the zero block is the child's own: $(cat "$T/out")"
  # The parent gone: chain operations fail with one line; info still works and names its UUID.
  mkdir -p away && mv par.vdi away/
  run "$DIMG" convert -O raw child2.vdi x.raw
  expect_rc 1 "convert without the parent"
  expect_one_error_line "vdi: parent image (uuid [0-9a-f-]*) not found" "missing parent"
  [ ! -e x.raw ] && pass || fail "no output left behind"
  run "$DIMG" info child2.vdi
  expect_rc 0 "info without the parent"
  grep -q "parent uuid: " "$T/out" && pass || fail "info shows the parent uuid"
  mv away/par.vdi par.vdi
  run "$DIMG" --untrusted convert -O raw child2.vdi x.raw
  expect_rc 1 "--untrusted does not look for the parent"
  expect_one_error_line "external references are disabled" "--untrusted parent"
  run "$DIMG" create -f vdi -b par.vdi -F qcow2 bad-child.vdi 6M
  expect_rc 1 "a non-vdi -F"
  expect_one_error_line "vdi: the parent of a differencing vdi must be a vdi image" "-F qcow2"
}

sec_compact() {
  # --- compact: zero blocks unmapped, holes closed, the file cut ---
  qemu-img create -q -f vdi cmp.vdi 12M
  qemu-io -f vdi -c 'write -P 0 0 1M' -c 'write -P 5 1M 4k' -c 'write -P 0 2M 2M' \
    -c 'write -P 7 5M 512' -c 'write -P 0 6M 1M' -c 'write -P 9 8M 512' \
    -c 'write -P 4 11533312 512' cmp.vdi >/dev/null
  cp cmp.vdi cmp-before.vdi
  [ "$(stat -c %s cmp.vdi)" = $((0x400 + 8 * 1048576)) ] && pass || fail "fixture: 8 blocks allocated"
  run "$DIMG" compact -p cmp.vdi
  expect_rc 0 "compact"
  grep -q "Image compacted: file size 8389632 -> 4195328 bytes." "$T/out" && pass || fail "compact line: $(cat "$T/out")"
  grep -q "100%" "$T/err" && pass || fail "compact -p shows progress"
  [ "$(stat -c %s cmp.vdi)" = $((0x400 + 4 * 1048576)) ] && pass || fail "file = header + map + 4 blocks"
  run qemu-img compare cmp-before.vdi cmp.vdi
  expect_rc 0 "qemu-img compare: content unchanged by compact"
  run qemu-img check cmp.vdi
  expect_rc 0 "qemu-img check clean after compact"
  [ "$(xxd -p -s 0x184 -l 4 cmp.vdi)" = 04000000 ] && pass || fail "blocks_allocated 4"
  qemu-img create -q -f qcow2 cmp.qcow2 1M
  run "$DIMG" compact cmp.qcow2
  expect_rc 1 "compact of a qcow2"
  expect_one_error_line "format qcow2 cannot be compacted in place; use dimg convert" "compact qcow2"
  run "$DIMG" compact
  expect_rc 1 "compact without a file"
}

sec_zero_blocks() {
  # --- convert -O vdi leaves all-zero blocks unallocated ---
  truncate -s 4M zsrc.raw
  printf 'x' | dd of=zsrc.raw bs=1 seek=100 conv=notrunc status=none
  dd if=/dev/zero of=zsrc.raw bs=1M seek=1 count=2 conv=notrunc status=none   # dense zeros
  printf 'y' | dd of=zsrc.raw bs=1 seek=$((3 * 1048576 + 7)) conv=notrunc status=none
  run "$DIMG" convert -O vdi zsrc.raw zdst.vdi
  expect_rc 0 "convert raw with zero blocks -> vdi"
  [ "$(stat -c %s zdst.vdi)" = $((0x400 + 2 * 1048576)) ] && pass || fail "zero blocks not allocated: $(stat -c %s zdst.vdi)"
  run qemu-img compare zsrc.raw zdst.vdi
  expect_rc 0 "zero-block convert content"
}

sec_shrink() {
  # --- resize: shrink when the tail is unallocated ---
  qemu-img create -q -f vdi rs.vdi 8M
  qemu-io -f vdi -c 'write -P 3 1M 4k' -c 'write -P 4 5M 512' rs.vdi >/dev/null
  qemu-img convert -O raw rs.vdi rs.raw
  run "$DIMG" resize rs.vdi 4M
  expect_rc 1 "shrink without --shrink"
  expect_one_error_line "Use the --shrink option" "shrink needs --shrink"
  run "$DIMG" resize --shrink rs.vdi 4M
  expect_rc 1 "shrink over an allocated block"
  expect_one_error_line "vdi: cannot shrink to 4194304 bytes: block 5 (guest offset 5242880)" "first allocated block named"
  run "$DIMG" resize --shrink rs.vdi 6M
  expect_rc 0 "shrink over free blocks"
  [ "$(json_num <(qemu-img info --output=json rs.vdi) virtual-size)" = 6291456 ] && pass || fail "shrunk size"
  run qemu-img check rs.vdi
  expect_rc 0 "qemu-img check after shrink"
  truncate -s 6M rs.raw
  run qemu-img compare -f raw -F vdi rs.raw rs.vdi
  expect_rc 0 "qemu-img compare after shrink"
}

sections "$@"
finish

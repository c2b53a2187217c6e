#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# test_vmdk.sh: vmdk from the command line. create writes each subformat with the files and
# descriptor lines VMware and qemu-img expect (adapter type, hwversion, compat6, geometry);
# convert -c writes streamOptimized; info reports what qemu-img reports; a child made with
# -b reads through its parent; resize grows every subformat; a cancelled convert to a split
# image leaves neither the descriptor nor any extent file; bad options are one error line;
# vmfsSparse (COWD) and seSparse images built here from the documented layout read like
# qemu-img reads them and refuse writes by name.
# One ctest entry per behaviour (cli.test_vmdk.SECTION), each on its own files:
# ctest-sections: create_flat create_compat6 create_split bad_options convert_stream info child
# ctest-sections: resize vmfs_sparse se_sparse cancel
source "$(dirname "$0")/lib.sh"

mk_src() {
  mk_sparse_raw src.raw $((64 * 1024 * 1024 + 512)) 0:512 65000:2000 $((32 * 1024 * 1024 - 3)):6 \
    $((64 * 1024 * 1024)):512
}

sec_create_flat() {
  # --- create: files and descriptor lines ---
  run "$DIMG" create -f vmdk -o subformat=monolithicFlat,adapter_type=lsilogic,hwversion=7 flat.vmdk 100M
  expect_rc 0 "create monolithicFlat"
  [ -f flat-flat.vmdk ] && [ "$(stat -c %s flat-flat.vmdk)" = 104857600 ] && pass ||
    fail "flat extent missing or of the wrong size"
  grep -q '^RW 204800 FLAT "flat-flat.vmdk" 0$' flat.vmdk && pass || fail "flat extent line: $(cat flat.vmdk)"
  grep -q '^createType="monolithicFlat"$' flat.vmdk && pass || fail "createType line"
  grep -q '^ddb.adapterType = "lsilogic"$' flat.vmdk && pass || fail "adapter type line"
  grep -q '^ddb.virtualHWVersion = "7"$' flat.vmdk && pass || fail "hwversion line"
  grep -q '^ddb.geometry.heads = "255"$' flat.vmdk && pass || fail "heads for a SCSI adapter"
  grep -q '^ddb.geometry.cylinders = "13"$' flat.vmdk && pass || fail "cylinders: $(grep cyl flat.vmdk)"
  qemu-img info flat.vmdk | grep -q 'create type: monolithicFlat' && pass || fail "qemu-img reads the flat image"
}

sec_create_compat6() {
  run "$DIMG" create -f vmdk -o compat6 six.vmdk 10M
  expect_rc 0 "create with compat6"
  strings six.vmdk | grep -q 'ddb.virtualHWVersion = "6"' && pass || fail "compat6 sets hwversion 6"
}

sec_create_split() {
  run "$DIMG" create -f vmdk -o subformat=twoGbMaxExtentSparse split.vmdk 5G
  expect_rc 0 "create twoGbMaxExtentSparse"
  [ "$(ls split-s00*.vmdk | wc -l)" = 3 ] && pass || fail "5 GiB split into $(ls split-s00*.vmdk)"
  qemu-img check -q split.vmdk && pass || fail "qemu-img check of the split image"
}

sec_bad_options() {
  mk_src
  # --- bad options: one line, no file ---
  run "$DIMG" create -f vmdk -o subformat=monolithicFlat,zeroed_grain=on z.vmdk 10M
  expect_one_error_line "flat images cannot have zeroed grains" "zeroed grains on a flat image"
  [ -e z.vmdk ] || [ -e z-flat.vmdk ] && fail "refused create left files" || pass
  run "$DIMG" create -f vmdk -o subformat=custom c.vmdk 10M
  expect_one_error_line "unknown subformat" "unknown subformat"
  run "$DIMG" create -f vmdk -o adapter_type=floppy c.vmdk 10M
  expect_one_error_line "unknown adapter type" "unknown adapter type"
  run "$DIMG" convert -c -O vmdk -o subformat=monolithicFlat src.raw c.vmdk
  expect_one_error_line "streamOptimized" "-c with a flat subformat"
  [ -e c.vmdk ] || [ -e c-flat.vmdk ] || [ -e c.vmdk.part ] && fail "refused convert left files" || pass
}

sec_convert_stream() {
  mk_src
  # --- convert -c: streamOptimized, compared by qemu-img ---
  run "$DIMG" convert -c -O vmdk src.raw z.vmdk
  expect_rc 0 "convert -c -O vmdk"
  qemu-img info z.vmdk | grep -q 'create type: streamOptimized' && pass || fail "-c did not write a stream"
  qemu-img compare -q src.raw z.vmdk && pass || fail "qemu-img compare of the stream"
  [ "$(stat -c %s z.vmdk)" -lt 200000 ] && pass || fail "stream not compressed: $(stat -c %s z.vmdk) bytes"
}

sec_info() {
  mk_src
  # --- info agrees with qemu-img ---
  "$DIMG" convert -c -O vmdk src.raw z.vmdk >/dev/null
  "$DIMG" info --output=json z.vmdk >"$T/d.json"
  qemu-img info --output=json z.vmdk >"$T/q.json"
  for k in virtual-size cid parent-cid cluster-size; do
    [ "$(json_num "$T/d.json" $k)" = "$(json_num "$T/q.json" $k)" ] && pass ||
      fail "info $k: dimg $(json_num "$T/d.json" $k), qemu $(json_num "$T/q.json" $k)"
  done
  [ "$(json_str "$T/d.json" create-type)" = streamOptimized ] && pass || fail "info create-type"
}

sec_child() {
  mk_src
  # --- a child made with -b reads through its parent ---
  qemu-img convert -O vmdk src.raw base.vmdk
  run "$DIMG" create -f vmdk -b base.vmdk -F vmdk child.vmdk
  expect_rc 0 "create a child"
  qemu-io -f vmdk -c 'write -P 0x99 1000 100000' child.vmdk >/dev/null
  cp src.raw want.raw
  qemu-io -f raw -c 'write -P 0x99 1000 100000' want.raw >/dev/null
  "$DIMG" convert -O raw child.vmdk got.raw
  cmp got.raw want.raw && pass || fail "child through its parent reads differently"
  "$DIMG" info child.vmdk | grep -q '^backing file: base.vmdk' && pass || fail "info names the parent"
  run "$DIMG" create -f vmdk -b src.raw -F raw child2.vmdk
  expect_one_error_line "must be a vmdk" "a raw parent is refused"
}

sec_resize() {
  mk_src
  # --- resize: every subformat grows; qemu-img sees the new size and the same data ---
  for sf in monolithicSparse monolithicFlat twoGbMaxExtentSparse twoGbMaxExtentFlat streamOptimized; do
    rm -f r-*
    "$DIMG" convert -O vmdk -o subformat=$sf src.raw r-$sf.vmdk
    run "$DIMG" resize r-$sf.vmdk 3G
    expect_rc 0 "resize $sf"
    [ "$(qemu-img info --output=json r-$sf.vmdk | json_num /dev/stdin virtual-size)" = 3221225472 ] &&
      pass || fail "$sf: qemu-img sees another size"
    qemu-img check -q r-$sf.vmdk && pass || fail "$sf: qemu-img check after resize"
    cp src.raw grown.raw && truncate -s 3G grown.raw
    qemu-img compare -q grown.raw r-$sf.vmdk && pass || fail "$sf: content after resize"
  done
  run "$DIMG" resize --shrink r-streamOptimized.vmdk 1M
  expect_one_error_line "shrinking is not supported" "vmdk shrink refused"
}

# --- vmfsSparse (COWD) and seSparse: read-only, built here from the documented layout ---
le32() { printf "$(printf '\\x%02x\\x%02x\\x%02x\\x%02x' $(($1 & 255)) $(($1 >> 8 & 255)) \
  $(($1 >> 16 & 255)) $(($1 >> 24 & 255)))"; }
le64() { le32 $(($1 & 0xffffffff)); le32 $(($1 >> 32 & 0xffffffff)); }
put() { dd of="$1" bs=512 seek="$2" conv=notrunc status=none; }
vdesc() { # descriptor TYPE ETYPE SECTORS FILE
  printf '# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\ncreateType="%s"\n' "$1"
  printf 'RW %s %s "%s"\n' "$3" "$2" "$4"; }
ro_convert() { # IMAGE WHAT: dimg's raw conversion (IMAGE.raw) equals qemu-img's
  run "$DIMG" convert -O raw "$1" "$1.raw"
  expect_rc 0 "convert a $2 image"
  qemu-img convert -O raw "$1" "$1.q.raw"
  cmp -s "$1.raw" "$1.q.raw" && pass || fail "$2 read differs from qemu-img's"; }

sec_vmfs_sparse() {
  # COWD: 4 MiB of 512-byte grains, directory at sector 4, one table at 5, grains 0, 4095, 7.
  { printf COWD; le32 1; le32 3; le32 8192; le32 1; le32 4; le32 2; le32 40; } >cw-delta.vmdk
  truncate -s 2048 cw-delta.vmdk
  le32 5 | put cw-delta.vmdk 4
  { le32 37; head -c 24 /dev/zero; le32 39; } | put cw-delta.vmdk 5
  printf '\x26\x00\x00\x00' | dd of=cw-delta.vmdk bs=1 seek=$((5 * 512 + 4095 * 4)) conv=notrunc status=none
  head -c 1536 /dev/urandom | put cw-delta.vmdk 37
  vdesc vmfsSparse VMFSSPARSE 8192 cw-delta.vmdk >cw.vmdk
  ro_convert cw.vmdk vmfsSparse
  cmp -s -i 0:$((37 * 512)) -n 512 cw.vmdk.raw cw-delta.vmdk && pass || fail "COWD grain 0 not at sector 0"
  cmp -s -i $((7 * 512)):$((39 * 512)) -n 512 cw.vmdk.raw cw-delta.vmdk && pass || fail "COWD grain 7"
  cmp -s -i $((4095 * 512)):$((38 * 512)) -n 512 cw.vmdk.raw cw-delta.vmdk && pass || fail "COWD grain 4095"
  "$DIMG" info --output=json cw.vmdk >"$T/d.json"
  [ "$(json_str "$T/d.json" create-type)" = vmfsSparse ] && pass || fail "info create-type vmfsSparse"
  [ "$(json_num "$T/d.json" cluster-size)" = 512 ] && pass || fail "info cluster-size of COWD"
  run "$DIMG" check cw-delta.vmdk
  expect_rc 0 "check a COWD file"
  run "$DIMG" resize cw.vmdk 8M
  expect_one_error_line "vmfsSparse (COWD) extents are read-only" "resize of vmfsSparse refused"
}

sec_se_sparse() {
  # seSparse: 16 MiB, volatile header at 1, journal at 2-11, directory at 12, tables at 64,
  # grains at 144: grain 0 and 4095 allocated (grain numbers 0 and 4097), grain 5 zero.
  { le64 0xcafebabe; le64 0x200000001; le64 32768; le64 8; le64 64; head -c 40 /dev/zero
    for a in 1 1 2 2 4 8 12 1 64 64 128 8 136 8 144 80000; do le64 $a; done; } >se-d.vmdk
  truncate -s 512 se-d.vmdk
  le64 0xcafecafe | put se-d.vmdk 1
  le64 0x1000000000000000 | put se-d.vmdk 12
  { le64 0x3000000000000000; head -c 32 /dev/zero; le64 0x2000000000000000; } | put se-d.vmdk 64
  le64 0x3001000000000001 | dd of=se-d.vmdk bs=1 seek=$((64 * 512 + 4095 * 8)) conv=notrunc status=none
  head -c 4096 /dev/urandom | put se-d.vmdk 144
  head -c 4096 /dev/urandom | put se-d.vmdk $((144 + 4097 * 8))
  vdesc seSparse SESPARSE 32768 se-d.vmdk >se.vmdk
  ro_convert se.vmdk seSparse
  cmp -s -i 0:$((144 * 512)) -n 4096 se.vmdk.raw se-d.vmdk && pass || fail "seSparse grain 0"
  cmp -s -i $((4095 * 4096)):$(((144 + 4097 * 8) * 512)) -n 4096 se.vmdk.raw se-d.vmdk && pass ||
    fail "seSparse grain 4095 (grain number 4097)"
  "$DIMG" map --output=json se.vmdk >"$T/dm.json"
  qemu-img map --output=json se.vmdk >"$T/qm.json"
  [ "$(grep -c '"data": true' "$T/dm.json")" = 2 ] && pass || fail "seSparse map: $(cat "$T/dm.json")"
  [ "$(grep -c '"data": true' "$T/dm.json")" = "$(grep -c '"data": true' "$T/qm.json")" ] && pass ||
    fail "seSparse map differs from qemu-img's"
  run "$DIMG" check se-d.vmdk
  expect_rc 0 "check a seSparse file"
  printf '\x01' | dd of=se-d.vmdk bs=1 seek=$((512 + 24)) conv=notrunc status=none
  run "$DIMG" info se.vmdk
  expect_one_error_line "journal needs replaying" "dirty seSparse refused"
}

sec_cancel() {
  # --- a cancelled convert to a split flat image leaves nothing behind ---
  truncate -s 300M big.raw
  qemu-io -f raw -c 'write -P 1 0 300M' big.raw >/dev/null
  set +e
  DIMG_TEST_SLOW_MS=200 "$DIMG" convert -O vmdk -o subformat=twoGbMaxExtentFlat big.raw cut.vmdk \
    >/dev/null 2>"$T/err" &
  pid=$!
  for i in $(seq 100); do [ -e cut.vmdk.part ] && break; sleep 0.05; done
  sleep 0.3
  kill -INT $pid
  wait $pid
  rc=$?
  set -e
  expect_rc 130 "cancelled convert"
  ls cut* 2>/dev/null | grep -q . && fail "cancelled convert left $(ls cut*)" || pass
}

sections "$@"
finish

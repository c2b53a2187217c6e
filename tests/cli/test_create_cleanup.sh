#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# test_create_cleanup.sh: core owns the create lifecycle (issue 17). Whatever fails, at
# create time or later in the operation that created the image, every file the create made
# is removed: the image, DST.part, vmdk extents (flat, split sparse and split flat) and a
# qcow2 external data file; and nothing is touched before every option is known.
# - bad_option: an option no driver takes is refused before a byte is written: an existing
#   file of that name is left as it was, no extent or data file appears (the old code
#   truncated the file, wrote the image and its extents and left them all behind).
# - convert_midway: a convert whose source fails to read half-way (a qcow2 cut short) into
#   vmdk twoGbMaxExtentSparse, twoGbMaxExtentFlat, monolithicFlat and a qcow2 with data_file
#   leaves no DST, no DST.part and no extent or data file.
# - create_midway: a create that fails at its second extent (a directory in the way) removes
#   the descriptor and the first extent, and leaves the directory alone.
# - full_disk: the same converts into a full tmpfs (root: mount) leave nothing.
# - plain: a plain create of each split/flat subformat and of a data file still passes
#   qemu-img check and compares equal to an empty image of its size.
# - nbd: create into an NBD export (qemu-nbd on a Unix socket in the test's directory) writes
#   the image into the export's file, as qemu-img reads it; an image larger than the export, a
#   split vmdk and a qcow2 data file (files beside an export) are refused, the export unchanged.
# ctest-sections: bad_option convert_midway create_midway full_disk plain nbd
source "$(dirname "$0")/lib.sh"
need qemu-img qemu-io

# listing DIR: the names in DIR, sorted, one line.
listing() { (cd "$1" && ls -A | sort | tr '\n' ' '); }

# failed_clean DIR BEFORE DESC: after run: exit 1, one error line, and DIR lists BEFORE again.
failed_clean() {
  expect_rc 1 "$3"
  [ "$(wc -l <"$T/err")" -eq 1 ] && pass || { fail "$3: stderr not one line:"; cat "$T/err"; }
  local now; now=$(listing "$1")
  [ "$now" = "$2" ] && pass || fail "$3: left behind: [$now], want [$2]"
}

# The target subformats and options, with the name of the target.
targets=(
  "vmdk subformat=twoGbMaxExtentSparse dst.vmdk"
  "vmdk subformat=twoGbMaxExtentFlat dst.vmdk"
  "vmdk subformat=monolithicFlat dst.vmdk"
  "qcow2 data_file=dst-data.raw dst.qcow2"
)

sec_bad_option() {
  local t fmt o dst
  mkdir w
  for t in "${targets[@]}"; do
    read -r fmt o dst <<<"$t"
    printf 'KEEP-ME' >"w/$dst"
    local before; before=$(listing w)
    run "$DIMG" create -q -f "$fmt" -o "$o,bogus=1" "w/$dst" 3G
    failed_clean w "$before" "create -f $fmt -o $o,bogus=1"
    grep -q "bogus" "$T/err" && pass || fail "$fmt $o: the error does not name the option"
    [ "$(cat "w/$dst")" = KEEP-ME ] && pass || fail "$fmt $o: the existing $dst was changed"
    rm -f "w/$dst"
  done
}

# A qcow2 of 3 GiB (two 2 GiB pieces in a split vmdk) whose last data cluster is cut off: a
# convert creates its target, copies the first MiB, then fails to read.
mk_cut_source() {
  mkdir src
  qemu-img create -q -f qcow2 src/cut.qcow2 3G
  qemu-io -f qcow2 -c 'write -P 1 0 1M' -c 'write -P 2 2560M 1M' src/cut.qcow2 >/dev/null
  truncate -s -512K src/cut.qcow2
}

sec_convert_midway() {
  mk_cut_source
  mkdir o
  local t fmt o dst
  for t in "${targets[@]}"; do
    read -r fmt o dst <<<"$t"
    run "$DIMG" convert -O "$fmt" -o "$o" src/cut.qcow2 "o/$dst"
    failed_clean o "" "convert -O $fmt -o $o from a source that fails half-way"
    grep -q "past the end" "$T/err" && pass || fail "$fmt $o: not the source's error: $(cat "$T/err")"
  done
  # The same converts from a whole source succeed (the failure was the source's).
  qemu-img create -q -f qcow2 src/ok.qcow2 3G
  qemu-io -f qcow2 -c 'write -P 1 0 1M' -c 'write -P 2 2560M 1M' src/ok.qcow2 >/dev/null
  for t in "${targets[@]}"; do
    read -r fmt o dst <<<"$t"
    run "$DIMG" convert -O "$fmt" -o "$o" src/ok.qcow2 "o/$dst"
    expect_rc 0 "convert -O $fmt -o $o"
    # qemu-img finds a relative data file name from its working directory.
    (cd o && qemu-img compare -q -f qcow2 -F "$fmt" ../src/ok.qcow2 "$dst") && pass ||
      fail "convert -O $fmt -o $o: differs from the source"
    rm -f o/*
  done
}

sec_create_midway() {
  mkdir -p d/dst-f002.vmdk
  run "$DIMG" create -q -f vmdk -o subformat=twoGbMaxExtentFlat d/dst.vmdk 5G
  failed_clean d "dst-f002.vmdk " "create whose second extent cannot be made"
  grep -q "dst-f002.vmdk" "$T/err" && pass || fail "the error does not name the extent"
  [ -d d/dst-f002.vmdk ] && pass || fail "the directory in the way was removed"
  # A convert (new files only) refuses an existing extent the same way, leaving it alone.
  rmdir d/dst-f002.vmdk
  printf 'KEEP-ME' >d/dst-f002.vmdk
  qemu-img create -q -f raw src.raw 5G
  run "$DIMG" convert -O vmdk -o subformat=twoGbMaxExtentFlat src.raw d/dst.vmdk
  failed_clean d "dst-f002.vmdk " "convert onto an existing extent"
  grep -qi "exists" "$T/err" && pass || fail "convert onto an extent: $(cat "$T/err")"
  [ "$(cat d/dst-f002.vmdk)" = KEEP-ME ] && pass || fail "the existing extent was changed"
}

sec_full_disk() {
  small_tmpfs 8m
  # 24 MiB of random data at the start of a 3 GiB disk: every target runs out of space.
  head -c 24M /dev/urandom >rnd.raw
  qemu-img convert -f raw -O qcow2 rnd.raw top.qcow2
  qemu-img resize -q top.qcow2 3G
  local t fmt o dst
  for t in "${targets[@]}"; do
    read -r fmt o dst <<<"$t"
    run "$DIMG" convert -O "$fmt" -o "$o" top.qcow2 "fs/$dst"
    failed_clean fs "" "convert -O $fmt -o $o into a full disk"
    grep -q "No space left on device" "$T/err" && pass || fail "$fmt $o: $(cat "$T/err")"
  done
}

sec_plain() {
  local t fmt o dst
  for t in "${targets[@]}"; do
    read -r fmt o dst <<<"$t"
    run "$DIMG" create -q -f "$fmt" -o "$o" "$dst" 3G
    expect_rc 0 "create -f $fmt -o $o"
    qemu-img check -q -f "$fmt" "$dst" >/dev/null 2>&1 && pass || fail "$fmt $o: qemu-img check"
    qemu-img create -q -f raw empty.raw 3G
    qemu-img compare -q -f raw -F "$fmt" empty.raw "$dst" && pass || fail "$fmt $o: not empty"
    rm -f ./dst*
  done
}

sec_nbd() {
  need qemu-nbd
  truncate -s 8M exp.raw
  qemu-nbd -f raw -k "$T/s.sock" -t --pid-file="$T/nbd.pid" exp.raw &
  trap 'kill "$(cat "$T/nbd.pid" 2>/dev/null)" 2>/dev/null || true; rm -rf "$T"' EXIT
  local i
  for i in $(seq 50); do [ -S s.sock ] && break; sleep 0.1; done
  local u="nbd+unix:///?socket=$T/s.sock" fmt
  for fmt in qcow2 vdi vmdk; do
    run "$DIMG" create -q -f "$fmt" "$u" 4M
    expect_rc 0 "create -f $fmt into an NBD export"
    [ "$(qemu-img info --output=json -f "$fmt" "$u" | json_num /dev/stdin virtual-size)" = 4194304 ] &&
      pass || fail "create -f $fmt into an NBD export: qemu-img's size differs"
    qemu-img check -q -f "$fmt" "$u" && pass || fail "create -f $fmt into an NBD export: check"
  done
  cp exp.raw before.raw
  run "$DIMG" create -q -f raw "$u" 16M
  expect_rc 1 "create -f raw larger than the export"
  expect_one_error_line "smaller" "create -f raw larger than the export"
  run "$DIMG" create -q -f vmdk -o subformat=twoGbMaxExtentFlat "$u" 4M
  expect_rc 1 "create of a split vmdk into an export"
  expect_one_error_line "no extent files" "create of a split vmdk into an export"
  run "$DIMG" create -q -f qcow2 -o data_file=d.raw "$u" 4M
  expect_rc 1 "create of a qcow2 with a data file into an export"
  expect_one_error_line "no data file" "create of a qcow2 with a data file into an export"
  [ ! -e d.raw ] && pass || fail "a data file was made"
  kill "$(cat nbd.pid)"
  wait || true
  cmp -s exp.raw before.raw && pass || fail "a refused create changed the export"
}

sections "$@"
finish

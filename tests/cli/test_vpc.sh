#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# test_vpc.sh: VHD (qemu-img's vpc) against qemu-img as the oracle. qemu-made fixed and dynamic
# images with data written by qemu-io: info's virtual size and format, convert -O raw
# byte-identical, map --output=json equal to qemu-img's; a fixed VHD is probed as vpc (its
# footer is metadata). dimg-made images (create, convert -O vpc, both subformats, force_size)
# compare identical with qemu-img both ways, and are laid out as qemu-img lays them out; the
# Azure rule: a fixed force_size image of a whole number of MiB is that size plus 512 bytes.
# A differencing child (built by vhd_tool.py, as qemu-img makes none) reads through its parent
# by the relative, absolute and Mac locators; dimg writes into it sector-exactly; parent names
# with "..", absolute paths under --untrusted, and protocols are refused. Hostile headers
# (checksums, BAT entries past the end or overlapping, huge BAT counts, bad block size): one
# error line each. Grow (fixed, dynamic with the BAT grown in place and moved to the end, and a
# force_size image keeping its exact size): qemu-img reads the new size and the same bytes.
# ctest-sections: read_qemu write_create differencing hostile resize
source "$(dirname "$0")/lib.sh"
need python3
TOOL="$(dirname "$SCRIPT")/vhd_tool.py"

# dyn.vhd and fix.vhd: qemu-made, 10 MiB (10514432 by geometry), data across block edges.
mk_qemu_vhds() {
  qcreate -f vpc dyn.vhd 10M
  qcreate -f vpc -o subformat=fixed fix.vhd 10M
  local f
  for f in dyn.vhd fix.vhd; do
    qemu-io -f vpc -c 'write -P 0xab 1M 64k' -c 'write -P 0xcd 2096640 1536' \
      -c 'write -P 0x17 7M 1M' -c 'write -P 0x3c 10513920 512' "$f" >/dev/null
  done
}

sec_read_qemu() {
  mk_qemu_vhds
  local f
  for f in dyn.vhd fix.vhd; do
    run "$DIMG" info --output=json "$f"
    expect_rc 0 "info $f"
    [ "$(json_str "$T/out" format)" = vpc ] && pass || fail "$f: format $(json_str "$T/out" format)"
    qemu-img info -f vpc --output=json "$f" >q.json
    [ "$(json_num "$T/out" virtual-size)" = "$(json_num q.json virtual-size)" ] && pass ||
      fail "$f: virtual size $(json_num "$T/out" virtual-size), qemu-img $(json_num q.json virtual-size)"
    run "$DIMG" convert -O raw "$f" d.raw
    expect_rc 0 "convert $f"
    qemu-img convert -f vpc -O raw "$f" q.raw
    expect_same d.raw q.raw "convert -O raw $f"
    run "$DIMG" map --output=json "$f"
    qemu-img map -f vpc --output=json "$f" >q.map
    expect_same "$T/out" q.map "map $f"
  done
  # qemu-img reads a fixed VHD as raw unless told: dimg knows it by its footer.
  run "$DIMG" info fix.vhd
  grep -q '^file format: vpc' "$T/out" && pass || fail "fixed VHD probed: $(cat "$T/out")"
  grep -q 'subformat: fixed' "$T/out" && pass || fail "fixed VHD subformat: $(cat "$T/out")"
  # Hyper-V sizes by the footer's current size, not the geometry: so does qemu-img.
  cp dyn.vhd hv.vhd
  python3 "$TOOL" creator hv.vhd 'win '
  python3 "$TOOL" poke hv.vhd footer 48 Q 10485760
  run "$DIMG" info --output=json hv.vhd
  qemu-img info -f vpc --output=json hv.vhd >q.json
  [ "$(json_num "$T/out" virtual-size)" = 10485760 ] &&
    [ "$(json_num q.json virtual-size)" = 10485760 ] && pass ||
    fail "Hyper-V size: dimg $(json_num "$T/out" virtual-size), qemu-img $(json_num q.json virtual-size)"
}

sec_write_create() {
  mk_sparse_raw src.raw 9437184 0:512 1048000:1000 3145735:2097165 9436672:512
  local sub
  for sub in dynamic fixed; do
    run "$DIMG" convert -O vpc -o subformat=$sub src.raw o-$sub.vhd
    expect_rc 0 "convert -O vpc subformat=$sub"
    # The geometry rounds 9 MiB up; the tail reads as zeros.
    qemu-img compare -f raw -F vpc src.raw o-$sub.vhd >/dev/null && pass ||
      fail "qemu-img compare raw vs dimg's $sub"
    qemu-img convert -f vpc -O raw o-$sub.vhd back.raw
    run "$DIMG" convert -O raw o-$sub.vhd d.raw
    expect_same d.raw back.raw "dimg and qemu-img read dimg's $sub"
    qemu-img convert -f raw -O vpc -o subformat=$sub src.raw q-$sub.vhd
    run "$DIMG" compare o-$sub.vhd q-$sub.vhd
    expect_rc 0 "dimg compare of dimg's and qemu-img's $sub"
    [ "$(stat -c %s o-$sub.vhd)" = "$(stat -c %s q-$sub.vhd)" ] && pass ||
      fail "$sub: file size $(stat -c %s o-$sub.vhd), qemu-img's $(stat -c %s q-$sub.vhd)"
  done
  # create lays the file out as qemu-img does (only the time stamp, UUID and checksums differ).
  for opt in subformat=dynamic subformat=fixed force_size=on; do
    run "$DIMG" create -f vpc -o $opt c.vhd 100M
    expect_rc 0 "create -o $opt"
    qemu-img create -q -f vpc -o $opt q.vhd 100M
    [ "$(stat -c %s c.vhd)" = "$(stat -c %s q.vhd)" ] && pass || fail "create -o $opt: size"
    python3 "$TOOL" same c.vhd q.vhd && pass || fail "create -o $opt: not laid out as qemu-img's"
    qemu-img info -f vpc --output=json c.vhd >q.json
    [ "$(json_num q.json virtual-size)" = "$(qemu-img info -f vpc --output=json q.vhd | json_num /dev/stdin virtual-size)" ] &&
      pass || fail "create -o $opt: virtual size"
  done
  # Azure: fixed, force_size, a whole number of MiB: the file is exactly size + 512.
  mk_sparse_raw az.raw 67108864 3145728:1048576
  run "$DIMG" convert -O vpc -o subformat=fixed,force_size az.raw az.vhd
  expect_rc 0 "convert for Azure"
  [ "$(stat -c %s az.vhd)" = 67109376 ] && pass || fail "Azure: file size $(stat -c %s az.vhd)"
  qemu-img compare -f raw -F vpc az.raw az.vhd >/dev/null && pass || fail "Azure image content"
  qemu-img info -f vpc --output=json az.vhd >q.json
  [ "$(json_num q.json virtual-size)" = 67108864 ] && pass || fail "Azure: virtual size"
  # qemu-io writes into a dimg-made dynamic image, dimg reads what qemu wrote.
  run "$DIMG" create -f vpc w.vhd 8M
  qemu-io -f vpc -c 'write -P 0x44 2M 4k' w.vhd >/dev/null
  qemu-img convert -f vpc -O raw w.vhd q.raw
  run "$DIMG" convert -O raw w.vhd d.raw
  expect_same d.raw q.raw "qemu-io's write into dimg's image"
}

# parent.raw: the parent's guest bytes; child.vhd over dyn.vhd by the locator CODE NAME.
mk_child() {
  python3 "$TOOL" diff child.vhd dyn.vhd "$1" "$2"
}

sec_differencing() {
  mk_qemu_vhds
  qemu-img convert -f vpc -O raw dyn.vhd parent.raw
  # Sectors 0..7 and 9 of block 0 are the child's (0x5a); the rest is the parent's.
  cp parent.raw want.raw
  python3 -c "
import sys
b = bytearray(open('want.raw','rb').read())
for s in list(range(8)) + [9]: b[s*512:(s+1)*512] = b'\x5a' * 512
open('want.raw','wb').write(b)"
  local spec
  for spec in 'W2ru:.\dyn.vhd' "W2ku:$T/dyn.vhd" "MacX:file://$T/dyn.vhd"; do
    mk_child "${spec%%:*}" "${spec#*:}"
    run "$DIMG" convert -O raw child.vhd d.raw
    expect_rc 0 "convert of a child by ${spec%%:*}"
    expect_same d.raw want.raw "child by ${spec%%:*} reads through its parent"
  done
  run "$DIMG" info --output=json child.vhd
  [ "$(json_str "$T/out" backing-filename)" = "$T/dyn.vhd" ] && pass ||
    fail "backing name: $(json_str "$T/out" backing-filename)"
  # Writes: convert -n into the child; sectors it lacked become its own, the rest stays.
  python3 -c "
b = bytearray(open('want.raw','rb').read())
b[8*512+100:8*512+300] = b'\x99' * 200
b[5*1048576:5*1048576+4096] = b'\x77' * 4096
open('want2.raw','wb').write(b)"
  run "$DIMG" convert -n -f raw -O vpc want2.raw child.vhd
  expect_rc 0 "convert -n into the child"
  run "$DIMG" convert -O raw child.vhd d.raw
  expect_same d.raw want2.raw "the child after writes"
  qemu-img convert -f raw -O raw parent.raw p.raw
  expect_same p.raw parent.raw "the parent unchanged"
  run "$DIMG" map --output=json child.vhd
  expect_rc 0 "map of the child"
  # Parent names the rules refuse.
  mk_child W2ru '..\x\dyn.vhd'
  run "$DIMG" --untrusted convert -O raw child.vhd x.raw
  expect_one_error_line "not followed" "'..' parent under --untrusted"
  mk_child W2ku "$T/dyn.vhd"
  run "$DIMG" --untrusted convert -O raw child.vhd x.raw
  [ "$rc" -ne 0 ] && [ ! -e x.raw ] && pass || fail "absolute parent under --untrusted followed"
  expect_one_error_line "not followed" "absolute parent under --untrusted"
  mk_child W2ru 'nbd://127.0.0.1:1/x'
  run "$DIMG" info child.vhd
  expect_rc 1 "protocol parent"
  expect_one_error_line "protocol" "protocol parent"
}

sec_hostile() {
  qcreate -f vpc dyn.vhd 10M
  qemu-io -f vpc -c 'write -P 1 0 3M' dyn.vhd >/dev/null
  local size
  size=$(stat -c %s dyn.vhd)
  bad() { # DESCRIPTION WORD COMMAND...: a copy poked by COMMAND is refused in one line
    local what=$1 word=$2
    shift 2
    cp dyn.vhd h.vhd
    "$@"
    run "$DIMG" info h.vhd
    expect_rc 1 "$what"
    expect_one_error_line "$word" "$what"
    run "$DIMG" convert -O raw h.vhd h.raw
    [ "$rc" -ne 0 ] && [ ! -e h.raw ] && pass || fail "$what: convert went on"
  }
  bad "footer checksum" "checksum" python3 "$TOOL" badsum h.vhd
  bad "BAT entry past the end" "past the end" python3 "$TOOL" bat h.vhd 1 $((size / 512))
  bad "BAT entry into the headers" "overlaps the headers" python3 "$TOOL" bat h.vhd 0 1
  bad "two BAT entries on one block" "share" python3 "$TOOL" bat h.vhd 1 4
  bad "max_table_entries near 2^32" "BAT of" python3 "$TOOL" poke h.vhd header 28 I 0xfffffff0
  bad "BAT too small" "too small" python3 "$TOOL" poke h.vhd header 28 I 1
  bad "BAT offset past the end" "BAT of" python3 "$TOOL" poke h.vhd header 16 Q 0x7fffffffffff
  bad "block size not a power of two" "block size" python3 "$TOOL" poke h.vhd header 32 I 3000
  bad "dynamic header past the end" "dynamic header" python3 "$TOOL" poke h.vhd footer 16 Q 0xfffffffffffffe00
  bad "disk over 2040 GiB" "2040 GiB" python3 "$TOOL" creator h.vhd 'win ' 0x40000000000
  bad "disk type" "disk type" python3 "$TOOL" poke h.vhd footer 60 I 7
}

sec_resize() {
  mk_qemu_vhds
  local f sz
  for f in dyn.vhd fix.vhd; do
    qemu-img convert -f vpc -O raw "$f" before.raw
    for sz in 100M 300M; do # 300M: 150 BAT entries, more than fit in place
      [ $f = fix.vhd ] && [ $sz = 300M ] && continue # keep the fixture small
      run "$DIMG" resize "$f" $sz
      expect_rc 0 "resize $f $sz"
      qemu-img info -f vpc --output=json "$f" >q.json
      run "$DIMG" info --output=json "$f"
      [ "$(json_num "$T/out" virtual-size)" = "$(json_num q.json virtual-size)" ] && pass ||
        fail "$f $sz: size $(json_num "$T/out" virtual-size), qemu-img $(json_num q.json virtual-size)"
      qemu-img convert -f vpc -O raw "$f" q.raw
      run "$DIMG" convert -O raw "$f" d.raw
      expect_same d.raw q.raw "$f $sz read by both"
      cmp -s -n "$(stat -c %s before.raw)" before.raw q.raw && pass || fail "$f $sz: old data changed"
      [ -z "$(tail -c +$(($(stat -c %s before.raw) + 1)) q.raw | tr -d '\0' | head -c 1)" ] &&
        pass || fail "$f $sz: grown part not zero"
    done
    # qemu-io writes into the grown part; both read it the same.
    qemu-io -f vpc -c 'write -P 0x77 90M 1M' "$f" >/dev/null
    qemu-img convert -f vpc -O raw "$f" q.raw
    run "$DIMG" convert -O raw "$f" d.raw
    expect_same d.raw q.raw "$f written after growing"
    run "$DIMG" resize --shrink "$f" 1M
    [ "$rc" -ne 0 ] && pass || fail "$f shrunk"
  done
  run "$DIMG" create -f vpc -o force_size z.vhd 10M
  run "$DIMG" resize z.vhd 30M
  qemu-img info -f vpc --output=json z.vhd >q.json
  [ "$(json_num q.json virtual-size)" = 31457280 ] && pass || fail "force_size grow: exact size"
}

sections "$@"
finish

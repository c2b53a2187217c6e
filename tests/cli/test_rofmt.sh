#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# test_rofmt.sh: the read-only formats bochs, cloop and dmg (issue 18) on images real writers
# made: bximage (a growing bochs redolog), create_compressed_fs (cloop V2.0), and for DMG a
# UDIF built here by a short Python writer from the documented layout (koly trailer, XML plist
# with a base64 mish table; chunks of zlib, raw, zero, ignore and bzip2; no Debian tool writes
# UDIF). Each: info (human and JSON) equals qemu-img's, convert -O raw is byte-identical to
# qemu-img's (for DMG with bzip2 chunks, which Debian's qemu-img cannot read, to the writer's
# own plain bytes), map agrees with qemu-img where it reports the same thing (see map_check),
# the host-file layout names its regions, writing and creating are refused by name. Then
# hostile headers: one error line, exit 1.
# ctest-sections: bochs cloop dmg hostile
source "$(dirname "$0")/lib.sh"
need qemu-img python3

# A 2 MiB disk: text, a zero hole, random bytes, a zero tail.
mk_disk() {
  python3 - "$1" <<'PY'
import os, sys
d = bytearray(2 << 20)
t = b"".join(b"line %06d of the test disk\n" % i for i in range(20000))[:600000]
d[0:len(t)] = t
d[1 << 20:(1 << 20) + 300000] = os.urandom(300000)
open(sys.argv[1], "wb").write(d)
PY
}

# same_as_qemu IMG: info (human, JSON) and convert -O raw as qemu-img's.
same_as_qemu() {
  local f=$1
  run "$DIMG" info "$f"
  expect_rc 0 "info $f"
  qemu-img info "$f" >"$T/q.txt" 2>/dev/null
  expect_same "$T/out" "$T/q.txt" "info $f vs qemu-img"
  run "$DIMG" info --output=json "$f"
  qemu-img info --output=json "$f" >"$T/q.json" 2>/dev/null
  expect_same "$T/out" "$T/q.json" "info --output=json $f vs qemu-img"
  qemu-img convert -O raw "$f" q.raw 2>/dev/null
  run "$DIMG" convert -O raw "$f" d.raw
  expect_rc 0 "convert -O raw $f"
  expect_same d.raw q.raw "convert -O raw $f vs qemu-img"
}

# map_check IMG RAW: qemu-img has no block status for these drivers and maps the whole disk
# as one data run; dimg tells stored runs (with their file offset where the bytes are stored
# as they are) from runs that read as zeros. So: the runs tile the disk, every zero run is
# zeros in RAW, every run with an offset holds RAW's bytes there in IMG.
map_check() {
  run "$DIMG" map --output=json "$1"
  expect_rc 0 "map $1"
  python3 - "$T/out" "$1" "$2" <<'PY' && pass || fail "map $1: $(tail -1 "$T/err")"
import json, sys
runs = json.load(open(sys.argv[1])); img = open(sys.argv[2], "rb").read()
raw = open(sys.argv[3], "rb").read()
pos = 0
for r in runs:
    s, n = r["start"], r["length"]
    assert s == pos, ("gap", s, pos); pos = s + n
    if r["zero"]:
        assert raw[s:s + n] == bytes(n), ("zero run not zero", s)
    if "offset" in r:
        assert img[r["offset"]:r["offset"] + n] == raw[s:s + n], ("offset run", s)
assert pos == len(raw), ("length", pos)
PY
}

# refused IMG FMT: writing into it and creating/converting to FMT: one line naming FMT.
refused() {
  run "$DIMG" convert -O "$2" -f raw d.raw new.img
  expect_rc 1 "convert -O $2"
  expect_one_error_line "$2: creating images is not supported" "convert -O $2"
  [ -z "$(ls new.img* 2>/dev/null)" ] && pass || fail "convert -O $2 left a file"
  run "$DIMG" create -f "$2" new.img 1M
  expect_rc 1 "create -f $2"
  expect_one_error_line "$2: creating images is not supported" "create -f $2"
  run "$DIMG" resize "$1" 4M
  expect_rc 1 "resize $1"
  expect_one_error_line "$2: writing is not supported" "resize $1"
}

# layout_has IMG KIND...: the host-file view lists these region kinds.
layout_has() {
  local f=$1 k
  shift
  run "$DIMG" layout "$f"
  expect_rc 0 "layout $f"
  for k; do grep -q " $k\$" "$T/out" && pass || fail "layout $f: no $k region"; done
}

sec_bochs() {
  need bximage
  mk_disk disk.raw
  bximage -func=convert -imgmode=growing -q disk.raw b.img >/dev/null 2>&1
  same_as_qemu b.img
  cmp -s d.raw disk.raw && pass || fail "bochs: not the disk bximage was given"
  map_check b.img disk.raw
  grep -q '"zero": true' "$T/out" && pass || fail "bochs map: no hole reported"
  layout_has b.img header block-map bitmap data
  refused b.img bochs
  # A version 1 header (no timestamp: the disk size 4 bytes earlier), as older Bochs wrote.
  cp b.img b1.img
  dd if=b.img of=b1.img bs=1 skip=88 seek=84 count=8 conv=notrunc status=none
  poke b1.img 64 '<I' 0x00010000
  same_as_qemu b1.img
  cmp -s d.raw disk.raw && pass || fail "bochs v1: not the disk"
  finish
}

sec_cloop() {
  need create_compressed_fs
  mk_disk disk.raw
  create_compressed_fs -q -B 65536 disk.raw c.img >/dev/null 2>&1
  same_as_qemu c.img
  cmp -s d.raw disk.raw && pass || fail "cloop: not the disk create_compressed_fs was given"
  map_check c.img disk.raw
  qemu-img map --output=json c.img >"$T/q.json"
  run "$DIMG" map --output=json c.img
  expect_same "$T/out" "$T/q.json" "cloop map vs qemu-img"
  layout_has c.img header block-map compressed
  refused c.img cloop
  finish
}

# mkdmg OUT [OPTION...]: the UDIF writer (tests/fuzz/mkdmg.py); OUT.raw gets the plain disk.
mkdmg() { python3 "$(dirname "$SCRIPT")/../fuzz/mkdmg.py" "$@"; }

sec_dmg() {
  mkdmg n.dmg nobz2
  same_as_qemu n.dmg
  expect_same d.raw n.dmg.raw "dmg: the writer's plain bytes"
  map_check n.dmg n.dmg.raw
  grep -q '"offset"' "$T/out" && pass || fail "dmg map: the raw chunk has no offset"
  layout_has n.dmg compressed data metadata header
  refused n.dmg dmg
  # bzip2 chunks: Debian's qemu-img has no dmg-bzip2 module, so the oracle is the writer.
  mkdmg m.dmg
  run "$DIMG" info --output=json m.dmg
  qemu-img info --output=json m.dmg >"$T/q.json" 2>/dev/null
  expect_same "$T/out" "$T/q.json" "info --output=json m.dmg vs qemu-img"
  run "$DIMG" convert -O raw m.dmg d.raw
  expect_rc 0 "convert bzip2 dmg"
  expect_same d.raw m.dmg.raw "dmg with bzip2: the writer's plain bytes"
  # Probed by its trailer, whatever its name.
  cp m.dmg m.img
  run "$DIMG" info m.img
  grep -q "file format: dmg" "$T/out" && pass || fail "m.img not probed as dmg"
  # lzfse: no Debian 12 library; such a chunk is refused when read, one line.
  mkdmg l.dmg lzfse
  run "$DIMG" convert -O raw l.dmg d.raw
  expect_rc 1 "convert lzfse dmg"
  expect_one_error_line "lzfse" "convert lzfse dmg"
  finish
}

# poke FILE OFFSET FORMAT VALUE: overwrite bytes: FORMAT '<I' / '>I' / '>Q' (little- or
# big-endian, 4 or 8 bytes), VALUE a number bash reads.
poke() {
  local n=4 v=$(($4)) i b bytes=()
  [ "${3:1}" = Q ] && n=8
  for ((i = 0; i < n; i++)); do bytes+=($(((v >> (8 * i)) & 255))); done
  [ "${3:0:1}" = ">" ] && bytes=($(for ((i = n - 1; i >= 0; i--)); do echo "${bytes[i]}"; done))
  for b in "${bytes[@]}"; do printf "\\$(printf %03o "$b")"; done |
    dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}

# bad FILE WORD: info and convert fail with one line containing WORD, exit 1.
bad() {
  local cmd
  for cmd in info convert; do
    if [ $cmd = info ]; then run "$DIMG" info "$1"; else run "$DIMG" convert -O raw "$1" out.raw; fi
    expect_rc 1 "$cmd $1"
    expect_one_error_line "$2" "$cmd $1"
  done
}

sec_hostile() {
  head -c 307200 /dev/urandom >small.raw
  if command -v bximage >/dev/null; then
    bximage -func=convert -imgmode=growing -q small.raw b0.img >/dev/null 2>&1
    cp b0.img b1.img; poke b1.img 72 '<I' 0xffffffff; bad b1.img "catalog of 4294967295 entries"
    cp b0.img b2.img; poke b2.img 72 '<I' 0x00ffffff; bad b2.img "outside the file"
    cp b0.img b3.img; poke b3.img 512 '<I' 0x7ffffff0; bad b3.img "outside the file"
    cp b0.img b4.img; poke b4.img 80 '<I' 0; bad b4.img "extent size 0"
    cp b0.img b5.img; poke b5.img 68 '<I' 0xfffffff0; bad b5.img "outside the file"
  fi
  if command -v create_compressed_fs >/dev/null; then
    create_compressed_fs -q -B 65536 small.raw c0.img >/dev/null 2>&1
    cp c0.img c1.img; poke c1.img 132 '>I' 0xffffffff; bad c1.img "blocks (limit"
    cp c0.img c2.img; poke c2.img 132 '>I' 0x03ffffff; bad c2.img "outside the file"
    cp c0.img c3.img; poke c3.img 144 '>Q' 0xffffffffffff; bad c3.img "outside the data area"
    cp c0.img c4.img; poke c4.img 128 '>I' 0; bad c4.img "block size 0"
    # A block whose stream inflates to more than the block size: refused when read.
    python3 - c0.img c5.img <<'PY'
import struct, sys, zlib
d = bytearray(open(sys.argv[1], "rb").read())
z = zlib.compress(bytes(1 << 20))
o0 = struct.unpack_from(">Q", d, 136)[0]
d[o0:o0] = z
n = struct.unpack_from(">I", d, 132)[0]
for i in range(1, n + 1):
    struct.pack_into(">Q", d, 136 + 8 * i, struct.unpack_from(">Q", d, 136 + 8 * i)[0] + len(z))
open(sys.argv[2], "wb").write(d)
PY
    run "$DIMG" convert -O raw c5.img out.raw
    expect_rc 1 "cloop bomb"
    expect_one_error_line "zlib" "cloop bomb"
  fi
  mkdmg d1.dmg count nobz2; bad d1.dmg "chunks is longer"
  mkdmg d2.dmg plist nobz2; bad d2.dmg "property list of"
  mkdmg d3.dmg pastend nobz2; bad d3.dmg "outside the file"
  mkdmg d4.dmg bomb nobz2
  run "$DIMG" convert -O raw d4.dmg out.raw
  expect_rc 1 "dmg zlib bomb"
  expect_one_error_line "not exactly 512 bytes" "dmg zlib bomb"
  mkdmg d5.dmg bzbomb
  run "$DIMG" convert -O raw d5.dmg out.raw
  expect_rc 1 "dmg bzip2 bomb"
  expect_one_error_line "not exactly 512 bytes" "dmg bzip2 bomb"
  cp d4.dmg d6.dmg; poke d6.dmg $(($(stat -c %s d6.dmg) - 512 + 216)) '>Q' 0x7fffffffffff
  bad d6.dmg "outside the file"
  finish
}

sections "$@"

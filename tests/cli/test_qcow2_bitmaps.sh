#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# test_qcow2_bitmaps.sh: qcow2 persistent dirty bitmaps (qemu-img bitmap) kept valid across
# dimg resize (grow, shrink, unaligned sizes), snapshot -c/-d, rebase -u, amend and check -r:
# qemu-img check finds no leak, qemu-img info lists the same bitmaps and none "in-use", and
# the dirty ranges qemu reads (qemu-nbd + qemu-img map x-dirty-bitmap) equal those of the
# same operation done by qemu-img; dimg info lists them exactly as qemu-img info does; writes
# and snapshot -a that the bitmaps would not record are refused, naming the bitmap.
# One ctest entry per behaviour (cli.test_qcow2_bitmaps.SECTION), each on its own files:
# ctest-sections: info resize shrink_grow lazy_refcounts metadata_ops enabled_refused
# ctest-sections: disabled_bitmap in_use damaged_dir corrupt_table refused_resize
source "$(dirname "$0")/lib.sh"
command -v qemu-nbd >/dev/null || { echo "SKIP: no qemu-nbd"; exit 77; }
command -v python3 >/dev/null || { echo "SKIP: no python3"; exit 77; }
PY=$(python3 -c 'import sys; print(sys.executable)') # once: a pyenv shim costs a second a call

# dirty IMG BITMAP: the dirty ranges ("start length" lines) qemu reads from IMG's BITMAP.
dirty() {
  local sock="$T/nbd.$$.$RANDOM"
  qemu-nbd -r -f qcow2 -B "$2" -k "$sock" --fork "$1" >/dev/null 2>&1 || { echo "nbd failed"; return; }
  qemu-img map --output=json --image-opts \
    "driver=nbd,server.type=unix,server.path=$sock,x-dirty-bitmap=qemu:dirty-bitmap:$2" |
    "$PY" -c 'import json,sys
for e in json.load(sys.stdin):
    if not e["data"]: print(e["start"], e["length"])' || true
}
# bitmaps_json IMG: qemu-img info's bitmaps list, one line of canonical JSON.
bitmaps_json() {
  qemu-img info --output=json "$1" |
    "$PY" -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["format-specific"]["data"].get("bitmaps")))'
}
# same_as_qemu DESC: t.qcow2 (dimg) against q.qcow2 (qemu-img) after the same operation.
same_as_qemu() {
  local c
  c=$(qemu-img check t.qcow2 2>&1 | head -n 1 || true)
  [ "$c" = "No errors were found on the image." ] && pass || fail "$1: qemu-img check: $c"
  qemu-img check t.qcow2 >/dev/null 2>&1 && pass || fail "$1: qemu-img check exit $?"
  [ "$(bitmaps_json t.qcow2)" = "$(bitmaps_json a.qcow2)" ] && pass ||
    fail "$1: bitmaps now $(bitmaps_json t.qcow2)"
  qemu-img info t.qcow2 2>&1 | grep -q "lacking bitmap support" &&
    fail "$1: qemu calls the bitmaps inconsistent" || pass
  for b in b0 b1; do
    dirty t.qcow2 $b >"$T/dt"
    if cmp -s q.qcow2 a.qcow2; then cp "$T/da.$b" "$T/dq"; else dirty q.qcow2 $b >"$T/dq"; fi
    expect_same "$T/dt" "$T/dq" "$1: dirty ranges of $b"
  done
}

# mk_a: a.qcow2 with two bitmaps and their dirty ranges as qemu reads them ($T/da.b0, da.b1).
# b0: enabled, 64 KiB granularity; b1: 1 MiB granularity, disabled after some writes.
mk_a() {
  qemu-img create -q -f qcow2 a.qcow2 100M
  qemu-img bitmap --add a.qcow2 b0
  qemu-img bitmap --add -g 1M a.qcow2 b1
  qemu-io -c 'write 0 64k' -c 'write 50M 1M' -c 'write 99M 1M' a.qcow2 >/dev/null
  qemu-img bitmap --disable a.qcow2 b1
  qemu-io -c 'write 10M 64k' a.qcow2 >/dev/null
  dirty a.qcow2 b0 >"$T/da.b0"
  dirty a.qcow2 b1 >"$T/da.b1"
}

# mk_base: base.qcow2, data at 20M.
mk_base() {
  qemu-img create -q -f qcow2 base.qcow2 100M
  qemu-io -c 'write -P 7 20M 64k' base.qcow2 >/dev/null # rebase onto it must write
}

# bitmap_dir: the offset of the bitmap directory (that of a.qcow2 and its copies).
bitmap_dir() {
  dir=$("$PY" -c 'import struct,sys
d=open(sys.argv[1],"rb").read(65536); o=struct.unpack(">I",d[100:104])[0]
while True:
    t,l=struct.unpack(">II",d[o:o+8])
    if t==0x23852875: print(struct.unpack(">Q",d[o+24:o+32])[0]); break
    o+=8+(l+7)//8*8' a.qcow2)
}

sec_info() {
  mk_a
  [ -s "$T/da.b0" ] && pass || fail "test image: b0 has no dirty bits"

  # info: human output byte-identical, the JSON bitmaps equal.
  run "$DIMG" info a.qcow2
  expect_rc 0 "info"
  qemu-img info a.qcow2 >"$T/qinfo"
  expect_same "$T/out" "$T/qinfo" "info of an image with bitmaps"
  run "$DIMG" info --output=json a.qcow2
  # Byte for byte too: b1 is disabled, so its flags list is empty ("flags": [ newline ]).
  expect_same "$T/out" <(qemu-img info --output=json a.qcow2) "info --output=json, byte for byte"
  "$PY" -c 'import json,sys
a=json.load(open(sys.argv[1])); b=json.load(open(sys.argv[2]))
sys.exit(a["format-specific"] != b["format-specific"])' "$T/out" <(qemu-img info --output=json a.qcow2) &&
    pass || fail "info --output=json: format-specific differs: $(cat "$T/out")"
}

sec_resize() {
  mk_a
  # resize: grow, grow across a table cluster, shrink (aligned and not), grow after a shrink.
  for sz in +64M 1G 50M 104333312 +1T; do
    cp a.qcow2 t.qcow2
    cp a.qcow2 q.qcow2
    run "$DIMG" resize --shrink t.qcow2 "$sz"
    expect_rc 0 "resize $sz"
    qemu-img resize -q --shrink q.qcow2 "$sz"
    same_as_qemu "resize $sz"
  done
}

sec_shrink_grow() {
  mk_a
  cp a.qcow2 t.qcow2
  cp a.qcow2 q.qcow2
  "$DIMG" resize --shrink t.qcow2 104333312 >/dev/null && "$DIMG" resize t.qcow2 120M >/dev/null
  qemu-img resize -q --shrink q.qcow2 104333312 && qemu-img resize -q q.qcow2 120M
  same_as_qemu "shrink to 99.5M then grow to 120M"
}

sec_lazy_refcounts() {
  mk_a
  # Lazy refcounts: a shrink flushes them midway; the bitmaps' clusters still get counted.
  for sz in 50M 2G; do
    cp a.qcow2 t.qcow2
    cp a.qcow2 q.qcow2
    qemu-img amend -o lazy_refcounts=on t.qcow2
    qemu-img amend -o lazy_refcounts=on q.qcow2
    run "$DIMG" resize --shrink t.qcow2 "$sz"
    expect_rc 0 "lazy refcounts: resize $sz"
    qemu-img resize -q --shrink q.qcow2 "$sz"
    same_as_qemu "lazy refcounts: resize $sz"
  done
}

sec_metadata_ops() {
  mk_a
  # Metadata-only operations leave the bitmaps as they are.
  cp a.qcow2 t.qcow2
  cp a.qcow2 q.qcow2
  run "$DIMG" snapshot -c s1 t.qcow2
  expect_rc 0 "snapshot -c"
  same_as_qemu "snapshot -c"
  run "$DIMG" snapshot -c s2 t.qcow2
  run "$DIMG" snapshot -d s1 t.qcow2
  expect_rc 0 "snapshot -d"
  same_as_qemu "snapshot -c, -c, -d"
  qemu-img create -q -f qcow2 base.qcow2 100M
  run "$DIMG" rebase -u -b base.qcow2 -F qcow2 t.qcow2
  expect_rc 0 "rebase -u"
  same_as_qemu "rebase -u"
  run "$DIMG" amend -o lazy_refcounts=on t.qcow2
  expect_rc 0 "amend lazy_refcounts=on"
  same_as_qemu "amend"
  run "$DIMG" check -r all t.qcow2
  expect_rc 0 "check -r all"
  same_as_qemu "check -r all"
}

sec_enabled_refused() {
  mk_a
  mk_base
  # Changes of guest data the enabled bitmap would not record are refused, by name, unchanged.
  for cmd in "snapshot -a s1" "rebase -b base.qcow2 -F qcow2" "commit"; do
    cp a.qcow2 t.qcow2
    cp a.qcow2 q.qcow2
    "$DIMG" snapshot -c s1 t.qcow2 >/dev/null
    qemu-img snapshot -c s1 q.qcow2
    [ "$cmd" = commit ] && "$DIMG" rebase -u -b base.qcow2 -F qcow2 t.qcow2 >/dev/null
    cp t.qcow2 before.qcow2
    # shellcheck disable=SC2086
    run "$DIMG" $cmd t.qcow2
    if [ "$cmd" = commit ]; then
      # commit writes only into the base (no bitmaps) and empties t.qcow2: allowed.
      expect_rc 0 "$cmd"
      same_as_qemu "$cmd"
      continue
    fi
    expect_rc 1 "$cmd with an enabled bitmap"
    expect_one_error_line "bitmap 'b0' is enabled" "$cmd"
    cmp -s t.qcow2 before.qcow2 && pass || fail "$cmd: refused but the image changed"
  done
}

sec_disabled_bitmap() {
  mk_a
  mk_base
  # A disabled bitmap records nothing: writes go on, the bitmap stays consistent.
  cp a.qcow2 t.qcow2
  qemu-img bitmap --disable t.qcow2 b0
  run "$DIMG" rebase -b base.qcow2 -F qcow2 t.qcow2
  expect_rc 0 "rebase with only disabled bitmaps"
  c=$(qemu-img check t.qcow2 2>&1 | head -n 1 || true)
  [ "$c" = "No errors were found on the image." ] && pass || fail "rebase, disabled bitmaps: $c"
  qemu-img info t.qcow2 2>&1 | grep -q "lacking bitmap support" && fail "rebase: inconsistent" || pass
}

sec_in_use() {
  mk_a
  bitmap_dir
  # An inconsistent (in-use) bitmap cannot be resized: refused by name, as qemu-img does.
  cp a.qcow2 t.qcow2
  printf '\x03' | dd of=t.qcow2 bs=1 seek=$((dir + 15)) conv=notrunc status=none
  qemu-img info t.qcow2 | grep -q "in-use" && pass || fail "crafted in-use flag not seen by qemu"
  run "$DIMG" info t.qcow2
  expect_same "$T/out" <(qemu-img info t.qcow2) "info of an in-use bitmap"
  run "$DIMG" resize t.qcow2 +1M
  expect_rc 1 "resize with an in-use bitmap"
  expect_one_error_line "bitmap 'b0' is inconsistent" "resize with an in-use bitmap"
}

sec_damaged_dir() {
  mk_a
  bitmap_dir
  # A damaged directory: reading goes on, changes are refused (never dropped silently).
  cp a.qcow2 t.qcow2
  printf '\x07' | dd of=t.qcow2 bs=1 seek=$((dir + 16)) conv=notrunc status=none
  run "$DIMG" info t.qcow2
  expect_rc 0 "info with a damaged bitmap directory"
  run "$DIMG" snapshot -c s1 t.qcow2
  expect_rc 1 "snapshot -c with a damaged bitmap directory"
  expect_one_error_line "bitmaps cannot be kept" "damaged bitmap directory"
  run "$DIMG" check t.qcow2
  expect_rc 2 "check of a damaged bitmap directory (qemu-img cannot open it)"
  grep -q "^ERROR persistent dirty bitmaps: bitmap 'b0'" "$T/err" && pass || fail "check: $(cat "$T/err")"
}

sec_corrupt_table() {
  mk_a
  bitmap_dir
  # A bitmap table entry with reserved bits: a corruption for check, as for qemu-img.
  cp a.qcow2 t.qcow2
  tbl=$("$PY" -c 'import struct,sys; d=open(sys.argv[1],"rb").read(); print(struct.unpack(">Q",d[int(sys.argv[2]):int(sys.argv[2])+8])[0])' t.qcow2 "$dir")
  printf '\xff' | dd of=t.qcow2 bs=1 seek="$tbl" conv=notrunc status=none
  run "$DIMG" check t.qcow2
  expect_rc 2 "check of a corrupt bitmap table entry"
  grep -q "^ERROR bitmap table entry 0 of 'b0' is corrupt" "$T/err" && pass || fail "check: $(cat "$T/err")"
}

sec_refused_resize() {
  mk_a
  # A resize refused after the bitmaps were marked leaves them consistent.
  cp a.qcow2 t.qcow2
  "$DIMG" snapshot -c s1 t.qcow2 >/dev/null
  run "$DIMG" resize --shrink t.qcow2 50M
  expect_rc 1 "shrink with an internal snapshot"
  [ "$(bitmaps_json t.qcow2)" = "$(bitmaps_json a.qcow2)" ] && pass ||
    fail "refused resize left the bitmaps $(bitmaps_json t.qcow2)"
}

sections "$@"
finish

#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# test_snapshot.sh: `dimg snapshot` against qemu-img as the oracle: -l prints what
# `qemu-img snapshot -l` prints (qemu's snapshots and dimg's); snapshots dimg makes between
# qemu-io writes read back as taken (qemu-img convert -l, dimg convert -l, and after -a);
# -a/-d on qemu's snapshots and qemu-img -a/-d on dimg's leave qemu-img check clean; errors
# and hostile snapshot tables give one "dimg: ..." line.
source "$(dirname "$0")/lib.sh"
export TZ=UTC

# snap_raw IMG NAME OUT: the disk at snapshot NAME, as qemu-img sees it.
snap_raw() { qemu-img convert -f qcow2 -l "snapshot.name=$2" -O raw "$1" "$3"; }
# same_list IMG: dimg snapshot -l prints exactly what qemu-img snapshot -l prints.
same_list() {
  qemu-img snapshot -l "$1" >"$T/q.list"
  run "$DIMG" snapshot -l "$1"
  expect_rc 0 "dimg snapshot -l $1"
  expect_same "$T/q.list" "$T/out" "snapshot -l of $1"
}
clean() {
  run qemu-img check "$1"
  expect_rc 0 "qemu-img check $1 ($2)"
}

for compat in 1.1 0.10; do
  img=img-$compat.qcow2
  qemu-img create -q -f qcow2 -o compat=$compat "$img" 16M
  qemu-io -f qcow2 -c 'write -P 0x11 0 192k' -c 'write -P 0x12 5M 64k' "$img" >/dev/null
  qemu-img convert -O raw "$img" a.raw

  # dimg snapshots between qemu writes
  run "$DIMG" snapshot -c first "$img"
  expect_rc 0 "snapshot -c first ($compat)"
  [ ! -s "$T/out" ] && pass || fail "snapshot -c printed: $(cat "$T/out")"
  qemu-io -f qcow2 -c 'write -P 0x21 64k 64k' -c 'write -z 5M 64k' -c 'write -c -P 0x22 8M 64k' \
    "$img" >/dev/null
  clean "$img" "write after a dimg snapshot"
  qemu-img convert -O raw "$img" b.raw
  run "$DIMG" snapshot -c second-snapshot-with-a-long-name "$img"
  expect_rc 0 "snapshot -c second ($compat)"
  qemu-io -f qcow2 -c 'write -P 0x31 0 4k' "$img" >/dev/null
  qemu-img convert -O raw "$img" c.raw
  clean "$img" "two dimg snapshots"
  same_list "$img"

  snap_raw "$img" first s1.raw
  cmp -s s1.raw a.raw && pass || fail "first snapshot content changed ($compat)"
  snap_raw "$img" second-snapshot-with-a-long-name s2.raw
  cmp -s s2.raw b.raw && pass || fail "second snapshot content changed ($compat)"
  run "$DIMG" convert -l first -O raw "$img" d1.raw
  expect_rc 0 "dimg convert -l first"
  cmp -s d1.raw a.raw && pass || fail "dimg convert -l first differs ($compat)"
  run "$DIMG" convert -l 2 -O raw "$img" d2.raw
  expect_rc 0 "dimg convert -l by ID"
  cmp -s d2.raw b.raw && pass || fail "dimg convert -l 2 differs ($compat)"

  # apply and delete with dimg
  run "$DIMG" snapshot -a first "$img"
  expect_rc 0 "snapshot -a first"
  clean "$img" "after dimg -a"
  run qemu-img compare -q -F raw "$img" a.raw
  expect_rc 0 "disk after -a first"
  run "$DIMG" snapshot -d 1 "$img"
  expect_rc 0 "snapshot -d by ID"
  clean "$img" "after dimg -d"
  same_list "$img"

  # qemu-img applies and deletes what dimg made
  run qemu-img snapshot -a second-snapshot-with-a-long-name "$img"
  expect_rc 0 "qemu-img -a of a dimg snapshot"
  run qemu-img compare -q -F raw "$img" b.raw
  expect_rc 0 "qemu-img -a content"
  run qemu-img snapshot -d second-snapshot-with-a-long-name "$img"
  expect_rc 0 "qemu-img -d of a dimg snapshot"
  clean "$img" "after qemu-img -d"
  run "$DIMG" snapshot -l "$img"
  [ "$rc" -eq 0 ] && [ ! -s "$T/out" ] && pass || fail "-l of an image without snapshots"

  # qemu-img's snapshots, listed, applied and deleted by dimg
  qemu-img snapshot -c q1 "$img"
  qemu-io -f qcow2 -c 'write -P 0x41 1M 128k' "$img" >/dev/null
  qemu-img convert -O raw "$img" e.raw
  qemu-img snapshot -c q2 "$img"
  qemu-io -f qcow2 -c 'write -P 0x42 1M 4k' "$img" >/dev/null
  same_list "$img"
  run "$DIMG" snapshot -a q2 "$img"
  expect_rc 0 "dimg -a of a qemu snapshot"
  run qemu-img compare -q -F raw "$img" e.raw
  expect_rc 0 "dimg -a q2 content"
  run "$DIMG" snapshot -d q1 "$img"
  expect_rc 0 "dimg -d of a qemu snapshot"
  clean "$img" "after dimg -a/-d of qemu snapshots"
  same_list "$img"
done

# --- errors: one line each ---
qemu-img create -q -f qcow2 e.qcow2 1M
"$DIMG" snapshot -c x e.qcow2
run "$DIMG" snapshot -c x e.qcow2
expect_rc 1 "duplicate name"
expect_one_error_line "Could not create snapshot 'x'" "duplicate name"
run "$DIMG" snapshot -a nope e.qcow2
expect_rc 1 "apply of a missing snapshot"
expect_one_error_line "snapshot 'nope' not found" "apply of a missing snapshot"
run "$DIMG" snapshot -d nope e.qcow2
expect_rc 1 "delete of a missing snapshot"
expect_one_error_line "not found" "delete of a missing snapshot"
run "$DIMG" snapshot -l -c y e.qcow2
expect_rc 1 "mixed actions"
expect_one_error_line "cannot mix" "mixed actions"
run "$DIMG" snapshot -c "$(printf 'x%.0s' {1..300})" e.qcow2
expect_rc 1 "over-long name"
expect_one_error_line "names must be" "over-long name"
truncate -s 1M r.raw
run "$DIMG" snapshot -f raw -c x r.raw
expect_rc 1 "raw has no snapshots"
expect_one_error_line "does not support internal snapshots" "raw -c"
run "$DIMG" snapshot -f raw -l r.raw
[ "$rc" -eq 0 ] && [ ! -s "$T/out" ] && pass || fail "-l of raw prints nothing"
run "$DIMG" convert -l nope -O raw e.qcow2 n.raw
expect_rc 1 "convert -l of a missing snapshot"
expect_one_error_line "not found" "convert -l of a missing snapshot"
[ ! -e n.raw ] && [ ! -e n.raw.part ] && pass || fail "convert -l left a target behind"

# --- hostile snapshot tables ---
# On qemu's layout, where the snapshot table is the file's last cluster (dimg's snapshot
# commit writes a new refcount structure after it), so that lengths can run past the end.
qemu-img create -q -f qcow2 h.qcow2 1M && qemu-img snapshot -c x h.qcow2
hostile() { # NAME OFFSET_EXPR BYTES(hex) WORD [TRUNCATE_EXPR]
  cp h.qcow2 "$1.qcow2"
  local st; st=$((16#$(od -An -tx1 -j64 -N8 h.qcow2 | tr -d ' \n')))
  local off=$(($2))
  printf "$3" | dd of="$1.qcow2" bs=1 seek="$off" conv=notrunc status=none
  if [ -n "${5:-}" ]; then truncate -s $(($5)) "$1.qcow2"; fi
  run "$DIMG" snapshot -l "$1.qcow2"
  expect_rc 1 "hostile $1 -l"
  expect_one_error_line "$4" "hostile $1"
  run "$DIMG" snapshot -d x "$1.qcow2"
  expect_rc 1 "hostile $1 -d"
  expect_one_error_line "$4" "hostile $1 -d"
}
hostile count 60 '\x00\x01\x00\x00' "nb_snapshots\|snapshot table"
hostile offset 64 '\x00\x00\x10\x00\x00\x00\x00\x00' "snapshot table"
hostile extra 'st+36' '\x00\x10\x00\x00' "extra data"
hostile extra2 'st+36' '\x00\x00\x03\xe8' "snapshot table" 'st+64' # runs past the end
hostile namelen 'st+14' '\xff\xff' "snapshot table"
hostile idlen 'st+12' '\xff\xff' "snapshot table"

finish

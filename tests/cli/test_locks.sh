#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# test_locks.sh: dimg and QEMU keep out of each other's images through QEMU's OFD locks.
# While qemu-io holds an image read-write, dimg refuses to resize, snapshot, check -r, append,
# commit into it or convert over it (one "image is in use" line; the file byte-for-byte
# unchanged), and read-only commands still work with one warning (none with -U; output the
# same either way). The other way round, a running dimg job makes qemu-img resize and qemu-io
# writes fail on its source and qemu-img info fail on its target, and a second dimg is refused
# too; once the job is gone the locks are gone.
source "$(dirname "$0")/lib.sh"

HOLDERS=()
cleanup_holders() {
  local p
  for p in "${HOLDERS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  HOLDERS=()
}
trap 'cleanup_holders; rm -rf "$T"' EXIT

# hold FMT FILE: qemu-io keeps FILE open read-write until released; waits for its locks.
hold() {
  qemu-io -f "$1" -c 'sleep 600000' "$2" >/dev/null 2>"$T/hold.err" &
  HOLDERS+=($!)
  local i ino; ino=$(stat -c %i "$2")
  for i in $(seq 200); do
    grep -q "OFDLCK .*:$ino 100 " /proc/locks && return 0
    sleep 0.05
  done
  fail "qemu-io never locked $2: $(cat "$T/hold.err")"
}

# refused DESC CMD...: dimg exits 1 with one "image is in use" line.
refused() {
  local desc=$1; shift
  run "$@"
  expect_rc 1 "$desc"
  expect_one_error_line "image is in use" "$desc"
}

qemu-img create -q -f qcow2 a.qcow2 16M
qemu-io -f qcow2 -c 'write -P 5 0 1M' -c 'write -P 6 8M 64k' a.qcow2 >/dev/null
truncate -s 4M b.raw
qemu-io -f raw -c 'write -P 7 0 1M' b.raw >/dev/null
qemu-img create -q -f qcow2 -b a.qcow2 -F qcow2 top.qcow2
qemu-io -f qcow2 -c 'write -P 8 64k 64k' top.qcow2 >/dev/null
sum_a=$(md5sum <a.qcow2)
sum_b=$(md5sum <b.raw)
sum_top=$(md5sum <top.qcow2)

# ---- qemu-io holds a.qcow2 ----
hold qcow2 a.qcow2
refused "resize of a held qcow2" "$DIMG" resize a.qcow2 32M
refused "snapshot -c on a held qcow2" "$DIMG" snapshot -c s1 a.qcow2
refused "check -r leaks on a held qcow2" "$DIMG" check -r leaks a.qcow2
refused "convert over a held image" "$DIMG" convert -O qcow2 b.raw a.qcow2
[ -e a.qcow2.part ] && fail "convert left a.qcow2.part" || pass
refused "create over a held image" "$DIMG" create -f qcow2 a.qcow2 1M
refused "commit into a held base" "$DIMG" commit top.qcow2
[ "$(md5sum <top.qcow2)" = "$sum_top" ] && pass || fail "refused commit changed the overlay"

# Read-only inspection: works, one warning; -U: same output, no warning.
run "$DIMG" info -U a.qcow2
expect_rc 0 "info -U of a held image"
cp "$T/out" info_u.txt
[ -s "$T/err" ] && fail "info -U printed: $(cat "$T/err")" || pass
run "$DIMG" info a.qcow2
expect_rc 0 "info of a held image"
expect_same info_u.txt "$T/out" "info with and without -U"
if [ "$(wc -l <"$T/err")" -eq 1 ] && grep -q '^dimg: warning: image is in use: a.qcow2' "$T/err"; then
  pass
else
  fail "info of a held image: want one warning, got: $(cat "$T/err")"
fi
run "$DIMG" info --backing-chain top.qcow2
expect_rc 0 "info --backing-chain with the base held"
grep -q 'warning: image is in use: .*a.qcow2' "$T/err" && pass || fail "no warning for the held base"
run "$DIMG" map --output=json a.qcow2
expect_rc 0 "map of a held image"
qemu-img map -U --output=json a.qcow2 >map_q.json
expect_same map_q.json "$T/out" "map of a held image against qemu-img map -U"
run "$DIMG" check -U a.qcow2
expect_rc 0 "check -U of a held image"
run "$DIMG" compare -U a.qcow2 a.qcow2
expect_rc 0 "compare -U of a held image with itself"
run "$DIMG" snapshot -l -U a.qcow2
expect_rc 0 "snapshot -l -U of a held image"
cleanup_holders
[ "$(md5sum <a.qcow2)" = "$sum_a" ] && pass || fail "a.qcow2 changed while held"
qemu-img snapshot -l a.qcow2 | grep -q s1 && fail "snapshot s1 was created" || pass

# ---- qemu-io holds a raw file ----
hold raw b.raw
refused "append to a held raw" "$DIMG" append b.raw 1M
refused "resize of a held raw" "$DIMG" resize -f raw b.raw 8M
run "$DIMG" append -o b2.raw b.raw 1M
expect_rc 0 "append -o reads a held raw (with a warning)"
grep -q 'warning: image is in use' "$T/err" && pass || fail "append -o: no warning"
run "$DIMG" convert -f raw -O qcow2 b.raw fromheld.qcow2
expect_rc 0 "convert from a held raw"
[ "$(grep -c 'warning: image is in use' "$T/err")" -eq 1 ] && pass || fail "convert from a held raw: want one warning: $(cat "$T/err")"
qemu-img compare -U -f raw -F qcow2 b.raw fromheld.qcow2 >/dev/null && pass || fail "convert from a held raw: content differs"
cleanup_holders
[ "$(md5sum <b.raw)" = "$sum_b" ] && pass || fail "b.raw changed while held"

# ---- the files an image names are locked too: a vmdk's extent ----
qemu-img create -q -f vmdk -o subformat=monolithicFlat v.vmdk 24M
qemu-io -f vmdk -c 'write -P 6 0 24M' v.vmdk >/dev/null
set +e
DIMG_TEST_SLOW_MS=200 "$DIMG" convert -O raw v.vmdk v.raw >/dev/null 2>&1 &
conv=$!
set -e
for i in $(seq 200); do [ -e v.raw.part ] && break; sleep 0.05; done
run qemu-io -f raw -c 'write 0 4k' v-flat.vmdk
grep -q 'lock' "$T/err" && pass || fail "qemu-io write to the extent of a vmdk dimg reads was not refused: $(cat "$T/out" "$T/err")"
kill -INT $conv
wait $conv || true

# ---- a dimg job holds its source and target ----
dd if=/dev/urandom of=src.raw bs=1M count=24 status=none
"$DIMG" convert -O qcow2 src.raw src.qcow2
sum_src=$(md5sum <src.qcow2)
set +e
DIMG_TEST_SLOW_MS=200 "$DIMG" convert -O qcow2 src.qcow2 dst.qcow2 >/dev/null 2>"$T/conv.err" &
conv=$!
set -e
for i in $(seq 200); do [ -e dst.qcow2.part ] && break; sleep 0.05; done
sleep 0.2
run qemu-img resize src.qcow2 +1M
[ "$rc" -ne 0 ] && grep -q 'lock' "$T/err" && pass || fail "qemu-img resize of dimg's source: rc $rc $(cat "$T/err")"
run qemu-io -f qcow2 -c 'write 0 4k' src.qcow2
grep -q 'lock' "$T/err" && pass || fail "qemu-io write to dimg's source was not refused: $(cat "$T/out" "$T/err")"
run qemu-img info src.qcow2
expect_rc 0 "qemu-img info of dimg's source (a reader shares reading)"
run qemu-img info dst.qcow2.part
[ "$rc" -ne 0 ] && grep -q 'lock' "$T/err" && pass || fail "qemu-img info of dimg's target: rc $rc"
refused "a second dimg resizing the source" "$DIMG" resize src.qcow2 64M
kill -0 $conv 2>/dev/null && pass || fail "the convert ended before the checks (too fast?)"
kill -INT $conv
wait $conv || true
[ "$(md5sum <src.qcow2)" = "$sum_src" ] && pass || fail "source changed"
run qemu-img resize src.qcow2 +1M
expect_rc 0 "qemu-img resize once dimg is gone"

finish

#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# test_convert_threads.sh: compressed convert through the threaded pipeline (-m 4) against the
# one-thread path (-m 1) and qemu-img, for qcow2 (zlib and zstd), qcow and streamOptimized
# vmdk: the content reads as the source (qemu-img compare), qemu-img check is clean, qcow2
# and qcow output is byte-identical to the one-thread output (the writes keep their order),
# the output is no more than 2% larger than qemu-img's (the source mixes random data, text,
# zeros and near-random data that compresses a little; random parts are stored as is by both
# tools, so the sizes do not vary from run to run), and an interrupted threaded convert
# leaves neither DST nor DST.part. Decompressing converts (-m 4 reads ahead on threads) give
# the source back, and a corrupt compressed cluster fails cleanly. No timing is asserted.
source "$(dirname "$0")/lib.sh"

# Source: random data, text, written zeros, holes, and a tail shorter than a cluster.
size=$((24 * 1024 * 1024 + 3584))
truncate -s $size src.raw
head -c 4M /dev/urandom | dd of=src.raw bs=1M seek=0 conv=notrunc status=none
{ yes 'the quick brown fox jumps over the lazy dog 0123456789' || true; } | head -c 6M >text
dd if=text of=src.raw bs=1M seek=5 conv=notrunc status=none
dd if=/dev/zero of=src.raw bs=1M seek=12 count=2 conv=notrunc status=none
head -c 100000 /dev/urandom | dd of=src.raw bs=1 seek=$((size - 100000)) conv=notrunc status=none
# A cluster that is zero except for one byte, and a run of zeros inside data.
printf 'x' | dd of=src.raw bs=1 seek=$((16 * 1024 * 1024 + 70000)) conv=notrunc status=none
# Data that looks random to a quick glance but compresses (the incompressible-data estimate
# must not store it as is), 64 KiB of each kind at 18 MiB: two byte ranges in two halves, a
# 2 KiB block repeated, an 8 KiB block repeated with a byte changed every 97, bytes from 200
# values, and random data with every 16th byte zero.
python3 -c "
import os, random, sys
r = random.Random(7)
def rnd(n, lo=0, hi=256): return bytes(r.randrange(lo, hi) for _ in range(n))
k = 65536
far = bytearray(rnd(8192) * 8)
for i in range(0, k, 97): far[i] ^= 1
z16 = bytearray(rnd(k))
for i in range(0, k, 16): z16[i] = 0
parts = [rnd(k // 2, 0, 128) + rnd(k // 2, 128, 256), rnd(2048) * 32, bytes(far), rnd(k, 0, 200), bytes(z16)]
f = open('src.raw', 'r+b'); f.seek(18 << 20); f.write(b''.join(parts))"

size_of() { stat -c %s "$1"; }

# check_fmt NAME FMT [OPTS]: threaded vs one-thread vs qemu-img.
check_fmt() {
  local name=$1 fmt=$2 opts=${3:-} c=-c
  local o=()
  [ -n "$opts" ] && o=(-o "$opts")
  [ "$fmt" = vmdk ] && c=
  run "$DIMG" convert -m 4 $c -O "$fmt" "${o[@]}" src.raw "$name.m4"
  expect_rc 0 "$name: threaded convert"
  run "$DIMG" convert -m 1 $c -O "$fmt" "${o[@]}" src.raw "$name.m1"
  expect_rc 0 "$name: one-thread convert"
  qemu-img compare -q -f raw -F "$fmt" src.raw "$name.m4" && pass ||
    fail "$name: threaded output reads differently from the source"
  qemu-img compare -q -f raw -F "$fmt" src.raw "$name.m1" && pass ||
    fail "$name: one-thread output reads differently from the source"
  "$DIMG" compare -f raw -F "$fmt" src.raw "$name.m4" >/dev/null && pass ||
    fail "$name: dimg reads its threaded output differently"
  if [ "$fmt" != qcow ]; then
    qemu-img check -q -f "$fmt" "$name.m4" && pass || fail "$name: qemu-img check of the threaded output"
  fi
  if [ "$fmt" = vmdk ]; then
    # The descriptor carries a random content ID; the grains after it must match.
    cmp -s <(tail -c +65537 "$name.m4") <(tail -c +65537 "$name.m1") && pass ||
      fail "$name: threaded grains differ from the one-thread ones"
  else
    cmp -s "$name.m4" "$name.m1" && pass || fail "$name: threaded output is not byte-identical"
    if [ "$name" = q2 ]; then # two threads: the default on a two-core machine
      run "$DIMG" convert -m 2 $c -O "$fmt" "${o[@]}" src.raw "$name.m2"
      expect_rc 0 "$name: two-thread convert"
      cmp -s "$name.m2" "$name.m1" && pass || fail "$name: -m 2 output is not byte-identical"
      # The near-random clusters at 18 MiB are stored compressed (qemu-img's map gives no
      # host offset for compressed clusters), the random ones at 0 as they are.
      qemu-img map --output=json "$name.m4" | python3 -c "
import json, sys
m = json.load(sys.stdin)
def host(off):
    return [e for e in m if e['start'] <= off < e['start'] + e['length']][0].get('offset')
bad = [o for o in range(18 << 20, (18 << 20) + 5 * 65536, 65536) if host(o) is not None]
sys.exit(1 if bad or host(0) is None else 0)" && pass ||
        fail "$name: near-random clusters stored as is, or random ones compressed"
    fi
  fi
  # qemu-img 7.2 exits 1 after a complete, correct `convert -c -O qcow` (no message).
  qemu-img convert $c -O "$fmt" "${o[@]}" src.raw "$name.q" || [ "$fmt" = qcow ]
  local d q
  d=$(size_of "$name.m4") q=$(size_of "$name.q")
  [ $((d * 100)) -le $((q * 102)) ] && pass || fail "$name: $d bytes, more than 2% over qemu-img's $q"
  # Nothing left beside the output.
  [ -e "$name.m4.part" ] && fail "$name: .part left behind" || pass
}

check_fmt q2 qcow2
check_fmt q2z qcow2 compression_type=zstd
check_fmt q1 qcow
check_fmt vs vmdk subformat=streamOptimized
# Small clusters: many per batch; big clusters: fewer clusters than two per thread.
check_fmt q2s qcow2 cluster_size=4096
check_fmt q2b qcow2 cluster_size=2M

# Decompressing converts read compressed runs ahead on several threads (-m 4): the raw output
# equals the source, as with one thread.
qemu-img convert -c -O qcow2 src.raw dz.qcow2
qemu-img convert -O vmdk -o subformat=streamOptimized src.raw dz.vmdk
qemu-img convert -c -O qcow src.raw dz.qcow || true # exits 1 although complete (see above)
for f in dz.qcow2 dz.vmdk dz.qcow; do
  for m in 4 1; do
    run "$DIMG" convert -m $m -O raw "$f" "$f.m$m.raw"
    expect_rc 0 "$f -> raw with -m $m"
    cmp -s src.raw "$f.m$m.raw" && pass || fail "$f -> raw with -m $m differs from the source"
  done
done
# A corrupt compressed cluster read by a worker: one error line, no output left.
cp dz.qcow2 broken.qcow2
off=$(qemu-img map --output=json dz.qcow2 | sed -n 's/.*"start": 0,.*"offset": \([0-9]*\).*/\1/p')
off=${off:-$((1024 * 1024))}
python3 -c "
import sys
f = open('broken.qcow2', 'r+b'); f.seek(int(sys.argv[1]) + 4194304 + 1024); f.write(b'\xff' * 8192)" "$off"
run "$DIMG" convert -m 4 -O raw broken.qcow2 bad.raw
if [ $rc -eq 0 ]; then
  fail "corrupt compressed cluster read without error"
else
  expect_one_error_line "" "corrupt compressed cluster, -m 4"
  [ -e bad.raw ] || [ -e bad.raw.part ] && fail "corrupt source: output left behind" || pass
fi

# A target that takes no split writes (vdi has no compression): -m is harmless.
run "$DIMG" convert -m 4 -O vdi src.raw v.vdi
expect_rc 0 "-m with an uncompressed target"
qemu-img compare -q -f raw src.raw v.vdi && pass || fail "-m vdi output reads differently"

# Bad -m values are refused with one line.
for m in 0 65 x -1; do
  run "$DIMG" convert -m "$m" -c -O qcow2 src.raw bad.qcow2
  expect_rc 1 "-m $m"
  expect_one_error_line "-m" "-m $m"
  [ -e bad.qcow2 ] && fail "-m $m created the target"
done

# Interrupted threaded converts leave nothing (throttled so that the signal lands mid-way).
head -c 64M /dev/urandom >big.raw
for fmt in qcow2 vmdk; do
  c=-c o=()
  [ "$fmt" = vmdk ] && c= o=(-o subformat=streamOptimized)
  set +e
  # Each progress step sleeps 200 ms (a full run takes seconds): the signal is sent once the
  # temporary target exists, so it lands mid-way however the convert batches its progress.
  DIMG_TEST_SLOW_MS=200 "$DIMG" convert -m 3 $c -O "$fmt" "${o[@]}" big.raw "big.$fmt" >"$T/out" 2>"$T/err" &
  pid=$!
  for _ in $(seq 100); do
    ls big."$fmt"*.part >/dev/null 2>&1 && break
    sleep 0.05
  done
  sleep 0.2
  kill -INT $pid
  wait $pid
  rc=$?
  set -e
  expect_rc 130 "$fmt: interrupted threaded convert"
  expect_one_error_line "cancelled" "$fmt: interrupted threaded convert"
  ls big."$fmt"* >/dev/null 2>&1 && fail "$fmt: interrupted convert left $(ls big."$fmt"*)" || pass
done

finish

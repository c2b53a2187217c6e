#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# test_bounded.sh: work and memory bounded by the file, not by the virtual size (issue 15,
# items 31-33). Small hostile images are built here (printf, python3, qemu-img); each command
# must finish within seconds under an address-space cap, with correct output or one error line.
# shellcheck source=tests/cli/lib.sh
# One ctest entry per bound (cli.test_bounded.SECTION), each on its own files:
# ctest-sections: map_huge map_streams rebase_huge member_2pib vmdk_alias vdi_compact zstd_window
# ctest-sections: luks_bound sigterm
source "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || { echo "SKIP: no python3"; exit 77; }
command -v prlimit >/dev/null || { echo "SKIP: no prlimit"; exit 77; }
# The cap proves allocations stay bounded; AddressSanitizer reserves more than it allows.
cap=(prlimit --as=$((512 << 20)))
[ -z "${DIMG_ASAN:-}" ] || cap=()

# mk_big: big.qcow2, 2^61 bytes (2 MiB clusters: a 32 MiB L1) with data at 0 and at 1 EiB.
mk_big() {
  qcreate -f qcow2 -o cluster_size=2M big.qcow2 2E
  qemu-io -c 'write -P 1 0 64k' -c 'write -P 2 1E 64k' big.qcow2 >/dev/null
}
# mk_checker FILE: 1 TiB, 64 KiB clusters; every L1 entry aliases one L2 table whose entries
# alternate between one data cluster and unallocated: 8 Mi runs, 16 Mi map lines from a
# 384 KiB file.
mk_checker() {
  qcreate -f qcow2 "$1" 1T
  python3 - "$1" <<'PY'
import struct, sys
f = open(sys.argv[1], 'r+b')
L2, DATA = 0x40000, 0x50000
f.seek(0x24); l1n, = struct.unpack('>I', f.read(4))
f.seek(0x28); l1off, = struct.unpack('>Q', f.read(8))
f.seek(l1off); f.write(struct.pack('>Q', L2 | 1 << 63) * l1n)
f.seek(L2); f.write(b''.join(struct.pack('>Q', DATA | 1 << 63 if i % 2 == 0 else 0) for i in range(8192)))
f.seek(DATA); f.write(b'\x5a' * 0x10000)
PY
}

sec_map_huge() {
  # --- 31: map answers a 4 EiB ZERO extent and an empty L1 range in one step ---
  printf '# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\ncreateType="monolithicFlat"\nRW 9007199254740992 ZERO\n' >zero.vmdk
  run timeout 10 "${cap[@]}" "$DIMG" map --output=json zero.vmdk
  expect_rc 0 "map of a 4 EiB zero extent"
  printf '[{ "start": 0, "length": 4611686018427387904, "depth": 0, "present": true, "zero": true, "data": false}]\n' >want.json
  expect_same "$T/out" want.json "map of a 4 EiB zero extent"

  # A qcow2 of 2^61 bytes (2 MiB clusters: a 32 MiB L1) with data at 0 and at 1 EiB.
  mk_big
  run timeout 10 "${cap[@]}" "$DIMG" map --output=json big.qcow2
  expect_rc 0 "map of a 2^61-byte qcow2"
  # qemu-img needs minutes for this one: the runs are checked by hand (data, hole, data, hole).
  d0=$(sed -n 1p "$T/out" | grep -c '"start": 0, "length": 2097152, "depth": 0, "present": true, "zero": false, "data": true' || true)
  d1=$(sed -n 3p "$T/out" | grep -c '"start": 1152921504606846976, "length": 2097152, .*"data": true' || true)
  hole=$(sed -n 4p "$T/out" | grep -c '"length": 1152921504604749824, "depth": 0, "present": false' || true)
  if [ "$(wc -l <"$T/out")" -eq 4 ] && [ "$d0$d1$hole" = 111 ]; then pass; else
    fail "map of a 2^61-byte qcow2: $(head -c 600 "$T/out")"; fi
}

sec_map_streams() {
  # --- 31: map streams: runs reach stdout as they are found, memory stays flat ---
  mk_checker checker.qcow2
  set +e
  timeout 10 "${cap[@]}" "$DIMG" map checker.qcow2 2>"$T/err" | head -n 4 >"$T/out"
  set -e
  qemu-img map --max-length=1M checker.qcow2 | head -n 4 >"$T/q.txt"
  expect_same "$T/out" "$T/q.txt" "map streams its first lines (vs qemu-img)"
  set +e
  timeout 10 "${cap[@]}" "$DIMG" map --output=json checker.qcow2 2>/dev/null | head -c 4000000 | wc -c >"$T/n"
  set -e
  [ "$(cat "$T/n")" -eq 4000000 ] && pass || fail "map --output=json streamed only $(cat "$T/n") bytes in 10 s"
}

sec_rebase_huge() {
  # --- 31: rebase over the empty 2^61-byte range skips it in one step ---
  mk_big
  qcreate -f qcow2 -o cluster_size=2M -b big.qcow2 -F qcow2 top.qcow2
  run timeout 20 "${cap[@]}" "$DIMG" rebase -b "" top.qcow2
  expect_rc 0 "rebase -b '' of a 2^61-byte overlay"
  qemu-io -c 'read -P 1 0 64k' -c 'read -P 2 1E 64k' -c 'read -P 0 64k 64k' top.qcow2 >"$T/q.txt"
  [ "$(grep -c '^read' "$T/q.txt")" -eq 3 ] && ! grep -q "Pattern verification failed" "$T/q.txt" &&
    [ -z "$(qemu-img info top.qcow2 | grep 'backing file:')" ] && pass ||
    fail "rebase -b '' of a 2^61-byte overlay: $(cat "$T/q.txt")"
}

sec_member_2pib() {
  # --- 31: an archive's streamOptimized member of 2 PiB with two grains converts in two steps ---
  python3 - s.vmdk <<'PY'
import struct, sys, zlib
cap = 1 << 42  # sectors: 2 PiB
h = bytearray(512)
struct.pack_into('<4sIIQQQQIQQQ', h, 0, b'KDMV', 3, 0x30001, cap, 128, 1, 1, 512, 0, (1 << 64) - 1, 2)
h[73:77] = b'\n \r\n'
struct.pack_into('<H', h, 77, 1)
d = b'# Disk DescriptorFile\nversion=1\nCID=1\nparentCID=ffffffff\ncreateType="streamOptimized"\nRW %d SPARSE "x.vmdk"\n' % cap
body = bytes(h) + d.ljust(512, b'\0')
for i, o in enumerate([0, 1 << 50]):
    z = zlib.compress(bytes([i + 1]) * 65536)
    m = struct.pack('<QI', o // 512, len(z)) + z
    body += m.ljust((len(m) + 511) // 512 * 512, b'\0')
open(sys.argv[1], 'wb').write(body + bytes(512))
PY
  tar cf s.ova s.vmdk
  run timeout 20 "${cap[@]}" "$DIMG" convert -O qcow2 s.ova/s.vmdk s.qcow2
  expect_rc 0 "convert a 2 PiB streamOptimized member"
  qemu-io -c 'read -P 1 0 64k' -c 'read -P 2 1P 64k' -c 'read -P 0 64k 64k' s.qcow2 >"$T/q.txt" 2>&1 || true
  [ "$(grep -c '^read' "$T/q.txt")" -eq 3 ] && ! grep -q "Pattern verification failed" "$T/q.txt" && pass ||
    fail "2 PiB member converted: $(cat "$T/q.txt")"
}

sec_vmdk_alias() {
  # --- 32: a vmdk whose 131072 grain-directory entries all name one grain table ---
  # (monolithicSparse; 'tail': streamOptimized with the directory at the end, opened for writing)
  mk_alias() {
    python3 - "$1" "$2" <<'PY'
import struct, sys, zlib
out, kind = sys.argv[1], sys.argv[2]
ngd = 131072
cap = ngd * 512 * 128
gd_sec, gt_sec = 21, 21 + ngd * 4 // 512
grain_sec = gt_sec + 4
stream = kind == 'tail'
h = bytearray(512)
struct.pack_into('<4sIIQQQQIQQQ', h, 0, b'KDMV', 3 if stream else 1, 0x30001 if stream else 1,
                 cap, 128, 1, 20, 512, 0, gd_sec, grain_sec)
h[73:77] = b'\n \r\n'
struct.pack_into('<H', h, 77, 1 if stream else 0)
ct = b'streamOptimized' if stream else b'monolithicSparse'
d = b'# Disk DescriptorFile\nversion=1\nCID=1\nparentCID=ffffffff\ncreateType="%s"\nRW %d SPARSE "x.vmdk"\n' % (ct, cap)
gd = struct.pack('<I', gt_sec) * ngd
if stream:
    z = zlib.compress(b'\x33' * 65536)
    m = struct.pack('<QI', 0, len(z)) + z
    grain = m.ljust((len(m) + 511) // 512 * 512, b'\0')
    gt = struct.pack('<I', grain_sec) + bytes(2044)
else:
    grain = b'\x33' * 65536
    gt = struct.pack('<I', grain_sec) * 512
hdr = bytes(h)
if stream:  # the directory's place is in the footer, the header says "at the end"
    struct.pack_into('<Q', h, 56, (1 << 64) - 1)
body = bytes(h) + d.ljust(20 * 512, b'\0') + gd + gt + grain
if stream:
    body += struct.pack('<QII', 1, 0, 3).ljust(512, b'\0') + hdr + bytes(512)
open(out, 'wb').write(body)
PY
  }
  mk_alias alias.vmdk data
  run timeout 10 "${cap[@]}" "$DIMG" layout alias.vmdk
  expect_rc 0 "layout of a vmdk with aliased grain tables"
  grep -Eq '^  grain-table +2048 bytes' "$T/out" && pass || fail "layout counts the shared table once: $(tail -6 "$T/out")"
  run timeout 10 "${cap[@]}" "$DIMG" check alias.vmdk
  expect_rc 2 "check of a vmdk with aliased grain tables"
  grep -q "grain directory entry 1 points at the grain table of entry 0" "$T/err" &&
    grep -q "131063 more grain directory entries point at another entry's grain table" "$T/err" &&
    [ "$(wc -l <"$T/err")" -lt 1000 ] && pass || fail "check of aliased tables: $(head -c 600 "$T/err")"
  mk_alias talias.vmdk tail
  cap200=(prlimit --as=$((200 << 20)))
  [ -z "${DIMG_ASAN:-}" ] || cap200=() # ASan reserves its shadow memory past any such cap
  run timeout 10 "${cap200[@]}" "$DIMG" rebase -b "" talias.vmdk
  [ -n "${DIMG_ASAN:-}" ] || {
    expect_rc 1 "rebase of a stream vmdk with aliased grain tables"
    expect_one_error_line "the image is damaged: grain directory entries 0 and 1 share a grain table" \
      "rebase of a stream vmdk with aliased grain tables"
  }
}

sec_vdi_compact() {
  # --- 32: vdi compact with a block-map entry far past the end of the file ---
  qcreate -f vdi v.vdi 64M
  qemu-io -f vdi -c 'write -P 7 0 1M' v.vdi >/dev/null
  python3 - v.vdi <<'PY'
import struct, sys
f = open(sys.argv[1], 'r+b')
f.seek(0x154); bmap, = struct.unpack('<I', f.read(4))
f.seek(bmap); f.write(struct.pack('<I', 0xfffffff0))
PY
  cp v.vdi v0.vdi
  run timeout 10 "${cap[@]}" "$DIMG" compact v.vdi
  expect_rc 1 "compact of a vdi with an entry past the end"
  expect_one_error_line "image is damaged: block map entry 0 (4294967280) lies past the end" \
    "compact of a vdi with an entry past the end"
  cmp -s v.vdi v0.vdi && pass || fail "compact changed the damaged vdi"
}

sec_zstd_window() {
  # --- 32: a zstd cluster whose frame asks for a 2^27 window (128 MiB per reading thread) ---
  qcreate -f raw zsrc.raw 1M
  qemu-io -f raw -c 'write -P 0x5a 0 64k' -c 'write -P 0x33 64k 64k' zsrc.raw >/dev/null
  qemu-img convert -c -O qcow2 -o compression_type=zstd zsrc.raw z.qcow2
  run "$DIMG" convert -O raw z.qcow2 z.raw
  expect_rc 0 "convert of a zstd image"
  cmp -s z.raw zsrc.raw && pass || fail "zstd image converted wrong"
  python3 - z.qcow2 <<'PY'
import struct, sys
f = open(sys.argv[1], 'r+b')
f.seek(0x28); l1, = struct.unpack('>Q', f.read(8))
f.seek(l1); l2, = struct.unpack('>Q', f.read(8))
f.seek(l2 & 0x00fffffffffffe00); e, = struct.unpack('>Q', f.read(8))
assert e >> 62 == 1, "cluster 0 is not compressed"
coff = e & ((1 << 54) - 1)
# A frame without a content size whose window descriptor says 2^27 (exponent 17), holding
# one RLE block of 65536 bytes of 0x5a: valid zstd, but its window is 2048 times the cluster.
frame = b'\x28\xb5\x2f\xfd\x00' + bytes([17 << 3]) + (1 | 1 << 1 | 65536 << 3).to_bytes(3, 'little') + b'\x5a'
f.seek(coff); f.write(frame)
PY
  rm -f z.raw
  run timeout 10 "${cap[@]}" "$DIMG" convert -O raw z.qcow2 z.raw
  expect_rc 1 "convert of a zstd cluster with a 2^27 window"
  expect_one_error_line "the image is damaged: compressed cluster at 0x[0-9a-f]* asks for a zstd window larger than a cluster" \
    "convert of a zstd cluster with a 2^27 window"
}

sec_luks_bound() {
  # --- 33: LUKS: the PBKDF2 work of one unlock is bounded (2^25 iterations) unless --force-unlock ---
  printf 'right' >pw; printf 'wrong' >badpw; chmod 600 pw badpw
  qcreate -f qcow2 --object secret,id=s0,data=right -o encrypt.format=luks,encrypt.key-secret=s0,encrypt.iter-time=10 l.qcow2 1M
  qemu-io --object secret,id=s0,data=right --image-opts "driver=qcow2,file.filename=l.qcow2,encrypt.key-secret=s0" \
    -c 'write -P 0x61 0 64k' >/dev/null
  # slots FILE FIRST: key slots FIRST..7 active at 2^25 iterations each (8 such slots cost a
  # wrong password 13 minutes on a slow machine); slot 0 stays the real, cheap one.
  slots() {
    python3 - "$1" "$2" <<'PY'
import struct, sys
f = open(sys.argv[1], 'r+b'); d = f.read()
at = d.find(b'LUKS\xba\xbe')
for i in range(int(sys.argv[2]), 8):
    f.seek(at + 208 + 48 * i); f.write(struct.pack('>II', 0x00AC71F3, 1 << 25))
PY
  }
  cp l.qcow2 l1.qcow2; slots l1.qcow2 1
  cp l.qcow2 l0.qcow2; slots l0.qcow2 0
  run timeout 20 "$DIMG" convert --password-file pw -O raw l1.qcow2 l1.raw
  expect_rc 0 "LUKS: the right password in the cheap slot 0 still opens"
  qemu-io -f raw -c 'read -P 0x61 0 64k' l1.raw | grep -q '^read 65536' && pass || fail "LUKS: data read wrong"
  for f in l1 l0; do
    want=1; [ $f = l0 ] && want=0
    S=$(date +%s)
    run timeout 20 "$DIMG" convert --password-file badpw -O raw $f.qcow2 $f.bad.raw
    expect_rc 1 "LUKS $f: wrong password over the bound"
    expect_one_error_line "LUKS key slot $want needs 33554432 + [0-9]* PBKDF2 iterations, more than the 33554432 one unlock may spend .*--force-unlock" \
      "LUKS $f: wrong password over the bound"
    [ $(($(date +%s) - S)) -le 5 ] && pass || fail "LUKS $f: the refusal took $(($(date +%s) - S)) s"
  done
  # --force-unlock lifts the bound: the slots are tried (still working after 3 s). Then killed:
  # dimg does not stop on SIGTERM inside a key derivation, so a plain `timeout 3` waited for all
  # eight slots of 2^25 iterations (2 minutes, 10 in a sanitizer build). KILL at 3 s (exit 137)
  # is the same answer as timeout's 124: still running.
  run timeout -s KILL 3 "$DIMG" --force-unlock convert --password-file badpw -O raw l0.qcow2 l0.bad.raw
  [ "$rc" -ne 137 ] || rc=124
  expect_rc 124 "LUKS: --force-unlock tries the slow slots"
}

sec_sigterm() {
  # --- 31: SIGTERM stops the long walks of the checkerboard image within a second ---
  mk_checker checker.qcow2
  # stopped SIG CMD...: CMD runs 2 s, gets SIG, must be gone within 1 s (2 s allowed) with 128+SIG. (SIGTERM:
  # a non-interactive shell starts background commands with SIGINT ignored; timeout forwards
  # the signal and keeps a command that ignores it from hanging the test.)
  # The walks take minutes unstopped; the cleanup after the signal gets 10 s (a loaded machine
  # or a sanitizer build is several times slower; timeout's -k kills it once that grace is over,
  # which would leave its .part behind). Not a timing measurement: a bound that separates
  # "stopped" from "ran on".
  grace=10 limit=10000
  stopped() {
    local sig=$1; shift
    timeout -k "$grace" 30 "$@" >/dev/null 2>"$T/err" &
    local pid=$! t0 rc
    sleep 2
    kill -"$sig" $pid
    t0=$(date +%s%N)
    set +e; wait $pid; rc=$?; set -e
    local ms=$((($(date +%s%N) - t0) / 1000000))
    if [ "$ms" -le "$limit" ] && [ "$rc" -ge 128 ]; then pass; else # a second, plus slack for a loaded machine
      fail "$* after SIG$sig: exit $rc after $ms ms"; fi
  }
  stopped TERM "$DIMG" map checker.qcow2
  stopped TERM "$DIMG" compare checker.qcow2 checker.qcow2
  stopped TERM "$DIMG" convert -O qcow2 checker.qcow2 conv.qcow2
  [ ! -e conv.qcow2 ] && [ ! -e conv.qcow2.part ] && pass || fail "a cancelled convert left files"
  stopped TERM "$DIMG" check checker.qcow2
}

sections "$@"
finish

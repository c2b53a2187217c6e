#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# test_nbd.sh: images over NBD, with real servers this test starts and stops. qemu-nbd serves
# a qcow2 (as a raw export, -f qcow2) on a Unix socket and a raw file on 127.0.0.1 with a free
# port: dimg info/convert read them byte-identically (qemu-img compare against the local file)
# and `dimg map --output=json` equals qemu-img's over the same URI. A qcow2 file served raw
# opens as qcow2 (-f qcow2 and probed). nbdkit's memory plugin is a convert -n target (checked
# with qemu-img compare). A server killed mid-convert, and nbdkit's error filter, give one
# error line and a non-zero exit, no crash and no partial local target.
source "$(dirname "$0")/lib.sh"
need qemu-img qemu-io qemu-nbd nbdkit python3

source "$(dirname "$0")/nbd_lib.sh"

# Fixtures: a qcow2 with data, an explicit zero run and a hole; its raw twin.
qemu-img create -q -f qcow2 q.qcow2 64M
qemu-io -f qcow2 -c 'write -P 0x5a 1M 2M' -c 'write -z 8M 1M' -c 'write -P 7 30M 64k' \
  -c 'write -P 9 63M 1M' q.qcow2 >/dev/null
qemu-img convert -f qcow2 -O raw q.qcow2 r.raw

# qemu-nbd -f qcow2 on a Unix socket (a raw export of the guest disk).
qemu-nbd -t -r -f qcow2 -k "$T/q.sock" q.qcow2 2>/dev/null &
nbd_track $!
wait_sock "$T/q.sock"
UQ="nbd+unix:///?socket=$T/q.sock"
# qemu-nbd -f raw on TCP, serving the raw file.
PORT=$(free_port)
qemu-nbd -t -r -f raw -b 127.0.0.1 -p "$PORT" r.raw 2>/dev/null &
nbd_track $!
wait_port "$PORT"
UT="nbd://127.0.0.1:$PORT"
# qemu-nbd -f raw serving the qcow2 file itself: a qcow2 image on the wire.
qemu-nbd -t -r -f raw -k "$T/f.sock" q.qcow2 2>/dev/null &
nbd_track $!
wait_sock "$T/f.sock"
UF="nbd+unix:///?socket=$T/f.sock"

for u in "$UQ" "$UT"; do
  run "$DIMG" info --output=json "$u"
  expect_rc 0 "info $u"
  [ "$(json_str "$T/out" format)" = raw ] || fail "info $u: format $(json_str "$T/out" format)"
  [ "$(json_num "$T/out" virtual-size)" = 67108864 ] || fail "info $u: size"

  rm -f out.raw
  run "$DIMG" convert -O raw "$u" out.raw
  expect_rc 0 "convert $u"
  run qemu-img compare -f raw -F raw r.raw out.raw
  expect_rc 0 "convert $u: content (qemu-img compare)"
  cmp -s r.raw out.raw && pass || fail "convert $u: bytes differ"

  run "$DIMG" map --output=json "$u"
  expect_rc 0 "map $u"
  cp "$T/out" d.json
  qemu-img map --output=json "$u" >q.json
  expect_same d.json q.json "map --output=json $u vs qemu-img"
done

# The qcow2 file on the wire: named, then probed.
nbd_reads_as qcow2 "$UF" r.raw "(qcow2 served raw)"
run "$DIMG" map --output=json -f qcow2 "$UF"
cp "$T/out" d.json
qemu-img map --output=json -f qcow2 "$UF" >q.json
expect_same d.json q.json "map -f qcow2 over NBD vs qemu-img"
run "$DIMG" check "$UF"
expect_rc 0 "check over NBD"
# NBD to a local qcow2, compared with the original.
rm -f out.qcow2
run "$DIMG" convert -O qcow2 "$UQ" out.qcow2
expect_rc 0 "convert NBD -> qcow2"
run qemu-img compare q.qcow2 out.qcow2
expect_rc 0 "NBD -> qcow2: content"

# A convert -n target: nbdkit's memory plugin, from raw and from qcow2.
nbdkit_bg "$T/m.sock" memory 64M
UM="nbd+unix:///?socket=$T/m.sock"
for src in r.raw q.qcow2; do
  run "$DIMG" convert -n -O raw "$src" "$UM"
  expect_rc 0 "convert -n $src -> nbdkit memory"
  run qemu-img compare -F raw "$src" "$UM"
  expect_rc 0 "convert -n $src -> nbdkit memory: content"
done
# Without -n a raw NBD target is written in place too (as qemu-img does); another format
# there is refused (no create over NBD yet), and no file named after the URI appears.
run "$DIMG" convert -O raw q.qcow2 "$UM"
expect_rc 0 "convert -O raw to an NBD export without -n"
run qemu-img compare -F raw q.qcow2 "$UM"
expect_rc 0 "convert -O raw to an NBD export without -n: content"
run "$DIMG" convert -O qcow2 r.raw "$UM"
expect_rc 1 "convert -O qcow2 to an NBD export"
expect_one_error_line "raw image only" "convert -O qcow2 to an NBD export"
[ -z "$(ls -d nbd+unix* 2>/dev/null)" ] && pass || fail "a file named after the URI appeared"
# A read-only export refuses -n.
run "$DIMG" convert -n -O raw r.raw "$UT"
expect_rc 1 "convert -n to a read-only export"
expect_one_error_line "read-only" "convert -n to a read-only export"

# A server killed mid-convert: one error line, non-zero exit, no local target.
nbdkit_bg "$T/slow.sock" --filter=delay pattern 64M rdelay=100ms
pid_slow=${nbd_pids[-1]}
rm -f out.raw out.raw.part
set +e
"$DIMG" convert -O raw "nbd+unix:///?socket=$T/slow.sock" out.raw >"$T/out" 2>"$T/err" &
cpid=$!
sleep 0.7
kill -9 "$pid_slow"
wait "$cpid"
rc=$?
set -e
[ "$rc" -ne 0 ] && [ "$rc" -lt 128 ] && pass || fail "killed server: exit $rc"
expect_one_error_line "nbd" "killed server"
[ ! -e out.raw ] && [ ! -e out.raw.part ] && pass || fail "killed server: a local target is left"

# nbdkit's error filter: each run either copies exactly or fails with one line, never crashes.
nbdkit_bg "$T/err.sock" --filter=error pattern 16M error-pread-rate=30% error-extents-rate=30%
nbdkit -U - pattern 16M --run 'qemu-img convert -f raw -O raw "$uri" pat.raw'
for i in 1 2 3 4 5; do
  rm -f out.raw
  run "$DIMG" convert -O raw "nbd+unix:///?socket=$T/err.sock" out.raw
  if [ "$rc" -eq 0 ]; then
    cmp -s pat.raw out.raw && pass || fail "error filter run $i: exit 0 but bytes differ"
  else
    expect_rc 1 "error filter run $i"
    expect_one_error_line "" "error filter run $i"
    [ ! -e out.raw ] && [ ! -e out.raw.part ] && pass || fail "error filter: a target is left"
  fi
  run "$DIMG" map --output=json "nbd+unix:///?socket=$T/err.sock"
  [ "$rc" -eq 0 ] || { expect_rc 1 "error filter map $i"; expect_one_error_line "" "error filter map $i"; }
done

# No server: one line, quickly.
run timeout 20 "$DIMG" info "nbd+unix:///?socket=$T/none.sock"
expect_rc 1 "no server"
expect_one_error_line "cannot connect" "no server"

finish

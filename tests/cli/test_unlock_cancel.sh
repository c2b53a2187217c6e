#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# test_unlock_cancel.sh: issue 15 item 33 on the command line. A LUKS header whose eight key
# slots each ask 2^25 PBKDF2 iterations costs a wrong password minutes with --force-unlock;
# SIGTERM or SIGINT during that unlock stops it at once (PBKDF2 polls the job's cancel flag every
# 4096 iterations), with the signal's exit status, one error line and no .part left. Before,
# the signal only took effect once every slot had been tried (about 13 minutes here).
source "$(dirname "$0")/lib.sh"
command -v qemu-img >/dev/null || { echo "SKIP: qemu-img missing"; exit 77; }
command -v python3 >/dev/null || { echo "SKIP: python3 missing"; exit 77; }

printf 'right' >pw; printf 'wrong' >badpw; chmod 600 pw badpw
qcreate -f qcow2 --object secret,id=s0,data=right \
  -o encrypt.format=luks,encrypt.key-secret=s0,encrypt.iter-time=10 l.qcow2 1M
# Allocated data: the convert has to unlock to read it.
qemu-io --object secret,id=s0,data=right \
  --image-opts "driver=qcow2,file.filename=l.qcow2,encrypt.key-secret=s0" -c 'write -P 0x61 0 64k' >/dev/null
python3 - l.qcow2 <<'PY'
import struct, sys
f = open(sys.argv[1], 'r+b'); d = f.read()
at = d.find(b'LUKS\xba\xbe')
for i in range(8):
    f.seek(at + 208 + 48 * i); f.write(struct.pack('>II', 0x00AC71F3, 1 << 25))
PY
# stop SIG: convert with the wrong password, SIG after 2 s; it must end within 10 s (a slot
# is polled every 4096 iterations, milliseconds; the guard kills it at 60 s).
stop() {
  local sig=$1 t0 rc
  rm -f out.raw out.raw.part
  timeout -s KILL 60 "$DIMG" --force-unlock convert --password-file badpw -O raw l.qcow2 out.raw \
    2>err &
  local pid=$!
  sleep 2
  t0=$SECONDS
  kill -"$sig" $pid
  wait $pid && rc=0 || rc=$?
  local want=$((128 + $(kill -l "$sig")))
  [ "$rc" = "$want" ] && pass || fail "SIG$sig during the unlock: exit $rc, want $want ($(cat err))"
  [ $((SECONDS - t0)) -le 10 ] && pass || fail "SIG$sig: the unlock ran on for $((SECONDS - t0)) s"
  [ "$(wc -l <err)" = 1 ] && grep -q 'cancelled' err && pass || fail "SIG$sig: error lines: $(cat err)"
  [ ! -e out.raw ] && [ -z "$(ls | grep '\.part$')" ] && pass || fail "SIG$sig left: $(ls)"
}
stop TERM
stop INT
finish

#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# test_nbd_ops.sh: the commands that used to look at the image's file descriptor, on an NBD
# export (qemu-nbd on a Unix socket, started and stopped here), against qemu-img over the same
# URI: `dimg info` (text and JSON: "disk size: unavailable", no actual-size, no dirty flag for
# raw, as qemu-img says; the filename line aside, which qemu-img rewrites), `dimg check` of a
# qcow2 served as its file's bytes, `dimg compare` of an export against the local file (equal,
# and the first differing offset), a fixed VHD served raw known by its footer as locally,
# and append refused over NBD with one line.
source "$(dirname "$0")/lib.sh"
need qemu-img qemu-io qemu-nbd python3
source "$(dirname "$0")/nbd_lib.sh"

qemu-img create -q -f qcow2 q.qcow2 16M
qemu-io -f qcow2 -c 'write -P 0x5a 1M 1M' -c 'write -z 4M 64k' -c 'write -P 9 15M 1M' q.qcow2 >/dev/null
qemu-img convert -f qcow2 -O raw q.qcow2 r.raw
qemu-img create -q -f vpc -o subformat=fixed v.vhd 4M
qemu-io -f vpc -c 'write -P 0x33 1M 64k' v.vhd >/dev/null

# serve NAME FORMAT FILE: qemu-nbd on $T/NAME.sock, read-only.
serve() {
  qemu-nbd -t -r -f "$2" -k "$T/$1.sock" "$3" 2>/dev/null &
  nbd_track $!
  wait_sock "$T/$1.sock"
}
serve f raw q.qcow2   # the qcow2 file's bytes on the wire
serve q qcow2 q.qcow2 # the guest disk, raw
serve v raw v.vhd
UF="nbd+unix:///?socket=$T/f.sock"
UQ="nbd+unix:///?socket=$T/q.sock"
UV="nbd+unix:///?socket=$T/v.sock"

# info: the same text and JSON as qemu-img's, but for the name line.
for u in "$UF" "$UQ"; do
  run "$DIMG" info "$u"
  expect_rc 0 "info $u"
  sed 1d "$T/out" >d.txt
  qemu-img info "$u" | sed 1d >q.txt
  expect_same d.txt q.txt "info $u vs qemu-img"
  grep -q '^disk size: unavailable$' d.txt && pass || fail "info $u: disk size"
  run "$DIMG" info --output=json "$u"
  grep -v '"filename"' "$T/out" >d.json
  qemu-img info --output=json "$u" | grep -v '"filename"' >q.json
  expect_same d.json q.json "info --output=json $u vs qemu-img"
done

# check of the qcow2 on the wire, as qemu-img checks it.
run "$DIMG" check --output=json "$UF"
expect_rc 0 "check over NBD"
grep -v '"filename"' "$T/out" >d.json
qemu-img check --output=json "$UF" | grep -v '"filename"' >q.json
expect_same d.json q.json "check --output=json over NBD vs qemu-img"

# compare: an export and the local file, both ways round and across formats.
run "$DIMG" compare "$UF" q.qcow2
expect_rc 0 "compare qcow2 export vs local qcow2"
run "$DIMG" compare "$UQ" r.raw
expect_rc 0 "compare raw export vs local raw"
run "$DIMG" compare -f raw -F qcow2 "$UQ" q.qcow2
expect_rc 0 "compare raw export vs local qcow2"
cp r.raw r2.raw
printf '\x01' | dd of=r2.raw bs=1 seek=$((15 * 1048576 + 4097)) conv=notrunc status=none
run "$DIMG" compare "$UQ" r2.raw
expect_rc 1 "compare with a changed byte"
qemu-img compare "$UQ" r2.raw >q.txt 2>&1 || true
expect_same "$T/out" q.txt "compare's mismatch line vs qemu-img"

# A fixed VHD served raw is known by its footer (the export's last sector), as a file is: vpc,
# with the virtual size qemu-img gives it when told the format, and the same guest bytes.
run "$DIMG" info --output=json "$UV"
expect_rc 0 "info of a fixed VHD over NBD"
[ "$(json_str "$T/out" format)" = vpc ] && pass || fail "a fixed VHD over NBD is not probed as vpc: $(cat "$T/out")"
qemu-img info -f vpc --output=json v.vhd >qv.json
[ "$(json_num "$T/out" virtual-size)" = "$(json_num qv.json virtual-size)" ] && pass ||
  fail "fixed VHD over NBD: virtual size $(json_num "$T/out" virtual-size), qemu-img says $(json_num qv.json virtual-size)"
run "$DIMG" convert -O raw "$UV" vg.raw
qemu-img convert -f vpc -O raw v.vhd vq.raw
cmp -s vg.raw vq.raw && pass || fail "fixed VHD over NBD: guest bytes differ from qemu-img's"

# append grows a regular file only.
run "$DIMG" append "$UQ" 1M
expect_rc 1 "append to an export"
expect_one_error_line "append needs a regular file" "append to an export"

finish

#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# test_nbd_vmdk.sh: a vmdk over NBD (issue 17: vmdk reads through byte sources). qemu-nbd,
# started and stopped here, serves vmdk files as raw exports on Unix sockets: a
# monolithicSparse and a streamOptimized file read byte-identically to qemu-img's convert of
# the local file, and map --output=json equals qemu-img's over the same URI; a descriptor that
# names an extent file is refused over NBD with one error line (no name from the wire is
# followed).
source "$(dirname "$0")/lib.sh"
need qemu-img qemu-io qemu-nbd

source "$(dirname "$0")/nbd_lib.sh"
# serve FILE SOCK: qemu-nbd serving FILE's bytes read-only on $T/SOCK.
serve() { nbd_serve "${2%.sock}" "$1" -r; }

qemu-img create -q -f vmdk -o subformat=monolithicSparse s.vmdk 24M
qemu-io -f vmdk -c 'write -P 0x5a 1M 2M' -c 'write -P 7 17M 64k' s.vmdk >/dev/null
qemu-img convert -f vmdk -O vmdk -o subformat=streamOptimized s.vmdk so.vmdk
qemu-img convert -f vmdk -O raw s.vmdk want.raw
qemu-img create -q -f vmdk -o subformat=monolithicFlat f.vmdk 4M

serve s.vmdk s.sock
serve so.vmdk so.sock
serve f.vmdk f.sock

for n in s so; do
  u="nbd+unix:///?socket=$T/$n.sock"
  nbd_reads_as vmdk "$u" want.raw "$n.vmdk over NBD"
  run "$DIMG" map --output=json -f vmdk "$u"
  expect_rc 0 "map $n.vmdk over NBD"
  cp "$T/out" d.json
  qemu-img map --output=json -f vmdk "$u" >q.json
  expect_same d.json q.json "map -f vmdk $n.vmdk over NBD vs qemu-img"
  run "$DIMG" check -f vmdk "$u"
  expect_rc 0 "check $n.vmdk over NBD"
done

# The descriptor names f-flat.vmdk: not followed over NBD.
run "$DIMG" info -f vmdk "nbd+unix:///?socket=$T/f.sock"
expect_rc 1 "a descriptor with an extent file over NBD"
expect_one_error_line "over NBD" "a descriptor with an extent file over NBD"

finish

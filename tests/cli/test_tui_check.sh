#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# test_tui_check.sh: check and repair from the application (C), in tmux (tui_lib.sh), with
# qemu-img check as the oracle. A qcow2 with exactly one leaked cluster (its only data
# cluster's L2 entry cleared): the check job says "1 leaked cluster" (issue 15 item 13: the
# singular), the repair question says the same, the repair job reports it and the image is
# then clean for qemu-img with the guest data unchanged; a clean image says "no errors found".
source "$(dirname "$0")/lib.sh"
command -v qemu-img >/dev/null || { echo "SKIP: qemu-img missing"; exit 77; }
command -v python3 >/dev/null || { echo "SKIP: python3 missing"; exit 77; }
TUI_SOCK=check
S=dimgcheck
source "$(dirname "$0")/tui_lib.sh"

mkdir img
qemu-img create -q -f qcow2 img/leak.qcow2 8M
qemu-io -c 'write -P 0x11 0 64k' -c 'write -P 0x22 1M 64k' img/leak.qcow2 >/dev/null
cp img/leak.qcow2 img/clean.qcow2
# Clear the L2 entry of guest cluster 0: its data cluster keeps a refcount and leaks.
python3 - img/leak.qcow2 <<'PY'
import struct, sys
f = open(sys.argv[1], 'r+b')
f.seek(40); l1 = struct.unpack('>Q', f.read(8))[0]
f.seek(l1); l2 = struct.unpack('>Q', f.read(8))[0] & 0x00fffffffffffe00
f.seek(l2); f.write(b'\0' * 8)
PY
qemu-img check img/leak.qcow2 >want.txt 2>&1 || true # 3: leaks
grep -q '^1 leaked clusters were found' want.txt || { echo "SKIP: the fixture is not what qemu sees: $(cat want.txt)"; exit 77; }
qemu-img convert -O raw img/leak.qcow2 want.raw

start_in "$T/img"
see 'leak\.qcow2 +qcow2' "the images are listed"
keys / l e a k Enter C
see 'done: check leak\.qcow2 - 0 corruptions, 1 leaked cluster, 0 errors' "the check job: 1 leaked cluster" 30
see 'leak\.qcow2 has 1 leaked cluster and 0 corruptions\. Repair it now\?' "the repair question: the singular"
keys Left Enter
see 'done: repair leak\.qcow2 - repaired 1 leaked cluster and 0 corruptions; now clean' "the repair job" 30
qemu-img check img/leak.qcow2 >/dev/null 2>&1 && pass || fail "qemu-img check after the repair: $(qemu-img check img/leak.qcow2 2>&1)"
qemu-img compare -q want.raw img/leak.qcow2 && pass || fail "the repair changed the guest data"
keys Escape / c l e a n Enter C
see 'done: check clean\.qcow2 - no errors found' "a clean image" 30
not_see 'Repair it now' "no repair is offered for a clean image"
keys q
see '^EXIT=0' "quit"
finish

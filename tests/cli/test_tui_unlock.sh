#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# test_tui_unlock.sh: issue 15 item 33 in tmux (tui_lib.sh). The application unlocks a LUKS
# image on a worker thread: while the key slots' PBKDF2 runs take seconds, a box names the slot
# being tried and the time spent, Esc gives the screen back at once ("unlock cancelled"), a
# wrong password still ends in the error line, the right one opens the map, and quitting with
# an abandoned unlock still running exits at once. The image: slot 0 cheap and holding the
# right password, slots 1-3 made active at 6 M iterations each (about 5 s for a wrong
# password on the machine this is tested on; under the 2^25 bound of one unlock).
source "$(dirname "$0")/lib.sh"
command -v qemu-img >/dev/null || { echo "SKIP: qemu-img missing"; exit 77; }
command -v python3 >/dev/null || { echo "SKIP: python3 missing"; exit 77; }
TUI_SOCK=unlock
S=dimgunlock
source "$(dirname "$0")/tui_lib.sh"

mkdir enc
qcreate -f qcow2 --object secret,id=s,data=hunter2 \
  -o encrypt.format=luks,encrypt.key-secret=s,encrypt.iter-time=10 enc/secret.qcow2 8M
qemu-io --object secret,id=s,data=hunter2 \
  --image-opts driver=qcow2,file.filename=enc/secret.qcow2,encrypt.key-secret=s \
  -c 'write -P 0x61 1M 1M' >/dev/null
# A sanitizer build derives keys about 18 times slower (30 s a slot at 6 M): 1 M there keeps
# the slots seconds long, as the checks below want.
iters=6000000
[ -z "${DIMG_ASAN:-}" ] || iters=1000000
python3 - enc/secret.qcow2 "$iters" <<'PY'
import struct, sys
f = open(sys.argv[1], 'r+b'); d = f.read()
at = d.find(b'LUKS\xba\xbe')
for i in range(1, 4):
    f.seek(at + 208 + 48 * i); f.write(struct.pack('>II', 0x00AC71F3, int(sys.argv[2])))
PY
# The patched slots are real work for qemu too: a wrong password is refused, the right one opens.
qemu-img info --object secret,id=s,data=hunter2 \
  --image-opts driver=qcow2,file.filename=enc/secret.qcow2,encrypt.key-secret=s >/dev/null \
  || { echo "SKIP: qemu cannot open the patched image"; exit 77; }

start_in "$T/enc"
see 'secret\.qcow2 +qcow2' "the encrypted image is listed"
# A wrong password: the unlock runs under a box with the slot and the time, the screen alive.
keys m
see 'secret\.qcow2 is encrypted' "the map asks for the password"
keys w r o n g Enter
see 'Unlocking secret\.qcow2' "a box shows the unlock under way" 3
see 'key slot [1-3] \([2-4] of 4\), [0-9]+\.[0-9] s' "the box names the slot being tried" 5
t1=$(screen | sed -n 's/.*of 4), \([0-9]*\.[0-9]\) s.*/\1/p')
sleep 1
t2=$(screen | sed -n 's/.*of 4), \([0-9]*\.[0-9]\) s.*/\1/p')
[ -n "$t1" ] && [ -n "$t2" ] && [ "$t1" != "$t2" ] && pass \
  || fail "the box's time does not move while the unlock runs ($t1, $t2)"
keys Escape
see 'map: unlock cancelled' "Esc gives the screen back at once" 2
not_see 'Unlocking' "the box is gone after Esc"
# The whole wrong-password unlock: every slot is tried, then the error line.
keys m w r o n g Enter
see 'key slot 3 \(4 of 4\)' "the last slot is tried" 30
see 'map: .*invalid password' "a wrong password ends in the error line" 30
screen | grep -q 'guest view' && fail "a map was shown after a wrong password" || pass
# The right password opens the map (slot 0: at once).
keys m h u n t e r 2 Enter
see 'qcow2 +8\.0 MiB, guest view' "the map appears after the right password" 10
keys q
see 'Name +Format' "q closes the map"
# Walk away from an unlock and quit while its worker still runs: the application exits now.
keys m w r o n g Enter
see 'Unlocking secret\.qcow2' "the box again" 3
keys Escape
see 'map: unlock cancelled' "cancelled again" 2
keys q
see '^EXIT=0' "quit with an abandoned unlock running exits at once" 3
finish

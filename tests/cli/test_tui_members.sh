#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# test_tui_members.sh: issue 15's archive-member screens, in tmux (tui_lib.sh). The info pane
# of a member past the pane's quick listing (a .tar.gz whose first member is larger than that
# budget) describes it instead of "no member named"; the
# archive table in the pane shows each member's NAME in full; converting a member names the
# member and its archive, writes beside the archive (qemu-img compare against the member) and
# says where, and the new file is listed once the user leaves the archive.
source "$(dirname "$0")/lib.sh"
command -v qemu-img >/dev/null || { echo "SKIP: qemu-img missing"; exit 77; }
TUI_SOCK=members
S=dimgmembers
source "$(dirname "$0")/tui_lib.sh"

# An archive whose image comes after 40 MiB of incompressible data (past the pane's quick
# listing of ARC_QUICK_BYTES = 32 MiB), and one with a member name wider than the pane.
mkdir src arc
qemu-img create -q -f qcow2 src/inner.qcow2 64M
qemu-io -f qcow2 -c 'write -P 0x5a 1M 2M' -c 'write -P 0x33 40M 64k' src/inner.qcow2 >/dev/null
head -c $((40 << 20)) /dev/urandom >src/big.bin
LONG=a-very-long-member-name-that-does-not-fit-in-the-info-pane-0123456789.qcow2
cp src/inner.qcow2 "src/$LONG"
(cd src && tar czf ../arc/late.tar.gz big.bin inner.qcow2 && tar czf ../arc/long.tar.gz "$LONG")

# --- the info pane: a later member, and NAMEs in full ---
start_in "$T/arc"
see 'long\.tar\.gz +archive' "the archives are listed"
keys G
see 'members: 1' "the pane lists long.tar.gz"
# The name in full: joined from the pane's rows (it may continue on the next one).
pane_text() { screen | sed -n 's/^[^|]*| \{0,1\}//p' | sed 's/^ *//' | tr -d '\n'; }
if wait_for 'Enter opens the archive' 5 && pane_text | grep -q "$LONG"; then pass; else
  fail "the pane's archive table cuts the member name:"; screen | sed 's/^/  | /'
fi
keys g j Enter
see 'inner\.qcow2 +qcow2' "the later member is listed in the archive" 30
keys G
see 'member: inner\.qcow2' "the info pane describes the later member" 20
see 'virtual size: 64 MiB' "the pane gives the member's virtual size"
not_see 'no member named' "the pane does not deny the member the list shows"
keys q

# --- converting a member: the form names it and its archive; the copy goes beside it ---
mkdir cv
(cd src && tar czf ../cv/small.tar.gz inner.qcow2)
start_in "$T/cv"
see 'small\.tar\.gz +archive' "the archive is listed"
keys G Enter
see 'inner\.qcow2 +qcow2' "the member is listed"
keys G c
see 'Copy member inner\.qcow2 \(qcow2\) of archive small\.tar\.gz' "the form names the member and its archive"
see "beside the archive, in $T/cv\\." "the form says where the copy goes"
keys Enter
see "done: convert .*wrote inner\\.qcow2 beside the archive, in /" "the status line says where the copy went" 20
if [ -f cv/inner.qcow2 ] && qemu-img compare -q src/inner.qcow2 cv/inner.qcow2; then pass; else
  fail "the copy beside the archive differs from the member: $(ls cv)"
fi
if qemu-img info cv/inner.qcow2 | grep -q 'file format: qcow2'; then pass; else fail "copy is not qcow2"; fi
keys BSpace
see '^ inner\.qcow2 +qcow2 +64 MiB' "after leaving the archive the new file is in the list"
keys q

finish

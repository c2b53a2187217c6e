#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# test_tui_nbd.sh: the interactive application on one image over NBD (`dimg URI`), in tmux
# (tui_lib.sh), with qemu-nbd and nbdkit started here on Unix sockets. The browser lists that
# single image with its format and the info pane says what `dimg info` says; m opens its map
# (the data runs drawn, the URI in the header); c converts it to a local qcow2 in the current
# directory, the job shows its progress (a slow server: nbdkit's delay filter) and the result
# is identical for qemu-img compare. An unreachable URI is one entry with the reason.
source "$(dirname "$0")/lib.sh"
need qemu-img qemu-io qemu-nbd nbdkit python3
TUI_SOCK=tuinbd
S=tuinbd
source "$(dirname "$0")/tui_lib.sh"
source "$(dirname "$0")/nbd_lib.sh"
trap 'tui_cleanup; nbd_cleanup' EXIT

mkdir work work2
qemu-img create -q -f qcow2 q.qcow2 64M
qemu-io -f qcow2 -c 'write -P 0x5a 1M 2M' -c 'write -P 9 40M 1M' q.qcow2 >/dev/null
qemu-img convert -f qcow2 -O raw q.qcow2 r.raw
# The qcow2 file's bytes on the wire (the application probes qcow2 over NBD).
qemu-nbd -t -r -f raw -k "$T/f.sock" q.qcow2 2>/dev/null &
nbd_track $!
wait_sock "$T/f.sock"
UF="nbd+unix:///?socket=$T/f.sock"
# A slow raw export: 24 reads of 1 MiB, 0.1 s each.
head -c 24M /dev/urandom >slow.raw
nbdkit_bg "$T/slow.sock" --filter=delay file slow.raw rdelay=100ms
US="nbd+unix:///?socket=$T/slow.sock"

# dimg URI: one row, the info pane, the map.
tui_start "cd '$T/work' && '$DIMG' '$UF'" 140 30
see 'nbd\+unix:///\?socket=.*qcow2 +64 MiB' "the remote image is listed with its format"
see 'file format: qcow2' "the info pane"
see 'virtual size: 64 MiB \(67108864 bytes\)' "the info pane's size"
see 'disk size: unavailable' "the info pane: no disk size over NBD"
keys m
see 'dimg map.*nbd\+unix:///\?socket=' "the map's header names the URI"
see 'qcow2 +64 MiB, guest view' "the map of the remote image"
see '█' "the map draws the data runs"
keys q
# c: a convert to a local qcow2 (proposed from the export: "nbd.qcow2") in the current directory.
keys c
see 'New file +nbd\.qcow2' "the convert form proposes a local name"
keys Enter
see 'done: convert nbd -> nbd\.qcow2' "the convert job ends" 30
run qemu-img compare q.qcow2 work/nbd.qcow2
expect_rc 0 "the converted image (qemu-img compare)"
quit "after the convert"

# A slow server: the jobs screen shows the progress of the running convert.
tui_start "cd '$T/work2' && '$DIMG' '$US'" 140 30
see 'nbd\+unix:///\?socket=.*raw +24 MiB' "the slow export is listed"
keys c
see 'New file +nbd\.qcow2' "the convert form (slow export)"
keys Enter
keys J
see 'convert nbd -> nbd\.qcow2' "the jobs screen lists the convert"
see ' [0-9]{1,2}% ' "the running job's progress" 20
see 'done' "the slow convert ends" 60
run qemu-img compare -f raw slow.raw work2/nbd.qcow2
expect_rc 0 "the converted slow export (qemu-img compare)"
quit "after the slow convert"

# An unreachable URI: listed, with the reason.
tui_start "cd '$T/work' && '$DIMG' 'nbd+unix:///?socket=$T/none.sock'" 140 30
see 'cannot connect' "an unreachable export says why"
quit "the unreachable export"
finish

#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# test_tui_inside.sh: inside an image from the application (issue 19), in tmux (tui_lib.sh). A
# qcow2 holding an MBR with two ext4 partitions made by mkfs.ext4 -d (the source tree is the
# oracle): Enter on the image lists its volumes with their labels; Enter goes into a volume
# and a directory, the info pane shows a file's size and mode, v shows its text, c copies a
# file and a directory out beside the image (cmp / diff -r against the source), Backspace goes
# up through the directories and the volumes back to the host directory. A name with an escape
# byte is shown escaped. The map marks a deleted file's blocks as free in the guest; the
# convert form's Sparsify field drops them. An image with nothing inside still opens its map on
# Enter.
source "$(dirname "$0")/lib.sh"
need qemu-img mkfs.ext4 sfdisk debugfs
TUI_SOCK=inside
S=dimginside
source "$(dirname "$0")/tui_lib.sh"

mkdir -p src/etc src/docs/deep img
echo "hello from the guest" >src/etc/hostname
seq 1 2000 >src/docs/numbers.txt
head -c 300000 /dev/urandom >src/docs/deep/blob.bin
echo x >"src/docs/bad$(printf '\033')[31mname"
mkdir -p src2 && echo second >src2/only-here.txt
truncate -s 24M p1.img p2.img
head -c 2000000 /dev/urandom >src/gone.bin
mkfs.ext4 -q -L first -d src p1.img
# Deleted: its blocks keep their bytes, which only a sparsified copy drops.
debugfs -w -R "rm gone.bin" p1.img >/dev/null 2>&1
rm src/gone.bin
mkfs.ext4 -q -L second -d src2 p2.img
truncate -s 56M disk.raw
printf 'label: dos\nstart=2048, size=49152, type=83\nstart=53248, size=49152, type=83\n' |
  sfdisk -q disk.raw
dd if=p1.img of=disk.raw bs=512 seek=2048 conv=notrunc status=none
dd if=p2.img of=disk.raw bs=512 seek=53248 conv=notrunc status=none
qemu-img convert -O qcow2 disk.raw img/disk.qcow2
qemu-img create -q -f qcow2 img/empty.qcow2 8M
rm -f p1.img p2.img disk.raw

start_in "$T/img"
see 'disk\.qcow2 +qcow2' "the images are listed"
keys Enter
see 'dimg inside .*disk\.qcow2' "Enter on an image opens its inside"
see '^ 1 .*ext4 +first' "volume 1: ext4, its label"
see '^ 2 .*ext4 +second' "volume 2: ext4, its label"
keys Enter
see 'disk\.qcow2#1:/ *$' "Enter on a volume: its root"
see 'docs/' "the root's directories"
keys Enter
see 'disk\.qcow2#1:/docs *$' "into a directory"
see 'bad\\(x1b|033|e)\[31mname' "a name with an escape byte is shown escaped"
# Filter and sort, as in the browser: / keeps the names containing the text, S sorts by size
# (again: reverse), s by name.
keys / n u m Enter
see 'numbers\.txt' "the filter keeps numbers.txt"
not_see 'deep/' "the filter hides the rest"
keys / Escape
see 'deep/' "Esc clears the filter"
# row N: the screen's line N (1: the header)
row() { screen | sed -n "$1p"; }
keys S S
sleep 0.3
row 3 | grep -q 'numbers\.txt' && pass || fail "S twice: the largest first: $(row 3)"
row 5 | grep -q 'bad' && pass || fail "S twice: the smallest last: $(row 5)"
see '\| numbers\.txt *$' "sorting keeps the selected entry"
keys s
sleep 0.3
row 3 | grep -q 'bad' && pass || fail "s: by name again: $(row 3)"
keys End
see '\| numbers\.txt *$' "End: the last entry in the info pane"
see '\| size: 8893 bytes' "the info pane: the file's size"
see 'mode: -0644' "the info pane: its mode"
see 'data: image byte [0-9]+, [0-9]+ run' "the info pane: where its data lies"
keys v
see '^1$' "v: the file's text"
keys G
see '^2000$' "the pager scrolls to the end"
keys q
see 'Mode +Size +Modified' "q closes the pager, not the screen"
keys c
see 'done: copy numbers\.txt out of disk\.qcow2' "c: the copy job" 30
cmp -s img/numbers.txt src/docs/numbers.txt && pass || fail "the copied file differs from the source"
keys Home Down Enter
see 'disk\.qcow2#1:/docs/deep *$' "into a subdirectory"
keys BSpace
see 'disk\.qcow2#1:/docs *$' "Backspace: the parent, the directory left selected"
see '\| deep *$' "Backspace: the directory left is selected"
keys c
see 'done: copy deep out of disk\.qcow2' "c on a directory" 30
diff -r img/deep src/docs/deep >/dev/null && pass || fail "the copied directory differs from the source"
keys BSpace
see 'disk\.qcow2#1:/ *$' "up to the root"
keys BSpace
see '^ 2 .*ext4 +second' "up from the root: the volumes"
keys Down Enter
see 'only-here\.txt' "the second volume's files"
keys BSpace BSpace
see 'Name +Format +Virtual' "up from the volumes: the host directory"
# The convert form's Sparsify field is convert --sparsify.
keys / d i s k Enter c
see 'Sparsify' "the convert form has a Sparsify field"
keys Down Down Down Down Right Enter
see 'done: convert disk\.qcow2 -> .*sparsified' "a sparsified convert job" 30
"$DIMG" convert --sparsify -O qcow2 img/disk.qcow2 want.qcow2
newest=$(ls -t img | head -1)
"$DIMG" convert -O qcow2 img/disk.qcow2 plain.qcow2
qemu-img compare -q want.qcow2 "img/$newest" && pass || fail "the form's sparsified copy ($newest) differs from convert --sparsify's"
qemu-img compare -q plain.qcow2 "img/$newest" && fail "the form's copy is not sparsified" || pass
# The map marks data the guest filesystem does not use (the deleted file's blocks).
keys Escape / d i s k Enter m
see 'free in guest' "the map's legend: free in guest"
see '×' "the map shows data that is free in the guest filesystem"
keys q
keys Escape / e m p t y Enter Enter
see 'dimg map' "an image with nothing inside: Enter shows its map"
keys q q
see '^EXIT=0' "quit"
finish

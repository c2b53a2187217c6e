#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# test_opens_tui.sh: the interactive application with a named pipe in its directory (issue 15,
# items 25 and 35), in tmux: the browser lists it without probing it, m (map) and Enter on it
# say at once what it is instead of freezing the screen in open() (the old code hung there for
# good), t shows the directory's tree without it; q still quits.
source "$(dirname "$0")/lib.sh"
TUI_SOCK=opens
source "$(dirname "$0")/tui_lib.sh"

mkdir dir
qemu-img create -q -f raw dir/a.img 1M
mkfifo dir/p.fifo
start_in "$T/dir"
see 'a\.img +raw +1\.0 MiB' "browser lists the image"
keys / p . f i Enter
see 'p\.fifo .*0 B' "browser lists the FIFO"
for k in m Enter; do
  keys "$k"
  see 'p\.fifo: a named pipe \(FIFO\), not a regular file' "$k on the FIFO says what it is"
  keys Escape
  tm send-keys -t "$S" -X cancel 2>/dev/null || true
  keys / p . f i Enter
done
# t shows the directory's tree, which lists images only: it opens at once, without the FIFO.
keys t
see 'dimg tree' "t on the FIFO opens the directory's tree at once"
see 'a\.img +raw' "the tree lists the image"
not_see 'p\.fifo' "the tree leaves the FIFO out"
keys q
keys q
see 'EXIT=0' "q quits (the screen never froze)"
finish

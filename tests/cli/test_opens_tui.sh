#!/usr/bin/env bash
# test_opens_tui.sh: the interactive application with a named pipe in its directory (issue 15,
# items 25 and 35), in tmux: the browser lists it without probing it, and m (map), Enter and t
# (tree) on it say at once what it is instead of freezing the screen in open() (the old code
# hung there for good); q still quits.
source "$(dirname "$0")/lib.sh"
command -v tmux >/dev/null || { echo "SKIP: tmux missing"; exit 77; }
export TMUX_TMPDIR="$T" LANG=C.UTF-8 LC_ALL=C.UTF-8 TERM=xterm-256color
tm() { tmux -L opens "$@"; }
PANE=
# A dimg stuck in open() survives its terminal: it is killed by its parent's pid.
trap '[ -n "$PANE" ] && pkill -KILL -P "$PANE" || true; tm kill-server 2>/dev/null || true; rm -rf "$T"' EXIT
screen() { tm capture-pane -p -t s; }
wait_for() {
  local i
  for i in $(seq 50); do screen | grep -Eq -- "$1" && return 0; sleep 0.1; done
  return 1
}
see() { if wait_for "$1"; then pass; else fail "$2: screen lacks /$1/:"; screen | sed 's/^/  | /'; fi; }
keys() { tm send-keys -t s "$@"; sleep 0.2; }

mkdir dir
qemu-img create -q -f raw dir/a.img 1M
mkfifo dir/p.fifo
tm new-session -d -s s -x 120 -y 30 "'$DIMG' '$T/dir'; echo \"EXIT=\$?\"; sleep 60"
PANE=$(tm display-message -p -t s '#{pane_pid}')
see 'a\.img +raw +1\.0 MiB' "browser lists the image"
keys / p . f i Enter
see 'p\.fifo .*0 B' "browser lists the FIFO"
for k in m Enter t; do
  keys "$k"
  see 'p\.fifo: a named pipe \(FIFO\), not a regular file' "$k on the FIFO says what it is"
  keys Escape
  tm send-keys -t s -X cancel 2>/dev/null || true
  keys / p . f i Enter
done
keys q
see 'EXIT=0' "q quits (the screen never froze)"
finish

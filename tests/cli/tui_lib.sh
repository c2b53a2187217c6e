# SPDX-License-Identifier: GPL-2.0-or-later
# tui_lib.sh: tmux helpers for the shell tests that drive the interactive application (not a
# test itself; sourced after lib.sh). Each test runs dimg in a private tmux server under $T,
# types keys with send-keys and reads the screen with capture-pane.
# Set before sourcing: TUI_SOCK (the script's own socket name, e.g. TUI_SOCK=lists) and
# optionally S (the session name, default "s"). Every start gets a new server (socket
# ${TUI_SOCK}1, ${TUI_SOCK}2, ...): killing a session ends its server, and a new-session racing
# that shutdown on the same socket fails with "server exited unexpectedly" on a loaded machine.
# Gives: tm, screen, wait_for, see, not_see, keys, tui_start, start_in, quit, tui_cleanup (the
# exit trap's work, for a test that sets its own trap).
: "${TUI_SOCK:?set TUI_SOCK to a tmux socket name}"
command -v tmux >/dev/null || { echo "SKIP: tmux missing"; exit 77; }
export TMUX_TMPDIR="$T" # a private tmux server: never the user's
export LANG=C.UTF-8 LC_ALL=C.UTF-8 TERM=xterm-256color
S=${S:-s}
N=0
TUI_PANE=
# Generous on purpose: on a loaded machine a screen can take seconds to come.
TUI_WAIT=${TUI_WAIT:-10}
tm() { tmux -L "$TUI_SOCK$N" "$@"; }
# Also when a check stops the script. A dimg stuck in a system call survives its terminal: it
# is killed by its parent's pid (the pane's shell).
tui_cleanup() {
  { [ -n "$TUI_PANE" ] && pkill -KILL -P "$TUI_PANE"; } 2>/dev/null || true
  tm kill-server 2>/dev/null || true
  rm -rf "$T"
}
trap tui_cleanup EXIT
screen() { tm capture-pane -p -t "$S"; }
# wait_for PATTERN [SECONDS]: until the screen shows PATTERN (grep -E); polls every 0.1 s for
# SECONDS (default TUI_WAIT), counted both in polls and on the clock, whichever ends later, so a
# slow capture-pane never shortens the wait. Short explicit values are for retry loops.
wait_for() {
  local n=$((${2:-$TUI_WAIT} * 10)) end=$((SECONDS + ${2:-$TUI_WAIT} + 1)) i=0
  while :; do
    screen | grep -Eq -- "$1" && return 0
    i=$((i + 1))
    [ "$i" -lt "$n" ] || [ "$SECONDS" -lt "$end" ] || return 1
    sleep 0.1
  done
}
# see PATTERN DESCRIPTION [SECONDS]: the screen shows it (waiting up to SECONDS, default
# TUI_WAIT), else a failure with the screen attached.
see() {
  if wait_for "$1" "${3:-$TUI_WAIT}"; then pass; else
    fail "$2: screen lacks /$1/:"
    screen | sed 's/^/  | /'
  fi
}
# not_see PATTERN DESCRIPTION: after a settle, the screen does not show it.
not_see() {
  sleep 0.5
  if screen | grep -Eq -- "$1"; then
    fail "$2: screen shows /$1/:"
    screen | sed 's/^/  | /'
  else pass; fi
}
keys() { tm send-keys -t "$S" "$@"; sleep 0.2; }
# tui_start CMD [COLS ROWS]: a new server and session running CMD (default 120x30), then its
# exit status as EXIT=N. Returns once the first screen is drawn: keys sent earlier can reach
# the application before it reads them as keys (an arrow's escape sequence split at startup).
tui_start() {
  tm kill-server 2>/dev/null || true
  N=$((N + 1))
  tm new-session -d -s "$S" -x "${2:-120}" -y "${3:-30}" "$1; echo \"EXIT=\$?\"; sleep 60"
  TUI_PANE=$(tm display-message -p -t "$S" '#{pane_pid}')
  wait_for '[^[:space:]]' || true # a missing screen is reported by the next see
}
# start_in DIR [COLS ROWS [ENV=VAL...]]: dimg in DIR in a new server.
start_in() {
  local dir=$1 cols=${2:-120} rows=${3:-30}
  shift 3 2>/dev/null || shift $#
  tui_start "env $* '$DIMG' '$dir'" "$cols" "$rows"
}
# quit DESCRIPTION: Esc, q, and the application exits 0.
quit() {
  keys Escape q
  see '^EXIT=0' "$1: quit"
}

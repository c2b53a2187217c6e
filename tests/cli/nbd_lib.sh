# SPDX-License-Identifier: GPL-2.0-or-later
# nbd_lib.sh: NBD servers for the shell tests (not a test itself; sourced after lib.sh). Every
# server a test starts through it is remembered and stopped at exit (by its own pid), with $T
# removed. Gives: nbd_track, nbd_cleanup, wait_sock, wait_port, free_port, nbdkit_bg, nbd_serve,
# nbd_stop_last, nbd_reads_as.
nbd_pids=()
# nbd_track PID: stop this process at exit.
nbd_track() { nbd_pids+=("$1"); }
nbd_cleanup() {
  local p
  for p in "${nbd_pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${nbd_pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$T"
}
trap nbd_cleanup EXIT

# wait_sock PATH | wait_port PORT: until the server listens (5 s at most).
wait_sock() { for _ in $(seq 100); do [ -S "$1" ] && return 0; sleep 0.05; done; fail "no socket $1"; return 1; }
wait_port() {
  for _ in $(seq 100); do
    python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', $1), 1)" 2>/dev/null && return 0
    sleep 0.05
  done
  fail "nothing listens on port $1"; return 1
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# nbdkit in the background (its pid kept for cleanup): nbdkit_bg SOCKET ARGS...
nbdkit_bg() {
  local sock=$1; shift
  nbdkit -f -U "$sock" "$@" 2>"$T/nbdkit.err" &
  nbd_track $!
  wait_sock "$sock"
}
# nbd_serve NAME FILE [QEMU-NBD-OPTS...]: qemu-nbd serving FILE's bytes (-f raw) on
# $T/NAME.sock; the URI in $U.
nbd_serve() {
  local name=$1 file=$2
  shift 2
  qemu-nbd -t -f raw "$@" -k "$T/$name.sock" "$file" 2>/dev/null &
  nbd_track $!
  wait_sock "$T/$name.sock"
  U="nbd+unix:///?socket=$T/$name.sock"
}
# nbd_stop_last: stop the server started last (its file is then the test's again, unlocked).
nbd_stop_last() {
  local p=${nbd_pids[-1]}
  kill "$p" 2>/dev/null || true
  wait "$p" 2>/dev/null || true
  unset 'nbd_pids[-1]'
}
# nbd_reads_as FMT URI WANT LABEL: the export is FMT when named (-f FMT) and when probed:
# info says so and convert -O raw gives exactly the bytes of the raw file WANT.
nbd_reads_as() {
  local fmt=$1 u=$2 want=$3 label=$4 f
  for f in "-f $fmt" ""; do
    # shellcheck disable=SC2086
    run "$DIMG" info --output=json $f "$u"
    expect_rc 0 "info $f $label"
    [ "$(json_str "$T/out" format)" = "$fmt" ] || fail "info $f $label: format $(json_str "$T/out" format)"
    rm -f out.raw
    # shellcheck disable=SC2086
    run "$DIMG" convert $f -O raw "$u" out.raw
    expect_rc 0 "convert $f $label"
    cmp -s "$want" out.raw && pass || fail "convert $f $label: bytes differ"
  done
}

#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# test_jobs_cli.sh: long CLI operations run as jobs: SIGINT and SIGTERM cancel a running
# convert of a data-heavy image cleanly (exit 130 / 143, one "cancelled" line, neither DST nor
# DST.part left, source unchanged), and -p draws a progress bar that advances and ends at
# 100% with a newline. DIMG_TEST_SLOW_MS throttles the job between batches so that the
# signal always lands mid-copy.
source "$(dirname "$0")/lib.sh"
need script

# 128 MiB of random data: every chunk must be read and written.
dd if=/dev/urandom of=src.img bs=1M count=128 status=none
sum_before=$(md5sum <src.img)

# interrupt SIGNAL WANT_RC: start a throttled convert, wait for DST.part, send SIGNAL.
interrupt() {
  local sig=$1 want=$2
  rm -f dst.img dst.img.part
  set +e
  DIMG_TEST_SLOW_MS=40 "$DIMG" convert -p -O raw src.img dst.img >"$T/out" 2>"$T/err" &
  local pid=$! i
  for i in $(seq 200); do [ -e dst.img.part ] && break; sleep 0.05; done
  sleep 0.3
  local t0; t0=$(date +%s%N)
  kill -"$sig" $pid
  wait $pid
  rc=$?
  local ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  set -e
  expect_rc "$want" "convert interrupted by SIG$sig"
  [ -e dst.img ] && fail "SIG$sig: dst.img left behind" || pass
  [ -e dst.img.part ] && fail "SIG$sig: dst.img.part left behind" || pass
  tail -n 1 "$T/err" | grep -q '^dimg: .*cancelled' && pass || fail "SIG$sig: no 'cancelled' line: $(cat -v "$T/err")"
  [ "$ms" -lt 2000 ] && pass || fail "SIG$sig: took $ms ms to stop"
  [ -s "$T/out" ] && fail "SIG$sig: output on stdout" || pass
}
interrupt INT 130
interrupt TERM 143
[ "$(md5sum <src.img)" = "$sum_before" ] && pass || fail "source changed by an interrupted convert"

# -p: the bar advances (several distinct percentages) and finishes with 100% and a newline.
DIMG_TEST_SLOW_MS=10 "$DIMG" convert -p -O raw src.img done.img 2>"$T/err"
cmp src.img done.img && pass || fail "throttled convert content differs"
n=$(tr '\r' '\n' <"$T/err" | grep -o '^ *[0-9]*%' | sort -u | wc -l)
[ "$n" -ge 3 ] && pass || fail "progress bar did not advance: $(cat -v "$T/err")"
tr '\r' '\n' <"$T/err" | tail -n 1 | grep -q '^100% \[####################\] 128 MiB / 128 MiB' && pass ||
  fail "progress did not end at 100%: $(cat -v "$T/err")"
[ "$(tail -c 1 "$T/err" | od -An -c | tr -d ' ')" = '\n' ] && pass || fail "bar not finished with a newline"

# Without -p and without a terminal: nothing on stderr.
rm -f done.img
"$DIMG" convert -O raw src.img done.img 2>"$T/err"
[ -s "$T/err" ] && fail "progress drawn without -p on a non-terminal: $(cat -v "$T/err")" || pass
# -q wins over -p.
rm -f done.img
"$DIMG" convert -q -p -O raw src.img done.img 2>"$T/err"
[ -s "$T/err" ] && fail "-q -p drew progress" || pass

# On a terminal the bar is drawn without -p: script(1) gives the command a pty.
rm -f done.img
script -qec "'$DIMG' convert -O raw src.img done.img" /dev/null </dev/null >"$T/tty"
tr '\r' '\n' <"$T/tty" | grep -q '^100% \[####################\] 128 MiB / 128 MiB' && pass ||
  fail "no progress bar on a terminal: $(cat -v "$T/tty")"
cmp src.img done.img && pass || fail "convert on a terminal: content differs"
script -qec "'$DIMG' convert -q -O raw src.img q.img" /dev/null </dev/null >"$T/tty"
grep -q '%' "$T/tty" && fail "-q drew a bar on a terminal: $(cat -v "$T/tty")" || pass

# check -r is a job too: SIGINT while it is still counting exits 130 and leaves the image
# byte for byte as it was; a full run afterwards repairs it. A 1 TiB image with data spread
# over many L2 tables gives the throttled walk enough steps to be interrupted.
qemu-img create -q -f qcow2 big.qcow2 1T
for i in $(seq 0 40); do echo "write -P $i $((i * 25))G 64k"; done | qemu-io big.qcow2 >/dev/null
rt=$(od -An -t u8 --endian=big -j 48 -N 8 big.qcow2)
rb=$(od -An -t u8 --endian=big -j $((rt)) -N 8 big.qcow2)
printf '\x00\x02' | dd of=big.qcow2 bs=1 seek=$((rb + 2 * 3)) conv=notrunc status=none # cluster 3: 2
sum_before=$(md5sum <big.qcow2)
set +e
DIMG_TEST_SLOW_MS=60 "$DIMG" check -p -r leaks big.qcow2 >"$T/out" 2>"$T/err" &
pid=$!
sleep 0.6
kill -INT $pid
wait $pid
rc=$?
set -e
expect_rc 130 "check -r leaks interrupted"
tail -n 1 "$T/err" | grep -q '^dimg: .*cancelled' && pass || fail "check: no 'cancelled' line: $(cat -v "$T/err")"
[ "$(md5sum <big.qcow2)" = "$sum_before" ] && pass || fail "an interrupted check -r changed the image"
set +e; "$DIMG" check big.qcow2 >/dev/null 2>&1; rc=$?; set -e
expect_rc 3 "check of the leaky image"
"$DIMG" check -q -r leaks big.qcow2 || fail "check -r leaks after the interrupted one"
qemu-img check -q big.qcow2 && pass || fail "qemu-img check after dimg check -r leaks"

finish

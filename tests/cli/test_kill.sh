#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# test_kill.sh: SIGKILL at random moments during every in-place operation, then: the image
# opens (dimg info), `qemu-img check` reports no corruption (leaks allowed) and the guest
# reads back as the operation promises:
#   qcow2 resize grow / shrink  the bytes below the old (shrink: new) size unchanged
#   qcow2 snapshot -c / -d      the disk unchanged; the snapshot, when listed, reads as taken
#   qcow2 snapshot -a           exactly the disk before or the snapshot's disk
#   qcow2 commit                the overlay's view exactly as before (the base holds part or
#                               all of the data; the overlay is emptied only after that)
#   qcow2 rebase (safe)         the overlay's view exactly as before, whichever backing
#                               name is recorded
#   raw append / resize grow    the old bytes unchanged, the size the old or the new one
# Each run copies a template, starts the operation, sleeps a random delay spread over about
# the operation's measured duration, and kills it with SIGKILL.
# Runs per operation: DIMG_KILL_RUNS (default 10, for ctest; the long mode is
# DIMG_KILL_RUNS=50 or more, by hand or in a nightly job).
# One ctest entry per operation (cli.test_kill.OP) and one for the truncated source:
# ctest-sections: grow shrink snap_c snap_a snap_d commit rebase append rgrow truncated_source
source "$(dirname "$0")/lib.sh"

RUNS=${DIMG_KILL_RUNS:-10}
MiB=1048576

ms_now() { echo $(($(date +%s%N) / 1000000)); }

# raw_of FILE OUT [-l SNAP]: the guest contents of FILE as a raw file (qemu-img as the oracle).
raw_of() { qemu-img convert -U "${@:3}" -O raw "$1" "$2"; }

# Templates -----------------------------------------------------------------------------
qemu-img create -q -f qcow2 base.qcow2 64M
qemu-io -f qcow2 -c 'write -P 1 0 6M' -c 'write -P 2 20M 4M' -c 'write -P 3 40M 6M' \
  base.qcow2 >/dev/null
raw_of base.qcow2 base.ref

cp base.qcow2 snap.qcow2
qemu-img snapshot -c s0 snap.qcow2
qemu-io -f qcow2 -c 'write -P 9 0 6M' -c 'write -z 40M 1M' snap.qcow2 >/dev/null
raw_of snap.qcow2 snap.ref # the current disk; s0 reads as base.ref

qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 top.qcow2
qemu-io -f qcow2 -c 'write -P 7 4M 8M' -c 'write -P 8 44M 1M' top.qcow2 >/dev/null
raw_of top.qcow2 top.ref

qemu-img create -q -f qcow2 newbase.qcow2 64M
qemu-io -f qcow2 -c 'write -P 5 0 4M' newbase.qcow2 >/dev/null

truncate -s 16M r.raw
qemu-io -f raw -c 'write -P 4 0 16M' r.raw >/dev/null
cp r.raw other.raw

# One run's files: w.* are the victims, fresh copies of the templates.
prepare() {
  rm -f w.qcow2 wb.qcow2 w.raw out.raw snap_out.raw
  case $1 in
  grow | shrink) cp --sparse=always base.qcow2 w.qcow2 ;;
  snap-c | snap-a | snap-d) cp --sparse=always snap.qcow2 w.qcow2 ;;
  commit)
    cp --sparse=always base.qcow2 wb.qcow2
    cp --sparse=always top.qcow2 w.qcow2
    qemu-img rebase -U -u -b wb.qcow2 -F qcow2 w.qcow2
    ;;
  rebase)
    cp --sparse=always base.qcow2 wb.qcow2
    cp --sparse=always top.qcow2 w.qcow2
    qemu-img rebase -U -u -b wb.qcow2 -F qcow2 w.qcow2
    ;;
  append | rgrow) cp --sparse=always r.raw w.raw ;;
  esac
}

# The operation (argv for dimg).
op_args() {
  case $1 in
  grow) echo "resize w.qcow2 200G" ;;
  shrink) echo "resize --shrink w.qcow2 30M" ;;
  snap-c) echo "snapshot -c s1 w.qcow2" ;;
  snap-a) echo "snapshot -a s0 w.qcow2" ;;
  snap-d) echo "snapshot -d s0 w.qcow2" ;;
  commit) echo "commit w.qcow2" ;;
  rebase) echo "rebase -b newbase.qcow2 -F qcow2 w.qcow2" ;;
  append) echo "append -f raw w.raw other.raw" ;;
  rgrow) echo "resize -f raw w.raw +48M" ;;
  esac
}

vsize() { qemu-img info -U --output=json "$1" | json_num /dev/stdin virtual-size; }
listed() { qemu-img snapshot -U -l "$1" | awk 'NR > 2 {print $2}' | grep -qx "$2"; }

# verify OP RUN: the promises above; sets outcome (before/after), or fails.
verify() {
  outcome=failed
  local op=$1 what="$1 run $2" img=w.qcow2
  case $op in append | rgrow) img=w.raw ;; esac
  if ! "$DIMG" info -U "$img" >/dev/null 2>"$T/info.err"; then
    fail "$what: dimg info: $(cat "$T/info.err")"
    return
  fi
  if [ "$img" = w.qcow2 ]; then
    set +e
    qemu-img check -q "$img" >/dev/null 2>&1
    local c=$?
    [ "$op" = commit ] && { qemu-img check -q wb.qcow2 >/dev/null 2>&1 || [ $? -eq 3 ] || c=2; }
    set -e
    if [ $c -ne 0 ] && [ $c -ne 3 ]; then
      fail "$what: qemu-img check exit $c: $(qemu-img check "$img" 2>&1 | head -3)"
      return
    fi
    [ $c -eq 3 ] && leaks=$((leaks + 1))
  fi
  case $op in
  grow | shrink)
    local vs; vs=$(vsize w.qcow2) keep=$((64 * MiB)) newsz=$((200 * 1024 * MiB))
    [ "$op" = shrink ] && { keep=$((30 * MiB)); newsz=$keep; }
    if [ "$vs" != $((64 * MiB)) ] && [ "$vs" != "$newsz" ]; then
      fail "$what: virtual size $vs"
      return
    fi
    if [ "$op" = grow ]; then
      qemu-img compare -U base.qcow2 w.qcow2 >/dev/null 2>&1 || { fail "$what: guest changed"; return; }
    else
      raw_of w.qcow2 out.raw
      cmp -s -n $keep out.raw base.ref || { fail "$what: guest below 30M changed"; return; }
    fi
    [ "$vs" = $((64 * MiB)) ] && outcome=before || outcome=after
    ;;
  snap-c | snap-d)
    raw_of w.qcow2 out.raw
    cmp -s out.raw snap.ref || { fail "$what: disk changed"; return; }
    local s=s1 want=snap.ref
    [ "$op" = snap-d ] && { s=s0; want=base.ref; }
    if listed w.qcow2 $s; then
      raw_of w.qcow2 snap_out.raw -l "snapshot.name=$s"
      cmp -s snap_out.raw $want || { fail "$what: snapshot $s does not read as taken"; return; }
      [ "$op" = snap-c ] && outcome=after || outcome=before
    else
      [ "$op" = snap-c ] && outcome=before || outcome=after
    fi
    ;;
  snap-a)
    raw_of w.qcow2 out.raw
    if cmp -s out.raw snap.ref; then outcome=before
    elif cmp -s out.raw base.ref; then outcome=after
    else fail "$what: disk is neither the state before nor the snapshot's"; return
    fi
    listed w.qcow2 s0 || { fail "$what: s0 gone"; return; }
    ;;
  commit | rebase)
    raw_of w.qcow2 out.raw
    cmp -s out.raw top.ref || { fail "$what: the overlay's view changed"; return; }
    if [ "$op" = rebase ]; then
      qemu-img info -U w.qcow2 | grep -q 'backing file: newbase.qcow2' && outcome=after || outcome=before
    else
      qemu-img map -U --output=json w.qcow2 | grep -q '"depth": 0, .*"data": true' && outcome=before || outcome=after
    fi
    ;;
  append | rgrow)
    local sz; sz=$(stat -c %s w.raw)
    local newsz=$((32 * MiB)); [ "$op" = rgrow ] && newsz=$((64 * MiB))
    if [ "$sz" != $((16 * MiB)) ] && [ "$sz" != $newsz ]; then
      fail "$what: size $sz"
      return
    fi
    cmp -s -n $((16 * MiB)) w.raw r.raw || { fail "$what: old bytes changed"; return; }
    [ "$sz" = $((16 * MiB)) ] && outcome=before || outcome=after
    ;;
  esac
  pass
}

# kill_op OP: one complete run of OP measured, then RUNS runs killed at moments spread over it.
kill_op() {
  local op=$1
  # Measure one complete run: the delays are spread over about its duration.
  prepare $op
  t0=$(ms_now)
  # shellcheck disable=SC2046
  "$DIMG" $(op_args $op) >/dev/null 2>"$T/op.err" || fail "$op: a complete run failed: $(cat "$T/op.err")"
  dur=$(($(ms_now) - t0))
  verify $op full
  [ "$outcome" = after ] || fail "$op: a complete run does not reach the after state ($outcome)"
  spread=$((dur * 12 / 10 + 5))
  leaks=0 nb=0 na=0
  for run_i in $(seq "$RUNS"); do
    prepare $op
    delay=$((RANDOM % spread))
    # shellcheck disable=SC2046
    "$DIMG" $(op_args $op) >/dev/null 2>&1 &
    pid=$!
    sleep "$(printf '%d.%03d' $((delay / 1000)) $((delay % 1000)))"
    kill -KILL $pid 2>/dev/null || true
    wait $pid 2>/dev/null || true
    verify $op "$run_i"
    case $outcome in
    before) nb=$((nb + 1)) ;;
    after) na=$((na + 1)) ;;
    esac
  done
  echo "$op: $RUNS kills over 0-${spread} ms (a full run took ${dur} ms): $nb before, $na after, $leaks with leaks"
}
sec_grow() { kill_op grow; }
sec_shrink() { kill_op shrink; }
sec_snap_c() { kill_op snap-c; }
sec_snap_a() { kill_op snap-a; }
sec_snap_d() { kill_op snap-d; }
sec_commit() { kill_op commit; }
sec_rebase() { kill_op rebase; }
sec_append() { kill_op append; }
sec_rgrow() { kill_op rgrow; }

sec_truncated_source() {
  # ---- a source truncated while it is being read ----
  # A throttled convert; the source shrinks under it: the job fails naming the offset, and
  # neither DST nor DST.part is left.
  dd if=/dev/urandom of=trunc.raw bs=1M count=32 status=none
  qemu-img convert -O qcow2 trunc.raw trunc_src.qcow2
  for src in trunc.raw trunc_src.qcow2; do
    cp --sparse=always "$src" "victim.${src##*.}"
    v="victim.${src##*.}"
    rm -f tdst.qcow2 tdst.qcow2.part
    set +e
    DIMG_TEST_SLOW_MS=100 "$DIMG" convert -O qcow2 "$v" tdst.qcow2 >/dev/null 2>"$T/trunc.err" &
    pid=$!
    for i in $(seq 200); do [ -e tdst.qcow2.part ] && break; sleep 0.05; done
    sleep 0.3
    truncate -s 2M "$v"
    wait $pid
    rc=$?
    set -e
    expect_rc 1 "convert of $v truncated mid-way"
    if [ "$(wc -l <"$T/trunc.err")" -eq 1 ] && grep -q '^dimg: .*truncated while being read.*offset [0-9]' "$T/trunc.err"; then
      pass
    else
      fail "truncated $v: want one line naming the offset, got: $(cat "$T/trunc.err")"
    fi
    [ -e tdst.qcow2 ] || [ -e tdst.qcow2.part ] && fail "truncated $v: a target was left" || pass
  done
}

sections "$@"
finish

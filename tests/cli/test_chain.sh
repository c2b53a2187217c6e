#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# test_chain.sh: backing chains against qemu-img 7.2: dimg commit (into the backing file,
# -b into a deeper base, -d, into a smaller base that must grow, zero clusters that hide base
# data, a qcow overlay), dimg rebase (safe onto a base with different content, -u, -b ""
# flattening, a relative name), cancellation of a commit with SIGINT (exit 130, overlay
# unchanged, chain reads the same, a second commit finishes), bad inputs (one error line),
# and info --backing-chain on missing and looping links. Every dimg result is compared with
# qemu-img doing the same on copies: content (qemu-img compare), allocation (map JSON),
# qemu-img check, and the recorded backing name and format.
# One ctest entry per behaviour (cli.test_chain.SECTION), each on its own files:
# ctest-sections: commit commit_d commit_b commit_grow qcow_overlay rebase_safe rebase_unsafe
# ctest-sections: rebase_flatten rebase_relative cow_overlay cancel bad_inputs backing_chain_errors
source "$(dirname "$0")/lib.sh"

# same_content A B DESC: qemu-img compare says identical (each through its own chain).
same_content() {
  if qemu-img compare -q "$1" "$2" 2>/dev/null; then pass; else fail "$3: $1 and $2 differ"; fi
}
# clean IMG DESC: qemu-img check finds nothing.
clean() {
  if qemu-img check -q "$1" >/dev/null 2>&1; then pass; else fail "$2: qemu-img check $1: $(qemu-img check "$1" 2>&1 | head -5)"; fi
}
# same_map A B DESC: qemu-img map JSON (allocation, host offsets) equal.
same_map() {
  qemu-img map --output=json "$1" >"$T/ma"
  qemu-img map --output=json "$2" >"$T/mb"
  expect_same "$T/ma" "$T/mb" "$3: map of $1 vs $2"
}
# backing_is IMG NAME FMT DESC: what qemu-img info reads back.
backing_is() {
  qemu-img info --output=json "$1" >"$T/info.json"
  local got; got="$(json_str "$T/info.json" backing-filename)|$(json_str "$T/info.json" backing-filename-format)"
  [ "$got" = "$2|$3" ] && pass || fail "$4: backing of $1 is '$got', want '$2|$3'"
}
# copy_chain FILES...: copies in q/ for qemu-img to work on (backing names are relative).
copy_chain() {
  rm -rf q
  mkdir q
  cp "$@" q/
}

# mk_two: b.qcow2 under o.qcow2, data in both at awkward offsets; before.raw: o.qcow2's view.
mk_two() {
  rm -f b.qcow2 o.qcow2
  qemu-img create -q -f qcow2 b.qcow2 4M
  qemu-io -c 'write -P 0x11 0 4M' b.qcow2 >/dev/null
  qemu-img create -q -f qcow2 -b b.qcow2 -F qcow2 o.qcow2
  qemu-io -c 'write -P 0x22 1000 70000' -c 'write -z 1M 128k' -c 'write -P 0x33 3M 512' \
    -c 'write -z 2047k 1k' -c 'write -P 0x44 4190208 4096' o.qcow2 >/dev/null
  qemu-img convert -O raw o.qcow2 before.raw
}
# mk_rb: ro.qcow2 over r1.qcow2 (ro.raw: its view), r2.qcow2 with other content to rebase onto.
mk_rb() {
  rm -f r1.qcow2 r2.qcow2 ro.qcow2
  qemu-img create -q -f qcow2 r1.qcow2 2M
  qemu-io -c 'write -P 0x11 0 1M' -c 'write -P 0x12 1500000 3000' r1.qcow2 >/dev/null
  qemu-img create -q -f qcow2 r2.qcow2 3M
  qemu-io -c 'write -P 0x21 512k 1M' -c 'write -P 0x11 0 4096' -c 'write -P 0x23 2M 1M' r2.qcow2 >/dev/null
  qemu-img create -q -f qcow2 -b r1.qcow2 -F qcow2 ro.qcow2
  qemu-io -c 'write -P 0x31 700000 1111' -c 'write -z 1200000 65536' ro.qcow2 >/dev/null
  qemu-img convert -O raw ro.qcow2 ro.raw
}

sec_commit() {
  # ---- commit into the backing file: data at awkward offsets, zero writes over base data ----
  mk_two
  copy_chain b.qcow2 o.qcow2
  qemu-img commit -q q/o.qcow2
  run "$DIMG" commit o.qcow2
  expect_rc 0 "commit"
  grep -qx 'Image committed.' "$T/out" && pass || fail "commit: no 'Image committed.' line"
  same_content b.qcow2 q/b.qcow2 "commit: base vs qemu-img's"
  same_content b.qcow2 before.raw "commit: base holds what the overlay showed"
  same_content o.qcow2 before.raw "commit: the chain reads the same"
  same_map b.qcow2 q/b.qcow2 "commit: base allocation"
  same_map o.qcow2 q/o.qcow2 "commit: the overlay is empty"
  clean b.qcow2 "commit base"; clean o.qcow2 "commit overlay"
  backing_is o.qcow2 b.qcow2 qcow2 "commit keeps the overlay's backing name"
}

sec_commit_d() {
  # ---- -d: the overlay keeps its data ----
  mk_two
  qemu-img map --output=json o.qcow2 >"$T/o.before"
  copy_chain b.qcow2 o.qcow2
  qemu-img commit -q -d q/o.qcow2
  run "$DIMG" commit -q -d o.qcow2
  expect_rc 0 "commit -d"
  [ -s "$T/out" ] && fail "commit -q printed: $(cat "$T/out")" || pass
  same_content b.qcow2 q/b.qcow2 "commit -d: base vs qemu-img's"
  same_content b.qcow2 before.raw "commit -d: base holds the overlay's view"
  qemu-img map --output=json o.qcow2 >"$T/o.after"
  expect_same "$T/o.before" "$T/o.after" "commit -d: overlay allocation unchanged"
  clean b.qcow2 "commit -d base"; clean o.qcow2 "commit -d overlay"
}

sec_commit_b() {
  # ---- -b: a three-layer chain committed into its bottom; the middle layer too ----
  rm -f c0.qcow2 c1.qcow2 c2.qcow2
  qemu-img create -q -f qcow2 -o cluster_size=4k c0.qcow2 2M
  qemu-io -c 'write -P 0x01 0 2M' c0.qcow2 >/dev/null
  qemu-img create -q -f qcow2 -b c0.qcow2 -F qcow2 c1.qcow2
  qemu-io -c 'write -P 0x02 12345 300000' -c 'write -z 1536k 64k' c1.qcow2 >/dev/null
  qemu-img create -q -f qcow2 -o cluster_size=16k -b c1.qcow2 -F qcow2 c2.qcow2
  qemu-io -c 'write -P 0x03 200000 5000' -c 'write -z 20000 4096' -c 'write -P 0x04 1M 3000' c2.qcow2 >/dev/null
  qemu-img convert -O raw c2.qcow2 c2.raw
  qemu-img map --output=json c2.qcow2 >"$T/c2.before"
  copy_chain c0.qcow2 c1.qcow2 c2.qcow2
  qemu-img commit -q -b c0.qcow2 q/c2.qcow2
  run "$DIMG" commit -b c0.qcow2 c2.qcow2
  expect_rc 0 "commit -b deeper base"
  same_content c0.qcow2 q/c0.qcow2 "commit -b: base vs qemu-img's"
  same_content c0.qcow2 c2.raw "commit -b: base holds the top's view"
  same_content c2.qcow2 c2.raw "commit -b: the chain reads the same"
  qemu-img map --output=json c2.qcow2 >"$T/c2.after"
  expect_same "$T/c2.before" "$T/c2.after" "commit -b: the top keeps its data (-b implies -d)"
  same_map c0.qcow2 q/c0.qcow2 "commit -b: base allocation"
  clean c0.qcow2 "commit -b base"; clean c1.qcow2 "commit -b middle"; clean c2.qcow2 "commit -b top"
}

sec_commit_grow() {
  # ---- a base smaller than the overlay grows first; a raw base ----
  rm -f s.raw so.qcow2
  qemu-img create -q -f raw s.raw 1M
  qemu-io -f raw -c 'write -P 0x55 0 1M' s.raw >/dev/null
  qemu-img create -q -f qcow2 -b s.raw -F raw so.qcow2 3M
  qemu-io -c 'write -P 0x66 2600000 7000' -c 'write -P 0x67 512k 4k' so.qcow2 >/dev/null
  qemu-img convert -O raw so.qcow2 so.raw
  copy_chain s.raw so.qcow2
  qemu-img commit -q q/so.qcow2
  run "$DIMG" commit so.qcow2
  expect_rc 0 "commit into a smaller raw base"
  [ "$(stat -c %s s.raw)" = "$(stat -c %s q/s.raw)" ] && pass || fail "smaller base: size $(stat -c %s s.raw), qemu-img's $(stat -c %s q/s.raw)"
  cmp -s s.raw q/s.raw && pass || fail "smaller base: raw base differs from qemu-img's"
  same_content s.raw so.raw "smaller base: base holds the overlay's view"
  same_content so.qcow2 so.raw "smaller base: the chain reads the same"
  clean so.qcow2 "smaller base overlay"
}

sec_qcow_overlay() {
  # ---- a qcow overlay: commit -d like qemu-img; emptying it is refused up front ----
  rm -f qb.raw qo.qcow
  qemu-img create -q -f raw qb.raw 1M
  qemu-img create -q -f qcow -b qb.raw -F raw qo.qcow
  qemu-io -f qcow -c 'write -P 0x77 3000 9000' qo.qcow >/dev/null
  cp qb.raw qb.orig
  run "$DIMG" commit qo.qcow
  expect_rc 1 "commit of a qcow overlay without -d"
  expect_one_error_line "use -d" "commit of a qcow overlay without -d"
  cmp -s qb.raw qb.orig && pass || fail "refused commit changed the base"
  copy_chain qb.raw qo.qcow
  qemu-img commit -q -d q/qo.qcow
  run "$DIMG" commit -d qo.qcow
  expect_rc 0 "commit -d of a qcow overlay"
  cmp -s qb.raw q/qb.raw && pass || fail "qcow commit -d: base differs from qemu-img's"
}

sec_rebase_safe() {
  # ---- rebase (safe) onto a base with different content ----
  mk_rb
  copy_chain r1.qcow2 r2.qcow2 ro.qcow2
  qemu-img rebase -q -b r2.qcow2 -F qcow2 q/ro.qcow2
  run "$DIMG" rebase -b r2.qcow2 -F qcow2 ro.qcow2
  expect_rc 0 "rebase"
  [ -s "$T/out" ] && fail "rebase printed: $(cat "$T/out")" || pass
  backing_is ro.qcow2 r2.qcow2 qcow2 "rebase"
  same_content ro.qcow2 ro.raw "rebase: the overlay reads the same"
  same_content ro.qcow2 q/ro.qcow2 "rebase: vs qemu-img's"
  clean ro.qcow2 "rebase overlay"
}

sec_rebase_unsafe() {
  # ---- rebase -u: the name only ----
  mk_rb
  qemu-img map --output=json ro.qcow2 >"$T/ro.before"
  copy_chain r1.qcow2 r2.qcow2 ro.qcow2
  qemu-img rebase -q -u -b r2.qcow2 -F qcow2 q/ro.qcow2
  run "$DIMG" rebase -u -b r2.qcow2 -F qcow2 ro.qcow2
  expect_rc 0 "rebase -u"
  backing_is ro.qcow2 r2.qcow2 qcow2 "rebase -u"
  same_content ro.qcow2 q/ro.qcow2 "rebase -u: vs qemu-img's"
  qemu-img map --output=json -f qcow2 ro.qcow2 | grep '"depth": 0' >"$T/a" || true
  qemu-img map --output=json -f qcow2 q/ro.qcow2 | grep '"depth": 0' >"$T/b" || true
  expect_same "$T/a" "$T/b" "rebase -u: nothing copied"
  clean ro.qcow2 "rebase -u overlay"
  # and back, with a different format name recorded (raw base)
  qemu-img create -q -f raw r3.raw 1M
  run "$DIMG" rebase -u -b r3.raw -F raw ro.qcow2
  expect_rc 0 "rebase -u to a raw base"
  backing_is ro.qcow2 r3.raw raw "rebase -u to a raw base"
  clean ro.qcow2 "rebase -u raw overlay"
}

sec_rebase_flatten() {
  # ---- rebase -b "": flatten ----
  mk_rb
  copy_chain r1.qcow2 ro.qcow2
  qemu-img rebase -q -b "" q/ro.qcow2
  run "$DIMG" rebase -b "" ro.qcow2
  expect_rc 0 "rebase -b ''"
  backing_is ro.qcow2 "" "" "flatten"
  same_content ro.qcow2 ro.raw "flatten: reads the same"
  same_content ro.qcow2 q/ro.qcow2 "flatten: vs qemu-img's"
  rm -f r1.qcow2
  same_content ro.qcow2 ro.raw "flatten: needs the old base no more"
  clean ro.qcow2 "flatten"
}

sec_rebase_relative() {
  # ---- rebase: NEW is relative to the overlay's directory ----
  mkdir -p sub
  mk_rb
  mv r1.qcow2 r2.qcow2 ro.qcow2 sub/
  qemu-img rebase -q -u -b r1.qcow2 -F qcow2 sub/ro.qcow2
  run "$DIMG" rebase -b r2.qcow2 -F qcow2 sub/ro.qcow2
  expect_rc 0 "rebase with a relative NEW from another directory"
  backing_is sub/ro.qcow2 r2.qcow2 qcow2 "relative rebase"
  same_content sub/ro.qcow2 ro.raw "relative rebase: reads the same"
}

sec_cow_overlay() {
  # ---- cow overlay (no qemu-img oracle in 7.2): rebase and commit through dimg alone. cow
  # records no backing format, so its bases are probed: qcow2 ones here ----
  qemu-img create -q -f qcow2 w1.qcow2 1M
  qemu-io -c 'write -P 0x41 0 1M' w1.qcow2 >/dev/null
  qemu-img create -q -f qcow2 w2.qcow2 1M
  qemu-io -c 'write -P 0x42 0 512k' w2.qcow2 >/dev/null
  "$DIMG" create -q -f cow -b w1.qcow2 -F qcow2 w.cow
  "$DIMG" convert -O raw w.cow w.before
  run "$DIMG" rebase -b w2.qcow2 -F qcow2 w.cow
  expect_rc 0 "cow rebase"
  "$DIMG" info --output=json w.cow >"$T/w.json"
  [ "$(json_str "$T/w.json" backing-filename)" = w2.qcow2 ] && pass || fail "cow rebase: backing $(json_str "$T/w.json" backing-filename)"
  "$DIMG" convert -O raw w.cow w.after
  cmp -s w.before w.after && pass || fail "cow rebase: content changed"
  run "$DIMG" commit w.cow
  expect_rc 0 "cow commit"
  same_content w2.qcow2 w.before "cow commit: base holds the overlay's view"
  clean w2.qcow2 "cow commit base"
  "$DIMG" map --output=json w.cow | grep -q '"depth": 0' && fail "cow commit: overlay not empty" || pass
  "$DIMG" convert -O raw w.cow w.after
  cmp -s w.before w.after && pass || fail "cow commit: the chain reads differently"
  # A base guessed as raw keeps its sector 0 (a write there could change what it probes as).
  qemu-img create -q -f raw w3.raw 1M
  "$DIMG" rebase -q -b w3.raw -F raw w.cow
  cp w3.raw w3.orig
  run "$DIMG" commit w.cow
  expect_rc 1 "commit into a guessed raw base"
  expect_one_error_line "guessed as raw" "commit into a guessed raw base"
  cmp -s w3.raw w3.orig && pass || fail "refused commit into a guessed raw base changed it"
}

sec_cancel() {
  # ---- cancellation: SIGINT mid-commit ----
  rm -f big.qcow2 bo.qcow2
  qemu-img create -q -f qcow2 big.qcow2 64M
  qemu-img create -q -f qcow2 -b big.qcow2 -F qcow2 bo.qcow2
  qemu-io -c 'write -P 0x5a 0 64M' bo.qcow2 >/dev/null
  qemu-img convert -O raw bo.qcow2 bo.raw
  sum=$(md5sum <bo.qcow2)
  set +e
  DIMG_TEST_SLOW_MS=60 "$DIMG" commit -p bo.qcow2 >"$T/out" 2>"$T/err" &
  pid=$!
  sleep 0.5
  kill -INT $pid
  wait $pid
  rc=$?
  set -e
  expect_rc 130 "commit interrupted by SIGINT"
  tail -n 1 "$T/err" | grep -q '^dimg: .*cancelled' && pass || fail "commit SIGINT: no 'cancelled' line: $(cat -v "$T/err")"
  [ "$(md5sum <bo.qcow2)" = "$sum" ] && pass || fail "commit SIGINT: overlay changed"
  grep -q 'Image committed' "$T/out" && fail "commit SIGINT: claimed success" || pass
  qemu-img compare -q bo.qcow2 bo.raw && pass || fail "commit SIGINT: the chain reads differently"
  clean big.qcow2 "interrupted commit base"
  qemu-img compare -q big.qcow2 bo.raw >/dev/null 2>&1 && fail "commit SIGINT: the base was complete already (signal came too late)" || pass
  run "$DIMG" commit bo.qcow2
  expect_rc 0 "commit after an interrupted one"
  same_content big.qcow2 bo.raw "second commit finishes the base"
  same_content bo.qcow2 bo.raw "second commit: the chain reads the same"
}

sec_bad_inputs() {
  # ---- bad inputs: one line each, nothing changed ----
  qemu-img create -q -f qcow2 alone.qcow2 1M
  sum=$(md5sum <alone.qcow2)
  run "$DIMG" commit alone.qcow2
  expect_rc 1 "commit without a backing file"
  expect_one_error_line "does not have a backing file" "commit without a backing file"
  [ "$(md5sum <alone.qcow2)" = "$sum" ] && pass || fail "commit without backing changed the image"
  mk_two
  sum=$(md5sum <b.qcow2)
  run "$DIMG" commit -b nothere.qcow2 o.qcow2
  expect_rc 1 "commit -b not in the chain"
  expect_one_error_line "Did not find 'nothere.qcow2' in the backing chain" "commit -b not in the chain"
  run "$DIMG" commit -b alone.qcow2 o.qcow2
  expect_rc 1 "commit -b an unrelated image"
  expect_one_error_line "Did not find" "commit -b an unrelated image"
  [ "$(md5sum <b.qcow2)" = "$sum" ] && pass || fail "refused commits changed the base"
  chmod a-w b.qcow2
  chmod a+w o.qcow2 # the overlay stays writable for whoever runs the commit
  osum=$(md5sum <o.qcow2)
  run unprivileged "$DIMG" commit o.qcow2
  expect_rc 1 "commit into a read-only base"
  expect_one_error_line "base image for writing" "commit into a read-only base"
  [ "$(md5sum <o.qcow2)" = "$osum" ] && pass || fail "read-only base: overlay changed"
  chmod u+w b.qcow2
  run "$DIMG" rebase -b r2.qcow2 o.qcow2
  expect_rc 1 "rebase without -F"
  expect_one_error_line "backing format must be specified" "rebase without -F"
  run "$DIMG" rebase o.qcow2
  expect_rc 1 "rebase without -b"
  expect_one_error_line "Must specify backing file" "rebase without -b"
  run "$DIMG" rebase -b missing.qcow2 -F qcow2 o.qcow2
  expect_rc 1 "rebase onto a missing file"
  expect_one_error_line "Could not open new backing file 'missing.qcow2'" "rebase onto a missing file"
  backing_is o.qcow2 b.qcow2 qcow2 "failed rebases keep the name"
  run "$DIMG" rebase -b o.qcow2 -F qcow2 o.qcow2
  expect_rc 1 "rebase onto itself"
  expect_one_error_line "" "rebase onto itself"
  backing_is o.qcow2 b.qcow2 qcow2 "rebase onto itself keeps the name"
  qemu-img create -q -f raw plain.raw 1M
  run "$DIMG" rebase -u -b b.qcow2 -F qcow2 -f raw plain.raw
  expect_rc 1 "rebase of a raw image"
  expect_one_error_line "format raw cannot change its backing file" "rebase of a raw image"
}

sec_backing_chain_errors() {
  # ---- info --backing-chain: a missing link and a loop, one line each ----
  qemu-img create -q -f qcow2 -u -b gone.qcow2 -F qcow2 dangling.qcow2 1M
  run "$DIMG" info --backing-chain dangling.qcow2
  expect_rc 1 "info --backing-chain with a missing backing file"
  expect_one_error_line "gone.qcow2: No such file" "info --backing-chain with a missing backing file"
  qemu-img create -q -f qcow2 l1.qcow2 1M
  qemu-img create -q -f qcow2 -b l1.qcow2 -F qcow2 l2.qcow2
  qemu-img rebase -q -u -b l2.qcow2 -F qcow2 l1.qcow2
  run timeout 10 "$DIMG" info --backing-chain l2.qcow2
  expect_rc 1 "info --backing-chain of a loop"
  expect_one_error_line "loops back" "info --backing-chain of a loop"
  run timeout 10 "$DIMG" commit l2.qcow2
  expect_rc 1 "commit of a loop"
  expect_one_error_line "loops back" "commit of a loop"
}

sections "$@"
finish

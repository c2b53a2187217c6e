#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# test_hostile.sh: a damaged image given to every read-only command gets exactly one error
# line on stderr ("dimg: ..."), a non-zero exit, and no crash (exit codes >= 128 are signals),
# under a 1 GiB address-space cap so that an allocation the file cannot justify fails loudly.
set -euo pipefail
: "${DIMG:?}" "${DIMG_TEST_TMP:?}"
mkdir -p "$DIMG_TEST_TMP"
T=$(mktemp -d "$DIMG_TEST_TMP/hostile.XXXXXX")
trap 'rm -rf "$T"' EXIT
fails=0; passes=0
# The cap proves allocations stay bounded; AddressSanitizer reserves more than it allows.
cap=1048576
[ -z "${DIMG_ASAN:-}" ] || cap=unlimited

poke_be32() { printf "$(printf '\\x%02x\\x%02x\\x%02x\\x%02x' $(( ($3>>24)&255 )) $(( ($3>>16)&255 )) $(( ($3>>8)&255 )) $(( $3&255 )))" |
              dd of="$1" bs=1 seek="$2" conv=notrunc status=none; }

mkimg() { qemu-img create -q -f qcow2 "$T/$1" 16M; qemu-io -c 'write -P 0x5a 0 64k' "$T/$1" >/dev/null; }

# judge RC NAME CMD WORD: the run of 'dimg CMD' on image NAME that exited RC (set -e is off
# until here) failed cleanly: not 0, no signal, one line on stderr, "dimg: ..." naming WORD.
judge() {
  local rc=$1 name=$2 cmd=$3 word=$4 lines
  set -e
  lines=$(wc -l <"$T/err")
  if [ "$rc" -eq 0 ] || [ "$rc" -ge 128 ] || [ "$lines" -ne 1 ] || ! grep -q "^dimg: .*$word" "$T/err"; then
    echo "FAIL: $name: 'dimg $cmd' exit $rc, $lines stderr lines (want 1 naming '$word'):"; cat "$T/err"
    fails=$((fails+1))
  else
    passes=$((passes+1))
  fi
}

# case NAME FIELD-OFFSET VALUE EXPECTED-WORD
check_case() {
  local name=$1 off=$2 val=$3 word=$4
  mkimg "$name.qcow2"
  poke_be32 "$T/$name.qcow2" "$off" "$val"
  for cmd in "info" "info --output=json" "map" "layout" "check" "compare $T/$name.qcow2 $T/$name.qcow2"; do
    set +e
    if [[ $cmd == compare* ]]; then
      (ulimit -v $cap; "$DIMG" $cmd) >"$T/out" 2>"$T/err"
    else
      (ulimit -v $cap; "$DIMG" $cmd "$T/$name.qcow2") >"$T/out" 2>"$T/err"
    fi
    judge $? "$name" "$cmd" "$word"
  done
}

check_case cluster_bits 20 40 cluster_bits
check_case l1_size 36 4294967295 l1_size
check_case reftable_clusters 56 2147483647 refcount_table_clusters
check_case header_length 100 4294967040 header_length
check_case refcount_order 96 9 refcount_order
check_case version 4 7 version
check_case nb_snapshots 60 2147483647 nb_snapshots

# Host offsets at or beyond 2^56 in an L1 entry (bit 56 of entry 0, at 0x30000 in qemu-img's
# layout) and in an L2 entry (entry 0 at 0x40000): the commands that read them say so in one
# line, naming the entry, instead of reading the offset without its high bits.
# high_case NAME FIELD-OFFSET VALUE EXPECTED-WORDS
high_case() {
  local name=$1 off=$2 val=$3 word=$4
  mkimg "$name.qcow2"
  poke_be32 "$T/$name.qcow2" "$off" "$val"
  for cmd in "map" "compare" "convert"; do
    set +e
    case $cmd in
    compare) (ulimit -v $cap; "$DIMG" compare "$T/$name.qcow2" "$T/$name.qcow2") ;;
    convert) (ulimit -v $cap; "$DIMG" convert -O raw "$T/$name.qcow2" "$T/$name.raw") ;;
    *) (ulimit -v $cap; "$DIMG" $cmd "$T/$name.qcow2") ;;
    esac >"$T/out" 2>"$T/err"
    judge $? "$name" "$cmd" "$word"
  done
}
high_case l1_entry_2p56 $((0x30000)) $((0x81000000)) "L1 entry 0: L2 table offset .* beyond 2^56"
high_case l2_entry_2p56 $((0x40000)) $((0x81000000)) "data cluster offset in L2 entry .* beyond 2^56"

# A truncated file and a file of garbage named as qcow2.
head -c 40 /dev/urandom >"$T/garbage.qcow2"
set +e
"$DIMG" info -f qcow2 "$T/garbage.qcow2" >/dev/null 2>"$T/err"; rc=$?
set -e
if [ $rc -eq 0 ] || [ $rc -ge 128 ] || [ "$(wc -l <"$T/err")" -ne 1 ]; then
  echo "FAIL: garbage named as qcow2: exit $rc"; cat "$T/err"; fails=$((fails+1))
else passes=$((passes+1)); fi

echo "$passes passed, $fails failed"
[ $fails -eq 0 ]

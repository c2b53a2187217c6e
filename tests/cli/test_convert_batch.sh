#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# test_convert_batch.sh: convert into new qcow2/qcow/vdi/vmdk targets, whose writers batch their
# metadata (L2 tables, refcount blocks, block maps, grain tables kept dirty in memory and
# written once) and write runs of new clusters with one write. For each target and option set
# the output must pass `qemu-img check`, read back the source byte for byte (qemu-img compare
# and a raw round trip through dimg), and have the allocation (qemu-img map without host
# offsets) of what qemu-img convert makes from the same source with the same options. Small
# clusters (512 B, 4 KiB) make the data span many L2 tables and refcount blocks, so tables
# fill, new refcount blocks and a larger refcount table are needed mid-convert.
source "$(dirname "$0")/lib.sh"

K=1024 M=$((1024 * 1024))
SIZE=$((13 * M + 3 * 512)) # no whole number of 4 KiB (or larger) clusters
truncate -s "$SIZE" src.raw
put() { # OFFSET LENGTH: random bytes there
  head -c "$2" /dev/urandom | dd of=src.raw bs=512 seek=$(($1 / 512)) conv=notrunc status=none
}
put 0 512                      # the first sector
put $((64 * K - 1024)) $((3 * M)) # a long run over the 2 MiB convert chunks, unaligned
put $((4 * M)) $((5 * M))      # five more: refcount blocks fill at 512 B clusters
qemu-io -f raw -c "write -P 0 $((9 * M)) $((M))" src.raw >/dev/null # written zeros
put $((10 * M + 4608)) 4096    # across a 4 KiB cluster boundary
put $((10 * M + 65536 * 3 + 512)) 512
for i in $(seq 0 40); do put $((11 * M + i * 37 * 512)) 1024; done # many short runs
put $((SIZE - 512)) 512        # the last, partial cluster

# map_of FMT FILE: the guest allocation (qemu-img map without host offsets, neighbouring
# ranges of the same kind merged: where the host clusters lie is each writer's choice).
map_of() {
  qemu-img map --output=json -f "$1" "$2" | sed 's/, *"offset": [0-9]*//' |
    sed -n 's/.*"start": \([0-9]*\), "length": \([0-9]*\), \(.*\)}.*/\1 \2 \3/p' |
    awk '{ k = $0; sub(/^[0-9]+ [0-9]+ /, "", k) } k == pk && $1 == pe { pe += $2; next }
         { if (NR > 1) print ps, pe, pk; ps = $1; pe = $1 + $2; pk = k }
         END { if (NR) print ps, pe, pk }'
}

check_one() { # FMT OPTS DESC
  local fmt=$1 opts=$2 desc=$3 o=()
  [ -n "$opts" ] && o=(-o "$opts")
  rm -f out.img ref.img back.raw
  run "$DIMG" convert -O "$fmt" "${o[@]}" src.raw out.img
  expect_rc 0 "$desc: dimg convert"
  [ "$rc" -eq 0 ] || return 0
  run qemu-img convert -f raw -O "$fmt" "${o[@]}" src.raw ref.img
  expect_rc 0 "$desc: qemu-img convert"
  if [ "$fmt" != qcow ]; then # neither tool checks qcow
    run qemu-img check -f "$fmt" out.img
    expect_rc 0 "$desc: qemu-img check ($(head -c 300 "$T/out"))"
    run "$DIMG" check -f "$fmt" out.img
    expect_rc 0 "$desc: dimg check"
  fi
  run qemu-img compare -f raw -F "$fmt" src.raw out.img
  expect_rc 0 "$desc: qemu-img compare"
  run "$DIMG" convert -f "$fmt" -O raw out.img back.raw
  expect_rc 0 "$desc: back to raw"
  [ "$rc" -eq 0 ] && cmp -s -n "$SIZE" src.raw back.raw && pass || fail "$desc: round trip differs"
  map_of "$fmt" out.img >map.out
  map_of "$fmt" ref.img >map.ref
  if cmp -s map.out map.ref; then pass; else
    fail "$desc: allocation differs from qemu-img's"
    diff map.out map.ref | head -10
  fi
}

for opts in "" cluster_size=512 cluster_size=512,refcount_bits=64 cluster_size=512,refcount_bits=1 \
  cluster_size=4096 cluster_size=4096,refcount_bits=8 cluster_size=2M compat=0.10 \
  lazy_refcounts=on extended_l2=on extended_l2=on,cluster_size=16384 preallocation=metadata \
  preallocation=metadata,cluster_size=4096; do
  check_one qcow2 "$opts" "qcow2 ${opts:-defaults}"
done
check_one qcow "" "qcow"
check_one vdi "" "vdi"
check_one vdi static=on "vdi static"
check_one vmdk "" "vmdk monolithicSparse"
check_one vmdk zeroed_grain=on "vmdk zeroed_grain"

finish

#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# test_convert_pipe.sh: converts to raw through the read-ahead pipeline (-m 3: every data run
# read and scanned for zeros on reader threads) against one thread (-m 1) and qemu-img, for
# raw, qcow2, compressed qcow2 and streamOptimized vmdk sources of an odd size (runs joined
# into chunks, or not where -S says so): the bytes are the source's, and the allocation
# (qemu-img map of the raw output) is the one-thread one and qemu-img's own. A raw target
# target of any format filled in the default (safe) mode starts writeback behind the writer
# (sync_file_range), in unsafe mode it does not. No timing is asserted.
source "$(dirname "$0")/lib.sh"
need strace

# 37 MiB and 3.5 KiB: random data, text, written zeros, holes, zeros inside data.
size=$((37 * 1024 * 1024 + 3584))
truncate -s $size src.raw
head -c 5M /dev/urandom | dd of=src.raw bs=1M seek=0 conv=notrunc status=none
{ yes 'the quick brown fox jumps over the lazy dog 0123456789' || true; } | head -c 9M >text
dd if=text of=src.raw bs=1M seek=6 conv=notrunc status=none
dd if=/dev/zero of=src.raw bs=4096 seek=$((8 * 256 + 3)) count=5 conv=notrunc status=none
dd if=/dev/zero of=src.raw bs=1M seek=17 count=3 conv=notrunc status=none
head -c 7M /dev/urandom | dd of=src.raw bs=1M seek=24 conv=notrunc status=none
head -c 100000 /dev/urandom | dd of=src.raw bs=1 seek=$((size - 100000)) conv=notrunc status=none
printf 'x' | dd of=src.raw bs=1 seek=$((18 * 1024 * 1024 + 7)) conv=notrunc status=none

qemu-img convert -O qcow2 src.raw s.qcow2
qemu-img convert -c -O qcow2 src.raw sc.qcow2
qemu-img convert -O vmdk -o subformat=streamOptimized src.raw ss.vmdk
cp --sparse=always src.raw s.raw

map_of() { qemu-img map --output=json -f raw "$1"; }

for s in s.raw s.qcow2 sc.qcow2 ss.vmdk; do
  for S in 4k 0 64k 1M; do
    run "$DIMG" convert -m 3 -S $S -O raw "$s" "$s.$S.m3"
    expect_rc 0 "$s -S $S -m 3"
    run "$DIMG" convert -m 1 -S $S -O raw "$s" "$s.$S.m1"
    expect_rc 0 "$s -S $S -m 1"
    cmp -s src.raw "$s.$S.m3" && pass || fail "$s -S $S: -m 3 output differs from the source"
    cmp -s "$s.$S.m1" "$s.$S.m3" && pass || fail "$s -S $S: -m 3 and -m 1 differ"
    [ "$(map_of "$s.$S.m3")" = "$(map_of "$s.$S.m1")" ] && pass ||
      fail "$s -S $S: -m 3 allocates differently from -m 1"
    rm -f "$s.$S.m1"
  done
  qemu-img convert -O raw "$s" "$s.q"
  [ "$(map_of "$s.4k.m3")" = "$(map_of "$s.q")" ] && pass ||
    fail "$s: allocation differs from qemu-img's: $(diff <(map_of "$s.4k.m3") <(map_of "$s.q") | head -4)"
  [ "$(du -k "$s.0.m3" | cut -f1)" -ge $((size / 1024)) ] && pass || fail "$s: -S 0 did not allocate"
  rm -f "$s".*
done

# Writeback started behind the writer (core/block/img.c): at least once for 40 MiB of data in the
# default mode, whatever the target's format, compressed or not; never with -t unsafe (which
# leaves all syncing to the kernel).
head -c 40M /dev/urandom >src.raw
qemu-img convert -O qcow2 src.raw s.qcow2
for target in raw qcow2 vdi vmdk "-c qcow2" "-t unsafe raw" "-t unsafe qcow2"; do
  fmt=${target##* } opts=${target% *}
  [ "$opts" = "$target" ] && opts=
  # shellcheck disable=SC2086 # opts is a list of words
  ASAN_OPTIONS=${ASAN_OPTIONS:-}:detect_leaks=0 strace -f -e trace=sync_file_range -o sfr.log \
    "$DIMG" convert $opts -O "$fmt" s.qcow2 "w.$fmt" >/dev/null 2>&1
  qemu-img compare -q -f raw -F "$fmt" src.raw "w.$fmt" && pass || fail "writeback, $target: output differs"
  n=$(grep -c 'sync_file_range(' sfr.log || true)
  case $opts in
  *unsafe*) [ "$n" -eq 0 ] && pass || fail "$target: writeback started in unsafe mode" ;;
  *) [ "$n" -ge 1 ] && pass || fail "$target: no writeback started in safe mode" ;;
  esac
  rm -f "w.$fmt"
done

finish

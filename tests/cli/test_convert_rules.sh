#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# test_convert_rules.sh: two rules of `dimg convert` on the command line.
# An existing target is replaced, as qemu-img replaces it; with -p dimg says so first, in one
# "dimg: note:" line (without -p nothing is said); the result equals qemu-img's.
# -l SNAPSHOT of a snapshot taken before the image grew writes the image's current size, as
# qemu-img does: the snapshot's bytes, then zeros up to the current size (byte-equal to
# qemu-img convert -l); also to a qcow2 target with a backing file (-B), whose tail must read
# zeros, not the backing file's bytes.
# -B with a source that has no backing file: its unallocated clusters read as zeros, so the
# target must read zeros there too, not its new backing file (qemu-img writes zeros).
source "$(dirname "$0")/lib.sh"

mk_sparse_raw src.raw 4M 0:64k 1M:128k
qemu-img convert -O qcow2 src.raw want.qcow2
echo "old contents" >dst.qcow2
run "$DIMG" convert -p -O qcow2 src.raw dst.qcow2
expect_rc 0 "convert -p over an existing target"
grep -q '^dimg: note: dst.qcow2 exists: it will be replaced, as qemu-img does$' "$T/err" && pass ||
  fail "convert -p: no note about the existing target: $(cat "$T/err")"
run qemu-img compare src.raw dst.qcow2
expect_rc 0 "the replaced target holds the source"
run "$DIMG" convert -O qcow2 src.raw dst.qcow2
expect_rc 0 "convert over an existing target without -p"
[ ! -s "$T/err" ] && pass || fail "convert without -p said: $(cat "$T/err")"
run "$DIMG" convert -p -O qcow2 src.raw new.qcow2
grep -q "exists" "$T/err" && fail "convert -p to a new file spoke of an existing one" || pass

# A snapshot of the 1 MiB image, then growth to 2 MiB and new data in the new part.
qemu-img create -q -f qcow2 g.qcow2 1M
qemu-io -c "write -P 7 0 64k" -c "write -P 8 960k 64k" g.qcow2 >/dev/null
qemu-img snapshot -c old g.qcow2
qemu-img resize -q g.qcow2 2M
qemu-io -c "write -P 9 1536k 64k" -c "write -P 10 0 4k" g.qcow2 >/dev/null
qemu-img convert -l snapshot.name=old -O raw g.qcow2 q.raw
run "$DIMG" convert -l old -O raw g.qcow2 d.raw
expect_rc 0 "convert -l of a snapshot older than the growth"
expect_same d.raw q.raw "convert -l: the output equals qemu-img's (current size, zeros past the snapshot)"
[ "$(stat -c %s d.raw)" = 2097152 ] && pass || fail "convert -l: size $(stat -c %s d.raw)"
# To a qcow2 over a backing file that holds the snapshot's bytes and then 0x55 bytes where the
# image grew: the tail still reads zeros.
head -c 1M q.raw >base.raw
truncate -s 2M base.raw
qemu-io -f raw -c "write -P 0x55 1M 1M" base.raw >/dev/null
run "$DIMG" convert -l old -O qcow2 -B base.raw -F raw g.qcow2 d.qcow2
expect_rc 0 "convert -l -B"
qemu-img convert -O raw d.qcow2 d2.raw
expect_same d2.raw q.raw "convert -l -B: the tail reads zeros, not the backing file"

# Unallocated parts of a source without a backing file, over a backing file of 0x55 bytes.
truncate -s 2M full.raw
qemu-io -f raw -c "write -P 0x55 0 2M" full.raw >/dev/null
run "$DIMG" convert -O qcow2 -B full.raw -F raw g.qcow2 o.qcow2
expect_rc 0 "convert -B of a source without backing"
run qemu-img compare g.qcow2 o.qcow2
expect_rc 0 "convert -B: unallocated source clusters read as zeros in the target"
run "$DIMG" convert -l old -O qcow2 -B full.raw -F raw g.qcow2 o2.qcow2
qemu-img convert -O raw o2.qcow2 o2.raw
expect_same o2.raw q.raw "convert -l -B: the snapshot's unallocated clusters read as zeros"

finish

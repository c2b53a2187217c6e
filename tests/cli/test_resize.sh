#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# test_resize.sh: dimg resize against qemu-img: absolute and relative sizes as qemu-img info
# sees them, qemu-img's messages for shrinking without --shrink, non-positive and overflowing
# sizes, formats that cannot resize; preallocation; --fix-gpt checked by sgdisk/sfdisk.
source "$(dirname "$0")/lib.sh"
need sfdisk sgdisk
vsize() { qemu-img info --output=json "$1" | sed -n 's/.*"virtual-size": \([0-9]*\).*/\1/p'; }
alloc_k() { du -k "$1" | cut -f1; }

mk_sparse_raw r.img 8M 0:4096 7M:4096
cp r.img r.orig
run "$DIMG" resize r.img +8M
expect_rc 0 "resize +8M"
grep -qx "Image resized." "$T/out" && pass || fail "no 'Image resized.': $(cat "$T/out")"
[ "$(vsize r.img)" = $((16 << 20)) ] && pass || fail "qemu-img sees $(vsize r.img)"
cmp -n $((8 << 20)) r.img r.orig && pass || fail "content before the old end changed"
cmp -i $((8 << 20)):0 -n $((8 << 20)) r.img /dev/zero && pass || fail "new area is not zeros"
[ "$(alloc_k r.img)" -le $(( $(alloc_k r.orig) + 64 )) ] && pass || fail "grow allocated $(alloc_k r.img) KiB"
run "$DIMG" resize r.img 20M
[ "$(vsize r.img)" = $((20 << 20)) ] && pass || fail "absolute resize: $(vsize r.img)"

# Shrinking: qemu-img's words, and only with --shrink.
run "$DIMG" resize r.img -4M
expect_rc 1 "shrink without --shrink"
expect_one_error_line "Use the --shrink option to perform a shrink operation." "shrink without --shrink"
[ "$(vsize r.img)" = $((20 << 20)) ] && pass || fail "refused shrink changed the size"
run "$DIMG" resize --shrink r.img -4M
expect_rc 0 "shrink with --shrink"
[ "$(vsize r.img)" = $((16 << 20)) ] && pass || fail "shrink: $(vsize r.img)"
for s in -16M -100M +8E 0; do
  run "$DIMG" resize --shrink r.img -- "$s"
  expect_rc 1 "resize $s"
  expect_one_error_line "New image size must be positive" "resize $s"
done
run "$DIMG" resize r.img +1Q
expect_rc 1 "resize +1Q"
expect_one_error_line "Invalid image size" "resize +1Q"

# Preallocation.
run "$DIMG" resize --preallocation=full r.img +8M
expect_rc 0 "resize --preallocation=full"
[ "$(alloc_k r.img)" -ge 8192 ] && pass || fail "full preallocation allocated $(alloc_k r.img) KiB"
run "$DIMG" resize --preallocation=bogus r.img +8M
expect_rc 1 "bad preallocation"

# A format whose driver cannot resize names itself (skipped once qcow2 resize has landed).
qemu-img create -q -f qcow2 q.qcow2 8M
run "$DIMG" resize q.qcow2 +1M
if [ "$rc" -ne 0 ]; then
  expect_one_error_line "Image format driver does not support resize (qcow2)" "resize qcow2"
else
  [ "$(vsize q.qcow2)" = $((9 << 20)) ] && pass || fail "qcow2 resize: $(vsize q.qcow2)"
fi

# GPT: without --fix-gpt a warning, with it sgdisk -v and sfdisk --verify are clean.
truncate -s 64M g.img
printf 'label: gpt\n,16M,L\n,8M,S\n' | sfdisk -q g.img
sfdisk -d g.img | grep -v '^last-lba' >before
run "$DIMG" resize g.img +64M
grep -q "warning: .*backup GPT.*--fix-gpt" "$T/err" && pass || fail "no GPT warning: $(cat "$T/err")"
run "$DIMG" resize --fix-gpt g.img +64M
expect_rc 0 "resize --fix-gpt"
grep -q "Backup GPT moved" "$T/out" && pass || fail "no GPT report: $(cat "$T/out")"
sgdisk -v g.img | grep -q "No problems found" && pass || fail "sgdisk -v: $(sgdisk -v g.img)"
sfdisk --verify g.img 2>&1 | grep -q "No errors detected" && pass || fail "sfdisk --verify: $(sfdisk --verify g.img 2>&1)"
sfdisk -d g.img | grep -v '^last-lba' >after
expect_same before after "partitions unchanged by --fix-gpt"
run "$DIMG" info g.img
grep -q "^Partition table: GPT" "$T/out" && pass || fail "info shows no GPT"
run "$DIMG" info --output=json g.img
grep -q '"type": "gpt"' "$T/out" && pass || fail "info json shows no GPT"

# An overlay whose first sectors come from its backing file grows like any image (the
# partition-table look after growing must not need the unopened chain).
qemu-img create -q -f qcow2 ob.qcow2 64M
qemu-io -c "write -P 7 0 1M" ob.qcow2 >/dev/null
qemu-img create -q -f qcow2 -b ob.qcow2 -F qcow2 ov.qcow2
run "$DIMG" resize ov.qcow2 +64M
expect_rc 0 "resize of an overlay over a backing file"
[ "$(qemu-img info --output=json ov.qcow2 | json_num /dev/stdin virtual-size)" = $((128 << 20)) ] &&
  pass || fail "overlay not grown to 128 MiB"
qemu-img check -q ov.qcow2 && pass || fail "qemu-img check of the grown overlay"
qemu-io -c "read -P 7 0 1M" -c "read -P 0 64M 64M" ov.qcow2 | grep -q "^read 67108864" && pass ||
  fail "grown overlay content wrong"

finish

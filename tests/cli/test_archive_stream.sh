#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# test_archive_stream.sh: images inside archives read where they are (issue 17): a raw member
# and a streamOptimized vmdk member (qemu-img's layout and dimg's) are converted straight from
# the archive's stream, through the forward-only byte source and the vmdk driver's own stream
# path: strace shows no file created but the target's .part (no temporary copy), and the
# result is byte-identical to qemu-img convert of the extracted member. A qcow2 member still
# goes through a temporary copy (the control: strace sees it).
source "$(dirname "$0")/lib.sh"
need qemu-img strace tar gzip

mk_sparse_raw disk.raw 12M 0:1M 5M:512k 11M:64k
head -c 512 /dev/urandom >>disk.raw # a tail past the last 64 KiB boundary
qemu-img convert -f raw -O vmdk -o subformat=streamOptimized disk.raw q.vmdk
"$DIMG" convert -q -f raw -O vmdk -o subformat=streamOptimized disk.raw d.vmdk
qemu-img convert -f raw -O qcow2 disk.raw c.qcow2
tar cf vm.ova q.vmdk d.vmdk
tar czf cloud.tar.gz disk.raw c.qcow2
gzip -c q.vmdk >q.vmdk.gz

# created ARCHIVE/MEMBER OUT: converts under strace ($rc, $T/err as run leaves them); the
# files opened with O_CREAT go to $files.
created() {
  rm -f "$2" trace
  set +e
  # (LeakSanitizer cannot run under ptrace: the sanitizer build's leak check is off here)
  ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0" \
    strace -f -qq -e trace=open,openat,creat -o trace "$DIMG" convert -O raw "$1" "$2" \
    >"$T/out" 2>"$T/err"
  rc=$?
  set -e
  files=$(grep -E 'O_CREAT|creat\(' trace | grep -Eo '"[^"]*"' | tr -d '"' | sort -u || true)
}

for src in vm.ova/q.vmdk vm.ova/d.vmdk cloud.tar.gz/disk.raw q.vmdk.gz; do
  created "$src" out.raw
  expect_rc 0 "convert $src"
  [ "$files" = out.raw.part ] && pass || fail "convert $src created: $(echo "$files" | tr '\n' ' ')"
  [ ! -s "$T/err" ] && pass || fail "convert $src printed: $(cat "$T/err")"
  m=${src#*/}
  [ "$src" = q.vmdk.gz ] && m=q.vmdk
  rm -f want.raw
  qemu-img convert -O raw "$m" want.raw
  expect_same want.raw out.raw "convert $src vs qemu-img convert of the extracted member"
done

# The control: a qcow2 member needs random access, so a temporary copy appears.
created cloud.tar.gz/c.qcow2 out.raw
expect_rc 0 "convert cloud.tar.gz/c.qcow2"
echo "$files" | grep -q 'out.raw.src.part' && pass || fail "qcow2 member: no temporary copy seen"
expect_same disk.raw out.raw "convert cloud.tar.gz/c.qcow2"

finish

#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# test_append.sh: dimg append against cat/truncate and qemu-img info: in place sparse and
# --dense, -o NEW (FILE untouched, holes kept), concatenation equal to cat, size-or-file
# disambiguation, non-raw refused with a pointer to resize, odd sizes warned about.
source "$(dirname "$0")/lib.sh"
need strace
vsize() { qemu-img info -f raw --output=json "$1" | sed -n 's/.*"virtual-size": \([0-9]*\).*/\1/p'; }
alloc_k() { du -k "$1" | cut -f1; }

mk_sparse_raw a.img 8M 0:4096 3M:65536
cp a.img a.orig
run "$DIMG" append a.img 24M
expect_rc 0 "append in place"
[ "$(vsize a.img)" = $((32 << 20)) ] && pass || fail "qemu-img sees $(vsize a.img), want 32 MiB"
grep -q "a.img: virtual size: 32 MiB (33554432 bytes)" "$T/out" && pass || fail "report: $(cat "$T/out")"
cp a.orig ref.img; truncate -s 32M ref.img
cmp a.img ref.img && pass || fail "append in place content differs from truncate"
[ "$(alloc_k a.img)" -le $(( $(alloc_k a.orig) + 64 )) ] && pass || fail "sparse append allocated $(alloc_k a.img) KiB"

cp a.orig d.img
run "$DIMG" append --dense d.img 8M
expect_rc 0 "append --dense"
cmp -n $((16 << 20)) d.img ref.img && pass || fail "--dense content differs"
[ "$(alloc_k d.img)" -ge 8192 ] && pass || fail "--dense did not allocate: $(alloc_k d.img) KiB"

# -o NEW: FILE byte-identical, NEW = FILE || zeros with the holes kept.
sum=$(md5sum <a.orig)
run "$DIMG" append a.orig 24M -o n.img
expect_rc 0 "append -o"
[ "$(md5sum <a.orig)" = "$sum" ] && pass || fail "append -o changed FILE"
cmp n.img ref.img && pass || fail "append -o content differs"
[ "$(alloc_k n.img)" -le $(( $(alloc_k a.orig) + 64 )) ] && pass || fail "append -o lost holes: $(alloc_k n.img) KiB"
[ -e n.img.part ] && fail "n.img.part left" || pass
run "$DIMG" append a.orig 1M -o n.img
expect_rc 1 "append -o onto an existing file"
expect_one_error_line "exists" "append -o onto an existing file"

# Concatenation: same bytes as cat, in place and into NEW.
mk_sparse_raw b.img 3M 1M:4096 2M:100000
cat a.orig b.img >cat.img
run "$DIMG" append a.orig b.img -o c.img
expect_rc 0 "append OTHER -o NEW"
cmp c.img cat.img && pass || fail "concatenation differs from cat"
cp a.orig e.img
run "$DIMG" append e.img b.img
cmp e.img cat.img && pass || fail "in-place concatenation differs from cat"

# A name that is a size when no such file exists, a file when it does.
cp a.orig s.img
echo -n "xyz" >1M
run "$DIMG" append s.img 1M
expect_rc 0 "append of a file named 1M"
[ "$(stat -c %s s.img)" = $(( (8 << 20) + 3 )) ] && pass || fail "file named 1M was taken as a size"
grep -q "warning: .*not a multiple of 512" "$T/err" && pass || fail "no warning for an odd size: $(cat "$T/err")"
grep -q "(8389120 bytes)" "$T/out" && pass || fail "odd size not reported as qemu-img rounds it: $(cat "$T/out")"
[ "$(vsize s.img)" = 8389120 ] && pass || fail "qemu-img sees $(vsize s.img)"
run "$DIMG" append s.img nosuchfile
expect_rc 1 "append of a missing file"
expect_one_error_line "nosuchfile" "append of a missing file"

# Non-raw images are refused, untouched, with a pointer to resize.
qemu-img create -q -f qcow2 q.qcow2 8M
sum=$(md5sum <q.qcow2)
run "$DIMG" append q.qcow2 1M
expect_rc 1 "append to qcow2"
expect_one_error_line "dimg resize" "append to qcow2"
[ "$(md5sum <q.qcow2)" = "$sum" ] && pass || fail "qcow2 changed by a refused append"
run "$DIMG" append a.orig q.qcow2 -o x.img
expect_rc 1 "append of a qcow2"
[ -e x.img ] || [ -e x.img.part ] && fail "refused append left files" || pass

# append -o and convert make the new name durable: the file is fsynced, renamed into place,
# then its directory is fsynced (HARDENING.md's order for new files).
for cmd in "append a.orig 1M -o durable.img" "convert -O raw a.orig durable2.img"; do
  # LeakSanitizer cannot run under ptrace (sanitizer builds): no leak check for this run.
  ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0" \
    strace -f -qq -e trace=fsync,rename,openat -o "$T/trace" "$DIMG" $cmd >/dev/null
  # Keep the fsyncs, the rename and the directory opens, in order, as short tokens.
  seq=$(grep -E 'fsync|rename\(|O_DIRECTORY' "$T/trace" |
        sed -E 's/.*(fsync|rename|O_DIRECTORY).*/\1/' | tr '\n' ' ')
  echo "$seq" | grep -Eq 'fsync rename O_DIRECTORY fsync' && pass ||
    fail "$cmd: no fsync, rename, directory fsync sequence: $seq"
done

finish

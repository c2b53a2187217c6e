#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# test_convert.sh: dimg convert raw->raw keeps content (cmp) and holes, -S 0 allocates fully,
# progress output, refusing SRC == DST, replacing an existing DST only on success, and no
# DST.part left behind after a failure (file-size limit mid-copy, bad option, interrupted).
source "$(dirname "$0")/lib.sh"
need strace

mk_sparse_raw src.img 32M 0:4096 70000:5 6553600:196608 30M:1M
du_k() { du -k "$1" | cut -f1; }

run "$DIMG" convert -f raw -O raw src.img dst.img
expect_rc 0 "convert raw->raw"
cmp src.img dst.img && pass || fail "convert raw->raw content differs"
[ "$(du_k dst.img)" -le $(( $(du_k src.img) + 64 )) ] && pass || fail "convert lost sparseness: $(du_k dst.img) KiB vs $(du_k src.img)"
qemu-img map --output=json src.img >"$T/q1"; qemu-img map --output=json dst.img >"$T/q2"
expect_same "$T/q1" "$T/q2" "convert keeps the hole layout"
[ -e dst.img.part ] && fail "dst.img.part left behind"
[ -s "$T/out" ] && fail "convert printed to stdout: $(cat "$T/out")"

# Zero blocks inside data are detected (-S default 4k) and become holes.
truncate -s 8M zeros.img
dd if=/dev/zero of=zeros.img bs=1M count=8 conv=notrunc status=none
run "$DIMG" convert -O raw zeros.img z2.img
cmp zeros.img z2.img && pass || fail "convert of written zeros differs"
[ "$(du_k z2.img)" -lt 1024 ] && pass || fail "written zeros were copied, not skipped: $(du_k z2.img) KiB"

# -S 0 allocates everything.
run "$DIMG" convert -S 0 -O raw src.img full.img
expect_rc 0 "convert -S 0"
cmp src.img full.img && pass || fail "convert -S 0 content differs"
[ "$(du_k full.img)" -ge 32768 ] && pass || fail "-S 0 did not allocate: $(du_k full.img) KiB"

# -p draws the progress bar on stderr (ending at 100% and a newline), nothing on stdout.
run "$DIMG" convert -p -O raw src.img prog.img
expect_rc 0 "convert -p"
grep -q "100% \[#*\]" "$T/err" && pass || fail "no final progress: $(cat -v "$T/err")"
[ "$(tail -c 1 "$T/err" | od -An -c | tr -d ' ')" = '\n' ] && pass || fail "progress line not finished with a newline"
[ -s "$T/out" ] && fail "convert -p printed to stdout"

# Same file as source: refused, source untouched.
cp src.img keep.img
run "$DIMG" convert -O raw keep.img keep.img
expect_rc 1 "convert onto itself"
expect_one_error_line "source" "convert onto itself"
cmp src.img keep.img && pass || fail "source damaged by convert onto itself"

# An existing DST is replaced on success ...
echo "old content" >old.img
run "$DIMG" convert -O raw src.img old.img
expect_rc 0 "convert over existing DST"
cmp src.img old.img && pass || fail "existing DST not replaced"

# ... and left intact on failure: a file-size limit makes the copy fail half-way.
echo "old content" >old2.img
set +e
( trap '' XFSZ; ulimit -f 4096; exec "$DIMG" convert -S 0 -O raw src.img old2.img ) >"$T/out" 2>"$T/err"
rc=$?
set -e
expect_rc 1 "convert hitting the file-size limit"
expect_one_error_line "" "convert hitting the file-size limit"
[ "$(cat old2.img)" = "old content" ] && pass || fail "existing DST damaged by a failed convert"
[ -e old2.img.part ] && fail "old2.img.part left after a failure" || pass

# A bad -o option fails before copying; no DST, no DST.part.
run "$DIMG" convert -O raw -o nosuch=1 src.img never.img
expect_rc 1 "convert with a bad -o"
expect_one_error_line "nosuch" "convert with a bad -o"
[ -e never.img ] || [ -e never.img.part ] && fail "bad -o left a file" || pass

# A stale DST.part is not clobbered.
echo stale >st.img.part
run "$DIMG" convert -O raw src.img st.img
expect_rc 1 "convert with a stale .part"
[ "$(cat st.img.part)" = stale ] && pass || fail "stale .part clobbered"
[ -e st.img ] && fail "st.img created despite the stale .part"

# Interrupted by SIGINT: no DST, no DST.part (a big -S 0 copy gives time to interrupt).
truncate -s 2G big.img
set +e
"$DIMG" convert -S 0 -O raw big.img big2.img >"$T/out" 2>"$T/err" &
pid=$!
sleep 0.3
kill -INT $pid
wait $pid
rc=$?
set -e
# (2 GiB written in 0.3 s would be 7 GB/s: an exit 0 here is a convert that ignored SIGINT)
expect_rc 130 "interrupted convert"
expect_one_error_line "cancelled" "interrupted convert"
[ -e big2.img ] || [ -e big2.img.part ] && fail "interrupted convert left files" || pass
rm -f big.img big2.img

# Unknown output format and -c on a format without compression.
run "$DIMG" convert -O nosuchfmt src.img x.img
expect_rc 1 "convert -O nosuchfmt"
expect_one_error_line "nosuchfmt" "convert -O nosuchfmt"
run "$DIMG" convert -c -O raw src.img x.img
expect_rc 1 "convert -c -O raw"
expect_one_error_line "compress" "convert -c -O raw"
[ -e x.img ] && fail "convert -c -O raw created x.img"

# Read-only directory (as an ordinary user: root may write anywhere).
mkdir ro; chmod 555 ro
run unprivileged "$DIMG" convert -O raw src.img ro/x.img
expect_rc 1 "convert into a read-only directory"
expect_one_error_line "" "convert into a read-only directory"
[ -z "$(ls -A ro)" ] && pass || fail "convert into a read-only directory left $(ls -A ro)"
chmod 755 ro

# -t unsafe (qemu-img's default for convert): the same image, written without syncing it; any
# other mode syncs the data before the rename. A bad mode is one error line and no file.
for t in unsafe writeback; do
  # LeakSanitizer cannot run under ptrace (sanitizer builds): no leak check for this run.
  ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0" strace -f -qq -e trace=fdatasync \
    -o "$T/trace.$t" "$DIMG" convert -t $t -O qcow2 src.img t-$t.qcow2 >/dev/null 2>&1
  qemu-img compare -q src.img t-$t.qcow2 && pass || fail "convert -t $t: content differs"
done
[ "$(grep -c 'fdatasync(' "$T/trace.unsafe")" = 0 ] && pass ||
  fail "convert -t unsafe synced: $(grep 'fdatasync(' "$T/trace.unsafe" | head -3)"
[ "$(grep -c 'fdatasync(' "$T/trace.writeback")" -gt 0 ] && pass ||
  fail "convert -t writeback did not sync its target"
# Replacing an existing target: safe modes rename over it (atomic); -t unsafe removes the old
# file first (ext4 would otherwise write the new one out inside rename), and replaces a symlink
# itself, never the file it points to. Either way the target then holds the new image.
for t in unsafe writeback; do
  head -c 3M /dev/urandom >old-$t.img
  ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0" strace -f -qq -e trace=unlink,unlinkat,rename,renameat,renameat2 \
    -o "$T/rtrace.$t" "$DIMG" convert -t $t -O raw src.img old-$t.img >/dev/null 2>&1
  cmp -s old-$t.img src.img && pass || fail "convert -t $t over an existing file: content differs"
done
grep -E 'unlink(at)?\(.*old-unsafe\.img"' "$T/rtrace.unsafe" >/dev/null && pass ||
  fail "convert -t unsafe did not remove the old target first"
grep -E 'unlink(at)?\(.*old-writeback\.img"' "$T/rtrace.writeback" >/dev/null &&
  fail "convert -t writeback removed the old target instead of renaming over it" || pass
head -c 1M /dev/urandom >pointee.img
cp pointee.img pointee.ref
ln -sf pointee.img link.img
run "$DIMG" convert -t unsafe -O raw src.img link.img
expect_rc 0 "convert -t unsafe over a symlink"
[ ! -L link.img ] && cmp -s link.img src.img && cmp -s pointee.img pointee.ref && pass ||
  fail "convert -t unsafe over a symlink: the link or the file it named changed wrongly"
run "$DIMG" convert -t bogus -O qcow2 src.img t-bad.qcow2
expect_rc 1 "convert -t bogus"
expect_one_error_line "invalid -t 'bogus'" "convert -t bogus"
ls t-bad.qcow2* 2>/dev/null && fail "convert -t bogus left a file" || pass

finish

#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# test_opens_guard.sh: what dimg refuses to read or write unverified (issue 15, item 36).
# - rebase -b "" (and rebase onto a new backing file) copies from a backing file: while
#   another process (qemu-io) holds that file for writing, dimg refuses as qemu-img does, and
#   the overlay keeps its backing file; -U forces, -u needs no copy (the old code warned and
#   copied).
# - import of an archive without a manifest, or with a member the manifest does not cover (a
#   .cert), is refused and writes nothing; --no-manifest imports the manifest-less archive and
#   leaves the uncovered member out (the old code warned, or said nothing, and wrote them).
# - item 29: a vmdk member of an archive whose descriptor names an extent (".bash_history")
#   is never completed from the directory it is staged in (convert's target directory,
#   import's): convert and import -O fail with one line and the user's file never reaches the
#   output (the old code copied it in).
source "$(dirname "$0")/lib.sh"

HOLDER=
trap '[ -n "$HOLDER" ] && kill "$HOLDER" 2>/dev/null; rm -rf "$T"' EXIT
# hold FILE: qemu-io keeps FILE open read-write; waits until its lock is seen.
hold() {
  qemu-io -f qcow2 -c 'sleep 600000' "$1" >/dev/null 2>&1 &
  HOLDER=$!
  local i ino; ino=$(stat -c %i "$1")
  for i in $(seq 200); do
    grep -q "OFDLCK .*:$ino 100 " /proc/locks && return 0
    sleep 0.05
  done
  fail "qemu-io never locked $1"
}
backing_of() { qemu-img info -U --output=json "$1" | json_str /dev/stdin backing-filename; }

qemu-img create -q -f qcow2 base.qcow2 1M
qemu-io -f qcow2 -c 'write -P 7 0 64k' base.qcow2 >/dev/null
qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 top.qcow2
qemu-img create -q -f qcow2 other.qcow2 1M
hold base.qcow2
# qemu-img itself refuses (the oracle for the behaviour).
run qemu-img rebase -b "" top.qcow2
[ "$rc" -ne 0 ] && pass || fail "qemu-img rebase -b '' did not refuse a held backing file"
run "$DIMG" rebase -b "" top.qcow2
expect_rc 1 "rebase -b '' of an overlay whose backing file qemu-io writes"
expect_one_error_line "image is in use: .*base.qcow2" "rebase -b '' with a held backing file"
[ "$(backing_of top.qcow2)" = base.qcow2 ] && pass || fail "the refused rebase changed the backing file"
run "$DIMG" rebase -b base.qcow2 -F qcow2 other.qcow2
expect_rc 1 "rebase onto a backing file qemu-io writes"
expect_one_error_line "in use" "rebase onto a held backing file"
[ -z "$(backing_of other.qcow2)" ] && pass || fail "the refused rebase gave other.qcow2 a backing file"
cp top.qcow2 top2.qcow2
run "$DIMG" rebase -u -b "" top2.qcow2
expect_rc 0 "rebase -u -b '' copies nothing: allowed"
run "$DIMG" rebase -U -b "" top.qcow2
expect_rc 0 "rebase -U -b '' forces"
kill "$HOLDER"; wait "$HOLDER" 2>/dev/null || true; HOLDER=
qemu-img compare -q top.qcow2 base.qcow2 && pass || fail "rebase -U -b '' lost data"

# ---- import: manifests ----
mkdir ova
qemu-img create -q -f raw ova/disk.raw 1M
qemu-io -f raw -c 'write -P 9 0 64k' ova/disk.raw >/dev/null
printf 'certificate' >ova/vm.cert
mf() { (cd ova && for f in "$@"; do printf 'SHA256(%s)= %s\n' "$f" "$(sha256sum "$f" | cut -d' ' -f1)"; done); }
mf disk.raw >ova/vm.mf
tar -C ova -cf nomf.ova disk.raw
tar -C ova -cf cert.ova vm.mf disk.raw vm.cert
tar -C ova -cf ok.ova vm.mf disk.raw

run "$DIMG" import nomf.ova d1
expect_rc 1 "import of an archive without a manifest"
expect_one_error_line "no manifest" "import without a manifest"
[ ! -e d1 ] && pass || fail "refused import left d1: $(ls -A d1)"
run "$DIMG" import cert.ova d2
expect_rc 1 "import of an archive with a member the manifest does not cover"
expect_one_error_line "vm.cert is not in the manifest" "import with an uncovered .cert"
[ ! -e d2 ] && pass || fail "refused import left d2: $(ls -A d2)"
run "$DIMG" import --no-manifest nomf.ova d3
expect_rc 0 "import --no-manifest of an archive without one"
cmp -s d3/disk.raw ova/disk.raw && pass || fail "--no-manifest import differs"
run "$DIMG" import --no-manifest cert.ova d4
expect_rc 0 "import --no-manifest with an uncovered member"
[ "$(ls d4 | tr '\n' ' ')" = "disk.raw vm.mf " ] && pass || fail "uncovered member written: $(ls -A d4)"
grep -q "left out" "$T/err" && pass || fail "no word about the member left out: $(cat "$T/err")"
run "$DIMG" import ok.ova d5
expect_rc 0 "import of a fully covered archive"
cmp -s d5/disk.raw ova/disk.raw && pass || fail "covered import differs"

# ---- item 29: a member's references stay inside the archive ----
mkdir evil home
printf 'SECRET-USER-FILE' >home/.bash_history; truncate -s 1M home/.bash_history
qemu-img create -q -f vmdk -o subformat=monolithicFlat evil/disk.vmdk 1M
rm evil/disk-flat.vmdk
sed -i 's|"disk-flat.vmdk"|".bash_history"|' evil/disk.vmdk
(cd evil && for f in disk.vmdk; do printf 'SHA256(%s)= %s\n' "$f" "$(sha256sum "$f" | cut -d' ' -f1)"; done >vm.mf)
tar -C evil -cf evil.ova vm.mf disk.vmdk
no_secret() {
  local f
  for f in "$@"; do
    if [ -e "$f" ] && grep -q SECRET-USER-FILE "$f"; then fail "$f holds the user's file"; else pass; fi
  done
}
run "$DIMG" convert -O raw evil.ova/disk.vmdk home/out.raw
[ "$rc" -ne 0 ] && pass || fail "convert of a member whose extent is a file in the target directory succeeded"
sed -i '/^dimg: note: /d' "$T/err" # the note that the member is copied out first
expect_one_error_line "evil.ova/disk.vmdk: extent file .*.bash_history" "convert of the member names the extent"
no_secret home/out.raw
[ -z "$(cd home && ls -A | grep -v '^.bash_history$')" ] && pass || fail "convert left: $(ls -A home)"
run env -C home "$DIMG" import -O raw ../evil.ova
[ "$rc" -ne 0 ] && pass || fail "import -O raw of the same succeeded"
expect_one_error_line ".bash_history" "import -O of the member names the extent"
no_secret home/disk.raw
[ -z "$(cd home && ls -A | grep -v '^.bash_history$')" ] && pass || fail "import left: $(ls -A home)"
finish

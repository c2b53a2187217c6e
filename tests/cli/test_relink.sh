#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# test_relink.sh: dimg rebase and commit on vmdk children and differencing vdi images.
# vmdk, against qemu-img 7.2: it cannot rebase a vmdk at all ("Operation not supported"), so a
# rebase must keep the child's view as qemu-img reads it (qemu-img convert -O raw before and
# after; qemu-img reading also checks the child's parentCID against the parent's CID), with
# qemu-img check clean and qemu-img info naming the new parent; both the embedded descriptor
# (monolithicSparse) and a descriptor file (twoGbMaxExtentSparse, replaced by rename) are
# covered, plus -u, -b "" flattening, and refusals leaving the file unchanged. Commit: the base
# must come out as qemu-img commit makes it; qemu-img's commit leaves the child unreadable
# (the base's CID changes under it), dimg's records the new CID, so the child still reads the
# same through qemu-img, emptied (or kept with -d), and -b into a deeper base relinks the layer
# above it. vdi: qemu-img cannot open differencing vdi images, so the oracle is the view dimg
# read before (dimg convert -O raw) and, once flattened, qemu-img's own reading.
source "$(dirname "$0")/lib.sh"

# raw_q IMG OUT: qemu-img's view of IMG (through its chain).
raw_q() { rm -f "$2"; qemu-img convert -O raw "$1" "$2"; }
# raw_d IMG OUT: dimg's view of IMG.
raw_d() { rm -f "$2"; "$DIMG" convert -O raw "$1" "$2" >/dev/null; }
# same_q IMG RAW DESC: qemu-img reads IMG as RAW.
same_q() {
  if raw_q "$1" "$T/q.raw" 2>"$T/q.err" && cmp -s "$T/q.raw" "$2"; then pass; else
    fail "$3: qemu-img reads $1 differently ($(head -c 200 "$T/q.err"))"
  fi
}
# same_d IMG RAW DESC: dimg reads IMG as RAW.
same_d() {
  if raw_d "$1" "$T/d.raw" 2>"$T/d.err" && cmp -s "$T/d.raw" "$2"; then pass; else
    fail "$3: dimg reads $1 differently ($(head -c 200 "$T/d.err"))"
  fi
}
clean() {
  if qemu-img check -q "$1" >/dev/null 2>&1; then pass; else fail "$2: qemu-img check $1: $(qemu-img check "$1" 2>&1 | head -3)"; fi
}
# backing_is IMG NAME DESC: qemu-img info and dimg info agree that IMG's backing file is NAME
# ("" for none).
backing_is() {
  qemu-img info --output=json "$1" >"$T/qi.json"
  "$DIMG" info --output=json "$1" >"$T/di.json"
  local q d; q=$(json_str "$T/qi.json" backing-filename); d=$(json_str "$T/di.json" backing-filename)
  [ "$q" = "$2" ] && pass || fail "$3: qemu-img info: backing '$q', want '$2'"
  [ "$d" = "$2" ] && pass || fail "$3: dimg info: backing '$d', want '$2'"
}
# desc IMG: the descriptor text (embedded or a file).
desc() { if [ "$(stat -c %s "$1")" -lt 4096 ]; then cat "$1"; else dd if="$1" bs=512 skip=1 count=20 status=none | tr -d '\0'; fi; }
# cid_of / parent_cid_of IMG: as 8 hex digits (QEMU writes them without leading zeros).
cid_of() { printf '%08x' "0x$(desc "$1" | sed -n 's/^CID=//p')"; }
parent_cid_of() { printf '%08x' "0x$(desc "$1" | sed -n 's/^parentCID=//p')"; }

# ---- vmdk family: b (pattern 1/2), b2 (other content), c a child of b with its own data ----
mk_vmdk() { # OPTS for the child's qemu-img create
  rm -rf ./*.vmdk q
  qemu-img create -q -f vmdk b.vmdk 6M
  qemu-io -f vmdk -c 'write -P 1 0 3M' -c 'write -P 2 5M 4k' b.vmdk >/dev/null
  qemu-img create -q -f vmdk b2.vmdk 6M
  qemu-io -f vmdk -c 'write -P 3 2M 3M' -c 'write -P 1 0 64k' b2.vmdk >/dev/null
  qemu-img create -q -f vmdk "$@" -b b.vmdk -F vmdk c.vmdk
  # partial grains at awkward offsets, a zero write over base data, the last sector
  qemu-io -f vmdk -c 'write -P 7 100000 70000' -c 'write -z 1M 128k' \
    -c 'write -P 8 6290944 512' c.vmdk >/dev/null
  raw_q c.vmdk before.raw
}

for sub in monolithicSparse twoGbMaxExtentSparse; do
  mk_vmdk -o subformat=$sub
  # safe rebase onto b2: the view stays, the link is b2 with b2's CID
  run "$DIMG" rebase -b b2.vmdk -F vmdk c.vmdk
  expect_rc 0 "$sub: rebase"
  same_q c.vmdk before.raw "$sub: rebase keeps the view"
  clean c.vmdk "$sub: rebase"
  backing_is c.vmdk b2.vmdk "$sub: rebase"
  [ "$(parent_cid_of c.vmdk)" = "$(cid_of b2.vmdk)" ] && pass || fail "$sub: parentCID $(parent_cid_of c.vmdk) is not b2's CID $(cid_of b2.vmdk)"
  desc c.vmdk | grep -q "^createType=\"$sub\"" && pass || fail "$sub: createType lost"
  [ ! -e c.vmdk.part ] && pass || fail "$sub: c.vmdk.part left behind"
  # -u back to b: the name and CID only; the data copied above stays, so b's view differs
  run "$DIMG" rebase -u -b b.vmdk -F vmdk c.vmdk
  expect_rc 0 "$sub: rebase -u"
  backing_is c.vmdk b.vmdk "$sub: rebase -u"
  [ "$(parent_cid_of c.vmdk)" = "$(cid_of b.vmdk)" ] && pass || fail "$sub: -u: parentCID is not b's CID"
  raw_q c.vmdk u.raw 2>/dev/null && pass || fail "$sub: qemu-img cannot read the child after -u"
  # flatten: standalone, same view, no parent lines
  run "$DIMG" rebase -b "" c.vmdk
  expect_rc 0 "$sub: flatten"
  same_q c.vmdk u.raw "$sub: flatten keeps the view"
  backing_is c.vmdk "" "$sub: flatten"
  desc c.vmdk | grep -q "parentFileNameHint" && fail "$sub: flatten left parentFileNameHint" || pass
  [ "$(parent_cid_of c.vmdk)" = "ffffffff" ] && pass || fail "$sub: flatten: parentCID $(parent_cid_of c.vmdk)"
  clean c.vmdk "$sub: flatten"
done

# ---- refusals: the file stays as it was, one error line ----
mk_vmdk
qemu-img create -q -f qcow2 q.qcow2 6M
cp c.vmdk c.keep
run "$DIMG" rebase -u -b q.qcow2 -F qcow2 c.vmdk
expect_rc 1 "rebase onto a qcow2"
expect_one_error_line "must be a vmdk" "rebase onto a qcow2"
run "$DIMG" rebase -b q.qcow2 -F qcow2 c.vmdk
expect_rc 1 "safe rebase onto a qcow2"
expect_one_error_line "must be a vmdk image, not qcow2" "safe rebase onto a qcow2 (refused before copying)"
run "$DIMG" rebase -u -b missing.vmdk -F vmdk c.vmdk
expect_rc 1 "rebase -u onto a missing parent"
expect_one_error_line "missing.vmdk" "rebase -u onto a missing parent"
run "$DIMG" rebase -u -b c.vmdk -F vmdk c.vmdk
expect_rc 1 "rebase onto itself"
cmp -s c.vmdk c.keep && pass || fail "a refused rebase changed c.vmdk"

# ---- commit: the base as qemu-img makes it; the child readable (qemu-img's is not) ----
mk_vmdk
mkdir q && cp b.vmdk c.vmdk q/
qemu-img commit -q q/c.vmdk
run "$DIMG" commit c.vmdk
expect_rc 0 "vmdk commit"
raw_q q/b.vmdk qb.raw
same_q b.vmdk qb.raw "vmdk commit: base vs qemu-img's"
same_q b.vmdk before.raw "vmdk commit: the base holds the child's view"
same_q c.vmdk before.raw "vmdk commit: the child still reads the same"
[ "$(parent_cid_of c.vmdk)" = "$(cid_of b.vmdk)" ] && pass || fail "vmdk commit: child not relinked"
qemu-img map --output=json c.vmdk | grep -q '"depth": 0' && fail "vmdk commit: child not emptied" || pass
clean b.vmdk "vmdk commit base"; clean c.vmdk "vmdk commit child"
# -d: the child keeps its data and its link
mk_vmdk
qemu-img map --output=json c.vmdk >c.map0
run "$DIMG" commit -d c.vmdk
expect_rc 0 "vmdk commit -d"
same_q b.vmdk before.raw "vmdk commit -d: base"
same_q c.vmdk before.raw "vmdk commit -d: child"
qemu-img map --output=json c.vmdk >c.map1
expect_same c.map0 c.map1 "vmdk commit -d: child allocation unchanged"
# -b into the bottom of c0 <- c1 <- c2: c1 is relinked to c0's new CID
rm -rf ./*.vmdk q
qemu-img create -q -f vmdk c0.vmdk 4M
qemu-io -f vmdk -c 'write -P 1 0 4M' c0.vmdk >/dev/null
qemu-img create -q -f vmdk -b c0.vmdk -F vmdk c1.vmdk
qemu-io -f vmdk -c 'write -P 2 1M 100k' c1.vmdk >/dev/null
qemu-img create -q -f vmdk -b c1.vmdk -F vmdk c2.vmdk
qemu-io -f vmdk -c 'write -P 3 1050000 5000' c2.vmdk >/dev/null
raw_q c2.vmdk c2.raw
raw_q c1.vmdk c1.raw
mkdir q && cp c0.vmdk c1.vmdk c2.vmdk q/
qemu-img commit -q -b c0.vmdk q/c2.vmdk
run "$DIMG" commit -b c0.vmdk c2.vmdk
expect_rc 0 "vmdk commit -b"
raw_q q/c0.vmdk qb.raw
same_q c0.vmdk qb.raw "vmdk commit -b: base vs qemu-img's"
same_q c0.vmdk c2.raw "vmdk commit -b: the bottom holds the top's view"
same_q c2.vmdk c2.raw "vmdk commit -b: the top reads the same"
[ "$(parent_cid_of c1.vmdk)" = "$(cid_of c0.vmdk)" ] && pass || fail "vmdk commit -b: middle not relinked"
clean c1.vmdk "vmdk commit -b middle"

# ---- vdi: a dynamic image made differencing, moved, committed, flattened ----
rm -f ./*.vdi
qemu-img create -q -f vdi b.vdi 6M
qemu-io -f vdi -c 'write -P 1 0 3M' b.vdi >/dev/null
qemu-img create -q -f vdi b2.vdi 6M
qemu-io -f vdi -c 'write -P 3 2M 3M' b2.vdi >/dev/null
qemu-img create -q -f vdi c.vdi 6M
qemu-io -f vdi -c 'write -P 5 1M 100k' -c 'write -P 6 5M 1M' c.vdi >/dev/null
raw_q c.vdi vbefore.raw
run "$DIMG" rebase -b b.vdi -F vdi c.vdi
expect_rc 0 "vdi: dynamic to differencing"
"$DIMG" info --output=json c.vdi >ci.json
grep -q '"parent-uuid"' ci.json && pass || fail "vdi: no parent-uuid after rebase"
[ "$(json_str ci.json parent-uuid)" = "$("$DIMG" info --output=json b.vdi | sed -n 's/.*"uuid": "\([^"]*\)".*/\1/p' | head -1)" ] \
  && pass || fail "vdi: parent-uuid is not b.vdi's uuid"
same_d c.vdi vbefore.raw "vdi: differencing keeps the view"
run "$DIMG" rebase -b b2.vdi -F vdi c.vdi
expect_rc 0 "vdi: rebase onto b2"
same_d c.vdi vbefore.raw "vdi: rebase onto b2 keeps the view"
run "$DIMG" check c.vdi
expect_rc 0 "vdi: check after rebase"
run "$DIMG" commit c.vdi
expect_rc 0 "vdi: commit"
same_q b2.vdi vbefore.raw "vdi: commit: the base holds the child's view"
clean b2.vdi "vdi commit base"
same_d c.vdi vbefore.raw "vdi: commit: the child reads the same"
[ "$(stat -c %s c.vdi)" = 1024 ] && pass || fail "vdi: commit: child not emptied ($(stat -c %s c.vdi) bytes)"
run "$DIMG" check c.vdi
expect_rc 0 "vdi: check after commit"
run "$DIMG" rebase -b "" c.vdi
expect_rc 0 "vdi: flatten"
same_q c.vdi vbefore.raw "vdi: flattened, qemu-img reads the view"
clean c.vdi "vdi flatten"
# refusals: a parent elsewhere, a static image
mkdir -p sub && qemu-img create -q -f vdi sub/o.vdi 6M
cp c.vdi c.keep
run "$DIMG" rebase -u -b sub/o.vdi -F vdi c.vdi
expect_rc 1 "vdi: parent in another directory"
expect_one_error_line "same directory" "vdi: parent in another directory"
cmp -s c.vdi c.keep && pass || fail "a refused vdi rebase changed c.vdi"
qemu-img create -q -f vdi -o static=on s.vdi 6M
run "$DIMG" rebase -u -b b.vdi -F vdi s.vdi
expect_rc 1 "vdi: a static image"
expect_one_error_line "static" "vdi: a static image"

finish

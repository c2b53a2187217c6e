#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# test_enospc.sh: full disks. A small tmpfs (8 MiB; needs root to mount, as CI is) is the
# target of convert (raw, qcow2, vmdk, vdi), resize, append, snapshot create and commit.
# Each must fail with one clear "No space left on device" line and leave: no partial target
# (no DST, no DST.part, no extent files), the source byte-for-byte intact, and an image
# changed in place reading the same guest bytes as before and passing `qemu-img check` with
# no corruption (leaks allowed: then `dimg check -r leaks` repairs them and qemu-img check is
# clean).
source "$(dirname "$0")/lib.sh"
# ctest-labels: root

small_tmpfs 8m

# fill: leave the tmpfs with no free block (a filler file takes whatever is left).
fill() { dd if=/dev/zero of=fs/filler bs=4k status=none 2>/dev/null || true; sync; }
unfill() { rm -f fs/filler; }

# guest_sum FMT FILE: md5 of the guest contents (through qemu-img, the oracle).
guest_sum() { qemu-img convert -U -f "$1" -O raw "$2" "$T/guest.raw" && md5sum <"$T/guest.raw"; rm -f "$T/guest.raw"; }

# nospace DESC: after run, exit 1 with one line naming the full disk.
nospace() {
  expect_rc 1 "$1"
  expect_one_error_line "No space left on device" "$1"
}

# no_corruption FILE DESC: qemu-img check exits 0 (clean) or 3 (leaks only); with leaks,
# dimg check -r leaks repairs them and qemu-img check is then clean.
no_corruption() {
  set +e
  qemu-img check -q "$1" >/dev/null 2>&1
  local r=$?
  set -e
  if [ $r -eq 3 ]; then
    run "$DIMG" check -q -r leaks "$1"
    qemu-img check -q "$1" >/dev/null 2>&1 && pass || fail "$2: qemu-img check after dimg check -r leaks"
  elif [ $r -eq 0 ]; then
    pass
  else
    fail "$2: qemu-img check exit $r: $(qemu-img check "$1" 2>&1 | head -5)"
  fi
}

dd if=/dev/urandom of=src.raw bs=1M count=16 status=none
sum_src=$(md5sum <src.raw)

# ---- convert into the full disk: nothing left behind ----
for fmt in raw qcow2 vmdk vdi; do
  run "$DIMG" convert -O "$fmt" src.raw "fs/dst.$fmt"
  nospace "convert -O $fmt to a full disk"
  left=$(ls -A fs)
  [ -z "$left" ] && pass || fail "convert -O $fmt left: $left"
  [ "$(md5sum <src.raw)" = "$sum_src" ] && pass || fail "convert -O $fmt changed its source"
done

# ---- qcow2 in place: resize, snapshot create ----
qemu-img create -q -f qcow2 fs/img.qcow2 64M
qemu-io -f qcow2 -c 'write -P 3 0 1M' -c 'write -P 4 32M 512k' fs/img.qcow2 >/dev/null
before=$(guest_sum qcow2 fs/img.qcow2)
fill
# 4 TiB needs a 64 KiB L1 table: the grow must allocate, and cannot.
run "$DIMG" resize fs/img.qcow2 4T
nospace "resize of a qcow2 on a full disk"
[ "$(qemu-img info -U --output=json fs/img.qcow2 | json_num /dev/stdin virtual-size)" = 67108864 ] &&
  pass || fail "failed resize changed the virtual size"
[ "$(guest_sum qcow2 fs/img.qcow2)" = "$before" ] && pass || fail "failed resize changed the data"
no_corruption fs/img.qcow2 "resize on a full disk"

run "$DIMG" snapshot -c s1 fs/img.qcow2
nospace "snapshot -c on a full disk"
qemu-img snapshot -l fs/img.qcow2 | grep -q s1 && fail "failed snapshot is listed" || pass
[ "$(guest_sum qcow2 fs/img.qcow2)" = "$before" ] && pass || fail "failed snapshot changed the data"
unfill
no_corruption fs/img.qcow2 "snapshot on a full disk"
[ "$(guest_sum qcow2 fs/img.qcow2)" = "$before" ] && pass || fail "data changed after repair"

# ---- raw in place: append, resize with full preallocation ----
rm -f fs/img.qcow2
truncate -s 2M fs/img.raw
qemu-io -f raw -c 'write -P 9 0 2M' fs/img.raw >/dev/null
sum_raw=$(md5sum <fs/img.raw)
fill
run "$DIMG" append -f raw fs/img.raw src.raw
nospace "append of 16 MiB to a raw on a full disk"
[ "$(stat -c %s fs/img.raw)" = 2097152 ] && pass || fail "failed append left size $(stat -c %s fs/img.raw)"
[ "$(md5sum <fs/img.raw)" = "$sum_raw" ] && pass || fail "failed append changed the data"
run "$DIMG" append -f raw --dense fs/img.raw 16M
nospace "append --dense on a full disk"
[ "$(md5sum <fs/img.raw)" = "$sum_raw" ] && pass || fail "failed append --dense changed the file"
run "$DIMG" resize -f raw --preallocation=full fs/img.raw +16M
nospace "resize --preallocation=full of a raw on a full disk"
[ "$(md5sum <fs/img.raw)" = "$sum_raw" ] && pass || fail "failed raw resize changed the file"
run "$DIMG" append -f raw -o fs/new.raw fs/img.raw 1M
nospace "append -o to a full disk"
[ -e fs/new.raw ] || [ -e fs/new.raw.part ] && fail "append -o left its target" || pass
unfill

# ---- commit into a base on a full disk ----
rm -f fs/img.raw
qemu-img create -q -f qcow2 fs/base.qcow2 32M
qemu-io -f qcow2 -c 'write -P 1 0 256k' fs/base.qcow2 >/dev/null
# The overlay lives outside the tmpfs (its data is what cannot fit), its base inside.
qemu-img create -q -f qcow2 -b "$T/fs/base.qcow2" -F qcow2 top.qcow2 32M
qemu-io -f qcow2 -c 'write -P 2 0 12M' top.qcow2 >/dev/null
chain_before=$(guest_sum qcow2 top.qcow2)
base_before=$(guest_sum qcow2 fs/base.qcow2)
sum_top=$(md5sum <top.qcow2)
run "$DIMG" commit top.qcow2
nospace "commit into a base on a full disk"
[ "$(md5sum <top.qcow2)" = "$sum_top" ] && pass || fail "failed commit changed the overlay"
[ "$(guest_sum qcow2 top.qcow2)" = "$chain_before" ] && pass || fail "chain reads differently after a failed commit"
no_corruption fs/base.qcow2 "commit on a full disk"
# The base's own guest view may hold part of the commit, but its old data below the
# overlay's writes is only ever replaced by the overlay's: the chain is what must not change.
[ "$(guest_sum qcow2 top.qcow2)" = "$chain_before" ] && pass || fail "chain changed after repair"

finish

#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# test_rewrite.sh: an image rewritten as a new file beside itself (core/block/rewrite.c: cow's
# grow past its bitmap's slack, vmdk's descriptor-file rewrite on rebase) that fails keeps
# the original byte for byte and leaves no NAME.part behind.
# - readonly_dir: the image's directory is read-only (lib.sh unprivileged): the .part cannot
#   be made; one error line, the image unchanged, no .part.
# - full_disk: the grown cow does not fit a small tmpfs (root: mount): the write fails
#   midway; the original intact, no .part; a grow that fits still reads as before.
# ctest-sections: readonly_dir full_disk
source "$(dirname "$0")/lib.sh"

M=$((1 << 20))

sec_readonly_dir() {
  mkdir ro
  mk_sparse_raw src.raw 4M 0:1 511:2 70000:5 1M:100000
  "$DIMG" convert -q -f raw -O cow src.raw ro/a.cow
  "$DIMG" create -q -f vmdk ro/base.vmdk 4M
  "$DIMG" create -q -f vmdk ro/other.vmdk 4M
  "$DIMG" create -q -f vmdk -o subformat=twoGbMaxExtentSparse -b base.vmdk -F vmdk ro/c.vmdk 4M
  cp ro/a.cow a.before
  cp ro/c.vmdk c.before
  chmod a+rw ro/* # writable files in a directory that is not
  chmod 555 ro
  run unprivileged "$DIMG" resize ro/a.cow 64M
  expect_rc 1 "cow grow in a read-only directory"
  [ "$(wc -l <"$T/err")" -eq 1 ] && grep -q 'a.cow.part' "$T/err" && pass ||
    fail "cow grow: want one error line naming a.cow.part: $(cat "$T/err")"
  cmp -s a.before ro/a.cow && pass || fail "a failed cow grow changed the image"
  run unprivileged "$DIMG" rebase -u -b other.vmdk -F vmdk ro/c.vmdk
  expect_rc 1 "vmdk rebase in a read-only directory"
  [ "$(wc -l <"$T/err")" -eq 1 ] && grep -q 'c.vmdk.part' "$T/err" && pass ||
    fail "vmdk rebase: want one error line naming c.vmdk.part: $(cat "$T/err")"
  cmp -s c.before ro/c.vmdk && pass || fail "a failed vmdk rebase changed the descriptor"
  chmod 755 ro
  [ -z "$(ls ro | grep '\.part$')" ] && pass || fail "a .part was left: $(ls ro)"
  "$DIMG" convert -O raw ro/a.cow back.raw && cmp -s src.raw back.raw && pass ||
    fail "the cow no longer reads as before"
}

sec_full_disk() {
  small_tmpfs 8m
  # 5 MiB of data: the grown copy needs another 5 MiB, the tmpfs holds 8.
  head -c 5M /dev/urandom >src.raw
  "$DIMG" convert -q -f raw -O cow src.raw fs/a.cow
  cp fs/a.cow a.before
  run "$DIMG" resize fs/a.cow 64M
  expect_rc 1 "cow grow on a full disk"
  [ "$(wc -l <"$T/err")" -eq 1 ] && pass || fail "cow grow on a full disk: $(cat "$T/err")"
  cmp -s a.before fs/a.cow && pass || fail "a failed cow grow changed the image"
  [ ! -e fs/a.cow.part ] && pass || fail "fs/a.cow.part was left"
  # A grow that fits (1 MiB of data) is a rewrite too, and keeps every byte.
  rm -f fs/a.cow
  head -c 1M /dev/urandom >small.raw
  "$DIMG" convert -q -f raw -O cow small.raw fs/b.cow
  run "$DIMG" resize fs/b.cow 64M
  expect_rc 0 "cow grow that fits"
  "$DIMG" convert -O raw fs/b.cow back.raw
  truncate -s 64M small.raw
  cmp -s small.raw back.raw && pass || fail "the grown cow reads differently"
  [ ! -e fs/b.cow.part ] && pass || fail "fs/b.cow.part was left"
}

sections "$@"
finish

#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# test_fs_ext.sh: looking inside images at an ext4 filesystem (dimg ls, cat, get, volumes):
# a source tree (directories, files of many sizes, a sparse one, one over 1 MiB, a symlink,
# names with spaces and an escape byte) made into ext4 by mkfs.ext4 -d, put in an sfdisk
# partition table, converted by qemu-img to qcow2, vmdk, vdi and a backing chain. The listing
# must be exactly the source's files with their sizes, every file read back must equal the
# original (cmp), labels and UUIDs must match dumpe2fs; corrupted filesystems give one error
# line, never a crash.
# ctest-sections: formats volumes get hostile
source "$(dirname "$0")/lib.sh"
PATH=$PATH:/usr/sbin:/sbin # e2fsprogs and fdisk, for users whose PATH lacks them
need mkfs.ext4 sfdisk qemu-img dumpe2fs

ESC=$(printf '\033')

# The source tree in src/.
make_src() {
  umask 022 # the modes the listings expect
  mkdir -p src/dir/sub "src/odd name" src/empty-dir
  printf 'hello\n' >src/a.txt
  : >src/empty
  head -c 1500000 /dev/urandom >src/dir/big.bin
  head -c 4097 /dev/urandom >src/dir/page-plus-one
  truncate -s 3M src/dir/sparse
  printf 'tail' | dd of=src/dir/sparse bs=1 seek=2000000 conv=notrunc 2>/dev/null
  ln -s ../a.txt src/dir/link
  printf 'escaped' >"src/odd name/e${ESC}x"
  printf 'spaced' >"src/odd name/with  two spaces"
  local i
  for i in $(seq 1 12); do head -c $((i * 300)) /dev/urandom >"src/dir/sub/f$i"; done
  chmod 0750 src/dir/sub
  chmod 0600 src/dir/sub/f1
  touch -d '2001-02-03 04:05:06 UTC' src/a.txt
}

# disk.raw: an MBR with one partition at 1 MiB holding ext4 made from src/.
make_disk() {
  mkfs.ext4 -q -F -L "${1:-dimg-test}" -d src fs.img 12M >/dev/null
  truncate -s 14M disk.raw
  echo 'start=2048, type=83' | sfdisk -q disk.raw
  dd if=fs.img of=disk.raw bs=512 seek=2048 conv=notrunc 2>/dev/null
}

source "$(dirname "$0")/fs_lib.sh"

sec_formats() {
  make_src
  make_disk
  check_image disk.raw
  qemu-img convert -f raw -O qcow2 disk.raw d.qcow2
  qemu-img convert -f raw -O vmdk disk.raw d.vmdk
  qemu-img convert -f raw -O vdi disk.raw d.vdi
  # A chain whose data is split between its layers: the base lacks the second half.
  cp disk.raw half.raw
  dd if=/dev/zero of=half.raw bs=1M seek=7 count=7 conv=notrunc 2>/dev/null
  qemu-img convert -f raw -O qcow2 half.raw base.qcow2
  qemu-img convert -f raw -O qcow2 disk.raw top.qcow2
  qemu-img rebase -q -f qcow2 -b base.qcow2 -F qcow2 top.qcow2
  [ -n "$(qemu-img info top.qcow2 | grep backing)" ] || fail "the chain has no backing file"
  for img in d.qcow2 d.vmdk d.vdi top.qcow2; do check_image "$img"; done
  # Encrypted underneath: a LUKS qcow2, the password from the environment.
  qretry qemu-img convert -f raw -O qcow2 --object secret,id=s0,data=fs-pw \
    -o encrypt.format=luks,encrypt.key-secret=s0,encrypt.iter-time=10 disk.raw luks.qcow2
  export DIMG_TEST_PW=fs-pw
  run "$DIMG" --password-env DIMG_TEST_PW cat luks.qcow2:/dir/big.bin
  cmp -s "$T/out" src/dir/big.bin && pass || fail "cat through LUKS ($(cat "$T/err"))"
  run "$DIMG" ls luks.qcow2:/
  expect_rc 1 "ls of an encrypted image without a password"
  # ext2 (indirect blocks: the 1.5 MB file needs double indirection with 1 KiB blocks) and ext4
  # with 4 KiB blocks, as bare filesystems.
  mkfs.ext4 -q -F -t ext2 -d src e2.img 12M >/dev/null
  check_image e2.img
  run "$DIMG" volumes e2.img
  grep -qE '^#0 +disk .* ext2 ' "$T/out" && pass || fail "ext2 named: $(cat "$T/out")"
  mkfs.ext4 -q -F -b 4096 -d src e4k.img 16M >/dev/null
  check_image e4k.img

  # ls of one directory, of a file, a symlink with -l, #1 named, and errors.
  run "$DIMG" ls d.qcow2#1:/dir
  expect_rc 0 "ls #1:/dir"
  printf 'big.bin\nlink\npage-plus-one\nsparse\nsub\n' >"$T/want"
  expect_same "$T/out" "$T/want" "ls #1:/dir"
  run "$DIMG" ls -l d.qcow2:/dir/link
  grep -q '^lrwxrwxrwx .* link -> \.\./a\.txt$' "$T/out" && pass || fail "ls -l link: $(cat "$T/out")"
  run "$DIMG" ls -l d.qcow2:/a.txt
  grep -q '^-rw-r--r-- .* 6 2001-02-03 04:05 a.txt$' "$T/out" && pass || fail "ls -l a.txt: $(cat "$T/out")"
  run "$DIMG" ls -l "d.qcow2:/odd name"
  grep -qF 'e\ex' "$T/out" && pass || fail "escape byte not escaped: $(cat -v "$T/out")"
  if grep -q "$ESC" "$T/out"; then fail "raw escape byte in ls output"; else pass; fi
  run "$DIMG" cat d.qcow2:/dir/link
  [ "$(cat "$T/out")" = hello ] && pass || fail "cat through a symlink"
  run "$DIMG" cat d.qcow2:/nope/x
  expect_rc 1 "cat missing"
  expect_one_error_line "no such file" "cat missing"
  run "$DIMG" cat d.qcow2:/a.txt/x
  expect_one_error_line "not a directory" "cat through a file"
  run "$DIMG" cat d.qcow2:/dir
  expect_one_error_line "is a directory" "cat a directory"
  run "$DIMG" cat d.qcow2
  expect_one_error_line "name a path inside the image" "cat without a path"
  run "$DIMG" ls d.qcow2#7:/
  expect_one_error_line "no volume #7" "ls of a missing volume"
  finish
}

sec_volumes() {
  need sgdisk
  make_src
  make_disk vol-label
  run "$DIMG" volumes disk.raw
  expect_rc 0 volumes
  uuid=$(dumpe2fs -h fs.img 2>/dev/null | sed -n 's/^Filesystem UUID: *//p')
  grep -qE "^#1 +Linux .* ext4 +vol-label +$uuid\$" "$T/out" && pass || fail "volumes: $(cat "$T/out")"
  run "$DIMG" volumes --output=json disk.raw
  [ "$(json_str "$T/out" uuid)" = "$uuid" ] && pass || fail "json uuid"
  [ "$(json_str "$T/out" label)" = vol-label ] && pass || fail "json label"
  [ "$(json_num "$T/out" start)" = 1048576 ] && pass || fail "json start"
  used=$(json_num "$T/out" used)
  free=$(dumpe2fs -h fs.img 2>/dev/null | sed -n 's/^Free blocks: *//p')
  [ "$used" = $(((12 * 1024 - free) * 1024)) ] && pass || fail "json used $used (free blocks $free)"

  # The whole disk holding the filesystem itself, GPT, and a logical partition.
  run "$DIMG" volumes fs.img
  grep -qE '^#0 +disk .* ext4 +vol-label' "$T/out" && pass || fail "whole disk: $(cat "$T/out")"
  run "$DIMG" ls fs.img:/dir/sub
  expect_rc 0 "ls of a bare filesystem"
  truncate -s 40M gpt.raw
  sgdisk -n 1:2048:+14M -n 2:0:+14M gpt.raw >/dev/null 2>&1
  dd if=fs.img of=gpt.raw bs=512 seek=2048 conv=notrunc 2>/dev/null
  run "$DIMG" volumes gpt.raw
  grep -qE '^#1 .* ext4 +vol-label' "$T/out" && pass || fail "gpt #1: $(cat "$T/out")"
  grep -qE '^#2 .* - +- +-$' "$T/out" && pass || fail "gpt #2 empty: $(cat "$T/out")"
  run "$DIMG" cat gpt.raw:/a.txt
  [ "$(cat "$T/out")" = hello ] && pass || fail "cat on gpt: $(cat "$T/err")"

  mkfs.ext4 -q -F -L second -d src/dir fs2.img 12M >/dev/null
  truncate -s 40M logical.raw
  printf 'start=2048, size=28672, type=83\nstart=32768, type=5\nstart=34816, type=83\n' |
    sfdisk -q logical.raw
  dd if=fs.img of=logical.raw bs=512 seek=2048 conv=notrunc 2>/dev/null
  dd if=fs2.img of=logical.raw bs=512 seek=34816 conv=notrunc 2>/dev/null
  run "$DIMG" volumes logical.raw
  grep -qE '^#5 .* ext4 +second' "$T/out" && pass || fail "logical #5: $(cat "$T/out")"
  run "$DIMG" ls logical.raw
  expect_rc 1 "ls with two filesystems"
  expect_one_error_line "holds 2 filesystems" "ls with two filesystems"
  run "$DIMG" cat logical.raw#5:/big.bin
  cmp -s "$T/out" src/dir/big.bin && pass || fail "cat #5"
  # Recognised but not browsed: swap (mkswap), and the superblock magics of xfs, btrfs, LUKS
  # and BitLocker written into an empty volume.
  if command -v mkswap >/dev/null; then
    truncate -s 1M swap.img
    mkswap -q swap.img >/dev/null 2>&1
    run "$DIMG" ls swap.img
    expect_rc 1 "ls of swap"
    expect_one_error_line "holds swap: recognised but not browsed" "ls of swap"
    run "$DIMG" volumes swap.img
    grep -qE '^#0 +disk .* swap ' "$T/out" && pass || fail "swap named: $(cat "$T/out")"
  fi
  magic() { truncate -s 1M "$1.img"; printf -- "$3" | dd of="$1.img" bs=1 seek="$2" conv=notrunc 2>/dev/null; }
  magic xfs 0 'XFSB'
  magic btrfs $((0x10040)) '_BHRfS_M'
  magic luks 0 'LUKS\xba\xbe\x00\x02'
  magic bitlocker 3 '-FVE-FS-'
  for k in xfs:xfs btrfs:btrfs luks:LUKS bitlocker:BitLocker; do
    run "$DIMG" cat -f raw "${k%%:*}.img:/x" # a bare LUKS file is otherwise refused as a format
    expect_one_error_line "holds ${k##*:}: recognised but not browsed" "${k%%:*}"
  done
  truncate -s 1M blank.img
  run "$DIMG" ls blank.img
  expect_one_error_line "no filesystem dimg can browse" "blank disk"
  # Names an image may hold: '#' and ':' in the image's own name.
  cp disk.raw 'we#ird:name.raw'
  run "$DIMG" cat 'we#ird:name.raw#1:/a.txt'
  [ "$(cat "$T/out")" = hello ] && pass || fail "image name with # and : ($(cat "$T/err"))"
  finish
}

sec_get() {
  make_src
  mkfifo -m 0644 src/fifo
  make_disk
  qemu-img convert -f raw -O qcow2 disk.raw d.qcow2
  run "$DIMG" ls -l d.qcow2:/fifo
  grep -q '^prw-r--r-- .* fifo$' "$T/out" && pass || fail "ls -l fifo: $(cat "$T/out")"
  mkdir dst
  run "$DIMG" get d.qcow2:/ dst/root
  expect_rc 0 "get /"
  expect_one_error_line "warning: fifo: skipped (a FIFO)" "get / skips the FIFO"
  rm src/fifo
  rm -rf dst/root/lost+found
  if diff -r --no-dereference src dst/root >"$T/diff"; then pass; else fail "get / differs"; head "$T/diff"; fi
  [ "$(readlink dst/root/dir/link)" = ../a.txt ] && pass || fail "symlink not kept as a link"
  [ "$(stat -c %a dst/root/dir/sub)" = 750 ] && pass || fail "dir mode $(stat -c %a dst/root/dir/sub)"
  [ "$(stat -c %a dst/root/dir/sub/f1)" = 600 ] && pass || fail "file mode"
  [ "$(stat -c %Y dst/root/a.txt)" = "$(stat -c %Y src/a.txt)" ] && pass || fail "mtime not kept"
  [ "$(du -k dst/root/dir/sparse | cut -f1)" -lt 1000 ] && pass || fail "sparse file written dense"
  # One file into a directory, and under a new name.
  run "$DIMG" get d.qcow2:/dir/big.bin dst
  expect_rc 0 "get a file into a directory"
  cmp -s dst/big.bin src/dir/big.bin && pass || fail "get file"
  run "$DIMG" get d.qcow2:/dir/big.bin dst
  expect_rc 1 "get over an existing file"
  expect_one_error_line "exists" "get over an existing file"
  run "$DIMG" get --force d.qcow2:/a.txt dst/big.bin
  expect_rc 0 "get --force"
  cmp -s dst/big.bin src/a.txt && pass || fail "get --force content"
  ls dst | grep -q '\.part' && fail "a .part file was left" || pass
  # A symlink in DEST is never followed: the directory it points to stays untouched.
  mkdir dst2 victim
  ln -s ../victim dst2/dir
  run "$DIMG" get d.qcow2:/dir dst2
  expect_rc 1 "get into a symlinked directory"
  [ -z "$(ls victim)" ] && pass || fail "wrote through a symlink in DEST"
  finish
}

sec_hostile() {
  make_src
  # Without metadata checksums, so that corrupted fields reach the reader.
  mkfs.ext4 -q -F -O ^metadata_csum -d src fs.img 12M >/dev/null
  # corrupt NAME OFFSET HEXBYTES: a copy of fs.img with bytes written at OFFSET.
  corrupt() {
    cp fs.img "$1"
    printf "$3" | dd of="$1" bs=1 seek="$2" conv=notrunc 2>/dev/null
  }
  # superblock at 1024: s_log_block_size (+24), s_blocks_count (+4), s_inodes_per_group (+40),
  # s_blocks_per_group (+32), s_first_data_block (+20), s_inodes_count (+0), s_desc_size.
  corrupt bs.img $((1024 + 24)) '\x20'
  corrupt blocks.img $((1024 + 4)) '\xff\xff\xff\x7f'
  corrupt ipg.img $((1024 + 40)) '\x00\x00\x00\x00'
  corrupt bpg.img $((1024 + 32)) '\x01\x00\x00\x00'
  corrupt first.img $((1024 + 20)) '\xff\xff\x00\x00'
  corrupt inodes.img $((1024 + 0)) '\xff\xff\xff\xff'
  corrupt feat.img $((1024 + 0x60)) '\xff\xff\xff\xff'
  for f in bs blocks ipg bpg first inodes feat; do
    run timeout 20 "$DIMG" ls -R "$f.img"
    [ "$rc" -ge 1 ] && [ "$rc" -lt 124 ] && pass || fail "$f: exit $rc"
    expect_one_error_line "" "$f"
  done
  # Inode fields: the root directory's inode (2) in the inode table.
  itab=$(dumpe2fs fs.img 2>/dev/null | sed -n 's/.*Inode table at \([0-9]*\)-.*/\1/p' | head -n 1)
  isz=$(dumpe2fs -h fs.img 2>/dev/null | sed -n 's/^Inode size: *//p')
  root=$((itab * 1024 + isz))
  corrupt size.img $((root + 4)) '\xff\xff\xff\xff'   # i_size
  corrupt blk.img $((root + 40 + 12 + 4)) '\xff\xff\xff\x0f' # the first extent's start (lo)
  corrupt depth.img $((root + 40 + 6)) '\x05\x00'     # extent tree depth
  corrupt mode.img $((root)) '\xff\xaf'               # i_mode: not a directory
  corrupt flags.img $((root + 32)) '\x00\x00\x00\x10' # i_flags: inline data, no extents
  for f in blk depth mode flags; do
    run timeout 20 "$DIMG" ls -R "$f.img"
    [ "$rc" -ge 1 ] && [ "$rc" -lt 124 ] && pass || fail "$f: exit $rc"
    expect_one_error_line "" "$f"
  done
  # A directory claiming 4 GiB: only its blocks are read, so it lists as it is.
  run timeout 20 "$DIMG" ls -R size.img
  expect_rc 0 "directory of 4 GiB"
  # A directory block whose first entry's record length is 0 or runs past the block.
  dblk=$(debugfs -R 'bmap /dir 0' fs.img 2>/dev/null)
  corrupt rec0.img $((dblk * 1024 + 4)) '\x00\x00'
  corrupt recbig.img $((dblk * 1024 + 16)) '\xff\x7f'
  for f in rec0 recbig; do
    run timeout 20 "$DIMG" ls "$f.img:/dir"
    expect_rc 1 "$f"
    expect_one_error_line "corrupted entry" "$f"
  done
  # A directory linked into itself (debugfs): ls -R and get stop at the loop, once.
  if command -v debugfs >/dev/null; then
    cp fs.img loop.img
    debugfs -w -R "link /dir /dir/sub/loop" loop.img >/dev/null 2>&1
    run timeout 20 "$DIMG" ls -R loop.img
    expect_rc 1 "ls -R of a directory loop"
    expect_one_error_line "dir/sub/loop: directory loop" "ls -R of a directory loop"
    mkdir dst
    run timeout 20 "$DIMG" get loop.img:/dir dst
    expect_rc 1 "get of a directory loop"
    expect_one_error_line "directory loop" "get of a directory loop"
    run "$DIMG" cat loop.img:/dir/sub/loop/sub/loop/big.bin/x
    expect_one_error_line "not a directory" "a path through the loop and a file"
  fi
  # Random bytes over the metadata: never a crash (exit 0 or 1, at most one error line).
  for seed in 1 2 3 4 5 6 7 8; do
    cp fs.img rnd.img
    for k in 1 2 3 4 5 6 7 8; do
      off=$(((seed * 7919 + k * 104729) % (400 * 1024)))
      printf "$(printf '%s' "$seed-$k" | sha256sum | cut -c1-32 | sed 's/../\\x&/g')" |
        dd of=rnd.img bs=1 seek=$off conv=notrunc 2>/dev/null
    done
    run timeout 20 "$DIMG" ls -R rnd.img
    { [ "$rc" -eq 0 ] || [ "$rc" -eq 1 ]; } && pass || fail "random $seed: exit $rc"
    [ "$(wc -l <"$T/err")" -le 1 ] && pass || fail "random $seed: $(cat "$T/err")"
  done
  finish
}

sections "$@"

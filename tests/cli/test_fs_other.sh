#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# test_fs_other.sh: dimg ls -R and cat on FAT, NTFS and ISO 9660 filesystems made by their own
# tools (mkfs.vfat + mcopy, mkntfs + ntfscp, xorriso), through qcow2, vmdk and vdi made by
# qemu-img: the listing is exactly the source tree (names and sizes) and every file read back
# equals the original (cmp); dimg volumes names the filesystem and its label as blkid does.
# ctest-sections: fat ntfs iso
source "$(dirname "$0")/lib.sh"
PATH=$PATH:/usr/sbin:/sbin
need qemu-img blkid
ESC=$(printf '\033')
source "$(dirname "$0")/fs_lib.sh"

# The source tree: directories, sizes across clusters, an empty file, long and odd names.
make_src() {
  mkdir -p src/docs/deep src/empty-dir
  printf 'hello\n' >src/a.txt
  : >src/empty
  head -c 300000 /dev/urandom >src/docs/big.bin
  head -c 4097 /dev/urandom >src/docs/page-plus-one
  seq 1 3000 >"src/docs/deep/A long file name with spaces.txt"
  local i
  for i in 1 2 3 4 5 6 7 8; do head -c $((i * 700)) /dev/urandom >"src/docs/deep/f$i.dat"; done
}

# through_formats VOLUME: the volume as raw, qcow2, vmdk and vdi, each checked against src/.
through_formats() {
  check_image "$1"
  local f
  for f in qcow2 vmdk vdi; do
    qemu-img convert -f raw -O $f "$1" "d.$f"
    check_image "d.$f"
  done
}

# label_is IMG FS LABEL: dimg volumes shows FS and LABEL, the label as blkid reads it.
label_is() {
  run "$DIMG" volumes "$1"
  grep -qE " $2 +$3( |$)" "$T/out" && pass || fail "volumes $1: want $2 $3: $(cat "$T/out")"
  [ "$(blkid -o value -s LABEL "$4")" = "$3" ] && pass || fail "blkid disagrees on the label of $4"
}

sec_fat() {
  need mkfs.vfat mcopy
  make_src
  truncate -s 8M fat.img
  mkfs.vfat -F 16 -s 1 -n DIMGFAT fat.img >/dev/null
  mcopy -s -i fat.img src/* ::/
  through_formats fat.img
  label_is d.qcow2 vfat DIMGFAT fat.img
}

sec_ntfs() {
  need mkntfs ntfscp
  make_src
  truncate -s 16M ntfs.img
  mkntfs -F -Q -q -L dimgntfs ntfs.img >/dev/null 2>&1
  # ntfscp copies files, not directories: the tree without them, the directories by FUSE when
  # there is ntfs-3g, else only the root's files.
  if command -v ntfs-3g >/dev/null && [ "$(id -u)" = 0 ] && [ -e /dev/fuse ] &&
    mkdir mnt && ntfs-3g ntfs.img mnt 2>/dev/null; then
    cp -r src/. mnt/ && sync
    umount mnt
  else
    rm -rf src/docs src/empty-dir
    local f
    for f in src/*; do ntfscp -f ntfs.img "$f" "$(basename "$f")" >/dev/null 2>&1; done
  fi
  through_formats ntfs.img
  label_is d.vdi ntfs dimgntfs ntfs.img
}

sec_iso() {
  need xorriso
  make_src
  rm -rf src/empty-dir # an empty directory: kept by Rock Ridge, but keep the check simple
  xorriso -as mkisofs -R -J -V DIMGISO -o cd.iso src >/dev/null 2>&1
  through_formats cd.iso
  label_is d.vmdk iso9660 DIMGISO cd.iso
}

sections "$@"
finish

#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# tests/fuzz/seeds.sh DIMG OUTDIR: make the seed corpora of the fuzz targets in tests/fuzz.
#
# Small valid images of every variant, made with qemu-img/qemu-io (the oracle) and with dimg
# itself (the formats qemu-img no longer writes), one directory per target: OUTDIR/fuzz_qcow2,
# ... OUTDIR/fuzz_probe (every image), plus descriptor texts, themes and option strings.
# Nothing here is committed as a binary: tests/fuzz/run calls this before every run.
set -euo pipefail

dimg=$1
out=$2
src=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

rm -rf "$out"
for t in qcow2 qcow cow ucow vdi vmdk vpc bochs cloop dmg luks raw probe vmdk_desc ovf theme opts archive crypt datafile fat \
  lvm ntfs iso vmdk_stream; do
  mkdir -p "$out/fuzz_$t"
done

q() { qemu-img "$@" >/dev/null; }
# Write a few recognisable runs into an image qemu-io can write.
fill() {
  qemu-io -f "$1" -c 'write -P 0x5a 0 4k' -c 'write -P 0xa5 12k 1k' -c 'write -z 20k 4k' \
    -c 'write -P 0x11 60k 4k' "$2" >/dev/null
}
# A raw image of 64 KiB with the same pattern, the source of dimg conversions.
base=$tmp/base.raw
q create -f raw "$base" 64k
fill raw "$base"
cp "$base" "$out/fuzz_raw/plain.raw"
head -c 1000 "$base" >"$out/fuzz_raw/odd-size.raw"

# qcow2: both versions, small clusters (small seeds), refcount widths, extended L2,
# compression (zlib and zstd), a backing file name, snapshots, external data file, aes.
qc2() { # NAME OPTIONS
  q create -f qcow2 -o "$2" "$tmp/$1.qcow2" 64k
  fill qcow2 "$tmp/$1.qcow2"
  cp "$tmp/$1.qcow2" "$out/fuzz_qcow2/$1.qcow2"
}
qc2 v2 compat=0.10,cluster_size=512
qc2 v3 compat=1.1,cluster_size=4k
qc2 rc1 cluster_size=4k,refcount_bits=1
qc2 rc64 cluster_size=4k,refcount_bits=64
qc2 ext-l2 cluster_size=16k,extended_l2=on
qc2 lazy cluster_size=4k,lazy_refcounts=on
q convert -c -f raw -O qcow2 -o cluster_size=4k "$base" "$out/fuzz_qcow2/zlib.qcow2"
q convert -c -f raw -O qcow2 -o cluster_size=4k,compression_type=zstd "$base" \
  "$out/fuzz_qcow2/zstd.qcow2"
q create -f qcow2 -o cluster_size=4k -u -b base.raw -F raw "$out/fuzz_qcow2/overlay.qcow2" 64k
q create -f qcow2 -o cluster_size=4k "$tmp/snap.qcow2" 64k
qemu-io -c 'write -P 0x22 0 8k' "$tmp/snap.qcow2" >/dev/null
q snapshot -c first "$tmp/snap.qcow2"
qemu-io -c 'write -P 0x33 4k 8k' "$tmp/snap.qcow2" >/dev/null
q snapshot -c second "$tmp/snap.qcow2"
cp "$tmp/snap.qcow2" "$out/fuzz_qcow2/snapshots.qcow2"
(cd "$tmp" && q create -f qcow2 -o cluster_size=4k,data_file=data.raw datafile.qcow2 64k)
cp "$tmp/datafile.qcow2" "$out/fuzz_qcow2/"
q create -f qcow2 --object secret,id=s,data=fuzz \
  -o cluster_size=4k,encrypt.format=aes,encrypt.key-secret=s "$out/fuzz_qcow2/aes.qcow2" 64k
"$dimg" convert -f raw -O qcow2 -o cluster_size=4k "$base" "$out/fuzz_qcow2/dimg.qcow2" >/dev/null

# qcow (version 1): plain, with data, compressed, a backing file name, aes.
q create -f qcow "$tmp/plain.qcow" 64k
fill qcow "$tmp/plain.qcow"
cp "$tmp/plain.qcow" "$out/fuzz_qcow/plain.qcow"
q create -f qcow "$out/fuzz_qcow/compressed.qcow" 64k
qemu-io -f qcow -c 'write -c -P 0x5a 0 4k' -c 'write -c -P 0x11 8k 4k' \
  "$out/fuzz_qcow/compressed.qcow" >/dev/null
q create -f qcow -u -b base.raw -F raw "$out/fuzz_qcow/overlay.qcow" 64k
q create -f qcow --object secret,id=s,data=fuzz -o encrypt.format=aes,encrypt.key-secret=s \
  "$out/fuzz_qcow/aes.qcow" 64k

# cow (QEMU's, only dimg writes it) and ucow (UML's: from the hand-made golden fixtures).
"$dimg" convert -f raw -O cow "$base" "$out/fuzz_cow/converted.cow" >/dev/null
"$dimg" create -f cow -b base.raw -F raw -u "$out/fuzz_cow/overlay.cow" 64k >/dev/null
# Decode the fixture syntax of tests/fixtures/*.hex (see their headers).
hexdecode() {
  perl -e 'my $img = ""; while (<STDIN>) { s/#.*//; next unless /\S/;
    if (/^\s*size (\d+)/) { $img = "\0" x $1; next }
    /^\s*@(\d+)(?:\*(\d+))?\s+(.*)/ or die "bad line: $_"; my ($off, $fill) = ($1, $2);
    for my $h (split " ", $3) { my $n = $fill || 1; substr($img, $off, $n) = chr(hex $h) x $n;
      $off += $n } } print $img' <"$1" >"$2"
}
hexdecode "$src/tests/fixtures/cow_golden.hex" "$out/fuzz_cow/golden.cow"
hexdecode "$src/tests/fixtures/ucow_v3_golden.hex" "$out/fuzz_ucow/golden-v3.ucow"

# vdi: dynamic with data, static, and one dimg made.
q create -f vdi "$tmp/dyn.vdi" 64k
fill vdi "$tmp/dyn.vdi"
cp "$tmp/dyn.vdi" "$out/fuzz_vdi/dynamic.vdi"
q create -f vdi -o static=on "$out/fuzz_vdi/static.vdi" 64k
# Its 1 MiB blocks make big seeds: also an empty one and a copy cut inside the first block.
q create -f vdi "$out/fuzz_vdi/empty.vdi" 64k
head -c 8192 "$tmp/dyn.vdi" >"$out/fuzz_vdi/cut.vdi"
"$dimg" convert -f raw -O vdi "$base" "$out/fuzz_vdi/dimg.vdi" >/dev/null

# vpc: dynamic (empty, and with data cut inside its first 2 MiB block), fixed, dimg-made
# fixed with force_size.
q create -f vpc "$out/fuzz_vpc/empty.vhd" 64k
q create -f vpc "$tmp/dyn.vhd" 64k
fill vpc "$tmp/dyn.vhd"
head -c 8192 "$tmp/dyn.vhd" >"$out/fuzz_vpc/cut.vhd"
tail -c 512 "$tmp/dyn.vhd" >>"$out/fuzz_vpc/cut.vhd"
q create -f vpc -o subformat=fixed "$tmp/fix.vhd" 64k
fill vpc "$tmp/fix.vhd"
cp "$tmp/fix.vhd" "$out/fuzz_vpc/fixed.vhd"
"$dimg" convert -f raw -O vpc -o subformat=fixed,force_size "$base" "$out/fuzz_vpc/dimg.vhd" \
  >/dev/null

# vmdk: the sparse variants whole; for flat and split ones the descriptor file alone.
q create -f vmdk "$tmp/sparse.vmdk" 64k
fill vmdk "$tmp/sparse.vmdk"
cp "$tmp/sparse.vmdk" "$out/fuzz_vmdk/sparse.vmdk"
q create -f vmdk -o zeroed_grain=on "$tmp/zg.vmdk" 64k
fill vmdk "$tmp/zg.vmdk"
cp "$tmp/zg.vmdk" "$out/fuzz_vmdk/zeroed-grain.vmdk"
q create -f vmdk -o compat6=on "$out/fuzz_vmdk/compat6.vmdk" 64k
q convert -f raw -O vmdk -o subformat=streamOptimized "$base" "$out/fuzz_vmdk/stream.vmdk"
q create -f vmdk -o subformat=monolithicFlat "$tmp/flat.vmdk" 64k
cp "$tmp/flat.vmdk" "$out/fuzz_vmdk/flat-descriptor.vmdk"
q create -f vmdk -o subformat=twoGbMaxExtentSparse "$tmp/split.vmdk" 64k
cp "$tmp/split.vmdk" "$out/fuzz_vmdk/split-descriptor.vmdk"
"$dimg" convert -f raw -O vmdk "$base" "$out/fuzz_vmdk/dimg.vmdk" >/dev/null
# fuzz_vmdk_stream: a first byte (bit 0: the length is declared), then a streamOptimized vmdk
# as qemu-img (tables in front) and dimg (directory at the end) write it, and a raw disk.
for l in 0 1; do
  { printf "\\$l"; cat "$out/fuzz_vmdk/stream.vmdk"; } >"$out/fuzz_vmdk_stream/qemu-$l.vmdk"
  "$dimg" convert -f raw -O vmdk -o subformat=streamOptimized "$base" "$tmp/ds.vmdk" >/dev/null
  { printf "\\$l"; cat "$tmp/ds.vmdk"; } >"$out/fuzz_vmdk_stream/dimg-$l.vmdk"
  rm -f "$tmp/ds.vmdk"
done
{ printf '\1'; cat "$base"; } >"$out/fuzz_vmdk_stream/raw"
# Descriptor and extent in one input (fuzz_exercise.c splits them at the separator and writes
# the extent beside the image as extent.vmdk): flat, split sparse, vmfsSparse (COWD) and
# seSparse, the last two built from their documented layouts (qemu-img cannot write them).
sep=$'\n==dimg-fuzz-extent==\n'
with_extent() { # NAME DESCRIPTOR EXTENT
  { sed -E 's/"[^"]*\.vmdk"/"extent.vmdk"/' "$2"; printf '%s' "$sep"; cat "$3"; } \
    >"$out/fuzz_vmdk/$1"
}
q convert -f raw -O vmdk -o subformat=monolithicFlat "$base" "$tmp/flatd.vmdk"
with_extent flat+extent.vmdk "$tmp/flatd.vmdk" "$tmp/flatd-flat.vmdk"
q convert -f raw -O vmdk -o subformat=twoGbMaxExtentSparse "$base" "$tmp/splitd.vmdk"
with_extent split+extent.vmdk "$tmp/splitd.vmdk" "$tmp/splitd-s001.vmdk"
vmdk_desc() { # createType EXTENT-TYPE SECTORS
  printf '# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\n'
  printf 'createType="%s"\nRW %s %s "x.vmdk"\n' "$1" "$3" "$2"
}
# COWD: 8192 sectors of 1-sector grains; directory at sector 4, table at 5, grains 0, 7 and
# 4095 at sectors 37, 39 and 38.
perl -e 'my $f = "\0" x 20480; substr($f, 0, 32) = pack("a4 V7", "COWD", 1, 3, 8192, 1, 4, 2, 40);
  substr($f, 4 * 512, 4) = pack("V", 5); substr($f, 5 * 512, 4) = pack("V", 37);
  substr($f, 5 * 512 + 28, 4) = pack("V", 39); substr($f, 5 * 512 + 4095 * 4, 4) = pack("V", 38);
  substr($f, 37 * 512, 1536) = "\x5a" x 1536; print $f' >"$tmp/cowd"
vmdk_desc vmfsSparse VMFSSPARSE 8192 >"$tmp/cowd.desc"
with_extent cowd+extent.vmdk "$tmp/cowd.desc" "$tmp/cowd"
# seSparse: 32768 sectors of 8-sector grains; volatile header at 1, journal at 2, directory at
# 12, tables at 64, grains at 144: grain 0 allocated, grain 5 zero.
perl -e 'my $f = "\0" x (144 * 512 + 4096);
  substr($f, 0, 168) = pack("Q<5 x40 Q<16", 0xcafebabe, 0x200000001, 32768, 8, 64,
    1, 1, 2, 2, 4, 8, 12, 1, 64, 64, 128, 8, 136, 8, 144, 80000);
  substr($f, 512, 8) = pack("Q<", 0xcafecafe); substr($f, 12 * 512, 8) = pack("Q<", 1 << 60);
  substr($f, 64 * 512, 8) = pack("Q<", 3 << 60); substr($f, 64 * 512 + 40, 8) = pack("Q<", 2 << 60);
  substr($f, 144 * 512, 4096) = "\xa5" x 4096; print $f' >"$tmp/se"
vmdk_desc seSparse SESPARSE 32768 >"$tmp/se.desc"
with_extent sesparse+extent.vmdk "$tmp/se.desc" "$tmp/se"
# Descriptor texts: the separate ones and the one embedded in a sparse extent (sector 1 on).
cp "$tmp/flat.vmdk" "$out/fuzz_vmdk_desc/flat.txt"
cp "$tmp/split.vmdk" "$out/fuzz_vmdk_desc/split.txt"
dd if="$tmp/sparse.vmdk" bs=512 skip=1 count=20 status=none | tr -d '\0' \
  >"$out/fuzz_vmdk_desc/embedded.txt"
dd if="$out/fuzz_vmdk/stream.vmdk" bs=512 skip=1 count=20 status=none | tr -d '\0' \
  >"$out/fuzz_vmdk_desc/stream.txt"

# OVF descriptors: what dimg export writes, for SCSI and IDE.
"$dimg" export -q --ova "$tmp/a.ova" --cpus 2 --memory 512 "$base" "$tmp/dyn.vdi" >/dev/null
tar -xOf "$tmp/a.ova" --wildcards '*.ovf' >"$out/fuzz_ovf/scsi.ovf"
"$dimg" export -q --ova "$tmp/b.ova" --controller=ide "$base" >/dev/null
tar -xOf "$tmp/b.ova" --wildcards '*.ovf' >"$out/fuzz_ovf/ide.ovf"

# Archives: the first byte picks the name the target stores the rest under (fuzz_archive.c:
# 0 .tar, 1 .ova, 2 .zip, 3 .tgz, 4 .raw.gz, 5 .raw.xz, 6 .raw.zst).
arc() { { printf "\\x0$1"; cat "$2"; } >"$out/fuzz_archive/$3"; }
(cd "$tmp" && cp "$base" disk.raw && tar cf t.tar disk.raw && tar czf t.tgz disk.raw &&
  zip -q t.zip disk.raw && gzip -kc disk.raw >d.gz && xz -kc disk.raw >d.xz &&
  zstd -qc disk.raw >d.zst)
arc 0 "$tmp/t.tar" plain.tar
arc 1 "$tmp/b.ova" ide.ova
arc 2 "$tmp/t.zip" plain.zip
arc 3 "$tmp/t.tgz" plain.tgz
arc 4 "$tmp/d.gz" raw.gz
arc 5 "$tmp/d.xz" raw.xz
arc 6 "$tmp/d.zst" raw.zst

# Encrypted images with data, for fuzz_crypt (which opens them with the password "fuzz",
# FUZZ_PASSWORD): LUKS made by dimg with iter-time=1 (about 1000-3000 PBKDF2 iterations, under
# the target's FUZZ_LUKS_ITER; qemu-img refuses iter-times this short), AES-128 to keep the
# key material small, XTS and CBC-ESSIV; qcow2 and qcow v1 AES made by qemu-img.
export DIMG_FUZZ_PW=fuzz
luks() { # NAME OPTIONS
  "$dimg" convert --password-env DIMG_FUZZ_PW -f raw -O qcow2 \
    -o "cluster_size=4k,encrypt.format=luks,encrypt.iter-time=1,encrypt.cipher-alg=aes-128$2" \
    "$base" "$out/fuzz_crypt/$1.qcow2" >/dev/null
}
luks luks-xts ""
luks luks-cbc-essiv ",encrypt.cipher-mode=cbc,encrypt.ivgen-alg=essiv"
# Raw LUKS (the luks format) the same way: for fuzz_crypt, and for fuzz_luks (header and key
# slots parsed without a password).
"$dimg" convert --password-env DIMG_FUZZ_PW -f raw -O luks -o iter-time=1,cipher-alg=aes-128 \
  "$base" "$out/fuzz_crypt/raw-xts.luks" >/dev/null
"$dimg" convert --password-env DIMG_FUZZ_PW -f raw -O luks \
  -o iter-time=1,cipher-alg=aes-128,cipher-mode=cbc,ivgen-alg=essiv,hash-alg=sha1 \
  "$base" "$out/fuzz_crypt/raw-cbc-essiv.luks" >/dev/null
cp "$out"/fuzz_crypt/raw-*.luks "$out/fuzz_luks/"
qemu-img convert --object secret,id=s,data=fuzz -f raw -O qcow2 \
  -o cluster_size=4k,encrypt.format=aes,encrypt.key-secret=s "$base" "$out/fuzz_crypt/aes.qcow2"
qemu-img convert --object secret,id=s,data=fuzz -f raw -O qcow \
  -o encrypt.format=aes,encrypt.key-secret=s "$base" "$out/fuzz_crypt/aes.qcow"

# qcow2 with an external data file, for fuzz_datafile: the image, FUZZ_EXTENT_SEP, then the
# data file (written as data.raw beside the image): plain and data_file_raw, qemu-img's and
# dimg's.
datafile() { # NAME DIR
  { cat "$2/df.qcow2"; printf '%s' "$sep"; cat "$2/data.raw"; } >"$out/fuzz_datafile/$1.qcow2"
}
mkdir "$tmp/df1" "$tmp/df2" "$tmp/df3"
(cd "$tmp/df1" && q create -f qcow2 -o cluster_size=4k,data_file=data.raw df.qcow2 64k &&
  fill qcow2 df.qcow2)
datafile plain "$tmp/df1"
(cd "$tmp/df2" && q create -f qcow2 -o cluster_size=4k,data_file=data.raw,data_file_raw=on \
  df.qcow2 64k && fill qcow2 df.qcow2)
datafile raw-data "$tmp/df2"
(cd "$tmp/df3" && "$dimg" convert -f raw -O qcow2 -o cluster_size=4k,data_file=data.raw "$base" \
  df.qcow2 >/dev/null)
datafile dimg "$tmp/df3"

# FAT12/16/32 and exFAT volumes for fuzz_fat: mkfs.vfat + mcopy of a small tree (long names,
# nested directories, a multi-cluster file, an empty file), mkfs.exfat empty and, where root can
# mount it through exfat-fuse, filled. Trailing zeros are cut: the target puts them back.
cutz() { # IN OUT: IN without its trailing zero bytes
  perl -e 'local $/; my $d = <STDIN>; my $i = length $d;
    while ($i > 0) { my $s = $i > 65536 ? $i - 65536 : 0;
      if (substr($d, $s, $i - $s) =~ tr/\0//c) { $i-- while substr($d, $i - 1, 1) eq "\0"; last }
      $i = $s }
    print substr($d, 0, $i)' <"$1" >"$2"
}
ft=$tmp/fattree
mkdir -p "$ft/sub dir/deeper"
printf 'hello\n' >"$ft/hello.txt"
head -c 9000 "$base" >"$ft/multi cluster file.bin"
: >"$ft/empty"
printf 'x' >"$ft/sub dir/deeper/A long name, with commas.txt"
fatseed() { # BITS MIB
  rm -f "$tmp/v.img"
  truncate -s "$2M" "$tmp/v.img"
  mkfs.vfat -F "$1" -s 1 -n FUZZ "$tmp/v.img" >/dev/null
  (cd "$ft" && MTOOLS_SKIP_CHECK=1 mcopy -s -i "$tmp/v.img" ./* ::/)
  cutz "$tmp/v.img" "$out/fuzz_fat/fat$1.img"
}
fatseed 12 1
fatseed 16 3
fatseed 32 34
truncate -s 1M "$tmp/x.img"
mkfs.exfat -b 4K -L FUZZ "$tmp/x.img" >/dev/null
cutz "$tmp/x.img" "$out/fuzz_fat/exfat-empty.img"
if [ "$(id -u)" = 0 ] && command -v mount.exfat-fuse >/dev/null &&
  dev=$(losetup -f --show "$tmp/x.img" 2>/dev/null); then
  mkdir -p "$tmp/xm"
  if mount.exfat-fuse "$dev" "$tmp/xm" >/dev/null 2>&1; then
    cp -r "$ft"/. "$tmp/xm"/ || true
    umount "$tmp/xm"
  fi
  losetup -d "$dev"
  cutz "$tmp/x.img" "$out/fuzz_fat/exfat-files.img"
fi

# The read-only formats: bochs by bximage, cloop by create_compressed_fs (when installed),
# dmg by the UDIF writer the tests use.
if command -v bximage >/dev/null; then
  bximage -func=convert -imgmode=growing -q "$base" "$out/fuzz_bochs/growing.bochs" >/dev/null 2>&1
fi
if command -v create_compressed_fs >/dev/null; then
  create_compressed_fs -q -B 4096 "$base" "$out/fuzz_cloop/v2.cloop" >/dev/null 2>&1
fi
python3 "$src/tests/fuzz/mkdmg.py" "$tmp/m.dmg"
cp "$tmp/m.dmg" "$out/fuzz_dmg/chunks.dmg"

# Every image for the probing target.
for d in qcow2 qcow cow ucow vdi vmdk vpc bochs cloop dmg luks raw; do
  cp "$out/fuzz_$d"/* "$out/fuzz_probe/"
done

# Themes: the first byte picks the colour tier and glyph set (fuzz_theme.c).
i=0
for f in "$src"/themes/*.theme; do
  { printf "\\x0$((i % 8))"; cat "$f"; } >"$out/fuzz_theme/$(basename "$f")"
  i=$((i + 1))
done

# Sizes and option lists.
n=0
for s in 0 1 512 64k 1.5M 2G 3T 1E 16E 1024B 0x10 " 7k" "1.k" \
  cluster_size=64k,compat=1.1,lazy_refcounts a,,b=c,d=,=e size=1G,preallocation=metadata \
  off metadata falloc full; do
  printf '%s' "$s" >"$out/fuzz_opts/s$n"
  n=$((n + 1))
done

# LVM2 metadata texts (fuzz_lvm.c wraps them in a PV; the first byte picks where the text
# starts in the circular buffer): linear LVs in one and two segments, a striped and a raid1 LV.
lvm_lv() { # NAME SEGMENTS...
  printf '%s {\nid = "y"\nstatus = ["READ", "WRITE", "VISIBLE"]\nflags = []\n' "$1"
  printf 'segment_count = %d\n' $(($# - 1))
  shift
  k=1
  for s in "$@"; do
    printf 'segment%d {\n%s\n}\n' $k "$s"
    k=$((k + 1))
  done
  printf '}\n'
}
lin() { printf 'start_extent = %d\nextent_count = %d\ntype = "striped"\nstripe_count = 1\nstripes = [\n"pv0", %d\n]' "$@"; }
lvm_vg() { # WRAP-BYTE LVS
  printf "\\x$1"
  printf 'vg0 {\nid = "x"\nseqno = 4\nformat = "lvm2"\nstatus = ["RESIZEABLE", "READ", "WRITE"]\n'
  printf 'extent_size = 8192\nphysical_volumes {\npv0 {\nid = "fuzzfu-zzFU-ZZFU-ZZ01-2345-6789-abcdef"\n'
  printf 'device = "/dev/sda2"\nstatus = ["ALLOCATABLE"]\nflags = []\ndev_size = 131072\npe_start = 2048\npe_count = 15\n}\n}\n'
  printf 'logical_volumes {\n%s}\n}\n# Generated by LVM2\ncontents = "Text Format Volume Group"\nversion = 1\n' "$2"
}
lvm_vg 00 "$(lvm_lv root "$(lin 0 4 0)")" >"$out/fuzz_lvm/linear.txt"
lvm_vg f0 "$(lvm_lv root "$(lin 0 2 3)" "$(lin 2 3 8)")$(lvm_lv swap "$(lin 0 1 2)")" \
  >"$out/fuzz_lvm/wrapped.txt"
lvm_vg 40 "$(lvm_lv st 'start_extent = 0
extent_count = 2
type = "striped"
stripe_count = 2
stripes = ["pv0", 0, "pv1", 0]')$(lvm_lv mirror 'start_extent = 0
extent_count = 1
type = "raid1"
device_count = 2')" >"$out/fuzz_lvm/other.txt"

# Filesystems (fuzz_fs.c, padded setups): the head of each volume, which the target pads back to the size
# the filesystem claims (libFuzzer keeps inputs under 1 MiB).
echo hello >"$tmp/hello.txt"
head -c 5000 /dev/urandom >"$tmp/rand.bin"
for c in 512 4096; do
  truncate -s 1536K "$tmp/n$c.raw"
  mkntfs -F -Q -q -c $c -L fuzz "$tmp/n$c.raw" >/dev/null 2>&1
  ntfscp -f "$tmp/n$c.raw" "$tmp/hello.txt" hello.txt >/dev/null 2>&1
  ntfscp -f "$tmp/n$c.raw" "$tmp/rand.bin" rand.bin >/dev/null 2>&1
  head -c 1000000 "$tmp/n$c.raw" >"$out/fuzz_ntfs/c$c.ntfs"
done
mkdir -p "$tmp/isosrc/dir"
cp "$tmp/hello.txt" "$tmp/isosrc/" && cp "$tmp/rand.bin" "$tmp/isosrc/dir/"
ln -s dir/rand.bin "$tmp/isosrc/link"
xorriso -as mkisofs -R -J -o "$tmp/rr.iso" "$tmp/isosrc" >/dev/null 2>&1
xorriso -as mkisofs -J -o "$tmp/j.iso" "$tmp/isosrc" >/dev/null 2>&1
cp "$tmp/rr.iso" "$tmp/j.iso" "$out/fuzz_iso/"

# Guest filesystems (fuzz_fs.c): small volumes made by the filesystems' own tools, one
# directory per reader (fuzz_fs_NAME), and whole disks with partition tables for fuzz_fs_probe.
for t in ext probe; do mkdir -p "$out/fuzz_fs_$t"; done
fsrc=$tmp/fs-src
mkdir -p "$fsrc/d/e"
printf 'hello\n' >"$fsrc/a"
head -c 5000 "$base" >"$fsrc/d/b"
ln -s ../a "$fsrc/d/l"
printf 'x' >"$fsrc/d/e/f"
if command -v mkfs.ext4 >/dev/null; then
  # ext4 (extents, checksums), ext2 (indirect blocks), ext3, inline data, no checksums (the
  # fuzzer's changes reach the reader), 4 KiB blocks.
  n=0
  for o in "-t ext4 -O ^has_journal" "-t ext2" "-t ext3" "-t ext4 -O ^has_journal,inline_data" \
    "-t ext4 -O ^has_journal,^metadata_csum" "-t ext2 -O ^dir_index"; do
    mkfs.ext4 -q -F -b 1024 -N 32 $o -d "$fsrc" "$out/fuzz_fs_ext/ext$n.img" 128k >/dev/null 2>&1
    n=$((n + 1))
  done
  mkfs.ext4 -q -F -b 4096 -N 32 -O ^has_journal -d "$fsrc" "$out/fuzz_fs_ext/ext4k.img" 512k \
    >/dev/null 2>&1
  # A whole disk: an MBR with the ext4 volume as its first partition.
  if command -v sfdisk >/dev/null; then
    truncate -s 200k "$tmp/disk.img"
    echo 'start=34, type=83' | sfdisk -q "$tmp/disk.img" >/dev/null 2>&1
    dd if="$out/fuzz_fs_ext/ext0.img" of="$tmp/disk.img" bs=512 seek=34 conv=notrunc status=none
    cp "$tmp/disk.img" "$out/fuzz_fs_probe/mbr-ext4.img"
  fi
  cp "$out/fuzz_fs_ext/ext0.img" "$out/fuzz_fs_probe/bare-ext4.img"
fi

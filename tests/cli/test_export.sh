#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# test_export.sh: dimg export --ova and compressed raw output, checked with standard tools:
# GNU tar (member order), sha256sum (the manifest), qemu-img check/compare (the vmdk disks
# against their sources), xmllint or python3 (the OVF is well-formed and says the right
# capacities, sizes, CPUs and memory), xz/gzip/zstd/bzip2 (compressed output equals
# qemu-img convert -O raw byte for byte); failures and Ctrl-C leave no OUT, OUT.part or
# staging directory.
# One ctest entry per behaviour (cli.test_export.SECTION), each on its own files:
# ctest-sections: ova_export ova_disks ova_descriptor ova_names refused interrupt compressed
# ctest-sections: compress_options
source "$(dirname "$0")/lib.sh"

# xq FILE XPATH: the string value of an XPath (local names: the OVF uses namespaces).
if command -v xmllint >/dev/null; then
  xwell() { xmllint --noout "$1"; }
  xq() { xmllint --xpath "string($2)" "$1"; }
elif command -v python3 >/dev/null; then
  xwell() { python3 -c 'import sys, xml.etree.ElementTree as E; E.parse(sys.argv[1])' "$1"; }
  xq() {
    python3 - "$1" "$2" <<'EOF'
import re, sys, xml.dom.minidom as M
# Only the form el() makes: (//*[local-name()='A'])[N], optionally /@*[local-name()='B'].
doc = M.parse(sys.argv[1])
m = re.fullmatch(r"\(//\*\[local-name\(\)='(\w+)'\]\)\[(\d+)\](?:/@\*\[local-name\(\)='(\w+)'\])?", sys.argv[2])
els = [e for e in doc.getElementsByTagName('*') if e.localName == m.group(1)]
i = int(m.group(2) or 1) - 1
if i >= len(els): sys.exit(0)
e = els[i]
if m.group(3):
    print(next((a.value for a in e.attributes.values() if a.localName == m.group(3)), ''), end='')
else:
    print(''.join(n.data for n in e.childNodes if n.nodeType == n.TEXT_NODE), end='')
EOF
  }
else
  echo "FAIL: neither xmllint nor python3 to check the OVF (.ci/setup installs libxml2-utils)"
  exit 1
fi
el() { echo "(//*[local-name()='$1'])[$2]${3:+/@*[local-name()='$3']}"; }
vsize() { qemu-img info --output=json "$1" | sed -n 's/.*"virtual-size": \([0-9]*\).*/\1/p' | head -n 1; }

mk_src() {
  # Sources: a qcow2 with data, a zeroed cluster and holes; a raw of an odd number of sectors.
  qemu-img create -q -f qcow2 a.qcow2 24M
  qemu-io -c "write -P 0x5a 1M 3M" -c "write -P 0x11 20M 64k" -c "write -z 8M 64k" a.qcow2 >/dev/null
  mk_sparse_raw b.img $(( (10 << 20) + 1536 )) 0:4096 6M:200000
  mkdir sub
  cp b.img "sub/we ird;\$name.img"
  qemu-img convert -O raw a.qcow2 a.ref
  qemu-img convert -f raw -O raw b.img b.ref
}

# mk_app_ova: app.ova as the ova_export section makes it, unpacked in x/.
mk_app_ova() {
  "$DIMG" export --ova app.ova --name 'Web & <DB> "1"' --cpus 2 --memory 512 --network 'VM Network' a.qcow2 b.img >/dev/null
  mkdir x
  tar xf app.ova -C x
}

sec_ova_export() {
  mk_src
  # ---- OVA ----
  run "$DIMG" export --ova app.ova --name 'Web & <DB> "1"' --cpus 2 --memory 512 --network 'VM Network' a.qcow2 b.img
  expect_rc 0 "export two images"
  [ -s "$T/out" ] && fail "export wrote to stdout: $(head -c 200 "$T/out")" || pass
  tar tf app.ova >members
  printf '%s\n' 'Web____DB___1_.ovf' a.vmdk b.vmdk 'Web____DB___1_.mf' >want
  expect_same members want "tar tf: descriptor first, disks in order, manifest last"
  ls -a | grep -q 'app.ova.part' && fail "staging or .part left: $(ls -a)" || pass

  mkdir x
  tar xf app.ova -C x
  (cd x && for f in Web____DB___1_.ovf a.vmdk b.vmdk; do
     echo "SHA256($f)= $(sha256sum "$f" | cut -d' ' -f1)"; done) >mf.want
  expect_same x/Web____DB___1_.mf mf.want "manifest lines equal sha256sum of the members"
}

sec_ova_disks() {
  mk_src
  mk_app_ova
  for d in a b; do
    ref=$d.ref
    run qemu-img check -f vmdk "x/$d.vmdk"
    expect_rc 0 "qemu-img check $d.vmdk"
    run qemu-img compare -f raw -F vmdk "$ref" "x/$d.vmdk"
    expect_rc 0 "qemu-img compare $d.vmdk with its source"
    qemu-img info "x/$d.vmdk" | grep -q 'create type: streamOptimized' && pass ||
      fail "$d.vmdk is not streamOptimized"
    # The embedded descriptor names the member itself.
    grep -aq "SPARSE \"$d.vmdk\"" "x/$d.vmdk" && pass || fail "$d.vmdk's extent line names another file"
  done
}

sec_ova_descriptor() {
  mk_src
  mk_app_ova
  ovf=x/Web____DB___1_.ovf
  run xwell "$ovf"
  expect_rc 0 "the OVF is well-formed"
  [ "$(xq "$ovf" "$(el Disk 1 capacity)")" = "$(vsize a.qcow2)" ] && pass || fail "disk 1 capacity $(xq "$ovf" "$(el Disk 1 capacity)")"
  [ "$(xq "$ovf" "$(el Disk 2 capacity)")" = "$(vsize x/b.vmdk)" ] && pass || fail "disk 2 capacity"
  [ "$(vsize x/b.vmdk)" = $(( (10 << 20) + 1536 )) ] && pass || fail "b.vmdk size $(vsize x/b.vmdk)"
  # Populated: a.qcow2's non-zero data is 3 MiB + 64 KiB; b's 4 KiB + 200000 bytes in 64 KiB grains.
  [ "$(xq "$ovf" "$(el Disk 1 populatedSize)")" = $(( (3 << 20) + 65536 )) ] && pass || fail "disk 1 populatedSize $(xq "$ovf" "$(el Disk 1 populatedSize)")"
  [ "$(xq "$ovf" "$(el Disk 2 populatedSize)")" = $(( 65536 + 4 * 65536 )) ] && pass || fail "disk 2 populatedSize $(xq "$ovf" "$(el Disk 2 populatedSize)")"
  [ "$(xq "$ovf" "$(el File 1 href)")" = a.vmdk ] && pass || fail "file 1 href"
  [ "$(xq "$ovf" "$(el File 2 size)")" = "$(stat -c %s x/b.vmdk)" ] && pass || fail "file 2 size"
  [ "$(xq "$ovf" "$(el Name 1)")" = 'Web & <DB> "1"' ] && pass || fail "name: $(xq "$ovf" "$(el Name 1)")"
  [ "$(xq "$ovf" "$(el Network 1 name)")" = 'VM Network' ] && pass || fail "network name"
  # Items: CPU (3) 2, memory (4) 512 MiB, a SCSI controller (6), two disks (17) on it, an adapter (10).
  [ "$(xq "$ovf" "$(el VirtualQuantity 1)")" = 2 ] && pass || fail "CPUs"
  [ "$(xq "$ovf" "$(el VirtualQuantity 2)")" = 512 ] && pass || fail "memory"
  types=
  for i in 1 2 3 4 5 6; do types="$types$(xq "$ovf" "$(el ResourceType $i)") "; done
  [ "$types" = "3 4 6 17 17 10 " ] && pass || fail "resource types: $types"
  # InstanceID 1 is the System's (vssd), so the controller's is the 4th.
  [ "$(xq "$ovf" "$(el Parent 2)")" = "$(xq "$ovf" "$(el InstanceID 4)")" ] && pass || fail "disk 2 not on the controller"
}

sec_ova_names() {
  mk_src
  # Same base names are made unique; odd names made safe; IDE puts the 3rd disk on channel 1.
  run "$DIMG" export -q --ova two.ova --controller=ide a.qcow2 a.qcow2 "sub/we ird;\$name.img"
  expect_rc 0 "export with duplicate and odd names"
  tar tf two.ova >members
  printf '%s\n' two.ovf a.vmdk a-2.vmdk 'we_ird__name.vmdk' two.mf >want
  expect_same members want "unique, safe member names"
  mkdir y
  tar xf two.ova -C y two.ovf
  [ "$(xq y/two.ovf "$(el ResourceType 3)") $(xq y/two.ovf "$(el ResourceType 4)")" = "5 5" ] && pass || fail "two IDE controllers"
  [ "$(xq y/two.ovf "$(el Parent 3)")" = "$(xq y/two.ovf "$(el InstanceID 5)")" ] && pass || fail "3rd disk not on the 2nd IDE channel"
}

sec_refused() {
  mk_src
  # Failures leave nothing behind.
  run "$DIMG" export --ova bad.ova a.qcow2 missing.img
  expect_rc 1 "export with a missing input"
  expect_one_error_line "missing.img" "export with a missing input"
  ls -a | grep -q '^bad.ova' && fail "failed export left $(ls -a | grep bad.ova)" || pass
  touch keep.ova.part
  run "$DIMG" export --ova keep.ova a.qcow2
  expect_rc 1 "export onto a stale .part"
  expect_one_error_line "keep.ova.part already exists" "export onto a stale .part"
  [ -e keep.ova ] || [ -e keep.ova.part.d ] || [ -s keep.ova.part ] && fail "stale .part touched" || pass
  run "$DIMG" export --ova bad.ova --cpus 0 a.qcow2
  expect_rc 1 "--cpus 0"
  run "$DIMG" export --ova bad.ova --controller=ide a.qcow2 a.qcow2 a.qcow2 a.qcow2 a.qcow2
  expect_rc 1 "five disks on IDE"
  expect_one_error_line "1 to 4 disks" "five disks on IDE"
  # README's OVA limits: 15 disks on SCSI (16 refused), 1024 CPUs, 16 TiB of memory.
  run "$DIMG" export --ova bad.ova a.qcow2 a.qcow2 a.qcow2 a.qcow2 a.qcow2 a.qcow2 a.qcow2 a.qcow2 \
    a.qcow2 a.qcow2 a.qcow2 a.qcow2 a.qcow2 a.qcow2 a.qcow2 a.qcow2
  expect_rc 1 "sixteen disks on SCSI"
  expect_one_error_line "1 to 15 disks on SCSI, not 16" "sixteen disks on SCSI"
  run "$DIMG" export --ova bad.ova --cpus 1025 a.qcow2
  expect_rc 1 "--cpus 1025"
  expect_one_error_line "--cpus must be 1 to 1024" "--cpus 1025"
  run "$DIMG" export --ova bad.ova --memory 16777217 a.qcow2
  expect_rc 1 "--memory over 16 TiB"
  expect_one_error_line "--memory must be 1 to 16777216 MiB" "--memory over 16 TiB"
  ls -a | grep -q '^bad.ova' && fail "a refused export left $(ls -a | grep bad.ova)" || pass
  run "$DIMG" export a.qcow2
  expect_rc 1 "export without --ova"
  cp b.img self.img
  run "$DIMG" export --ova self.img a.qcow2 self.img
  expect_rc 1 "export onto one of its sources"
  expect_one_error_line "the target is self.img" "export onto one of its sources"
  cmp -s self.img b.img && pass || fail "export onto its source changed it"
}

sec_interrupt() {
  # Ctrl-C while packing: exit 130, nothing left.
  dd if=/dev/urandom of=big.img bs=1M count=48 status=none
  set +e
  DIMG_TEST_SLOW_MS=40 "$DIMG" export -p --ova int.ova big.img >"$T/out" 2>"$T/err" &
  pid=$!
  for i in $(seq 200); do [ -e int.ova.part.d ] && break; sleep 0.05; done
  sleep 0.3
  kill -INT $pid
  wait $pid
  rc=$?
  set -e
  expect_rc 130 "export interrupted"
  ls -a | grep -q '^int.ova' && fail "interrupted export left $(ls -a | grep int.ova)" || pass
  tail -n 1 "$T/err" | grep -q '^dimg: .*cancelled' && pass || fail "no 'cancelled' line: $(cat -v "$T/err")"
}

# ---- compressed raw output ----
decomp() {
  case $1 in
    xz) xz -dc "$2" ;; gz) gzip -dc "$2" ;; zst) zstd -qdc "$2" ;; bz2) bzip2 -dc "$2" ;;
  esac
}

sec_compressed() {
  mk_src
  for z in xz gz zst bz2; do
    run "$DIMG" convert -O raw a.qcow2 "a.raw.$z"
    expect_rc 0 "convert to a.raw.$z (suffix)"
    decomp $z "a.raw.$z" >a.out && pass || fail "$z: the tool rejects a.raw.$z"
    expect_same a.out a.ref "$z (suffix): decompressed output equals qemu-img convert -O raw"
    [ "$(stat -c %s "a.raw.$z")" -lt $(( 4 << 20 )) ] && pass || fail "$z: holes not compressed ($(stat -c %s "a.raw.$z") bytes)"
    run "$DIMG" convert "--compress=$z" b.img "b.$z.out"
    expect_rc 0 "convert --compress=$z"
    decomp $z "b.$z.out" >b.out && pass || fail "$z: the tool rejects b.$z.out"
    expect_same b.out b.ref "--compress=$z: decompressed output equals the raw source"
    [ -e "a.raw.$z.part" ] || [ -e "b.$z.out.part" ] && fail "$z: .part left" || pass
  done
}

sec_compress_options() {
  mk_src
  run "$DIMG" convert --compress=gzip a.qcow2 a.gzip.out
  expect_rc 0 "--compress=gzip alias"
  gzip -dc a.gzip.out | cmp -s - a.ref && pass || fail "--compress=gzip content"
  # Other formats keep such names as names.
  run "$DIMG" convert -O qcow2 a.qcow2 a.qcow2.gz
  expect_rc 0 "-O qcow2 to a .gz name"
  [ "$(qemu-img info --output=json a.qcow2.gz | sed -n 's/.*"format": "\([a-z0-9]*\)".*/\1/p')" = qcow2 ] && pass || fail "-O qcow2 a.qcow2.gz is not a qcow2"
  run "$DIMG" convert -O qcow2 --compress=xz a.qcow2 c.qcow2
  expect_rc 1 "--compress with -O qcow2"
  expect_one_error_line "raw" "--compress with -O qcow2"
  run "$DIMG" convert -o preallocation=full a.qcow2 c.raw.gz
  expect_rc 1 "-o with compressed output"
  expect_one_error_line "does not apply" "-o with compressed output"
  [ -e c.raw.gz ] || [ -e c.raw.gz.part ] && fail "-o with compressed output left a file" || pass
  run "$DIMG" convert --compress=lz4 a.qcow2 c.raw
  expect_rc 1 "--compress=lz4"
  expect_one_error_line "xz, gz, zst or bz2" "--compress=lz4"
  run "$DIMG" convert missing.img m.raw.xz
  expect_rc 1 "compressed convert of a missing source"
  ls | grep -q '^m.raw' && fail "failed compressed convert left a file" || pass
}

sections "$@"
finish

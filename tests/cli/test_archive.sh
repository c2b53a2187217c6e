#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# test_archive.sh: images inside archives made by Debian's own tools (GNU tar, gzip, xz, zstd,
# bzip2, zip): `dimg info` lists them, `dimg convert` gets the image out byte for byte (raw
# streamed, a qcow2 member through a temporary copy that is removed afterwards); an OVA built
# by tar from a qemu-img streamOptimized vmdk, an OVF descriptor and a manifest is imported
# (and imported with -O qcow2) and compared with qemu-img compare; hostile archives (path
# traversal, absolute names, symbolic and hard links, a truncated archive, bombs, a bad
# digest, a member missing from the manifest) are each refused with one error line and
# nothing written outside (or inside) the target directory.
# One ctest entry per behaviour (cli.test_archive.SECTION), each on its own files:
# ctest-sections: archives compressed_files member_to_qcow2 qcow2_member member_named ova_info
# ctest-sections: ova_import ova_stream damaged_grain export_round_trip recompress hostile doctype
source "$(dirname "$0")/lib.sh"
for t in tar gzip xz zstd bzip2 zip; do
  command -v $t >/dev/null || { echo "$t missing: apt-get install tar gzip xz-utils zstd bzip2 zip"; exit 1; }
done

mk_disk() {
  # A raw disk with data in three places and holes between (odd tail: not a 64 KiB multiple).
  mk_sparse_raw disk.raw 12M 0:1M 5M:512k 11M:64k
  head -c 512 /dev/urandom >>disk.raw # a tail past the last 64 KiB boundary
  size=$(stat -c %s disk.raw)
}

mk_archives() {
  # --- compressed files and archives of every kind: info, then convert back to the raw ---
  tar cf plain.tar disk.raw
  tar czf cloud.tar.gz disk.raw
  tar cJf cloud.tar.xz disk.raw
  tar --zstd -cf cloud.tar.zst disk.raw
  tar cjf cloud.tar.bz2 disk.raw
  cp cloud.tar.gz cloud.tgz
  zip -q cloud.zip disk.raw
}

sec_archives() {
  mk_disk
  mk_archives
  for a in plain.tar cloud.tar.gz cloud.tar.xz cloud.tar.zst cloud.tar.bz2 cloud.tgz cloud.zip; do
    run "$DIMG" info "$a"
    expect_rc 0 "info $a"
    grep -Eq "file +raw +12 MiB .* disk\.raw$" out && pass || { fail "info $a lacks the member row"; cat out; }
    run "$DIMG" info --output=json "$a/disk.raw"
    expect_rc 0 "info --output=json $a/disk.raw"
    [ "$(json_num out size)" = "$size" ] && pass || fail "$a/disk.raw: size $(json_num out size), want $size"
    rm -f out.raw
    run "$DIMG" convert -O raw "$a/disk.raw" out.raw
    expect_rc 0 "convert $a/disk.raw"
    expect_same disk.raw out.raw "convert $a/disk.raw"
  done
}

sec_compressed_files() {
  mk_disk
  gzip -k disk.raw && xz -k -T1 disk.raw && zstd -q -k disk.raw && bzip2 -k disk.raw
  for c in gz xz zst bz2; do
    run "$DIMG" info "disk.raw.$c"
    grep -Eq "file +raw +12 MiB .* disk\.raw$" out && pass || { fail "info disk.raw.$c"; cat out err; }
    rm -f out.raw
    run "$DIMG" convert -O raw "disk.raw.$c" out.raw
    expect_rc 0 "convert disk.raw.$c"
    expect_same disk.raw out.raw "convert disk.raw.$c"
  done
  # The output stays sparse (zero detection on the stream).
  [ "$(stat -c %b out.raw)" -lt $((8 * 1024 * 2)) ] && pass || fail "out.raw not sparse: $(stat -c %b out.raw) blocks"
}

sec_member_to_qcow2() {
  mk_disk
  # Into qcow2 from a stream, compared by qemu-img.
  tar cJf cloud.tar.xz disk.raw
  run "$DIMG" convert -O qcow2 cloud.tar.xz/disk.raw out.qcow2
  expect_rc 0 "convert a tar.xz member to qcow2"
  qemu-img compare -q disk.raw out.qcow2 && pass || fail "qcow2 from cloud.tar.xz differs"
}

sec_qcow2_member() {
  mk_disk
  # A qcow2 inside a tar: random access needed, so a temporary copy beside the target.
  qemu-img convert -O qcow2 disk.raw inner.qcow2
  tar czf q.tar.gz inner.qcow2
  mkdir qout
  run "$DIMG" convert -O raw q.tar.gz/inner.qcow2 qout/inner.raw
  expect_rc 0 "convert a qcow2 member"
  grep -q '^dimg: note: q.tar.gz/inner.qcow2 is qcow2, which needs random access' err && pass ||
    fail "no note about the temporary copy: $(cat err)"
  expect_same disk.raw qout/inner.raw "qcow2 member converted"
  [ "$(ls -A qout)" = inner.raw ] && pass || fail "temporary copy left behind: $(ls -A qout)"
  run "$DIMG" info q.tar.gz/inner.qcow2
  grep -q '^file format: qcow2' out && grep -q '^virtual size: 12 MiB' out && pass ||
    { fail "info of a qcow2 member"; cat out; }
}

sec_member_named() {
  mk_disk
  # A container needs the member named; a missing member is one error line.
  tar czf cloud.tar.gz disk.raw
  run "$DIMG" convert -O raw cloud.tar.gz none.raw
  expect_rc 1 "convert of a whole tar"
  expect_one_error_line "name one" "whole tar as a source"
  run "$DIMG" convert -O raw cloud.tar.gz/nothing none.raw
  expect_one_error_line "no member named nothing" "missing member"
  [ ! -e none.raw ] && [ ! -e none.raw.part ] && pass || fail "failed converts left files"
}

mk_ova() {
  # --- an OVA: descriptor, manifest, a streamOptimized vmdk; info, import, import -O qcow2 ---
  mkdir ova && cd ova
  qemu-img convert -O vmdk -o subformat=streamOptimized ../disk.raw disk1.vmdk
  cat >vm.ovf <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<!-- an OVF 1.0 descriptor as ovftool writes them, cut down -->
<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1"
  xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData">
  <References><File ovf:href="disk1.vmdk" ovf:id="file1" ovf:size="$(stat -c %s disk1.vmdk)"/></References>
  <DiskSection><Info>disks</Info>
    <Disk ovf:capacity="12" ovf:capacityAllocationUnits="byte * 2^20" ovf:diskId="vmdisk1" ovf:fileRef="file1"
      ovf:format="http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized" ovf:populatedSize="1638400"/>
  </DiskSection>
  <VirtualSystem ovf:id="appliance"><Info>A VM</Info><Name>web &amp; db</Name>
    <VirtualHardwareSection><Info>hw</Info>
      <Item><rasd:InstanceID>1</rasd:InstanceID><rasd:ResourceType>3</rasd:ResourceType><rasd:VirtualQuantity>4</rasd:VirtualQuantity></Item>
      <Item><rasd:AllocationUnits>byte * 2^20</rasd:AllocationUnits><rasd:InstanceID>2</rasd:InstanceID><rasd:ResourceType>4</rasd:ResourceType><rasd:VirtualQuantity>2048</rasd:VirtualQuantity></Item>
      <Item><rasd:InstanceID>3</rasd:InstanceID><rasd:ResourceSubType>lsilogic</rasd:ResourceSubType><rasd:ResourceType>6</rasd:ResourceType></Item>
      <Item><rasd:InstanceID>4</rasd:InstanceID><rasd:ResourceType>5</rasd:ResourceType></Item>
      <Item><rasd:HostResource>ovf:/disk/vmdisk1</rasd:HostResource><rasd:InstanceID>5</rasd:InstanceID><rasd:Parent>3</rasd:Parent><rasd:ResourceType>17</rasd:ResourceType></Item>
    </VirtualHardwareSection>
  </VirtualSystem>
</Envelope>
EOF
  # VMware's form for one line, VirtualBox's spaced form for the other.
  { echo "SHA256(vm.ovf)= $(sha256sum vm.ovf | cut -d' ' -f1)"
    echo "SHA1 (disk1.vmdk) = $(sha1sum disk1.vmdk | cut -d' ' -f1)"; } >vm.mf
  tar cf ../vm.ova vm.ovf vm.mf disk1.vmdk
  cd ..
}

sec_ova_info() {
  mk_disk
  mk_ova
  run "$DIMG" info vm.ova
  expect_rc 0 "info of the OVA"
  for want in 'virtual system: web & db' 'CPUs: 4' 'memory: 2 GiB' 'controllers: SCSI lsilogic, IDE' \
              'vmdisk1: disk1.vmdk, capacity 12 MiB, populated 1.56 MiB, streamOptimized' \
              'file +vmdk .* 12 MiB  disk1\.vmdk'; do
    grep -Eq "$want" out && pass || { fail "OVA info lacks /$want/"; cat out; }
  done
  run "$DIMG" info --output=json vm.ova
  [ "$(json_num out capacity)" = 12582912 ] && [ "$(json_num out cpus)" = 4 ] && pass ||
    { fail "OVA info JSON"; cat out; }
}

sec_ova_import() {
  mk_disk
  mk_ova
  mkdir imp
  run "$DIMG" import vm.ova imp
  expect_rc 0 "import the OVA"
  [ "$(ls imp | tr '\n' ' ')" = "disk1.vmdk vm.mf vm.ovf " ] && pass || fail "import wrote: $(ls -A imp)"
  expect_same ova/disk1.vmdk imp/disk1.vmdk "imported vmdk"
  qemu-img compare -q disk.raw imp/disk1.vmdk && pass || fail "imported vmdk differs from the source"
  # Existing files are never overwritten.
  run "$DIMG" import vm.ova imp
  expect_one_error_line "already exists" "import over existing files"
  run "$DIMG" import -O qcow2 vm.ova impq # created by import
  expect_rc 0 "import -O qcow2"
  [ "$(ls impq | tr '\n' ' ')" = "disk1.qcow2 vm.mf vm.ovf " ] && pass || fail "import -O wrote: $(ls -A impq)"
  qemu-img check -q impq/disk1.qcow2 && pass || fail "imported qcow2 fails qemu-img check"
  qemu-img compare -q disk.raw impq/disk1.qcow2 && pass || fail "imported qcow2 differs"
}

sec_ova_stream() {
  mk_disk
  mk_ova
  # The vmdk member converted straight from the OVA: streamed (no note about a temporary copy),
  # from qemu-img's layout (tables in front, no end marker) and dimg's (directory at the end).
  run "$DIMG" convert -O raw vm.ova/disk1.vmdk vmdk.raw
  expect_rc 0 "convert the OVA's vmdk"
  expect_same disk.raw vmdk.raw "OVA vmdk converted"
  [ ! -s err ] && pass || fail "streamed vmdk printed: $(cat err)"
  "$DIMG" convert -q -O vmdk -o subformat=streamOptimized disk.raw ova/dimg.vmdk
  (cd ova && tar czf ../dimgvmdk.tgz dimg.vmdk)
  rm -f vmdk.raw
  run "$DIMG" convert -O raw dimgvmdk.tgz/dimg.vmdk vmdk.raw
  expect_rc 0 "convert dimg's streamOptimized vmdk from a tgz"
  expect_same disk.raw vmdk.raw "dimg's vmdk streamed"
}

sec_damaged_grain() {
  mk_disk
  mk_ova
  # A damaged grain in a streamed vmdk: one error line, no target left.
  cp ova/disk1.vmdk bad.vmdk
  printf 'garbage!garbage!garbage!garbage!' | dd of=bad.vmdk bs=1 seek=65600 conv=notrunc status=none
  tar cf badvmdk.tar bad.vmdk
  run "$DIMG" convert -O raw badvmdk.tar/bad.vmdk badout.raw
  expect_one_error_line "does not decompress" "damaged grain in a streamed vmdk"
  [ ! -e badout.raw ] && [ ! -e badout.raw.part ] && pass || fail "damaged stream left a target"
}

sec_export_round_trip() {
  mk_disk
  # --- round trip with dimg's own writer: export an OVA, list it, import it, stream its disk,
  # and recompress a compressed image (read side and write side together) ---
  run "$DIMG" export -q --ova rt.ova --cpus 2 --memory 512 disk.raw
  expect_rc 0 "export an OVA"
  run "$DIMG" info rt.ova
  grep -q '^CPUs: 2' out && grep -q '^memory: 512 MiB' out && grep -q 'vmdisk1: disk.vmdk, capacity 12 MiB' out &&
    pass || { fail "info of dimg's OVA"; cat out; }
  run "$DIMG" import rt.ova rtimp
  expect_rc 0 "import dimg's OVA (its manifest verified)"
  qemu-img compare -q disk.raw rtimp/disk.vmdk && pass || fail "round trip through export/import differs"
  rm -f rt.raw
  run "$DIMG" convert -O raw rt.ova/disk.vmdk rt.raw
  expect_same disk.raw rt.raw "disk streamed out of dimg's OVA"
}

sec_recompress() {
  mk_disk
  xz -k -T1 disk.raw
  run "$DIMG" convert -O raw disk.raw.xz rt.raw.gz
  expect_rc 0 "xz source to a gzip target"
  gzip -dc rt.raw.gz >rt2.raw && expect_same disk.raw rt2.raw "xz -> gz recompression"
}

sec_hostile() {
  mk_disk
  mk_ova
  # --- hostile archives: each refused, nothing written anywhere ---
  mkdir -p hostile/a/b && cd hostile
  echo secret >outside.txt
  cp ../ova/disk1.vmdk ../ova/vm.ovf ../ova/vm.mf .
  (cd a/b && tar cPf ../../traversal.tar ../../outside.txt) # stored as ../../outside.txt
  tar cPf absolute.tar "$PWD/outside.txt"
  ln -s /etc/passwd link.vmdk
  tar cf symlink.tar vm.ovf link.vmdk
  ln disk1.vmdk hard.vmdk
  tar cf hardlink.tar disk1.vmdk hard.vmdk
  head -c $(( $(stat -c %s ../vm.ova) / 2 )) ../vm.ova >truncated.ova
  { head -n 1 ../ova/vm.mf; echo "SHA1 (disk1.vmdk) = $(echo other | sha1sum | cut -d' ' -f1)"; } >vm.mf
  tar cf baddigest.ova vm.ovf vm.mf disk1.vmdk
  head -n 1 ../ova/vm.mf >vm.mf
  tar cf unlisted.ova vm.ovf vm.mf disk1.vmdk # the disk is not in the manifest
  dd if=/dev/zero bs=1M count=100 status=none | gzip >bomb.raw.gz
  truncate -s 2G huge.raw && tar cSf sparsebomb.tar huge.raw && rm huge.raw
  cd ..
  # Every path in the test directory (but run's out and err), before and after the refused runs.
  paths() { find . -mindepth 1 ! -name out ! -name err -printf '%p %s\n' | sort; }
  mkdir -p target
  before=$(paths)
  check_refused() { # ARCHIVE WORD DESCRIPTION [ENV...]
    local a=$1 word=$2 what=$3; shift 3
    mkdir -p target
    run env "$@" "$DIMG" import "hostile/$a" target
    [ "$rc" -ne 0 ] && [ "$rc" -lt 128 ] && pass || fail "$what: import exit $rc"
    expect_one_error_line "$word" "$what"
    [ -z "$(ls -A target)" ] && pass || fail "$what: import left $(ls -A target)"
  }
  check_refused traversal.tar "'\.\.' in the path" "path traversal"
  check_refused absolute.tar "absolute path" "absolute member name"
  check_refused symlink.tar "symbolic link to /etc/passwd" "symlink member"
  check_refused hardlink.tar "hard link to disk1.vmdk" "hard link member"
  check_refused truncated.ova "runcated" "truncated OVA"
  check_refused baddigest.ova "member disk1.vmdk: SHA-1 digest does not match" "bad digest"
  check_refused unlisted.ova "member disk1.vmdk is not in the manifest" "member missing from the manifest"
  check_refused sparsebomb.tar "declares 2 GiB, over the limit of 1 GiB" "sparse bomb" DIMG_ARCHIVE_LIMIT=1G
  # A directory import creates is removed again when the import is refused.
  run "$DIMG" import hostile/baddigest.ova newdir
  [ "$rc" -eq 1 ] && [ ! -e newdir ] && pass || fail "refused import left newdir (exit $rc)"
  # Converting from them is refused the same way, and no target appears.
  run "$DIMG" convert -O raw hostile/symlink.tar/link.vmdk target/x.raw
  expect_one_error_line "refused: symbolic link" "convert from a symlink member"
  run "$DIMG" convert -O raw hostile/traversal.tar/../../outside.txt target/x.raw
  expect_one_error_line "'\.\.' in the path" "convert from a traversal member"
  run env DIMG_ARCHIVE_LIMIT=64M "$DIMG" convert -O raw hostile/bomb.raw.gz target/x.raw
  expect_one_error_line "decompression bomb" "gzip bomb stopped at the limit"
  run env DIMG_ARCHIVE_LIMIT=64M "$DIMG" info hostile/bomb.raw.gz
  expect_one_error_line "decompression bomb" "gzip bomb in info"
  run env DIMG_ARCHIVE_LIMIT=1G "$DIMG" convert -O raw hostile/sparsebomb.tar/huge.raw target/x.raw
  expect_one_error_line "over the limit" "sparse bomb converted"
  run "$DIMG" info hostile/truncated.ova
  expect_one_error_line "runcated" "info of a truncated OVA"
  [ -z "$(ls -A target)" ] && pass || fail "hostile converts left $(ls -A target)"
  # Nothing was written anywhere in the test directory by the refused runs.
  after=$(paths)
  [ "$after" = "$before" ] && pass || fail "refused runs wrote: $(diff <(echo "$before") <(echo "$after") | head -5)"
  [ "$(cat hostile/outside.txt)" = secret ] && pass || fail "outside.txt changed"
}

sec_doctype() {
  # A hostile descriptor: a DOCTYPE (entities) is refused, the listing still works.
  mkdir dt && cd dt
  printf '<?xml version="1.0"?>\n<!DOCTYPE x [<!ENTITY a "aaaa">]>\n<Envelope>&a;</Envelope>\n' >evil.ovf
  tar cf ../dt.ova evil.ovf && cd ..
  run "$DIMG" info dt.ova
  expect_rc 0 "info with a hostile descriptor"
  grep -q 'OVF descriptor: unreadable: .*document type declarations are not accepted' out && pass ||
    { fail "DOCTYPE not refused"; cat out; }
}

sections "$@"
finish

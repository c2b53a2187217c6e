#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# test_info_keys.sh: `info --output=json` uses qemu-img's keys, values and member order where
# qemu-img has them, for vmdk extents (every subformat: an "extents" array, no "extent-count"),
# LUKS qcow2 (the nested "encrypt" object with its key slots; cbc-essiv with a data file too),
# data-file images, and images with snapshots; the human output's "Format specific
# information:" block is qemu-img's as well. What dimg adds lives only under "dimg-" keys
# ("dimg-format-specific": vdi uuid, vmdk adapter type; "dimg-partition-table"), and the
# partition table shows in plain `info` of an overlay too. Oracle: qemu-img info on the same
# files, compared after dropping dimg's "dimg-" members and its "(dimg)" human block.
# One ctest entry per kind of image (cli.test_info_keys.SECTION), each on its own files:
# ctest-sections: vmdk_subformats vmdk_abs_path luks luks_essiv_data_file data_file snapshots vdi
# ctest-sections: partition_table
source "$(dirname "$0")/lib.sh"

# strip_json FILE: the JSON with top-level "dimg-*" members removed, re-printed in its order.
strip_json() {
  python3 -c '
import json, sys
d = json.load(open(sys.argv[1]), object_pairs_hook=lambda p: dict(p))
if isinstance(d, dict):
    d = {k: v for k, v in d.items() if not k.startswith("dimg-")}
print(json.dumps(d, indent=4))' "$1"
}
# strip_human FILE: the human output without dimg's own block and partition table.
strip_human() { awk '/^More format information \(dimg\):$|^Partition table:/{skip=1; next} /^[^ ]/{skip=0} !skip' "$1"; }

same_as_qemu() { # IMAGE DESCRIPTION
  qemu-img info --output=json "$1" >q.json
  run "$DIMG" info --output=json "$1"
  expect_rc 0 "$2: info --output=json"
  cp "$T/out" d.json
  strip_json q.json >q.norm
  strip_json d.json >d.norm
  expect_same d.norm q.norm "$2: JSON equals qemu-img's (dimg- keys aside)"
  # No qemu-img key changed meaning: every qemu-img member is there, in qemu-img's bytes.
  grep -q '"extent-count"' d.json && fail "$2: extent-count is back" || pass
  qemu-img info "$1" >q.txt
  run "$DIMG" info "$1"
  expect_rc 0 "$2: info"
  strip_human "$T/out" >d.txt
  expect_same d.txt q.txt "$2: human info equals qemu-img's (dimg's block aside)"
}

sec_vmdk_subformats() {
  for sub in monolithicSparse streamOptimized monolithicFlat twoGbMaxExtentSparse twoGbMaxExtentFlat; do
    qemu-img create -q -f vmdk -o subformat=$sub "v-$sub.vmdk" 3G
    same_as_qemu "v-$sub.vmdk" "vmdk $sub"
    grep -q '"extents": \[' d.json && pass || fail "vmdk $sub: no extents array"
  done
}

sec_vmdk_abs_path() {
  # Given by an absolute path, extents are named the way qemu-img names them too.
  qemu-img create -q -f vmdk -o subformat=twoGbMaxExtentSparse v-twoGbMaxExtentSparse.vmdk 3G
  same_as_qemu "$T/v-twoGbMaxExtentSparse.vmdk" "vmdk by absolute path"
  grep -q '"adapter-type": "ide"' d.json && pass || fail "vmdk: adapter type not under dimg-"
  python3 -c 'import json,sys; d=json.load(open("d.json")); assert "adapter-type" in d["dimg-format-specific"]' &&
    pass || fail "vmdk: adapter-type is not in dimg-format-specific"
}

sec_luks() {
  qcreate -f qcow2 --object secret,id=s,data=pw \
    -o encrypt.format=luks,encrypt.key-secret=s,encrypt.iter-time=10 luks.qcow2 16M
  same_as_qemu luks.qcow2 "LUKS qcow2"
  grep -q '"slots": \[' d.json && grep -q '"master-key-iters"' d.json && pass ||
    fail "LUKS qcow2: no encrypt.slots"
}

sec_luks_essiv_data_file() {
  qcreate -f qcow2 --object secret,id=s,data=pw \
    -o encrypt.format=luks,encrypt.key-secret=s,encrypt.iter-time=10,encrypt.cipher-mode=cbc,encrypt.ivgen-alg=essiv,encrypt.ivgen-hash-alg=sha256,data_file=essiv.data \
    essiv.qcow2 16M
  same_as_qemu essiv.qcow2 "LUKS qcow2, cbc-essiv, data file"
}

sec_data_file() {
  qemu-img create -q -f qcow2 -o data_file=df.raw,data_file_raw=on df.qcow2 16M
  same_as_qemu df.qcow2 "qcow2 with a raw data file"
}

sec_snapshots() {
  qemu-img create -q -f qcow2 snap.qcow2 16M
  qemu-img snapshot -c one snap.qcow2
  qemu-img snapshot -c two snap.qcow2
  same_as_qemu snap.qcow2 "qcow2 with snapshots"
}

sec_vdi() {
  # vdi: qemu-img has no format-specific data; dimg's uuid goes under dimg-format-specific.
  qemu-img create -q -f vdi v.vdi 16M
  same_as_qemu v.vdi "vdi"
  grep -q '"format-specific"' d.json && fail "vdi: a format-specific member qemu-img lacks" || pass
  python3 -c 'import json; d=json.load(open("d.json")); assert len(d["dimg-format-specific"]["uuid"]) == 36' &&
    pass || fail "vdi: no uuid under dimg-format-specific"
}

sec_partition_table() {
  # A partition table: under dimg-partition-table, and in plain info of an overlay too.
  truncate -s 16M mbr.raw
  python3 - <<'EOF'
import struct
with open('mbr.raw', 'r+b') as f:
    f.seek(446)
    f.write(bytes([0x80, 0, 0, 0, 0x83, 0, 0, 0]) + struct.pack('<II', 2048, 4096))
    f.seek(510)
    f.write(b'\x55\xaa')
EOF
  qemu-img create -q -f qcow2 -b mbr.raw -F raw over.qcow2
  same_as_qemu over.qcow2 "overlay of a partitioned disk"
  python3 -c 'import json; d=json.load(open("d.json")); assert d["dimg-partition-table"]["type"] == "mbr"' &&
    pass || fail "overlay: no dimg-partition-table in plain info --output=json"
  run "$DIMG" info over.qcow2
  grep -q '^Partition table: MBR' "$T/out" && pass || fail "overlay: plain info lacks the table"
  grep -q '"partition-table"' d.json && fail "a partition-table key without the dimg- prefix" || pass
}

sections "$@"
finish

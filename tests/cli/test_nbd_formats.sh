#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# test_nbd_formats.sh: vdi, cow and encrypted images read and written over NBD, through the
# byte-source layer. qemu-nbd (started and stopped here, on Unix sockets in the test's
# directory) serves each image file as raw bytes (-f raw); dimg opens the export with -f FMT
# (and probed): info, convert to raw compared byte for byte with qemu-img's convert of the
# local file (with the raw source for cow, which qemu no longer reads), map --output=json equal
# to the local file's (and to qemu-img's over the same URI for vdi). Writes over a writable
# export (convert -n into a static and a dynamic vdi, a cow, a LUKS qcow2; a vdi compaction)
# compare identical afterwards; a cow grow that must rewrite the file is refused in one line.
# ctest-sections: vdi cow crypt
source "$(dirname "$0")/lib.sh"
need qemu-img qemu-io qemu-nbd

source "$(dirname "$0")/nbd_lib.sh"

# reads FMT URI LOCAL WANT [CONVERT-OPTS...]: info (named and probed), convert to raw equal
# to WANT, map --output=json equal to the local file's.
reads() {
  local fmt=$1 u=$2 local=$3 want=$4
  shift 4
  run "$DIMG" info --output=json -f "$fmt" "$u"
  expect_rc 0 "$fmt over NBD: info"
  [ "$(json_str "$T/out" format)" = "$fmt" ] || fail "$fmt over NBD: format $(json_str "$T/out" format)"
  run "$DIMG" info --output=json "$u"
  [ "$(json_str "$T/out" format)" = "$fmt" ] || fail "$fmt over NBD: probed as $(json_str "$T/out" format)"
  rm -f nbd.out
  run "$DIMG" convert "$@" -f "$fmt" "$u" -O raw nbd.out
  expect_rc 0 "$fmt over NBD: convert"
  cmp -s nbd.out "$want" && pass || fail "$fmt over NBD ($local): bytes differ"
  run "$DIMG" map --output=json -f "$fmt" "$u"
  expect_rc 0 "$fmt over NBD: map"
  cp "$T/out" n.json
  run "$DIMG" map --output=json "$local"
  expect_same "$T/out" n.json "$fmt: map over NBD vs the local file"
}

mk_sparse_raw src.raw 8M 0:64k 3M:1M 7M:4k
mk_sparse_raw new.raw 8M 100k:3M 6M:10k

sec_vdi() {
  # A dynamic vdi (qemu's convert) and a static one with a hole (map asks the export).
  qemu-img convert -f raw -O vdi src.raw d.vdi
  qemu-img create -q -f vdi -o static=on s.vdi 8M
  qemu-io -f vdi -c 'write -P 0x44 1M 1M' s.vdi >/dev/null
  local f
  for f in d s; do
    qemu-img convert -f vdi -O raw $f.vdi $f.want
    nbd_serve $f $f.vdi -r
    reads vdi "$U" $f.vdi $f.want
    qemu-img map --output=json -f vdi "$U" >q.json
    expect_same n.json q.json "vdi $f: map over NBD vs qemu-img's"
  done
  # Writes: a static vdi in place, a dynamic one appending blocks (its file made longer, as an
  # export cannot grow).
  cp s.vdi sw.vdi
  qemu-img convert -f raw -O vdi src.raw dw.vdi
  truncate -s +16M dw.vdi
  for f in sw dw; do
    nbd_serve $f $f.vdi
    run "$DIMG" convert -n -O vdi new.raw "$U"
    expect_rc 0 "vdi $f: convert -n over NBD"
    nbd_stop_last
    run qemu-img compare -f vdi -F raw $f.vdi new.raw
    expect_rc 0 "vdi $f: written over NBD (qemu-img compare)"
    run qemu-img check -f vdi $f.vdi
    expect_rc 0 "vdi $f: qemu-img check after writes over NBD"
  done
  # Compaction over NBD: the zero block unmapped, the holes closed (the export keeps its size).
  qemu-img create -q -f vdi z.vdi 8M
  qemu-io -f vdi -c 'write -P 0 1M 1M' -c 'write -P 5 5M 1M' -c 'write -P 6 2M 4k' z.vdi >/dev/null
  qemu-img convert -f vdi -O raw z.vdi z.want
  nbd_serve z z.vdi
  run "$DIMG" compact "$U"
  expect_rc 0 "vdi: compact over NBD"
  nbd_stop_last
  run qemu-img compare -f vdi -F raw z.vdi z.want
  expect_rc 0 "vdi: compacted over NBD (qemu-img compare)"
  run qemu-img check -f vdi z.vdi
  expect_rc 0 "vdi: qemu-img check after a compaction over NBD"
  [ "$(qemu-img map -f vdi --output=json z.vdi | grep -c '"data": true')" = 2 ] && pass ||
    fail "vdi: the zero block is still mapped after compact over NBD"
  # Without the room to append, one error line.
  qemu-img convert -f raw -O vdi src.raw full.vdi
  nbd_serve full full.vdi
  run "$DIMG" convert -n -O vdi new.raw "$U"
  expect_rc 1 "vdi: appending past the end of the export"
  expect_one_error_line "end of the export" "vdi: appending past the end of the export"
}

sec_cow() {
  run "$DIMG" convert -f raw -O cow src.raw c.cow
  expect_rc 0 "cow: made locally"
  nbd_serve c c.cow -r
  reads cow "$U" c.cow src.raw
  # Writes into a cow whose file has room for every sector; then grows: within the bitmap's
  # slack in place, past it refused (that rewrites the file).
  cp c.cow w.cow
  truncate -s 10M w.cow
  nbd_serve w w.cow
  run "$DIMG" convert -n -O cow new.raw "$U"
  expect_rc 0 "cow: convert -n over NBD"
  run "$DIMG" resize -f cow "$U" 1G
  expect_rc 1 "cow: grow past the slack over NBD"
  expect_one_error_line "rewrites the image as a new file" "cow: grow over NBD"
  run "$DIMG" resize -f cow "$U" +512K
  expect_rc 0 "cow: grow within the slack over NBD"
  nbd_stop_last
  cp new.raw want.raw
  truncate -s 8912896 want.raw
  run "$DIMG" convert -O raw w.cow w.out
  expect_rc 0 "cow: written over NBD, read locally"
  expect_same want.raw w.out "cow: written and grown over NBD"
}

sec_crypt() {
  local pw='hunter2 with spaces' fmt o
  printf '%s' "$pw" >pw
  chmod 600 pw
  local obj=(--object "secret,id=s0,data=$pw")
  for fmt in qcow qcow2; do
    o=encrypt.format=aes
    [ $fmt = qcow2 ] && o=encrypt.format=luks,encrypt.iter-time=100
    qcreate -f $fmt "${obj[@]}" -o "$o,encrypt.key-secret=s0" e.$fmt 5M
    qemu-io "${obj[@]}" --image-opts "driver=$fmt,file.filename=e.$fmt,encrypt.key-secret=s0" \
      -c "write -P 0xab 0 1M" -c "write -P 0x11 1536k 4097" -c "write -P 0x22 3333333 777" >/dev/null
    qemu-img convert "${obj[@]}" --image-opts "driver=$fmt,file.filename=e.$fmt,encrypt.key-secret=s0" \
      -O raw e.$fmt.want
    nbd_serve e$fmt e.$fmt -r
    reads $fmt "$U" e.$fmt e.$fmt.want --password-file pw
  done
  # LUKS writes over NBD (the file made longer: the export cannot grow), read back by qemu.
  head -c 5M new.raw >new5.raw
  cp e.qcow2 ew.qcow2
  truncate -s +8M ew.qcow2
  nbd_serve ew ew.qcow2
  run "$DIMG" convert -n --password-file pw -O qcow2 new5.raw "$U"
  expect_rc 0 "luks: convert -n over NBD"
  nbd_stop_last
  qemu-img convert "${obj[@]}" --image-opts "driver=qcow2,file.filename=ew.qcow2,encrypt.key-secret=s0" \
    -O raw ew.out
  expect_same new5.raw ew.out "luks: written over NBD, read by qemu-img"
}

sections "$@"
finish

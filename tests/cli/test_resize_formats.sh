#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# test_resize_formats.sh: dimg resize on vdi, qcow and cow past the point where their metadata
# has room: vdi block maps that must grow (data blocks move), a cow bitmap that outgrows its
# slack (the image is rewritten next to itself), qcow over a backing file longer than the old
# size. Oracles: qemu-img check/info/convert for vdi and qcow (qemu-img 7.2 cannot check qcow,
# so qcow is compared byte for byte), the documented layout and a `dimg convert -O raw` round
# trip for cow (qemu-img no longer reads cow). Old bytes must be unchanged, new bytes zero.
source "$(dirname "$0")/lib.sh"
vsize() { qemu-img info --output=json "$1" | sed -n 's/.*"virtual-size": \([0-9]*\).*/\1/p'; }
M=$((1 << 20))

# grown_like REF OLD NEW IMG_RAW WHAT: IMG_RAW holds REF's first OLD bytes, then zeros to NEW.
grown_like() {
  local ref=$1 old=$2 new=$3 out=$4 what=$5
  [ "$(stat -c %s "$out")" = "$new" ] && pass || fail "$what: raw size $(stat -c %s "$out"), want $new"
  cmp -n "$old" "$out" "$ref" && pass || fail "$what: bytes before the old end changed"
  cmp -i "$old:0" -n $((new - old)) "$out" /dev/zero && pass || fail "$what: new area is not zeros"
}

# vdi_grown IMG SIZE BYTES REF OLD WHAT: `dimg resize IMG SIZE` succeeds, qemu-img check is
# clean, qemu-img sees BYTES bytes holding REF's first OLD bytes, then zeros.
vdi_grown() {
  local img=$1 size=$2 bytes=$3 ref=$4 old=$5 what=$6
  run "$DIMG" resize "$img" "$size"
  expect_rc 0 "$what: resize"
  run qemu-img check -f vdi "$img"
  expect_rc 0 "$what: qemu-img check"
  [ "$(vsize "$img")" = "$bytes" ] && pass || fail "$what: virtual size $(vsize "$img")"
  qemu-img convert -f vdi -O raw "$img" "$img.out"
  grown_like "$ref" "$old" "$bytes" "$img.out" "$what"
  rm -f "$img.out"
}

# --- vdi: a 10 MiB dynamic image (block map room: 128 blocks) with data in every block ---
qemu-img create -q -f vdi d.vdi 10M
for b in 0 1 2 3 4 5 6 7 8 9; do
  qemu-io -f vdi -c "write -P $((b + 1)) $((b * M + b * 777)) $((4096 + b * 1000))" d.vdi >/dev/null
done
qemu-io -f vdi -c "write -P 0x6b $((10 * M - 512)) 512" d.vdi >/dev/null
qemu-img convert -f vdi -O raw d.vdi d.ref
# 100x: the map needs 4000 bytes.
vdi_grown d.vdi 1000M $((1000 * M)) d.ref $((10 * M)) "vdi 10M -> 1000M"
run "$DIMG" check d.vdi
expect_rc 0 "dimg check after the vdi block map grew"
# qemu allocates new blocks at index blocks_allocated: the indices must have stayed compact.
qemu-io -f vdi -c "write -P 0x77 500M 3M" d.vdi >/dev/null
run qemu-img check -f vdi d.vdi
expect_rc 0 "qemu-img check after qemu wrote to the grown vdi"
qemu-io -f vdi -c "read -P 0x77 500M 3M" -c "read -P 1 0 4096" -c "read -P 10 $((9 * M + 9 * 777)) 13096" d.vdi >/dev/null &&
  pass || fail "vdi data after qemu's write"

# Far past the room of the moved map (1 TiB: a 4 MiB block map, four more blocks to move).
run "$DIMG" resize d.vdi 1T
expect_rc 0 "vdi resize -> 1T"
run qemu-img check -f vdi d.vdi
expect_rc 0 "qemu-img check of the 1 TiB vdi"
[ "$(vsize d.vdi)" = $((1 << 40)) ] && pass || fail "vdi 1T virtual size $(vsize d.vdi)"
qemu-io -f vdi -c "read -P 1 0 4096" -c "read -P 0x6b $((10 * M - 512)) 512" -c "read -P 0x77 500M 3M" \
  -c "read -P 0 $(((1 << 40) - M)) 1M" d.vdi >/dev/null && pass || fail "vdi 1T data"
[ "$(stat -c %s d.vdi)" -lt $((30 * M)) ] && pass || fail "vdi 1T file is $(stat -c %s d.vdi) bytes"

# Static: the moved block goes to the end, the new blocks are allocated (sparse).
"$DIMG" create -q -f vdi -o static=on s.vdi 10M
qemu-io -f vdi -c "write -P 0x31 100 70000" -c "write -P 0x32 $((10 * M - 4096)) 4096" s.vdi >/dev/null
qemu-img convert -f vdi -O raw s.vdi s.ref
vdi_grown s.vdi +290M $((300 * M)) s.ref $((10 * M)) "static vdi 10M -> 300M"
alloc=$(od -An -tu4 -j $((0x184)) -N4 s.vdi | tr -d ' ')
[ "$alloc" = 300 ] && pass || fail "static vdi blocks_allocated $alloc, want 300"

# Shrink: only over free blocks.
qemu-img create -q -f vdi k.vdi 20M
qemu-io -f vdi -c "write -P 9 15M 4096" k.vdi >/dev/null
run "$DIMG" resize --shrink k.vdi 10M
expect_rc 1 "vdi shrink over an allocated block"
expect_one_error_line "block 15 (guest offset 15728640), past the new end, is allocated" "vdi shrink over an allocated block"
run "$DIMG" resize --shrink k.vdi 16M
expect_rc 0 "vdi shrink over free blocks"
run qemu-img check -f vdi k.vdi
expect_rc 0 "qemu-img check after the vdi shrink"
[ "$(vsize k.vdi)" = $((16 * M)) ] && pass || fail "vdi shrink virtual size $(vsize k.vdi)"

# --- qcow over a backing file longer than the old size ---
# The overlays below hold their own first 8 KiB: after growing, resize reads the partition
# table (sectors 0, 1 and 8) through an image opened without its backing chain, which fails
# when those sectors fall through to the backing file (a core/ops_resize issue, qcow2 too).
truncate -s 8M base.raw
qemu-io -f raw -c "write -P 0x3c 0 5M" -c "write -P 0x3d 7M 1M" base.raw >/dev/null
qemu-img create -q -f qcow -b base.raw -F raw o.qcow 2M
qemu-io -f qcow -c "write -P 0x50 0 8K" -c "write -P 0x51 10000 3000" -c "write -P 0x52 $((2 * M - 700)) 700" o.qcow >/dev/null
qemu-img convert -f qcow -O raw o.qcow o.ref
run "$DIMG" resize o.qcow 16M
expect_rc 0 "qcow resize over a longer backing file"
[ "$(vsize o.qcow)" = $((16 * M)) ] && pass || fail "qcow virtual size $(vsize o.qcow)"
qemu-img convert -f qcow -O raw o.qcow o.out
grown_like o.ref $((2 * M)) $((16 * M)) o.out "qcow over backing 2M -> 16M"
run qemu-img check o.qcow
expect_rc 63 "qemu-img check of qcow (not supported by qemu-img)"
# Without the backing file its length cannot be known: refused, image untouched.
qemu-img create -q -f qcow -b gone.raw -F raw g.qcow 1M 2>/dev/null || { truncate -s 1M gone.raw; qemu-img create -q -f qcow -b gone.raw -F raw g.qcow 1M; rm -f gone.raw; }
cp g.qcow g.orig
run "$DIMG" resize g.qcow 2M
expect_rc 1 "qcow resize with a missing backing file"
expect_one_error_line "growing needs the length of the backing file" "qcow resize, missing backing file"
cmp -s g.qcow g.orig && pass || fail "refused qcow resize changed the file"

# --- cow: bitmap slack of a 1 MiB image is 3840 sectors; 64 MiB moves the data area ---
mk_sparse_raw c.src 1M 0:512 4000:70001 $((M - 3)):3
"$DIMG" convert -q -f raw -O cow c.src c.cow
chmod 0640 c.cow
run "$DIMG" resize c.cow 64M
expect_rc 0 "cow resize past the bitmap slack"
[ "$(stat -c %a c.cow)" = 640 ] && pass || fail "cow mode $(stat -c %a c.cow), want 640"
[ ! -e c.cow.part ] && pass || fail "cow resize left c.cow.part"
run "$DIMG" info --output=json c.cow
[ "$(json_num "$T/out" virtual-size)" = $((64 * M)) ] && pass || fail "cow virtual size"
# Documented layout: header 1056 bytes, bitmap of 16384 bytes at 1056, data at 17920.
run "$DIMG" layout c.cow
grep -Eq '^0x420 +0x4000 +bitmap' "$T/out" && pass || fail "cow layout bitmap: $(cat "$T/out")"
grep -Eq '^0x4600 +0x[0-9a-f]+ +data' "$T/out" && pass || fail "cow layout data: $(cat "$T/out")"
[ "$(od -An -tx1 -j 1040 -N8 c.cow | tr -d ' ')" = 0000000004000000 ] && pass || fail "cow size field"
cmp -i 17920:0 -n 512 c.cow c.src && pass || fail "cow sector 0 not at 17920"
cmp -i $((17920 + 4096)):4096 -n 65536 c.cow c.src && pass || fail "cow sector 8 not at 17920 + 4096"
run "$DIMG" convert -O raw c.cow c.out
expect_rc 0 "cow -> raw after the grow"
grown_like c.src $M $((64 * M)) c.out "cow 1M -> 64M"

# cow over a longer backing file: new sectors read as zeros (in place, then moving).
truncate -s 6M cb.raw
qemu-io -f raw -c "write -P 0x44 0 6M" cb.raw >/dev/null
qemu-img create -q -f qcow -b cb.raw -F raw cbtop.qcow 1M
qemu-io -f qcow -c "write -P 0x45 0 8K" cbtop.qcow >/dev/null
"$DIMG" convert -q -O cow -B cb.raw -F raw cbtop.qcow cb.cow   # the top layer only
qemu-img convert -O raw cbtop.qcow cb.ref
run "$DIMG" resize cb.cow 1920K
expect_rc 0 "cow resize over a longer backing file (in place)"
run "$DIMG" resize cb.cow 8M
expect_rc 0 "cow resize over a longer backing file (moving)"
run "$DIMG" convert -O raw cb.cow cb.out
expect_rc 0 "cow -> raw over a backing file"
grown_like cb.ref $M $((8 * M)) cb.out "cow over backing 1M -> 8M"

finish

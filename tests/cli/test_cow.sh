#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# test_cow.sh: legacy cow through the CLI (no living peer: the references are raw files and
# cmp). raw -> cow -> raw keeps every byte (data at odd offsets, holes, a partial last
# sector rounded up); a cow over a raw backing file converts to the merged content; create
# records the backing file; a damaged header gives one error line. A User-Mode-Linux COW v3
# image made here reads, maps and converts through its backing file.
source "$(dirname "$0")/lib.sh"

mk_sparse_raw src.raw 5M 0:1 511:2 70000:5 1M:100000 5242879:1
run "$DIMG" convert -f raw -O cow src.raw a.cow
expect_rc 0 "convert raw -> cow"
run "$DIMG" info a.cow
grep -q "file format: cow" "$T/out" && pass || fail "info does not say cow: $(cat "$T/out")"
run "$DIMG" convert -O raw a.cow back.raw
expect_rc 0 "convert cow -> raw"
expect_same src.raw back.raw "raw -> cow -> raw"

# Over a raw backing file: the overlay's sectors win, the rest comes from the base.
head -c 3M /dev/urandom >base.raw
run "$DIMG" create -f cow -b base.raw -F raw top.cow 4M
expect_rc 0 "create cow with a backing file"
run "$DIMG" info top.cow
grep -q "backing file: base.raw" "$T/out" && pass || fail "backing file not recorded"
run "$DIMG" convert -O raw top.cow merged.raw
expect_rc 0 "convert cow over raw -> raw"
cp base.raw want.raw && truncate -s 4M want.raw
expect_same want.raw merged.raw "cow over raw reads the backing file"

# Damaged header: one error line, no crash.
cp a.cow bad.cow
printf '\0\0\x10\0' | dd of=bad.cow bs=1 seek=1048 conv=notrunc status=none
run "$DIMG" convert -O raw bad.cow x.raw
expect_rc 1 "damaged cow header"
expect_one_error_line "sectorsize" "damaged cow header"

# User-Mode-Linux COW v3 (driver ucow), built here from the documented layout: 3 MiB over a
# raw backing file, alignment 4096 (bitmap at 8192, 768 bytes; data at 12288), sectors
# 0 and 4000..4095 present.
be32() { printf "$(printf '\\x%02x\\x%02x\\x%02x\\x%02x' $(($1 >> 24 & 255)) $(($1 >> 16 & 255)) $(($1 >> 8 & 255)) $(($1 & 255)))"; }
head -c 4M /dev/urandom >ubase.raw
{ printf 'OOOM'; be32 3; be32 0; be32 0; be32 $((3 * 1024 * 1024)); be32 512; be32 4096; be32 0
  printf 'ubase.raw'; } >u.ucow
truncate -s 8192 u.ucow
printf '\x01' >>u.ucow
printf '\xff%.0s' $(seq 500 511) | dd of=u.ucow bs=1 seek=$((8192 + 500)) conv=notrunc status=none
head -c 512 /dev/urandom >s0.bin
head -c $((96 * 512)) /dev/urandom >s4000.bin
dd if=s0.bin of=u.ucow bs=512 seek=24 conv=notrunc status=none
dd if=s4000.bin of=u.ucow bs=512 seek=$((24 + 4000)) conv=notrunc status=none
head -c 3M ubase.raw >uwant.raw
dd if=s0.bin of=uwant.raw conv=notrunc status=none
dd if=s4000.bin of=uwant.raw bs=512 seek=4000 conv=notrunc status=none
run "$DIMG" info u.ucow
grep -q "file format: ucow" "$T/out" && pass || fail "info does not say ucow: $(cat "$T/out")"
grep -q "backing file: ubase.raw" "$T/out" && pass || fail "ucow backing file not shown"
run "$DIMG" map --output=json u.ucow
expect_rc 0 "map ucow"
grep -q '"start": 2048000, "length": 49152, .*"data": true' "$T/out" && pass ||
  fail "map does not show sectors 4000..4095 as data: $(cat "$T/out")"
run "$DIMG" convert -O raw u.ucow u.raw
expect_rc 0 "convert ucow -> raw"
expect_same uwant.raw u.raw "ucow over raw reads the backing file"
run "$DIMG" convert -O qcow2 u.ucow u.qcow2
expect_rc 0 "convert ucow -> qcow2"
run qemu-img compare -q -f raw -F qcow2 uwant.raw u.qcow2
expect_rc 0 "qemu-img compare: ucow -> qcow2"
printf '\0\0\0\1' | dd of=u.ucow bs=1 seek=28 conv=notrunc status=none
run "$DIMG" info u.ucow
expect_rc 1 "ucow with an unknown cow_format"
expect_one_error_line "cow_format" "ucow with an unknown cow_format"

finish

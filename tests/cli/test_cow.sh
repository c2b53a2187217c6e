#!/usr/bin/env bash
# test_cow.sh: legacy cow through the CLI (no living peer: the references are raw files and
# cmp). raw -> cow -> raw keeps every byte (data at odd offsets, holes, a partial last
# sector rounded up); a cow over a raw backing file converts to the merged content; create
# records the backing file; a damaged header gives one error line.
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

finish

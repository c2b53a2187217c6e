#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# test_luks.sh: the raw LUKS1 format ("luks") against qemu-img/qemu-io as the oracle. An image
# qemu-img made and qemu-io wrote (partial sectors) is probed as luks and reads through dimg
# (--password-file, --password-env) byte-identically to qemu-img's own convert; dimg's info
# (human and --output=json) and map --output=json equal qemu-img's; images dimg makes (convert -O
# luks, create with qemu-img's cipher options) read identically through qemu (qemu-img compare);
# a grow reads the same in both; a wrong password is one error line; hostile headers (key
# material past the end, stripes not 4000, huge iterations, payload past the end, LUKS2, a short
# file) are one error line each.
source "$(dirname "$0")/lib.sh"
need qemu-io

PW='pass word'
printf '%s' "$PW" >pw
chmod 600 pw
OBJ=(--object "secret,id=s0,data=$PW")
qopts() { echo "driver=luks,file.filename=$1,key-secret=s0"; }

head -c 1M /dev/urandom >src.raw
truncate -s 3M src.raw
qemu-io -f raw -c "write -P 0x5a 2000000 70001" src.raw >/dev/null

# qemu makes and writes, dimg reads.
qcreate -f luks "${OBJ[@]}" -o key-secret=s0,iter-time=10 q.luks 4M
qemu-io "${OBJ[@]}" --image-opts "$(qopts q.luks)" -c "write -P 0xab 0 1M" \
  -c "write -P 0x11 1536k 4097" -c "write -P 0x22 3333333 777" >/dev/null
qemu-img convert "${OBJ[@]}" --image-opts "$(qopts q.luks)" -O raw q.want.raw
run "$DIMG" convert --password-file pw -O raw q.luks q.raw
expect_rc 0 "dimg reads a qemu luks image"
expect_same q.want.raw q.raw "dimg's read equals qemu's"
run env "DPW=$PW" "$DIMG" convert --password-env DPW -O raw q.luks q.env.raw
expect_rc 0 "--password-env"
expect_same q.want.raw q.env.raw "--password-env reads the same"

# info, without a password, as qemu-img prints it.
for o in human json; do
  qemu-img info --output=$o q.luks >q.info.$o
  run "$DIMG" info --output=$o q.luks
  expect_rc 0 "info --output=$o"
  expect_same q.info.$o "$T/out" "info --output=$o equals qemu-img's"
done
qemu-img map --output=json "${OBJ[@]}" --image-opts "$(qopts q.luks)" >q.map
run "$DIMG" map --output=json q.luks
expect_same q.map "$T/out" "map --output=json equals qemu-img's"
run "$DIMG" check q.luks
expect_rc 0 "check of a good image"

# A wrong password and no password: one line each.
printf 'wrong' >bad && chmod 600 bad
run "$DIMG" convert --password-file bad -O raw q.luks bad.raw
expect_rc 1 "wrong password"
expect_one_error_line "invalid password" "wrong password"
run "$DIMG" convert -O raw q.luks nopw.raw </dev/null
expect_rc 1 "no password"
[ "$(wc -l <"$T/err")" -eq 1 ] && pass || fail "no password: $(cat "$T/err")"

# dimg makes, qemu reads: default cipher and qemu-img's other options.
run "$DIMG" convert --password-file pw -O luks -o iter-time=10 src.raw d.luks
expect_rc 0 "convert -O luks"
run qemu-img compare "${OBJ[@]}" --image-opts "$(qopts d.luks)" \
  --image-opts driver=raw,file.filename=src.raw
expect_rc 0 "qemu reads dimg's luks image: $(cat "$T/out")"
run env "DPW=$PW" "$DIMG" create --password-env DPW -f luks \
  -o iter-time=10,cipher-alg=aes-128,cipher-mode=cbc,ivgen-alg=essiv,hash-alg=sha1 c.luks 2M
expect_rc 0 "create -f luks with options"
qemu-io "${OBJ[@]}" --image-opts "$(qopts c.luks)" -c "write -P 0x33 1000 10000" >/dev/null
run "$DIMG" convert --password-file pw -O raw c.luks c.raw
qemu-img convert "${OBJ[@]}" --image-opts "$(qopts c.luks)" -O raw c.want.raw
expect_same c.want.raw c.raw "aes-128-cbc-essiv/sha1 both ways"
grep -q 'cipher mode: cbc' <(qemu-img info c.luks) && pass || fail "qemu sees cbc"
run "$DIMG" create --password-file pw -f luks -o cipher-alg=des c2.luks 1M
expect_rc 1 "unknown cipher"
expect_one_error_line "cipher-alg 'des' is not supported" "unknown cipher"

# Grow (it needs the password, as in qemu-img): the file grows, the new area reads alike in
# both (qemu writes nothing there).
run "$DIMG" resize --password-file pw d.luks 5M
expect_rc 0 "resize"
qemu-img convert "${OBJ[@]}" --image-opts "$(qopts d.luks)" -O raw d.want.raw
run "$DIMG" convert --password-file pw -O raw d.luks d.raw
expect_same d.want.raw d.raw "grown image reads alike"
[ "$(stat -c %s d.raw)" -eq $((5 << 20)) ] && pass || fail "grown size $(stat -c %s d.raw)"
cmp -n $((3 << 20)) d.raw src.raw && pass || fail "grow changed the old data"

# Hostile headers: one error line each, without a password.
# poke FILE OFFSET HEX: overwrite bytes of a copy of q.luks.
poke() { cp q.luks "$1" && printf "$3" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none; }
poke h1.luks $((208 + 48 + 40)) '\x7f\xff\xff\xff'
poke h2.luks $((208 + 44)) '\x00\x00\x0f\x9f'
poke h3.luks $((208 + 4)) '\xff\xff\xff\xff'
poke h4.luks 104 '\x00\xff\xff\xff'
poke h5.luks 6 '\x00\x02'
head -c 300 q.luks >h6.luks
for spec in "h1:key slot 1: key material" "h2:stripes (must be 4000)" \
  "h3:iterations 4294967295 out of range" "h4:payload offset" "h5:version 2 is not supported" \
  "h6:shorter than a LUKS header"; do
  f=${spec%%:*}.luks
  run "$DIMG" info "$f"
  expect_rc 1 "hostile $f"
  expect_one_error_line "${spec#*:}" "hostile $f"
done

finish

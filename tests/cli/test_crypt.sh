#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# test_crypt.sh: encrypted images against qemu-img/qemu-io as the oracle. Legacy AES (qcow and
# qcow2): images qemu-img made and qemu-io wrote read identically through dimg (convert to raw,
# cmp with qemu-img's own convert); images dimg makes (convert -o encrypt.format=aes) read
# identically through qemu, hold no plaintext and pass qemu-img check; passwords come from
# --password-file or --password-env, never argv; no password is one error line. LUKS (qcow2):
# the same both ways for xts-plain64, cbc-essiv and aes-128-cbc-plain64/sha1; a wrong password
# is one error line and leaves the image byte-for-byte unchanged; damaged LUKS headers are one
# error line.
source "$(dirname "$0")/lib.sh"

PW='hunter2 with spaces'
printf '%s' "$PW" >pw
chmod 600 pw
OBJ=(--object "secret,id=s0,data=$PW")
# qopts FMT FILE: qemu --image-opts string for an encrypted image.
qopts() { echo "driver=$1,file.filename=$2,encrypt.key-secret=s0"; }
# has_plain IMAGE RAW: the image contains a 64-byte run of RAW's data at some offset.
has_plain() {
  python3 - "$1" "$2" <<'PY'
import sys
img = open(sys.argv[1], 'rb').read(); raw = open(sys.argv[2], 'rb').read()
probe = [raw[o:o + 64] for o in range(0, len(raw), 65536) if raw[o:o + 64].strip(b'\0')]
sys.exit(0 if any(p in img for p in probe) else 1)
PY
}

head -c 3M /dev/urandom >src.raw
truncate -s 5M src.raw
qemu-io -f raw -c "write -P 0x5a 4000000 70001" src.raw >/dev/null

for fmt in qcow2 qcow; do
  # qemu-made image, qemu-io data (partial clusters and sectors), dimg reads it.
  qcreate -f $fmt "${OBJ[@]}" -o encrypt.format=aes,encrypt.key-secret=s0 q.$fmt 5M
  qemu-io "${OBJ[@]}" --image-opts "$(qopts $fmt q.$fmt)" -c "write -P 0xab 0 1M" \
    -c "write -P 0x11 1536k 4097" -c "write -P 0x22 3333333 777" >/dev/null
  qemu-img convert "${OBJ[@]}" --image-opts "$(qopts $fmt q.$fmt)" -O raw q.$fmt.want.raw
  run "$DIMG" convert --password-file pw -O raw q.$fmt q.$fmt.raw
  expect_rc 0 "$fmt aes: dimg reads a qemu image"
  expect_same q.$fmt.want.raw q.$fmt.raw "$fmt aes: dimg's read equals qemu's"
  # A private key file (mode 600) gives no warning.
  [ -s "$T/err" ] && fail "$fmt aes: a private key file gave stderr: $(cat "$T/err")" || pass
  run env "DPW=$PW" "$DIMG" convert --password-env DPW -O raw q.$fmt q.$fmt.env.raw
  expect_rc 0 "$fmt aes: --password-env"
  expect_same q.$fmt.want.raw q.$fmt.env.raw "$fmt aes: --password-env reads the same"
  # A key file every user can read still works, with one warning line.
  cp pw pw.open && chmod 644 pw.open
  run "$DIMG" convert --password-file pw.open -O raw q.$fmt q.$fmt.open.raw
  expect_rc 0 "$fmt aes: a world-readable key file still works"
  expect_same q.$fmt.want.raw q.$fmt.open.raw "$fmt aes: read with a world-readable key file"
  expect_one_error_line "warning: --password-file pw.open is readable by every user" \
    "$fmt aes: world-readable key file"
  run "$DIMG" info q.$fmt
  grep -q "encrypted: yes" "$T/out" && grep -A1 "^    encrypt:$" "$T/out" | grep -q "^        format: aes$" && pass ||
    fail "$fmt aes: info: $(cat "$T/out")"

  # No password: one error line (ctest runs without a terminal, so no prompt).
  run "$DIMG" convert -O raw q.$fmt nopw.raw </dev/null
  expect_rc 1 "$fmt aes: no password"
  expect_one_error_line "no password given" "$fmt aes: no password"
  [ ! -e nopw.raw ] && pass || fail "$fmt aes: a failed convert left its target"

  # dimg-made image: qemu reads the same bytes, no plaintext in the file.
  run "$DIMG" convert --password-file pw -O $fmt -o encrypt.format=aes src.raw d.$fmt
  expect_rc 0 "$fmt aes: dimg creates"
  grep -q "warning: legacy qcow AES encryption is weak" "$T/err" && pass ||
    fail "$fmt aes: no weakness warning"
  run qemu-img compare "${OBJ[@]}" --image-opts "driver=raw,file.filename=src.raw" \
    "$(qopts $fmt d.$fmt)"
  expect_rc 0 "$fmt aes: qemu-img compare with the source"
  if has_plain d.$fmt src.raw; then fail "$fmt aes: plaintext in the image"; else pass; fi
  "$DIMG" convert -O $fmt src.raw plain.$fmt
  has_plain plain.$fmt src.raw && pass || fail "$fmt: has_plain misses an unencrypted copy"
done
run qemu-img check "${OBJ[@]}" --image-opts "$(qopts qcow2 d.qcow2)"
expect_rc 0 "qcow2 aes: qemu-img check of dimg's image"

# create -o encryption=on (qcow's old name) from an environment variable.
run env "DPW=$PW" "$DIMG" create -f qcow -o encryption=on --password-env DPW c.qcow 1M
expect_rc 0 "create -o encryption=on"
qemu-img info c.qcow | grep -q "encrypted: yes" && pass || fail "qemu-img: not encrypted"
# A password on the command line is refused as an option, never used.
run "$DIMG" create -f qcow2 -o encrypt.format=aes --password-env c2.qcow2 1M
expect_rc 1 "--password-env without a name"
[ ! -e c2.qcow2 ] && pass || fail "create went ahead without a password"

# ---- LUKS ----
for spec in "" ",encrypt.cipher-mode=cbc,encrypt.ivgen-alg=essiv" \
  ",encrypt.cipher-alg=aes-128,encrypt.cipher-mode=cbc,encrypt.hash-alg=sha1"; do
  o="encrypt.format=luks,encrypt.iter-time=100$spec"
  rm -f l.qcow2 l.raw dl.qcow2
  qcreate -f qcow2 "${OBJ[@]}" -o "$o,encrypt.key-secret=s0" l.qcow2 5M
  qemu-io "${OBJ[@]}" --image-opts "$(qopts qcow2 l.qcow2)" -c "write -P 0xab 0 1M" \
    -c "write -P 0x11 1536k 4097" -c "write -P 0x22 3333333 777" >/dev/null
  qemu-img convert "${OBJ[@]}" --image-opts "$(qopts qcow2 l.qcow2)" -O raw l.want.raw
  run "$DIMG" convert --password-file pw -O raw l.qcow2 l.raw
  expect_rc 0 "luks$spec: dimg reads a qemu image"
  expect_same l.want.raw l.raw "luks$spec: dimg's read equals qemu's"
  run "$DIMG" convert --password-file pw -O qcow2 -o "$o" src.raw dl.qcow2
  expect_rc 0 "luks$spec: dimg creates"
  run qemu-img compare "${OBJ[@]}" --image-opts "driver=raw,file.filename=src.raw" \
    "$(qopts qcow2 dl.qcow2)"
  expect_rc 0 "luks$spec: qemu-img compare with the source"
  run qemu-img check "${OBJ[@]}" --image-opts "$(qopts qcow2 dl.qcow2)"
  expect_rc 0 "luks$spec: qemu-img check"
  if has_plain dl.qcow2 src.raw; then fail "luks$spec: plaintext in the image"; else pass; fi
done
run "$DIMG" info dl.qcow2
# qemu-img's nesting: "encrypt:", then its members one level deeper.
grep -q "^        format: luks$" "$T/out" && grep -q "^        hash alg: sha1$" "$T/out" && pass ||
  fail "luks info: $(cat "$T/out")"

# Wrong password: one error line, the image unchanged, no target left.
printf 'not it' >bad && chmod 600 bad
before=$(sha256sum <dl.qcow2)
run "$DIMG" convert --password-file bad -O raw dl.qcow2 wrong.raw
expect_rc 1 "luks: wrong password"
expect_one_error_line "invalid password" "luks: wrong password"
[ "$(sha256sum <dl.qcow2)" = "$before" ] && pass || fail "luks: wrong password changed the image"
[ ! -e wrong.raw ] && pass || fail "luks: wrong password left a target"

# Damaged LUKS headers (the area is at 0x40000 in a 64k-cluster image): one error line each.
luks=$((0x40000))
damage() { # NAME OFFSET HEXBYTES WORD
  cp dl.qcow2 "$1.qcow2"
  printf "$3" | dd of="$1.qcow2" bs=1 seek=$(($2)) conv=notrunc status=none
  run "$DIMG" info "$1.qcow2"
  expect_rc 1 "luks $1"
  expect_one_error_line "$4" "luks $1"
}
damage magic $luks 'XXXX' "bad magic"
damage stripes $((luks + 208 + 44)) '\xff\xff\xff\xff' "stripes"
damage keyoff $((luks + 208 + 40)) '\x7f\xff\xff\xff' "outside the encryption header area"
damage iters $((luks + 208 + 4)) '\xff\xff\xff\xff' "iterations"
damage keybytes $((luks + 108)) '\x00\x00\x10\x00' "key size"
damage mode $((luks + 40)) 'ofb-plain64\x00' "not supported"

finish

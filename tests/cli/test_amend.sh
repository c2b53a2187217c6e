#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# test_amend.sh: dimg amend against qemu-img/qemu-io as the oracle. LUKS key slots of a qcow2
# that qemu-img made: a slot dimg adds opens the image in qemu (and dimg) with the new password
# and reads qemu's data byte for byte; a slot dimg erases no longer opens it in either, its key
# material is overwritten, the other password still works; a slot qemu-img amend adds is
# usable by dimg; the last active slot is only erased with --force; wrong passwords, secrets in
# -o and unknown options change no byte of the file. lazy_refcounts=on|off gives the very file
# qemu-img amend gives.
# One ctest entry per behaviour (cli.test_amend.SECTION). The key-slot sections replay the
# earlier steps on their own a.qcow2 (luks_s1 ... luks_s5, without checks):
# ctest-sections: add_key wrong_password refused_requests remove_key last_slot qemu_slot o_add
# ctest-sections: force_erase plain_image lazy_refcounts
source "$(dirname "$0")/lib.sh"

printf 'first password' >pw0
printf 'second one' >pw1
printf 'third from qemu' >pw2
printf 'wrong' >bad
chmod 600 pw0 pw1 pw2 bad # a key file others can read gets a warning line (test_crypt.sh)
# sec ID FILE: a qemu secret object holding FILE's password.
sec() { echo "secret,id=$1,data=$(cat "$2")"; }
# qconv PWFILE OUT: qemu-img's decryption of a.qcow2 with that password.
qconv() {
  qemu-img convert --object "$(sec s "$1")" \
    --image-opts "driver=qcow2,file.filename=a.qcow2,encrypt.key-secret=s" -O raw "$2"
}
# slot_state N: qemu-img's view of key slot N ("true"/"false").
slot_state() {
  qemu-img info --output=json a.qcow2 | python3 -c "
import json, sys
print(str(json.load(sys.stdin)['format-specific']['data']['encrypt']['slots'][$1]['active']).lower())"
}
# unchanged DESC: a.qcow2 is byte for byte what it was when `snap` ran.
snap() { cp a.qcow2 a.before; }
unchanged() { expect_same a.before a.qcow2 "$1: the file changed"; }

# mk_luks: a.qcow2, LUKS with pw0 in slot 0, some data; want.raw, what qemu reads.
mk_luks() {
  qcreate -f qcow2 --object "$(sec s "pw0")" \
    -o encrypt.format=luks,encrypt.key-secret=s,encrypt.iter-time=10 a.qcow2 4M
  qemu-io --object "$(sec s pw0)" --image-opts "driver=qcow2,file.filename=a.qcow2,encrypt.key-secret=s" \
    -c "write -P 0x5a 0 1M" -c "write -P 0x17 1536k 4097" -c "write -P 0x66 3333333 777" >/dev/null
  qconv pw0 want.raw
}

# luks_s1: mk_luks, then slot 1 added (pw1): the state after add_key.
luks_s1() {
  mk_luks
  "$DIMG" amend --add-key --iter-time 10 --password-file pw0 --new-password-file pw1 a.qcow2 >/dev/null
}

# luks_s2: luks_s1, then slot 0 removed by its password: the state after remove_key.
luks_s2() {
  luks_s1
  env OLDPW="$(cat pw0)" "$DIMG" amend --remove-key --old-password-env OLDPW a.qcow2 >/dev/null
}

# luks_s4: luks_s2, then slot 5 added by qemu-img, erased by dimg: the state after qemu_slot.
luks_s4() {
  luks_s2
  qretry qemu-img amend --object "$(sec s pw1)" --object "$(sec s2 pw2)" \
    --image-opts "driver=qcow2,file.filename=a.qcow2,encrypt.key-secret=s" \
    -o encrypt.state=active,encrypt.new-secret=s2,encrypt.keyslot=5,encrypt.iter-time=10
  "$DIMG" amend -o encrypt.state=inactive,encrypt.keyslot=5 --password-file pw1 a.qcow2 >/dev/null
}

# luks_s5: luks_s4, then slot 7 added (pw2): the state after o_add.
luks_s5() {
  luks_s4
  env NEWPW="$(cat pw2)" "$DIMG" amend -o encrypt.state=active,encrypt.keyslot=7,encrypt.iter-time=10 \
    --password-file pw1 --new-password-env NEWPW a.qcow2 >/dev/null
}

sec_add_key() {
  mk_luks
  # Add a slot: qemu opens the image with the new password and reads the same bytes.
  run "$DIMG" amend --add-key --iter-time 10 --password-file pw0 --new-password-file pw1 a.qcow2
  expect_rc 0 "add-key"
  [ "$(slot_state 1)" = true ] && [ "$(slot_state 0)" = true ] && pass ||
    fail "add-key: qemu-img does not see slots 0 and 1 active"
  qconv pw1 got1.raw
  expect_same want.raw got1.raw "add-key: qemu reads the data with the new password"
  run "$DIMG" info --output=json a.qcow2
  act=$(python3 -c "import json, sys
print([s['active'] for s in json.load(open(sys.argv[1]))['format-specific']['data']['encrypt']['slots']])" "$T/out")
  [ "$act" = "[True, True, False, False, False, False, False, False]" ] && pass ||
    fail "add-key: dimg info: slots active $act"
  run "$DIMG" convert --password-file pw1 -O raw a.qcow2 dimg1.raw
  expect_same want.raw dimg1.raw "add-key: dimg reads the data with the new password"
  run qemu-img check --object "$(sec s pw1)" \
    --image-opts "driver=qcow2,file.filename=a.qcow2,encrypt.key-secret=s"
  expect_rc 0 "add-key: qemu-img check"
}

sec_wrong_password() {
  luks_s1
  # Wrong passwords change nothing.
  snap
  run "$DIMG" amend --add-key --iter-time 10 --password-file bad --new-password-file pw2 a.qcow2
  expect_rc 1 "add-key with a wrong password"
  expect_one_error_line "invalid password" "add-key with a wrong password"
  unchanged "add-key with a wrong password"
  run "$DIMG" amend --remove-key --old-password-file bad a.qcow2
  expect_rc 1 "remove-key with a wrong old password"
  expect_one_error_line "invalid old password" "remove-key with a wrong old password"
  unchanged "remove-key with a wrong old password"
  run "$DIMG" amend --remove-key --slot 0 --password-file bad a.qcow2
  expect_rc 1 "remove-key --slot with a wrong password"
  expect_one_error_line "invalid password" "remove-key --slot with a wrong password"
  unchanged "remove-key --slot with a wrong password"
}

sec_refused_requests() {
  luks_s1
  snap
  # Secrets never in -o; unknown options refused; an active slot is not overwritten.
  run "$DIMG" amend -o encrypt.state=active,encrypt.new-secret=x --password-file pw0 a.qcow2
  expect_rc 1 "a secret in -o"
  expect_one_error_line "not given in -o" "a secret in -o"
  run "$DIMG" amend -o cluster_size=4k a.qcow2
  expect_rc 1 "unknown amend option"
  expect_one_error_line "cluster_size" "unknown amend option"
  run "$DIMG" amend --add-key --slot 1 --iter-time 10 --password-file pw0 --new-password-file pw2 a.qcow2
  expect_rc 1 "add-key over an active slot"
  expect_one_error_line "slot 1 is active" "add-key over an active slot"
  run "$DIMG" amend --add-key --iter-time 10 --password-file pw0 --new-password-file pw2 \
    --old-password-file pw0 a.qcow2
  expect_rc 1 "old password with add-key"
  run "$DIMG" amend --add-key --iter-time 10 --password-file pw0 a.qcow2 </dev/null
  expect_rc 1 "add-key without a new password (no terminal)"
  expect_one_error_line "new-password-file" "add-key without a new password (no terminal)"
  unchanged "refused requests"
}

sec_remove_key() {
  luks_s1
  # Remove by old password: the old one fails in qemu and dimg, the other still works, and the
  # slot's key material is overwritten.
  cp a.qcow2 a.before
  run env OLDPW="$(cat pw0)" "$DIMG" amend --remove-key --old-password-env OLDPW a.qcow2
  expect_rc 0 "remove-key by old password"
  [ "$(slot_state 0)" = false ] && [ "$(slot_state 1)" = true ] && pass ||
    fail "remove-key: qemu-img does not see slot 0 inactive and 1 active"
  run qconv pw0 old.raw
  expect_rc 1 "remove-key: qemu refuses the removed password"
  grep -q "Invalid password" "$T/err" && pass || fail "remove-key: qemu: $(cat "$T/err")"
  run "$DIMG" convert --password-file pw0 -O raw a.qcow2 old2.raw
  expect_rc 1 "remove-key: dimg refuses the removed password"
  expect_one_error_line "invalid password" "remove-key: dimg refuses the removed password"
  qconv pw1 got2.raw
  expect_same want.raw got2.raw "remove-key: the other password still reads the data"
  # The slot's key material (64 bytes of key * 4000 stripes) is overwritten, not just disowned.
  ndiff=$(python3 -c "
a = open('a.before', 'rb').read(); b = open('a.qcow2', 'rb').read()
print(sum(x != y for x, y in zip(a, b)))")
  [ "$ndiff" -gt 250000 ] && pass || fail "remove-key: only $ndiff bytes changed: key material left"
}

sec_last_slot() {
  luks_s2
  # The last active slot: refused (by number and by password) unless forced.
  snap
  run "$DIMG" amend --remove-key --slot 1 --password-file pw1 a.qcow2
  expect_rc 1 "erase the last slot"
  expect_one_error_line "only active one" "erase the last slot"
  run "$DIMG" amend --remove-key --old-password-file pw1 a.qcow2
  expect_rc 1 "erase the last slot by password"
  expect_one_error_line "every active key slot" "erase the last slot by password"
  run "$DIMG" amend --remove-key --slot 0 --password-file pw1 a.qcow2
  expect_rc 1 "erase an inactive slot"
  expect_one_error_line "already inactive" "erase an inactive slot"
  unchanged "refused erasures"
}

sec_qemu_slot() {
  luks_s2
  # A slot qemu-img amend adds works in dimg; dimg erases it through -o names.
  qretry qemu-img amend --object "$(sec s pw1)" --object "$(sec s2 pw2)" \
    --image-opts "driver=qcow2,file.filename=a.qcow2,encrypt.key-secret=s" \
    -o encrypt.state=active,encrypt.new-secret=s2,encrypt.keyslot=5,encrypt.iter-time=10
  run "$DIMG" convert --password-file pw2 -O raw a.qcow2 dimg2.raw
  expect_rc 0 "dimg opens qemu-img amend's slot"
  expect_same want.raw dimg2.raw "dimg reads the data through qemu-img amend's slot"
  run "$DIMG" amend -o encrypt.state=inactive,encrypt.keyslot=5 --password-file pw1 a.qcow2
  expect_rc 0 "-o encrypt.state=inactive,encrypt.keyslot=5"
  [ "$(slot_state 5)" = false ] && pass || fail "-o erase: qemu-img still sees slot 5 active"
  run qconv pw2 old3.raw
  expect_rc 1 "-o erase: qemu refuses the erased password"
}

sec_o_add() {
  luks_s4
  # -o encrypt.state=active with a new password from the environment, into slot 7.
  run env NEWPW="$(cat pw2)" "$DIMG" amend -o encrypt.state=active,encrypt.keyslot=7,encrypt.iter-time=10 \
    --password-file pw1 --new-password-env NEWPW a.qcow2
  expect_rc 0 "-o encrypt.state=active"
  [ "$(slot_state 7)" = true ] && pass || fail "-o add: qemu-img does not see slot 7 active"
  qconv pw2 got3.raw
  expect_same want.raw got3.raw "-o add: qemu reads the data with the new password"
}

sec_force_erase() {
  luks_s5
  # --force erases the last slot for good.
  run "$DIMG" amend --remove-key --slot 7 --password-file pw1 a.qcow2
  expect_rc 0 "erase slot 7"
  run "$DIMG" amend --remove-key --slot 1 --force --password-file pw1 a.qcow2
  expect_rc 0 "--force erases the last slot"
  run qconv pw1 gone.raw
  expect_rc 1 "after --force: qemu opens with no password"
}

sec_plain_image() {
  # Key slots only exist in LUKS images; no password source is one error line.
  qcreate -f qcow2 plain.qcow2 1M
  run "$DIMG" amend --add-key --password-file pw0 --new-password-file pw1 plain.qcow2
  expect_rc 1 "add-key on an unencrypted image"
  expect_one_error_line "only LUKS" "add-key on an unencrypted image"
  run "$DIMG" amend --add-key plain.qcow2 </dev/null
  expect_rc 1 "add-key on an unencrypted image asks for no password"
  expect_one_error_line "only LUKS" "add-key on an unencrypted image asks for no password"
}

sec_lazy_refcounts() {
  # lazy_refcounts: the same file qemu-img amend makes, both ways.
  qcreate -f qcow2 plain.qcow2 1M
  cp plain.qcow2 q.qcow2
  run "$DIMG" amend -o lazy_refcounts=on plain.qcow2
  expect_rc 0 "lazy_refcounts=on"
  qemu-img amend -o lazy_refcounts=on q.qcow2
  expect_same q.qcow2 plain.qcow2 "lazy_refcounts=on: the file qemu-img amend makes"
  run "$DIMG" amend -o lazy_refcounts=off plain.qcow2
  expect_rc 0 "lazy_refcounts=off"
  qemu-img amend -o lazy_refcounts=off q.qcow2
  expect_same q.qcow2 plain.qcow2 "lazy_refcounts=off: the file qemu-img amend makes"
  qcreate -f qcow2 -o compat=0.10 v2.qcow2 1M
  cp v2.qcow2 v2.before
  run "$DIMG" amend -o lazy_refcounts=on v2.qcow2
  expect_rc 1 "lazy_refcounts on a v2 image"
  expect_one_error_line "compat 1.1" "lazy_refcounts on a v2 image"
  expect_same v2.before v2.qcow2 "lazy_refcounts on a v2 image: unchanged"
}

sections "$@"
finish

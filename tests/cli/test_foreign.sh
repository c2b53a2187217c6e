#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# test_foreign.sh: files in formats dimg does not read yet (VHDX, QED, Parallels; VHD is read:
# test_vpc.sh; raw LUKS: test_luks.sh; bochs, cloop and DMG: test_rofmt.sh) are refused by name
# and never read as raw: `info` prints one line naming the format (qemu-img's name for it,
# checked against qemu-img info) and "not supported yet", `convert`, `map`, `check`, `compare`
# and `snapshot -l` refuse and leave no output file, "-f vhdx" says the same, and "-f raw" still
# reads the bytes; create -f vhdx and convert -O vhdx are refused by name as well. A qcow2 whose
# last guest sector holds a VHD footer stays a qcow2. In tmux, the browser lists a VHD as "vpc"
# and a QED as "qed" (not raw), and the QED's info pane says why it cannot be opened.
source "$(dirname "$0")/lib.sh"
need tmux # the browser part at the end (tui_lib.sh)

qemu-img create -q -f vpc -o subformat=fixed fixed.vhd 10M
qemu-img create -q -f vhdx x.vhdx 10M
qemu-img create -q -f qed q.qed 10M
qemu-img create -q -f parallels p.hdd 10M

check_refused() { # FILE NAME DESC
  local f=$1 name=$2 desc=$3
  run "$DIMG" info "$f"
  expect_rc 1 "info $f"
  expect_one_error_line "$f: $desc image (format $name): not supported yet" "info $f names the format"
  [ ! -s "$T/out" ] && pass || fail "info $f printed something on stdout"
  run "$DIMG" info --output=json "$f"
  expect_rc 1 "info --output=json $f"
  run "$DIMG" convert -O qcow2 "$f" "out.qcow2"
  expect_rc 1 "convert $f"
  expect_one_error_line "not supported yet" "convert $f names the format"
  [ ! -e out.qcow2 ] && [ ! -e out.qcow2.part ] && pass || fail "convert $f left a file"
  run "$DIMG" convert -O raw "$f" "out.raw"
  expect_rc 1 "convert -O raw $f"
  [ ! -e out.raw ] && pass || fail "convert -O raw $f left a file"
  local cmd
  for cmd in map check "snapshot -l"; do
    run "$DIMG" $cmd "$f"
    [ "$rc" -ne 0 ] && pass || fail "$cmd $f: exit 0"
    expect_one_error_line "not supported yet" "$cmd $f"
  done
  run "$DIMG" compare "$f" "$f"
  [ "$rc" -ne 0 ] && [ "$rc" -ne 1 ] && pass || fail "compare $f: exit $rc"
  grep -q "not supported yet" "$T/err" && pass || fail "compare $f: $(cat "$T/err")"
  run "$DIMG" info -f "$name" "$f"
  expect_rc 1 "info -f $name $f"
  expect_one_error_line "$desc image (format $name): not supported yet" "info -f $name $f"
}

for spec in x.vhdx:vhdx:VHDX q.qed:qed:QED \
  p.hdd:parallels:Parallels; do
  IFS=: read -r f name desc <<<"$spec"
  check_refused "$f" "$name" "$desc"
done
# The oracle names the same formats for the files it made.
for spec in x.vhdx:vhdx q.qed:qed p.hdd:parallels; do
  q=$(qemu-img info --output=json "${spec%%:*}" | sed -n 's/.*"format": "\([^"]*\)".*/\1/p')
  [ "$q" = "${spec##*:}" ] && pass || fail "qemu-img calls ${spec%%:*} '$q'"
done

# Writing them is refused by name too: create, create -o help, convert -O.
for name in vhdx qed parallels; do
  run "$DIMG" create -f $name new.img 1M
  expect_rc 1 "create -f $name"
  expect_one_error_line "image (format $name): not supported yet" "create -f $name"
  [ ! -e new.img ] && pass || fail "create -f $name left a file"
  run "$DIMG" create -f $name -o help
  expect_one_error_line "image (format $name): not supported yet" "create -f $name -o help"
  run "$DIMG" convert -O $name -f raw fixed.vhd new.img
  expect_rc 1 "convert -O $name"
  expect_one_error_line "image (format $name): not supported yet" "convert -O $name"
  [ -z "$(ls new.img* 2>/dev/null)" ] && pass || fail "convert -O $name left a file"
done

# Asked for explicitly, the bytes are still readable as raw.
run "$DIMG" info -f raw fixed.vhd
expect_rc 0 "info -f raw of a VHD"
grep -q '^file format: raw' "$T/out" && pass || fail "info -f raw: $(cat "$T/out")"

# A qcow2 whose last guest sector (and so the file's last 512 bytes) holds a VHD footer.
truncate -s 1M inner.raw
dd if=fixed.vhd of=inner.raw bs=512 skip=$(($(stat -c %s fixed.vhd) / 512 - 1)) \
  seek=2047 count=1 conv=notrunc status=none
qemu-img convert -O qcow2 inner.raw outer.qcow2
[ "$(tail -c 512 outer.qcow2 | head -c 8)" = conectix ] && pass || fail "setup: footer not last"
run "$DIMG" info outer.qcow2
expect_rc 0 "qcow2 ending in a VHD footer"
grep -q '^file format: qcow2' "$T/out" && pass || fail "qcow2 with a footer: $(cat "$T/out")"

# Inside an archive: listed by name, and a convert refuses before copying anything.
tar cf a.tar x.vhdx q.qed
run "$DIMG" info a.tar
expect_rc 0 "info of a tar holding a VHDX"
grep -Eq 'file +vhdx .* x\.vhdx$' "$T/out" && pass || fail "tar listing: $(cat "$T/out")"
run "$DIMG" convert -O qcow2 a.tar/x.vhdx o.qcow2
expect_rc 1 "convert of a VHDX member"
expect_one_error_line "a.tar/x.vhdx: VHDX image (format vhdx): not supported yet" "VHDX member"
[ -z "$(ls o.qcow2* 2>/dev/null)" ] && pass || fail "member convert left $(ls o.qcow2*)"

# The browser, in tmux.
TUI_SOCK=dimgforeign
source "$(dirname "$0")/tui_lib.sh"
mkdir dir
cp --sparse=always fixed.vhd dir/disk.vhd
cp q.qed dir/
start_in "$T/dir"
wait_for 'disk\.vhd +vpc ' && wait_for 'q\.qed +qed ' && pass ||
  { fail "browser rows: want vpc and qed"; screen; }
keys / q . q e d Enter
wait_for 'QED image \(format qed\): not supported yet' && pass || { fail "info pane of the QED"; screen; }
tm kill-server 2>/dev/null || true

finish

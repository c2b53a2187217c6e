#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# test_escape.sh: terminal escapes and control characters from image metadata never reach the
# terminal raw. Backing file names and formats, snapshot names and ids, vmdk extent names and
# createType, GPT partition names, reach `info`, `snapshot -l`, `check` and error lines as
# \e, \r, \xNN escapes (no byte below 0x20 but newline, no DEL, no C1, no bidi override), one
# line each; JSON keeps the exact value (compared with qemu-img's). In tmux, a file name and a
# backing name carrying CR and escape sequences are drawn escaped and no other row changes.
source "$(dirname "$0")/lib.sh"
need sgdisk tmux # tmux: the browser part at the end (tui_lib.sh)

ESC=$'\e'
# no_raw FILE DESC: FILE has no control byte but newline, and no C1 or bidi override.
no_raw() {
  if LC_ALL=C grep -qP '[\x00-\x09\x0b-\x1f\x7f]|\xc2[\x80-\x9f]|\xe2\x80[\xaa-\xae]|\xe2\x81[\xa6-\xa9]' "$1"; then
    fail "$2: raw control bytes reach the terminal:"
    cat -A "$1" | head -20
  else
    pass
  fi
}

# A backing name with a colour escape, a CR and a bidi override (U+202E).
bname=$'base\e[31mRED\rX\u202e.qcow2'
qemu-img create -q -f qcow2 -u -b "$bname" -F raw top.qcow2 1M
# The backing format, made hostile in place ("raw" -> ESC "[w").
python3 - <<'EOF'
d = bytearray(open('top.qcow2', 'rb').read())
i = d.index(b'\xe2\x79\x2a\xca')  # backing format extension
assert d[i + 8:i + 11] == b'raw'
d[i + 8:i + 11] = b'\x1b[w'
open('topf.qcow2', 'wb').write(d)
EOF
run "$DIMG" info top.qcow2
expect_rc 0 "info of an image with a hostile backing name"
no_raw "$T/out" "info: backing file name"
grep -qF 'backing file: base\e[31mRED\rX\xe2\x80\xae.qcow2' "$T/out" && pass ||
  fail "info: backing name not shown escaped: $(cat -A "$T/out" | grep backing)"
run "$DIMG" info topf.qcow2
no_raw "$T/out" "info: backing format"
grep -qF 'backing file format: \e[w' "$T/out" && pass || fail "backing format: $(cat -A "$T/out")"
# JSON carries the exact name, as qemu-img prints it.
"$DIMG" info --output=json top.qcow2 | grep '"backing-filename"' >dimg.json
qemu-img info --output=json top.qcow2 | grep '"backing-filename"' >qemu.json
expect_same dimg.json qemu.json "JSON backing-filename equals qemu-img's"
# The chain cannot be opened: the error line names it escaped, on one line.
run "$DIMG" info --backing-chain top.qcow2
expect_rc 1 "info --backing-chain with a missing hostile backing file"
expect_one_error_line 'base\\e\[31mRED\\rX' "error line names the backing file escaped"
no_raw "$T/err" "error line"
run "$DIMG" map top.qcow2
no_raw "$T/err" "map error line"
no_raw "$T/out" "map output"
run "$DIMG" check top.qcow2
no_raw "$T/out" "check output"
no_raw "$T/err" "check errors"

# Snapshot names and ids.
qemu-img create -q -f qcow2 s.qcow2 1M
qemu-img snapshot -c $'s\e]0;pwn\a\rX' s.qcow2
run "$DIMG" snapshot -l s.qcow2
expect_rc 0 "snapshot -l"
no_raw "$T/out" "snapshot -l"
grep -qF 's\e]0;pwn\x07\rX' "$T/out" && pass || fail "snapshot name: $(cat -A "$T/out")"
run "$DIMG" info s.qcow2
no_raw "$T/out" "info snapshot table"
run "$DIMG" snapshot -d $'nope\e[2J' s.qcow2
[ "$rc" -ne 0 ] && pass || fail "deleting a missing snapshot succeeded"
no_raw "$T/err" "snapshot -d error line"
expect_one_error_line 'nope\\e\[2J' "snapshot error names it escaped"
"$DIMG" info --output=json s.qcow2 | grep '"name"' >dimg.json
qemu-img info --output=json s.qcow2 | grep '"name"' >qemu.json
expect_same dimg.json qemu.json "JSON snapshot name equals qemu-img's"

# vmdk: a hostile extent name (missing, then present) and createType.
printf '# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\ncreateType="monolithicFlat"\n\nRW 2048 FLAT "fl\033[2J\r.img" 0\n' >v.vmdk
for cmd in info check map; do
  run "$DIMG" $cmd v.vmdk
  [ "$rc" -ne 0 ] && pass || fail "$cmd of a vmdk with a missing extent: exit 0"
  expect_one_error_line "fl\\\\e\\[2J\\\\r.img" "$cmd: extent name escaped"
  no_raw "$T/err" "$cmd error line for the extent"
done
truncate -s 1M $'fl\e[2J\r.img'
printf '# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\ncreateType="monolithicFlat\033[H"\n\nRW 2048 FLAT "fl\033[2J\r.img" 0\n' >w.vmdk
run "$DIMG" info w.vmdk
no_raw "$T/out" "vmdk createType in info"
no_raw "$T/err" "vmdk createType in an error"

# vmdk parentFileNameHint with a terminal title escape (OSC) and a carriage return.
qemu-img create -q -f vmdk pbase.vmdk 1M
qemu-img create -q -f vmdk -b pbase.vmdk -F vmdk pchild.vmdk 1M
python3 - <<'PY'
d = bytearray(open('pchild.vmdk', 'rb').read())
start = d.index(b'# Disk DescriptorFile')
end = d.index(b'\0', start)
text = bytes(d[start:end]).replace(b'parentFileNameHint="pbase.vmdk"',
                                    b'parentFileNameHint="p\x1b]2;x\x07\rb.vmdk"')
d[start:start + len(text)] = text  # the descriptor's area is zero-padded: room to spare
open('pchild.vmdk', 'wb').write(d)
PY
run "$DIMG" info pchild.vmdk
no_raw "$T/out" "vmdk parent hint in info"
no_raw "$T/err" "vmdk parent hint in an error"
run "$DIMG" info --backing-chain pchild.vmdk
no_raw "$T/err" "vmdk parent hint in the chain's error"
grep -qF 'p\e]2;x\x07\rb.vmdk' "$T/err" "$T/out" && pass || fail "vmdk hint not shown escaped: $(cat -A "$T/err" "$T/out")"

# GPT partition names (UTF-16 in the table) with an escape.
truncate -s 8M g.raw
sgdisk -q -n 1:2048:4095 -c 1:$'p\e[5mART' g.raw >/dev/null 2>&1 || true
run "$DIMG" info -f raw g.raw
no_raw "$T/out" "GPT partition name"

# The browser, in tmux: a name with CR and colour escapes, and an image whose backing name
# has them; every row stays in its place.
TUI_SOCK=dimgesc
source "$(dirname "$0")/tui_lib.sh"
mkdir dir
cp top.qcow2 dir/aaa.qcow2
qemu-img create -q -f qcow2 "dir/b"$'\r'"ZZZZZZZZ${ESC}[7m.qcow2" 1M
qemu-img create -q -f qcow2 dir/ccc.qcow2 2M
start_in "$T/dir"
wait_for 'ccc\.qcow2 *qcow2' && wait_for 'aaa\.qcow2 *qcow2' || true
scr=$(screen)
grep -qF 'b\rZZZZZZZZ\e[7m.qcow2' <<<"$scr" && pass || { fail "browser: name not escaped"; echo "$scr"; }
grep -Eq '^ *aaa\.qcow2 +qcow2 ' <<<"$scr" && grep -Eq '^ *ccc\.qcow2 +qcow2 ' <<<"$scr" && pass ||
  { fail "browser: a row was overwritten"; echo "$scr"; }
# The info pane of aaa.qcow2 shows its backing name escaped.
keys / a a a Enter
seen=
for _ in $(seq 50); do
  scr=$(screen)
  grep -qF 'base\e[31mRED\rX' <<<"$scr" && { seen=1; break; }
  sleep 0.1
done
[ -n "$seen" ] && pass || { fail "info pane: backing name not escaped"; echo "$scr"; }
tm capture-pane -p -e -t "$S" >screen.txt
if grep -q $'\e\\[31mRED' screen.txt; then fail "the image's escape reached the screen"; else pass; fi
tm kill-server 2>/dev/null || true

finish

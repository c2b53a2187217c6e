#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# test_tui_forms.sh: the application's forms and dialogs, driven in tmux as a person would
# (send-keys, capture-pane). Enter accepts a form from any field, Tab/Up/Down move; the convert
# form's proposed name follows the format and is the file written; an existing target re-opens
# the form with the typed name kept; the focused field carries a marker; a one-value choice is
# text; dialog text wraps (60 columns) inside side borders; "Fix GPT" only for a GPT disk;
# applying a snapshot names the images built on it; actions that cannot work are refused when
# the key is pressed (check of raw, resize of an image in use, rebase of raw, resize in an
# archive); an open dialog is drawn even on a tiny terminal; K and B on a differencing vdi and
# `dimg info` of one; the password box redrawn whole on a resize; Ctrl-Z and fg.
# Files are checked with qemu-img (compare, info).
# One ctest entry per behaviour (cli.test_tui_forms.SECTION), each on its own files:
# ctest-sections: convert_form dialog_wrap fix_gpt in_use archive_member snapshot_apply vdi_diff
# ctest-sections: password_box suspend
source "$(dirname "$0")/lib.sh"
S=forms TUI_SOCK=forms
source "$(dirname "$0")/tui_lib.sh"

# mk_cv: cv/vm.qcow2, 8 MiB with data at 1 MiB.
mk_cv() {
  mkdir cv
  qemu-img create -q -f qcow2 cv/vm.qcow2 8M
  qemu-io -c 'write -P 7 1M 1M' cv/vm.qcow2 >/dev/null
}

sec_convert_form() {
  # --- 4, 6, 16: the convert form ---
  mk_cv
  start_in "$T/cv"
  see 'vm\.qcow2 +qcow2' "convert dir listed"
  keys / v m Enter c
  see 'New file +vm-1\.qcow2' "convert proposes vm-1.qcow2"
  see '> New file' "the focused field carries a marker"
  # Down to the format: the marker follows; Right chooses the next format.
  keys Down
  see '> Format' "Down moves the marker to the format"
  for _ in 1 2 3 4 5 6; do
    screen | grep -Eq 'Format +< vdi >' && break
    keys Right
  done
  see 'Format +< vdi >' "vdi chosen"
  see 'New file +vm\.vdi' "the proposed name follows the format"
  # Enter on the format field accepts the whole form.
  keys Enter
  see 'done: convert vm\.qcow2 -> vm\.vdi' "Enter on a field accepts the form" 30
  [ -f cv/vm.vdi ] && pass || fail "vm.vdi was not written: $(ls cv)"
  [ "$(qemu-img info --output=json cv/vm.vdi | json_str /dev/stdin format)" = vdi ] && pass ||
    fail "vm.vdi is not a vdi"
  qemu-img compare -q cv/vm.qcow2 cv/vm.vdi && pass || fail "vm.vdi differs from vm.qcow2"
  ls cv | grep -q 'vm-1' && fail "a vm-1 file was written: $(ls cv)" || pass
  # An existing name: the form comes back with the typed text kept and the reason in it. (Tab to
  # OK, then Enter: the same keys accept on the old code too, so only the re-opening is tested.)
  qemu-img create -q -f qcow2 cv/taken.qcow2 1M
  keys c
  see 'New file +vm-1\.qcow2' "second convert form"
  keys C-u t a k e n . q c o w 2 Tab Tab Tab Tab Enter
  see 'taken\.qcow2 exists; choose another name' "an existing target is refused"
  see 'New file +taken\.qcow2' "the form is open again with the typed name"
  keys C-u m i n e . q c o w 2 Enter
  see 'done: convert vm\.qcow2 -> mine\.qcow2' "the corrected form converts" 30
  qemu-img compare -q cv/vm.qcow2 cv/mine.qcow2 && pass || fail "mine.qcow2 differs from vm.qcow2"
  [ "$(qemu-img info --output=json cv/taken.qcow2 | json_num /dev/stdin virtual-size)" = 1048576 ] &&
    pass || fail "taken.qcow2 was changed"
  # The export form too: an existing OVA name brings the form back with the name kept.
  touch cv/taken.ova
  keys E
  see 'Export OVA' "export form opens"
  keys C-u t a k e n . o v a Tab Tab Tab Tab Tab Tab Enter
  see 'taken\.ova exists; choose another name' "an existing OVA is refused"
  see 'OVA file +taken\.ova' "the export form is open again with the typed name"
  keys Escape
  [ ! -s cv/taken.ova ] && pass || fail "taken.ova was written"
  quit "convert session"
}

sec_dialog_wrap() {
  # --- 5, 16, 12: at 60 columns the resize hint and the shrink warning wrap whole inside side
  # borders; a disk without a GPT gets no "Fix GPT"; check of raw and rebase of raw are refused
  # when the key is pressed ---
  mkdir rs
  qemu-img create -q -f raw rs/d.raw 8M
  qemu-io -f raw -c 'write -P 9 0 1M' rs/d.raw >/dev/null
  start_in "$T/rs" 60 24
  see 'd\.raw +raw' "raw listed at 60 columns"
  keys / d . r a w Enter R
  see 'Resize' "resize form at 60 columns"
  see 'sets\.' "the resize hint is not cut"
  see '│ .*New size .*│' "the form has side borders"
  not_see 'Fix GPT' "no Fix GPT for a disk without a GPT"
  keys C-u - 4 M Enter
  see 'Shrink' "shrinking asks first"
  see 'new end is' "the shrink warning wraps"
  see 'lost\.' "the shrink warning keeps its last word"
  keys y e s Enter
  see 'done: resize d\.raw' "the shrink ran" 30
  [ "$(qemu-img info --output=json rs/d.raw | json_num /dev/stdin virtual-size)" = 4194304 ] &&
    pass || fail "d.raw is not 4 MiB after the shrink"
  keys C
  see 'check: raw images have no metadata to check' "check of raw refused at the key"
  not_see 'started: check|failed: check' "no check job for raw"
  keys B
  see 'rebase: raw images cannot have a backing file' "rebase of raw refused at the key"
  not_see 'New backing' "no rebase form for raw"
  # An open dialog is drawn even when the terminal is too small for the screen under it.
  keys R
  see 'New size' "resize form before shrinking the terminal"
  tm resize-window -t "$S" -x 30 -y 7
  see 'Resize' "the dialog is drawn on a tiny terminal"
  keys Escape
  tm resize-window -t "$S" -x 60 -y 24
  see 'cancelled' "Esc closed the dialog"
  quit "60-column session"
}

sec_fix_gpt() {
  # --- 16: "Fix GPT" is offered for a GPT disk ---
  mkdir gp
  truncate -s 16M gp/g.raw
  sgdisk -o -n 1:2048:+4M gp/g.raw >/dev/null 2>&1
  start_in "$T/gp"
  see 'g\.raw +raw' "GPT disk listed"
  keys / g . r a w Enter R
  see 'Fix GPT +< yes >' "Fix GPT offered for a GPT disk"
  keys Escape
  quit "gpt session"
}

sec_in_use() {
  # --- 12: resize and compact of an image another program holds are refused at the key ---
  mkdir lk
  qemu-img create -q -f qcow2 lk/busy.qcow2 8M
  qemu-img create -q -f vdi lk/held.vdi 8M
  qemu-io -c 'sleep 60000' lk/busy.qcow2 >/dev/null 2>&1 &
  qpid=$!
  qemu-io -f vdi -c 'sleep 60000' lk/held.vdi >/dev/null 2>&1 &
  qpid2=$!
  sleep 1
  start_in "$T/lk"
  see 'busy\.qcow2 +qcow2' "locked image listed"
  keys / b u s y Enter R
  see 'resize: busy\.qcow2 is in use by another program' "resize of a locked image refused at the key"
  not_see 'New size' "no resize form for a locked image"
  keys Escape / h e l d Enter Z
  see 'compact: held\.vdi is in use by another program' "compact of a locked vdi refused at the key"
  not_see 'Compact held' "no compact question for a locked vdi"
  kill "$qpid" "$qpid2" 2>/dev/null || true
  wait "$qpid" "$qpid2" 2>/dev/null || true
  quit "lock session"
}

sec_archive_member() {
  # --- 10: no resize form for an archive member ---
  mkdir ar ar/src
  qemu-img create -q -f qcow2 ar/src/inner.qcow2 16M
  (cd ar/src && tar czf ../a.tar.gz inner.qcow2) && rm -rf ar/src
  start_in "$T/ar"
  see 'a\.tar\.gz' "archive listed"
  keys / a . t a r Enter Enter
  see 'inner\.qcow2 +qcow2' "inside the archive"
  keys / i n n e r Enter R
  see 'resize: inner\.qcow2 is inside an archive' "resize refused for an archive member"
  not_see 'New size' "no resize form for an archive member"
  quit "archive session"
}

sec_snapshot_apply() {
  # --- 16: one-value choice as text; applying a snapshot names the images built on it ---
  mkdir sn
  qemu-img create -q -f qcow2 sn/b.qcow2 8M
  qemu-io -c 'write -P 1 0 1M' sn/b.qcow2 >/dev/null
  qemu-img convert -O raw sn/b.qcow2 "$T/b-at-s1.raw"
  qemu-img snapshot -c s1 sn/b.qcow2
  qemu-io -c 'write -P 2 0 1M' sn/b.qcow2 >/dev/null
  qemu-img create -q -f qcow2 -b b.qcow2 -F qcow2 sn/o.qcow2
  qemu-img create -q -f vmdk sn/v.vmdk 8M
  start_in "$T/sn"
  see 'o\.qcow2 +qcow2' "snapshot dir listed"
  keys / v . v m d k Enter O
  see 'New differencing image' "differencing form for the vmdk"
  see 'Format +vmdk  ' "a one-value choice is shown as text"
  not_see '< vmdk >' "no arrows around a choice that cannot change"
  keys Escape Escape / b . q c o w 2 Enter t
  see '@1 s1' "the tree shows the snapshot"
  for _ in 1 2 3 4 5 6; do
    screen | grep -Eq '^ *> *@1 s1|▶ *@1 s1' && break
    screen | grep -q 'Apply snapshot' && break
    keys Down
    keys A
    screen | grep -q 'Apply snapshot' && break
    keys Escape
  done
  see 'Apply snapshot' "A on the snapshot asks first"
  see 'o\.qcow2 uses b\.qcow2 as backing file' "the apply names the image built on it"
  keys y e s Enter
  see 'done: apply snapshot' "the apply ran" 30
  qemu-img compare -q -f qcow2 -F raw sn/b.qcow2 "$T/b-at-s1.raw" && pass || fail "b.qcow2 does not read as at s1"
  quit "snapshot session"
}

sec_vdi_diff() {
  # --- 8: K and B on a differencing vdi; dimg info prints its backing file ---
  mkdir vd
  qemu-img create -q -f vdi vd/b.vdi 6M
  qemu-io -f vdi -c 'write -P 1 0 3M' vd/b.vdi >/dev/null
  qemu-img create -q -f vdi vd/c.vdi 6M
  qemu-io -f vdi -c 'write -P 5 1M 100k' vd/c.vdi >/dev/null
  qemu-img convert -O raw vd/c.vdi "$T/c.before"
  "$DIMG" rebase -u -b b.vdi -F vdi vd/c.vdi
  "$DIMG" convert -O raw vd/c.vdi "$T/c.view"
  "$DIMG" info vd/c.vdi >"$T/ci.txt"
  grep -q '^backing file: b\.vdi' "$T/ci.txt" && pass || fail "dimg info of a vdi child: no backing file line: $(cat "$T/ci.txt")"
  start_in "$T/vd"
  see 'c\.vdi +vdi' "vdi dir listed"
  keys / c . v d i Enter B
  see 'New backing +b\.vdi' "B on a differencing vdi shows its parent"
  keys Escape K
  see 'Write the data of c\.vdi into b\.vdi' "K on a differencing vdi names its parent"
  keys Enter
  see 'done: commit c\.vdi' "commit of the differencing vdi ran" 30
  qemu-img convert -O raw vd/b.vdi "$T/b.after"
  cmp -s "$T/b.after" "$T/c.view" && pass || fail "b.vdi does not hold c.vdi's view after K"
  qemu-img check -q vd/b.vdi && pass || fail "qemu-img check of b.vdi after K"
  quit "vdi session"
}

sec_password_box() {
  # --- 18: the password box redrawn whole when the terminal is resized; Ctrl-Z and fg ---
  mkdir enc
  qcreate -f qcow2 --object secret,id=s,data=hunter2 \
    -o encrypt.format=luks,encrypt.key-secret=s,encrypt.iter-time=10 enc/secret.qcow2 8M
  start_in "$T/enc"
  see 'secret\.qcow2 +qcow2' "encrypted image listed"
  keys m
  see 'secret\.qcow2 is encrypted' "the password box"
  tm resize-window -t "$S" -x 100 -y 24
  sleep 0.5
  see 'secret\.qcow2 is encrypted' "the box after the resize"
  for _ in $(seq 30); do [ "$(screen | grep -c 'Enter unlocks')" = 1 ] && break; sleep 0.1; done
  [ "$(screen | grep -c 'Enter unlocks')" = 1 ] && pass || { fail "the resize left a second box:"; screen | sed 's/^/  | /'; }
  see '^ dimg ' "the screen under the box is redrawn"
  keys Escape
  see 'password entry cancelled' "Esc after the resize"
  quit "password session"
}

sec_suspend() {
  # --- Ctrl-Z and fg (the image of the convert form's section) ---
  mk_cv
  N=$((N + 1))
  tm new-session -d -s "$S" -x 100 -y 30 "bash --norc --noprofile -i"
  sleep 0.5
  keys "'$DIMG' '$T/cv'" Enter
  see 'vm\.qcow2 +qcow2' "dimg started from a shell"
  keys C-z
  see 'Stopped' "Ctrl-Z suspends"
  keys fg Enter
  see 'vm\.qcow2 +qcow2' "fg restores the screen"
  keys c
  see 'New file' "the keys work after fg"
  keys Escape q
  see '^bash.*[#$] ?$' "back at the shell"
  tm kill-server 2>/dev/null || true
}

sections "$@"
finish

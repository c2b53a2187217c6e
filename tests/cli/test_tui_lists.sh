#!/usr/bin/env bash
# test_tui_lists.sh: issue 15's list, classification and demo checks. `dimg demo DIR` never
# writes into a file it did not make (a directory holding the user's files is left
# byte-identical and the demo goes into DIR/dimg-demo-N/); then, in tmux (a private server as
# in test_tui.sh), how the browser classifies plain files, text, block devices and dangling
# links, how the lists scroll and say where they are, and the words on the status line.
source "$(dirname "$0")/lib.sh"
command -v tmux >/dev/null || { echo "SKIP: tmux missing"; exit 77; }

export TMUX_TMPDIR="$T" # a private tmux server: never the user's
export LANG=C.UTF-8 LC_ALL=C.UTF-8 TERM=xterm-256color
S=dimglists

# --- demo: the user's files are never written ---
mkdir user
printf 'my own base image, not a demo\n' >user/base.qcow2
printf 'my notes\n' >user/README.txt
printf 'old\n' >user/ancient.cow
ln -s /nonexistent/target user/old.qcow # a link must not be followed for writing either
(cd user && sha256sum base.qcow2 README.txt ancient.cow >"$T/user.sum")
run "$DIMG" demo --no-open user
expect_rc 0 "demo into a directory holding the user's files"
if (cd user && sha256sum -c --quiet "$T/user.sum"); then pass; else fail "demo changed the user's files"; fi
if [ "$(readlink user/old.qcow)" = /nonexistent/target ] && [ ! -e /nonexistent/target ]; then pass; else
  fail "demo followed or replaced the user's symlink"
fi
if [ -f user/dimg-demo-1/disk.qcow2 ] && [ -f user/dimg-demo-1/base.qcow2 ]; then pass; else
  fail "demo did not go into user/dimg-demo-1/: $(ls -A user | tr '\n' ' ')"
fi
if grep -q "user/dimg-demo-1" "$T/out"; then pass; else fail "demo does not say where it went: $(cat "$T/out")"; fi
if qemu-img check -q user/dimg-demo-1/top.qcow2 && qemu-img info user/dimg-demo-1/top.qcow2 |
  grep -q 'backing file: mid.qcow2'; then pass; else fail "demo chain in the new directory is not sound"; fi
# A second run reuses the demo it made, and still leaves the user's files alone.
run "$DIMG" demo --no-open user
expect_rc 0 "second demo run"
if grep -q "Kept the demo images in user/dimg-demo-1" "$T/out" && [ ! -e user/dimg-demo-2 ]; then pass; else
  fail "second run did not reuse user/dimg-demo-1: $(cat "$T/out")"
fi
if (cd user && sha256sum -c --quiet "$T/user.sum"); then pass; else fail "second demo run changed the user's files"; fi
# An existing empty directory is filled; a new one is made.
mkdir empty
run "$DIMG" demo --no-open empty
expect_rc 0 "demo into an empty directory"
if [ -f empty/disk.qcow2 ] && [ ! -e empty/dimg-demo-1 ]; then pass; else fail "empty directory not filled"; fi
run "$DIMG" demo --no-open fresh
expect_rc 0 "demo into a new directory"
if [ -f fresh/README.txt ] && [ -f fresh/.dimg-demo ]; then pass; else fail "new directory not filled"; fi
# A file where the directory should be: one error line, nothing written.
printf 'x\n' >afile
run "$DIMG" demo --no-open afile
expect_rc 1 "demo onto a file"
expect_one_error_line "afile" "demo onto a file"
if [ "$(cat afile)" = x ]; then pass; else fail "demo wrote into a file"; fi

finish

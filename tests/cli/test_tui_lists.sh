#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# test_tui_lists.sh: issue 15's list, classification and demo checks. `dimg demo DIR` never
# writes into a file it did not make (a directory holding the user's files is left
# byte-identical and the demo goes into DIR/dimg-demo-N/); then, in tmux (a private server as
# in test_tui.sh), how the browser classifies plain files, text, block devices and dangling
# links, how the lists scroll and say where they are, and the words on the status line.
# One ctest entry per behaviour group (cli.test_tui_lists.SECTION), each on its own files:
# ctest-sections: demo classification lists entry_counts quit_running_job layout host_legend
# ctest-sections: archives info_wrap
source "$(dirname "$0")/lib.sh"
S=dimglists TUI_SOCK=lists
source "$(dirname "$0")/tui_lib.sh"

# mk_many: many/ with 40 qcow2 images of 1 MiB; mk_arcdir: arcdir/one.tar holding one of them.
mk_many() {
  mkdir many
  for i in $(seq -w 1 40); do qemu-img create -q -f qcow2 "many/img$i.qcow2" 1M; done
}
mk_arcdir() {
  [ -d many ] || mk_many
  mkdir arcdir
  (cd many && tar cf ../arcdir/one.tar img01.qcow2)
}

sec_demo() {
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
}

sec_classification() {
  # --- classification: files, raw disks, links and devices ---
  mkdir cls
  printf 'just some notes\n' >cls/notes.txt
  head -c 4096 /dev/zero | tr '\0' 'a' >cls/text4k.txt
  printf 'hello\n' >"$T/member.txt"
  (cd "$T" && tar cf cls/tardisk.raw member.txt) && truncate -s 1M cls/tardisk.raw
  truncate -s 1M cls/zeros.img
  ln -s /nowhere/gone.qcow2 cls/dangling
  have_blk=0
  mknod cls/blk b 7 0 2>/dev/null && have_blk=1
  start_in "$T/cls"
  see 'notes\.txt +file ' "a short text file is listed as a file"
  not_see 'notes\.txt +file .*%' "a file has no usage percentage"
  see 'text4k\.txt +file ' "a 4 KiB text file is listed as a file"
  see 'tardisk\.raw +raw +1\.0 MiB' "a raw disk starting with a tar stream stays a raw disk"
  see 'zeros\.img +raw +1\.0 MiB' "a 1 MiB raw disk of zeros stays a raw disk"
  see 'dangling -> /nowhere/g.* +<link> ' "a dangling link names its missing target"
  if [ $have_blk = 1 ]; then see 'blk +<block>' "a block device is shown as one"; fi
  keys / n o t e s Enter
  see 'plain file, 16 B' "info pane of a plain file"
  keys Escape / d a n g Enter
  see 'broken symbolic link: its target' "info pane of a dangling link"
  see '\| /nowhere/gone\.qcow2 *$' "info pane names the missing target"
  keys Escape
  if [ $have_blk = 1 ]; then
    keys / b l k Enter
    see 'block device: blk' "info pane of a block device"
    keys Escape
  fi
  keys t
  see 'zeros\.img' "the tree lists the raw disk"
  not_see 'notes\.txt|text4k\.txt' "the tree lists no text files"
  keys q
}

sec_lists() {
  # --- lists: position, End reaching the last item, the jobs screen scrolling, help's G ---
  mk_many
  start_in "$T/many"
  see ' 2/41  [-a-z]' "the browser's header shows the cursor's position"
  keys G
  see ' 41/41  [-a-z]' "G reaches the last entry"
  see 'img40\.qcow2 +qcow2' "the last entry is on screen"
  keys g j # on img01 (g selects "..")
  # 16 check jobs, one per image: more than the jobs screen holds at once.
  # (each waits for its start: a finished job rescans, and C on an entry not probed again yet
  # is refused)
  for i in $(seq -w 1 16); do
    for try in 1 2 3 4 5; do
      keys C
      wait_for "(started|done): check img$i\.qcow2" 2 && break
    done
    keys j
  done
  keys J
  see ' 1/16 *$' "the jobs screen shows its position"
  keys End
  see ' 16/16 *$' "End selects the last job"
  see 'check img16\.qcow2' "the last job is scrolled into view"
  see 'done +check img16' "the last job finished" 20
  keys x
  see 'check img16\.qcow2: already done, nothing to cancel' "x on a finished job says why nothing happens"
  keys X
  see '16 finished jobs cleared' "X says what it cleared"
  keys q '?'
  see 'dimg .*: disk images in a terminal' "help opens at its top"
  keys G
  see 'Flags column: S snapshots' "G in help reaches the last line"
  keys q

  # --- a finished job keeps the browser's filter, selection and scroll ---
  keys G
  keys k k k k k # (after a draw: G scrolled to the end first)
  see ' 36/41  [-a-z]' "cursor five above the end"
  keys C
  see 'done: check img35\.qcow2' "the check job finished" 20
  see ' 36/41  [-a-z]' "the selection stays after the job"
  see 'img40\.qcow2 +qcow2' "the scroll stays after the job (the last entry still shown)"
  keys / i m g 0 Enter
  see 'filter: img0' "filter typed"
  keys j j C
  see 'done: check img03\.qcow2' "a check job finished under a filter" 20
  see 'filter: img0' "the filter survives the finished job"
  not_see 'img10\.qcow2' "entries the filter hides stay hidden"
  see ' 4/10  [-a-z]' "the selection survives the finished job"

  # --- words on the status line: no stale message, hints, plurals, counts ---
  see 'done: check img03\.qcow2' "(the last job's message is shown)"
  keys t
  not_see 'done: check img03' "the browser's message is not carried into the tree"
  see 'N new snapshot, A apply, D delete' "the tree says its keys"
  keys q J
  see 'x cancel, X clear finished' "the jobs screen says its keys"
  not_see '0 B / 0 B' "a check job shows no byte counts it does not have"
  keys q
  keys Escape g j
  see ' 2/41  [-a-z]' "back on img01"
  keys m
  see 'per cell, 1 run +at guest' "one run is one run"
  see 'at guest offset 0, cell 1/' "the map shows the cursor's offset and position"
  keys End
  see 'at guest offset [1-9][0-9]*, cell ([0-9]+)/\1 *$' "End: the last cell's offset and position"
  keys q
}

sec_entry_counts() {
  # --- words: one entry, one member ---
  mk_arcdir
  start_in "$T/arcdir"
  see '^ 1 entry\.' "one entry is one entry"
  see 'one\.tar +archive' "the tar is listed as an archive"
  keys Enter
  see '1 member in the archive' "entering an archive counts its members"
  keys BSpace
  see '1 entry\.' "leaving it counts the directory again"
}

sec_quit_running_job() {
  # --- quitting: No says the running job goes on ---
  mkdir slow
  qemu-img create -q -f qcow2 slow/big.qcow2 64M
  qemu-io -f qcow2 -c 'write -P 7 0 48M' slow/big.qcow2 >/dev/null
  start_in "$T/slow" 120 30 DIMG_TEST_SLOW_MS=300
  see 'big\.qcow2 +qcow2' "the slow session lists the image"
  keys c
  see 'Convert' "convert form opens"
  # Enter until the job starts (a form accepts on one Enter or walks its fields first).
  for try in 1 2 3 4 5; do
    keys Enter
    wait_for 'started: convert big\.qcow2' 1 && break
  done
  see 'started: convert big\.qcow2' "slow convert started"
  keys q
  see 'job is still running' "quit asks while a job runs"
  keys n
  see 'not quitting: 1 job is still running' "No says the job goes on"
  keys J x
  see 'cancelled' "the job cancelled" 10
  keys q q
  see '^EXIT=0' "quit after the cancel"
}

sec_info_wrap() {
  # --- the info pane wraps long lines between words, the rest indented: never "claims i" then
  # "t, and it" ---
  mkdir iw
  echo "hello notes file" >iw/notes.txt
  start_in "$T/iw" 120 30
  keys / n o t e s Enter
  see '\| plain file, 17 B \(17 bytes\): no image format claims *$' "the first row ends at a word"
  see '\|   it, and it *$' "the next row starts with the next word, indented"
  see '\|   sectors, no boot sector\)\. *$' "a second wrapped line also breaks between words"
  quit "info_wrap"
}

sec_layout() {
  # --- layout: the F-bar at 60 columns, the columns at 40, a terminal too small ---
  mk_many
  fbar() { screen | tail -n 1; }
  start_in "$T/many" 60 20
  see '9Jobs +10Quit *$' "60 columns: 9Jobs and 10Quit both shown"
  if fbar | grep -q '[A-Za-z][0-9]'; then fail "60 columns: a label runs into the next key: $(fbar)"; else pass; fi
  start_in "$T/many" 80 24
  see '6Resize +7Append +8Check' "80 columns: whole labels, separated"
  start_in "$T/many" 40 20
  see 'img01\.qcow2 +qcow2 +1\.0 MiB +196 KiB' "40 columns: the name shrinks, the sizes stay"
  see '10Quit' "40 columns: 10Quit shown"
  start_in "$T/many" 20 5
  see 'need 30x6' "a terminal too small says what it needs"
  see 'have 20x5' "and what it has"
}

sec_host_legend() {
  # --- the host view's legend: the regions of the format shown; NO_COLOR keeps them apart ---
  mk_many
  mkdir vd
  qemu-img create -q -f vdi vd/a.vdi 8M
  qemu-io -f vdi -c 'write -P 3 1M 1M' vd/a.vdi >/dev/null
  start_in "$T/vd"
  see 'a\.vdi +vdi' "the vdi is listed"
  keys m
  see 'guest view' "the vdi's map"
  keys v
  see 'host file view' "the vdi's host view"
  see 'block-map' "the vdi's legend names its block map"
  not_see ' l1 | l2 |refcount' "the vdi's legend names no qcow2 region"
  start_in "$T/many" 120 30 NO_COLOR=1
  see 'img01\.qcow2 +qcow2' "NO_COLOR session"
  keys m v
  see 'host file view' "NO_COLOR host view"
  see 'H header +1 l1 +R refcount-table' "NO_COLOR: each region kind has its own glyph"
}

sec_archives() {
  # --- archives: m on the archive lists it; m on a member is refused in one sentence ---
  mk_arcdir
  start_in "$T/arcdir"
  see 'one\.tar +archive' "the tar is listed as an archive (again)"
  keys m
  see '1 member in the archive' "m on an archive opens its listing"
  see 'img01\.qcow2 +qcow2' "the member is listed"
  keys m
  see 'img01\.qcow2 is inside an archive: the map reads images in place; c converts it out first' "m on a member is refused with the reason"
  not_see 'Not a directory' "no raw errno text"
}

sections "$@"
finish

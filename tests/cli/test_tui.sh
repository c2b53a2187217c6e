#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# test_tui.sh: the interactive application driven as a person would, in tmux: keys typed with
# send-keys, the screen read with capture-pane. Starts in a `dimg demo` directory and checks
# the browser's rows, the map (guest and host views, partition marks), the tree, a convert
# started with keystrokes (the job reaches done, the new file passes qemu-img check and
# compares equal to its source), an OVA export (E; tar order, disks equal to their sources), a
# grow, a compact of the vdi, a commit (K), a cancelled job (no file, no .part left), an
# encrypted LUKS qcow2 (its E marker, the password box for its map and its convert, a wrong
# password, Esc; the copy equals qemu-img's), a terminal too small and then large again, and
# quitting (terminal restored, exit 0). vmdk and vdi: a differencing image made from the tree
# (O, N), its link as dimg info and qemu-img info read it, and a rebase (B) from the browser.
# Then an OVA entered like a directory (members, OVF summary in the pane, a refused symlink
# member), a member converted from inside it, the way back out, and imports with I (refused on
# a manifest that misses a member, then converting the disk to qcow2). Last, DIMG_TIMING: its
# milestones in order with sane values, and every row of a 300-image directory showing
# qemu-img's format and virtual size once rows_filled is written.
# One ctest entry per behaviour (cli.test_tui.SECTION); each section starts its own session on
# fresh files. Without an argument every section runs, each in its own process, in this order:
# ctest-sections: browser map tree_snapshots convert export grow compact commit small_terminal
# ctest-sections: quit cancel encrypted read_only idle quit_running_job vmdk_child vdi_child
# ctest-sections: rebase archive_browse archive_import
# ctest-sections: untrusted_toggle untrusted_flag timing timing_unwritable
source "$(dirname "$0")/lib.sh"
S=dimgtest TUI_SOCK=dimg
source "$(dirname "$0")/tui_lib.sh"

start_cmd() { tui_start "$1"; }             # start_cmd CMD: CMD at 120x30 in a new server
start() { start_in "$T/demo" 120 30 "$@"; } # start [ENV=VAL...]: dimg in the demo dir
# demo_start [ENV=VAL...]: a `dimg demo` directory and dimg in it, its rows probed.
demo_start() {
  "$DIMG" demo --no-open demo >/dev/null
  start "$@"
  wait_for 'top\.qcow2 +qcow2' || true # a missing row is reported by the section's own checks
}

sec_browser() {
  # --- browser: every row probed, with format, size and markers ---
  "$DIMG" demo --no-open demo >/dev/null
  start
  see 'disk\.qcow2 +qcow2 +4\.0 GiB' "browser row of disk.qcow2"
  see 'mid\.qcow2 +qcow2 +1\.0 GiB .* B ' "mid.qcow2 marked as having a backing file"
  see 'legacy\.vdi +vdi +256 MiB' "browser row of the vdi"
  see 'old\.qcow +qcow ' "browser row of the qcow"
  see 'ancient\.cow +cow ' "browser row of the cow"
  see '1Help +2Info +3Map +4Tree +5Conv' "function-key bar"
  # The info pane follows the cursor: filter to one image.
  keys / d i s k Enter
  see 'file format: qcow2' "info pane of disk.qcow2"
  see 'Partition table: MBR' "info pane shows the partition table"
}

sec_map() {
  demo_start
  keys / d i s k Enter
  # --- map: guest view with partitions, host view ---
  keys m
  see 'qcow2 +4\.0 GiB, guest view' "map opens in the guest view"
  see 'partitions: #1@1\.0 MiB #2@1\.0 GiB' "map lists the partitions"
  see 'compressed' "map legend"
  keys End
  see 'cell [0-9]+: unallocated' "cursor at the end is over unallocated space"
  keys v
  see 'host file view' "map host view"
  see 'header' "host legend names the header"
  keys q
  see 'Name +Format' "q closes the map"
}

sec_tree_snapshots() {
  demo_start
  # --- tree: the backing chain of three ---
  keys Escape t
  see 'base\.qcow2' "tree lists the base"
  see '└─ mid\.qcow2' "mid sits under base"
  see '└─ top\.qcow2' "top sits under mid"
  see '@1 installed' "disk.qcow2's first snapshot in the tree"
  see '@2 configured' "disk.qcow2's second snapshot in the tree"
  # A new snapshot from the tree (N on disk.qcow2), then the first one deleted (D, confirmed).
  # Rows: ancient.cow, base, mid, top, disk.qcow2, @1, @2, ...
  keys Home Down Down Down Down N
  see 'New snapshot' "snapshot form opens"
  keys C-u t r e e s n a p Enter
  see 'done: snapshot treesnap of disk\.qcow2' "snapshot job finished" 30
  see '@3 treesnap' "the tree shows the new snapshot"
  qemu-img snapshot -l demo/disk.qcow2 | grep -q ' treesnap ' && pass || fail "qemu-img does not list treesnap"
  keys Down # the tree keeps the cursor on disk.qcow2; @1 is next
  keys D
  see 'Delete snapshot' "delete asks first"
  keys n
  see 'cancelled' "n declines the delete"
  qemu-img snapshot -l demo/disk.qcow2 | grep -q ' installed ' && pass || fail "declined delete removed the snapshot"
  keys D y
  see 'done: delete snapshot' "delete job finished" 30
  qemu-img snapshot -l demo/disk.qcow2 | grep -q ' installed ' && fail "snapshot 1 still listed by qemu-img" || pass
  qemu-img check -q demo/disk.qcow2 && pass || fail "qemu-img check after snapshot create/delete"
  keys q
}

sec_convert() {
  demo_start
  # --- convert with keystrokes: the job runs and finishes, the result is right ---
  keys / d i s k Enter c
  see 'Convert' "convert form opens"
  see 'New file +disk-1\.qcow2' "target name proposed from the source"
  keys Enter # Enter accepts a form from any field
  see 'done: convert disk\.qcow2 -> disk-1\.qcow2' "convert job finished" 60
  [ -f demo/disk-1.qcow2 ] && pass || fail "converted file missing"
  qemu-img check -q demo/disk-1.qcow2 && pass || fail "qemu-img check of the converted image"
  qemu-img compare -q demo/disk.qcow2 demo/disk-1.qcow2 && pass || fail "converted image differs"
  keys J
  see '100% +4\.0 GiB / 4\.0 GiB' "jobs screen shows the finished job at 100%"
  keys q
}

sec_export() {
  demo_start
  # --- export with E: disk.qcow2 and legacy.vdi packed into an OVA ---
  keys Escape / d i s k . q Enter E
  see 'Export OVA' "export form opens"
  see 'OVA file +disk\.ova' "OVA name proposed from the image"
  keys Down Down Down Down Down l e g a c y . v d i Enter
  see 'done: export disk\.ova \(2 disks\)' "export job finished" 90
  [ "$(tar tf demo/disk.ova | tr '\n' ' ')" = "disk.ovf disk.vmdk legacy.vmdk disk.mf " ] && pass ||
    fail "OVA members: $(tar tf demo/disk.ova | tr '\n' ' ')"
  mkdir "$T/ova" && tar xf demo/disk.ova -C "$T/ova"
  qemu-img compare -q demo/disk.qcow2 "$T/ova/disk.vmdk" && pass || fail "exported disk.vmdk differs"
  qemu-img compare -q demo/legacy.vdi "$T/ova/legacy.vmdk" && pass || fail "exported legacy.vmdk differs"
}

sec_grow() {
  demo_start
  # --- grow with R: sparse.raw 1 GiB -> 2 GiB ---
  keys Escape / s p a r s e Enter R
  see 'New size +\+1G' "resize form proposes +1G"
  keys Enter
  see 'done: resize sparse\.raw' "resize job finished" 30
  [ "$(qemu-img info --output=json demo/sparse.raw | json_num /dev/stdin virtual-size)" = 2147483648 ] &&
    pass || fail "sparse.raw was not grown to 2 GiB"
}

sec_compact() {
  demo_start
  # --- compact with Z: a vdi in place (content unchanged); other formats are pointed to convert ---
  cp demo/legacy.vdi "$T/legacy-before.vdi"
  keys Escape / l e g a c y Enter Z
  see 'Compact legacy\.vdi in place' "compact asks first"
  keys y
  see 'done: compact legacy\.vdi' "compact job finished" 30
  qemu-img compare -q "$T/legacy-before.vdi" demo/legacy.vdi && pass || fail "compact changed the content"
  qemu-img check -q demo/legacy.vdi && pass || fail "qemu-img check after compact"
  keys Escape / s p a r s e Enter Z
  see 'compact works in place on vdi images; sparse\.raw is raw' "compact refused for raw"
}

sec_commit() {
  demo_start
  # --- commit with K: top.qcow2 written down into mid.qcow2, then emptied ---
  qemu-img convert -O raw demo/top.qcow2 "$T/top.before"
  keys Escape / t o p Enter K
  see 'Write the data of top\.qcow2 into mid\.qcow2' "commit form names both images"
  keys Enter
  see 'done: commit top\.qcow2' "commit job finished" 30
  qemu-img compare -q -f qcow2 demo/mid.qcow2 "$T/top.before" && pass || fail "mid.qcow2 lacks top's data after K"
  qemu-img compare -q demo/top.qcow2 "$T/top.before" && pass || fail "top.qcow2 reads differently after K"
  qemu-img map --output=json demo/top.qcow2 | grep -q '"depth": 0' && fail "top.qcow2 not emptied" || pass
  rm -f "$T/top.before"
}

sec_small_terminal() {
  demo_start
  # --- a terminal too small, then big again ---
  tm resize-window -t "$S" -x 24 -y 5
  see 'terminal too small' "tiny terminal message"
  tm resize-window -t "$S" -x 100 -y 30
  see 'Name +Format' "browser back after growing the terminal"
}

sec_quit() {
  demo_start
  # --- quit: the terminal is restored and the exit status is 0 ---
  keys q
  see '^EXIT=0' "dimg quit with status 0"
}

sec_cancel() {
  # --- cancel: a throttled convert, cancelled from the jobs screen ---
  "$DIMG" demo --no-open demo >/dev/null
  start DIMG_TEST_SLOW_MS=300
  see 'disk\.qcow2 +qcow2' "second session lists the images"
  # Each step waits for its screen: a sanitizer build is slow enough to lose keys otherwise.
  see 'top\.qcow2 +qcow2' "top.qcow2 probed"
  keys / t o p Enter c
  see 'Convert' "convert form opens for top.qcow2"
  keys Enter # Enter accepts a form from any field
  see 'started: convert top\.qcow2' "slow convert started"
  keys J
  see 'running' "the job shows as running"
  keys x
  see 'cancelled' "cancel from the jobs screen" 10
  sleep 0.5
  ls demo | grep -q '^top-1' && fail "cancelled convert left $(ls demo | grep top-1)" || pass
  keys q q
  see '^EXIT=0' "quit after the cancel"
}

mk_enc() {
  mkdir enc
  qcreate -f qcow2 --object secret,id=s,data=hunter2 \
    -o encrypt.format=luks,encrypt.key-secret=s,encrypt.iter-time=10 enc/secret.qcow2 8M
  qemu-io --object secret,id=s,data=hunter2 \
    --image-opts driver=qcow2,file.filename=enc/secret.qcow2,encrypt.key-secret=s \
    -c "write -P 0x3c 0 1M" -c "write -P 0x71 5M 77777" >/dev/null
  qemu-img convert --object secret,id=s,data=hunter2 \
    --image-opts driver=qcow2,file.filename=enc/secret.qcow2,encrypt.key-secret=s -O raw want.raw
  # An encrypted overlay over a plain base, for a commit from the browser (K asks first too).
  qemu-img create -q -f qcow2 enc/zbase.qcow2 4M
  qemu-io -c "write -P 0x11 0 4M" enc/zbase.qcow2 >/dev/null
  qcreate -f qcow2 --object secret,id=s,data=hunter2 -b zbase.qcow2 -F qcow2 \
    -o encrypt.format=luks,encrypt.key-secret=s,encrypt.iter-time=10 enc/zover.qcow2 4M
  qemu-io --object secret,id=s,data=hunter2 \
    --image-opts driver=qcow2,file.filename=enc/zover.qcow2,encrypt.key-secret=s \
    -c "write -P 0x5e 1M 64k" >/dev/null
  qemu-img convert --object secret,id=s,data=hunter2 \
    --image-opts driver=qcow2,file.filename=enc/zover.qcow2,encrypt.key-secret=s -O raw over.raw
}

sec_encrypted() {
  mk_enc
  # --- an encrypted image: the E marker, the password box for the map and for a convert ---
  start_cmd "'$DIMG' '$T/enc'"
  see 'secret\.qcow2 +qcow2 +8\.0 MiB .* E ' "the encrypted image carries the E marker"
  keys m
  see 'secret\.qcow2 is encrypted' "the map asks for the password"
  keys h u n t e r 2
  see 'Password: +\*\*\*\*\*\*\*' "the box shows one star per byte"
  screen | grep -q hunter2 && fail "the password was echoed" || pass
  keys Enter
  see 'qcow2 +8\.0 MiB, guest view' "the map appears after the right password"
  keys q
  see 'Name +Format' "q closes the map"
  keys m w r o n g Enter
  see 'map: .*invalid password' "a wrong password gives the error line"
  screen | grep -q 'guest view' && fail "a map was shown after a wrong password" || pass
  keys m Escape
  see 'map: .*password entry cancelled' "Esc cancels the box with a message"
  # Convert: the form, then the box; the copy equals qemu-img's decryption.
  keys c
  see 'New file +secret-1\.qcow2' "convert form for the encrypted image"
  keys Enter # Enter accepts a form from any field
  see 'secret\.qcow2 is encrypted' "convert asks for the password before the job"
  keys h u n t e r 2 Enter
  see 'done: convert secret\.qcow2 -> secret-1\.qcow2' "convert of the encrypted image finished" 60
  qemu-img convert -O raw enc/secret-1.qcow2 got.raw
  expect_same want.raw got.raw "the TUI's convert equals qemu-img's decryption"
  keys c Enter w r o n g Enter
  see 'convert: .*invalid password' "convert with a wrong password: the error line"
  ls enc | grep -q '^secret-2' && fail "a convert ran with a wrong password: $(ls enc)" || pass
  # Commit of the encrypted overlay: the box comes before the job, which then writes the base.
  keys Escape / z o v e r Enter K
  see 'Write the data of zover\.qcow2 into zbase\.qcow2' "commit form for the encrypted overlay"
  keys Enter
  see 'zover\.qcow2 is encrypted' "commit asks for the overlay's password before the job"
  keys h u n t e r 2 Enter
  see 'done: commit zover\.qcow2' "commit of the encrypted overlay finished" 60
  qemu-img compare -q -f qcow2 -F raw enc/zbase.qcow2 over.raw && pass ||
    fail "zbase.qcow2 lacks the encrypted overlay's data after K"
  keys q
  see '^EXIT=0' "quit the encrypted session"
}

sec_read_only() {
  "$DIMG" demo --no-open demo >/dev/null
  qemu-img resize -q -f raw demo/sparse.raw 2G # as the grow section leaves it
  # --- -r: every action that changes an image is refused, the bar blanks them ---
  start_cmd "'$DIMG' -r '$T/demo'"
  see 'disk\.qcow2 +qcow2' "read-only session lists the images"
  see '\[read-only\]' "header says read-only"
  screen | tail -1 | grep -q 'Conv' && fail "read-only bar still offers Conv" || pass
  keys / s p a r s e Enter R
  see 'read-only mode' "R refused in read-only mode"
  keys A c
  screen | grep -q 'Append\|Convert' && fail "a form opened in read-only mode" || pass
  [ "$(qemu-img info --output=json demo/sparse.raw | json_num /dev/stdin virtual-size)" = 2147483648 ] &&
    pass || fail "sparse.raw changed in read-only mode"
}

sec_idle() {
  "$DIMG" demo --no-open demo >/dev/null
  start_cmd "'$DIMG' -r '$T/demo'"
  wait_for 'disk\.qcow2 +qcow2' || true
  # --- idle means idle: no CPU used while nothing happens ---
  pid=$(pgrep -f -- "$DIMG -r" | head -1)
  if [ -n "$pid" ]; then
    t0=$(awk '{print $14 + $15}' "/proc/$pid/stat")
    sleep 2
    t1=$(awk '{print $14 + $15}' "/proc/$pid/stat")
    [ $((t1 - t0)) -le 3 ] && pass || fail "idle dimg used $((t1 - t0)) ticks of CPU in 2 s"
  else
    fail "no dimg process found for the idle check"
  fi
  keys q
  see '^EXIT=0' "quit the read-only session"
}

sec_quit_running_job() {
  # --- quitting with a job running asks first ---
  "$DIMG" demo --no-open demo >/dev/null
  start DIMG_TEST_SLOW_MS=300
  see 'disk\.qcow2 +qcow2' "third session lists the images"
  see 'base\.qcow2 +qcow2' "base.qcow2 probed"
  keys / b a s e Enter c
  see 'Convert' "convert form opens for base.qcow2"
  keys Enter # Enter accepts a form from any field
  see 'started: convert base\.qcow2' "second slow convert started"
  keys q
  see 'job is still running' "quit asks while a job runs"
  keys y
  see '^EXIT=0' "quit after confirming"
  ls demo | grep -q '^base-1' && fail "quit left a partial convert: $(ls demo | grep base-1)" || pass
}

mk_vm() {
  mkdir vm
  qemu-img create -q -f vmdk vm/base.vmdk 8M
  qemu-io -f vmdk -c 'write -P 1 0 1M' vm/base.vmdk >/dev/null
  qemu-img create -q -f vdi vm/base.vdi 8M
  qemu-io -f vdi -c 'write -P 4 1M 1M' vm/base.vdi >/dev/null
  qemu-img create -q -f vmdk vm/other.vmdk 8M
  qemu-io -f vmdk -c 'write -P 2 512k 1M' vm/other.vmdk >/dev/null
  qemu-img create -q -f vmdk -b base.vmdk -F vmdk vm/kid.vmdk
  qemu-io -f vmdk -c 'write -P 3 100k 8k' vm/kid.vmdk >/dev/null
  qemu-img convert -O raw vm/kid.vmdk "$T/kid.before"
}

sec_vmdk_child() {
  mk_vm
  # --- vmdk and vdi: O (and N in the tree) make a differencing image of the image's own format;
  # B rebases a vmdk child from the browser ---
  start_cmd "'$DIMG' '$T/vm'"
  see 'base\.vmdk +vmdk' "vm session lists the vmdk"
  keys / b a s e . v m d k Enter t
  see '^ base\.vmdk ' "tree of the vmdk directory"
  keys O
  see 'New differencing image' "O on a vmdk in the tree offers a differencing image"
  see 'New file +base-child\.vmdk' "the child's name is proposed"
  see 'Format +vmdk' "the child has the parent's format (fixed: shown as text)"
  keys Enter
  see 'created base-child\.vmdk \(vmdk\) backed by base\.vmdk' "the child is created"
  see '[├└]─ base-child\.vmdk' "the tree shows the child under its parent"
  "$DIMG" info --output=json vm/base-child.vmdk >"$T/ci.json"
  [ "$(json_str "$T/ci.json" backing-filename)" = base.vmdk ] && pass || fail "dimg info: the child's backing is not base.vmdk"
  qemu-img info --output=json vm/base-child.vmdk >"$T/qi.json"
  [ "$(json_str "$T/qi.json" backing-filename)|$(json_str "$T/qi.json" backing-filename-format)" = "base.vmdk|vmdk" ] &&
    pass || fail "qemu-img info: the child's backing is '$(json_str "$T/qi.json" backing-filename)'"
  qemu-img check -q vm/base-child.vmdk && pass || fail "qemu-img check of the new child"
  qemu-img compare -q vm/base-child.vmdk vm/base.vmdk && pass || fail "the new child does not read as its parent"
}

sec_vdi_child() {
  mk_vm
  start_cmd "'$DIMG' '$T/vm'"
  wait_for 'base\.vdi +vdi' || true
  # N (new snapshot) on a vdi in the tree: a differencing vdi instead
  keys Escape Escape / b a s e . v d i Enter t N
  see 'New file +base-child\.vdi' "N on a vdi offers a differencing vdi"
  keys Enter
  see 'created base-child\.vdi \(vdi\) backed by base\.vdi' "the differencing vdi is created"
  see '[├└]─ base-child\.vdi' "the tree links the differencing vdi to its parent"
  "$DIMG" info --output=json vm/base-child.vdi >"$T/ci.json"
  "$DIMG" info --output=json vm/base.vdi >"$T/bi.json"
  [ "$(json_str "$T/ci.json" parent-uuid)" = "$(json_str "$T/bi.json" uuid)" ] && pass ||
    fail "dimg info: the vdi's parent-uuid is not base.vdi's uuid"
  # qemu-img 7.2 refuses differencing vdi images: it sees the link, not a plain image
  qemu-img info vm/base-child.vdi >"$T/qi.txt" 2>&1 || true
  grep -q 'non-NULL link UUID' "$T/qi.txt" && pass || fail "qemu-img does not see a parent link in the vdi"
  "$DIMG" compare vm/base-child.vdi vm/base.vdi >/dev/null && pass || fail "the differencing vdi does not read as its parent"
}

sec_rebase() {
  mk_vm
  start_cmd "'$DIMG' '$T/vm'"
  wait_for 'kid\.vmdk +vmdk' || true
  # B from the browser: kid.vmdk onto other.vmdk, safe mode
  keys Escape Escape / k i d Enter B
  see 'New backing +base\.vmdk' "the rebase form shows the current backing"
  keys C-u o t h e r . v m d k Enter
  see 'done: rebase kid\.vmdk' "the rebase job finished" 30
  qemu-img info --output=json vm/kid.vmdk >"$T/qi.json"
  [ "$(json_str "$T/qi.json" backing-filename)" = other.vmdk ] && pass || fail "qemu-img info: kid's backing is not other.vmdk"
  qemu-img convert -O raw vm/kid.vmdk "$T/kid.after" && cmp -s "$T/kid.before" "$T/kid.after" && pass ||
    fail "kid.vmdk reads differently after the rebase"
  qemu-img check -q vm/kid.vmdk && pass || fail "qemu-img check after the rebase"
  keys Escape q
  see '^EXIT=0' "quit the vm session"
}

mk_arc() {
  mkdir -p arc/src
  qemu-img create -q -f raw arc/src/d.raw 4M
  qemu-io -f raw -c 'write -P 0x33 0 1M' arc/src/d.raw >/dev/null
  qemu-img convert -O vmdk -o subformat=streamOptimized arc/src/d.raw arc/src/disk.vmdk
  cp arc/src/d.raw "$T/arc-d.raw"
  printf '%s\n' '<?xml version="1.0"?>' \
    '<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:ovf="o" xmlns:rasd="r">' \
    '<References><File ovf:href="disk.vmdk" ovf:id="file1"/></References>' \
    '<DiskSection><Info>d</Info><Disk ovf:capacity="4194304" ovf:diskId="vmdisk1" ovf:fileRef="file1"/></DiskSection>' \
    '<VirtualSystem ovf:id="tuivm"><Info>v</Info><VirtualHardwareSection><Info>h</Info>' \
    '<Item><rasd:InstanceID>1</rasd:InstanceID><rasd:ResourceType>3</rasd:ResourceType><rasd:VirtualQuantity>3</rasd:VirtualQuantity></Item>' \
    '</VirtualHardwareSection></VirtualSystem></Envelope>' >arc/src/vm.ovf
  ln -s /etc/passwd arc/src/evil
  (cd arc/src && tar cf ../vm.ova vm.ovf disk.vmdk evil)
  (cd arc/src && echo "SHA256(disk.vmdk)= $(sha256sum disk.vmdk | cut -d' ' -f1)" >ok.mf &&
    tar cf ../ok.ova vm.ovf disk.vmdk ok.mf)
  cp arc/src/disk.vmdk "$T/arc-disk.vmdk"
  rm -rf arc/src
}

sec_archive_browse() {
  mk_arc
  # --- archives: Enter lists an OVA's members like a directory, the pane shows the OVF, a member
  # is converted from inside it (into the archive's directory), .. leads back out ---
  start_cmd "'$DIMG' '$T/arc'"
  see 'vm\.ova +archive' "an OVA shows as an archive"
  keys / v m Enter
  see 'CPUs: 3' "the info pane shows the OVF's hardware"
  see 'Enter opens the archive' "the pane says Enter opens it"
  keys Enter
  see 'arc/vm\.ova' "Enter went into the archive"
  see 'disk\.vmdk +vmdk +4\.0 MiB' "the vmdk member with its format and virtual size"
  see 'evil +error' "the symlink member is refused"
  keys / d i s k Enter
  see 'OVF disk: vmdisk1, capacity 4 MiB' "the member's pane names its OVF disk"
  keys c
  see 'New file +disk\.qcow2' "convert proposes a name beside the archive"
  keys Enter # Enter accepts a form from any field
  see 'done: convert disk\.vmdk -> disk\.qcow2' "convert from inside the archive finished" 60
  [ -f arc/disk.qcow2 ] && pass || fail "converted member missing: $(ls arc)"
  qemu-img compare -q "$T/arc-d.raw" arc/disk.qcow2 && pass || fail "converted member differs"
  keys Escape Left
  see 'vm\.ova +archive' "back out of the archive"
  see 'disk\.qcow2 +qcow2' "the new image is listed beside the archive"
}

sec_archive_import() {
  mk_arc
  start_cmd "'$DIMG' '$T/arc'"
  wait_for 'ok\.ova +archive' || true
  # I: import an OVA into a directory beside it (vm.ovf is not in ok.mf: refused, nothing left),
  # then with the disks converted to qcow2 after the manifest is fixed.
  keys / o k Enter I
  see 'Unpack the files of ok\.ova' "import form opens"
  see 'Directory +ok' "import proposes a directory named after the archive"
  keys Enter
  see 'failed: import ok\.ova -> ok/: .*member vm\.ovf is not' "import refuses a member missing from the manifest" 30
  [ -z "$(ls -A arc/ok 2>/dev/null)" ] && pass || fail "refused import left $(ls -A arc/ok)"
  # Manifest "not needed" (--no-manifest): the covered members are written, vm.ovf is left out.
  keys I
  see 'Manifest +< required >' "the import form has the manifest field"
  keys BSpace BSpace o k 2 Down Down Right
  see 'Manifest +< not needed >' "the manifest field turns to not needed"
  keys Enter
  see 'done: import ok\.ova -> ok2/ - 2 files, digests match, 1 left out \(not in the manifest\)' \
    "import without the manifest's word on vm.ovf" 60
  [ "$(ls arc/ok2 | tr '\n' ' ')" = "disk.vmdk ok.mf " ] && pass || fail "import left out the wrong files: $(ls arc/ok2)"
  cmp -s arc/ok2/disk.vmdk <(tar xOf arc/ok.ova disk.vmdk) && pass || fail "the imported disk differs from the member"
  rm -rf arc/ok2
  (mkdir -p arc/src && cd arc/src && tar xf ../ok.ova && echo "SHA1 (vm.ovf) = $(sha1sum vm.ovf | cut -d' ' -f1)" >>ok.mf &&
    rm ../ok.ova && tar cf ../ok.ova vm.ovf disk.vmdk ok.mf && cd .. && rm -rf src)
  keys I Down Right Enter
  see 'done: import ok\.ova -> ok/ - 3 files, digests match' "import with -O qcow2 finished" 60
  qemu-img compare -q "$T/arc-d.raw" arc/ok/disk.qcow2 && pass || fail "imported disk differs: $(ls arc/ok)"
  [ ! -e arc/ok/disk.vmdk ] && pass || fail "the vmdk was kept beside its qcow2"
  keys q
  see '^EXIT=0' "quit after browsing the archive"
}

mk_ut() {
  mkdir ut
  qemu-img create -q -f qcow2 ut/ub.qcow2 16M
  qemu-io -c "write -P 1 0 4M" ut/ub.qcow2 >/dev/null
  qemu-img create -q -f qcow2 -b ub.qcow2 -F qcow2 ut/uo.qcow2
  qemu-io -c "write -P 2 4M 1M" ut/uo.qcow2 >/dev/null
}

sec_untrusted_toggle() {
  mk_ut
  # --- U: untrusted mode on and off; the map then shows the backing file's data or not ---
  start_cmd "'$DIMG' '$T/ut'"
  keys / u o Enter m
  see 'cell 0: backing 100% .*depth 1 \(ub\.qcow2\)' "trusted: the map reads the backing file"
  keys q U
  see '\[untrusted\]' "U turns untrusted mode on (header)"
  see 'untrusted mode on' "U says so"
  keys m
  see 'cell 0: unallocated 100% .*backing file not opened' "untrusted: the backing file is not opened"
  keys q U m
  see 'cell 0: backing 100% .*depth 1 \(ub\.qcow2\)' "U again: trusted, the backing file is read"
  keys q q
  see '^EXIT=0' "quit the untrusted session"
}

sec_untrusted_flag() {
  mk_ut
  start_cmd "'$DIMG' --untrusted '$T/ut'"
  see '\[untrusted\]' "--untrusted shows in the header"
  keys U
  see 'started with --untrusted: it stays on' "U cannot turn off --untrusted"
  keys / u o Enter m
  see 'cell 0: unallocated 100% .*backing file not opened' "--untrusted: the backing file is not opened"
  keys q q
  see '^EXIT=0' "quit the --untrusted session"
}

mk_mproto() {
  mkdir mproto
  qemu-img create -q -f raw mproto/a.raw 8M
  qemu-img create -q -f qcow2 mproto/b.qcow2 1G
  qemu-io -c 'write -P 7 0 64k' mproto/b.qcow2 >/dev/null
  qemu-img create -q -f qcow mproto/c.qcow 20M
  qemu-img create -q -f vmdk mproto/d.vmdk 256M
  qemu-img create -q -f vmdk -o subformat=streamOptimized mproto/e.vmdk 3G
  qemu-img create -q -f vdi mproto/f.vdi 100M
}

sec_timing() {
  # --- DIMG_TIMING: the milestones in order with sane values; after rows_filled every row of a
  # directory of 300 images shows the format and virtual size qemu-img info gives ---
  mkdir many
  mk_mproto
  protos=(mproto/*)
  for ((i = 0; i < 300; i++)); do
    p=${protos[i % ${#protos[@]}]}
    cp --sparse=always "$p" "many/m$i.${p##*.}"
    echo "$p m$i.${p##*.}"
  done >"$T/copies"
  # The row's virtual size as the browser prints it ("8.0 MiB", "256 MiB"), from qemu-img info.
  for p in "${protos[@]}"; do
    qemu-img info --output=json "$p" >"$T/pi.json"
    echo "$p $(json_str "$T/pi.json" format) $(json_num "$T/pi.json" virtual-size)"
  done | awk '{ v = $3; u = 0; split("B KiB MiB GiB TiB", n, " ");
                while (v >= 1024 && u < 4) { v /= 1024; u++ }
                s = u == 0 ? sprintf("%d B", v) : sprintf(v < 10 ? "%.1f %s" : "%.0f %s", v, n[u + 1]);
                print $1, $2, s }' >"$T/kinds"
  while read -r p f; do grep "^$p " "$T/kinds" | sed "s|^[^ ]*|$f|"; done <"$T/copies" | sort >"$T/rows.want"
  [ "$(wc -l <"$T/rows.want")" = 300 ] || fail "the expected rows are not 300: $(wc -l <"$T/rows.want")"
  rm -f "$T/timing"
  start_cmd "env DIMG_TIMING='$T/timing' '$DIMG' '$T/many'"
  for _ in $(seq 300); do grep -q '^rows_filled ' "$T/timing" 2>/dev/null && break; sleep 0.1; done
  grep -q '^rows_filled ' "$T/timing" && pass || fail "no rows_filled in DIMG_TIMING's file: $(cat "$T/timing" 2>&1)"
  # Every row, a page at a time: name, format, virtual size.
  : >"$T/rows.got"
  for _ in $(seq 20); do
    screen | awk -F'|' 'NR > 2 { print $1 }' | awk '$1 ~ /^m[0-9]+\./ { print $1, $2, $3 " " $4 }' >>"$T/rows.got"
    keys NPage
  done
  sort -u "$T/rows.got" -o "$T/rows.got"
  expect_same "$T/rows.want" "$T/rows.got" "after rows_filled every row shows qemu-img's format and virtual size"
  keys Home Down m
  see 'guest view' "the map of the first image opens"
  for _ in $(seq 100); do grep -q '^map_drawn ' "$T/timing" && break; sleep 0.1; done
  keys q q
  see '^EXIT=0' "quit the timed session"
  # NAME MS cpu CPU_MS lines, in this order, times not going backwards, CPU time never zero
  # and no more than two threads' worth of the wall time plus 100 ms: the process CPU clock
  # also counts what ran in this process before the wall clock's origin (env before it execs
  # dimg, the dynamic loader with libcrypto and the other libraries): 27-42 ms at first_screen
  # against 6-8 ms of wall time on this machine, with 90a15da's binary as with today's.
  awk '{ print $1 }' "$T/timing" | tr '\n' ' ' >"$T/order"
  [ "$(cat "$T/order")" = "first_screen rows_filled map_open map_drawn " ] && pass ||
    fail "DIMG_TIMING milestones out of order: $(cat "$T/order")"
  awk 'NF != 4 || $3 != "cpu" || $2 !~ /^[0-9]+\.[0-9]$/ || $4 !~ /^[0-9]+\.[0-9]$/ ||
       $2 + 0 < last || $2 > 600000 || $4 <= 0 || $4 > 2 * $2 + 100 { bad = bad " [" $0 "]" }
       { last = $2 + 0 } END { if (bad) { print bad; exit 1 } }' "$T/timing" >"$T/bad" && pass ||
    fail "DIMG_TIMING lines not sane:$(cat "$T/bad")"
}

sec_timing_unwritable() {
  mk_mproto
  # An unwritable DIMG_TIMING is ignored: the browser still works.
  start_cmd "env DIMG_TIMING='$T/no/such/dir/t' '$DIMG' '$T/mproto'"
  see 'b\.qcow2 +qcow2 +1\.0 GiB' "an unwritable DIMG_TIMING does not stop the browser"
  keys q
  see '^EXIT=0' "quit after the unwritable DIMG_TIMING"
}

sections "$@"
tm kill-server 2>/dev/null || true
finish

#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# test_opens.sh: what dimg opens and how (issue 15, items 25, 28, 34, 35, 36).
# - Named pipes, sockets and character devices given as images or as the file to append are
#   refused at once by every command, with one "dimg: ..." line naming what the file is (the
#   old code waited forever in open() and ignored SIGTERM there).
# - Files an image names (vmdk extents, backing files, data files, vdi parents) are never
#   reached through a symlink that leads out of the image's directory, and through no symlink
#   and no extra hard link at all under --untrusted: the command fails with one line and the
#   outside file's bytes never reach the output (the old code copied them).
# - convert -O qcow2 -o data_file=NAME: an existing NAME is refused untouched (also a symlink:
#   its target is never truncated); the new data file lies beside DST.part and goes with it
#   on any failure: an error, SIGINT, SIGTERM, a full disk (the old code truncated NAME through
#   the symlink and left the data file behind).
# One ctest entry per behaviour (cli.test_opens.SECTION), each on its own files:
# ctest-sections: fifo char_device socket directory symlink_regular extent_symlink_out
# ctest-sections: extent_dir_symlink extent_inside backing_symlink data_file_symlink
# ctest-sections: vdi_parent_symlink data_file_existing data_file_new data_file_signal
# ctest-sections: data_file_full_disk
source "$(dirname "$0")/lib.sh"

mk_files() {
  qemu-img create -q -f raw a.img 1M
  qemu-img create -q -f qcow2 q.qcow2 1M
  mkfifo p.fifo
}

# quick CMD...: run under a hard 5 s limit; a hang shows as exit 137.
quick() { run timeout -s KILL 5 "$@"; }
# refused WHAT DESCRIPTION: failed fast with one error line saying what the file is.
refused() {
  if [ "$rc" -ne 0 ] && [ "$rc" -ne 137 ]; then pass; else fail "$2: exit $rc"; fi
  expect_one_error_line "$1" "$2"
}

sec_fifo() {
  mk_files
  for cmd in "info p.fifo" "info --output=json p.fifo" "map p.fifo" "layout p.fifo" \
    "check p.fifo" "compare p.fifo a.img" "compare a.img p.fifo" "convert p.fifo o.raw" \
    "convert -O qcow2 p.fifo o.qcow2" "snapshot -l p.fifo" "resize p.fifo +1M" "commit p.fifo" \
    "compact p.fifo" "amend -o lazy_refcounts=on p.fifo" "append a.img p.fifo" \
    "append p.fifo 1M" "append a.img p.fifo -o n.img" "rebase -u -b a.img -F raw p.fifo" \
    "--untrusted info p.fifo"; do
    # shellcheck disable=SC2086
    quick "$DIMG" $cmd
    refused "named pipe" "dimg $cmd"
  done
  # An archive that is a FIFO: listed, imported or converted from, never waited on.
  mkfifo m.ova
  for cmd in "info m.ova" "import m.ova imp" "import --no-manifest m.ova imp"; do
    # shellcheck disable=SC2086
    quick "$DIMG" $cmd
    refused "named pipe" "dimg $cmd"
  done
  [ ! -e o.raw ] && [ ! -e o.qcow2 ] && [ ! -e n.img ] && [ ! -e imp ] && pass ||
    fail "a refused command left a file"
  [ "$(stat -c %s a.img)" = 1048576 ] && pass || fail "append of a FIFO changed a.img"
}

sec_char_device() {
  # A character device: never an image (opening one may have effects; it is not even opened).
  quick "$DIMG" info /dev/null
  refused "character device" "info /dev/null"
  quick "$DIMG" convert /dev/zero z.raw
  refused "character device" "convert /dev/zero"
}

sec_socket() {
  mk_files
  # A socket (open() of one fails with ENXIO: the message says what it is instead).
  if python3 -c 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' s.sock \
    2>/dev/null; then
    quick "$DIMG" info s.sock
    refused "socket" "info s.sock"
    quick "$DIMG" append a.img s.sock
    refused "socket" "append a.img s.sock"
  fi
}

sec_directory() {
  # A directory.
  mkdir d
  quick "$DIMG" info d/
  refused "directory" "info DIR/"
}

sec_symlink_regular() {
  mk_files
  # Still fine: a regular file, and a symlink to one.
  ln -s q.qcow2 link.qcow2
  quick "$DIMG" info link.qcow2
  expect_rc 0 "info through a symlink to a regular file"
}

mk_outside() {
  # ---- item 28: references resolved below the image's directory ----
  mkdir -p outside img
  printf 'SECRET-HOST-FILE' >outside/secret; truncate -s 1M outside/secret
  head -c 1M /dev/urandom >img/real.bin
}

# no_secret FILE...: none of the files holds the outside file's bytes.
no_secret() {
  local f
  for f in "$@"; do
    if [ -e "$f" ] && grep -q SECRET-HOST-FILE "$f"; then fail "$f holds the outside file's bytes"; else pass; fi
  done
}
# flat_vmdk NAME: a monolithicFlat vmdk img/NAME.vmdk whose extent img/NAME-flat.vmdk is removed
# (the caller puts something else in its place).
flat_vmdk() {
  qemu-img create -q -f vmdk -o subformat=monolithicFlat "img/$1.vmdk" 1M
  rm "img/$1-flat.vmdk"
}

sec_extent_symlink_out() {
  mk_outside
  # An extent that is a symlink to a file outside: refused, trusted or not.
  flat_vmdk out
  ln -s ../../outside/secret img/out-flat.vmdk
  for u in "" "--untrusted"; do
    # shellcheck disable=SC2086
    quick "$DIMG" $u convert -O raw img/out.vmdk o1.raw
    refused "out-flat.vmdk" "$u convert of a vmdk whose extent is a symlink to an outside file"
    no_secret o1.raw o1.raw.part "$T/out" "$T/err"
  done
  ln -sf "$T/outside/secret" img/out-flat.vmdk # absolute
  quick "$DIMG" convert -O raw img/out.vmdk o1.raw
  refused "leads outside" "convert of a vmdk whose extent is an absolute symlink"
  no_secret o1.raw
}

sec_extent_dir_symlink() {
  mk_outside
  # An extent reached through a directory symlink (up -> ..): "sub/NAME" obeys the same rule.
  flat_vmdk dirup
  ln -s .. img/up
  sed -i 's|"dirup-flat.vmdk"|"up/outside/secret"|' img/dirup.vmdk
  quick "$DIMG" convert -O raw img/dirup.vmdk o2.raw
  refused "leads outside the image's directory" "convert of a vmdk whose extent goes up a directory symlink"
  no_secret o2.raw "$T/out"
  quick "$DIMG" map img/dirup.vmdk
  refused "up/outside/secret" "map of the same"
}

sec_extent_inside() {
  mk_outside
  # A symlink that stays inside: followed when trusted (the bytes are real.bin's), not when
  # untrusted; a hard link inside is read when trusted, refused when untrusted.
  flat_vmdk in
  ln -s real.bin img/in-flat.vmdk
  quick "$DIMG" convert -O raw img/in.vmdk o3.raw
  expect_rc 0 "convert of a vmdk whose extent is a symlink inside its directory"
  cmp -s o3.raw img/real.bin && pass || fail "the inside symlink's extent was not read right"
  quick "$DIMG" --untrusted convert -O raw img/in.vmdk o4.raw
  refused "symlink, not followed" "--untrusted convert through an extent symlink"
  flat_vmdk hard
  ln img/real.bin img/hard-flat.vmdk
  quick "$DIMG" --untrusted info img/hard.vmdk
  refused "hard links" "--untrusted info of a vmdk whose extent has two names"
  quick "$DIMG" info img/hard.vmdk
  expect_rc 0 "trusted info of the hard-linked extent"
}

sec_backing_symlink() {
  mk_outside
  # A backing file that is a symlink out of the directory: refused; one inside: followed.
  qemu-img create -q -f qcow2 outside/base.qcow2 1M
  qemu-io -f qcow2 -c 'write -P 0x53 0 64k' outside/base.qcow2 >/dev/null
  qemu-img create -q -f qcow2 -u -b base.qcow2 -F qcow2 img/top.qcow2 1M
  ln -s ../outside/base.qcow2 img/base.qcow2
  quick "$DIMG" convert -O raw img/top.qcow2 o5.raw
  refused "base.qcow2: leads outside" "convert of an overlay whose backing file is a symlink out"
  [ ! -e o5.raw ] && pass || fail "o5.raw written"
  quick "$DIMG" info --backing-chain img/top.qcow2
  refused "leads outside" "info --backing-chain of the same"
  rm img/base.qcow2
  cp outside/base.qcow2 img/real-base.qcow2
  ln -s real-base.qcow2 img/base.qcow2
  quick "$DIMG" convert -O raw img/top.qcow2 o6.raw
  expect_rc 0 "convert of an overlay whose backing file is a symlink inside"
  qemu-img convert -O raw img/top.qcow2 o6.ref
  cmp -s o6.raw o6.ref && pass || fail "overlay through an inside symlink reads differently from qemu-img"
  # A backing name with ".." is followed as written (qemu-img does): the metadata chose it.
  qemu-img create -q -f qcow2 -b ../outside/base.qcow2 -F qcow2 img/dotdot.qcow2
  quick "$DIMG" compare img/dotdot.qcow2 outside/base.qcow2
  expect_rc 0 "a '../' backing name is still followed"
}

sec_data_file_symlink() {
  mk_outside
  # A data file that is a symlink out of the directory.
  (cd img && qemu-img create -q -f qcow2 -o data_file=dat.raw,data_file_raw=on dq.qcow2 1M)
  rm img/dat.raw
  ln -s ../outside/secret img/dat.raw
  quick "$DIMG" convert -O raw img/dq.qcow2 o7.raw
  refused "dat.raw': leads outside" "convert of a qcow2 whose data file is a symlink out"
  no_secret o7.raw
}

sec_vdi_parent_symlink() {
  mk_outside
  # A vdi parent that is a symlink out of the directory is not taken as the parent.
  "$DIMG" create -q -f vdi outside/par.vdi 1M
  qemu-io -f vdi -c 'write -P 0x53 0 64k' outside/par.vdi >/dev/null
  cp outside/par.vdi img/par.vdi
  "$DIMG" create -q -f vdi -b par.vdi -F vdi img/child.vdi
  rm img/par.vdi
  ln -s ../outside/par.vdi img/par.vdi
  quick "$DIMG" convert -O raw img/child.vdi o8.raw
  refused "parent image .* not found" "convert of a differencing vdi whose parent is a symlink out"
  [ ! -e o8.raw ] && pass || fail "o8.raw written"
}

mk_conv() {
  # ---- item 34: convert -o data_file=NAME ----
  mkdir conv
  head -c 8M /dev/urandom >conv/src.raw
  printf 'KEEP-ME' >conv/victim; truncate -s 64k conv/victim
  sum_victim=$(md5sum <conv/victim)
  ln -s victim conv/dlink.raw
  cp conv/victim conv/exists.raw
}

sec_data_file_existing() {
  mk_conv
  for name in dlink.raw exists.raw; do
    quick "$DIMG" convert -O qcow2 -o data_file=$name conv/src.raw conv/dst.qcow2
    refused "$name" "convert with an existing data file $name"
    [ ! -e conv/dst.qcow2 ] && [ ! -e conv/dst.qcow2.part ] && pass || fail "$name: a target was left"
  done
  [ "$(md5sum <conv/victim)" = "$sum_victim" ] && pass || fail "the symlink's target was changed"
  cmp -s conv/victim conv/exists.raw && pass || fail "the existing data file was changed"
}

sec_data_file_new() {
  mk_conv
  # The normal case still works and matches qemu-img.
  quick "$DIMG" convert -O qcow2 -o data_file=new.raw conv/src.raw conv/dst.qcow2
  expect_rc 0 "convert with a new data file"
  (cd conv && qemu-img compare -q src.raw dst.qcow2) && pass || fail "qemu-img reads the data-file image differently"
  [ "$(cd conv && qemu-img info --output=json dst.qcow2 | json_str /dev/stdin data-file)" = new.raw ] && pass ||
    fail "data-file is not new.raw"
}

sec_data_file_signal() {
  mk_conv
  # SIGINT and SIGTERM in the middle: no DST, no DST.part, no data file.
  dd if=/dev/urandom of=conv/big.raw bs=1M count=1 seek=4095 status=none
  for sig in INT TERM; do
    rm -f conv/d2.qcow2 conv/d2.raw
    "$DIMG" convert -O qcow2 -S 0 -o data_file=d2.raw conv/big.raw conv/d2.qcow2 2>/dev/null &
    pid=$!
    for i in $(seq 50); do [ -e conv/d2.raw ] && break; sleep 0.05; done
    sleep 0.3
    kill -$sig $pid
    set +e; wait $pid; rc=$?; set -e
    [ "$rc" -ne 0 ] && pass || fail "SIG$sig: convert finished before the signal (rc 0)"
    [ ! -e conv/d2.qcow2 ] && [ ! -e conv/d2.qcow2.part ] && [ ! -e conv/d2.raw ] && pass ||
      fail "SIG$sig left: $(cd conv && ls d2.*)"
  done
}

sec_data_file_full_disk() {
  mk_conv
  # A full disk (a small tmpfs; needs root to mount).
  if [ "$(id -u)" -eq 0 ] && mkdir fs && mount -t tmpfs -o size=4m tmpfs fs 2>/dev/null; then
    quick "$DIMG" convert -O qcow2 -o data_file=d3.raw conv/src.raw fs/d3.qcow2
    refused "No space left" "convert with a data file onto a full disk"
    [ -z "$(ls fs)" ] && pass || fail "a full disk left: $(ls fs)"
    umount fs || umount -l fs
  fi
}

sections "$@"
finish

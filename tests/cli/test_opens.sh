#!/usr/bin/env bash
# test_opens.sh: what dimg opens and how (issue 15, items 25, 28, 34, 35, 36).
# Named pipes, sockets and character devices given as images or as the file to append are
# refused at once by every command, with one "dimg: ..." line naming what the file is (the
# old code waited forever in open() and ignored SIGTERM there).
source "$(dirname "$0")/lib.sh"
require_qcow2

qemu-img create -q -f raw a.img 1M
qemu-img create -q -f qcow2 q.qcow2 1M
mkfifo p.fifo

# quick CMD...: run under a hard 5 s limit; a hang shows as exit 137.
quick() { run timeout -s KILL 5 "$@"; }
# refused WHAT DESCRIPTION: failed fast with one error line saying what the file is.
refused() {
  if [ "$rc" -ne 0 ] && [ "$rc" -ne 137 ]; then pass; else fail "$2: exit $rc"; fi
  expect_one_error_line "$1" "$2"
}

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
[ ! -e o.raw ] && [ ! -e o.qcow2 ] && [ ! -e n.img ] && pass || fail "a refused convert left a file"
[ "$(stat -c %s a.img)" = 1048576 ] && pass || fail "append of a FIFO changed a.img"

# A character device: never an image (opening one may have effects; it is not even opened).
quick "$DIMG" info /dev/null
refused "character device" "info /dev/null"
quick "$DIMG" convert /dev/zero z.raw
refused "character device" "convert /dev/zero"

# A socket (open() of one fails with ENXIO: the message says what it is instead).
if python3 -c 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' s.sock \
  2>/dev/null; then
  quick "$DIMG" info s.sock
  refused "socket" "info s.sock"
  quick "$DIMG" append a.img s.sock
  refused "socket" "append a.img s.sock"
fi

# A directory.
mkdir d
quick "$DIMG" info d/
refused "directory" "info DIR/"

# Still fine: a regular file, and a symlink to one.
ln -s q.qcow2 link.qcow2
quick "$DIMG" info link.qcow2
expect_rc 0 "info through a symlink to a regular file"

finish

# SPDX-License-Identifier: GPL-2.0-or-later
# loop_lib.sh: loop devices for the root tests (sourced after lib.sh, not a test itself):
# attach FILE gives a loop device over FILE in $LOOP; the EXIT trap unmounts $mnt (when set)
# and detaches every device attached.
loops=()
mnt=""
loop_cleanup() {
  local l
  [ -n "$mnt" ] && umount "$mnt" 2>/dev/null || true
  for l in "${loops[@]}"; do losetup -d "$l" 2>/dev/null || true; done
  rm -rf "$T"
}
trap loop_cleanup EXIT
attach() {
  LOOP=$(losetup -f --show "$1") || { echo "SKIP: no loop device"; exit 77; }
  loops+=("$LOOP")
}

# SPDX-License-Identifier: GPL-2.0-or-later
# lib.sh: helpers sourced by tests/cli/test_*.sh (not a test itself).
# Gives each test a private temp dir under $DIMG_TEST_TMP (removed on exit), pass/fail
# counters with a final verdict, and `need` for a test's tools. Needs: DIMG (binary),
# DIMG_TEST_TMP; qemu-img/qemu-io.
set -euo pipefail
: "${DIMG:?DIMG must name the dimg binary}" "${DIMG_TEST_TMP:?}"
mkdir -p "$DIMG_TEST_TMP"
# The script itself, found again after the cd below (sections runs it once per section).
SCRIPT=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")
T=$(mktemp -d "$DIMG_TEST_TMP/$(basename "$0" .sh).XXXXXX")
trap 'rm -rf "$T"' EXIT
cd "$T"
fails=0
passes=0

pass() { passes=$((passes + 1)); }
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

# run CMD...: run with set -e off; leaves $rc, $T/out (stdout) and $T/err (stderr).
run() {
  set +e
  "$@" >"$T/out" 2>"$T/err"
  rc=$?
  set -e
}

# expect_rc WANT DESCRIPTION: after run.
expect_rc() {
  if [ "$rc" -eq "$1" ]; then pass; else fail "$2: exit $rc, want $1 (stderr: $(head -c 300 "$T/err"))"; fi
}

# expect_same FILE_A FILE_B DESCRIPTION: byte-for-byte equal.
expect_same() {
  if cmp -s "$1" "$2"; then pass; else
    fail "$3: outputs differ"; diff "$1" "$2" | head -20 || true
  fi
}

# expect_one_error_line WORD DESCRIPTION: stderr is exactly one "dimg: ..." line containing WORD.
expect_one_error_line() {
  local n; n=$(wc -l <"$T/err")
  if [ "$n" -eq 1 ] && grep -q "^dimg: .*$1" "$T/err"; then pass; else
    fail "$2: want one 'dimg: ...$1...' line, got $n lines:"; cat "$T/err"
  fi
}

# json_num FILE KEY: the number after "KEY": in a JSON file (first occurrence).
json_num() { sed -n "s/.*\"$2\": \([0-9-]*\).*/\1/p" "$1" | head -n 1; }
# json_str FILE KEY: the string after "KEY": (first occurrence, no unescaping).
json_str() { sed -n "s/.*\"$2\": \"\([^\"]*\)\".*/\1/p" "$1" | head -n 1; }

# A sparse raw file NAME of SIZE with data written at the listed OFFSET:LENGTH pairs.
mk_sparse_raw() {
  local name=$1 size=$2; shift 2
  rm -f "$name"
  truncate -s "$size" "$name"
  local spec seed=1
  for spec in "$@"; do
    qemu-io -f raw -c "write -P $((seed * 37 % 255 + 1)) ${spec%%:*} ${spec##*:}" "$name" >/dev/null
    seed=$((seed + 1))
  done
}

# sections "$@": a script split into one ctest entry per behaviour lists its sections on
# "# ctest-sections:" lines (tests/CMakeLists.txt registers cli.SCRIPT.SECTION for each, run as
# `bash SCRIPT.sh SECTION`) and ends with this: it runs the function sec_SECTION. Without an
# argument every section runs, each in its own process, in the listed order.
sections() {
  local all
  all=$(sed -n 's/^# ctest-sections://p' "$SCRIPT" | tr '\n' ' ')
  if [ $# -eq 0 ]; then
    local sec rc=0
    for sec in $all; do
      echo "--- $sec"
      bash "$SCRIPT" "$sec" || rc=1
    done
    exit $rc
  fi
  case " $all " in
    *" $1 "*) "sec_$1" ;;
    *) echo "$SCRIPT: no section '$1' (sections: $all)" >&2; exit 2 ;;
  esac
}

# need TOOL...: the test cannot run without these: skip it (exit 77, ctest's SKIP_RETURN_CODE)
# before its first check, never pass it with a part left out.
need() {
  local t
  for t; do command -v "$t" >/dev/null || { echo "SKIP: $t missing"; exit 77; }; done
}

# unprivileged CMD...: run CMD as an ordinary user. Root may write through any file mode, so
# what a read-only file or directory does is seen only without it: as root, the test's
# directory is opened to others and CMD runs as nobody (setpriv); otherwise CMD runs as is.
unprivileged() {
  if [ "$(id -u)" -ne 0 ]; then
    "$@"
    return
  fi
  command -v setpriv >/dev/null || { echo "SKIP: setpriv missing"; exit 77; }
  chmod a+rx "$T"
  setpriv --reuid=65534 --regid=65534 --clear-groups -- "$@"
}

# small_tmpfs SIZE: a tmpfs of SIZE mounted on $T/fs (a full disk on demand), unmounted at
# exit; skips (77) unless root.
small_tmpfs() {
  [ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root (mount -t tmpfs)"; exit 77; }
  need mount umount
  mkdir fs
  mount -t tmpfs -o size="$1" tmpfs fs
  trap 'umount "$T/fs" 2>/dev/null || umount -l "$T/fs" 2>/dev/null; rm -rf "$T"' EXIT
}

finish() {
  echo "$passes passed, $fails failed"
  [ "$fails" -eq 0 ]
}

# qcreate ARGS...: qemu-img create, retried: its LUKS benchmark fails when a batch of PBKDF2
# rounds measures 0 ms of thread CPU time ("Unable to get accurate CPU usage"), which a loaded
# machine makes likely; up to 20 tries, a moment apart. (qemu-img amend adding a LUKS key slot
# benchmarks the same way: qretry retries any command like that.)
qretry() {
  local i
  for i in $(seq 19); do "$@" 2>/dev/null && return 0; sleep 0.2; done
  "$@"
}
qcreate() { qretry qemu-img create -q "$@"; }

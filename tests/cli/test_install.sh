#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# test_install.sh: `cmake --install` of the build this test belongs to, into a prefix under
# the test's temp dir: the binary, the themes with their README, the man pages and the shell
# completions land in their GNUInstallDirs places; the installed binary holds no source or
# build path; in tmux, with the source and build trees hidden (a private mount namespace
# mounts empty directories over them) and the XDG directories empty, `--theme dark` is found
# in the prefix, and once the prefix's dark.theme is removed it is not found although the
# source tree's themes/dark.theme exists (the installed binary never searches it).
source "$(dirname "$0")/lib.sh"
# ctest-labels: tui
: "${DIMG_SRC:?}"
B=$(cd "$(dirname "$DIMG")" && pwd)
[ -f "$B/CMakeCache.txt" ] || { echo "SKIP: $DIMG is not in a CMake build directory"; exit 77; }
command -v tmux >/dev/null || { echo "SKIP: tmux missing: apt-get install tmux"; exit 77; }

# The prefix lives outside the source and build trees so that hiding them leaves it visible.
P=$(mktemp -d "${TMPDIR:-/tmp}/dimg-install.XXXXXX")
export TMUX_TMPDIR="$P"
# each start gets its own tmux server: a new session racing the last one's shutdown on the
# same socket can fail with "server exited unexpectedly"
N=0
tm() { tmux -L "dimginst$N" "$@"; }
trap 'tm kill-server 2>/dev/null || true; rm -rf "$T" "$P"' EXIT

run cmake --install "$B" --prefix "$P/prefix"
expect_rc 0 "cmake --install --prefix"
for f in bin/dimg share/dimg/themes/README.md \
         share/dimg/themes/{default,mono,dark,light,classic-blue}.theme; do
  [ -f "$P/prefix/$f" ] && pass || fail "installed tree lacks $f"
done
for f in share/man/man1/dimg.1 share/man/man5/dimg-themes.5 \
         share/bash-completion/completions/dimg share/zsh/site-functions/_dimg; do
  [ -f "$P/prefix/$f" ] && pass || fail "installed tree lacks $f"
done
ls -R "$P/prefix" >"$T/tree"

# No source or build path is compiled into the binary's data (debug info may name them). A
# sanitizer build cannot pass this: UBSan's checks carry their source file names in .rodata;
# the plain build (CI's first run) checks it.
if [ -n "${DIMG_ASAN:-}" ]; then
  echo "sanitizer build: the path check is left to the plain build"
else
  objcopy -O binary --only-section=.rodata "$P/prefix/bin/dimg" "$T/rodata"
  for d in "$DIMG_SRC" "$B"; do
    if grep -aqF "$d" "$T/rodata"; then fail "the installed binary names $d"; else pass; fi
  done
fi

run "$P/prefix/bin/dimg" --version
expect_rc 0 "installed dimg --version"

# tmux: the installed dimg in a directory with one image.
mkdir -p "$P/imgs" "$P/empty"
truncate -s 1M "$P/imgs/one.raw"
hide=""
if unshare -rm true 2>/dev/null; then
  hide="mount -t tmpfs none '$B' && mount -t tmpfs none '$DIMG_SRC' && "
else
  echo "note: no unshare -rm here: the source tree stays visible to the first run"
fi
screen() { tm capture-pane -p -t inst; }
wait_for() {
  local i
  for i in $(seq 100); do screen | grep -Eq -- "$1" && return 0; sleep 0.1; done
  return 1
}
# start_installed HIDE THEME: the installed dimg --theme THEME, with the source and build
# trees hidden when HIDE is 1 (and unshare works).
start_installed() {
  local env="env HOME='$P/empty' XDG_CONFIG_HOME='$P/empty' XDG_DATA_DIRS='$P/empty'"
  env+=" LANG=C.UTF-8 TERM=xterm-256color '$P/prefix/bin/dimg' --theme $2 '$P/imgs'"
  local cmd="$env; echo EXIT=\$?"
  [ "$1" = 1 ] && [ -n "$hide" ] && cmd="unshare -rm sh -c \"$hide $env; echo EXIT=\\\$?\""
  tm kill-server 2>/dev/null || true
  N=$((N + 1))
  tm new-session -d -s inst -x 120 -y 30 "$cmd; sleep 60"
}

start_installed 1 dark
if wait_for 'one\.raw'; then pass; else fail "installed dimg did not start:"; screen; fi
sleep 0.5
if screen | grep -q 'theme:'; then fail "installed dimg did not find the installed dark theme:"; screen; else pass; fi
tm send-keys -t inst q || true
if wait_for 'EXIT=0'; then pass; else fail "installed dimg did not quit with 0:"; screen; fi

# Without the prefix's copy, dark is not found: nothing outside the prefix and XDG is read.
rm "$P/prefix/share/dimg/themes/dark.theme"
[ -f "$DIMG_SRC/themes/dark.theme" ] || fail "the source tree has no themes/dark.theme"
start_installed 0 dark
if wait_for 'theme:.*dark'; then pass; else fail "dark was found without the installed copy:"; screen; fi
tm send-keys -t inst q || true
wait_for 'EXIT=' || true
finish

#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# test_licence.sh: the licence is stated where packagers look: LICENSE holds the GPL version 2
# text, and every tracked source file (C, headers, shell and CMake scripts, CI scripts,
# completion templates, man pages) names it in an SPDX line within its first two lines.
source "$(dirname "$0")/lib.sh"
: "${DIMG_SRC:?}"
command -v git >/dev/null && git -C "$DIMG_SRC" rev-parse >/dev/null 2>&1 ||
  { echo "not a git checkout: cannot list the tracked files"; exit 77; }

tag='SPDX-License-Identifier: GPL-2.0-or-later'
grep -q 'GNU GENERAL PUBLIC LICENSE' "$DIMG_SRC/LICENSE" &&
  grep -q 'Version 2, June 1991' "$DIMG_SRC/LICENSE" && pass || fail "LICENSE is not the GPL-2 text"

n=0
while IFS= read -r f; do
  case "$f" in
    debian/* | tests/fixtures/* | themes/*.theme | *.md | *.hex | LICENSE | .gitignore | .clang-format) continue ;;
    *.c | *.h | *.sh | *.cmake | *.in | *.1 | *.5 | CMakeLists.txt | */CMakeLists.txt | .ci/* | \
      tests/bench/run | tests/fuzz/run | tests/fuzz/tohex | tests/valgrind/run) ;;
    *) continue ;;
  esac
  n=$((n + 1))
  head -n 2 "$DIMG_SRC/$f" | grep -qF "$tag" || fail "$f: no '$tag' line in its first two lines"
done < <(git -C "$DIMG_SRC" ls-files)
[ "$n" -gt 200 ] && pass || fail "only $n source files listed"
echo "$n source files checked"
finish

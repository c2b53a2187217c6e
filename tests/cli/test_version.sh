#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# test_version.sh: `dimg --version` (and -V) prints "dimg VERSION" with VERSION taken from
# CMakeLists.txt's project() line, plus "(git COMMIT)" naming the checked-out commit when the
# source is a git checkout; debian/changelog's newest entry and the man pages' headers carry
# the same version.
source "$(dirname "$0")/lib.sh"
: "${DIMG_SRC:?}"

want=$(sed -n 's/^project(dimg VERSION \([0-9.]*\).*/\1/p' "$DIMG_SRC/CMakeLists.txt")
[ -n "$want" ] || { fail "no version in CMakeLists.txt's project()"; finish; exit; }

for opt in --version -V; do
  run "$DIMG" "$opt"
  expect_rc 0 "dimg $opt"
  if head -n 1 "$T/out" | grep -Eq "^dimg $want( \(git [0-9a-f]{12}(-dirty)?\))?\$"; then pass; else
    fail "dimg $opt: '$(cat "$T/out")', want 'dimg $want [(git COMMIT)]'"
  fi
  [ "$(wc -l <"$T/out")" -eq 1 ] && pass || fail "dimg $opt: more than one line"
done

# Built from a checkout: the commit is the one checked out (the build runs the script again
# at every build, so a new commit shows after the next build).
if [ -e "$DIMG_SRC/.git" ] && command -v git >/dev/null; then
  head=$(git -C "$DIMG_SRC" rev-parse --short=12 HEAD)
  run "$DIMG" --version
  if grep -q "(git $head" "$T/out"; then pass; else
    fail "dimg --version: '$(cat "$T/out")' does not name the checked-out commit $head"
  fi
fi

# The Debian package's version is the same upstream version.
if [ -f "$DIMG_SRC/debian/changelog" ]; then
  deb=$(sed -n '1s/^dimg (\([^)-]*\).*/\1/p' "$DIMG_SRC/debian/changelog")
  [ "$deb" = "$want" ] && pass || fail "debian/changelog says $deb, CMakeLists.txt $want"
fi
# The man pages' headers name the same version.
for page in "$DIMG_SRC"/docs/dimg.1 "$DIMG_SRC"/docs/dimg-themes.5; do
  [ -f "$page" ] || continue
  grep -q "^\.TH .* \"dimg $want\"" "$page" && pass || fail "$(basename "$page")'s .TH does not say dimg $want"
done
finish

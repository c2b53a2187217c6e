#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# test_rooms.sh: the house rules of docs/ARCHITECTURE.md, read off the sources: no include
# cycle between the rooms of core/ (and formats/), cli/ and tui/ include nothing of each other
# (cli/main.c is the one file that knows both faces), and core/ and formats/ neither include
# curses nor print.
source "$(dirname "$0")/lib.sh"
: "${DIMG_SRC:?}"
cd "$DIMG_SRC" || exit 1

room_of() { # core/ops/map.c -> ops; formats/x.c -> formats
  case "$1" in core/*/*) local r=${1#core/}; echo "${r%%/*}" ;; formats/*) echo formats ;; esac
}

# One edge per include of another room; tsort fails on a loop and names its members.
edges=$T/edges
: >"$edges"
for f in core/*/*.[ch] formats/*.[ch]; do
  from=$(room_of "$f")
  { grep -oE '^#include "(core/[a-z_]+|formats)/' "$f" || true; } | sed -E 's|#include "||; s|/$||' |
    while read -r inc; do
      to=$(room_of "$inc/x")
      if [ "$to" != "$from" ]; then echo "$to $from"; fi
    done >>"$edges"
done
[ -s "$edges" ] || fail "no include between rooms found: the test reads the wrong tree"
if tsort "$edges" >"$T/order" 2>"$T/tsort.err"; then
  pass
else
  fail "include cycle between rooms: $(tr '\n' ' ' <"$T/tsort.err")"
fi
# The rooms every other one stands on come first.
[ "$(head -1 "$T/order")" = base ] && pass || fail "base/ is not the bottom room: $(head -1 "$T/order")"

bad=$(grep -lE '^#include "tui/' cli/*.[ch] | grep -v '^cli/main.c$' || true)
[ -z "$bad" ] && pass || fail "cli/ includes tui/: $bad"
bad=$(grep -lE '^#include "cli/' tui/*.[ch] || true)
[ -z "$bad" ] && pass || fail "tui/ includes cli/: $bad"

bad=$(grep -lE '^#include <(n?curses|ncursesw/)' core/*/*.[ch] formats/*.[ch] || true)
[ -z "$bad" ] && pass || fail "core/ or formats/ include curses: $bad"
# Printing is writing to the terminal: the renderers in core/describe write to a FILE the
# face hands them, which is fine; stdout, stderr, printf and perror are not.
bad=$(grep -nE '(^|[^a-z_])(printf|puts|putchar|perror)\(|[^a-z_](stdout|stderr)([^a-z_]|$)' \
  core/*/*.c formats/*.c | grep -vE '^[^:]+:[0-9]+:\s*(/?\*|//)' || true)
[ -z "$bad" ] && pass || fail "core/ or formats/ print: $bad"
finish

#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# test_manpage.sh: docs/dimg.1 and docs/dimg-themes.5 format without a warning (man --warnings);
# dimg.1 has a section for every command of `dimg --help` (the CLI's table) naming every
# option of that command's usage text, names every global option, and its KEYS section is
# exactly what tests/man_keys prints from the key table (so every key and action is in it).
source "$(dirname "$0")/lib.sh"
: "${DIMG_SRC:?}" "${DIMG_MAN_KEYS:?}"
command -v man >/dev/null || { echo "man missing: apt-get install man-db"; exit 1; }
PAGE=$DIMG_SRC/docs/dimg.1

for p in "$PAGE" "$DIMG_SRC/docs/dimg-themes.5"; do
  [ -f "$p" ] || { fail "$p missing"; continue; }
  # man-db passes --warnings to groff; any diagnostic on stderr is a failure.
  LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -E UTF-8 -l "$p" >"$T/rendered" 2>"$T/warn" || true
  if [ -s "$T/warn" ]; then fail "man --warnings $(basename "$p"):"; cat "$T/warn"; else pass; fi
  [ -s "$T/rendered" ] && pass || fail "$(basename "$p") renders empty"
done
[ -f "$PAGE" ] || { finish; exit; }

# The page's source with troff escapes for hyphens and fonts removed: plain option names.
sed -e 's/\\-/-/g' -e 's/\\f[BIRP]//g' -e 's/\\(em/-/g' "$PAGE" >"$T/plain"
# section NAME: the lines from ".SS NAME" up to the next .SS or .SH.
section() { awk -v n="$1" '$1==".SS"{on=($2==n); next} /^\.SH/{on=0} on' "$T/plain"; }

"$DIMG" --help >"$T/help"
cmds=$(awk '/^Commands:/{f=1;next} /^$/{f=0} f{print $1}' "$T/help")
[ -n "$cmds" ] || fail "no commands in dimg --help"
for c in $cmds; do
  section "$c" >"$T/sec"
  if [ ! -s "$T/sec" ]; then fail "no section .SS $c in dimg.1"; continue; fi
  "$DIMG" "$c" --help >"$T/usage"
  # every option token (-x, --long, --long=) of the usage text
  for o in $(grep -oE '(^|[ [(|])--?[A-Za-z][A-Za-z0-9-]*' "$T/usage" | sed 's/^[ [(|]//' | sort -u); do
    grep -qE -- "(^|[^A-Za-z0-9-])$o([^A-Za-z0-9-]|\$)" "$T/sec" && pass || fail "dimg.1 section $c lacks $o"
  done
done
for o in --untrusted --password-file --password-env --read-only --theme --ascii --mouse \
         --help --version NO_COLOR DIMG_TIMING DIMG_ARCHIVE_LIMIT XDG_CONFIG_HOME XDG_DATA_DIRS; do
  grep -qF -- "$o" "$T/plain" && pass || fail "dimg.1 lacks $o"
done

# KEYS: generated from the key table, character for character.
"$DIMG_MAN_KEYS" >"$T/keys.want"
awk '/^\.\\" BEGIN KEYS/{on=1; next} /^\.\\" END KEYS/{on=0} on' "$PAGE" >"$T/keys.have"
if cmp -s "$T/keys.want" "$T/keys.have"; then pass; else
  fail "dimg.1's KEYS section differs from the key table (paste tests/man_keys' output):"
  diff "$T/keys.have" "$T/keys.want" | head -20
fi
finish

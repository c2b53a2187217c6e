# SPDX-License-Identifier: GPL-2.0-or-later
# fs_lib.sh: what the guest-filesystem tests share (sourced after lib.sh; not a test itself):
# the listing of an image as "name size" lines, the same of the source tree src/, and
# check_image, which compares both and cats every file back against the source. ESC must be
# set (the escape byte some names hold).

# What ls -R --output=json lists as "name size" lines, and what src holds (lost+found aside).
ls_names_sizes() {
  "$DIMG" ls -R --output=json "$1" | awk '/"name":/ { n = $0; sub(/^ *"name": "/, "", n); sub(/",$/, "", n) }
    /"type":/ { t = $2 } /"size":/ { s = $2; sub(/,$/, "", s); if (t != "\"dir\",") print n, s; else print n }' |
    grep -v '^lost+found' | LC_ALL=C sort
}
src_names_sizes() {
  (cd src && find . -mindepth 1 \( -type d -printf '%P\n' \) -o \( -type l -printf '%P %s\n' \) \
    -o -printf '%P %s\n') | sed "s/$ESC/\\\\u001B/g" | LC_ALL=C sort
}

# check_image IMG: the listing and every file's content against src/.
check_image() {
  local img=$1 f
  ls_names_sizes "$img" >"$T/have" || true
  src_names_sizes >"$T/want"
  if cmp -s "$T/have" "$T/want"; then pass; else
    fail "$img: ls -R differs from the source"; diff "$T/have" "$T/want" | head -20
  fi
  while IFS= read -r -d '' f; do
    if "$DIMG" cat "$img:/$f" >"$T/got" 2>"$T/err" && cmp -s "$T/got" "src/$f"; then pass; else
      fail "$img: cat /$f differs ($(head -c 200 "$T/err"))"
    fi
  done < <(cd src && find . -type f -printf '%P\0')
}


#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# test_completion.sh: the bash completion the build generates (completions/dimg), loaded as
# bash-completion loads it: `complete -p dimg` names _dimg; driven with COMP_WORDS/COMP_CWORD,
# `dimg conv<TAB>` gives convert, `dimg convert -O <TAB>` gives the formats dimg can create (each
# one checked by creating an image with it, and each format create refuses is absent),
# `-f <TAB>` every format `dimg info -f` accepts, `dimg info --out<TAB>` and `--output=<TAB>`,
# `dimg check -r <TAB>`, and `dimg info <TAB>` images by extension and directories, not other
# files. The zsh completion parses (zsh -n) when zsh is installed.
source "$(dirname "$0")/lib.sh"
need zsh
B=$(cd "$(dirname "$DIMG")" && pwd)
COMP=$B/completions/dimg
[ -f "$COMP" ] || { fail "$COMP was not built"; finish; exit; }
BC=/usr/share/bash-completion/bash_completion
[ -f "$BC" ] || { echo "SKIP: bash-completion missing (apt-get install bash-completion)"; exit 77; }

# complete WORD...: COMPREPLY for the last word (the cursor at its end), sorted, one a line,
# from a fresh bash that loaded bash-completion (when installed) and the completion file.
complete_words() {
  bash -c '
    [ -f "$1" ] && source "$1"
    source "$2"
    shift 2
    complete -p dimg >&2
    COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))
    COMP_LINE=""; p=""
    for w in "${COMP_WORDS[@]}"; do # the line as typed: no blanks around "="
      if [ -n "$COMP_LINE" ] && [ "$w" != = ] && [ "$p" != = ]; then COMP_LINE+=" "; fi
      COMP_LINE+=$w; p=$w
    done
    COMP_POINT=${#COMP_LINE}
    _dimg dimg "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
    printf "%s\n" "${COMPREPLY[@]}" | sort' _ "$BC" "$COMP" "$DIMG" "$@" 2>"$T/complete.err"
}
# expect_reply WANT DESCRIPTION WORD...: the replies joined by spaces equal WANT.
expect_reply() {
  local want=$1 what=$2; shift 2
  local got; got=$(complete_words "$@" | tr '\n' ' ' | sed 's/ $//')
  [ "$got" = "$want" ] && pass || fail "$what: got '$got', want '$want'"
}

complete_words conv >/dev/null
grep -q -- '-F _dimg dimg' "$T/complete.err" && pass || fail "complete -p dimg: $(cat "$T/complete.err")"
expect_reply convert "dimg conv<TAB>" conv
expect_reply "commit compact compare" "dimg com<TAB>" com

# -O: the formats dimg can create, proven by creating one of each; the others are refused.
complete_words convert -O "" >"$T/o"
[ "$(wc -l <"$T/o")" -ge 3 ] && pass || fail "dimg convert -O <TAB>: $(cat "$T/o")"
for f in $(cat "$T/o"); do
  # (an encrypted format such as luks takes its password as every encrypted create does)
  run env DPW=pw "$DIMG" create --password-env DPW -q -f "$f" "$T/new.$f" 1M
  expect_rc 0 "dimg create -f $f (offered after -O)"
done
complete_words info -f "" >"$T/f"
for f in $(cat "$T/f"); do
  run "$DIMG" info -f "$f" "$T/new.raw"
  if grep -q "unknown format" "$T/err"; then fail "-f offers $f, which info does not know"; else pass; fi
  grep -qx "$f" "$T/o" || { run "$DIMG" create -q -f "$f" "$T/no.$f" 1M; [ "$rc" -ne 0 ] && pass || fail "create -f $f works but -O does not offer it"; }
done
grep -qx qcow2 "$T/o" && grep -qx raw "$T/o" && pass || fail "-O lacks qcow2 or raw"
expect_reply "qcow qcow2" "dimg convert -O qc<TAB>" convert -O qc

expect_reply "--output=" "dimg info --out<TAB>" info --out
expect_reply "all leaks" "dimg check -r <TAB>" check -r ""
# --output=<TAB>: bash splits the word at '='
expect_reply "human json" "dimg info --output=<TAB>" info --output = ""

# Image files by extension, and directories.
mkdir -p files/sub && cd files
touch a.qcow2 b.vmdk c.txt d.raw.xz
expect_reply "a.qcow2 b.vmdk d.raw.xz sub" "dimg info <TAB>" info ""
cd ..

zsh -n "$B/completions/_dimg" && pass || fail "zsh -n _dimg"
finish

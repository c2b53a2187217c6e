#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# test_cli_basic.sh: --help, --version, per-command --help, and one-line usage errors with
# exit 1 for unknown commands, unknown options and missing arguments.
source "$(dirname "$0")/lib.sh"

run "$DIMG" --help
expect_rc 0 "--help"
cp "$T/out" "$T/help.txt"
for c in info create convert map layout check compare; do
  grep -q "^  $c " "$T/help.txt" || fail "--help does not list $c"
  run "$DIMG" "$c" --help
  expect_rc 0 "$c --help"
  grep -q "^usage: dimg $c" "$T/out" || fail "$c --help: no usage line"
  [ -s "$T/err" ] && fail "$c --help wrote to stderr"
done

run "$DIMG" --version
expect_rc 0 "--version"
grep -Eq '^dimg [0-9]+\.[0-9]+' "$T/out" || fail "--version output: $(cat "$T/out")"

run "$DIMG" frobnicate
expect_rc 1 "unknown command"
expect_one_error_line "unknown command 'frobnicate'" "unknown command"
[ -s "$T/out" ] && fail "unknown command wrote to stdout"

# No command opens the interactive application, which needs a terminal: without one it says
# so in one line (scripts get a pointer to the commands) instead of drawing on a pipe.
run "$DIMG" </dev/null
expect_rc 1 "no command, no terminal"
expect_one_error_line "needs a terminal" "no command, no terminal"
[ -s "$T/out" ] && fail "no command wrote to stdout" || pass

run "$DIMG" --bogus info x
expect_rc 1 "unknown global option"
expect_one_error_line "unknown option '--bogus'" "unknown global option"

run "$DIMG" info --bogus x
expect_rc 1 "unknown command option"
expect_one_error_line "info: unknown option --bogus" "unknown command option"

run "$DIMG" info -Z x
expect_rc 1 "unknown short option"
expect_one_error_line "unknown option -Z" "unknown short option"

run "$DIMG" info -f
expect_rc 1 "missing option argument"
expect_one_error_line "needs an argument" "missing option argument"

run "$DIMG" info
expect_rc 1 "missing file"
expect_one_error_line "expecting exactly one image file name" "missing file"

run "$DIMG" info "$T/does-not-exist"
expect_rc 1 "nonexistent file"
expect_one_error_line "does-not-exist: No such file" "nonexistent file"

run "$DIMG" info --output=xml "$T/x"
expect_rc 1 "bad --output"
expect_one_error_line "human or json" "bad --output"

finish

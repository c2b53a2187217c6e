#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# test_cli_dir.sh: `dimg DIR` names what is wrong with DIR when it is not a directory to browse:
# "DIR: No such file or directory" for a missing path, "Not a directory" for a file, and for a
# single word that is no command either, both facts on one line. Exit 1, nothing on stdout.
source "$(dirname "$0")/lib.sh"

run "$DIMG" "$T/missing/dir"
expect_rc 1 "missing directory"
expect_one_error_line "$T/missing/dir: No such file or directory" "missing directory named"
[ -s "$T/out" ] && fail "missing directory wrote to stdout" || pass
run "$DIMG" ./missing
expect_rc 1 "missing ./directory"
expect_one_error_line "\./missing: No such file or directory" "missing ./directory named"
run "$DIMG" nodir/
expect_one_error_line "nodir/: No such file or directory" "missing dir/ named"
touch plain.txt
run "$DIMG" plain.txt
expect_rc 1 "a file given as the directory"
expect_one_error_line "plain.txt: Not a directory" "a file is not a directory"
run "$DIMG" frobnicate
expect_rc 1 "a word that is neither"
expect_one_error_line "unknown command 'frobnicate' (and frobnicate: No such file or directory)" \
  "neither a command nor a directory"
finish

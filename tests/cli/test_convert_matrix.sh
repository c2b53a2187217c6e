#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# test_convert_matrix.sh: every format dimg can create converted to every other, through raw.
# The formats come from dimg itself (the "Supported formats:" line of `dimg create --help`), so
# a newly registered driver joins the matrix without editing this file. One raw source holds
# data, written zero runs and holes at awkward offsets (first and last sector, across the
# 64 KiB / 1 MiB / 2 MiB boundaries, a size that is no whole number of clusters); for every
# pair (A, B) raw -> A -> B -> raw must give the source back byte for byte (cmp), and
# `qemu-img compare` must find A and B identical to the source wherever qemu-img reads them.
source "$(dirname "$0")/lib.sh"

K=1024 M=$((1024 * 1024))
SIZE=$((4 * M + 64 * K + 3 * 512)) # sectors, but no whole number of 64 KiB clusters
truncate -s "$SIZE" src.raw
qemu-io -f raw \
  -c "write -P 0x11 0 512" \
  -c "write -P 0x22 $((SIZE - 512)) 512" \
  -c "write -P 0x33 $((64 * K - 700)) 1400" \
  -c "write -P 0 $((64 * K + 700)) 3000" \
  -c "write -P 0x44 $((M - 3000)) 6000" \
  -c "write -P 0 $((M + 3000)) $((64 * K))" \
  -c "write -P 0x45 $((M + 3000 + 64 * K)) 333" \
  -c "write -P 0x55 $((2 * M - 512)) 1024" \
  -c "write -P 0 $((2 * M + 512)) $((2 * M - 4096))" \
  -c "write -P 0x66 $((3 * M + 12345)) 300001" \
  -c "write -P 0x77 $((4 * M + 100)) 1" \
  src.raw >/dev/null

# The formats, in registry order.
run "$DIMG" create --help
expect_rc 0 "create --help"
read -r -a FORMATS <<<"$(sed -n 's/^Supported formats: *//p' "$T/out")"
for want in raw qcow2 qcow cow vdi; do
  [[ " ${FORMATS[*]} " == *" $want "* ]] && pass || fail "create --help does not list $want: ${FORMATS[*]}"
done

# Formats qemu-img 7.2 reads (cow left QEMU in 2.2).
qemu_reads() { case "$1" in raw | qcow2 | qcow | vdi | vmdk) return 0 ;; *) return 1 ;; esac; }

qemu_same() { # FMT FILE DESCRIPTION: qemu-img finds FILE identical to the source
  if qemu_reads "$1"; then
    run qemu-img compare -q -f raw -F "$1" src.raw "$2"
    expect_rc 0 "qemu-img compare: $3"
  fi
}

# A format may round the size up (to whole sectors or blocks): the output must then be the
# source followed by zeros.
same_as_src() { # FILE DESCRIPTION
  local n
  n=$(stat -c %s "$1")
  if [ "$n" -lt "$SIZE" ]; then
    fail "$2: $n bytes, shorter than the source's $SIZE"
  elif cmp -s -n "$SIZE" src.raw "$1" && cmp -s -n $((n - SIZE)) -i "$SIZE:0" "$1" /dev/zero; then
    pass
  else
    fail "$2: content differs: $(cmp src.raw "$1" 2>&1 | head -1)"
  fi
}

# Encrypted formats (luks) take their password as every encrypted convert does, and a cheap
# key derivation: every dimg call below gets both.
export DPW=matrix
opts_for() { case "$1" in luks) echo "-o iter-time=10" ;; esac; }
conv() { # SRC-FMT DST-FMT SRC DST
  # shellcheck disable=SC2046
  run "$DIMG" convert --password-env DPW -f "$1" -O "$2" $(opts_for "$2") "$3" "$4"
}

for a in "${FORMATS[@]}"; do
  conv raw "$a" src.raw "a.$a"
  expect_rc 0 "convert raw -> $a"
  qemu_same "$a" "a.$a" "raw -> $a"
done

for a in "${FORMATS[@]}"; do
  for b in "${FORMATS[@]}"; do
    rm -f "b.$b" out.raw
    conv "$a" "$b" "a.$a" "b.$b"
    expect_rc 0 "convert $a -> $b"
    qemu_same "$b" "b.$b" "raw -> $a -> $b"
    conv "$b" raw "b.$b" out.raw
    expect_rc 0 "convert $b -> raw (from $a)"
    same_as_src out.raw "raw -> $a -> $b -> raw"
  done
done

finish

#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# test_nbd_tls.sh: NBD with TLS (nbds://, nbds+unix://), against nbdkit servers this test
# starts with --tls=require. A pre-shared key (made here; the URI names it with tls-psk-file=,
# the user with user@, else the account's name): dimg reads a raw file and a qcow2 file's
# bytes (-f qcow2) byte-identically to the local files. X.509 (a CA, a server and a client
# certificate made here with openssl; tls-certificates=DIR, the server checks the client's):
# the same over TCP on 127.0.0.1. Failures are one error line and exit 1: a plain nbd:// to a
# TLS-only server (it says to use nbds://), a wrong key, certificates of another CA.
source "$(dirname "$0")/lib.sh"
need qemu-img qemu-io nbdkit openssl python3
source "$(dirname "$0")/nbd_lib.sh"
nbdkit --dump-config | grep -q '^tls=yes' || { echo "SKIP: nbdkit without TLS"; exit 77; }

qemu-img create -q -f qcow2 q.qcow2 16M
qemu-io -f qcow2 -c 'write -P 0x5a 1M 1M' -c 'write -P 9 15M 1M' q.qcow2 >/dev/null
qemu-img convert -f qcow2 -O raw q.qcow2 r.raw

# PSK: one key for this account, one for alice.
me=$(id -un)
{ echo "$me:$(openssl rand -hex 32)"; echo "alice:$(openssl rand -hex 32)"; } >keys.psk
{ echo "$me:$(openssl rand -hex 32)"; } >wrong.psk
chmod 600 keys.psk wrong.psk
nbdkit_bg "$T/r.sock" --tls=require --tls-psk="$T/keys.psk" file r.raw
nbdkit_bg "$T/q.sock" --tls=require --tls-psk="$T/keys.psk" file q.qcow2
UR="nbds+unix:///?socket=$T/r.sock&tls-psk-file=$T/keys.psk"
UA="nbds+unix://alice@/?socket=$T/r.sock&tls-psk-file=$T/keys.psk"
UQ="nbds+unix:///?socket=$T/q.sock&tls-psk-file=$T/keys.psk"

for u in "$UR" "$UA"; do
  rm -f out.raw
  run "$DIMG" convert -O raw "$u" out.raw
  expect_rc 0 "convert over TLS (PSK) $u"
  cmp -s r.raw out.raw && pass || fail "PSK $u: bytes differ"
done
run "$DIMG" info --output=json "$UQ"
expect_rc 0 "info of a qcow2 over TLS"
[ "$(json_str "$T/out" format)" = qcow2 ] && pass || fail "qcow2 over TLS: format $(json_str "$T/out" format)"
rm -f out.raw
run "$DIMG" convert -f qcow2 -O raw "$UQ" out.raw
expect_rc 0 "convert -f qcow2 over TLS"
cmp -s r.raw out.raw && pass || fail "qcow2 over TLS: bytes differ"
run "$DIMG" check "$UQ"
expect_rc 0 "check over TLS"

# Without TLS, or with the wrong key: one line each.
run "$DIMG" info "nbd+unix:///?socket=$T/r.sock"
expect_rc 1 "plain NBD to a TLS-only server"
expect_one_error_line "requires TLS: name it nbds://" "plain NBD to a TLS-only server"
run "$DIMG" info "nbds+unix:///?socket=$T/r.sock&tls-psk-file=$T/wrong.psk"
expect_rc 1 "a wrong key"
expect_one_error_line "cannot connect" "a wrong key"
rm -f out.raw
run "$DIMG" convert -O raw "nbds+unix://nobody-here@/?socket=$T/r.sock&tls-psk-file=$T/keys.psk" out.raw
expect_rc 1 "a user the key file lacks"
expect_one_error_line "" "a user the key file lacks"
[ ! -e out.raw ] && [ ! -e out.raw.part ] && pass || fail "a failed TLS convert left a target"

# X.509: nbdkit wants ca-cert.pem, server-cert.pem, server-key.pem in its directory; libnbd
# ca-cert.pem, client-cert.pem, client-key.pem in the URI's.
x509() { # x509 DIR NAME CN EXT...: NAME-cert.pem and NAME-key.pem signed by DIR's CA
  local d=$1 n=$2 cn=$3; shift 3
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$d/$n-key.pem" -out "$d/$n.csr" -subj "/CN=$cn" 2>/dev/null
  printf '%s\n' "$@" >"$d/$n.ext"
  openssl x509 -req -in "$d/$n.csr" -CA "$d/ca-cert.pem" -CAkey "$d/ca-key.pem" -CAcreateserial \
    -out "$d/$n-cert.pem" -days 2 -extfile "$d/$n.ext" 2>/dev/null
}
ca() { # ca DIR: a new certificate authority
  mkdir -p "$1"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$1/ca-key.pem" -out "$1/ca-cert.pem" \
    -days 2 -subj "/CN=dimg test CA $1" 2>/dev/null
}
ca srv
x509 srv server localhost 'subjectAltName=DNS:localhost,IP:127.0.0.1' 'extendedKeyUsage=serverAuth'
mkdir cli
cp srv/ca-cert.pem srv/ca-key.pem cli/
x509 cli client dimg-client 'extendedKeyUsage=clientAuth'
ca other
x509 other client dimg-client 'extendedKeyUsage=clientAuth'
PORT=$(free_port)
nbdkit -f -i 127.0.0.1 -p "$PORT" --tls=require --tls-certificates="$T/srv" --tls-verify-peer \
  file r.raw 2>"$T/nbdkit.err" &
nbd_track $!
wait_port "$PORT"
rm -f out.raw
run "$DIMG" convert -O raw "nbds://127.0.0.1:$PORT/?tls-certificates=$T/cli" out.raw
expect_rc 0 "convert over TLS (X.509)"
cmp -s r.raw out.raw && pass || fail "X.509: bytes differ"
run "$DIMG" map --output=json "nbds://localhost:$PORT/?tls-certificates=$T/cli"
expect_rc 0 "map over TLS (X.509)"
run "$DIMG" info "nbds://127.0.0.1:$PORT/?tls-certificates=$T/other"
expect_rc 1 "certificates of another CA"
expect_one_error_line "cannot connect" "certificates of another CA"

finish

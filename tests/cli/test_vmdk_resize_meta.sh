#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# test_vmdk_resize_meta.sh: dimg resize of vmdk keeps every copy of the metadata right:
# a streamOptimized file in VMware's layout (header GD_AT_END, footer and end-of-stream
# marker at the end) gets the new capacity in its footer as in its header; a stream whose
# header names its directory but that still ends with a footer gets its footer updated too;
# the descriptor's ddb.geometry keeps the image's heads and sectors (4 and 17 here) and only
# the cylinders follow the size, capped at 16383. qemu-img reads size and content.
source "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || { echo "SKIP: no python3"; exit 77; }
PY=$(python3 -c 'import sys; print(sys.executable)')

# meta FILE: "header-capacity header-gd footer-capacity footer-gd eos" of a stream file, the
# footer read where VMware's reader looks (the last three sectors: marker, footer, EOS).
meta() {
  "$PY" -c 'import struct,sys
d=open(sys.argv[1],"rb").read()
f=d[-1024:-512]; m=d[-1536:-1024]; e=d[-512:]
ok=f[:4]==b"KDMV" and struct.unpack("<I",m[12:16])[0]==3 and e==bytes(512)
print(struct.unpack("<Q",d[12:20])[0], struct.unpack("<q",d[56:64])[0],
      struct.unpack("<Q",f[12:20])[0] if ok else "nofooter", struct.unpack("<q",f[56:64])[0] if ok else "-")' "$1"
}
# geom FILE: "cylinders heads sectors" of the descriptor (a text file or embedded).
geom() {
  "$PY" -c 'import re,sys
t=open(sys.argv[1],"rb").read(1<<20).decode("latin-1")
print(*[re.search(r"ddb\.geometry\.%s = \"(\d+)\"" % k, t).group(1) for k in ("cylinders","heads","sectors")])' "$1"
}
# set_geom FILE HEADS SECTORS: edit the descriptor of FILE in place (embedded: same length).
set_geom() {
  "$PY" -c 'import sys
p,h,s=sys.argv[1:4]
d=bytearray(open(p,"rb").read())
i=d.find(b"# Disk DescriptorFile"); j=d.find(b"\0",i)
if j<0: j=len(d)
t=bytes(d[i:j]).replace(b"ddb.geometry.heads = \"16\"",b"ddb.geometry.heads = \"%s\"" % h.encode()).replace(b"ddb.geometry.sectors = \"63\"",b"ddb.geometry.sectors = \"%s\"" % s.encode())
d[i:j]=t+bytes(j-i-len(t)) if j<len(d) else t
open(p,"wb").write(d)' "$@"
}
vsize() { qemu-img info --output=json "$1" | sed -n 's/.*"virtual-size": \([0-9]*\).*/\1/p' | head -n 1; }

mk_sparse_raw src.raw 20M 0:1M 10M:64k

# VMware's layout, as dimg writes it (qemu-img's streams have no footer).
"$DIMG" convert -O vmdk -o subformat=streamOptimized src.raw s.vmdk
read -r hc hg fc fg <<<"$(meta s.vmdk)"
[ "$hg" = -1 ] && [ "$fc" = 40960 ] && pass || fail "test file: not VMware's layout: $(meta s.vmdk)"
set_geom s.vmdk 4 17
[ "$(geom s.vmdk)" = "41 4 17" ] && pass || fail "test file geometry: $(geom s.vmdk)"
run "$DIMG" resize s.vmdk 26M
expect_rc 0 "resize stream to 26M"
read -r hc hg fc fg <<<"$(meta s.vmdk)"
[ "$hc" = 53248 ] && [ "$hg" = -1 ] && [ "$fc" = 53248 ] && [ "$fg" -gt 0 ] && pass ||
  fail "stream 26M: header/footer $(meta s.vmdk)"
[ "$(geom s.vmdk)" = "784 4 17" ] && pass || fail "stream 26M geometry: $(geom s.vmdk)"
[ "$(vsize s.vmdk)" = $((26 << 20)) ] && pass || fail "qemu-img size $(vsize s.vmdk)"
qemu-img compare -q src.raw s.vmdk && pass || fail "stream 26M: content"
run "$DIMG" resize s.vmdk 100G
expect_rc 0 "resize stream to 100G (more grain tables)"
read -r hc hg fc fg <<<"$(meta s.vmdk)"
[ "$hc" = 209715200 ] && [ "$fc" = 209715200 ] && pass || fail "stream 100G: $(meta s.vmdk)"
[ "$(geom s.vmdk)" = "16383 4 17" ] && pass || fail "stream 100G geometry: $(geom s.vmdk)"
qemu-img compare -q src.raw s.vmdk && pass || fail "stream 100G: content"
run "$DIMG" check s.vmdk
expect_rc 0 "check after the resizes"

# A stream whose header names the directory and that still ends with its footer.
"$DIMG" convert -O vmdk -o subformat=streamOptimized src.raw h.vmdk
"$PY" -c 'import struct,sys
f=open(sys.argv[1],"r+b"); d=f.read(); f.seek(56); f.write(d[-1024+56:-1024+64])' h.vmdk
read -r hc hg fc fg <<<"$(meta h.vmdk)"
[ "$hg" = "$fg" ] && [ "$hg" -gt 0 ] && pass || fail "test file h: $(meta h.vmdk)"
run "$DIMG" resize h.vmdk 40M
expect_rc 0 "resize h to 40M"
read -r hc hg fc fg <<<"$(meta h.vmdk)"
[ "$hc" = 81920 ] && [ "$fc" = 81920 ] && [ "$fg" = "$hg" ] && pass ||
  fail "header-directory stream: footer not updated: $(meta h.vmdk)"
qemu-img compare -q src.raw h.vmdk && pass || fail "h: content"

# A descriptor file (monolithicFlat) with heads=4 sectors=17.
qemu-img create -q -f vmdk -o subformat=monolithicFlat g.vmdk 20M
set_geom g.vmdk 4 17
run "$DIMG" resize g.vmdk 26M
expect_rc 0 "resize flat to 26M"
[ "$(geom g.vmdk)" = "784 4 17" ] && pass || fail "flat 26M geometry: $(geom g.vmdk)"
run "$DIMG" resize g.vmdk 100G
[ "$(geom g.vmdk)" = "16383 4 17" ] && pass || fail "flat 100G geometry: $(geom g.vmdk)"
[ "$(vsize g.vmdk)" = $((100 << 30)) ] && pass || fail "flat: qemu-img size $(vsize g.vmdk)"

finish

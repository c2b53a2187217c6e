#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
# mkdmg.py OUT [OPTION...]: write a small Apple UDIF image (.dmg) from its documented layout
# (data fork, then an XML property list whose blkx array holds one base64 "mish" block table,
# then the 512-byte "koly" trailer), and OUT.raw with the disk it holds. No Debian tool writes
# UDIF; tests/cli/test_rofmt.sh and tests/fuzz/seeds.sh use this. Chunks: zlib, raw, zero
# fill, bzip2, ignore, zlib, then a comment and the terminator. OPTIONs: nobz2 (no bzip2
# chunk), and hostile variants: bomb, bzbomb (a one-sector chunk inflating to 64 KiB), lzfse
# (an lzfse chunk), count (chunk count 0xffffffff), plist (plist length 2^40), pastend (the raw
# chunk's offset 2^40).
import base64, bz2, struct, sys, zlib
out, opts = sys.argv[1], sys.argv[2:]
def blk(i):  # 64 KiB of guest data, compressible and distinct
    return (b"dimg dmg block %d " % i * 5000)[:65536]
chunks, sec = [], 0
def add(t, count, payload=b"", plain=None):
    global sec
    chunks.append((t, sec, count, payload, plain if plain is not None else bytes(count * 512)))
    sec += count
add(0x80000005, 128, zlib.compress(blk(0)), blk(0))   # zlib
add(0x00000001, 128, blk(1), blk(1))                  # raw
add(0x00000000, 256)                                  # zero fill
if "nobz2" not in opts:
    add(0x80000006, 128, bz2.compress(blk(2)), blk(2))  # bzip2
add(0x00000002, 64)                                   # ignore: reads zeros
add(0x80000005, 128, zlib.compress(blk(3)), blk(3))
if "bomb" in opts:   # declares one sector, inflates to 64 KiB
    add(0x80000005, 1, zlib.compress(bytes(65536)), bytes(512))
if "bzbomb" in opts:
    add(0x80000006, 1, bz2.compress(bytes(65536)), bytes(512))
if "lzfse" in opts:
    add(0x80000007, 8, b"\0" * 64, bytes(4096))
data, ents = bytearray(), b""
for t, s, c, p, _ in chunks:
    off = len(data); data += p
    if "pastend" in opts and t == 1:
        off = 1 << 40
    ents += struct.pack(">IIQQQQ", t, 0, s, c, off if p else 0, len(p))
ents += struct.pack(">IIQQQQ", 0x7ffffffe, 0, sec, 0, 0, 0)   # comment
ents += struct.pack(">IIQQQQ", 0xffffffff, 0, sec, 0, 0, 0)   # terminator
n = 0xffffffff if "count" in opts else len(chunks) + 2
mish = struct.pack(">4sIQQQII", b"mish", 1, 0, sec, 0, 0, 0) + bytes(24 + 136)
mish += struct.pack(">I", n) + ents
plist = (b'<?xml version="1.0" encoding="UTF-8"?>\n<plist version="1.0">\n<dict>\n'
         b'<key>resource-fork</key>\n<dict>\n<key>blkx</key>\n<array>\n<dict>\n'
         b'<key>Data</key>\n<data>\n' + base64.encodebytes(mish) +
         b'</data>\n<key>Name</key>\n<string>whole disk</string>\n</dict>\n</array>\n'
         b'</dict>\n</dict>\n</plist>\n')
xo = len(data); data += plist
k = bytearray(512)
struct.pack_into(">4sIII", k, 0, b"koly", 4, 512, 1)
struct.pack_into(">QQQ", k, 16, 0, 0, xo)   # running data fork offset, data fork offset, length
struct.pack_into(">QQ", k, 216, xo, (1 << 40) if "plist" in opts else len(plist))
struct.pack_into(">IQ", k, 488, 1, sec)
open(out, "wb").write(data + k)
open(out + ".raw", "wb").write(b"".join(c[4] for c in chunks))

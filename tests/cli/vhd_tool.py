# SPDX-License-Identifier: GPL-2.0-or-later
# vhd_tool.py: helper of test_vpc.sh (not a test itself). Builds a differencing VHD over a
# parent as the VHD specification lays it out (qemu-img cannot make one), and pokes header
# fields of existing VHDs with the checksums recomputed, for the hostile-header checks.
#   diff CHILD PARENT_FOOTER_FILE CODE LOCATOR   child with one locator (CODE: W2ru, W2ku, MacX)
#   poke FILE footer|header OFFSET FMT VALUE      set a big-endian field, fix the checksums
#   badsum FILE                                   break the footer checksum
#   bat FILE INDEX VALUE                          set a BAT entry
#   same A B                                      equal but for time stamps, UUIDs, checksums
#   creator FILE APP [SIZE]                       set the creator (and the current size)
import struct
import sys

SECTOR = 512


def csum(b, at):
    b[at:at + 4] = b"\0\0\0\0"
    struct.pack_into(">I", b, at, ~sum(b) & 0xFFFFFFFF)


def diff(child, parent, code, loc):
    pf = open(parent, "rb").read(SECTOR)
    size = struct.unpack_from(">Q", pf, 48)[0]
    block = 2 << 20
    entries = -(-size // block)
    f = bytearray(pf)
    struct.pack_into(">Q", f, 16, SECTOR)
    struct.pack_into(">I", f, 60, 4)
    f[68:84] = b"\x11" * 16
    csum(f, 64)
    data = loc.encode("utf-8") if code == "MacX" else loc.encode("utf-16-le")
    h = bytearray(1024)
    h[0:8] = b"cxsparse"
    struct.pack_into(">QQIIII", h, 8, 0xFFFFFFFFFFFFFFFF, 1536, 0x00010000, entries, block, 0)
    h[40:56] = pf[68:84]
    name = "dyn.vhd".encode("utf-16-be")
    h[64:64 + len(name)] = name
    struct.pack_into(">4sIIIQ", h, 576, code.encode(), 1, len(data), 0, 2048)
    csum(h, 36)
    bat = bytearray(b"\xff" * 512)
    struct.pack_into(">I", bat, 0, 2560 // SECTOR)  # block 0 right after the locator
    bitmap = bytearray(512)
    bitmap[0] = 0xFF  # sectors 0..7 here
    bitmap[1] = 0x40  # and sector 9
    out = bytearray(f) + h + bat + data.ljust(512, b"\0") + bitmap
    out += b"\x5a" * block + f
    open(child, "wb").write(out)


def poke(path, where, off, fmt, val):
    b = bytearray(open(path, "rb").read())
    foot = bytearray(b[0:SECTOR])
    hoff = struct.unpack_from(">Q", foot, 16)[0]
    if where == "footer":
        struct.pack_into(">" + fmt, foot, off, val)
        csum(foot, 64)
        b[0:SECTOR] = foot
        b[-SECTOR:] = foot
    else:
        h = bytearray(b[hoff:hoff + 1024])
        struct.pack_into(">" + fmt, h, off, val)
        csum(h, 36)
        b[hoff:hoff + 1024] = h
    open(path, "wb").write(b)


def main():
    a = sys.argv[1:]
    if a[0] == "diff":
        diff(a[1], a[2], a[3], a[4])
    elif a[0] == "poke":
        poke(a[1], a[2], int(a[3], 0), a[4], int(a[5], 0))
    elif a[0] == "badsum":
        b = bytearray(open(a[1], "rb").read())
        b[64] ^= 1
        open(a[1], "wb").write(b)
    elif a[0] == "same":
        x, y = (bytearray(open(p, "rb").read()) for p in a[1:3])
        for b in (x, y):
            for at in (0, len(b) - SECTOR):
                b[at + 24:at + 28] = bytes(4)
                b[at + 64:at + 84] = bytes(20)
        sys.exit(0 if x == y else 1)
    elif a[0] == "creator":
        b = bytearray(open(a[1], "rb").read())
        for at in (0, len(b) - SECTOR):
            b[at + 28:at + 32] = a[2].encode()
            if len(a) > 3:
                struct.pack_into(">Q", b, at + 48, int(a[3], 0))
            f = bytearray(b[at:at + SECTOR])
            csum(f, 64)
            b[at:at + SECTOR] = f
        open(a[1], "wb").write(b)
    elif a[0] == "bat":
        b = bytearray(open(a[1], "rb").read())
        hoff = struct.unpack_from(">Q", b, 16)[0]
        table = struct.unpack_from(">Q", b, hoff + 16)[0]
        struct.pack_into(">I", b, table + 4 * int(a[2]), int(a[3], 0))
        open(a[1], "wb").write(b)


main()

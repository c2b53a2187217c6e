/* SPDX-License-Identifier: GPL-2.0-or-later */
/* qcow.c: QEMU's original qcow (version 1) format driver: probe, open with header validation,
 * reads through a two-level L1/L2 table (zlib-compressed clusters included), block status,
 * backing files, writes with copy-on-write of partial clusters, compressed writes, write_zeroes
 * (whole clusters unlinked or punched, see qcow_zero_span), create
 * (qemu-img's layout and defaults), grow (relocating the L1 table when it must get longer, the
 * new area reading as zeros over a longer backing file) and the host layout.
 *
 * There are no refcounts: new L2 tables and clusters are appended at the end of the file
 * (rounded up to the cluster size; compressed clusters to 512 bytes). Crash-safety order for
 * every allocation: data, fsync, L2 entry, fsync, L1 entry; a crash leaves unreferenced space at
 * worst. Encrypted images (crypt_method 1, legacy AES-128-CBC keyed by the password, IV = guest
 * sector) are read and written through the cipher once the password is asked for at the first
 * data access; compressed clusters are refused in them.
 * Talks to: core/base/io.c, core/ops/compress.c (raw deflate), core/block/img.c (img_read_backing),
 * formats/qcrypt.c and core/crypto/crypto.c (encryption).
 */
#include "core/base/bytes.h"
#include "core/ops/compress.h"
#include "core/base/io.h"
#include "formats/drivers.h"
#include "formats/qcrypt.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define QCOW_MAGIC 0x514649fbu
#define QCOW_HDR 48u
#define QCOW_OFF_SIZE 24                /* be64 virtual size in bytes */
#define QCOW_MAX_L1_BYTES (32ull << 20) /* 4 Mi entries: 8 TiB with the default geometry */
#define QCOW_MAX_BACKING 1023u
#define QCOW_COMPRESSED (1ull << 63)
#define ULL(x) ((unsigned long long)(x))

struct qcow {
    unsigned cb, l2b; /* cluster_bits, l2_bits */
    uint64_t cs;      /* cluster size */
    uint64_t l2n;     /* entries per L2 table (1 << l2_bits; not tied to the cluster size) */
    uint32_t crypt;
    uint64_t hdr_end; /* header plus backing file name */
    uint64_t l1_off, l1n;
    uint64_t *l1;                 /* host order */
    uint64_t file_size;           /* tracked so appends need no size call */
    uint64_t *l2;                 /* one cached L2 table, host order */
    uint64_t l2_off;              /* its offset; 0 = nothing cached */
    uint8_t *l2raw;               /* on-disk encoding buffer for one L2 table */
    uint8_t *zin;                 /* compressed bytes of one cluster */
    uint8_t *cbuf;                /* the last decompressed cluster */
    uint64_t c_entry;             /* its L2 entry; 0 = none */
    uint8_t *wbuf;                /* one cluster being assembled for a write */
    struct crypto_cipher *cipher; /* crypt_method 1, once the password was given */
};

static struct qcow *qcow_st(struct img *img)
{
    return img->priv;
}

static unsigned qcow_shift(const struct qcow *s)
{
    return s->cb + s->l2b;
}

/* Compressed descriptor: size in bytes in bits (63-cb)..62, byte offset below. */
static void qcow_zdesc(const struct qcow *s, uint64_t e, uint64_t *off, uint64_t *len)
{
    unsigned sh = 63 - s->cb;
    *len = (e >> sh) & ((1ull << s->cb) - 1);
    *off = e & ((1ull << sh) - 1);
}

static int qcow_probe(const uint8_t *buf, size_t len)
{
    if (len < 8 || be32_load(buf) != QCOW_MAGIC)
        return 0;
    return be32_load(buf + 4) == 1 ? 100 : 0;
}

static uint64_t qcow_head_size(const uint8_t *buf, size_t len)
{
    return len >= QCOW_OFF_SIZE + 8 ? be64_load(buf + QCOW_OFF_SIZE) : 0;
}

/* ---- open ---- */

static int qcow_open(struct img *img, unsigned flags)
{
    struct qcow *s = qcow_st(img);
    uint8_t h[QCOW_HDR];
    uint64_t fsize;
    int r = src_size(img->src, &fsize);
    if (r < 0)
        return img_error(img, r, "%s", strerror(-r));
    if (fsize < QCOW_HDR)
        return img_error(img, -EINVAL, "header: file is shorter than 48 bytes");
    if ((r = src_pread(img->src, h, QCOW_HDR, 0)) < 0)
        return img_error(img, r, "reading the header: %s", strerror(-r));
    if (be32_load(h) != QCOW_MAGIC)
        return img_error(img, -EINVAL, "magic: not a qcow image");
    if (be32_load(h + 4) != 1)
        return img_error(img, -EINVAL, "version %u is not 1", be32_load(h + 4));
    uint64_t boff = be64_load(h + 8), size = be64_load(h + QCOW_OFF_SIZE),
             l1_off = be64_load(h + 40);
    uint32_t blen = be32_load(h + 16), crypt = be32_load(h + 36);
    unsigned cb = h[32], l2b = h[33];

    /* Every check before the first allocation derived from the header. */
    if (cb < 9 || cb > 16)
        return img_error(img, -EINVAL, "cluster_bits %u out of range (9..16)", cb);
    if (l2b < 6 || l2b > 13)
        return img_error(img, -EINVAL, "l2_bits %u out of range (6..13)", l2b);
    if (size < 2)
        return img_error(img, -EINVAL, "size %llu is too small", ULL(size));
    unsigned shift = cb + l2b;
    if (size > UINT64_MAX - (1ull << shift))
        return img_error(img, -EINVAL, "size %llu is too large", ULL(size));
    uint64_t l1n = (size + (1ull << shift) - 1) >> shift;
    if (l1n * 8 > QCOW_MAX_L1_BYTES)
        return img_error(img, -EFBIG,
                         "size %llu needs an L1 table of %llu entries "
                         "(limit %llu)",
                         ULL(size), ULL(l1n), ULL(QCOW_MAX_L1_BYTES / 8));
    if (crypt > 1)
        return img_error(img, -EINVAL, "crypt_method %u is unknown (0 none, 1 AES)", crypt);
    uint64_t hdr_end = QCOW_HDR;
    if (boff != 0) {
        if (blen > QCOW_MAX_BACKING)
            return img_error(img, -EINVAL,
                             "backing file name is %u bytes long "
                             "(limit %u)",
                             blen, QCOW_MAX_BACKING);
        if (boff < QCOW_HDR || boff > fsize || blen > fsize - boff)
            return img_error(img, -EINVAL,
                             "backing file name at 0x%llx (%u bytes) lies "
                             "outside the file",
                             ULL(boff), blen);
        hdr_end = boff + blen;
    }
    if (l1_off < QCOW_HDR || l1_off > fsize || l1n * 8 > fsize - l1_off)
        return img_error(img, -EINVAL,
                         "L1 table offset 0x%llx (%llu bytes) lies outside "
                         "the file",
                         ULL(l1_off), ULL(l1n * 8));

    s->cb = cb;
    s->l2b = l2b;
    s->cs = 1ull << cb;
    s->l2n = 1ull << l2b;
    s->crypt = crypt;
    s->hdr_end = hdr_end;
    s->l1_off = l1_off;
    s->l1n = l1n;
    s->file_size = fsize;
    s->l1 = malloc(l1n * 8);
    s->l2 = malloc(s->l2n * 8);
    s->l2raw = malloc(s->l2n * 8);
    s->zin = malloc(s->cs);
    s->cbuf = malloc(s->cs);
    s->wbuf = malloc(s->cs);
    if (!s->l1 || !s->l2 || !s->l2raw || !s->zin || !s->cbuf || !s->wbuf)
        return img_error(img, -ENOMEM, "out of memory");
    if ((r = src_pread(img->src, s->l1, l1n * 8, l1_off)) < 0)
        return img_error(img, r, "reading the L1 table: %s", strerror(-r));
    uint64_t l2bytes = s->l2n * 8;
    for (uint64_t i = 0; i < l1n; i++) {
        uint64_t e = be64_load((uint8_t *)s->l1 + 8 * i);
        s->l1[i] = e;
        if (e && (e < QCOW_HDR || e > fsize || l2bytes > fsize - e))
            return img_error(img, -EINVAL,
                             "L2 table offset 0x%llx (L1 entry %llu) lies "
                             "outside the file",
                             ULL(e), ULL(i));
    }
    if (boff && blen) {
        char name[QCOW_MAX_BACKING + 1];
        if ((r = src_pread(img->src, name, blen, boff)) < 0)
            return img_error(img, r, "reading the backing file name: %s", strerror(-r));
        name[blen] = 0;
        if (name[0] && !(img->backing_name = strdup(name)))
            return img_error(img, -ENOMEM, "out of memory");
    }
    img->size = size;
    return 0;
}

static void qcow_close(struct img *img)
{
    struct qcow *s = qcow_st(img);
    free(s->l1);
    free(s->l2);
    free(s->l2raw);
    free(s->zin);
    free(s->cbuf);
    free(s->wbuf);
    crypto_cipher_free(s->cipher);
}

/* ---- lookup and read ---- */

static int qcow_load_l2(struct img *img, uint64_t off)
{
    struct qcow *s = qcow_st(img);
    if (s->l2_off == off)
        return 0;
    s->l2_off = 0;
    int r = src_pread(img->src, s->l2raw, s->l2n * 8, off);
    if (r < 0)
        return img_error(img, r, "reading the L2 table at 0x%llx: %s", ULL(off), strerror(-r));
    for (uint64_t i = 0; i < s->l2n; i++)
        s->l2[i] = be64_load(s->l2raw + 8 * i);
    s->l2_off = off;
    return 0;
}

/* The L2 entry for guest offset off (0: unallocated) and how far the answer holds: to the end
 * of the cluster, or of the whole L1 range when there is no L2 table. */
static int qcow_lookup(struct img *img, uint64_t off, uint64_t *entry, uint64_t *run)
{
    struct qcow *s = qcow_st(img);
    uint64_t l1i = off >> qcow_shift(s);
    if (l1i >= s->l1n || s->l1[l1i] == 0) {
        *entry = 0;
        *run = ((l1i + 1) << qcow_shift(s)) - off;
        return 0;
    }
    int r = qcow_load_l2(img, s->l1[l1i]);
    if (r < 0)
        return r;
    *entry = s->l2[(off >> s->cb) & (s->l2n - 1)];
    *run = s->cs - (off & (s->cs - 1));
    return 0;
}

/* Inflate the compressed cluster of entry e into s->cbuf (cached by entry). */
static int qcow_load_cluster(struct img *img, uint64_t e)
{
    struct qcow *s = qcow_st(img);
    if (s->c_entry == e)
        return 0;
    uint64_t zoff, zlen;
    qcow_zdesc(s, e, &zoff, &zlen);
    if (zlen == 0 || zoff > s->file_size || zlen > s->file_size - zoff)
        return img_error(img, -EINVAL,
                         "compressed cluster at 0x%llx (%llu bytes) lies "
                         "outside the file",
                         ULL(zoff), ULL(zlen));
    s->c_entry = 0;
    int r = src_pread(img->src, s->zin, zlen, zoff);
    if (r < 0)
        return img_error(img, r, "reading the compressed cluster at 0x%llx: %s", ULL(zoff),
                         strerror(-r));
    if (zraw_inflate(s->zin, zlen, s->cbuf, s->cs) < 0)
        return img_error(img, -EIO,
                         "compressed cluster at 0x%llx: corrupt deflate "
                         "stream",
                         ULL(zoff));
    s->c_entry = e;
    return 0;
}

/* ---- encryption ---- */

/* Before the first data access of an encrypted image: the password, then the cipher. */
static int qcow_crypt_ready(struct img *img)
{
    struct qcow *s = qcow_st(img);
    if (!s->crypt || s->cipher)
        return 0;
    struct img_err e = {0};
    int r = qcrypt_legacy_cipher("qcow", img->path, &s->cipher, &e);
    return r < 0 ? img_fail(img, r, "%s", e.msg) : 0;
}

static int qcow_crypt_compressed(struct img *img)
{
    return img_error(img, -ENOTSUP,
                     "compressed clusters in an encrypted image are not "
                     "supported");
}

static int qcow_read(struct img *img, uint64_t off, void *buf, size_t len)
{
    struct qcow *s = qcow_st(img);
    uint8_t *p = buf;
    int r = qcow_crypt_ready(img);
    if (r < 0)
        return r;
    while (len > 0) {
        uint64_t e, run;
        r = qcow_lookup(img, off, &e, &run);
        if (r < 0)
            return r;
        size_t n = run < len ? (size_t)run : len;
        if (e == 0) {
            r = img_read_backing(img, off, p, n);
        } else if (e & QCOW_COMPRESSED) {
            r = s->crypt ? qcow_crypt_compressed(img) : qcow_load_cluster(img, e);
            if (r == 0)
                memcpy(p, s->cbuf + (off & (s->cs - 1)), n);
        } else {
            /* Past the end of the file reads as zeros, as it does for qemu. */
            r = s->cipher ? crypto_pread(s->cipher, img->src, p, n, e + (off & (s->cs - 1)), off)
                          : src_pread_zero(img->src, p, n, e + (off & (s->cs - 1)));
            if (r < 0)
                r = img_error(img, r, "read at 0x%llx: %s", ULL(e), src_errmsg(img->src, r));
        }
        if (r < 0)
            return r;
        p += n;
        off += n;
        len -= n;
    }
    return 0;
}

static void qcow_entry_bs(struct qcow *s, uint64_t e, uint64_t off, unsigned *fl, uint64_t *host)
{
    *host = 0;
    if (e == 0)
        *fl = 0;
    else if (e & QCOW_COMPRESSED)
        *fl = IMG_BS_DATA | IMG_BS_ALLOCATED | IMG_BS_COMPRESSED;
    else {
        *fl = IMG_BS_DATA | IMG_BS_ALLOCATED | IMG_BS_OFFSET_VALID;
        *host = e + (off & (s->cs - 1));
    }
}

static int qcow_block_status(struct img *img, uint64_t off, uint64_t len, struct img_bs *bs)
{
    struct qcow *s = qcow_st(img);
    uint64_t done = 0, host0 = 0;
    unsigned fl0 = 0;
    while (done < len) {
        uint64_t e, run, host;
        unsigned fl;
        int r = qcow_lookup(img, off + done, &e, &run);
        if (r < 0)
            return r;
        qcow_entry_bs(s, e, off + done, &fl, &host);
        if (done == 0) {
            fl0 = fl;
            host0 = host;
        } else if (fl != fl0 || ((fl & IMG_BS_OFFSET_VALID) && host != host0 + done)) {
            break;
        }
        done += run;
    }
    bs->len = done < len ? done : len;
    bs->flags = fl0;
    bs->host_off = host0;
    return 0;
}

/* ---- write ---- */

static int qcow_hwrite(struct img *img, const void *buf, size_t len, uint64_t off)
{
    struct qcow *s = qcow_st(img);
    int r = src_pwrite(img->src, buf, len, off);
    if (r < 0)
        return img_error(img, r, "write at 0x%llx: %s", ULL(off), strerror(-r));
    if (off + len > s->file_size)
        s->file_size = off + len;
    return 0;
}

/* Guest data to the file: through the cipher (IV from the guest offset) when encrypted. */
static int qcow_dwrite(struct img *img, const void *buf, size_t len, uint64_t host, uint64_t guest)
{
    struct qcow *s = qcow_st(img);
    if (!s->cipher)
        return qcow_hwrite(img, buf, len, host);
    int r = crypto_pwrite(s->cipher, img->src, buf, len, host, guest);
    if (r < 0)
        return img_error(img, r, "write at 0x%llx: %s", ULL(host), src_errmsg(img->src, r));
    if (host + len > s->file_size)
        s->file_size = host + len;
    return 0;
}

static int qcow_barrier(struct img *img)
{
    if (img->flags & IMG_OPEN_SCRATCH)
        return 0;
    int r = src_flush(img->src);
    return r < 0 ? img_error(img, r, "fsync: %s", strerror(-r)) : 0;
}

/* Make the L2 table of L1 entry l1i the cached one; a missing table becomes a zeroed one at
 * the cluster-aligned end of the file, written by qcow_commit_l2. */
static int qcow_prepare_l2(struct img *img, uint64_t l1i, bool *fresh, uint64_t *l2_off)
{
    struct qcow *s = qcow_st(img);
    *fresh = s->l1[l1i] == 0;
    *l2_off = 0; /* set on every path (-O2 cannot tell that img_error returns < 0) */
    if (!*fresh) {
        *l2_off = s->l1[l1i];
        return qcow_load_l2(img, *l2_off);
    }
    uint64_t l2bytes = s->l2n * 8;
    if (s->file_size > UINT64_MAX / 4)
        return img_error(img, -EFBIG, "file too large");
    *l2_off = u64_align_up(s->file_size, s->cs);
    memset(s->l2, 0, l2bytes);
    s->l2_off = 0;                    /* not on disk yet */
    s->file_size = *l2_off + l2bytes; /* reserve its place: data goes after it */
    return 0;
}

/* Data is written: fsync, then the L2 table, then (for a new table) fsync and the L1 entry. */
static int qcow_commit_l2(struct img *img, uint64_t l1i, uint64_t l2_off, bool fresh)
{
    struct qcow *s = qcow_st(img);
    int r = qcow_barrier(img);
    if (r < 0)
        return r;
    for (uint64_t i = 0; i < s->l2n; i++)
        be64_store(s->l2raw + 8 * i, s->l2[i]);
    if ((r = qcow_hwrite(img, s->l2raw, s->l2n * 8, l2_off)) < 0)
        return r;
    s->l2_off = l2_off;
    if (!fresh)
        return 0;
    if ((r = qcow_barrier(img)) < 0)
        return r;
    uint8_t b[8];
    be64_store(b, l2_off);
    if ((r = qcow_hwrite(img, b, 8, s->l1_off + 8 * l1i)) < 0)
        return r;
    s->l1[l1i] = l2_off;
    return 0;
}

/* Fill s->wbuf with the current content of the cluster at guest offset coff whose entry is e:
 * the compressed data, or the backing file (zeros past the virtual size), or zeros. */
static int qcow_cow_fill(struct img *img, uint64_t coff, uint64_t e)
{
    struct qcow *s = qcow_st(img);
    if (e & QCOW_COMPRESSED) {
        int r = qcow_load_cluster(img, e);
        if (r == 0)
            memcpy(s->wbuf, s->cbuf, s->cs);
        return r;
    }
    uint64_t n = coff < img->size ? img->size - coff : 0;
    if (n > s->cs)
        n = s->cs;
    memset(s->wbuf + n, 0, s->cs - n);
    return n ? img_read_backing(img, coff, s->wbuf, n) : 0;
}

/* One write inside the range of a single L2 table. */
static int qcow_write_span(struct img *img, uint64_t off, const uint8_t *p, size_t len)
{
    struct qcow *s = qcow_st(img);
    uint64_t l1i = off >> qcow_shift(s), l2_off;
    bool fresh, dirty = false;
    int r = qcow_prepare_l2(img, l1i, &fresh, &l2_off);
    while (r == 0 && len > 0) {
        uint64_t in = off & (s->cs - 1), idx = (off >> s->cb) & (s->l2n - 1);
        size_t n = s->cs - in < len ? (size_t)(s->cs - in) : len;
        uint64_t e = s->l2[idx];
        bool fresh_c = !e || (e & QCOW_COMPRESSED); /* gets a new cluster */
        uint64_t k = 1;
        /* Whole clusters in one write: new ones (appended, so consecutive) or allocated ones
         * at consecutive places. */
        while (in == 0 && (k + 1) * s->cs <= len && idx + k < s->l2n) {
            uint64_t e2 = s->l2[idx + k];
            if (fresh_c ? e2 && !(e2 & QCOW_COMPRESSED) : e2 != e + k * s->cs)
                break;
            k++;
        }
        if (k > 1) {
            uint64_t host = fresh_c ? u64_align_up(s->file_size, s->cs) : e;
            n = (size_t)(k * s->cs);
            r = qcow_dwrite(img, p, n, host, off);
            for (uint64_t i = 0; r == 0 && fresh_c && i < k; i++)
                s->l2[idx + i] = host + i * s->cs;
            dirty = dirty || fresh_c;
        } else if (e && !(e & QCOW_COMPRESSED)) {
            r = qcow_dwrite(img, p, n, e + in, off); /* allocated: overwrite in place */
        } else {
            if (n < s->cs)
                r = qcow_cow_fill(img, off - in, e);
            if (r == 0) {
                memcpy(s->wbuf + in, p, n);
                uint64_t noff = u64_align_up(s->file_size, s->cs);
                r = qcow_dwrite(img, s->wbuf, s->cs, noff, off - in);
                if (r == 0) {
                    s->l2[idx] = noff;
                    dirty = true;
                }
            }
        }
        off += n;
        p += n;
        len -= n;
    }
    if (r == 0 && dirty)
        r = qcow_commit_l2(img, l1i, l2_off, fresh);
    if (r < 0)
        s->l2_off = 0; /* the cached table may hold entries that never reached the disk */
    return r;
}

static int qcow_write(struct img *img, uint64_t off, const void *buf, size_t len)
{
    struct qcow *s = qcow_st(img);
    const uint8_t *p = buf;
    int r0 = qcow_crypt_ready(img);
    if (r0 < 0)
        return r0;
    while (len > 0) {
        uint64_t l1i = off >> qcow_shift(s);
        uint64_t end = (l1i + 1) << qcow_shift(s);
        size_t n = end - off < len ? (size_t)(end - off) : len;
        int r = qcow_write_span(img, off, p, n);
        if (r < 0)
            return r;
        off += n;
        p += n;
        len -= n;
    }
    return 0;
}

static int qcow_compressed_check(struct img *img, uint64_t off, size_t len)
{
    struct qcow *s = qcow_st(img);
    if (s->crypt)
        return qcow_crypt_compressed(img);
    if ((off & (s->cs - 1)) || len > s->cs || (len < s->cs && off + len != img->size))
        return img_error(img, -EINVAL, "compressed writes take one whole cluster");
    return 0;
}

/* Place the deflate stream z[0..zlen) of the cluster at off at the end of the file (sector
 * aligned), then point the L2 entry at it. */
static int qcow_compressed_place(struct img *img, uint64_t off, const void *z, size_t zlen)
{
    struct qcow *s = qcow_st(img);
    uint64_t l1i = off >> qcow_shift(s), l2_off;
    bool fresh;
    int r = qcow_prepare_l2(img, l1i, &fresh, &l2_off);
    if (r < 0)
        return r;
    uint64_t zoff = u64_align_up(s->file_size, 512);
    if (zoff >> (63 - s->cb)) {
        s->l2_off = 0;
        return img_error(img, -EFBIG, "file too large for a compressed cluster");
    }
    r = qcow_hwrite(img, z, zlen, zoff);
    if (r == 0) {
        s->l2[(off >> s->cb) & (s->l2n - 1)] =
            QCOW_COMPRESSED | (uint64_t)zlen << (63 - s->cb) | zoff;
        r = qcow_commit_l2(img, l1i, l2_off, fresh);
    }
    if (r < 0)
        s->l2_off = 0;
    return r;
}

static size_t qcow_compress_cluster(struct img *img, const void *in, size_t len, void *out,
                                    size_t cap)
{
    return zraw_deflate(in, len, out, cap);
}

static int qcow_write_compressed_z(struct img *img, uint64_t off, const void *buf, size_t len,
                                   const void *z, size_t zlen)
{
    int r = qcow_compressed_check(img, off, len);
    if (r < 0)
        return r;
    if (zlen >= qcow_st(img)->cs)
        return img_error(img, -EINVAL,
                         "a compressed cluster must be smaller than a "
                         "cluster");
    return zlen ? qcow_compressed_place(img, off, z, zlen) : qcow_write(img, off, buf, len);
}

/* ---- write zeroes ---- */

/* Does the host range [off, off + len) touch the header, the L1 table or the L2 table being
 * edited? A hostile L2 entry may point there; such a cluster is never punched or zeroed in
 * place (other L2 tables are not searched: an image whose data clusters overlap them is
 * already broken for ordinary writes too). */
static bool qcow_meta_overlap(const struct qcow *s, uint64_t off, uint64_t len, uint64_t l2_off)
{
    uint64_t end = off + len;
    return off < s->hdr_end || (off < s->l1_off + s->l1n * 8 && end > s->l1_off) ||
           (off < l2_off + s->l2n * 8 && end > l2_off);
}

/* Give the host space of an unlinked cluster back to the file system (best effort: without
 * hole punching it stays orphaned, as qcow has no refcounts to reuse it). A compressed cluster
 * gives back only the whole sectors inside its stream. */
static void qcow_release(struct img *img, uint64_t e, uint64_t l2_off)
{
    struct qcow *s = qcow_st(img);
    uint64_t off = e, end = e + s->cs;
    if (e & QCOW_COMPRESSED) {
        uint64_t zlen;
        qcow_zdesc(s, e, &off, &zlen);
        end = (off + zlen) & ~511ull;
        off = u64_align_up(off, 512);
    }
    if (end > s->file_size)
        end = s->file_size;
    if (end > off && !qcow_meta_overlap(s, off, end - off, l2_off))
        (void)src_discard(img->src, off, end - off);
}

/* Zero whole clusters [off, off + len) inside the range of one L2 table. Without a backing
 * file an unallocated cluster reads as zeros, so allocated ones are unlinked (entry 0). Under a
 * backing file the cluster must hold real zeros: an allocated one gets a hole punched in place
 * (or zeros written), an unallocated or compressed one a new cluster at the end of the file,
 * left as a sparse hole. Order: data (holes, the file's extension), fsync, L2 table, fsync, L1
 * entry; the space of unlinked clusters is released only after the table no longer points at
 * it, so a crash never leaves an entry pointing at a half-punched compressed stream. */
static int qcow_zero_span(struct img *img, uint64_t off, uint64_t len)
{
    struct qcow *s = qcow_st(img);
    bool backing = img->backing_name && img->backing_name[0];
    uint64_t l1i = off >> qcow_shift(s), l2_off;
    if (!backing && s->l1[l1i] == 0)
        return 0; /* no table: the whole range already reads as zeros */
    bool fresh;
    int r = qcow_prepare_l2(img, l1i, &fresh, &l2_off);
    if (r < 0)
        return r;
    uint64_t i0 = (off >> s->cb) & (s->l2n - 1), cnt = u64_div_round_up(len, s->cs);
    uint64_t *old = malloc(cnt * 8);
    if (!old) {
        s->l2_off = 0;
        return img_error(img, -ENOMEM, "out of memory");
    }
    memcpy(old, s->l2 + i0, cnt * 8);
    bool dirty = false;
    for (uint64_t k = 0; r == 0 && k < cnt; k++) {
        uint64_t e = s->l2[i0 + k];
        if (!backing) {
            dirty |= e != 0;
            s->l2[i0 + k] = 0;
        } else if (e && !(e & QCOW_COMPRESSED) && !qcow_meta_overlap(s, e, s->cs, l2_off)) {
            old[k] = 0; /* stays linked */
            if ((r = src_zero(img->src, e, s->cs, SRC_ZERO_MAY_PUNCH)) < 0)
                r = img_error(img, r, "write at 0x%llx: %s", ULL(e), src_errmsg(img->src, r));
        } else {
            uint64_t noff = u64_align_up(s->file_size, s->cs);
            s->l2[i0 + k] = noff;
            s->file_size = noff + s->cs;
            dirty = true;
        }
    }
    uint64_t fsize;
    if (r == 0 && dirty) {
        if ((r = src_size(img->src, &fsize)) == 0 && fsize < s->file_size)
            r = src_truncate(img->src, s->file_size);
        if (r < 0)
            r = img_error(img, r, "extending the file: %s", strerror(-r));
    }
    if (r == 0 && dirty)
        r = qcow_commit_l2(img, l1i, l2_off, fresh);
    if (r < 0)
        s->l2_off = 0; /* the cached table may hold entries that never reached the disk */
    for (uint64_t k = 0; r == 0 && k < cnt; k++)
        if (old[k])
            qcow_release(img, old[k], l2_off);
    free(old);
    s->c_entry = 0;
    return r;
}

static int qcow_write_zeroes(struct img *img, uint64_t off, uint64_t len)
{
    struct qcow *s = qcow_st(img);
    static const uint8_t zero[1 << 16];
    while (len > 0 && s->crypt) {
        /* Encrypted: zeros are data like any other (a hole would decrypt to garbage). */
        size_t n = len < sizeof zero ? (size_t)len : sizeof zero;
        int r = qcow_write(img, off, zero, n);
        if (r < 0)
            return r;
        off += n;
        len -= n;
    }
    while (len > 0) {
        uint64_t in = off & (s->cs - 1), cend = off - in + s->cs;
        uint64_t end = off + len, stop = cend < end ? cend : end;
        int r;
        if (in || (stop < cend && stop < img->size)) {
            /* Part of a cluster: real zeros, copy-on-write as any write. Without a backing
             * file an unallocated cluster already reads as zeros. */
            uint64_t e = 0, run;
            bool bk = img->backing_name && img->backing_name[0];
            r = bk ? 0 : qcow_lookup(img, off, &e, &run);
            if (r == 0 && (bk || e))
                r = qcow_write(img, off, zero, (size_t)(stop - off));
        } else {
            /* Whole clusters up to the end of this L2 table's range (a cluster that runs past
             * the end of the image counts as whole when the range reaches that end). */
            uint64_t tend = ((off >> qcow_shift(s)) + 1) << qcow_shift(s);
            uint64_t lim = end < tend ? end : tend;
            stop = lim >= img->size ? lim : lim & ~(s->cs - 1);
            r = qcow_zero_span(img, off, stop - off);
        }
        if (r < 0)
            return r;
        len -= stop - off;
        off = stop;
    }
    return 0;
}

static int qcow_flush(struct img *img)
{
    return qcow_barrier(img);
}

/* ---- create ---- */

static int qcow_create(struct img_create_ctx *c, const struct img_create_req *req,
                       struct img_err *err)
{
    const char *path = img_create_path(c);
    unsigned crypt;
    int r = qcrypt_create_method("qcow", path, req->opts, false, &crypt, err);
    if (r < 0)
        return r;
    if ((r = img_opts_check_all_taken(req->opts, "qcow", err)) < 0 ||
        (crypt && (r = qcrypt_check_password("qcow", path, err)) < 0))
        return r;
    /* Like qemu-img: the size is rounded up to whole sectors. */
    if (req->size == 0 || req->size > (1ull << 62))
        return img_drv_error(&img_driver_qcow, err, -EINVAL, "size %llu out of range",
                             ULL(req->size));
    uint64_t size = u64_align_up(req->size, 512);
    size_t blen = req->backing_file ? strlen(req->backing_file) : 0;
    if (blen > QCOW_MAX_BACKING)
        return img_drv_error(&img_driver_qcow, err, -EINVAL,
                             "backing file name longer than %u bytes", QCOW_MAX_BACKING);
    /* qemu's defaults: 512-byte clusters over a backing file (no COW copying), else 4 KiB. */
    unsigned cb = blen ? 9 : 12, l2b = blen ? 12 : 9;
    unsigned shift = cb + l2b;
    uint64_t l1n = (size + (1ull << shift) - 1) >> shift;
    if (l1n * 8 > QCOW_MAX_L1_BYTES)
        return img_drv_error(&img_driver_qcow, err, -EFBIG, "size %llu is too large", ULL(size));
    uint64_t l1_off = u64_align_up(QCOW_HDR + blen, 8);
    uint64_t total = l1_off + u64_align_up(l1n * 8, 512); /* L1 in whole sectors, as qemu */
    uint8_t *b = calloc(1, total);
    if (!b)
        return err_set(err, -ENOMEM, "out of memory");
    be32_store(b, QCOW_MAGIC);
    be32_store(b + 4, 1);
    if (blen) {
        be64_store(b + 8, QCOW_HDR);
        be32_store(b + 16, (uint32_t)blen);
        memcpy(b + QCOW_HDR, req->backing_file, blen);
    }
    be64_store(b + QCOW_OFF_SIZE, size);
    b[32] = (uint8_t)cb;
    b[33] = (uint8_t)l2b;
    be32_store(b + 36, crypt);
    be64_store(b + 40, l1_off);
    struct img_src *s;
    if ((r = img_create_src(c, &s)) < 0) {
        free(b);
        return r;
    }
    r = src_pwrite(s, b, total, 0);
    free(b);
    if (r < 0)
        return img_drv_error(&img_driver_qcow, err, r, "writing %s: %s", path, src_errmsg(s, r));
    return 0;
}

/* ---- grow ---- */

/* Zero [from, to) of the guest view in this layer (to hide a longer backing file). */
static int qcow_zero_range(struct img *img, uint64_t from, uint64_t to)
{
    static const uint8_t zero[65536];
    while (from < to) {
        size_t n = to - from < sizeof zero ? (size_t)(to - from) : sizeof zero;
        int r = qcow_write(img, from, zero, n);
        if (r < 0)
            return r;
        from += n;
    }
    return 0;
}

/* The backing image, for its length: the caller's, or (resize opens no chain) this image
 * opened again read-only with its chain, so that the core's rules for following backing names
 * apply (--untrusted, protocols, non-regular files, loops). *own is what to close. */
static int qcow_backing_for_grow(struct img *img, struct img **b, struct img **own)
{
    *b = img->backing;
    *own = NULL;
    if (*b || !img->backing_name || !img->backing_name[0])
        return 0;
    struct img_err err = {0};
    *own = img_open(img->path, img->drv->name, IMG_OPEN_BACKING | (img->flags & IMG_OPEN_UNTRUSTED),
                    &err);
    if (!*own)
        return img_error(img, err.code ? err.code : -EIO,
                         "growing needs the length of "
                         "the backing file, which could not be opened: %s",
                         err.msg);
    *b = (*own)->backing;
    return 0;
}

/* Make the guest range [old, size) of a grown image read as zeros in this layer before the
 * header says it exists: the bytes of a partial last cluster past the old end, stray L2
 * entries past it, and whatever a longer backing file holds there (parts where the backing
 * chain reads zeros anyway need no clusters). */
static int qcow_hide_new_area(struct img *img, uint64_t old, uint64_t size, struct img *b)
{
    struct qcow *s = qcow_st(img);
    uint64_t cend = u64_align_up(old, s->cs), e, run;
    int r = 0;
    if (cend > old && (r = qcow_lookup(img, old, &e, &run)) == 0 && e)
        r = qcow_zero_range(img, old, cend < size ? cend : size);
    uint64_t l1i = (old - 1) >> qcow_shift(s);
    if (r == 0 && cend < size && s->l1[l1i] && (r = qcow_load_l2(img, s->l1[l1i])) == 0) {
        bool stray = false;
        for (uint64_t i = (cend >> s->cb) & (s->l2n - 1); i && i < s->l2n; i++) {
            stray |= s->l2[i] != 0;
            s->l2[i] = 0;
        }
        if (stray)
            r = qcow_commit_l2(img, l1i, s->l1[l1i], false);
    }
    uint64_t end = b && b->size > old ? (b->size < size ? b->size : size) : old;
    for (uint64_t off = old; r == 0 && off < end;) {
        struct img_bs bs;
        if ((r = img_block_status(b, off, end - off, &bs)) < 0) {
            img->err = b->err;
            break;
        }
        if (!(bs.flags & IMG_BS_ZERO))
            r = qcow_zero_range(img, off, off + bs.len);
        off += bs.len;
    }
    return r;
}

/* Grow. The new L1 (when it must get longer) is written at the end of the file and switched
 * to with the old size; then the new area is made to read as zeros; the size changes last. A
 * crash on the way leaves the old size and unreferenced space. */
static int qcow_truncate(struct img *img, uint64_t size, enum img_prealloc prealloc)
{
    struct qcow *s = qcow_st(img);
    if (prealloc != IMG_PREALLOC_OFF)
        return img_error(img, -ENOTSUP, "preallocation is not supported");
    if (s->crypt)
        return img_error(img, -ENOTSUP, "encryption not supported yet");
    if (size < img->size)
        return img_error(img, -ENOTSUP, "shrinking is not supported");
    if (size % 512)
        return img_error(img, -EINVAL, "size must be a multiple of 512 bytes");
    unsigned shift = qcow_shift(s);
    if (size > UINT64_MAX - (1ull << shift))
        return img_error(img, -EFBIG, "size %llu is too large", ULL(size));
    uint64_t l1n = (size + (1ull << shift) - 1) >> shift;
    if (l1n * 8 > QCOW_MAX_L1_BYTES)
        return img_error(img, -EFBIG,
                         "size %llu is too large for cluster_bits %u and "
                         "l2_bits %u",
                         ULL(size), s->cb, s->l2b);
    struct img *b, *own;
    int r = qcow_backing_for_grow(img, &b, &own);
    if (r < 0)
        return r;
    uint8_t h[24]; /* header bytes 24..47: size, cluster_bits, l2_bits, crypt, l1 offset */
    memset(h, 0, sizeof h);
    be64_store(h, img->size);
    h[8] = (uint8_t)s->cb;
    h[9] = (uint8_t)s->l2b;
    be32_store(h + 12, s->crypt);
    be64_store(h + 16, s->l1_off);
    if (l1n > s->l1n) {
        /* The L1 is hemmed in by the first L2 table or cluster: write a longer copy at the
         * end of the file, sync it, then switch the header to it in one sector write. */
        uint64_t bytes = u64_align_up(l1n * 8, 512);
        uint8_t *raw = calloc(1, bytes);
        uint64_t *nl1 = calloc(l1n, 8);
        if (!raw || !nl1) {
            free(raw);
            free(nl1);
            img_close(own);
            return img_error(img, -ENOMEM, "out of memory");
        }
        memcpy(nl1, s->l1, s->l1n * 8);
        for (uint64_t i = 0; i < s->l1n; i++)
            be64_store(raw + 8 * i, s->l1[i]);
        uint64_t noff = u64_align_up(s->file_size, s->cs);
        r = qcow_hwrite(img, raw, bytes, noff);
        free(raw);
        if (r == 0)
            r = qcow_barrier(img);
        be64_store(h + 16, noff);
        if (r == 0 && (r = qcow_hwrite(img, h, sizeof h, 24)) == 0)
            r = qcow_barrier(img);
        if (r < 0) {
            free(nl1);
            img_close(own);
            return r;
        }
        free(s->l1);
        s->l1 = nl1;
        s->l1n = l1n;
        s->l1_off = noff;
    }
    /* Copy-on-write of the cluster at the old end reads the backing file through img. */
    img->backing = b;
    r = qcow_hide_new_area(img, img->size, size, b);
    if (own)
        img->backing = NULL;
    img_close(own);
    be64_store(h, size);
    if (r == 0)
        r = qcow_barrier(img);
    if (r == 0 && (r = qcow_hwrite(img, h, 8, 24)) == 0)
        r = qcow_barrier(img);
    if (r == 0)
        img->size = size;
    return r;
}

/* ---- info and layout ---- */

static int qcow_get_info(struct img *img, struct img_info *info)
{
    struct qcow *s = qcow_st(img);
    info->cluster_size = (uint32_t)s->cs;
    info->encrypted = s->crypt != 0;
    if (s->crypt)
        img_info_str(info, "encrypt.format", "aes");
    return 0;
}

struct qcow_rv {
    struct img_region *v;
    size_t n, cap;
};

static int qcow_rv_add(struct qcow_rv *rv, uint64_t off, uint64_t len, enum img_region_kind k)
{
    struct img_region *last = rv->n ? &rv->v[rv->n - 1] : NULL;
    if (last && last->kind == k && last->off + last->len == off) {
        last->len += len; /* appends are mostly contiguous: merge as we go */
        return 0;
    }
    if (rv->n == rv->cap) {
        size_t nc = rv->cap ? 2 * rv->cap : 64;
        struct img_region *nv = realloc(rv->v, nc * sizeof *nv);
        if (!nv)
            return -ENOMEM;
        rv->v = nv;
        rv->cap = nc;
    }
    rv->v[rv->n++] = (struct img_region){off, len, k};
    return 0;
}

static int qcow_region_cmp(const void *a, const void *b)
{
    const struct img_region *x = a, *y = b;
    return x->off < y->off ? -1 : x->off > y->off;
}

static int qcow_layout(struct img *img, struct img_region **out, size_t *n)
{
    struct qcow *s = qcow_st(img);
    struct qcow_rv rv = {0};
    int r = qcow_rv_add(&rv, 0, s->hdr_end, IMG_R_HEADER);
    if (r == 0)
        r = qcow_rv_add(&rv, s->l1_off, s->l1n * 8, IMG_R_L1);
    for (uint64_t i = 0; r == 0 && i < s->l1n; i++) {
        if (!s->l1[i])
            continue;
        r = qcow_rv_add(&rv, s->l1[i], s->l2n * 8, IMG_R_L2);
        if (r == 0)
            r = qcow_load_l2(img, s->l1[i]);
        for (uint64_t j = 0; r == 0 && j < s->l2n; j++) {
            uint64_t e = s->l2[j], zoff, zlen;
            if (e == 0)
                continue;
            if (e & QCOW_COMPRESSED) {
                qcow_zdesc(s, e, &zoff, &zlen);
                r = qcow_rv_add(&rv, zoff, zlen, IMG_R_COMPRESSED);
            } else {
                r = qcow_rv_add(&rv, e, s->cs, IMG_R_DATA);
            }
        }
    }
    if (r < 0) {
        free(rv.v);
        return r == -ENOMEM ? img_error(img, r, "out of memory") : r;
    }
    qsort(rv.v, rv.n, sizeof *rv.v, qcow_region_cmp);
    size_t m = 0;
    for (size_t i = 0; i < rv.n; i++) {
        if (m && rv.v[m - 1].kind == rv.v[i].kind &&
            rv.v[m - 1].off + rv.v[m - 1].len == rv.v[i].off)
            rv.v[m - 1].len += rv.v[i].len;
        else
            rv.v[m++] = rv.v[i];
    }
    *out = rv.v;
    *n = m;
    return 0;
}

/* ---- backing chains ---- */

/* The name lives between the 48-byte header and the first table. The new name goes to bytes
 * the old one does not use when the area has room (then a barrier and the 12-byte switch of
 * offset and length in the header), else over the old one before the switch. */
static int qcow_set_backing(struct img *img, const char *name, const char *fmt)
{
    struct qcow *s = qcow_st(img);
    (void)fmt; /* qcow records no backing format */
    uint64_t nl = name ? strlen(name) : 0, area = s->l1_off;
    if (nl > QCOW_MAX_BACKING)
        return img_error(img, -EINVAL, "backing file name longer than %u bytes", QCOW_MAX_BACKING);
    for (uint64_t i = 0; i < s->l1n; i++)
        if (s->l1[i] && s->l1[i] < area)
            area = s->l1[i];
    uint8_t h[QCOW_HDR];
    int r = src_pread(img->src, h, QCOW_HDR, 0);
    if (r < 0)
        return img_error(img, r, "reading the header: %s", strerror(-r));
    uint64_t boff = be64_load(h + 8), bend = boff ? boff + be32_load(h + 16) : QCOW_HDR;
    uint64_t pos = QCOW_HDR;
    if (nl && boff && QCOW_HDR + nl > boff)
        pos = bend + nl <= area ? bend : QCOW_HDR; /* after the old name, or over it */
    if (nl && pos + nl > area)
        return img_error(img, -ENOSPC,
                         "no room for a %llu-byte backing file name "
                         "before the L1 table (%llu bytes)",
                         ULL(nl), ULL(area - QCOW_HDR));
    char *copy = name ? strdup(name) : NULL;
    if (name && !copy)
        return img_error(img, -ENOMEM, "out of memory");
    if (nl && ((r = src_pwrite(img->src, name, nl, pos)) < 0 || (r = src_flush(img->src)) < 0))
        goto fail;
    be64_store(h + 8, nl ? pos : 0);
    be32_store(h + 16, (uint32_t)nl);
    if ((r = src_pwrite(img->src, h + 8, 12, 8)) < 0 || (r = src_flush(img->src)) < 0)
        goto fail;
    s->hdr_end = nl ? pos + nl : QCOW_HDR;
    free(img->backing_name);
    img->backing_name = copy;
    return 0;
fail:
    free(copy);
    return img_error(img, r, "writing the backing file name: %s", strerror(-r));
}

static const struct img_opt_desc qcow_create_opts[] = {
    {"encryption", "bool", "legacy AES encryption (weak; same as encrypt.format=aes)"},
    {"encrypt.format", "enum:aes", "encryption format: aes (legacy AES-128-CBC, weak)"},
    {"encrypt.key-secret", "string",
     "accepted for qemu-img compatibility; the password comes "
     "from --password-file, --password-env or a prompt"},
    {NULL, NULL, NULL},
};

const struct img_driver img_driver_qcow = {
    .abi = IMG_DRIVER_ABI,
    .name = "qcow",
    .desc = "QEMU qcow version 1",
    .priv_size = sizeof(struct qcow),
    .caps = IMG_CAP_BACKING | IMG_CAP_ZERO_INIT | IMG_CAP_SOURCES,
    .create_opts = qcow_create_opts,
    .probe = qcow_probe,
    .open = qcow_open,
    .close = qcow_close,
    .get_info = qcow_get_info,
    .read = qcow_read,
    .block_status = qcow_block_status,
    .write = qcow_write,
    .write_zeroes = qcow_write_zeroes,
    .flush = qcow_flush,
    .create = qcow_create,
    .truncate = qcow_truncate,
    .layout = qcow_layout,
    .set_backing = qcow_set_backing,
    .unlock = qcow_crypt_ready,
    .compress_cluster = qcow_compress_cluster,
    .write_compressed_z = qcow_write_compressed_z,
    .head_size = qcow_head_size,
};

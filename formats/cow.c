/* cow.c: the legacy QEMU "cow" format driver (removed from QEMU in 2.2; dimg keeps it): probe,
 * open (the x86-64 header layout, or the i386 one when only its sectorsize field says 512),
 * reads and block status from the sector bitmap, writes (data, fsync, then bitmap bits), create
 * (header, zeroed bitmap, backing name and its mtime), grow (in place within the bitmap's
 * slack, else by rewriting the image next to itself), layout.
 *
 * Layout (FORMATS.md §3): header (1056 bytes on x86-64, 1048 on i386), then one bit per
 * 512-byte sector (LSB first; 1 = the sector lives in this file), then the data area at the
 * next 512-byte boundary, sector n at data_off + n * 512 (sparse). The bitmap can be large
 * (1 bit per sector), so it is read through a small window, never held whole.
 * Talks to: core/io.c, core/img.c (img_read_backing).
 */
#include "core/bytes.h"
#include "core/io.h"
#include "formats/drivers.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define COW_MAGIC 0x4f4f4f4du
#define COW_VERSION 2u
#define COW_NAME_LEN 1024u
#define COW_HDR64 1056u           /* x86-64 struct size: size at 1040, sectorsize at 1048 */
#define COW_HDR32 1048u           /* i386 struct size: size at 1036, sectorsize at 1044 */
#define COW_MAX_SIZE (1ull << 50) /* 1 PiB: the bitmap stays <= 256 GiB */
#define COW_WIN 4096u             /* bitmap window: 32768 sectors (16 MiB of guest data) */
#define ULL(x) ((unsigned long long)(x))

struct cow {
    uint64_t hsize;      /* header size: where the bitmap starts */
    uint64_t size_field; /* offset of the size field (for grow) */
    uint64_t sectors;
    uint64_t bm_len; /* bitmap bytes */
    uint64_t data_off;
    uint64_t win_off; /* bitmap byte index of the window; UINT64_MAX = empty */
    uint8_t win[COW_WIN];
};

static struct cow *cow_st(struct img *img)
{
    return img->priv;
}

static uint64_t cow_data_off(uint64_t hsize, uint64_t sectors)
{
    return u64_align_up(hsize + u64_div_round_up(sectors, 8), 512);
}

static int cow_probe(const uint8_t *buf, size_t len)
{
    if (len < 8 || be32_load(buf) != COW_MAGIC)
        return 0;
    return be32_load(buf + 4) == COW_VERSION ? 100 : 0;
}

static int cow_open(struct img *img, unsigned flags)
{
    struct cow *s = cow_st(img);
    uint8_t h[COW_HDR64];
    uint64_t fsize;
    int r = io_file_size(img->fd, &fsize);
    if (r == 0)
        r = io_pread_zero(img->fd, h, sizeof h, 0);
    if (r < 0)
        return img_error(img, r, "cow: reading the header: %s", strerror(-r));
    if (fsize < 8 || be32_load(h) != COW_MAGIC)
        return img_error(img, -EINVAL, "cow: magic: not a cow image");
    if (be32_load(h + 4) != COW_VERSION)
        return img_error(img, -EINVAL, "cow: version %u is not 2", be32_load(h + 4));
    /* The header is a C struct with host alignment: x86-64 pads before the u64 size. */
    if (be32_load(h + 1048) == 512) {
        s->hsize = COW_HDR64;
        s->size_field = 1040;
    } else if (be32_load(h + 1044) == 512) {
        s->hsize = COW_HDR32;
        s->size_field = 1036;
    } else {
        return img_error(img, -EINVAL, "cow: sectorsize %u is not 512", be32_load(h + 1048));
    }
    if (fsize < s->hsize)
        return img_error(img, -EINVAL, "cow: header: file is shorter than %llu bytes",
                         ULL(s->hsize));
    uint64_t size = be64_load(h + s->size_field);
    if (size > COW_MAX_SIZE)
        return img_error(img, -EFBIG, "cow: size %llu is too large (limit %llu)", ULL(size),
                         ULL(COW_MAX_SIZE));
    if (!memchr(h + 8, 0, COW_NAME_LEN))
        return img_error(img, -EINVAL,
                         "cow: backing file name is not NUL-terminated within "
                         "%u bytes",
                         COW_NAME_LEN);
    s->sectors = size / 512; /* like QEMU: a partial last sector is not part of the disk */
    s->bm_len = u64_div_round_up(s->sectors, 8);
    s->data_off = cow_data_off(s->hsize, s->sectors);
    s->win_off = UINT64_MAX;
    if (h[8] && !(img->backing_name = strdup((const char *)h + 8)))
        return img_error(img, -ENOMEM, "cow: out of memory");
    img->size = s->sectors * 512;
    return 0;
}

/* ---- bitmap ---- */

/* Bitmap byte i through the window; past the end of the file the bitmap reads as zeros. */
static int cow_bm_byte(struct img *img, uint64_t i, uint8_t *out)
{
    struct cow *s = cow_st(img);
    if (s->win_off == UINT64_MAX || i < s->win_off || i >= s->win_off + COW_WIN) {
        uint64_t w = i / COW_WIN * COW_WIN;
        s->win_off = UINT64_MAX;
        int r = io_pread_zero(img->fd, s->win, COW_WIN, s->hsize + w);
        if (r < 0)
            return img_error(img, r, "cow: reading the bitmap: %s", strerror(-r));
        s->win_off = w;
    }
    *out = s->win[i - s->win_off];
    return 0;
}

/* State of sector n and how many sectors from n (at most max) share it. */
static int cow_run(struct img *img, uint64_t n, uint64_t max, bool *set, uint64_t *run)
{
    uint8_t b;
    int r = cow_bm_byte(img, n / 8, &b);
    if (r < 0)
        return r;
    *set = (b >> (n % 8)) & 1;
    uint64_t k = 0;
    while (k < max) {
        uint64_t sec = n + k;
        if (sec % 8 == 0 && max - k >= 8) {
            /* Whole bytes at a time, straight from the window, while all-set or all-clear. */
            if ((r = cow_bm_byte(img, sec / 8, &b)) < 0)
                return r;
            struct cow *s = cow_st(img);
            uint8_t fill = *set ? 0xff : 0x00;
            uint64_t i = sec / 8 - s->win_off, k0 = k;
            while (i < COW_WIN && max - k >= 8 && s->win[i] == fill) {
                i++;
                k += 8;
            }
            if (k != k0)
                continue;
        } else if ((r = cow_bm_byte(img, sec / 8, &b)) < 0) {
            return r;
        }
        if (((b >> (sec % 8)) & 1) != *set)
            break;
        k++;
    }
    *run = k;
    return 0;
}

/* Set (on) or clear the bits of sectors [n, n + cnt) in the bitmap at hsize of file fd. */
static int cow_bm_put(int fd, uint64_t hsize, uint64_t n, uint64_t cnt, bool on)
{
    uint8_t buf[COW_WIN];
    while (cnt > 0) {
        uint64_t first = n / 8, last = (n + cnt - 1) / 8;
        if (last - first >= COW_WIN)
            last = first + COW_WIN - 1;
        size_t nb = (size_t)(last - first + 1);
        int r = io_pread_zero(fd, buf, nb, hsize + first);
        uint64_t done = 0;
        for (uint64_t sec = n; r == 0 && sec < n + cnt && sec / 8 <= last; sec++, done++) {
            uint8_t bit = (uint8_t)(1u << (sec % 8));
            buf[sec / 8 - first] = on ? buf[sec / 8 - first] | bit : buf[sec / 8 - first] & ~bit;
        }
        if (r == 0)
            r = io_pwrite_all(fd, buf, nb, hsize + first);
        if (r < 0)
            return r;
        n += done;
        cnt -= done;
    }
    return 0;
}

/* Set the bits of sectors [n, n + cnt). */
static int cow_bm_set(struct img *img, uint64_t n, uint64_t cnt)
{
    struct cow *s = cow_st(img);
    int r = cow_bm_put(img->fd, s->hsize, n, cnt, true);
    s->win_off = UINT64_MAX;
    return r < 0 ? img_error(img, r, "cow: writing the bitmap: %s", strerror(-r)) : 0;
}

/* ---- read ---- */

static int cow_read(struct img *img, uint64_t off, void *buf, size_t len)
{
    struct cow *s = cow_st(img);
    uint8_t *p = buf;
    while (len > 0) {
        uint64_t n = off / 512, end = u64_div_round_up(off + len, 512), run;
        bool set;
        int r = cow_run(img, n, end - n, &set, &run);
        if (r < 0)
            return r;
        uint64_t stop = (n + run) * 512;
        size_t k = stop - off < len ? (size_t)(stop - off) : len;
        if (set) {
            r = io_pread_zero(img->fd, p, k, s->data_off + off);
            if (r < 0)
                r = img_error(img, r, "cow: read at %llu: %s", ULL(off), strerror(-r));
        } else {
            r = img_read_backing(img, off, p, k);
        }
        if (r < 0)
            return r;
        p += k;
        off += k;
        len -= k;
    }
    return 0;
}

static int cow_block_status(struct img *img, uint64_t off, uint64_t len, struct img_bs *bs)
{
    struct cow *s = cow_st(img);
    uint64_t n = off / 512, end = u64_div_round_up(off + len, 512), run;
    bool set;
    int r = cow_run(img, n, end - n, &set, &run);
    if (r < 0)
        return r;
    uint64_t l = (n + run) * 512 - off;
    bs->len = l < len ? l : len;
    bs->flags = set ? IMG_BS_DATA | IMG_BS_ALLOCATED | IMG_BS_OFFSET_VALID : 0;
    bs->host_off = set ? s->data_off + off : 0;
    return 0;
}

/* ---- write ---- */

/* Read-modify-write of a partial sector: its current content (this file, backing or zeros)
 * with [in, in + k) replaced. */
static int cow_write_partial(struct img *img, uint64_t sec, size_t in, const uint8_t *p, size_t k)
{
    struct cow *s = cow_st(img);
    uint8_t b[512];
    int r = cow_read(img, sec * 512, b, 512);
    if (r < 0)
        return r;
    memcpy(b + in, p, k);
    r = io_pwrite_all(img->fd, b, 512, s->data_off + sec * 512);
    return r < 0 ? img_error(img, r, "cow: write: %s", strerror(-r)) : 0;
}

static int cow_write(struct img *img, uint64_t off, const void *buf, size_t len)
{
    struct cow *s = cow_st(img);
    const uint8_t *p = buf;
    uint64_t n0 = off / 512, n1 = u64_div_round_up(off + len, 512);
    int r = 0;
    /* Data first: the head and tail sectors merged with their old content. */
    size_t head = off % 512;
    if (head || len < 512) {
        size_t k = 512 - head < len ? 512 - head : len;
        if ((r = cow_write_partial(img, n0, head, p, k)) < 0)
            return r;
        p += k;
        off += k;
        len -= k;
    }
    size_t mid = len / 512 * 512;
    if (mid && (r = io_pwrite_all(img->fd, p, mid, s->data_off + off)) < 0)
        return img_error(img, r, "cow: write at %llu: %s", ULL(off), strerror(-r));
    p += mid;
    off += mid;
    len -= mid;
    if (len && (r = cow_write_partial(img, off / 512, 0, p, len)) < 0)
        return r;
    /* Then the bitmap, once the data is on disk. */
    uint64_t run;
    bool set;
    if ((r = cow_run(img, n0, n1 - n0, &set, &run)) < 0)
        return r;
    if (set && run == n1 - n0)
        return 0; /* every sector already present: nothing to record */
    if ((r = io_sync(img->fd)) < 0)
        return img_error(img, r, "cow: fsync: %s", strerror(-r));
    return cow_bm_set(img, n0, n1 - n0);
}

static int cow_flush(struct img *img)
{
    int r = io_sync(img->fd);
    return r < 0 ? img_error(img, r, "cow: flush: %s", strerror(-r)) : 0;
}

/* ---- create, grow ---- */

static int cow_create(const char *path, const struct img_create_req *req, struct img_err *err)
{
    int r = img_opts_check_all_taken(req->opts, "cow", err);
    if (r < 0)
        return r;
    if (req->size > COW_MAX_SIZE)
        return err_set(err, -EFBIG, "cow: size %llu is too large (limit %llu)", ULL(req->size),
                       ULL(COW_MAX_SIZE));
    uint64_t size = u64_align_up(req->size, 512);
    const char *bf = req->backing_file;
    if (bf && strlen(bf) >= COW_NAME_LEN)
        return err_set(err, -EINVAL, "cow: backing file name longer than %u bytes",
                       COW_NAME_LEN - 1);
    uint8_t h[COW_HDR64];
    memset(h, 0, sizeof h);
    be32_store(h, COW_MAGIC);
    be32_store(h + 4, COW_VERSION);
    if (bf && *bf) {
        memcpy(h + 8, bf, strlen(bf));
        /* The backing file's mtime, as QEMU recorded it (never checked on open). */
        char *dir = io_dirname(path), *full = dir ? io_path_join(dir, bf) : NULL;
        struct stat st;
        if (full && stat(full, &st) == 0)
            be32_store(h + 1032, (uint32_t)st.st_mtime);
        free(dir);
        free(full);
    }
    be64_store(h + 1040, size);
    be32_store(h + 1048, 512);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return err_set(err, -errno, "%s: %s", path, strerror(errno));
    r = io_pwrite_all(fd, h, sizeof h, 0);
    /* The bitmap is all zeros: a sparse extension of the file, as QEMU's truncate did. */
    if (r == 0 && ftruncate(fd, (off_t)(COW_HDR64 + u64_div_round_up(size / 512, 8))) < 0)
        r = -errno;
    if (r == 0)
        r = io_sync(fd);
    if (close(fd) < 0 && r == 0)
        r = -errno;
    if (r < 0) {
        unlink(path);
        return err_set(err, r, "cow: writing %s: %s", path, strerror(-r));
    }
    return 0;
}

/* Sectors of the backing file (rounded up), or 0 without one. resize opens no chain, so the
 * image is opened again read-only with its chain: the core's rules for following backing
 * names apply (--untrusted, protocols, non-regular files, loops). */
static int cow_backing_sectors(struct img *img, uint64_t *sectors)
{
    *sectors = 0;
    if (img->backing) {
        *sectors = u64_div_round_up(img->backing->size, 512);
        return 0;
    }
    if (!img->backing_name || !img->backing_name[0])
        return 0;
    struct img_err err = {0};
    struct img *self = img_open(img->path, img->drv->name,
                                IMG_OPEN_BACKING | (img->flags & IMG_OPEN_UNTRUSTED), &err);
    if (!self)
        return img_error(img, err.code ? err.code : -EIO,
                         "cow: growing needs the length of "
                         "the backing file, which could not be opened: %s",
                         err.msg);
    *sectors = u64_div_round_up(self->backing->size, 512);
    img_close(self);
    return 0;
}

/* Copy the sectors present in the old image to their place in the new data area (zero chunks
 * stay holes in the new, sparse file). */
static int cow_copy_data(struct img *img, int fd, uint64_t new_data_off)
{
    struct cow *s = cow_st(img);
    enum { CHUNK = 1 << 16 };
    static const uint8_t zero[CHUNK];
    uint8_t *buf = malloc(CHUNK);
    if (!buf)
        return -ENOMEM;
    int r = 0;
    for (uint64_t sec = 0; r == 0 && sec < s->sectors;) {
        uint64_t run;
        bool set;
        if ((r = cow_run(img, sec, s->sectors - sec, &set, &run)) < 0)
            break;
        for (uint64_t off = sec * 512, end = (sec + run) * 512; set && r == 0 && off < end;) {
            size_t n = end - off < CHUNK ? (size_t)(end - off) : CHUNK;
            r = io_pread_zero(img->fd, buf, n, s->data_off + off);
            if (r == 0 && memcmp(buf, zero, n) != 0)
                r = io_pwrite_all(fd, buf, n, new_data_off + off);
            off += n;
        }
        sec += run;
    }
    free(buf);
    return r;
}

/* Grow past the bitmap's slack. The data area starts right after the bitmap, so a longer
 * bitmap moves every data sector, and the header's size alone decides where the data area is:
 * no single write can switch from the old positions to the new ones, and the two overlap, so
 * no in-place order keeps the image valid while its data moves. Instead the grown image is
 * written whole to NAME.part next to the original (header with the new size, the old bitmap,
 * the bits of new sectors, the present sectors at their new offsets), synced and renamed over
 * the original, keeping its mode (and owner, where allowed). A crash leaves the original as it
 * was. The image's fd then follows the new file. Hard links to the old file keep the old one. */
static int cow_grow_copy(struct img *img, uint64_t sectors, uint64_t zero_to)
{
    struct cow *s = cow_st(img);
    struct stat st;
    if (fstat(img->fd, &st) < 0)
        return img_error(img, -errno, "cow: %s", strerror(errno));
    char *real = realpath(img->path, NULL); /* rename over a symlink's target, not the link */
    if (!real)
        return img_error(img, -errno, "cow: %s: %s", img->path, strerror(errno));
    struct io_tmpfile t;
    int r = io_tmp_create(&t, real);
    free(real);
    if (r < 0)
        return img_error(img, r, "cow: creating %s.part: %s", img->path, strerror(-r));
    if (fchmod(t.fd, st.st_mode & 07777) < 0)
        r = -errno;
    /* The owner is kept where we may (root); otherwise the file becomes ours, as with cp. */
    if (r == 0 && fchown(t.fd, st.st_uid, st.st_gid) < 0 && errno != EPERM)
        r = -errno;
    uint64_t data_off = cow_data_off(s->hsize, sectors), bm_len = u64_div_round_up(sectors, 8);
    uint8_t h[COW_HDR64], win[COW_WIN];
    if (r == 0)
        r = io_pread_zero(img->fd, h, s->hsize, 0);
    if (r == 0) {
        be64_store(h + s->size_field, sectors * 512);
        r = io_pwrite_all(t.fd, h, s->hsize, 0);
    }
    /* The old bitmap, all-zero windows left as holes. */
    for (uint64_t i = 0; r == 0 && i < s->bm_len; i += COW_WIN) {
        size_t n = s->bm_len - i < COW_WIN ? (size_t)(s->bm_len - i) : COW_WIN;
        static const uint8_t zero[COW_WIN];
        r = io_pread_zero(img->fd, win, n, s->hsize + i);
        if (r == 0 && memcmp(win, zero, n) != 0)
            r = io_pwrite_all(t.fd, win, n, s->hsize + i);
    }
    /* Bits past the old end: clear (a hostile file may have set some in its last byte), then
     * set where a longer backing file must be hidden (the sparse data area reads zeros). */
    if (r == 0 && s->sectors % 8)
        r = cow_bm_put(t.fd, s->hsize, s->sectors, 8 - s->sectors % 8, false);
    if (r == 0 && zero_to > s->sectors)
        r = cow_bm_put(t.fd, s->hsize, s->sectors, zero_to - s->sectors, true);
    if (r == 0)
        r = cow_copy_data(img, t.fd, data_off);
    /* At least header and bitmap long, as create makes it. */
    uint64_t fsize;
    if (r == 0 && (r = io_file_size(t.fd, &fsize)) == 0 && fsize < s->hsize + bm_len &&
        ftruncate(t.fd, (off_t)(s->hsize + bm_len)) < 0)
        r = -errno;
    int nfd = -1;
    if (r == 0 && (nfd = fcntl(t.fd, F_DUPFD_CLOEXEC, 0)) < 0)
        r = -errno;
    if (r < 0) {
        io_tmp_abort(&t);
        return img_error(img, r, "cow: writing the grown image: %s", strerror(-r));
    }
    if ((r = io_tmp_commit(&t)) < 0) {
        close(nfd);
        return img_error(img, r, "cow: replacing %s: %s", img->path, strerror(-r));
    }
    close(img->fd);
    img->fd = nfd;
    if (fstat(nfd, &st) == 0) {
        img->st_dev = st.st_dev;
        img->st_ino = st.st_ino;
    }
    s->data_off = data_off;
    return 0;
}

/* Grow (shrinking is not supported). The new sectors must read as zeros: their bits are cleared
 * (a hostile file could have set them), except where a longer backing file would show
 * through, where they are set over a data area that reads zeros. Within the bitmap's slack
 * that happens in place and the size field is written last; past it, see cow_grow_copy. */
static int cow_truncate(struct img *img, uint64_t size, enum img_prealloc prealloc)
{
    struct cow *s = cow_st(img);
    if (prealloc != IMG_PREALLOC_OFF)
        return img_error(img, -ENOTSUP, "cow: preallocation is not supported");
    if (size < img->size)
        return img_error(img, -ENOTSUP, "cow: shrinking is not supported");
    if (size % 512)
        return img_error(img, -EINVAL, "cow: size must be a multiple of 512 bytes");
    if (size > COW_MAX_SIZE)
        return img_error(img, -EFBIG, "cow: size %llu is too large", ULL(size));
    uint64_t sectors = size / 512, bsec;
    int r = cow_backing_sectors(img, &bsec);
    if (r < 0)
        return r;
    uint64_t zero_to = bsec < sectors ? bsec : sectors;
    if (cow_data_off(s->hsize, sectors) != s->data_off) {
        r = cow_grow_copy(img, sectors, zero_to);
    } else {
        /* Stale data past the old end would show through bits set below: cut it off. */
        uint64_t fsize, end = s->data_off + s->sectors * 512;
        r = io_file_size(img->fd, &fsize);
        if (r == 0 && fsize > end && ftruncate(img->fd, (off_t)end) < 0)
            r = -errno;
        if (r == 0 && sectors > s->sectors)
            r = cow_bm_put(img->fd, s->hsize, s->sectors, sectors - s->sectors, false);
        if (r == 0 && zero_to > s->sectors)
            r = cow_bm_put(img->fd, s->hsize, s->sectors, zero_to - s->sectors, true);
        s->win_off = UINT64_MAX;
        uint8_t f[8];
        be64_store(f, size);
        if (r == 0)
            r = io_sync(img->fd);
        if (r == 0)
            r = io_pwrite_all(img->fd, f, 8, s->size_field);
        if (r == 0)
            r = io_sync(img->fd);
        if (r < 0)
            return img_error(img, r, "cow: growing: %s", strerror(-r));
    }
    if (r < 0)
        return r;
    s->win_off = UINT64_MAX;
    s->sectors = sectors;
    s->bm_len = u64_div_round_up(sectors, 8);
    img->size = size;
    return 0;
}

/* ---- layout ---- */

static int cow_layout(struct img *img, struct img_region **out, size_t *n)
{
    struct cow *s = cow_st(img);
    size_t cap = 16, cnt = 0;
    struct img_region *v = malloc(cap * sizeof *v);
    if (!v)
        return img_error(img, -ENOMEM, "cow: out of memory");
    v[cnt++] = (struct img_region){0, s->hsize, IMG_R_HEADER};
    if (s->bm_len)
        v[cnt++] = (struct img_region){s->hsize, s->bm_len, IMG_R_BITMAP};
    for (uint64_t sec = 0; sec < s->sectors;) {
        uint64_t run;
        bool set;
        int r = cow_run(img, sec, s->sectors - sec, &set, &run);
        if (r < 0) {
            free(v);
            return r;
        }
        if (set) {
            if (cnt == cap) {
                struct img_region *nv = realloc(v, 2 * cap * sizeof *v);
                if (!nv) {
                    free(v);
                    return img_error(img, -ENOMEM, "cow: out of memory");
                }
                v = nv;
                cap *= 2;
            }
            v[cnt++] = (struct img_region){s->data_off + sec * 512, run * 512, IMG_R_DATA};
        }
        sec += run;
    }
    *out = v;
    *n = cnt;
    return 0;
}

/* ---- backing chains ---- */

/* The name is a fixed 1024-byte field: written whole (NUL-padded) in one write. */
static int cow_set_backing(struct img *img, const char *name, const char *fmt)
{
    (void)fmt; /* cow records no backing format */
    uint8_t field[COW_NAME_LEN];
    size_t nl = name ? strlen(name) : 0;
    if (nl >= COW_NAME_LEN)
        return img_error(img, -EINVAL, "cow: backing file name longer than %u bytes",
                         COW_NAME_LEN - 1);
    char *copy = name ? strdup(name) : NULL;
    if (name && !copy)
        return img_error(img, -ENOMEM, "cow: out of memory");
    memset(field, 0, sizeof field);
    memcpy(field, name ? name : "", nl);
    int r = io_pwrite_all(img->fd, field, sizeof field, 8);
    if (r == 0)
        r = io_sync(img->fd);
    if (r < 0) {
        free(copy);
        return img_error(img, r, "cow: writing the backing file name: %s", strerror(-r));
    }
    free(img->backing_name);
    img->backing_name = copy;
    return 0;
}

/* Every sector reads from the backing file again: the bitmap is cleared (the data area keeps
 * its bytes, unreferenced). */
static int cow_make_empty(struct img *img)
{
    struct cow *s = cow_st(img);
    int r = io_pwrite_zeroes(img->fd, s->hsize, s->bm_len);
    if (r == 0)
        r = io_sync(img->fd);
    s->win_off = UINT64_MAX;
    return r < 0 ? img_error(img, r, "cow: clearing the bitmap: %s", strerror(-r)) : 0;
}

const struct img_driver img_driver_cow = {
    .abi = IMG_DRIVER_ABI,
    .name = "cow",
    .desc = "legacy QEMU cow (User-Mode-Linux style, QEMU <= 2.1)",
    .priv_size = sizeof(struct cow),
    .caps = IMG_CAP_WRITE | IMG_CAP_CREATE | IMG_CAP_RESIZE | IMG_CAP_BACKING | IMG_CAP_ZERO_INIT,
    .probe = cow_probe,
    .open = cow_open,
    .read = cow_read,
    .block_status = cow_block_status,
    .write = cow_write,
    .flush = cow_flush,
    .create = cow_create,
    .truncate = cow_truncate,
    .layout = cow_layout,
    .set_backing = cow_set_backing,
    .make_empty = cow_make_empty,
};

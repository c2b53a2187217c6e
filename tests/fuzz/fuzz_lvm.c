/* SPDX-License-Identifier: GPL-2.0-or-later */
/* fuzz_lvm.c: libFuzzer target for the LVM2 metadata reader (core/fs/lvm.c).
 *
 * The input is metadata text; the target wraps it in a physical volume (label, PV header and
 * metadata area with correct checksums, so the fuzzer reaches the parser and the mapping
 * instead of stopping at a CRC) in a memfd, opens that as a raw image and scans it. The first
 * byte picks where the text starts in the area's circular buffer (it may wrap around). Every
 * listed LV's segments must lie inside the PV.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../unit/fs_test_vol.h"

#define PV_SIZE (64u << 20)
#define FUZZ_UUID "fuzzfuzzFUZZFUZZ0123456789abcdef"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2 || size > (1u << 20))
        return 0;
    const uint8_t *text = data + 1;
    size_t len = size - 1;
    uint64_t mda_size = ((len + 512 + 511) / 512 + 1) * 512;
    uint64_t rel = 512 + (uint64_t)data[0] * (mda_size - 512) / 256;
    size_t n;
    uint8_t *pv = tfs_lvm_pv(text, len, rel, mda_size, PV_SIZE, FUZZ_UUID, &n);
    int fd = memfd_create("fuzz-lvm", MFD_CLOEXEC);
    if (fd < 0 || write(fd, pv, n) != (ssize_t)n || ftruncate(fd, PV_SIZE) != 0) {
        perror("fuzz_lvm: memfd");
        abort();
    }
    free(pv);
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    struct img_err err;
    struct img *img = img_open(path, "raw", 0, &err);
    if (!img)
        abort();
    struct fs_vol vol;
    struct fs_seg seg;
    tfs_whole(img, &vol, &seg);
    struct fs_vol_info *v = NULL;
    size_t nv = 0;
    (void)lvm_scan(&vol, &v, &nv, &err);
    for (size_t i = 0; i < nv; i++) {
        uint64_t at = 0;
        for (size_t k = 0; k < v[i].vol.nseg; k++) {
            const struct fs_seg *s = &v[i].vol.seg[k];
            if (s->vol_off != at || s->img_off > PV_SIZE || s->len > PV_SIZE - s->img_off)
                abort();
            at += s->len;
        }
        if (v[i].browsable && at != v[i].vol.size)
            abort();
        free(v[i].vol.seg);
    }
    free(v);
    img_close(img);
    close(fd);
    return 0;
}

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* fuzz_vmdk_stream.c: libFuzzer target for the forward-only byte source (core/block/
 * src_stream.c) and the vmdk driver's stream read path (formats/vmdk_stream.c), as an image
 * inside an archive is read: the input is the member's bytes, handed out by a memory stream
 * (its length declared or not, by the first byte's low bit, as a tar member's is and a
 * compressed file's is not). The image is opened untrusted as probed, then read front to back
 * with block status (zero runs skipped at once, as convert does), within a bounded window,
 * and one read goes backwards (it must fail, never hang). Built by tests/fuzz/CMakeLists.txt.
 */
#include "core/block/driver.h"
#include "core/block/src.h"

#include <stdint.h>
#include <stdlib.h>

#define FZS_READ_MAX (8u << 20) /* guest bytes read per input */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    struct img_err err = {0};
    struct img_src *src;
    if (src_stream_mem("fuzz.vmdk", data + 1, size - 1, data[0] & 1, &src, &err) < 0)
        return 0;
    struct img *img =
        img_open_src(src, "fuzz.vmdk", "/nonexistent", NULL, IMG_OPEN_UNTRUSTED, &err);
    if (!img)
        return 0;
    static uint8_t buf[65536];
    uint64_t off = 0, done = 0;
    for (unsigned steps = 0; off < img->size && done < FZS_READ_MAX && steps < 65536; steps++) {
        struct img_bs bs;
        /* the whole rest: a zero run is skipped in one step however long it is */
        if (img_block_status(img, off, img->size - off, &bs) < 0 || bs.len == 0)
            break;
        if ((bs.flags & IMG_BS_ZERO) && !(bs.flags & IMG_BS_DATA)) {
            off += bs.len;
            continue;
        }
        size_t n = bs.len < sizeof buf ? (size_t)bs.len : sizeof buf;
        if (img_read(img, off, buf, n) < 0)
            break;
        off += n;
        done += n;
    }
    if (off > sizeof buf)
        (void)img_read(img, 0, buf, 512); /* backwards: an error, not a hang */
    img_close(img);
    return 0;
}

/* qcow2.c: placeholder until the qcow2 driver lands: probes the magic, refuses to open. */
#include "core/bytes.h"
#include "formats/drivers.h"

#include <errno.h>

static int qcow2_probe(const uint8_t *buf, size_t len)
{
    if (len >= 8 && be32_load(buf) == 0x514649fb && be32_load(buf + 4) >= 2)
        return 100;
    return 0;
}

static int qcow2_open(struct img *img, unsigned flags)
{
    return img_error(img, -ENOTSUP, "qcow2: not implemented yet");
}

const struct img_driver img_driver_qcow2 = {
    .abi = IMG_DRIVER_ABI,
    .name = "qcow2",
    .desc = "QEMU copy-on-write v2/v3",
    .probe = qcow2_probe,
    .open = qcow2_open,
};

/* qcow2_check.c: placeholder */
#include "formats/qcow2.h"
#include <errno.h>
int qcow2_check(struct img *img, struct img_check *res, unsigned fix) { return -ENOTSUP; }
int qcow2_layout(struct img *img, struct img_region **out, size_t *n) { return -ENOTSUP; }

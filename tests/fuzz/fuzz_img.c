/* fuzz_img.c: libFuzzer target for one image driver (FUZZ_FMT; undefined: probe the format).
 *
 * Each input is an image file, run through fuzz_exercise (open, info, snapshots, block
 * status, reads, layout, check). Hostile input must give an error, never a crash, a sanitizer
 * report, a hang or a huge allocation (libFuzzer's -timeout, -rss_limit_mb and
 * -malloc_limit_mb catch those). Built by tests/fuzz/CMakeLists.txt.
 */
#include "fuzz_exercise.h"

#ifndef FUZZ_FMT
#define FUZZ_FMT NULL
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    (void)fuzz_exercise(data, size, FUZZ_FMT, NULL, 0);
    return 0;
}

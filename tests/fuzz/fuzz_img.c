/* SPDX-License-Identifier: GPL-2.0-or-later */
/* fuzz_img.c: libFuzzer target for one image driver (FUZZ_FMT; undefined: probe the format).
 *
 * Each input is an image file, run through fuzz_exercise (open, info, snapshots, block
 * status, reads, layout, check). Hostile input must give an error, never a crash, a sanitizer
 * report, a hang or a huge allocation (libFuzzer's -timeout, -rss_limit_mb and
 * -malloc_limit_mb catch those). FUZZ_SETUP names a setup of fuzz_exercise.h (fuzz_crypt:
 * encrypted images opened with a password; fuzz_datafile: qcow2 with its external data
 * file). Built by tests/fuzz/CMakeLists.txt.
 */
#include "fuzz_exercise.h"

#ifndef FUZZ_FMT
#define FUZZ_FMT NULL
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
#ifdef FUZZ_SETUP
    const struct fuzz_setup *setup = fuzz_setup_named(FUZZ_SETUP);
#else
    const struct fuzz_setup *setup = NULL;
#endif
    (void)fuzz_exercise_with(data, size, FUZZ_FMT, setup, NULL, 0);
    return 0;
}

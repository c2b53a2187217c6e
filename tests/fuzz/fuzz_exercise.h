/* fuzz_exercise.h: one image file through every read-only entry point of core/img.h
 * (fuzz_exercise.c; used by the fuzz targets and tests/unit/test_fuzz_regress.c). */
#ifndef DIMG_FUZZ_EXERCISE_H
#define DIMG_FUZZ_EXERCISE_H

#include <stddef.h>
#include <stdint.h>

/* Splits an input into the image and one file beside it (see fuzz_exercise.c). */
#define FUZZ_EXTENT_SEP "\n==dimg-fuzz-extent==\n"
#define FUZZ_EXTENT_NAME "extent.vmdk"

/* Open data (size bytes) as an image of format fmt (NULL: probe), read-only and untrusted,
 * and exercise it. Returns 0 when it opened, -1 with the message in err (may be NULL) when
 * not. Aborts when an answer breaks the API's promises (a block-status run past the end). */
int fuzz_exercise(const uint8_t *data, size_t size, const char *fmt, char *err, size_t errlen);

#endif

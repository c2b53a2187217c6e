/* SPDX-License-Identifier: GPL-2.0-or-later */
/* fuzz_exercise.h: one image file through every read-only entry point of core/block/img.h
 * (fuzz_exercise.c; used by the fuzz targets and tests/unit/test_fuzz_regress.c). */
#ifndef DIMG_FUZZ_EXERCISE_H
#define DIMG_FUZZ_EXERCISE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Splits an input into the image and one file beside it (see fuzz_exercise.c). */
#define FUZZ_EXTENT_SEP "\n==dimg-fuzz-extent==\n"
#define FUZZ_EXTENT_NAME "extent.vmdk"

/* How a target opens its inputs beyond the format: the plain image targets use none (NULL). */
struct fuzz_setup {
    const char *fmt;      /* the format its target names (NULL: probe) */
    unsigned flags;       /* img_open flags (IMG_OPEN_UNTRUSTED for the plain targets) */
    const char *ref_name; /* the second file's name (default FUZZ_EXTENT_NAME) */
    bool password;        /* install FUZZ_PASSWORD as the secret provider, call img_unlock */
};

/* The password of the encrypted seeds (tests/fuzz/seeds.sh) and of fuzz_crypt. */
#define FUZZ_PASSWORD "fuzz"
/* PBKDF2 iterations fuzz_crypt lets a LUKS header ask for (luks_set_iter_limit): the seeds
 * are made with iter-time=1 (about 1000-3000); the real limit (2^25) would make one input
 * take seconds. */
#define FUZZ_LUKS_ITER (1u << 14)

/* The setups of the targets named "crypt" (encrypted images, with the password) and
 * "datafile" (qcow2 whose second file is its external data file "data.raw", followed), or
 * NULL for any other name: tests/unit/test_fuzz_regress.c picks them by fixture prefix. */
const struct fuzz_setup *fuzz_setup_named(const char *name);

/* Open data (size bytes) as an image of format fmt (NULL: probe), read-only and untrusted,
 * and exercise it. Returns 0 when it opened, -1 with the message in err (may be NULL) when
 * not. Aborts when an answer breaks the API's promises (a block-status run past the end). */
int fuzz_exercise(const uint8_t *data, size_t size, const char *fmt, char *err, size_t errlen);
/* The same with a setup (NULL: the plain one). */
int fuzz_exercise_with(const uint8_t *data, size_t size, const char *fmt,
                       const struct fuzz_setup *setup, char *err, size_t errlen);

#endif

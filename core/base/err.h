/* SPDX-License-Identifier: GPL-2.0-or-later */
/* err.h: error reporting for core/ and formats/.
 *
 * Functions return 0 (or a count) on success and a negative errno-style code on failure.
 * The one-line message lives in a struct img_err: on the image handle (img->err) or, where
 * there is no handle yet (probe, create), in a caller-provided struct. Nothing below tui/
 * prints; the command line and the interactive application show err->msg.
 */
#ifndef DIMG_ERR_H
#define DIMG_ERR_H

#include <stddef.h>

#define IMG_ERR_MSG_MAX 512

struct img_err {
    int code;                  /* negative errno, 0 when no error was set */
    char msg[IMG_ERR_MSG_MAX]; /* one line, no trailing newline */
};

/* Set code and message (printf format). Returns code so callers can `return err_set(...)`.
 * A later call overwrites an earlier one unless err_keep() says the first one is better. */
int err_set(struct img_err *e, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Like err_set, but only when no error is recorded yet (keeps the root cause). */
int err_keep(struct img_err *e, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefix the existing message with "prefix: " (e.g. the backing file's name). */
void err_prefix(struct img_err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

void err_clear(struct img_err *e);

#endif

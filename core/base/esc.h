/* SPDX-License-Identifier: GPL-2.0-or-later */
/* esc.h: the one escaping rule for text that came from an image, an archive or a user's file
 * name and is about to reach a terminal (CLI human output, error lines, the application's
 * screen): every byte that is not printable UTF-8 is shown as an escape, so that no control
 * character, terminal escape sequence, bidi override or broken sequence reaches the terminal
 * raw and no name can start a new line or move the cursor over another row.
 *
 * Escapes: \t \n \r \e for those four, \xNN for any other C0/C1 control, DEL, the bytes of a
 * bidirectional override or isolate (U+202A..E, U+2066..9) and each byte of invalid UTF-8.
 * Backslash itself is left alone, so escaping is idempotent: text escaped twice reads the same.
 * JSON output has its own, exact escaping (cli/json.c) and does not use this.
 * Pure functions, no I/O. Callers: core/scan/scan.c, core/base/err.c, core/block/img.c, tui/
 * printers.
 */
#ifndef DIMG_ESC_H
#define DIMG_ESC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* s (len bytes) escaped, malloc'd; NULL when out of memory. */
char *esc_dup(const char *s, size_t len);

/* s (len bytes) escaped into out (cap > 0 bytes, always terminated), cut before an escape or
 * character that does not fit; bytes listed in keep (may be NULL) pass through as they are
 * ("\n" for multi-line text). Returns the length written. */
size_t esc_into(char *out, size_t cap, const char *s, size_t len, const char *keep);

/* The NUL-terminated s escaped into buf (cap bytes); returns buf, for use as a printf
 * argument. A buffer of 4 * strlen(s) + 1 bytes always holds all of it. */
const char *esc_str(char *buf, size_t cap, const char *s);

/* Length (1..4) of the valid UTF-8 sequence at s (at most n bytes; a NUL ends it early) and
 * its code point in *cp, or 0 when invalid (overlong forms, surrogates, past U+10FFFF). */
size_t esc_utf8_len(const unsigned char *s, size_t n, uint32_t *cp);

/* Whether s (NUL-terminated) would change when escaped. */
bool esc_needed(const char *s);

#endif

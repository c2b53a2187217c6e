/* SPDX-License-Identifier: GPL-2.0-or-later */
/* json.h: a tiny streaming JSON writer for --output=json (info, check, map).
 *
 * Output mimics qemu-img's pretty printer (4-space indent, "key": value, one member a line)
 * so scripts written against qemu-img read ours the same way. Strings are escaped properly:
 * image and backing file names are untrusted and may hold quotes, control bytes or invalid
 * UTF-8 (replaced by U+FFFD). Used by: core/describe (info), the cli/ commands (check, map).
 * Writes to a FILE the caller owns.
 */
#ifndef DIMG_JSON_H
#define DIMG_JSON_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define JSON_MAX_DEPTH 16

struct json {
    FILE *f;
    int depth;
    bool has_member[JSON_MAX_DEPTH + 1]; /* per open container: something already written */
};

void json_init(struct json *j, FILE *f);
/* key is the member name inside an object, NULL inside an array or at the top. */
void json_object_open(struct json *j, const char *key);
void json_object_close(struct json *j);
void json_array_open(struct json *j, const char *key);
void json_array_close(struct json *j);
void json_string(struct json *j, const char *key, const char *val);
void json_int(struct json *j, const char *key, int64_t v);
void json_uint(struct json *j, const char *key, uint64_t v);
void json_bool(struct json *j, const char *key, bool v);
/* Write s as a quoted, escaped JSON string. */
void json_write_string(FILE *f, const char *s);

#endif

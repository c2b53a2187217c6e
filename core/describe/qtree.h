/* SPDX-License-Identifier: GPL-2.0-or-later */
/* qtree.h: a small tree of named values printed the way qemu-img prints its info objects.
 *
 * qemu-img (7.2) keeps an object's members in a hash table and prints them in that table's
 * order, in JSON and in the human "Format specific information:" block alike. To print the
 * same bytes, dimg collects the members under dotted paths ("encrypt.slots.0.active": a
 * numeric component makes an array) and prints each object in qemu's member order. Objects
 * under a key starting with "dimg-" (dimg's own additions) keep the order they were added in
 * and come after qemu's members.
 * Used by: core/describe/describe.c (info). Writes through json.h or to a FILE; strings are
 * copied in.
 */
#ifndef DIMG_QTREE_H
#define DIMG_QTREE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct json;
struct qtree;

struct qtree *qtree_new(void);
void qtree_free(struct qtree *t);
/* Add a value at a dotted path below the root (silently dropped when out of memory or when
 * the path is already a value). */
void qtree_str(struct qtree *t, const char *path, const char *v);
void qtree_int(struct qtree *t, const char *path, int64_t v);
void qtree_uint(struct qtree *t, const char *path, uint64_t v);
void qtree_bool(struct qtree *t, const char *path, bool v);
/* An array at path that may stay empty (qemu prints an empty list as the bare key). */
void qtree_array(struct qtree *t, const char *path);
/* The subtree at a dotted path (NULL when absent). */
const struct qtree *qtree_get(const struct qtree *t, const char *path);
bool qtree_empty(const struct qtree *t);

/* Write t as a JSON object (key NULL: at the top or inside an array). */
void qtree_json(struct json *j, const char *key, const struct qtree *t);
/* Write t's members as qemu-img's human dump: "key: value" lines at indent * 4 spaces,
 * dashes in keys shown as spaces, arrays as "[N]:" entries; strings escaped (core/base/esc.h). */
void qtree_human(FILE *f, const struct qtree *t, int indent);

#endif

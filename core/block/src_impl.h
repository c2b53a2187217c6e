/* SPDX-License-Identifier: GPL-2.0-or-later */
/* src_impl.h: the inside of a byte source, for its backends only (src.c dispatches,
 * src_file.c: regular files and block devices, src_nbd.c: NBD exports). Drivers and the
 * rest of core see struct img_src through src.h alone.
 */
#ifndef DIMG_SRC_IMPL_H
#define DIMG_SRC_IMPL_H

#include "core/block/src.h"

/* A backend's calls; each NULL slot means "cannot" (-ENOTSUP), except as src.c says. */
struct src_ops {
    int (*pread)(struct img_src *s, void *buf, size_t len, uint64_t off); /* exact */
    int (*pwrite)(struct img_src *s, const void *buf, size_t len, uint64_t off);
    int (*size)(struct img_src *s, uint64_t *size);
    int (*alloc)(struct img_src *s, uint64_t *bytes);
    int (*truncate)(struct img_src *s, uint64_t size);
    int (*flush)(struct img_src *s);
    /* 0, or -ENOTSUP to have src.c write zeros instead */
    int (*zero)(struct img_src *s, uint64_t off, uint64_t len, unsigned zflags);
    int (*discard)(struct img_src *s, uint64_t off, uint64_t len);
    int (*extent)(struct img_src *s, uint64_t off, uint64_t size, unsigned *state, uint64_t *end);
    void (*close)(struct img_src *s);
};

struct img_src {
    const struct src_ops *ops;
    enum src_kind kind;
    unsigned caps;  /* SRC_CAP_* */
    unsigned flags; /* SRC_OPEN_* */
    int fd;         /* file and device sources; -1 otherwise (src.c's direct path) */
    char *name;     /* as given (an NBD URI as given, for messages) */
    struct img_err err;
    void *priv; /* the backend's state */
};

/* A new source named name with ops (calloc'd, fd -1); NULL when out of memory. */
struct img_src *src_new(const char *name, const struct src_ops *ops, enum src_kind kind);
/* The NBD backend (src_nbd.c). */
/* The file and block-device backend (src_file.c). */
int src_file_open(const char *name, unsigned flags, struct img_src **out, struct img_err *err);
int src_nbd_open(const char *uri, unsigned flags, struct img_src **out, struct img_err *err);

#endif

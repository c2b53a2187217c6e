/* SPDX-License-Identifier: GPL-2.0-or-later */
/* bytes.h: byte-order loads and stores and overflow-checked arithmetic.
 *
 * Every on-disk field goes through these: qcow/qcow2/cow are big-endian, vmdk/vdi little-endian.
 * Loads take a byte pointer so that unaligned header fields are safe.
 */
#ifndef DIMG_BYTES_H
#define DIMG_BYTES_H

#include <stdbool.h>
#include <stdint.h>

static inline uint16_t be16_load(const void *p)
{
    const uint8_t *b = p;
    return (uint16_t)(b[0] << 8 | b[1]);
}
static inline uint32_t be32_load(const void *p)
{
    const uint8_t *b = p;
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}
static inline uint64_t be64_load(const void *p)
{
    const uint8_t *b = p;
    return (uint64_t)be32_load(b) << 32 | be32_load(b + 4);
}
static inline void be16_store(void *p, uint16_t v)
{
    uint8_t *b = p;
    b[0] = (uint8_t)(v >> 8);
    b[1] = (uint8_t)v;
}
static inline void be32_store(void *p, uint32_t v)
{
    uint8_t *b = p;
    b[0] = (uint8_t)(v >> 24);
    b[1] = (uint8_t)(v >> 16);
    b[2] = (uint8_t)(v >> 8);
    b[3] = (uint8_t)v;
}
static inline void be64_store(void *p, uint64_t v)
{
    be32_store(p, (uint32_t)(v >> 32));
    be32_store((uint8_t *)p + 4, (uint32_t)v);
}
static inline uint16_t le16_load(const void *p)
{
    const uint8_t *b = p;
    return (uint16_t)(b[0] | b[1] << 8);
}
static inline uint32_t le32_load(const void *p)
{
    const uint8_t *b = p;
    return b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}
static inline uint64_t le64_load(const void *p)
{
    const uint8_t *b = p;
    return le32_load(b) | (uint64_t)le32_load(b + 4) << 32;
}
static inline void le16_store(void *p, uint16_t v)
{
    uint8_t *b = p;
    b[0] = (uint8_t)v;
    b[1] = (uint8_t)(v >> 8);
}
static inline void le32_store(void *p, uint32_t v)
{
    uint8_t *b = p;
    b[0] = (uint8_t)v;
    b[1] = (uint8_t)(v >> 8);
    b[2] = (uint8_t)(v >> 16);
    b[3] = (uint8_t)(v >> 24);
}
static inline void le64_store(void *p, uint64_t v)
{
    le32_store(p, (uint32_t)v);
    le32_store((uint8_t *)p + 4, (uint32_t)(v >> 32));
}

/* Overflow-checked helpers: return true on overflow (like the builtins). */
static inline bool u64_add_overflow(uint64_t a, uint64_t b, uint64_t *r)
{
    return __builtin_add_overflow(a, b, r);
}
static inline bool u64_mul_overflow(uint64_t a, uint64_t b, uint64_t *r)
{
    return __builtin_mul_overflow(a, b, r);
}
/* ceil(a / b), b > 0, no overflow for any a. */
static inline uint64_t u64_div_round_up(uint64_t a, uint64_t b)
{
    return a / b + (a % b != 0);
}
/* Round up to a power-of-two alignment; caller guarantees no overflow (check first). */
static inline uint64_t u64_align_up(uint64_t a, uint64_t align)
{
    return (a + align - 1) & ~(align - 1);
}
static inline bool u64_is_pow2(uint64_t a)
{
    return a && !(a & (a - 1));
}

#endif

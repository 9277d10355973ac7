/* pb.h - a minimal protobuf wire-format writer over dpt__buf: varints, fixed32/64,
 * length-delimited bytes and nested messages.
 *
 * Nested messages use reserve-and-backpatch: pb_begin writes the tag and reserves `hint`
 * bytes for the length varint; pb_end writes the real length there. When the varint needs
 * another size than the hint, the message body is moved once (memmove). Hints are chosen
 * per message type (1 byte for attributes, 2 for spans, 3 for the outer groups) so the move
 * almost never happens, or moves a small body. This needs neither a size pass nor a second
 * buffer, at the cost of one rare memmove; lengths are always minimal (canonical) varints.
 */
#ifndef DPT_EXPORT_PB_H
#define DPT_EXPORT_PB_H

#include "common.h"

enum { PB_VARINT = 0, PB_I64 = 1, PB_LEN = 2, PB_I32 = 5 };

typedef struct pb_mark {
    size_t start;  /* offset of the body */
    uint32_t hint; /* bytes reserved before it for the length */
} pb_mark;

static inline bool pb_room(dpt__buf *b, size_t n)
{
    if (DPT__LIKELY(!b->oom && b->cap - b->len >= n)) return true;
    if (b->oom) return false;
    return dpt__buf_reserve(b, n) && !b->oom;
}

static inline size_t pb_varint_size(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

/* Writes v at p (room already checked); returns the bytes written. */
static inline size_t pb_put_varint(uint8_t *p, uint64_t v)
{
    size_t i = 0;
    while (v >= 0x80) {
        p[i++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[i++] = (uint8_t)v;
    return i;
}

/* Writes v little-endian at p (fixed64, double): one store on a little-endian host, where
 * the byte loop was not merged by the compiler. */
static inline void pb_put_le64(uint8_t *p, uint64_t v)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    memcpy(p, &v, 8);
#else
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
#endif
}

static inline void pb_varint(dpt__buf *b, uint64_t v)
{
    if (!pb_room(b, 10)) return;
    b->len += pb_put_varint((uint8_t *)b->p + b->len, v);
}

static inline void pb_tag(dpt__buf *b, uint32_t field, uint32_t wire)
{
    pb_varint(b, ((uint64_t)field << 3) | wire);
}

static inline void pb_uint_field(dpt__buf *b, uint32_t field, uint64_t v)
{
    if (!pb_room(b, 20)) return;
    uint8_t *p = (uint8_t *)b->p + b->len;
    size_t n = pb_put_varint(p, ((uint64_t)field << 3) | PB_VARINT);
    n += pb_put_varint(p + n, v);
    b->len += n;
}

static inline void pb_fixed64_field(dpt__buf *b, uint32_t field, uint64_t v)
{
    if (!pb_room(b, 18)) return;
    uint8_t *p = (uint8_t *)b->p + b->len;
    size_t n = pb_put_varint(p, ((uint64_t)field << 3) | PB_I64);
    pb_put_le64(p + n, v);
    b->len += n + 8;
}

static inline void pb_fixed32_field(dpt__buf *b, uint32_t field, uint32_t v)
{
    if (!pb_room(b, 14)) return;
    uint8_t *p = (uint8_t *)b->p + b->len;
    size_t n = pb_put_varint(p, ((uint64_t)field << 3) | PB_I32);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    memcpy(p + n, &v, 4);
#else
    for (int i = 0; i < 4; i++)
        p[n + i] = (uint8_t)(v >> (8 * i));
#endif
    b->len += n + 4;
}

static inline void pb_double_field(dpt__buf *b, uint32_t field, double d)
{
    uint64_t v;
    memcpy(&v, &d, sizeof v);
    pb_fixed64_field(b, field, v);
}

static inline void pb_bytes_field(dpt__buf *b, uint32_t field, const void *data, size_t n)
{
    if (!pb_room(b, 20 + n)) return;
    uint8_t *p = (uint8_t *)b->p + b->len;
    size_t k = pb_put_varint(p, ((uint64_t)field << 3) | PB_LEN);
    k += pb_put_varint(p + k, n);
    if (n) memcpy(p + k, data, n);
    b->len += k + n;
}

static inline pb_mark pb_begin(dpt__buf *b, uint32_t field, uint32_t hint)
{
    pb_mark m = {0, hint};
    if (!pb_room(b, 10 + hint)) return m;
    uint8_t *p = (uint8_t *)b->p + b->len;
    size_t k = pb_put_varint(p, ((uint64_t)field << 3) | PB_LEN);
    b->len += k + hint;
    m.start = b->len;
    return m;
}

static inline void pb_end(dpt__buf *b, pb_mark m)
{
    if (b->oom || m.start == 0) return;
    size_t len = b->len - m.start;
    size_t vs = pb_varint_size(len);
    if (DPT__UNLIKELY(vs != m.hint)) {
        if (vs > m.hint && !pb_room(b, vs - m.hint)) return;
        uint8_t *p = (uint8_t *)b->p;
        memmove(p + m.start - m.hint + vs, p + m.start, len);
        b->len = b->len - m.hint + vs;
    }
    pb_put_varint((uint8_t *)b->p + m.start - m.hint, len);
}

#endif /* DPT_EXPORT_PB_H */

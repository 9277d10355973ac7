/* pb_read.h - the protobuf wire-format reader of dptrace: one strict, bounds-checked
 * walker over the fields of a message held in memory, for everything that reads protobuf
 * (the `dptrace collect` OTLP decoder, tests that check the encoder). Header-only and
 * dependent on nothing but libc, so tools and tests include it without the library.
 *
 * Strict where the wire format is: varints of at most 10 bytes (the tenth holding one
 * bit), field numbers 1 to 2^29 - 1, lengths within the message, and only the wire types
 * proto3 writes (varint, 64-bit, length-delimited, 32-bit): the deprecated groups are
 * rejected rather than skipped, since no OTLP message uses them.
 */
#ifndef DPT_PB_READ_H
#define DPT_PB_READ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum { PBR_VARINT = 0, PBR_I64 = 1, PBR_LEN = 2, PBR_I32 = 5 };

/* A message being read: the bytes not read yet. */
typedef struct pbr_msg {
    const uint8_t *p, *end;
} pbr_msg;

/* One field: its number and wire type, the value of a scalar field (varint, fixed32 or
 * fixed64 as read, little-endian), or the bytes of a length-delimited one. */
typedef struct pbr_field {
    uint32_t num;
    uint32_t wire;
    uint64_t u;
    const uint8_t *data;
    size_t len;
} pbr_field;

static inline pbr_msg pbr_init(const void *data, size_t len)
{
    pbr_msg m = {(const uint8_t *)data, (const uint8_t *)data + len};
    return m;
}

/* Reads a varint at *p (not past end) into *v; false when it runs past end or is longer
 * than 10 bytes. Advances *p. */
static inline bool pbr_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    uint64_t x = 0;
    for (unsigned i = 0; i < 10; i++) {
        if (*p >= end) return false;
        uint8_t b = *(*p)++;
        if (i == 9 && b > 1) return false; /* more than 64 bits */
        x |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            *v = x;
            return true;
        }
    }
    return false;
}

/* The next field of m. Returns 1 with *f filled, 0 at the end of the message, -1 when
 * the bytes are not a valid message (m is then left at the bad spot). */
static inline int pbr_next(pbr_msg *m, pbr_field *f)
{
    if (m->p >= m->end) return 0;
    const uint8_t *p = m->p;
    uint64_t key;
    if (!pbr_varint(&p, m->end, &key) || key >> 3 == 0 || key >> 3 > 0x1fffffff) return -1;
    f->num = (uint32_t)(key >> 3);
    f->wire = (uint32_t)(key & 7);
    f->u = 0;
    f->data = NULL;
    f->len = 0;
    switch (f->wire) {
    case PBR_VARINT:
        if (!pbr_varint(&p, m->end, &f->u)) return -1;
        break;
    case PBR_I64:
    case PBR_I32: {
        size_t n = f->wire == PBR_I64 ? 8 : 4;
        if ((size_t)(m->end - p) < n) return -1;
        for (size_t i = 0; i < n; i++)
            f->u |= (uint64_t)p[i] << (8 * i);
        p += n;
        break;
    }
    case PBR_LEN: {
        uint64_t n;
        if (!pbr_varint(&p, m->end, &n) || n > (uint64_t)(m->end - p)) return -1;
        f->data = p;
        f->len = (size_t)n;
        p += n;
        break;
    }
    default:
        return -1; /* groups (3, 4) and the unused types 6, 7 */
    }
    m->p = p;
    return 1;
}

/* The body of a length-delimited field as a message of its own. */
static inline pbr_msg pbr_sub(const pbr_field *f)
{
    return pbr_init(f->data, f->len);
}

/* Checks that a whole message is well-formed at its top level (every field readable). */
static inline bool pbr_valid(pbr_msg m)
{
    pbr_field f;
    int r;
    while ((r = pbr_next(&m, &f)) > 0) {
    }
    return r == 0;
}

#endif /* DPT_PB_READ_H */

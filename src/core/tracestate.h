/* tracestate.h - the immutable W3C tracestate value (tracestate.c). */
#ifndef DPT_TRACESTATE_H
#define DPT_TRACESTATE_H

#include "common.h"

/* ---- tracestate (tracestate.c) ---------------------------------------------------------- */
struct dpt_tracestate {
    _Atomic uint32_t refs;
    uint32_t len;
    char str[]; /* serialized, NUL-terminated */
};
/* Validation of one key / value per the W3C grammar. */
DPT__HIDDEN bool dpt__tracestate_key_ok(const char *k, size_t n);
DPT__HIDDEN bool dpt__tracestate_value_ok(const char *v, size_t n);

#endif

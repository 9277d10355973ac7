/* attr.h - attribute validation and copying into a record (attr.c). */
#ifndef DPT_ATTR_H
#define DPT_ATTR_H

#include "common.h"
#include "pool.h"

/* Attribute copy into a record with limits (attr.c). Returns DPT_OK or why not. */
DPT__HIDDEN dpt_err dpt__attr_copy(dpt__span *s, dpt_attr *dst, const dpt_attr *src,
                                   uint32_t key_len, uint32_t value_len_limit);
DPT__HIDDEN uint32_t dpt__key_len(const dpt_attr *a);
DPT__HIDDEN bool dpt__attr_valid(const dpt_attr *a);
DPT__HIDDEN bool dpt__attr_valid_value(const dpt_value *v);
/* The key length of a valid attribute, 0 for an invalid one. */
DPT__HIDDEN uint32_t dpt__attr_check(const dpt_attr *a);

#endif

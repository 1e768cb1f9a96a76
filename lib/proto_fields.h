/* Field primitives shared by lib/proto*.c (not part of the protocol's API):
 * little-endian integers, the field walk, and the checked getters every
 * decoder uses. */
#ifndef PYMEMTOP_LIB_PROTO_FIELDS_H
#define PYMEMTOP_LIB_PROTO_FIELDS_H

#include <stddef.h>
#include <stdint.h>

#include "model.h"

void proto_put_le(uint8_t *p, uint64_t v, int bytes);
uint64_t proto_get_le(const uint8_t *p, int bytes);

/* Walks the fields of a payload; calls `on` for each. A field that runs
 * past the end is an error; the callback rejects bad lengths of known tags. */
typedef int (*proto_field_fn)(void *ctx, uint16_t tag, const uint8_t *v, uint16_t len,
                              const char **why);
int proto_fields_walk(const uint8_t *p, size_t len, proto_field_fn on, void *ctx,
                      const char **why);

/* Each 0, or -1 with *why set. */
int proto_want_len(uint16_t len, uint16_t expect, const char **why);
/* A string field into a fixed buffer, truncated; NUL bytes are refused. */
int proto_get_str(const uint8_t *v, uint16_t len, char *dst, size_t cap, const char **why);
int proto_get_u64(const uint8_t *v, uint16_t len, uint64_t *out, const char **why);
int proto_get_i64(const uint8_t *v, uint16_t len, int64_t *out, const char **why);
int proto_get_gens(const uint8_t *v, uint16_t len, int64_t out[PM_GENERATIONS], const char **why);

#endif

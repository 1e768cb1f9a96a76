/* A streaming JSON writer: commas and nesting handled, strings escaped. */
#ifndef PYMEMTOP_LIB_JSON_H
#define PYMEMTOP_LIB_JSON_H

#include <stdint.h>
#include <stdio.h>

#define JSON_MAX_DEPTH 32

struct json {
    FILE *f;
    int depth;
    int count[JSON_MAX_DEPTH]; /* items written at each level */
};

void json_init(struct json *j, FILE *f);
/* key may be NULL inside arrays and at top level. */
void json_object_begin(struct json *j, const char *key);
void json_object_end(struct json *j);
void json_array_begin(struct json *j, const char *key);
void json_array_end(struct json *j);
void json_int(struct json *j, const char *key, int64_t v);
void json_uint(struct json *j, const char *key, uint64_t v);
void json_double(struct json *j, const char *key, double v); /* non-finite -> null */
void json_bool(struct json *j, const char *key, int v);
void json_string(struct json *j, const char *key, const char *s);
void json_null(struct json *j, const char *key);

#endif

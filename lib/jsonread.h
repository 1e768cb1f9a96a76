/* A small JSON reader (RFC 8259) for recordings: parses one document into a
 * tree in one arena, with depth and size limits; never trusts its input. */
#ifndef PYMEMTOP_LIB_JSONREAD_H
#define PYMEMTOP_LIB_JSONREAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum jv_type { JV_NULL, JV_BOOL, JV_NUMBER, JV_STRING, JV_ARRAY, JV_OBJECT };

struct jv {
    enum jv_type type;
    bool boolean;
    double number;
    bool is_int;        /* an integer literal that fits int64: `integer` is exact */
    int64_t integer;
    const char *string; /* NUL-terminated, UTF-8 (also the key of object members) */
    const char *key;    /* for object members */
    struct jv *child;   /* first element / member */
    struct jv *next;    /* next sibling */
    size_t len;         /* elements / members */
};

struct jv_doc {
    struct jv *root;
    char *arena;
    size_t arena_len, arena_cap;
    char error[96];
};

/* Parses text[0..len). 0 or -1 with doc->error set ("offset N: what"). */
int jv_parse(struct jv_doc *doc, const char *text, size_t len);
void jv_free(struct jv_doc *doc);

/* Lookups that tolerate missing pieces: NULL / defaults when absent. */
const struct jv *jv_get(const struct jv *obj, const char *key);
/* "a.b.c" */
const struct jv *jv_path(const struct jv *obj, const char *path);
const struct jv *jv_at(const struct jv *arr, size_t i);
double jv_num(const struct jv *v, double dflt);
int64_t jv_int(const struct jv *v, int64_t dflt);
const char *jv_str(const struct jv *v, const char *dflt);
bool jv_bool(const struct jv *v, bool dflt);

#endif

/* Small helpers the probes share: UTF-8 out of str objects, type names,
 * gc-module calls, and an object-address hash map. GIL held for those that
 * touch Python; none raises (every error is cleared). */
#ifndef PYMEMTOP_PROBES_AGENT_AGENT_UTIL_H
#define PYMEMTOP_PROBES_AGENT_AGENT_UTIL_H

#include "agent_state.h"

/* Length of s (len bytes) cut to at most cap-1 bytes without splitting a
 * UTF-8 character. */
size_t agent_utf8_cut(const char *s, size_t len, size_t cap);
/* UTF-8 of a str into buf (cap > 0), cut at a character boundary; "" when s
 * is NULL, not a str or not encodable. Returns strlen(buf). */
size_t agent_str_utf8(PyObject *s, char *buf, size_t cap);
/* agent_str_utf8 of o.<attr> ("" when it fails). */
void agent_attr_str(PyObject *o, const char *attr, char *buf, size_t cap);
/* type.__name__ as the type answers it, "?" when it has none. */
void agent_type_short_name(PyObject *type, char *buf, size_t cap);
/* mod.<fn>() as a C long, -1 on any error. */
long agent_call_long(PyObject *mod, const char *fn);

/* Open addressing: object address -> uint32, libc memory. */
struct agent_ptrmap {
    PyObject **keys;
    uint32_t *vals;
    size_t mask, used;
};
size_t agent_ptr_hash(const void *p);
/* cap: a power of two. 0 or -1 (call agent_ptrmap_free either way). */
int agent_ptrmap_init(struct agent_ptrmap *m, size_t cap);
void agent_ptrmap_free(struct agent_ptrmap *m);
int64_t agent_ptrmap_get(const struct agent_ptrmap *m, const PyObject *k);
/* Sets k -> v, doubling the table past half full; 0 or -1 (no memory). */
int agent_ptrmap_put(struct agent_ptrmap *m, PyObject *k, uint32_t v);

#endif

/* Edge labels: how object `from` holds object `to`, spelled the way Python
 * code would reach it, for the cycle hunt ("Node -.next-> Node") and for why
 * ("module m .CACHE -> dict [<int>] -> Session"), so that both read the same
 * edge the same way:
 *   .name         instance __dict__ entry, __slots__ entry, or one of the
 *                 attributes of functions, methods, cells, frames,
 *                 generators, tracebacks, exceptions and types
 *   ['k'] [3]     dict item with a short str or an int key
 *   [<tuple>]     dict item with any other key (the key's type)
 *   (key)         the dict holds `to` as a key
 *   [3]           list or tuple item
 *   local 'x'     a frame's fast local (or cell / free variable)
 *   ""            unknown (the caller prints a plain "->")
 * Each label comes in two forms: `conc`, as above, and `norm`, the same with
 * the item index or key replaced by its kind ("[<int>]", "[<str>]") so that
 * chains differing only there group together. Grouping is the caller's.
 *
 * Contract: the GIL is held, and the caller holds strong references to every
 * object passed in (from, to, dicts) for the whole call: labelling runs
 * Python code (reprs, attribute lookups through descriptors, code-object
 * methods) that may free anything not held. No function raises; every error
 * is cleared. Attribute lookups are the generic ones: no class
 * __getattr__/__getattribute__ runs. */
#ifndef PYMEMTOP_PROBES_AGENT_AGENT_EDGES_H
#define PYMEMTOP_PROBES_AGENT_AGENT_EDGES_H

#include "agent_state.h"
#include "agent_util.h"

/* Room for a label: a 63-byte name with its punctuation. */
#define AGENT_EDGE_MAX 72

struct agent_edge {
    char conc[AGENT_EDGE_MAX]; /* "[1234]"; "" unknown */
    char norm[AGENT_EDGE_MAX]; /* "[<int>]"; equal to conc when nothing varies */
};

/* Interns the attribute names labels are looked up by, once for the .so's
 * life. Call before any other agent_edges_* function. 0 or -ENOMEM. */
int agent_edges_init(void);

/* o.__dict__ by the generic lookup, as a new reference, or NULL (containers,
 * types, str/int/sets have none worth a label). On 3.11+ this materialises
 * the dict of an instance that kept its attributes inline: harmless for the
 * hunt's garbage, and for why's few live instances the dict vars() would
 * build. */
PyObject *agent_edges_instance_dict(PyObject *o);

/* o.<name> by the generic lookup is `to`. */
int agent_edges_getattr_is(PyObject *o, PyObject *name, PyObject *to);

/* A dict key as a label: ".name" when attr (an instance or namespace dict)
 * and key is a str, else "['k']", "[3]" or "[<type>]". */
void agent_edges_key(PyObject *key, int attr, struct agent_edge *e);

/* Finds `to` among the values (or keys) of dict d and labels it with its
 * key as agent_edges_key does. 1 found, else 0 and e untouched. *key (when
 * not NULL) gets the key `to` is the value of, as a new reference (labelling
 * ran code that may have dropped it from d), or NULL. */
int agent_edges_in_dict(PyObject *d, PyObject *to, int attr, struct agent_edge *e,
                        PyObject **key);

/* When d is the instance __dict__ of owner: the label of owner -> d -> to as
 * one attribute edge (".next", or ".__dict__" when d does not hold `to`),
 * and 1. Else 0. */
int agent_edges_through_dict(PyObject *owner, PyObject *d, PyObject *to, struct agent_edge *e);

/* How `from` holds `to` ("" when it cannot tell). When the label names an
 * attribute (instance dict entry, slot or a known attribute) and attr is not
 * NULL, *attr gets its name as a new reference (else NULL): callers may try
 * it first on the next instance of the type. */
void agent_edges_label(PyObject *from, PyObject *to, struct agent_edge *e, PyObject **attr);

#endif

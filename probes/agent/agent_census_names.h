/* Type names for the census: "module.qualname", bare for builtins ("dict"),
 * read with the type's own getters (no metaclass can intercept them) and
 * cached by type behind a weak reference, so that a type that died and whose
 * address was reused never inherits the old name. Agent thread, GIL held. */
#ifndef PYMEMTOP_PROBES_AGENT_AGENT_CENSUS_NAMES_H
#define PYMEMTOP_PROBES_AGENT_AGENT_CENSUS_NAMES_H

#include "agent_state.h"

#include <stddef.h>

#include "agent_census_walk.h"

/* The cached name of a live type, or NULL: not known yet. No Python code. */
const char *census_names_get(PyObject *type);
/* Names type into dst (runs Python code: attribute lookups) and caches it. */
void census_names_learn(PyObject *type, char *dst, size_t cap);
/* Drops the entries of dead types. */
void census_names_purge(void);
/* The cache's own weak references that nobody else shares would not exist
 * without us: takes them off table t's counts. */
void census_names_uncount_own(struct census_table *t);

#endif

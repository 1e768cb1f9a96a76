/* The _tracemalloc module: lookup, is_tracing(), get_traced_memory(). The
 * lowest tracemalloc layer: agent_tmsnap and agent_tracemalloc build on it.
 * GIL held by the caller; never raises. */
#ifndef PYMEMTOP_PROBES_AGENT_AGENT_TMMOD_H
#define PYMEMTOP_PROBES_AGENT_AGENT_TMMOD_H

#include "agent_state.h"

/* The _tracemalloc module (borrowed), or NULL when tracing cannot be on and
 * import is 0 (nothing is imported then). */
PyObject *agent_tracemalloc_module(int import);
int agent_tracemalloc_tracing(PyObject *mod); /* mod may be NULL: 0 */
void agent_tracemalloc_memory(PyObject *mod, int64_t *cur, int64_t *peak); /* -1 unknown */

#endif

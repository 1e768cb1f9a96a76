/* The gc.callbacks hook: times every collection into the pause ring of
 * agent_state.h. GIL held for all three. */
#ifndef PYMEMTOP_PROBES_AGENT_AGENT_GC_H
#define PYMEMTOP_PROBES_AGENT_AGENT_GC_H

#include "agent_state.h"

int agent_gc_init(void);
void agent_gc_install(void);
void agent_gc_remove(void);

#endif

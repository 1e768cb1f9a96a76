/* The gc.callbacks hook: times every collection into the pause ring of
 * agent_state.h. GIL held for all three. */
#ifndef PYMEMTOP_PROBES_AGENT_AGENT_GC_H
#define PYMEMTOP_PROBES_AGENT_AGENT_GC_H

#include "agent_state.h"

int agent_gc_init(void);
void agent_gc_install(void);
void agent_gc_remove(void);
/* The capture's "stop" entry first in gc.callbacks (on, with the hook
 * installed), or out of it (unless a capture is in flight). */
void agent_gc_capture_entry(int on);
/* Our entry is in the list the collector calls, so agent.gc_started counts
 * every collection (a program may clear gc.callbacks). No allocation, no
 * Python code. */
int agent_gc_hooked(void);
/* The pause a full collection would cause now, in ns: the latest census's
 * objects at the cost per object measured in this process (a full
 * collection our hook timed, else estimated from the census's own cost).
 * 0: no census yet. */
uint64_t agent_gc_predict_full_ns(void);

#endif

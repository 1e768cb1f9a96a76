/* Allocator numbers for every sample, and the optional pass-through counting
 * hook. GIL held by the caller; never raises into the target; `msg` answers
 * the user in one line. */
#ifndef PYMEMTOP_PROBES_AGENT_AGENT_ALLOC_H
#define PYMEMTOP_PROBES_AGENT_AGENT_ALLOC_H

#include "agent_state.h"

void agent_alloc_read(struct pm_alloc *a, uint64_t now_ns);
int agent_alloc_hook(int on, char *msg, size_t msg_len); /* 0 ok, -errno */
void agent_alloc_detach(void); /* counting off; the hook stays installed */

#endif

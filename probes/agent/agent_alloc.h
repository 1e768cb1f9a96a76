/* Allocator numbers for every sample, and the optional pass-through counting
 * hook. GIL held by the caller; never raises into the target; `msg` answers
 * the user in one line. */
#ifndef PYMEMTOP_PROBES_AGENT_AGENT_ALLOC_H
#define PYMEMTOP_PROBES_AGENT_AGENT_ALLOC_H

#include "agent_state.h"

void agent_alloc_read(struct pm_alloc *a, uint64_t now_ns);
/* glibc's mallinfo2(), when due (budgeted): agent thread, WITHOUT the GIL;
 * agent_alloc_read then reports it. */
void agent_alloc_read_malloc(uint64_t now_ns);
/* Whether a walk over every pymalloc pool (one call that cannot be sliced:
 * the pymalloc walk, sys.getallocatedblocks() from 3.9) may run now under
 * [agent] max_pause_ms. Its cost is predicted as the last one's scaled by
 * the growth of peak RSS since (rss_at_last 0: none yet, then ~60 ns per
 * pool of peak RSS) and, since it varies from one run to the next (a 6.0 ms
 * walk was predicted under 5 ms on an aged 5M heap), must be within 3/4 of
 * max_pause. 1 yes; 0 leave it out, *predict_ns saying why. *rss_now: peak
 * RSS now, to keep with the walk's cost. */
int agent_alloc_pools_walk_fits(uint64_t last_cost_ns, uint64_t rss_at_last, uint64_t *rss_now,
                                uint64_t *predict_ns);
int agent_alloc_hook(int on, char *msg, size_t msg_len); /* 0 ok, -errno */
void agent_alloc_detach(void); /* counting off; the hook stays installed */

#endif

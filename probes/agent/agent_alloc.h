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
/* What a walk over every pymalloc pool would cost now: the last one's cost
 * scaled by the growth of peak RSS since (rss_at_last 0: none yet, then
 * ~60 ns per pool of peak RSS). *rss_now: peak RSS now, to keep with the
 * next walk's cost. */
uint64_t agent_alloc_pools_predict_ns(uint64_t last_cost_ns, uint64_t rss_at_last,
                                      uint64_t *rss_now);
/* Such a walk is one call that cannot be sliced, and its cost varies from
 * one run to the next (a 6.0 ms walk was predicted under 5 ms on an aged 5M
 * heap): it runs only when predicted within 3/4 of max_pause. */
#define AGENT_POOLS_PREDICT_MARGIN(max_ns) ((max_ns) / 4u * 3u)
int agent_alloc_hook(int on, char *msg, size_t msg_len); /* 0 ok, -errno */
void agent_alloc_detach(void); /* counting off; the hook stays installed */

#endif

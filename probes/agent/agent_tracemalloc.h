/* On demand tracemalloc: tracing, top sites, snapshot diffs. GIL held by the
 * caller; never raises into the target; `msg` answers the user in one line. */
#ifndef PYMEMTOP_PROBES_AGENT_AGENT_TRACEMALLOC_H
#define PYMEMTOP_PROBES_AGENT_AGENT_TRACEMALLOC_H

#include "agent_state.h"

struct proto_buf;

void agent_tracemalloc_read(struct pm_agent_sample *s);
int agent_tracemalloc_set(int64_t frames, char *msg, size_t msg_len); /* 0 = stop */
/* Takes a tracemalloc snapshot (if tracing) and appends a SITES top frame. */
int agent_tracemalloc_snapshot(struct proto_buf *out, char *msg, size_t msg_len);
/* Appends a SITES diff frame: kind PM_SITES_DIFF_PREVIOUS or _BASELINE. */
int agent_tracemalloc_diff(struct proto_buf *out, int kind, char *msg, size_t msg_len);
void agent_tracemalloc_detach(void); /* stops tracing only if the agent started it */

#endif

/* tracemalloc snapshots kept by the agent (per-line totals), their diffs and
 * the growth since a mark. GIL held by the caller (agent thread); never
 * raises; `msg` answers the user in one line. Taking a snapshot lets the
 * GIL go between slices: -ESHUTDOWN when Python went away meanwhile (the
 * GIL is then not held). */
#ifndef PYMEMTOP_PROBES_AGENT_AGENT_TMSNAP_H
#define PYMEMTOP_PROBES_AGENT_AGENT_TMSNAP_H

#include "agent_state.h"

struct proto_buf;

/* Takes a tracemalloc snapshot (if tracing) and appends a SITES top frame. */
int agent_tracemalloc_snapshot(struct proto_buf *out, char *msg, size_t msg_len);
/* Appends a SITES diff frame: kind PM_SITES_DIFF_PREVIOUS or _BASELINE. */
int agent_tracemalloc_diff(struct proto_buf *out, int kind, char *msg, size_t msg_len);
/* report 0: marks the traces now (the start of a recording or a leak gate);
 * 1: appends a SITES frame of kind PM_SITES_GROWTH, now minus the mark. */
int agent_tmsnap_growth(struct proto_buf *out, int report, char *msg, size_t msg_len);
/* What one _get_traces() would hold the GIL for now (0 when not tracing),
 * and about how many traces it would copy. */
uint64_t agent_tmsnap_predict_ns(uint64_t *traces);
/* The mark belongs to the monitor that took it: dropped when it leaves. */
void agent_tmsnap_forget_mark(void);
/* Frees every snapshot and the mark. */
void agent_tmsnap_drop(void);

#endif

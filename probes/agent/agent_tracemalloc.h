/* On demand tracemalloc: tracing on and off, whose tracing it is, and the
 * lease that keeps it on after the monitor leaves. GIL held by the caller
 * unless said otherwise; never raises into the target; `msg` answers the
 * user in one line. Snapshots and diffs: agent_tmsnap.h. */
#ifndef PYMEMTOP_PROBES_AGENT_AGENT_TRACEMALLOC_H
#define PYMEMTOP_PROBES_AGENT_AGENT_TRACEMALLOC_H

#include "agent_state.h"

struct proto_buf;

#define AGENT_TM_LEASE_MAX_S 604800 /* 7 days */

/* Fills the sample's tracemalloc fields (on, traced, owner, lease left). */
void agent_tracemalloc_read(struct pm_agent_sample *s);
/* Appends the lease fields (TM_OWNER, TM_LEASE_LEFT_MS) of a sample. */
void agent_tracemalloc_put(struct proto_buf *out, const struct pm_agent_sample *s);
/* frames 0: off (only tracing the agent started); else on with that many
 * frames and, lease_s > 0, a lease (replacing any earlier one). */
int agent_tracemalloc_set(int64_t frames, int64_t lease_s, char *msg, size_t msg_len);
/* "4m12s": a lease's time left. No GIL needed. */
void agent_tracemalloc_fmt_left(char *buf, size_t len, uint64_t ms);

/* The lease's end (CLOCK_MONOTONIC ns), 0 none. No GIL needed: the agent
 * thread sleeps until then when idle. */
uint64_t agent_tracemalloc_lease_end_ns(void);
/* Agent thread, GIL NOT held: when the lease is due, takes the GIL and stops
 * the tracing it kept (if still the agent's). served: a monitor is connected
 * (it keeps the snapshots until it leaves). */
void agent_tracemalloc_lease_tick(int served);
/* The last monitor left: tracing the agent started stops, and its snapshots
 * go, unless a lease runs (then both stay; returns 1). */
int agent_tracemalloc_detach(void);
/* atexit (GIL held): the lease is forgotten; CPython stops tracing itself. */
void agent_tracemalloc_at_exit(void);

#endif

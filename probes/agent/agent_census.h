/* Objects per type. Periodic on a budget of the target's wall time;
 * agent_census_next_ns() tells the server loop when. Never raises into the
 * target; `msg` answers the user in one line. */
#ifndef PYMEMTOP_PROBES_AGENT_AGENT_CENSUS_H
#define PYMEMTOP_PROBES_AGENT_AGENT_CENSUS_H

#include "agent_state.h"

struct proto_buf;

/* The defaults of [census] interval (a floor, ms) and pause_budget (basis
 * points of the target's wall time). */
#define AGENT_CENSUS_FLOOR_MS 2000u
#define AGENT_CENSUS_BUDGET_BP 100u

void agent_census_attach(void);           /* the first monitor came (no GIL) */
uint64_t agent_census_next_ns(void);      /* 0: no census scheduled (no GIL) */
/* Appends a CENSUS frame to out (takes the GIL itself). forced: on command,
 * outside the budget. Returns 0, -1 when Python is going away. */
int agent_census_run(struct proto_buf *out, int forced);
/* A census kept as a snapshot (the first one is the baseline; the agent holds
 * baseline, previous and latest, across monitor sessions: counts only, a few
 * KiB). Appends the CENSUS frame; takes the GIL itself.
 * Snapshots are the target's, not a monitor's: every monitor served at once
 * shares them. The baseline is the first snapshot any monitor took since the
 * agent loaded; any monitor's snapshot shifts latest to previous; a diff
 * compares the latest with the previous or the baseline, whoever took them.
 * (Per-monitor copies would multiply the agent's memory by the monitors for
 * what a user reads as "the process since I looked".) */
int agent_census_snapshot(struct proto_buf *out);
/* Appends a CENSUS frame of kind DIFF_PREVIOUS or DIFF_BASELINE: types by
 * change between the latest snapshot and the other (no GIL needed). 0, or
 * -ENOENT with msg set when there are not two snapshots yet. */
int agent_census_diff(struct proto_buf *out, int kind, char *msg, size_t msg_len);
void agent_census_detach(void);           /* the last monitor left (no GIL) */
/* [census] interval (ms floor, 0 default 2 s) and pause_budget (basis points
 * of wall time, 0 default 1 %), as the monitors agree (agent_clients.c).
 * (No GIL.) */
void agent_census_configure(unsigned interval_ms, unsigned budget_bp);

#endif

/* Cycle shapes from the program's own collections, with no collection of
 * ours: while a monitor is attached, some of the target's automatic (or
 * explicit) collections, within a time budget, run with gc.DEBUG_SAVEALL; in
 * their "stop" phase the garbage they saved is read into shapes and freed the
 * way the collector's delete_garbage would have (tp_clear in order), so the
 * program's collection counts, collected counts and gc.garbage come out as
 * they would have. See agent_capture.c for what it can and cannot see.
 *
 * GIL held for all of these; agent_gc.c calls them from its gc.callbacks
 * entries, the sampler and the command handler from the agent thread. */
#ifndef PYMEMTOP_PROBES_AGENT_AGENT_CAPTURE_H
#define PYMEMTOP_PROBES_AGENT_AGENT_CAPTURE_H

#include "agent_state.h"

struct proto_buf;

#define AGENT_CAPTURE_DEFAULT_BP 100u /* 1 % of wall time */

/* The callable that goes first in gc.callbacks (its "stop" phase must run
 * before the program's own callbacks see gc.garbage). NULL on no memory. */
PyObject *agent_capture_callable(void);
/* A monitor arrived: accounting and the table start afresh, the tp_clear
 * path is proved on this build (once). */
void agent_capture_attach(void);
/* A collection of generation gen starts (called last among "start"
 * callbacks): decides whether to capture it and sets DEBUG_SAVEALL. */
void agent_capture_gc_start(int gen);
/* A capture is between its "start" and "stop": the head entry must stay in
 * gc.callbacks until its "stop" has run. */
int agent_capture_busy(void);
/* The monitor leaves with a capture in flight (a __del__ let the GIL go
 * mid-collection): gives DEBUG_SAVEALL back at once. */
void agent_capture_abandon(void);
/* [cycles] capture / capture_budget: basis points of wall time, 0 off;
 * accounting and the table start afresh. */
void agent_capture_configure(unsigned budget_bp);
int agent_capture_enabled(void);
/* Appends a SHAPES frame (agent thread, GIL held): with the recent shapes
 * when `full`, else in the "unchanged" form; *version gets the table's
 * version, so a monitor that has it needs only the unchanged form. */
void agent_capture_encode(struct proto_buf *out, uint64_t now_ns, int full, uint64_t *version);

#endif

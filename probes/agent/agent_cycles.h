/* gc.garbage and the cycle hunt. GIL held by the caller; never raises into
 * the target; `msg` answers the user in one line. */
#ifndef PYMEMTOP_PROBES_AGENT_AGENT_CYCLES_H
#define PYMEMTOP_PROBES_AGENT_AGENT_CYCLES_H

#include "agent_state.h"

struct proto_buf;

int64_t agent_cycles_garbage_len(void);
/* Appends a HUNT frame; restores gc debug flags exactly. Two full
 * collections stop the world (the one that finds the garbage and the one
 * that frees it); the analysis between them lets the GIL go between slices.
 * 0 ok, -errno; -ESHUTDOWN when Python went away meanwhile (the GIL is then
 * not held). */
int agent_cycles_hunt(struct proto_buf *out, char *msg, size_t msg_len);

#endif

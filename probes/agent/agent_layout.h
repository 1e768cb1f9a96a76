/* The agent's view of lib/pylayout.h: fills agent.layout, agent.dbg,
 * agent.dbg_ok and agent.frames_ok once, at start, with the GIL held. */
#ifndef PYMEMTOP_PROBES_AGENT_AGENT_LAYOUT_H
#define PYMEMTOP_PROBES_AGENT_AGENT_LAYOUT_H

#include "agent_state.h"

void agent_layout_init(void);

#endif

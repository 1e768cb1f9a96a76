/* The agent's start, for the second way in: a native thread that holds the
 * GIL (agent_native.c) runs the same start as the bootstrap's _start().
 * Never raises. */
#ifndef PYMEMTOP_PROBES_AGENT_AGENT_MAIN_H
#define PYMEMTOP_PROBES_AGENT_AGENT_MAIN_H

#include "agent_state.h"

void agent_start_native(void);

#endif

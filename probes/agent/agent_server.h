/* The agent thread: serves the monitor on the agent's socket. */
#ifndef PYMEMTOP_PROBES_AGENT_AGENT_SERVER_H
#define PYMEMTOP_PROBES_AGENT_AGENT_SERVER_H

#include "agent_state.h"

int agent_server_start(void);

#endif

/* The entry pymemtop calls after dlopen when no thread runs Python
 * (lib/attach.h, attach_native_start): spawns a thread that takes the GIL
 * with PyGILState_Ensure and calls agent_start_native(). 0 or -errno. */
#ifndef PYMEMTOP_PROBES_AGENT_AGENT_NATIVE_H
#define PYMEMTOP_PROBES_AGENT_AGENT_NATIVE_H

#include "agent_state.h"

int pymemtop_agent_start_thread(void);

#endif

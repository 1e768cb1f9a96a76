/* The agent's shared state, its clock and the agent thread's GIL gate: the
 * leaf every other agent file builds on (agent_state.h says why). */
#include "agent_state.h"

#include <time.h>

struct agent_state agent = {.listen_fd = -1, .spare_fd = -1, .client_fd = -1};

uint64_t agent_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int agent_gil_enter(void)
{
    if (!agent.tstate || atomic_load(&agent.finalizing) || atomic_load(&agent.forked) ||
        !Py_IsInitialized())
        return 0;
    PyEval_RestoreThread(agent.tstate);
    if (atomic_load(&agent.finalizing)) { /* atexit ran while we waited */
        PyEval_SaveThread();
        return 0;
    }
    return 1;
}

void agent_gil_exit(void)
{
    PyEval_SaveThread();
}

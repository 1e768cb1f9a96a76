/* The agent's shared state, its clock and the agent thread's GIL gate: the
 * leaf every other agent file builds on (agent_state.h says why). */
#include "agent_state.h"

#include <stdio.h>
#include <time.h>

struct agent_state agent = {.listen_fd = -1, .spare_fd = -1,
                             .max_pause_us = AGENT_DEFAULT_MAX_PAUSE_US,
                             .confirm_pause_ms = AGENT_DEFAULT_CONFIRM_PAUSE_MS};

/* How long the GIL stays free between two slices of work. A thread that
 * waits for the GIL sleeps on a condition variable that our release signals;
 * it needs a few tens of microseconds to be scheduled and take it, and a
 * release followed at once by our own re-acquisition would usually win the
 * race and starve it. 100 us is 2-3 % of a 3 ms slice. */
#define AGENT_YIELD_NS 100000

uint64_t agent_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The agent thread's CPU time: a hold much longer than it was preempted. */
static uint64_t agent_thread_cpu_ns(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0)
        return 0;
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int agent_gil_enter(const char *what)
{
    if (!agent.tstate || atomic_load(&agent.finalizing) || atomic_load(&agent.forked) ||
        !Py_IsInitialized())
        return 0;
    PyEval_RestoreThread(agent.tstate);
    if (atomic_load(&agent.finalizing)) { /* atexit ran while we waited */
        PyEval_SaveThread();
        return 0;
    }
    agent.gil_since_ns = agent_now_ns();
    agent.gil_cpu_since_ns = agent_thread_cpu_ns();
    agent.gil_gc_since_ns = agent.pause_total_ns;
    agent.phase_what = agent.phase_top_what = what;
    agent.phase_since_ns = agent.gil_since_ns;
    agent.phase_top_ns = 0;
    return 1;
}

static void agent_gil_phase_end(uint64_t now)
{
    if (now - agent.phase_since_ns > agent.phase_top_ns) {
        agent.phase_top_ns = now - agent.phase_since_ns;
        agent.phase_top_what = agent.phase_what;
    }
}

void agent_gil_doing(const char *what)
{
    uint64_t now = agent_now_ns();
    agent_gil_phase_end(now);
    agent.phase_what = what;
    agent.phase_since_ns = now;
}

void agent_gil_exit(void)
{
    uint64_t now = agent_now_ns();
    uint64_t held = now - agent.gil_since_ns;
    if (held > agent.hold_max.ns) {
        agent_gil_phase_end(now);
        uint64_t cpu = agent_thread_cpu_ns();
        struct pm_hold *h = &agent.hold_max;
        h->ns = held;
        h->cpu_ns = cpu > agent.gil_cpu_since_ns ? cpu - agent.gil_cpu_since_ns : 0;
        h->gc_ns = agent.pause_total_ns - agent.gil_gc_since_ns;
        snprintf(h->what, sizeof(h->what), "%s",
                 agent.phase_top_what ? agent.phase_top_what : "?");
    }
    if (held > agent.op_max_hold_ns)
        agent.op_max_hold_ns = held;
    agent.op_held_ns += held;
    PyEval_SaveThread();
}

int agent_gil_yield(void)
{
    const char *what = agent.phase_what; /* the work goes on after the pause */
    agent_gil_exit();
    if (agent.between_slices)
        agent.between_slices();
    struct timespec ts = {0, AGENT_YIELD_NS};
    nanosleep(&ts, NULL);
    return agent_gil_enter(what);
}

int agent_gil_slice_over(unsigned share_pct)
{
    uint64_t budget_ns = (uint64_t)atomic_load(&agent.max_pause_us) * 10u * share_pct;
    return agent_now_ns() - agent.gil_since_ns >= budget_ns;
}

int agent_gil_breathe(int *gone, unsigned share_pct)
{
    if (*gone)
        return -1;
    if (!agent_gil_slice_over(share_pct))
        return 0;
    if (!agent_gil_yield()) {
        *gone = 1;
        return -1;
    }
    return 0;
}

void agent_op_begin(void)
{
    agent.op_held_ns = 0;
    agent.op_max_hold_ns = 0;
}

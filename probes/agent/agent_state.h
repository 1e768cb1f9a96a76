/* The agent loaded into the target: the state its parts share, the clock and
 * the agent thread's way into the GIL. Every other agent file depends on this
 * one and it depends on none of them (no probe header here), so the agent's
 * includes form no circle; each part declares its own functions in its own
 * header. Built against the limited API (3.8), so one .so serves CPython
 * 3.8-3.13.
 *
 * Every agent header includes this one first: it brings Python.h before any
 * system header, as CPython requires.
 *
 * Threads: the agent's own pthread serves the socket and takes the GIL only to
 * sample or run a command. The GC callback runs in whichever Python thread
 * collects, with the GIL held. The GIL therefore guards the pause ring and the
 * hook; plain atomics carry the lifecycle flags read without it.
 *
 * The probes (agent_census, agent_alloc, agent_cycles, agent_why,
 * agent_tracemalloc) run with the GIL held by the caller unless their header
 * says otherwise; none may raise into the target (clear every error) or print
 * anything. */
#ifndef PYMEMTOP_PROBES_AGENT_AGENT_STATE_H
#define PYMEMTOP_PROBES_AGENT_AGENT_STATE_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <limits.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>

#include "model.h"
#include "pylayout.h"

#define AGENT_VERSION 1
#define AGENT_PAUSE_RING 4096
#define AGENT_DEFAULT_INTERVAL_MS 1000
/* Monitors served at once (issue 12): a dashboard, an exporter, a --once...
 * A connection past this is refused with BUSY naming them. */
#define PM_AGENT_MAX_MONITORS 8

struct agent_state {
    pid_t pid;          /* getpid() at load; differs after fork */
    uid_t euid;
    uint64_t loaded_ns;
    uint64_t hexversion;
    char python[32];
    /* What this interpreter's internals look like (lib/pylayout.h): NULL for
     * a version or build with no row, then every probe takes its public-API
     * path. dbg_ok: _Py_DebugOffsets decoded and proved (3.13+). Set once at
     * start, read-only after. */
    const struct pylayout *layout;
    struct pylayout_dbg dbg;
    int dbg_ok;
    int frames_ok; /* frame locals may be read raw (layout and build allow it) */
    char layout_why[96]; /* why a raw path is off, for answers that fall back */
    /* No file anywhere (agent_server.c): an abstract listening socket whose
     * name ("\0pymemtop.<pid>.<random>") lives in the network namespace, and
     * a spare unconnected socket bound to "<that name>.<seq>" for the next
     * monitor to take with pidfd_getfd and connect from inside our network
     * namespace. */
    char listen_name[64]; /* without the leading NUL */
    int listen_fd;
    int spare_fd;
    unsigned spare_seq;

    atomic_int started;
    atomic_int finalizing; /* interpreter shutting down: never take the GIL again */
    atomic_int forked;     /* we are a forked child: the agent is dead here */
    uint64_t clients_served;

    /* The agent thread's one thread state (see agent_server.c). */
    PyThreadState *tstate;

    /* Python objects, created at load and never freed (the .so stays loaded). */
    PyObject *gc_module;
    PyObject *sys_module;
    PyObject *gc_callback;
    int hook_installed; /* GIL-guarded */

    /* GIL-guarded pause bookkeeping, shared by every monitor: pause number
     * `seq` is in ring[seq % AGENT_PAUSE_RING] while pause_seq - seq <=
     * AGENT_PAUSE_RING. Each monitor keeps its own cursor into it
     * (agent_clients.h), so every one gets every pause exactly once, and the
     * ring is never drained or reset while the agent lives. */
    uint64_t gc_start_ns;
    struct pm_gc_pause ring[AGENT_PAUSE_RING];
    uint64_t pause_seq;      /* pauses timed since the agent loaded */
    uint64_t pause_total_ns; /* their sum */
    /* The agent's own cost to the target since it loaded (agent thread);
     * each monitor is told the part since it came. */
    uint64_t observer_ns;

    /* Budget for sys.getallocatedblocks(): it walks every arena from 3.9 on. */
    uint64_t blocks_next_ns;
    int64_t blocks_last;
    uint64_t blocks_cost_ns;
    uint64_t blocks_rss;     /* peak RSS at that read: scales its prediction */
    uint64_t blocks_skip_ns; /* predicted hold of a read left out, 0 when it ran */

    /* Set by agent_census.c, reported in every sample. */
    uint64_t census_cost_ns;
    uint64_t census_interval_ms;

    /* Collections begun, per generation, counted by our gc.callbacks entry
     * ("start" phase) since the agent loaded; GIL-guarded. A walk that lets
     * the GIL go between slices compares them to learn whether the lists
     * were rearranged meanwhile (agent_census_walk.c). */
    uint64_t gc_started[PM_GENERATIONS];
    /* The list the collector calls (gcstate->callbacks, whatever gc.callbacks
     * is rebound to later), held from the hook's install: our entry must be
     * in it for gc_started to be complete. */
    PyObject *gc_callbacks;

    /* Every hold of the GIL by the agent thread, timed in agent_gil_exit():
     * the target notices the agent through these stalls. hold_max: the
     * longest since the last sample (the sampler reads and resets it), with
     * what it was (agent_gil_doing's longest phase), its thread CPU time and
     * the collections inside it (pause_total_ns's rise: a collection our
     * allocation started runs on our thread, in our hold); op_*: since
     * agent_op_begin() (one command or census). */
    uint64_t gil_since_ns, gil_cpu_since_ns, gil_gc_since_ns;
    const char *phase_what, *phase_top_what;
    uint64_t phase_since_ns, phase_top_ns;
    struct pm_hold hold_max;
    uint64_t op_held_ns, op_max_hold_ns;
    /* [agent] max_pause_ms: the longest one hold sliced work may take. */
    atomic_uint max_pause_us;
    /* [agent] confirm_pause_ms of the monitor whose command runs: its
     * stop-the-world commands predicted longer are refused unless forced
     * (agent thread only). */
    unsigned confirm_pause_ms;
    /* What a full collection would cost here: the latest census's objects
     * and GIL time (agent_census.c), and a full collection's measured cost
     * per 1000 of those objects (our hook; 0 none seen yet). */
    uint64_t census_objects, census_held_ns;
    uint64_t full_gc_ns_per_kobj;
    /* Called by agent_gil_yield() while sliced work has let the GIL go
     * (agent thread, GIL not held): the server sends the other monitors
     * their samples there, so a long command delays nobody's. NULL: none. */
    void (*between_slices)(void);
};

extern struct agent_state agent;

/* CLOCK_MONOTONIC in ns: pauses, budgets and sample times all use it. */
uint64_t agent_now_ns(void);

/* Agent thread only: takes the GIL with the thread's own state, unless the
 * interpreter is going away (then 0: do not touch Python). `what` names the
 * work (a static string, "census", "sample"...): the longest hold since the
 * last sample reports it. */
int agent_gil_enter(const char *what);
void agent_gil_exit(void);
/* GIL held: the hold goes on with other work (a static string); the hold is
 * named after its longest phase. One clock read. */
void agent_gil_doing(const char *what);

/* Agent thread, GIL held: lets the target's threads run (the GIL released
 * for a moment) and takes it back. 0 when Python is going away: the GIL is
 * then not held and Python must not be touched again. */
int agent_gil_yield(void);
/* True when the current hold has lasted `share_pct` % of max_pause: sliced
 * work checks it every few dozen steps. */
int agent_gil_slice_over(unsigned share_pct);
/* Sliced work's step: when the hold has lasted its share, lets the target
 * run. 0, or -1 when Python is going away (*gone set: the GIL is not held
 * and Python must not be touched again; also -1 at once if *gone was set). */
int agent_gil_breathe(int *gone, unsigned share_pct);
/* Starts timing one operation's holds (op_held_ns, op_max_hold_ns). */
void agent_op_begin(void);
#define AGENT_DEFAULT_MAX_PAUSE_US 5000u
#define AGENT_DEFAULT_CONFIRM_PAUSE_MS 200u

#endif

/* The agent loaded into the target: shared state and the parts that touch it.
 * Built against the limited API (3.8), so one .so serves CPython 3.8-3.13.
 *
 * Threads: the agent's own pthread serves the socket and takes the GIL only to
 * sample or run a command. The GC callback runs in whichever Python thread
 * collects, with the GIL held. The GIL therefore guards the pause ring and the
 * hook; plain atomics carry the lifecycle flags read without it. */
#ifndef PYMEMTOP_PROBES_AGENT_AGENT_H
#define PYMEMTOP_PROBES_AGENT_AGENT_H

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
    char dir_path[64];  /* /tmp/.pymemtop-<uid> */
    char sock_path[108];
    int listen_fd;
    int client_fd; /* the monitor being served, -1 none: closed in forked children */

    atomic_int started;
    atomic_int finalizing; /* interpreter shutting down: never take the GIL again */
    atomic_int forked;     /* we are a forked child: the agent is dead here */
    atomic_uint interval_ms;
    uint64_t clients_served;

    /* The agent thread's one thread state (see agent_server.c). */
    PyThreadState *tstate;

    /* Python objects, created at load and never freed (the .so stays loaded). */
    PyObject *gc_module;
    PyObject *sys_module;
    PyObject *gc_callback;
    int hook_installed; /* GIL-guarded */

    /* GIL-guarded pause bookkeeping since the current client attached. */
    uint64_t gc_start_ns;
    struct pm_gc_pause ring[AGENT_PAUSE_RING];
    size_t ring_head, ring_len;
    uint64_t pauses_dropped;
    uint64_t pause_count, pause_total_ns, pause_max_ns;
    uint64_t observer_ns;

    /* Budget for sys.getallocatedblocks(): it walks every arena from 3.9 on. */
    uint64_t blocks_next_ns;
    int64_t blocks_last;
    uint64_t blocks_cost_ns;

    /* Set by agent_census.c, reported in every sample. */
    uint64_t census_cost_ns;
    uint64_t census_interval_ms;
};

extern struct agent_state agent;

uint64_t agent_now_ns(void);

/* agent_gc.c: the gc.callbacks hook (GIL held for all three). */
int agent_gc_init(void);
void agent_gc_install(void);
void agent_gc_remove(void);

/* agent_sample.c: one sample or command, GIL taken inside. Return -1 when the
 * interpreter is finalizing (the caller must stop touching Python). */
struct proto_buf;
struct proto_command;
int agent_sample_encode(struct proto_buf *out);
int agent_command_run(const struct proto_command *c, struct proto_buf *out, int *detach);
/* Agent thread only: takes the GIL with the thread's own state, unless the
 * interpreter is going away (then 0: do not touch Python). */
int agent_gil_enter(void);
void agent_gil_exit(void);

/* agent_main.c: the start the bootstrap's _start() runs, for a native thread
 * that holds the GIL (agent_native.c). Never raises. */
void agent_start_native(void);

/* agent_native.c: the entry pymemtop calls after dlopen when no thread runs
 * Python (lib/attach.h, attach_native_start): spawns a thread that takes the
 * GIL with PyGILState_Ensure and calls agent_start_native(). 0 or -errno. */
int pymemtop_agent_start_thread(void);

/* agent_server.c */
int agent_server_start(void);

/* The probes. All run with the GIL held by the caller unless said otherwise;
 * none may raise into the target (clear every error) or print anything.
 * `msg` answers the user in one line (success or what went wrong). */

/* agent_census.c: objects per type. Periodic on a budget of the target's
 * wall time; agent_census_next_ns() tells the server loop when. */
void agent_census_attach(void);           /* a monitor connected (no GIL) */
uint64_t agent_census_next_ns(void);      /* 0: no census scheduled (no GIL) */
/* Appends a CENSUS frame to out (takes the GIL itself). forced: on command,
 * outside the budget. Returns 0, -1 when Python is going away. */
int agent_census_run(struct proto_buf *out, int forced);
/* A census kept as a snapshot (the first one is the baseline; the agent holds
 * baseline, previous and latest, across monitor sessions: counts only, a few
 * KiB). Appends the CENSUS frame; takes the GIL itself. */
int agent_census_snapshot(struct proto_buf *out);
/* Appends a CENSUS frame of kind DIFF_PREVIOUS or DIFF_BASELINE: types by
 * change between the latest snapshot and the other (no GIL needed). 0, or
 * -ENOENT with msg set when there are not two snapshots yet. */
int agent_census_diff(struct proto_buf *out, int kind, char *msg, size_t msg_len);
void agent_census_detach(void);           /* (no GIL) */
/* [census] interval (ms floor, 0 default 2 s) and pause_budget (basis points
 * of wall time, 0 default 1 %). (No GIL.) */
void agent_census_configure(unsigned interval_ms, unsigned budget_bp);

/* agent_alloc.c: allocator numbers for every sample, and the optional
 * pass-through counting hook. */
void agent_alloc_read(struct pm_alloc *a, uint64_t now_ns);
int agent_alloc_hook(int on, char *msg, size_t msg_len); /* 0 ok, -errno */
void agent_alloc_detach(void); /* counting off; the hook stays installed */

/* agent_cycles.c: gc.garbage and the cycle hunt. */
int64_t agent_cycles_garbage_len(void);
/* Appends a HUNT frame; restores gc debug flags exactly. 0 ok, -errno. */
int agent_cycles_hunt(struct proto_buf *out, char *msg, size_t msg_len);

/* agent_why.c: referrer chains from roots to a few recent instances of a
 * type, grouped by shape; appends a WHY frame. budget_ms 0: the default.
 * Holds no reference afterwards. 0 ok (chains or not), -errno. */
int agent_why(struct proto_buf *out, const char *type_name, int64_t budget_ms, char *msg,
              size_t msg_len);

/* agent_tracemalloc.c: on demand tracing, top sites, snapshot diffs. */
void agent_tracemalloc_read(struct pm_agent_sample *s);
int agent_tracemalloc_set(int64_t frames, char *msg, size_t msg_len); /* 0 = stop */
/* Takes a tracemalloc snapshot (if tracing) and appends a SITES top frame. */
int agent_tracemalloc_snapshot(struct proto_buf *out, char *msg, size_t msg_len);
/* Appends a SITES diff frame: kind PM_SITES_DIFF_PREVIOUS or _BASELINE. */
int agent_tracemalloc_diff(struct proto_buf *out, int kind, char *msg, size_t msg_len);
void agent_tracemalloc_detach(void); /* stops tracing only if the agent started it */

#endif

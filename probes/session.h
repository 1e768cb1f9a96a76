/* One monitoring session: the target, its agent link, the /proc probe and
 * the history both feed. The dashboard and the headless modes read this
 * struct; only session_* functions change it. */
#ifndef PYMEMTOP_PROBES_SESSION_H
#define PYMEMTOP_PROBES_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "attach.h"
#include "carry.h"
#include "eventlog.h"
#include "histogram.h"
#include "holdlog.h"
#include "model.h"
#include "series.h"
#include "target.h"
#include "typetable.h"

#define SESSION_PAUSE_RING 4096

enum session_state {
    SESSION_LIVE,           /* agent connected, samples flowing */
    SESSION_TARGET_EXITED,  /* the process is gone; data kept */
    SESSION_AGENT_LOST,     /* socket closed but the process lives */
    SESSION_DETACHED,       /* we detached on purpose */
    SESSION_REPLAY,         /* rebuilt from a recording: no target */
};

/* In replay, what the recording says where the live session computes it. */
struct session_recorded {
    uint64_t p50_ns, p99_ns, last_ns;
    double wall_share;
    size_t index, count; /* sample shown, samples in the recording */
};

struct session_opts {
    const char *agent_path;   /* absolute path of pymemtop_agent.so */
    unsigned interval_ms;     /* sampling interval asked of the agent */
    unsigned attach_timeout_ms; /* how long to wait for the safe point */
    size_t history;           /* points kept per series */
    unsigned suspect_window;  /* censuses of growth in a row that make a suspect */
    unsigned census_interval_ms; /* periodic census; 0: adaptive (agent's budget) */
    double census_budget_pct;    /* share of wall time a census may take; 0: agent default */
    bool cycle_capture_off;      /* [cycles] capture = off */
    double cycle_capture_pct;    /* [cycles] capture_budget, %; 0: the default, 1 % */
    unsigned pause_alert_ms;     /* log collections longer than this; 0: never */
    double growth_alert_mib_per_min; /* warn when RSS grows faster; 0: never */
    unsigned max_pause_ms;       /* [agent] max_pause_ms; 0: the agent's default (5) */
    unsigned confirm_pause_ms;   /* [agent] confirm_pause_ms */
};

struct agent_link;
struct agent_inbox;
struct proc_probe;

struct session {
    struct target_info target;
    struct pm_hello hello;
    enum session_state state;
    bool injected;            /* false: an agent already loaded was reused */
    struct attach_stats attach;
    struct carry carry;       /* how this run carried the agent in (way CARRY_NONE: reused) */
    uint64_t attach_begin_ns; /* command start, CLOCK_MONOTONIC */
    uint64_t attached_ns;     /* HELLO received */
    unsigned interval_ms;

    struct pm_proc_sample proc;  /* latest /proc sample */
    struct pm_agent_sample agent; /* latest agent sample */
    uint64_t agent_samples;      /* how many received */

    struct series rss_kib, anon_kib, alloc_blocks, observer_ns; /* listed in SESSION_SERIES */
    /* Per agent sample, at its time: pymalloc's used KiB, and gc.get_stats()
     * "collected" per generation (cumulative) for derive_freed_per_s. */
    struct series pymalloc_kib, collected[PM_GENERATIONS];
    struct histogram pauses;     /* every pause received since attach */
    struct pm_gc_pause pause_ring[SESSION_PAUSE_RING]; /* newest last */
    size_t pause_head, pause_len;

    struct typetable *types;     /* census counts and growth */
    struct pm_census census;     /* the latest census, without its types */
    uint64_t censuses;           /* received this session */
    uint64_t census_skip_ns;     /* the last periodic census was left out: its predicted hold */
    struct pm_census diff;       /* the latest snapshot diff (owns its types) */
    bool have_diff;
    struct pm_hunt hunt;         /* the latest cycle hunt */
    bool have_hunt;
    struct pm_capture capture;   /* cycle shapes from the program's own collections */
    bool have_capture;
    struct pm_why why;           /* the latest "why" answer (referrer chains) */
    bool have_why;
    struct pm_sites sites_top;   /* tracemalloc top sites at the latest snapshot */
    struct pm_sites sites_diff;  /* tracemalloc diff */
    struct pm_sites sites_growth; /* tracemalloc growth since the mark (tm_growth) */
    bool have_sites_top, have_sites_diff, have_sites_growth;

    struct session_recorded recorded; /* SESSION_REPLAY only */

    /* The agent's GIL holds as reported (samples, censuses, commands), for
     * "the longest pause the monitor caused in the last minute". */
    struct holdlog holds; /* holdlog_max(): the longest the target waited out lately */

    /* Send the next commands with PROTO_CMD_FORCE: a stop-the-world command
     * runs whatever pause it predicts (--force; the dashboard's second key
     * press). */
    bool force;

    struct pm_reply last_reply;  /* answer to the latest command */
    char last_command[32];
    uint64_t last_command_ns;    /* when it was sent; 0 = none */
    bool command_pending;

    char status[256];            /* a line for the user: what just happened */
    uint64_t status_ns;

    struct eventlog *events;     /* commands, answers, snapshots, alerts (owned) */
    uint64_t pause_alert_ns;     /* 0: no pause events */
    double growth_alert_kib_per_min; /* 0: no growth alert */
    bool growth_alerting;        /* above the threshold now (re-arms below half) */

    struct agent_link *link;
    struct agent_inbox *inbox;
    struct proc_probe *probe;
    uint64_t next_proc_ns;
};

/* Every series a session keeps, as an array initializer: init, free, clone
 * and replay walk this one list. */
#define SESSION_SERIES(s)                                                                  \
    {&(s)->rss_kib, &(s)->anon_kib, &(s)->alloc_blocks, &(s)->observer_ns, &(s)->pymalloc_kib, \
     &(s)->collected[0], &(s)->collected[1], &(s)->collected[2]}

/* Inspects, reuses or injects the agent and waits for its HELLO. Returns
 * TARGET_OK or an error with a one- or two-line message for the user. */
enum target_status session_open(struct session *s, int pid, const struct session_opts *o,
                                char *msg, size_t msg_len);
/* fd to poll for agent data; -1 once the agent is gone. */
int session_fd(const struct session *s);
/* Reads whatever the agent sent (call when session_fd is readable). */
void session_on_readable(struct session *s);
/* Samples /proc when due; returns ms until the next due time. */
int session_tick(struct session *s, uint64_t now_ns);
/* Sends a command (names in lib/proto.h); returns its id (> 0) or -errno.
 * The answer lands in last_reply (same id), results in census/diff/hunt/
 * sites_* before it. */
int64_t session_command(struct session *s, const char *name, int64_t arg);
/* The same with a string argument: session_command_text(s, "why", budget_ms,
 * "cache_demo.Session"); the answer lands in why / have_why. */
int64_t session_command_text(struct session *s, const char *name, int64_t arg,
                             const char *text);
/* The same with a tracemalloc lease in seconds (0 none): tracemalloc=on:S. */
int64_t session_command_lease(struct session *s, const char *name, int64_t arg,
                              const char *text, int64_t lease_s);
/* Monitors the agent serves now, this one included: from the latest sample,
 * else the HELLO; 0 when the agent does not say (older agents). */
unsigned session_monitors(const struct session *s);
/* Pauses kept in the ring: i = 0 is the oldest. */
const struct pm_gc_pause *session_pause_at(const struct session *s, size_t i);
/* Share of wall time spent in GC since attach, 0..1. */
double session_gc_share(const struct session *s, uint64_t now_ns);
/* Share of wall time spent in GC since the process started, 0..1: the
 * interpreter's own cumulative collection time (gc.get_stats() "duration",
 * 3.15+) over the process's uptime. -1 when unknown. */
double session_gc_share_since_start(const struct session *s);
/* Pause percentiles (q in 0..1) and the latest pause; the recording's own
 * figures in replay. */
uint64_t session_pause_quantile(const struct session *s, double q);
uint64_t session_pause_last(const struct session *s);
/* A deep copy for a frozen screen: shares no pointer with s (series, type
 * table, event log, diff rows) and has no agent link or /proc probe, so it
 * stays as it was while s keeps sampling. NULL on no memory. */
struct session *session_clone(const struct session *s);
void session_clone_free(struct session *c);
/* Detaches cleanly (the agent removes its GC hook and idles) and frees. */
void session_close(struct session *s);

uint64_t session_now_ns(void);

#endif

/* The monitors the agent serves at once (up to PM_AGENT_MAX_MONITORS): each
 * one's connection, reader, sampling interval, cursor into the pause ring and
 * settings. What they share is decided here, in one place: the fastest census
 * floor, the smallest census budget and the smallest max pause any of them
 * asked for. Agent thread only (no GIL needed, none taken). */
#ifndef PYMEMTOP_PROBES_AGENT_AGENT_CLIENTS_H
#define PYMEMTOP_PROBES_AGENT_AGENT_CLIENTS_H

#include "agent_state.h"

#include "proto.h"

struct agent_client {
    int fd; /* -1: a free slot */
    pid_t peer; /* as SO_PEERCRED saw it: 0 outside our PID namespace */
    struct proto_reader in;
    unsigned interval_ms;
    uint64_t next_ns; /* its next sample is due then (its own grid) */
    /* Pauses: the next one it gets (its cursor into agent.ring), where its
     * counters start, and what it was sent so far. Set at its first sample. */
    int fresh;
    uint64_t pause_next, pause_base_seq, pause_base_total_ns;
    uint64_t pause_max_ns, pauses_dropped;
    uint64_t observer_base_ns;
    struct pm_hold hold_max; /* longest agent GIL hold since its last sample */
    /* Its settings, 0 when it sent none. */
    unsigned census_floor_ms, census_budget_bp, max_pause_us;
    unsigned confirm_pause_ms;
    int closing; /* detach asked, or it misbehaved: dropped by the server */
    int shapes_known;        /* it was sent the recent shapes of shapes_version */
    uint64_t shapes_version;
};

/* Slot i (0 <= i < PM_AGENT_MAX_MONITORS), free or not. */
struct agent_client *agent_client_at(int i);
/* Before the agent thread starts: every slot free. */
void agent_clients_init(void);
/* Takes fd into a free slot; NULL when all are taken. */
struct agent_client *agent_client_add(int fd, pid_t peer);
/* Closes and frees the slot; the shared settings follow the ones left. */
void agent_client_drop(struct agent_client *c);
int agent_clients_count(void);
/* "123, 456" of the monitors served (PIDs as we see them; 0 outside our PID
 * namespace is left out). Returns how many were left out. */
int agent_clients_pids(char *buf, size_t cap);
/* In a forked child: the parent's connections are closed, nothing freed
 * (the child has no agent thread, and its malloc state may be mid-use). */
void agent_clients_forget(void);

/* A client's settings; the shared ones are recomputed at once. */
void agent_client_set_interval(struct agent_client *c, unsigned interval_ms, uint64_t now_ns);
void agent_client_set_census(struct agent_client *c, int floor, unsigned value);
void agent_client_set_max_pause(struct agent_client *c, unsigned max_pause_ms);

/* Due for a sample at now: its first, or its deadline is within a tenth of
 * its interval. */
int agent_client_due(const struct agent_client *c, uint64_t now_ns);
/* It was sent a sample at now: its next deadline. */
void agent_client_served(struct agent_client *c, uint64_t now_ns);
/* When the next reading is due (0: no monitor): at once for a newcomer, else
 * the earliest deadline, but never sooner than the fastest interval after
 * the last reading, so that monitors at any phase and interval share
 * readings and the target pays for one at the fastest interval asked. */
uint64_t agent_clients_wake_ns(uint64_t last_reading_ns);

#endif

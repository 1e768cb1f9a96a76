/* The targets of --serve: one session per process, attached by a worker
 * thread (an attach can take seconds; scrapes must not wait for it), fed by
 * the one poll loop of tui/serve.c, and turned into lib/metrics.h data on
 * each scrape from the latest samples only (never a round trip into a
 * target). With --all, /proc is rescanned every scan interval: new CPython
 * processes of the user are attached, gone ones dropped. */
#ifndef PYMEMTOP_PROBES_FLEET_H
#define PYMEMTOP_PROBES_FLEET_H

#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "metrics.h"
#include "session.h"

struct fleet_opts {
    struct session_opts so;
    unsigned types;            /* [serve] types: python_objects rows per target */
    unsigned scan_interval_ms; /* [serve] scan_interval: --all rescans, retries */
    bool all;                  /* --all: follow every CPython process of the user */
    FILE *log;                 /* one line per target event (stderr) */
};

enum fleet_state { FLEET_PENDING, FLEET_LIVE, FLEET_DOWN };

struct fleet_target {
    int pid;
    enum fleet_state state;
    bool given;               /* named on the command line: kept when down */
    struct session *s;        /* FLEET_LIVE only */
    char reason[32];          /* FLEET_DOWN: target_status_name, "exited", "agent_lost" */
    bool retry;               /* FLEET_DOWN: may work later (busy, timeout, lost agent) */
    uint64_t retry_ns;
    bool announced;           /* its refusal was written to the log already */
    struct metrics_pauses pauses[PM_GENERATIONS];
    uint64_t last_pause_end_ns; /* pauses up to here are in `pauses` */
    uint64_t samples_seen;
};

struct fleet_result; /* a finished attach, handed from the worker */

struct fleet {
    struct fleet_opts o;
    struct fleet_target **t;
    size_t n, cap;
    uint64_t next_scan_ns;
    uint64_t attach_failures;
    int wake[2];              /* the worker writes a byte per finished attach */
    pthread_t worker;
    pthread_mutex_t mu;
    pthread_cond_t cv;        /* work queued, or stop */
    pthread_cond_t idle;      /* the worker finished an attach */
    bool busy;                /* the worker is attaching (under mu) */
    int *queue;               /* PIDs to attach (under mu) */
    size_t queue_len, queue_cap;
    struct fleet_result *done; /* finished attaches (under mu) */
    size_t done_len, done_cap;
    bool stop;
};

/* 0, or -errno (no thread, no pipe). */
int fleet_start(struct fleet *f, const struct fleet_opts *o);
/* Follows pid (a PID given on the command line: kept, as down, when it
 * exits or is refused). */
void fleet_add(struct fleet *f, int pid);
/* Fills pollfds for the worker's wake pipe and every live session; idx[i]
 * is the target index of fds[i] (-1: the wake pipe). Returns how many. */
size_t fleet_pollfds(struct fleet *f, struct pollfd *fds, int *idx, size_t cap);
/* After poll: reads what is readable, adopts finished attaches. */
void fleet_on_poll(struct fleet *f, const struct pollfd *fds, const int *idx, size_t n);
/* /proc samples, exits, --all rescans and retries when due; returns ms to
 * the next due time. */
int fleet_tick(struct fleet *f, uint64_t now_ns);
/* The exposition of every target from its latest samples. */
int fleet_metrics(struct fleet *f, struct metrics_buf *b, struct metrics_self *self,
                  enum metrics_format fmt);
size_t fleet_live(const struct fleet *f);
/* Lets the worker finish its current attach, parks it, and detaches from
 * every target. For the end of the process: the worker is not joined. */
void fleet_stop(struct fleet *f);

#endif

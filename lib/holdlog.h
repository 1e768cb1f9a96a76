/* The agent's GIL holds as the monitor heard of them (samples and command
 * replies), kept for "the longest pause the monitor caused lately": a ring of
 * the latest HOLDLOG_LEN, asked for its longest hold in a window. */
#ifndef PYMEMTOP_LIB_HOLDLOG_H
#define PYMEMTOP_LIB_HOLDLOG_H

#include <stddef.h>
#include <stdint.h>

#include "model.h"

#define HOLDLOG_LEN 1024 /* a minute of samples at 100 ms, and then some */

struct holdlog {
    uint64_t t_ns[HOLDLOG_LEN]; /* when heard (monitor's CLOCK_MONOTONIC) */
    struct pm_hold hold[HOLDLOG_LEN];
    size_t head, len;
};

/* Keeps h (a hold of 0 ns is nothing to keep), heard at t_ns; the oldest
 * goes when full. */
void holdlog_note(struct holdlog *l, uint64_t t_ns, const struct pm_hold *h);
/* The longest hold heard in (now_ns - window_ns, now_ns]; all zero if none. */
struct pm_hold holdlog_max(const struct holdlog *l, uint64_t now_ns, uint64_t window_ns);

#endif

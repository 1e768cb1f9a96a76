/* A --record file read back into a session, as of any of its samples. */
#ifndef PYMEMTOP_PROBES_REPLAY_H
#define PYMEMTOP_PROBES_REPLAY_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "session.h"

struct replay_line {
    uint64_t offset;
    size_t len;
};

/* What the graphs need of every sample, kept for all of them. */
struct replay_point {
    uint64_t time_ns;
    double rss_kib, anon_kib, blocks, observer_ns;
    /* What derive.c needs, at the agent's sample time as the live session
     * has it (agent.sample_time_ns; time_ns in older recordings). */
    uint64_t sample_ns;
    double pymalloc_kib; /* < 0: unknown */
    double collected[PM_GENERATIONS];
};

struct replay {
    FILE *f;
    struct replay_line *lines; /* sample lines only */
    struct replay_point *points;
    size_t n, pos;
    struct pm_gc_pause *pauses; /* gc_pause events, in file order */
    size_t *pause_sample;       /* index of the sample each event came before */
    size_t n_pauses;
    char *buf;
    size_t buf_cap;
};

struct jv;
/* cycles.capture and cycles.recent_shapes of a sample line into s->capture
 * (replay_capture.c); `cycles` is the line's "cycles" object. */
void replay_capture(struct session *s, const struct jv *cycles);

/* Indexes the file; 0, or -1 with msg "FILE:LINE: what" for a bad line. */
int replay_open(struct replay *r, const char *path, char *msg, size_t msg_len);
void replay_close(struct replay *r);
/* An empty session in SESSION_REPLAY state, ready for replay_apply. */
int replay_session_init(struct session *s, size_t history);
/* The session as of sample i (clamped): the recording's own numbers. */
int replay_apply(struct replay *r, struct session *s, size_t i);

#endif

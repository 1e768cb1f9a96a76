/* One sample or one command for the monitor, GIL taken inside. Both return
 * -1 when the interpreter is finalizing (the caller must stop touching
 * Python). */
#ifndef PYMEMTOP_PROBES_AGENT_AGENT_SAMPLE_H
#define PYMEMTOP_PROBES_AGENT_AGENT_SAMPLE_H

#include "agent_state.h"
#include "proto.h"

struct proto_command;
struct agent_client;

/* One reading of the interpreter, shared by every monitor due at once;
 * each gets its own encoding of it (agent_sample_encode): its own pauses
 * and counters. Large (the ring copy): keep one, static. */
struct agent_reading {
    struct pm_agent_sample s;
    uint64_t pause_seq, pause_total_ns, observer_ns;
    struct pm_hold hold_max; /* the agent's longest hold since the previous reading */
    uint64_t first_seq;   /* ring holds pauses first_seq .. pause_seq-1 */
    struct pm_gc_pause ring[AGENT_PAUSE_RING];
    /* The SHAPES frame after each SAMPLE: with the shapes, and "unchanged". */
    struct proto_buf shapes_full, shapes_same;
    uint64_t shapes_version;
};

/* Takes the GIL once; from_seq: the oldest pause a monitor due still needs. */
int agent_sample_read(struct agent_reading *r, uint64_t from_seq);
/* The SAMPLE frame for monitor c (no GIL): its pauses since its last sample,
 * its counters; `monitors` connected now. Moves c's cursor. */
void agent_sample_encode(struct proto_buf *out, struct agent_reading *r, struct agent_client *c,
                         unsigned monitors);
/* cl: the sender; its interval, settings and detach are its own. */
int agent_command_run(const struct proto_command *c, struct proto_buf *out,
                      struct agent_client *cl);

#endif

/* One sample or one command for the monitor, GIL taken inside. Both return
 * -1 when the interpreter is finalizing (the caller must stop touching
 * Python). */
#ifndef PYMEMTOP_PROBES_AGENT_AGENT_SAMPLE_H
#define PYMEMTOP_PROBES_AGENT_AGENT_SAMPLE_H

#include "agent_state.h"

struct proto_buf;
struct proto_command;

int agent_sample_encode(struct proto_buf *out);
int agent_command_run(const struct proto_command *c, struct proto_buf *out, int *detach);

#endif

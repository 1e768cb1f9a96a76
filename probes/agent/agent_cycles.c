/* gc.garbage and cycle hunts (stub: replaced by the cycles implementation). */
#include "agent.h"

#include <errno.h>
#include <stdio.h>

int64_t agent_cycles_garbage_len(void)
{
    return -1;
}

int agent_cycles_hunt(struct proto_buf *out, char *msg, size_t msg_len)
{
    (void)out;
    snprintf(msg, msg_len, "cycle hunt is not available yet");
    return -ENOSYS;
}

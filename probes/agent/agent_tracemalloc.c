/* tracemalloc on demand (stub: replaced by the tracemalloc implementation). */
#include "agent.h"

#include <errno.h>
#include <stdio.h>

void agent_tracemalloc_read(struct pm_agent_sample *s)
{
    s->tracemalloc_on = false;
    s->traced_bytes = s->traced_peak_bytes = -1;
}

int agent_tracemalloc_set(int64_t frames, char *msg, size_t msg_len)
{
    (void)frames;
    snprintf(msg, msg_len, "tracemalloc control is not available yet");
    return -ENOSYS;
}

int agent_tracemalloc_snapshot(struct proto_buf *out, char *msg, size_t msg_len)
{
    (void)out;
    snprintf(msg, msg_len, "snapshot taken");
    return 0;
}

int agent_tracemalloc_diff(struct proto_buf *out, int kind, char *msg, size_t msg_len)
{
    (void)out;
    (void)kind;
    snprintf(msg, msg_len, "diff is not available yet");
    return -ENOSYS;
}

void agent_tracemalloc_detach(void)
{
}

/* Objects per type (stub: replaced by the census implementation). */
#include "agent.h"

#include <errno.h>
#include <stdio.h>

#include "proto.h"

void agent_census_attach(void)
{
}

uint64_t agent_census_next_ns(void)
{
    return 0;
}

int agent_census_run(struct proto_buf *out, int forced)
{
    (void)out;
    (void)forced;
    return 0;
}

int agent_census_snapshot(struct proto_buf *out)
{
    (void)out;
    return 0;
}

int agent_census_diff(struct proto_buf *out, int kind, char *msg, size_t msg_len)
{
    (void)out;
    (void)kind;
    snprintf(msg, msg_len, "census diff is not available yet");
    return -ENOSYS;
}

void agent_census_detach(void)
{
}

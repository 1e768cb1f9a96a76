/* Who holds instances of a type: referrer chains from roots to a few recent
 * instances, grouped by shape. GIL held by the caller, and let go between
 * slices of at most [agent] max_pause_ms while it works; never raises into
 * the target; `msg` answers the user in one line. */
#ifndef PYMEMTOP_PROBES_AGENT_AGENT_WHY_H
#define PYMEMTOP_PROBES_AGENT_AGENT_WHY_H

#include "agent_state.h"

struct proto_buf;

/* Appends a WHY frame. budget_ms 0: the default (total time, hand-overs
 * included). Holds no reference afterwards. 0 ok (chains or not), -errno;
 * -ESHUTDOWN when Python went away meanwhile: the GIL is then NOT held. */
int agent_why(struct proto_buf *out, const char *type_name, int64_t budget_ms, char *msg,
              size_t msg_len);

#endif

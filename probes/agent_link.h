/* The monitor's end of the agent socket: connect, read frames, send commands. */
#ifndef PYMEMTOP_PROBES_AGENT_LINK_H
#define PYMEMTOP_PROBES_AGENT_LINK_H

#include <stddef.h>
#include <stdint.h>

#include "model.h"
#include "target.h"

struct agent_link;

/* Socket path of t's agent, reached through /proc/PID/root so that a target
 * in another mount namespace works. 0 or -ENAMETOOLONG. */
int agent_link_path(const struct target_info *t, char *out, size_t cap);

/* Connects and reads the HELLO (bounded by timeout_ms). Returns 0; -ENOENT or
 * -ECONNREFUSED when no agent listens (stale socket removed); -EBUSY when
 * another monitor holds it (msg names it); other -errno with msg set. */
int agent_link_open(const struct target_info *t, unsigned timeout_ms, struct agent_link **out,
                    struct pm_hello *hello, char *msg, size_t msg_len);
int agent_link_fd(const struct agent_link *l);
/* Removes the sockets that agents of dead processes left (a killed process
 * cannot clean up) from t's socket directory. Only when t shares our PID
 * namespace, so that the PIDs in the names mean what kill() thinks. Returns
 * how many were removed. */
int agent_link_sweep(const struct target_info *t);

enum agent_event {
    AGENT_EV_NONE,
    AGENT_EV_SAMPLE,
    AGENT_EV_REPLY,
    AGENT_EV_CENSUS,
    AGENT_EV_HUNT,
    AGENT_EV_SITES,
    AGENT_EV_CLOSED,
    AGENT_EV_WHY,
};

/* Where decoded messages land; the event says which member is fresh. A
 * census's types array belongs to the caller after AGENT_EV_CENSUS. */
struct agent_inbox {
    struct pm_agent_sample sample;
    struct pm_reply reply;
    struct pm_census census;
    struct pm_hunt hunt;
    struct pm_sites sites;
    struct pm_why why;
};

/* Reads what is available (one read), then returns events one by one: call
 * agent_link_fill once when readable, then agent_link_next until NONE. */
int agent_link_fill(struct agent_link *l);
enum agent_event agent_link_next(struct agent_link *l, struct agent_inbox *in);
/* Last protocol error, for the user ("" if none). */
const char *agent_link_error(const struct agent_link *l);
int agent_link_send(struct agent_link *l, uint64_t id, const char *name, int64_t arg);
/* The same with a string argument (CMD_TEXT), e.g. "why" and its type name. */
int agent_link_send_text(struct agent_link *l, uint64_t id, const char *name, int64_t arg,
                         const char *text);
/* The same with COMMAND flags (PROTO_CMD_FORCE ...). */
int agent_link_send_flags(struct agent_link *l, uint64_t id, const char *name, int64_t arg,
                          const char *text, uint64_t flags);
/* Sends "detach" when asked (the agent also detaches on EOF) and frees. */
void agent_link_close(struct agent_link *l, int send_detach);

#endif

/* The monitor's end of the agent socket: connect, read frames, send commands. */
#ifndef PYMEMTOP_PROBES_AGENT_LINK_H
#define PYMEMTOP_PROBES_AGENT_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model.h"
#include "target.h"

struct agent_link;

/* Where t's agent listens, read from /proc (no file of the agent's exists):
 * the abstract name of its listening socket, which the agent makes unique,
 * and the fd of its spare socket, both checked to be fds of t. */
struct agent_addr {
    bool found;
    char name[64];   /* abstract name, without its leading NUL */
    int listen_fd;   /* fd numbers in the target */
    int spare_fd;    /* -1: none right now (the agent is renewing it) */
    unsigned long spare_ino;
};

/* 0 when t has a live agent, -ENOENT when none, other -errno. */
int agent_link_find(const struct target_info *t, struct agent_addr *a);

/* Connects (see agent_link.c: the spare through pidfd_getfd, else by name in
 * the same network namespace) and reads the HELLO (bounded by timeout_ms).
 * Returns 0; -ENOENT when no agent is loaded; -EBUSY when another monitor
 * holds it or is connecting (msg names it); -EACCES/-ENOSYS when the target
 * is in another network namespace and pidfd_getfd is refused or missing;
 * other -errno with msg set. */
int agent_link_open(const struct target_info *t, unsigned timeout_ms, struct agent_link **out,
                    struct pm_hello *hello, char *msg, size_t msg_len);
int agent_link_fd(const struct agent_link *l);

enum agent_event {
    AGENT_EV_NONE,
    AGENT_EV_SAMPLE,
    AGENT_EV_REPLY,
    AGENT_EV_CENSUS,
    AGENT_EV_HUNT,
    AGENT_EV_SITES,
    AGENT_EV_CLOSED,
    AGENT_EV_WHY,
    AGENT_EV_SHAPES,
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
    struct pm_capture capture;
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
                          const char *text, uint64_t flags, int64_t lease_s);
/* Sends "detach" when asked (the agent also detaches on EOF) and frees. */
void agent_link_close(struct agent_link *l, int send_detach);

#endif

/* Headless exchanges with the agent: wait for its first sample, send a
 * command and wait for its answer. */
#include "roundtrip.h"

#include <poll.h>

#define COMMAND_TIMEOUT_NS 300000000000ull /* a hunt on a huge heap takes long */

/* Reads agent data until done(s, arg) or the deadline or the agent goes. */
static void wait_for(struct session *s, uint64_t timeout_ns, bool (*done)(const struct session *,
                                                                         int64_t), int64_t arg)
{
    uint64_t end = session_now_ns() + timeout_ns;
    while (!done(s, arg) && s->state == SESSION_LIVE && session_now_ns() < end) {
        struct pollfd pf = {.fd = session_fd(s), .events = POLLIN};
        if (poll(&pf, 1, 100) > 0)
            session_on_readable(s);
    }
}

static bool have_sample(const struct session *s, int64_t unused)
{
    (void)unused;
    return s->agent_samples > 0;
}

static bool have_reply(const struct session *s, int64_t id)
{
    return !s->command_pending && s->last_reply.id == (uint64_t)id;
}

int roundtrip_command(struct session *s, const char *name, int64_t arg, const char *text,
                       int64_t lease_s)
{
    int64_t id = session_command_lease(s, name, arg, text && text[0] ? text : NULL, lease_s);
    if (id < 0)
        return EXIT_GONE;
    wait_for(s, COMMAND_TIMEOUT_NS, have_reply, id);
    if (!have_reply(s, id))
        return s->state == SESSION_TARGET_EXITED ? EXIT_GONE : EXIT_INTERNAL;
    return s->last_reply.status == 0 ? EXIT_OK : EXIT_COMMAND;
}

void roundtrip_first_sample(struct session *s)
{
    wait_for(s, 5000000000ull, have_sample, 0);
}

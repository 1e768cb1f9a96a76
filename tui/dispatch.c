/* Command dispatch from the dashboard: a key's command goes to the agent
 * only when a live target can answer; the status line answers at once and
 * the spinner runs until the reply replaces the message. */
#include "dispatch.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "commands.h"

static const unsigned interval_steps_ms[] = {100, 200, 250, 500, 1000, 2000, 5000, 10000, 30000, 60000};

const char *dispatch_refusal(const struct session *s)
{
    switch (s->state) {
    case SESSION_TARGET_EXITED:
        return "target exited: its data stays on screen; e exports it, q quits";
    case SESSION_AGENT_LOST:
        return "agent lost: commands need a live agent";
    case SESSION_DETACHED:
        return "detached: commands need a live agent";
    case SESSION_REPLAY:
        return "replay: commands need a live target (<-/-> step, [ ] jump, { } ends)";
    default:
        return NULL;
    }
}

bool dispatch_send_text(struct dash *d, const char *name, int64_t arg, const char *text,
                        const char *progress)
{
    return dispatch_send_lease(d, name, arg, text, 0, progress);
}

bool dispatch_send_lease(struct dash *d, const char *name, int64_t arg, const char *text,
                         int64_t lease_s, const char *progress)
{
    const char *why = dispatch_refusal(d->s);
    if (why) {
        ui_err(&d->ui, "%s", why);
        return false;
    }
    if (d->s->command_pending) {
        ui_err(&d->ui, "still waiting for %s: try again in a moment", d->s->last_command);
        return false;
    }
    int64_t rc = session_command_lease(d->s, name, arg, text, lease_s);
    if (rc < 0) {
        ui_err(&d->ui, "%s failed: %s", name, strerror((int)-rc));
        return false;
    }
    ui_msg(&d->ui, "%s", progress);
    return true;
}

bool dispatch_send(struct dash *d, const char *name, int64_t arg, const char *progress)
{
    return dispatch_send_text(d, name, arg, NULL, progress);
}

/* The agent refuses a stop-the-world command whose predicted pause is over
 * [agent] confirm_pause_ms and the status line shows that prediction; the
 * same command again within DISPATCH_CONFIRM_WINDOW_NS confirms it. */
#define DISPATCH_CONFIRM_WINDOW_NS 15000000000ull

bool dispatch_send_stw(struct dash *d, const char *name, int64_t arg, const char *progress,
                       uint64_t now)
{
    const struct session *s = d->s;
    bool confirm = s->last_reply.status == -EAGAIN && s->last_reply.predict_ns &&
                   !strcmp(s->last_command, name) &&
                   now - s->last_command_ns < DISPATCH_CONFIRM_WINDOW_NS;
    d->s->force = confirm;
    bool sent = dispatch_send(d, name, arg, progress);
    d->s->force = false;
    if (sent && confirm)
        memset(&d->s->last_reply, 0, sizeof(d->s->last_reply)); /* one press, one run */
    return sent;
}

void dispatch_interval(struct dash *d, int dir)
{
    size_t n = sizeof interval_steps_ms / sizeof interval_steps_ms[0];
    unsigned cur = d->s->interval_ms;
    size_t i = 0;
    while (i < n && interval_steps_ms[i] < cur)
        i++;
    /* i: first step >= cur */
    size_t next;
    if (dir > 0) /* '+': sample more often, a shorter interval */
        next = i > 0 ? i - 1 : 0;
    else
        next = (i < n && interval_steps_ms[i] == cur) ? (i + 1 < n ? i + 1 : n - 1) : (i < n ? i : n - 1);
    unsigned want = interval_steps_ms[next];
    if (want == cur) {
        ui_err(&d->ui, "sampling every %u ms already: the %s", cur, dir > 0 ? "fastest" : "slowest");
        return;
    }
    char p[64];
    snprintf(p, sizeof p, "sampling every %u ms...", want);
    dispatch_send(d, commands[CMD_INTERVAL].name, want, p);
}

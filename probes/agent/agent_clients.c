/* The monitors served at once and the settings they share (agent_clients.h). */
#include "agent_clients.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "agent_census.h"

static struct agent_client clients[PM_AGENT_MAX_MONITORS];

struct agent_client *agent_client_at(int i)
{
    return &clients[i];
}

void agent_clients_init(void)
{
    for (int i = 0; i < PM_AGENT_MAX_MONITORS; i++)
        clients[i].fd = -1;
}

/* What the monitors share, from what each asked for. The census floor is
 * the fastest asked (the census budget still bounds it), the census budget
 * and the max pause the smallest: whichever monitor is the most careful
 * with the target is obeyed, and none can make the agent costlier for the
 * target than the others asked. */
static void clients_apply(void)
{
    unsigned floor_ms = 0, budget_bp = 0, pause_us = 0;
    for (int i = 0; i < PM_AGENT_MAX_MONITORS; i++) {
        const struct agent_client *c = &clients[i];
        if (c->fd < 0)
            continue;
        unsigned f = c->census_floor_ms ? c->census_floor_ms : AGENT_CENSUS_FLOOR_MS;
        unsigned b = c->census_budget_bp ? c->census_budget_bp : AGENT_CENSUS_BUDGET_BP;
        if (!floor_ms || f < floor_ms)
            floor_ms = f;
        if (!budget_bp || b < budget_bp)
            budget_bp = b;
        if (c->max_pause_us && (!pause_us || c->max_pause_us < pause_us))
            pause_us = c->max_pause_us;
    }
    agent_census_configure(floor_ms, budget_bp);
    atomic_store(&agent.max_pause_us, pause_us ? pause_us : AGENT_DEFAULT_MAX_PAUSE_US);
}

struct agent_client *agent_client_add(int fd, pid_t peer)
{
    for (int i = 0; i < PM_AGENT_MAX_MONITORS; i++) {
        struct agent_client *c = &clients[i];
        if (c->fd >= 0)
            continue;
        memset(c, 0, sizeof(*c));
        c->fd = fd;
        c->peer = peer;
        proto_reader_init(&c->in, 64 * 1024); /* commands only: small */
        c->interval_ms = AGENT_DEFAULT_INTERVAL_MS;
        c->next_ns = agent_now_ns(); /* first sample at once: --once waits for it */
        c->fresh = 1;
        c->confirm_pause_ms = AGENT_DEFAULT_CONFIRM_PAUSE_MS;
        clients_apply();
        return c;
    }
    return NULL;
}

void agent_client_drop(struct agent_client *c)
{
    if (c->fd < 0)
        return;
    close(c->fd);
    proto_reader_free(&c->in);
    c->fd = -1;
    clients_apply();
}

int agent_clients_count(void)
{
    int n = 0;
    for (int i = 0; i < PM_AGENT_MAX_MONITORS; i++)
        n += clients[i].fd >= 0;
    return n;
}

int agent_clients_pids(char *buf, size_t cap)
{
    size_t len = 0;
    int unseen = 0;
    buf[0] = 0;
    for (int i = 0; i < PM_AGENT_MAX_MONITORS; i++) {
        if (clients[i].fd < 0)
            continue;
        if (clients[i].peer <= 0) {
            unseen++;
            continue;
        }
        int n = snprintf(buf + len, cap - len, "%s%d", len ? ", " : "", (int)clients[i].peer);
        if (n < 0 || (size_t)n >= cap - len)
            break;
        len += (size_t)n;
    }
    return unseen;
}

void agent_clients_forget(void)
{
    for (int i = 0; i < PM_AGENT_MAX_MONITORS; i++) {
        if (clients[i].fd >= 0)
            close(clients[i].fd);
        clients[i].fd = -1;
    }
}

void agent_client_set_interval(struct agent_client *c, unsigned interval_ms, uint64_t now_ns)
{
    c->interval_ms = interval_ms;
    uint64_t next = now_ns + (uint64_t)interval_ms * 1000000u;
    if (next < c->next_ns)
        c->next_ns = next;
}

void agent_client_set_census(struct agent_client *c, int floor, unsigned value)
{
    if (floor)
        c->census_floor_ms = value;
    else
        c->census_budget_bp = value;
    clients_apply();
}

void agent_client_set_max_pause(struct agent_client *c, unsigned max_pause_ms)
{
    c->max_pause_us = max_pause_ms * 1000u;
    clients_apply();
}

int agent_client_due(const struct agent_client *c, uint64_t now_ns)
{
    if (c->fd < 0 || c->closing)
        return 0;
    uint64_t slack = (uint64_t)c->interval_ms * 100000u; /* a tenth, in ns */
    return c->fresh || c->next_ns <= now_ns + slack;
}

void agent_client_served(struct agent_client *c, uint64_t now_ns)
{
    /* Anchored to its own deadlines: served late by up to one reading of the
     * fastest monitor, its samples still come every interval on average. */
    uint64_t iv = (uint64_t)c->interval_ms * 1000000u;
    c->next_ns += iv;
    if (c->next_ns <= now_ns) /* far behind (a long command): start afresh */
        c->next_ns = now_ns + iv;
}

uint64_t agent_clients_wake_ns(uint64_t last_reading_ns)
{
    uint64_t earliest = 0, fastest_ns = 0;
    for (int i = 0; i < PM_AGENT_MAX_MONITORS; i++) {
        const struct agent_client *c = &clients[i];
        if (c->fd < 0 || c->closing)
            continue;
        if (c->fresh)
            return 1; /* its first sample at once: --once waits for it */
        uint64_t iv = (uint64_t)c->interval_ms * 1000000u;
        if (!earliest || c->next_ns < earliest)
            earliest = c->next_ns;
        if (!fastest_ns || iv < fastest_ns)
            fastest_ns = iv;
    }
    if (!earliest)
        return 0;
    /* Never two readings closer than the fastest interval asked: monitors
     * whose deadlines fall between two readings wait for the next. */
    uint64_t grid = last_reading_ns + fastest_ns;
    return earliest > grid ? earliest : grid;
}

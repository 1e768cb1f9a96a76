/* A cycle's rendered path: hops of (type name, edge label) rotated to the
 * form that sorts first, so every instance of a shape reads the same, and
 * long rings abbreviated ("Node -.next-> Node (x1000)"). Pure strings. */
#include "agent_path.h"

#include <stdio.h>
#include <string.h>

#define HUNT_CANON_HOPS 256 /* longer cycles are not rotated to canonical form */

static int hop_cmp(const struct agent_hop *a, const struct agent_hop *b)
{
    int c = strcmp(a->name, b->name);
    return c ? c : strcmp(a->label, b->label);
}

/* The rotation that sorts first, so every instance of a shape reads the same. */
static uint32_t hunt_canonical_rotation(const struct agent_hop *hops, uint32_t nh)
{
    if (nh > HUNT_CANON_HOPS)
        return 0;
    uint32_t best = 0;
    for (uint32_t r = 1; r < nh; r++) {
        for (uint32_t i = 0; i < nh; i++) {
            int c = hop_cmp(&hops[(r + i) % nh], &hops[(best + i) % nh]);
            if (c < 0)
                best = r;
            if (c)
                break;
        }
    }
    return best;
}

static uint32_t hunt_period(const struct agent_hop *hops, uint32_t nh)
{
    for (uint32_t p = 1; p < nh && p <= AGENT_PATH_SHOW_HOPS; p++) {
        if (nh % p)
            continue;
        uint32_t i = 0;
        while (i + p < nh && hop_cmp(&hops[i], &hops[i + p]) == 0)
            i++;
        if (i + p == nh)
            return p;
    }
    return nh;
}

static void path_add(char *buf, size_t *len, const char *s)
{
    size_t room = PM_SHAPE_PATH_MAX - 1 - *len;
    size_t k = strlen(s);
    if (k > room)
        k = room;
    memcpy(buf + *len, s, k);
    *len += k;
    buf[*len] = 0;
}

static void path_add_hop(char *buf, size_t *len, const struct agent_hop *hop)
{
    path_add(buf, len, hop->name);
    if (hop->label[0]) {
        path_add(buf, len, " -");
        path_add(buf, len, hop->label);
        path_add(buf, len, "-> ");
    } else {
        path_add(buf, len, " -> ");
    }
}

/* "A -.x-> B -[0]-> A"; rings of a repeated unit: "Node -.next-> Node (x1000)". */
void agent_path_render(const struct agent_hop *hops, uint32_t nh, uint32_t cap_hops,
                       uint32_t cycle_len, char *buf)
{
    uint32_t r = hunt_canonical_rotation(hops, nh);
    size_t len = 0;
    char tail[48];
    buf[0] = 0;
    int cut = nh == cap_hops; /* more hops than were labelled */
    uint32_t p = nh <= AGENT_PATH_SHOW_HOPS || cut ? nh : hunt_period(hops, nh);
    uint32_t shown = p <= AGENT_PATH_SHOW_HOPS ? p : AGENT_PATH_SHOW_HOPS;
    for (uint32_t i = 0; i < shown; i++)
        path_add_hop(buf, &len, &hops[(r + i) % nh]);
    if (p == nh && nh > AGENT_PATH_SHOW_HOPS) {
        if (cut)
            snprintf(tail, sizeof(tail), "... (%u objects) -> ", cycle_len);
        else
            snprintf(tail, sizeof(tail), "... (%u hops) -> ", nh);
        path_add(buf, &len, tail);
    }
    path_add(buf, &len, hops[r % nh].name);
    if (p < nh && nh > AGENT_PATH_SHOW_HOPS) {
        snprintf(tail, sizeof(tail), " (x%u)", nh / p);
        path_add(buf, &len, tail);
    }
}

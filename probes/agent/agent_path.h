/* Rendering a cycle of hops into a shape's path (agent_path.c). No Python. */
#ifndef PYMEMTOP_PROBES_AGENT_AGENT_PATH_H
#define PYMEMTOP_PROBES_AGENT_AGENT_PATH_H

#include <stdint.h>

#include "agent_edges.h"

#define AGENT_PATH_NAME_MAX 64 /* a type name in a path */
#define AGENT_PATH_SHOW_HOPS 8 /* longer cycles are abbreviated in a path */

struct agent_hop {
    char name[AGENT_PATH_NAME_MAX];
    char label[AGENT_EDGE_MAX]; /* "" means a plain "->" */
};

/* "A -.x-> B -[0]-> A" into buf (PM_SHAPE_PATH_MAX bytes); rings of a
 * repeated unit: "Node -.next-> Node (x1000)". nh == cap_hops means the
 * cycle had more hops than were labelled: it is cut, and cycle_len (its
 * objects) is named instead. */
void agent_path_render(const struct agent_hop *hops, uint32_t nh, uint32_t cap_hops,
                       uint32_t cycle_len, char *buf);

#endif

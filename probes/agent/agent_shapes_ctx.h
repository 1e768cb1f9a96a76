/* The working state of one cycle-shape analysis, shared by its halves:
 * agent_shapes_graph.c builds the graph among the objects and finds its
 * cycles, agent_shapes.c renders and groups them. Private to them. */
#ifndef PYMEMTOP_PROBES_AGENT_AGENT_SHAPES_CTX_H
#define PYMEMTOP_PROBES_AGENT_AGENT_SHAPES_CTX_H

#include "agent_state.h"

#include <stddef.h>
#include <stdint.h>

#include "agent_edges.h"
#include "agent_util.h"

#define HUNT_MAX_EDGES 4000000u  /* edges between the objects */
#define HUNT_BFS_STARTS 16       /* start nodes tried in a component that is no ring */
#define HUNT_CANDIDATES 8        /* shortest cycles rendered per such component */
#define HUNT_MAX_HOPS 1024       /* hops labelled per cycle */

/* Per type (agent_shapes.c), and the groups of one rendering
 * (agent_shapes.h): the graph half only carries the pointers. */
struct hunt_type;
struct agent_shape_group;

struct hunt {
    PyObject *objs; /* list: the garbage objects analysed (strong references) */
    uint32_t n;
    struct agent_ptrmap map;
    uint32_t *off, *adj; /* edges of object i: adj[off[i] .. off[i+1]) */
    size_t n_edges, cap_edges;
    int32_t *comp;
    uint32_t n_comp;
    uint32_t *comp_start, *members;
    int32_t *dist; /* BFS scratch, -1 when unvisited */
    uint32_t *parent, *queue, *cyc;
    struct agent_hop *hops;
    uint32_t cap_hops;
    uint32_t cycle_len; /* objects in the cycle being rendered */
    struct agent_ptrmap types; /* type -> index in tinfo */
    struct hunt_type *tinfo;
    uint32_t n_types, cap_types;
    struct agent_shape_group *groups;
    size_t n_groups, cap_groups;
    uint32_t *gtab; /* group index + 1, 0 empty */
    size_t gmask;
    uint64_t deadline_ns;
    uint64_t cycles;
    int truncated;
    int gone; /* Python is going away: the GIL is not held */
    int in_collection; /* agent_shapes.in_collection */
    PyObject *get_referents, *getsizeof;
};

/* The hunt's analysis runs in slices of at most this share of [agent]
 * max_pause_ms: every object analysed is held (h->objs), so the target may
 * run between them; their edges are read once, as they were. Inside a
 * collection the GIL is never let go: the collector is mid-way. */
#define HUNT_SLICE_PCT 60

/* 0, or -1 when Python went away during the hand-over (h->gone). */
static inline int hunt_breathe(struct hunt *h)
{
    if (h->in_collection)
        return 0;
    return agent_gil_breathe(&h->gone, HUNT_SLICE_PCT);
}

static inline int hunt_over_budget(const struct hunt *h)
{
    return agent_now_ns() > h->deadline_ns;
}

/* agent_shapes_graph.c. The edges among the objects (h->off, h->adj), read
 * once over tp_traverse, in slices; h->truncated past HUNT_MAX_EDGES. */
void hunt_edges(struct hunt *h);
/* Tarjan's strongly connected components (h->comp, h->comp_start,
 * h->members), without recursion; no Python: needs no GIL. 0 or -1 (OOM). */
int hunt_scc(struct hunt *h);
/* Shortest cycle through v inside component c, no longer than max_len:
 * its length (0 none), nodes in out[0..len) with out[0] = v. */
uint32_t hunt_bfs_cycle(struct hunt *h, int32_t c, uint32_t v, uint32_t max_len, uint32_t *out);

#endif

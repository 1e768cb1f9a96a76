/* Cycle shapes: a set of garbage objects split into strongly connected
 * components over their tp_traverse edges, each component named by one
 * canonical cycle of type names and edge labels ("Node -.next-> Node"), and
 * components of the same name grouped. The hunt (agent_cycles.c) and the
 * capture during the program's own collections (agent_capture.c) both read
 * shapes here, so a shape reads the same in both.
 *
 * GIL held by the caller, who holds strong references to every object
 * analysed for the whole call. Never raises; working memory is libc malloc
 * (not PyMem: tracemalloc and pymalloc never see it). */
#ifndef PYMEMTOP_PROBES_AGENT_AGENT_SHAPES_H
#define PYMEMTOP_PROBES_AGENT_AGENT_SHAPES_H

#include "agent_path.h"
#include "agent_state.h"

#define AGENT_SHAPES_NAME_MAX AGENT_PATH_NAME_MAX
#define AGENT_SHAPES_SHOW_HOPS AGENT_PATH_SHOW_HOPS

struct agent_shape_group {
    char path[PM_SHAPE_PATH_MAX];
    char del_type[AGENT_SHAPES_NAME_MAX]; /* a class in the cycle defining __del__, "" none */
    uint64_t hash, count, bytes, objects;
};

struct agent_shapes {
    /* In. */
    PyObject *objs;       /* a list holding the objects to analyse */
    uint32_t n;           /* analyse objs[0 .. n) */
    uint64_t deadline_ns; /* CLOCK_MONOTONIC: past it, stop and set truncated */
    /* Inside a collection (a gc.callbacks entry): never let the GIL go (the
     * collector's state is not ours to expose), and run no Python-level
     * code of the program's classes (no __sizeof__: bytes come from the
     * type's basic size for instances of Python classes). */
    int in_collection;
    /* Out. groups sorted by count, then bytes, then path. */
    struct agent_shape_group *groups;
    size_t n_groups;
    uint64_t cycles; /* cyclic components found (described or not) */
    int truncated;   /* an edge, type or time cap was hit */
    int gone;        /* Python went away while the GIL was let go: it is not held */
};

/* Interns what the labels need, once. 0 or -ENOMEM. */
int agent_shapes_init(void);
/* 0, or -1 (out of memory, or s->gone). */
int agent_shapes_analyse(struct agent_shapes *s);
/* Frees the groups (no Python object is held after analyse returns). */
void agent_shapes_free(struct agent_shapes *s);
/* FNV-1a of a path: the key both the hunt and the capture group by. */
uint64_t agent_shapes_hash(const char *path);

#endif

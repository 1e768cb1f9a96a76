/* The state of one why search, shared by its two halves (agent_why.h says
 * what it answers): agent_why.c walks from the roots, agent_why_chain.c
 * turns what the walk reached into labelled, grouped chains. Private to
 * them. */
#ifndef PYMEMTOP_PROBES_AGENT_AGENT_WHY_CTX_H
#define PYMEMTOP_PROBES_AGENT_AGENT_WHY_CTX_H

#include "agent_state.h"

#include <stddef.h>
#include <stdint.h>

#include "agent_edges.h"
#include "agent_why_sample.h"

#define WHY_SAMPLES AGENT_WHY_SAMPLES
#define WHY_DEFAULT_BUDGET_MS 90    /* whole command: under 100 ms paused on 1M objects */
#define WHY_MAX_BUDGET_MS 10000
#define WHY_NODES_PER_MS 4000       /* object budget: 240k objects at the default; the
                                       time budget usually ends the walk first on an aged
                                       heap (~300 ns per object: cache misses) */
#define WHY_MAX_NODES 8000000u      /* whatever the time budget */
#define WHY_FRAMES_PER_THREAD 64
#define WHY_UP_LEVELS 6             /* referrers followed up from an unreached instance */
#define WHY_MAX_HOPS 256            /* longer chains are not labelled (shown cut) */
#define WHY_NAME_MAX 96
#define WHY_SLICE_PCT 60            /* of max_pause: the rest covers the hand-over */
/* gc.get_referrers walks the whole heap in one piece: only on heaps whose
 * allocated blocks, at this many ns each, fit in one pause. */
#define WHY_REFERRERS_NS_PER_BLOCK 10

/* ---- the search's state ---- */

struct why_node {
    PyObject *obj;        /* strong: held until why_free */
    uint64_t done;        /* edges already followed (a traversal cut by a hand-over) */
    uint32_t parent;      /* UINT32_MAX for roots */
    int32_t root;         /* index in roots[] for roots, -1 otherwise */
};

enum { WHY_ROOT_MODULE, WHY_ROOT_LOCAL };
struct why_root {
    int kind;
    char label[PM_WHY_EDGE_MAX]; /* "module cache_demo" or "thread T frame f() local 'x'" */
};

struct why_chain_acc {
    char norm[PM_WHY_MAX_EDGES][PM_WHY_EDGE_MAX];
    char conc[PM_WHY_MAX_EDGES][PM_WHY_EDGE_MAX];
    uint8_t varies[PM_WHY_MAX_EDGES];
    uint32_t n;
    uint64_t count;
};

struct why {
    PyObject *samples[WHY_SAMPLES]; /* strong references */
    int64_t found[WHY_SAMPLES];     /* node index or -1 */
    int n_samples, n_found;
    PyObject *hold;                 /* list: module dicts and frames (strong) */
    struct why_root *roots;
    size_t n_roots, cap_roots;
    struct why_node *nodes;
    size_t n_nodes, cap_nodes, max_nodes;
    struct agent_ptrmap map;
    uint32_t cur;                   /* node being traversed */
    uint64_t visits;                /* edges seen */
    int capped, timed_out, oom, exhausted;
    int gone;                       /* Python is going away: the GIL is not held */
    int cut;                        /* a traversal stopped for a hand-over */
    uint64_t skip, node_visits;     /* the node being traversed: edges to skip, seen */
    uint64_t deadline_ns;
    int slots_ok;                   /* tp_* offsets verified (before 3.10) */
    struct why_chain_acc groups[PM_WHY_MAX_CHAINS];
    int n_groups;
    uint64_t grouped_away;          /* chains that did not fit in the groups */
};

struct why_elem {
    char conc[PM_WHY_EDGE_MAX], norm[PM_WHY_EDGE_MAX];
};

/* snprintf that cuts silently (labels are cut by design). */
void why_fmt(char *buf, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static inline int why_late(const struct why *w)
{
    return agent_now_ns() > w->deadline_ns;
}

/* agent_why_chain.c, GIL held. The chain of sample s: from the walk's
 * parents (strong references taken first: labelling runs Python code), or
 * when no root reached it, from gc.get_referrers upwards while the budget
 * lasts. Fills el[0..cap), returns the element count. */
int why_chain_found(struct why *w, int s, struct why_elem *el, int cap);
int why_chain_untracked(struct why *w, int s, struct why_elem *el, int cap);
/* Adds one chain to w->groups (same shape: counted together). */
void why_group_add(struct why *w, const struct why_elem *el, int ne);
/* qsort order of groups: most instances first, then shortest. */
int why_group_cmp(const void *pa, const void *pb);
/* A group as one line "a -> b -> c", varying parts normalised. */
void why_join(const struct why_chain_acc *a, char *buf, size_t n);

#endif

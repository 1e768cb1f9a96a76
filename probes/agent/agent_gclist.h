/* The collector's generation lists, read in place (agent_census.c counts
 * over them, agent_why.c samples from them): the layout and the one check
 * that proves it on the running interpreter before anything trusts it. */
#ifndef PYMEMTOP_PROBES_AGENT_AGENT_GCLIST_H
#define PYMEMTOP_PROBES_AGENT_AGENT_GCLIST_H

#include "agent_state.h"

/* CPython 3.8-3.13 (default build) memory layout, checked at run time before
 * it is trusted: PyGC_Head sits right before the object; the three
 * generations are consecutive {PyGC_Head head; int threshold; int count}. */
struct agent_gc_head {
    uintptr_t next, prev;
};
struct agent_gc_gen {
    struct agent_gc_head head;
    int threshold;
    int count;
};
_Static_assert(sizeof(struct agent_gc_head) == 16, "PyGC_Head is 16 bytes in 3.8+");
_Static_assert(sizeof(struct agent_gc_gen) == 24, "struct gc_generation is 24 bytes");

/* Low bits of both links may carry collector flags (3.8+: _gc_prev holds
 * FINALIZED/COLLECTING, _gc_next holds UNREACHABLE during a collection). */
#define AGENT_GC_LINK(v) ((v) & ~(uintptr_t)3)
#define AGENT_GC_NODE_BAD(p) ((p) < 4096 || ((p) & 7) != 0)
/* The object behind a list node, and the list head of generation i. */
#define AGENT_GC_NODE_OBJ(p) ((PyObject *)((p) + sizeof(struct agent_gc_head)))
#define AGENT_GC_GEN_HEAD(head, i) ((head) + (uintptr_t)(i) * sizeof(struct agent_gc_gen))
#define AGENT_GC_NEXT(p) AGENT_GC_LINK(((const struct agent_gc_head *)(p))->next)
#define AGENT_GC_PREV(p) AGENT_GC_LINK(((const struct agent_gc_head *)(p))->prev)

/* The generation-0 head (the base of the three generations), proven against
 * gc.get_threshold()/get_count() and by a fresh object linking back to it;
 * 0 when anything disagrees, on 3.14+ (another collector), or in the middle
 * of a collection (a finalizer released the GIL to us: the lists are being
 * rearranged). GIL held. */
uintptr_t agent_gclist_head(void);

/* A collection is under way (a finalizer or callback it ran let the GIL go):
 * the lists are being rearranged and must not be walked. No allocation. */
int agent_gclist_collecting(void);

#endif

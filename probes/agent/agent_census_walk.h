/* The census's count of GC-tracked objects by type: the collector's
 * generation lists walked in slices of at most a share of [agent]
 * max_pause_ms, the GIL released between them, so that a census of a big heap
 * never stalls the target for long; agent_census_walk.c says how it stays
 * correct while the program runs. Agent thread only. */
#ifndef PYMEMTOP_PROBES_AGENT_AGENT_CENSUS_WALK_H
#define PYMEMTOP_PROBES_AGENT_AGENT_CENSUS_WALK_H

#include "agent_census_bytes.h"
#include "agent_state.h"

/* Counts per type object, open addressing. Every type a table has a slot for
 * is held (a strong reference, dropped by census_walk_release()): types may
 * die between slices, and a dead type's address could be reused. */
struct census_slot {
    PyObject *type;
    uint64_t count;
    uint64_t extra; /* bytes beyond count x cls.unit (agent_census_bytes.h) */
    /* Small dicts (census_bytes_dict_small): how many, how many sized, and
     * the extra bytes of those sized. */
    uint64_t small_n, small_sized, small_extra;
    struct census_bytes_class cls;
};
/* Dicts whose keys object is being prefetched: sized a few objects later,
 * when the line has arrived (a dict's keys live apart from it: reading them
 * at once costs a cache miss per dict, ~30 ns on a fresh heap). */
#define CENSUS_PEND 16
struct census_table {
    struct census_slot *slots;
    size_t cap, used;
    struct census_slot *last; /* the previous object's type: runs are common */
    int oom;
    int bytes; /* size objects too (census_bytes_on() when reset) */
    int dict_sampling; /* census_bytes_dict_sampling() when reset */
    struct {
        struct census_slot *slot;
        PyObject *o;
        int small; /* a sample for its slot's small dicts */
    } pend[CENSUS_PEND];
    unsigned pend_n, pend_head;
};

/* Empties t (its types stay held until census_walk_release). 0 or -1. */
int census_table_reset(struct census_table *t);
/* Adds n objects of type and `extra` bytes beyond their unit. GIL held; no
 * Python code runs. */
void census_table_add(struct census_table *t, PyObject *type, uint64_t n, uint64_t extra);
/* Counts (and sizes) one object. GIL held; no Python code runs. Call
 * census_table_flush() before the GIL is let go and before reading bytes. */
void census_table_count(struct census_table *t, PyObject *o);
/* Sizes the dicts still pending (their objects must still be alive). */
void census_table_flush(struct census_table *t);
/* The extra bytes of a slot's small dicts: the sized ones' mean for each. */
static inline uint64_t census_slot_small_extra(const struct census_slot *s)
{
    if (!s->small_sized)
        return 0;
    return (s->small_extra * s->small_n + s->small_sized / 2) / s->small_sized;
}
/* A slot's bytes: count x unit + extra (small dicts' estimated). */
static inline uint64_t census_slot_bytes(const struct census_slot *s)
{
    return s->count * s->cls.unit + s->extra + census_slot_small_extra(s);
}
/* The slot of type, NULL when it has none. */
struct census_slot *census_table_find(const struct census_table *t, PyObject *type);

struct census_walk_stats {
    uint64_t objects;      /* counted */
    uint64_t held_ns;      /* GIL held, all slices together */
    uint64_t max_slice_ns; /* the longest single hold */
    uint32_t slices, restarts;
};

/* Counts every object of the three generations into `out` (reset first),
 * taking and releasing the GIL itself (call without it). 0; -1 Python is
 * going away; -2 the lists cannot be walked (layout not proven, a list that
 * does not hold together): nothing counted, the caller falls back. */
int census_walk(struct census_table *out, struct census_walk_stats *st);

/* Keeps o alive until census_walk_release() (GIL held; no code runs). */
void census_walk_hold(PyObject *o);
/* Drops every reference the census took, in slices (GIL not held). -1 when
 * Python is going away (they are then left alone). */
int census_walk_release(void);

#endif

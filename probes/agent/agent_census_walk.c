/* The census's walk of the collector's generation lists, in slices.
 *
 * Why slices: walking 5M objects of an aged heap takes ~0.5-0.9 s of pointer
 * chasing; holding the GIL that long stalls every thread of the target. So the
 * walk stops after a share of [agent] max_pause_ms, lets the GIL go (any code
 * of the target may run, including collections and frees), takes it back and
 * goes on. What makes that correct:
 *
 * 1. Positions are strong references. Between slices the walk remembers
 *    nodes it has counted (the cursors below) and holds a reference to each
 *    (census_walk_hold, dropped when the census ends): an object we hold is
 *    never freed, so its list links are valid whenever we hold the GIL, and a
 *    freed neighbour is simply unlinked from between it and the next node.
 *    Likewise every type counted is held, so no type in a table dies (and no
 *    new type reuses its address) before the census has named it.
 *
 * 2. Only four things rearrange the lists while we do not hold the GIL:
 *    allocation (a new object is appended to generation 0's tail), freeing
 *    (an object is unlinked), a collection of generation k (generations 0..k
 *    are merged, reordered, some objects freed or untracked, and the
 *    survivors appended to generation k+1's tail; for k = 2 they stay in 2),
 *    and rare explicit calls (untrack/track, gc.freeze/unfreeze). Our
 *    gc.callbacks entry counts collections per generation as they start
 *    (agent.gc_started); its presence in the collector's own list is checked
 *    every slice (a program may clear gc.callbacks; then the count is not
 *    complete and the census is taken in one piece, as before). No slice
 *    starts while a collection is under way (a finalizer can let the GIL go
 *    mid-collection, when the lists are half rearranged).
 *
 * 3. Generations are counted oldest first: 2, then 1, then 0. Objects only
 *    ever move from a younger generation to the tail of an older one, so
 *    with this order a collection of k while we walk generation g is:
 *    - k < g: everything it moves lands in generation k+1 <= g. When
 *      k+1 == g it lands after our position and is counted when we reach it;
 *      either way it has left a generation we have not counted yet. Nothing
 *      is counted twice or missed; the walk goes on.
 *    - k >= g (k < 2): generations g..k, counted wholly or partly, were
 *      merged (reordered) into generation k+1's tail, behind the last object
 *      we counted there (its end mark, held). Their counts are dropped and
 *      the walk resumes in generation k+1 from that mark, then counts g..k
 *      afresh.
 *    - k == 2: everything is one reordered list: the census restarts (at
 *      most CW_MAX_RESTARTS times; then it is taken in one piece, which
 *      only a program that runs full collections back to back on a small
 *      heap can force).
 *    Young-first would count generation 0, then see a young collection move
 *    those same objects into generation 1 and count them again there.
 *    On a steady heap (no collection between slices) the sliced count equals
 *    a stop-the-world one; objects made or freed meanwhile count as in any
 *    census that is not instantaneous (made behind the cursor: counted;
 *    freed behind it: still counted).
 *
 * 4. Within a generation the walk runs from both ends at once (two
 *    independent pointer chains keep two cache misses in flight on an aged
 *    heap): a front cursor from the head, a back cursor from the tail as it
 *    was when the generation began (its tail mark, held), until they meet.
 *    Objects appended behind the tail mark meanwhile (allocation into
 *    generation 0, survivors of a younger collection) are then walked from
 *    the tail mark to the head. The last object walked is the generation's
 *    end mark (point 3).
 *
 * 5. Anything unexpected restarts the census: a held cursor found untracked,
 *    a step onto a list head other than the generation's own (a cursor moved
 *    by untrack and track, or into the permanent generation by gc.freeze: a
 *    node within CW_HEAD_WINDOW bytes of the heads is never an object, since
 *    every collector list head lives in the same runtime struct), a list
 *    longer than the address space allows.
 *
 * 3.14+ collectors also untrack tuples and dicts, but only in the
 * generations they collect, which the count of collections covers. The
 * incremental collector of 3.14.0-3.14.4 is never walked (agent_gclist.c). */
#include "agent_census_walk.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent_gc.h"
#include "agent_gclist.h"

#define CW_MAX_RESTARTS 8
/* A slice walks for this share of max_pause: the rest covers the slice's
 * bookkeeping and the hand-over of the GIL. */
#define CW_SLICE_SHARE_PCT 60
#define CW_CHECK_MASK 63 /* the clock is read every 64 steps: ~10 us aged */
#define CW_HEAD_WINDOW 1024
#define CW_COLLECTING_SLEEP_NS 1000000
#define CW_COLLECTING_MAX_NS 30000000000ull

/* ---- references held until the census ends ---- */

static PyObject **held;
static size_t held_n, held_cap;

static int cw_hold(PyObject *o)
{
    if (held_n == held_cap) {
        size_t cap = held_cap ? held_cap * 2 : 1024;
        PyObject **h = realloc(held, cap * sizeof(*h));
        if (!h)
            return -1;
        held = h;
        held_cap = cap;
    }
    Py_INCREF(o);
    held[held_n++] = o;
    return 0;
}

void census_walk_hold(PyObject *o)
{
    (void)cw_hold(o);
}

int census_walk_release(void)
{
    while (held_n) {
        if (!agent_gil_enter("census release"))
            return -1;
        /* A release may free an object and run its finalizer: time each. */
        while (held_n && !agent_gil_slice_over(CW_SLICE_SHARE_PCT))
            Py_DECREF(held[--held_n]);
        PyErr_Clear();
        agent_gil_exit();
    }
    return 0;
}

/* ---- count tables ---- */

static inline size_t cw_hash(const void *p, size_t mask)
{
    uint64_t x = (uint64_t)(uintptr_t)p;
    x = (x >> 4) * 0x9E3779B97F4A7C15ull;
    return (size_t)(x >> 40) & mask;
}

int census_table_reset(struct census_table *t)
{
    if (!t->slots) {
        t->cap = 1024; /* grows by doubling (cw_table_grow): most programs have fewer types */
        t->slots = calloc(t->cap, sizeof(*t->slots));
        if (!t->slots)
            return -1;
    } else {
        memset(t->slots, 0, t->cap * sizeof(*t->slots));
    }
    t->used = 0;
    t->last = NULL;
    t->oom = 0;
    t->bytes = census_bytes_on();
    t->dict_sampling = t->bytes && census_bytes_dict_sampling();
    t->pend_n = t->pend_head = 0;
    return 0;
}

static int cw_table_grow(struct census_table *t)
{
    size_t cap = t->cap * 2;
    struct census_slot *s = calloc(cap, sizeof(*s));
    if (!s)
        return -1;
    for (size_t i = 0; i < t->cap; i++) {
        if (!t->slots[i].type)
            continue;
        size_t j = cw_hash(t->slots[i].type, cap - 1);
        while (s[j].type)
            j = (j + 1) & (cap - 1);
        s[j] = t->slots[i];
    }
    free(t->slots);
    t->slots = s;
    t->cap = cap;
    t->last = NULL;
    return 0;
}

struct census_slot *census_table_find(const struct census_table *t, PyObject *type)
{
    if (!t->cap)
        return NULL;
    size_t mask = t->cap - 1, j = cw_hash(type, mask);
    while (t->slots[j].type && t->slots[j].type != type)
        j = (j + 1) & mask;
    return t->slots[j].type ? &t->slots[j] : NULL;
}

/* The slot of type, made (and its type classified, `first` its first
 * instance or NULL) when new. */
static struct census_slot *cw_slot(struct census_table *t, PyObject *type, PyObject *first)
{
    size_t mask = t->cap - 1, j = cw_hash(type, mask);
    while (t->slots[j].type && t->slots[j].type != type)
        j = (j + 1) & mask;
    if (t->slots[j].type)
        return &t->slots[j];
    if ((t->used + 1) * 2 > t->cap) {
        census_table_flush(t); /* pending entries point into the slots */
        if (cw_table_grow(t) < 0) {
            t->oom = 1;
            return NULL;
        }
        return cw_slot(t, type, first);
    }
    if (cw_hold(type) < 0) { /* a type we cannot keep alive is not counted */
        t->oom = 1;
        return NULL;
    }
    t->slots[j].type = type;
    if (t->bytes)
        census_bytes_classify(type, first, &t->slots[j].cls);
    t->used++;
    return &t->slots[j];
}

/* Sizes the oldest pending dict. */
static inline void cw_pend_pop(struct census_table *t)
{
    unsigned i = t->pend_head;
    uint64_t extra = census_bytes_dict((const char *)t->pend[i].o);
    if (t->pend[i].small)
        t->pend[i].slot->small_extra += extra;
    else
        t->pend[i].slot->extra += extra;
    t->pend_head = (i + 1) % CENSUS_PEND;
    t->pend_n--;
}

void census_table_flush(struct census_table *t)
{
    while (t->pend_n)
        cw_pend_pop(t);
}

/* A dict: its keys line is prefetched now and read CENSUS_PEND dicts later;
 * a small one only when it is its slot's sample (agent_census_bytes.h). */
static inline void cw_defer_dict(struct census_table *t, struct census_slot *s, PyObject *o)
{
    int small = t->dict_sampling && census_bytes_dict_small((const char *)o);
    if (small && s->small_n++ % CENSUS_DICT_SAMPLE)
        return; /* sized by the sample's mean */
    s->small_sized += small;
    __builtin_prefetch(*(const char *const *)((const char *)o + 32));
    if (t->pend_n == CENSUS_PEND)
        cw_pend_pop(t);
    unsigned j = (t->pend_head + t->pend_n) % CENSUS_PEND;
    t->pend[j].slot = s;
    t->pend[j].o = o;
    t->pend[j].small = small;
    t->pend_n++;
}

/* The hot path: a fixed-size type (the common case) costs one test of its
 * kind more than counting alone; its bytes are count x unit at the end. */
static inline void cw_count(struct census_table *t, PyObject *o)
{
    PyObject *type = (PyObject *)Py_TYPE(o);
    struct census_slot *s = t->last;
    if (!s || s->type != type) {
        s = cw_slot(t, type, o);
        if (!s)
            return;
        t->last = s;
    }
    s->count++;
    if (s->cls.kind == CB_DICT)
        cw_defer_dict(t, s, o);
    else if (s->cls.kind)
        s->extra += census_bytes_extra(&s->cls, o);
}

void census_table_count(struct census_table *t, PyObject *o)
{
    cw_count(t, o);
}

void census_table_add(struct census_table *t, PyObject *type, uint64_t n, uint64_t extra)
{
    struct census_slot *s = cw_slot(t, type, NULL);
    if (s) {
        s->count += n;
        s->extra += extra;
    }
}

/* ---- the walk's state (agent thread only) ---- */

enum { CW_TWO_ENDS = 1, CW_TAIL = 2 };
enum { CW_SLICE_OVER = 0, CW_DONE = 1, CW_ANOMALY = -1 };

static struct {
    uintptr_t gh0;   /* generation 0's head; 1 and 2 follow */
    int gen;         /* being walked: 2, 1, 0 */
    int phase;       /* CW_TWO_ENDS or CW_TAIL */
    uintptr_t ff;    /* last counted from the front (the head: none yet) */
    uintptr_t bb;    /* last counted from the back */
    uintptr_t tmark; /* the tail when the generation began (0: it was empty) */
    uintptr_t cur;   /* CW_TAIL: last counted (the head: none yet) */
    uintptr_t endmark[PM_GENERATIONS]; /* last counted of a finished generation, 0 none */
    uint64_t seen[PM_GENERATIONS];     /* agent.gc_started when the walk last ran */
    uint64_t walked, cap;
    struct census_table tab[PM_GENERATIONS];
} cw;

static inline uintptr_t cw_head(int g)
{
    return AGENT_GC_GEN_HEAD(cw.gh0, g);
}

/* A list head (ours or the permanent generation's), never an object. */
static inline int cw_near_heads(uintptr_t p)
{
    return p + CW_HEAD_WINDOW > cw.gh0 && p < cw.gh0 + CW_HEAD_WINDOW;
}

static int cw_hold_node(uintptr_t p)
{
    return cw_hold(AGENT_GC_NODE_OBJ(p));
}

/* A held node we are about to follow is still tracked (untracking zeroes
 * its next link). */
static int cw_tracked(uintptr_t p)
{
    return ((const struct agent_gc_head *)p)->next != 0;
}

/* The address space bounds any real list: a tracked object takes at least
 * 32 bytes (its GC header and object header). */
static uint64_t cw_object_cap(void)
{
    uint64_t cap = (uint64_t)1 << 36;
    int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return cap;
    char buf[128];
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n > 0) {
        buf[n] = 0;
        unsigned long long pages = strtoull(buf, NULL, 10);
        long psz = sysconf(_SC_PAGESIZE);
        if (pages && psz > 0)
            cap = pages * (uint64_t)psz / 32 + 1024;
    }
    return cap;
}

/* Generation g begins: the back cursor counts its tail at once, so that
 * the fronts meet on a counted node. GIL held. */
static int cw_gen_begin(int g)
{
    uintptr_t h = cw_head(g), t = AGENT_GC_PREV(h);
    cw.gen = g;
    cw.ff = h;
    cw.tmark = cw.bb = 0;
    if (t == h) {
        cw.phase = CW_TAIL;
        cw.cur = h;
        return 0;
    }
    if (AGENT_GC_NODE_BAD(t) || cw_near_heads(t) || cw_hold_node(t) < 0)
        return CW_ANOMALY;
    cw.tmark = cw.bb = t;
    cw.phase = CW_TWO_ENDS;
    cw_count(&cw.tab[g], AGENT_GC_NODE_OBJ(t));
    cw.walked++;
    return 0;
}

static int cw_start(void)
{
    for (int g = 0; g < PM_GENERATIONS; g++) {
        if (census_table_reset(&cw.tab[g]) < 0)
            return CW_ANOMALY;
        cw.endmark[g] = 0;
        cw.seen[g] = agent.gc_started[g];
    }
    cw.walked = 0;
    return cw_gen_begin(PM_GENERATIONS - 1);
}

/* Walks until done or the slice is over (never when one_piece). GIL held;
 * no Python code runs. */
static int cw_walk(int one_piece)
{
    unsigned steps = 0;
#define CW_PAUSE_DUE()                                                                         \
    (!one_piece && (++steps & CW_CHECK_MASK) == 0 && agent_gil_slice_over(CW_SLICE_SHARE_PCT))
    while (cw.gen >= 0) {
        struct census_table *t = &cw.tab[cw.gen];
        uintptr_t h = cw_head(cw.gen);
        if (cw.phase == CW_TWO_ENDS) {
            uintptr_t ff = cw.ff, bb = cw.bb;
            for (;;) {
                uintptr_t f = AGENT_GC_NEXT(ff);
                if (f == bb)
                    break;
                if (AGENT_GC_NODE_BAD(f) || cw_near_heads(f))
                    return CW_ANOMALY;
                uintptr_t b = AGENT_GC_PREV(bb);
                cw_count(t, AGENT_GC_NODE_OBJ(f));
                ff = f;
                if (b == ff)
                    break;
                if (AGENT_GC_NODE_BAD(b) || cw_near_heads(b))
                    return CW_ANOMALY;
                cw_count(t, AGENT_GC_NODE_OBJ(b));
                bb = b;
                cw.walked += 2;
                if (cw.walked > cw.cap)
                    return CW_ANOMALY;
                if (CW_PAUSE_DUE()) {
                    cw.ff = ff;
                    cw.bb = bb;
                    return CW_SLICE_OVER;
                }
            }
            cw.walked++;
            cw.phase = CW_TAIL;
            cw.cur = cw.tmark;
        }
        uintptr_t cur = cw.cur;
        for (;;) {
            uintptr_t nx = AGENT_GC_NEXT(cur);
            if (nx == h)
                break;
            if (AGENT_GC_NODE_BAD(nx) || cw_near_heads(nx) || ++cw.walked > cw.cap)
                return CW_ANOMALY;
            cw_count(t, AGENT_GC_NODE_OBJ(nx));
            cur = nx;
            if (CW_PAUSE_DUE()) {
                cw.cur = cur;
                return CW_SLICE_OVER;
            }
        }
        if (t->oom)
            return CW_ANOMALY;
        cw.endmark[cw.gen] = cur == h ? 0 : cur;
        if (cur != h && cw_hold_node(cur) < 0)
            return CW_ANOMALY;
        if (cw.gen == 0)
            return CW_DONE;
        if (cw_gen_begin(cw.gen - 1) < 0)
            return CW_ANOMALY;
    }
#undef CW_PAUSE_DUE
    return CW_DONE;
}

/* The positions the walk will follow, held across the hand-over. */
static int cw_hold_positions(void)
{
    if (cw.phase == CW_TWO_ENDS)
        return (cw.ff != cw_head(cw.gen) && cw_hold_node(cw.ff) < 0) || cw_hold_node(cw.bb) < 0
                   ? -1
                   : 0;
    return cw.cur != cw_head(cw.gen) ? cw_hold_node(cw.cur) : 0;
}

/* Back from a hand-over: what the target did meanwhile decides where the
 * walk goes on (the file's comment, point 3). GIL held, no code runs. */
static int cw_resume(int *restart)
{
    *restart = 0;
    int k = -1;
    for (int g = 0; g < PM_GENERATIONS; g++)
        if (agent.gc_started[g] != cw.seen[g])
            k = g;
    for (int g = 0; g < PM_GENERATIONS; g++)
        cw.seen[g] = agent.gc_started[g];
    if (k == PM_GENERATIONS - 1) {
        *restart = 1;
        return 0;
    }
    if (k >= cw.gen) {
        for (int g = cw.gen; g <= k; g++)
            if (census_table_reset(&cw.tab[g]) < 0)
                return CW_ANOMALY;
        cw.gen = k + 1;
        cw.phase = CW_TAIL;
        cw.cur = cw.endmark[k + 1] ? cw.endmark[k + 1] : cw_head(k + 1);
    }
    if (cw.phase == CW_TWO_ENDS)
        return (cw.ff != cw_head(cw.gen) && !cw_tracked(cw.ff)) || !cw_tracked(cw.bb) ||
                       !cw_tracked(cw.tmark)
                   ? CW_ANOMALY
                   : 0;
    return cw.cur != cw_head(cw.gen) && !cw_tracked(cw.cur) ? CW_ANOMALY : 0;
}

static void cw_slice_end(struct census_walk_stats *st)
{
    uint64_t dt = agent_now_ns() - agent.gil_since_ns;
    st->held_ns += dt;
    if (dt > st->max_slice_ns)
        st->max_slice_ns = dt;
    st->slices++;
}

/* The next slice may run: the GIL is ours, no collection is under way.
 * 0, -1 Python is going away (GIL not held), -2 waited too long (GIL held). */
static int cw_wait_quiet(struct census_walk_stats *st)
{
    uint64_t t0 = agent_now_ns();
    while (agent_gclist_collecting()) {
        if (agent_now_ns() - t0 > CW_COLLECTING_MAX_NS)
            return -2;
        cw_slice_end(st);
        agent_gil_exit();
        struct timespec ts = {0, CW_COLLECTING_SLEEP_NS};
        nanosleep(&ts, NULL);
        if (!agent_gil_enter("census walk"))
            return -1;
    }
    return 0;
}

static int cw_merge(struct census_table *out, struct census_walk_stats *st)
{
    if (census_table_reset(out) < 0)
        return -2;
    for (int g = 0; g < PM_GENERATIONS; g++)
        for (size_t i = 0; i < cw.tab[g].cap; i++)
            if (cw.tab[g].slots[i].type && cw.tab[g].slots[i].count) {
                census_table_add(out, cw.tab[g].slots[i].type, cw.tab[g].slots[i].count,
                                 cw.tab[g].slots[i].extra +
                                     census_slot_small_extra(&cw.tab[g].slots[i]));
                st->objects += cw.tab[g].slots[i].count;
            }
    return out->oom ? -2 : 0;
}

int census_walk(struct census_table *out, struct census_walk_stats *st)
{
    memset(st, 0, sizeof(*st));
    if (!agent_gil_enter("census walk"))
        return -1;
    /* A collection that let the GIL go (a finalizer or callback of its own)
     * is half done: its lists are not generations now, and gc.get_objects(),
     * the fallback, would miss what it holds (a census of an aged 5M heap
     * once counted 2.4M objects that way). Let it finish first. */
    if (cw_wait_quiet(st) == -1)
        return -1;
    /* Proving the head allocates (a collection may run): before any count. */
    cw.gh0 = agent_gclist_head();
    int one_piece = !agent_gc_hooked();
    int rc = cw.gh0 ? 0 : -2;
    if (rc == 0) {
        cw.cap = cw_object_cap();
        if (cw_start() < 0)
            rc = -2;
    }
    while (rc == 0) {
        int r = cw_walk(one_piece);
        for (int g = 0; g < PM_GENERATIONS; g++) /* before the GIL goes: objects may die */
            census_table_flush(&cw.tab[g]);
        if (r == CW_DONE) {
            rc = cw_merge(out, st);
            break;
        }
        int restart = r == CW_ANOMALY;
        if (r == CW_SLICE_OVER) {
            if (cw_hold_positions() < 0) {
                rc = -2;
                break;
            }
            cw_slice_end(st);
            if (!agent_gil_yield())
                return -1;
            int q = cw_wait_quiet(st);
            if (q == -1)
                return -1;
            if (q < 0) {
                rc = q;
                break;
            }
            /* Our entry gone from gc.callbacks: collections are no longer
             * seen; count again, in one piece. */
            if (!one_piece && !agent_gc_hooked()) {
                one_piece = 1;
                restart = 1;
            } else if (cw_resume(&restart) == CW_ANOMALY) {
                restart = 1;
            }
        }
        if (restart) {
            if (++st->restarts > CW_MAX_RESTARTS) {
                if (one_piece) {
                    rc = -2;
                    break;
                }
                one_piece = 1; /* full collections back to back: see the comment */
            }
            if (cw_start() < 0)
                rc = -2;
        }
    }
    cw_slice_end(st);
    agent_gil_exit();
    return rc;
}

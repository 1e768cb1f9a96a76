/* Cycle shapes from the program's own collections (agent_capture.h).
 *
 * How one capture goes, in the thread that collects, GIL held throughout:
 * - "start" (our entry runs last among the start callbacks): a collection
 *   is captured when the budget has credit for it (a token bucket filled at
 *   budget_bp of wall time, so about 1 collection in N is captured, N
 *   following the capture's measured cost), it is not the agent thread's
 *   own (hunt, collect), and the program's debug flags do not already save
 *   all garbage (then the program keeps it: never touched). We OR in
 *   DEBUG_SAVEALL and remember gc.garbage's length.
 * - the collector then does everything it always does: weakref callbacks,
 *   tp_finalize (__del__) once, the resurrection check, weakrefs to the
 *   garbage cleared; only its last step, delete_garbage, appends each
 *   object to gc.garbage instead of calling its tp_clear. The collected and
 *   uncollectable counts, the generation lists' counters and the stats are
 *   computed exactly as without the flag (Modules/gcmodule.c 3.8-3.12,
 *   Python/gc.c 3.13+: "m += gc_list_size(&final_unreachable)" before
 *   delete_garbage in every version).
 * - "stop" (our entry goes first in gc.callbacks, so the program's own stop
 *   callbacks never see our entries): the flag is given back, the entries
 *   the collection appended are taken out of gc.garbage, analysed into
 *   shapes (agent_shapes.c, capped in objects and time), and freed as
 *   delete_garbage would have: in the same order, tp_clear on each object
 *   still referenced from elsewhere, then our reference dropped. An object
 *   whose last reference an earlier tp_clear dropped is freed at its turn
 *   instead of inside that tp_clear; nothing of it runs again (its __del__
 *   ran once, weakrefs to it are already dead).
 *   With DEBUG_SAVEALL the collector also appends every object reachable
 *   from a legacy tp_del finalizer (counted in "uncollectable"); without it
 *   only those with a tp_del: the others are taken back out.
 *
 * Our temporary objects are all freed before the garbage is, so the young
 * generation's count (which frees decrement, floored at 0) ends where the
 * collector would have left it.
 *
 * What it cannot see (README, "Cycle capture"): cycles freed by a collection
 * that was not sampled; objects freed by reference counting alone (never
 * cyclic garbage); uncollectable cycles (legacy tp_del, which stay in
 * gc.garbage as always). */
#include "agent_capture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent_advice.h"
#include "agent_shapes.h"
#include "agent_state.h"
#include "agent_util.h"
#include "proto.h"

#define CAP_SAVEALL 0x20               /* gc.DEBUG_SAVEALL, 3.8-3.15 */
#define CAP_MAX_OBJECTS 20000u         /* objects analysed per capture; all are freed */
#define CAP_TABLE 64                   /* recent shapes kept, least recently seen evicted */
#define CAP_MIN_COST_NS 20000u         /* a capture is assumed to cost at least this */
#define CAP_CREDIT_MAX_NS 50000000ull  /* a long quiet spell buys at most this much */

struct cap_entry {
    char path[PM_SHAPE_PATH_MAX];
    char del_type[AGENT_SHAPES_NAME_MAX];
    uint64_t hash, count, bytes, objects, first_seen_ns, last_seen_ns;
    double est_objects;
};

static struct {
    PyObject *callable; /* the head entry of gc.callbacks */
    PyObject *key_collected, *key_uncollectable;
    atomic_uint budget_bp;
    /* The capture in flight (between "start" and "stop"). */
    int active;
    int abandoned; /* the monitor left mid-collection: the flag went back early */
    long saved_flags;
    PyObject *garbage; /* strong: the gc.garbage seen at "start" */
    Py_ssize_t n0;
    int gen;
    uint64_t start_cost_ns;
    /* Since the monitor attached. */
    uint64_t since_ns, credit_at_ns, avg_ns;
    int64_t credit_ns; /* may go below 0: a capture over its estimate is paid back */
    uint64_t cost_ns, max_ns, objects, truncated, skipped;
    uint64_t collections[PM_GENERATIONS], captures[PM_GENERATIONS];
    char off_why[PM_CAPTURE_STATE_MAX]; /* "" on; else why off for good */
    int saveall_seen;                   /* the program saves all garbage itself */
    /* tp_clear of static types before 3.10: read at a proved offset. */
    int clear_checked, clear_slots_ok;
    struct cap_entry table[CAP_TABLE];
    size_t n_table;
    uint64_t version; /* moves when the shapes change */
} cap = {.budget_bp = AGENT_CAPTURE_DEFAULT_BP};

/* ---- the debug flags ---- */

static long cap_get_debug(void)
{
    return agent_call_long(agent.gc_module, "get_debug");
}

static int cap_set_debug(long flags)
{
    PyObject *r = PyObject_CallMethod(agent.gc_module, "set_debug", "l", flags);
    Py_XDECREF(r);
    PyErr_Clear();
    return r ? 0 : -1;
}

/* ---- tp_clear, as the collector calls it ---- */

static void *cap_type_word(PyTypeObject *tp, size_t off)
{
    void *v;
    memcpy(&v, (const char *)tp + off, sizeof(v));
    return v;
}

/* Before 3.10 the limited API hides static types' slots: their tp_clear is
 * read at its offset only where the layout row allows it and the offsets
 * read back on this interpreter what the API says for a heap type (ABCMeta:
 * tp_traverse and a non-NULL tp_clear) and for static types' tp_flags. */
static int cap_prove_clear(void)
{
    if (agent.hexversion >= 0x030a0000)
        return 1;
    if (!agent.layout || !agent.layout->static_type_slots)
        return 0;
    PyTypeObject *stat[] = {&PyDict_Type, &PyList_Type, &PyTuple_Type};
    for (size_t i = 0; i < sizeof(stat) / sizeof(stat[0]); i++) {
        unsigned long fl;
        memcpy(&fl, (const char *)stat[i] + PYLAYOUT_TP_FLAGS_OFF, sizeof(fl));
        if (fl != PyType_GetFlags(stat[i]))
            return 0;
    }
    if (!cap_type_word(&PyDict_Type, PYLAYOUT_TP_CLEAR_OFF) ||
        !cap_type_word(&PyList_Type, PYLAYOUT_TP_CLEAR_OFF))
        return 0;
    PyObject *abc = PyImport_ImportModule("abc");
    PyObject *meta = abc ? PyObject_GetAttrString(abc, "ABCMeta") : NULL;
    int ok = 0;
    if (meta && PyType_Check(meta) &&
        (PyType_GetFlags((PyTypeObject *)meta) & Py_TPFLAGS_HEAPTYPE)) {
        PyTypeObject *tp = (PyTypeObject *)meta;
        void *trav = PyType_GetSlot(tp, Py_tp_traverse);
        void *clear = PyType_GetSlot(tp, Py_tp_clear);
        ok = clear && trav == cap_type_word(tp, PYLAYOUT_TP_TRAVERSE_OFF) &&
             clear == cap_type_word(tp, PYLAYOUT_TP_CLEAR_OFF);
    }
    Py_XDECREF(meta);
    Py_XDECREF(abc);
    PyErr_Clear();
    return ok;
}

static inquiry cap_clear_of(PyObject *o)
{
    PyTypeObject *tp = Py_TYPE(o);
    if (agent.hexversion >= 0x030a0000 || (PyType_GetFlags(tp) & Py_TPFLAGS_HEAPTYPE)) {
        inquiry f = (inquiry)PyType_GetSlot(tp, Py_tp_clear);
        PyErr_Clear();
        return f;
    }
    return (inquiry)cap_type_word(tp, PYLAYOUT_TP_CLEAR_OFF);
}

/* Has a legacy tp_del finalizer (what the collector's has_legacy_finalizer
 * asks). Static types before 3.10 cannot be asked: none in the standard
 * library has one. */
static int cap_has_tp_del(PyObject *o)
{
    PyTypeObject *tp = Py_TYPE(o);
    if (agent.hexversion < 0x030a0000 && !(PyType_GetFlags(tp) & Py_TPFLAGS_HEAPTYPE))
        return 0;
    void *f = PyType_GetSlot(tp, Py_tp_del);
    PyErr_Clear();
    return f != NULL;
}

/* ---- the table of recent shapes ---- */

static void cap_record(const struct agent_shape_group *g, double weight, uint64_t now)
{
    struct cap_entry *e = NULL;
    for (size_t i = 0; i < cap.n_table && !e; i++)
        if (cap.table[i].hash == g->hash && !strcmp(cap.table[i].path, g->path))
            e = &cap.table[i];
    if (!e) {
        if (cap.n_table < CAP_TABLE) {
            e = &cap.table[cap.n_table++];
        } else { /* evict the least recently seen */
            e = &cap.table[0];
            for (size_t i = 1; i < CAP_TABLE; i++)
                if (cap.table[i].last_seen_ns < e->last_seen_ns)
                    e = &cap.table[i];
        }
        memset(e, 0, sizeof(*e));
        snprintf(e->path, sizeof(e->path), "%s", g->path);
        snprintf(e->del_type, sizeof(e->del_type), "%s", g->del_type);
        e->hash = g->hash;
        e->first_seen_ns = now;
    }
    e->count += g->count;
    e->bytes += g->bytes;
    e->objects += g->objects;
    e->est_objects += (double)g->objects * weight;
    e->last_seen_ns = now;
}

static void cap_analyse(PyObject *objs, uint32_t n, uint64_t t0)
{
    struct agent_shapes s;
    memset(&s, 0, sizeof(s));
    s.objs = objs;
    s.n = n > CAP_MAX_OBJECTS ? CAP_MAX_OBJECTS : n;
    s.deadline_ns = t0 + (uint64_t)atomic_load(&agent.max_pause_us) * 1000u;
    s.in_collection = 1;
    int rc = agent_shapes_init() == 0 ? agent_shapes_analyse(&s) : -1;
    if (rc < 0 || s.truncated || n > CAP_MAX_OBJECTS)
        cap.truncated++;
    /* This capture stands for collections/captures of its generation. */
    int g = cap.gen;
    double weight = (double)cap.collections[g] / (double)(cap.captures[g] + 1);
    uint64_t now = agent_now_ns();
    for (size_t i = 0; i < s.n_groups; i++)
        cap_record(&s.groups[i], weight, now);
    if (s.n_groups)
        cap.version++;
    agent_shapes_free(&s);
}

/* ---- the two phases ---- */

void agent_capture_gc_start(int gen)
{
    cap.collections[gen]++;
    unsigned bp = atomic_load(&cap.budget_bp);
    if (cap.active || !bp || cap.off_why[0] || !cap.callable || atomic_load(&agent.forked) ||
        atomic_load(&agent.finalizing))
        return;
    uint64_t t0 = agent_now_ns();
    /* The credit grows with wall time at the budget's rate. */
    cap.credit_ns += (int64_t)((t0 - cap.credit_at_ns) * bp / 10000u);
    cap.credit_at_ns = t0;
    if (cap.credit_ns > (int64_t)CAP_CREDIT_MAX_NS)
        cap.credit_ns = (int64_t)CAP_CREDIT_MAX_NS;
    uint64_t expect = cap.avg_ns > CAP_MIN_COST_NS ? cap.avg_ns : CAP_MIN_COST_NS;
    if (cap.credit_ns < (int64_t)expect) {
        cap.skipped++;
        return;
    }
    /* The agent thread's own collections (hunt, collect) keep their logic. */
    if (agent.tstate && PyThreadState_Get() == agent.tstate)
        return;
    /* Our "stop" entry must be in the list the collector calls, else the
     * flag would never be given back. */
    PyObject *cbs = agent.gc_callbacks;
    int found = 0;
    for (Py_ssize_t i = 0; cbs && PyList_Check(cbs) && i < PyList_Size(cbs) && !found; i++)
        found = PyList_GetItem(cbs, i) == cap.callable;
    if (!found)
        return;
    long flags = cap_get_debug();
    if (flags < 0)
        return;
    if (flags & CAP_SAVEALL) { /* the program's own: left alone */
        cap.saveall_seen = 1;
        return;
    }
    cap.saveall_seen = 0;
    PyObject *garbage = PyObject_GetAttrString(agent.gc_module, "garbage");
    if (!garbage || !PyList_Check(garbage) || cap_set_debug(flags | CAP_SAVEALL) < 0) {
        Py_XDECREF(garbage);
        PyErr_Clear();
        return;
    }
    cap.active = 1;
    cap.saved_flags = flags;
    cap.garbage = garbage;
    cap.n0 = PyList_Size(garbage);
    cap.gen = gen;
    cap.start_cost_ns = agent_now_ns() - t0;
}

/* Gives DEBUG_SAVEALL back, keeping any other change the program made to
 * the flags during the collection (a __del__ may call gc.set_debug). */
static void cap_restore_flags(void)
{
    long cur = cap_get_debug();
    long want = cur >= 0 ? cur & ~(long)CAP_SAVEALL : cap.saved_flags;
    if (cap_set_debug(want) < 0)
        cap_set_debug(want);
}

static void cap_off(const char *why)
{
    snprintf(cap.off_why, sizeof(cap.off_why), "%s", why);
}

/* Frees objs[0..n) as delete_garbage would have: in order, tp_clear on each
 * object someone else still references, then our reference dropped. */
static void cap_free(PyObject **objs, Py_ssize_t n)
{
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *o = objs[i];
        if (Py_REFCNT(o) > 1) {
            inquiry clear = cap_clear_of(o);
            if (clear) {
                (void)clear(o);
                if (PyErr_Occurred()) /* what the collector does with it */
                    PyErr_WriteUnraisable((PyObject *)Py_TYPE(o));
            }
        }
        Py_DECREF(o);
    }
}

static void cap_stop(PyObject *info)
{
    uint64_t t0 = agent_now_ns();
    cap.active = 0;
    cap_restore_flags();
    int abandoned = cap.abandoned;
    cap.abandoned = 0;
    PyObject *garbage = cap.garbage;
    cap.garbage = NULL;
    Py_ssize_t n0 = cap.n0, n1 = PyList_Size(garbage);
    PyObject *v = PyDict_GetItem(info, cap.key_collected);
    long collected = v ? PyLong_AsLong(v) : 0;
    v = PyDict_GetItem(info, cap.key_uncollectable);
    long uncollectable = v ? PyLong_AsLong(v) : 0;
    PyErr_Clear();
    if (n1 < n0) {
        /* A __del__ took entries out of gc.garbage mid-collection: which
         * are ours cannot be told. Left as they are; never again. */
        cap_off("off: gc.garbage changed during a captured collection");
        Py_DECREF(garbage);
        return;
    }
    if (n1 == n0 && collected > 0 && !abandoned) {
        /* Garbage was found but not saved where we look: gc.garbage is not
         * the collector's list (the program rebound it). */
        cap_off("off: gc.garbage is not the collector's list (rebound by the program)");
    }
    /* Program code run by the collection (a __del__, a weakref callback)
     * may have appended to gc.garbage itself, before delete_garbage did:
     * the collector's entries are the last ones, at most "collected" of
     * them (fewer when weakrefs freed by their callbacks count there too),
     * then the uncollectable. The program's own stay where they are. */
    Py_ssize_t n_unc = uncollectable > 0 ? (uncollectable < n1 - n0 ? uncollectable : n1 - n0) : 0;
    Py_ssize_t before = n1 - n0 - n_unc;
    Py_ssize_t n_cap = collected > 0 ? (collected < before ? collected : before) : 0;
    n0 += before - n_cap;
    Py_ssize_t added = n1 - n0;
    PyObject *slice = added ? PyList_GetSlice(garbage, n0, n1) : NULL;
    PyObject **objs = n_cap ? malloc((size_t)n_cap * sizeof(*objs)) : NULL;
    if (added && (!slice || (n_cap && !objs))) {
        /* No memory: leave everything saved where the collector put it. */
        Py_XDECREF(slice);
        free(objs);
        PyErr_Clear();
        cap_off("off: out of memory during a capture");
        Py_DECREF(garbage);
        return;
    }
    if (added) {
        /* Back to what gc.garbage would hold without the flag: the
         * uncollectable objects that have a tp_del, in order. */
        PyObject *keep = PyList_New(0);
        for (Py_ssize_t i = n_cap; keep && i < added; i++) {
            PyObject *o = PyList_GetItem(slice, i);
            if (cap_has_tp_del(o) && PyList_Append(keep, o) < 0)
                Py_CLEAR(keep);
        }
        if (PyList_SetSlice(garbage, n0, n1, keep) < 0)
            PyErr_Clear();
        Py_XDECREF(keep);
    }
    Py_DECREF(garbage);
    for (Py_ssize_t i = 0; i < n_cap; i++) {
        objs[i] = PyList_GetItem(slice, i);
        Py_INCREF(objs[i]);
    }
    if (n_cap) {
        PyObject *head = n_cap == added ? (Py_INCREF(slice), slice)
                                        : PyList_GetSlice(slice, 0, n_cap);
        if (head)
            cap_analyse(head, (uint32_t)(n_cap > UINT32_MAX ? UINT32_MAX : n_cap), t0);
        Py_XDECREF(head);
        PyErr_Clear();
    }
    Py_XDECREF(slice); /* our temporaries go before the garbage does */
    cap_free(objs, n_cap);
    free(objs);
    PyErr_Clear();
    cap.captures[cap.gen]++;
    cap.objects += (uint64_t)n_cap;
    uint64_t cost = cap.start_cost_ns + (agent_now_ns() - t0);
    cap.cost_ns += cost;
    if (cost > cap.max_ns)
        cap.max_ns = cost;
    cap.avg_ns = cap.avg_ns ? (cap.avg_ns * 7 + cost) / 8 : cost;
    cap.credit_ns -= (int64_t)cost;
}

/* A pending call (the main thread runs it at its next safe point, GIL
 * held): our "stop" entry out of gc.callbacks after a capture that outlived
 * its monitor. Not from the callback itself: the collector is walking that
 * list by index, and the entry after ours would be skipped. */
static int cap_unlist(void *arg)
{
    (void)arg;
    if (agent.hook_installed || cap.active || !cap.callable || !agent.gc_module)
        return 0;
    PyObject *list = PyObject_GetAttrString(agent.gc_module, "callbacks");
    for (Py_ssize_t i = list && PyList_Check(list) ? PyList_Size(list) - 1 : -1; i >= 0; i--)
        if (PyList_GetItem(list, i) == cap.callable && PySequence_DelItem(list, i) < 0)
            break;
    Py_XDECREF(list);
    PyErr_Clear();
    return 0;
}

static PyObject *cap_callback(PyObject *self, PyObject *args)
{
    (void)self;
    /* Only "stop" with a capture in flight; also in a forked child or at
     * exit, so the flag never stays set. */
    if (!cap.active)
        Py_RETURN_NONE;
    PyObject *phase = PyTuple_GetItem(args, 0);
    PyObject *info = PyTuple_GetItem(args, 1);
    if (!phase || !info || !PyDict_Check(info) || !PyUnicode_Check(phase) ||
        PyUnicode_GetLength(phase) != 4) {
        PyErr_Clear();
        Py_RETURN_NONE;
    }
    cap_stop(info);
    PyErr_Clear();
    if (!agent.hook_installed) /* the monitor left while this capture ran */
        (void)Py_AddPendingCall(cap_unlist, NULL);
    Py_RETURN_NONE;
}

static PyMethodDef cap_def = {"_pymemtop_gc_capture", cap_callback, METH_VARARGS, NULL};

PyObject *agent_capture_callable(void)
{
    if (!cap.callable) {
        cap.key_collected = PyUnicode_InternFromString("collected");
        cap.key_uncollectable = PyUnicode_InternFromString("uncollectable");
        if (cap.key_collected && cap.key_uncollectable)
            cap.callable = PyCFunction_NewEx(&cap_def, NULL, NULL);
        PyErr_Clear();
    }
    return cap.callable;
}

/* Accounting and the table start afresh (a capture in flight keeps its
 * state: it is finished by its "stop"). */
static void cap_reset(void)
{
    if (cap.active)
        return;
    uint64_t now = agent_now_ns();
    cap.since_ns = cap.credit_at_ns = now;
    cap.credit_ns = CAP_MIN_COST_NS * 10; /* the first collections show something soon */
    cap.avg_ns = cap.cost_ns = cap.max_ns = cap.objects = cap.truncated = cap.skipped = 0;
    memset(cap.collections, 0, sizeof(cap.collections));
    memset(cap.captures, 0, sizeof(cap.captures));
    cap.n_table = 0;
    cap.version++;
    cap.saveall_seen = 0;
    if (!cap.clear_slots_ok)
        cap_off("off: tp_clear of built-in types is not reachable on this build");
}

void agent_capture_attach(void)
{
    if (!cap.clear_checked) {
        cap.clear_checked = 1;
        cap.clear_slots_ok = cap_prove_clear();
    }
    cap_reset();
}

int agent_capture_busy(void)
{
    return cap.active;
}

void agent_capture_abandon(void)
{
    if (!cap.active)
        return;
    /* Before delete_garbage: nothing saved yet, the collector frees as
     * usual. (After it our "stop" entry, still listed, finishes the job.) */
    cap_restore_flags();
    cap.abandoned = 1;
}

void agent_capture_configure(unsigned budget_bp)
{
    atomic_store(&cap.budget_bp, budget_bp);
    /* The monitor's settings arrive just after it attached: what was
     * captured before them (under the previous monitor's setting, or the
     * default) is not this monitor's. */
    cap_reset();
}

int agent_capture_enabled(void)
{
    return atomic_load(&cap.budget_bp) != 0;
}

/* ---- to the monitor ---- */

static int cap_entry_cmp(const void *pa, const void *pb)
{
    const struct cap_entry *a = *(const struct cap_entry *const *)pa;
    const struct cap_entry *b = *(const struct cap_entry *const *)pb;
    if (a->objects != b->objects)
        return a->objects > b->objects ? -1 : 1;
    return strcmp(a->path, b->path);
}

void agent_capture_encode(struct proto_buf *out, uint64_t now_ns, int full, uint64_t *version)
{
    char state[PM_CAPTURE_STATE_MAX];
    unsigned bp = atomic_load(&cap.budget_bp);
    if (cap.off_why[0])
        snprintf(state, sizeof(state), "%s", cap.off_why);
    else if (!bp)
        snprintf(state, sizeof(state), "off");
    else if (cap.saveall_seen)
        snprintf(state, sizeof(state), "on; the program sets gc.DEBUG_SAVEALL: left alone");
    else
        snprintf(state, sizeof(state), "on");
    int64_t caps[PM_GENERATIONS], cols[PM_GENERATIONS];
    for (int i = 0; i < PM_GENERATIONS; i++) {
        caps[i] = (int64_t)cap.captures[i];
        cols[i] = (int64_t)cap.collections[i];
    }
    proto_append(out, PROTO_SHAPES);
    proto_put_u64(out, TAG_CAP_TIME_NS, now_ns);
    proto_put_u64(out, TAG_CAP_SINCE_NS, cap.since_ns);
    proto_put_u64(out, TAG_CAP_BUDGET_BP, bp);
    proto_put_u64(out, TAG_CAP_COST_NS, cap.cost_ns);
    proto_put_u64(out, TAG_CAP_MAX_NS, cap.max_ns);
    proto_put_gens(out, TAG_CAP_CAPTURES, caps);
    proto_put_gens(out, TAG_CAP_COLLECTIONS, cols);
    proto_put_u64(out, TAG_CAP_OBJECTS, cap.objects);
    proto_put_u64(out, TAG_CAP_TRUNCATED, cap.truncated);
    proto_put_u64(out, TAG_CAP_SKIPPED, cap.skipped);
    proto_put_u64(out, TAG_CAP_SHAPES_TOTAL, cap.n_table);
    proto_put_str(out, TAG_CAP_STATE, state);
    *version = cap.version;
    if (!full) {
        proto_put_u64(out, TAG_CAP_UNCHANGED, 1);
    } else {
        const struct cap_entry *order[CAP_TABLE];
        for (size_t i = 0; i < cap.n_table; i++)
            order[i] = &cap.table[i];
        qsort(order, cap.n_table, sizeof(order[0]), cap_entry_cmp);
        for (size_t i = 0; i < cap.n_table && i < PM_MAX_RECENT_SHAPES; i++) {
            const struct cap_entry *e = order[i];
            struct pm_recent_shape r = {.objects = e->objects,
                                        .est_objects = (uint64_t)(e->est_objects + 0.5),
                                        .first_seen_ns = e->first_seen_ns,
                                        .last_seen_ns = e->last_seen_ns};
            r.shape.count = e->count;
            r.shape.bytes = e->bytes;
            r.shape.length = e->count ? (e->objects + e->count / 2) / e->count : 0;
            snprintf(r.shape.path, sizeof(r.shape.path), "%s", e->path);
            agent_advice_for(e->path, e->del_type, r.shape.advice, sizeof(r.shape.advice));
            proto_put_recent_shape(out, &r);
        }
    }
    proto_end(out);
}

/* Why is it alive: for a few recent instances of a type, the shortest chain of
 * references from a root, every edge labelled the way Python code spells it:
 *   module cache_demo .CACHE -> dict [1234] -> Session
 *   thread Worker-1 frame handle() local 'pending' -> list [17] -> Request
 * Chains of the same shape are grouped ("3 of 3 sampled instances ...").
 *
 * Roots: every module's __dict__ (sys.modules), the fast locals of every
 * thread's frames (sys._current_frames(); read from the frame's own memory,
 * validated per frame, so that no f_locals snapshot is made, and on 3.11+ a
 * running frame does not show its locals to tp_traverse at all), and classes
 * met on the way (a chain through a class restarts at "class X .attr").
 * What no root reaches is held from the untracked world (C code, a C stack,
 * an extension's static): the referrers of such an instance are followed
 * upwards with gc.get_referrers while the budget lasts.
 *
 * The search is one multi-source breadth-first walk forward from the roots
 * over tp_traverse, in C. It stops when every sampled instance is reached, or
 * at the object or time budget (total time, hand-overs included). It runs in
 * slices of at most a share of [agent] max_pause_ms, letting the GIL go
 * between them (why_breathe), so every object it has met is held by a strong
 * reference (nothing can be freed under it, no address is reused) and a
 * node's tp_traverse is looked up again each time it is traversed (its
 * __class__ may have been reassigned meanwhile). A container too big to
 * traverse in one slice is traversed again in the next, skipping the edges
 * already seen (approximate if it changed meanwhile: the chains are a
 * sample, and the map keeps every object to one node). Then, with strong
 * references to the objects on the chains, edges are labelled (which may run
 * Python code: reprs, attribute lookups). Every reference taken is dropped
 * before the answer, in slices too: the target's refcounts are as they were.
 *
 * Working memory is libc malloc: ~40 bytes per object visited. */
#include "agent_why.h"
#include "agent_why_ctx.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent_edges.h"
#include "agent_frames.h"
#include "agent_why_sample.h"
#include "agent_state.h"
#include "proto.h"

/* Lets the target run when this hold has lasted its share of max_pause.
 * 0, or -1 when Python is going away (w->gone: the GIL is not held, Python
 * must not be touched again). */
static int why_breathe(struct why *w)
{
    return agent_gil_breathe(&w->gone, WHY_SLICE_PCT);
}

/* ---- slots the limited API hides before 3.10 ---- */

static void *why_type_word(PyTypeObject *tp, size_t off)
{
    void *v;
    memcpy(&v, (const char *)tp + off, sizeof(v));
    return v;
}

/* Proves the offsets on this interpreter: tp_flags of a few static types and
 * tp_traverse of a heap type must read back as the API says. */
static int why_check_offsets(PyTypeObject *heap)
{
    PyTypeObject *stat[] = {&PyDict_Type, &PyList_Type, &PyTuple_Type, &PyType_Type};
    for (size_t i = 0; i < sizeof(stat) / sizeof(stat[0]); i++) {
        unsigned long fl;
        memcpy(&fl, (const char *)stat[i] + PYLAYOUT_TP_FLAGS_OFF, sizeof(fl));
        if (fl != PyType_GetFlags(stat[i]) || !why_type_word(stat[i], PYLAYOUT_TP_TRAVERSE_OFF))
            return 0;
    }
    if (!heap || !(PyType_GetFlags(heap) & Py_TPFLAGS_HEAPTYPE))
        return 0;
    unsigned long fl;
    memcpy(&fl, (const char *)heap + PYLAYOUT_TP_FLAGS_OFF, sizeof(fl));
    void *trav = PyType_GetSlot(heap, Py_tp_traverse);
    void *isgc = PyType_GetSlot(heap, Py_tp_is_gc);
    PyErr_Clear();
    return fl == PyType_GetFlags(heap) && trav == why_type_word(heap, PYLAYOUT_TP_TRAVERSE_OFF) &&
           isgc == why_type_word(heap, PYLAYOUT_TP_IS_GC_OFF);
}

/* tp_traverse of o when the collector would traverse it (what
 * gc.get_referents does: GC types, and type objects only when heap types,
 * whose traverse aborts the process on a static type). No Python code. */
static traverseproc why_traverse_of(const struct why *w, PyObject *o)
{
    PyTypeObject *tp = Py_TYPE(o);
    unsigned long fl = PyType_GetFlags(tp);
    if (!(fl & Py_TPFLAGS_HAVE_GC))
        return NULL;
    if ((fl & Py_TPFLAGS_TYPE_SUBCLASS) &&
        !(PyType_GetFlags((PyTypeObject *)o) & Py_TPFLAGS_HEAPTYPE))
        return NULL;
    void *trav, *isgc;
    if (agent.hexversion >= 0x030a0000 || (fl & Py_TPFLAGS_HEAPTYPE)) { /* PyType_GetSlot works */
        trav = PyType_GetSlot(tp, Py_tp_traverse);
        isgc = PyType_GetSlot(tp, Py_tp_is_gc);
    } else if (w->slots_ok) {
        trav = why_type_word(tp, PYLAYOUT_TP_TRAVERSE_OFF);
        isgc = why_type_word(tp, PYLAYOUT_TP_IS_GC_OFF);
    } else {
        return NULL;
    }
    if (isgc && !((inquiry)isgc)(o))
        return NULL;
    return (traverseproc)trav;
}

/* ---- the walk ---- */

static int why_add_node(struct why *w, PyObject *o, uint32_t parent, int32_t root)
{
    if (w->n_nodes == w->cap_nodes) {
        size_t cap = w->cap_nodes ? w->cap_nodes * 2 : 65536;
        struct why_node *n = realloc(w->nodes, cap * sizeof(*n));
        if (!n) {
            w->oom = 1;
            return -1;
        }
        w->nodes = n;
        w->cap_nodes = cap;
    }
    if (agent_ptrmap_put(&w->map, o, (uint32_t)w->n_nodes) < 0) {
        w->oom = 1;
        return -1;
    }
    struct why_node *nd = &w->nodes[w->n_nodes++];
    Py_INCREF(o); /* held across hand-overs; no code runs on an increment */
    nd->obj = o;
    nd->done = 0;
    nd->parent = parent;
    nd->root = root;
    return 0;
}

static int why_sample_index(const struct why *w, const PyObject *o)
{
    for (int i = 0; i < w->n_samples; i++)
        if (w->samples[i] == o)
            return i;
    return -1;
}

static int why_visit(PyObject *o, void *arg)
{
    struct why *w = arg;
    if (!o || w->oom)
        return 0;
    if (w->skip) { /* followed before a hand-over cut this traversal */
        w->skip--;
        return 0;
    }
    if ((++w->visits & 255) == 0) {
        if (why_late(w)) {
            w->timed_out = 1;
            return 1; /* stops this traversal */
        }
        if (agent_gil_slice_over(WHY_SLICE_PCT)) {
            w->cut = 1; /* o is followed when the traversal is taken up again */
            return 1;
        }
    }
    w->node_visits++;
    int si = why_sample_index(w, o);
    if (si < 0 && w->n_nodes >= w->max_nodes) {
        w->capped = 1; /* from here on only the instances are looked for */
        return 0;
    }
    /* The type first: most edges lead to str and int, and the object's
     * header is cheaper to reach than a random slot of the map. */
    traverseproc trav = why_traverse_of(w, o);
    if (si < 0 && !trav)
        return 0; /* holds nothing: str, int, ... */
    if (agent_ptrmap_get(&w->map, o) >= 0)
        return 0;
    if (why_add_node(w, o, w->cur, -1) < 0)
        return 1;
    if (si >= 0 && w->found[si] < 0) {
        w->found[si] = (int64_t)w->n_nodes - 1;
        w->n_found++;
    }
    return 0;
}

/* The big containers, taken up again where a hand-over cut them (by index;
 * tp_traverse could only start over): node_visits is the position. */
static void why_walk_container(struct why *w, PyObject *o)
{
    if (PyDict_CheckExact(o)) {
        Py_ssize_t pos = (Py_ssize_t)w->node_visits;
        PyObject *k, *v;
        for (;;) {
            Py_ssize_t at = pos;
            if (!PyDict_Next(o, &pos, &k, &v))
                break;
            w->node_visits = (uint64_t)at; /* a cut takes this entry again */
            if (why_visit(k, w) || why_visit(v, w))
                return;
            w->node_visits = (uint64_t)pos;
        }
        return;
    }
    int list = PyList_CheckExact(o);
    Py_ssize_t n = list ? PyList_Size(o) : PyTuple_Size(o);
    for (Py_ssize_t i = (Py_ssize_t)w->node_visits; i < n; i++) {
        PyObject *item = list ? PyList_GetItem(o, i) : PyTuple_GetItem(o, i);
        if (!item)
            break;
        if (why_visit(item, w)) {
            w->node_visits = (uint64_t)i; /* why_visit counted it: not followed yet */
            return;
        }
        w->node_visits = (uint64_t)i + 1;
    }
    PyErr_Clear();
}

static void why_walk(struct why *w)
{
    size_t head = 0;
    while (head < w->n_nodes && w->n_found < w->n_samples && !w->oom && !w->timed_out) {
        if ((head & 127) == 0 && why_late(w)) {
            w->timed_out = 1;
            return;
        }
        if (why_breathe(w) < 0)
            return;
        w->cur = (uint32_t)head;
        PyObject *o = w->nodes[head].obj;
        w->node_visits = w->nodes[head].done;
        w->cut = 0;
        w->skip = 0;
        if (PyList_CheckExact(o) || PyTuple_CheckExact(o) || PyDict_CheckExact(o)) {
            why_walk_container(w, o);
        } else {
            /* Looked up now: the object may have changed class since it was met. */
            traverseproc trav = why_traverse_of(w, o);
            w->skip = w->nodes[head].done;
            if (trav)
                trav(o, why_visit, w);
        }
        if (w->cut) { /* the slice ended inside this traversal: again, later */
            w->nodes[head].done = w->node_visits;
            continue;
        }
        head++;
    }
    w->exhausted = head >= w->n_nodes && !w->capped && !w->timed_out;
}

/* ---- roots ---- */

static struct why_root *why_new_root(struct why *w, int kind)
{
    if (w->n_roots == w->cap_roots) {
        size_t cap = w->cap_roots ? w->cap_roots * 2 : 256;
        struct why_root *r = realloc(w->roots, cap * sizeof(*r));
        if (!r)
            return NULL;
        w->roots = r;
        w->cap_roots = cap;
    }
    struct why_root *r = &w->roots[w->n_roots];
    r->kind = kind;
    r->label[0] = 0;
    return r;
}

/* A root node for o unless o is already one (first root wins). */
static void why_add_root(struct why *w, PyObject *o, int kind, const char *label)
{
    if (!o || agent_ptrmap_get(&w->map, o) >= 0)
        return;
    struct why_root *r = why_new_root(w, kind);
    if (!r) {
        w->oom = 1;
        return;
    }
    why_fmt(r->label, sizeof(r->label), "%s", label);
    int si = why_sample_index(w, o);
    if (why_add_node(w, o, UINT32_MAX, (int32_t)w->n_roots) < 0)
        return;
    w->n_roots++;
    if (si >= 0 && w->found[si] < 0) {
        w->found[si] = (int64_t)w->n_nodes - 1;
        w->n_found++;
    }
}

static void why_module_roots(struct why *w)
{
    PyObject *mods = PyObject_GetAttrString(agent.sys_module, "modules");
    PyObject *vals = mods && PyDict_Check(mods) ? PyDict_Values(mods) : NULL;
    Py_XDECREF(mods);
    Py_ssize_t n = vals ? PyList_Size(vals) : 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *m = PyList_GetItem(vals, i);
        if (!m || !PyModule_Check(m))
            continue;
        PyObject *d = PyModule_GetDict(m); /* borrowed; the module holds it */
        if (!d || PyList_Append(w->hold, d) < 0) {
            PyErr_Clear();
            continue;
        }
        char name[WHY_NAME_MAX], label[PM_WHY_EDGE_MAX];
        agent_str_utf8(PyDict_GetItemString(d, "__name__"), name, sizeof(name));
        why_fmt(label, sizeof(label), "module %s", name[0] ? name : "?");
        why_add_root(w, d, WHY_ROOT_MODULE, label);
    }
    Py_XDECREF(vals);
    PyErr_Clear();
}

/* The thread's name from threading._active, only if threading is imported. */
static void why_thread_name(PyObject *tid, char *buf, size_t n)
{
    buf[0] = 0;
    PyObject *mods = PyObject_GetAttrString(agent.sys_module, "modules");
    PyObject *thr = mods && PyDict_Check(mods) ? PyDict_GetItemString(mods, "threading") : NULL;
    PyObject *active = thr ? PyObject_GetAttrString(thr, "_active") : NULL;
    PyErr_Clear();
    PyObject *t = active && PyDict_Check(active) ? PyDict_GetItem(active, tid) : NULL;
    if (t)
        agent_attr_str(t, "_name", buf, n);
    Py_XDECREF(active);
    Py_XDECREF(mods);
    PyErr_Clear();
    if (!buf[0])
        why_fmt(buf, n, "%llu", PyLong_AsUnsignedLongLong(tid));
    PyErr_Clear();
}

/* Every thread's frame locals as roots (agent_frames.c reads them as the
 * build allows; none where it cannot). The labels run Python code, so the
 * locals are strongly held (in w->hold) before the first label is made. */
static void why_thread_roots(struct why *w)
{
    struct agent_frame_local *v;
    Py_ssize_t n = agent_frames_locals(&v, WHY_FRAMES_PER_THREAD);
    if (n < 0) {
        w->oom = 1;
        return;
    }
    for (Py_ssize_t i = 0; i < n; i++)
        if (PyList_Append(w->hold, v[i].value) < 0)
            PyErr_Clear();
    for (Py_ssize_t i = 0; i < n && !w->oom; i++) {
        if (agent_ptrmap_get(&w->map, v[i].value) >= 0)
            continue;
        char thread[WHY_NAME_MAX], fn[WHY_NAME_MAX], var[WHY_NAME_MAX], label[PM_WHY_EDGE_MAX];
        why_thread_name(v[i].tid, thread, sizeof(thread));
        agent_attr_str(v[i].code, "co_qualname", fn, sizeof(fn));
        if (!fn[0]) /* before 3.11 */
            agent_attr_str(v[i].code, "co_name", fn, sizeof(fn));
        agent_str_utf8(v[i].name, var, sizeof(var));
        why_fmt(label, sizeof(label), "thread %s frame %s() local '%s'", thread, fn, var);
        why_add_root(w, v[i].value, WHY_ROOT_LOCAL, label);
    }
    agent_frames_free(v, n);
}


/* Drops every reference taken, in slices (a release may free an object and
 * run its finalizer); once Python is going away they are left alone. */
static void why_free(struct why *w)
{
    while (!w->gone && w->n_nodes) {
        Py_DECREF(w->nodes[--w->n_nodes].obj);
        if ((w->n_nodes & 255) == 0)
            why_breathe(w);
    }
    for (int i = 0; i < w->n_samples && !w->gone; i++)
        Py_CLEAR(w->samples[i]);
    if (!w->gone)
        Py_CLEAR(w->hold);
    /* Unmapping tens of MiB of node table and map takes milliseconds: not
     * with the GIL held. */
    if (!w->gone)
        agent_gil_exit();
    free(w->roots);
    free(w->nodes);
    agent_ptrmap_free(&w->map);
    w->roots = NULL;
    w->nodes = NULL;
    if (!w->gone && !agent_gil_enter("why"))
        w->gone = 1;
}

/* Frees the search and passes rc on, or -ESHUTDOWN when Python went away
 * meanwhile (the GIL is then not held). */
static int why_done(struct why *w, int rc)
{
    why_free(w);
    return w->gone ? -ESHUTDOWN : rc;
}


int agent_why(struct proto_buf *out, const char *type_name, int64_t budget_ms, char *msg,
              size_t msg_len)
{
    uint64_t t0 = agent_now_ns();
    if (!type_name || !type_name[0]) {
        why_fmt(msg, msg_len, "why: give a type name, e.g. why=mymodule.Session");
        return -EINVAL;
    }
    if (budget_ms < 0 || budget_ms > WHY_MAX_BUDGET_MS) {
        why_fmt(msg, msg_len, "why: the budget must be 1 to %d ms", WHY_MAX_BUDGET_MS);
        return -EINVAL;
    }
    if (!budget_ms)
        budget_ms = WHY_DEFAULT_BUDGET_MS;
    if (agent_edges_init() < 0) {
        why_fmt(msg, msg_len, "why: out of memory");
        return -ENOMEM;
    }
    static struct why w; /* agent thread only; ~10 KiB of groups */
    memset(&w, 0, sizeof(w));
    w.deadline_ns = t0 + (uint64_t)budget_ms * 1000000u;
    w.max_nodes = (size_t)budget_ms * WHY_NODES_PER_MS;
    if (w.max_nodes > WHY_MAX_NODES)
        w.max_nodes = WHY_MAX_NODES;
    char type_full[PM_TYPE_NAME_MAX];
    static struct agent_why_samples ws;
    memset(&ws, 0, sizeof(ws));
    int rc = agent_why_sample(&ws, type_name, type_full, sizeof(type_full), msg, msg_len);
    w.gone = ws.gone;
    for (int i = 0; i < ws.n_samples; i++) {
        w.samples[i] = ws.samples[i];
        w.found[i] = -1;
    }
    w.n_samples = ws.n_samples;
    if (rc < 0)
        return why_done(&w, rc); /* -ESHUTDOWN: the GIL is not held */
    /* Before 3.10 static types' slots come from the type's memory: proven
     * on the sampled type (or abc.ABC, a class every interpreter has). */
    if (agent.layout && agent.layout->static_type_slots) {
        PyObject *abc = PyImport_ImportModule("abc"); /* always imported already */
        PyObject *heap = abc ? PyObject_GetAttrString(abc, "ABC") : NULL;
        PyTypeObject *sample_tp = Py_TYPE(w.samples[0]);
        w.slots_ok = why_check_offsets((PyType_GetFlags(sample_tp) & Py_TPFLAGS_HEAPTYPE)
                                           ? sample_tp
                                           : (heap && PyType_Check(heap) ? (PyTypeObject *)heap
                                                                        : NULL));
        Py_XDECREF(heap);
        Py_XDECREF(abc);
        PyErr_Clear();
    } else {
        w.slots_ok = agent.hexversion >= 0x030a0000; /* else no static type is followed */
    }
    w.hold = PyList_New(0);
    size_t map_cap = 65536;
    while (map_cap < 2 * w.max_nodes && map_cap < ((size_t)1 << 22))
        map_cap <<= 1; /* sized for the budget: no rehash in the walk */
    if (!w.hold || agent_ptrmap_init(&w.map, map_cap) < 0) {
        PyErr_Clear();
        why_fmt(msg, msg_len, "why: out of memory");
        return why_done(&w, -ENOMEM);
    }
    why_module_roots(&w);
    why_thread_roots(&w);
    uint64_t t_walk = agent_now_ns();

    /* Python code runs only between the walk's slices (why_breathe). */
    why_walk(&w);
    if (w.gone)
        return why_done(&w, -ESHUTDOWN);
    uint64_t walk_ns = agent_now_ns() - t_walk;
    size_t visited = w.n_nodes;
    /* The walk's pointers are dead from here on: only the chains count. */
    static struct why_elem el[WHY_MAX_HOPS]; /* 80 KiB: not on our thread's stack */
    int unreached = 0, untracked = 0;
    for (int s = 0; s < w.n_samples; s++) {
        int ne = 0;
        if (why_breathe(&w) < 0)
            return why_done(&w, -ESHUTDOWN);
        if (w.found[s] >= 0) {
            ne = why_chain_found(&w, s, el, WHY_MAX_HOPS);
        } else if (w.exhausted && !w.oom) {
            ne = why_chain_untracked(&w, s, el, WHY_MAX_HOPS);
            untracked++;
        } else {
            unreached++;
            continue;
        }
        if (ne > 0)
            why_group_add(&w, el, ne);
    }
    qsort(w.groups, (size_t)w.n_groups, sizeof(w.groups[0]), why_group_cmp);
    uint64_t now = agent_now_ns();

    /* What the target noticed: the longest single hold, this one included. */
    uint64_t pause = now - agent.gil_since_ns;
    if (agent.op_max_hold_ns > pause)
        pause = agent.op_max_hold_ns;

    char first[400];
    if (w.n_groups)
        why_join(&w.groups[0], first, sizeof(first));
    char tail[160] = "";
    if (unreached)
        why_fmt(tail, sizeof(tail), "; no chain found within budget for %d (visited %zu objects in %llu ms%s)",
                 unreached, visited, (unsigned long long)(walk_ns / 1000000u),
                 w.oom ? ", out of memory" : "");
    if (!w.n_groups)
        why_fmt(msg, msg_len,
                 "why %s: no chain found within budget for %d sampled instance%s "
                 "(visited %zu objects in %llu ms, paused %.1f ms; try why=%s:%lld)",
                 type_full, w.n_samples, w.n_samples == 1 ? "" : "s", visited,
                 (unsigned long long)(walk_ns / 1000000u), (double)pause / 1e6, type_name,
                 (long long)budget_ms * 4);
    else
        why_fmt(msg, msg_len, "%llu of %d sampled instance%s of %s %s held by %s%s%s (paused %.1f ms)",
                 (unsigned long long)w.groups[0].count, w.n_samples, w.n_samples == 1 ? "" : "s",
                 type_full, w.groups[0].count == 1 ? "is" : "are", first,
                 w.n_groups > 1 ? "; other shapes too" : "", tail, (double)pause / 1e6);

    proto_append(out, PROTO_WHY);
    proto_put_u64(out, TAG_TIME_NS, now);
    proto_put_str(out, TAG_WHY_TYPE, type_full);
    proto_put_u64(out, TAG_SAMPLED, (uint64_t)w.n_samples);
    proto_put_u64(out, TAG_VISITED, visited);
    proto_put_u64(out, TAG_BUDGET_MS, (uint64_t)budget_ms);
    proto_put_u64(out, TAG_COMPLETE, !unreached);
    proto_put_u64(out, TAG_PAUSE_NS, pause);
    proto_put_str(out, TAG_MESSAGE, msg);
    for (int g = 0; g < w.n_groups; g++) {
        static struct pm_why_chain c;
        const struct why_chain_acc *a = &w.groups[g];
        c.count = a->count;
        c.n_edges = a->n;
        for (uint32_t i = 0; i < a->n; i++)
            memcpy(c.edges[i], a->varies[i] ? a->norm[i] : a->conc[i], PM_WHY_EDGE_MAX);
        proto_put_chain(out, &c);
    }
    proto_end(out);
    (void)untracked;
    rc = why_done(&w, 0);
    if (rc == 0)
        PyErr_Clear();
    return rc;
}

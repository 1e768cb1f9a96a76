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

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent_edges.h"
#include "agent_frames.h"
#include "agent_why_sample.h"
#include "agent_state.h"
#include "proto.h"

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


/* snprintf that cuts silently (labels are cut by design). */
static void why_fmt(char *buf, size_t n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void why_fmt(char *buf, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, n, fmt, ap);
    va_end(ap);
}

static int why_late(const struct why *w)
{
    return agent_now_ns() > w->deadline_ns;
}

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

/* ---- chains: objects, rendering, grouping ---- */

struct why_elem {
    char conc[PM_WHY_EDGE_MAX], norm[PM_WHY_EDGE_MAX];
};

static void why_elem_set(struct why_elem *e, const char *head, const struct agent_edge *l)
{
    if (l && l->conc[0]) {
        why_fmt(e->conc, sizeof(e->conc), "%s %s", head, l->conc);
        why_fmt(e->norm, sizeof(e->norm), "%s %s", head, l->norm);
    } else {
        why_fmt(e->conc, sizeof(e->conc), "%s", head);
        why_fmt(e->norm, sizeof(e->norm), "%s", head);
    }
}

/* Renders objs[0..n) (strong references; objs[n-1] the instance) after a
 * first element `first` (may be NULL: objs[0] is the first node) into elems;
 * returns the element count. root_module: objs[0] is a module's dict whose
 * name is in `first`. Classes and modules on the way restart the chain. */
static int why_render(PyObject **objs, int n, const char *first, int root_module,
                      struct why_elem *elems, int cap)
{
    int ne = 0;
    int i = 0;
    char head[PM_WHY_EDGE_MAX], name[WHY_NAME_MAX];
    struct agent_edge l;
    if (first && root_module && n > 1) {
        int found = agent_edges_in_dict(objs[0], objs[1], 1, &l, NULL);
        why_elem_set(&elems[ne++], first, found ? &l : NULL);
        i = 1;
    } else if (first) {
        why_elem_set(&elems[ne++], first, NULL);
    }
    for (; i < n && ne < cap; i++) {
        PyObject *a = objs[i];
        if (i == n - 1) {
            agent_type_short_name((PyObject *)Py_TYPE(a), name, sizeof(name));
            why_elem_set(&elems[ne++], name, NULL);
            break;
        }
        PyObject *b = objs[i + 1];
        /* A class or a module, then its namespace: a root of its own. */
        if ((PyType_Check(a) || PyModule_Check(a)) && PyDict_Check(b) && i + 2 < n) {
            PyObject *ns = PyModule_Check(a) ? PyModule_GetDict(a) : NULL;
            if (PyModule_Check(a) ? ns == b : 1) {
                char qual[WHY_NAME_MAX], mod[WHY_NAME_MAX];
                agent_attr_str(a, PyModule_Check(a) ? "__name__" : "__qualname__", qual,
                               sizeof(qual));
                if (PyType_Check(a))
                    agent_attr_str(a, "__module__", mod, sizeof(mod));
                if (PyModule_Check(a))
                    why_fmt(head, sizeof(head), "module %s", qual);
                else if (mod[0] && strcmp(mod, "builtins"))
                    why_fmt(head, sizeof(head), "class %s.%s", mod, qual);
                else
                    why_fmt(head, sizeof(head), "class %s", qual);
                if (agent_edges_in_dict(b, objs[i + 2], 1, &l, NULL)) {
                    ne = 0; /* the chain restarts at the class or module */
                    why_elem_set(&elems[ne++], head, &l);
                    i++;
                    continue;
                }
            }
        }
        agent_type_short_name((PyObject *)Py_TYPE(a), name, sizeof(name));
        /* An instance, then its __dict__: one ".attr" edge. */
        if (i + 2 < n && agent_edges_through_dict(a, b, objs[i + 2], &l)) {
            why_elem_set(&elems[ne++], name, &l);
            i++;
            continue;
        }
        agent_edges_label(a, b, &l, NULL);
        why_elem_set(&elems[ne++], name, &l);
    }
    return ne;
}

static void why_group_add(struct why *w, const struct why_elem *el, int ne)
{
    struct why_elem cut[PM_WHY_MAX_EDGES];
    if (ne > PM_WHY_MAX_EDGES) { /* keep the root and the end */
        int tail = PM_WHY_MAX_EDGES - 2;
        cut[0] = el[0];
        why_fmt(cut[1].conc, sizeof(cut[1].conc), "... (%d more)", ne - 1 - tail);
        memcpy(cut[1].norm, cut[1].conc, sizeof(cut[1].norm));
        memcpy(&cut[2], &el[ne - tail], (size_t)tail * sizeof(*el));
        el = cut;
        ne = PM_WHY_MAX_EDGES;
    }
    for (int g = 0; g < w->n_groups; g++) {
        struct why_chain_acc *a = &w->groups[g];
        if (a->n != (uint32_t)ne)
            continue;
        int same = 1;
        for (int i = 0; i < ne && same; i++)
            same = strcmp(a->norm[i], el[i].norm) == 0;
        if (!same)
            continue;
        a->count++;
        for (int i = 0; i < ne; i++)
            if (strcmp(a->conc[i], el[i].conc) != 0)
                a->varies[i] = 1;
        return;
    }
    if (w->n_groups == PM_WHY_MAX_CHAINS) {
        w->grouped_away++;
        return;
    }
    struct why_chain_acc *a = &w->groups[w->n_groups++];
    memset(a, 0, sizeof(*a));
    a->n = (uint32_t)ne;
    a->count = 1;
    for (int i = 0; i < ne; i++) {
        memcpy(a->norm[i], el[i].norm, sizeof(a->norm[i]));
        memcpy(a->conc[i], el[i].conc, sizeof(a->conc[i]));
    }
}

/* The chain of sample s from the walk's parents (strong references taken
 * first: labelling runs Python code). */
static int why_chain_found(struct why *w, int s, struct why_elem *el, int cap)
{
    PyObject *objs[WHY_MAX_HOPS];
    int n = 0;
    uint32_t v = (uint32_t)w->found[s];
    for (;;) {
        if (n == WHY_MAX_HOPS)
            memmove(objs + 1, objs, (WHY_MAX_HOPS - 1) * sizeof(*objs)), n--; /* keep the end */
        objs[n++] = w->nodes[v].obj;
        if (w->nodes[v].parent == UINT32_MAX)
            break;
        v = w->nodes[v].parent;
    }
    const struct why_root *root = &w->roots[w->nodes[v].root];
    /* objs is instance..root: reverse, and hold them all. */
    for (int i = 0; i < n / 2; i++) {
        PyObject *t = objs[i];
        objs[i] = objs[n - 1 - i];
        objs[n - 1 - i] = t;
    }
    for (int i = 0; i < n; i++)
        Py_INCREF(objs[i]);
    int ne = why_render(objs, n, root->label, root->kind == WHY_ROOT_MODULE, el, cap);
    for (int i = 0; i < n; i++)
        Py_DECREF(objs[i]);
    PyErr_Clear();
    return ne;
}

/* gc.get_referrers visits every tracked object in one piece: allowed only
 * where the heap's allocated blocks bound that under one pause. */
static int why_referrers_fit(void)
{
    uint64_t max_ns = (uint64_t)atomic_load(&agent.max_pause_us) * 1000u;
    return agent.blocks_last > 0 &&
           (uint64_t)agent.blocks_last * WHY_REFERRERS_NS_PER_BLOCK <= max_ns;
}

/* No root reaches sample s: follow gc.get_referrers upwards while the budget
 * lasts. The top is the untracked world when nothing tracked refers to it. */
static int why_chain_untracked(struct why *w, int s, struct why_elem *el, int cap)
{
    PyObject *objs[WHY_UP_LEVELS + 1]; /* objs[0] the instance, upwards */
    int n = 0, top = 0;
    objs[n++] = w->samples[s];
    Py_INCREF(objs[0]);
    PyObject *get = why_referrers_fit() ? PyObject_GetAttrString(agent.gc_module, "get_referrers")
                                        : NULL;
    while (get && n <= WHY_UP_LEVELS && !why_late(w)) {
        PyObject *refs = PyObject_CallFunctionObjArgs(get, objs[n - 1], NULL);
        if (!refs || !PyList_Check(refs)) {
            Py_XDECREF(refs);
            break;
        }
        PyObject *pick = NULL;
        for (Py_ssize_t i = 0; i < PyList_Size(refs) && !pick; i++) {
            PyObject *r = PyList_GetItem(refs, i);
            int seen = r == w->hold;
            for (int k = 0; k < n && !seen; k++)
                seen = objs[k] == r;
            if (!seen)
                pick = r;
        }
        Py_XINCREF(pick);
        Py_DECREF(refs);
        if (!pick) {
            top = 1;
            break;
        }
        objs[n++] = pick;
    }
    Py_XDECREF(get);
    PyErr_Clear();
    PyObject *down[WHY_UP_LEVELS + 1];
    for (int i = 0; i < n; i++)
        down[i] = objs[n - 1 - i];
    int ne = why_render(down, n, top ? "untracked world" : "... (referrers not followed further)",
                        0, el, cap);
    for (int i = 0; i < n; i++)
        Py_DECREF(objs[i]);
    PyErr_Clear();
    return ne;
}

static int why_group_cmp(const void *pa, const void *pb)
{
    const struct why_chain_acc *a = pa, *b = pb;
    if (a->count != b->count)
        return a->count > b->count ? -1 : 1;
    return a->n < b->n ? -1 : a->n > b->n;
}

static void why_join(const struct why_chain_acc *a, char *buf, size_t n)
{
    size_t len = 0;
    buf[0] = 0;
    for (uint32_t i = 0; i < a->n && len + 1 < n; i++) {
        why_fmt(buf + len, n - len, "%s%s", i ? " -> " : "",
                a->varies[i] ? a->norm[i] : a->conc[i]);
        len += strlen(buf + len);
    }
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

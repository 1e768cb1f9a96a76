/* Cycle shapes (agent_shapes.h): the graph among the objects over their
 * tp_traverse edges, Tarjan's strongly connected components, and for each
 * cyclic component one canonical cycle rendered with agent_edges.c's labels;
 * components of the same rendering are grouped. The graph and its
 * components are agent_shapes_graph.c's; the rendering is here.
 *
 * Working memory is bounded by the edge cap and the caller's object count
 * (~80 bytes per object + 4 per edge). */
#include "agent_shapes.h"
#include "agent_shapes_ctx.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent_edges.h"
#include "agent_state.h"
#include "agent_util.h"

/* Per type: its name, and the attribute that last named an edge out of one
 * of its instances (tried first on the next: no dict search, and on 3.11+
 * no instance dict materialised). */
struct hunt_type {
    char name[AGENT_SHAPES_NAME_MAX];
    PyObject *attr; /* strong reference or NULL */
    int64_t basicsize; /* instances of Python classes in a collection: -1 not read yet */
};

/* ---- object address -> index (agent_util.h), sized up front ---- */

/* A map for at most n entries: never grows, so a put never fails. */
static int ptrmap_init(struct agent_ptrmap *m, size_t n)
{
    size_t cap = 16;
    while (cap < 2 * n)
        cap <<= 1;
    return agent_ptrmap_init(m, cap);
}

/* What we know of type(o), NULL when the table is full (thousands of
 * types in the garbage). */
static struct hunt_type *hunt_type_info(struct hunt *h, PyObject *o)
{
    PyObject *t = (PyObject *)Py_TYPE(o);
    int64_t i = agent_ptrmap_get(&h->types, t);
    if (i >= 0)
        return &h->tinfo[i];
    if (h->n_types == h->cap_types)
        return NULL;
    struct hunt_type *ti = &h->tinfo[h->n_types];
    agent_type_short_name(t, ti->name, sizeof(ti->name));
    ti->attr = NULL;
    ti->basicsize = -1;
    (void)agent_ptrmap_put(&h->types, t, h->n_types);
    return &h->tinfo[h->n_types++];
}

static const char *hunt_type_name(struct hunt *h, PyObject *o)
{
    struct hunt_type *ti = hunt_type_info(h, o);
    return ti ? ti->name : "?";
}

/* ---- edge labels (spelled by agent_edges.c) ---- */

/* Turns a cycle of objects into hops, folding an instance's __dict__ into the
 * attribute edge (Node -> dict -> Node becomes Node -.next-> Node). Returns
 * the number of hops. */
static uint32_t hunt_hops(struct hunt *h, const uint32_t *cyc, uint32_t len)
{
    uint32_t start = 0;
    if (len > 1) { /* never start on a dict that is folded into its owner */
        PyObject *last = PyList_GetItem(h->objs, cyc[len - 1]);
        PyObject *first = PyList_GetItem(h->objs, cyc[0]);
        PyObject *d = PyDict_Check(first) ? agent_edges_instance_dict(last) : NULL;
        if (d == first)
            start = 1;
        Py_XDECREF(d);
    }
    uint32_t nh = 0;
    h->cycle_len = len;
    struct agent_edge e;
    for (uint32_t k = 0; k < len && nh < h->cap_hops; k++) {
        PyObject *a = PyList_GetItem(h->objs, cyc[(start + k) % len]);
        PyObject *b = PyList_GetItem(h->objs, cyc[(start + k + 1) % len]);
        struct agent_hop *hop = &h->hops[nh++];
        struct hunt_type *ti = hunt_type_info(h, a);
        snprintf(hop->name, sizeof(hop->name), "%s", ti ? ti->name : "?");
        hop->label[0] = 0;
        /* Shapes group by the concrete label: "[0]" and "['me']" say which
         * slot closes the ring, the same in every instance of the shape. */
        if (PyDict_Check(b)) {
            PyObject *c = PyList_GetItem(h->objs, cyc[(start + k + 2) % len]);
            if (k + 1 < len && agent_edges_through_dict(a, b, c, &e)) {
                memcpy(hop->label, e.conc, sizeof(hop->label));
                k++; /* the dict is folded into this hop */
                continue;
            }
        } else if (ti && ti->attr && agent_edges_getattr_is(a, ti->attr, b)) {
            agent_edges_key(ti->attr, 1, &e);
            memcpy(hop->label, e.conc, sizeof(hop->label));
            continue;
        }
        PyObject *attr = NULL;
        agent_edges_label(a, b, &e, &attr);
        memcpy(hop->label, e.conc, sizeof(hop->label));
        if (attr && ti) {
            Py_XDECREF(ti->attr);
            ti->attr = attr;
        } else {
            Py_XDECREF(attr);
        }
        PyErr_Clear();
    }
    return nh;
}

/* ---- grouping ---- */

uint64_t agent_shapes_hash(const char *s)
{
    uint64_t x = 1469598103934665603ull;
    for (; *s; s++)
        x = (x ^ (uint8_t)*s) * 1099511628211ull;
    return x;
}

static int hunt_group_add(struct hunt *h, const char *path, uint64_t bytes, uint64_t objects)
{
    uint64_t hv = agent_shapes_hash(path);
    if (h->n_groups * 2 >= h->gmask) { /* grow and rehash */
        size_t cap = h->gmask ? (h->gmask + 1) * 2 : 256;
        uint32_t *t = calloc(cap, sizeof(*t));
        if (!t)
            return -1;
        for (size_t g = 0; g < h->n_groups; g++) {
            size_t i = h->groups[g].hash & (cap - 1);
            while (t[i])
                i = (i + 1) & (cap - 1);
            t[i] = (uint32_t)g + 1;
        }
        free(h->gtab);
        h->gtab = t;
        h->gmask = cap - 1;
    }
    size_t i = hv & h->gmask;
    for (; h->gtab[i]; i = (i + 1) & h->gmask) {
        struct agent_shape_group *g = &h->groups[h->gtab[i] - 1];
        if (g->hash == hv && strcmp(g->path, path) == 0) {
            g->count++;
            g->bytes += bytes;
            g->objects += objects;
            return 0;
        }
    }
    if (h->n_groups == h->cap_groups) {
        size_t cap = h->cap_groups ? h->cap_groups * 2 : 64;
        struct agent_shape_group *g = realloc(h->groups, cap * sizeof(*g));
        if (!g)
            return -1;
        h->groups = g;
        h->cap_groups = cap;
    }
    struct agent_shape_group *g = &h->groups[h->n_groups];
    snprintf(g->path, sizeof(g->path), "%s", path);
    g->hash = hv;
    g->del_type[0] = 0;
    g->count = 1;
    g->bytes = bytes;
    g->objects = objects;
    h->gtab[i] = (uint32_t)++h->n_groups;
    return 1;
}

static int group_cmp(const void *pa, const void *pb)
{
    const struct agent_shape_group *a = pa, *b = pb;
    if (a->count != b->count)
        return a->count > b->count ? -1 : 1;
    if (a->bytes != b->bytes)
        return a->bytes > b->bytes ? -1 : 1;
    return strcmp(a->path, b->path);
}

/* ---- components ---- */

/* An instance of a Python class, inside a collection: the type's basic
 * size (sys.getsizeof would run the class's own __sizeof__, program code,
 * inside the program's collection). Read through type's own attribute
 * lookup only (a metaclass might override it: then 0, unknown). */
static uint64_t hunt_basicsize(struct hunt *h, PyObject *o)
{
    struct hunt_type *ti = hunt_type_info(h, o);
    if (ti && ti->basicsize >= 0)
        return (uint64_t)ti->basicsize;
    PyTypeObject *tp = Py_TYPE(o);
    long long v = 0;
    if (Py_TYPE((PyObject *)tp) == &PyType_Type) {
        PyObject *r = PyObject_GetAttrString((PyObject *)tp, "__basicsize__");
        v = r ? PyLong_AsLongLong(r) : 0;
        Py_XDECREF(r);
        PyErr_Clear();
    }
    if (ti)
        ti->basicsize = v > 0 ? v : 0;
    return v > 0 ? (uint64_t)v : 0;
}

static uint64_t hunt_sizeof(struct hunt *h, uint32_t i)
{
    PyObject *o = PyList_GetItem(h->objs, i);
    if (h->in_collection && (PyType_GetFlags(Py_TYPE(o)) & Py_TPFLAGS_HEAPTYPE))
        return hunt_basicsize(h, o);
    PyObject *r = PyObject_CallFunctionObjArgs(h->getsizeof, o, NULL);
    long long v = r ? PyLong_AsLongLong(r) : 0;
    Py_XDECREF(r);
    PyErr_Clear();
    return v > 0 ? (uint64_t)v : 0;
}

/* One cyclic component: its canonical cycle, rendered into path. */
static void hunt_describe(struct hunt *h, int32_t c, char *path)
{
    const uint32_t *m = &h->members[h->comp_start[c]];
    uint32_t size = h->comp_start[c + 1] - h->comp_start[c];
    uint64_t inner = 0;
    for (uint32_t k = 0; k < size; k++)
        for (uint32_t e = h->off[m[k]]; e < h->off[m[k] + 1]; e++)
            inner += h->comp[h->adj[e]] == c;
    uint32_t len;
    if (inner == size) { /* a simple ring: one edge out of every member */
        uint32_t v = m[0];
        len = 0;
        do {
            h->cyc[len++] = v;
            uint32_t next = v;
            for (uint32_t e = h->off[v]; e < h->off[v + 1]; e++)
                if (h->comp[h->adj[e]] == c) {
                    next = h->adj[e];
                    break;
                }
            v = next;
        } while (v != m[0] && len < size);
        agent_path_render(h->hops, hunt_hops(h, h->cyc, len), h->cap_hops, h->cycle_len, path);
        return;
    }
    /* Otherwise the shortest cycles through a few members; the one that
     * renders first in sort order names the component. */
    uint32_t best_len = UINT32_MAX, starts = size < HUNT_BFS_STARTS ? size : HUNT_BFS_STARTS;
    uint32_t cand[HUNT_BFS_STARTS], n_cand = 0;
    for (uint32_t k = 0; k < starts; k++) {
        uint32_t l = hunt_bfs_cycle(h, c, m[k], best_len, h->cyc);
        if (!l)
            continue;
        if (l < best_len) {
            best_len = l;
            n_cand = 0;
        }
        if (l == best_len && n_cand < HUNT_CANDIDATES)
            cand[n_cand++] = m[k];
    }
    char tmp[PM_SHAPE_PATH_MAX];
    path[0] = 0;
    for (uint32_t k = 0; k < n_cand; k++) {
        len = hunt_bfs_cycle(h, c, cand[k], best_len, h->cyc);
        if (!len)
            continue;
        agent_path_render(h->hops, hunt_hops(h, h->cyc, len), h->cap_hops, h->cycle_len, tmp);
        if (!path[0] || strcmp(tmp, path) < 0)
            memcpy(path, tmp, sizeof(tmp));
    }
    if (!path[0])
        snprintf(path, PM_SHAPE_PATH_MAX, "%s -> ... (%u objects)",
                 hunt_type_name(h, PyList_GetItem(h->objs, m[0])), size);
}

/* The first user class (heap type) among the members whose instances have
 * a __del__; its name into out, "" none. */
static void hunt_find_del(struct hunt *h, const uint32_t *m, uint32_t size, char *out)
{
    out[0] = 0;
    for (uint32_t k = 0; k < size && k < 64 && !out[0]; k++) {
        PyObject *o = PyList_GetItem(h->objs, m[k]);
        PyTypeObject *tp = o ? Py_TYPE(o) : NULL;
        if (!tp || !(PyType_GetFlags(tp) & Py_TPFLAGS_HEAPTYPE))
            continue;
        PyObject *d = PyObject_GetAttrString((PyObject *)tp, "__del__");
        if (d)
            snprintf(out, AGENT_SHAPES_NAME_MAX, "%s", hunt_type_name(h, o));
        Py_XDECREF(d);
        PyErr_Clear();
    }
}


static int hunt_components(struct hunt *h)
{
    char path[PM_SHAPE_PATH_MAX];
    int stop = 0;
    for (uint32_t c = 0; c < h->n_comp; c++) {
        uint32_t size = h->comp_start[c + 1] - h->comp_start[c];
        const uint32_t *m = &h->members[h->comp_start[c]];
        if (size == 1) {
            int self = 0;
            for (uint32_t e = h->off[m[0]]; e < h->off[m[0] + 1]; e++)
                self |= h->adj[e] == m[0];
            if (!self)
                continue; /* hangs off a cycle, is no cycle itself */
        }
        h->cycles++;
        if (!stop && (h->cycles & 63) == 0 && hunt_over_budget(h))
            stop = h->truncated = 1;
        if (stop)
            continue; /* counted, not described */
        if (hunt_breathe(h) < 0)
            return -1;
        hunt_describe(h, (int32_t)c, path);
        uint64_t bytes = 0;
        for (uint32_t k = 0; k < size; k++)
            bytes += hunt_sizeof(h, m[k]);
        int added = hunt_group_add(h, path, bytes, size);
        if (added < 0)
            return -1;
        if (added) /* a new shape: does a class in it define __del__? */
            hunt_find_del(h, m, size, h->groups[h->n_groups - 1].del_type);
    }
    return 0;
}

static void hunt_free(struct hunt *h)
{
    agent_ptrmap_free(&h->map);
    agent_ptrmap_free(&h->types);
    free(h->off);
    free(h->adj);
    free(h->comp);
    free(h->comp_start);
    free(h->members);
    free(h->dist);
    free(h->parent);
    free(h->queue);
    free(h->cyc);
    free(h->hops);
    for (uint32_t i = 0; i < h->n_types; i++)
        Py_XDECREF(h->tinfo[i].attr);
    free(h->tinfo);
    free(h->groups);
    free(h->gtab);
    Py_XDECREF(h->get_referents);
    Py_XDECREF(h->getsizeof);
}

/* Analyses h->objs; 0, or -1 out of memory. */
static int hunt_analyse(struct hunt *h)
{
    uint32_t n = h->n;
    if (!n)
        return 0;
    h->get_referents = PyObject_GetAttrString(agent.gc_module, "get_referents");
    h->getsizeof = PyObject_GetAttrString(agent.sys_module, "getsizeof");
    if (!h->get_referents || !h->getsizeof) {
        PyErr_Clear();
        return -1;
    }
    h->cap_hops = HUNT_MAX_HOPS;
    h->cap_types = 4096;
    if (ptrmap_init(&h->map, n) < 0 || ptrmap_init(&h->types, h->cap_types) < 0)
        return -1;
    h->off = malloc(((size_t)n + 1) * sizeof(*h->off));
    h->comp = malloc((size_t)n * sizeof(*h->comp) + 1);
    h->members = malloc((size_t)n * sizeof(*h->members) + 1);
    h->dist = malloc((size_t)n * sizeof(*h->dist) + 1);
    h->parent = malloc((size_t)n * sizeof(*h->parent) + 1);
    h->queue = malloc((size_t)n * sizeof(*h->queue) + 1);
    h->cyc = malloc((size_t)n * sizeof(*h->cyc) + 1);
    h->hops = malloc((size_t)h->cap_hops * sizeof(*h->hops));
    h->tinfo = malloc((size_t)h->cap_types * sizeof(*h->tinfo));
    if (!h->off || !h->comp || !h->members || !h->dist || !h->parent || !h->queue || !h->cyc ||
        !h->hops || !h->tinfo)
        return -1;
    for (uint32_t i = 0; i < n; i++) {
        (void)agent_ptrmap_put(&h->map, PyList_GetItem(h->objs, i), i);
        h->dist[i] = -1;
    }
    hunt_edges(h);
    if (h->gone)
        return -1;
    /* Tarjan's algorithm touches only our arrays: without the GIL, except
     * inside a collection. */
    if (h->in_collection)
        return hunt_scc(h) < 0 ? -1 : hunt_components(h);
    agent_gil_exit();
    int scc = hunt_scc(h);
    if (!agent_gil_enter("hunt")) {
        h->gone = 1;
        return -1;
    }
    if (scc < 0)
        return -1;
    return hunt_components(h);
}

int agent_shapes_init(void)
{
    return agent_edges_init();
}

int agent_shapes_analyse(struct agent_shapes *s)
{
    struct hunt h;
    memset(&h, 0, sizeof(h));
    h.objs = s->objs;
    h.n = s->n;
    h.deadline_ns = s->deadline_ns;
    h.in_collection = s->in_collection;
    int rc = hunt_analyse(&h);
    s->gone = h.gone;
    if (h.gone) { /* the GIL is not ours: leave every reference alone */
        h.get_referents = h.getsizeof = NULL;
        for (uint32_t i = 0; i < h.n_types; i++)
            h.tinfo[i].attr = NULL;
    } else {
        PyErr_Clear();
    }
    if (rc == 0 && h.n_groups)
        qsort(h.groups, h.n_groups, sizeof(*h.groups), group_cmp);
    s->cycles = h.cycles;
    s->truncated = h.truncated;
    s->groups = rc == 0 ? h.groups : NULL;
    s->n_groups = rc == 0 ? h.n_groups : 0;
    if (rc == 0)
        h.groups = NULL; /* now the caller's */
    hunt_free(&h);
    return rc;
}

void agent_shapes_free(struct agent_shapes *s)
{
    free(s->groups);
    s->groups = NULL;
    s->n_groups = 0;
}

/* gc.garbage and cycle hunts: one collection with DEBUG_SAVEALL, the saved
 * garbage split into strongly connected components, each described by one
 * canonical cycle of type names and edge labels ("Node -.next-> Node"); then
 * the garbage is released and the debug flags are restored exactly.
 *
 * Everything here runs with the GIL held. Working memory is libc malloc (not
 * PyMem), so tracemalloc and pymalloc never see it; it is bounded by the
 * object and edge caps (~80 bytes per object + 4 per edge). */
#include "agent_cycles.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent_edges.h"
#include "agent_state.h"
#include "proto.h"

#define HUNT_DEBUG_SAVEALL 0x20         /* gc.DEBUG_SAVEALL, the same in 3.8-3.13 */
#define HUNT_MAX_OBJECTS 200000u        /* garbage objects analysed; more: truncated */
#define HUNT_MAX_EDGES 4000000u         /* edges between them */
#define HUNT_BUDGET_NS 2000000000ull    /* analysis time after the collection */
#define HUNT_BFS_STARTS 16              /* start nodes tried in a component that is no ring */
#define HUNT_CANDIDATES 8               /* shortest cycles rendered per such component */
#define HUNT_SHOW_HOPS 8                /* longer cycles are abbreviated */
#define HUNT_CANON_HOPS 256             /* longer cycles are not rotated to canonical form */
#define HUNT_MAX_HOPS 1024              /* hops labelled per cycle */
#define HUNT_NAME_MAX 64

/* ---- object address -> index (agent_util.h), sized up front ---- */

/* A map for at most n entries: never grows, so a put never fails. */
static int ptrmap_init(struct agent_ptrmap *m, size_t n)
{
    size_t cap = 16;
    while (cap < 2 * n)
        cap <<= 1;
    return agent_ptrmap_init(m, cap);
}

/* ---- the hunt's working state ---- */

struct hunt_group {
    char path[PM_SHAPE_PATH_MAX];
    char del_type[HUNT_NAME_MAX]; /* a type in the cycle that defines __del__, "" none */
    uint64_t hash, count, bytes, objects;
};

/* Per type: its name, and the attribute that last named an edge out of one
 * of its instances (tried first on the next: no dict search, and on 3.11+
 * no instance dict materialised). */
struct hunt_type {
    char name[HUNT_NAME_MAX];
    PyObject *attr; /* strong reference or NULL */
};

struct hunt_hop {
    char name[HUNT_NAME_MAX];
    char label[AGENT_EDGE_MAX]; /* "" means a plain "->" */
};

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
    struct hunt_hop *hops;
    uint32_t cap_hops;
    uint32_t cycle_len; /* objects in the cycle being rendered */
    struct agent_ptrmap types; /* type -> index in tinfo */
    struct hunt_type *tinfo;
    uint32_t n_types, cap_types;
    struct hunt_group *groups;
    size_t n_groups, cap_groups;
    uint32_t *gtab; /* group index + 1, 0 empty */
    size_t gmask;
    uint64_t deadline_ns;
    uint64_t cycles;
    int truncated;
    int gone; /* Python is going away: the GIL is not held */
    PyObject *get_referents, *getsizeof;
};

/* The analysis after the collection runs in slices of at most this share
 * of [agent] max_pause_ms: every object analysed is held (h->objs), so the
 * target may run between them; their edges are read once, as they were. */
#define HUNT_SLICE_PCT 60

/* 0, or -1 when Python went away during the hand-over (h->gone). */
static int hunt_breathe(struct hunt *h)
{
    return agent_gil_breathe(&h->gone, HUNT_SLICE_PCT);
}


static int hunt_over_budget(const struct hunt *h)
{
    return agent_now_ns() > h->deadline_ns;
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
    (void)agent_ptrmap_put(&h->types, t, h->n_types);
    return &h->tinfo[h->n_types++];
}

static const char *hunt_type_name(struct hunt *h, PyObject *o)
{
    struct hunt_type *ti = hunt_type_info(h, o);
    return ti ? ti->name : "?";
}

/* ---- the graph among the garbage objects ---- */

static int hunt_push_edge(struct hunt *h, uint32_t to)
{
    if (h->n_edges == h->cap_edges) {
        if (h->cap_edges >= HUNT_MAX_EDGES)
            return -1;
        size_t cap = h->cap_edges ? h->cap_edges * 2 : 1024;
        if (cap > HUNT_MAX_EDGES)
            cap = HUNT_MAX_EDGES;
        uint32_t *a = realloc(h->adj, cap * sizeof(*a));
        if (!a)
            return -1;
        h->adj = a;
        h->cap_edges = cap;
    }
    h->adj[h->n_edges++] = to;
    return 0;
}

static int hunt_visit(PyObject *o, void *arg)
{
    struct hunt *h = arg;
    int64_t t = o ? agent_ptrmap_get(&h->map, o) : -1;
    if (t >= 0 && hunt_push_edge(h, (uint32_t)t) < 0) {
        h->truncated = 1;
        return 1; /* stops the traversal */
    }
    return 0;
}

/* The type's tp_traverse when the limited API hands it out: any type from
 * 3.10 on, heap types only before (static ones raise). */
static traverseproc hunt_traverse_of(PyObject *o)
{
    PyTypeObject *tp = Py_TYPE(o);
    if (agent.hexversion < 0x030a0000 && !(PyType_GetFlags(tp) & Py_TPFLAGS_HEAPTYPE))
        return NULL;
    traverseproc f = (traverseproc)PyType_GetSlot(tp, Py_tp_traverse);
    PyErr_Clear();
    return f;
}

/* Edges as the collector sees them (tp_traverse, what gc.get_referents
 * calls; directly when we can, saving a list per object): only those that
 * stay inside the garbage count, the rest is alive (types, interned
 * strings ...). */
static void hunt_edges(struct hunt *h)
{
    for (uint32_t i = 0; i < h->n; i++) {
        h->off[i] = (uint32_t)h->n_edges;
        if (h->truncated)
            continue;
        if ((i & 1023) == 1023 && hunt_over_budget(h)) {
            h->truncated = 1;
            continue;
        }
        if (hunt_breathe(h) < 0)
            return;
        PyObject *o = PyList_GetItem(h->objs, i);
        traverseproc trav = hunt_traverse_of(o);
        if (trav) {
            trav(o, hunt_visit, h);
            continue;
        }
        PyObject *refs = PyObject_CallFunctionObjArgs(h->get_referents, o, NULL);
        if (!refs || !PyList_Check(refs)) {
            Py_XDECREF(refs);
            PyErr_Clear();
            continue;
        }
        Py_ssize_t k = PyList_Size(refs);
        for (Py_ssize_t j = 0; j < k; j++) {
            int64_t t = agent_ptrmap_get(&h->map, PyList_GetItem(refs, j));
            if (t >= 0 && hunt_push_edge(h, (uint32_t)t) < 0) {
                h->truncated = 1;
                break;
            }
        }
        Py_DECREF(refs);
    }
    h->off[h->n] = (uint32_t)h->n_edges;
}

/* Tarjan's algorithm, iterative (a deep recursion would overflow our 256 KiB
 * stack). Fills comp[], then members[] grouped by component. */
static int hunt_scc(struct hunt *h)
{
    uint32_t n = h->n;
    int32_t *index = malloc(n * sizeof(*index));
    int32_t *low = malloc(n * sizeof(*low));
    uint32_t *stack = malloc(n * sizeof(*stack));
    uint32_t *cs_node = malloc(n * sizeof(*cs_node));
    uint32_t *cs_edge = malloc(n * sizeof(*cs_edge));
    uint8_t *on = calloc(n, 1);
    int rc = -1;
    if (!index || !low || !stack || !cs_node || !cs_edge || !on)
        goto out;
    for (uint32_t i = 0; i < n; i++)
        index[i] = -1;
    int32_t next = 0;
    uint32_t sp = 0;
    for (uint32_t s = 0; s < n; s++) {
        if (index[s] >= 0)
            continue;
        uint32_t csp = 0;
        index[s] = low[s] = next++;
        stack[sp++] = s;
        on[s] = 1;
        cs_node[csp] = s;
        cs_edge[csp++] = h->off[s];
        while (csp) {
            uint32_t v = cs_node[csp - 1];
            if (cs_edge[csp - 1] < h->off[v + 1]) {
                uint32_t w = h->adj[cs_edge[csp - 1]++];
                if (index[w] < 0) {
                    index[w] = low[w] = next++;
                    stack[sp++] = w;
                    on[w] = 1;
                    cs_node[csp] = w;
                    cs_edge[csp++] = h->off[w];
                } else if (on[w] && index[w] < low[v]) {
                    low[v] = index[w];
                }
                continue;
            }
            if (low[v] == index[v]) {
                uint32_t w;
                do {
                    w = stack[--sp];
                    on[w] = 0;
                    h->comp[w] = (int32_t)h->n_comp;
                } while (w != v);
                h->n_comp++;
            }
            csp--;
            if (csp) {
                uint32_t u = cs_node[csp - 1];
                if (low[v] < low[u])
                    low[u] = low[v];
            }
        }
    }
    h->comp_start = calloc((size_t)h->n_comp + 1, sizeof(*h->comp_start));
    if (!h->comp_start)
        goto out;
    for (uint32_t i = 0; i < n; i++)
        h->comp_start[h->comp[i] + 1]++;
    for (uint32_t c = 0; c < h->n_comp; c++)
        h->comp_start[c + 1] += h->comp_start[c];
    memcpy(cs_edge, h->comp_start, h->n_comp * sizeof(*cs_edge)); /* reuse as fill cursors */
    for (uint32_t i = 0; i < n; i++)
        h->members[cs_edge[h->comp[i]]++] = i;
    rc = 0;
out:
    free(index);
    free(low);
    free(stack);
    free(cs_node);
    free(cs_edge);
    free(on);
    return rc;
}

/* Shortest cycle through v inside component c, no longer than max_len:
 * its length (0 none), nodes in out[0..len) with out[0] = v. */
static uint32_t hunt_bfs_cycle(struct hunt *h, int32_t c, uint32_t v, uint32_t max_len,
                               uint32_t *out)
{
    uint32_t qh = 0, qt = 0, found = UINT32_MAX;
    h->queue[qt++] = v;
    h->dist[v] = 0;
    while (qh < qt && found == UINT32_MAX) {
        uint32_t u = h->queue[qh++];
        if ((uint32_t)h->dist[u] + 1 > max_len)
            break;
        for (uint32_t e = h->off[u]; e < h->off[u + 1]; e++) {
            uint32_t w = h->adj[e];
            if (h->comp[w] != c)
                continue;
            if (w == v) {
                found = u;
                break;
            }
            if (h->dist[w] < 0) {
                h->dist[w] = h->dist[u] + 1;
                h->parent[w] = u;
                h->queue[qt++] = w;
            }
        }
    }
    uint32_t len = 0;
    if (found != UINT32_MAX) {
        len = (uint32_t)h->dist[found] + 1;
        for (uint32_t x = found;; x = h->parent[x]) {
            out[h->dist[x]] = x;
            if (x == v)
                break;
        }
    }
    for (uint32_t i = 0; i < qt; i++)
        h->dist[h->queue[i]] = -1;
    return len;
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
        struct hunt_hop *hop = &h->hops[nh++];
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

static int hop_cmp(const struct hunt_hop *a, const struct hunt_hop *b)
{
    int c = strcmp(a->name, b->name);
    return c ? c : strcmp(a->label, b->label);
}

/* The rotation that sorts first, so every instance of a shape reads the same. */
static uint32_t hunt_canonical_rotation(const struct hunt_hop *hops, uint32_t nh)
{
    if (nh > HUNT_CANON_HOPS)
        return 0;
    uint32_t best = 0;
    for (uint32_t r = 1; r < nh; r++) {
        for (uint32_t i = 0; i < nh; i++) {
            int c = hop_cmp(&hops[(r + i) % nh], &hops[(best + i) % nh]);
            if (c < 0)
                best = r;
            if (c)
                break;
        }
    }
    return best;
}

static uint32_t hunt_period(const struct hunt_hop *hops, uint32_t nh)
{
    for (uint32_t p = 1; p < nh && p <= HUNT_SHOW_HOPS; p++) {
        if (nh % p)
            continue;
        uint32_t i = 0;
        while (i + p < nh && hop_cmp(&hops[i], &hops[i + p]) == 0)
            i++;
        if (i + p == nh)
            return p;
    }
    return nh;
}

static void path_add(char *buf, size_t *len, const char *s)
{
    size_t room = PM_SHAPE_PATH_MAX - 1 - *len;
    size_t k = strlen(s);
    if (k > room)
        k = room;
    memcpy(buf + *len, s, k);
    *len += k;
    buf[*len] = 0;
}

static void path_add_hop(char *buf, size_t *len, const struct hunt_hop *hop)
{
    path_add(buf, len, hop->name);
    if (hop->label[0]) {
        path_add(buf, len, " -");
        path_add(buf, len, hop->label);
        path_add(buf, len, "-> ");
    } else {
        path_add(buf, len, " -> ");
    }
}

/* "A -.x-> B -[0]-> A"; rings of a repeated unit: "Node -.next-> Node (x1000)". */
static void hunt_render(struct hunt *h, uint32_t nh, char *buf)
{
    struct hunt_hop *hops = h->hops;
    uint32_t r = hunt_canonical_rotation(hops, nh);
    size_t len = 0;
    char tail[48];
    buf[0] = 0;
    int cut = nh == h->cap_hops; /* more hops than were labelled */
    uint32_t p = nh <= HUNT_SHOW_HOPS || cut ? nh : hunt_period(hops, nh);
    uint32_t shown = p <= HUNT_SHOW_HOPS ? p : HUNT_SHOW_HOPS;
    for (uint32_t i = 0; i < shown; i++)
        path_add_hop(buf, &len, &hops[(r + i) % nh]);
    if (p == nh && nh > HUNT_SHOW_HOPS) {
        if (cut)
            snprintf(tail, sizeof(tail), "... (%u objects) -> ", h->cycle_len);
        else
            snprintf(tail, sizeof(tail), "... (%u hops) -> ", nh);
        path_add(buf, &len, tail);
    }
    path_add(buf, &len, hops[r % nh].name);
    if (p < nh && nh > HUNT_SHOW_HOPS) {
        snprintf(tail, sizeof(tail), " (x%u)", nh / p);
        path_add(buf, &len, tail);
    }
}

/* ---- grouping ---- */

static uint64_t str_hash(const char *s)
{
    uint64_t x = 1469598103934665603ull;
    for (; *s; s++)
        x = (x ^ (uint8_t)*s) * 1099511628211ull;
    return x;
}

static int hunt_group_add(struct hunt *h, const char *path, uint64_t bytes, uint64_t objects)
{
    uint64_t hv = str_hash(path);
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
        struct hunt_group *g = &h->groups[h->gtab[i] - 1];
        if (g->hash == hv && strcmp(g->path, path) == 0) {
            g->count++;
            g->bytes += bytes;
            g->objects += objects;
            return 0;
        }
    }
    if (h->n_groups == h->cap_groups) {
        size_t cap = h->cap_groups ? h->cap_groups * 2 : 64;
        struct hunt_group *g = realloc(h->groups, cap * sizeof(*g));
        if (!g)
            return -1;
        h->groups = g;
        h->cap_groups = cap;
    }
    struct hunt_group *g = &h->groups[h->n_groups];
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
    const struct hunt_group *a = pa, *b = pb;
    if (a->count != b->count)
        return a->count > b->count ? -1 : 1;
    if (a->bytes != b->bytes)
        return a->bytes > b->bytes ? -1 : 1;
    return strcmp(a->path, b->path);
}

/* ---- components ---- */

static uint64_t hunt_sizeof(struct hunt *h, uint32_t i)
{
    PyObject *r = PyObject_CallFunctionObjArgs(h->getsizeof, PyList_GetItem(h->objs, i), NULL);
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
        hunt_render(h, hunt_hops(h, h->cyc, len), path);
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
        hunt_render(h, hunt_hops(h, h->cyc, len), tmp);
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
            snprintf(out, HUNT_NAME_MAX, "%s", hunt_type_name(h, o));
        Py_XDECREF(d);
        PyErr_Clear();
    }
}

/* ---- weakref advice, from a shape's path ("A -.x-> B -> C -[0]-> A") ---- */

struct advice_hop {
    char from[HUNT_NAME_MAX];
    char label[AGENT_EDGE_MAX]; /* "" unlabelled */
};

/* Splits a rendered path into hops; their number (0 when it is abbreviated
 * or does not parse). */
static int advice_parse(const char *path, struct advice_hop *hops, int cap)
{
    int n = 0;
    const char *p = path;
    if (strstr(path, "...") || strstr(path, " (x"))
        return 0;
    while (*p && n < cap) {
        const char *plain = strstr(p, " -> "), *lab = strstr(p, " -");
        if (!lab)
            break; /* the last name: back to the start */
        struct advice_hop *hp = &hops[n++];
        size_t k = (size_t)(lab - p);
        snprintf(hp->from, sizeof(hp->from), "%.*s", (int)(k < HUNT_NAME_MAX ? k : HUNT_NAME_MAX - 1), p);
        hp->label[0] = 0;
        if (plain == lab) {
            p = plain + 4;
            continue;
        }
        const char *end = strstr(lab + 2, "-> ");
        if (!end)
            return 0;
        k = (size_t)(end - (lab + 2));
        snprintf(hp->label, sizeof(hp->label), "%.*s",
                 (int)(k < AGENT_EDGE_MAX ? k : AGENT_EDGE_MAX - 1), lab + 2);
        p = end + 3;
    }
    return n;
}

/* Does the attribute name (".parent", "._owner") contain one of words? */
static const char *advice_word(const char *label, const char *const *words, size_t n)
{
    if (label[0] != '.')
        return NULL;
    const char *a = label + 1;
    while (*a == '_')
        a++;
    for (size_t i = 0; i < n; i++) {
        size_t k = strlen(words[i]);
        if (strncmp(a, words[i], k) == 0 && (a[k] == 0 || a[k] == '_'))
            return words[i];
    }
    return NULL;
}

/* Which edge a weakref would best break, and why; "" when nothing to say. */
static void hunt_advice(const char *path, const char *del_type, char *out, size_t n)
{
    static const char *const back[] = {"parent", "owner", "creator", "container", "master",
                                       "manager", "outer", "root", "up", "prev", "previous",
                                       "back", "holder", "origin", "source"};
    static const char *const cbs[] = {"callback", "callbacks", "cb", "handler", "handlers",
                                      "listener", "listeners", "observer", "observers", "hook",
                                      "hooks", "on", "target", "delegate", "subscriber"};
    struct advice_hop hops[HUNT_SHOW_HOPS + 1];
    int nh = advice_parse(path, hops, HUNT_SHOW_HOPS + 1);
    out[0] = 0;
    int done = 0;
    /* An object holding a method bound to itself. */
    for (int i = 0; i < nh && !done; i++) {
        if (strcmp(hops[i].label, ".__self__") != 0 || strcmp(hops[i].from, "method") != 0)
            continue;
        const struct advice_hop *into = &hops[(i + nh - 1) % nh];
        if (into->label[0] == '.') {
            snprintf(out, n, "store %s as weakref.WeakMethod (%s%s is a bound method of the %s "
                     "that holds it)", into->label, into->from, into->label, hops[(i + 1) % nh].from);
            done = 1;
        }
    }
    for (int i = 0; i < nh && !done; i++) {
        const char *w = advice_word(hops[i].label, back, sizeof(back) / sizeof(back[0]));
        if (!w)
            continue;
        const char *what = !strcmp(w, "prev") || !strcmp(w, "previous") || !strcmp(w, "back")
                               ? "the object before it"
                               : !strcmp(w, "owner") || !strcmp(w, "holder") ? "its owner"
                                                                              : "the creator";
        snprintf(out, n, "break %s with weakref.ref (%s%s points back to %s)", hops[i].label,
                 hops[i].from, hops[i].label, what);
        done = 1;
    }
    for (int i = 0; i < nh && !done; i++) {
        if (!advice_word(hops[i].label, cbs, sizeof(cbs) / sizeof(cbs[0])))
            continue;
        snprintf(out, n, "break %s with weakref.ref or weakref.WeakMethod (%s%s holds a callback "
                 "whose target refers back)", hops[i].label, hops[i].from, hops[i].label);
        done = 1;
    }
    for (int i = 0; i < nh && !done; i++) {
        const char *l = hops[i].label;
        if (strcmp(l, ".__traceback__") && strcmp(l, ".tb_frame") && strcmp(l, ".f_locals"))
            continue;
        snprintf(out, n, "drop the caught exception after handling it (del it, or set it to "
                 "None): its traceback holds the frame that holds it");
        done = 1;
    }
    if (!done && nh == 1 && hops[0].label[0] == '.') {
        snprintf(out, n, "break %s with weakref.ref (%s%s points to the object itself)",
                 hops[0].label, hops[0].from, hops[0].label);
        done = 1;
    } else if (!done && nh == 1) {
        snprintf(out, n, "remove the %s's entry %s that holds the %s itself", hops[0].from,
                 hops[0].label[0] ? hops[0].label : "", hops[0].from);
        done = 1;
    }
    if (!done && nh == 2 && !strcmp(hops[0].label, hops[1].label) && hops[0].label[0] == '.' &&
        !strcmp(hops[0].from, hops[1].from)) {
        snprintf(out, n, "break %s on one side with weakref.ref (the %s created later, pointing "
                 "back to the one created earlier)", hops[0].label, hops[0].from);
        done = 1;
    }
    for (int i = 0; i < nh && !done; i++) {
        if (hops[i].label[0] != '.' || hops[i].label[1] == '_')
            continue;
        snprintf(out, n, "break %s with weakref.ref (one edge of the cycle must be weak for "
                 "reference counting alone to free it)", hops[i].label);
        done = 1;
    }
    if (del_type && del_type[0]) {
        size_t len = strlen(out);
        snprintf(out + len, n - len, "%s%s defines __del__: such cycles were uncollectable "
                 "before Python 3.4 and still cost a full collection", len ? "; " : "", del_type);
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
    /* Tarjan's algorithm touches only our arrays: without the GIL. */
    agent_gil_exit();
    int scc = hunt_scc(h);
    if (!agent_gil_enter()) {
        h->gone = 1;
        return -1;
    }
    if (scc < 0)
        return -1;
    return hunt_components(h);
}

/* ---- gc plumbing ---- */

static int hunt_set_debug(long flags)
{
    PyObject *r = PyObject_CallMethod(agent.gc_module, "set_debug", "l", flags);
    Py_XDECREF(r);
    int ok = r != NULL;
    PyErr_Clear();
    return ok ? 0 : -1;
}

static long long hunt_collect(void)
{
    PyObject *r = PyObject_CallMethod(agent.gc_module, "collect", NULL);
    long long v = r ? PyLong_AsLongLong(r) : -1;
    Py_XDECREF(r);
    PyErr_Clear();
    return v;
}

/* Takes out of gc.garbage exactly the entries the hunt added (the list
 * `added`), whatever happened to it meanwhile; the user's own entries stay
 * where they were. */
static void hunt_release(PyObject *garbage, Py_ssize_t n0, PyObject *added)
{
    Py_ssize_t k = PyList_Size(added);
    int same = PyList_Size(garbage) >= n0 + k;
    for (Py_ssize_t i = 0; same && i < k; i++)
        same = PyList_GetItem(garbage, n0 + i) == PyList_GetItem(added, i);
    if (same) {
        if (PyList_SetSlice(garbage, n0, n0 + k, NULL) == 0)
            return;
        PyErr_Clear();
    }
    /* Someone changed gc.garbage while we looked (a __del__ that released
     * the GIL): remove by identity. */
    struct agent_ptrmap m;
    if (ptrmap_init(&m, (size_t)k) < 0) {
        agent_ptrmap_free(&m);
        return;
    }
    for (Py_ssize_t i = 0; i < k; i++)
        (void)agent_ptrmap_put(&m, PyList_GetItem(added, i), 0);
    for (Py_ssize_t i = PyList_Size(garbage) - 1; i >= 0; i--)
        if (agent_ptrmap_get(&m, PyList_GetItem(garbage, i)) >= 0 &&
            PyList_SetSlice(garbage, i, i + 1, NULL) < 0)
            break;
    agent_ptrmap_free(&m);
    PyErr_Clear();
}

int64_t agent_cycles_garbage_len(void)
{
    PyObject *g = PyObject_GetAttrString(agent.gc_module, "garbage");
    Py_ssize_t n = g && PyList_Check(g) ? PyList_Size(g) : -1;
    Py_XDECREF(g);
    PyErr_Clear();
    return n;
}

static void hunt_put_frame(struct proto_buf *out, const struct hunt *h, uint64_t now,
                           uint64_t cost, uint32_t *n_shapes)
{
    proto_append(out, PROTO_HUNT);
    proto_put_u64(out, TAG_TIME_NS, now);
    proto_put_u64(out, TAG_COST_NS, cost);
    proto_put_u64(out, TAG_OBJECTS, h->n);
    proto_put_u64(out, TAG_CYCLES, h->cycles);
    proto_put_u64(out, TAG_TRUNCATED, (uint64_t)h->truncated);
    *n_shapes = 0;
    for (size_t i = 0; i < h->n_groups && i < PM_MAX_SHAPES; i++) {
        const struct hunt_group *g = &h->groups[i];
        struct pm_shape sh = {.count = g->count, .bytes = g->bytes};
        sh.length = (g->objects + g->count / 2) / g->count;
        snprintf(sh.path, sizeof(sh.path), "%s", g->path);
        hunt_advice(g->path, g->del_type, sh.advice, sizeof(sh.advice));
        proto_put_shape(out, &sh);
        (*n_shapes)++;
    }
    proto_end(out);
}

int agent_cycles_hunt(struct proto_buf *out, char *msg, size_t msg_len)
{
    uint64_t t0 = agent_now_ns();
    if (agent_edges_init() < 0) {
        snprintf(msg, msg_len, "hunt: out of memory; nothing changed");
        return -ENOMEM;
    }
    PyObject *garbage = PyObject_GetAttrString(agent.gc_module, "garbage");
    long flags = agent_call_long(agent.gc_module, "get_debug");
    if (!garbage || !PyList_Check(garbage) || flags < 0) {
        Py_XDECREF(garbage);
        PyErr_Clear();
        snprintf(msg, msg_len, "hunt: gc.garbage or gc.get_debug() unusable; nothing changed");
        return -EIO;
    }
    /* Only the flag that saves garbage; printing flags stay as the user set them. */
    Py_ssize_t n0 = PyList_Size(garbage);
    if (hunt_set_debug(flags | HUNT_DEBUG_SAVEALL) < 0) {
        Py_DECREF(garbage);
        snprintf(msg, msg_len, "hunt: gc.set_debug() failed; nothing changed");
        return -EIO;
    }
    hunt_collect();
    /* Restored at once: a collection our own analysis triggers must not save. */
    int restored = hunt_set_debug(flags) == 0 || hunt_set_debug(flags) == 0;
    Py_ssize_t n1 = PyList_Size(garbage);
    PyObject *added = n1 > n0 ? PyList_GetSlice(garbage, n0, n1) : PyList_New(0);
    if (!added) {
        PyErr_Clear();
        if (!(flags & HUNT_DEBUG_SAVEALL) && PyList_SetSlice(garbage, n0, n1, NULL) < 0)
            PyErr_Clear();
        Py_DECREF(garbage);
        snprintf(msg, msg_len, "hunt: out of memory after the collection");
        return -ENOMEM;
    }
    Py_ssize_t n_added = PyList_Size(added);

    struct hunt h;
    memset(&h, 0, sizeof(h));
    h.deadline_ns = agent_now_ns() + HUNT_BUDGET_NS;
    h.n = n_added > (Py_ssize_t)HUNT_MAX_OBJECTS ? HUNT_MAX_OBJECTS : (uint32_t)n_added;
    h.truncated = n_added > (Py_ssize_t)HUNT_MAX_OBJECTS;
    h.objs = h.n == n_added ? (Py_INCREF(added), added) : PyList_GetSlice(added, 0, h.n);
    int rc = h.objs ? hunt_analyse(&h) : -1;
    if (h.gone) { /* the GIL is not ours: leave every reference alone */
        h.get_referents = h.getsizeof = NULL;
        for (uint32_t i = 0; i < h.n_types; i++)
            h.tinfo[i].attr = NULL;
        hunt_free(&h);
        return -ESHUTDOWN;
    }
    PyErr_Clear();
    if (rc == 0 && h.n_groups)
        qsort(h.groups, h.n_groups, sizeof(*h.groups), group_cmp);
    Py_XDECREF(h.objs);
    h.objs = NULL;

    /* Release: what the collector would have freed is freed by a normal
     * collection (their __del__ and weakref callbacks already ran, once, in
     * the first one). If the user saves all garbage, it is theirs to keep. */
    if (n_added && !(flags & HUNT_DEBUG_SAVEALL)) {
        hunt_release(garbage, n0, added);
        Py_CLEAR(added);
        hunt_collect();
    }
    Py_XDECREF(added);
    Py_DECREF(garbage);
    PyErr_Clear();

    uint64_t now = agent_now_ns();
    uint64_t cost = now - t0;
    uint32_t n_shapes = 0;
    if (rc == 0)
        hunt_put_frame(out, &h, now, cost, &n_shapes);
    uint64_t cycles = h.cycles;
    int truncated = h.truncated;
    hunt_free(&h);
    PyErr_Clear();
    if (!restored) {
        snprintf(msg, msg_len, "hunt: could not restore gc debug flags to %ld", flags);
        return -EIO;
    }
    if (rc < 0) {
        snprintf(msg, msg_len, "hunt: out of memory analysing %zd objects; flags restored",
                 n_added);
        return -ENOMEM;
    }
    snprintf(msg, msg_len, "hunt: %zd objects in %llu cycles, %u shape%s, %llu ms%s",
             n_added, (unsigned long long)cycles, n_shapes, n_shapes == 1 ? "" : "s",
             (unsigned long long)(cost / 1000000u),
             truncated ? " (truncated: object, edge or time cap hit)" : "");
    return 0;
}

/* Cycle shapes, first half: the graph among the objects over their
 * tp_traverse edges, its strongly connected components (Tarjan's, without
 * recursion) and the shortest cycle through a node (agent_shapes_ctx.h). */
#include "agent_shapes_ctx.h"

#include <stdlib.h>
#include <string.h>

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
void hunt_edges(struct hunt *h)
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
int hunt_scc(struct hunt *h)
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
uint32_t hunt_bfs_cycle(struct hunt *h, int32_t c, uint32_t v, uint32_t max_len, uint32_t *out)
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

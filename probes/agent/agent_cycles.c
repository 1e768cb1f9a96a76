/* gc.garbage and cycle hunts: one collection with DEBUG_SAVEALL, the saved
 * garbage read into shapes (agent_shapes.c); then the garbage is released
 * and the debug flags are restored exactly.
 *
 * Everything here runs with the GIL held, except the analysis's slices
 * between which it lets the target run. */
#include "agent_cycles.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent_advice.h"
#include "agent_shapes.h"
#include "agent_state.h"
#include "agent_util.h"
#include "proto.h"

#define HUNT_DEBUG_SAVEALL 0x20         /* gc.DEBUG_SAVEALL, the same in 3.8-3.15 */
#define HUNT_MAX_OBJECTS 200000u        /* garbage objects analysed; more: truncated */
#define HUNT_BUDGET_NS 2000000000ull    /* analysis time after the collection */

/* A map for at most n entries: never grows, so a put never fails. */
static int ptrmap_init(struct agent_ptrmap *m, size_t n)
{
    size_t cap = 16;
    while (cap < 2 * n)
        cap <<= 1;
    return agent_ptrmap_init(m, cap);
}

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

static void hunt_put_frame(struct proto_buf *out, const struct agent_shapes *h, uint64_t now,
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
        const struct agent_shape_group *g = &h->groups[i];
        struct pm_shape sh = {.count = g->count, .bytes = g->bytes};
        sh.length = (g->objects + g->count / 2) / g->count;
        snprintf(sh.path, sizeof(sh.path), "%s", g->path);
        agent_advice_for(g->path, g->del_type, sh.advice, sizeof(sh.advice));
        proto_put_shape(out, &sh);
        (*n_shapes)++;
    }
    proto_end(out);
}

int agent_cycles_hunt(struct proto_buf *out, char *msg, size_t msg_len)
{
    uint64_t t0 = agent_now_ns();
    if (agent_shapes_init() < 0) {
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

    struct agent_shapes h;
    memset(&h, 0, sizeof(h));
    h.deadline_ns = agent_now_ns() + HUNT_BUDGET_NS;
    h.n = n_added > (Py_ssize_t)HUNT_MAX_OBJECTS ? HUNT_MAX_OBJECTS : (uint32_t)n_added;
    h.objs = h.n == n_added ? (Py_INCREF(added), added) : PyList_GetSlice(added, 0, h.n);
    int rc = h.objs ? agent_shapes_analyse(&h) : -1;
    h.truncated |= n_added > (Py_ssize_t)HUNT_MAX_OBJECTS;
    if (h.gone) { /* the GIL is not ours: leave every reference alone */
        agent_shapes_free(&h);
        return -ESHUTDOWN;
    }
    PyErr_Clear();
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
    agent_shapes_free(&h);
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

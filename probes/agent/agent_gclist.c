/* The collector's generation lists: finding and proving their heads. */
#include "agent_gclist.h"

/* Validation retries: allocating the tuples of gc.get_count() can itself
 * start a collection that moves the counts. */
#define GCLIST_VALIDATE_TRIES 4
#define GCLIST_COUNT0_SLACK 8

/* A 3-tuple of ints from the gc module; 0 or -1. */
static int gclist_triple(const char *fn, long long out[PM_GENERATIONS])
{
    PyObject *r = PyObject_CallMethod(agent.gc_module, fn, NULL);
    int ok = r && PyTuple_Check(r) && PyTuple_Size(r) == PM_GENERATIONS;
    for (int i = 0; ok && i < PM_GENERATIONS; i++) {
        out[i] = PyLong_AsLongLong(PyTuple_GetItem(r, i));
        ok = !PyErr_Occurred();
    }
    Py_XDECREF(r);
    PyErr_Clear();
    return ok ? 0 : -1;
}

uintptr_t agent_gclist_head(void)
{
    if (agent.hexversion < 0x03080000u || agent.hexversion >= 0x030e0000u)
        return 0; /* 3.14 changed the collector: layout unknown */
    if (agent.hook_installed && agent.gc_start_ns != 0)
        return 0; /* mid-collection */
    for (int attempt = 0; attempt < GCLIST_VALIDATE_TRIES; attempt++) {
        PyObject *probe = PyList_New(0); /* tracked, so it is the newest in generation 0 */
        if (!probe) {
            PyErr_Clear();
            return 0;
        }
        uintptr_t pg = (uintptr_t)probe - sizeof(struct agent_gc_head);
        uintptr_t head = AGENT_GC_NEXT(pg);
        int linked = !AGENT_GC_NODE_BAD(head) && AGENT_GC_PREV(head) == pg;
        Py_DECREF(probe);
        if (!linked)
            return 0;
        long long thr[PM_GENERATIONS], cnt[PM_GENERATIONS];
        if (gclist_triple("get_threshold", thr) < 0 || gclist_triple("get_count", cnt) < 0)
            return 0;
        const struct agent_gc_gen *g = (const struct agent_gc_gen *)head;
        int ok = 1;
        for (int i = 0; i < PM_GENERATIONS; i++) {
            uintptr_t gh = (uintptr_t)&g[i].head;
            uintptr_t nx = AGENT_GC_NEXT(gh), pv = AGENT_GC_PREV(gh);
            ok = ok && g[i].threshold == thr[i] && !AGENT_GC_NODE_BAD(nx) &&
                 !AGENT_GC_NODE_BAD(pv) && AGENT_GC_PREV(nx) == gh && AGENT_GC_NEXT(pv) == gh;
            if (i == 0)
                ok = ok && g[0].count >= cnt[0] - GCLIST_COUNT0_SLACK &&
                     g[0].count <= cnt[0] + GCLIST_COUNT0_SLACK;
            else
                ok = ok && g[i].count == cnt[i];
        }
        if (ok)
            return head;
    }
    return 0;
}

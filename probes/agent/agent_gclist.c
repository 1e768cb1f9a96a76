/* The collector's generation lists: finding and proving their heads. */
#include "agent_gclist.h"

#include <string.h>

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

/* PyInterpreterState_Main is exported from 3.8 on but not in the limited API. */
PyInterpreterState *PyInterpreterState_Main(void);

/* Where the debug offsets say the generations are (3.13+), or 0. */
static uintptr_t gclist_published_head(void)
{
    if (!agent.dbg_ok)
        return 0;
    return (uintptr_t)PyInterpreterState_Main() + agent.dbg.interp_gc + agent.layout->gc_gens_off;
}

/* The collector is running (a finalizer or callback it called let the GIL
 * go): exact where the debug offsets publish the flag, else our own hook's
 * word for it. */
int agent_gclist_collecting(void)
{
    if (agent.dbg_ok) {
        int collecting;
        memcpy(&collecting,
               (const char *)PyInterpreterState_Main() + agent.dbg.interp_gc +
                   agent.dbg.gc_collecting,
               sizeof(collecting));
        if (collecting)
            return 1;
    }
    return agent.hook_installed && agent.gc_start_ns != 0;
}

uintptr_t agent_gclist_head(void)
{
    /* Only a collector whose three lists are generations (not 3.14.0-3.14.4's
     * incremental spaces, not a version we have no row for). */
    if (!agent.layout || agent.layout->gc != PYLAYOUT_GC_GENERATIONS3)
        return 0;
    if (agent_gclist_collecting())
        return 0;
    uintptr_t published = gclist_published_head();
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
        /* Two witnesses must agree where there are two. */
        if (published && head != published)
            return 0;
        long long thr[PM_GENERATIONS], cnt[PM_GENERATIONS];
        if (gclist_triple("get_threshold", thr) < 0 || gclist_triple("get_count", cnt) < 0)
            return 0;
        if (pylayout_gens_valid(head, thr, cnt, GCLIST_COUNT0_SLACK))
            return head;
    }
    return 0;
}

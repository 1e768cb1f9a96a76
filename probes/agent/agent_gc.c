/* The agent's gc.callbacks entry: times every collection. Native and minimal
 * (~1 us per collection); it never raises and never allocates Python objects. */
#include "agent_gc.h"

#include <unistd.h>

#include "agent_capture.h"
#include "agent_state.h"

/* Interned once: PyDict_GetItemString would build a new str per lookup, which
 * cost more than the rest of the callback together. */
static PyObject *key_generation, *key_collected, *key_uncollectable;

#define GC_FULL_PER_WALK 10u
#define GC_FULL_MIN_NS_PER_KOBJ 50000u

static long agent_gc_info_long(PyObject *info, PyObject *key)
{
    PyObject *v = PyDict_GetItem(info, key); /* borrowed; no exception set */
    long r = v ? PyLong_AsLong(v) : 0;
    if (PyErr_Occurred()) {
        PyErr_Clear();
        r = 0;
    }
    return r;
}

static PyObject *agent_gc_callback(PyObject *self, PyObject *args)
{
    (void)self;
    if (atomic_load(&agent.forked) || !agent.hook_installed)
        Py_RETURN_NONE;
    uint64_t now = agent_now_ns();
    PyObject *phase = PyTuple_GetItem(args, 0);
    PyObject *info = PyTuple_GetItem(args, 1);
    if (!phase || !info || !PyDict_Check(info)) {
        PyErr_Clear();
        Py_RETURN_NONE;
    }
    /* The phase is "start" or "stop": its length tells them apart. */
    Py_ssize_t phase_len = PyUnicode_Check(phase) ? PyUnicode_GetLength(phase) : -1;
    if (phase_len == 5) {
        agent.gc_start_ns = now;
        long gen = agent_gc_info_long(info, key_generation);
        gen = gen >= 0 && gen < PM_GENERATIONS ? gen : PM_GENERATIONS - 1;
        agent.gc_started[gen]++;
        agent_capture_gc_start((int)gen); /* last among "start" callbacks: see install */
        Py_RETURN_NONE;
    }
    if (phase_len != 4 || !agent.gc_start_ns) {
        PyErr_Clear();
        Py_RETURN_NONE;
    }
    struct pm_gc_pause p = {
        .end_ns = now,
        .pause_ns = now - agent.gc_start_ns,
        .collected = agent_gc_info_long(info, key_collected),
        .uncollectable = agent_gc_info_long(info, key_uncollectable),
    };
    long gen = agent_gc_info_long(info, key_generation);
    p.generation = (uint8_t)(gen >= 0 && gen < PM_GENERATIONS ? gen : PM_GENERATIONS - 1);
    agent.gc_start_ns = 0;
    if (p.generation == PM_GENERATIONS - 1 && agent.census_objects)
        agent.full_gc_ns_per_kobj = p.pause_ns * 1000u / agent.census_objects;
    /* Every monitor reads the ring through its own cursor: the oldest entry
     * is overwritten when the slowest is over AGENT_PAUSE_RING behind, and
     * that monitor is told how many it lost (agent_sample.c). */
    agent.ring[agent.pause_seq % AGENT_PAUSE_RING] = p;
    agent.pause_seq++;
    agent.pause_total_ns += p.pause_ns;
    Py_RETURN_NONE;
}

static PyMethodDef agent_gc_def = {"_pymemtop_gc_callback", agent_gc_callback, METH_VARARGS,
                                   NULL};

int agent_gc_init(void)
{
    agent.gc_module = PyImport_ImportModule("gc");
    agent.sys_module = PyImport_ImportModule("sys");
    agent.gc_callback = PyCFunction_NewEx(&agent_gc_def, NULL, NULL);
    key_generation = PyUnicode_InternFromString("generation");
    key_collected = PyUnicode_InternFromString("collected");
    key_uncollectable = PyUnicode_InternFromString("uncollectable");
    return agent.gc_module && agent.sys_module && agent.gc_callback && key_generation &&
                   key_collected && key_uncollectable
               ? 0
               : -1;
}

/* Index of cb in gc.callbacks (by identity), or -1. */
static Py_ssize_t agent_gc_find_cb(PyObject *list, PyObject *cb)
{
    Py_ssize_t n = PyList_Size(list);
    for (Py_ssize_t i = 0; i < n; i++)
        if (PyList_GetItem(list, i) == cb)
            return i;
    return -1;
}

static Py_ssize_t agent_gc_find(PyObject *list)
{
    return agent_gc_find_cb(list, agent.gc_callback);
}

void agent_gc_install(void)
{
    /* The ring and its counters run on (monitors keep cursors into them);
     * only a collection half-seen before the hook was removed is forgotten. */
    agent.gc_start_ns = 0;
    PyObject *list = PyObject_GetAttrString(agent.gc_module, "callbacks");
    agent_capture_attach();
    if (list && PyList_Check(list) && agent_gc_find(list) < 0 &&
        PyList_Append(list, agent.gc_callback) == 0) {
        agent.hook_installed = 1;
        if (!agent.gc_callbacks) { /* the collector's own list: kept for agent_gc_hooked() */
            Py_INCREF(list);
            agent.gc_callbacks = list;
        }
    }
    Py_XDECREF(list);
    PyErr_Clear();
    agent_gc_capture_entry(agent_capture_enabled());
}

/* Two entries while capturing: the timing one last (so a capture's
 * DEBUG_SAVEALL is set after the program's own "start" callbacks ran), the
 * capture's first (so its "stop" takes the saved garbage out of gc.garbage
 * before the program's own "stop" callbacks can see it). agent_capture.c.
 * Capture off: no second entry, no cost. */
void agent_gc_capture_entry(int on)
{
    PyObject *head = agent_capture_callable();
    PyObject *list = agent.gc_module ? PyObject_GetAttrString(agent.gc_module, "callbacks")
                                     : NULL;
    Py_ssize_t i;
    if (!head || !list || !PyList_Check(list)) {
        Py_XDECREF(list);
        PyErr_Clear();
        return;
    }
    if (on && agent.hook_installed) {
        if (agent_gc_find_cb(list, head) < 0 && PyList_Insert(list, 0, head) < 0)
            PyErr_Clear();
    } else if (!agent_capture_busy()) {
        while ((i = agent_gc_find_cb(list, head)) >= 0)
            if (PySequence_DelItem(list, i) < 0)
                break;
    }
    Py_DECREF(list);
    PyErr_Clear();
}

uint64_t agent_gc_predict_full_ns(void)
{
    if (!agent.census_objects)
        return 0;
    uint64_t per_kobj = agent.full_gc_ns_per_kobj;
    if (!per_kobj) {
        /* Not measured yet: from the census's own cost per object. A full
         * collection traverses every object and its references, which
         * measured 7-10x a census walk on fresh and aged heaps alike
         * (shared/notes/perf.md); never under 50 ns an object. */
        per_kobj = agent.census_held_ns * 1000u / agent.census_objects * GC_FULL_PER_WALK;
        if (per_kobj < GC_FULL_MIN_NS_PER_KOBJ)
            per_kobj = GC_FULL_MIN_NS_PER_KOBJ;
    }
    return agent.census_objects * per_kobj / 1000u;
}

int agent_gc_hooked(void)
{
    return agent.hook_installed && agent.gc_callbacks && PyList_Check(agent.gc_callbacks) &&
           agent_gc_find(agent.gc_callbacks) >= 0;
}

void agent_gc_remove(void)
{
    agent.hook_installed = 0;
    if (!agent.gc_module)
        return;
    PyObject *list = PyObject_GetAttrString(agent.gc_module, "callbacks");
    Py_ssize_t i;
    while (list && PyList_Check(list) && (i = agent_gc_find(list)) >= 0)
        if (PySequence_DelItem(list, i) < 0)
            break;
    /* A capture in flight (a __del__ let the GIL go mid-collection) keeps
     * its "stop" entry until it has run; the flag goes back now. */
    PyObject *head = agent_capture_callable();
    if (agent_capture_busy())
        agent_capture_abandon();
    while (head && !agent_capture_busy() && list && PyList_Check(list) &&
           (i = agent_gc_find_cb(list, head)) >= 0)
        if (PySequence_DelItem(list, i) < 0)
            break;
    Py_XDECREF(list);
    PyErr_Clear();
}

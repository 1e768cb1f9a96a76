/* The _tracemalloc module as the agent uses it: looked up without importing
 * anything the program did not (unless tracing is asked for), and asked
 * whether it traces and how much. GIL held; never raises. */
#include "agent_tmmod.h"

#include <stdlib.h>

static struct {
    PyObject *mod;       /* _tracemalloc, once looked up */
    int checked_startup; /* PYTHONTRACEMALLOC / -X tracemalloc looked at */
    int startup;         /* tracing may have been started at interpreter start */
} tmm;

/* The _tracemalloc module (borrowed), or NULL when tracing cannot be on:
 * nobody imported it and tracing was not requested at start-up. Importing
 * only when needed keeps sys.modules as the program left it. */
PyObject *agent_tracemalloc_module(int import)
{
    if (tmm.mod)
        return tmm.mod;
    PyObject *mods = PyImport_GetModuleDict(); /* borrowed */
    PyObject *m = mods ? PyDict_GetItemString(mods, "_tracemalloc") : NULL;
    if (m) {
        Py_INCREF(m);
        tmm.mod = m;
        return m;
    }
    if (!tmm.checked_startup) {
        const char *env = getenv("PYTHONTRACEMALLOC");
        PyObject *xo = PySys_GetObject("_xoptions"); /* borrowed */
        tmm.startup = (env && env[0]) ||
                     (xo && PyDict_Check(xo) && PyDict_GetItemString(xo, "tracemalloc"));
        tmm.checked_startup = 1;
    }
    if (!import && !tmm.startup)
        return NULL;
    tmm.mod = PyImport_ImportModule("_tracemalloc");
    PyErr_Clear();
    return tmm.mod;
}

int agent_tracemalloc_tracing(PyObject *mod)
{
    if (!mod)
        return 0;
    PyObject *r = PyObject_CallMethod(mod, "is_tracing", NULL);
    int on = r ? PyObject_IsTrue(r) == 1 : 0;
    Py_XDECREF(r);
    PyErr_Clear();
    return on;
}

void agent_tracemalloc_memory(PyObject *mod, int64_t *cur, int64_t *peak)
{
    PyObject *r = PyObject_CallMethod(mod, "get_traced_memory", NULL);
    PyObject *a = r && PyTuple_Check(r) && PyTuple_Size(r) == 2 ? PyTuple_GetItem(r, 0) : NULL;
    PyObject *b = a ? PyTuple_GetItem(r, 1) : NULL;
    *cur = a ? PyLong_AsLongLong(a) : -1;
    *peak = b ? PyLong_AsLongLong(b) : -1;
    Py_XDECREF(r);
    if (PyErr_Occurred()) {
        PyErr_Clear();
        *cur = *peak = -1;
    }
}

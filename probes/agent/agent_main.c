/* The agent's entry: the extension module the bootstrap loads, its start,
 * and what it does at interpreter exit and across fork. */
#include "agent_main.h"

#include "agent_clients.h"
#include "agent_gc.h"
#include "agent_layout.h"
#include "agent_server.h"
#include "agent_state.h"
#include "agent_tracemalloc.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Runs from atexit, early in Py_FinalizeEx and with the GIL: from here on the
 * agent thread must not take the GIL (a thread that does so during
 * finalization is parked or killed by CPython), and the hook goes away so
 * that the final collections run without us. */
static PyObject *agent_py_atexit(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    atomic_store(&agent.finalizing, 1);
    agent_gc_remove();
    agent_tracemalloc_at_exit();
    Py_RETURN_NONE;
}

static PyMethodDef agent_atexit_def = {"_pymemtop_atexit", agent_py_atexit, METH_NOARGS, NULL};

/* In a forked child the agent thread does not exist; drop the inherited
 * sockets so the child never answers for the parent. The GC callback checks
 * agent.forked and does nothing. */
static void agent_after_fork_child(void)
{
    atomic_store(&agent.forked, 1);
    if (agent.listen_fd >= 0)
        close(agent.listen_fd);
    agent.listen_fd = -1;
    if (agent.spare_fd >= 0)
        close(agent.spare_fd);
    agent.spare_fd = -1;
    agent_clients_forget(); /* the parent's monitors' connections */
}

static int agent_read_version(void)
{
    PyObject *hex = PySys_GetObject("hexversion"); /* borrowed */
    if (!hex)
        return -1;
    agent.hexversion = PyLong_AsUnsignedLongLong(hex);
    if (PyErr_Occurred())
        return -1;
    unsigned long long h = agent.hexversion;
    unsigned level = (h >> 4) & 0xf, serial = h & 0xf;
    const char *tag = level == 0xa ? "a" : level == 0xb ? "b" : level == 0xc ? "rc" : "";
    if (*tag)
        snprintf(agent.python, sizeof(agent.python), "%llu.%llu.%llu%s%u", h >> 24,
                 (h >> 16) & 0xff, (h >> 8) & 0xff, tag, serial);
    else
        snprintf(agent.python, sizeof(agent.python), "%llu.%llu.%llu", h >> 24, (h >> 16) & 0xff,
                 (h >> 8) & 0xff);
    return 0;
}

static int agent_register_atexit(void)
{
    PyObject *fn = PyCFunction_NewEx(&agent_atexit_def, NULL, NULL);
    PyObject *mod = fn ? PyImport_ImportModule("atexit") : NULL;
    PyObject *r = mod ? PyObject_CallMethod(mod, "register", "O", fn) : NULL;
    Py_XDECREF(r);
    Py_XDECREF(mod);
    Py_XDECREF(fn);
    return r ? 0 : -1;
}

/* _start(): called once by the bootstrap, in the main thread at a safe
 * point. Never raises: a failure leaves the target as it was. */
/* Claimed by the start in progress: the bootstrap and the native thread
 * (agent_native.c) may both arrive, and a start can let the GIL go. */
static atomic_int agent_starting;

static PyObject *agent_py_start(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    if (atomic_load(&agent.started) && agent.pid == getpid())
        Py_RETURN_NONE; /* a second bootstrap (two monitors raced): keep the first */
    if (atomic_exchange(&agent_starting, 1))
        Py_RETURN_NONE; /* the other way in is starting it right now */
    agent.pid = getpid();
    agent.euid = geteuid();
    agent.loaded_ns = agent_now_ns();
    agent.blocks_last = -1;
    if (agent_read_version() < 0)
        goto fail;
    agent_layout_init();
    if (agent_gc_init() < 0 || agent_register_atexit() < 0)
        goto fail;
    if (agent_server_start() < 0)
        goto fail;
    pthread_atfork(NULL, NULL, agent_after_fork_child);
    atomic_store(&agent.started, 1);
    atomic_store(&agent_starting, 0);
    Py_RETURN_NONE;
fail:
    PyErr_Clear();
    atomic_store(&agent_starting, 0);
    Py_RETURN_NONE;
}

void agent_start_native(void)
{
    PyObject *r = agent_py_start(NULL, NULL);
    Py_XDECREF(r);
    PyErr_Clear();
}

static PyMethodDef agent_methods[] = {
    {"_start", agent_py_start, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyModuleDef_Slot agent_slots[] = {{0, NULL}};

static struct PyModuleDef agent_module = {
    PyModuleDef_HEAD_INIT, "_pymemtop_agent", NULL, 0, agent_methods, agent_slots,
    NULL, NULL, NULL,
};

/* Multi-phase init: the module object is not put in sys.modules, so loading
 * the agent leaves no name behind in the target. */
PyMODINIT_FUNC PyInit__pymemtop_agent(void);
PyMODINIT_FUNC PyInit__pymemtop_agent(void)
{
    return PyModuleDef_Init(&agent_module);
}

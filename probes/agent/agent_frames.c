/* Frame locals, three ways by the row's frame kind (lib/pylayout.h):
 *   OBJECT (3.8-3.10)  sys._current_frames(), locals at the end of PyFrameObject
 *   IFRAME (3.11-3.12) sys._current_frames(), the frame's _PyInterpreterFrame
 *   DEBUG_OFFSETS (3.13+) every thread state's frame chain, each field where
 *                      the interpreter's own _Py_DebugOffsets says it is
 * Each reads a frame's slots only after the frame proves itself (code and
 * globals read back as the API answers, or the executable is a code object
 * with a names tuple), and takes its references before any Python code can
 * run and free what it read. */
#include "agent_frames.h"

#include <stdlib.h>
#include <string.h>

#include "agent_util.h"

#define FRAMES_MAX_LOCALS 512 /* fast locals looked at per frame */

/* Not in the limited API, exported since 3.8. */
PyInterpreterState *PyInterpreterState_Main(void);
PyThreadState *PyInterpreterState_ThreadHead(PyInterpreterState *interp);
PyThreadState *PyThreadState_Next(PyThreadState *tstate);

struct frames_acc {
    struct agent_frame_local *v;
    Py_ssize_t n, cap;
    int oom;
};

/* Takes new references to all four. */
static void frames_push(struct frames_acc *a, PyObject *value, PyObject *code, PyObject *name,
                        PyObject *tid)
{
    if (a->oom)
        return;
    if (a->n == a->cap) {
        Py_ssize_t cap = a->cap ? a->cap * 2 : 256;
        struct agent_frame_local *v = realloc(a->v, (size_t)cap * sizeof(*v));
        if (!v) {
            a->oom = 1;
            return;
        }
        a->v = v;
        a->cap = cap;
    }
    Py_INCREF(value);
    Py_INCREF(code);
    Py_INCREF(name);
    Py_INCREF(tid);
    a->v[a->n++] = (struct agent_frame_local){value, code, name, tid};
}

void agent_frames_free(struct agent_frame_local *v, Py_ssize_t n)
{
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_DECREF(v[i].value);
        Py_DECREF(v[i].code);
        Py_DECREF(v[i].name);
        Py_DECREF(v[i].tid);
    }
    free(v);
}

/* ---- 3.8-3.12: through frame objects ---- */

/* The names of code's fast locals, cells and free variables in slot order:
 * a new tuple, or NULL. 3.11+ asks _varname_from_oparg (co_nlocalsplus is
 * not exposed). Runs Python code. */
static PyObject *frames_names_old(PyObject *code)
{
    PyObject *names = PyList_New(0);
    if (!names)
        return NULL;
    if (agent.layout->frames == PYLAYOUT_FRAMES_IFRAME) {
        for (Py_ssize_t k = 0; k < FRAMES_MAX_LOCALS; k++) {
            PyObject *nm = PyObject_CallMethod(code, "_varname_from_oparg", "n", k);
            if (!nm || PyList_Append(names, nm) < 0) {
                Py_XDECREF(nm);
                break;
            }
            Py_DECREF(nm);
        }
    } else {
        const char *attrs[] = {"co_varnames", "co_cellvars", "co_freevars"};
        for (int i = 0; i < 3; i++) {
            PyObject *t = PyObject_GetAttrString(code, attrs[i]);
            for (Py_ssize_t k = 0; t && PyTuple_Check(t) && k < PyTuple_Size(t); k++)
                if (PyList_Append(names, PyTuple_GetItem(t, k)) < 0)
                    break;
            Py_XDECREF(t);
        }
    }
    PyErr_Clear();
    PyObject *tup = PyList_AsTuple(names);
    Py_DECREF(names);
    PyErr_Clear();
    return tup;
}

/* Where frame f's slots are, proved by its code and globals reading back;
 * NULL when anything disagrees. No Python code may run between this and
 * the caller's use of the slots. */
static PyObject **frames_slots_old(PyObject *f, PyObject *code, PyObject *globals,
                                   Py_ssize_t basicsize)
{
    const struct pylayout_frame_fixed *o = &agent.layout->frame;
    const char *base = (const char *)f;
    PyObject *c, *g, *fo;
    if (agent.layout->frames == PYLAYOUT_FRAMES_OBJECT) {
        memcpy(&c, base + o->f_code, sizeof(c));
        memcpy(&g, base + o->f_globals, sizeof(g));
        if (basicsize < 64 || c != code || g != globals)
            return NULL;
        return (PyObject **)(base + basicsize - (Py_ssize_t)sizeof(PyObject *));
    }
    const char *iframe;
    memcpy(&iframe, base + o->f_frame, sizeof(iframe));
    if (!iframe)
        return NULL;
    memcpy(&c, iframe + o->if_code, sizeof(c));
    memcpy(&g, iframe + o->if_globals, sizeof(g));
    memcpy(&fo, iframe + o->if_frame_obj, sizeof(fo));
    if (c != code || g != globals || fo != f)
        return NULL;
    return (PyObject **)(iframe + o->if_localsplus);
}

static Py_ssize_t frames_basicsize(PyObject *f)
{
    PyObject *bs = PyObject_GetAttrString((PyObject *)Py_TYPE(f), "__basicsize__");
    Py_ssize_t size = bs ? PyLong_AsSsize_t(bs) : -1;
    Py_XDECREF(bs);
    PyErr_Clear();
    return size;
}

/* One frame object's locals into a; 1 when its slots were readable. */
static int frames_one_old(struct frames_acc *a, PyObject *f, PyObject *tid, PyObject *to_find,
                          char *found_name, size_t found_n)
{
    PyObject *code = PyObject_GetAttrString(f, "f_code");
    PyObject *globals = code ? PyObject_GetAttrString(f, "f_globals") : NULL;
    PyObject *names = code && globals ? frames_names_old(code) : NULL;
    Py_ssize_t bs = names ? frames_basicsize(f) : -1;
    PyErr_Clear();
    int ok = 0;
    if (names) {
        /* The slots, with no Python code until references are taken. */
        PyObject **slots = frames_slots_old(f, code, globals, bs);
        Py_ssize_t n = PyTuple_Size(names);
        for (Py_ssize_t i = 0; slots && i < n; i++) {
            if (!slots[i])
                continue;
            if (to_find) {
                if (slots[i] == to_find && !ok)
                    agent_str_utf8(PyTuple_GetItem(names, i), found_name, found_n);
                ok |= slots[i] == to_find;
            } else {
                frames_push(a, slots[i], code, PyTuple_GetItem(names, i), tid);
            }
        }
        ok |= slots && !to_find;
    }
    Py_XDECREF(names);
    Py_XDECREF(globals);
    Py_XDECREF(code);
    PyErr_Clear();
    return ok;
}

static void frames_all_old(struct frames_acc *a, int max_frames)
{
    PyObject *frames = PyObject_CallMethod(agent.sys_module, "_current_frames", NULL);
    PyObject *items = frames && PyDict_Check(frames) ? PyDict_Items(frames) : NULL;
    Py_XDECREF(frames);
    Py_ssize_t n = items ? PyList_Size(items) : 0;
    for (Py_ssize_t i = 0; i < n && !a->oom; i++) {
        PyObject *it = PyList_GetItem(items, i);
        if (!it || !PyTuple_Check(it) || PyTuple_Size(it) != 2)
            continue;
        PyObject *tid = PyTuple_GetItem(it, 0), *f = PyTuple_GetItem(it, 1);
        Py_XINCREF(f);
        for (int depth = 0; f && f != Py_None && depth < max_frames && !a->oom; depth++) {
            frames_one_old(a, f, tid, NULL, NULL, 0);
            PyObject *back = PyObject_GetAttrString(f, "f_back");
            PyErr_Clear();
            Py_DECREF(f);
            f = back;
        }
        Py_XDECREF(f);
    }
    Py_XDECREF(items);
    PyErr_Clear();
}

/* ---- 3.13+: thread states and _PyInterpreterFrame, by the debug offsets ---- */

/* The code type, from a code object the interpreter compiles for us (the
 * limited API does not declare PyCode_Type). Kept for the .so's life. */
static PyObject *frames_code_type(void)
{
    static PyObject *type;
    if (!type) {
        PyObject *c = Py_CompileString("0", "<pymemtop>", Py_eval_input);
        if (c) {
            type = (PyObject *)Py_TYPE(c);
            Py_INCREF(type);
            Py_DECREF(c);
        }
        PyErr_Clear();
    }
    return type;
}

/* No Python code runs in here: other threads are parked off the GIL with
 * their frame chains complete, and each frame proves itself before its
 * slots are read (pylayout_iframe_locals). References are taken at once. */
static void frames_all_dbg(struct frames_acc *a, int max_frames)
{
    uintptr_t code_type = (uintptr_t)frames_code_type();
    if (!code_type)
        return;
    PyInterpreterState *interp = PyInterpreterState_Main();
    for (PyThreadState *ts = PyInterpreterState_ThreadHead(interp); ts && !a->oom;
         ts = PyThreadState_Next(ts)) {
        uintptr_t f;
        memcpy(&f, (const char *)ts + agent.dbg.tstate_current_frame, sizeof(f));
        if (!f)
            continue;
        unsigned long ident; /* threading.get_ident(): the key of threading._active */
        memcpy(&ident, (const char *)ts + agent.dbg.tstate_thread_id, sizeof(ident));
        PyObject *tid = PyLong_FromUnsignedLong(ident);
        if (!tid) {
            PyErr_Clear();
            a->oom = 1;
            return;
        }
        for (int depth = 0; f && depth < max_frames && !a->oom; depth++) {
            uintptr_t slots, code, names;
            long n = pylayout_iframe_locals(&agent.dbg, agent.layout, f, code_type,
                                            (uintptr_t)&PyTuple_Type, FRAMES_MAX_LOCALS, &slots,
                                            &code, &names);
            for (long i = 0; i < n; i++) {
                uintptr_t bits;
                memcpy(&bits, (const void *)(slots + (uintptr_t)i * sizeof(bits)), sizeof(bits));
                PyObject *v = (PyObject *)pylayout_stackref_obj(agent.layout, bits);
                if (v)
                    frames_push(a, v, (PyObject *)code, PyTuple_GetItem((PyObject *)names, i),
                                tid);
            }
            f = pylayout_iframe_previous(&agent.dbg, f);
        }
        Py_DECREF(tid);
    }
}

Py_ssize_t agent_frames_locals(struct agent_frame_local **out, int max_frames)
{
    struct frames_acc a = {0};
    *out = NULL;
    if (!agent.frames_ok)
        return 0;
    if (agent.layout->frames == PYLAYOUT_FRAMES_DEBUG_OFFSETS)
        frames_all_dbg(&a, max_frames);
    else
        frames_all_old(&a, max_frames);
    if (a.oom) {
        agent_frames_free(a.v, a.n);
        return -1;
    }
    *out = a.v;
    return a.n;
}

/* 3.13+: frame.f_locals is a write-through proxy (PEP 667) that snapshots
 * nothing into the frame, so the public API answers this one. */
static int frames_local_name_proxy(PyObject *f, PyObject *to, char *name, size_t n)
{
    PyObject *proxy = PyObject_GetAttrString(f, "f_locals");
    PyObject *items = proxy ? PyMapping_Items(proxy) : NULL;
    int found = 0;
    for (Py_ssize_t i = 0; items && i < PyList_Size(items) && !found; i++) {
        PyObject *it = PyList_GetItem(items, i);
        if (it && PyTuple_Check(it) && PyTuple_Size(it) == 2 && PyTuple_GetItem(it, 1) == to) {
            agent_str_utf8(PyTuple_GetItem(it, 0), name, n);
            found = 1;
        }
    }
    Py_XDECREF(items);
    Py_XDECREF(proxy);
    PyErr_Clear();
    return found;
}

int agent_frames_local_name(PyObject *f, PyObject *to, char *name, size_t n)
{
    name[0] = 0;
    if (!agent.layout)
        return 0;
    switch (agent.layout->frames) {
    case PYLAYOUT_FRAMES_OBJECT:
    case PYLAYOUT_FRAMES_IFRAME:
        return agent.frames_ok && frames_one_old(NULL, f, NULL, to, name, n);
    case PYLAYOUT_FRAMES_DEBUG_OFFSETS:
        return frames_local_name_proxy(f, to, name, n);
    case PYLAYOUT_FRAMES_NONE:
        break;
    }
    return 0;
}

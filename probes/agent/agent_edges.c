/* Edge labels shared by the cycle hunt and why (see agent_edges.h). */
#include "agent_edges.h"

#include "agent_frames.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* Names are cut to this many bytes (UTF-8 safe) so that the punctuation
 * around them always fits in AGENT_EDGE_MAX. */
#define EDGE_NAME_MAX 64

/* A str key longer than this is shown by its type: a long repr says less
 * than "[<str>]" once cut. */
#define EDGE_KEY_CHARS 40

/* Attributes worth naming when the referrer has no instance dict entry or
 * slot for `to`: functions, methods, cells, generators, frames, tracebacks,
 * exceptions, types. f_globals comes before f_locals, which it equals in a
 * module-level frame; __dict__ last: it is an instance's dict itself. */
static const char *const edge_attr_names[] = {
    "__self__", "__func__", "__closure__", "cell_contents", "__globals__", "__defaults__",
    "__kwdefaults__", "__wrapped__", "gi_frame", "cr_frame", "ag_frame", "f_back", "tb_next",
    "tb_frame", "__traceback__", "__context__", "__cause__", "__mro__", "__bases__",
    "__base__", "f_globals", "f_locals", "__dict__",
};
#define EDGE_N_ATTRS (sizeof(edge_attr_names) / sizeof(edge_attr_names[0]))

/* Interned once and kept for the .so's life (never released: a hunt or why
 * may run at any time until the interpreter ends). */
static PyObject *edge_attrs[EDGE_N_ATTRS];
static PyObject *name_dict, *name_slots, *name_mro;

int agent_edges_init(void)
{
    PyObject **names[] = {&name_dict, &name_slots, &name_mro};
    const char *strs[] = {"__dict__", "__slots__", "__mro__"};
    int ok = 1;
    for (size_t i = 0; i < 3; i++) {
        if (!*names[i])
            *names[i] = PyUnicode_InternFromString(strs[i]);
        ok &= *names[i] != NULL;
    }
    for (size_t i = 0; i < EDGE_N_ATTRS; i++) {
        if (!edge_attrs[i])
            edge_attrs[i] = PyUnicode_InternFromString(edge_attr_names[i]);
        ok &= edge_attrs[i] != NULL;
    }
    PyErr_Clear();
    return ok ? 0 : -ENOMEM;
}

static void edge_set(struct agent_edge *e, const char *conc, const char *norm)
{
    snprintf(e->conc, sizeof(e->conc), "%s", conc);
    snprintf(e->norm, sizeof(e->norm), "%s", norm ? norm : conc);
}

int agent_edges_getattr_is(PyObject *o, PyObject *name, PyObject *to)
{
    PyObject *v = PyObject_GenericGetAttr(o, name);
    int is = v == to;
    Py_XDECREF(v);
    PyErr_Clear();
    return is;
}

PyObject *agent_edges_instance_dict(PyObject *o)
{
    if (PyDict_Check(o) || PyList_Check(o) || PyTuple_Check(o) || PyType_Check(o) ||
        PyUnicode_Check(o) || PyLong_Check(o) || PyAnySet_Check(o))
        return NULL;
    PyObject *d = PyObject_GenericGetAttr(o, name_dict);
    if (!d || !PyDict_Check(d)) {
        Py_XDECREF(d);
        PyErr_Clear();
        return NULL;
    }
    return d;
}

/* The name of the __slots__ entry (of any class in type(o).__mro__) through
 * which o holds `to`: a new reference, or NULL. */
static PyObject *edge_slot_holding(PyObject *o, PyObject *to)
{
    PyObject *mro = PyObject_GetAttr((PyObject *)Py_TYPE(o), name_mro);
    PyObject *found = NULL;
    for (Py_ssize_t i = 0; mro && PyTuple_Check(mro) && i < PyTuple_Size(mro) && !found; i++) {
        PyObject *cls = PyTuple_GetItem(mro, i);
        PyObject *slots = cls ? PyObject_GetAttr(cls, name_slots) : NULL;
        if (!slots) {
            PyErr_Clear();
            continue;
        }
        if (PyUnicode_Check(slots)) { /* __slots__ = "name" */
            if (agent_edges_getattr_is(o, slots, to)) {
                Py_INCREF(slots);
                found = slots;
            }
        } else if (PyTuple_Check(slots) || PyList_Check(slots)) {
            Py_ssize_t k = PySequence_Size(slots);
            for (Py_ssize_t j = 0; j < k && !found; j++) {
                PyObject *nm = PySequence_GetItem(slots, j);
                if (nm && PyUnicode_Check(nm) && agent_edges_getattr_is(o, nm, to)) {
                    Py_INCREF(nm);
                    found = nm;
                }
                Py_XDECREF(nm);
                PyErr_Clear();
            }
        }
        Py_DECREF(slots);
    }
    Py_XDECREF(mro);
    PyErr_Clear();
    return found;
}

void agent_edges_key(PyObject *key, int attr, struct agent_edge *e)
{
    char rep[EDGE_NAME_MAX], buf[AGENT_EDGE_MAX];
    if (attr && PyUnicode_CheckExact(key)) {
        agent_str_utf8(key, rep, sizeof(rep));
        snprintf(buf, sizeof(buf), ".%s", rep);
        edge_set(e, buf, NULL);
        return;
    }
    int is_str = PyUnicode_CheckExact(key), is_int = PyLong_CheckExact(key);
    if ((is_str && PyUnicode_GetLength(key) <= EDGE_KEY_CHARS) || is_int) {
        PyObject *r = PyObject_Repr(key); /* exact str and int: no Python code */
        agent_str_utf8(r, rep, sizeof(rep));
        Py_XDECREF(r);
        PyErr_Clear();
        snprintf(buf, sizeof(buf), "[%s]", rep);
        edge_set(e, buf, is_int ? "[<int>]" : "[<str>]");
        return;
    }
    agent_type_short_name((PyObject *)Py_TYPE(key), rep, sizeof(rep));
    snprintf(buf, sizeof(buf), "[<%s>]", rep);
    edge_set(e, buf, NULL);
}

int agent_edges_in_dict(PyObject *d, PyObject *to, int attr, struct agent_edge *e,
                        PyObject **key)
{
    Py_ssize_t pos = 0;
    PyObject *k, *v;
    if (key)
        *key = NULL;
    while (PyDict_Next(d, &pos, &k, &v)) {
        if (v == to) {
            Py_INCREF(k); /* the type name lookup may run code that drops it from d */
            agent_edges_key(k, attr, e);
            if (key)
                *key = k;
            else
                Py_DECREF(k);
            return 1;
        }
        if (k == to) {
            edge_set(e, "(key)", NULL);
            return 1;
        }
    }
    return 0;
}

int agent_edges_through_dict(PyObject *owner, PyObject *d, PyObject *to, struct agent_edge *e)
{
    if (!PyDict_Check(d)) /* first: no instance dict materialised for nothing */
        return 0;
    PyObject *own = agent_edges_instance_dict(owner);
    int is = own == d;
    Py_XDECREF(own);
    if (!is)
        return 0;
    if (!agent_edges_in_dict(d, to, 1, e, NULL))
        edge_set(e, ".__dict__", NULL);
    return 1;
}

/* A frame object: its type is the static builtin "frame" (it cannot be
 * subclassed, and the limited API has no PyFrame_Check). */
static int edge_is_frame(PyObject *o)
{
    PyTypeObject *tp = Py_TYPE(o);
    if (PyType_GetFlags(tp) & Py_TPFLAGS_HEAPTYPE)
        return 0;
    char name[8];
    agent_type_short_name((PyObject *)tp, name, sizeof(name));
    return strcmp(name, "frame") == 0;
}

/* The index of `to` in list or tuple `from`, or -1. */
static Py_ssize_t edge_seq_index(PyObject *from, PyObject *to)
{
    int list = PyList_Check(from);
    Py_ssize_t k = list ? PyList_Size(from) : PyTuple_Size(from);
    for (Py_ssize_t i = 0; i < k; i++)
        if ((list ? PyList_GetItem(from, i) : PyTuple_GetItem(from, i)) == to)
            return i;
    PyErr_Clear();
    return -1;
}

void agent_edges_label(PyObject *from, PyObject *to, struct agent_edge *e, PyObject **attr)
{
    edge_set(e, "", NULL);
    if (attr)
        *attr = NULL;
    if (PyDict_Check(from)) {
        agent_edges_in_dict(from, to, 0, e, NULL);
        return;
    }
    if (PyList_Check(from) || PyTuple_Check(from)) {
        Py_ssize_t i = edge_seq_index(from, to);
        if (i >= 0) {
            char buf[32];
            snprintf(buf, sizeof(buf), "[%zd]", i);
            edge_set(e, buf, "[<int>]");
        }
        return;
    }
    if (PyAnySet_Check(from))
        return; /* no spelling reaches one member */
    PyObject *d = agent_edges_instance_dict(from), *key = NULL;
    int found = d && agent_edges_in_dict(d, to, 1, e, &key);
    Py_XDECREF(d);
    if (found) {
        if (attr && key && PyUnicode_CheckExact(key))
            *attr = key;
        else
            Py_XDECREF(key);
        return;
    }
    if (PyType_Check(from)) {
        if (PyDict_Check(to)) { /* the only dict a type's tp_traverse visits */
            edge_set(e, ".__dict__", NULL);
            return;
        }
    } else {
        PyObject *slot = edge_slot_holding(from, to);
        if (slot) {
            agent_edges_key(slot, 1, e);
            if (attr)
                *attr = slot;
            else
                Py_DECREF(slot);
            return;
        }
    }
    /* Before the attributes: f_locals would build a locals dict in a live
     * frame (3.8-3.12), and it is never a fast local's value anyway. */
    char var[EDGE_NAME_MAX], buf[AGENT_EDGE_MAX];
    if (edge_is_frame(from) && agent_frames_local_name(from, to, var, sizeof(var))) {
        snprintf(buf, sizeof(buf), "local '%s'", var);
        edge_set(e, buf, NULL);
        return;
    }
    for (size_t i = 0; i < EDGE_N_ATTRS; i++) {
        if (!agent_edges_getattr_is(from, edge_attrs[i], to))
            continue;
        snprintf(buf, sizeof(buf), ".%s", edge_attr_names[i]);
        edge_set(e, buf, NULL);
        if (attr) {
            Py_INCREF(edge_attrs[i]);
            *attr = edge_attrs[i];
        }
        return;
    }
}

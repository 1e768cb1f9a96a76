/* why's first step: the type named by the user, and a few of its newest
 * tracked instances, taken from the collector's generation lists in slices
 * (or from gc.get_objects() where the lists are not proven). */
#include "agent_why_sample.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "agent_gclist.h"
#include "agent_util.h"

#define WS_NAME_MAX 96
#define WS_SLICE_PCT 60     /* of max_pause: the rest covers the hand-over */
#define WS_HEAD_WINDOW 1024 /* list heads sit together (agent_census_walk.c) */

/* snprintf that cuts silently (names and messages are cut by design). */
static void ws_fmt(char *buf, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void ws_fmt(char *buf, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, n, fmt, ap);
    va_end(ap);
}

static int ws_index(const struct agent_why_samples *w, const PyObject *o)
{
    for (int i = 0; i < w->n_samples; i++)
        if (w->samples[i] == o)
            return i;
    return -1;
}

/* "module.qualname", builtins bare: the census's naming. */
void agent_why_type_names(PyObject *t, char *full, size_t n, char *qual, size_t qn, char *name,
                           size_t nn)
{
    char mod[WS_NAME_MAX];
    agent_attr_str(t, "__qualname__", qual, qn);
    agent_attr_str(t, "__name__", name, nn);
    agent_attr_str(t, "__module__", mod, sizeof(mod));
    if (!qual[0])
        ws_fmt(qual, qn, "%s", name[0] ? name : "?");
    if (!mod[0] || strcmp(mod, "builtins") == 0)
        ws_fmt(full, n, "%s", qual);
    else
        ws_fmt(full, n, "%s.%s", mod, qual);
}

/* Match kinds per type: 0 no, 1 bare name or qualname, 2 the full name. */
struct why_match {
    struct agent_ptrmap seen; /* type -> kind */
    PyObject *types[8];  /* matching types (borrowed: instances hold them) */
    int kinds[8];
    char full[8][PM_TYPE_NAME_MAX];
    int n_types;
};

static int why_type_kind(struct why_match *m, PyObject *t, const char *want)
{
    int64_t k = agent_ptrmap_get(&m->seen, t);
    if (k >= 0)
        return (int)k;
    char full[PM_TYPE_NAME_MAX], qual[PM_TYPE_NAME_MAX], name[PM_TYPE_NAME_MAX];
    agent_why_type_names(t, full, sizeof(full), qual, sizeof(qual), name, sizeof(name));
    int kind = !strcmp(full, want) ? 2 : (!strcmp(qual, want) || !strcmp(name, want)) ? 1 : 0;
    if (agent_ptrmap_put(&m->seen, t, (uint32_t)kind) < 0)
        return 0;
    if (kind && m->n_types < 8) {
        m->types[m->n_types] = t;
        m->kinds[m->n_types] = kind;
        ws_fmt(m->full[m->n_types], PM_TYPE_NAME_MAX, "%s", full);
        m->n_types++;
    }
    return kind;
}

/* Fills w->samples (strong references), newest first: the young generation
 * from its tail, then the older ones. 0, -ENOENT none, -EINVAL ambiguous
 * (msg says), -EIO. type_out gets the full name. */
static int why_sample_get_objects(struct agent_why_samples *w, const char *want, char *type_out,
                                  size_t type_len, char *msg, size_t msg_len)
{
    struct why_match m;
    memset(&m, 0, sizeof(m));
    if (agent_ptrmap_init(&m.seen, 1024) < 0) {
        agent_ptrmap_free(&m.seen);
        return -ENOMEM;
    }
    PyObject *cand[AGENT_WHY_SAMPLES];
    int n = 0, exact = 0;
    for (int gen = 0; gen < PM_GENERATIONS && n < AGENT_WHY_SAMPLES; gen++) {
        PyObject *all = PyObject_CallMethod(agent.gc_module, "get_objects", "i", gen);
        if (!all || !PyList_Check(all)) {
            Py_XDECREF(all);
            PyErr_Clear();
            continue;
        }
        for (Py_ssize_t i = PyList_Size(all) - 1; i >= 0 && n < AGENT_WHY_SAMPLES; i--) {
            PyObject *o = PyList_GetItem(all, i);
            if (!o || o == all)
                continue;
            int kind = why_type_kind(&m, (PyObject *)Py_TYPE(o), want);
            if (!kind || (exact && kind < 2))
                continue;
            if (kind == 2 && !exact) { /* the full name wins over bare matches */
                for (int k = 0; k < n; k++)
                    Py_DECREF(cand[k]);
                n = 0;
                exact = 1;
            }
            Py_INCREF(o);
            cand[n++] = o;
        }
        Py_DECREF(all);
        PyErr_Clear();
    }
    int rc = 0;
    const char *full = NULL;
    for (int i = 0; i < m.n_types; i++) {
        if (exact && m.kinds[i] < 2)
            continue;
        if (full && strcmp(full, m.full[i]) != 0 && !exact) {
            ws_fmt(msg, msg_len, "why: '%s' is ambiguous: %s, %s, ...; give the module name",
                     want, full, m.full[i]);
            rc = -EINVAL;
            break;
        }
        if (!full)
            full = m.full[i];
    }
    if (!rc && !n) {
        ws_fmt(msg, msg_len,
                 "why: no tracked instance of '%s' (name it as the census does: "
                 "module.Class, or a bare class name)", want);
        rc = -ENOENT;
    }
    if (rc) {
        for (int k = 0; k < n; k++)
            Py_DECREF(cand[k]);
        n = 0;
    }
    ws_fmt(type_out, type_len, "%s", full ? full : want);
    for (int k = 0; k < n; k++) {
        w->samples[k] = cand[k];
    }
    w->n_samples = n;
    agent_ptrmap_free(&m.seen);
    return rc;
}

/* The fast way: the type found by name (module attribute, builtins, or a
 * class of that name in some module's globals), then the collector's own
 * generation lists walked from their young ends, newest first, in C with no
 * Python code running: it stops at the AGENT_WHY_SAMPLES-th instance instead of
 * copying the whole heap into a list as gc.get_objects() does (~50 ms at 1M
 * objects). The list layout is proven first, as agent_census.c does. */

/* Newest instances of `type` from the lists (strong references into
 * w->samples), in slices: the position is an object we hold (its links are
 * valid whenever we hold the GIL; untracked meanwhile, the generation is
 * walked again from its tail), no slice starts mid-collection, and a step
 * onto any list head ends the generation (a collection may have moved the
 * position to an older list: a sample may then be missed or met twice, which
 * only changes which instances are sampled). -1 when a list looks
 * inconsistent (nothing taken), -2 when Python is going away. */
static int why_walk_lists(struct agent_why_samples *w, uintptr_t head, PyObject *type)
{
    uint64_t left = (uint64_t)1 << 32; /* no list is longer */
    int n = 0, rc = 0;
    PyObject *cursor = NULL;
    unsigned steps = 0;
    for (int gen = 0; gen < PM_GENERATIONS && n < AGENT_WHY_SAMPLES && !rc; gen++) {
        uintptr_t h = AGENT_GC_GEN_HEAD(head, gen);
        uintptr_t p = AGENT_GC_PREV(h);
        while (p != h && n < AGENT_WHY_SAMPLES) {
            if (AGENT_GC_NODE_BAD(p) || !left--) {
                rc = -1;
                break;
            }
            if (p + WS_HEAD_WINDOW > head && p < head + WS_HEAD_WINDOW)
                break; /* another list's head */
            PyObject *o = AGENT_GC_NODE_OBJ(p);
            if ((PyObject *)Py_TYPE(o) == type && ws_index(w, o) < 0) {
                Py_INCREF(o);
                w->samples[n] = o;
                w->n_samples = ++n;
            }
            if ((++steps & 63) == 0 && agent_gil_slice_over(WS_SLICE_PCT)) {
                PyObject *old = cursor;
                Py_INCREF(o);
                cursor = o;
                Py_XDECREF(old);
                do {
                    if (!agent_gil_yield()) {
                        w->gone = 1;
                        return -2; /* references are left alone */
                    }
                } while (agent_gclist_collecting());
                if (((const struct agent_gc_head *)p)->next == 0)
                    p = h; /* untracked meanwhile: this generation again */
            }
            p = AGENT_GC_PREV(p);
        }
    }
    Py_XDECREF(cursor);
    if (rc < 0) {
        for (int i = 0; i < n; i++)
            Py_CLEAR(w->samples[i]);
        w->n_samples = 0;
    }
    return rc;
}

/* `want` as a type: "mod.qual" through sys.modules and attributes, a
 * builtin, or a bare class name among the module globals (unambiguous).
 * New reference or NULL; -EINVAL in *rc (msg set) when ambiguous. */
static PyObject *why_resolve(const char *want, int *rc, char *msg, size_t msg_len)
{
    *rc = 0;
    PyObject *mods = PyObject_GetAttrString(agent.sys_module, "modules");
    if (!mods || !PyDict_Check(mods)) {
        Py_XDECREF(mods);
        PyErr_Clear();
        return NULL;
    }
    char buf[PM_TYPE_NAME_MAX];
    ws_fmt(buf, sizeof(buf), "%s", want);
    PyObject *found = NULL;
    /* Longest module prefix, then attributes. */
    for (char *dot = strrchr(buf, '.'); dot && !found; dot = strrchr(buf, '.')) {
        *dot = 0;
        PyObject *m = PyDict_GetItemString(mods, buf);
        if (m) {
            PyObject *o = m;
            Py_INCREF(o);
            for (char *part = dot + 1; o && part;) {
                char *next = strchr(part, '.');
                if (next)
                    *next = 0;
                PyObject *a = PyObject_GetAttrString(o, part);
                Py_DECREF(o);
                o = a;
                part = next ? next + 1 : NULL;
            }
            PyErr_Clear();
            if (o && PyType_Check(o))
                found = o;
            else
                Py_XDECREF(o);
            break;
        }
    }
    if (!found && !strchr(want, '.')) {
        PyObject *b = PyDict_GetItemString(mods, "builtins");
        PyObject *o = b ? PyObject_GetAttrString(b, want) : NULL;
        PyErr_Clear();
        if (o && PyType_Check(o))
            found = o;
        else
            Py_XDECREF(o);
        /* A class of that name in some module's globals. */
        PyObject *vals = found ? NULL : PyDict_Values(mods);
        for (Py_ssize_t i = 0; vals && i < PyList_Size(vals) && !*rc; i++) {
            PyObject *m = PyList_GetItem(vals, i);
            PyObject *d = m && PyModule_Check(m) ? PyModule_GetDict(m) : NULL;
            PyObject *c = d ? PyDict_GetItemString(d, want) : NULL;
            if (!c || !PyType_Check(c) || c == found)
                continue;
            char nm[PM_TYPE_NAME_MAX];
            agent_attr_str(c, "__name__", nm, sizeof(nm));
            if (strcmp(nm, want) != 0)
                continue;
            if (found) {
                char a[PM_TYPE_NAME_MAX], q[PM_TYPE_NAME_MAX], x[PM_TYPE_NAME_MAX];
                char b2[PM_TYPE_NAME_MAX];
                agent_why_type_names(found, a, sizeof(a), q, sizeof(q), x, sizeof(x));
                agent_why_type_names(c, b2, sizeof(b2), q, sizeof(q), x, sizeof(x));
                ws_fmt(msg, msg_len, "why: '%s' is ambiguous: %s, %s, ...; give the module name",
                        want, a, b2);
                *rc = -EINVAL;
                Py_CLEAR(found);
                break;
            }
            Py_INCREF(c);
            found = c;
        }
        Py_XDECREF(vals);
    }
    Py_DECREF(mods);
    PyErr_Clear();
    return found;
}

int agent_why_sample(struct agent_why_samples *w, const char *want, char *type_out, size_t type_len,
                      char *msg, size_t msg_len)
{
    int rc;
    PyObject *type = why_resolve(want, &rc, msg, msg_len);
    if (rc < 0)
        return rc;
    uintptr_t head = type ? agent_gclist_head() : 0;
    int wr = type && head ? why_walk_lists(w, head, type) : -1;
    if (wr == -2)
        return -ESHUTDOWN;
    if (wr < 0) {
        Py_XDECREF(type);
        return why_sample_get_objects(w, want, type_out, type_len, msg, msg_len);
    }
    char q[PM_TYPE_NAME_MAX], x[PM_TYPE_NAME_MAX];
    agent_why_type_names(type, type_out, type_len, q, sizeof(q), x, sizeof(x));
    Py_DECREF(type);
    if (!w->n_samples) {
        ws_fmt(msg, msg_len, "why: no tracked instance of %s", type_out);
        return -ENOENT;
    }
    return 0;
}


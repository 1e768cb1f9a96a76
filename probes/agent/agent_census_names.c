/* The census's type names (agent_census_names.h). */
#include "agent_census_names.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent_util.h"

/* Names by type, checked through a weak reference so that a type that died
 * and whose address was reused never inherits the old name. Kept for the
 * agent's lifetime (entries of dead types are dropped at the next census);
 * CPython shares one plain weak reference per object, so this adds at most
 * one small tracked object per live type, which censuses do not count. */
struct census_name {
    PyObject *type;    /* key only: never dereferenced without the weakref check */
    PyObject *weakref; /* ours; NULL slot empty */
    char name[PM_TYPE_NAME_MAX];
};
static struct census_name *names;
static size_t names_cap, names_used;
static PyObject *census_qualname_desc, *census_module_desc;

static struct census_name *census_name_slot(PyObject *type)
{
    if (!names_cap)
        return NULL;
    size_t mask = names_cap - 1, j = agent_ptr_hash(type) & mask;
    while (names[j].weakref && names[j].type != type)
        j = (j + 1) & mask;
    return &names[j];
}

static void census_names_insert(PyObject *type, PyObject *weakref, const char *name);

static int census_names_grow(void)
{
    size_t old_cap = names_cap;
    struct census_name *old = names;
    size_t cap = old_cap ? old_cap * 2 : 1024;
    struct census_name *n = calloc(cap, sizeof(*n));
    if (!n)
        return -1;
    names = n;
    names_cap = cap;
    names_used = 0;
    for (size_t i = 0; i < old_cap; i++)
        if (old[i].weakref)
            census_names_insert(old[i].type, old[i].weakref, old[i].name);
    free(old);
    return 0;
}

static void census_names_insert(PyObject *type, PyObject *weakref, const char *name)
{
    if ((names_used + 1) * 2 > names_cap && census_names_grow() < 0) {
        Py_DECREF(weakref);
        return;
    }
    struct census_name *s = census_name_slot(type);
    if (s->weakref) {
        Py_DECREF(s->weakref);
        names_used--;
    }
    s->type = type;
    s->weakref = weakref;
    snprintf(s->name, sizeof(s->name), "%s", name);
    names_used++;
}

/* Drops the entries of dead types (GIL held). Rebuilding keeps probing valid. */
void census_names_purge(void)
{
    size_t dead = 0;
    for (size_t i = 0; i < names_cap; i++)
        if (names[i].weakref && PyWeakref_GetObject(names[i].weakref) != names[i].type)
            dead++;
    if (!dead)
        return;
    size_t old_cap = names_cap;
    struct census_name *old = names;
    names = calloc(old_cap, sizeof(*names));
    if (!names) {
        names = old; /* keep them; a dead entry is only never matched */
        return;
    }
    names_used = 0;
    for (size_t i = 0; i < old_cap; i++) {
        if (!old[i].weakref)
            continue;
        if (PyWeakref_GetObject(old[i].weakref) == old[i].type) {
            struct census_name *s = census_name_slot(old[i].type);
            *s = old[i];
            names_used++;
        } else {
            Py_DECREF(old[i].weakref);
        }
    }
    free(old);
    PyErr_Clear();
}

/* Our own cache's weak references are tracked objects of the target's heap;
 * those nobody else shares would not exist without us: uncount them. */
void census_names_uncount_own(struct census_table *t)
{
    for (size_t i = 0; i < names_cap; i++) {
        PyObject *w = names[i].weakref;
        if (!w || Py_REFCNT(w) != 1)
            continue;
        struct census_slot *s = census_table_find(t, (PyObject *)Py_TYPE(w));
        if (s && s->count)
            s->count--;
    }
}

/* type.__dict__['__module__'/'__qualname__'].__get__(t): the type's own
 * getters, which no metaclass __getattribute__ can intercept. */
static PyObject *census_type_attr(PyObject **desc, const char *attr, PyObject *type)
{
    if (!*desc) {
        PyObject *d = PyObject_GetAttrString((PyObject *)&PyType_Type, "__dict__");
        *desc = d ? PyMapping_GetItemString(d, attr) : NULL;
        Py_XDECREF(d);
        if (!*desc)
            return NULL;
    }
    return PyObject_CallMethod(*desc, "__get__", "O", type);
}

static void census_resolve_name(PyObject *type, char *dst, size_t cap)
{
    char mod[PM_TYPE_NAME_MAX], qual[PM_TYPE_NAME_MAX], full[2 * PM_TYPE_NAME_MAX + 2];
    PyObject *q = census_type_attr(&census_qualname_desc, "__qualname__", type);
    int have_q = agent_str_utf8(q, qual, sizeof(qual)) > 0;
    Py_XDECREF(q);
    PyErr_Clear();
    PyObject *m = census_type_attr(&census_module_desc, "__module__", type);
    int have_m = agent_str_utf8(m, mod, sizeof(mod)) > 0;
    Py_XDECREF(m);
    PyErr_Clear();
    if (!have_q)
        snprintf(qual, sizeof(qual), "?");
    if (!have_m || strcmp(mod, "builtins") == 0)
        snprintf(full, sizeof(full), "%s", qual);
    else
        snprintf(full, sizeof(full), "%s.%s", mod, qual);
    size_t len = agent_utf8_cut(full, strlen(full), cap);
    memcpy(dst, full, len);
    dst[len] = 0;
}

const char *census_names_get(PyObject *type)
{
    struct census_name *c = census_name_slot(type);
    if (c && c->weakref && PyWeakref_GetObject(c->weakref) == type)
        return c->name;
    return NULL;
}

void census_names_learn(PyObject *type, char *dst, size_t cap)
{
    census_resolve_name(type, dst, cap);
    PyObject *w = PyWeakref_NewRef(type, NULL);
    if (w)
        census_names_insert(type, w, dst);
    PyErr_Clear();
}

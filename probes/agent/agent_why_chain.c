/* Why is it alive, second half: what the walk (agent_why.c) reached becomes
 * chains of labelled edges from a root to each sampled instance, grouped by
 * shape. GIL held throughout; labelling runs Python code (reprs, attribute
 * lookups) on objects held by strong references. */
#include "agent_why_ctx.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void why_fmt(char *buf, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, n, fmt, ap);
    va_end(ap);
}

static void why_elem_set(struct why_elem *e, const char *head, const struct agent_edge *l)
{
    if (l && l->conc[0]) {
        why_fmt(e->conc, sizeof(e->conc), "%s %s", head, l->conc);
        why_fmt(e->norm, sizeof(e->norm), "%s %s", head, l->norm);
    } else {
        why_fmt(e->conc, sizeof(e->conc), "%s", head);
        why_fmt(e->norm, sizeof(e->norm), "%s", head);
    }
}

/* Renders objs[0..n) (strong references; objs[n-1] the instance) after a
 * first element `first` (may be NULL: objs[0] is the first node) into elems;
 * returns the element count. root_module: objs[0] is a module's dict whose
 * name is in `first`. Classes and modules on the way restart the chain. */
static int why_render(PyObject **objs, int n, const char *first, int root_module,
                      struct why_elem *elems, int cap)
{
    int ne = 0;
    int i = 0;
    char head[PM_WHY_EDGE_MAX], name[WHY_NAME_MAX];
    struct agent_edge l;
    if (first && root_module && n > 1) {
        int found = agent_edges_in_dict(objs[0], objs[1], 1, &l, NULL);
        why_elem_set(&elems[ne++], first, found ? &l : NULL);
        i = 1;
    } else if (first) {
        why_elem_set(&elems[ne++], first, NULL);
    }
    for (; i < n && ne < cap; i++) {
        PyObject *a = objs[i];
        if (i == n - 1) {
            agent_type_short_name((PyObject *)Py_TYPE(a), name, sizeof(name));
            why_elem_set(&elems[ne++], name, NULL);
            break;
        }
        PyObject *b = objs[i + 1];
        /* A class or a module, then its namespace: a root of its own. */
        if ((PyType_Check(a) || PyModule_Check(a)) && PyDict_Check(b) && i + 2 < n) {
            PyObject *ns = PyModule_Check(a) ? PyModule_GetDict(a) : NULL;
            if (PyModule_Check(a) ? ns == b : 1) {
                char qual[WHY_NAME_MAX], mod[WHY_NAME_MAX];
                agent_attr_str(a, PyModule_Check(a) ? "__name__" : "__qualname__", qual,
                               sizeof(qual));
                if (PyType_Check(a))
                    agent_attr_str(a, "__module__", mod, sizeof(mod));
                if (PyModule_Check(a))
                    why_fmt(head, sizeof(head), "module %s", qual);
                else if (mod[0] && strcmp(mod, "builtins"))
                    why_fmt(head, sizeof(head), "class %s.%s", mod, qual);
                else
                    why_fmt(head, sizeof(head), "class %s", qual);
                if (agent_edges_in_dict(b, objs[i + 2], 1, &l, NULL)) {
                    ne = 0; /* the chain restarts at the class or module */
                    why_elem_set(&elems[ne++], head, &l);
                    i++;
                    continue;
                }
            }
        }
        agent_type_short_name((PyObject *)Py_TYPE(a), name, sizeof(name));
        /* An instance, then its __dict__: one ".attr" edge. */
        if (i + 2 < n && agent_edges_through_dict(a, b, objs[i + 2], &l)) {
            why_elem_set(&elems[ne++], name, &l);
            i++;
            continue;
        }
        agent_edges_label(a, b, &l, NULL);
        why_elem_set(&elems[ne++], name, &l);
    }
    return ne;
}

void why_group_add(struct why *w, const struct why_elem *el, int ne)
{
    struct why_elem cut[PM_WHY_MAX_EDGES];
    if (ne > PM_WHY_MAX_EDGES) { /* keep the root and the end */
        int tail = PM_WHY_MAX_EDGES - 2;
        cut[0] = el[0];
        why_fmt(cut[1].conc, sizeof(cut[1].conc), "... (%d more)", ne - 1 - tail);
        memcpy(cut[1].norm, cut[1].conc, sizeof(cut[1].norm));
        memcpy(&cut[2], &el[ne - tail], (size_t)tail * sizeof(*el));
        el = cut;
        ne = PM_WHY_MAX_EDGES;
    }
    for (int g = 0; g < w->n_groups; g++) {
        struct why_chain_acc *a = &w->groups[g];
        if (a->n != (uint32_t)ne)
            continue;
        int same = 1;
        for (int i = 0; i < ne && same; i++)
            same = strcmp(a->norm[i], el[i].norm) == 0;
        if (!same)
            continue;
        a->count++;
        for (int i = 0; i < ne; i++)
            if (strcmp(a->conc[i], el[i].conc) != 0)
                a->varies[i] = 1;
        return;
    }
    if (w->n_groups == PM_WHY_MAX_CHAINS) {
        w->grouped_away++;
        return;
    }
    struct why_chain_acc *a = &w->groups[w->n_groups++];
    memset(a, 0, sizeof(*a));
    a->n = (uint32_t)ne;
    a->count = 1;
    for (int i = 0; i < ne; i++) {
        memcpy(a->norm[i], el[i].norm, sizeof(a->norm[i]));
        memcpy(a->conc[i], el[i].conc, sizeof(a->conc[i]));
    }
}

/* The chain of sample s from the walk's parents (strong references taken
 * first: labelling runs Python code). */
int why_chain_found(struct why *w, int s, struct why_elem *el, int cap)
{
    PyObject *objs[WHY_MAX_HOPS];
    int n = 0;
    uint32_t v = (uint32_t)w->found[s];
    for (;;) {
        if (n == WHY_MAX_HOPS)
            memmove(objs + 1, objs, (WHY_MAX_HOPS - 1) * sizeof(*objs)), n--; /* keep the end */
        objs[n++] = w->nodes[v].obj;
        if (w->nodes[v].parent == UINT32_MAX)
            break;
        v = w->nodes[v].parent;
    }
    const struct why_root *root = &w->roots[w->nodes[v].root];
    /* objs is instance..root: reverse, and hold them all. */
    for (int i = 0; i < n / 2; i++) {
        PyObject *t = objs[i];
        objs[i] = objs[n - 1 - i];
        objs[n - 1 - i] = t;
    }
    for (int i = 0; i < n; i++)
        Py_INCREF(objs[i]);
    int ne = why_render(objs, n, root->label, root->kind == WHY_ROOT_MODULE, el, cap);
    for (int i = 0; i < n; i++)
        Py_DECREF(objs[i]);
    PyErr_Clear();
    return ne;
}

/* gc.get_referrers visits every tracked object in one piece: allowed only
 * where the heap's allocated blocks bound that under one pause. */
static int why_referrers_fit(void)
{
    uint64_t max_ns = (uint64_t)atomic_load(&agent.max_pause_us) * 1000u;
    return agent.blocks_last > 0 &&
           (uint64_t)agent.blocks_last * WHY_REFERRERS_NS_PER_BLOCK <= max_ns;
}

/* No root reaches sample s: follow gc.get_referrers upwards while the budget
 * lasts. The top is the untracked world when nothing tracked refers to it. */
int why_chain_untracked(struct why *w, int s, struct why_elem *el, int cap)
{
    PyObject *objs[WHY_UP_LEVELS + 1]; /* objs[0] the instance, upwards */
    int n = 0, top = 0;
    objs[n++] = w->samples[s];
    Py_INCREF(objs[0]);
    PyObject *get = why_referrers_fit() ? PyObject_GetAttrString(agent.gc_module, "get_referrers")
                                        : NULL;
    while (get && n <= WHY_UP_LEVELS && !why_late(w)) {
        PyObject *refs = PyObject_CallFunctionObjArgs(get, objs[n - 1], NULL);
        if (!refs || !PyList_Check(refs)) {
            Py_XDECREF(refs);
            break;
        }
        PyObject *pick = NULL;
        for (Py_ssize_t i = 0; i < PyList_Size(refs) && !pick; i++) {
            PyObject *r = PyList_GetItem(refs, i);
            int seen = r == w->hold;
            for (int k = 0; k < n && !seen; k++)
                seen = objs[k] == r;
            if (!seen)
                pick = r;
        }
        Py_XINCREF(pick);
        Py_DECREF(refs);
        if (!pick) {
            top = 1;
            break;
        }
        objs[n++] = pick;
    }
    Py_XDECREF(get);
    PyErr_Clear();
    PyObject *down[WHY_UP_LEVELS + 1];
    for (int i = 0; i < n; i++)
        down[i] = objs[n - 1 - i];
    int ne = why_render(down, n, top ? "untracked world" : "... (referrers not followed further)",
                        0, el, cap);
    for (int i = 0; i < n; i++)
        Py_DECREF(objs[i]);
    PyErr_Clear();
    return ne;
}

int why_group_cmp(const void *pa, const void *pb)
{
    const struct why_chain_acc *a = pa, *b = pb;
    if (a->count != b->count)
        return a->count > b->count ? -1 : 1;
    return a->n < b->n ? -1 : a->n > b->n;
}

void why_join(const struct why_chain_acc *a, char *buf, size_t n)
{
    size_t len = 0;
    buf[0] = 0;
    for (uint32_t i = 0; i < a->n && len + 1 < n; i++) {
        why_fmt(buf + len, n - len, "%s%s", i ? " -> " : "",
                a->varies[i] ? a->norm[i] : a->conc[i]);
        len += strlen(buf + len);
    }
}

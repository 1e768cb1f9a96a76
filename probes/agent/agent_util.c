/* Small helpers the probes share (see agent_util.h). */
#include "agent_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t agent_utf8_cut(const char *s, size_t len, size_t cap)
{
    if (len <= cap - 1)
        return len;
    len = cap - 1;
    while (len > 0 && ((unsigned char)s[len] & 0xc0) == 0x80)
        len--;
    return len;
}

size_t agent_str_utf8(PyObject *s, char *buf, size_t cap)
{
    buf[0] = 0;
    if (!s || !PyUnicode_Check(s))
        return 0;
    PyObject *b = PyUnicode_AsUTF8String(s);
    char *p;
    Py_ssize_t n;
    size_t len = 0;
    if (b && PyBytes_AsStringAndSize(b, &p, &n) == 0) {
        len = agent_utf8_cut(p, strnlen(p, (size_t)n), cap);
        memcpy(buf, p, len);
        buf[len] = 0;
    }
    Py_XDECREF(b);
    PyErr_Clear();
    return len;
}

void agent_attr_str(PyObject *o, const char *attr, char *buf, size_t cap)
{
    PyObject *v = PyObject_GetAttrString(o, attr);
    agent_str_utf8(v, buf, cap);
    Py_XDECREF(v);
    PyErr_Clear();
}

void agent_type_short_name(PyObject *type, char *buf, size_t cap)
{
    agent_attr_str(type, "__name__", buf, cap);
    if (!buf[0])
        snprintf(buf, cap, "?");
}

long agent_call_long(PyObject *mod, const char *fn)
{
    PyObject *r = PyObject_CallMethod(mod, fn, NULL);
    long v = r ? PyLong_AsLong(r) : -1;
    Py_XDECREF(r);
    if (PyErr_Occurred()) {
        PyErr_Clear();
        v = -1;
    }
    return v;
}

size_t agent_ptr_hash(const void *p)
{
    uint64_t x = (uint64_t)(uintptr_t)p;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    return (size_t)x;
}

int agent_ptrmap_init(struct agent_ptrmap *m, size_t cap)
{
    m->keys = calloc(cap, sizeof(*m->keys));
    m->vals = malloc(cap * sizeof(*m->vals));
    m->mask = cap - 1;
    m->used = 0;
    return m->keys && m->vals ? 0 : -1;
}

void agent_ptrmap_free(struct agent_ptrmap *m)
{
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof(*m));
}

int64_t agent_ptrmap_get(const struct agent_ptrmap *m, const PyObject *k)
{
    size_t i = agent_ptr_hash(k) & m->mask;
    while (m->keys[i]) {
        if (m->keys[i] == k)
            return m->vals[i];
        i = (i + 1) & m->mask;
    }
    return -1;
}

static void ptrmap_put_raw(struct agent_ptrmap *m, PyObject *k, uint32_t v)
{
    size_t i = agent_ptr_hash(k) & m->mask;
    while (m->keys[i] && m->keys[i] != k)
        i = (i + 1) & m->mask;
    if (!m->keys[i])
        m->used++;
    m->keys[i] = k;
    m->vals[i] = v;
}

int agent_ptrmap_put(struct agent_ptrmap *m, PyObject *k, uint32_t v)
{
    if ((m->used + 1) * 2 > m->mask + 1) {
        struct agent_ptrmap n;
        if (agent_ptrmap_init(&n, (m->mask + 1) * 2) < 0) {
            agent_ptrmap_free(&n);
            return -1;
        }
        for (size_t i = 0; i <= m->mask; i++)
            if (m->keys[i])
                ptrmap_put_raw(&n, m->keys[i], m->vals[i]);
        agent_ptrmap_free(m);
        *m = n;
    }
    ptrmap_put_raw(m, k, v);
    return 0;
}

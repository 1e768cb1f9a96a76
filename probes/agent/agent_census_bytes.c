/* Bytes per type: sizing rules, and the proofs that make them safe to use.
 *
 * What a row's bytes mean: the sum over its instances of what
 * sys.getsizeof() would answer with the type's C __sizeof__, i.e. the
 * object (tp_basicsize), its items (var-sized types), the separately
 * allocated arrays of list, dict, set and frozenset, plus the GC header and,
 * on 3.11+, the pre-header of managed dicts/weakrefs. Shallow: what an
 * object refers to is the referent's own row.
 *
 * How a type is sized, decided once per type and census slot from the
 * __sizeof__ its MRO resolves (_PyType_Lookup: no code runs, it is what
 * every attribute access does):
 * - object.__sizeof__: unit = basicsize + headers; var-sized types add
 *   itemsize x ob_size per object (tuple and user subclasses of it);
 * - list/dict/set/frozenset.__sizeof__ (subclasses included): unit plus the
 *   array read from the object, by the per-version layout of
 *   lib/pylayout.c (pylayout_sizes);
 * - any other __sizeof__ (a C method of its own, like type's, frame's,
 *   deque's, or one written in Python): it is NOT called (a census runs no
 *   code per object); the row gets basicsize + headers, marked approximate.
 *
 * Proofs. Raw reads of PyTypeObject.tp_basicsize/tp_itemsize are compared
 * with __basicsize__/__itemsize__ first; each kind's formula is compared
 * with sys.getsizeof() on probe objects made here (empty, small, grown,
 * general and str-keyed dicts) before the first census; and every census
 * keeps the first few instances of each kind it meets (held), then compares
 * them after the walk, on the target's real objects (split dicts, managed
 * pre-headers, subclasses). A kind that ever disagrees is switched off for
 * the agent's lifetime: its types fall back to basicsize + headers, marked
 * approximate, never a guess; census_bytes_note() says which and by how much. */
#include "agent_census_bytes.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent_util.h"

/* PyTypeObject: tp_basicsize and tp_itemsize follow ob_base (24) and
 * tp_name (8) in every 64-bit build since 3.0; proved in prepare(). */
#define CB_TP_BASICSIZE_OFF 32
#define CB_TP_ITEMSIZE_OFF 40
#define CB_GC_HEAD_BYTES 16 /* sizeof(PyGC_Head) 3.8+ */
#define CB_PREHEADER_BYTES 16
#define CB_SAMPLES 4 /* per check group and census */

typedef PyObject *(*cb_lookup_fn)(PyTypeObject *, PyObject *);

/* Check groups: each kind, and fixed types with and without a pre-header
 * (the pre-header rule is a per-version fact that needs proving too). */
enum { CK_FIXED, CK_PRE, CK_VAR, CK_LIST, CK_DICT, CK_SET, CK_GROUPS };
static const char *const cb_group_name[CK_GROUPS] = {"fixed", "pre-header", "var-sized",
                                                     "list", "dict", "set"};

int census_bytes_dict_shape;
static int cb_prepared, cb_usable; /* usable: the raw type reads are proved */
static int cb_dict_used_ok = 1;    /* ma_used read as len() on every probe dict */
static cb_lookup_fn cb_lookup;
static PyObject *cb_name;     /* "__sizeof__", ours */
static PyObject *cb_getsizeof; /* sys.getsizeof, ours */
static uint32_t cb_pre_flags;
/* The __sizeof__ descriptors (borrowed: they live as long as the builtin
 * types). d_set covers set and frozenset, which have one each. */
static PyObject *d_object, *d_list, *d_dict, *d_set, *d_frozenset;
static uint8_t cb_bad[CK_GROUPS];
static char cb_note[160];

static struct {
    PyObject *o;       /* ours until census_bytes_reset_samples() */
    PyObject *expect;  /* the __sizeof__ its type resolved to when classified */
} cb_sample[CK_GROUPS][CB_SAMPLES];
static unsigned cb_nsample[CK_GROUPS];

static int64_t cb_type_word(PyObject *type, size_t off)
{
    return *(const int64_t *)((const char *)type + off);
}

static void cb_fail(int group, const char *what, long long got, long long want)
{
    cb_bad[group] = 1;
    if (!cb_note[0])
        snprintf(cb_note, sizeof(cb_note), "%s bytes approximate: %s %lld != sys.getsizeof %lld",
                 cb_group_name[group], what, got, want);
}

static long long cb_getsizeof_of(PyObject *o)
{
    PyObject *r = PyObject_CallFunctionObjArgs(cb_getsizeof, o, NULL);
    long long v = r ? PyLong_AsLongLong(r) : -1;
    Py_XDECREF(r);
    PyErr_Clear();
    return v;
}

static int cb_group_of(const struct census_bytes_class *c, PyObject *type)
{
    switch (c->kind) {
    case CB_VAR:
        return CK_VAR;
    case CB_LIST:
        return CK_LIST;
    case CB_DICT:
        return CK_DICT;
    case CB_SET:
        return CK_SET;
    default:
        return (PyType_GetFlags((PyTypeObject *)type) & cb_pre_flags) ? CK_PRE : CK_FIXED;
    }
}

static uint64_t cb_size_now(PyObject *o, struct census_bytes_class *c)
{
    census_bytes_classify((PyObject *)Py_TYPE(o), NULL, c);
    return c->unit + census_bytes_extra(c, o);
}

/* One probe object: formula against sys.getsizeof. Steals o. */
static void cb_probe(int group, PyObject *o, const char *what)
{
    if (!o) {
        PyErr_Clear();
        cb_fail(group, what, -1, 0);
        return;
    }
    struct census_bytes_class c;
    long long got = (long long)cb_size_now(o, &c), want = cb_getsizeof_of(o);
    if (c.approx || got != want)
        cb_fail(group, what, got, want);
    if (group == CK_DICT &&
        *(const int64_t *)((const char *)o + CENSUS_DICT_USED_OFF) != PyDict_Size(o))
        cb_dict_used_ok = 0;
    Py_DECREF(o);
}

int census_bytes_dict_sampling(void)
{
    const char *e = getenv("PYMEMTOP_CENSUS_DICT_EXACT");
    return cb_dict_used_ok && !cb_bad[CK_DICT] && !(e && strcmp(e, "1") == 0);
}

static PyObject *cb_dict_of(long n, int str_keys, long del)
{
    PyObject *d = PyDict_New();
    for (long i = 0; d && i < n; i++) {
        PyObject *k = str_keys ? PyUnicode_FromFormat("k%ld", i) : PyLong_FromLong(i);
        if (!k || PyDict_SetItem(d, k, Py_None) < 0) {
            Py_XDECREF(k);
            Py_CLEAR(d);
            break;
        }
        if (i < del)
            PyDict_DelItem(d, k);
        Py_DECREF(k);
    }
    return d;
}

static PyObject *cb_list_of(long n)
{
    PyObject *l = PyList_New(0);
    for (long i = 0; l && i < n; i++)
        if (PyList_Append(l, Py_None) < 0)
            Py_CLEAR(l);
    return l;
}

static PyObject *cb_set_of(long n, int frozen)
{
    PyObject *s = frozen ? PyFrozenSet_New(NULL) : PySet_New(NULL);
    for (long i = 0; s && i < n; i++) {
        PyObject *k = PyLong_FromLong(i);
        if (!k || PySet_Add(s, k) < 0)
            Py_CLEAR(s);
        Py_XDECREF(k);
    }
    return s;
}

/* The raw type reads agree with what the types say of themselves. */
static int cb_types_readable(void)
{
    PyObject *types[] = {(PyObject *)&PyBaseObject_Type, (PyObject *)&PyList_Type,
                         (PyObject *)&PyDict_Type,       (PyObject *)&PySet_Type,
                         (PyObject *)&PyTuple_Type,      (PyObject *)&PyType_Type};
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        PyObject *b = PyObject_GetAttrString(types[i], "__basicsize__");
        PyObject *s = PyObject_GetAttrString(types[i], "__itemsize__");
        long long bv = b ? PyLong_AsLongLong(b) : -1, sv = s ? PyLong_AsLongLong(s) : -1;
        Py_XDECREF(b);
        Py_XDECREF(s);
        PyErr_Clear();
        if (bv != cb_type_word(types[i], CB_TP_BASICSIZE_OFF) ||
            sv != cb_type_word(types[i], CB_TP_ITEMSIZE_OFF))
            return 0;
    }
    return 1;
}

void census_bytes_prepare(void)
{
    if (cb_prepared)
        return;
    cb_prepared = 1;
    struct pylayout_sizes sz;
    if (pylayout_sizes_find(agent.hexversion, &sz) < 0) {
        snprintf(cb_note, sizeof(cb_note), "no bytes: no size layout for Python %s",
                 agent.python);
        return;
    }
    census_bytes_dict_shape = sz.dict_shape;
    cb_pre_flags = sz.preheader_flags;
    cb_lookup = (cb_lookup_fn)dlsym(RTLD_DEFAULT, "_PyType_Lookup");
    cb_name = PyUnicode_InternFromString("__sizeof__");
    cb_getsizeof = PySys_GetObject("getsizeof"); /* borrowed */
    Py_XINCREF(cb_getsizeof);
    if (!cb_lookup || !cb_name || !cb_getsizeof || !cb_types_readable()) {
        PyErr_Clear();
        snprintf(cb_note, sizeof(cb_note), "no bytes: type sizes not readable on this build");
        return;
    }
    d_object = cb_lookup(&PyBaseObject_Type, cb_name);
    d_list = cb_lookup(&PyList_Type, cb_name);
    d_dict = cb_lookup(&PyDict_Type, cb_name);
    d_set = cb_lookup(&PySet_Type, cb_name);
    d_frozenset = cb_lookup(&PyFrozenSet_Type, cb_name);
    if (!d_object || !d_list || !d_dict || !d_set || !d_frozenset) {
        snprintf(cb_note, sizeof(cb_note), "no bytes: builtin __sizeof__ not found");
        return;
    }
    cb_usable = 1;
    /* Small probes (a few KiB in all): a big one would step the target's
     * RSS, which a leak gate would see as growth. Larger index widths are
     * proved on the target's own dicts after each census. */
    cb_probe(CK_LIST, cb_list_of(0), "[]");
    cb_probe(CK_LIST, cb_list_of(3), "list(3)");
    cb_probe(CK_LIST, cb_list_of(1000), "list(1000)");
    cb_probe(CK_DICT, cb_dict_of(0, 0, 0), "{}");
    cb_probe(CK_DICT, cb_dict_of(1, 1, 0), "{str: 1}");
    cb_probe(CK_DICT, cb_dict_of(5, 1, 0), "{str: 5}");
    cb_probe(CK_DICT, cb_dict_of(40, 0, 37), "{int: 40} less 37");
    cb_probe(CK_DICT, cb_dict_of(200, 0, 50), "{int: 200}");
    cb_probe(CK_DICT, cb_dict_of(1000, 1, 0), "{str: 1000}");
    cb_probe(CK_DICT, cb_dict_of(300, 0, 0), "{int: 300}");
    cb_probe(CK_SET, cb_set_of(0, 0), "set()");
    cb_probe(CK_SET, cb_set_of(3, 0), "set(3)");
    cb_probe(CK_SET, cb_set_of(500, 0), "set(500)");
    cb_probe(CK_SET, cb_set_of(50, 1), "frozenset(50)");
    cb_probe(CK_VAR, PyTuple_Pack(3, Py_None, Py_None, Py_None), "tuple(3)");
    PyErr_Clear();
}

int census_bytes_on(void)
{
    const char *e = getenv("PYMEMTOP_CENSUS_BYTES");
    return cb_usable && !(e && strcmp(e, "0") == 0);
}

void census_bytes_classify(PyObject *type, PyObject *first, struct census_bytes_class *c)
{
    memset(c, 0, sizeof(*c));
    if (!cb_usable)
        return;
    unsigned long flags = PyType_GetFlags((PyTypeObject *)type);
    int64_t basic = cb_type_word(type, CB_TP_BASICSIZE_OFF);
    int64_t item = cb_type_word(type, CB_TP_ITEMSIZE_OFF);
    uint64_t unit = basic > 0 ? (uint64_t)basic : 0;
    if (flags & Py_TPFLAGS_HAVE_GC)
        unit += CB_GC_HEAD_BYTES;
    if (flags & cb_pre_flags)
        unit += CB_PREHEADER_BYTES;
    c->unit = unit > UINT32_MAX ? UINT32_MAX : (uint32_t)unit;
    PyObject *m = cb_lookup((PyTypeObject *)type, cb_name); /* borrowed, no code runs */
    if (m == d_object)
        c->kind = item > 0 ? CB_VAR : CB_FIXED;
    else if (m == d_list)
        c->kind = CB_LIST;
    else if (m == d_dict)
        c->kind = CB_DICT;
    else if (m == d_set || m == d_frozenset)
        c->kind = CB_SET;
    else
        c->approx = 1;
    c->itemsize = item > 0 ? (uint32_t)item : 0;
    int g = cb_group_of(c, type);
    if (cb_bad[g]) {
        c->kind = CB_FIXED;
        c->approx = 1;
    }
    if (c->approx || !first || cb_nsample[g] >= CB_SAMPLES)
        return;
    Py_INCREF(first);
    cb_sample[g][cb_nsample[g]].o = first;
    cb_sample[g][cb_nsample[g]].expect = m;
    cb_nsample[g]++;
}

unsigned census_bytes_verify(void)
{
    unsigned failed = 0;
    for (int g = 0; g < CK_GROUPS; g++)
        for (unsigned i = 0; i < cb_nsample[g] && !cb_bad[g]; i++) {
            PyObject *o = cb_sample[g][i].o;
            /* Only while its type still resolves the C __sizeof__ it was
             * classified by (a class may have been given another since):
             * then sys.getsizeof runs no Python code. */
            if (cb_lookup(Py_TYPE(o), cb_name) != cb_sample[g][i].expect)
                continue;
            struct census_bytes_class c;
            long long got = (long long)cb_size_now(o, &c), want = cb_getsizeof_of(o);
            if (want >= 0 && got != want) {
                char name[48], what[64];
                agent_type_short_name((PyObject *)Py_TYPE(o), name, sizeof(name));
                snprintf(what, sizeof(what), "a %s", name);
                cb_fail(g, what, got, want);
                failed++;
            }
        }
    return failed;
}

void census_bytes_reset_samples(void)
{
    for (int g = 0; g < CK_GROUPS; g++) {
        for (unsigned i = 0; i < cb_nsample[g]; i++)
            Py_CLEAR(cb_sample[g][i].o);
        cb_nsample[g] = 0;
    }
}

const char *census_bytes_note(void)
{
    return cb_note;
}

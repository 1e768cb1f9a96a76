/* Bytes per type in the census: the shallow size of every instance, what
 * sys.getsizeof() would sum over them, computed without running any Python
 * code per object. agent_census_bytes.c says how each kind is sized and how
 * every formula is proved on the running interpreter first.
 *
 * The walk (agent_census_walk.c) classifies a type once, when its slot is
 * made (census_bytes_classify), and then, per object, only for the kinds
 * whose size depends on the object (census_bytes_extra): a fixed-size type
 * costs nothing per object, its bytes are count x unit after the walk.
 * GIL held for every function here; agent thread only. */
#ifndef PYMEMTOP_PROBES_AGENT_AGENT_CENSUS_BYTES_H
#define PYMEMTOP_PROBES_AGENT_AGENT_CENSUS_BYTES_H

#include "agent_state.h"

/* How an instance's size is found. FIXED: unit only (basicsize and what
 * sys.getsizeof adds), no per-object work. The others add a per-object
 * extra read from the object (and, for dicts, its keys object). */
enum census_bytes_kind {
    CB_FIXED = 0,
    CB_VAR,  /* object.__sizeof__ with tp_itemsize: itemsize x ob_size */
    CB_LIST, /* list.__sizeof__: allocated x pointer */
    CB_DICT, /* dict.__sizeof__: keys object (unshared) + split values */
    CB_SET,  /* set/frozenset.__sizeof__: the table when not the smalltable */
    CB_KINDS
};

/* What a census slot knows of its type's size. */
struct census_bytes_class {
    uint32_t unit;     /* bytes per instance, before the extra */
    uint32_t itemsize; /* CB_VAR */
    uint8_t kind;      /* enum census_bytes_kind */
    uint8_t approx;    /* no proved formula: unit is basicsize + header only */
    uint8_t check;     /* index + 1 of the check this type's sample serves, 0 none */
};

/* Proves the raw reads and each kind's formula on probe objects, once per
 * agent (later calls return at once). Call with the GIL held, before a walk. */
void census_bytes_prepare(void);

/* Whether this census computes bytes (PYMEMTOP_CENSUS_BYTES=0 in the
 * target's environment turns the per-object work off: the benchmark's
 * "without bytes" run; rows then carry 0 bytes). Read per census. */
int census_bytes_on(void);

/* Classifies type; `first` is the instance the walk met first: it may be
 * held as a sample for census_bytes_verify(). No Python code runs. */
void census_bytes_classify(PyObject *type, PyObject *first, struct census_bytes_class *c);

/* After the walk (GIL held, the walk's references still held): compares
 * each kind's formula with sys.getsizeof() on the samples the walk kept; a
 * kind that disagrees is off for the agent's lifetime (its types become
 * approximate) and the note says why. Returns how many samples failed in
 * this call: the caller then classifies its rows again. */
unsigned census_bytes_verify(void);
/* Why a kind is off, "" when every kind is proved. */
const char *census_bytes_note(void);
/* Samples are per census: forget them (after verify). */
void census_bytes_reset_samples(void);

/* Dict shape: 0 = 3.8-3.10 keys object, 1 = 3.11+ (set by prepare). */
extern int census_bytes_dict_shape;

/* Small dicts are sized from a sample. Why: a dict's table lives in its
 * keys object, apart from the dict; on a heap of many dicts read in
 * address order the census is bound by memory bandwidth, and that one more
 * object per dict (two cache lines, pulled in whole by the prefetchers)
 * tripled its time (3.3 -> 10.2 ns/object on 3.11, 3.3 -> 11.1 on 3.14).
 * A dict holding at most CENSUS_DICT_SMALL_USED items with its table in
 * the dict's own keys (not split) almost always has the minimum table, so
 * for those one in CENSUS_DICT_SAMPLE per type is sized and the rest get
 * their sample's mean: exact when they are alike, unbiased when not. A
 * bigger dict, a split one (its keys are shared and cached) and every
 * list, set and tuple are sized one by one. ma_used (the item count, read
 * from the dict itself) is proved on probe dicts like the formulas; if it
 * is not, or PYMEMTOP_CENSUS_DICT_EXACT=1 is in the target's environment,
 * every dict is sized. */
#define CENSUS_DICT_SMALL_USED 5 /* USABLE_FRACTION of the minimum table (8) */
#define CENSUS_DICT_SAMPLE 16
#define CENSUS_DICT_USED_OFF 16 /* PyDictObject.ma_used, 3.8-3.15 */
/* Whether this census samples small dicts (read per census). */
int census_bytes_dict_sampling(void);
static inline int census_bytes_dict_small(const char *p)
{
    return *(const int64_t *)(p + CENSUS_DICT_USED_OFF) <= CENSUS_DICT_SMALL_USED &&
           !*(const void *const *)(p + 40);
}

static inline uint64_t census_bytes_usable(uint64_t size)
{
    return (size << 1) / 3; /* CPython's USABLE_FRACTION */
}

/* The dict's separately allocated parts, as dict.__sizeof__ counts them:
 * layouts per version proved in prepare() and verified on live dicts. */
static inline uint64_t census_bytes_dict(const char *p)
{
    const char *keys = *(const char *const *)(p + 32);
    const void *vals = *(const void *const *)(p + 40);
    uint64_t r = 0;
    if (!keys)
        return 0;
    int64_t refcnt = *(const int64_t *)keys;
    if (census_bytes_dict_shape == 0) {
        uint64_t size = *(const uint64_t *)(keys + 8);
        uint64_t usable = census_bytes_usable(size);
        if (vals)
            r += usable * sizeof(void *);
        if (refcnt == 1) {
            uint64_t ix = size <= 0xff ? 1 : size <= 0xffff ? 2 : size <= 0xffffffffu ? 4 : 8;
            r += 40 + ix * size + 24 * usable;
        }
        return r;
    }
    uint8_t log2 = (uint8_t)keys[8], log2_ix = (uint8_t)keys[9], kind = (uint8_t)keys[10];
    if (log2 > 48 || log2_ix > 52)
        return 0;
    if (vals) /* shared_keys_usable_size: dk_nentries + dk_usable */
        r += (uint64_t)(*(const int64_t *)(keys + 24) + *(const int64_t *)(keys + 16)) *
             sizeof(void *);
    if (refcnt == 1)
        r += 32 + ((uint64_t)1 << log2_ix) +
             census_bytes_usable((uint64_t)1 << log2) * (kind == 0 ? 24 : 16);
    return r;
}

/* The per-object part of an instance's size (0 for CB_FIXED). */
static inline uint64_t census_bytes_extra(const struct census_bytes_class *c, PyObject *o)
{
    const char *p = (const char *)o;
    switch (c->kind) {
    case CB_VAR: {
        int64_t n = *(const int64_t *)(p + 16);
        return n > 0 ? (uint64_t)n * c->itemsize : 0;
    }
    case CB_LIST: {
        int64_t n = *(const int64_t *)(p + 32);
        return n > 0 ? (uint64_t)n * sizeof(void *) : 0;
    }
    case CB_SET: /* PySetObject: mask at 32, table at 40, smalltable at 64 */
        return *(const char *const *)(p + 40) == p + 64
                   ? 0
                   : ((uint64_t)*(const int64_t *)(p + 32) + 1) * 16;
    case CB_DICT:
        return census_bytes_dict(p);
    default:
        return 0;
    }
}

#endif

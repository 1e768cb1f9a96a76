/* Objects per type: a census of the target's GC-tracked objects, counted in C
 * by walking the collector's own generation lists (validated at run time),
 * else over gc.get_objects(); budgeted to a share of the target's wall time,
 * with snapshots kept in the agent across monitor sessions.
 *
 * Type names are "module.qualname"; types of the builtins module are shown
 * bare ("dict", "function"), as Python prints them. Types that share a name
 * (classes made in a function, several namedtuples of one name) are counted
 * together under it. Objects in the permanent generation (gc.freeze()) are
 * not counted, as gc.get_objects() does not return them either.
 *
 * Every census counts all three generations: the old generation shrinks by
 * plain deallocation, which nothing counts, so counting the young ones more
 * often would report totals that are not true at any instant.
 *
 * Threads: everything here runs on the agent thread; Python is touched only
 * between agent_gil_enter() and agent_gil_exit(). */
#include "agent_census.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent_census_bytes.h"
#include "agent_census_names.h"
#include "agent_census_walk.h"
#include "agent_state.h"
#include "agent_util.h"
#include "proto.h"

/* At most this many types per CENSUS frame (largest first): ~300 KB. */
#define CENSUS_MAX_SEND 2000
/* Default budget: a census may take 1/100 of wall time, and runs at most
 * every 2 s however cheap it is. */
#define CENSUS_MIN_INTERVAL_MS AGENT_CENSUS_FLOOR_MS
/* A session's first periodic census comes one second after attach (a
 * --once client asks for its own census at once and is gone by then), later
 * if the previous census was expensive and recent. */
#define CENSUS_FIRST_DELAY_NS 1000000000u
#define CENSUS_CHEAP_NS 50000000u

/* Counts per type of the latest census (types held by the walk's module
 * until census_walk_release()). */
static struct census_table census_counts;
/* How the latest census went (agent_census_walk.h). */
static struct census_walk_stats census_stats;
static uint64_t census_wall_ns;
/* The periodic census on the gc.get_objects() path, left out because that one
 * CPython call would hold the GIL longer than [agent] max_pause_ms: its
 * prediction (0 when the last census ran). Commands always run it. */
static uint64_t census_skip_ns;
/* gc.get_objects() builds a list of every tracked object, then we count it:
 * 24-29 ns per object measured on 3.14 (issue 10); an upper bound here. */
#define CENSUS_GET_OBJECTS_NS_PER_OBJ 30u

/* One census row, names resolved: no pointer into the target survives. */
struct census_entry {
    char name[PM_TYPE_NAME_MAX];
    uint64_t count;
    int64_t delta;
    uint64_t bytes;      /* shallow, as sys.getsizeof sums them (agent_census_bytes.h) */
    int64_t bytes_delta; /* like delta */
    uint8_t approx;      /* bytes from basicsize only: no proved formula */
    PyObject *type; /* only while the walk holds it (agent_census_walk.h) */
    int held;       /* not in the name cache: to be named */
};
static struct census_entry *census_rows;
static size_t census_rows_cap;

/* A kept census (snapshot): counts by name, sorted by name. */
struct census_kept_row {
    char *name;
    uint64_t count, bytes;
    uint8_t approx;
};
struct census_kept {
    struct census_kept_row *rows;
    size_t n;
    uint64_t objects, time_ns;
    uint8_t method;
};
static struct census_kept snap_baseline, snap_previous, snap_latest;
static uint32_t snap_count;
/* The latest census computed bytes (off: PYMEMTOP_CENSUS_BYTES=0, or no
 * proved layout): then no bytes are sent. */
static int census_bytes_sent;

/* Schedule (agent thread only). */
static int census_attached;
static uint64_t census_next_ns, census_last_end_ns;

/* The collector's lists are not proven on this build (or are being
 * rearranged): the census is one gc.get_objects() call. PYMEMTOP_CENSUS_METHOD
 * =get_objects in the target's environment forces this path (tests, bench). */
static int census_lists_forbidden(void)
{
    const char *e = getenv("PYMEMTOP_CENSUS_METHOD");
    return e && strcmp(e, "get_objects") == 0;
}

/* That call's hold, from the last census's objects or, before any, from
 * pymalloc's allocated blocks (tracked objects are a subset of them). */
static uint64_t census_get_objects_predict_ns(void)
{
    uint64_t n = agent.census_objects;
    if (!n && agent.blocks_last > 0)
        n = (uint64_t)agent.blocks_last;
    return n * CENSUS_GET_OBJECTS_NS_PER_OBJ;
}

/* The fallback: count over gc.get_objects() (which omits its own list). */
static int census_count_get_objects(uint64_t *objects)
{
    PyObject *all = PyObject_CallMethod(agent.gc_module, "get_objects", NULL);
    if (!all || !PyList_Check(all)) {
        Py_XDECREF(all);
        PyErr_Clear();
        return -1;
    }
    Py_ssize_t n = PyList_Size(all);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *o = PyList_GetItem(all, i);
        if (o)
            census_table_count(&census_counts, o);
    }
    census_table_flush(&census_counts);
    Py_DECREF(all);
    PyErr_Clear();
    *objects = (uint64_t)n;
    return census_counts.oom ? -1 : 0;
}

/* Compares the walk's samples with sys.getsizeof; when a kind fails, every
 * row is classified again, so those of that kind become approximate now. */
static void census_bytes_check(void)
{
    if (!census_bytes_verify())
        return;
    for (size_t i = 0; i < census_counts.cap; i++) {
        struct census_slot *sl = &census_counts.slots[i];
        if (!sl->type)
            continue;
        census_bytes_classify(sl->type, NULL, &sl->cls);
        if (sl->cls.approx)
            sl->extra = sl->small_extra = sl->small_sized = sl->small_n = 0;
    }
}

/* Rows from the count table, with the names the cache knows; *unnamed
 * counts the rows still to name. GIL held; no Python code runs. */
static int census_collect_rows(size_t *n_out, size_t *unnamed)
{
    if (census_counts.used > census_rows_cap) {
        size_t cap = census_counts.used + 256;
        struct census_entry *r = realloc(census_rows, cap * sizeof(*r));
        if (!r)
            return -1;
        census_rows = r;
        census_rows_cap = cap;
    }
    size_t n = 0;
    *unnamed = 0;
    for (size_t i = 0; i < census_counts.cap; i++) {
        const struct census_slot *sl = &census_counts.slots[i];
        if (!sl->type || !sl->count)
            continue;
        struct census_entry *e = &census_rows[n++];
        e->type = sl->type;
        e->count = sl->count;
        e->delta = 0;
        e->bytes = census_slot_bytes(sl);
        e->bytes_delta = 0;
        e->approx = sl->cls.approx;
        e->held = 0;
        const char *known = census_names_get(e->type);
        if (known) {
            snprintf(e->name, sizeof(e->name), "%s", known);
        } else {
            e->name[0] = 0;
            e->held = 1; /* to name: the walk holds the type until the census ends */
            (*unnamed)++;
        }
    }
    *n_out = n;
    return 0;
}

/* Names the rows the cache did not know, in slices: naming runs Python code
 * (attribute lookups, weak references), and the first census of a process
 * names thousands of types. 0, -1 Python is going away. */
static int census_name_rows(size_t n)
{
    size_t i = 0;
    while (i < n) {
        if (!agent_gil_enter("census naming"))
            return -1;
        for (; i < n && !agent_gil_slice_over(60); i++) {
            struct census_entry *e = &census_rows[i];
            if (!e->held)
                continue;
            census_names_learn(e->type, e->name, sizeof(e->name));
        }
        agent_gil_exit();
    }
    return 0;
}

/* --- ordering and snapshots (no GIL) --- */

static int census_by_name(const void *a, const void *b)
{
    return strcmp(((const struct census_entry *)a)->name, ((const struct census_entry *)b)->name);
}

static int census_by_count(const void *a, const void *b)
{
    const struct census_entry *x = a, *y = b;
    if (x->count != y->count)
        return x->count < y->count ? 1 : -1;
    return strcmp(x->name, y->name);
}

static int census_by_abs_delta(const void *a, const void *b)
{
    const struct census_entry *x = a, *y = b;
    uint64_t ax = x->delta < 0 ? -(uint64_t)x->delta : (uint64_t)x->delta;
    uint64_t ay = y->delta < 0 ? -(uint64_t)y->delta : (uint64_t)y->delta;
    if (ax != ay)
        return ax < ay ? 1 : -1;
    return strcmp(x->name, y->name);
}

/* Sorts by name and folds rows of the same name together. */
static size_t census_merge_names(struct census_entry *rows, size_t n)
{
    if (!n)
        return 0;
    qsort(rows, n, sizeof(*rows), census_by_name);
    size_t w = 0;
    for (size_t i = 1; i < n; i++) {
        if (strcmp(rows[i].name, rows[w].name) == 0) {
            rows[w].count += rows[i].count;
            rows[w].bytes += rows[i].bytes;
            rows[w].approx |= rows[i].approx;
        } else {
            rows[++w] = rows[i];
        }
    }
    return w + 1;
}

static const struct census_kept_row *census_kept_find(const struct census_kept *k,
                                                      const char *name)
{
    size_t lo = 0, hi = k->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(k->rows[mid].name, name);
        if (c == 0)
            return &k->rows[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static void census_kept_free(struct census_kept *k)
{
    for (size_t i = 0; i < k->n; i++)
        free(k->rows[i].name);
    free(k->rows);
    memset(k, 0, sizeof(*k));
}

/* Rows sorted by name, as a kept table; 0 or -1 (no memory). */
static int census_kept_from(struct census_kept *k, const struct census_entry *rows, size_t n,
                            uint64_t objects, uint64_t time_ns, uint8_t method)
{
    memset(k, 0, sizeof(*k));
    k->rows = calloc(n ? n : 1, sizeof(*k->rows));
    if (!k->rows)
        return -1;
    for (size_t i = 0; i < n; i++) {
        k->rows[i].name = strdup(rows[i].name);
        if (!k->rows[i].name) {
            k->n = i;
            census_kept_free(k);
            return -1;
        }
        k->rows[i].count = rows[i].count;
        k->rows[i].bytes = rows[i].bytes;
        k->rows[i].approx = rows[i].approx;
    }
    k->n = n;
    k->objects = objects;
    k->time_ns = time_ns;
    k->method = method;
    return 0;
}

static int census_kept_copy(struct census_kept *dst, const struct census_kept *src)
{
    memset(dst, 0, sizeof(*dst));
    dst->rows = calloc(src->n ? src->n : 1, sizeof(*dst->rows));
    if (!dst->rows)
        return -1;
    for (size_t i = 0; i < src->n; i++) {
        dst->rows[i].name = strdup(src->rows[i].name);
        if (!dst->rows[i].name) {
            dst->n = i;
            census_kept_free(dst);
            return -1;
        }
        dst->rows[i].count = src->rows[i].count;
        dst->rows[i].bytes = src->rows[i].bytes;
        dst->rows[i].approx = src->rows[i].approx;
    }
    dst->n = src->n;
    dst->objects = src->objects;
    dst->time_ns = src->time_ns;
    dst->method = src->method;
    return 0;
}

/* The latest snapshot becomes `next`; the first ever stays the baseline. */
static void census_keep(struct census_kept *next)
{
    if (snap_count == 0) {
        struct census_kept base;
        if (census_kept_copy(&base, next) < 0) {
            census_kept_free(next);
            return;
        }
        snap_baseline = base;
    } else {
        census_kept_free(&snap_previous);
        snap_previous = snap_latest;
    }
    snap_latest = *next;
    snap_count++;
}

static void census_encode(struct proto_buf *out, const struct census_entry *rows, size_t n,
                          size_t total, uint64_t time_ns, uint64_t cost_ns, uint64_t objects,
                          uint8_t method, uint8_t kind)
{
    size_t send = n < CENSUS_MAX_SEND ? n : CENSUS_MAX_SEND;
    proto_append(out, PROTO_CENSUS);
    proto_put_u64(out, TAG_TIME_NS, time_ns ? time_ns : 1);
    proto_put_u64(out, TAG_COST_NS, cost_ns);
    proto_put_u64(out, TAG_OBJECTS, objects);
    proto_put_u64(out, TAG_METHOD, method);
    proto_put_u64(out, TAG_KIND, kind);
    proto_put_u64(out, TAG_SNAPSHOTS, snap_count);
    proto_put_u64(out, TAG_TYPES_TOTAL, total);
    proto_put_u64(out, TAG_TRUNCATED, total > send);
    if (kind == PM_CENSUS_KIND_CENSUS) { /* how the census paused the target */
        proto_put_u64(out, TAG_WALL_NS, census_wall_ns);
        proto_put_u64(out, TAG_MAX_SLICE_NS, census_stats.max_slice_ns);
        proto_put_u64(out, TAG_SLICES, census_stats.slices);
        proto_put_u64(out, TAG_RESTARTS, census_stats.restarts);
        if (census_skip_ns)
            proto_put_u64(out, TAG_CENSUS_SKIP_NS, census_skip_ns);
    }
    if (census_bytes_sent) {
        uint64_t bytes = 0;
        for (size_t i = 0; i < n; i++)
            bytes += rows[i].bytes;
        proto_put_u64(out, TAG_BYTES_TOTAL, bytes);
        if (census_bytes_note()[0])
            proto_put_str(out, TAG_BYTES_NOTE, census_bytes_note());
    }
    for (size_t i = 0; i < send; i++) {
        proto_put_record(out, TAG_TYPE, (const uint64_t[]){rows[i].count, (uint64_t)rows[i].delta},
                         2, rows[i].name);
        /* Right after its TYPE: peers that do not know it skip it. */
        if (census_bytes_sent)
            proto_put_record(out, TAG_TYPE_BYTES,
                             (const uint64_t[]){rows[i].bytes, (uint64_t)rows[i].bytes_delta,
                                                rows[i].approx ? PROTO_TYPE_BYTES_APPROX : 0},
                             3, "");
    }
    proto_end(out);
}

/* Set by the monitor's [census] config: a floor for the interval (0: the
 * default 2 s) and the share of wall time a census may take, in basis
 * points (0: the default 1 %). */
static unsigned census_floor_ms, census_budget_bp;

void agent_census_configure(unsigned interval_ms, unsigned budget_bp)
{
    census_floor_ms = interval_ms;
    census_budget_bp = budget_bp;
}

static void census_schedule(uint64_t cost_ns, uint64_t end_ns)
{
    uint64_t bp = census_budget_bp ? census_budget_bp : AGENT_CENSUS_BUDGET_BP;
    uint64_t interval_ms = cost_ns * 10000u / bp / 1000000u;
    uint64_t floor_ms = census_floor_ms ? census_floor_ms : CENSUS_MIN_INTERVAL_MS;
    if (interval_ms < floor_ms)
        interval_ms = floor_ms;
    agent.census_cost_ns = cost_ns ? cost_ns : 1;
    agent.census_interval_ms = interval_ms;
    census_last_end_ns = end_ns;
    census_next_ns = end_ns + interval_ms * 1000000u;
}

/* Takes a census into census_rows (named, merged, sorted by name), the GIL
 * held in slices of at most [agent] max_pause_ms (agent_census_walk.c); the
 * get_objects fallback is one piece. 0, -1 Python is going away, -2 no
 * memory. */
static int census_take(size_t *n_out, uint64_t *time_ns, uint64_t *cost_ns, uint64_t *objects,
                       uint8_t *method, int forced)
{
    uint64_t t0 = agent_now_ns();
    agent_op_begin();
    int rc = 0;
    size_t n = 0, unnamed = 0;
    *objects = 0;
    *method = PM_CENSUS_GC_LISTS;
    if (!agent_gil_enter("census setup"))
        return -1;
    census_bytes_prepare(); /* once: proves the formulas on probe objects */
    census_bytes_sent = census_bytes_on();
    agent_gil_exit();
    int wr = census_lists_forbidden() ? -2 : census_walk(&census_counts, &census_stats);
    if (wr == -1)
        return -1;
    if (!agent_gil_enter("census rows"))
        return -1;
    /* No list head (a collection still under way after census_walk waited
     * for it, or a layout not proven): ask the collector for the objects. */
    census_skip_ns = 0;
    if (wr < 0) {
        *method = PM_CENSUS_GET_OBJECTS;
        agent_gil_doing("census get_objects");
        uint64_t predict = census_get_objects_predict_ns();
        uint64_t max_ns = (uint64_t)atomic_load(&agent.max_pause_us) * 1000u;
        if (!forced && max_ns && predict > max_ns) {
            census_skip_ns = predict;
            rc = -3; /* left out: an empty census says why */
        } else if (census_table_reset(&census_counts) < 0 ||
                   census_count_get_objects(objects) < 0) {
            rc = -2;
        }
    }
    agent_gil_doing("census rows");
    census_names_purge();
    if (rc == 0 && census_bytes_sent)
        census_bytes_check();
    census_bytes_reset_samples();
    if (rc == 0) {
        census_names_uncount_own(&census_counts);
        if (census_collect_rows(&n, &unnamed) < 0)
            rc = -2;
    }
    PyErr_Clear();
    agent_gil_exit();
    if (rc == 0 && unnamed && census_name_rows(n) < 0)
        return -1;
    if (census_walk_release() < 0)
        return -1;
    uint64_t t1 = agent_now_ns();
    *time_ns = t0;
    *cost_ns = agent.op_held_ns;
    agent.observer_ns += agent.op_held_ns;
    census_stats.max_slice_ns = agent.op_max_hold_ns;
    census_wall_ns = t1 - t0;
    if (rc == 0) { /* what a full collection would cost (agent_gc_predict_full_ns) */
        agent.census_objects = census_stats.objects ? census_stats.objects : *objects;
        agent.census_held_ns = census_stats.held_ns ? census_stats.held_ns : *cost_ns;
    }
    /* The budget is on the target's time, which the held time measures. */
    census_schedule(*cost_ns, t1);
    if (rc < 0)
        return rc;
    /* Objects counted exclude our own weak references: keep the sum honest. */
    uint64_t sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += census_rows[i].count;
    *objects = sum;
    *n_out = census_merge_names(census_rows, n);
    return 0;
}

/* --- entry points --- */

void agent_census_attach(void)
{
    uint64_t now = agent_now_ns();
    census_attached = 1;
    census_next_ns = now + CENSUS_FIRST_DELAY_NS;
    uint64_t budget_ns = census_last_end_ns + agent.census_interval_ms * 1000000u;
    if (agent.census_cost_ns > CENSUS_CHEAP_NS && census_last_end_ns && budget_ns > census_next_ns)
        census_next_ns = budget_ns;
}

uint64_t agent_census_next_ns(void)
{
    if (!census_attached)
        return 0;
    return census_next_ns ? census_next_ns : 1;
}

static int census_run(struct proto_buf *out, int keep, int forced)
{
    size_t n = 0;
    uint64_t time_ns, cost_ns, objects;
    uint8_t method;
    int rc = census_take(&n, &time_ns, &cost_ns, &objects, &method, forced);
    if (rc == -1)
        return -1;
    if (rc < 0) { /* left out, or no memory: an empty census still says why */
        census_encode(out, NULL, 0, 0, time_ns, cost_ns, 0, method, PM_CENSUS_KIND_CENSUS);
        return 0;
    }
    if (keep) {
        struct census_kept k;
        if (census_kept_from(&k, census_rows, n, objects, time_ns, method) == 0)
            census_keep(&k);
    }
    /* census_rows is sorted by name, as the kept tables are. */
    for (size_t i = 0; i < n; i++) {
        const struct census_kept_row *r =
            snap_count ? census_kept_find(&snap_latest, census_rows[i].name) : NULL;
        census_rows[i].delta =
            snap_count ? (int64_t)census_rows[i].count - (int64_t)(r ? r->count : 0) : 0;
        census_rows[i].bytes_delta =
            snap_count ? (int64_t)census_rows[i].bytes - (int64_t)(r ? r->bytes : 0) : 0;
    }
    qsort(census_rows, n, sizeof(*census_rows), census_by_count);
    census_encode(out, census_rows, n, n, time_ns, cost_ns, objects, method,
                  PM_CENSUS_KIND_CENSUS);
    return 0;
}

int agent_census_run(struct proto_buf *out, int forced)
{
    if (!forced && !census_attached)
        return 0;
    return census_run(out, 0, forced);
}

int agent_census_snapshot(struct proto_buf *out)
{
    return census_run(out, 1, 1);
}

int agent_census_diff(struct proto_buf *out, int kind, char *msg, size_t msg_len)
{
    if (snap_count < 2) {
        snprintf(msg, msg_len, "take two snapshots first (%u taken)", (unsigned)snap_count);
        return -ENOENT;
    }
    const struct census_kept *a = &snap_latest;
    const struct census_kept *b =
        kind == PM_CENSUS_KIND_DIFF_BASELINE ? &snap_baseline : &snap_previous;
    /* Union of names, both sides sorted by name. */
    size_t cap = a->n + b->n;
    struct census_entry *rows = calloc(cap ? cap : 1, sizeof(*rows));
    if (!rows) {
        snprintf(msg, msg_len, "agent out of memory");
        return -ENOMEM;
    }
    size_t n = 0, i = 0, j = 0;
    while (i < a->n || j < b->n) {
        int c = i == a->n ? 1 : j == b->n ? -1 : strcmp(a->rows[i].name, b->rows[j].name);
        uint64_t ca = c <= 0 ? a->rows[i].count : 0, cb = c >= 0 ? b->rows[j].count : 0;
        uint64_t ba = c <= 0 ? a->rows[i].bytes : 0, bb = c >= 0 ? b->rows[j].bytes : 0;
        uint8_t approx = (c <= 0 && a->rows[i].approx) || (c >= 0 && b->rows[j].approx);
        const char *name = c <= 0 ? a->rows[i].name : b->rows[j].name;
        if (c <= 0)
            i++;
        if (c >= 0)
            j++;
        if (ca == cb && ba == bb)
            continue;
        struct census_entry *e = &rows[n++];
        snprintf(e->name, sizeof(e->name), "%s", name);
        e->count = ca;
        e->delta = (int64_t)ca - (int64_t)cb;
        e->bytes = ba;
        e->bytes_delta = (int64_t)ba - (int64_t)bb;
        e->approx = approx;
    }
    qsort(rows, n, sizeof(*rows), census_by_abs_delta);
    census_encode(out, rows, n, n, a->time_ns, 0, a->objects, a->method, (uint8_t)kind);
    free(rows);
    snprintf(msg, msg_len, "%zu types changed", n);
    return 0;
}

void agent_census_detach(void)
{
    /* The name cache stays: its weak references keep nothing alive, make the
     * next session's first census cheap, and taking the GIL here would only
     * lengthen the detach. */
    census_attached = 0;
    census_next_ns = 0;
}

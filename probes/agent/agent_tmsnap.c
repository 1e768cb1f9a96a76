/* tracemalloc snapshots kept by the agent: traces reduced to per-line
 * totals in C, top sites, diffs between snapshots, and the growth since a
 * mark (--record --tracemalloc, the leak gate).
 *
 * Analysis does not trace itself: _tracemalloc._get_traces() builds its list
 * with tracing suspended for the calling thread, and the per-line totals are
 * computed here in C with libc memory, so no traced Python allocation is made
 * per trace (tracemalloc's own Snapshot.statistics() allocates several
 * objects per trace, each traced: 3-4 s per million traces on 3.11). A
 * snapshot keeps only file:line -> (bytes, blocks), a few hundred KiB,
 * instead of the traces themselves. The snapshots outlive a monitor only
 * while a lease keeps tracing on (agent_tracemalloc.c decides).
 *
 * Pauses: _get_traces() is one C call that copies every trace into Python
 * objects (220-290 ns per trace measured on 3.8-3.13): it cannot be sliced,
 * and nothing public walks the traces in pieces. So it is treated like a
 * full collection: its pause is predicted (tracemalloc's own memory over
 * the bytes per trace, times the ns per trace, both measured here at every
 * take; defaults before the first) and the command asks first above
 * [agent] confirm_pause_ms (agent_sample.c). Everything after it, the
 * reduction to per-line totals and the freeing of the traces list, runs in
 * slices of max_pause, the GIL let go between them: the list is ours alone,
 * and its tuples are immutable, so nothing the program does meanwhile can
 * change what the reduction reads. */
#include "agent_tmsnap.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent_state.h"
#include "agent_tmmod.h"
#include "agent_util.h"
#include "proto.h"

struct tm_site {
    char *where; /* "file.py:123" */
    int64_t size_bytes, count;
};

struct tm_snap {
    int refs; /* baseline, previous and latest may share one */
    uint64_t time_ns;
    uint64_t traces;
    int64_t traced_bytes, peak_bytes;
    size_t n;
    struct tm_site *sites; /* sorted by where */
};

/* _get_traces() as measured in this process: tracemalloc's own memory per
 * trace (to count traces without taking them) and ns per trace. The
 * defaults lean high: 56 B/trace is below the 60-68 measured with one
 * frame (more frames only make a trace bigger), 400 ns above 290. */
#define TM_DEFAULT_MEM_PER_TRACE 56
#define TM_DEFAULT_NS_PER_TRACE 400
#define TM_SLICE_SHARE_PCT 60
#define TM_CHECK_MASK 1023 /* the clock is read every 1024 traces (~50 us) */
#define TM_FREE_CHUNK 4096
static struct {
    uint64_t mem_per_trace, ns_per_trace;
} tm_cost = {TM_DEFAULT_MEM_PER_TRACE, TM_DEFAULT_NS_PER_TRACE};

/* Snapshots taken by `snapshot` (baseline: the first; previous, latest),
 * and the mark growth is measured from. Agent thread, GIL held. */
static struct {
    struct tm_snap *baseline, *previous, *latest, *mark;
} tm;

static void tm_snap_unref(struct tm_snap *s)
{
    if (!s || --s->refs > 0)
        return;
    for (size_t i = 0; i < s->n; i++)
        free(s->sites[i].where);
    free(s->sites);
    free(s);
}

void agent_tmsnap_drop(void)
{
    tm_snap_unref(tm.baseline);
    tm_snap_unref(tm.previous);
    tm_snap_unref(tm.latest);
    tm_snap_unref(tm.mark);
    tm.baseline = tm.previous = tm.latest = tm.mark = NULL;
}

static int tm_snap_count(void)
{
    if (!tm.latest)
        return 0;
    return 1 + (tm.previous != NULL) + (tm.baseline != tm.latest && tm.baseline != tm.previous);
}

/* ---- snapshots: per-line totals ---- */

struct tm_agg {
    PyObject *file; /* borrowed from the traces list, alive while it is */
    long line;
    int64_t size_bytes, count;
};

static size_t tm_agg_hash(PyObject *file, long line)
{
    uint64_t x = (uint64_t)(uintptr_t)file ^ ((uint64_t)line * 0x9e3779b97f4a7c15ull);
    x ^= x >> 31;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 29;
    return (size_t)x;
}

static int site_where_cmp(const void *pa, const void *pb)
{
    const struct tm_site *a = pa, *b = pb;
    return strcmp(a->where, b->where);
}

/* "file:line", keeping the end of a long path (the file name matters most). */
static char *tm_where(PyObject *file, long line)
{
    char buf[PM_SITE_MAX];
    const char *p = "<unknown>";
    Py_ssize_t len = 9;
    PyObject *b = file && PyUnicode_Check(file) ? PyUnicode_AsUTF8String(file) : NULL;
    char *bp;
    if (b && PyBytes_AsStringAndSize(b, &bp, &len) == 0)
        p = bp;
    PyErr_Clear();
    size_t room = sizeof(buf) - 24;
    if ((size_t)len > room)
        snprintf(buf, sizeof(buf), "...%s:%ld", p + len - (room - 3), line);
    else
        snprintf(buf, sizeof(buf), "%.*s:%ld", (int)len, p, line);
    Py_XDECREF(b);
    return strdup(buf);
}

/* Reduces the traces list (tuples: domain, size, traceback[, total_nframe];
 * traceback[0] the most recent frame (filename, lineno), as 'lineno'
 * statistics group them) to a snapshot, in slices (*gone set when Python
 * went away meanwhile: the GIL is then not held). NULL: out of memory, or
 * gone. */
static struct tm_snap *tm_reduce(PyObject *traces, int *gone)
{
    Py_ssize_t n = PyList_Size(traces);
    size_t cap = 1024;
    while (cap < (size_t)(n > 0 ? n : 1) / 4 && cap < (1u << 22))
        cap <<= 1;
    size_t mask = cap - 1, used = 0;
    struct tm_agg *tab = calloc(cap, sizeof(*tab));
    struct tm_snap *s = calloc(1, sizeof(*s));
    if (!tab || !s)
        goto fail;
    for (Py_ssize_t i = 0; i < n; i++) {
        if ((i & TM_CHECK_MASK) == TM_CHECK_MASK && agent_gil_breathe(gone, TM_SLICE_SHARE_PCT) < 0)
            goto fail;
        PyObject *t = PyList_GetItem(traces, i);
        if (!t || !PyTuple_Check(t) || PyTuple_Size(t) < 3)
            continue;
        PyObject *sz = PyTuple_GetItem(t, 1), *tb = PyTuple_GetItem(t, 2);
        PyObject *fr = tb && PyTuple_Check(tb) && PyTuple_Size(tb) > 0 ? PyTuple_GetItem(tb, 0)
                                                                        : NULL;
        PyObject *file = NULL;
        long line = 0;
        if (fr && PyTuple_Check(fr) && PyTuple_Size(fr) == 2) {
            file = PyTuple_GetItem(fr, 0);
            line = PyLong_AsLong(PyTuple_GetItem(fr, 1));
        }
        long long size = sz ? PyLong_AsLongLong(sz) : 0;
        if (PyErr_Occurred()) {
            PyErr_Clear();
            continue;
        }
        if (used * 2 >= cap) { /* grow and rehash */
            size_t ncap = cap * 2;
            struct tm_agg *nt = calloc(ncap, sizeof(*nt));
            if (!nt)
                goto fail;
            for (size_t k = 0; k < cap; k++) {
                if (!tab[k].count)
                    continue;
                size_t j = tm_agg_hash(tab[k].file, tab[k].line) & (ncap - 1);
                while (nt[j].count)
                    j = (j + 1) & (ncap - 1);
                nt[j] = tab[k];
            }
            free(tab);
            tab = nt;
            cap = ncap;
            mask = cap - 1;
        }
        size_t j = tm_agg_hash(file, line) & mask;
        while (tab[j].count && (tab[j].file != file || tab[j].line != line))
            j = (j + 1) & mask;
        if (!tab[j].count) {
            tab[j].file = file;
            tab[j].line = line;
            used++;
        }
        tab[j].size_bytes += size;
        tab[j].count++;
        s->traces++;
    }
    s->sites = calloc(used ? used : 1, sizeof(*s->sites));
    if (!s->sites)
        goto fail;
    for (size_t k = 0; k < cap; k++) {
        if (!tab[k].count)
            continue;
        if ((s->n & 255) == 255 && agent_gil_breathe(gone, TM_SLICE_SHARE_PCT) < 0)
            goto fail;
        char *w = tm_where(tab[k].file, tab[k].line);
        if (!w)
            goto fail;
        s->sites[s->n++] = (struct tm_site){w, tab[k].size_bytes, tab[k].count};
    }
    free(tab);
    tab = NULL;
    /* Distinct filename objects can spell the same file: merge equal sites. */
    qsort(s->sites, s->n, sizeof(*s->sites), site_where_cmp);
    size_t w = 0;
    for (size_t k = 0; k < s->n; k++) {
        if (w && strcmp(s->sites[w - 1].where, s->sites[k].where) == 0) {
            s->sites[w - 1].size_bytes += s->sites[k].size_bytes;
            s->sites[w - 1].count += s->sites[k].count;
            free(s->sites[k].where);
        } else {
            s->sites[w++] = s->sites[k];
        }
    }
    s->n = w;
    s->refs = 1;
    return s;
fail:
    free(tab);
    if (s) {
        s->refs = 1;
        tm_snap_unref(s);
    }
    if (!*gone)
        PyErr_Clear();
    return NULL;
}

/* Drops the traces list from its end, a chunk a slice: freeing a million
 * trace tuples takes 40-75 ms. 0, or -1 when Python went away (the list is
 * then left alone). */
static int tm_free_traces(PyObject *traces, int *gone)
{
    Py_ssize_t n;
    while ((n = PyList_Size(traces)) > TM_FREE_CHUNK) {
        if (PyList_SetSlice(traces, n - TM_FREE_CHUNK, n, NULL) < 0)
            break;
        if (agent_gil_breathe(gone, TM_SLICE_SHARE_PCT) < 0)
            return -1;
    }
    Py_DECREF(traces);
    PyErr_Clear();
    return 0;
}

static int64_t tm_own_memory(PyObject *mod)
{
    PyObject *r = PyObject_CallMethod(mod, "get_tracemalloc_memory", NULL);
    long long v = r ? PyLong_AsLongLong(r) : -1;
    Py_XDECREF(r);
    PyErr_Clear();
    return v;
}

uint64_t agent_tmsnap_predict_ns(uint64_t *traces)
{
    *traces = 0;
    PyObject *mod = agent_tracemalloc_module(0);
    if (!agent_tracemalloc_tracing(mod))
        return 0;
    int64_t mem = tm_own_memory(mod);
    if (mem <= 0)
        return 0;
    *traces = (uint64_t)mem / tm_cost.mem_per_trace;
    return *traces * tm_cost.ns_per_trace;
}

/* A site of a SITES frame, sorted by the key the frame is about. */
struct tm_row {
    const char *where;
    int64_t size_bytes, count, size_diff, count_diff;
};

static int64_t abs64(int64_t v)
{
    return v < 0 ? -v : v;
}

static int row_size_cmp(const void *pa, const void *pb)
{
    const struct tm_row *a = pa, *b = pb;
    if (a->size_bytes != b->size_bytes)
        return a->size_bytes > b->size_bytes ? -1 : 1;
    return strcmp(a->where, b->where);
}

static int row_diff_cmp(const void *pa, const void *pb)
{
    const struct tm_row *a = pa, *b = pb;
    if (abs64(a->size_diff) != abs64(b->size_diff))
        return abs64(a->size_diff) > abs64(b->size_diff) ? -1 : 1;
    if (abs64(a->count_diff) != abs64(b->count_diff))
        return abs64(a->count_diff) > abs64(b->count_diff) ? -1 : 1;
    return strcmp(a->where, b->where);
}

static void tm_put_frame(struct proto_buf *out, int kind, const struct tm_snap *s,
                         struct tm_row *rows, size_t n, uint64_t t0)
{
    uint64_t now = agent_now_ns();
    proto_append(out, PROTO_SITES);
    proto_put_u64(out, TAG_TIME_NS, now);
    proto_put_u64(out, TAG_COST_NS, now - t0);
    proto_put_u64(out, TAG_KIND, (uint64_t)kind);
    proto_put_i64(out, TAG_TRACED_BYTES, s->traced_bytes);
    proto_put_i64(out, TAG_TRACED_PEAK, s->peak_bytes);
    for (size_t i = 0; i < n && i < PM_MAX_SITES; i++) {
        uint64_t nums[4] = {(uint64_t)rows[i].size_bytes, (uint64_t)rows[i].count,
                            (uint64_t)rows[i].size_diff, (uint64_t)rows[i].count_diff};
        proto_put_record(out, TAG_SITE, nums, 4, rows[i].where);
    }
    proto_end(out);
}

/* Reduces the current traces into a new snapshot (refs 1). NULL with msg
 * set when tracing is off (*off set) or on failure, or without msg when
 * Python went away between slices (*gone set: the GIL is not held). */
static struct tm_snap *tm_take(const char *what, int *off, int *gone, char *msg, size_t msg_len)
{
    PyObject *mod = agent_tracemalloc_module(0);
    *off = 0;
    if (!agent_tracemalloc_tracing(mod)) {
        *off = 1;
        snprintf(msg, msg_len, "%s: census only (tracemalloc off)", what);
        return NULL;
    }
    int64_t cur, peak;
    agent_tracemalloc_memory(mod, &cur, &peak);
    int64_t own = tm_own_memory(mod);
    uint64_t t0 = agent_now_ns();
    PyObject *traces = PyObject_CallMethod(mod, "_get_traces", NULL);
    uint64_t took_ns = agent_now_ns() - t0;
    if (!traces || !PyList_Check(traces)) {
        Py_XDECREF(traces);
        PyErr_Clear();
        snprintf(msg, msg_len, "%s: tracemalloc._get_traces() failed (out of memory?)", what);
        return NULL;
    }
    Py_ssize_t n = PyList_Size(traces);
    if (n > 0) { /* what the next prediction goes by */
        if (own > 0)
            tm_cost.mem_per_trace = (uint64_t)own / (uint64_t)n ? (uint64_t)own / (uint64_t)n : 1;
        tm_cost.ns_per_trace = took_ns / (uint64_t)n ? took_ns / (uint64_t)n : 1;
    }
    struct tm_snap *s = tm_reduce(traces, gone);
    if (*gone || tm_free_traces(traces, gone) < 0) {
        tm_snap_unref(s);
        return NULL;
    }
    if (!s) {
        snprintf(msg, msg_len, "%s: out of memory reducing the traces", what);
        return NULL;
    }
    s->time_ns = agent_now_ns();
    s->traced_bytes = cur;
    s->peak_bytes = peak;
    return s;
}

int agent_tracemalloc_snapshot(struct proto_buf *out, char *msg, size_t msg_len)
{
    uint64_t t0 = agent_now_ns();
    int off, gone = 0;
    struct tm_snap *s = tm_take("snapshot", &off, &gone, msg, msg_len);
    if (gone)
        return -ESHUTDOWN;
    if (!s)
        return off ? 0 : -EIO;
    if (!tm.baseline) {
        tm.baseline = s;
        s->refs++;
    }
    tm_snap_unref(tm.previous);
    tm.previous = tm.latest;
    tm.latest = s;

    struct tm_row *rows = calloc(s->n ? s->n : 1, sizeof(*rows));
    if (!rows) {
        snprintf(msg, msg_len, "snapshot: out of memory");
        return -ENOMEM;
    }
    for (size_t i = 0; i < s->n; i++)
        rows[i] = (struct tm_row){s->sites[i].where, s->sites[i].size_bytes, s->sites[i].count,
                                  0, 0};
    qsort(rows, s->n, sizeof(*rows), row_size_cmp);
    tm_put_frame(out, PM_SITES_TOP, s, rows, s->n, t0);
    free(rows);
    snprintf(msg, msg_len, "snapshot: %llu traces at %zu sites, %.1f MiB traced, %llu ms",
             (unsigned long long)s->traces, s->n, (double)s->traced_bytes / 1048576.0,
             (unsigned long long)((agent_now_ns() - t0) / 1000000u));
    return 0;
}

/* cur - old per site, changed sites only, biggest change first; appends a
 * SITES frame of `kind`. Returns the number of sites changed (or -ENOMEM);
 * *total_bytes the summed change, rows[0]'s site into top. */
static long tm_put_diff(struct proto_buf *out, int kind, const struct tm_snap *cur,
                        const struct tm_snap *old, uint64_t t0, int64_t *total_bytes, char *top,
                        size_t top_len)
{
    struct tm_row *rows = calloc(cur->n + old->n + 1, sizeof(*rows));
    if (!rows)
        return -ENOMEM;
    size_t i = 0, j = 0, n = 0;
    int64_t total = 0;
    while (i < cur->n || j < old->n) {
        int c = i == cur->n ? 1 : j == old->n ? -1 : strcmp(cur->sites[i].where, old->sites[j].where);
        struct tm_row r = {0};
        if (c <= 0) {
            r.where = cur->sites[i].where;
            r.size_bytes = cur->sites[i].size_bytes;
            r.count = cur->sites[i].count;
            r.size_diff = r.size_bytes;
            r.count_diff = r.count;
            i++;
        } else {
            r.where = old->sites[j].where;
        }
        if (c >= 0) { /* in the old snapshot (and maybe gone from the new one) */
            r.size_diff -= old->sites[j].size_bytes;
            r.count_diff -= old->sites[j].count;
            j++;
        }
        total += r.size_diff;
        if (r.size_diff || r.count_diff)
            rows[n++] = r;
    }
    qsort(rows, n, sizeof(*rows), row_diff_cmp);
    tm_put_frame(out, kind, cur, rows, n, t0);
    *total_bytes = total;
    snprintf(top, top_len, "%s", n ? rows[0].where : "");
    free(rows);
    return (long)n;
}

int agent_tracemalloc_diff(struct proto_buf *out, int kind, char *msg, size_t msg_len)
{
    uint64_t t0 = agent_now_ns();
    const char *against = kind == PM_SITES_DIFF_BASELINE ? "baseline" : "previous";
    struct tm_snap *old = kind == PM_SITES_DIFF_BASELINE ? tm.baseline : tm.previous;
    struct tm_snap *cur = tm.latest;
    if (!cur || !old || old == cur) {
        if (!agent_tracemalloc_tracing(agent_tracemalloc_module(0)) && !tm.latest) {
            snprintf(msg, msg_len, "diff: census only (tracemalloc off)");
            return 0;
        }
        snprintf(msg, msg_len,
                 "tracemalloc diff needs two snapshots taken while tracing (have %d): "
                 "take another snapshot",
                 tm_snap_count());
        return -ENOENT;
    }
    int64_t total;
    char top[PM_SITE_MAX];
    long n = tm_put_diff(out, kind, cur, old, t0, &total, top, sizeof(top));
    if (n < 0) {
        snprintf(msg, msg_len, "diff: out of memory");
        return -ENOMEM;
    }
    snprintf(msg, msg_len, "tracemalloc diff against %s: %+.1f KiB traced, %ld sites changed%s%.150s",
             against, (double)total / 1024.0, n, n ? ", most at " : "", top);
    return 0;
}

int agent_tmsnap_growth(struct proto_buf *out, int report, char *msg, size_t msg_len)
{
    uint64_t t0 = agent_now_ns();
    int off;
    if (report && !tm.mark) {
        snprintf(msg, msg_len, "tracemalloc growth: no mark taken while tracing");
        return -ENOENT;
    }
    int gone = 0;
    struct tm_snap *s = tm_take("tracemalloc growth", &off, &gone, msg, msg_len);
    if (gone)
        return -ESHUTDOWN;
    if (!s)
        return off ? -ENOENT : -EIO;
    if (!report) {
        tm_snap_unref(tm.mark);
        tm.mark = s;
        snprintf(msg, msg_len, "tracemalloc growth measured from now (%zu sites)", s->n);
        return 0;
    }
    int64_t total;
    char top[PM_SITE_MAX];
    long n = tm_put_diff(out, PM_SITES_GROWTH, s, tm.mark, t0, &total, top, sizeof(top));
    tm_snap_unref(s);
    if (n < 0) {
        snprintf(msg, msg_len, "tracemalloc growth: out of memory");
        return -ENOMEM;
    }
    snprintf(msg, msg_len, "tracemalloc growth: %+.1f KiB traced, %ld sites changed%s%.150s",
             (double)total / 1024.0, n, n ? ", most at " : "", top);
    return 0;
}

void agent_tmsnap_forget_mark(void)
{
    tm_snap_unref(tm.mark);
    tm.mark = NULL;
}

/* Prometheus text format 0.0.4 and OpenMetrics 1.0.0 from plain data. The
 * family table below is the one list of names: the writer walks it in
 * order, so every family gets its HELP and TYPE lines exactly once. */
#include "metrics.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const uint64_t metrics_pause_bounds_ns[METRICS_PAUSE_BOUNDS] = {
    10000ull,      25000ull,      50000ull,      100000ull,     250000ull,
    500000ull,     1000000ull,    2500000ull,    5000000ull,    10000000ull,
    25000000ull,   50000000ull,   100000000ull,  250000000ull,  500000000ull,
    1000000000ull, 2500000000ull, 5000000000ull, 10000000000ull,
};
/* Written as prometheus_client writes them (Go's float formatting), so the
 * series match a Python exporter's le values. */
static const char *const pause_le[METRICS_PAUSE_BOUNDS] = {
    "1e-05", "2.5e-05", "5e-05", "0.0001", "0.00025", "0.0005", "0.001",
    "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5",
    "1.0", "2.5", "5.0", "10.0",
};

void metrics_pauses_add(struct metrics_pauses *h, uint64_t pause_ns)
{
    size_t i = 0;
    while (i < METRICS_PAUSE_BOUNDS && pause_ns > metrics_pause_bounds_ns[i])
        i++;
    h->bucket[i]++;
    h->count++;
    h->sum_ns += pause_ns;
}

enum {
    F_RSS, F_VSZ, F_SWAP, F_CPU, F_START, F_INFO,
    F_GC_COLLECTED, F_GC_UNCOLLECTABLE, F_GC_COLLECTIONS, F_GC_PAUSE, F_GC_GARBAGE,
    F_PYM_USED, F_PYM_FREE, F_PYM_ARENAS, F_MALLOC,
    F_OBJECTS, F_OBJECT_BYTES, F_CENSUS_OBJECTS, F_CENSUS_TYPES, F_SUSPECT, F_CENSUS_COST,
    F_TARGET_COST, F_DROPPED, F_AGE, F_UP,
    F_TARGETS, F_ATTACH_FAIL, F_SCRAPES, F_SCRAPE_DUR, F_SELF_RSS, F_SELF_CPU,
    F_COUNT
};

const struct metrics_family metrics_families[F_COUNT] = {
    [F_RSS] = {"process_resident_memory_bytes", METRICS_GAUGE, "bytes",
               "Resident memory size in bytes."},
    [F_VSZ] = {"process_virtual_memory_bytes", METRICS_GAUGE, "bytes",
               "Virtual memory size in bytes."},
    [F_SWAP] = {"process_swap_memory_bytes", METRICS_GAUGE, "bytes",
                "Memory of the process swapped out, in bytes."},
    [F_CPU] = {"process_cpu_seconds_total", METRICS_COUNTER, "seconds",
               "Total user and system CPU time spent in seconds."},
    [F_START] = {"process_start_time_seconds", METRICS_GAUGE, "seconds",
                 "Start time of the process since unix epoch in seconds."},
    [F_INFO] = {"python_info", METRICS_GAUGE, "", "Python platform information."},
    [F_GC_COLLECTED] = {"python_gc_objects_collected_total", METRICS_COUNTER, "",
                        "Objects collected during gc, since the process started."},
    [F_GC_UNCOLLECTABLE] = {"python_gc_objects_uncollectable_total", METRICS_COUNTER, "",
                            "Uncollectable objects found during GC, since the process started."},
    [F_GC_COLLECTIONS] = {"python_gc_collections_total", METRICS_COUNTER, "",
                          "Number of times this generation was collected, since the process "
                          "started."},
    [F_GC_PAUSE] = {"python_gc_pause_seconds", METRICS_HISTOGRAM, "seconds",
                    "How long each collection paused the program, since pymemtop attached."},
    [F_GC_GARBAGE] = {"python_gc_garbage_objects", METRICS_GAUGE, "",
                      "Objects in gc.garbage (uncollectable, kept by the interpreter)."},
    [F_PYM_USED] = {"python_pymalloc_used_bytes", METRICS_GAUGE, "bytes",
                    "Bytes in blocks pymalloc has handed out."},
    [F_PYM_FREE] = {"python_pymalloc_free_bytes", METRICS_GAUGE, "bytes",
                    "Bytes free in pymalloc's pools and arenas (fragmentation)."},
    [F_PYM_ARENAS] = {"python_pymalloc_arenas", METRICS_GAUGE, "",
                      "pymalloc arenas allocated now (256 KiB or 1 MiB each)."},
    [F_MALLOC] = {"python_malloc_used_bytes", METRICS_GAUGE, "bytes",
                  "Bytes in use in the C allocator (glibc mallinfo2 uordblks plus hblkhd)."},
    [F_OBJECTS] = {"python_objects", METRICS_GAUGE, "",
                   "GC-tracked objects per type in the latest census (the largest types only)."},
    [F_OBJECT_BYTES] = {"python_object_bytes", METRICS_GAUGE, "bytes",
                        "Shallow bytes of those types' instances (sys.getsizeof summed)."},
    [F_CENSUS_OBJECTS] = {"python_census_objects", METRICS_GAUGE, "",
                          "GC-tracked objects counted by the latest census, all types."},
    [F_CENSUS_TYPES] = {"python_census_types", METRICS_GAUGE, "",
                        "Distinct types in the latest census."},
    [F_SUSPECT] = {"python_leak_suspect", METRICS_GAUGE, "",
                   "1 for a type that grew in each of the last censuses (a leak suspect)."},
    [F_CENSUS_COST] = {"python_census_cost_seconds", METRICS_GAUGE, "seconds",
                       "How long the latest census held the GIL in all."},
    [F_TARGET_COST] = {"pymemtop_target_cost_seconds_total", METRICS_COUNTER, "seconds",
                       "Time pymemtop's agent held the target's GIL, since this attach."},
    [F_DROPPED] = {"pymemtop_gc_pause_events_dropped_total", METRICS_COUNTER, "",
                   "Collections not in python_gc_pause_seconds (the agent's ring was full)."},
    [F_AGE] = {"pymemtop_sample_age_seconds", METRICS_GAUGE, "seconds",
               "Age of the latest sample of the target when this page was served."},
    [F_UP] = {"pymemtop_target_up", METRICS_GAUGE, "",
              "1 when the target is attached and sampled; 0 with the reason when not."},
    [F_TARGETS] = {"pymemtop_targets", METRICS_GAUGE, "", "Targets followed, by state."},
    [F_ATTACH_FAIL] = {"pymemtop_attach_failures_total", METRICS_COUNTER, "",
                       "Attaches that failed since the exporter started."},
    [F_SCRAPES] = {"pymemtop_scrapes_total", METRICS_COUNTER, "",
                   "Scrapes of /metrics served before this one."},
    [F_SCRAPE_DUR] = {"pymemtop_scrape_duration_seconds", METRICS_GAUGE, "seconds",
                      "How long the previous scrape of /metrics took to render."},
    [F_SELF_RSS] = {"pymemtop_resident_memory_bytes", METRICS_GAUGE, "bytes",
                    "Resident memory of the exporter itself."},
    [F_SELF_CPU] = {"pymemtop_cpu_seconds_total", METRICS_COUNTER, "seconds",
                    "CPU time of the exporter itself."},
};
const size_t metrics_n_families = F_COUNT;

void metrics_buf_free(struct metrics_buf *b)
{
    free(b->data);
    memset(b, 0, sizeof(*b));
}

static void buf_reserve(struct metrics_buf *b, size_t more)
{
    if (b->failed || b->len + more + 1 <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + more + 1)
        cap *= 2;
    char *d = realloc(b->data, cap);
    if (!d) {
        b->failed = 1;
        return;
    }
    b->data = d;
    b->cap = cap;
}

static void buf_put(struct metrics_buf *b, const char *s, size_t n)
{
    buf_reserve(b, n);
    if (b->failed)
        return;
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = 0;
}

static void buf_printf(struct metrics_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void buf_printf(struct metrics_buf *b, const char *fmt, ...)
{
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof(small)) {
        buf_put(b, small, (size_t)n);
        return;
    }
    buf_reserve(b, (size_t)n);
    if (b->failed)
        return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

/* Length of the valid UTF-8 sequence at s (1 to 4), or 0 if invalid. */
static size_t utf8_len(const unsigned char *s)
{
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    size_t n = c >= 0xc2 && c <= 0xdf ? 2 : (c & 0xf0) == 0xe0 ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
    if (!n)
        return 0;
    for (size_t i = 1; i < n; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    /* Overlong forms, surrogates and code points above U+10FFFF. */
    if ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] > 0x9f) || (c == 0xf0 && s[1] < 0x90) ||
        (c == 0xf4 && s[1] > 0x8f))
        return 0;
    return n;
}

void metrics_escape_label(struct metrics_buf *b, const char *v)
{
    const unsigned char *s = (const unsigned char *)v;
    while (*s) {
        if (*s == '\\')
            buf_put(b, "\\\\", 2);
        else if (*s == '"')
            buf_put(b, "\\\"", 2);
        else if (*s == '\n')
            buf_put(b, "\\n", 2);
        else {
            size_t n = utf8_len(s);
            if (n) {
                buf_put(b, (const char *)s, n);
                s += n;
                continue;
            }
            buf_put(b, "\xef\xbf\xbd", 3);
        }
        s++;
    }
}

struct writer {
    struct metrics_buf *b;
    enum metrics_format fmt;
};

/* HELP, TYPE (and UNIT in OpenMetrics) of family f. OpenMetrics names a
 * counter family without its _total, which only its samples carry. */
static void family_head(struct writer *w, int f)
{
    const struct metrics_family *m = &metrics_families[f];
    size_t len = strlen(m->name);
    if (w->fmt == METRICS_OPENMETRICS && m->type == METRICS_COUNTER)
        len -= strlen("_total");
    static const char *const types[] = {"gauge", "counter", "histogram"};
    buf_printf(w->b, "# HELP %.*s %s\n# TYPE %.*s %s\n", (int)len, m->name, m->help, (int)len,
               m->name, types[m->type]);
    if (w->fmt == METRICS_OPENMETRICS && m->unit[0])
        buf_printf(w->b, "# UNIT %.*s %s\n", (int)len, m->name, m->unit);
}

/* name{pid="N"[,key="value"]} — the caller appends the value. */
static void sample_start(struct writer *w, const char *name, const char *suffix, int pid,
                         const char *key, const char *value)
{
    buf_printf(w->b, "%s%s%s", name, suffix, pid > 0 || key ? "{" : " ");
    if (pid > 0)
        buf_printf(w->b, "pid=\"%d\"", pid);
    if (key) {
        buf_printf(w->b, "%s%s=\"", pid > 0 ? "," : "", key);
        metrics_escape_label(w->b, value);
        buf_put(w->b, "\"", 1);
    }
    if (pid > 0 || key)
        buf_put(w->b, "} ", 2);
}

static void put_u(struct writer *w, int f, int pid, const char *key, const char *value, uint64_t v)
{
    sample_start(w, metrics_families[f].name, "", pid, key, value);
    buf_printf(w->b, "%llu\n", (unsigned long long)v);
}

/* The shortest form that reads back as the same double (as Go and Python
 * print them): 0.06, not 0.059999999999999998. */
static void put_double(struct metrics_buf *b, double v)
{
    char s[40];
    for (int prec = 6; prec <= 17; prec++) {
        snprintf(s, sizeof(s), "%.*g", prec, v);
        if (strtod(s, NULL) == v)
            break;
    }
    buf_printf(b, "%s\n", s);
}

static void put_d(struct writer *w, int f, int pid, const char *key, const char *value, double v)
{
    sample_start(w, metrics_families[f].name, "", pid, key, value);
    put_double(w->b, v);
}

static const char *const gen_label[PM_GENERATIONS] = {"0", "1", "2"};

/* One of the three per-generation counters of gc.get_stats(); -1 unknown. */
static void put_gens(struct writer *w, int f, const struct metrics_target *t, const int64_t *v)
{
    for (int g = 0; g < PM_GENERATIONS; g++)
        if (v[g] >= 0)
            put_u(w, f, t->pid, "generation", gen_label[g], (uint64_t)v[g]);
}

static void put_info(struct writer *w, const struct metrics_target *t)
{
    unsigned major = 0, minor = 0;
    char patch[16] = "0";
    sscanf(t->python, "%u.%u.%15[^ ]", &major, &minor, patch);
    buf_printf(w->b, "python_info{pid=\"%d\",implementation=\"CPython\",major=\"%u\","
                     "minor=\"%u\",patchlevel=\"",
               t->pid, major, minor);
    metrics_escape_label(w->b, patch);
    buf_put(w->b, "\",version=\"", 11);
    metrics_escape_label(w->b, t->python);
    buf_put(w->b, "\"} 1\n", 5);
}

static void put_histogram(struct writer *w, const struct metrics_target *t)
{
    const char *name = metrics_families[F_GC_PAUSE].name;
    for (int g = 0; g < PM_GENERATIONS; g++) {
        const struct metrics_pauses *h = &t->pauses[g];
        uint64_t cum = 0;
        for (int i = 0; i <= METRICS_PAUSE_BOUNDS; i++) {
            cum += h->bucket[i];
            buf_printf(w->b, "%s_bucket{pid=\"%d\",generation=\"%d\",le=\"%s\"} %llu\n", name,
                       t->pid, g, i < METRICS_PAUSE_BOUNDS ? pause_le[i] : "+Inf",
                       (unsigned long long)cum);
        }
        buf_printf(w->b, "%s_sum{pid=\"%d\",generation=\"%d\"} ", name, t->pid, g);
        put_double(w->b, (double)h->sum_ns / 1e9);
        buf_printf(w->b, "%s_count{pid=\"%d\",generation=\"%d\"} %llu\n", name, t->pid, g,
                   (unsigned long long)h->count);
    }
}

static void put_nonneg(struct writer *w, int f, int pid, int64_t v)
{
    if (v >= 0)
        put_u(w, f, pid, NULL, NULL, (uint64_t)v);
}

/* The samples of family f for target t (nothing when t lacks the data). */
static void target_samples(struct writer *w, int f, const struct metrics_target *t)
{
    const struct pm_agent_sample *a = t->have_agent ? t->agent : NULL;
    if (f == F_UP) {
        sample_start(w, metrics_families[f].name, "", t->pid, t->up || !t->reason[0] ? NULL : "reason",
                     t->reason);
        buf_printf(w->b, "%d\n", t->up ? 1 : 0);
        return;
    }
    if (!t->up)
        return;
    switch (f) {
    case F_RSS: if (t->have_proc) put_u(w, f, t->pid, NULL, NULL, t->rss_bytes); break;
    case F_VSZ: if (t->have_proc) put_u(w, f, t->pid, NULL, NULL, t->vsz_bytes); break;
    case F_SWAP: if (t->have_proc) put_u(w, f, t->pid, NULL, NULL, t->swap_bytes); break;
    case F_CPU: if (t->have_proc) put_d(w, f, t->pid, NULL, NULL, t->cpu_seconds); break;
    case F_START: if (t->have_proc) put_d(w, f, t->pid, NULL, NULL, t->start_time_s); break;
    case F_INFO: if (t->python && t->python[0]) put_info(w, t); break;
    case F_GC_COLLECTED: if (a) put_gens(w, f, t, a->collected); break;
    case F_GC_UNCOLLECTABLE: if (a) put_gens(w, f, t, a->uncollectable); break;
    case F_GC_COLLECTIONS: if (a) put_gens(w, f, t, a->collections); break;
    case F_GC_PAUSE: if (a && t->pauses) put_histogram(w, t); break;
    case F_GC_GARBAGE: if (a) put_nonneg(w, f, t->pid, a->garbage_len); break;
    case F_PYM_USED: if (a) put_nonneg(w, f, t->pid, a->alloc.pymalloc_used_bytes); break;
    case F_PYM_FREE: if (a) put_nonneg(w, f, t->pid, a->alloc.pymalloc_free_bytes); break;
    case F_PYM_ARENAS: if (a) put_nonneg(w, f, t->pid, a->alloc.arenas); break;
    case F_MALLOC: if (a) put_nonneg(w, f, t->pid, a->alloc.malloc_used_bytes); break;
    case F_OBJECTS:
        for (size_t i = 0; i < t->n_types; i++)
            put_u(w, f, t->pid, "type", t->types[i].name, t->types[i].count);
        break;
    case F_OBJECT_BYTES:
        for (size_t i = 0; i < t->n_types; i++)
            if (t->types[i].bytes_known)
                put_u(w, f, t->pid, "type", t->types[i].name, t->types[i].bytes);
        break;
    case F_CENSUS_OBJECTS: if (t->have_census) put_u(w, f, t->pid, NULL, NULL, t->census_objects); break;
    case F_CENSUS_TYPES: if (t->have_census) put_u(w, f, t->pid, NULL, NULL, t->census_types); break;
    case F_SUSPECT:
        for (size_t i = 0; i < t->n_suspects; i++)
            put_u(w, f, t->pid, "type", t->suspects[i], 1);
        break;
    case F_CENSUS_COST:
        if (t->have_census)
            put_d(w, f, t->pid, NULL, NULL, (double)t->census_cost_ns / 1e9);
        break;
    case F_TARGET_COST: if (a) put_d(w, f, t->pid, NULL, NULL, (double)a->observer_ns / 1e9); break;
    case F_DROPPED: if (a) put_u(w, f, t->pid, NULL, NULL, a->pauses_dropped); break;
    case F_AGE: if (a) put_d(w, f, t->pid, NULL, NULL, t->sample_age_s); break;
    default: break;
    }
}

static void self_samples(struct writer *w, int f, const struct metrics_self *s)
{
    switch (f) {
    case F_TARGETS:
        put_u(w, f, 0, "state", "up", s->targets_up);
        put_u(w, f, 0, "state", "down", s->targets_down);
        break;
    case F_ATTACH_FAIL: put_u(w, f, 0, NULL, NULL, s->attach_failures); break;
    case F_SCRAPES: put_u(w, f, 0, NULL, NULL, s->scrapes); break;
    case F_SCRAPE_DUR: put_d(w, f, 0, NULL, NULL, s->last_scrape_s); break;
    case F_SELF_RSS: put_u(w, f, 0, NULL, NULL, s->rss_bytes); break;
    case F_SELF_CPU: put_d(w, f, 0, NULL, NULL, s->cpu_seconds); break;
    default: break;
    }
}

int metrics_write(struct metrics_buf *b, const struct metrics_target *t, size_t n,
                  const struct metrics_self *self, enum metrics_format fmt)
{
    struct writer w = {b, fmt};
    for (int f = 0; f < F_COUNT; f++) {
        family_head(&w, f);
        if (f >= F_TARGETS)
            self_samples(&w, f, self);
        else
            for (size_t i = 0; i < n; i++)
                target_samples(&w, f, &t[i]);
    }
    if (fmt == METRICS_OPENMETRICS)
        buf_put(b, "# EOF\n", 6);
    return b->failed ? -1 : 0;
}

const char *metrics_content_type(enum metrics_format fmt)
{
    return fmt == METRICS_OPENMETRICS ? "application/openmetrics-text; version=1.0.0; charset=utf-8"
                                      : "text/plain; version=0.0.4; charset=utf-8";
}

enum metrics_format metrics_negotiate(const char *accept)
{
    /* Each comma-separated media range; "q=0" means "not this one". */
    const char *p = accept;
    while (p && *p) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        while (len && (*p == ' ' || *p == '\t'))
            p++, len--;
        static const char om[] = "application/openmetrics-text";
        if (len >= sizeof(om) - 1 && !strncasecmp(p, om, sizeof(om) - 1)) {
            const char *q = p;
            bool refused = false;
            while ((q = memchr(q, ';', len - (size_t)(q - p)))) {
                q++;
                while (*q == ' ')
                    q++;
                if (!strncasecmp(q, "q=", 2) && strtod(q + 2, NULL) <= 0)
                    refused = true;
            }
            if (!refused)
                return METRICS_OPENMETRICS;
        }
        p = end ? end + 1 : NULL;
    }
    return METRICS_TEXT;
}

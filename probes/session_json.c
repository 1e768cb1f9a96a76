/* JSON rendering of a session. Key names are an interface: keep them stable. */
#include "session_json.h"

#include <stdlib.h>
#include <time.h>

#include "json.h"

static const char *session_state_name(enum session_state st)
{
    switch (st) {
    case SESSION_LIVE:
        return "live";
    case SESSION_TARGET_EXITED:
        return "target_exited";
    case SESSION_AGENT_LOST:
        return "agent_lost";
    case SESSION_DETACHED:
        return "detached";
    case SESSION_REPLAY:
        return "replay";
    }
    return "unknown";
}

static void json_gens(struct json *j, const char *key, const int64_t v[PM_GENERATIONS])
{
    json_array_begin(j, key);
    for (int i = 0; i < PM_GENERATIONS; i++)
        json_int(j, NULL, v[i]);
    json_array_end(j);
}

/* An array of three known values, or null (the interpreter has no such
 * number: older than 3.15 for gc.get_stats()'s duration and candidates). */
static void json_gens_known(struct json *j, const char *key, const int64_t v[PM_GENERATIONS])
{
    for (int i = 0; i < PM_GENERATIONS; i++)
        if (v[i] < 0) {
            json_null(j, key);
            return;
        }
    json_gens(j, key, v);
}

static void session_json_proc(struct json *j, const struct session *s)
{
    const struct pm_proc_sample *p = &s->proc;
    json_object_begin(j, "proc");
    json_uint(j, "rss_kib", p->rss_kib);
    json_uint(j, "anon_kib", p->anon_kib);
    json_uint(j, "file_kib", p->file_kib);
    json_uint(j, "swap_kib", p->swap_kib);
    json_uint(j, "vsz_kib", p->vsz_kib);
    json_uint(j, "minflt", p->minflt);
    json_uint(j, "majflt", p->majflt);
    if (p->cpu_pct >= 0)
        json_double(j, "cpu_pct", p->cpu_pct);
    else
        json_null(j, "cpu_pct");
    json_uint(j, "threads", p->threads);
    json_double(j, "uptime_s",
                p->start_time_ns && p->time_ns > p->start_time_ns
                    ? (double)(p->time_ns - p->start_time_ns) / 1e9
                    : 0);
    json_object_end(j);
}

static void session_json_gc(struct json *j, const struct session *s, uint64_t now)
{
    const struct pm_agent_sample *a = &s->agent;
    json_object_begin(j, "gc");
    json_bool(j, "enabled", a->gc_enabled);
    json_gens(j, "thresholds", a->thresholds);
    json_gens(j, "counts", a->counts);
    json_gens(j, "collections", a->collections);
    json_gens(j, "collected", a->collected);
    json_gens(j, "uncollectable", a->uncollectable);
    json_gens_known(j, "time_since_start_ns", a->gc_duration_ns);
    json_gens_known(j, "candidates", a->gc_candidates);
    json_object_begin(j, "pauses");
    json_uint(j, "count", a->pause_count);
    json_uint(j, "total_ns", a->pause_total_ns);
    json_uint(j, "max_ns", a->pause_max_ns);
    json_uint(j, "p50_ns", session_pause_quantile(s, 0.50));
    json_uint(j, "p99_ns", session_pause_quantile(s, 0.99));
    json_uint(j, "last_ns", session_pause_last(s));
    json_double(j, "wall_share", session_gc_share(s, now));
    json_uint(j, "dropped", a->pauses_dropped);
    json_object_end(j);
    json_object_end(j);
}

void session_json_types(struct json *j, const struct session *s, size_t cap)
{
    struct typetable_row *rows = cap ? calloc(cap, sizeof(*rows)) : NULL;
    size_t n = rows ? typetable_rows(s->types, TYPETABLE_BY_COUNT, NULL, rows, cap) : 0;
    json_array_begin(j, "types");
    for (size_t i = 0; i < n; i++) {
        json_object_begin(j, NULL);
        json_string(j, "name", rows[i].name);
        json_uint(j, "count", rows[i].count);
        json_int(j, "delta_attach", rows[i].delta_attach);
        json_int(j, "delta_snapshot", rows[i].delta_snapshot);
        json_double(j, "rate_per_min", rows[i].rate_per_min);
        json_bool(j, "suspect", rows[i].suspect);
        json_object_end(j);
    }
    json_array_end(j);
    free(rows);
    json_uint(j, "types_total", s->census.types_total > typetable_size(s->types)
                                    ? s->census.types_total
                                    : typetable_size(s->types));
}

static void session_json_census(struct json *j, const struct session *s)
{
    json_object_begin(j, "census");
    json_uint(j, "censuses", s->censuses);
    json_uint(j, "objects", s->census.objects);
    json_uint(j, "cost_ns", s->census.cost_ns);
    json_string(j, "method", s->census.method == PM_CENSUS_GC_LISTS ? "gc_lists" : "get_objects");
    json_uint(j, "interval_ms", s->agent.census_interval_ms);
    json_uint(j, "snapshots", s->census.snapshots);
    /* Sliced (agent_census_walk.c): cost_ns is the GIL held in all, wall_ns
     * the census from first slice to last, max_slice_ns its longest hold. */
    json_uint(j, "wall_ns", s->census.wall_ns);
    json_uint(j, "max_slice_ns", s->census.max_slice_ns);
    json_uint(j, "slices", s->census.slices);
    json_uint(j, "restarts", s->census.restarts);
    /* How much of the heap the table explains: tracked objects against all
     * allocated blocks (str, bytes, numbers and buffers are not tracked). */
    if (s->agent.alloc_blocks > 0 && s->census.objects)
        json_double(j, "tracked_share_of_blocks",
                    (double)s->census.objects / (double)s->agent.alloc_blocks);
    else
        json_null(j, "tracked_share_of_blocks");
    json_object_end(j);
}

static void json_domains(struct json *j, const char *key, const uint64_t v[PM_DOMAINS])
{
    json_array_begin(j, key);
    for (int i = 0; i < PM_DOMAINS; i++)
        json_uint(j, NULL, v[i]);
    json_array_end(j);
}

static void session_json_alloc(struct json *j, const struct session *s)
{
    const struct pm_alloc *a = &s->agent.alloc;
    json_object_begin(j, "alloc");
    json_int(j, "blocks", s->agent.alloc_blocks);
    json_int(j, "arenas", a->arenas);
    json_int(j, "arenas_highwater", a->arenas_highwater);
    json_int(j, "pymalloc_used_bytes", a->pymalloc_used_bytes);
    json_int(j, "pymalloc_free_bytes", a->pymalloc_free_bytes);
    if (a->pymalloc_used_bytes >= 0 && a->pymalloc_free_bytes >= 0 &&
        a->pymalloc_used_bytes + a->pymalloc_free_bytes > 0)
        json_double(j, "fragmentation", (double)a->pymalloc_free_bytes /
                                            (double)(a->pymalloc_used_bytes +
                                                     a->pymalloc_free_bytes));
    else
        json_null(j, "fragmentation");
    json_int(j, "malloc_used_bytes", a->malloc_used_bytes);
    json_int(j, "malloc_free_bytes", a->malloc_free_bytes);
    json_int(j, "mmap_bytes", a->mmap_bytes);
    json_uint(j, "pymalloc_cost_ns", a->pymalloc_cost_ns);
    json_uint(j, "blocks_cost_ns", a->blocks_cost_ns);
    json_object_begin(j, "hook");
    json_bool(j, "on", a->hook_on);
    json_domains(j, "calls", a->hook_calls);
    json_domains(j, "bytes", a->hook_bytes);
    json_uint(j, "cost_ns", a->hook_cost_ns);
    json_object_end(j);
    json_object_end(j);
}

void session_json_hunt_fields(struct json *j, const struct pm_hunt *h)
{
    json_uint(j, "time_ns", h->time_ns);
    json_uint(j, "objects", h->objects);
    json_uint(j, "cycles", h->cycles);
    json_bool(j, "truncated", h->truncated);
    json_uint(j, "cost_ns", h->cost_ns);
    json_array_begin(j, "shapes");
    for (uint32_t i = 0; i < h->n_shapes; i++) {
        json_object_begin(j, NULL);
        json_string(j, "path", h->shapes[i].path);
        json_uint(j, "count", h->shapes[i].count);
        json_uint(j, "bytes", h->shapes[i].bytes);
        json_uint(j, "length", h->shapes[i].length);
        json_string(j, "advice", h->shapes[i].advice);
        json_object_end(j);
    }
    json_array_end(j);
}

void session_json_why_fields(struct json *j, const struct pm_why *w)
{
    json_string(j, "type", w->type);
    json_uint(j, "sampled", w->sampled);
    json_uint(j, "visited", w->visited);
    json_uint(j, "budget_ms", w->budget_ms);
    json_bool(j, "complete", w->complete);
    json_array_begin(j, "chains");
    for (uint32_t i = 0; i < w->n_chains && i < PM_WHY_MAX_CHAINS; i++) {
        const struct pm_why_chain *c = &w->chains[i];
        json_object_begin(j, NULL);
        json_array_begin(j, "path");
        for (uint32_t e = 0; e < c->n_edges && e < PM_WHY_MAX_EDGES; e++)
            json_string(j, NULL, c->edges[e]);
        json_array_end(j);
        json_uint(j, "count", c->count);
        json_object_end(j);
    }
    json_array_end(j);
}

void session_json_why(struct json *j, const struct pm_why *w)
{
    session_json_why_fields(j, w);
    json_uint(j, "pause_ns", w->pause_ns);
    json_string(j, "message", w->message);
}

static void session_json_cycles(struct json *j, const struct session *s, uint64_t now)
{
    json_object_begin(j, "cycles");
    json_array_begin(j, "collected_per_s");
    for (int g = 0; g < PM_GENERATIONS; g++)
        json_double(j, NULL, session_collected_per_s(s, g, now, 10000000000ull));
    json_array_end(j);
    json_int(j, "garbage_len", s->agent.garbage_len);
    int64_t uncollectable = 0;
    for (int g = 0; g < PM_GENERATIONS; g++)
        uncollectable += s->agent.uncollectable[g] > 0 ? s->agent.uncollectable[g] : 0;
    json_int(j, "uncollectable_total", uncollectable);
    if (s->have_hunt) {
        json_object_begin(j, "last_hunt");
        session_json_hunt_fields(j, &s->hunt);
        json_object_end(j);
    } else {
        json_null(j, "last_hunt");
    }
    json_object_end(j);
}

void session_json_sites(struct json *j, const char *key, const struct pm_sites *sites)
{
    json_array_begin(j, key);
    for (uint32_t i = 0; i < sites->n; i++) {
        const struct pm_site *st = &sites->sites[i];
        json_object_begin(j, NULL);
        json_string(j, "where", st->where);
        json_int(j, "size_bytes", st->size_bytes);
        json_int(j, "count", st->count);
        if (sites->kind != PM_SITES_TOP) {
            json_int(j, "size_diff", st->size_diff);
            json_int(j, "count_diff", st->count_diff);
        }
        json_object_end(j);
    }
    json_array_end(j);
}

void session_json_diff_types(struct json *j, const struct pm_census *diff, size_t cap)
{
    json_array_begin(j, "types");
    for (uint32_t i = 0; i < diff->n_types && i < cap; i++) {
        json_object_begin(j, NULL);
        json_string(j, "name", diff->types[i].name);
        json_uint(j, "count", diff->types[i].count);
        json_int(j, "delta", diff->types[i].delta);
        json_object_end(j);
    }
    json_array_end(j);
}

static void session_json_tracemalloc(struct json *j, const struct session *s)
{
    json_object_begin(j, "tracemalloc");
    json_bool(j, "on", s->agent.tracemalloc_on);
    json_int(j, "traced_bytes", s->agent.traced_bytes);
    json_int(j, "peak_bytes", s->agent.traced_peak_bytes);
    if (s->have_sites_top)
        session_json_sites(j, "top", &s->sites_top);
    if (s->have_sites_diff) {
        json_string(j, "diff_against",
                    s->sites_diff.kind == PM_SITES_DIFF_BASELINE ? "baseline" : "previous");
        session_json_sites(j, "diff", &s->sites_diff);
    }
    json_object_end(j);
}

void session_json_write(const struct session *s, FILE *f, size_t types_cap)
{
    struct json j;
    struct timespec rt;
    clock_gettime(CLOCK_REALTIME, &rt);
    uint64_t now = session_now_ns();
    json_init(&j, f);
    json_object_begin(&j, NULL);
    json_int(&j, "pid", s->target.pid);
    json_string(&j, "python", s->hello.python);
    json_uint(&j, "time_ns", (uint64_t)rt.tv_sec * 1000000000u + (uint64_t)rt.tv_nsec);
    json_string(&j, "command", s->target.cmdline);
    json_object_begin(&j, "agent");
    json_string(&j, "state", session_state_name(s->state));
    json_bool(&j, "injected", s->injected);
    json_uint(&j, "clients_served", s->hello.clients_served);
    json_uint(&j, "interval_ms", s->interval_ms);
    json_uint(&j, "samples", s->agent_samples);
    json_uint(&j, "observer_ns", s->agent.observer_ns);
    json_uint(&j, "max_pause_1min_ns", session_max_hold_ns(s, now, 60000000000ull));
    json_uint(&j, "attach_ns", s->attached_ns - s->attach_begin_ns);
    json_uint(&j, "target_stop_ns", s->attach.stop_ns);
    json_string(&j, "attach_via", !s->injected            ? "reused"
                                  : s->attach.native_tid ? "native_thread"
                                  : s->attach.any_thread ? "pending_call_any_thread"
                                                         : "pending_call");
    json_uint(&j, "native_stop_ns", s->attach.native_stop_ns);
    /* Which raw-memory paths this build got (lib/pylayout.c), and why not. */
    json_string(&j, "layout", s->hello.layout);
    json_object_begin(&j, "raw_paths");
    json_bool(&j, "debug_offsets", (s->hello.raw_paths & PM_RAW_DEBUG_OFFSETS) != 0);
    json_bool(&j, "gc_lists", (s->hello.raw_paths & PM_RAW_GC_LISTS) != 0);
    json_bool(&j, "frame_locals", (s->hello.raw_paths & PM_RAW_FRAME_LOCALS) != 0);
    json_object_end(&j);
    json_string(&j, "layout_note", s->hello.layout_note);
    /* What the agent took from the target: sampling and commands, plus the
     * budgeted probes' latest costs. */
    json_uint(&j, "sample_cost_ns", s->agent.sample_cost_ns);
    json_object_end(&j);
    session_json_proc(&j, s);
    session_json_gc(&j, s, now);
    session_json_alloc(&j, s);
    session_json_census(&j, s);
    session_json_types(&j, s, types_cap);
    session_json_cycles(&j, s, now);
    session_json_tracemalloc(&j, s);
    json_object_end(&j);
    fputc('\n', f);
}

void session_json_error(FILE *f, int pid, const char *status, const char *message)
{
    struct json j;
    json_init(&j, f);
    json_object_begin(&j, NULL);
    json_int(&j, "pid", pid);
    json_string(&j, "error", status);
    json_string(&j, "message", message);
    json_object_end(&j);
    fputc('\n', f);
}

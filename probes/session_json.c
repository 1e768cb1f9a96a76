/* JSON rendering of a session. Key names are an interface: keep them stable. */
#include "session_json.h"

#include <math.h>
#include <stdlib.h>
#include <time.h>

#include "derive.h"
#include "json.h"
#include "json_keys.h"

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
    json_object_begin(j, JK_PROC);
    json_uint(j, JK_RSS_KIB, p->rss_kib);
    json_uint(j, JK_ANON_KIB, p->anon_kib);
    json_uint(j, JK_FILE_KIB, p->file_kib);
    json_uint(j, JK_SWAP_KIB, p->swap_kib);
    json_uint(j, JK_VSZ_KIB, p->vsz_kib);
    json_uint(j, JK_MINFLT, p->minflt);
    json_uint(j, JK_MAJFLT, p->majflt);
    if (p->cpu_pct >= 0)
        json_double(j, JK_CPU_PCT, p->cpu_pct);
    else
        json_null(j, JK_CPU_PCT);
    json_uint(j, JK_THREADS, p->threads);
    json_double(j, JK_UPTIME_S,
                p->start_time_ns && p->time_ns > p->start_time_ns
                    ? (double)(p->time_ns - p->start_time_ns) / 1e9
                    : 0);
    json_object_end(j);
}

static void session_json_gc(struct json *j, const struct session *s, uint64_t now)
{
    const struct pm_agent_sample *a = &s->agent;
    json_object_begin(j, JK_GC);
    json_bool(j, JK_ENABLED, a->gc_enabled);
    json_gens(j, JK_THRESHOLDS, a->thresholds);
    json_gens(j, JK_COUNTS, a->counts);
    json_gens(j, JK_COLLECTIONS, a->collections);
    json_gens(j, JK_COLLECTED, a->collected);
    json_gens(j, JK_UNCOLLECTABLE, a->uncollectable);
    json_gens_known(j, JK_TIME_SINCE_START_NS, a->gc_duration_ns);
    json_gens_known(j, JK_CANDIDATES, a->gc_candidates);
    json_object_begin(j, JK_PAUSES);
    json_uint(j, JK_COUNT, a->pause_count);
    json_uint(j, JK_TOTAL_NS, a->pause_total_ns);
    json_uint(j, JK_MAX_NS, a->pause_max_ns);
    json_uint(j, JK_P50_NS, session_pause_quantile(s, 0.50));
    json_uint(j, JK_P99_NS, session_pause_quantile(s, 0.99));
    json_uint(j, JK_LAST_NS, session_pause_last(s));
    json_double(j, JK_WALL_SHARE, session_gc_share(s, now));
    json_uint(j, JK_DROPPED, a->pauses_dropped);
    json_object_end(j);
    json_object_end(j);
}

void session_json_types(struct json *j, const struct session *s, size_t cap)
{
    struct typetable_row *rows = cap ? calloc(cap, sizeof(*rows)) : NULL;
    size_t n = rows ? typetable_rows(s->types, TYPETABLE_BY_COUNT, NULL, rows, cap) : 0;
    json_array_begin(j, JK_TYPES);
    for (size_t i = 0; i < n; i++) {
        json_object_begin(j, NULL);
        json_string(j, JK_NAME, rows[i].name);
        json_uint(j, JK_COUNT, rows[i].count);
        json_int(j, JK_DELTA_ATTACH, rows[i].delta_attach);
        json_int(j, JK_DELTA_SNAPSHOT, rows[i].delta_snapshot);
        json_double(j, JK_RATE_PER_MIN, rows[i].rate_per_min);
        json_bool(j, JK_SUSPECT, rows[i].suspect);
        if (rows[i].bytes_known) { /* absent: the agent sent no bytes */
            json_uint(j, JK_BYTES, rows[i].bytes);
            json_int(j, JK_BYTES_DELTA_ATTACH, rows[i].bytes_delta_attach);
            json_int(j, JK_BYTES_DELTA_SNAPSHOT, rows[i].bytes_delta_snapshot);
            json_double(j, JK_BYTES_RATE_PER_MIN, rows[i].bytes_rate_per_min);
            json_bool(j, JK_BYTES_APPROX, rows[i].bytes_approx);
        }
        json_object_end(j);
    }
    json_array_end(j);
    free(rows);
    json_uint(j, JK_TYPES_TOTAL, s->census.types_total > typetable_size(s->types)
                                    ? s->census.types_total
                                    : typetable_size(s->types));
}

static void session_json_census(struct json *j, const struct session *s)
{
    json_object_begin(j, JK_CENSUS);
    json_uint(j, JK_CENSUSES, s->censuses);
    /* When it began, on the samples' clock: a replay says how old it is. */
    json_uint(j, JK_TIME_NS, s->census.time_ns);
    json_uint(j, JK_OBJECTS, s->census.objects);
    json_uint(j, JK_COST_NS, s->census.cost_ns);
    json_string(j, JK_METHOD, s->census.method == PM_CENSUS_GC_LISTS ? "gc_lists" : "get_objects");
    json_uint(j, JK_INTERVAL_MS, s->agent.census_interval_ms);
    json_uint(j, JK_SNAPSHOTS, s->census.snapshots);
    /* Sliced (agent_census_walk.c): cost_ns is the GIL held in all, wall_ns
     * the census from first slice to last, max_slice_ns its longest hold. */
    json_uint(j, JK_WALL_NS, s->census.wall_ns);
    json_uint(j, JK_MAX_SLICE_NS, s->census.max_slice_ns);
    json_uint(j, JK_SLICES, s->census.slices);
    json_uint(j, JK_RESTARTS, s->census.restarts);
    json_uint(j, JK_CENSUS_SKIP_NS, s->census_skip_ns);
    /* How much of the heap the table explains: tracked objects against all
     * allocated blocks (str, bytes, numbers and buffers are not tracked). */
    if (s->agent.alloc_blocks > 0 && s->census.objects)
        json_double(j, JK_TRACKED_SHARE_OF_BLOCKS,
                    (double)s->census.objects / (double)s->agent.alloc_blocks);
    else
        json_null(j, JK_TRACKED_SHARE_OF_BLOCKS);
    /* The same question in bytes: census bytes over the allocators' used. */
    uint64_t bytes;
    double share = typetable_bytes_total(s->types, &bytes)
                       ? derive_bytes_share(bytes, &s->agent.alloc)
                       : -1;
    if (typetable_bytes_total(s->types, &bytes))
        json_uint(j, JK_BYTES_TOTAL, bytes);
    else
        json_null(j, JK_BYTES_TOTAL);
    if (share >= 0)
        json_double(j, JK_BYTES_SHARE_OF_ALLOCATED, share);
    else
        json_null(j, JK_BYTES_SHARE_OF_ALLOCATED);
    json_string(j, JK_BYTES_NOTE, s->census.bytes_note);
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
    json_object_begin(j, JK_ALLOC);
    json_int(j, JK_BLOCKS, s->agent.alloc_blocks);
    json_int(j, JK_ARENAS, a->arenas);
    json_int(j, JK_ARENAS_HIGHWATER, a->arenas_highwater);
    json_int(j, JK_PYMALLOC_USED_BYTES, a->pymalloc_used_bytes);
    json_int(j, JK_PYMALLOC_FREE_BYTES, a->pymalloc_free_bytes);
    double frag = derive_fragmentation(a);
    if (frag >= 0)
        json_double(j, JK_FRAGMENTATION, frag);
    else
        json_null(j, JK_FRAGMENTATION);
    json_int(j, JK_MALLOC_USED_BYTES, a->malloc_used_bytes);
    json_int(j, JK_MALLOC_FREE_BYTES, a->malloc_free_bytes);
    json_int(j, JK_MMAP_BYTES, a->mmap_bytes);
    json_uint(j, JK_PYMALLOC_COST_NS, a->pymalloc_cost_ns);
    json_uint(j, JK_PYMALLOC_SKIP_NS, a->pymalloc_skip_ns);
    /* How old the pymalloc figures are (both times on the agent's clock). */
    json_int(j, JK_PYMALLOC_AGE_NS,
             a->pymalloc_time_ns && s->agent.time_ns >= a->pymalloc_time_ns
                 ? (int64_t)(s->agent.time_ns - a->pymalloc_time_ns) : -1);
    json_uint(j, JK_BLOCKS_COST_NS, a->blocks_cost_ns);
    json_uint(j, JK_BLOCKS_SKIP_NS, a->blocks_skip_ns);
    json_object_begin(j, JK_HOOK);
    json_bool(j, JK_ON, a->hook_on);
    json_domains(j, JK_CALLS, a->hook_calls);
    json_domains(j, JK_BYTES, a->hook_bytes);
    json_uint(j, JK_COST_NS, a->hook_cost_ns);
    json_object_end(j);
    json_object_end(j);
}

void session_json_hunt_fields(struct json *j, const struct pm_hunt *h)
{
    json_uint(j, JK_TIME_NS, h->time_ns);
    json_uint(j, JK_OBJECTS, h->objects);
    json_uint(j, JK_CYCLES, h->cycles);
    json_bool(j, JK_TRUNCATED, h->truncated);
    json_uint(j, JK_COST_NS, h->cost_ns);
    json_array_begin(j, JK_SHAPES);
    for (uint32_t i = 0; i < h->n_shapes; i++) {
        json_object_begin(j, NULL);
        json_string(j, JK_PATH, h->shapes[i].path);
        json_uint(j, JK_COUNT, h->shapes[i].count);
        json_uint(j, JK_BYTES, h->shapes[i].bytes);
        json_uint(j, JK_LENGTH, h->shapes[i].length);
        json_string(j, JK_ADVICE, h->shapes[i].advice);
        json_object_end(j);
    }
    json_array_end(j);
}

void session_json_why_fields(struct json *j, const struct pm_why *w)
{
    json_string(j, JK_TYPE, w->type);
    json_uint(j, JK_SAMPLED, w->sampled);
    json_uint(j, JK_VISITED, w->visited);
    json_uint(j, JK_BUDGET_MS, w->budget_ms);
    json_bool(j, JK_COMPLETE, w->complete);
    json_array_begin(j, JK_CHAINS);
    for (uint32_t i = 0; i < w->n_chains && i < PM_WHY_MAX_CHAINS; i++) {
        const struct pm_why_chain *c = &w->chains[i];
        json_object_begin(j, NULL);
        json_array_begin(j, JK_PATH);
        for (uint32_t e = 0; e < c->n_edges && e < PM_WHY_MAX_EDGES; e++)
            json_string(j, NULL, c->edges[e]);
        json_array_end(j);
        json_uint(j, JK_COUNT, c->count);
        json_object_end(j);
    }
    json_array_end(j);
}

void session_json_why(struct json *j, const struct pm_why *w)
{
    session_json_why_fields(j, w);
    json_uint(j, JK_PAUSE_NS, w->pause_ns);
    json_string(j, JK_MESSAGE, w->message);
}

/* Growth over the last minute, null until two points. */
static void session_json_growth(struct json *j, const struct session *s)
{
    const struct {
        const char *key;
        const struct series *kib;
    } slopes[] = {{JK_RSS_KIB_PER_MIN, &s->rss_kib}, {JK_PYMALLOC_KIB_PER_MIN, &s->pymalloc_kib}};
    json_object_begin(j, JK_GROWTH);
    for (size_t i = 0; i < sizeof(slopes) / sizeof(slopes[0]); i++) {
        double v = derive_growth_kib_per_min(slopes[i].kib);
        if (isnan(v))
            json_null(j, slopes[i].key);
        else
            json_double(j, slopes[i].key, v);
    }
    json_object_end(j);
}

static void session_json_cycles(struct json *j, const struct session *s)
{
    json_object_begin(j, JK_CYCLES);
    json_array_begin(j, JK_COLLECTED_PER_S);
    for (int g = 0; g < PM_GENERATIONS; g++)
        json_double(j, NULL, derive_freed_per_s(&s->collected[g]));
    json_array_end(j);
    json_int(j, JK_GARBAGE_LEN, s->agent.garbage_len);
    json_int(j, JK_UNCOLLECTABLE_TOTAL, derive_uncollectable_total(&s->agent));
    if (s->have_hunt) {
        json_object_begin(j, JK_LAST_HUNT);
        session_json_hunt_fields(j, &s->hunt);
        json_object_end(j);
    } else {
        json_null(j, JK_LAST_HUNT);
    }
    session_json_capture(j, s);
    json_object_end(j);
}

void session_json_sites(struct json *j, const char *key, const struct pm_sites *sites)
{
    json_array_begin(j, key);
    for (uint32_t i = 0; i < sites->n; i++) {
        const struct pm_site *st = &sites->sites[i];
        json_object_begin(j, NULL);
        json_string(j, JK_WHERE, st->where);
        json_int(j, JK_SIZE_BYTES, st->size_bytes);
        json_int(j, JK_COUNT, st->count);
        if (sites->kind != PM_SITES_TOP) {
            json_int(j, JK_SIZE_DIFF, st->size_diff);
            json_int(j, JK_COUNT_DIFF, st->count_diff);
        }
        json_object_end(j);
    }
    json_array_end(j);
}

void session_json_diff_types(struct json *j, const struct pm_census *diff, size_t cap)
{
    json_array_begin(j, JK_TYPES);
    for (uint32_t i = 0; i < diff->n_types && i < cap; i++) {
        json_object_begin(j, NULL);
        json_string(j, JK_NAME, diff->types[i].name);
        json_uint(j, JK_COUNT, diff->types[i].count);
        json_int(j, JK_DELTA, diff->types[i].delta);
        if (diff->has_bytes) {
            json_uint(j, JK_BYTES, diff->types[i].bytes);
            json_int(j, JK_BYTES_DELTA, diff->types[i].bytes_delta);
        }
        json_object_end(j);
    }
    json_array_end(j);
}

static void session_json_tracemalloc(struct json *j, const struct session *s)
{
    json_object_begin(j, JK_TRACEMALLOC);
    json_bool(j, JK_ON, s->agent.tracemalloc_on);
    json_int(j, JK_TRACED_BYTES, s->agent.traced_bytes);
    json_int(j, JK_PEAK_BYTES, s->agent.traced_peak_bytes);
    json_string(j, JK_STARTED_BY, pm_tm_owner_name(s->agent.tm_owner));
    json_double(j, JK_LEASE_LEFT_S, (double)s->agent.tm_lease_left_ms / 1000.0);
    if (s->have_sites_top)
        session_json_sites(j, JK_TOP, &s->sites_top);
    if (s->have_sites_diff) {
        json_string(j, JK_DIFF_AGAINST,
                    s->sites_diff.kind == PM_SITES_DIFF_BASELINE ? "baseline" : "previous");
        session_json_sites(j, JK_DIFF, &s->sites_diff);
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
    json_int(&j, JK_PID, s->target.pid);
    json_string(&j, JK_PYTHON, s->hello.python);
    json_uint(&j, JK_TIME_NS, (uint64_t)rt.tv_sec * 1000000000u + (uint64_t)rt.tv_nsec);
    json_string(&j, JK_COMMAND, s->target.cmdline);
    json_object_begin(&j, JK_AGENT);
    json_string(&j, JK_STATE, session_state_name(s->state));
    json_bool(&j, JK_INJECTED, s->injected);
    json_uint(&j, JK_CLIENTS_SERVED, s->hello.clients_served);
    /* Monitors the agent serves now, this one included (null: an older agent). */
    if (session_monitors(s))
        json_uint(&j, JK_MONITORS, session_monitors(s));
    else
        json_null(&j, JK_MONITORS);
    json_uint(&j, JK_INTERVAL_MS, s->interval_ms);
    json_uint(&j, JK_SAMPLES, s->agent_samples);
    json_uint(&j, JK_OBSERVER_NS, s->agent.observer_ns);
    /* The longest stall we caused lately, and what it was: the work, our
     * thread's CPU time in it (much less: preempted holding the GIL), and
     * the collections inside it (due anyway; 0 cpu: a command's reply). */
    struct pm_hold hold = holdlog_max(&s->holds, now, 60000000000ull);
    json_uint(&j, JK_MAX_PAUSE_1MIN_NS, hold.ns);
    json_string(&j, JK_MAX_PAUSE_1MIN_WHAT, hold.what);
    if (hold.cpu_ns) {
        json_uint(&j, JK_MAX_PAUSE_1MIN_CPU_NS, hold.cpu_ns);
        json_uint(&j, JK_MAX_PAUSE_1MIN_GC_NS, hold.gc_ns);
    } else {
        json_null(&j, JK_MAX_PAUSE_1MIN_CPU_NS);
        json_null(&j, JK_MAX_PAUSE_1MIN_GC_NS);
    }
    json_uint(&j, JK_ATTACH_NS, s->attached_ns - s->attach_begin_ns);
    json_uint(&j, JK_TARGET_STOP_NS, s->attach.stop_ns);
    json_string(&j, JK_ATTACH_VIA, !s->injected            ? "reused"
                                  : s->attach.native_tid ? "native_thread"
                                  : s->attach.any_thread ? "pending_call_any_thread"
                                                         : "pending_call");
    json_uint(&j, JK_NATIVE_STOP_NS, s->attach.native_stop_ns);
    /* The pending call cut short (lib/attach.h): on a lock it would never
     * get, or at the watchdog; the bootstrap was queued all the same. */
    json_string(&j, JK_ATTACH_CALL_CUT, !s->attach.call_abandoned  ? ""
                                        : s->attach.call_stuck_futex ? "lock"
                                                                     : "watchdog");
    /* Which raw-memory paths this build got (lib/pylayout.c), and why not. */
    json_string(&j, JK_LAYOUT, s->hello.layout);
    json_object_begin(&j, JK_RAW_PATHS);
    json_bool(&j, JK_DEBUG_OFFSETS, (s->hello.raw_paths & PM_RAW_DEBUG_OFFSETS) != 0);
    json_bool(&j, JK_GC_LISTS, (s->hello.raw_paths & PM_RAW_GC_LISTS) != 0);
    json_bool(&j, JK_FRAME_LOCALS, (s->hello.raw_paths & PM_RAW_FRAME_LOCALS) != 0);
    json_object_end(&j);
    json_string(&j, JK_LAYOUT_NOTE, s->hello.layout_note);
    /* What the agent took from the target: sampling and commands, plus the
     * budgeted probes' latest costs. */
    json_uint(&j, JK_SAMPLE_COST_NS, s->agent.sample_cost_ns);
    /* The sample's own time (CLOCK_MONOTONIC, the pause events' clock): what
     * replay derives rates over, as the live session does. */
    json_uint(&j, JK_SAMPLE_TIME_NS, s->agent.time_ns);
    json_object_end(&j);
    session_json_proc(&j, s);
    session_json_gc(&j, s, now);
    session_json_alloc(&j, s);
    session_json_census(&j, s);
    session_json_types(&j, s, types_cap);
    session_json_cycles(&j, s);
    session_json_growth(&j, s);
    session_json_tracemalloc(&j, s);
    json_object_end(&j);
    fputc('\n', f);
}

void session_json_error(FILE *f, int pid, const char *status, const char *message)
{
    struct json j;
    json_init(&j, f);
    json_object_begin(&j, NULL);
    json_int(&j, JK_PID, pid);
    json_string(&j, JK_ERROR, status);
    json_string(&j, JK_MESSAGE, message);
    json_object_end(&j);
    fputc('\n', f);
}

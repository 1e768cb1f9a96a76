/* JSON rendering of a session. Key names are an interface: keep them stable. */
#include "session_json.h"

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
    json_object_begin(j, "pauses");
    json_uint(j, "count", a->pause_count);
    json_uint(j, "total_ns", a->pause_total_ns);
    json_uint(j, "max_ns", a->pause_max_ns);
    json_uint(j, "p50_ns", histogram_quantile(&s->pauses, 0.50));
    json_uint(j, "p99_ns", histogram_quantile(&s->pauses, 0.99));
    const struct pm_gc_pause *last = s->pause_len ? session_pause_at(s, s->pause_len - 1) : NULL;
    json_uint(j, "last_ns", last ? last->pause_ns : 0);
    json_double(j, "wall_share", session_gc_share(s, now));
    json_uint(j, "dropped", a->pauses_dropped);
    json_object_end(j);
    json_object_end(j);
}

void session_json_write(const struct session *s, FILE *f)
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
    json_uint(&j, "attach_ns", s->attached_ns - s->attach_begin_ns);
    json_uint(&j, "target_stop_ns", s->attach.stop_ns);
    json_object_end(&j);
    session_json_proc(&j, s);
    session_json_gc(&j, s, now);
    json_object_begin(&j, "alloc");
    json_int(&j, "blocks", s->agent.alloc_blocks);
    json_object_end(&j);
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

/* What the agent reads from the interpreter, and the commands it runs. Each
 * entry point takes the GIL once, for as short a time as it can. */
#include "agent_sample.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "agent_alloc.h"
#include "agent_capture.h"
#include "agent_census.h"
#include "agent_clients.h"
#include "agent_cycles.h"
#include "agent_gc.h"
#include "agent_state.h"
#include "agent_tmsnap.h"
#include "agent_tracemalloc.h"
#include "agent_why.h"
#include "commands.h"
#include "proto.h"

/* The share of wall time sys.getallocatedblocks() may take: from 3.9 on it
 * walks every arena (2-3 ms at 2 GB), so its interval stretches with its cost. */
#define AGENT_BLOCKS_BUDGET_DIVISOR 1000

static long long agent_call_long(PyObject *mod, const char *fn)
{
    PyObject *r = PyObject_CallMethod(mod, fn, NULL);
    long long v = r ? PyLong_AsLongLong(r) : -1;
    Py_XDECREF(r);
    if (PyErr_Occurred()) {
        PyErr_Clear();
        v = -1;
    }
    return v;
}

/* A 3-tuple of ints from gc.get_threshold() / gc.get_count(). */
static void agent_call_triple(const char *fn, int64_t out[PM_GENERATIONS])
{
    PyObject *r = PyObject_CallMethod(agent.gc_module, fn, NULL);
    for (int i = 0; i < PM_GENERATIONS; i++) {
        PyObject *v = r && PyTuple_Check(r) ? PyTuple_GetItem(r, i) : NULL;
        out[i] = v ? PyLong_AsLongLong(v) : -1;
    }
    Py_XDECREF(r);
    PyErr_Clear();
}

static int64_t agent_dict_ll(PyObject *d, const char *key)
{
    PyObject *v = PyDict_GetItemString(d, key);
    long long r = v ? PyLong_AsLongLong(v) : -1;
    if (r == -1 && PyErr_Occurred())
        PyErr_Clear();
    return r;
}

/* gc.get_stats()'s "duration" (3.15+): float seconds since process start, as
 * ns; -1 when the key is absent or not a number. */
static int64_t agent_dict_seconds_ns(PyObject *d, const char *key)
{
    PyObject *v = PyDict_GetItemString(d, key);
    if (!v)
        return -1;
    double sec = PyFloat_AsDouble(v);
    if (PyErr_Occurred()) {
        PyErr_Clear();
        return -1;
    }
    if (!(sec >= 0) || sec > 9.2e9) /* NaN, negative, or past int64 ns */
        return -1;
    return (int64_t)(sec * 1e9 + 0.5);
}

static void agent_read_stats(struct pm_agent_sample *s)
{
    PyObject *r = PyObject_CallMethod(agent.gc_module, "get_stats", NULL);
    for (int i = 0; i < PM_GENERATIONS; i++) {
        PyObject *d = r && PyList_Check(r) ? PyList_GetItem(r, i) : NULL;
        if (d && PyDict_Check(d)) {
            s->collections[i] = agent_dict_ll(d, "collections");
            s->collected[i] = agent_dict_ll(d, "collected");
            s->uncollectable[i] = agent_dict_ll(d, "uncollectable");
            /* Newer keys: present or not by interpreter, not by version check. */
            s->gc_duration_ns[i] = agent_dict_seconds_ns(d, "duration");
            s->gc_candidates[i] = agent_dict_ll(d, "candidates");
        } else {
            s->collections[i] = s->collected[i] = s->uncollectable[i] = -1;
            s->gc_duration_ns[i] = s->gc_candidates[i] = -1;
        }
    }
    Py_XDECREF(r);
    PyErr_Clear();
}

static void agent_read_blocks(uint64_t now)
{
    if (now < agent.blocks_next_ns)
        return;
    /* From 3.9 it walks every pool, as the pymalloc walk does: one call that
     * [agent] max_pause_ms bounds the same way (left out, asked again next
     * sample). 3.8 keeps a counter. */
    uint64_t rss = 0, predict;
    if (agent.hexversion >= 0x03090000 &&
        !agent_alloc_pools_walk_fits(agent.blocks_cost_ns, agent.blocks_rss, &rss, &predict)) {
        agent.blocks_skip_ns = predict;
        return;
    }
    uint64_t t0 = agent_now_ns();
    long n = agent_call_long(agent.sys_module, "getallocatedblocks");
    uint64_t cost = agent_now_ns() - t0;
    agent.blocks_cost_ns = cost;
    agent.blocks_next_ns = now + cost * AGENT_BLOCKS_BUDGET_DIVISOR;
    agent.blocks_skip_ns = 0;
    if (n < 0)
        return;
    agent.blocks_last = n;
    agent.blocks_rss = rss;
}

static int gens_known(const int64_t v[PM_GENERATIONS])
{
    for (int i = 0; i < PM_GENERATIONS; i++)
        if (v[i] >= 0)
            return 1;
    return 0;
}

static void agent_encode(struct proto_buf *out, const struct pm_agent_sample *s)
{
    proto_begin(out, PROTO_SAMPLE);
    proto_put_u64(out, TAG_TIME_NS, s->time_ns);
    proto_put_u64(out, TAG_GC_ENABLED, s->gc_enabled);
    proto_put_gens(out, TAG_GC_THRESHOLDS, s->thresholds);
    proto_put_gens(out, TAG_GC_COUNTS, s->counts);
    proto_put_gens(out, TAG_GC_COLLECTIONS, s->collections);
    proto_put_gens(out, TAG_GC_COLLECTED, s->collected);
    proto_put_gens(out, TAG_GC_UNCOLLECTABLE, s->uncollectable);
    /* Only where the interpreter reports them: absent means unknown. */
    if (gens_known(s->gc_duration_ns))
        proto_put_gens(out, TAG_GC_DURATION_NS, s->gc_duration_ns);
    if (gens_known(s->gc_candidates))
        proto_put_gens(out, TAG_GC_CANDIDATES, s->gc_candidates);
    proto_put_i64(out, TAG_ALLOC_BLOCKS, s->alloc_blocks);
    proto_put_u64(out, TAG_PAUSE_COUNT, s->pause_count);
    proto_put_u64(out, TAG_PAUSE_TOTAL_NS, s->pause_total_ns);
    proto_put_u64(out, TAG_PAUSE_MAX_NS, s->pause_max_ns);
    proto_put_u64(out, TAG_OBSERVER_NS, s->observer_ns);
    proto_put_u64(out, TAG_SAMPLE_COST_NS, s->sample_cost_ns);
    proto_put_u64(out, TAG_PAUSES_DROPPED, s->pauses_dropped);
    const struct pm_alloc *a = &s->alloc;
    proto_put_i64(out, TAG_ALLOC_ARENAS, a->arenas);
    proto_put_i64(out, TAG_ALLOC_ARENAS_HW, a->arenas_highwater);
    proto_put_i64(out, TAG_PYMALLOC_USED, a->pymalloc_used_bytes);
    proto_put_i64(out, TAG_PYMALLOC_FREE, a->pymalloc_free_bytes);
    proto_put_u64(out, TAG_PYMALLOC_TIME_NS, a->pymalloc_time_ns);
    proto_put_u64(out, TAG_PYMALLOC_COST_NS, a->pymalloc_cost_ns);
    if (a->pymalloc_skip_ns)
        proto_put_u64(out, TAG_PYMALLOC_SKIP_NS, a->pymalloc_skip_ns);
    proto_put_i64(out, TAG_MALLOC_USED, a->malloc_used_bytes);
    proto_put_i64(out, TAG_MALLOC_FREE, a->malloc_free_bytes);
    proto_put_i64(out, TAG_MMAP_BYTES, a->mmap_bytes);
    proto_put_u64(out, TAG_BLOCKS_COST_NS, a->blocks_cost_ns);
    if (a->blocks_skip_ns)
        proto_put_u64(out, TAG_BLOCKS_SKIP_NS, a->blocks_skip_ns);
    proto_put_u64(out, TAG_HOOK_ON, a->hook_on);
    proto_put_gens(out, TAG_HOOK_CALLS, (const int64_t *)a->hook_calls);
    proto_put_gens(out, TAG_HOOK_BYTES, (const int64_t *)a->hook_bytes);
    proto_put_u64(out, TAG_HOOK_COST_NS, a->hook_cost_ns);
    proto_put_i64(out, TAG_GARBAGE_LEN, s->garbage_len);
    proto_put_u64(out, TAG_TRACEMALLOC_ON, s->tracemalloc_on);
    proto_put_i64(out, TAG_TRACED_BYTES, s->traced_bytes);
    proto_put_i64(out, TAG_TRACED_PEAK, s->traced_peak_bytes);
    proto_put_u64(out, TAG_CENSUS_COST_NS, s->census_cost_ns);
    proto_put_u64(out, TAG_CENSUS_INTERVAL_MS, s->census_interval_ms);
    proto_put_u64(out, TAG_HOLD_MAX_NS, s->hold_max.ns);
    if (s->hold_max.ns) {
        proto_put_u64(out, TAG_HOLD_MAX_CPU_NS, s->hold_max.cpu_ns);
        proto_put_u64(out, TAG_HOLD_MAX_GC_NS, s->hold_max.gc_ns);
        proto_put_str(out, TAG_HOLD_MAX_WHAT, s->hold_max.what);
    }
    agent_tracemalloc_put(out, s);
    proto_put_u64(out, TAG_MONITORS, s->monitors);
    for (uint32_t i = 0; i < s->n_pauses; i++)
        proto_put_pause(out, &s->pauses[i]);
    proto_end(out);
}

int agent_sample_read(struct agent_reading *r, uint64_t from_seq)
{
    struct pm_agent_sample *s = &r->s;
    agent_alloc_read_malloc(agent_now_ns());
    if (!agent_gil_enter("sample"))
        return -1;
    uint64_t t0 = agent_now_ns();
    s->time_ns = t0;
    s->gc_enabled = agent_call_long(agent.gc_module, "isenabled") == 1;
    agent_call_triple("get_threshold", s->thresholds);
    agent_call_triple("get_count", s->counts);
    agent_gil_doing("gc.get_stats");
    agent_read_stats(s);
    agent_gil_doing("allocated blocks");
    agent_read_blocks(t0);
    s->alloc_blocks = agent.blocks_last;
    memset(&s->alloc, 0, sizeof(s->alloc));
    agent_gil_doing("pymalloc walk");
    agent_alloc_read(&s->alloc, t0);
    s->alloc.blocks_cost_ns = agent.blocks_cost_ns;
    s->alloc.blocks_skip_ns = agent.blocks_skip_ns;
    agent_gil_doing("sample");
    s->garbage_len = agent_cycles_garbage_len();
    agent_gil_doing("tracemalloc read");
    agent_tracemalloc_read(s);
    s->census_cost_ns = agent.census_cost_ns;
    s->census_interval_ms = agent.census_interval_ms;
    /* This sample's own hold ends after the read: the next sample reports it. */
    r->hold_max = agent.hold_max;
    memset(&agent.hold_max, 0, sizeof(agent.hold_max));
    /* The pauses the monitors due have not had yet, copied out while the
     * GIL keeps the collector from writing: the ring itself is never
     * drained (each monitor has its own cursor). */
    r->pause_seq = agent.pause_seq;
    r->pause_total_ns = agent.pause_total_ns;
    uint64_t oldest = r->pause_seq > AGENT_PAUSE_RING ? r->pause_seq - AGENT_PAUSE_RING : 0;
    r->first_seq = from_seq > oldest ? from_seq : oldest;
    if (r->first_seq > r->pause_seq)
        r->first_seq = r->pause_seq;
    for (uint64_t q = r->first_seq; q < r->pause_seq; q++)
        r->ring[q % AGENT_PAUSE_RING] = agent.ring[q % AGENT_PAUSE_RING];
    s->n_pauses = 0;
    s->sample_cost_ns = agent_now_ns() - t0;
    agent.observer_ns += s->sample_cost_ns;
    r->observer_ns = agent.observer_ns;
    /* SHAPES (the capture's table is GIL-guarded): both forms, once per
     * reading; each monitor gets the full one until it has this version. */
    r->shapes_full.len = r->shapes_same.len = 0;
    r->shapes_full.failed = r->shapes_same.failed = 0;
    agent_capture_encode(&r->shapes_full, t0, 1, &r->shapes_version);
    agent_capture_encode(&r->shapes_same, t0, 0, &r->shapes_version);
    agent_gil_exit();
    return 0;
}

void agent_sample_encode(struct proto_buf *out, struct agent_reading *r, struct agent_client *c,
                         unsigned monitors)
{
    struct pm_agent_sample *s = &r->s;
    if (c->fresh) { /* its counters start here; pauses before are not its own */
        c->fresh = 0;
        c->pause_next = c->pause_base_seq = r->pause_seq;
        c->pause_base_total_ns = r->pause_total_ns;
        c->observer_base_ns = r->observer_ns - s->sample_cost_ns;
    }
    uint64_t oldest = r->pause_seq > AGENT_PAUSE_RING ? r->pause_seq - AGENT_PAUSE_RING : 0;
    if (c->pause_next < oldest) { /* overwritten before this monitor was due */
        c->pauses_dropped += oldest - c->pause_next;
        c->pause_next = oldest;
    }
    if (c->pause_next < r->first_seq) { /* not copied: cannot happen, counted if it does */
        c->pauses_dropped += r->first_seq - c->pause_next;
        c->pause_next = r->first_seq;
    }
    /* Oldest first; what does not fit waits for its next sample. */
    s->n_pauses = 0;
    while (c->pause_next < r->pause_seq && s->n_pauses < PM_MAX_PAUSES_PER_SAMPLE) {
        const struct pm_gc_pause *p = &r->ring[c->pause_next++ % AGENT_PAUSE_RING];
        if (p->pause_ns > c->pause_max_ns)
            c->pause_max_ns = p->pause_ns;
        s->pauses[s->n_pauses++] = *p;
    }
    s->pause_count = r->pause_seq - c->pause_base_seq;
    s->pause_total_ns = r->pause_total_ns - c->pause_base_total_ns;
    s->pause_max_ns = c->pause_max_ns;
    s->pauses_dropped = (uint32_t)c->pauses_dropped;
    s->observer_ns = r->observer_ns - c->observer_base_ns;
    s->hold_max = c->hold_max;
    memset(&c->hold_max, 0, sizeof(c->hold_max));
    s->monitors = monitors;
    agent_encode(out, s);
    /* The recent shapes only when this monitor lacks this version of them. */
    int same = c->shapes_known && c->shapes_version == r->shapes_version;
    proto_append_frames(out, same ? &r->shapes_same : &r->shapes_full);
    c->shapes_known = 1;
    c->shapes_version = r->shapes_version;
}

static void agent_reply_predicted(struct proto_buf *out, uint64_t id, int64_t status,
                                  const char *msg, uint64_t pause_ns, uint64_t predict_ns)
{
    proto_append(out, PROTO_REPLY);
    proto_put_u64(out, TAG_CMD_ID, id);
    proto_put_i64(out, TAG_STATUS, status);
    proto_put_str(out, TAG_MESSAGE, msg);
    proto_put_i64(out, TAG_VALUE, 0);
    proto_put_u64(out, TAG_PAUSE_NS, pause_ns);
    proto_put_u64(out, TAG_MAX_HOLD_NS, agent.op_max_hold_ns);
    proto_put_u64(out, TAG_PREDICT_NS, predict_ns);
    proto_end(out);
}

static void agent_reply(struct proto_buf *out, uint64_t id, int64_t status, const char *msg,
                        int64_t value, uint64_t pause_ns)
{
    proto_append(out, PROTO_REPLY); /* after any result frame of the command */
    proto_put_u64(out, TAG_CMD_ID, id);
    proto_put_i64(out, TAG_STATUS, status);
    proto_put_str(out, TAG_MESSAGE, msg);
    proto_put_i64(out, TAG_VALUE, value);
    proto_put_u64(out, TAG_PAUSE_NS, pause_ns);
    proto_put_u64(out, TAG_MAX_HOLD_NS, agent.op_max_hold_ns);
    proto_end(out);
}

static int agent_cmd_collect(const struct proto_command *c, struct proto_buf *out)
{
    char msg[128];
    if (c->arg < 0 || c->arg > 2) {
        agent_reply(out, c->id, -EINVAL, "collect takes a generation 0, 1 or 2", 0, 0);
        return 0;
    }
    if (!agent_gil_enter("collect"))
        return -1;
    uint64_t t0 = agent_now_ns();
    PyObject *r = PyObject_CallMethod(agent.gc_module, "collect", "i", (int)c->arg);
    long long n = r ? PyLong_AsLongLong(r) : -1;
    Py_XDECREF(r);
    int failed = PyErr_Occurred() != NULL;
    PyErr_Clear();
    uint64_t dt = agent_now_ns() - t0;
    agent.observer_ns += dt;
    agent_gil_exit();
    if (failed) {
        agent_reply(out, c->id, -EIO, "gc.collect raised; nothing changed", 0, dt);
        return 0;
    }
    snprintf(msg, sizeof(msg), "collected %lld objects", n);
    agent_reply(out, c->id, 0, msg, n, dt);
    return 0;
}

/* Commands that run a probe with the GIL held: time the pause, answer. */
typedef int (*agent_gil_cmd)(const struct proto_command *c, struct proto_buf *out, char *msg,
                             size_t msg_len);

static int agent_run_with_gil(const struct proto_command *c, struct proto_buf *out,
                              agent_gil_cmd fn)
{
    char msg[200] = "";
    if (!agent_gil_enter(c->name))
        return -1;
    uint64_t t0 = agent_now_ns();
    int rc = fn(c, out, msg, sizeof(msg));
    PyErr_Clear();
    uint64_t dt = agent_now_ns() - t0;
    agent.observer_ns += dt;
    agent_gil_exit();
    agent_reply(out, c->id, rc, msg, 0, dt);
    return 0;
}

/* hunt, why and tracemalloc snapshots let the GIL go between their slices
 * (agent_gil_yield): the pause reported is what they held in all, both of a
 * hunt's collections included. */
typedef int (*agent_sliced_fn)(const struct proto_command *c, struct proto_buf *out, char *msg,
                               size_t msg_len);

static int agent_run_sliced(const struct proto_command *c, struct proto_buf *out,
                            agent_sliced_fn fn)
{
    char msg[200] = "";
    if (!agent_gil_enter(c->name))
        return -1;
    int rc = fn(c, out, msg, sizeof(msg));
    if (rc == -ESHUTDOWN)
        return -1; /* Python is going away: the GIL is not ours */
    PyErr_Clear();
    agent_gil_exit();
    agent.observer_ns += agent.op_held_ns;
    agent_reply(out, c->id, rc, msg, 0, agent.op_held_ns);
    return 0;
}

static int agent_cmd_hunt(const struct proto_command *c, struct proto_buf *out, char *msg,
                          size_t msg_len)
{
    (void)c;
    return agent_cycles_hunt(out, msg, msg_len);
}

static int agent_cmd_tracemalloc(const struct proto_command *c, struct proto_buf *out, char *msg,
                                 size_t msg_len)
{
    (void)out;
    return agent_tracemalloc_set(c->arg, c->lease_s, msg, msg_len);
}

static int agent_cmd_tm_growth(const struct proto_command *c, struct proto_buf *out, char *msg,
                               size_t msg_len)
{
    return agent_tmsnap_growth(out, c->arg != 0, msg, msg_len); /* 2: periodic report */
}

static int agent_cmd_snapshot(const struct proto_command *c, struct proto_buf *out, char *msg,
                              size_t msg_len)
{
    (void)c;
    return agent_tracemalloc_snapshot(out, msg, msg_len);
}

static int agent_cmd_diff(const struct proto_command *c, struct proto_buf *out, char *msg,
                          size_t msg_len)
{
    return agent_tracemalloc_diff(out, c->arg ? PM_SITES_DIFF_BASELINE : PM_SITES_DIFF_PREVIOUS,
                                  msg, msg_len);
}

static int agent_cmd_alloc_hook(const struct proto_command *c, struct proto_buf *out, char *msg,
                                size_t msg_len)
{
    (void)out;
    return agent_alloc_hook(c->arg != 0, msg, msg_len);
}

static int agent_cmd_why(const struct proto_command *c, struct proto_buf *out, char *msg,
                         size_t msg_len)
{
    return agent_why(out, c->text, c->arg, msg, msg_len);
}

/* A command that stops the world for a full collection (hunt, collect=2):
 * its pause is predicted first and, over [agent] confirm_pause_ms, it is
 * refused (-EAGAIN, the prediction in the reply) unless forced. A first
 * such command without any census takes one (in slices) to learn the
 * heap's size. 1 refused (answered), 0 go on, -1 Python is going away. */
static int agent_stw_refused(const struct proto_command *c, struct proto_buf *out)
{
    if (c->flags & PROTO_CMD_FORCE)
        return 0;
    if (!agent.census_objects && agent_census_run(out, 1) < 0)
        return -1;
    /* A hunt collects twice: to find the garbage, and to free it after. */
    int hunt = c->name[0] == 'h';
    uint64_t predict = agent_gc_predict_full_ns() * (hunt ? 2u : 1u);
    if (!predict || predict <= (uint64_t)agent.confirm_pause_ms * 1000000u)
        return 0;
    char msg[240];
    snprintf(msg, sizeof(msg),
             "%s would stop the target for ~%.2f s (%s of %llu objects, %s); "
             "that is over [agent] confirm_pause_ms = %u ms: confirm it, or run it with --force",
             c->name, (double)predict / 1e9, hunt ? "two full collections" : "a full collection",
             (unsigned long long)agent.census_objects,
             agent.full_gc_ns_per_kobj ? "at the cost measured in this process"
                                       : "estimated from the census",
             agent.confirm_pause_ms);
    agent_reply_predicted(out, c->id, -EAGAIN, msg, 0, predict);
    return 1;
}

/* A tracemalloc snapshot (snapshot while tracing, tm_growth) copies every
 * trace in one C call that cannot be sliced (agent_tmsnap.c): predicted
 * over its bound it is refused like a full collection, unless forced. The
 * bound is confirm_pause_ms, or max_pause_ms for a recording's periodic
 * growth report (tm_growth=2), which nobody is there to confirm. Same
 * answers as agent_stw_refused(). */
static int agent_tm_refused(const struct proto_command *c, enum command_id id,
                            struct proto_buf *out)
{
    if (c->flags & PROTO_CMD_FORCE)
        return 0;
    if (!agent_gil_enter("tracemalloc predict"))
        return -1;
    uint64_t traces, predict = agent_tmsnap_predict_ns(&traces);
    agent_gil_exit();
    int periodic = id == CMD_TM_GROWTH && c->arg == 2;
    uint64_t bound_ns = periodic ? (uint64_t)atomic_load(&agent.max_pause_us) * 1000u
                                 : (uint64_t)agent.confirm_pause_ms * 1000000u;
    if (!predict || predict <= bound_ns)
        return 0;
    char msg[300];
    snprintf(msg, sizeof(msg),
             "%s would stop the target for ~%.2f s (tracemalloc copies its ~%llu traces in one "
             "call, which cannot be sliced); that is over [agent] %s = %llu ms%s",
             id == CMD_SNAPSHOT ? "snapshot" : "tracemalloc growth", (double)predict / 1e9,
             (unsigned long long)traces, periodic ? "max_pause_ms" : "confirm_pause_ms",
             (unsigned long long)(bound_ns / 1000000u),
             periodic ? " for a periodic report (the first and last still run): --force allows "
                        "every one"
                      : ": confirm it, or run it with --force");
    agent_reply_predicted(out, c->id, -EAGAIN, msg, 0, predict);
    return 1;
}

int agent_command_run(const struct proto_command *c, struct proto_buf *out,
                      struct agent_client *cl)
{
    char msg[160];
    out->len = 0;
    out->failed = 0;
    agent_op_begin();
    /* The sender's own threshold: one monitor's confirmation is not another's. */
    agent.confirm_pause_ms = cl->confirm_pause_ms;
    /* Names come from lib/commands.c, the table the monitor sends from. */
    const struct command_def *def = commands_find(c->name);
    enum command_id id = def ? def->id : CMD_COUNT;
    int stw = id == CMD_HUNT || (id == CMD_COLLECT && c->arg == 2);
    int tm = id == CMD_SNAPSHOT || id == CMD_TM_GROWTH;
    int refused = stw ? agent_stw_refused(c, out) : tm ? agent_tm_refused(c, id, out) : 0;
    if (refused)
        return refused < 0 ? -1 : 0;
    switch (id) {
    case CMD_COLLECT:
        return agent_cmd_collect(c, out);
    case CMD_CENSUS: {
        uint64_t t0 = agent_now_ns();
        if (agent_census_run(out, 1) < 0)
            return -1;
        agent_reply(out, c->id, 0, "census taken", 0, agent_now_ns() - t0);
        return 0;
    }
    case CMD_SNAPSHOT:
        /* Census first (the agent keeps it), then tracemalloc if tracing. */
        if (agent_census_snapshot(out) < 0)
            return -1;
        return agent_run_sliced(c, out, agent_cmd_snapshot);
    case CMD_DIFF: {
        int kind = c->arg ? PM_CENSUS_KIND_DIFF_BASELINE : PM_CENSUS_KIND_DIFF_PREVIOUS;
        if (agent_census_diff(out, kind, msg, sizeof(msg)) < 0) {
            agent_reply(out, c->id, -ENOENT, msg, 0, 0);
            return 0;
        }
        return agent_run_with_gil(c, out, agent_cmd_diff);
    }
    case CMD_HUNT:
        return agent_run_sliced(c, out, agent_cmd_hunt);
    case CMD_WHY:
        return agent_run_sliced(c, out, agent_cmd_why);
    case CMD_TRACEMALLOC:
        return agent_run_with_gil(c, out, agent_cmd_tracemalloc);
    case CMD_TM_GROWTH:
        return agent_run_sliced(c, out, agent_cmd_tm_growth);
    case CMD_ALLOC_HOOK:
        return agent_run_with_gil(c, out, agent_cmd_alloc_hook);
    case CMD_INTERVAL:
        if (c->arg < 100 || c->arg > 60000) {
            agent_reply(out, c->id, -EINVAL, "interval must be 100 to 60000 ms", 0, 0);
            return 0;
        }
        /* The sender's samples only: each monitor keeps its own pace. */
        agent_client_set_interval(cl, (unsigned)c->arg, agent_now_ns());
        snprintf(msg, sizeof(msg), "interval %lld ms", (long long)c->arg);
        agent_reply(out, c->id, 0, msg, c->arg, 0);
        return 0;
    case CMD_CENSUS_INTERVAL:
    case CMD_CENSUS_BUDGET: {
        bool interval = def->id == CMD_CENSUS_INTERVAL;
        if (c->arg < 0 || c->arg > (interval ? 3600000 : 5000)) {
            agent_reply(out, c->id, -EINVAL,
                        interval ? "census interval must be 0 to 3600000 ms"
                                 : "census budget must be 0 to 5000 basis points",
                        0, 0);
            return 0;
        }
        /* Shared by all monitors, as agent_clients.c agrees them. */
        agent_client_set_census(cl, interval, (unsigned)c->arg);
        agent_reply(out, c->id, 0, "census schedule set", c->arg, 0);
        return 0;
    }
    case CMD_MAX_PAUSE:
    case CMD_CONFIRM_PAUSE: {
        bool mp = id == CMD_MAX_PAUSE;
        if (c->arg < (mp ? 1 : 0) || c->arg > (mp ? 1000 : 600000)) {
            agent_reply(out, c->id, -EINVAL,
                        mp ? "max_pause must be 1 to 1000 ms" : "confirm_pause must be 0 to 600000 ms",
                        0, 0);
            return 0;
        }
        if (mp)
            agent_client_set_max_pause(cl, (unsigned)c->arg);
        else
            cl->confirm_pause_ms = (unsigned)c->arg;
        agent_reply(out, c->id, 0, mp ? "max pause set" : "confirm pause set", c->arg, 0);
        return 0;
    }
    case CMD_CYCLE_CAPTURE:
        if (c->arg < 0 || c->arg > 5000) {
            agent_reply(out, c->id, -EINVAL, "cycle capture budget must be 0 to 5000 basis points",
                        0, 0);
            return 0;
        }
        if (!agent_gil_enter("capture setup"))
            return -1;
        agent_capture_configure((unsigned)c->arg);
        agent_gc_capture_entry(c->arg != 0);
        agent_gil_exit();
        agent_reply(out, c->id, 0, c->arg ? "cycle capture on" : "cycle capture off", c->arg, 0);
        return 0;
    case CMD_PING:
        agent_reply(out, c->id, 0, "pong", 0, 0);
        return 0;
    case CMD_DETACH: /* this monitor only: the others are served on */
        cl->closing = 1;
        agent_reply(out, c->id, 0, "detached", 0, 0);
        return 0;
    default:
        break;
    }
    snprintf(msg, sizeof(msg), "unknown command '%.40s'", c->name);
    agent_reply(out, c->id, -ENOSYS, msg, 0, 0);
    return 0;
}

/* Replay: a recording (--record JSON lines) read back into a session, as of
 * any sample, so the dashboard shows exactly what was recorded. */
#include "replay.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eventlog.h"
#include "json_keys.h"
#include "jsonread.h"
#include "proto.h"

#define REPLAY_MAX_LINE (64u << 20)

static void replay_msg(char *msg, size_t len, const char *path, size_t line, const char *what)
{
    if (line)
        snprintf(msg, len, "%s:%zu: %s", path, line, what);
    else
        snprintf(msg, len, "%s: %s", path, what);
}

/* Reads line `i` (without its newline) into r->buf; 0 or -1. */
static int replay_read_line(struct replay *r, size_t i)
{
    size_t len = r->lines[i].len;
    if (len + 1 > r->buf_cap) {
        char *b = realloc(r->buf, len + 1);
        if (!b)
            return -1;
        r->buf = b;
        r->buf_cap = len + 1;
    }
    if (fseeko(r->f, (off_t)r->lines[i].offset, SEEK_SET) < 0 ||
        fread(r->buf, 1, len, r->f) != len)
        return -1;
    r->buf[len] = 0;
    return 0;
}

static int replay_add(void **arr, size_t *n, size_t *cap, size_t size)
{
    if (*n < *cap)
        return 0;
    size_t nc = *cap ? *cap * 2 : 1024;
    void *a = realloc(*arr, nc * size);
    if (!a)
        return -1;
    *arr = a;
    *cap = nc;
    return 0;
}

/* The inputs of derive.c for one sample line. */
static void replay_index_derived(struct replay_point *p, const struct jv *root)
{
    p->sample_ns = (uint64_t)jv_int(jv_path(root, JK_AGENT "." JK_SAMPLE_TIME_NS),
                                    (int64_t)p->time_ns);
    double used = jv_num(jv_path(root, JK_ALLOC "." JK_PYMALLOC_USED_BYTES), -1);
    p->pymalloc_kib = used >= 0 ? used / 1024.0 : -1;
    const struct jv *c = jv_path(root, JK_GC "." JK_COLLECTED);
    for (int g = 0; g < PM_GENERATIONS; g++)
        p->collected[g] = jv_num(jv_at(c, (size_t)g), 0);
}

/* One pass over the file: where each line starts, which are samples, and
 * the few numbers the graphs need for every sample (so that jumping to the
 * end of a day-long recording does not re-parse the day). */
static int replay_index(struct replay *r, const char *path, char *msg, size_t msg_len)
{
    char *line = NULL;
    size_t cap = 0, nline = 0, lines_cap = 0, samples_cap = 0, pauses_cap = 0, ps_cap = 0;
    ssize_t n;
    off_t offset = 0;
    while ((n = getline(&line, &cap, r->f)) > 0) {
        nline++;
        size_t len = (size_t)n;
        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            len--;
        off_t start = offset;
        offset += n;
        if (!len)
            continue;
        if (len > REPLAY_MAX_LINE) {
            replay_msg(msg, msg_len, path, nline, "line too long");
            free(line);
            return -1;
        }
        struct jv_doc doc;
        if (jv_parse(&doc, line, len) < 0 || doc.root->type != JV_OBJECT) {
            char what[160];
            snprintf(what, sizeof(what), "not a pymemtop recording line (%s)",
                     doc.error[0] ? doc.error : "not an object");
            if (doc.root)
                jv_free(&doc);
            replay_msg(msg, msg_len, path, nline, what);
            free(line);
            return -1;
        }
        const char *event = jv_str(jv_get(doc.root, JK_EVENT), NULL);
        if (event && !strcmp(event, JK_EVENT_GC_PAUSE)) {
            size_t np = r->n_pauses;
            if (replay_add((void **)&r->pauses, &np, &pauses_cap, sizeof(*r->pauses)) == 0 &&
                replay_add((void **)&r->pause_sample, &r->n_pauses, &ps_cap,
                           sizeof(*r->pause_sample)) == 0) {
                r->pause_sample[r->n_pauses] = r->n; /* written before sample r->n */
                r->pauses[r->n_pauses++] = (struct pm_gc_pause){
                    .end_ns = (uint64_t)jv_int(jv_get(doc.root, JK_END_NS), 0),
                    .pause_ns = (uint64_t)jv_int(jv_get(doc.root, JK_PAUSE_NS), 0),
                    .collected = jv_int(jv_get(doc.root, JK_COLLECTED), 0),
                    .uncollectable = jv_int(jv_get(doc.root, JK_UNCOLLECTABLE), 0),
                    .generation = (uint8_t)(jv_int(jv_get(doc.root, JK_GENERATION), 0) % 3),
                };
            }
        } else if (!event && jv_get(doc.root, JK_TIME_NS) && jv_get(doc.root, JK_PROC)) {
            if (replay_add((void **)&r->lines, &r->n, &lines_cap, sizeof(*r->lines)) < 0 ||
                replay_add((void **)&r->points, &r->n, &samples_cap, sizeof(*r->points)) < 0) {
                jv_free(&doc);
                free(line);
                snprintf(msg, msg_len, "out of memory");
                return -1;
            }
            r->lines[r->n] = (struct replay_line){(uint64_t)start, len};
            r->points[r->n] = (struct replay_point){
                .time_ns = (uint64_t)jv_int(jv_get(doc.root, JK_TIME_NS), 0),
                .rss_kib = jv_num(jv_path(doc.root, JK_PROC "." JK_RSS_KIB), 0),
                .anon_kib = jv_num(jv_path(doc.root, JK_PROC "." JK_ANON_KIB), 0),
                .blocks = jv_num(jv_path(doc.root, JK_ALLOC "." JK_BLOCKS), -1),
                .observer_ns = jv_num(jv_path(doc.root, JK_AGENT "." JK_OBSERVER_NS), 0),
            };
            replay_index_derived(&r->points[r->n], doc.root);
            r->n++;
        }
        jv_free(&doc);
    }
    free(line);
    if (!r->n) {
        replay_msg(msg, msg_len, path, 0,
                   "no samples in it (make one with pymemtop --record FILE PID)");
        return -1;
    }
    return 0;
}

int replay_open(struct replay *r, const char *path, char *msg, size_t msg_len)
{
    memset(r, 0, sizeof(*r));
    r->f = fopen(path, "re");
    if (!r->f) {
        replay_msg(msg, msg_len, path, 0, strerror(errno));
        return -1;
    }
    if (replay_index(r, path, msg, msg_len) < 0) {
        replay_close(r);
        return -1;
    }
    return 0;
}

void replay_close(struct replay *r)
{
    if (r->f)
        fclose(r->f);
    free(r->lines);
    free(r->points);
    free(r->pauses);
    free(r->pause_sample);
    free(r->buf);
    memset(r, 0, sizeof(*r));
}

static void replay_gens(const struct jv *v, int64_t out[PM_GENERATIONS])
{
    for (int i = 0; i < PM_GENERATIONS; i++)
        out[i] = jv_int(jv_at(v, (size_t)i), -1);
}

static void replay_proc(struct session *s, const struct jv *root, uint64_t t)
{
    const struct jv *p = jv_get(root, JK_PROC);
    struct pm_proc_sample *pr = &s->proc;
    memset(pr, 0, sizeof(*pr));
    pr->time_ns = t;
    pr->valid = true;
    pr->rss_kib = (uint64_t)jv_int(jv_get(p, JK_RSS_KIB), 0);
    pr->anon_kib = (uint64_t)jv_int(jv_get(p, JK_ANON_KIB), 0);
    pr->file_kib = (uint64_t)jv_int(jv_get(p, JK_FILE_KIB), 0);
    pr->swap_kib = (uint64_t)jv_int(jv_get(p, JK_SWAP_KIB), 0);
    pr->vsz_kib = (uint64_t)jv_int(jv_get(p, JK_VSZ_KIB), 0);
    pr->minflt = (uint64_t)jv_int(jv_get(p, JK_MINFLT), 0);
    pr->majflt = (uint64_t)jv_int(jv_get(p, JK_MAJFLT), 0);
    pr->cpu_pct = jv_num(jv_get(p, JK_CPU_PCT), -1);
    pr->threads = (uint32_t)jv_int(jv_get(p, JK_THREADS), 0);
    double up = jv_num(jv_get(p, JK_UPTIME_S), 0);
    pr->start_time_ns = up > 0 && t > (uint64_t)(up * 1e9) ? t - (uint64_t)(up * 1e9) : 0;
}

static void replay_gc(struct session *s, const struct jv *root, uint64_t t)
{
    const struct jv *g = jv_get(root, JK_GC);
    struct pm_agent_sample *a = &s->agent;
    a->time_ns = t;
    a->gc_enabled = jv_bool(jv_get(g, JK_ENABLED), false);
    replay_gens(jv_get(g, JK_THRESHOLDS), a->thresholds);
    replay_gens(jv_get(g, JK_COUNTS), a->counts);
    replay_gens(jv_get(g, JK_COLLECTIONS), a->collections);
    replay_gens(jv_get(g, JK_COLLECTED), a->collected);
    replay_gens(jv_get(g, JK_UNCOLLECTABLE), a->uncollectable);
    /* null or absent (before 3.15, or an older recording): -1, unknown. */
    replay_gens(jv_get(g, JK_TIME_SINCE_START_NS), a->gc_duration_ns);
    replay_gens(jv_get(g, JK_CANDIDATES), a->gc_candidates);
    const struct jv *pz = jv_get(g, JK_PAUSES);
    a->pause_count = (uint64_t)jv_int(jv_get(pz, JK_COUNT), 0);
    a->pause_total_ns = (uint64_t)jv_int(jv_get(pz, JK_TOTAL_NS), 0);
    a->pause_max_ns = (uint64_t)jv_int(jv_get(pz, JK_MAX_NS), 0);
    a->pauses_dropped = (uint32_t)jv_int(jv_get(pz, JK_DROPPED), 0);
    s->recorded.p50_ns = (uint64_t)jv_int(jv_get(pz, JK_P50_NS), 0);
    s->recorded.p99_ns = (uint64_t)jv_int(jv_get(pz, JK_P99_NS), 0);
    s->recorded.last_ns = (uint64_t)jv_int(jv_get(pz, JK_LAST_NS), 0);
    s->recorded.wall_share = jv_num(jv_get(pz, JK_WALL_SHARE), 0);
}

static void replay_alloc(struct session *s, const struct jv *root)
{
    const struct jv *al = jv_get(root, JK_ALLOC);
    struct pm_alloc *a = &s->agent.alloc;
    s->agent.alloc_blocks = jv_int(jv_get(al, JK_BLOCKS), -1);
    a->arenas = jv_int(jv_get(al, JK_ARENAS), -1);
    a->arenas_highwater = jv_int(jv_get(al, JK_ARENAS_HIGHWATER), -1);
    a->pymalloc_used_bytes = jv_int(jv_get(al, JK_PYMALLOC_USED_BYTES), -1);
    a->pymalloc_free_bytes = jv_int(jv_get(al, JK_PYMALLOC_FREE_BYTES), -1);
    a->malloc_used_bytes = jv_int(jv_get(al, JK_MALLOC_USED_BYTES), -1);
    a->malloc_free_bytes = jv_int(jv_get(al, JK_MALLOC_FREE_BYTES), -1);
    a->mmap_bytes = jv_int(jv_get(al, JK_MMAP_BYTES), -1);
    a->pymalloc_cost_ns = (uint64_t)jv_int(jv_get(al, JK_PYMALLOC_COST_NS), 0);
    a->pymalloc_skip_ns = (uint64_t)jv_int(jv_get(al, JK_PYMALLOC_SKIP_NS), 0);
    a->blocks_cost_ns = (uint64_t)jv_int(jv_get(al, JK_BLOCKS_COST_NS), 0);
    a->blocks_skip_ns = (uint64_t)jv_int(jv_get(al, JK_BLOCKS_SKIP_NS), 0);
    const struct jv *h = jv_get(al, JK_HOOK);
    a->hook_on = jv_bool(jv_get(h, JK_ON), false);
    for (int d = 0; d < PM_DOMAINS; d++) {
        a->hook_calls[d] = (uint64_t)jv_int(jv_at(jv_get(h, JK_CALLS), (size_t)d), 0);
        a->hook_bytes[d] = (uint64_t)jv_int(jv_at(jv_get(h, JK_BYTES), (size_t)d), 0);
    }
    a->hook_cost_ns = (uint64_t)jv_int(jv_get(h, JK_COST_NS), 0);
}

static void replay_types(struct session *s, const struct jv *root, uint64_t line_ns)
{
    const struct jv *types = jv_get(root, JK_TYPES);
    size_t n = types && types->type == JV_ARRAY ? types->len : 0;
    struct typetable_row *rows = calloc(n ? n : 1, sizeof(*rows));
    if (!rows)
        return;
    size_t k = 0;
    for (const struct jv *t = types ? types->child : NULL; t && k < n; t = t->next) {
        struct typetable_row *row = &rows[k++];
        snprintf(row->name, sizeof(row->name), "%s", jv_str(jv_get(t, JK_NAME), "?"));
        row->count = (uint64_t)jv_int(jv_get(t, JK_COUNT), 0);
        row->delta_attach = jv_int(jv_get(t, JK_DELTA_ATTACH), 0);
        row->delta_snapshot = jv_int(jv_get(t, JK_DELTA_SNAPSHOT), 0);
        row->rate_per_min = jv_num(jv_get(t, JK_RATE_PER_MIN), 0);
        row->suspect = jv_bool(jv_get(t, JK_SUSPECT), false);
        const struct jv *b = jv_get(t, JK_BYTES);
        row->bytes_known = b && b->type != JV_NULL;
        row->bytes = (uint64_t)jv_int(b, 0);
        row->bytes_delta_attach = jv_int(jv_get(t, JK_BYTES_DELTA_ATTACH), 0);
        row->bytes_delta_snapshot = jv_int(jv_get(t, JK_BYTES_DELTA_SNAPSHOT), 0);
        row->bytes_rate_per_min = jv_num(jv_get(t, JK_BYTES_RATE_PER_MIN), 0);
        row->bytes_approx = jv_bool(jv_get(t, JK_BYTES_APPROX), false);
    }
    const struct jv *c = jv_get(root, JK_CENSUS);
    typetable_load(s->types, rows, k, (uint64_t)jv_int(jv_get(c, JK_OBJECTS), 0));
    const struct jv *bt = jv_get(c, JK_BYTES_TOTAL);
    typetable_load_bytes(s->types, bt && bt->type == JV_NUMBER,
                         (uint64_t)jv_int(bt, 0));
    free(rows);
    s->census.objects = (uint64_t)jv_int(jv_get(c, JK_OBJECTS), 0);
    s->census.cost_ns = (uint64_t)jv_int(jv_get(c, JK_COST_NS), 0);
    /* The census's time is on the agent's monotonic clock; a replay runs on
     * the lines' wall clock (line_ns), so carry its age at this sample over.  0 (an
     * older recording without it) leaves the age unsaid. */
    uint64_t census_ns = (uint64_t)jv_int(jv_get(c, JK_TIME_NS), 0);
    uint64_t sample_ns = (uint64_t)jv_int(jv_path(root, JK_AGENT "." JK_SAMPLE_TIME_NS), 0);
    s->census.time_ns = census_ns && sample_ns >= census_ns && line_ns > sample_ns - census_ns
                            ? line_ns - (sample_ns - census_ns)
                            : 0;
    s->census.snapshots = (uint32_t)jv_int(jv_get(c, JK_SNAPSHOTS), 0);
    s->census.types_total = (uint32_t)jv_int(jv_get(root, JK_TYPES_TOTAL), (int64_t)k);
    s->census.method = strcmp(jv_str(jv_get(c, JK_METHOD), ""), "get_objects")
                           ? PM_CENSUS_GC_LISTS
                           : PM_CENSUS_GET_OBJECTS;
    s->censuses = (uint64_t)jv_int(jv_get(c, JK_CENSUSES), 0);
    s->agent.census_interval_ms = (uint64_t)jv_int(jv_get(c, JK_INTERVAL_MS), 0);
    s->agent.census_cost_ns = s->census.cost_ns;
}

static void replay_sites(struct pm_sites *out, const struct jv *arr, uint8_t kind)
{
    memset(out, 0, sizeof(*out));
    out->kind = kind;
    out->time_ns = 1;
    for (const struct jv *e = arr ? arr->child : NULL; e && out->n < PM_MAX_SITES; e = e->next) {
        struct pm_site *st = &out->sites[out->n++];
        snprintf(st->where, sizeof(st->where), "%s", jv_str(jv_get(e, JK_WHERE), "?"));
        st->size_bytes = jv_int(jv_get(e, JK_SIZE_BYTES), 0);
        st->count = jv_int(jv_get(e, JK_COUNT), 0);
        st->size_diff = jv_int(jv_get(e, JK_SIZE_DIFF), 0);
        st->count_diff = jv_int(jv_get(e, JK_COUNT_DIFF), 0);
    }
}

static void replay_cycles(struct session *s, const struct jv *root)
{
    const struct jv *cy = jv_get(root, JK_CYCLES);
    s->agent.garbage_len = jv_int(jv_get(cy, JK_GARBAGE_LEN), -1);
    replay_capture(s, cy);
    const struct jv *h = jv_get(cy, JK_LAST_HUNT);
    s->have_hunt = h && h->type == JV_OBJECT;
    if (!s->have_hunt)
        return;
    struct pm_hunt *hu = &s->hunt;
    memset(hu, 0, sizeof(*hu));
    hu->time_ns = (uint64_t)jv_int(jv_get(h, JK_TIME_NS), 0);
    hu->objects = (uint64_t)jv_int(jv_get(h, JK_OBJECTS), 0);
    hu->cycles = (uint64_t)jv_int(jv_get(h, JK_CYCLES), 0);
    hu->truncated = jv_bool(jv_get(h, JK_TRUNCATED), false);
    hu->cost_ns = (uint64_t)jv_int(jv_get(h, JK_COST_NS), 0);
    const struct jv *shapes = jv_get(h, JK_SHAPES);
    for (const struct jv *e = shapes ? shapes->child : NULL; e && hu->n_shapes < PM_MAX_SHAPES;
         e = e->next) {
        struct pm_shape *sh = &hu->shapes[hu->n_shapes++];
        snprintf(sh->path, sizeof(sh->path), "%s", jv_str(jv_get(e, JK_PATH), "?"));
        snprintf(sh->advice, sizeof(sh->advice), "%s", jv_str(jv_get(e, JK_ADVICE), ""));
        sh->count = (uint64_t)jv_int(jv_get(e, JK_COUNT), 0);
        sh->bytes = (uint64_t)jv_int(jv_get(e, JK_BYTES), 0);
        sh->length = (uint64_t)jv_int(jv_get(e, JK_LENGTH), 0);
    }
}

static void replay_tracemalloc(struct session *s, const struct jv *root)
{
    const struct jv *tm = jv_get(root, JK_TRACEMALLOC);
    s->agent.tracemalloc_on = jv_bool(jv_get(tm, JK_ON), false);
    s->agent.traced_bytes = jv_int(jv_get(tm, JK_TRACED_BYTES), -1);
    s->agent.traced_peak_bytes = jv_int(jv_get(tm, JK_PEAK_BYTES), -1);
    double left_s = jv_num(jv_get(tm, JK_LEASE_LEFT_S), 0);
    s->agent.tm_lease_left_ms = left_s > 0 ? (uint64_t)(left_s * 1000) : 0;
    const char *by = jv_str(jv_get(tm, JK_STARTED_BY), "");
    s->agent.tm_owner = !strcmp(by, "pymemtop") ? PM_TM_OWNER_PYMEMTOP
                        : !strcmp(by, "program") ? PM_TM_OWNER_PROGRAM
                                                 : PM_TM_OWNER_NONE;
    const struct jv *top = jv_get(tm, JK_TOP), *diff = jv_get(tm, JK_DIFF);
    s->have_sites_top = top != NULL;
    if (top)
        replay_sites(&s->sites_top, top, PM_SITES_TOP);
    s->have_sites_diff = diff != NULL;
    if (diff)
        replay_sites(&s->sites_diff, diff,
                     strcmp(jv_str(jv_get(tm, JK_DIFF_AGAINST), ""), "baseline")
                         ? PM_SITES_DIFF_PREVIOUS
                         : PM_SITES_DIFF_BASELINE);
}

static void replay_header(struct session *s, const struct jv *root)
{
    s->target.pid = (pid_t)jv_int(jv_get(root, JK_PID), 0);
    snprintf(s->hello.python, sizeof(s->hello.python), "%s", jv_str(jv_get(root, JK_PYTHON), "?"));
    snprintf(s->target.cmdline, sizeof(s->target.cmdline), "%s",
             jv_str(jv_get(root, JK_COMMAND), ""));
    const struct jv *ag = jv_get(root, JK_AGENT);
    s->injected = jv_bool(jv_get(ag, JK_INJECTED), false);
    s->interval_ms = (unsigned)jv_int(jv_get(ag, JK_INTERVAL_MS), 1000);
    s->agent.observer_ns = (uint64_t)jv_int(jv_get(ag, JK_OBSERVER_NS), 0);
    s->agent.sample_cost_ns = (uint64_t)jv_int(jv_get(ag, JK_SAMPLE_COST_NS), 0);
    s->agent_samples = (uint64_t)jv_int(jv_get(ag, JK_SAMPLES), 1);
}

/* The longest agent hold of the minute before line time t, as recorded:
 * the Overview asks the hold log for it. */
static void replay_hold(struct session *s, const struct jv *root, uint64_t t)
{
    const struct jv *ag = jv_get(root, JK_AGENT);
    struct pm_hold h = {
        .ns = (uint64_t)jv_int(jv_get(ag, JK_MAX_PAUSE_1MIN_NS), 0),
        .cpu_ns = (uint64_t)jv_int(jv_get(ag, JK_MAX_PAUSE_1MIN_CPU_NS), 0),
        .gc_ns = (uint64_t)jv_int(jv_get(ag, JK_MAX_PAUSE_1MIN_GC_NS), 0),
    };
    snprintf(h.what, sizeof(h.what), "%s", jv_str(jv_get(ag, JK_MAX_PAUSE_1MIN_WHAT), ""));
    memset(&s->holds, 0, sizeof(s->holds));
    holdlog_note(&s->holds, t, &h);
}

/* Series and the pause ring: everything recorded up to sample i. */
static void replay_history(struct replay *r, struct session *s, size_t i)
{
    struct series *all[] = SESSION_SERIES(s);
    for (size_t k = 0; k < sizeof(all) / sizeof(all[0]); k++)
        all[k]->len = all[k]->head = 0;
    size_t from = i + 1 > s->rss_kib.cap ? i + 1 - s->rss_kib.cap : 0;
    for (size_t k = from; k <= i; k++) {
        const struct replay_point *p = &r->points[k];
        series_push(&s->rss_kib, p->time_ns, p->rss_kib);
        series_push(&s->anon_kib, p->time_ns, p->anon_kib);
        if (p->blocks >= 0)
            series_push(&s->alloc_blocks, p->time_ns, p->blocks);
        series_push(&s->observer_ns, p->time_ns, p->observer_ns);
        if (p->pymalloc_kib >= 0)
            series_push(&s->pymalloc_kib, p->sample_ns, p->pymalloc_kib);
        for (int g = 0; g < PM_GENERATIONS; g++)
            series_push(&s->collected[g], p->sample_ns, p->collected[g]);
    }
    s->pause_head = s->pause_len = 0;
    histogram_reset(&s->pauses);
    /* Pause events carry the target's monotonic end time and samples wall
     * time: what belongs to sample i is what the file has before it. */
    for (size_t k = 0; k < r->n_pauses && r->pause_sample[k] <= i; k++) {
        size_t at = (s->pause_head + s->pause_len) % SESSION_PAUSE_RING;
        if (s->pause_len == SESSION_PAUSE_RING)
            s->pause_head = (s->pause_head + 1) % SESSION_PAUSE_RING;
        else
            s->pause_len++;
        s->pause_ring[at] = r->pauses[k];
        histogram_add(&s->pauses, r->pauses[k].pause_ns);
    }
}

int replay_apply(struct replay *r, struct session *s, size_t i)
{
    if (i >= r->n)
        i = r->n - 1;
    if (replay_read_line(r, i) < 0)
        return -1;
    struct jv_doc doc;
    if (jv_parse(&doc, r->buf, r->lines[i].len) < 0)
        return -1;
    const struct jv *root = doc.root;
    uint64_t t = r->points[i].time_ns;
    s->state = SESSION_REPLAY;
    replay_header(s, root);
    replay_hold(s, root, t);
    replay_proc(s, root, t);
    replay_gc(s, root, t);
    replay_alloc(s, root);
    replay_types(s, root, t);
    replay_cycles(s, root);
    replay_tracemalloc(s, root);
    replay_history(r, s, i);
    s->attached_ns = r->points[0].time_ns;
    s->recorded.index = i;
    s->recorded.count = r->n;
    s->status_ns = 0;
    snprintf(s->status, sizeof(s->status), "replay: sample %zu of %zu", i + 1, r->n);
    jv_free(&doc);
    r->pos = i;
    return 0;
}

int replay_session_init(struct session *s, size_t history)
{
    memset(s, 0, sizeof(*s));
    s->state = SESSION_REPLAY;
    struct series *all[] = SESSION_SERIES(s);
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        if (series_init(all[i], history) < 0)
            return -ENOMEM;
    s->types = typetable_new(5, 64);
    s->events = eventlog_new(1000); /* the dashboard logs its own messages there */
    return s->types && s->events ? 0 : -ENOMEM;
}

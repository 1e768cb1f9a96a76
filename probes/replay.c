/* Replay: a recording (--record JSON lines) read back into a session, as of
 * any sample, so the dashboard shows exactly what was recorded. */
#include "replay.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eventlog.h"
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
        const char *event = jv_str(jv_get(doc.root, "event"), NULL);
        if (event && !strcmp(event, "gc_pause")) {
            size_t np = r->n_pauses;
            if (replay_add((void **)&r->pauses, &np, &pauses_cap, sizeof(*r->pauses)) == 0 &&
                replay_add((void **)&r->pause_sample, &r->n_pauses, &ps_cap,
                           sizeof(*r->pause_sample)) == 0) {
                r->pause_sample[r->n_pauses] = r->n; /* written before sample r->n */
                r->pauses[r->n_pauses++] = (struct pm_gc_pause){
                    .end_ns = (uint64_t)jv_int(jv_get(doc.root, "end_ns"), 0),
                    .pause_ns = (uint64_t)jv_int(jv_get(doc.root, "pause_ns"), 0),
                    .collected = jv_int(jv_get(doc.root, "collected"), 0),
                    .uncollectable = jv_int(jv_get(doc.root, "uncollectable"), 0),
                    .generation = (uint8_t)(jv_int(jv_get(doc.root, "generation"), 0) % 3),
                };
            }
        } else if (!event && jv_get(doc.root, "time_ns") && jv_get(doc.root, "proc")) {
            if (replay_add((void **)&r->lines, &r->n, &lines_cap, sizeof(*r->lines)) < 0 ||
                replay_add((void **)&r->points, &r->n, &samples_cap, sizeof(*r->points)) < 0) {
                jv_free(&doc);
                free(line);
                snprintf(msg, msg_len, "out of memory");
                return -1;
            }
            r->lines[r->n] = (struct replay_line){(uint64_t)start, len};
            r->points[r->n] = (struct replay_point){
                .time_ns = (uint64_t)jv_int(jv_get(doc.root, "time_ns"), 0),
                .rss_kib = jv_num(jv_path(doc.root, "proc.rss_kib"), 0),
                .anon_kib = jv_num(jv_path(doc.root, "proc.anon_kib"), 0),
                .blocks = jv_num(jv_path(doc.root, "alloc.blocks"), -1),
                .observer_ns = jv_num(jv_path(doc.root, "agent.observer_ns"), 0),
            };
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
    const struct jv *p = jv_get(root, "proc");
    struct pm_proc_sample *pr = &s->proc;
    memset(pr, 0, sizeof(*pr));
    pr->time_ns = t;
    pr->valid = true;
    pr->rss_kib = (uint64_t)jv_int(jv_get(p, "rss_kib"), 0);
    pr->anon_kib = (uint64_t)jv_int(jv_get(p, "anon_kib"), 0);
    pr->file_kib = (uint64_t)jv_int(jv_get(p, "file_kib"), 0);
    pr->swap_kib = (uint64_t)jv_int(jv_get(p, "swap_kib"), 0);
    pr->vsz_kib = (uint64_t)jv_int(jv_get(p, "vsz_kib"), 0);
    pr->minflt = (uint64_t)jv_int(jv_get(p, "minflt"), 0);
    pr->majflt = (uint64_t)jv_int(jv_get(p, "majflt"), 0);
    pr->cpu_pct = jv_num(jv_get(p, "cpu_pct"), -1);
    pr->threads = (uint32_t)jv_int(jv_get(p, "threads"), 0);
    double up = jv_num(jv_get(p, "uptime_s"), 0);
    pr->start_time_ns = up > 0 && t > (uint64_t)(up * 1e9) ? t - (uint64_t)(up * 1e9) : 0;
}

static void replay_gc(struct session *s, const struct jv *root, uint64_t t)
{
    const struct jv *g = jv_get(root, "gc");
    struct pm_agent_sample *a = &s->agent;
    a->time_ns = t;
    a->gc_enabled = jv_bool(jv_get(g, "enabled"), false);
    replay_gens(jv_get(g, "thresholds"), a->thresholds);
    replay_gens(jv_get(g, "counts"), a->counts);
    replay_gens(jv_get(g, "collections"), a->collections);
    replay_gens(jv_get(g, "collected"), a->collected);
    replay_gens(jv_get(g, "uncollectable"), a->uncollectable);
    /* null or absent (before 3.15, or an older recording): -1, unknown. */
    replay_gens(jv_get(g, "time_since_start_ns"), a->gc_duration_ns);
    replay_gens(jv_get(g, "candidates"), a->gc_candidates);
    const struct jv *pz = jv_get(g, "pauses");
    a->pause_count = (uint64_t)jv_int(jv_get(pz, "count"), 0);
    a->pause_total_ns = (uint64_t)jv_int(jv_get(pz, "total_ns"), 0);
    a->pause_max_ns = (uint64_t)jv_int(jv_get(pz, "max_ns"), 0);
    a->pauses_dropped = (uint32_t)jv_int(jv_get(pz, "dropped"), 0);
    s->recorded.p50_ns = (uint64_t)jv_int(jv_get(pz, "p50_ns"), 0);
    s->recorded.p99_ns = (uint64_t)jv_int(jv_get(pz, "p99_ns"), 0);
    s->recorded.last_ns = (uint64_t)jv_int(jv_get(pz, "last_ns"), 0);
    s->recorded.wall_share = jv_num(jv_get(pz, "wall_share"), 0);
}

static void replay_alloc(struct session *s, const struct jv *root)
{
    const struct jv *al = jv_get(root, "alloc");
    struct pm_alloc *a = &s->agent.alloc;
    s->agent.alloc_blocks = jv_int(jv_get(al, "blocks"), -1);
    a->arenas = jv_int(jv_get(al, "arenas"), -1);
    a->arenas_highwater = jv_int(jv_get(al, "arenas_highwater"), -1);
    a->pymalloc_used_bytes = jv_int(jv_get(al, "pymalloc_used_bytes"), -1);
    a->pymalloc_free_bytes = jv_int(jv_get(al, "pymalloc_free_bytes"), -1);
    a->malloc_used_bytes = jv_int(jv_get(al, "malloc_used_bytes"), -1);
    a->malloc_free_bytes = jv_int(jv_get(al, "malloc_free_bytes"), -1);
    a->mmap_bytes = jv_int(jv_get(al, "mmap_bytes"), -1);
    a->pymalloc_cost_ns = (uint64_t)jv_int(jv_get(al, "pymalloc_cost_ns"), 0);
    a->blocks_cost_ns = (uint64_t)jv_int(jv_get(al, "blocks_cost_ns"), 0);
    const struct jv *h = jv_get(al, "hook");
    a->hook_on = jv_bool(jv_get(h, "on"), false);
    for (int d = 0; d < PM_DOMAINS; d++) {
        a->hook_calls[d] = (uint64_t)jv_int(jv_at(jv_get(h, "calls"), (size_t)d), 0);
        a->hook_bytes[d] = (uint64_t)jv_int(jv_at(jv_get(h, "bytes"), (size_t)d), 0);
    }
    a->hook_cost_ns = (uint64_t)jv_int(jv_get(h, "cost_ns"), 0);
}

static void replay_types(struct session *s, const struct jv *root)
{
    const struct jv *types = jv_get(root, "types");
    size_t n = types && types->type == JV_ARRAY ? types->len : 0;
    struct typetable_row *rows = calloc(n ? n : 1, sizeof(*rows));
    if (!rows)
        return;
    size_t k = 0;
    for (const struct jv *t = types ? types->child : NULL; t && k < n; t = t->next) {
        struct typetable_row *row = &rows[k++];
        snprintf(row->name, sizeof(row->name), "%s", jv_str(jv_get(t, "name"), "?"));
        row->count = (uint64_t)jv_int(jv_get(t, "count"), 0);
        row->delta_attach = jv_int(jv_get(t, "delta_attach"), 0);
        row->delta_snapshot = jv_int(jv_get(t, "delta_snapshot"), 0);
        row->rate_per_min = jv_num(jv_get(t, "rate_per_min"), 0);
        row->suspect = jv_bool(jv_get(t, "suspect"), false);
    }
    const struct jv *c = jv_get(root, "census");
    typetable_load(s->types, rows, k, (uint64_t)jv_int(jv_get(c, "objects"), 0));
    free(rows);
    s->census.objects = (uint64_t)jv_int(jv_get(c, "objects"), 0);
    s->census.cost_ns = (uint64_t)jv_int(jv_get(c, "cost_ns"), 0);
    s->census.snapshots = (uint32_t)jv_int(jv_get(c, "snapshots"), 0);
    s->census.types_total = (uint32_t)jv_int(jv_get(root, "types_total"), (int64_t)k);
    s->census.method = strcmp(jv_str(jv_get(c, "method"), ""), "get_objects")
                           ? PM_CENSUS_GC_LISTS
                           : PM_CENSUS_GET_OBJECTS;
    s->censuses = (uint64_t)jv_int(jv_get(c, "censuses"), 0);
    s->agent.census_interval_ms = (uint64_t)jv_int(jv_get(c, "interval_ms"), 0);
    s->agent.census_cost_ns = s->census.cost_ns;
}

static void replay_sites(struct pm_sites *out, const struct jv *arr, uint8_t kind)
{
    memset(out, 0, sizeof(*out));
    out->kind = kind;
    out->time_ns = 1;
    for (const struct jv *e = arr ? arr->child : NULL; e && out->n < PM_MAX_SITES; e = e->next) {
        struct pm_site *st = &out->sites[out->n++];
        snprintf(st->where, sizeof(st->where), "%s", jv_str(jv_get(e, "where"), "?"));
        st->size_bytes = jv_int(jv_get(e, "size_bytes"), 0);
        st->count = jv_int(jv_get(e, "count"), 0);
        st->size_diff = jv_int(jv_get(e, "size_diff"), 0);
        st->count_diff = jv_int(jv_get(e, "count_diff"), 0);
    }
}

static void replay_cycles(struct session *s, const struct jv *root)
{
    const struct jv *cy = jv_get(root, "cycles");
    s->agent.garbage_len = jv_int(jv_get(cy, "garbage_len"), -1);
    for (int g = 0; g < PM_GENERATIONS; g++)
        s->recorded.collected_per_s[g] = jv_num(jv_at(jv_get(cy, "collected_per_s"), (size_t)g), 0);
    const struct jv *h = jv_get(cy, "last_hunt");
    s->have_hunt = h && h->type == JV_OBJECT;
    if (!s->have_hunt)
        return;
    struct pm_hunt *hu = &s->hunt;
    memset(hu, 0, sizeof(*hu));
    hu->time_ns = (uint64_t)jv_int(jv_get(h, "time_ns"), 0);
    hu->objects = (uint64_t)jv_int(jv_get(h, "objects"), 0);
    hu->cycles = (uint64_t)jv_int(jv_get(h, "cycles"), 0);
    hu->truncated = jv_bool(jv_get(h, "truncated"), false);
    hu->cost_ns = (uint64_t)jv_int(jv_get(h, "cost_ns"), 0);
    const struct jv *shapes = jv_get(h, "shapes");
    for (const struct jv *e = shapes ? shapes->child : NULL; e && hu->n_shapes < PM_MAX_SHAPES;
         e = e->next) {
        struct pm_shape *sh = &hu->shapes[hu->n_shapes++];
        snprintf(sh->path, sizeof(sh->path), "%s", jv_str(jv_get(e, "path"), "?"));
        snprintf(sh->advice, sizeof(sh->advice), "%s", jv_str(jv_get(e, "advice"), ""));
        sh->count = (uint64_t)jv_int(jv_get(e, "count"), 0);
        sh->bytes = (uint64_t)jv_int(jv_get(e, "bytes"), 0);
        sh->length = (uint64_t)jv_int(jv_get(e, "length"), 0);
    }
}

static void replay_tracemalloc(struct session *s, const struct jv *root)
{
    const struct jv *tm = jv_get(root, "tracemalloc");
    s->agent.tracemalloc_on = jv_bool(jv_get(tm, "on"), false);
    s->agent.traced_bytes = jv_int(jv_get(tm, "traced_bytes"), -1);
    s->agent.traced_peak_bytes = jv_int(jv_get(tm, "peak_bytes"), -1);
    const struct jv *top = jv_get(tm, "top"), *diff = jv_get(tm, "diff");
    s->have_sites_top = top != NULL;
    if (top)
        replay_sites(&s->sites_top, top, PM_SITES_TOP);
    s->have_sites_diff = diff != NULL;
    if (diff)
        replay_sites(&s->sites_diff, diff,
                     strcmp(jv_str(jv_get(tm, "diff_against"), ""), "baseline")
                         ? PM_SITES_DIFF_PREVIOUS
                         : PM_SITES_DIFF_BASELINE);
}

static void replay_header(struct session *s, const struct jv *root)
{
    s->target.pid = (pid_t)jv_int(jv_get(root, "pid"), 0);
    snprintf(s->hello.python, sizeof(s->hello.python), "%s", jv_str(jv_get(root, "python"), "?"));
    snprintf(s->target.cmdline, sizeof(s->target.cmdline), "%s",
             jv_str(jv_get(root, "command"), ""));
    const struct jv *ag = jv_get(root, "agent");
    s->injected = jv_bool(jv_get(ag, "injected"), false);
    s->interval_ms = (unsigned)jv_int(jv_get(ag, "interval_ms"), 1000);
    s->agent.observer_ns = (uint64_t)jv_int(jv_get(ag, "observer_ns"), 0);
    s->agent.sample_cost_ns = (uint64_t)jv_int(jv_get(ag, "sample_cost_ns"), 0);
    s->agent_samples = (uint64_t)jv_int(jv_get(ag, "samples"), 1);
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
    replay_proc(s, root, t);
    replay_gc(s, root, t);
    replay_alloc(s, root);
    replay_types(s, root);
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

/* 1. Overview: memory numbers and graph (RSS, Python allocator, tracemalloc),
 * the GC panel (generations against thresholds, pauses, sparkline and
 * histogram) and the types that grow the most and the leak suspects. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "derive.h"
#include "format.h"
#include "graph.h"
#include "view.h"

#define SPARK_FLOOR_NS 1000.0            /* pauses below 1us share the lowest glyph */
#define TOP_TYPES 32
#define RATE_W 13 /* "+1.21 MiB/min" */

static struct {
    uint64_t gen; /* typecache generation the lists below were made from */
    size_t grow[TOP_TYPES], n_grow;
    size_t susp[TOP_TYPES], n_susp;
} ov;

static void label_kib(char *buf, size_t len, double v)
{
    format_kib(buf, len, v > 0 ? (uint64_t)llround(v) : 0);
}

/* Keeps idx[] (n of at most TOP_TYPES) ordered by key, largest first. */
static void top_insert(size_t *idx, size_t *n, const struct typetable_row *rows, size_t i,
                       double (*key)(const struct typetable_row *))
{
    double k = key(&rows[i]);
    size_t pos = *n;
    while (pos > 0 && key(&rows[idx[pos - 1]]) < k)
        pos--;
    if (pos >= TOP_TYPES)
        return;
    size_t end = *n < TOP_TYPES ? *n : TOP_TYPES - 1;
    memmove(&idx[pos + 1], &idx[pos], (end - pos) * sizeof idx[0]);
    idx[pos] = i;
    if (*n < TOP_TYPES)
        (*n)++;
}

/* The growth a type is ranked by. With bytes known: memory per minute,
 * its bytes rate when its bytes grow relatively faster than its count
 * (typetable_grows_by_bytes: a few containers that keep growing), else its
 * count rate times its mean instance size (the same thing when instances
 * keep their size, and never less because a few shrank). Without bytes:
 * objects per minute. */
static double by_rate(const struct typetable_row *r)
{
    if (!r->bytes_known)
        return r->rate_per_min;
    if (typetable_grows_by_bytes(r) || !r->count)
        return r->bytes_rate_per_min;
    return r->rate_per_min * ((double)r->bytes / (double)r->count);
}

/* "+3.05 MiB/min" (bytes known) or "+1.2k/min". */
static void growth_str(char *buf, size_t len, const struct typetable_row *t)
{
    char rv[16];
    double g = by_rate(t);
    if (t->bytes_known)
        format_bytes(rv, sizeof rv, (uint64_t)llround(fabs(g)));
    else
        format_count(rv, sizeof rv, (int64_t)llround(fabs(g)));
    snprintf(buf, len, "%c%s/min", g < -0.5 ? '-' : '+', ui_trim(rv));
}

static void refresh_lists(const struct typecache *tc)
{
    if (ov.gen == tc->gen)
        return;
    ov.gen = tc->gen;
    ov.n_grow = ov.n_susp = 0;
    for (size_t i = 0; i < tc->n; i++) {
        const struct typetable_row *r = &tc->rows[i];
        if (r->suspect)
            top_insert(ov.susp, &ov.n_susp, tc->rows, i, by_rate);
        if (r->rate_per_min > 0 || r->delta_attach > 0 ||
            (r->bytes_known && (r->bytes_rate_per_min > 0 || r->bytes_delta_attach > 0)))
            top_insert(ov.grow, &ov.n_grow, tc->rows, i, by_rate);
    }
}

/* ---- memory ---------------------------------------------------------------- */

static void draw_memory(struct ui *u, WINDOW *w, const struct overview_layout *l)
{
    const struct session *s = u->s;
    const struct history *h = u->h;
    const struct pm_proc_sample *pr = &s->proc;
    bool have_proc = pr->time_ns != 0;
    bool tm = s->agent.tracemalloc_on;
    char v[48];

    /* Legend on the title rule: one glyph in each series' colour. */
    int x = ui_rule(u, w, l->mem_title, "Memory", NULL, 0);
    struct {
        const char *name;
        attr_t a;
        const char *glyph;
        bool on;
    } leg[] = {{"RSS", u->th.rss, u->utf8 ? "\xe2\xa3\xbf" : "#", true},
               {"pymalloc", u->th.alloc, u->utf8 ? "\xe2\xa0\x89" : "*", true},
               {"tracemalloc", u->th.traced, u->utf8 ? "\xe2\xa0\x89" : "+", tm}};
    int end = l->mem_title.x + l->mem_title.w - 1;
    for (size_t i = 0; i < 3; i++) {
        if (!leg[i].on)
            continue;
        int need = 2 + (int)strlen(leg[i].name) + 1;
        if (x + need > end)
            break;
        ui_text(u, w, l->mem_title.y, x + 1, 1, leg[i].a, leg[i].glyph);
        ui_putf(w, l->mem_title.y, x + 2, end - x - 2, u->th.dim, " %s ", leg[i].name);
        x += need + 1;
    }

    int y = l->mem_stats.y, wd = l->mem_stats.w;
    struct field f[8];
    int n = 0;
#define KIB_FIELD(label, val, prio)                                                        \
    do {                                                                                   \
        if (have_proc)                                                                     \
            format_kib(v, sizeof v, (val));                                                \
        else                                                                               \
            snprintf(v, sizeof v, "%*s", FORMAT_SIZE_W, "n/a");                            \
        field_set(&f[n++], label, u->th.value, prio, v);                                   \
    } while (0)
    KIB_FIELD("RSS", pr->rss_kib, 9);
    KIB_FIELD("anon", pr->anon_kib, 5);
    int64_t pym = s->agent.alloc.pymalloc_used_bytes;
    if (s->agent_samples && pym >= 0)
        format_kib(v, sizeof v, (uint64_t)pym / 1024);
    else
        snprintf(v, sizeof v, "%*s", FORMAT_SIZE_W, "n/a");
    field_set(&f[n++], "pymalloc", u->th.value, 7, v);
    if (tm) {
        format_kib(v, sizeof v, s->agent.traced_bytes > 0 ? (uint64_t)s->agent.traced_bytes / 1024 : 0);
        field_set(&f[n++], "traced", u->th.value, 6, v);
    }
    KIB_FIELD("swap", pr->swap_kib, 2);
#undef KIB_FIELD
    format_pct(v, sizeof v, have_proc ? pr->cpu_pct / 100.0 : -1);
    field_set(&f[n++], "CPU", u->th.value, 4, v);
    ui_fields(u, w, y, 0, wd, f, n, 2);

    if (l->mem_stats.h >= 2) {
        n = 0;
        bool enough = series_len(&s->rss_kib) >= 2;
        double slope = derive_growth_kib_per_min(&s->rss_kib);
        format_slope_kib(v, sizeof v, enough ? slope : NAN);
        double alert = u->growth_alert_kib_per_min > 0 ? u->growth_alert_kib_per_min : 10 * 1024;
        attr_t ga = slope >= alert ? u->th.bad : slope >= alert / 10 ? u->th.warn : u->th.value;
        field_set(&f[n++], "growth", ga, 9, v);
        if (series_len(&s->pymalloc_kib) >= 2) {
            format_slope_kib(v, sizeof v,
                             derive_growth_kib_per_min(&s->pymalloc_kib));
            field_set(&f[n++], "pymalloc", u->th.value, 6, v);
        }
        bool known = s->agent_samples > 0 && s->agent.alloc_blocks >= 0;
        format_count(v, sizeof v, known ? s->agent.alloc_blocks : -1);
        field_set(&f[n++], "blocks", u->th.value, 5, v);
        format_count(v, sizeof v, have_proc ? (int64_t)pr->majflt : -1);
        field_set(&f[n++], "major faults", pr->majflt ? u->th.warn : u->th.value, 2, v);
        snprintf(v, sizeof v, "%3u", have_proc ? pr->threads : 0);
        field_set(&f[n++], "threads", u->th.value, 1, v);
        ui_fields(u, w, y + 1, 0, wd, f, n, 2);
    }

    struct rect g = l->mem_graph;
    if (rect_empty(g))
        return;
    struct graph_opts go = {
        .utf8 = u->utf8,
        .plot_attr = u->th.rss,
        .axis_attr = u->th.dim,
        .label = label_kib,
        .label_w = FORMAT_SIZE_W,
        .min_range = 1024.0,
    };
    double last = series_last(&s->rss_kib);
    if (last * 0.02 > go.min_range)
        go.min_range = last * 0.02; /* wiggles under 2% of RSS are not news */
    struct graph_line lines[3] = {
        {&s->rss_kib, u->th.rss, '#'},
        {&s->pymalloc_kib, u->th.alloc, '*'},
        {&h->traced_kib, u->th.traced, '+'},
    };
    int nl = 2 + (series_len(&h->traced_kib) > 0);
    graph_multi(w, g.y, g.x, g.h, g.w, lines, nl, &go);
}

/* ---- GC ---------------------------------------------------------------------- */

static void draw_gens(struct ui *u, WINDOW *w, const struct overview_layout *l)
{
    const struct session *s = u->s;
    const struct pm_agent_sample *a = &s->agent;
    bool have = s->agent_samples > 0;
    char v[48], t[48];
    int x = l->gc_gens.x, wd = l->gc_gens.w, end = x + wd;

    int tx = ui_rule(u, w, l->gc_title, "GC", !have ? "" : a->gc_enabled ? "enabled" : "DISABLED",
                     have && !a->gc_enabled ? u->th.warn : u->th.good);

    static const char *const wide[] = {"collections", "collected", "uncollectable"};
    static const char *const narrow[] = {"colls", "freed", "uncoll"};
    int gap = 2, cw[3];
    const char *const *heads = wide;
    for (int i = 0; i < 3; i++)
        cw[i] = (int)strlen(wide[i]);
    int fixed = 3 + 11 + 3 * gap + cw[0] + cw[1] + cw[2] + gap;
    if (wd - fixed < 10) {
        heads = narrow;
        gap = 1;
        for (int i = 0; i < 3; i++)
            cw[i] = (int)strlen(narrow[i]);
        fixed = 3 + 11 + 3 * gap + cw[0] + cw[1] + cw[2] + gap;
    }
    int bar_w = wd - fixed - gap;
    if (bar_w > 30)
        bar_w = 30;
    if (bar_w < 4)
        bar_w = 0;
    int x_ct = x + 3 + gap;
    int x_bar = x_ct + 11 + gap;
    int x_c0 = bar_w ? x_bar + bar_w + gap : x_bar;
    /* Column heads on the title rule, right of the title. */
    int cx = x_c0;
    for (int i = 0; i < 3; i++) {
        if (cx - 1 > tx)
            ui_putf(w, l->gc_title.y, cx - 1, end - cx + 1, u->th.dim, " %*s ", cw[i], heads[i]);
        cx += cw[i] + gap;
    }
    if (bar_w && x_bar - 1 > tx && x_bar + 18 < x_c0)
        ui_put(w, l->gc_title.y, x_bar - 1, 19, u->th.dim, " count / threshold ");

    int y = l->gc_gens.y;
    for (int g = 0; g < PM_GENERATIONS; g++, y++) {
        ui_putf(w, y, x, 3, u->th.value, "%3d", g);
        if (!have) {
            ui_put(w, y, x_ct, end - x_ct, u->th.dim, g == 0 ? "waiting for the agent" : "");
            continue;
        }
        format_count(v, sizeof v, a->counts[g]);
        format_count(t, sizeof t, a->thresholds[g]);
        ui_putf(w, y, x_ct, 11, u->th.value, "%s/%-5s", v, ui_trim(t));
        if (bar_w) {
            double frac = a->thresholds[g] > 0 ? (double)a->counts[g] / (double)a->thresholds[g]
                                               : 0;
            graph_bar(w, y, x_bar, bar_w, frac, u->utf8, frac >= 0.9 ? u->th.warn : u->th.rss,
                      u->th.dim);
        }
        cx = x_c0;
        int64_t cols3[3] = {a->collections[g], a->collected[g], a->uncollectable[g]};
        for (int i = 0; i < 3; i++) {
            format_count(v, sizeof v, cols3[i]);
            attr_t ca = (i == 2 && cols3[i] > 0) ? u->th.bad : u->th.value;
            ui_putf(w, y, cx, end - cx, ca, "%*s", cw[i], v);
            cx += cw[i] + gap;
        }
    }
}

static attr_t share_attr(const struct ui *u, double share)
{
    return share > 0.2 ? u->th.bad : share > 0.05 ? u->th.warn : u->th.value;
}

/* What the target noticed of us: our longest GIL hold in the last minute,
 * what it was doing, and (on a line of their own) how much of it our thread
 * ran (the rest it was preempted holding the GIL) and how much was a
 * collection inside it. Fills f[0..3], returns how many; `own_line`: the
 * line is theirs, else they go first when the GC's numbers need the room. */
static int ours_fields(struct ui *u, struct field *f, bool own_line)
{
    struct pm_hold ours = holdlog_max(&u->s->holds, u->now_ns, 60000000000ull);
    char v[48];
    int n = 0;
    format_duration(v, sizeof v, ours.ns);
    field_set(&f[n++], "pymemtop max 1m", ui_pause_attr(u, ours.ns), own_line ? 6 : 2, v);
    if (ours.ns && ours.what[0])
        field_set(&f[n++], "in", u->th.dim, own_line ? 3 : 1, ours.what);
    if (!own_line)
        return n;
    if (ours.ns && ours.cpu_ns) {
        format_pct(v, sizeof v, ours.cpu_ns >= ours.ns ? 1.0 : (double)ours.cpu_ns / (double)ours.ns);
        field_set(&f[n++], "on CPU", u->th.dim, 2, v);
    }
    if (ours.gc_ns) {
        format_duration(v, sizeof v, ours.gc_ns);
        field_set(&f[n++], "GC", u->th.warn, 1, v);
    }
    return n;
}

static void draw_pauses(struct ui *u, WINDOW *w, const struct overview_layout *l)
{
    const struct session *s = u->s;
    const struct pm_agent_sample *a = &s->agent;
    bool have = s->agent_samples > 0;
    char v[48];
    const struct pm_gc_pause *lastp = s->pause_len ? session_pause_at(s, s->pause_len - 1) : NULL;
    uint64_t p50 = session_pause_quantile(s, 0.50);
    uint64_t p99 = session_pause_quantile(s, 0.99);
    struct field f[9];
    int n = 0;
    bool two = l->gc_pauses.h >= 2;
    int y = l->gc_pauses.y, x = l->gc_pauses.x, wd = l->gc_pauses.w;

    format_count(v, sizeof v, have ? (int64_t)a->pause_count : -1);
    field_set(&f[n++], "pauses", u->th.value, 9, v);
    double share = have ? session_gc_share(s, u->now_ns) : -1;
    format_pct(v, sizeof v, share);
    /* Beside the share since attach, the one since process start where the
     * interpreter times its collections (3.15+): the widest labels that keep
     * both next to the pause count. */
    double since = have ? session_gc_share_since_start(s) : -1;
    if (since < 0) {
        field_set(&f[n++], "GC share of wall time", share_attr(u, share), 8, v);
    } else {
        static const char *const attach_label[] = {"GC of wall since attach", "GC since attach",
                                                   "GC since attach"};
        static const char *const start_label[] = {"since start", "since start", "start"};
        int lv = 0;
        for (; lv < 2; lv++) {
            int need = field_w(&f[0]) + 2 + (int)strlen(attach_label[lv]) + 1 + FORMAT_PCT_W +
                       2 + (int)strlen(start_label[lv]) + 1 + FORMAT_PCT_W;
            if (need <= wd)
                break;
        }
        field_set(&f[n++], attach_label[lv], share_attr(u, share), 8, v);
        format_pct(v, sizeof v, since);
        field_set(&f[n++], start_label[lv], share_attr(u, since), 4, v);
    }
    if (two) {
        format_duration(v, sizeof v, have ? a->pause_total_ns : 0);
        field_set(&f[n++], "total", u->th.value, 3, v);
        if (have && a->pauses_dropped) {
            snprintf(v, sizeof v, "%u", a->pauses_dropped);
            field_set(&f[n++], "not carried", u->th.warn, 1, v);
        }
        if (l->gc_pauses.h < 3)
            n += ours_fields(u, &f[n], false);
    } else {
        format_duration(v, sizeof v, p99);
        field_set(&f[n++], "p99", ui_pause_attr(u, p99), 7, v);
        format_duration(v, sizeof v, have ? a->pause_max_ns : 0);
        field_set(&f[n++], "max", ui_pause_attr(u, a->pause_max_ns), 6, v);
    }
    ui_fields(u, w, y, x, wd, f, n, 2);
    if (!two)
        return;
    n = 0;
    uint64_t last_ns = session_pause_last(s);
    format_duration(v, sizeof v, last_ns);
    field_set(&f[n++], "last", ui_pause_attr(u, last_ns), 5, v);
    format_duration(v, sizeof v, p50);
    field_set(&f[n++], "p50", ui_pause_attr(u, p50), 7, v);
    format_duration(v, sizeof v, p99);
    field_set(&f[n++], "p99", ui_pause_attr(u, p99), 8, v);
    format_duration(v, sizeof v, have ? a->pause_max_ns : 0);
    field_set(&f[n++], "max", ui_pause_attr(u, a->pause_max_ns), 9, v);
    if (lastp) {
        snprintf(v, sizeof v, "gen %u, %lld freed", (unsigned)lastp->generation,
                 (long long)lastp->collected);
        field_set(&f[n++], "last was", u->th.dim, 1, v);
    }
    ui_fields(u, w, y + 1, x, wd, f, n, 2);
    if (l->gc_pauses.h >= 3) {
        struct field mine[4];
        ui_fields(u, w, y + 2, x, wd, mine, ours_fields(u, mine, true), 2);
    }
}

/* Newest pauses, one column each, log scale (a 50 ms pause must not flatten
 * the 50 us ones). */
static void draw_spark(struct ui *u, WINDOW *w, struct rect r)
{
    const struct session *s = u->s;
    if (rect_empty(r))
        return;
    char v[48];
    const char *lab = "recent";
    int lw = (int)strlen(lab) + 1;
    if (s->pause_len == 0) {
        ui_put(w, r.y, r.x, r.w, u->th.dim, "recent  no collection yet");
        return;
    }
    int sx = r.x + lw, sw = r.w - lw - 13;
    int bars_h = r.h;
    if (sw < 4)
        return;
    double vals[512];
    size_t k = s->pause_len < (size_t)sw ? s->pause_len : (size_t)sw;
    if (k > sizeof vals / sizeof vals[0])
        k = sizeof vals / sizeof vals[0];
    uint64_t mx = 0;
    for (size_t i = 0; i < k; i++) {
        const struct pm_gc_pause *pp = session_pause_at(s, s->pause_len - k + i);
        uint64_t ns = pp ? pp->pause_ns : 0;
        vals[i] = log10(ns > SPARK_FLOOR_NS ? (double)ns : SPARK_FLOOR_NS);
        if (ns > mx)
            mx = ns;
    }
    double hi = log10(mx > 10 * SPARK_FLOOR_NS ? (double)mx : 10 * SPARK_FLOOR_NS);
    attr_t sa = ui_pause_attr(u, mx) == u->th.value ? u->th.rss : ui_pause_attr(u, mx);
    ui_put(w, r.y + bars_h - 1, r.x, lw, u->th.dim, lab);
    graph_sparkline(w, r.y, sx, bars_h, sw, vals, k, log10(SPARK_FLOOR_NS), hi, u->utf8, sa);
    format_duration(v, sizeof v, mx);
    ui_putf(w, r.y + bars_h - 1, sx + (int)k + 1, 12, u->th.dim, "max %s", ui_trim(v));
}

/* How pause durations spread: the kept pauses in log-spaced bins from the
 * shortest to the longest, bars scaled to the fullest bin. */
static void draw_hist(struct ui *u, WINDOW *w, struct rect r)
{
    const struct session *s = u->s;
    if (rect_empty(r) || s->pause_len == 0)
        return;
    char lo_s[16], hi_s[16];
    uint64_t mn = UINT64_MAX, mx = 0;
    for (size_t i = 0; i < s->pause_len; i++) {
        uint64_t ns = session_pause_at(s, i)->pause_ns;
        if (ns < mn)
            mn = ns;
        if (ns > mx)
            mx = ns;
    }
    if (mn < 1000)
        mn = 1000;
    if (mx < mn * 2)
        mx = mn * 2;
    format_duration(lo_s, sizeof lo_s, mn);
    format_duration(hi_s, sizeof hi_s, mx);
    const char *ls = ui_trim(lo_s), *hs = ui_trim(hi_s);
    int one_line = r.h == 1;
    const char *lab = "spread";
    int lw = (int)strlen(lab) + 1;
    int bx = r.x + lw + (one_line ? (int)strlen(ls) + 1 : 0);
    int bw = r.x + r.w - bx - (one_line ? (int)strlen(hs) + 1 : 0);
    if (bw < 4)
        return;
    if (bw > 64)
        bw = 64;
    double bins[64] = {0};
    double l0 = log((double)mn), l1 = log((double)mx);
    for (size_t i = 0; i < s->pause_len; i++) {
        uint64_t ns = session_pause_at(s, i)->pause_ns;
        double p = ((ns < mn ? log((double)mn) : log((double)ns)) - l0) / (l1 - l0);
        int b = (int)(p * bw);
        bins[b >= bw ? bw - 1 : b < 0 ? 0 : b] += 1;
    }
    double top = 0;
    for (int i = 0; i < bw; i++)
        if (bins[i] > top)
            top = bins[i];
    for (int i = 0; i < bw; i++)
        if (bins[i] == 0)
            bins[i] = NAN; /* empty bins stay blank */
    int bars_h = one_line ? 1 : r.h - 1;
    graph_sparkline(w, r.y, bx, bars_h, bw, bins, (size_t)bw, 0, top, u->utf8, u->th.rss);
    int ly = one_line ? r.y : r.y + r.h - 1;
    ui_put(w, ly, r.x, lw, u->th.dim, lab);
    if (one_line) {
        ui_put(w, ly, r.x + lw, (int)strlen(ls), u->th.dim, ls);
        ui_put(w, ly, bx + bw + 1, (int)strlen(hs), u->th.dim, hs);
    } else {
        ui_put(w, ly, bx, bw, u->th.dim, ls);
        if (bw > (int)strlen(ls) + (int)strlen(hs) + 1)
            ui_put(w, ly, bx + bw - (int)strlen(hs), (int)strlen(hs), u->th.dim, hs);
    }
}

/* ---- types --------------------------------------------------------------------- */

static void type_row(struct ui *u, WINDOW *w, int y, struct rect r, const struct typetable_row *t)
{
    char d[16], rate[24];
    format_delta(d, sizeof d, t->delta_attach);
    growth_str(rate, sizeof rate, t);
    int rw = RATE_W, dw = FORMAT_DELTA_W;
    int name_w = r.w - rw - dw - 2;
    if (name_w < 8) { /* narrow: name and rate only */
        name_w = r.w - rw - 1;
        dw = 0;
    }
    ui_text(u, w, y, r.x, name_w, t->suspect ? u->th.warn : A_NORMAL, t->name);
    if (dw)
        ui_right(w, y, r.x + name_w + 1, dw, u->th.value, d);
    ui_right(w, y, r.x + r.w - rw, rw, u->th.value, rate);
}

static void draw_list(struct ui *u, WINDOW *w, struct rect r, const char *head, const size_t *idx,
                      size_t n, const char *empty)
{
    if (rect_empty(r))
        return;
    const struct typecache *tc = u->types;
    if (r.h == 1) { /* compact: "suspects  Session +2.5k/min, Node +1.2k/min" */
        int x = r.x;
        int hw = ui_text(u, w, r.y, x, r.w, u->th.title, head);
        x += hw + 2;
        if (n == 0) {
            ui_text(u, w, r.y, x, r.x + r.w - x, u->th.dim, empty);
            return;
        }
        for (size_t i = 0; i < n && x < r.x + r.w - 4; i++) {
            const struct typetable_row *t = &tc->rows[idx[i]];
            char rv[24], item[200];
            growth_str(rv, sizeof rv, t);
            snprintf(item, sizeof item, "%s%s %s", i ? ", " : "", t->name, rv);
            x += ui_text(u, w, r.y, x, r.x + r.w - x, t->suspect ? u->th.warn : A_NORMAL, item);
        }
        return;
    }
    ui_text(u, w, r.y, r.x, r.w - 22, u->th.title, head);
    ui_right(w, r.y, r.x + r.w - RATE_W - 1 - FORMAT_DELTA_W, FORMAT_DELTA_W, u->th.dim, "attach");
    ui_right(w, r.y, r.x + r.w - RATE_W, RATE_W, u->th.dim,
             n && tc->rows[idx[0]].bytes_known ? "memory" : "rate");
    if (n == 0) {
        ui_text(u, w, r.y + 1, r.x, r.w, u->th.dim, empty);
        return;
    }
    for (int i = 0; i < r.h - 1 && (size_t)i < n; i++)
        type_row(u, w, r.y + 1 + i, r, &tc->rows[idx[i]]);
}

static void draw_types(struct ui *u, WINDOW *w, const struct overview_layout *l)
{
    const struct session *s = u->s;
    const struct typecache *tc = u->types;
    refresh_lists(tc);
    char extra[120] = "";
    if (s->censuses) {
        char age[40];
        ui_census_age(u, age, sizeof age);
        uint64_t bytes;
        double share = typetable_bytes_total(u->s->types, &bytes)
                           ? derive_bytes_share(bytes, &s->agent.alloc)
                           : -1;
        char pct[16] = "";
        if (share >= 0)
            format_pct(pct, sizeof pct, share);
        snprintf(extra, sizeof extra, "%zu types%s%s%s%s", tc->types_total,
                 share >= 0 ? ", explain " : "", ui_trim(pct), share >= 0 ? " of heap" : "", age);
    }
    ui_rule(u, w, l->types_title, "Types", extra, u->th.dim);
    const char *wait = s->censuses ? "none growing" : "waiting for the first census (n: now)";
    char shead[64];
    snprintf(shead, sizeof shead, "%s", "leak suspects");
    draw_list(u, w, l->types_grow, "growing fastest", ov.grow, ov.n_grow, wait);
    draw_list(u, w, l->types_suspect, rect_empty(l->types_grow) && l->types_suspect.h == 1 ? "suspects" : shead,
              ov.susp, ov.n_susp,
              s->censuses < 2 ? "need a few censuses" : "none: no type grew in every census");
}

static void overview_draw(struct ui *u, WINDOW *w, int h, int wd)
{
    struct overview_layout l;
    layout_overview(&l, wd, h);
    draw_memory(u, w, &l);
    if (!rect_empty(l.gc_gens)) {
        draw_gens(u, w, &l);
        draw_pauses(u, w, &l);
        draw_spark(u, w, l.gc_spark);
        draw_hist(u, w, l.gc_hist);
    }
    draw_types(u, w, &l);
}

static bool overview_key(struct ui *u, int ch)
{
    (void)u;
    (void)ch;
    return false;
}

static void overview_resize(struct ui *u, int h, int wd)
{
    (void)u;
    (void)h;
    (void)wd;
}

static const char *const overview_help[] = {
    "  growth   RSS slope over the last minute (alert threshold: [alerts])",
    "  spread   pause durations, shortest to longest, log scale",
    NULL,
};

const struct view_class view_overview = {
    .name = "Overview",
    .short_name = "Over",
    .draw = overview_draw,
    .on_key = overview_key,
    .on_resize = overview_resize,
    .help = overview_help,
    .hints = NULL,
};

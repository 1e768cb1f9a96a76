/* The overview screen: curses set-up, the event loop (keyboard, agent socket,
 * timer through one poll()), and drawing of every panel from struct session. */
#include "dashboard.h"

#ifndef NCURSES_WIDECHAR
#define NCURSES_WIDECHAR 1
#endif
#include <curses.h>
#include <errno.h>
#include <langinfo.h>
#include <locale.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "format.h"
#include "graph.h"
#include "layout.h"

#define NS_PER_MS 1000000ull
#define NS_PER_S 1000000000ull
#define GROWTH_WINDOW_NS (60 * NS_PER_S) /* RSS slope over the last minute */
#define SPARK_FLOOR_NS 1000.0            /* pauses below 1us share the lowest glyph */

enum {
    PAIR_TITLE = 1,
    PAIR_GOOD,
    PAIR_WARN,
    PAIR_BAD,
    PAIR_GRAPH,
    PAIR_BADGE_GOOD,
    PAIR_BADGE_WARN,
    PAIR_BADGE_BAD,
    PAIR_KEY,
};

struct theme {
    attr_t title, value, dim, good, warn, bad, graph, badge_good, badge_warn, badge_bad, key;
};

struct dash {
    struct session *s;
    bool utf8;
    struct theme th;
    struct layout lay;
    WINDOW *w_header, *w_mem, *w_alloc, *w_gc, *w_status, *w_help;
    bool help;
    unsigned tm_frames; /* tracemalloc frames for 't' */
    char msg[160];   /* our own status message (key feedback) */
    uint64_t msg_ns; /* when it was set; newer than s->status_ns wins */
    /* Last data worth showing: kept when the target exits. */
    struct pm_proc_sample proc;
    bool have_proc;
};

static volatile sig_atomic_t quit_flag;

static void on_quit_signal(int sig)
{
    (void)sig;
    quit_flag = 1;
}

/* ---- small drawing helpers ------------------------------------------------ */

static void put(WINDOW *w, int y, int x, int maxw, attr_t a, const char *str)
{
    if (maxw <= 0 || !w)
        return;
    wattrset(w, a);
    mvwaddnstr(w, y, x, str, maxw);
    wattrset(w, A_NORMAL);
}

static void putf(WINDOW *w, int y, int x, int maxw, attr_t a, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
static void putf(WINDOW *w, int y, int x, int maxw, attr_t a, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    put(w, y, x, maxw, a, buf);
}

/* UTF-8 text from outside (command lines, messages), cut with an ellipsis. */
static int put_text(const struct dash *d, WINDOW *w, int y, int x, int maxw, attr_t a,
                    const char *str)
{
    char buf[1024];
    if (maxw <= 0)
        return 0;
    int used = format_truncate(buf, sizeof buf, str, maxw, d->utf8);
    wattrset(w, a);
    mvwaddstr(w, y, x, buf);
    wattrset(w, A_NORMAL);
    return used;
}

/* A row of "label value" fields that drops the least important ones until
 * the rest fit; values have fixed widths so nothing shifts between frames. */
struct field {
    const char *label; /* may be "" */
    char value[48];
    attr_t attr;       /* of the value */
    int prio;          /* higher survives longer */
};

static int field_w(const struct field *f)
{
    int lw = (int)strlen(f->label);
    return lw + (lw ? 1 : 0) + format_cols(f->value);
}

static void draw_fields(const struct dash *d, WINDOW *w, int y, int x, int maxw, struct field *f,
                        int n, int gap)
{
    bool on[16];
    if (n > 16)
        n = 16;
    for (int i = 0; i < n; i++)
        on[i] = true;
    for (;;) {
        int total = 0, shown = 0;
        for (int i = 0; i < n; i++)
            if (on[i]) {
                total += field_w(&f[i]) + (shown ? gap : 0);
                shown++;
            }
        if (total <= maxw || shown <= 1)
            break;
        int worst = -1;
        for (int i = 0; i < n; i++)
            if (on[i] && (worst < 0 || f[i].prio < f[worst].prio))
                worst = i;
        on[worst] = false;
    }
    int cx = x, end = x + maxw;
    bool first = true;
    for (int i = 0; i < n; i++) {
        if (!on[i])
            continue;
        if (!first)
            cx += gap;
        first = false;
        int lw = (int)strlen(f[i].label);
        if (lw) {
            put(w, y, cx, end - cx, d->th.dim, f[i].label);
            cx += lw + 1;
        }
        cx += put_text(d, w, y, cx, end - cx, f[i].attr, f[i].value);
        if (cx >= end)
            break;
    }
}

static void field_set(struct field *f, const char *label, attr_t a, int prio, const char *value)
{
    f->label = label;
    f->attr = a;
    f->prio = prio;
    size_t l = strlen(value);
    if (l >= sizeof f->value)
        l = sizeof f->value - 1;
    memcpy(f->value, value, l);
    f->value[l] = '\0';
}

/* Border with a title, or (unboxed) a rule line with the title. */
static void draw_frame(const struct dash *d, WINDOW *w, const struct panel_rect *p, bool titled,
                       const char *title, const char *extra, attr_t extra_attr)
{
    int width = p->outer.w;
    if (d->lay.boxed) {
        if (d->utf8)
            box(w, 0, 0);
        else
            wborder(w, '|', '|', '-', '-', '+', '+', '+', '+');
    } else if (titled) {
        for (int c = 0; c < width; c++) {
            if (d->utf8)
                graph_put_wch(w, 0, c, L'\x2500', d->th.dim);
            else
                put(w, 0, c, 1, d->th.dim, "-");
        }
    } else {
        return;
    }
    if (!title)
        return;
    int x = 1;
    putf(w, 0, x, width - x - 1, d->th.title, " %s ", title);
    x += (int)strlen(title) + 2;
    if (extra && x < width - 2)
        putf(w, 0, x, width - x - 1, extra_attr, "%s ", extra);
}

/* ---- panels --------------------------------------------------------------- */

static uint64_t ref_now(const struct dash *d, uint64_t now)
{
    /* Once the target is gone, times freeze at its last sample. */
    if (d->s->state == SESSION_TARGET_EXITED && d->have_proc && d->proc.time_ns)
        return d->proc.time_ns;
    return now;
}

static void draw_header(struct dash *d, WINDOW *w, uint64_t now)
{
    const struct session *s = d->s;
    int cols = d->lay.header.w;
    char buf[64], up[16];

    /* The state badge, right-aligned on the first line. */
    const char *badge;
    attr_t ba;
    switch (s->state) {
    case SESSION_LIVE:
        badge = s->injected ? " LIVE \xc2\xb7 injected " : " LIVE \xc2\xb7 reused ";
        if (!d->utf8)
            badge = s->injected ? " LIVE - injected " : " LIVE - reused ";
        ba = d->th.badge_good;
        break;
    case SESSION_TARGET_EXITED:
        badge = " TARGET EXITED ";
        ba = d->th.badge_bad;
        break;
    case SESSION_AGENT_LOST:
        badge = " AGENT LOST ";
        ba = d->th.badge_warn;
        break;
    default:
        badge = " DETACHED ";
        ba = d->th.badge_warn;
        break;
    }
    int bw = format_cols(badge);
    if (bw > cols)
        bw = cols;
    put_text(d, w, 0, cols - bw, bw, ba | A_BOLD, badge);

    struct field f[4];
    int n = 0;
    field_set(&f[n++], "", d->th.title, 1, "pymemtop");
    snprintf(buf, sizeof buf, "%d", (int)s->target.pid);
    field_set(&f[n++], "PID", d->th.value, 5, buf);
    if (s->hello.python[0])
        snprintf(buf, sizeof buf, "%.31s", s->hello.python);
    else if (s->target.py_major)
        snprintf(buf, sizeof buf, "%d.%d", s->target.py_major, s->target.py_minor);
    else
        snprintf(buf, sizeof buf, "?");
    field_set(&f[n++], "Python", d->th.value, 3, buf);
    if (d->have_proc && d->proc.start_time_ns && ref_now(d, now) > d->proc.start_time_ns) {
        format_uptime(up, sizeof up, ref_now(d, now) - d->proc.start_time_ns);
        char *p = up;
        while (*p == ' ')
            p++;
        field_set(&f[n++], "up", d->th.value, 4, p);
    }
    draw_fields(d, w, 0, 0, cols - bw - 1, f, n, 2);

    /* Second line: interval and observer cost on the right, command line in
     * whatever is left. */
    struct field r[2];
    int rn = 0;
    char iv[16], cost[16];
    format_duration(iv, sizeof iv, (uint64_t)s->interval_ms * NS_PER_MS);
    char *ivp = iv;
    while (*ivp == ' ')
        ivp++;
    field_set(&r[rn++], "every", d->th.value, 2, ivp);
    uint64_t t = ref_now(d, now);
    attr_t ca = d->th.value;
    if (s->agent_samples > 0 && s->attached_ns && t > s->attached_ns) {
        double share = (double)s->agent.observer_ns / (double)(t - s->attached_ns);
        format_pct(cost, sizeof cost, share);
        ca = share > 0.05 ? d->th.bad : share > 0.01 ? d->th.warn : d->th.value;
    } else {
        format_pct(cost, sizeof cost, -1);
    }
    field_set(&r[rn++], "observer", ca, 1, cost);
    int rw = 0;
    for (int i = 0; i < rn; i++)
        rw += field_w(&r[i]) + (i ? 2 : 0);
    int cmd_min = 16;
    if (cols - rw - 1 < cmd_min) { /* drop the cost, then the interval */
        rn = cols - field_w(&r[0]) - 1 >= cmd_min ? 1 : 0;
        rw = rn ? field_w(&r[0]) : 0;
    }
    if (rn)
        draw_fields(d, w, 1, cols - rw, rw, r, rn, 2);
    const char *cmd = s->target.cmdline[0] ? s->target.cmdline : s->target.comm;
    put_text(d, w, 1, 0, cols - rw - (rn ? 2 : 0), A_NORMAL, cmd[0] ? cmd : "?");
}

static void label_kib(char *buf, size_t len, double v)
{
    format_kib(buf, len, v > 0 ? (uint64_t)llround(v) : 0);
}

static void draw_memory(struct dash *d, WINDOW *w, uint64_t now)
{
    (void)now;
    const struct session *s = d->s;
    const struct panel_rect *p = &d->lay.memory;
    const struct pm_proc_sample *pr = &d->proc;
    char v[48];
    draw_frame(d, w, p, true, "Memory", NULL, 0);
    int oy = p->outer.y, ox = p->outer.x;
    struct rect st = d->lay.mem_stats;
    int y = st.y - oy, x = st.x - ox, wd = st.w;
    if (wd > 2 && d->lay.boxed) { /* breathing room inside the border */
        x += 1;
        wd -= 2;
    }

    struct field f[6];
    int n = 0;
#define KIB_FIELD(label, val, prio)                                                            \
    do {                                                                                       \
        if (d->have_proc)                                                                      \
            format_kib(v, sizeof v, (val));                                                    \
        else                                                                                   \
            snprintf(v, sizeof v, "%*s", FORMAT_SIZE_W, "n/a");                                \
        field_set(&f[n++], label, d->th.value, prio, v);                                       \
    } while (0)
    KIB_FIELD("RSS", pr->rss_kib, 9);
    KIB_FIELD("anon", pr->anon_kib, 6);
    KIB_FIELD("swap", pr->swap_kib, 4);
    KIB_FIELD("VSZ", pr->vsz_kib, 2);
#undef KIB_FIELD
    format_pct(v, sizeof v, d->have_proc ? pr->cpu_pct / 100.0 : -1);
    field_set(&f[n++], "CPU", d->th.value, 5, v);
    draw_fields(d, w, y, x, wd, f, n, 2);

    n = 0;
    double slope = series_slope_per_min(&s->rss_kib, GROWTH_WINDOW_NS);
    format_slope_kib(v, sizeof v, series_len(&s->rss_kib) >= 2 ? slope : NAN);
    attr_t ga = slope > 10 * 1024 ? d->th.bad : slope > 1024 ? d->th.warn : d->th.value;
    field_set(&f[n++], "growth", ga, 9, v);
    format_count(v, sizeof v, d->have_proc ? (int64_t)pr->minflt : -1);
    field_set(&f[n++], "faults minor", d->th.value, 4, v);
    format_count(v, sizeof v, d->have_proc ? (int64_t)pr->majflt : -1);
    field_set(&f[n++], "major", pr->majflt ? d->th.warn : d->th.value, 3, v);
    snprintf(v, sizeof v, "%3u", d->have_proc ? pr->threads : 0);
    field_set(&f[n++], "threads", d->th.value, 1, v);
    if (st.h >= 2)
        draw_fields(d, w, y + 1, x, wd, f, n, 2);

    struct rect g = d->lay.mem_graph;
    if (rect_empty(g))
        return;
    struct graph_opts go = {
        .utf8 = d->utf8,
        .plot_attr = d->th.graph,
        .axis_attr = d->th.dim,
        .step_ns = 0,
        .label = label_kib,
        .label_w = FORMAT_SIZE_W,
        .min_range = 1024.0,
    };
    double last = series_last(&s->rss_kib);
    if (last * 0.02 > go.min_range)
        go.min_range = last * 0.02; /* wiggles under 2% of RSS are not news */
    graph_series(w, g.y - oy, g.x - ox + (d->lay.boxed ? 1 : 0), g.h,
                 g.w - (d->lay.boxed ? 2 : 0), &s->rss_kib, &go);
}

static void draw_alloc(struct dash *d, WINDOW *w, uint64_t now)
{
    (void)now;
    const struct session *s = d->s;
    const struct panel_rect *p = &d->lay.alloc;
    draw_frame(d, w, p, false, "Python allocator", NULL, 0);
    int y = p->inner.y - p->outer.y, x = p->inner.x - p->outer.x, wd = p->inner.w;
    if (d->lay.boxed) {
        x += 1;
        wd -= 2;
    }
    char v[48];
    bool known = s->agent_samples > 0 && s->agent.alloc_blocks >= 0;
    const char *label = d->lay.boxed ? "allocated blocks" : "Python blocks";
    struct field f[2];
    int n = 0;
    format_count(v, sizeof v, known ? s->agent.alloc_blocks : -1);
    field_set(&f[n++], label, d->th.value, 9, v);
    if (known && series_len(&s->alloc_blocks) >= 2) {
        double sl = series_slope_per_min(&s->alloc_blocks, GROWTH_WINDOW_NS);
        char c[16];
        format_count(c, sizeof c, (int64_t)llround(fabs(sl)));
        char *cp = c;
        while (*cp == ' ')
            cp++;
        snprintf(v, sizeof v, "%c%s/min", sl < -0.5 ? '-' : '+', cp);
        snprintf(f[n].value, sizeof f[n].value, "%*s", 10, v);
        f[n].label = "";
        f[n].attr = d->th.value;
        f[n].prio = 5;
        n++;
    }
    draw_fields(d, w, y, x, wd, f, n, 2);
    int used = 0;
    for (int i = 0; i < n; i++)
        used += field_w(&f[i]) + 2;
    int sw = wd - used - 1;
    size_t len = series_len(&s->alloc_blocks);
    if (!known || sw < 8 || len < 2)
        return;
    /* Trend of the newest samples, one cell each, scaled to their own range. */
    size_t k = len < (size_t)sw ? len : (size_t)sw;
    double vals[512];
    if (k > sizeof vals / sizeof vals[0])
        k = sizeof vals / sizeof vals[0];
    double lo = 0, hi = 0;
    for (size_t i = 0; i < k; i++) {
        vals[i] = series_value_at(&s->alloc_blocks, len - k + i);
        if (i == 0 || vals[i] < lo)
            lo = vals[i];
        if (i == 0 || vals[i] > hi)
            hi = vals[i];
    }
    if (hi - lo < hi * 0.001) /* flat within 0.1%: draw it flat */
        hi = lo;
    graph_sparkline(w, y, x + used + 1, 1, sw, vals, k, lo, hi, d->utf8, d->th.graph);
}

static attr_t pause_attr(const struct dash *d, uint64_t ns)
{
    return ns >= 100 * NS_PER_MS ? d->th.bad : ns >= 10 * NS_PER_MS ? d->th.warn : d->th.value;
}

static void draw_gc(struct dash *d, WINDOW *w, uint64_t now)
{
    const struct session *s = d->s;
    const struct panel_rect *p = &d->lay.gc;
    const struct pm_agent_sample *a = &s->agent;
    bool have = s->agent_samples > 0;
    draw_frame(d, w, p, true, "GC", !have ? "" : a->gc_enabled ? "enabled" : "DISABLED",
               have && !a->gc_enabled ? d->th.warn | A_BOLD : d->th.good);
    int y = p->inner.y - p->outer.y, x = p->inner.x - p->outer.x, wd = p->inner.w, h = p->inner.h;
    if (d->lay.boxed) {
        x += 1;
        wd -= 2;
    }
    bool show_head = h >= 5, show_pct = h >= 6, show_spark = h >= 7;
    char v[48], t[48];

    /* Columns: generation, count/threshold, bar, collections, collected,
     * uncollectable. Long headings when they fit with a useful bar. */
    static const char *const wide[] = {"collections", "collected", "uncollectable"};
    static const char *const narrow[] = {"colls", "collected", "uncoll"};
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
    if (bar_w > 24)
        bar_w = 24;
    if (bar_w < 4)
        bar_w = 0;
    int x_ct = x + 3 + gap;
    int x_bar = x_ct + 11 + gap;
    int x_c0 = bar_w ? x_bar + bar_w + gap : x_bar;

    if (show_head) {
        put(w, y, x, 3, d->th.dim, "gen");
        put(w, y, x_ct, 15, d->th.dim, "count/threshold");
        int cx = x_c0;
        for (int i = 0; i < 3; i++) {
            putf(w, y, cx, x + wd - cx, d->th.dim, "%*s", cw[i], heads[i]);
            cx += cw[i] + gap;
        }
        y++;
    } else if (!d->lay.boxed) {
        /* No line to spare: the column heads go on the title rule, right of
         * the title, so the bare numbers below still have names. */
        int title_end = 1 + 4 + (have ? (a->gc_enabled ? 8 : 9) : 0);
        int cx = x_c0;
        for (int i = 0; i < 3; i++) {
            if (cx - 1 > title_end)
                putf(w, 0, cx - 1, x + wd - cx + 1, d->th.dim, " %*s ", cw[i], heads[i]);
            cx += cw[i] + gap;
        }
    }
    for (int g = 0; g < PM_GENERATIONS; g++, y++) {
        putf(w, y, x, 3, d->th.value, "%3d", g);
        if (!have) {
            put(w, y, x_ct, wd - (x_ct - x), d->th.dim, g == 0 ? "waiting for the agent" : "");
            continue;
        }
        format_count(v, sizeof v, a->counts[g]);
        format_count(t, sizeof t, a->thresholds[g]);
        char *tp = t;
        while (*tp == ' ')
            tp++;
        putf(w, y, x_ct, 11, d->th.value, "%s/%-5s", v, tp);
        if (bar_w) {
            double frac = a->thresholds[g] > 0 ? (double)a->counts[g] / (double)a->thresholds[g]
                                               : 0;
            graph_bar(w, y, x_bar, bar_w, frac, d->utf8, d->th.graph, d->th.dim);
        }
        int cx = x_c0;
        int64_t cols3[3] = {a->collections[g], a->collected[g], a->uncollectable[g]};
        for (int i = 0; i < 3; i++) {
            format_count(v, sizeof v, cols3[i]);
            attr_t ca = (i == 2 && cols3[i] > 0) ? d->th.bad | A_BOLD : d->th.value;
            putf(w, y, cx, x + wd - cx, ca, "%*s", cw[i], v);
            cx += cw[i] + gap;
        }
    }
    if (y - (p->inner.y - p->outer.y) >= h)
        return;

    /* Pauses: exact count and max from the agent, quantiles from our histogram. */
    uint64_t t_now = ref_now(d, now);
    const struct pm_gc_pause *lastp =
        s->pause_len ? session_pause_at(s, s->pause_len - 1) : NULL;
    uint64_t p50 = histogram_quantile(&s->pauses, 0.50);
    uint64_t p99 = histogram_quantile(&s->pauses, 0.99);
    struct field f[8];
    int n = 0;
    format_count(v, sizeof v, have ? (int64_t)a->pause_count : -1);
    field_set(&f[n++], "pauses", d->th.value, 9, v);
    double share = have ? session_gc_share(s, t_now) : -1;
    format_pct(v, sizeof v, share);
    field_set(&f[n++], "time in GC", share > 0.2 ? d->th.bad : share > 0.05 ? d->th.warn
                                                                          : d->th.value, 8, v);
    if (show_pct) {
        format_duration(v, sizeof v, have ? a->pause_total_ns : 0);
        field_set(&f[n++], "total", d->th.value, 3, v);
        if (have && a->pauses_dropped) {
            snprintf(v, sizeof v, "%u", a->pauses_dropped);
            field_set(&f[n++], "events not carried", d->th.warn, 1, v);
        }
    } else {
        format_duration(v, sizeof v, p99);
        field_set(&f[n++], "p99", pause_attr(d, p99), 7, v);
        format_duration(v, sizeof v, have ? a->pause_max_ns : 0);
        field_set(&f[n++], "max", pause_attr(d, a->pause_max_ns), 6, v);
    }
    draw_fields(d, w, y++, x, wd, f, n, 2);

    if (show_pct) {
        n = 0;
        format_duration(v, sizeof v, lastp ? lastp->pause_ns : 0);
        field_set(&f[n++], "last", pause_attr(d, lastp ? lastp->pause_ns : 0), 5, v);
        format_duration(v, sizeof v, p50);
        field_set(&f[n++], "p50", pause_attr(d, p50), 7, v);
        format_duration(v, sizeof v, p99);
        field_set(&f[n++], "p99", pause_attr(d, p99), 8, v);
        format_duration(v, sizeof v, have ? a->pause_max_ns : 0);
        field_set(&f[n++], "max", pause_attr(d, a->pause_max_ns), 9, v);
        if (lastp) {
            snprintf(v, sizeof v, "gen %u, %lld found", (unsigned)lastp->generation,
                     (long long)lastp->collected);
            field_set(&f[n++], "last was", d->th.dim, 1, v);
        }
        draw_fields(d, w, y++, x, wd, f, n, 2);
    }

    if (show_spark) {
        /* Newest pauses, one column each, log scale so a 50ms pause does not
         * flatten the 50us ones. One line when that is all there is; a
         * labelled bar chart when the panel is tall (side by side). */
        int rows_left = h - (y - (p->inner.y - p->outer.y));
        int bars_h = rows_left >= 4 ? rows_left - 1 : 1;
        if (bars_h > 16)
            bars_h = 16;
        const char *lab = "recent";
        if (bars_h == 1)
            put(w, y, x, wd, d->th.dim, lab);
        int sx = bars_h > 1 ? x : x + (int)strlen(lab) + 1;
        int sy = bars_h > 1 ? y + 1 : y;
        int sw = bars_h > 1 ? wd : wd - (sx - x) - 14;
        if (sw < 4 || s->pause_len == 0) {
            if (s->pause_len == 0)
                put(w, y, x + (int)strlen(lab) + 1, wd - (int)strlen(lab) - 1, d->th.dim,
                    bars_h > 1 ? "" : "no collection yet");
            return;
        }
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
        attr_t sa = pause_attr(d, mx) == d->th.value ? d->th.graph : pause_attr(d, mx);
        graph_sparkline(w, sy, sx, bars_h, sw, vals, k, log10(SPARK_FLOOR_NS), hi, d->utf8, sa);
        format_duration(v, sizeof v, mx);
        char *vp = v;
        while (*vp == ' ')
            vp++;
        if (bars_h > 1)
            putf(w, y, x, wd, d->th.dim, "recent pauses (log scale, newest right): up to %s",
                 vp);
        else
            putf(w, y, sx + (int)k + 1, 13, d->th.dim, "up to %s", vp);
    }
}

static const char *status_message(const struct dash *d)
{
    const struct session *s = d->s;
    if (d->msg[0] && d->msg_ns >= s->status_ns)
        return d->msg;
    return s->status;
}

static void draw_status(struct dash *d, WINDOW *w, uint64_t now)
{
    (void)now;
    int cols = d->lay.status.w;
    const char *msg = status_message(d);
    static const char *const keys[][2] = {{"c", "collect"}, {"?", "help"}, {"q", "quit"}};
    int hint_w = 0;
    for (int i = 0; i < 3; i++)
        hint_w += (int)strlen(keys[i][0]) + 1 + (int)strlen(keys[i][1]) + 2;
    /* Crowded: keep only "? help" so the message stays readable. */
    int nkeys = (msg[0] && cols - hint_w < 24) ? 1 : 3;
    int first = nkeys == 1 ? 1 : 0;
    int x = 0;
    for (int i = first; i < first + nkeys; i++) {
        putf(w, 0, x, cols - x, d->th.key, "%s", keys[i][0]);
        x += (int)strlen(keys[i][0]);
        putf(w, 0, x, cols - x, A_NORMAL, " %s  ", keys[i][1]);
        x += (int)strlen(keys[i][1]) + 3;
    }
    if (msg[0] && x < cols)
        put_text(d, w, 0, x, cols - x, d->th.value, msg);
}

static const char *const help_lines[] = {
    "Keys",
    "  c        collect all generations (gc.collect(2)) in the target",
    "  0 1 2    collect one generation",
    "  n        count objects per type now (census)",
    "  s        snapshot (census, and tracemalloc sites when on)",
    "  d D      diff the last snapshot against the previous / the first",
    "  t        tracemalloc on/off (slows allocation-heavy code 4-10x)",
    "  y        hunt reference cycles (runs a full collection)",
    "  a        allocation counters on/off",
    "  ? h F1   show or hide this help",
    "  q        quit: detach, the target keeps running",
    "  Ctrl-L   redraw the screen",
    "",
    "Reading the screen",
    "  growth    RSS slope over the last minute",
    "  observer  time the agent held the GIL, share of time since attach",
    "  pauses    every collection since attach, timed in the target;",
    "            p50/p99 within 3%, max exact",
    "  recent    newest pauses, one cell each, log scale",
    "",
    "Press any key to close.",
};

static void draw_help(struct dash *d)
{
    size_t n = sizeof help_lines / sizeof help_lines[0];
    int want_w = 0;
    for (size_t i = 0; i < n; i++)
        if ((int)strlen(help_lines[i]) > want_w)
            want_w = (int)strlen(help_lines[i]);
    struct rect r = layout_center(d->lay.cols, d->lay.rows, want_w + 4, (int)n + 2);
    if (d->w_help) {
        delwin(d->w_help);
        d->w_help = NULL;
    }
    d->w_help = newwin(r.h, r.w, r.y, r.x);
    if (!d->w_help)
        return;
    WINDOW *w = d->w_help;
    werase(w);
    if (d->utf8)
        box(w, 0, 0);
    else
        wborder(w, '|', '|', '-', '-', '+', '+', '+', '+');
    put(w, 0, 2, r.w - 4, d->th.title, " help ");
    for (size_t i = 0; i < n && (int)i < r.h - 2; i++)
        put(w, (int)i + 1, 2, r.w - 3,
            (i == 0 || !strcmp(help_lines[i], "Reading the screen")) ? d->th.title
            : i == n - 1                                             ? d->th.dim
                                                                     : A_NORMAL,
            help_lines[i]);
    wnoutrefresh(w);
}

/* ---- set-up, layout, frames ------------------------------------------------ */

static void free_windows(struct dash *d)
{
    WINDOW **ws[] = {&d->w_header, &d->w_mem, &d->w_alloc, &d->w_gc, &d->w_status, &d->w_help};
    for (size_t i = 0; i < sizeof ws / sizeof ws[0]; i++)
        if (*ws[i]) {
            delwin(*ws[i]);
            *ws[i] = NULL;
        }
}

static WINDOW *win_for(struct rect r)
{
    return rect_empty(r) ? NULL : newwin(r.h, r.w, r.y, r.x);
}

static void relayout(struct dash *d)
{
    int rows, cols;
    getmaxyx(stdscr, rows, cols);
    free_windows(d);
    layout_compute(&d->lay, cols, rows);
    if (d->lay.too_small)
        return;
    d->w_header = win_for(d->lay.header);
    d->w_mem = win_for(d->lay.memory.outer);
    d->w_alloc = win_for(d->lay.alloc.outer);
    d->w_gc = win_for(d->lay.gc.outer);
    d->w_status = win_for(d->lay.status);
}

static void draw_too_small(struct dash *d)
{
    static const char full[] = "terminal too small (need 40x12)";
    werase(stdscr);
    int cols = d->lay.cols, rows = d->lay.rows;
    int len = (int)strlen(full);
    if (cols >= len) {
        put(stdscr, rows / 2, (cols - len) / 2, cols, d->th.warn | A_BOLD, full);
    } else { /* two lines: "terminal too small" / "(need 40x12)" */
        const char *l1 = "terminal too small", *l2 = "(need 40x12)";
        int y = rows >= 2 ? rows / 2 - 1 : 0;
        int w1 = (int)strlen(l1), w2 = (int)strlen(l2);
        put(stdscr, y, cols > w1 ? (cols - w1) / 2 : 0, cols, d->th.warn | A_BOLD, l1);
        if (rows >= 2)
            put(stdscr, y + 1, cols > w2 ? (cols - w2) / 2 : 0, cols, d->th.warn | A_BOLD, l2);
    }
    wnoutrefresh(stdscr);
}

static void draw_frame_all(struct dash *d, uint64_t now)
{
    /* A process being torn down still has a /proc entry but no memory:
     * keep showing its last real sample instead of zeros. */
    if (d->s->proc.valid && d->s->proc.rss_kib > 0) {
        d->proc = d->s->proc;
        d->have_proc = true;
    }
    if (d->lay.too_small) {
        draw_too_small(d);
        doupdate();
        return;
    }
    /* Each panel: werase, draw, wnoutrefresh; one doupdate for the frame. */
    typedef void (*draw_fn)(struct dash *, WINDOW *, uint64_t);
    const struct {
        WINDOW *w;
        draw_fn draw;
    } panels[] = {
        {d->w_header, draw_header}, {d->w_mem, draw_memory}, {d->w_alloc, draw_alloc},
        {d->w_gc, draw_gc},         {d->w_status, draw_status},
    };
    for (size_t i = 0; i < sizeof panels / sizeof panels[0]; i++) {
        if (!panels[i].w)
            continue;
        werase(panels[i].w);
        panels[i].draw(d, panels[i].w, now);
        wnoutrefresh(panels[i].w);
    }
    if (d->help)
        draw_help(d);
    doupdate();
}

static void theme_init(struct dash *d, bool color)
{
    struct theme *t = &d->th;
    if (color && has_colors() && start_color() == OK && COLORS >= 8) {
        int bg = use_default_colors() == OK ? -1 : COLOR_BLACK;
        init_pair(PAIR_TITLE, COLOR_CYAN, (short)bg);
        init_pair(PAIR_GOOD, COLOR_GREEN, (short)bg);
        init_pair(PAIR_WARN, COLOR_YELLOW, (short)bg);
        init_pair(PAIR_BAD, COLOR_RED, (short)bg);
        init_pair(PAIR_GRAPH, COLOR_CYAN, (short)bg);
        init_pair(PAIR_BADGE_GOOD, COLOR_BLACK, COLOR_GREEN);
        init_pair(PAIR_BADGE_WARN, COLOR_BLACK, COLOR_YELLOW);
        init_pair(PAIR_BADGE_BAD, COLOR_WHITE, COLOR_RED);
        init_pair(PAIR_KEY, COLOR_BLACK, COLOR_CYAN);
        t->title = COLOR_PAIR(PAIR_TITLE) | A_BOLD;
        t->value = A_BOLD;
        t->dim = A_NORMAL;
        t->good = COLOR_PAIR(PAIR_GOOD);
        t->warn = COLOR_PAIR(PAIR_WARN) | A_BOLD;
        t->bad = COLOR_PAIR(PAIR_BAD) | A_BOLD;
        t->graph = COLOR_PAIR(PAIR_GRAPH);
        t->badge_good = COLOR_PAIR(PAIR_BADGE_GOOD);
        t->badge_warn = COLOR_PAIR(PAIR_BADGE_WARN);
        t->badge_bad = COLOR_PAIR(PAIR_BADGE_BAD);
        t->key = COLOR_PAIR(PAIR_KEY);
    } else {
        /* Monochrome: emphasis by weight and reverse video only. */
        t->title = A_BOLD;
        t->value = A_BOLD;
        t->dim = A_NORMAL;
        t->good = A_NORMAL;
        t->warn = A_BOLD;
        t->bad = A_BOLD | A_UNDERLINE;
        t->graph = A_NORMAL;
        t->badge_good = A_REVERSE;
        t->badge_warn = A_REVERSE;
        t->badge_bad = A_REVERSE | A_BOLD;
        t->key = A_REVERSE;
    }
}

/* ---- keys ------------------------------------------------------------------ */

static void set_msg(struct dash *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_msg(struct dash *d, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->msg, sizeof d->msg, fmt, ap);
    va_end(ap);
    d->msg_ns = session_now_ns();
}

static const char *no_target_reason(const struct session *s)
{
    switch (s->state) {
    case SESSION_TARGET_EXITED:
        return "target exited: no live target";
    case SESSION_AGENT_LOST:
        return "agent lost: commands need a live agent";
    case SESSION_DETACHED:
        return "detached: commands need a live agent";
    default:
        return NULL;
    }
}

/* Every command key answers at once in the status line; the result replaces
 * the message when the agent replies. */
static void send_command(struct dash *d, const char *name, int64_t arg, const char *progress)
{
    const char *why = no_target_reason(d->s);
    if (why) {
        set_msg(d, "%s", why);
        return;
    }
    if (d->s->command_pending) {
        set_msg(d, "still waiting for %s: try again in a moment", d->s->last_command);
        return;
    }
    int64_t rc = session_command(d->s, name, arg);
    if (rc < 0)
        set_msg(d, "%s failed: %s", name, strerror((int)-rc));
    else
        set_msg(d, "%s", progress);
}

/* Returns true when the user asked to quit. */
static bool on_key(struct dash *d, int ch)
{
    if (ch == KEY_RESIZE) {
        relayout(d);
        return false;
    }
    if (d->help) { /* any key closes the help, and does nothing else */
        d->help = false;
        return false;
    }
    switch (ch) {
    case 'q':
    case 'Q':
        return true;
    case '?':
    case 'h':
    case KEY_F(1):
        d->help = true;
        break;
    case 'c':
        send_command(d, "collect", 2, "collecting all generations...");
        break;
    case '0':
    case '1':
    case '2':
        send_command(d, "collect", ch - '0', "collecting...");
        break;
    case 'n':
        send_command(d, "census", 0, "counting objects per type...");
        break;
    case 's':
        send_command(d, "snapshot", 0, "taking a snapshot...");
        break;
    case 'd':
        send_command(d, "diff", 0, "diffing the last two snapshots...");
        break;
    case 'D':
        send_command(d, "diff", 1, "diffing against the first snapshot...");
        break;
    case 't':
        send_command(d, "tracemalloc", d->s->agent.tracemalloc_on ? 0 : (int64_t)d->tm_frames,
                     d->s->agent.tracemalloc_on ? "stopping tracemalloc..."
                                                : "starting tracemalloc (slows allocations)...");
        break;
    case 'y':
        send_command(d, "hunt", 0, "hunting cycles (a full collection)...");
        break;
    case 'a':
        send_command(d, "alloc_hook", d->s->agent.alloc.hook_on ? 0 : 1,
                     "switching allocation counters...");
        break;
    case 12: /* Ctrl-L */
        clearok(curscr, TRUE);
        break;
    default:
        if (ch >= 32 && ch < 127)
            set_msg(d, "no action on '%c': press ? for the keys", ch);
        else
            set_msg(d, "no action on that key: press ? for the keys");
        break;
    }
    return false;
}

/* ---- the loop --------------------------------------------------------------- */

/* What the screen depends on; a change triggers a redraw before the second is up. */
struct change_key {
    uint64_t agent_samples, proc_ns, status_ns, pause_len;
    int state;
    bool pending;
};

static struct change_key change_key_of(const struct session *s)
{
    struct change_key k;
    memset(&k, 0, sizeof k);
    k.agent_samples = s->agent_samples;
    k.proc_ns = s->proc.time_ns;
    k.status_ns = s->status_ns;
    k.pause_len = s->pause_len;
    k.state = (int)s->state;
    k.pending = s->command_pending;
    return k;
}

/* While curses owns the terminal, stderr output would scribble over the
 * screen: collect it in a temporary file and print it after endwin. */
struct stderr_redirect {
    int saved; /* -1: not redirected */
    FILE *tmp;
};

static void stderr_capture(struct stderr_redirect *r)
{
    r->saved = -1;
    r->tmp = NULL;
    if (!isatty(STDERR_FILENO))
        return;
    r->tmp = tmpfile();
    if (!r->tmp)
        return;
    fflush(stderr);
    r->saved = dup(STDERR_FILENO);
    if (r->saved < 0 || dup2(fileno(r->tmp), STDERR_FILENO) < 0) {
        if (r->saved >= 0)
            close(r->saved);
        r->saved = -1;
        fclose(r->tmp);
        r->tmp = NULL;
    }
}

static void stderr_release(struct stderr_redirect *r)
{
    if (r->saved < 0)
        return;
    fflush(stderr);
    dup2(r->saved, STDERR_FILENO);
    close(r->saved);
    r->saved = -1;
    rewind(r->tmp);
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, r->tmp)) > 0)
        fwrite(buf, 1, n, stderr);
    fclose(r->tmp);
    r->tmp = NULL;
}

int dashboard_run(struct session *s, const struct dashboard_opts *o)
{
    static const struct dashboard_opts defaults = {0};
    if (!o)
        o = &defaults;
    /* LC_CTYPE only: numbers keep a '.' whatever the locale says. */
    setlocale(LC_CTYPE, "");
    const char *no_color_env = getenv("NO_COLOR");
    bool color = !o->no_color && !(no_color_env && no_color_env[0]);

    if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
        fprintf(stderr, "pymemtop: the dashboard needs a terminal on stdin and stdout; "
                        "use a headless mode to write to a file or pipe\n");
        return -ENOTTY;
    }
    SCREEN *scr = newterm(NULL, stdout, stdin);
    if (!scr) {
        const char *term = getenv("TERM");
        fprintf(stderr, "pymemtop: cannot use terminal type '%s'; set TERM (e.g. TERM=xterm)\n",
                term ? term : "");
        return -ENOTTY;
    }
    set_term(scr);

    struct dash d;
    memset(&d, 0, sizeof d);
    d.s = s;
    d.tm_frames = o->tracemalloc_frames ? o->tracemalloc_frames : 1;
    d.utf8 = !o->ascii && strcmp(nl_langinfo(CODESET), "UTF-8") == 0;

    struct sigaction sa, old_int, old_term, old_hup;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_quit_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: poll() must wake up */
    quit_flag = 0;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    sigaction(SIGHUP, &sa, &old_hup);

    struct stderr_redirect red;
    stderr_capture(&red);

    cbreak();
    noecho();
    nonl();
    keypad(stdscr, TRUE);
    nodelay(stdscr, TRUE);
    set_escdelay(25);
    curs_set(0);
    theme_init(&d, color);
    /* getch() refreshes stdscr when it is touched: make it clean once so
     * only our panel windows ever reach the terminal. */
    wnoutrefresh(stdscr);
    relayout(&d);

    uint64_t period_ns = (uint64_t)(o->refresh_ms ? o->refresh_ms : 1000) * NS_PER_MS;
    uint64_t next_redraw = 0;
    unsigned frames = 0;
    bool dirty = true, quit = false;
    struct change_key seen = change_key_of(s);

    while (!quit && !quit_flag) {
        uint64_t now = session_now_ns();
        int tick_ms = session_tick(s, now);
        struct change_key k = change_key_of(s);
        if (memcmp(&k, &seen, sizeof k) != 0) {
            seen = k;
            dirty = true;
        }
        if (dirty || now >= next_redraw) {
            draw_frame_all(&d, now);
            frames++;
            dirty = false;
            next_redraw = now + period_ns;
            if (o->max_frames && frames >= o->max_frames)
                break;
        }

        struct pollfd pfd[2];
        int nfd = 0;
        pfd[nfd++] = (struct pollfd){.fd = STDIN_FILENO, .events = POLLIN};
        int afd = session_fd(s);
        if (afd >= 0)
            pfd[nfd++] = (struct pollfd){.fd = afd, .events = POLLIN};
        uint64_t wait_ns = next_redraw > now ? next_redraw - now : 0;
        int timeout = (int)((wait_ns + NS_PER_MS - 1) / NS_PER_MS);
        if (tick_ms >= 0 && tick_ms < timeout)
            timeout = tick_ms;
        int rc = poll(pfd, (nfds_t)nfd, timeout);
        if (rc < 0 && errno != EINTR)
            break;
        if (rc > 0 && nfd > 1 && (pfd[1].revents & (POLLIN | POLLHUP | POLLERR))) {
            session_on_readable(s);
            dirty = true;
        }
        /* Always drain: keys, and KEY_RESIZE after SIGWINCH interrupted poll. */
        int ch;
        while ((ch = getch()) != ERR) {
            if (on_key(&d, ch)) {
                quit = true;
                break;
            }
            dirty = true;
        }
        if (rc > 0 && (pfd[0].revents & (POLLHUP | POLLERR)))
            quit = true; /* the terminal went away */
    }

    free_windows(&d);
    endwin();
    delscreen(scr);
    stderr_release(&red);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    sigaction(SIGHUP, &old_hup, NULL);
    return 0;
}

/* 3. Cycles: what the collector frees per second in each generation, the
 * uncollectable objects and gc.garbage, the shapes captured live from the
 * program's own collections, and the last cycle hunt's shapes. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "derive.h"
#include "format.h"
#include "graph.h"
#include "view.h"

static struct {
    size_t top; /* first shape shown, in both lists */
} cy;

/* The capture's title: how much of the program's collections it sampled
 * and what it cost, against its budget. */
static void recent_title(const struct pm_capture *c, char *out, size_t n)
{
    if (strncmp(c->state, "on", 2) != 0) {
        snprintf(out, n, "%s", c->state);
        return;
    }
    int64_t caps = 0, cols = 0;
    for (int g = 0; g < PM_GENERATIONS; g++) {
        caps += c->captures[g] > 0 ? c->captures[g] : 0;
        cols += c->collections[g] > 0 ? c->collections[g] : 0;
    }
    char a[16], b[16], p[16], q[16];
    format_count(a, sizeof a, caps);
    format_count(b, sizeof b, cols);
    format_pct(p, sizeof p, derive_capture_wall_share(c));
    format_pct(q, sizeof q, (double)c->budget_bp / 10000.0);
    snprintf(out, n, "%s of %s collections sampled, GIL %s of %s%s", ui_trim(a), ui_trim(b),
             ui_trim(p), ui_trim(q), c->state[2] ? c->state + 2 : "");
}

static void draw_recent(struct ui *u, WINDOW *w, const struct cycles_layout *l)
{
    const struct session *s = u->s;
    const struct pm_capture *c = &s->capture;
    char extra[200] = "", v[16], b[16];
    if (s->have_capture)
        recent_title(c, extra, sizeof extra);
    ui_rule(u, w, l->recent_title, "Cycles the program frees", extra, u->th.dim);
    struct rect r = l->recent;
    if (rect_empty(r))
        return;
    if (!s->have_capture || c->n_shapes == 0) {
        ui_text(u, w, r.y, 1, r.w - 1, u->th.dim,
                !s->have_capture ? "waiting for the agent (an older agent does not capture)"
                : strncmp(c->state, "on", 2) ? "no capture: see the title"
                                              : "none yet: shapes appear as the program's own "
                                                "collections free cycles");
        return;
    }
    /* estimated objects per minute, cycles captured, objects per cycle,
     * bytes captured, then the shape (and advice below it when room). */
    int rw = 7, cw = 6, lw = 4, bw = FORMAT_SIZE_W;
    int px = rw + 1 + cw + 1 + lw + 1 + bw + 2;
    ui_right(w, r.y, 0, rw, u->th.dim, "obj/min");
    ui_right(w, r.y, rw + 1, cw, u->th.dim, "cycles");
    ui_right(w, r.y, rw + 1 + cw + 1, lw, u->th.dim, "len");
    ui_right(w, r.y, rw + 1 + cw + 1 + lw + 1, bw, u->th.dim, "size");
    ui_put(w, r.y, px, r.w - px, u->th.dim, "shape");
    int y = r.y + 1;
    bool advice = r.h - 1 >= (int)c->n_shapes * 2;
    size_t top = cy.top < c->n_shapes ? cy.top : 0;
    for (uint32_t i = (uint32_t)top; i < c->n_shapes && y < r.y + r.h; i++) {
        const struct pm_recent_shape *sh = &c->shapes[i];
        format_count(v, sizeof v, (int64_t)llround(derive_shape_objects_per_min(c, sh)));
        ui_right(w, y, 0, rw, u->th.value, v);
        format_count(v, sizeof v, (int64_t)sh->shape.count);
        ui_right(w, y, rw + 1, cw, A_NORMAL, v);
        format_count(v, sizeof v, (int64_t)sh->shape.length);
        ui_right(w, y, rw + 1 + cw + 1, lw, A_NORMAL, ui_trim(v));
        format_bytes(b, sizeof b, sh->shape.bytes);
        ui_right(w, y, rw + 1 + cw + 1 + lw + 1, bw, A_NORMAL, b);
        ui_text(u, w, y, px, r.w - px, u->th.title, sh->shape.path);
        y++;
        if (advice && sh->shape.advice[0] && y < r.y + r.h) {
            ui_text(u, w, y, px + 2, r.w - px - 2, u->th.dim, sh->shape.advice);
            y++;
        }
    }
}

static void label_rate(char *buf, size_t len, double v)
{
    char c[16];
    format_count(c, sizeof c, v > 0 ? (int64_t)llround(v) : 0);
    snprintf(buf, len, "%5s/s", ui_trim(c));
}

static void draw_stats(struct ui *u, WINDOW *w, struct rect r)
{
    const struct session *s = u->s;
    const struct pm_agent_sample *a = &s->agent;
    bool have = s->agent_samples > 0;
    char v[48];
    struct field f[8];
    int n = 0;
    static const char *const names[3] = {"freed per second  gen0", "gen1", "gen2"};
    for (int g = 0; g < PM_GENERATIONS; g++) {
        double rate = have ? derive_freed_per_s(&s->collected[g]) : -1;
        format_count(v, sizeof v, rate >= 0 ? (int64_t)llround(rate) : -1);
        field_set(&f[n++], names[g], u->th.value, 9 - g, v);
    }
    field_set(&f[n++], "gc", a->gc_enabled || !have ? u->th.good : u->th.warn, 5,
              !have ? "?" : a->gc_enabled ? "enabled" : "DISABLED");
    ui_fields(u, w, r.y, 0, r.w, f, n, 2);
    if (r.h < 2)
        return;
    n = 0;
    int64_t unc = derive_uncollectable_total(a);
    format_count(v, sizeof v, have ? unc : -1);
    field_set(&f[n++], "uncollectable", unc > 0 ? u->th.bad : u->th.value, 9, v);
    format_count(v, sizeof v, have ? a->garbage_len : -1);
    field_set(&f[n++], "gc.garbage", a->garbage_len > 0 ? u->th.bad : u->th.value, 9, v);
    for (int g = 0; g < PM_GENERATIONS; g++) {
        static const char *const cn[3] = {"collections gen0", "gen1", "gen2"};
        format_count(v, sizeof v, have ? a->collections[g] : -1);
        field_set(&f[n++], cn[g], u->th.value, 5 - g, v);
    }
    ui_fields(u, w, r.y + 1, 0, r.w, f, n, 2);
}

static void draw_gens(struct ui *u, WINDOW *w, const struct cycles_layout *l)
{
    ui_rule(u, w, l->gen_title, "Freed by the collector", "objects per second, per generation",
            u->th.dim);
    for (int g = 0; g < PM_GENERATIONS; g++) {
        struct rect r = l->gen[g];
        if (rect_empty(r))
            continue;
        const struct series *sr = &u->h->freed_per_s[g];
        char lab[16];
        snprintf(lab, sizeof lab, "gen %d", g);
        if (l->graphs) {
            ui_put(w, r.y, 0, 6, u->th.title, lab);
            struct graph_opts go = {
                .utf8 = u->utf8,
                .plot_attr = u->th.rss,
                .axis_attr = u->th.dim,
                .label = label_rate,
                .label_w = 8,
                .min_range = 10,
            };
            /* Labels go right of the "gen N" tag on the first line. */
            graph_series(w, r.y, 6, r.h, r.w - 6, sr, &go);
            continue;
        }
        ui_put(w, r.y, 0, 6, u->th.title, lab);
        size_t len = series_len(sr);
        int sw = r.w - 6 - 12;
        if (len == 0 || sw < 4) {
            ui_put(w, r.y, 6, r.w - 6, u->th.dim, "waiting for samples");
            continue;
        }
        double vals[512];
        size_t k = len < (size_t)sw ? len : (size_t)sw;
        if (k > 512)
            k = 512;
        double hi = 1;
        for (size_t i = 0; i < k; i++) {
            vals[i] = series_value_at(sr, len - k + i);
            if (vals[i] > hi)
                hi = vals[i];
        }
        graph_sparkline(w, r.y, 6, 1, sw, vals, k, 0, hi, u->utf8, u->th.rss);
        char v[24];
        label_rate(v, sizeof v, series_last(sr));
        ui_right(w, r.y, r.w - 11, 11, u->th.value, v);
    }
}

static void draw_hunt(struct ui *u, WINDOW *w, const struct cycles_layout *l)
{
    const struct session *s = u->s;
    const struct pm_hunt *hu = &s->hunt;
    char extra[200] = "", v[16], c[16], d[16];
    bool running = s->state == SESSION_LIVE && s->command_pending && !strcmp(s->last_command, "hunt");
    if (running) {
        format_duration(d, sizeof d, u->now_ns > s->last_command_ns ? u->now_ns - s->last_command_ns : 0);
        snprintf(extra, sizeof extra, "hunting... %s", ui_trim(d));
    } else if (s->have_hunt) {
        format_uptime(v, sizeof v, u->now_ns > hu->time_ns ? u->now_ns - hu->time_ns : 0);
        format_count(c, sizeof c, (int64_t)hu->objects);
        format_duration(d, sizeof d, hu->cost_ns);
        snprintf(extra, sizeof extra, "%s ago: %llu cycles in %s garbage objects, GIL %s%s",
                 ui_trim(v), (unsigned long long)hu->cycles, ui_trim(c), ui_trim(d),
                 hu->truncated ? " (truncated)" : "");
    }
    ui_rule(u, w, l->hunt_title, "Cycle hunt", extra, running ? u->th.warn : u->th.dim);
    struct rect r = l->hunt;
    if (rect_empty(r))
        return;
    if (!s->have_hunt) {
        ui_text(u, w, r.y, 1, r.w - 1, u->th.dim,
                running ? "running a full collection and grouping the garbage by shape..."
                        : "y hunts reference cycles: runs a full collection, groups what it "
                          "frees by shape");
        return;
    }
    if (hu->n_shapes == 0) {
        ui_text(u, w, r.y, 1, r.w - 1, u->th.good, "no cyclic garbage: nothing for the collector to free");
        return;
    }
    /* count, objects per cycle, bytes, then the shape (and advice below it). */
    int cw = 6, lw = 4, bw = FORMAT_SIZE_W;
    int px = cw + 1 + lw + 1 + bw + 2;
    ui_right(w, r.y, 0, cw, u->th.dim, "cycles");
    ui_right(w, r.y, cw + 1, lw, u->th.dim, "len");
    ui_right(w, r.y, cw + 1 + lw + 1, bw, u->th.dim, "size");
    ui_put(w, r.y, px, r.w - px, u->th.dim, "shape (advice below)");
    int y = r.y + 1;
    bool advice = r.h - 1 >= (int)hu->n_shapes * 2;
    size_t top = cy.top < hu->n_shapes ? cy.top : 0;
    for (uint32_t i = (uint32_t)top; i < hu->n_shapes && y < r.y + r.h; i++) {
        const struct pm_shape *sh = &hu->shapes[i];
        format_count(c, sizeof c, (int64_t)sh->count);
        ui_right(w, y, 0, cw, u->th.value, c);
        format_count(c, sizeof c, (int64_t)sh->length);
        ui_right(w, y, cw + 1, lw, A_NORMAL, ui_trim(c));
        char b[16];
        format_bytes(b, sizeof b, sh->bytes);
        ui_right(w, y, cw + 1 + lw + 1, bw, A_NORMAL, b);
        ui_text(u, w, y, px, r.w - px, u->th.title, sh->path);
        y++;
        if (advice && sh->advice[0] && y < r.y + r.h) {
            ui_text(u, w, y, px + 2, r.w - px - 2, u->th.dim, sh->advice);
            y++;
        }
    }
}

static void cycles_draw(struct ui *u, WINDOW *w, int h, int wd)
{
    struct cycles_layout l;
    layout_cycles(&l, wd, h);
    draw_stats(u, w, l.stats);
    draw_gens(u, w, &l);
    draw_recent(u, w, &l);
    draw_hunt(u, w, &l);
}

static bool cycles_key(struct ui *u, int ch)
{
    uint32_t n = u->s->have_hunt ? u->s->hunt.n_shapes : 0;
    if (u->s->have_capture && u->s->capture.n_shapes > n)
        n = u->s->capture.n_shapes;
    if ((ch == KEY_DOWN || ch == 'j') && cy.top + 1 < n) {
        cy.top++;
        return true;
    }
    if ((ch == KEY_UP || ch == 'k') && cy.top > 0) {
        cy.top--;
        return true;
    }
    return ch == KEY_DOWN || ch == KEY_UP || ch == 'j' || ch == 'k';
}

static void cycles_resize(struct ui *u, int h, int wd)
{
    (void)u;
    (void)h;
    (void)wd;
}

static const char *const cycles_help[] = {
    "  y        hunt: a full collection; its garbage grouped by shape",
    "  Up Down  scroll the shapes (captured live, and the hunt's)",
    NULL,
};

const struct view_class view_cycles = {
    .name = "Cycles",
    .short_name = "Cyc",
    .draw = cycles_draw,
    .on_key = cycles_key,
    .on_resize = cycles_resize,
    .help = cycles_help,
    .hints = "y hunt",
};

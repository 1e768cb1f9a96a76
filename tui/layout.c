/* Pure rectangle maths for the dashboard (no curses: unit tests link it). */
#include "layout.h"

#include <string.h>

#define SIDE_RIGHT_MIN_W 60
#define SIDE_RIGHT_MAX_W 90
#define TYPES_SPLIT_MIN_W 70 /* growing and suspects side by side from here */
#define GC_HIST_MIN_W 60     /* pause histogram beside the sparkline from here */
#define ALLOC_SITES_SPLIT_W 120

static struct rect mk(int y, int x, int h, int w)
{
    struct rect r = {y, x, h > 0 ? h : 0, w > 0 ? w : 0};
    if (r.h == 0 || r.w == 0)
        r.h = r.w = 0;
    return r;
}

static int imin(int a, int b)
{
    return a < b ? a : b;
}

void layout_screen(struct screen_layout *l, int cols, int rows)
{
    memset(l, 0, sizeof *l);
    l->cols = cols;
    l->rows = rows;
    if (cols < LAYOUT_MIN_COLS || rows < LAYOUT_MIN_ROWS) {
        l->too_small = true;
        return;
    }
    l->header = mk(0, 0, LAYOUT_HEADER_H, cols);
    int tabs_h = rows >= LAYOUT_TABS_MIN_ROWS ? 1 : 0;
    l->tabs = mk(LAYOUT_HEADER_H, 0, tabs_h, cols);
    l->body = mk(LAYOUT_HEADER_H + tabs_h, 0, rows - LAYOUT_HEADER_H - tabs_h - 1, cols);
    l->status = mk(rows - 1, 0, 1, cols);
}

/* Two lists in one area: side by side when wide, else stacked (the second
 * alone when there is a single line: suspects matter more than growth). */
static void split_pair(struct rect area, int split_min_w, struct rect *a, struct rect *b)
{
    if (area.w >= split_min_w) {
        int aw = (area.w - 2) / 2;
        *a = mk(area.y, area.x, area.h, aw);
        *b = mk(area.y, area.x + aw + 2, area.h, area.w - aw - 2);
    } else if (area.h >= 2) {
        int ah = area.h / 2;
        *a = mk(area.y, area.x, ah, area.w);
        *b = mk(area.y + ah, area.x, area.h - ah, area.w);
    } else {
        *a = mk(0, 0, 0, 0);
        *b = area;
    }
}

/* GC block of height gh at (y, x, w): title, generations, up to max_pl
 * pause lines, then sparkline and histogram side by side. */
static void gc_block(struct overview_layout *l, int y, int x, int w, int gh, int max_pl)
{
    l->gc_title = mk(y, x, 1, w);
    l->gc_gens = mk(y + 1, x, 3, w);
    int left = gh - 4;
    int pl = left >= max_pl + 1 ? max_pl : left >= 3 ? 2 : imin(left, 1);
    l->gc_pauses = mk(y + 4, x, pl, w);
    left -= pl;
    struct rect sp = mk(y + 4 + pl, x, left, w);
    if (w >= GC_HIST_MIN_W) {
        int sw = (w - 2) * 11 / 20;
        l->gc_spark = mk(sp.y, sp.x, sp.h, sw);
        l->gc_hist = mk(sp.y, sp.x + sw + 2, sp.h, w - sw - 2);
    } else {
        l->gc_spark = sp;
    }
}

void layout_overview(struct overview_layout *l, int w, int h)
{
    memset(l, 0, sizeof *l);
    if (w <= 0 || h <= 0)
        return;
    if (w >= LAYOUT_SIDE_MIN_COLS && h >= 20) {
        l->side_by_side = true;
        int rw = w * 2 / 5;
        rw = rw < SIDE_RIGHT_MIN_W ? SIDE_RIGHT_MIN_W : rw > SIDE_RIGHT_MAX_W ? SIDE_RIGHT_MAX_W : rw;
        int lw = w - rw - 1, rx = lw + 1;
        l->mem_title = mk(0, 0, 1, lw);
        l->mem_stats = mk(1, 0, 2, lw);
        l->mem_graph = mk(3, 0, h - 3, lw);
        int spark_h = (h - 10) / 3;
        spark_h = spark_h < 1 ? 1 : spark_h > 4 ? 4 : spark_h;
        /* A third pause line: the column is too narrow for the longest hold
         * of ours beside the GC's numbers. */
        int gh = 1 + 3 + 3 + spark_h;
        gc_block(l, 0, rx, rw, gh, 3);
        l->types_title = mk(gh, rx, 1, rw);
        split_pair(mk(gh + 1, rx, h - gh - 1, rw), TYPES_SPLIT_MIN_W, &l->types_grow,
                   &l->types_suspect);
        return;
    }

    /* Stacked: hand out lines by priority, smallest useful pieces first. */
    int left = h;
    int stats = imin(2, left - 1);
    left -= 1 + stats;           /* memory title and numbers */
    int gens = left >= 5 ? 4 : 0; /* GC title and three generations */
    left -= gens;
    int pauses = left >= 2 ? 1 : 0;
    left -= pauses;
    int types = left >= 1 ? 1 : 0; /* one line: the suspects, no title */
    left -= types;
    int graph = left >= LAYOUT_GRAPH_MIN_H ? LAYOUT_GRAPH_MIN_H : 0;
    left -= graph;
    if (left >= 1 && pauses) { /* second pause line: percentiles */
        pauses++;
        left--;
    }
    int spark = 0;
    if (left >= 1 && gens) {
        spark = 1;
        left--;
    }
    if (left >= 2 && types) { /* a title and a second row */
        types += 2;
        left -= 2;
    }
    /* The rest: the graph first, lists up to 8 rows, pauses up to 3 rows. */
    if (graph == 0 && left >= LAYOUT_GRAPH_MIN_H) {
        graph = LAYOUT_GRAPH_MIN_H;
        left -= graph;
    }
    int more_types = imin(left / 3, 9 - types);
    if (more_types > 0 && types >= 3) {
        types += more_types;
        left -= more_types;
    }
    int more_spark = imin(left / 4, 2);
    if (more_spark > 0 && spark) {
        spark += more_spark;
        left -= more_spark;
    }
    if (graph)
        graph += left;
    else
        types += types ? left : 0;

    int y = 0;
    l->mem_title = mk(y, 0, 1, w);
    l->mem_stats = mk(y + 1, 0, stats, w);
    y += 1 + stats;
    l->mem_graph = mk(y, 0, graph, w);
    y += graph;
    if (gens) {
        gc_block(l, y, 0, w, gens + pauses + spark, 2);
        y += gens + pauses + spark;
    }
    if (types >= 3) {
        l->types_title = mk(y, 0, 1, w);
        split_pair(mk(y + 1, 0, types - 1, w), TYPES_SPLIT_MIN_W, &l->types_grow,
                   &l->types_suspect);
    } else if (types) {
        l->types_suspect = mk(y, 0, types, w);
    }
}

void layout_cycles(struct cycles_layout *l, int w, int h)
{
    memset(l, 0, sizeof *l);
    if (w <= 0 || h <= 0)
        return;
    int stats = imin(2, h);
    l->stats = mk(0, 0, stats, w);
    int left = h - stats;
    /* Three graphs need a title and 3 lines each, after room for the shape
     * lists (the live ones matter more than taller graphs); else one row each. */
    int avail = left - LAYOUT_CYCLES_SHAPES_MIN;
    int per = 0;
    if (avail >= 1 + 3 * LAYOUT_GRAPH_MIN_H) {
        l->graphs = true;
        per = (avail - 1) / 3;
        int cap = (left - 1) * 3 / 5 / 3; /* graphs take at most 3/5 */
        if (per > cap)
            per = cap;
        if (per < LAYOUT_GRAPH_MIN_H)
            per = LAYOUT_GRAPH_MIN_H;
        if (per > 12)
            per = 12;
    } else if (left >= 4) {
        per = 1;
    }
    int y = stats;
    if (per) {
        l->gen_title = mk(y, 0, 1, w);
        y++;
        for (int g = 0; g < 3; g++, y += per)
            l->gen[g] = mk(y, 0, per, w);
    }
    int rest = h - y;
    if (rest >= 4) { /* recent shapes above the hunt's, 2/3 of the rows */
        int rows = (rest - 2) * 2 / 3;
        if (rows < 1)
            rows = 1;
        l->recent_title = mk(y, 0, 1, w);
        l->recent = mk(y + 1, 0, rows, w);
        y += 1 + rows;
    }
    if (h - y >= 1) {
        l->hunt_title = mk(y, 0, 1, w);
        l->hunt = mk(y + 1, 0, h - y - 1, w);
    }
}

void layout_alloc(struct alloc_layout *l, int w, int h)
{
    memset(l, 0, sizeof *l);
    if (w <= 0 || h <= 0)
        return;
    l->wide = w >= LAYOUT_ALLOC_WIDE_COLS && h >= 14;
    int nums = l->wide ? 7 : 3; /* a head row and six rows, or one line each */
    nums = imin(nums, h - 1);
    l->nums_title = mk(0, 0, 1, w);
    l->nums = mk(1, 0, nums, w);
    int y = 1 + nums;
    if (h - y >= 2) {
        l->tm_title = mk(y, 0, 1, w);
        struct rect rest = mk(y + 1, 0, h - y - 1, w);
        if (w >= ALLOC_SITES_SPLIT_W) {
            int aw = (w - 2) / 2;
            l->sites_top = mk(rest.y, 0, rest.h, aw);
            l->sites_diff = mk(rest.y, aw + 2, rest.h, w - aw - 2);
        } else if (rest.h >= 4) {
            int ah = rest.h / 2;
            l->sites_top = mk(rest.y, 0, ah, w);
            l->sites_diff = mk(rest.y + ah, 0, rest.h - ah, w);
        } else {
            l->sites_top = rest;
        }
    }
}

int layout_fit(const int *w, const int *prio, int n, int width, int gap, int keep, bool *on)
{
    for (int i = 0; i < n; i++)
        on[i] = true;
    for (;;) {
        int total = 0, shown = 0;
        for (int i = 0; i < n; i++)
            if (on[i]) {
                total += w[i] + (shown ? gap : 0);
                shown++;
            }
        if (total <= width || shown <= keep)
            return total;
        int worst = -1;
        for (int i = 0; i < n; i++)
            if (on[i] && (worst < 0 || prio[i] < prio[worst]))
                worst = i;
        on[worst] = false;
    }
}

int layout_columns(const struct column_spec *spec, int n, int width, int gap,
                   struct column_pos *out)
{
    bool on[64];
    int w[64] = {0}, prio[64] = {0};
    if (n > 64)
        n = 64;
    for (int i = 0; i < n; i++) {
        w[i] = spec[i].min_w;
        prio[i] = spec[i].prio;
    }
    layout_fit(w, prio, n, width, gap, 0, on);
    int total = 0, shown = 0, flex = -1;
    for (int i = 0; i < n; i++)
        if (on[i]) {
            total += spec[i].min_w + (shown ? gap : 0);
            shown++;
            if (spec[i].flex && flex < 0)
                flex = i;
        }
    int spare = width - total;
    int x = 0;
    bool first = true;
    for (int i = 0; i < n; i++) {
        if (!on[i]) {
            out[i].x = x;
            out[i].w = 0;
            continue;
        }
        if (!first)
            x += gap;
        first = false;
        out[i].x = x;
        out[i].w = spec[i].min_w + (i == flex && spare > 0 ? spare : 0);
        x += out[i].w;
    }
    return shown;
}

struct rect layout_center(int cols, int rows, int w, int h)
{
    if (w > cols)
        w = cols;
    if (h > rows)
        h = rows;
    return mk((rows - h) / 2, (cols - w) / 2, h, w);
}

bool rect_empty(struct rect r)
{
    return r.h <= 0 || r.w <= 0;
}

bool rect_overlaps(struct rect a, struct rect b)
{
    if (rect_empty(a) || rect_empty(b))
        return false;
    return a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
}

bool rect_inside(struct rect r, struct rect outer)
{
    if (rect_empty(r))
        return true;
    return r.x >= outer.x && r.y >= outer.y && r.x + r.w <= outer.x + outer.w &&
           r.y + r.h <= outer.y + outer.h;
}

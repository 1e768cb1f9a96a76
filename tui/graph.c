/* Graph drawing: braille area graphs, sparklines and bars, with ASCII fallbacks. */
#include "graph.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "format.h"

#define BRAILLE_BASE 0x2800
#define GRAPH_MAX_DOTS 2048 /* dot columns; wider screens are clipped */

void graph_put_wch(WINDOW *win, int y, int x, wchar_t ch, attr_t attr)
{
    cchar_t c;
    wchar_t str[2] = {ch, L'\0'};
    setcchar(&c, str, attr & ~A_COLOR, (short)PAIR_NUMBER(attr), NULL);
    mvwadd_wch(win, y, x, &c);
}

/* A nice sampling step at or above `ns`, so axis labels come out round. */
static uint64_t nice_step(uint64_t ns)
{
    static const uint64_t steps_ms[] = {10,   20,   25,   50,    100,   200,   250,
                                        500,  1000, 2000, 5000,  10000, 15000, 30000,
                                        60000, 120000, 300000, 600000, 1800000, 3600000};
    for (size_t i = 0; i < sizeof steps_ms / sizeof steps_ms[0]; i++)
        if (steps_ms[i] * 1000000u >= ns)
            return steps_ms[i] * 1000000u;
    return ns;
}

/* Median-free estimate: the average gap over the newest points, rounded up
 * to a nice step (a little slack for timer jitter). */
static uint64_t estimate_step(const struct series *s)
{
    size_t n = series_len(s);
    if (n < 2)
        return 1000000000u;
    size_t from = n > 33 ? n - 33 : 0;
    uint64_t span = series_time_at(s, n - 1) - series_time_at(s, from);
    uint64_t avg = span / (n - 1 - from);
    return nice_step(avg - avg / 10);
}

/* "-2m18s": a time offset for the axis, without padding. */
static void age_label(char *buf, size_t len, uint64_t ns)
{
    char tmp[16];
    format_uptime(tmp, sizeof tmp, ns);
    tmp[FORMAT_UPTIME_W] = '\0';
    const char *p = tmp;
    while (*p == ' ')
        p++;
    snprintf(buf, len, "-%s", p);
}

static void put_str(WINDOW *win, int y, int x, int maxw, const char *str, attr_t attr)
{
    if (maxw <= 0)
        return;
    wattrset(win, attr);
    mvwaddnstr(win, y, x, str, maxw);
    wattrset(win, A_NORMAL);
}

/* One series bucketed into dot columns by age from t_end (newest right);
 * columns without a point carry the value on their left (timer jitter). */
static void bucket(const struct series *s, uint64_t t_end, uint64_t step, int ndots, double *val,
                   bool *has)
{
    for (int j = 0; j < ndots; j++)
        has[j] = false;
    size_t n = series_len(s);
    for (size_t i = n; i-- > 0;) {
        uint64_t t = series_time_at(s, i);
        uint64_t age = t_end > t ? t_end - t : 0;
        uint64_t k = age / step;
        if (k >= (uint64_t)ndots)
            break;
        int j = ndots - 1 - (int)k;
        double v = series_value_at(s, i);
        if (!has[j] || v > val[j])
            val[j] = v;
        has[j] = true;
    }
    int first = 0;
    while (first < ndots && !has[first])
        first++;
    for (int j = first + 1; j < ndots; j++) {
        if (!has[j]) {
            val[j] = val[j - 1];
            has[j] = true;
        }
    }
}

#define GRAPH_MAX_LINES 4

void graph_series(WINDOW *win, int y, int x, int h, int w, const struct series *s,
                  const struct graph_opts *o)
{
    struct graph_line l = {s, o->plot_attr, '#'};
    graph_multi(win, y, x, h, w, &l, 1, o);
}

void graph_multi(WINDOW *win, int y, int x, int h, int w, const struct graph_line *lines, int n,
                 const struct graph_opts *o)
{
    int lw = o->label ? o->label_w : 0;
    int px = x + lw + 1; /* plot starts after labels and the axis line */
    int pw = w - lw - 1;
    int ph = h - 1; /* last line: time axis */
    if (ph < 1 || pw < 2 || n < 1)
        return;
    if (n > GRAPH_MAX_LINES)
        n = GRAPH_MAX_LINES;
    int sub_x = o->utf8 ? 2 : 1, sub_y = o->utf8 ? 4 : 2;
    int ndots = pw * sub_x;
    if (ndots > GRAPH_MAX_DOTS)
        ndots = GRAPH_MAX_DOTS;
    const struct series *s0 = lines[0].s;
    uint64_t step = o->step_ns ? o->step_ns : estimate_step(s0);

    /* Axis lines. */
    for (int r = 0; r < ph; r++) {
        if (o->utf8)
            graph_put_wch(win, y + r, px - 1, L'\x2502', o->axis_attr); /* │ */
        else
            put_str(win, y + r, px - 1, 1, "|", o->axis_attr);
    }
    for (int c = -1; c < pw; c++) {
        if (o->utf8)
            graph_put_wch(win, y + ph, px + c, c < 0 ? L'\x2514' : L'\x2500', o->axis_attr);
        else
            put_str(win, y + ph, px + c, 1, c < 0 ? "+" : "-", o->axis_attr);
    }

    uint64_t t_end = 0;
    for (int i = 0; i < n; i++) {
        size_t len = series_len(lines[i].s);
        if (len && series_time_at(lines[i].s, len - 1) > t_end)
            t_end = series_time_at(lines[i].s, len - 1);
    }
    if (series_len(s0) == 0) {
        const char *msg = "waiting for data";
        int mw = (int)strlen(msg);
        put_str(win, y + (ph - 1) / 2, px + (pw > mw ? (pw - mw) / 2 : 0), pw, msg,
                o->axis_attr);
        return;
    }

    static double val[GRAPH_MAX_LINES][GRAPH_MAX_DOTS];
    static bool has[GRAPH_MAX_LINES][GRAPH_MAX_DOTS];
    double lo = 0, hi = 0;
    bool first = true;
    for (int i = 0; i < n; i++) {
        bucket(lines[i].s, t_end, step, ndots, val[i], has[i]);
        for (int j = 0; j < ndots; j++) {
            if (!has[i][j])
                continue;
            if (first || val[i][j] < lo)
                lo = val[i][j];
            if (first || val[i][j] > hi)
                hi = val[i][j];
            first = false;
        }
    }
    if (hi - lo < o->min_range) {
        double mid = (hi + lo) / 2;
        lo = mid - o->min_range / 2;
        if (lo < 0)
            lo = 0;
        hi = lo + o->min_range;
    }
    double range = hi - lo > 0 ? hi - lo : 1;
    int max_dots = ph * sub_y;

    for (int c = 0; c < pw; c++) {
        /* Dot heights per sub-column: area (series 0) and each line. */
        int dh[GRAPH_MAX_LINES][2] = {{0}};
        bool any = false;
        for (int i = 0; i < n; i++)
            for (int k = 0; k < sub_x; k++) {
                int j = c * sub_x + k;
                if (j >= ndots || !has[i][j])
                    continue;
                /* The minimum still shows one dot, so a flat line is visible. */
                int d = 1 + (int)lround((val[i][j] - lo) / range * (max_dots - 1));
                dh[i][k] = d < 1 ? 1 : d > max_dots ? max_dots : d;
                any = true;
            }
        if (!any)
            continue;
        for (int r = 0; r < ph; r++) {
            int base = (ph - 1 - r) * sub_y; /* dots below this cell */
            attr_t a = lines[0].attr;
            if (o->utf8) {
                static const int left[4] = {0x40, 0x04, 0x02, 0x01}; /* bottom-up */
                static const int right[4] = {0x80, 0x20, 0x10, 0x08};
                int bits = 0;
                for (int k = 0; k < 4; k++) {
                    if (dh[0][0] > base + k)
                        bits |= left[k];
                    if (dh[0][1] > base + k)
                        bits |= right[k];
                }
                /* Lines: their top dot only. A cell a line passes through
                 * shows the line alone, so it stays visible inside the area
                 * even without colour; the last line drawn wins the cell. */
                int lbits = 0;
                for (int i = 1; i < n; i++)
                    for (int sx = 0; sx < 2; sx++) {
                        int d = dh[i][sx] - 1 - base;
                        if (dh[i][sx] > 0 && d >= 0 && d < 4) {
                            lbits |= sx ? right[d] : left[d];
                            a = lines[i].attr;
                        }
                    }
                if (lbits)
                    bits = lbits;
                if (bits)
                    graph_put_wch(win, y + r, px + c, (wchar_t)(BRAILLE_BASE + bits), a);
            } else {
                char ch = 0;
                int f = dh[0][0] - base;
                if (f > 0)
                    ch = f >= 2 ? '#' : '.';
                for (int i = 1; i < n; i++) {
                    int d = dh[i][0] - 1 - base;
                    if (dh[i][0] > 0 && d >= 0 && d < 2) {
                        ch = lines[i].ascii ? lines[i].ascii : '*';
                        a = lines[i].attr;
                    }
                }
                if (ch) {
                    char str[2] = {ch, 0};
                    put_str(win, y + r, px + c, 1, str, a);
                }
            }
        }
    }

    /* Y labels: top, bottom, and the middle when there is room. */
    if (o->label && lw > 0) {
        char buf[32];
        o->label(buf, sizeof buf, hi);
        put_str(win, y, x, lw, buf, o->axis_attr);
        if (ph >= 2) {
            o->label(buf, sizeof buf, lo);
            put_str(win, y + ph - 1, x, lw, buf, o->axis_attr);
        }
        if (ph >= 5) {
            o->label(buf, sizeof buf, lo + range / 2);
            put_str(win, y + (ph - 1) / 2, x, lw, buf, o->axis_attr);
        }
    }

    /* Time axis labels over the bottom line. While the history is shorter
     * than the width, the left label marks where the data starts (its age)
     * instead of the empty window's edge, and the middle one is dropped. */
    char left_l[24], mid_l[24];
    int left_x = 0;
    uint64_t span_ns = (uint64_t)pw * sub_x * step;
    uint64_t data_ns = series_len(s0) ? t_end - series_time_at(s0, 0) : 0;
    bool partial = data_ns + step < span_ns;
    if (partial) {
        uint64_t col = data_ns / ((uint64_t)sub_x * step);
        left_x = pw - 1 - (int)col;
        age_label(left_l, sizeof left_l, data_ns);
    } else {
        age_label(left_l, sizeof left_l, span_ns);
    }
    age_label(mid_l, sizeof mid_l, span_ns / 2);
    int ll = (int)strlen(left_l), ml = (int)strlen(mid_l);
    if (left_x > pw - 3 - 1 - ll)
        left_x = pw - 3 - 1 - ll; /* keep it clear of "now" */
    if (left_x >= 0)
        put_str(win, y + ph, px + left_x, pw - left_x, left_l, o->axis_attr);
    if (pw >= ll + 3 + 2)
        put_str(win, y + ph, px + pw - 3, 3, "now", o->axis_attr);
    if (!partial && pw >= ll + ml + 3 + 6)
        put_str(win, y + ph, px + pw / 2 - ml / 2, ml, mid_l, o->axis_attr);
}

void graph_sparkline(WINDOW *win, int y, int x, int h, int w, const double *v, size_t n,
                     double lo, double hi, bool utf8, attr_t attr)
{
    static const char ascii[] = "._-~=+*#";
    if (w <= 0 || h <= 0 || n == 0)
        return;
    if (n > (size_t)w) { /* keep the newest */
        v += n - (size_t)w;
        n = (size_t)w;
    }
    int levels = h * 8;
    for (size_t i = 0; i < n; i++) {
        if (isnan(v[i]))
            continue;
        int lvl = 1;
        if (hi > lo)
            lvl = 1 + (int)floor((v[i] - lo) / (hi - lo) * (levels - 0.001));
        if (lvl < 1)
            lvl = 1;
        if (lvl > levels)
            lvl = levels;
        for (int r = 0; r < h; r++) { /* r = 0 is the bottom row */
            int e = lvl - r * 8;
            if (e <= 0)
                break;
            if (e > 8)
                e = 8;
            int cy = y + h - 1 - r;
            if (utf8) {
                graph_put_wch(win, cy, x + (int)i, (wchar_t)(0x2580 + e), attr); /* ▁..█ */
            } else {
                wattrset(win, attr);
                /* Inner rows of a tall ASCII bar are full; the top shows the level. */
                mvwaddch(win, cy, x + (int)i, (chtype)(unsigned char)ascii[(h > 1 && e == 8) ? 7 : e - 1]);
                wattrset(win, A_NORMAL);
            }
        }
    }
}

void graph_bar(WINDOW *win, int y, int x, int w, double frac, bool utf8, attr_t attr,
               attr_t empty_attr)
{
    if (w <= 0)
        return;
    if (!(frac > 0))
        frac = 0;
    if (frac > 1)
        frac = 1;
    if (utf8) {
        int eighths = (int)lround(frac * w * 8);
        for (int c = 0; c < w; c++) {
            int e = eighths - c * 8;
            if (e >= 8)
                graph_put_wch(win, y, x + c, L'\x2588', attr); /* █ */
            else if (e > 0)
                graph_put_wch(win, y, x + c, (wchar_t)(0x2590 - e), attr); /* ▏..▉ */
            else
                graph_put_wch(win, y, x + c, L'\x00b7', empty_attr); /* · */
        }
    } else {
        int full = (int)lround(frac * w);
        for (int c = 0; c < w; c++) {
            wattrset(win, c < full ? attr : empty_attr);
            mvwaddch(win, y, x + c, c < full ? '#' : '.');
        }
        wattrset(win, A_NORMAL);
    }
}

/* Drawing helpers for the dashboard: an area graph of a series over time
 * (braille, or ASCII), a sparkline and a horizontal bar. They draw into a
 * window and never refresh it. */
#ifndef PYMEMTOP_TUI_GRAPH_H
#define PYMEMTOP_TUI_GRAPH_H

#ifndef NCURSES_WIDECHAR
#define NCURSES_WIDECHAR 1
#endif
#include <curses.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "series.h"

/* Writes a y-scale label for value v (at most label_w columns). */
typedef void (*graph_label_fn)(char *buf, size_t len, double v);

struct graph_opts {
    bool utf8;            /* braille and box drawing, else ASCII */
    attr_t plot_attr;     /* attributes (with colour pair) of the plotted area */
    attr_t axis_attr;     /* of labels and axes */
    uint64_t step_ns;     /* time per horizontal dot; 0: estimated from the series */
    graph_label_fn label; /* NULL: no y labels */
    int label_w;          /* columns reserved for y labels */
    double min_range;     /* smallest y range shown, so noise is not magnified */
};

/* Area graph of the newest points of s, newest at the right, in the h x w
 * box at (y, x): y labels on the left, time axis ("-2m18s ... now") on the
 * bottom line. Needs h >= 2; draws "waiting for data" with no points. */
void graph_series(WINDOW *win, int y, int x, int h, int w, const struct series *s,
                  const struct graph_opts *o);

/* Several series on one y scale and one time axis (newest point of any at
 * the right): the first as an area, the others as lines drawn over it, each
 * in its own attributes (in ASCII, with its own glyph). Same layout and
 * labels as graph_series; an empty series is skipped. */
struct graph_line {
    const struct series *s;
    attr_t attr;
    char ascii; /* glyph in ASCII mode; the area uses '#' and '.' */
};
void graph_multi(WINDOW *win, int y, int x, int h, int w, const struct graph_line *lines, int n,
                 const struct graph_opts *o);

/* Vertical bars h rows tall with its top line at y, one column per value,
 * the newest (last) rightmost, at most w columns: lo maps to the lowest
 * glyph and hi (or more) to the full height, so every value is visible; NaN
 * is left blank. With h == 1 this is a sparkline. */
void graph_sparkline(WINDOW *win, int y, int x, int h, int w, const double *v, size_t n,
                     double lo, double hi, bool utf8, attr_t attr);

/* A bar `frac` (clamped to 0..1) of w cells long, eighth-cell precise in UTF-8;
 * the unfilled part is dotted with `empty_attr`. */
void graph_bar(WINDOW *win, int y, int x, int w, double frac, bool utf8, attr_t attr,
               attr_t empty_attr);

/* Puts one wide character (UTF-8 mode only) with attributes and colour. */
void graph_put_wch(WINDOW *win, int y, int x, wchar_t ch, attr_t attr);

#endif

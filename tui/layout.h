/* Pure rectangle maths for the dashboard: terminal size in, panel rectangles
 * out. No curses, so it is unit-tested (no overlaps, all on screen). */
#ifndef PYMEMTOP_TUI_LAYOUT_H
#define PYMEMTOP_TUI_LAYOUT_H

#include <stdbool.h>

#define LAYOUT_MIN_COLS 40
#define LAYOUT_MIN_ROWS 12

/* Screen cells, 0-based; a rectangle with h or w <= 0 is empty (not shown). */
struct rect {
    int y, x, h, w;
};

/* A panel: its outer rectangle, and the content area inside it (inside the
 * border when boxed, below the title line when not). */
struct panel_rect {
    struct rect outer, inner;
};

struct layout {
    int cols, rows;
    bool too_small;   /* below LAYOUT_MIN_COLS x LAYOUT_MIN_ROWS: nothing else is set */
    bool boxed;       /* panels have borders (else a one-line title) */
    bool side_by_side; /* memory and allocator left, GC right */
    struct rect header; /* two lines at the top */
    struct rect status; /* last line */
    struct panel_rect memory, alloc, gc;
    /* Inside memory.inner: the numbers and the RSS graph (with its axes). */
    struct rect mem_stats, mem_graph;
};

/* Lines each panel's content needs; the drawing code relies on these. */
#define LAYOUT_HEADER_H 2
#define LAYOUT_MEM_STATS_H 2
#define LAYOUT_MEM_GRAPH_MIN_H 3 /* two plot rows and the time axis */
#define LAYOUT_GC_MIN_H 4        /* three generations and a pause summary */
#define LAYOUT_GC_WANT_H 7       /* + column heads, percentiles, sparkline */

void layout_compute(struct layout *l, int cols, int rows);

/* A w x h box centred on a cols x rows screen, clipped to it. */
struct rect layout_center(int cols, int rows, int w, int h);

bool rect_empty(struct rect r);
bool rect_overlaps(struct rect a, struct rect b);
/* r lies within `outer` (an empty r always does). */
bool rect_inside(struct rect r, struct rect outer);

#endif

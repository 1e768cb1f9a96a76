/* Pure rectangle maths for the dashboard: terminal size in, rectangles out.
 * No curses, so it is unit-tested (no overlaps, everything on screen, at
 * every size from the minimum up). View layouts are in body coordinates:
 * (0, 0) is the top-left cell of the body window. */
#ifndef PYMEMTOP_TUI_LAYOUT_H
#define PYMEMTOP_TUI_LAYOUT_H

#include <stdbool.h>

#define LAYOUT_MIN_COLS 40
#define LAYOUT_MIN_ROWS 12

/* Screen cells, 0-based; a rectangle with h or w <= 0 is empty (not shown). */
struct rect {
    int y, x, h, w;
};

#define LAYOUT_HEADER_H 2
#define LAYOUT_TABS_MIN_ROWS 16 /* shorter screens give the tab line to the body */

/* The frame every view shares. */
struct screen_layout {
    int cols, rows;
    bool too_small;     /* below LAYOUT_MIN_COLS x LAYOUT_MIN_ROWS: nothing else is set */
    struct rect header; /* two lines: target, command, agent state */
    struct rect tabs;   /* one line of view names; empty on short screens */
    struct rect body;   /* the current view */
    struct rect status; /* last line: messages, key hints, prompts */
};
void layout_screen(struct screen_layout *l, int cols, int rows);

/* 1. Overview. Titles are one-line rules; an empty title means the panel
 * is shown without one (only on the smallest screens). */
#define LAYOUT_SIDE_MIN_COLS 130 /* GC and types go right of the memory graph */
#define LAYOUT_GRAPH_MIN_H 3     /* two plot rows and the time axis */
struct overview_layout {
    bool side_by_side;
    struct rect mem_title, mem_stats, mem_graph;
    struct rect gc_title, gc_gens, gc_pauses, gc_spark, gc_hist;
    struct rect types_title, types_grow, types_suspect;
};
void layout_overview(struct overview_layout *l, int w, int h);

/* 3. Cycles: numbers, freed-per-second per generation (graphs with axes,
 * or one sparkline row each when short), the shapes captured from the
 * program's own collections (recent; empty when the body is very short),
 * the last hunt's shapes. */
#define LAYOUT_CYCLES_SHAPES_MIN 12/* rows kept for the two shape lists before graphs */
struct cycles_layout {
    bool graphs; /* gen[] hold graphs (>= LAYOUT_GRAPH_MIN_H) instead of one row each */
    struct rect stats, gen_title, gen[3], recent_title, recent, hunt_title, hunt;
};
void layout_cycles(struct cycles_layout *l, int w, int h);

/* 4. Allocations: the three allocators side by side (or one line each when
 * narrow), then tracemalloc's top sites and diff. */
#define LAYOUT_ALLOC_WIDE_COLS 78
struct alloc_layout {
    bool wide;          /* numbers in three columns (else one line per allocator) */
    struct rect nums_title, nums, tm_title, sites_top, sites_diff;
};
void layout_alloc(struct alloc_layout *l, int w, int h);

/* Table columns: which fit in `width`, and where. Columns are dropped from
 * the lowest priority up until the rest fit; the flexible column (at most
 * one) takes the width left over. */
struct column_spec {
    int min_w;  /* columns needed */
    int prio;   /* higher survives longer */
    bool flex;  /* takes the spare width */
};
struct column_pos {
    int x, w;   /* w == 0: not shown */
};
/* Which items fit in `width` (widths w[i], `gap` between shown items): the
 * lowest prio goes first, until they fit or only `keep` are left. Sets
 * on[i]; returns the width taken. n <= 64. */
int layout_fit(const int *w, const int *prio, int n, int width, int gap, int keep, bool *on);

/* Returns the number of columns shown. gap: spaces between columns. */
int layout_columns(const struct column_spec *spec, int n, int width, int gap,
                   struct column_pos *out);

/* A w x h box centred on a cols x rows screen, clipped to it. */
struct rect layout_center(int cols, int rows, int w, int h);

bool rect_empty(struct rect r);
bool rect_overlaps(struct rect a, struct rect b);
/* r lies within `outer` (an empty r always does). */
bool rect_inside(struct rect r, struct rect outer);

#endif

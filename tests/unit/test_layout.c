/* Layout maths: at every size from the minimum to 250x80 the frame tiles the
 * screen, and every view's rectangles stay inside the body and never overlap;
 * table columns never overlap at any width. */
#include <stdbool.h>

#include "harness.h"
#include "layout.h"

static struct rect box(int w, int h)
{
    struct rect r = {0, 0, h, w};
    return r;
}

static int area(struct rect r)
{
    return rect_empty(r) ? 0 : r.h * r.w;
}

/* All non-empty rects inside `outer`, pairwise disjoint. */
static bool disjoint_inside(const struct rect *r, int n, struct rect outer)
{
    for (int i = 0; i < n; i++) {
        if (!rect_inside(r[i], outer))
            return false;
        for (int j = i + 1; j < n; j++)
            if (rect_overlaps(r[i], r[j]))
                return false;
    }
    return true;
}

#define REQ(c, w, h)                                                                       \
    do {                                                                                   \
        CHECK(c);                                                                          \
        if (harness_cur_failed) {                                                          \
            printf("  at %dx%d\n", (w), (h));                                              \
            return;                                                                        \
        }                                                                                  \
    } while (0)

static void test_rect_helpers(void)
{
    struct rect a = {0, 0, 2, 10}, b = {2, 0, 3, 10}, c = {1, 9, 5, 5}, e = {3, 3, 0, 4};
    CHECK(!rect_overlaps(a, b)); /* touching edges do not overlap */
    CHECK(rect_overlaps(a, c));
    CHECK(rect_overlaps(b, c));
    CHECK(!rect_overlaps(a, e)); /* empty never overlaps */
    CHECK(rect_empty(e));
    CHECK(rect_inside(a, box(10, 2)));
    CHECK(!rect_inside(a, box(9, 2)));
    CHECK(rect_inside(e, box(1, 1)));
}

static void test_too_small(void)
{
    static const int sizes[][2] = {{39, 12}, {40, 11}, {30, 10}, {0, 0}, {1, 1}, {39, 80}, {250, 11}};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        struct screen_layout l;
        layout_screen(&l, sizes[i][0], sizes[i][1]);
        CHECK(l.too_small);
        CHECK(rect_empty(l.body) && rect_empty(l.header) && rect_empty(l.status));
    }
    struct screen_layout l;
    layout_screen(&l, 40, 12);
    CHECK(!l.too_small);
}

static void test_screen_tiles(void)
{
    for (int cols = LAYOUT_MIN_COLS; cols <= 250; cols++)
        for (int rows = LAYOUT_MIN_ROWS; rows <= 80; rows++) {
            struct screen_layout l;
            layout_screen(&l, cols, rows);
            struct rect r[] = {l.header, l.tabs, l.body, l.status};
            REQ(!l.too_small, cols, rows);
            REQ(disjoint_inside(r, 4, box(cols, rows)), cols, rows);
            REQ(area(l.header) + area(l.tabs) + area(l.body) + area(l.status) == cols * rows,
                cols, rows);
            REQ(l.header.y == 0 && l.header.h == LAYOUT_HEADER_H, cols, rows);
            REQ(l.status.y == rows - 1 && l.status.h == 1, cols, rows);
            REQ(l.body.h >= LAYOUT_MIN_ROWS - 3, cols, rows);
            REQ(rect_empty(l.tabs) == (rows < LAYOUT_TABS_MIN_ROWS), cols, rows);
        }
}

/* The body sizes the views see: every screen size's body. */
#define FOR_EACH_BODY(w, h)                                                                \
    for (int w = LAYOUT_MIN_COLS; w <= 250; w++)                                           \
        for (int rows_ = LAYOUT_MIN_ROWS, h = 0; rows_ <= 80 && (h = body_h(rows_), 1); rows_++)

static int body_h(int rows)
{
    struct screen_layout l;
    layout_screen(&l, 80, rows);
    return l.body.h;
}

static void test_overview_every_size(void)
{
    FOR_EACH_BODY(w, h)
    {
        struct overview_layout l;
        layout_overview(&l, w, h);
        struct rect r[] = {l.mem_title, l.mem_stats,   l.mem_graph,  l.gc_title,
                           l.gc_gens,   l.gc_pauses,   l.gc_spark,   l.gc_hist,
                           l.types_title, l.types_grow, l.types_suspect};
        REQ(disjoint_inside(r, 11, box(w, h)), w, h);
        /* What is always there: memory numbers, the three generations, a
         * pause line and the suspects. */
        REQ(l.mem_title.h == 1 && l.mem_stats.h == 2, w, h);
        REQ(l.gc_gens.h == 3 && l.gc_title.h == 1 && l.gc_pauses.h >= 1, w, h);
        REQ(!rect_empty(l.types_suspect), w, h);
        REQ(rect_empty(l.mem_graph) || l.mem_graph.h >= LAYOUT_GRAPH_MIN_H, w, h);
        REQ(l.mem_stats.y == l.mem_title.y + 1, w, h);
        if (!rect_empty(l.mem_graph))
            REQ(l.mem_graph.y == l.mem_stats.y + 2, w, h);
        REQ(l.gc_gens.y == l.gc_title.y + 1, w, h);
        if (!rect_empty(l.types_title))
            REQ(l.types_title.y < l.types_suspect.y, w, h);
        /* Nothing is wasted when stacked: the lines add up to the body. */
        if (!l.side_by_side)
            REQ(l.mem_title.h + l.mem_stats.h + l.mem_graph.h + l.gc_title.h + l.gc_gens.h +
                        l.gc_pauses.h + (l.gc_spark.h > l.gc_hist.h ? l.gc_spark.h : l.gc_hist.h) +
                        l.types_title.h +
                        (rect_empty(l.types_grow) || l.types_grow.y == l.types_suspect.y
                             ? l.types_suspect.h
                             : l.types_grow.h + l.types_suspect.h) ==
                    h,
                w, h);
    }
}

static void test_overview_80x24_reads_well(void)
{
    struct screen_layout s;
    layout_screen(&s, 80, 24);
    struct overview_layout l;
    layout_overview(&l, s.body.w, s.body.h);
    CHECK(!l.side_by_side);
    CHECK(l.mem_graph.h >= 5);   /* a real graph, not a strip */
    CHECK(l.gc_pauses.h == 2);   /* summary and percentiles */
    CHECK(l.gc_spark.h >= 1 && l.gc_hist.h >= 1);
    CHECK(l.types_grow.h >= 2 && l.types_suspect.h >= 2);
    CHECK(l.types_grow.y == l.types_suspect.y); /* side by side */
}

static void test_overview_minimum(void)
{
    struct screen_layout s;
    layout_screen(&s, 40, 12);
    struct overview_layout l;
    layout_overview(&l, s.body.w, s.body.h);
    CHECK(rect_empty(s.tabs));
    CHECK_EQ_INT(s.body.h, 9);
    CHECK_EQ_INT(l.gc_gens.h, 3);
    CHECK_EQ_INT(l.types_suspect.h, 1);
}

static void test_overview_side_by_side(void)
{
    struct overview_layout l;
    layout_overview(&l, 200, 56);
    CHECK(l.side_by_side);
    CHECK(l.mem_graph.h == 53);
    CHECK(l.gc_title.x > l.mem_graph.x + l.mem_graph.w - 1);
    CHECK(l.types_grow.h >= 10);
}

static void test_graph_grows_with_height(void)
{
    /* Other panels grow in steps, so the graph may give back one line when
     * the lists gain a title; never more, and it keeps growing overall. */
    int prev = -1;
    for (int h = 9; h <= 77; h++) {
        struct overview_layout l;
        layout_overview(&l, 100, h);
        CHECK(l.mem_graph.h >= prev - 1);
        prev = l.mem_graph.h;
    }
    struct overview_layout a, b;
    layout_overview(&a, 100, 26);
    layout_overview(&b, 100, 56);
    CHECK(b.mem_graph.h >= a.mem_graph.h + 20);
}

static void test_cycles_every_size(void)
{
    FOR_EACH_BODY(w, h)
    {
        struct cycles_layout l;
        layout_cycles(&l, w, h);
        struct rect r[] = {l.stats,        l.gen_title, l.gen[0],     l.gen[1], l.gen[2],
                           l.recent_title, l.recent,    l.hunt_title, l.hunt};
        REQ(disjoint_inside(r, 9, box(w, h)), w, h);
        if (h >= 10)
            REQ(!rect_empty(l.recent_title) && !rect_empty(l.recent), w, h);
        if (l.graphs)
            REQ(l.recent.h + l.hunt.h + 2 >= LAYOUT_CYCLES_SHAPES_MIN, w, h);
        REQ(l.stats.h == 2, w, h);
        REQ(!rect_empty(l.gen[2]), w, h);
        REQ(!rect_empty(l.hunt_title) && !rect_empty(l.hunt), w, h);
        if (l.graphs)
            REQ(l.gen[0].h >= LAYOUT_GRAPH_MIN_H, w, h);
        else
            REQ(l.gen[0].h == 1, w, h);
    }
}

static void test_alloc_every_size(void)
{
    FOR_EACH_BODY(w, h)
    {
        struct alloc_layout l;
        layout_alloc(&l, w, h);
        struct rect r[] = {l.nums_title, l.nums, l.tm_title, l.sites_top, l.sites_diff};
        REQ(disjoint_inside(r, 5, box(w, h)), w, h);
        REQ(l.nums.h == (l.wide ? 7 : 3), w, h);
        REQ(!rect_empty(l.tm_title) && !rect_empty(l.sites_top), w, h);
    }
}

static void test_columns(void)
{
    /* The objects table: name (flex), count, since attach, since snapshot,
     * rate, suspect mark. */
    const struct column_spec spec[] = {
        {10, 10, true}, {7, 9, false}, {8, 7, false}, {8, 5, false}, {9, 6, false}, {1, 8, false},
    };
    for (int width = 0; width <= 300; width++) {
        struct column_pos p[6];
        int shown = layout_columns(spec, 6, width, 1, p);
        int end = 0;
        for (int i = 0; i < 6; i++) {
            if (!p[i].w)
                continue;
            CHECK(p[i].x >= end);       /* left to right, no overlap */
            CHECK(p[i].w >= spec[i].min_w);
            end = p[i].x + p[i].w;
        }
        if (width >= 10) {
            CHECK(end <= width);
            CHECK(p[0].w >= 10);        /* the name always shows */
        }
        if (width >= 10 + 7 + 8 + 8 + 9 + 1 + 5) {
            CHECK_EQ_INT(shown, 6);
            CHECK_EQ_INT(end, width);   /* the name takes the rest */
        }
    }
    struct column_pos p[6];
    layout_columns(spec, 6, 40, 1, p);
    CHECK(p[0].w > 0 && p[1].w > 0 && p[5].w > 0 && p[4].w > 0);
    CHECK(p[3].w == 0); /* since snapshot goes first */
}

static void test_center(void)
{
    struct rect r = layout_center(80, 24, 40, 10);
    CHECK_EQ_INT(r.x, 20);
    CHECK_EQ_INT(r.y, 7);
    r = layout_center(30, 8, 40, 10); /* clipped to the screen */
    CHECK(rect_inside(r, box(30, 8)));
    CHECK_EQ_INT(r.w, 30);
    CHECK_EQ_INT(r.h, 8);
}

int main(void)
{
    RUN(test_rect_helpers);
    RUN(test_too_small);
    RUN(test_screen_tiles);
    RUN(test_overview_every_size);
    RUN(test_overview_80x24_reads_well);
    RUN(test_overview_minimum);
    RUN(test_overview_side_by_side);
    RUN(test_graph_grows_with_height);
    RUN(test_cycles_every_size);
    RUN(test_alloc_every_size);
    RUN(test_columns);
    RUN(test_center);
    return HARNESS_END();
}

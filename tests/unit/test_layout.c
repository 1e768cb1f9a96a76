/* Layout maths: every size from the minimum to 250x80 gives panels that fit
 * the screen, never overlap and leave each panel the lines its content needs. */
#include <stdbool.h>

#include "harness.h"
#include "layout.h"

static struct rect screen(int cols, int rows)
{
    struct rect r = {0, 0, rows, cols};
    return r;
}

static int area(struct rect r)
{
    return rect_empty(r) ? 0 : r.h * r.w;
}

static void test_rect_helpers(void)
{
    struct rect a = {0, 0, 2, 10}, b = {2, 0, 3, 10}, c = {1, 9, 5, 5}, e = {3, 3, 0, 4};
    CHECK(!rect_overlaps(a, b)); /* touching edges do not overlap */
    CHECK(rect_overlaps(a, c));
    CHECK(rect_overlaps(b, c));
    CHECK(!rect_overlaps(a, e)); /* empty never overlaps */
    CHECK(rect_empty(e));
    CHECK(rect_inside(a, screen(10, 2)));
    CHECK(!rect_inside(a, screen(9, 2)));
    CHECK(rect_inside(e, screen(1, 1)));
}

static void test_too_small(void)
{
    static const int sizes[][2] = {{39, 12}, {40, 11}, {30, 10}, {0, 0}, {1, 1}, {39, 80}, {250, 11}};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        struct layout l;
        layout_compute(&l, sizes[i][0], sizes[i][1]);
        CHECK(l.too_small);
        CHECK(rect_empty(l.memory.outer) && rect_empty(l.gc.outer) && rect_empty(l.header));
    }
    struct layout l;
    layout_compute(&l, 40, 12);
    CHECK(!l.too_small);
}

/* The invariants, checked for one size; returns false on the first failure so
 * the sweep reports one line instead of thousands. */
static bool check_size(int cols, int rows)
{
    struct layout l;
    layout_compute(&l, cols, rows);
    struct rect scr = screen(cols, rows);
    int fails = harness_cur_failed;
#define REQ(c)                                                                               \
    do {                                                                                     \
        CHECK(c);                                                                            \
        if (harness_cur_failed != fails) {                                                   \
            printf("  at %dx%d\n", cols, rows);                                              \
            return false;                                                                    \
        }                                                                                    \
    } while (0)
    REQ(!l.too_small);
    REQ(l.cols == cols && l.rows == rows);
    struct rect outers[] = {l.header, l.status, l.memory.outer, l.alloc.outer, l.gc.outer};
    size_t n = sizeof outers / sizeof outers[0];
    int total = 0;
    for (size_t i = 0; i < n; i++) {
        REQ(!rect_empty(outers[i]));
        REQ(rect_inside(outers[i], scr));
        total += area(outers[i]);
        for (size_t j = i + 1; j < n; j++)
            REQ(!rect_overlaps(outers[i], outers[j]));
    }
    /* Non-overlapping and inside, so equal area means the screen is tiled. */
    REQ(total == cols * rows);
    REQ(l.header.y == 0 && l.header.h == LAYOUT_HEADER_H);
    REQ(l.status.y == rows - 1 && l.status.h == 1);

    const struct panel_rect *panels[] = {&l.memory, &l.alloc, &l.gc};
    for (size_t i = 0; i < 3; i++) {
        REQ(rect_inside(panels[i]->inner, panels[i]->outer));
        REQ(panels[i]->inner.h >= 1 && panels[i]->inner.w >= 1);
    }
    REQ(l.alloc.inner.h >= 1);
    REQ(l.gc.inner.h >= LAYOUT_GC_MIN_H);
    REQ(l.gc.inner.w >= LAYOUT_MIN_COLS - 2);
    REQ(l.mem_stats.h == LAYOUT_MEM_STATS_H);
    REQ(rect_inside(l.mem_stats, l.memory.inner));
    REQ(rect_inside(l.mem_graph, l.memory.inner));
    REQ(!rect_overlaps(l.mem_stats, l.mem_graph));
    REQ(rect_empty(l.mem_graph) || l.mem_graph.h >= LAYOUT_MEM_GRAPH_MIN_H);
    if (l.side_by_side)
        REQ(l.boxed);
#undef REQ
    return true;
}

static void test_every_size(void)
{
    for (int cols = LAYOUT_MIN_COLS; cols <= 250; cols++)
        for (int rows = LAYOUT_MIN_ROWS; rows <= 80; rows++)
            if (!check_size(cols, rows))
                return;
}

static void test_80x24_reads_well(void)
{
    struct layout l;
    layout_compute(&l, 80, 24);
    CHECK(l.boxed);
    CHECK(!l.side_by_side);
    CHECK(l.mem_graph.h >= 4);          /* a real graph, not a strip */
    CHECK(l.gc.inner.h >= LAYOUT_GC_WANT_H); /* all GC lines */
    CHECK(l.memory.inner.w == 78);
}

static void test_graph_grows_with_height(void)
{
    /* Within one style (boxed or not) a taller screen never shrinks the graph;
     * switching to borders may cost lines once. */
    int prev = -1;
    bool prev_boxed = false;
    for (int rows = LAYOUT_MIN_ROWS; rows <= 80; rows++) {
        struct layout l;
        layout_compute(&l, 100, rows);
        if (prev >= 0 && l.boxed == prev_boxed)
            CHECK(l.mem_graph.h >= prev);
        prev = l.mem_graph.h;
        prev_boxed = l.boxed;
    }
    struct layout a, b;
    layout_compute(&a, 100, 30);
    layout_compute(&b, 100, 60);
    CHECK(b.mem_graph.h > a.mem_graph.h);
}

static void test_minimum_keeps_numbers(void)
{
    struct layout l;
    layout_compute(&l, 40, 12);
    CHECK(!l.boxed);
    CHECK_EQ_INT(l.mem_stats.h, 2);
    CHECK_EQ_INT(l.gc.inner.h, LAYOUT_GC_MIN_H);
    CHECK_EQ_INT(l.alloc.inner.h, 1);
}

static void test_side_by_side(void)
{
    struct layout l;
    layout_compute(&l, 200, 50);
    CHECK(l.side_by_side);
    CHECK(l.gc.outer.x > 0 && l.gc.outer.h == 50 - 3);
    CHECK(l.memory.outer.x == 0 && l.memory.outer.x + l.memory.outer.w == l.gc.outer.x);
}

static void test_center(void)
{
    struct rect r = layout_center(80, 24, 40, 10);
    CHECK_EQ_INT(r.x, 20);
    CHECK_EQ_INT(r.y, 7);
    r = layout_center(30, 8, 40, 10); /* clipped to the screen */
    CHECK(rect_inside(r, screen(30, 8)));
    CHECK_EQ_INT(r.w, 30);
    CHECK_EQ_INT(r.h, 8);
}

int main(void)
{
    RUN(test_rect_helpers);
    RUN(test_too_small);
    RUN(test_every_size);
    RUN(test_80x24_reads_well);
    RUN(test_graph_grows_with_height);
    RUN(test_minimum_keeps_numbers);
    RUN(test_side_by_side);
    RUN(test_center);
    return HARNESS_END();
}

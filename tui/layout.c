/* Pure rectangle maths for the dashboard (no curses: unit tests link it). */
#include "layout.h"

#include <string.h>

/* Borders cost two lines per panel: only worth it with room to spare. */
#define BOXED_MIN_BODY_H 18
#define BOXED_MIN_COLS 60
/* Wide screens put GC beside memory so the RSS graph gets the height. */
#define SIDE_MIN_COLS 130
#define SIDE_GC_MIN_W 60
#define SIDE_GC_MAX_W 90

static struct rect mk(int y, int x, int h, int w)
{
    struct rect r = {y, x, h > 0 ? h : 0, w > 0 ? w : 0};
    return r;
}

/* Content area: inside the border, or below a one-line title. */
static void panel(struct panel_rect *p, struct rect outer, bool boxed, bool titled)
{
    p->outer = outer;
    if (boxed)
        p->inner = mk(outer.y + 1, outer.x + 1, outer.h - 2, outer.w - 2);
    else if (titled)
        p->inner = mk(outer.y + 1, outer.x, outer.h - 1, outer.w);
    else
        p->inner = outer;
}

void layout_compute(struct layout *l, int cols, int rows)
{
    memset(l, 0, sizeof *l);
    l->cols = cols;
    l->rows = rows;
    if (cols < LAYOUT_MIN_COLS || rows < LAYOUT_MIN_ROWS) {
        l->too_small = true;
        return;
    }
    l->header = mk(0, 0, LAYOUT_HEADER_H, cols);
    l->status = mk(rows - 1, 0, 1, cols);
    int body_y = LAYOUT_HEADER_H;
    int body_h = rows - LAYOUT_HEADER_H - 1;

    l->boxed = body_h >= BOXED_MIN_BODY_H && cols >= BOXED_MIN_COLS;
    l->side_by_side = l->boxed && cols >= SIDE_MIN_COLS;
    int pad = l->boxed ? 2 : 1;           /* border, or title line */
    int alloc_h = l->boxed ? 2 + 1 : 1;   /* one line; unboxed it carries its own label */

    int mem_h, gc_h;
    if (l->side_by_side) {
        int gc_w = cols * 2 / 5;
        if (gc_w < SIDE_GC_MIN_W)
            gc_w = SIDE_GC_MIN_W;
        if (gc_w > SIDE_GC_MAX_W)
            gc_w = SIDE_GC_MAX_W;
        int left_w = cols - gc_w;
        mem_h = body_h - alloc_h;
        panel(&l->memory, mk(body_y, 0, mem_h, left_w), true, true);
        panel(&l->alloc, mk(body_y + mem_h, 0, alloc_h, left_w), true, true);
        panel(&l->gc, mk(body_y, left_w, body_h, gc_w), true, true);
    } else {
        /* Hand out lines by priority: the numbers first, then a minimal
         * graph, then GC's extras, then everything left to the graph. */
        int avail = body_h - alloc_h;
        mem_h = pad + LAYOUT_MEM_STATS_H;
        gc_h = pad + LAYOUT_GC_MIN_H;
        avail -= mem_h + gc_h;
        if (avail >= LAYOUT_MEM_GRAPH_MIN_H) {
            mem_h += LAYOUT_MEM_GRAPH_MIN_H;
            avail -= LAYOUT_MEM_GRAPH_MIN_H;
        }
        int extra = LAYOUT_GC_WANT_H - LAYOUT_GC_MIN_H;
        if (extra > avail)
            extra = avail;
        if (extra > 0) {
            gc_h += extra;
            avail -= extra;
        }
        if (avail > 0)
            mem_h += avail;
        panel(&l->memory, mk(body_y, 0, mem_h, cols), l->boxed, true);
        panel(&l->alloc, mk(body_y + mem_h, 0, alloc_h, cols), l->boxed, false);
        panel(&l->gc, mk(body_y + mem_h + alloc_h, 0, gc_h, cols), l->boxed, true);
    }

    struct rect in = l->memory.inner;
    int stats_h = in.h < LAYOUT_MEM_STATS_H ? in.h : LAYOUT_MEM_STATS_H;
    l->mem_stats = mk(in.y, in.x, stats_h, in.w);
    if (in.h - stats_h >= LAYOUT_MEM_GRAPH_MIN_H)
        l->mem_graph = mk(in.y + stats_h, in.x, in.h - stats_h, in.w);
    else
        l->mem_graph = mk(in.y + stats_h, in.x, 0, 0);
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

/* The dashboard's shared state module (dash.h): the views in tab order and
 * the windows laid out for the terminal. Its parts (keys, chrome, status
 * line, freeze, filter, replay stepping) and the frame loop use it; it uses
 * none of them, so the parts never circle back through the frame loop. */
#include "dash.h"

const struct view_class *const dash_views[CONFIG_VIEWS] = {
    &view_overview, &view_objects, &view_cycles, &view_alloc, &view_events,
};

void dash_free_windows(struct dash *d)
{
    WINDOW **ws[] = {&d->w_header, &d->w_tabs, &d->w_body, &d->w_status, &d->w_help};
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

void dash_relayout(struct dash *d)
{
    int rows, cols;
    getmaxyx(stdscr, rows, cols);
    dash_free_windows(d);
    layout_screen(&d->lay, cols, rows);
    if (d->lay.too_small)
        return;
    d->w_header = win_for(d->lay.header);
    d->w_tabs = win_for(d->lay.tabs);
    d->w_body = win_for(d->lay.body);
    d->w_status = win_for(d->lay.status);
    for (int i = 0; i < CONFIG_VIEWS; i++)
        dash_views[i]->on_resize(&d->ui, d->lay.body.h, d->lay.body.w);
}


/* A view is one screen of the dashboard: a small table of function pointers.
 * draw fills the body window (already erased); on_key returns true when it
 * used the key; on_resize is told the new body size. */
#ifndef PYMEMTOP_TUI_VIEW_H
#define PYMEMTOP_TUI_VIEW_H

#include <stdbool.h>

#include "ui.h"

struct view_class {
    const char *name;       /* "Overview": tab and help */
    const char *short_name; /* "Over": tab on narrow screens */
    void (*draw)(struct ui *u, WINDOW *w, int h, int wd);
    bool (*on_key)(struct ui *u, int ch);
    void (*on_resize)(struct ui *u, int h, int wd);
    /* Key lines for the help overlay ("  <  >    sort column"); NULL-terminated. */
    const char *const *help;
    /* Short hints for the status line ("< > sort  / filter"), or NULL. */
    const char *hints;
};

extern const struct view_class view_overview, view_objects, view_cycles, view_alloc,
    view_events;
/* Objects view: the filter text (the dashboard edits it). */
void view_objects_set_filter(const char *text);
const char *view_objects_filter(void);
/* Objects view: the selected row's type name; false when there is none. */
struct ui;
bool view_objects_selected(const struct ui *u, char *name, size_t len);

#endif

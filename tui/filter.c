/* '/': the filter prompt on the status line; the Objects view shows the
 * types whose name contains the text, as it is typed. */
#include "filter.h"

#include <stdio.h>
#include <string.h>

void filter_key(struct dash *d, int ch)
{
    size_t len = strlen(d->filter);
    if (ch == '\n' || ch == '\r' || ch == KEY_ENTER) {
        d->filter_edit = false;
        ui_msg(&d->ui, d->filter[0] ? "filter: types containing '%s' (/ to change)" : "%sno filter",
               d->filter);
        return;
    }
    if (ch == 27) { /* Esc */
        d->filter_edit = false;
        d->filter[0] = 0;
        ui_msg(&d->ui, "filter cleared");
    } else if (ch == KEY_BACKSPACE || ch == 127 || ch == 8) {
        if (len)
            d->filter[len - 1] = 0;
    } else if (ch == 21) { /* Ctrl-U */
        d->filter[0] = 0;
    } else if (ch >= 32 && ch < 127 && len + 1 < sizeof d->filter) {
        d->filter[len] = (char)ch;
        d->filter[len + 1] = 0;
    } else {
        return;
    }
    view_objects_set_filter(d->filter);
}

void filter_open(struct dash *d)
{
    d->ui.view = CONFIG_VIEW_OBJECTS;
    d->filter_edit = true;
    snprintf(d->filter, sizeof d->filter, "%s", view_objects_filter());
}

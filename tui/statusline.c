/* The status line: the answer to the latest key or command, a spinner with
 * the elapsed time while a command runs, the filter prompt, the generation
 * prompt after 'g', and on the right the keys that matter in this view. */
#include "statusline.h"

#include <stdio.h>
#include <string.h>

#include "format.h"
#include "lease_prompt.h"

static const char *status_message(const struct dash *d, bool *error)
{
    const struct session *s = d->s;
    *error = d->ui.msg_error;
    if (d->ui.msg[0] && d->ui.msg_ns >= s->status_ns)
        return d->ui.msg;
    *error = strstr(s->status, "failed") != NULL;
    return s->status;
}

void statusline_draw(struct dash *d, WINDOW *w, uint64_t now)
{
    struct ui *u = &d->ui;
    const struct session *s = d->s;
    int cols = d->lay.status.w;
    int x = 0;
    if (d->filter_edit) {
        ui_put(w, 0, 0, cols, u->th.key, "/");
        ui_putf(w, 0, 1, cols - 1, u->th.value, " filter types: %s", d->filter);
        int cx = 1 + 15 + (int)strlen(d->filter);
        ui_put(w, 0, cx, cols - cx, A_REVERSE, " ");
        ui_put(w, 0, cx + 2, cols - cx - 2, u->th.dim, "Enter keeps it, Esc clears it");
        return;
    }
    if (d->lease_edit) {
        lease_prompt_draw(d, w, cols);
        return;
    }
    if (d->want_gen) {
        ui_put(w, 0, 0, cols, u->th.value,
               "collect which generation?  0 young  1 middle  2 full  (Esc: cancel)");
        return;
    }
    if (u->frozen) {
        const char *fz = " FROZEN ";
        ui_put(w, 0, 0, cols, u->th.badge_warn | A_BOLD, fz);
        x += (int)strlen(fz) + 1;
    }
    /* Right: the keys that matter here. */
    char hints[96];
    const char *vh = dash_views[u->view]->hints;
    snprintf(hints, sizeof hints, "%s%s? help  q quit", vh ? vh : "", vh ? "  " : "");
    int hw = (int)strlen(hints);
    if (cols - x - hw < 30) {
        snprintf(hints, sizeof hints, "? help");
        hw = (int)strlen(hints);
    }
    /* A message that would be cut (an export path) pushes the hints off. */
    bool err0 = false;
    const char *m0 = s->command_pending && s->state == SESSION_LIVE ? "" : status_message(d, &err0);
    if (cols - x - hw < 16 || (m0[0] && format_cols(m0) > cols - x - hw - 2))
        hw = 0;
    if (hw)
        ui_put(w, 0, cols - hw, hw, u->th.dim, hints);
    int room = cols - x - (hw ? hw + 2 : 0);
    /* A running command: spinner and elapsed time, until its answer. */
    if (s->command_pending && s->state == SESSION_LIVE) {
        static const char *const spin_u[] = {"\xe2\xa0\x8b", "\xe2\xa0\x99", "\xe2\xa0\xb9",
                                             "\xe2\xa0\xb8", "\xe2\xa0\xbc", "\xe2\xa0\xb4",
                                             "\xe2\xa0\xa6", "\xe2\xa0\xa7"};
        static const char *const spin_a[] = {"|", "/", "-", "\\"};
        uint64_t el = now > s->last_command_ns ? now - s->last_command_ns : 0;
        size_t k = (size_t)(el / DASH_PENDING_REDRAW_NS);
        char line[160], dur[16];
        format_duration(dur, sizeof dur, el);
        snprintf(line, sizeof line, "%s %s running %s", u->utf8 ? spin_u[k % 8] : spin_a[k % 4],
                 s->last_command, ui_trim(dur));
        x += ui_text(u, w, 0, x, room, u->th.warn, line) + 2;
        room = cols - x - (hw ? hw + 2 : 0);
        if (d->ui.msg[0] && d->ui.msg_ns >= s->last_command_ns && room > 8)
            ui_text(u, w, 0, x, room, u->th.value, d->ui.msg);
        return;
    }
    bool err = false;
    const char *msg = status_message(d, &err);
    if (msg[0] && room > 0)
        ui_text(u, w, 0, x, room, err ? u->th.bad : u->th.value, msg);
}

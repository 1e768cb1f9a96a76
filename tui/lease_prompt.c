/* 't' with tracemalloc off: asks how long it may trace. The answer becomes
 * tracemalloc=on:SECONDS (a lease: tracing goes on after pymemtop leaves,
 * until the agent ends it) or, with 0, tracing while attached. The lease's
 * spelling and range are lib/commands.c's, as for --command. */
#include "lease_prompt.h"

#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "dispatch.h"
#include "format.h"

void lease_prompt_open(struct dash *d)
{
    d->lease_edit = true;
    d->lease_text[0] = 0;
}

static void lease_prompt_send(struct dash *d)
{
    int64_t lease_s = d->o->tracemalloc_lease_s;
    char err[256];
    if (d->lease_text[0] &&
        commands_parse_lease(d->lease_text, &lease_s, err, sizeof err) < 0) {
        ui_err(&d->ui, "%s", err);
        return;
    }
    char progress[96];
    if (lease_s) {
        char left[16];
        format_uptime(left, sizeof left, (uint64_t)lease_s * 1000000000u);
        snprintf(progress, sizeof progress, "starting tracemalloc for %s (slows allocations)...",
                 ui_trim(left));
    } else {
        snprintf(progress, sizeof progress,
                 "starting tracemalloc while attached (slows allocations)...");
    }
    dispatch_send_lease(d, commands[CMD_TRACEMALLOC].name, (int64_t)d->tm_frames, NULL, lease_s,
                        progress);
}

void lease_prompt_key(struct dash *d, int ch)
{
    size_t len = strlen(d->lease_text);
    if (ch == '\n' || ch == '\r' || ch == KEY_ENTER) {
        d->lease_edit = false;
        lease_prompt_send(d);
    } else if (ch == 27) { /* Esc */
        d->lease_edit = false;
        ui_msg(&d->ui, "tracemalloc left off");
    } else if (ch == KEY_BACKSPACE || ch == 127 || ch == 8) {
        if (len)
            d->lease_text[len - 1] = 0;
    } else if (ch == 21) { /* Ctrl-U */
        d->lease_text[0] = 0;
    } else if (((ch >= '0' && ch <= '9') || strchr(".smhd", ch)) && ch &&
               len + 1 < sizeof d->lease_text) {
        d->lease_text[len] = (char)ch;
        d->lease_text[len + 1] = 0;
    }
}

void lease_prompt_draw(struct dash *d, WINDOW *w, int cols)
{
    struct ui *u = &d->ui;
    const char *q = "trace for how long? ";
    int x = (int)strlen(q);
    ui_put(w, 0, 0, cols, u->th.value, q);
    ui_put(w, 0, x, cols - x, u->th.key, d->lease_text);
    x += (int)strlen(d->lease_text);
    ui_put(w, 0, x, cols - x, A_REVERSE, " ");
    x += 2;
    char def[16], hint[128];
    if (d->o->tracemalloc_lease_s)
        format_uptime(def, sizeof def, (uint64_t)d->o->tracemalloc_lease_s * 1000000000u);
    if (d->o->tracemalloc_lease_s)
        snprintf(hint, sizeof hint, "(5m, 2h, 1d)  Enter = %s, 0 = while attached, Esc cancels",
                 ui_trim(def));
    else
        snprintf(hint, sizeof hint, "(5m, 2h, 1d)  Enter or 0 = while attached, Esc cancels");
    if (cols - x >= 24)
        ui_put(w, 0, x, cols - x, u->th.dim, cols - x >= (int)strlen(hint) ? hint : hint + 14);
}

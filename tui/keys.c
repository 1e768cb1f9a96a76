/* Key dispatch: overlays and prompts take the next key first, then replay
 * stepping, then the global keys (views, commands, freeze, export), then
 * the view on screen. Every key answers on the status line. */
#include "keys.h"

#include <stdio.h>
#include <string.h>

#include "dispatch.h"
#include "export.h"
#include "filter.h"
#include "freeze.h"
#include "replay_step.h"

static void switch_view(struct dash *d, int v)
{
    d->ui.view = (enum config_view)((v + CONFIG_VIEWS) % CONFIG_VIEWS);
    ui_msg(&d->ui, "%s", dash_views[d->ui.view]->name);
}

static void do_export(struct dash *d)
{
    char path[4096], err[4200];
    int r = export_write(d->s, &d->hist, d->o->json_types ? d->o->json_types : 200, path,
                         sizeof path, err, sizeof err);
    if (r < 0) {
        ui_err(&d->ui, "export failed: %s", err);
        eventlog_push(d->s->events, session_now_ns(), EVENT_ERROR, d->ui.msg);
        return;
    }
    ui_msg(&d->ui, "exported to %s", path);
    eventlog_push(d->s->events, session_now_ns(), EVENT_INFO, d->ui.msg);
}

bool keys_handle(struct dash *d, int ch, uint64_t now)
{
    struct ui *u = &d->ui;
    if (ch == KEY_RESIZE) {
        dash_relayout(d);
        return false;
    }
    if (d->help) { /* any key closes the help, and does nothing else */
        d->help = false;
        ui_msg(u, "help closed");
        return false;
    }
    if (d->why_open) {
        d->why_open = false;
        ui_msg(u, "closed");
        return false;
    }
    if (d->filter_edit) {
        filter_key(d, ch);
        return false;
    }
    if (d->want_gen) {
        d->want_gen = false;
        if (ch >= '0' && ch <= '2') {
            char p[64];
            snprintf(p, sizeof p, "collecting generation %c...", ch);
            dispatch_send(d, "collect", ch - '0', p);
        } else {
            ui_msg(u, "no collection");
        }
        return false;
    }
    if (d->o->replay && replay_step_key(d, ch, now))
        return false;
    switch (ch) {
    case 'q':
    case 'Q':
        return true;
    case '?':
    case 'h':
    case KEY_F(1):
        d->help = true;
        return false;
    case '\t':
        switch_view(d, (int)u->view + 1);
        return false;
    case KEY_BTAB:
        switch_view(d, (int)u->view - 1);
        return false;
    case '1':
    case '2':
    case '3':
    case '4':
    case '5':
        switch_view(d, ch - '1');
        return false;
    case 'c':
        dispatch_send(d, "collect", 2, "collecting all generations...");
        return false;
    case 'g':
        if (dispatch_refusal(d->s))
            ui_err(u, "%s", dispatch_refusal(d->s));
        else
            d->want_gen = true;
        return false;
    case 'n':
        dispatch_send(d, "census", 0, "counting objects per type...");
        return false;
    case 's':
        dispatch_send(d, "snapshot", 0, "taking a snapshot...");
        return false;
    case 'd':
        if (u->view == CONFIG_VIEW_OBJECTS && u->diff_mode) {
            u->diff_mode = false;
            view_objects_set_filter(view_objects_filter());
            ui_msg(u, "live counts");
            return false;
        }
        /* fall through */
    case 'D':
        if (dispatch_send(d, "diff", ch == 'D',
                         ch == 'D' ? "diffing the latest snapshot against the first..."
                                   : "diffing the last two snapshots...")) {
            u->diff_mode = true;
            u->view = CONFIG_VIEW_OBJECTS;
            view_objects_set_filter(view_objects_filter());
        }
        return false;
    case 't':
        dispatch_send(d, "tracemalloc", d->s->agent.tracemalloc_on ? 0 : (int64_t)d->tm_frames,
                     d->s->agent.tracemalloc_on ? "stopping tracemalloc..."
                                                : "starting tracemalloc (slows allocations)...");
        return false;
    case 'y':
        if (dispatch_send(d, "hunt", 0, "hunting cycles (a full collection)..."))
            u->view = CONFIG_VIEW_CYCLES;
        return false;
    case 'w': {
        char type[PM_TYPE_NAME_MAX], progress[PM_TYPE_NAME_MAX + 48];
        if (u->view != CONFIG_VIEW_OBJECTS || !view_objects_selected(u, type, sizeof type)) {
            ui_err(u, "w: select a type in the Objects view (2) first");
            return false;
        }
        snprintf(progress, sizeof progress, "why: finding who holds %s...", type);
        d->why_wait = dispatch_send_text(d, "why", 0, type, progress);
        return false;
    }
    case 'a':
        dispatch_send(d, "alloc_hook", d->s->agent.alloc.hook_on ? 0 : 1,
                     d->s->agent.alloc.hook_on ? "stopping allocation counters..."
                                               : "starting allocation counters...");
        return false;
    case '+':
    case '=':
        dispatch_interval(d, +1);
        return false;
    case '-':
    case '_':
        dispatch_interval(d, -1);
        return false;
    case 'p':
    case 'P':
        if (u->frozen) {
            freeze_release(d);
            ui_msg(u, "live again");
        } else if (freeze_take(d, now)) {
            ui_msg(u, "frozen: sampling goes on; p shows live data again");
        } else {
            ui_err(u, "cannot freeze: out of memory");
        }
        return false;
    case 'e':
        do_export(d);
        return false;
    case '/':
        filter_open(d);
        return false;
    case 27: /* Esc */
        if (u->diff_mode) {
            u->diff_mode = false;
            view_objects_set_filter(view_objects_filter());
            ui_msg(u, "live counts");
        } else {
            ui_msg(u, "nothing to cancel");
        }
        return false;
    case 12: /* Ctrl-L */
        clearok(curscr, TRUE);
        ui_msg(u, "redrawn");
        return false;
    default:
        break;
    }
    if (dash_views[u->view]->on_key(u, ch))
        return false;
    if (ch >= 32 && ch < 127)
        ui_err(u, "no action on '%c': press ? for the keys", ch);
    else
        ui_err(u, "no action on that key: press ? for the keys");
    return false;
}

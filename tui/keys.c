/* Key dispatch: overlays and prompts take the next key first, then replay
 * stepping, then the global keys (views, commands, freeze, export), then
 * the view on screen. Every key answers on the status line. */
#include "keys.h"

#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "dispatch.h"
#include "export.h"
#include "filter.h"
#include "freeze.h"
#include "lease_prompt.h"
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

/* A key bound to a command in lib/commands.c: what it sends depends on the
 * state (toggles, the selected row, the binding). */
static void command_key(struct dash *d, const struct command_def *c, int binding, int ch,
                        uint64_t now)
{
    struct ui *u = &d->ui;
    const struct pm_agent_sample *a = &d->s->agent;
    switch (c->id) {
    case CMD_COLLECT:
        if (binding == 0)
            dispatch_send_stw(d, c->name, 2, "collecting all generations...", now);
        else if (dispatch_refusal(d->s))
            ui_err(u, "%s", dispatch_refusal(d->s));
        else
            d->want_gen = true; /* the next key picks the generation */
        return;
    case CMD_CENSUS:
        dispatch_send(d, c->name, 0, "counting objects per type...");
        return;
    case CMD_SNAPSHOT:
        /* With tracemalloc on, a big trace table is a stop-the-world copy. */
        dispatch_send_stw(d, c->name, 0, "taking a snapshot...", now);
        return;
    case CMD_DIFF:
        if (binding == 0 && u->view == CONFIG_VIEW_OBJECTS && u->diff_mode) {
            u->diff_mode = false;
            view_objects_set_filter(view_objects_filter());
            ui_msg(u, "live counts");
            return;
        }
        if (dispatch_send(d, c->name, binding,
                          binding ? "diffing the latest snapshot against the first..."
                                  : "diffing the last two snapshots...")) {
            u->diff_mode = true;
            u->view = CONFIG_VIEW_OBJECTS;
            view_objects_set_filter(view_objects_filter());
        }
        return;
    case CMD_TRACEMALLOC:
        if (a->tracemalloc_on)
            dispatch_send(d, c->name, 0, "stopping tracemalloc...");
        else if (dispatch_refusal(d->s))
            ui_err(u, "%s", dispatch_refusal(d->s));
        else
            lease_prompt_open(d); /* how long: Enter sends */
        return;
    case CMD_HUNT:
        if (dispatch_send_stw(d, c->name, 0, "hunting cycles (a full collection)...", now))
            u->view = CONFIG_VIEW_CYCLES;
        return;
    case CMD_WHY: {
        char type[PM_TYPE_NAME_MAX], progress[PM_TYPE_NAME_MAX + 48];
        if (u->view != CONFIG_VIEW_OBJECTS || !view_objects_selected(u, type, sizeof type)) {
            ui_err(u, "%c: select a type in the Objects view (2) first", ch);
            return;
        }
        snprintf(progress, sizeof progress, "why: finding who holds %s...", type);
        d->why_wait = dispatch_send_text(d, c->name, 0, type, progress);
        return;
    }
    case CMD_ALLOC_HOOK:
        dispatch_send(d, c->name, a->alloc.hook_on ? 0 : 1,
                      a->alloc.hook_on ? "stopping allocation counters..."
                                       : "starting allocation counters...");
        return;
    case CMD_INTERVAL:
        dispatch_interval(d, binding == 0 ? +1 : -1);
        return;
    default:
        return;
    }
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
    if (d->lease_edit) {
        lease_prompt_key(d, ch);
        return false;
    }
    if (d->want_gen) {
        d->want_gen = false;
        if (ch >= '0' && ch <= '2') {
            char p[64];
            snprintf(p, sizeof p, "collecting generation %c...", ch);
            if (ch == '2')
                dispatch_send_stw(d, commands[CMD_COLLECT].name, 2, p, now);
            else
                dispatch_send(d, commands[CMD_COLLECT].name, ch - '0', p);
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
    int binding;
    const struct command_def *cmd = commands_for_key(ch, &binding);
    if (cmd) {
        command_key(d, cmd, binding, ch, now);
        return false;
    }
    if (dash_views[u->view]->on_key(u, ch))
        return false;
    if (ch >= 32 && ch < 127)
        ui_err(u, "no action on '%c': press ? for the keys", ch);
    else
        ui_err(u, "no action on that key: press ? for the keys");
    return false;
}

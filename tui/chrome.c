/* The frame around the view: the header (target, badge, observer cost), the
 * tab line, the centred overlays (help, the answer to 'w') and the
 * "terminal too small" notice. */
#include "chrome.h"

#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "format.h"

void chrome_draw_header(struct dash *d, WINDOW *w)
{
    struct ui *u = &d->ui;
    const struct session *s = u->s;
    int cols = d->lay.header.w;
    char buf[64], up[16];

    const char *badge;
    attr_t ba;
    switch (s->state) {
    case SESSION_LIVE:
        badge = u->utf8 ? (s->injected ? " LIVE \xc2\xb7 injected " : " LIVE \xc2\xb7 reused ")
                        : (s->injected ? " LIVE - injected " : " LIVE - reused ");
        ba = u->th.badge_good;
        break;
    case SESSION_TARGET_EXITED:
        badge = " TARGET EXITED ";
        ba = u->th.badge_bad;
        break;
    case SESSION_AGENT_LOST:
        badge = " AGENT LOST ";
        ba = u->th.badge_warn;
        break;
    case SESSION_REPLAY:
        badge = " REPLAY ";
        ba = u->th.badge_warn;
        break;
    default:
        badge = " DETACHED ";
        ba = u->th.badge_warn;
        break;
    }
    if (cols < 60 && s->state == SESSION_LIVE)
        badge = " LIVE ";
    int bw = format_cols(badge);
    if (bw > cols)
        bw = cols;
    ui_text(u, w, 0, cols - bw, bw, ba | A_BOLD, badge);

    struct field f[5];
    int n = 0;
    field_set(&f[n++], "", u->th.title, 1, "pymemtop");
    snprintf(buf, sizeof buf, "%d", (int)s->target.pid);
    field_set(&f[n++], "PID", u->th.value, 5, buf);
    if (s->hello.python[0])
        snprintf(buf, sizeof buf, "%.31s", s->hello.python);
    else if (s->target.py_major)
        snprintf(buf, sizeof buf, "%d.%d", s->target.py_major, s->target.py_minor);
    else
        snprintf(buf, sizeof buf, "?");
    field_set(&f[n++], "Python", u->th.value, 3, buf);
    if (s->proc.start_time_ns && u->now_ns > s->proc.start_time_ns) {
        format_uptime(up, sizeof up, u->now_ns - s->proc.start_time_ns);
        field_set(&f[n++], "up", u->th.value, 4, ui_trim(up));
    }
    /* Others watch the same agent (an exporter, a --once...): the first to
     * go when the line is short. */
    unsigned mons = session_monitors(s);
    if (mons > 1) {
        snprintf(buf, sizeof buf, "%u monitors", mons);
        field_set(&f[n++], "", u->th.value, 2, buf);
    }
    ui_fields(u, w, 0, 0, cols - bw - 1, f, n, 2);

    /* Second line: sampling interval and observer cost on the right, the
     * command line in what is left. */
    struct field r[2];
    int rn = 0;
    char iv[16], cost[32], pct[16], abs_ns[16];
    format_duration(iv, sizeof iv, (uint64_t)s->interval_ms * NS_PER_MS);
    field_set(&r[rn++], "every", u->th.value, 2, ui_trim(iv));
    attr_t ca = u->th.value;
    if (s->agent_samples > 0 && s->attached_ns && u->now_ns > s->attached_ns) {
        double share = (double)s->agent.observer_ns / (double)(u->now_ns - s->attached_ns);
        format_pct(pct, sizeof pct, share);
        format_duration(abs_ns, sizeof abs_ns, s->agent.observer_ns);
        if (cols >= 70)
            snprintf(cost, sizeof cost, "%s %s", ui_trim(abs_ns), pct);
        else
            snprintf(cost, sizeof cost, "%s", pct);
        ca = share > 0.05 ? u->th.bad : share > 0.01 ? u->th.warn : u->th.value;
    } else {
        format_pct(cost, sizeof cost, -1);
    }
    field_set(&r[rn++], "observer", ca, 1, cost);
    int rw = 0;
    for (int i = 0; i < rn; i++)
        rw += field_w(&r[i]) + (i ? 2 : 0);
    int cmd_min = 12;
    if (cols - rw - 1 < cmd_min) { /* drop the cost, then the interval */
        rn = cols - field_w(&r[0]) - 1 >= cmd_min ? 1 : 0;
        rw = rn ? field_w(&r[0]) : 0;
    }
    if (rn)
        ui_fields(u, w, 1, cols - rw, rw, r, rn, 2);
    const char *cmd = s->target.cmdline[0] ? s->target.cmdline : s->target.comm;
    int room = cols - rw - (rn ? 2 : 0);
    /* While tracemalloc is on, its cost (and the lease's time left) takes
     * the command line's place: it slows the target, so it must be seen. */
    char tm[96];
    if (format_tm_warning(tm, sizeof tm, s->agent.tracemalloc_on, s->agent.tm_owner,
                          s->agent.tm_lease_left_ms, room))
        ui_text(u, w, 1, 0, room, u->th.warn | A_BOLD, tm);
    else
        ui_text(u, w, 1, 0, room, A_NORMAL, cmd[0] ? cmd : "?");
}

void chrome_draw_tabs(struct dash *d, WINDOW *w)
{
    struct ui *u = &d->ui;
    int cols = d->lay.tabs.w;
    /* Full names when they fit, then short ones, then numbers only. */
    int style;
    for (style = 0; style < 3; style++) {
        int need = 0;
        for (int i = 0; i < CONFIG_VIEWS; i++)
            need += 3 + (style == 0 ? (int)strlen(dash_views[i]->name)
                         : style == 1 ? (int)strlen(dash_views[i]->short_name) : 0) + 1;
        if (need + 10 <= cols)
            break;
    }
    int x = 0;
    for (int i = 0; i < CONFIG_VIEWS; i++) {
        char t[40];
        const char *nm = style == 0 ? dash_views[i]->name : style == 1 ? dash_views[i]->short_name : "";
        snprintf(t, sizeof t, " %d%s%s ", i + 1, nm[0] ? " " : "", nm);
        attr_t a = (int)u->view == i ? u->th.tab_active : u->th.tab;
        ui_put(w, 0, x, cols - x, a, t);
        x += (int)strlen(t) + 1;
    }
    if (u->frozen) {
        const char *fz = " FROZEN (p) ";
        ui_put(w, 0, cols - (int)strlen(fz), (int)strlen(fz), u->th.badge_warn | A_BOLD, fz);
    } else if (cols - x >= 16) {
        ui_put(w, 0, cols - 15, 15, u->th.dim, "Tab: next view");
    }
}

static const char *const help_views[] = {
    "Views    1 Overview  2 Objects  3 Cycles  4 Allocations  5 Events",
    "         Tab / Shift-Tab: next / previous view",
    "Commands (sent to the target; the status line shows progress and result)",
};
/* The command keys come between these, from lib/commands.c. */
static const char *const help_screen[] = {
    "Screen",
    "  /        filter the type table;  < > r  sort columns, reverse",
    "  p        freeze the screen (sampling goes on); p again: live",
    "  e        export state and history to a JSON file",
    "  ? h F1   this help;  Ctrl-L redraw;  q  detach and quit",
};

/* A centred box over the view: the help, or the answer to 'w'. Lines that
 * do not start with a space are headings. Any key closes it. */
static void draw_overlay(struct dash *d, const char *title, const char *const *lines, size_t n)
{
    struct ui *u = &d->ui;
    int want_w = 0;
    for (size_t i = 0; i < n; i++)
        if ((int)strlen(lines[i]) > want_w)
            want_w = (int)strlen(lines[i]);
    struct rect r = layout_center(d->lay.cols, d->lay.rows, want_w + 4, (int)n + 2);
    if (d->w_help)
        delwin(d->w_help);
    d->w_help = newwin(r.h, r.w, r.y, r.x);
    if (!d->w_help)
        return;
    WINDOW *w = d->w_help;
    werase(w);
    if (u->utf8)
        box(w, 0, 0);
    else
        wborder(w, '|', '|', '-', '-', '+', '+', '+', '+');
    ui_put(w, 0, 2, r.w - 4, u->th.title, title);
    /* Too short for everything: say so on the last line. */
    int avail = r.h - 2;
    for (size_t i = 0; i < n && (int)i < avail; i++) {
        bool head = lines[i][0] != ' ' && i + 1 < n;
        const char *txt = lines[i];
        if ((int)i == avail - 1 && (int)n > avail)
            txt = "(more: make the terminal taller)";
        ui_put(w, (int)i + 1, 2, r.w - 3, head ? u->th.title : i == n - 1 ? u->th.dim : A_NORMAL,
               txt);
    }
    wnoutrefresh(w);
}

void chrome_draw_help(struct dash *d)
{
    struct ui *u = &d->ui;
    static char keys[CMD_COUNT * COMMAND_KEYS_MAX][96];
    const char *lines[64];
    size_t n = 0, nk = 0;
    for (size_t i = 0; i < sizeof help_views / sizeof help_views[0]; i++)
        lines[n++] = help_views[i];
    for (int c = 0; c < CMD_COUNT; c++)
        for (int k = 0; k < COMMAND_KEYS_MAX; k++) {
            const struct command_key *ck = &commands[c].keys[k];
            if (!ck->label)
                continue;
            snprintf(keys[nk], sizeof keys[nk], "  %-8s %s", ck->label, ck->help);
            lines[n++] = keys[nk++];
        }
    for (size_t i = 0; i < sizeof help_screen / sizeof help_screen[0]; i++)
        lines[n++] = help_screen[i];
    char vtitle[64];
    snprintf(vtitle, sizeof vtitle, "In %s", dash_views[u->view]->name);
    const char *const *vh = dash_views[u->view]->help;
    if (vh && vh[0]) {
        lines[n++] = vtitle;
        for (size_t i = 0; vh[i] && n < 62; i++)
            lines[n++] = vh[i];
    }
    lines[n++] = "Any key closes this help.";
    draw_overlay(d, " help: every key ", lines, n);
}

/* The answer to 'w': who holds the sampled instances, one line a chain. */
void chrome_draw_why(struct dash *d)
{
    const struct pm_why *w = &d->s->why;
    static char text[PM_WHY_MAX_CHAINS + 3][PM_WHY_MAX_EDGES * 24 + 64];
    const char *lines[PM_WHY_MAX_CHAINS + 3];
    size_t n = 0;
    snprintf(text[n], sizeof text[n], "%s: %llu sampled (newest first), GIL held %.1f ms",
             w->type, (unsigned long long)w->sampled, w->pause_ns / 1e6);
    lines[n] = text[n];
    n++;
    for (uint32_t c = 0; c < w->n_chains && c < PM_WHY_MAX_CHAINS; c++) {
        size_t used = (size_t)snprintf(text[n], sizeof text[n], "  %llu of %llu: ",
                                       (unsigned long long)w->chains[c].count,
                                       (unsigned long long)w->sampled);
        for (uint32_t e = 0; e < w->chains[c].n_edges && used < sizeof text[n]; e++)
            used += (size_t)snprintf(text[n] + used, sizeof text[n] - used, "%s%s",
                                     e ? " -> " : "", w->chains[c].edges[e]);
        lines[n] = text[n];
        n++;
    }
    if (!w->n_chains) {
        snprintf(text[n], sizeof text[n], "  %s", w->message[0] ? w->message
                                                                : "no chain found within budget");
        lines[n] = text[n];
        n++;
    }
    lines[n++] = "Any key closes this.";
    draw_overlay(d, " why is it alive? ", lines, n);
}

void chrome_draw_too_small(struct dash *d)
{
    static const char full[] = "terminal too small (need 40x12)";
    werase(stdscr);
    int cols = d->lay.cols, rows = d->lay.rows;
    int len = (int)strlen(full);
    if (cols >= len) {
        ui_put(stdscr, rows / 2, (cols - len) / 2, cols, d->ui.th.warn | A_BOLD, full);
    } else { /* two lines: "terminal too small" / "(need 40x12)" */
        const char *l1 = "terminal too small", *l2 = "(need 40x12)";
        int y = rows >= 2 ? rows / 2 - 1 : 0;
        int w1 = (int)strlen(l1), w2 = (int)strlen(l2);
        ui_put(stdscr, y, cols > w1 ? (cols - w1) / 2 : 0, cols, d->ui.th.warn | A_BOLD, l1);
        if (rows >= 2)
            ui_put(stdscr, y + 1, cols > w2 ? (cols - w2) / 2 : 0, cols, d->ui.th.warn | A_BOLD, l2);
    }
    wnoutrefresh(stdscr);
}

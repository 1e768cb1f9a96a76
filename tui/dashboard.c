/* The dashboard's frame and loop: curses set-up, the header, tab and status
 * lines, the help overlay, global keys (commands, views, freeze, export),
 * and one poll() over keyboard, agent socket and timer. Views draw the body. */
#include "dashboard.h"
#include "replay.h"

#include <errno.h>
#include <langinfo.h>
#include <locale.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "export.h"
#include "format.h"
#include "graph.h"
#include "layout.h"
#include "view.h"

#define PENDING_REDRAW_NS (250 * NS_PER_MS) /* progress of a running command */
#define FRAME_SAMPLES 65536

static const struct view_class *const views[CONFIG_VIEWS] = {
    &view_overview, &view_objects, &view_cycles, &view_alloc, &view_events,
};

static const unsigned interval_steps_ms[] = {100, 200, 250, 500, 1000, 2000, 5000, 10000, 30000, 60000};

struct frame_stats {
    uint64_t count[CONFIG_VIEWS], total_ns[CONFIG_VIEWS], max_ns[CONFIG_VIEWS];
    uint64_t update_ns_total, update_ns_max; /* of that, doupdate (terminal output) */
    uint64_t last_update_ns;
    uint32_t *ns;   /* every frame's time, up to FRAME_SAMPLES */
    uint32_t *draw; /* the same without doupdate: our own drawing */
    size_t n;
};

struct dash {
    struct session *s;
    const struct dashboard_opts *o;
    struct ui ui;
    struct screen_layout lay;
    WINDOW *w_header, *w_tabs, *w_body, *w_status, *w_help;
    bool help;
    bool want_gen;          /* 'g' pressed: the next key picks a generation */
    bool filter_edit;       /* the status line is a filter prompt */
    char filter[64];
    unsigned tm_frames;
    struct history hist;
    struct typecache types;
    /* The frozen copy ('p'): the views read these instead of the live data. */
    struct session *frozen_s;
    struct history frozen_h;
    uint64_t frozen_ns;
    struct frame_stats fs;
    bool why_wait, why_open; /* 'w' sent / its answer shown */
    bool playing;           /* replay: advance one sample per second */
    uint64_t next_play_ns;
};

static struct dash *g_dash; /* for dashboard_open_filter() */
static volatile sig_atomic_t quit_flag;

static void on_quit_signal(int sig)
{
    (void)sig;
    quit_flag = 1;
}

/* ---- header, tabs, status, help -------------------------------------------------- */

static void draw_header(struct dash *d, WINDOW *w)
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

    struct field f[4];
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
    ui_text(u, w, 1, 0, cols - rw - (rn ? 2 : 0), A_NORMAL, cmd[0] ? cmd : "?");
}

static void draw_tabs(struct dash *d, WINDOW *w)
{
    struct ui *u = &d->ui;
    int cols = d->lay.tabs.w;
    /* Full names when they fit, then short ones, then numbers only. */
    int style;
    for (style = 0; style < 3; style++) {
        int need = 0;
        for (int i = 0; i < CONFIG_VIEWS; i++)
            need += 3 + (style == 0 ? (int)strlen(views[i]->name)
                         : style == 1 ? (int)strlen(views[i]->short_name) : 0) + 1;
        if (need + 10 <= cols)
            break;
    }
    int x = 0;
    for (int i = 0; i < CONFIG_VIEWS; i++) {
        char t[40];
        const char *nm = style == 0 ? views[i]->name : style == 1 ? views[i]->short_name : "";
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

static const char *status_message(const struct dash *d, bool *error)
{
    const struct session *s = d->s;
    *error = d->ui.msg_error;
    if (d->ui.msg[0] && d->ui.msg_ns >= s->status_ns)
        return d->ui.msg;
    *error = strstr(s->status, "failed") != NULL;
    return s->status;
}

static void draw_status(struct dash *d, WINDOW *w, uint64_t now)
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
    const char *vh = views[u->view]->hints;
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
        size_t k = (size_t)(el / PENDING_REDRAW_NS);
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

static const char *const help_global[] = {
    "Views    1 Overview  2 Objects  3 Cycles  4 Allocations  5 Events",
    "         Tab / Shift-Tab: next / previous view",
    "Commands (sent to the target; the status line shows progress and result)",
    "  c        full collection (gc.collect())",
    "  g 0|1|2  collect generation 0, 1 or 2",
    "  n        count objects per type now (census)",
    "  s        snapshot (census, and tracemalloc sites when on)",
    "  d        diff the last two snapshots (Objects view); d again: live",
    "  D        diff the latest snapshot against the first",
    "  t        tracemalloc on/off (slows allocation-heavy code 4-10x)",
    "  y        cycle hunt (a full collection; shapes in the Cycles view)",
    "  w        why is it alive: who holds the selected type (Objects view)",
    "  a        allocation counters on/off",
    "  + -      sample more / less often",
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

static void draw_help(struct dash *d)
{
    struct ui *u = &d->ui;
    const char *lines[64];
    size_t n = 0;
    for (size_t i = 0; i < sizeof help_global / sizeof help_global[0]; i++)
        lines[n++] = help_global[i];
    char vtitle[64];
    snprintf(vtitle, sizeof vtitle, "In %s", views[u->view]->name);
    const char *const *vh = views[u->view]->help;
    if (vh && vh[0]) {
        lines[n++] = vtitle;
        for (size_t i = 0; vh[i] && n < 62; i++)
            lines[n++] = vh[i];
    }
    lines[n++] = "Any key closes this help.";
    draw_overlay(d, " help: every key ", lines, n);
}

/* The answer to 'w': who holds the sampled instances, one line a chain. */
static void draw_why(struct dash *d)
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

/* ---- windows and frames ---------------------------------------------------------- */

static void free_windows(struct dash *d)
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

static void relayout(struct dash *d)
{
    int rows, cols;
    getmaxyx(stdscr, rows, cols);
    free_windows(d);
    layout_screen(&d->lay, cols, rows);
    if (d->lay.too_small)
        return;
    d->w_header = win_for(d->lay.header);
    d->w_tabs = win_for(d->lay.tabs);
    d->w_body = win_for(d->lay.body);
    d->w_status = win_for(d->lay.status);
    for (int i = 0; i < CONFIG_VIEWS; i++)
        views[i]->on_resize(&d->ui, d->lay.body.h, d->lay.body.w);
}

static void draw_too_small(struct dash *d)
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

static void draw_all(struct dash *d, uint64_t now)
{
    struct ui *u = &d->ui;
    if (u->frozen)
        u->now_ns = d->frozen_ns;
    else if ((d->s->state == SESSION_TARGET_EXITED || d->s->state == SESSION_REPLAY) &&
             d->s->proc.time_ns)
        u->now_ns = d->s->proc.time_ns; /* times stop at the (recorded) sample */
    else
        u->now_ns = now;
    if (d->lay.too_small) {
        draw_too_small(d);
        doupdate();
        return;
    }
    /* Each window: werase, draw, wnoutrefresh; one doupdate per frame. */
    if (d->w_header) {
        werase(d->w_header);
        draw_header(d, d->w_header);
        wnoutrefresh(d->w_header);
    }
    if (d->w_tabs) {
        werase(d->w_tabs);
        draw_tabs(d, d->w_tabs);
        wnoutrefresh(d->w_tabs);
    }
    if (d->w_body) {
        werase(d->w_body);
        views[u->view]->draw(u, d->w_body, d->lay.body.h, d->lay.body.w);
        wnoutrefresh(d->w_body);
    }
    if (d->w_status) {
        werase(d->w_status);
        draw_status(d, d->w_status, now);
        wnoutrefresh(d->w_status);
    }
    if (d->help)
        draw_help(d);
    else if (d->why_open)
        draw_why(d);
    uint64_t t0 = session_now_ns();
    doupdate();
    d->fs.last_update_ns = session_now_ns() - t0;
}

/* ---- freeze ------------------------------------------------------------------------ */

static void unfreeze(struct dash *d)
{
    if (!d->frozen_s)
        return;
    struct session *f = d->frozen_s;
    series_free(&f->rss_kib);
    series_free(&f->anon_kib);
    series_free(&f->alloc_blocks);
    series_free(&f->observer_ns);
    free(f->diff.types);
    free(f);
    d->frozen_s = NULL;
    history_free(&d->frozen_h);
    d->ui.s = d->s;
    d->ui.h = &d->hist;
    d->ui.frozen = false;
    d->ui.events_upto = UINT64_MAX;
}

/* A deep copy of what the views read; the live session keeps sampling. */
static bool freeze(struct dash *d, uint64_t now)
{
    struct session *f = malloc(sizeof *f);
    if (!f)
        return false;
    *f = *d->s;
    memset(&f->rss_kib, 0, sizeof f->rss_kib);
    memset(&f->anon_kib, 0, sizeof f->anon_kib);
    memset(&f->alloc_blocks, 0, sizeof f->alloc_blocks);
    memset(&f->observer_ns, 0, sizeof f->observer_ns);
    f->diff.types = NULL;
    d->frozen_s = f;
    memset(&d->frozen_h, 0, sizeof d->frozen_h);
    bool ok = history_series_clone(&f->rss_kib, &d->s->rss_kib) == 0 &&
              history_series_clone(&f->anon_kib, &d->s->anon_kib) == 0 &&
              history_series_clone(&f->alloc_blocks, &d->s->alloc_blocks) == 0 &&
              history_series_clone(&f->observer_ns, &d->s->observer_ns) == 0 &&
              history_clone(&d->frozen_h, &d->hist) == 0;
    if (ok && d->s->diff.n_types) {
        f->diff.types = malloc(d->s->diff.n_types * sizeof *f->diff.types);
        ok = f->diff.types != NULL;
        if (ok)
            memcpy(f->diff.types, d->s->diff.types, d->s->diff.n_types * sizeof *f->diff.types);
    }
    if (!ok) {
        d->ui.frozen = true; /* so unfreeze frees what was made */
        unfreeze(d);
        return false;
    }
    d->frozen_ns = d->ui.now_ns ? d->ui.now_ns : now;
    d->ui.s = f;
    d->ui.h = &d->frozen_h;
    d->ui.frozen = true;
    d->ui.events_upto = eventlog_total(d->s->events);
    return true;
}

/* ---- keys ---------------------------------------------------------------------------- */

static const char *no_target_reason(const struct session *s)
{
    switch (s->state) {
    case SESSION_TARGET_EXITED:
        return "target exited: its data stays on screen; e exports it, q quits";
    case SESSION_AGENT_LOST:
        return "agent lost: commands need a live agent";
    case SESSION_DETACHED:
        return "detached: commands need a live agent";
    case SESSION_REPLAY:
        return "replay: commands need a live target (<-/-> step, [ ] jump, { } ends)";
    default:
        return NULL;
    }
}

/* Every command key answers at once in the status line; the spinner runs
 * until the agent replies, and the reply replaces the message. */
static bool send_command_text(struct dash *d, const char *name, int64_t arg, const char *text,
                              const char *progress)
{
    const char *why = no_target_reason(d->s);
    if (why) {
        ui_err(&d->ui, "%s", why);
        return false;
    }
    if (d->s->command_pending) {
        ui_err(&d->ui, "still waiting for %s: try again in a moment", d->s->last_command);
        return false;
    }
    int64_t rc = session_command_text(d->s, name, arg, text);
    if (rc < 0) {
        ui_err(&d->ui, "%s failed: %s", name, strerror((int)-rc));
        return false;
    }
    ui_msg(&d->ui, "%s", progress);
    return true;
}

static bool send_command(struct dash *d, const char *name, int64_t arg, const char *progress)
{
    return send_command_text(d, name, arg, NULL, progress);
}

/* A stop-the-world command (hunt, full collection): the agent refuses it
 * when its predicted pause is over [agent] confirm_pause_ms, and the status
 * line shows that prediction; the same key again within CONFIRM_WINDOW_NS
 * confirms it. */
#define CONFIRM_WINDOW_NS 15000000000ull
static bool send_stw_command(struct dash *d, const char *name, int64_t arg, const char *progress,
                             uint64_t now)
{
    const struct session *s = d->s;
    bool confirm = s->last_reply.status == -EAGAIN && s->last_reply.predict_ns &&
                   !strcmp(s->last_command, name) && now - s->last_command_ns < CONFIRM_WINDOW_NS;
    d->s->force = confirm;
    bool sent = send_command(d, name, arg, progress);
    d->s->force = false;
    if (sent && confirm)
        memset(&d->s->last_reply, 0, sizeof(d->s->last_reply)); /* one press, one run */
    return sent;
}

static void switch_view(struct dash *d, int v)
{
    d->ui.view = (enum config_view)((v + CONFIG_VIEWS) % CONFIG_VIEWS);
    ui_msg(&d->ui, "%s", views[d->ui.view]->name);
}

static void change_interval(struct dash *d, int dir)
{
    size_t n = sizeof interval_steps_ms / sizeof interval_steps_ms[0];
    unsigned cur = d->s->interval_ms;
    size_t i = 0;
    while (i < n && interval_steps_ms[i] < cur)
        i++;
    /* i: first step >= cur */
    size_t next;
    if (dir > 0) /* '+': sample more often, a shorter interval */
        next = i > 0 ? i - 1 : 0;
    else
        next = (i < n && interval_steps_ms[i] == cur) ? (i + 1 < n ? i + 1 : n - 1) : (i < n ? i : n - 1);
    unsigned want = interval_steps_ms[next];
    if (want == cur) {
        ui_err(&d->ui, "sampling every %u ms already: the %s", cur, dir > 0 ? "fastest" : "slowest");
        return;
    }
    char p[64];
    snprintf(p, sizeof p, "sampling every %u ms...", want);
    send_command(d, "interval", want, p);
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
    char abs[8192];
    if (path[0] != '/') {
        char cwd[4000];
        if (getcwd(cwd, sizeof cwd))
            snprintf(abs, sizeof abs, "%s/%s", cwd, path);
        else
            snprintf(abs, sizeof abs, "%s", path);
    } else {
        snprintf(abs, sizeof abs, "%s", path);
    }
    ui_msg(&d->ui, "exported to %s", abs);
    eventlog_push(d->s->events, session_now_ns(), EVENT_INFO, d->ui.msg);
}

static void filter_key(struct dash *d, int ch)
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

void dashboard_open_filter(void)
{
    if (!g_dash)
        return;
    g_dash->ui.view = CONFIG_VIEW_OBJECTS;
    g_dash->filter_edit = true;
    snprintf(g_dash->filter, sizeof g_dash->filter, "%s", view_objects_filter());
}

/* Returns true when the user asked to quit. */
/* Replay: moves to sample i and rebuilds everything drawn from it. The
 * derived series restart, since they only run forward. */
static void replay_goto(struct dash *d, long long i)
{
    struct replay *r = d->o->replay;
    if (i < 0)
        i = 0;
    if ((size_t)i >= r->n)
        i = (long long)r->n - 1;
    bool back = (size_t)i < r->pos;
    if (replay_apply(r, d->s, (size_t)i) < 0) {
        ui_err(&d->ui, "replay: cannot read sample %lld of the recording", i + 1);
        return;
    }
    if (back || (size_t)i > r->pos + 1) {
        history_free(&d->hist);
        history_init(&d->hist, d->o->history ? d->o->history : 600);
    }
    ui_msg(&d->ui, "sample %lld of %zu  (<-/-> step, [ ] jump, { } first/last, . play)",
           i + 1, r->n);
}

/* Keys that move through a recording; true when the key was one of them. */
static bool replay_key(struct dash *d, int ch, uint64_t now)
{
    struct replay *r = d->o->replay;
    long long pos = (long long)r->pos, jump = r->n / 10 > 1 ? (long long)(r->n / 10) : 1;
    switch (ch) {
    case KEY_LEFT: replay_goto(d, pos - 1); return true;
    case KEY_RIGHT: replay_goto(d, pos + 1); return true;
    case '[': replay_goto(d, pos - jump); return true;
    case ']': replay_goto(d, pos + jump); return true;
    case '{': replay_goto(d, 0); return true;
    case '}': replay_goto(d, (long long)r->n - 1); return true;
    case '.':
        d->playing = !d->playing;
        d->next_play_ns = now;
        ui_msg(&d->ui, d->playing ? "playing: one sample per second (. to pause)" : "paused");
        return true;
    default:
        return false;
    }
}

static bool on_key(struct dash *d, int ch, uint64_t now)
{
    struct ui *u = &d->ui;
    if (ch == KEY_RESIZE) {
        relayout(d);
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
            if (ch == '2')
                send_stw_command(d, "collect", 2, p, now);
            else
                send_command(d, "collect", ch - '0', p);
        } else {
            ui_msg(u, "no collection");
        }
        return false;
    }
    if (d->o->replay && replay_key(d, ch, now))
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
        send_stw_command(d, "collect", 2, "collecting all generations...", now);
        return false;
    case 'g':
        if (no_target_reason(d->s))
            ui_err(u, "%s", no_target_reason(d->s));
        else
            d->want_gen = true;
        return false;
    case 'n':
        send_command(d, "census", 0, "counting objects per type...");
        return false;
    case 's':
        send_command(d, "snapshot", 0, "taking a snapshot...");
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
        if (send_command(d, "diff", ch == 'D',
                         ch == 'D' ? "diffing the latest snapshot against the first..."
                                   : "diffing the last two snapshots...")) {
            u->diff_mode = true;
            u->view = CONFIG_VIEW_OBJECTS;
            view_objects_set_filter(view_objects_filter());
        }
        return false;
    case 't':
        send_command(d, "tracemalloc", d->s->agent.tracemalloc_on ? 0 : (int64_t)d->tm_frames,
                     d->s->agent.tracemalloc_on ? "stopping tracemalloc..."
                                                : "starting tracemalloc (slows allocations)...");
        return false;
    case 'y':
        if (send_stw_command(d, "hunt", 0, "hunting cycles (a full collection)...", now))
            u->view = CONFIG_VIEW_CYCLES;
        return false;
    case 'w': {
        char type[PM_TYPE_NAME_MAX], progress[PM_TYPE_NAME_MAX + 48];
        if (u->view != CONFIG_VIEW_OBJECTS || !view_objects_selected(u, type, sizeof type)) {
            ui_err(u, "w: select a type in the Objects view (2) first");
            return false;
        }
        snprintf(progress, sizeof progress, "why: finding who holds %s...", type);
        d->why_wait = send_command_text(d, "why", 0, type, progress);
        return false;
    }
    case 'a':
        send_command(d, "alloc_hook", d->s->agent.alloc.hook_on ? 0 : 1,
                     d->s->agent.alloc.hook_on ? "stopping allocation counters..."
                                               : "starting allocation counters...");
        return false;
    case '+':
    case '=':
        change_interval(d, +1);
        return false;
    case '-':
    case '_':
        change_interval(d, -1);
        return false;
    case 'p':
    case 'P':
        if (u->frozen) {
            unfreeze(d);
            ui_msg(u, "live again");
        } else if (freeze(d, now)) {
            ui_msg(u, "frozen: sampling goes on; p shows live data again");
        } else {
            ui_err(u, "cannot freeze: out of memory");
        }
        return false;
    case 'e':
        do_export(d);
        return false;
    case '/':
        dashboard_open_filter();
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
    if (views[u->view]->on_key(u, ch))
        return false;
    if (ch >= 32 && ch < 127)
        ui_err(u, "no action on '%c': press ? for the keys", ch);
    else
        ui_err(u, "no action on that key: press ? for the keys");
    return false;
}

/* ---- the loop ------------------------------------------------------------------------ */

/* What the screen depends on; a change triggers a redraw before the second is up. */
struct change_key {
    uint64_t agent_samples, proc_ns, status_ns, pause_len, censuses, events;
    int state;
    bool pending;
};

static struct change_key change_key_of(const struct session *s)
{
    struct change_key k;
    memset(&k, 0, sizeof k);
    k.agent_samples = s->agent_samples;
    k.proc_ns = s->proc.time_ns;
    k.status_ns = s->status_ns;
    k.pause_len = s->pause_len;
    k.censuses = s->censuses;
    k.events = eventlog_total(s->events);
    k.state = (int)s->state;
    k.pending = s->command_pending;
    return k;
}

/* While curses owns the terminal, stderr output would scribble over the
 * screen: collect it in a temporary file and print it after endwin. */
struct stderr_redirect {
    int saved; /* -1: not redirected */
    FILE *tmp;
};

static void stderr_capture(struct stderr_redirect *r)
{
    r->saved = -1;
    r->tmp = NULL;
    if (!isatty(STDERR_FILENO))
        return;
    r->tmp = tmpfile();
    if (!r->tmp)
        return;
    fflush(stderr);
    r->saved = dup(STDERR_FILENO);
    if (r->saved < 0 || dup2(fileno(r->tmp), STDERR_FILENO) < 0) {
        if (r->saved >= 0)
            close(r->saved);
        r->saved = -1;
        fclose(r->tmp);
        r->tmp = NULL;
    }
}

static void stderr_release(struct stderr_redirect *r)
{
    if (r->saved < 0)
        return;
    fflush(stderr);
    dup2(r->saved, STDERR_FILENO);
    close(r->saved);
    r->saved = -1;
    rewind(r->tmp);
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, r->tmp)) > 0)
        fwrite(buf, 1, n, stderr);
    fclose(r->tmp);
    r->tmp = NULL;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static void frame_stats_write(struct frame_stats *fs, const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "pymemtop: --frame-stats %s: %s\n", path, strerror(errno));
        return;
    }
    qsort(fs->ns, fs->n, sizeof fs->ns[0], cmp_u32);
    uint64_t total = 0;
    for (size_t i = 0; i < fs->n; i++)
        total += fs->ns[i];
    fprintf(f, "{\"frames\":%zu,\"mean_ns\":%llu,\"p50_ns\":%u,\"p99_ns\":%u,\"max_ns\":%u,\"views\":{",
            fs->n, (unsigned long long)(fs->n ? total / fs->n : 0), fs->n ? fs->ns[fs->n / 2] : 0,
            fs->n ? fs->ns[(fs->n * 99) / 100] : 0, fs->n ? fs->ns[fs->n - 1] : 0);
    for (int v = 0; v < CONFIG_VIEWS; v++)
        fprintf(f, "%s\"%s\":{\"frames\":%llu,\"mean_ns\":%llu,\"max_ns\":%llu}", v ? "," : "",
                config_view_name((enum config_view)v), (unsigned long long)fs->count[v],
                (unsigned long long)(fs->count[v] ? fs->total_ns[v] / fs->count[v] : 0),
                (unsigned long long)fs->max_ns[v]);
    qsort(fs->draw, fs->n, sizeof fs->draw[0], cmp_u32);
    fprintf(f, "},\"doupdate_mean_ns\":%llu,\"doupdate_max_ns\":%llu,"
               "\"draw_p50_ns\":%u,\"draw_p99_ns\":%u,\"draw_max_ns\":%u}\n",
            (unsigned long long)(fs->n ? fs->update_ns_total / fs->n : 0),
            (unsigned long long)fs->update_ns_max, fs->n ? fs->draw[fs->n / 2] : 0,
            fs->n ? fs->draw[(fs->n * 99) / 100] : 0, fs->n ? fs->draw[fs->n - 1] : 0);
    fclose(f);
}

int dashboard_run(struct session *s, const struct dashboard_opts *o)
{
    static const struct dashboard_opts defaults = {0};
    if (!o)
        o = &defaults;
    /* LC_CTYPE only: numbers keep a '.' whatever the locale says. */
    setlocale(LC_CTYPE, "");
    const char *no_color_env = getenv("NO_COLOR");
    bool color = !o->no_color && !(no_color_env && no_color_env[0]);

    if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
        fprintf(stderr, "pymemtop: the dashboard needs a terminal on stdin and stdout; "
                        "use --once or --command to write to a file or pipe\n");
        return -ENOTTY;
    }
    static struct dash d; /* holds a few large buffers: keep it off the stack */
    memset(&d, 0, sizeof d);
    d.s = s;
    d.o = o;
    d.tm_frames = o->tracemalloc_frames ? o->tracemalloc_frames : 1;
    if (history_init(&d.hist, o->history ? o->history : 600) < 0) {
        history_free(&d.hist);
        fprintf(stderr, "pymemtop: out of memory\n");
        return -ENOMEM;
    }
    if (o->frame_stats) {
        d.fs.ns = calloc(FRAME_SAMPLES, sizeof *d.fs.ns);
        d.fs.draw = calloc(FRAME_SAMPLES, sizeof *d.fs.draw);
        if (!d.fs.draw) {
            free(d.fs.ns);
            d.fs.ns = NULL;
        }
    }

    SCREEN *scr = newterm(NULL, stdout, stdin);
    if (!scr) {
        const char *term = getenv("TERM");
        fprintf(stderr, "pymemtop: cannot use terminal type '%s'; set TERM (e.g. TERM=xterm)\n",
                term ? term : "");
        history_free(&d.hist);
        free(d.fs.ns);
        free(d.fs.draw);
        return -ENOTTY;
    }
    set_term(scr);
    g_dash = &d;

    struct ui *u = &d.ui;
    u->s = s;
    u->h = &d.hist;
    u->types = &d.types;
    u->utf8 = !o->ascii && strcmp(nl_langinfo(CODESET), "UTF-8") == 0;
    u->events_upto = UINT64_MAX;
    u->pause_alert_ns = (uint64_t)(o->pause_alert_ms ? o->pause_alert_ms : 100) * NS_PER_MS;
    u->growth_alert_kib_per_min =
        (o->growth_alert_mib_per_min > 0 ? o->growth_alert_mib_per_min : 10) * 1024.0;
    u->view = (unsigned)o->default_view < CONFIG_VIEWS ? o->default_view : CONFIG_VIEW_OVERVIEW;

    struct sigaction sa, old_int, old_term, old_hup;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_quit_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: poll() must wake up */
    quit_flag = 0;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    sigaction(SIGHUP, &sa, &old_hup);

    struct stderr_redirect red;
    stderr_capture(&red);

    cbreak();
    noecho();
    nonl();
    keypad(stdscr, TRUE);
    nodelay(stdscr, TRUE);
    set_escdelay(25);
    curs_set(0);
    struct config defaults_cfg;
    config_defaults(&defaults_cfg);
    theme_init(&u->th, color, o->colors ? o->colors : defaults_cfg.colors);
    /* getch() refreshes stdscr when it is touched: make it clean once so
     * only our windows ever reach the terminal. */
    wnoutrefresh(stdscr);
    relayout(&d);

    uint64_t period_ns = (uint64_t)(o->refresh_ms ? o->refresh_ms : 1000) * NS_PER_MS;
    uint64_t next_redraw = 0;
    unsigned frames = 0;
    bool dirty = true, quit = false;
    struct change_key seen = change_key_of(s);

    if (o->replay)
        ui_msg(u, "replay of %zu samples: <-/-> step, [ ] jump 10%%, { } first/last, . play",
               o->replay->n);
    while (!quit && !quit_flag) {
        uint64_t now = session_now_ns();
        int tick_ms = session_tick(s, now);
        /* The answer to 'w' opens over the view when it arrives. */
        if (d.why_wait && !s->command_pending) {
            d.why_wait = false;
            d.why_open = s->have_why && !strcmp(s->last_command, "why");
            dirty = true;
        }
        if (d.playing && now >= d.next_play_ns) {
            if (o->replay->pos + 1 < o->replay->n)
                replay_goto(&d, (long long)o->replay->pos + 1);
            else
                d.playing = false;
            d.next_play_ns = now + NS_PER_MS * 1000;
            dirty = true;
        }
        history_update(&d.hist, s);
        if (!u->frozen)
            typecache_refresh(&d.types, s);
        struct change_key k = change_key_of(s);
        if (memcmp(&k, &seen, sizeof k) != 0) {
            seen = k;
            dirty = true;
        }
        if (dirty || now >= next_redraw) {
            uint64_t t0 = session_now_ns();
            draw_all(&d, now);
            uint64_t dt = session_now_ns() - t0;
            if (d.fs.ns && !d.lay.too_small) {
                if (d.fs.n < FRAME_SAMPLES) {
                    uint64_t dr = dt - d.fs.last_update_ns;
                    d.fs.draw[d.fs.n] = (uint32_t)(dr > UINT32_MAX ? UINT32_MAX : dr);
                    d.fs.ns[d.fs.n++] = (uint32_t)(dt > UINT32_MAX ? UINT32_MAX : dt);
                }
                d.fs.count[u->view]++;
                d.fs.update_ns_total += d.fs.last_update_ns;
                if (d.fs.last_update_ns > d.fs.update_ns_max)
                    d.fs.update_ns_max = d.fs.last_update_ns;
                d.fs.total_ns[u->view] += dt;
                if (dt > d.fs.max_ns[u->view])
                    d.fs.max_ns[u->view] = dt;
            }
            frames++;
            dirty = false;
            /* A running command animates its progress a few times a second. */
            next_redraw = now + (s->command_pending && s->state == SESSION_LIVE ? PENDING_REDRAW_NS
                                                                                 : period_ns);
            if (o->max_frames && frames >= o->max_frames)
                break;
        }

        struct pollfd pfd[2];
        int nfd = 0;
        pfd[nfd++] = (struct pollfd){.fd = STDIN_FILENO, .events = POLLIN};
        int afd = session_fd(s);
        if (afd >= 0)
            pfd[nfd++] = (struct pollfd){.fd = afd, .events = POLLIN};
        uint64_t wait_ns = next_redraw > now ? next_redraw - now : 0;
        int timeout = (int)((wait_ns + NS_PER_MS - 1) / NS_PER_MS);
        if (tick_ms >= 0 && tick_ms < timeout)
            timeout = tick_ms;
        if (d.playing && timeout > 100)
            timeout = 100;
        int rc = poll(pfd, (nfds_t)nfd, timeout);
        if (rc < 0 && errno != EINTR)
            break;
        if (rc > 0 && nfd > 1 && (pfd[1].revents & (POLLIN | POLLHUP | POLLERR))) {
            session_on_readable(s);
            dirty = true;
        }
        /* Always drain: keys, and KEY_RESIZE after SIGWINCH interrupted poll. */
        int ch;
        while ((ch = getch()) != ERR) {
            if (on_key(&d, ch, session_now_ns())) {
                quit = true;
                break;
            }
            dirty = true;
        }
        if (rc > 0 && (pfd[0].revents & (POLLHUP | POLLERR)))
            quit = true; /* the terminal went away */
    }

    unfreeze(&d);
    free_windows(&d);
    endwin();
    delscreen(scr);
    stderr_release(&red);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    sigaction(SIGHUP, &old_hup, NULL);
    if (o->frame_stats && d.fs.ns)
        frame_stats_write(&d.fs, o->frame_stats);
    free(d.fs.ns);
    free(d.fs.draw);
    history_free(&d.hist);
    typecache_free(&d.types);
    g_dash = NULL;
    return 0;
}

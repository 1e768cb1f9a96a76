/* The dashboard's frame loop: curses set-up and teardown, the windows, one
 * frame (header, tabs, view, status line, overlay; one doupdate), and one
 * poll() over keyboard, agent socket and timer. The parts it calls are
 * listed in dash.h. */
#include "dashboard.h"

#include <errno.h>
#include <langinfo.h>
#include <locale.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chrome.h"
#include "dash.h"
#include "filter.h"
#include "freeze.h"
#include "keys.h"
#include "replay.h"
#include "replay_step.h"
#include "statusline.h"

static volatile sig_atomic_t quit_flag;

static void on_quit_signal(int sig)
{
    (void)sig;
    quit_flag = 1;
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
        chrome_draw_too_small(d);
        doupdate();
        return;
    }
    /* Each window: werase, draw, wnoutrefresh; one doupdate per frame. */
    if (d->w_header) {
        werase(d->w_header);
        chrome_draw_header(d, d->w_header);
        wnoutrefresh(d->w_header);
    }
    if (d->w_tabs) {
        werase(d->w_tabs);
        chrome_draw_tabs(d, d->w_tabs);
        wnoutrefresh(d->w_tabs);
    }
    if (d->w_body) {
        werase(d->w_body);
        dash_views[u->view]->draw(u, d->w_body, d->lay.body.h, d->lay.body.w);
        wnoutrefresh(d->w_body);
    }
    if (d->w_status) {
        werase(d->w_status);
        statusline_draw(d, d->w_status, now);
        wnoutrefresh(d->w_status);
    }
    if (d->help)
        chrome_draw_help(d);
    else if (d->why_open)
        chrome_draw_why(d);
    uint64_t t0 = session_now_ns();
    doupdate();
    d->fs.last_update_ns = session_now_ns() - t0;
}

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
    if (o->frame_stats)
        frame_stats_start(&d.fs);

    SCREEN *scr = newterm(NULL, stdout, stdin);
    if (!scr) {
        const char *term = getenv("TERM");
        fprintf(stderr, "pymemtop: cannot use terminal type '%s'; set TERM (e.g. TERM=xterm)\n",
                term ? term : "");
        history_free(&d.hist);
        frame_stats_free(&d.fs);
        return -ENOTTY;
    }
    set_term(scr);

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
    dash_relayout(&d);

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
            replay_step_tick(&d, now);
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
            if (!d.lay.too_small)
                frame_stats_add(&d.fs, (int)u->view, dt);
            frames++;
            dirty = false;
            /* A running command animates its progress a few times a second. */
            next_redraw = now + (s->command_pending && s->state == SESSION_LIVE ? DASH_PENDING_REDRAW_NS
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
            if (keys_handle(&d, ch, session_now_ns())) {
                quit = true;
                break;
            }
            dirty = true;
        }
        if (rc > 0 && (pfd[0].revents & (POLLHUP | POLLERR)))
            quit = true; /* the terminal went away */
    }

    freeze_release(&d);
    dash_free_windows(&d);
    endwin();
    delscreen(scr);
    stderr_release(&red);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    sigaction(SIGHUP, &old_hup, NULL);
    if (o->frame_stats)
        frame_stats_write(&d.fs, o->frame_stats);
    frame_stats_free(&d.fs);
    history_free(&d.hist);
    typecache_free(&d.types);
    return 0;
}

/* A monitoring session: attach (reuse or inject), then fold agent samples and
 * /proc samples into the history the views and headless modes read. */
#include "session.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent_link.h"
#include "bootstrap.h"
#include "carry.h"
#include "commands.h"
#include "derive.h"
#include "proc_probe.h"
#include "proto.h"

#define SESSION_PROC_INTERVAL_NS 1000000000ull
#define SESSION_CONNECT_POLL_MS 20
#define SESSION_HELLO_TIMEOUT_MS 2000
#define SESSION_WATCHDOG_MS 2000
/* How long the pending call gets before the native path (attach_native_start)
 * is tried: a target that runs Python takes it within one switch interval
 * (5 ms) or one short sleep of its main thread. */
#define SESSION_FAST_WAIT_MS 300
#define SESSION_AGENT_ENTRY "pymemtop_agent_start_thread"
#define SESSION_NATIVE_RETRY_MS 50
#define SESSION_EVENTS 2000

uint64_t session_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void session_status(struct session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void session_status(struct session *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->status, sizeof(s->status), fmt, ap);
    va_end(ap);
    s->status_ns = session_now_ns();
}

static int session_drain(struct session *s);
static void session_lost(struct session *s);

/* Alive means running or sleeping with its memory in place: kill(pid, 0)
 * also succeeds on a zombie, and on a process that is tearing down (its mm
 * already released: vsize 0) while its fds are still closing. */
static int session_alive(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return kill(pid, 0) == 0 || errno == EPERM;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = 0;
    const char *p = strrchr(buf, ')'); /* comm may contain spaces and parens */
    if (!p || p[1] != ' ')
        return 1;
    p += 2;
    if (*p == 'Z' || *p == 'X')
        return 0;
    /* vsize is field 23 of stat; the state above is field 3. */
    for (int field = 3; field < 23 && p; field++)
        p = strchr(p, ' ') ? strchr(p, ' ') + 1 : NULL;
    return !p || strtoull(p, NULL, 10) != 0;
}

static int session_alloc(struct session *s, size_t history, unsigned suspect_window)
{
    struct series *all[] = SESSION_SERIES(s);
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        if (series_init(all[i], history) < 0)
            return -ENOMEM;
    s->inbox = calloc(1, sizeof(*s->inbox));
    s->types = typetable_new(suspect_window ? suspect_window : 5, 64);
    s->events = eventlog_new(SESSION_EVENTS);
    if (!s->inbox || !s->types || !s->events)
        return -ENOMEM;
    histogram_reset(&s->pauses);
    return 0;
}

/* When the agent's socket closes, the likeliest cause is that the process is
 * exiting: its fds close before it becomes a zombie. Give it a moment to
 * finish before calling the agent lost. */
static int session_alive_after_close(pid_t pid)
{
    for (int i = 0; i < 25; i++) {
        if (!session_alive(pid))
            return 0;
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
    return 1;
}

/* Connects to a loaded agent. BUSY (it serves its most monitors already, or
 * another monitor took the spare socket first) is retried for a second
 * before it is believed: one of them may be leaving. */
static int session_link_open(struct session *s, struct pm_hello *hello, char *msg, size_t len)
{
    uint64_t end = session_now_ns() + 1000000000ull;
    for (;;) {
        int r = agent_link_open(&s->target, SESSION_HELLO_TIMEOUT_MS, &s->link, hello, msg, len);
        if (r != -EBUSY || session_now_ns() >= end)
            return r;
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

/* Polls for the agent's socket after injection: the bootstrap runs when the
 * main thread reaches its next eval-breaker check. */
static int session_wait_agent(struct session *s, unsigned timeout_ms, struct pm_hello *hello,
                              char *msg, size_t msg_len)
{
    uint64_t end = session_now_ns() + (uint64_t)timeout_ms * 1000000u;
    for (;;) {
        int r = session_link_open(s, hello, msg, msg_len);
        if (r != -ENOENT)
            return r;
        if (!session_alive(s->target.pid))
            return -ESRCH;
        if (session_now_ns() >= end)
            return -ETIMEDOUT;
        struct timespec ts = {0, SESSION_CONNECT_POLL_MS * 1000000L};
        nanosleep(&ts, NULL);
    }
}

/* A failure caused by the process exiting under us (maps gone, memory
 * unreadable, ptrace ESRCH) is reported as that, whatever step noticed it. */
static enum target_status session_vanished(struct session *s, enum target_status st, char *msg,
                                           size_t msg_len)
{
    if (st == TARGET_NO_PROCESS || st == TARGET_GONE || session_alive(s->target.pid))
        return st;
    snprintf(msg, msg_len, "PID %d exited during attach", (int)s->target.pid);
    return TARGET_GONE;
}

#define SESSION_STARTING_POLL_MS 20

static enum target_status session_inject(struct session *s, const struct session_opts *o,
                                         char *msg, size_t msg_len)
{
    /* The agent's bytes are read by us and carried in (lib/carry.h), so only
     * we need to be able to read the file; it must still be ours or root's. */
    if (bootstrap_check_agent(o->agent_path, geteuid(), msg, msg_len) < 0)
        return TARGET_AGENT_ERROR;
    /* A target still starting its interpreter is left alone and asked
     * again every SESSION_STARTING_POLL_MS until the attach timeout. */
    uint64_t end = session_now_ns() + (uint64_t)o->attach_timeout_ms * 1000000u;
    enum target_status st;
    for (;;) {
        st = attach_pending_call(&s->target, carry_prepare, &s->carry, SESSION_WATCHDOG_MS,
                                 &s->attach, msg, msg_len);
        if (st != TARGET_STARTING || session_now_ns() >= end)
            break;
        struct timespec ts = {0, SESSION_STARTING_POLL_MS * 1000000L};
        nanosleep(&ts, NULL);
    }
    /* The any-thread call (3.13+) timed out signalling the GIL's holder,
     * after it queued the bootstrap (lib/attach.h, call_abandoned): carry on
     * as queued. The agent starts when a thread next takes the GIL, or the
     * native path loads it; the bootstrap runs once either way. */
    if (st == TARGET_TIMEOUT && s->attach.any_thread && s->attach.call_abandoned)
        st = TARGET_OK;
    if (st == TARGET_OK)
        s->injected = true;
    return st;
}

/* The pending call did not run soon: no thread runs Python (3.12+), or the
 * main thread is blocked in C (before 3.12). Load the agent in a thread
 * parked in a libc wait instead (attach_native_start), then wait for its
 * socket until the deadline. Why it could not is kept in native_msg. */
static int session_native(struct session *s, const struct session_opts *o, uint64_t deadline,
                          struct pm_hello *hello, char *lmsg, size_t lmsg_len,
                          enum target_status *native_st, char *native_msg, size_t native_len)
{
    (void)o; /* the agent is the one carried in at injection (s->carry) */
    /* No thread parked right now (all running, or in a handler): look again
     * every SESSION_NATIVE_RETRY_MS while the pending call may still run. */
    for (;;) {
        *native_st = attach_native_start(&s->target, s->carry.target_path, SESSION_AGENT_ENTRY,
                                         carry_verify, &s->carry, SESSION_WATCHDOG_MS,
                                         &s->attach, native_msg, native_len);
        uint64_t now = session_now_ns();
        if (*native_st != TARGET_NO_SAFE_POINT ||
            now + SESSION_NATIVE_RETRY_MS * 1000000ull >= deadline)
            break;
        int r = session_wait_agent(s, SESSION_NATIVE_RETRY_MS, hello, lmsg, lmsg_len);
        if (r != -ETIMEDOUT)
            return r;
    }
    uint64_t now = session_now_ns();
    unsigned left = deadline > now ? (unsigned)((deadline - now) / 1000000u) : 0;
    /* The new thread needs the GIL once: give it a moment past a short timeout. */
    if (*native_st == TARGET_OK && left < SESSION_FAST_WAIT_MS)
        left = SESSION_FAST_WAIT_MS;
    return session_wait_agent(s, left, hello, lmsg, lmsg_len);
}

static enum target_status session_connect_error(struct session *s, int r, unsigned timeout_ms,
                                                enum target_status native_st,
                                                const char *native_msg, char *msg,
                                                size_t msg_len)
{
    if (r == -ESRCH) {
        snprintf(msg, msg_len, "PID %d exited during attach", (int)s->target.pid);
        return TARGET_GONE;
    }
    if (r == -EACCES || r == -ENOSYS)
        return TARGET_PTRACE_DENIED;
    if (r == -ETIMEDOUT && native_st == TARGET_OK) {
        snprintf(msg, msg_len,
                 "PID %d: the agent was loaded (by thread %d) but got no GIL within %.1f s: a "
                 "thread holds it while blocked in C.\nThe agent starts when that thread "
                 "releases the GIL; run pymemtop again then.",
                 (int)s->target.pid, s->attach.native_tid, timeout_ms / 1000.0);
        return TARGET_NO_SAFE_POINT;
    }
    if (r == -ETIMEDOUT && native_st != TARGET_NO_SAFE_POINT && native_msg[0]) {
        snprintf(msg, msg_len, "%s", native_msg);
        return native_st;
    }
    if (r == -ETIMEDOUT) {
        snprintf(msg, msg_len,
                 "PID %d: no thread reached a safe point within %.1f s: the queued call ran "
                 "in no thread (the %s is blocked in C), and %s\nThe agent will start when "
                 "the main thread next runs Python; run pymemtop again then.",
                 (int)s->target.pid, timeout_ms / 1000.0,
                 s->attach.any_thread ? "interpreter's threads are all" : "main thread",
                 native_msg[0] ? native_msg : "the agent could not be loaded natively.");
        return TARGET_NO_SAFE_POINT;
    }
    return r == -EBUSY ? TARGET_BUSY : TARGET_AGENT_ERROR;
}

enum target_status session_open(struct session *s, int pid, const struct session_opts *o,
                                char *msg, size_t msg_len)
{
    memset(s, 0, sizeof(*s));
    /* Before any way out: carry_cleanup runs on every path and must find
     * no descriptor (a zeroed one is 0, our stdin). */
    carry_init(&s->carry, &s->target, o->agent_path);
    s->attach_begin_ns = session_now_ns();
    if (session_alloc(s, o->history ? o->history : 600, o->suspect_window) < 0) {
        snprintf(msg, msg_len, "out of memory");
        return TARGET_AGENT_ERROR;
    }
    /* A process that has just exec'ed a python is still loading libpython:
     * asked again, like a starting interpreter, until the attach timeout. */
    uint64_t start_end = s->attach_begin_ns + (uint64_t)o->attach_timeout_ms * 1000000u;
    enum target_status st;
    while ((st = target_inspect(pid, &s->target, msg, msg_len)) == TARGET_STARTING &&
           session_now_ns() < start_end) {
        struct timespec ts = {0, SESSION_STARTING_POLL_MS * 1000000L};
        nanosleep(&ts, NULL);
    }
    /* An agent that is already loaded needs no ptrace: a traced target, or
     * one we may not ptrace, can still be watched through it. */
    int reusable = st == TARGET_OK || st == TARGET_TRACED;
    if (!reusable)
        return session_vanished(s, st, msg, msg_len);
    struct pm_hello hello;
    char lmsg[256];
    int r = session_link_open(s, &hello, lmsg, sizeof(lmsg));
    enum target_status native_st = TARGET_NO_SAFE_POINT;
    char native_msg[1024] = "";
    if (r == -ENOENT) {
        if (st != TARGET_OK)
            return st;
        uint64_t deadline = session_now_ns() + (uint64_t)o->attach_timeout_ms * 1000000u;
        st = session_inject(s, o, msg, msg_len);
        if (st != TARGET_OK) {
            carry_cleanup(&s->carry); /* a file carried in before the failure goes */
            return session_vanished(s, st, msg, msg_len);
        }
        unsigned fast = o->attach_timeout_ms < SESSION_FAST_WAIT_MS ? o->attach_timeout_ms
                                                                    : SESSION_FAST_WAIT_MS;
        r = session_wait_agent(s, fast, &hello, lmsg, sizeof(lmsg));
        if (r == -ETIMEDOUT)
            r = session_native(s, o, deadline, &hello, lmsg, sizeof(lmsg), &native_st,
                               native_msg, sizeof(native_msg));
    }
    /* A file carried in (no /proc in the target's root) has been loaded or
     * never will be by this attach: the target's filesystem gets it back as
     * it was. A memfd needs nothing: it is no file of the target's. */
    carry_cleanup(&s->carry);
    if (r < 0 && r != -ESRCH && r != -EBUSY && !session_alive_after_close(s->target.pid))
        r = -ESRCH;
    if (r < 0) {
        snprintf(msg, msg_len, "%s", lmsg);
        return session_connect_error(s, r, o->attach_timeout_ms, native_st, native_msg, msg,
                                     msg_len);
    }
    s->hello = hello;
    s->attached_ns = session_now_ns();
    s->pause_alert_ns = (uint64_t)o->pause_alert_ms * 1000000u;
    s->growth_alert_kib_per_min = o->growth_alert_mib_per_min * 1024.0;
    s->interval_ms = hello.interval_ms ? hello.interval_ms : 1000;
    s->state = SESSION_LIVE;
    s->probe = proc_probe_new(s->target.pid);
    if (o->interval_ms && o->interval_ms != s->interval_ms)
        session_command(s, "interval", o->interval_ms);
    /* Settings, not user commands: id 0, replies ignored. Always sent, so
     * that a reused agent forgets the previous monitor's settings. */
    agent_link_send(s->link, 0, "census_interval", o->census_interval_ms);
    agent_link_send(s->link, 0, "census_budget", (int64_t)(o->census_budget_pct * 100 + 0.5));
    if (o->max_pause_ms)
        agent_link_send(s->link, 0, "max_pause", o->max_pause_ms);
    agent_link_send(s->link, 0, "confirm_pause", o->confirm_pause_ms);
    double cap_pct = o->cycle_capture_pct > 0 ? o->cycle_capture_pct : 1.0;
    agent_link_send(s->link, 0, "cycle_capture",
                    o->cycle_capture_off ? 0 : (int64_t)(cap_pct * 100 + 0.5));
    session_status(s, "%s agent in PID %d (Python %s)",
                   s->injected ? "loaded the" : "reusing the", (int)s->target.pid,
                   hello.python);
    eventlog_push(s->events, s->status_ns, EVENT_INFO, s->status);
    /* The first sample often arrives in the same read as the HELLO. */
    if (session_drain(s))
        session_lost(s);
    session_tick(s, session_now_ns());
    return TARGET_OK;
}

int session_fd(const struct session *s)
{
    return agent_link_fd(s->link);
}

static void session_add_pauses(struct session *s, const struct pm_agent_sample *a)
{
    for (uint32_t i = 0; i < a->n_pauses; i++) {
        histogram_add(&s->pauses, a->pauses[i].pause_ns);
        size_t at = (s->pause_head + s->pause_len) % SESSION_PAUSE_RING;
        if (s->pause_len == SESSION_PAUSE_RING)
            s->pause_head = (s->pause_head + 1) % SESSION_PAUSE_RING;
        else
            s->pause_len++;
        s->pause_ring[at] = a->pauses[i];
        if (s->pause_alert_ns && a->pauses[i].pause_ns >= s->pause_alert_ns)
            eventlog_pushf(s->events, a->pauses[i].end_ns, EVENT_PAUSE,
                           "gen %u collection paused the target %.1f ms (%lld freed)",
                           (unsigned)a->pauses[i].generation, a->pauses[i].pause_ns / 1e6,
                           (long long)a->pauses[i].collected);
    }
}

unsigned session_monitors(const struct session *s)
{
    if (s->state == SESSION_REPLAY)
        return 0;
    return s->agent_samples && s->agent.monitors ? s->agent.monitors : s->hello.monitors;
}

static void session_on_reply(struct session *s, const struct pm_reply *r)
{
    /* Its own holds also reach the next sample's, with how they were spent;
     * this one counts even when no sample follows (--command). */
    struct pm_hold h = {.ns = r->max_hold_ns};
    snprintf(h.what, sizeof(h.what), "%.*s", (int)sizeof(h.what) - 1,
             r->id && s->last_command[0] ? s->last_command : "setting");
    holdlog_note(&s->holds, session_now_ns(), &h);
    if (r->id == 0)
        return; /* a setting sent at open, or the detach */
    s->last_reply = *r;
    s->command_pending = false;
    if (r->status == -EAGAIN && r->predict_ns) {
        /* A stop-the-world command that asks first (agent_stw_refused). */
        session_status(s, "%s would stop the target for ~%.2f s: press the key again to run it",
                       s->last_command, r->predict_ns / 1e9);
        eventlog_push(s->events, s->status_ns, EVENT_WARN, s->status);
        return;
    }
    if (r->status != 0) {
        session_status(s, "%s failed: %s", s->last_command, r->message);
        eventlog_push(s->events, s->status_ns, EVENT_ERROR, s->status);
        return;
    }
    if (strcmp(s->last_command, "collect") == 0)
        session_status(s, "collect: %lld objects freed, GIL held %.1f ms", (long long)r->value,
                       r->pause_ns / 1e6);
    else if (strcmp(s->last_command, "interval") == 0) {
        s->interval_ms = (unsigned)r->value;
        session_status(s, "sampling every %u ms", s->interval_ms);
    } else if (strcmp(s->last_command, "census") == 0 || strcmp(s->last_command, "snapshot") == 0)
        session_status(s, "%s: %llu objects of %zu types, GIL held %.1f ms; %s",
                       s->last_command, (unsigned long long)s->census.objects,
                       typetable_size(s->types), s->census.cost_ns / 1e6, r->message);
    else
        /* Agent messages often name their command already ("hunt: ..."). */
        session_status(s, "%s%s%s", strncmp(r->message, s->last_command,
                                            strlen(s->last_command)) ? s->last_command : "",
                       strncmp(r->message, s->last_command, strlen(s->last_command)) ? ": " : "",
                       r->message);
    int snap = !strcmp(s->last_command, "snapshot") || !strcmp(s->last_command, "diff");
    eventlog_push(s->events, s->status_ns, snap ? EVENT_SNAPSHOT : EVENT_RESULT, s->status);
}

/* The agent went quiet: tell an exited target from a lost connection. Runs
 * again when /proc later shows the process gone, so the status follows. */
static void session_lost(struct session *s)
{
    if (s->state == SESSION_TARGET_EXITED || s->state == SESSION_DETACHED)
        return;
    if (!session_alive_after_close(s->target.pid)) {
        s->state = SESSION_TARGET_EXITED;
        session_status(s, "target exited; last data kept");
    } else {
        s->state = SESSION_AGENT_LOST;
        session_status(s, "agent connection lost%s%s", agent_link_error(s->link)[0] ? ": " : "",
                       agent_link_error(s->link));
    }
    eventlog_push(s->events, s->status_ns, EVENT_WARN, s->status);
}

static void session_on_sample(struct session *s, const struct pm_agent_sample *a)
{
    s->agent = *a;
    s->agent_samples++;
    holdlog_note(&s->holds, session_now_ns(), &a->hold_max);
    session_add_pauses(s, a);
    if (a->alloc_blocks >= 0)
        series_push(&s->alloc_blocks, a->time_ns, (double)a->alloc_blocks);
    series_push(&s->observer_ns, a->time_ns, (double)a->observer_ns);
    if (a->alloc.pymalloc_used_bytes >= 0)
        series_push(&s->pymalloc_kib, a->time_ns, (double)a->alloc.pymalloc_used_bytes / 1024.0);
    for (int g = 0; g < PM_GENERATIONS; g++)
        series_push(&s->collected[g], a->time_ns, (double)a->collected[g]);
}

/* Counts feed the type table; a diff is kept whole (its types move here). */
static void session_on_census(struct session *s, struct pm_census *c)
{
    /* A census left out (it would have paused the target too long) keeps
     * the table of the last one that ran; only the reason is kept. */
    if (c->kind == PM_CENSUS_KIND_CENSUS && c->skip_ns) {
        s->census_skip_ns = c->skip_ns;
        pm_census_free(c);
        return;
    }
    if (c->kind == PM_CENSUS_KIND_CENSUS) {
        s->census_skip_ns = 0;
        struct pm_hold h = {.ns = c->max_slice_ns, .what = "census"};
        holdlog_note(&s->holds, session_now_ns(), &h);
        typetable_update(s->types, c);
        s->censuses++;
        pm_census_free(c);
        s->census = *c;
        return;
    }
    pm_census_free(&s->diff);
    s->diff = *c;
    s->have_diff = true;
    c->types = NULL;
    c->n_types = 0;
}

static void session_on_sites(struct session *s, const struct pm_sites *sites)
{
    if (sites->kind == PM_SITES_TOP) {
        s->sites_top = *sites;
        s->have_sites_top = true;
    } else if (sites->kind == PM_SITES_GROWTH) {
        s->sites_growth = *sites;
        s->have_sites_growth = true;
    } else {
        s->sites_diff = *sites;
        s->have_sites_diff = true;
    }
}

/* Folds every complete frame already read into the session. */
static int session_drain(struct session *s)
{
    for (;;) {
        switch (agent_link_next(s->link, s->inbox)) {
        case AGENT_EV_NONE:
            return 0;
        case AGENT_EV_CLOSED:
            return 1;
        case AGENT_EV_REPLY:
            session_on_reply(s, &s->inbox->reply);
            break;
        case AGENT_EV_SAMPLE:
            session_on_sample(s, &s->inbox->sample);
            break;
        case AGENT_EV_CENSUS:
            session_on_census(s, &s->inbox->census);
            break;
        case AGENT_EV_HUNT:
            s->hunt = s->inbox->hunt;
            s->have_hunt = true;
            break;
        case AGENT_EV_SHAPES:
            derive_capture_merge(&s->capture, &s->inbox->capture);
            s->have_capture = true;
            break;
        case AGENT_EV_SITES:
            session_on_sites(s, &s->inbox->sites);
            break;
        case AGENT_EV_WHY:
            s->why = s->inbox->why;
            s->have_why = true;
            break;
        }
    }
}

void session_on_readable(struct session *s)
{
    if (!s->link)
        return;
    int closed = agent_link_fill(s->link) < 0;
    if (session_drain(s) || closed)
        session_lost(s);
}

/* One warning when the RSS slope over the last minute crosses the threshold;
 * it re-arms once growth falls below half of it. */
static void session_growth_alert(struct session *s, uint64_t now_ns)
{
    if (!(s->growth_alert_kib_per_min > 0) || series_len(&s->rss_kib) < 10)
        return;
    double slope = derive_growth_kib_per_min(&s->rss_kib);
    if (!s->growth_alerting && slope >= s->growth_alert_kib_per_min) {
        s->growth_alerting = true;
        eventlog_pushf(s->events, now_ns, EVENT_WARN,
                       "RSS growing %.1f MiB/min (alert at %.1f MiB/min), now %.1f MiB",
                       slope / 1024.0, s->growth_alert_kib_per_min / 1024.0,
                       series_last(&s->rss_kib) / 1024.0);
    } else if (s->growth_alerting && slope < s->growth_alert_kib_per_min / 2) {
        s->growth_alerting = false;
        eventlog_pushf(s->events, now_ns, EVENT_INFO, "RSS growth back to %.1f MiB/min",
                       slope / 1024.0);
    }
}

int session_tick(struct session *s, uint64_t now_ns)
{
    if (now_ns >= s->next_proc_ns && s->probe && s->state != SESSION_TARGET_EXITED &&
        s->state != SESSION_DETACHED) {
        struct pm_proc_sample p;
        if (proc_probe_read(s->probe, &p) == 0 && p.valid) {
            s->proc = p;
            series_push(&s->rss_kib, p.time_ns, (double)p.rss_kib);
            series_push(&s->anon_kib, p.time_ns, (double)p.anon_kib);
            session_growth_alert(s, p.time_ns);
        } else if (!session_alive(s->target.pid)) {
            session_lost(s);
        }
        /* /proc follows the agent's interval, but never faster than 10 Hz. */
        uint64_t every = (uint64_t)(s->interval_ms ? s->interval_ms : 1000) * 1000000u;
        if (every < SESSION_PROC_INTERVAL_NS / 10)
            every = SESSION_PROC_INTERVAL_NS / 10;
        s->next_proc_ns = now_ns + every;
    }
    uint64_t wait = s->next_proc_ns > now_ns ? s->next_proc_ns - now_ns : 0;
    return (int)(wait / 1000000u) + 1;
}

int64_t session_command(struct session *s, const char *name, int64_t arg)
{
    return session_command_text(s, name, arg, NULL);
}

int64_t session_command_text(struct session *s, const char *name, int64_t arg,
                             const char *text)
{
    return session_command_lease(s, name, arg, text, 0);
}

int64_t session_command_lease(struct session *s, const char *name, int64_t arg,
                              const char *text, int64_t lease_s)
{
    if (s->state != SESSION_LIVE || !s->link) {
        session_status(s, "%s: no live target", name);
        return -ENOTCONN;
    }
    static uint64_t next_id = 1;
    uint64_t id = next_id++;
    int r = agent_link_send_flags(s->link, id, name, arg, text, s->force ? PROTO_CMD_FORCE : 0,
                                  lease_s);
    if (r < 0) {
        session_status(s, "%s: cannot reach the agent: %s", name, strerror(-r));
        return r;
    }
    snprintf(s->last_command, sizeof(s->last_command), "%s", name);
    s->last_command_ns = session_now_ns();
    s->command_pending = true;
    /* The argument only where it says something (generation, on/off, ms). */
    const struct command_def *def = commands_find(name);
    if (def && def->log_arg)
        eventlog_pushf(s->events, s->last_command_ns, EVENT_COMMAND, "%s %lld", name,
                       (long long)arg);
    else
        eventlog_push(s->events, s->last_command_ns, EVENT_COMMAND, name);
    if (strcmp(name, "collect") == 0)
        session_status(s, "collecting generation %lld...", (long long)arg);
    else
        session_status(s, "%s...", name);
    return (int64_t)id;
}

const struct pm_gc_pause *session_pause_at(const struct session *s, size_t i)
{
    return i < s->pause_len ? &s->pause_ring[(s->pause_head + i) % SESSION_PAUSE_RING] : NULL;
}

uint64_t session_pause_quantile(const struct session *s, double q)
{
    if (s->state == SESSION_REPLAY)
        return q >= 0.99 ? s->recorded.p99_ns : s->recorded.p50_ns;
    return histogram_quantile(&s->pauses, q);
}

uint64_t session_pause_last(const struct session *s)
{
    if (s->state == SESSION_REPLAY)
        return s->recorded.last_ns;
    return s->pause_len ? session_pause_at(s, s->pause_len - 1)->pause_ns : 0;
}

double session_gc_share(const struct session *s, uint64_t now_ns)
{
    if (s->state == SESSION_REPLAY)
        return s->recorded.wall_share;
    if (!s->attached_ns || now_ns <= s->attached_ns)
        return 0;
    double share = (double)s->agent.pause_total_ns / (double)(now_ns - s->attached_ns);
    return share > 1 ? 1 : share;
}

double session_gc_share_since_start(const struct session *s)
{
    const struct pm_proc_sample *p = &s->proc;
    if (!s->agent_samples || !p->start_time_ns || p->time_ns <= p->start_time_ns)
        return -1;
    double total = 0;
    for (int g = 0; g < PM_GENERATIONS; g++) {
        if (s->agent.gc_duration_ns[g] < 0)
            return -1;
        total += (double)s->agent.gc_duration_ns[g];
    }
    double share = total / (double)(p->time_ns - p->start_time_ns);
    return share > 1 ? 1 : share;
}

void session_close(struct session *s)
{
    agent_link_close(s->link, s->state == SESSION_LIVE);
    s->link = NULL;
    if (s->state == SESSION_LIVE)
        s->state = SESSION_DETACHED;
    proc_probe_free(s->probe);
    s->probe = NULL;
    struct series *all[] = SESSION_SERIES(s);
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        series_free(all[i]);
    typetable_free(s->types);
    s->types = NULL;
    pm_census_free(&s->diff);
    free(s->inbox);
    s->inbox = NULL;
    eventlog_free(s->events);
    s->events = NULL;
}

/* --once and --command: attach, ask, print, detach. */
#include "headless.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "diagnose.h"
#include "json.h"
#include "json_keys.h"
#include "series.h"
#include "session_json.h"
#include "roundtrip.h"
#include "watch_tm.h"

/* --once: the agent's first sample, a census, and a /proc sample. */
int headless_once(struct session *s, bool json, size_t types_cap)
{
    roundtrip_first_sample(s);
    if (s->agent_samples > 0)
        roundtrip_command(s, "census", 0, NULL, 0);
    session_tick(s, session_now_ns());
    if (s->agent_samples == 0) {
        fprintf(stderr, "pymemtop: PID %d: the agent sent no sample (%s)\n", s->target.pid,
                s->state == SESSION_TARGET_EXITED ? "target exited" : "agent lost");
        return s->state == SESSION_TARGET_EXITED ? EXIT_GONE : EXIT_INTERNAL;
    }
    if (json) {
        session_json_write(s, stdout, types_cap);
    } else {
        const struct pm_agent_sample *a = &s->agent;
        printf("PID %d  Python %s  RSS %llu KiB  anon %llu KiB  blocks %lld\n"
               "GC %s  counts %lld/%lld/%lld  collections %lld/%lld/%lld\n",
               s->target.pid, s->hello.python, (unsigned long long)s->proc.rss_kib,
               (unsigned long long)s->proc.anon_kib, (long long)a->alloc_blocks,
               a->gc_enabled ? "on" : "off", (long long)a->counts[0], (long long)a->counts[1],
               (long long)a->counts[2], (long long)a->collections[0],
               (long long)a->collections[1], (long long)a->collections[2]);
    }
    return fflush(stdout) == 0 ? EXIT_OK : EXIT_INTERNAL;
}

static void print_command_json(const struct session *s, const struct command *c, int rc,
                               size_t types_cap)
{
    struct json j;
    json_init(&j, stdout);
    json_object_begin(&j, NULL);
    json_string(&j, "command", c->spec);
    json_string(&j, "status", rc == EXIT_OK ? "ok" : "error");
    json_string(&j, "message", rc == EXIT_OK || s->last_reply.message[0]
                                   ? s->last_reply.message
                                   : (rc == EXIT_GONE ? "target exited" : "no answer from the agent"));
    json_uint(&j, "pause_ns", s->last_reply.pause_ns);
    json_uint(&j, "max_pause_ns", s->last_reply.max_hold_ns);
    if (s->last_reply.predict_ns)
        json_uint(&j, "predicted_pause_ns", s->last_reply.predict_ns);
    /* The keys each command adds are listed in its lib/commands.c entry. */
    if (rc == EXIT_OK) {
        switch (c->def->id) {
        case CMD_COLLECT:
            json_int(&j, "collected", s->last_reply.value);
            break;
        case CMD_SNAPSHOT:
        case CMD_CENSUS:
            session_json_types(&j, s, types_cap);
            if (c->def->id == CMD_SNAPSHOT && s->have_sites_top)
                session_json_sites(&j, "sites", &s->sites_top);
            break;
        case CMD_HUNT:
            if (s->have_hunt)
                session_json_hunt_fields(&j, &s->hunt);
            break;
        case CMD_WHY:
            if (s->have_why)
                session_json_why_fields(&j, &s->why);
            break;
        case CMD_DIFF:
            json_string(&j, "against", c->arg ? "baseline" : "previous");
            if (s->have_diff)
                session_json_diff_types(&j, &s->diff, types_cap);
            if (s->have_sites_diff)
                session_json_sites(&j, "sites", &s->sites_diff);
            break;
        default:
            break;
        }
    }
    json_object_end(&j);
    fputc('\n', stdout);
}

/* --command ...: each in order, one JSON line (or message line) per command.
 * Stops at the first failure. */
int headless_commands(struct session *s, const struct cli *cli, int tm_frames, size_t types_cap)
{
    roundtrip_first_sample(s);
    s->force = cli->force;
    for (int i = 0; i < cli->n_commands; i++) {
        const struct command *c = &cli->commands[i];
        int64_t arg = c->arg;
        if (c->def->id == CMD_TRACEMALLOC && arg)
            arg = tm_frames;
        s->have_hunt = s->have_diff = s->have_sites_top = s->have_sites_diff = false;
        s->have_why = false;
        memset(&s->last_reply, 0, sizeof(s->last_reply));
        int rc = roundtrip_command(s, c->name, arg, c->text, c->lease_s);
        if (cli->json)
            print_command_json(s, c, rc, types_cap);
        else
            printf("%s: %s\n", c->spec, s->last_reply.message[0] ? s->last_reply.message
                                                                  : "no answer");
        fflush(stdout);
        if (rc != EXIT_OK) {
            fprintf(stderr, "pymemtop: %s: %s\n", c->spec,
                    s->last_reply.message[0] ? s->last_reply.message : "failed");
            return rc;
        }
    }
    return EXIT_OK;
}


static const char *diag_mark(enum diagnose_result r)
{
    return r == DIAG_OK ? "[ok]  " : r == DIAG_FAIL ? "[FAIL]" : "[--]  ";
}

static const char *diag_name(enum diagnose_result r)
{
    return r == DIAG_OK ? "ok" : r == DIAG_FAIL ? "fail" : "info";
}

int headless_check(int pid, const char *agent_path, bool json)
{
    static struct diagnose_report r;
    diagnose_check(pid, agent_path, &r);
    if (json) {
        struct json j;
        json_init(&j, stdout);
        json_object_begin(&j, NULL);
        json_int(&j, "pid", pid);
        json_bool(&j, "attachable", r.attachable);
        json_bool(&j, "agent_loaded", r.agent_loaded);
        json_string(&j, "status", target_status_name(r.status));
        json_array_begin(&j, "checks");
        for (size_t i = 0; i < r.n; i++) {
            json_object_begin(&j, NULL);
            json_string(&j, "what", r.items[i].what);
            json_string(&j, "result", diag_name(r.items[i].result));
            json_string(&j, "detail", r.items[i].detail);
            json_object_end(&j);
        }
        json_array_end(&j);
        json_object_end(&j);
        fputc('\n', stdout);
    } else {
        for (size_t i = 0; i < r.n; i++)
            printf("%s %-10s %s\n", diag_mark(r.items[i].result), r.items[i].what,
                   r.items[i].detail);
        printf("%s\n", r.attachable ? "pymemtop can attach to this process"
                                    : "pymemtop cannot attach: fix the [FAIL] lines above");
    }
    if (r.attachable)
        return EXIT_OK;
    return r.status == TARGET_NO_PROCESS || r.status == TARGET_GONE ? EXIT_GONE : EXIT_REFUSED;
}

int headless_list(bool json)
{
    static struct diagnose_process procs[512];
    size_t total, n = diagnose_list(procs, sizeof(procs) / sizeof(procs[0]), &total);
    struct json j;
    if (json) {
        json_init(&j, stdout);
        json_array_begin(&j, NULL);
    } else if (n) {
        printf("%7s  %-8s %10s  %-8s %-24s %6s  %s\n", "PID", "PYTHON", "RSS", "AGENT",
               "CONTAINER", "NSPID", "COMMAND");
    } else {
        fprintf(stderr, "pymemtop: no CPython process that this user can see%s\n",
                geteuid() ? " (other users' processes need sudo)" : "");
    }
    for (size_t i = 0; i < n; i++) {
        const struct diagnose_process *p = &procs[i];
        const char *ver = p->version;
        const char *state = p->status == TARGET_OK       ? (p->agent_loaded ? "loaded" : "-")
                            : p->status == TARGET_TRACED ? "traced"
                            : p->status == TARGET_UNSUPPORTED_BUILD
                                ? (p->free_threaded ? "free-threaded: not supported"
                                                    : "not supported")
                                : "too old";
        if (json) {
            json_object_begin(&j, NULL);
            json_int(&j, "pid", p->pid);
            json_string(&j, "python", ver);
            json_string(&j, "build", p->free_threaded ? "free_threaded"
                                     : p->debug       ? "debug"
                                                      : "release");
            json_uint(&j, "rss_kib", p->rss_kib);
            json_bool(&j, "agent_loaded", p->agent_loaded);
            json_string(&j, "status", target_status_name(p->status));
            json_string(&j, "container", p->container);
            json_int(&j, "ns_pid", p->ns_pid);
            json_string(&j, "command", p->cmdline);
            json_object_end(&j);
        } else {
            /* A long root path keeps its end, where the name usually is. */
            size_t cl = strlen(p->container);
            const char *ct = cl > 24 ? p->container + cl - 24 : p->container[0] ? p->container : "-";
            printf("%7d  %-8s %7llu MiB  %-8s %-24s %6d  %.100s\n", (int)p->pid, ver,
                   (unsigned long long)(p->rss_kib / 1024), state, ct, (int)p->ns_pid,
                   p->cmdline);
        }
    }
    if (json) {
        json_array_end(&j);
        fputc('\n', stdout);
    } else if (total > n) {
        printf("... and %zu more\n", total - n);
    }
    return EXIT_OK;
}

static volatile sig_atomic_t watch_stop;

static void watch_on_signal(int sig)
{
    (void)sig;
    watch_stop = 1;
}

/* One event line: {"event": kind, "time_ns": ..., ...}. */
static void watch_pause_event(FILE *f, const struct pm_gc_pause *p)
{
    struct json j;
    json_init(&j, f);
    json_object_begin(&j, NULL);
    json_string(&j, JK_EVENT, JK_EVENT_GC_PAUSE);
    json_uint(&j, JK_END_NS, p->end_ns);
    json_int(&j, JK_GENERATION, p->generation);
    json_uint(&j, JK_PAUSE_NS, p->pause_ns);
    json_int(&j, JK_COLLECTED, p->collected);
    json_int(&j, JK_UNCOLLECTABLE, p->uncollectable);
    json_object_end(&j);
    fputc('\n', f);
}

static void watch_simple_event(FILE *f, const char *kind, const char *message)
{
    struct json j;
    json_init(&j, f);
    json_object_begin(&j, NULL);
    json_string(&j, "event", kind);
    json_string(&j, "message", message);
    json_object_end(&j);
    fputc('\n', f);
}

struct watch {
    FILE *out;
    bool status_line; /* stderr is a terminal */
    uint64_t samples_seen, last_pause_end_ns, lines;
    struct slope_acc rss, heap;
    bool heap_known;
    struct watch_tm tm;
};

/* The agent's own arrival (its code, thread stack, first census) moves RSS in
 * the first seconds: the gate's slopes leave those out. */
#define WATCH_WARMUP_NS 2000000000ull

static void watch_on_samples(struct watch *w, struct session *s, size_t types_cap)
{
    w->samples_seen = s->agent_samples;
    bool warm = s->agent.time_ns >= s->attached_ns + WATCH_WARMUP_NS;
    if (warm)
        slope_add(&w->rss, s->agent.time_ns, (double)s->proc.rss_kib);
    if (warm && s->agent.alloc.pymalloc_used_bytes >= 0) {
        slope_add(&w->heap, s->agent.time_ns, (double)s->agent.alloc.pymalloc_used_bytes / 1024);
        w->heap_known = true;
    }
    if (!w->out)
        return;
    for (size_t i = 0; i < s->pause_len; i++) {
        const struct pm_gc_pause *p = session_pause_at(s, i);
        /* The session holds [alerts] pause_ms (0: never), so a recording
         * keeps the same pauses the dashboard's events view logs. */
        if (p->end_ns > w->last_pause_end_ns && s->pause_alert_ns &&
            p->pause_ns >= s->pause_alert_ns) {
            watch_pause_event(w->out, p);
            w->lines++;
        }
    }
    if (s->pause_len)
        w->last_pause_end_ns = session_pause_at(s, s->pause_len - 1)->end_ns;
    session_json_write(s, w->out, types_cap);
    w->lines++;
    fflush(w->out); /* nothing lost if we are killed */
    if (w->status_line) {
        struct stat st;
        long long size = fstat(fileno(w->out), &st) == 0 ? (long long)st.st_size : -1;
        fprintf(stderr, "\rrecording PID %d: %llu samples, %lld KiB", s->target.pid,
                (unsigned long long)w->samples_seen, size / 1024);
    }
}

/* Names what grew: by bytes per minute when the census carries bytes (a
 * few containers that keep growing leak memory with a flat count), then
 * any type growing by count that the bytes list left out; by objects per
 * minute otherwise. */
static void watch_name_types(const struct session *s)
{
    struct typetable_row rows[10], by_count[10];
    uint64_t total;
    bool bytes = typetable_bytes_total(s->types, &total);
    size_t n = typetable_rows(s->types, bytes ? TYPETABLE_BY_BYTES_RATE : TYPETABLE_BY_RATE,
                              NULL, rows, 10);
    size_t shown = 0;
    if (bytes) {
        for (size_t i = 0; i < n && rows[i].bytes_rate_per_min > 0; i++) {
            if (!shown++)
                fprintf(stderr, "top growing types by bytes (bytes/min, objects/min, bytes "
                                "since attach):\n");
            fprintf(stderr, "  %-40.40s %+12.0f B/min %+10.0f/min %+12lld B%s\n", rows[i].name,
                    rows[i].bytes_rate_per_min, rows[i].rate_per_min,
                    (long long)rows[i].bytes_delta_attach, rows[i].suspect ? "  SUSPECT" : "");
        }
        n = typetable_rows(s->types, TYPETABLE_BY_RATE, NULL, by_count, 10);
        memcpy(rows, by_count, n * sizeof(*rows));
    }
    bool head = false;
    for (size_t i = 0; i < n && rows[i].rate_per_min > 0 && shown < 10; i++) {
        if (bytes && rows[i].bytes_rate_per_min > 0)
            continue; /* listed above */
        if (!head)
            fprintf(stderr, "top growing types (objects/min, since attach):\n");
        head = true;
        shown++;
        fprintf(stderr, "  %-40.40s %+10.0f/min %+10lld%s\n", rows[i].name, rows[i].rate_per_min,
                (long long)rows[i].delta_attach, rows[i].suspect ? "  SUSPECT" : "");
    }
}

/* The verdict: both slopes under the limit, or exit 7 naming what grew. */
static int watch_gate(const struct watch *w, const struct session *s, const struct cli *cli,
                      size_t types_cap)
{
    double rss = slope_per_min(&w->rss), heap = slope_per_min(&w->heap);
    double limit = cli->max_growth_kib_per_min;
    bool failed = rss > limit || (w->heap_known && heap > limit);
    fprintf(stderr,
            "pymemtop: leak gate %s: RSS %+.1f KiB/min, Python heap %s%.1f KiB/min%s, limit "
            "%.1f KiB/min, over %.0f s and %llu samples\n",
            failed ? "FAILED" : "passed", rss, heap >= 0 ? "+" : "", heap,
            w->heap_known ? "" : " (unknown)", limit, cli->duration_s,
            (unsigned long long)w->samples_seen);
    if (failed) {
        watch_name_types(s);
        watch_tm_print_gate(&w->tm, s, stderr);
    }
    if (cli->json && !(cli->record_path && !strcmp(cli->record_path, "-"))) {
        struct json j;
        json_init(&j, stdout);
        json_object_begin(&j, NULL);
        json_object_begin(&j, "gate");
        json_bool(&j, "passed", !failed);
        json_double(&j, "limit_kib_per_min", limit);
        json_double(&j, "rss_kib_per_min", rss);
        if (w->heap_known)
            json_double(&j, "heap_kib_per_min", heap);
        else
            json_null(&j, "heap_kib_per_min");
        json_uint(&j, "samples", w->samples_seen);
        json_object_end(&j);
        session_json_types(&j, s, types_cap);
        if (w->tm.have_final)
            session_json_sites(&j, "sites", &s->sites_growth);
        json_object_end(&j);
        fputc('\n', stdout);
    }
    return failed ? EXIT_LEAK : EXIT_OK;
}

int headless_watch(struct session *s, const struct cli *cli, int tm_frames, size_t types_cap)
{
    struct watch w = {0};
    if (cli->record_path) {
        w.out = strcmp(cli->record_path, "-") ? fopen(cli->record_path, "we") : stdout;
        if (!w.out) {
            fprintf(stderr, "pymemtop: cannot write %s: %s\n", cli->record_path, strerror(errno));
            return EXIT_USAGE;
        }
        w.status_line = w.out != stdout && isatty(STDERR_FILENO);
    }
    struct sigaction sa = {.sa_handler = watch_on_signal}, old_int, old_term;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    roundtrip_first_sample(s); /* whose tracing is on, if any */
    s->force = cli->force;      /* tracemalloc growth reports over their bound */
    int rc = watch_tm_start(&w.tm, s, cli, tm_frames);
    if (rc != EXIT_OK) {
        if (w.out && w.out != stdout)
            fclose(w.out);
        return rc;
    }
    uint64_t end = cli->duration_s >= 0 ? session_now_ns() + (uint64_t)(cli->duration_s * 1e9) : 0;
    /* The first sample (read while waiting for it above) gets its line now:
     * left for after the first poll, it shared a line with the second when
     * that one came first, and a replay derived from one point fewer. */
    if (s->agent_samples != w.samples_seen)
        watch_on_samples(&w, s, types_cap);
    while (!watch_stop && s->state == SESSION_LIVE) {
        uint64_t now = session_now_ns();
        if (end && now >= end)
            break;
        watch_tm_tick(&w.tm, s, w.out, now);
        int timeout = session_tick(s, now);
        if (end && (end - now) / 1000000 < (uint64_t)timeout)
            timeout = (int)((end - now) / 1000000) + 1;
        struct pollfd pf = {.fd = session_fd(s), .events = POLLIN};
        if (poll(&pf, 1, timeout) > 0)
            session_on_readable(s);
        if (s->agent_samples != w.samples_seen)
            watch_on_samples(&w, s, types_cap);
    }
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    if (w.status_line)
        fputc('\n', stderr);
    watch_tm_finish(&w.tm, s, w.out);
    bool exited = s->state == SESSION_TARGET_EXITED;
    if (w.out) {
        if (exited)
            watch_simple_event(w.out, JK_EVENT_TARGET_EXITED, "the target exited; recording ends");
        if (w.out != stdout)
            fclose(w.out);
        else
            fflush(stdout);
    }
    if (s->state == SESSION_AGENT_LOST)
        fprintf(stderr, "pymemtop: %s\n", s->status);
    if (cli->max_growth_kib_per_min >= 0) {
        if (exited && end && session_now_ns() < end)
            fprintf(stderr, "pymemtop: the target exited before --duration ended; judging "
                            "what was seen\n");
        return watch_gate(&w, s, cli, types_cap);
    }
    return s->state == SESSION_AGENT_LOST ? EXIT_INTERNAL : EXIT_OK;
}

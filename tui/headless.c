/* --once and --command: attach, ask, print, detach. */
#include "headless.h"

#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "diagnose.h"
#include "json.h"
#include "session_json.h"

#define COMMAND_TIMEOUT_NS 300000000000ull /* a hunt on a huge heap takes long */

/* Reads agent data until done(s, arg) or the deadline or the agent goes. */
static void wait_for(struct session *s, uint64_t timeout_ns, bool (*done)(const struct session *,
                                                                         int64_t), int64_t arg)
{
    uint64_t end = session_now_ns() + timeout_ns;
    while (!done(s, arg) && s->state == SESSION_LIVE && session_now_ns() < end) {
        struct pollfd pf = {.fd = session_fd(s), .events = POLLIN};
        if (poll(&pf, 1, 100) > 0)
            session_on_readable(s);
    }
}

static bool have_sample(const struct session *s, int64_t unused)
{
    (void)unused;
    return s->agent_samples > 0;
}

static bool have_reply(const struct session *s, int64_t id)
{
    return !s->command_pending && s->last_reply.id == (uint64_t)id;
}

/* Sends a command and waits for its answer: 0, or the exit code. */
static int command_roundtrip(struct session *s, const char *name, int64_t arg)
{
    int64_t id = session_command(s, name, arg);
    if (id < 0)
        return EXIT_GONE;
    wait_for(s, COMMAND_TIMEOUT_NS, have_reply, id);
    if (!have_reply(s, id))
        return s->state == SESSION_TARGET_EXITED ? EXIT_GONE : EXIT_INTERNAL;
    return s->last_reply.status == 0 ? EXIT_OK : EXIT_COMMAND;
}

/* --once: the agent's first sample, a census, and a /proc sample. */
int headless_once(struct session *s, bool json, size_t types_cap)
{
    wait_for(s, 5000000000ull, have_sample, 0);
    if (s->agent_samples > 0)
        command_roundtrip(s, "census", 0);
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
    if (rc == EXIT_OK) {
        if (!strcmp(c->name, "collect"))
            json_int(&j, "collected", s->last_reply.value);
        else if (!strcmp(c->name, "census") || !strcmp(c->name, "snapshot"))
            session_json_types(&j, s, types_cap);
        else if (!strcmp(c->name, "hunt") && s->have_hunt)
            session_json_hunt_fields(&j, &s->hunt);
        if (!strcmp(c->name, "snapshot") && s->have_sites_top)
            session_json_sites(&j, "sites", &s->sites_top);
        if (!strcmp(c->name, "diff")) {
            json_string(&j, "against", c->arg ? "baseline" : "previous");
            if (s->have_diff)
                session_json_diff_types(&j, &s->diff, types_cap);
            if (s->have_sites_diff)
                session_json_sites(&j, "sites", &s->sites_diff);
        }
    }
    json_object_end(&j);
    fputc('\n', stdout);
}

/* --command ...: each in order, one JSON line (or message line) per command.
 * Stops at the first failure. */
int headless_commands(struct session *s, const struct cli *cli, int tm_frames, size_t types_cap)
{
    wait_for(s, 5000000000ull, have_sample, 0);
    for (int i = 0; i < cli->n_commands; i++) {
        const struct command *c = &cli->commands[i];
        int64_t arg = c->arg;
        if (!strcmp(c->name, "tracemalloc") && arg)
            arg = tm_frames;
        s->have_hunt = s->have_diff = s->have_sites_top = s->have_sites_diff = false;
        memset(&s->last_reply, 0, sizeof(s->last_reply));
        int rc = command_roundtrip(s, c->name, arg);
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
        printf("%7s  %-6s %10s  %-8s %s\n", "PID", "PYTHON", "RSS", "AGENT", "COMMAND");
    } else {
        fprintf(stderr, "pymemtop: no CPython process that this user can see%s\n",
                geteuid() ? " (other users' processes need sudo)" : "");
    }
    for (size_t i = 0; i < n; i++) {
        const struct diagnose_process *p = &procs[i];
        char ver[16];
        snprintf(ver, sizeof(ver), "%d.%d", p->py_major, p->py_minor);
        const char *state = p->status == TARGET_OK       ? (p->agent_loaded ? "loaded" : "-")
                            : p->status == TARGET_TRACED ? "traced"
                                                         : "too old";
        if (json) {
            json_object_begin(&j, NULL);
            json_int(&j, "pid", p->pid);
            json_string(&j, "python", ver);
            json_uint(&j, "rss_kib", p->rss_kib);
            json_bool(&j, "agent_loaded", p->agent_loaded);
            json_string(&j, "status", target_status_name(p->status));
            json_string(&j, "command", p->cmdline);
            json_object_end(&j);
        } else {
            printf("%7d  %-6s %7llu MiB  %-8s %.100s\n", (int)p->pid, ver,
                   (unsigned long long)(p->rss_kib / 1024), state, p->cmdline);
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

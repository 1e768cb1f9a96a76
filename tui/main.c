/* pymemtop: command line, settings, and the choice between the dashboard and
 * the headless modes. Machine output on stdout, messages on stderr. */
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "dashboard.h"
#include "json.h"
#include "session.h"
#include "session_json.h"

#define PYMEMTOP_VERSION "0.1.0"

/* Exit codes: documented in --help and README. */
enum {
    EXIT_OK = 0,
    EXIT_INTERNAL = 1,
    EXIT_USAGE = 2,
    EXIT_REFUSED = 3, /* attach refused: permissions, not CPython 3.8+, traced, busy */
    EXIT_GONE = 4,    /* no such process, or it exited */
    EXIT_TIMEOUT = 5, /* no safe point within the attach timeout */
    EXIT_COMMAND = 6, /* a --command was refused or failed */
};

#define MAX_COMMANDS 16
#define COMMAND_TIMEOUT_NS 300000000000ull /* a hunt on a huge heap takes long */

static size_t s_types_cap = 200; /* rows of "types" in JSON (config) */

struct command {
    const char *spec; /* as given: "collect=1" */
    char name[32];    /* protocol name */
    int64_t arg;
};

struct cli {
    int pid;
    bool once, json, ascii, no_color;
    const char *config_path;
    const char *agent_path;
    double interval_s, attach_timeout_s; /* <0: not given */
    unsigned max_frames;
    int tracemalloc_frames; /* <0: not given */
    struct command commands[MAX_COMMANDS];
    int n_commands;
};

static void usage(FILE *f)
{
    fprintf(f,
            "usage: pymemtop [options] PID\n"
            "Live memory and GC monitor for a running CPython 3.8+ process.\n"
            "\n"
            "  --once              take one sample (with a census), print it and exit\n"
            "  --json              with --once or --command: JSON on stdout (schema in README)\n"
            "  --command NAME[=ARG]  run a command in the target, print its result, exit;\n"
            "                      repeat to run several in one attach, in order:\n"
            "                      collect[=0|1|2]  census  snapshot  diff[=previous|baseline]\n"
            "                      tracemalloc=on|off  hunt  alloc_hook=on|off\n"
            "  --tracemalloc-frames N  frames per allocation for tracemalloc=on (default 1)\n"
            "  -i, --interval S    seconds between samples (0.1-60, default 1)\n"
            "  --attach-timeout S  wait this long for the target's safe point (default 5)\n"
            "  --config FILE       settings file (default: see README)\n"
            "  --ascii             ASCII graphs instead of UTF-8\n"
            "  --no-color          monochrome (NO_COLOR is respected too)\n"
            "  --agent PATH        agent shared object to load (default: next to the binary)\n"
            "  -h, --help          this help;  -V, --version  the version\n"
            "\n"
            "Keys in the dashboard: c collect (full)  ? help  q detach and quit\n"
            "\n"
            "Exit codes: 0 ok, 1 internal error, 2 usage error, 3 attach refused\n"
            "(permissions, not CPython 3.8+, already traced or watched), 4 target gone,\n"
            "5 target reached no safe point in time, 6 a --command failed.\n");
}

static int parse_seconds(const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double d = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(d) || d < lo || d > hi)
        return -1;
    *out = d;
    return 0;
}

static int parse_pid(const char *s, int *pid)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v <= 0 || v > INT_MAX)
        return -1;
    *pid = (int)v;
    return 0;
}

/* NAME[=ARG] into a protocol command; -1 with a message when unknown. */
static int parse_command(const char *spec, struct command *c)
{
    char name[32];
    const char *eq = strchr(spec, '=');
    const char *arg = eq ? eq + 1 : NULL;
    size_t n = eq ? (size_t)(eq - spec) : strlen(spec);
    if (n >= sizeof(name))
        n = sizeof(name) - 1;
    memcpy(name, spec, n);
    name[n] = 0;
    c->spec = spec;
    snprintf(c->name, sizeof(c->name), "%s", name);
    c->arg = 0;
    int on = arg && (!strcmp(arg, "on") || !strcmp(arg, "1"));
    int off = arg && (!strcmp(arg, "off") || !strcmp(arg, "0"));
    if (!strcmp(name, "collect")) {
        if (arg && (strlen(arg) != 1 || arg[0] < '0' || arg[0] > '2'))
            goto bad_arg;
        c->arg = arg ? arg[0] - '0' : 2;
    } else if (!strcmp(name, "census") || !strcmp(name, "snapshot") || !strcmp(name, "hunt")) {
        if (arg)
            goto bad_arg;
    } else if (!strcmp(name, "diff")) {
        if (arg && strcmp(arg, "previous") && strcmp(arg, "baseline"))
            goto bad_arg;
        c->arg = arg && !strcmp(arg, "baseline");
    } else if (!strcmp(name, "tracemalloc") || !strcmp(name, "alloc_hook")) {
        if (!on && !off)
            goto bad_arg;
        c->arg = on;
    } else {
        fprintf(stderr,
                "pymemtop: unknown command '%s'; commands: collect[=0|1|2] census snapshot "
                "diff[=previous|baseline] tracemalloc=on|off hunt alloc_hook=on|off\n",
                name);
        return -1;
    }
    return 0;
bad_arg:
    fprintf(stderr, "pymemtop: --command %s: bad argument; see pymemtop --help\n", spec);
    return -1;
}

static int cli_parse(int argc, char **argv, struct cli *c)
{
    enum { O_ONCE = 256, O_JSON, O_TIMEOUT, O_CONFIG, O_ASCII, O_NOCOLOR, O_AGENT, O_FRAMES,
           O_COMMAND, O_TMFRAMES };
    static const struct option opts[] = {
        {"once", no_argument, NULL, O_ONCE},
        {"json", no_argument, NULL, O_JSON},
        {"interval", required_argument, NULL, 'i'},
        {"attach-timeout", required_argument, NULL, O_TIMEOUT},
        {"config", required_argument, NULL, O_CONFIG},
        {"ascii", no_argument, NULL, O_ASCII},
        {"no-color", no_argument, NULL, O_NOCOLOR},
        {"agent", required_argument, NULL, O_AGENT},
        {"max-frames", required_argument, NULL, O_FRAMES}, /* tests and sanitizer runs */
        {"command", required_argument, NULL, O_COMMAND},
        {"tracemalloc-frames", required_argument, NULL, O_TMFRAMES},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    memset(c, 0, sizeof(*c));
    c->interval_s = c->attach_timeout_s = -1;
    c->tracemalloc_frames = -1;
    int o;
    while ((o = getopt_long(argc, argv, "i:hV", opts, NULL)) != -1) {
        switch (o) {
        case O_ONCE: c->once = true; break;
        case O_JSON: c->json = true; break;
        case O_ASCII: c->ascii = true; break;
        case O_NOCOLOR: c->no_color = true; break;
        case O_CONFIG: c->config_path = optarg; break;
        case O_AGENT: c->agent_path = optarg; break;
        case O_FRAMES: c->max_frames = (unsigned)strtoul(optarg, NULL, 10); break;
        case O_COMMAND:
            if (c->n_commands == MAX_COMMANDS) {
                fprintf(stderr, "pymemtop: at most %d --command options\n", MAX_COMMANDS);
                return -1;
            }
            if (parse_command(optarg, &c->commands[c->n_commands++]) < 0)
                return -1;
            break;
        case O_TMFRAMES: {
            double d;
            if (parse_seconds(optarg, 1, 100, &d) < 0 || d != (int)d) {
                fprintf(stderr, "pymemtop: --tracemalloc-frames '%s': give 1 to 100\n", optarg);
                return -1;
            }
            c->tracemalloc_frames = (int)d;
            break;
        }
        case 'i':
            if (parse_seconds(optarg, 0.1, 60, &c->interval_s) < 0) {
                fprintf(stderr, "pymemtop: --interval '%s': give seconds from 0.1 to 60\n", optarg);
                return -1;
            }
            break;
        case O_TIMEOUT:
            if (parse_seconds(optarg, 0.1, 600, &c->attach_timeout_s) < 0) {
                fprintf(stderr, "pymemtop: --attach-timeout '%s': give seconds from 0.1 to 600\n",
                        optarg);
                return -1;
            }
            break;
        case 'h': usage(stdout); exit(EXIT_OK);
        case 'V': printf("pymemtop %s\n", PYMEMTOP_VERSION); exit(EXIT_OK);
        default:
            fprintf(stderr, "Try 'pymemtop --help'.\n");
            return -1;
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "pymemtop: %s\nusage: pymemtop [options] PID   (pymemtop --help for more)\n",
                optind >= argc ? "which process? give its PID" : "give exactly one PID");
        return -1;
    }
    if (parse_pid(argv[optind], &c->pid) < 0) {
        fprintf(stderr, "pymemtop: '%s' is not a PID (a positive number, see 'pgrep python')\n",
                argv[optind]);
        return -1;
    }
    if (c->json && !c->once && !c->n_commands) {
        fprintf(stderr, "pymemtop: --json needs --once or --command\n");
        return -1;
    }
    if (c->once && c->n_commands) {
        fprintf(stderr, "pymemtop: --once and --command do not go together\n");
        return -1;
    }
    return 0;
}

/* The agent sits next to the binary (build tree) or in ../lib/pymemtop. */
static int find_agent(const char *given, char *out, size_t cap)
{
    if (given) {
        if (!realpath(given, out)) {
            fprintf(stderr, "pymemtop: agent %s: %s\n", given, strerror(errno));
            return -1;
        }
        return 0;
    }
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n <= 0)
        return -1;
    exe[n] = 0;
    const char *dir = dirname(exe);
    const char *rel[] = {"pymemtop_agent.so", "../lib/pymemtop/pymemtop_agent.so"};
    for (size_t i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
        char p[PATH_MAX + 64];
        snprintf(p, sizeof(p), "%s/%s", dir, rel[i]);
        if (access(p, R_OK) == 0 && realpath(p, out) && strlen(out) < cap)
            return 0;
    }
    fprintf(stderr, "pymemtop: cannot find pymemtop_agent.so next to %s or in %s/../lib/pymemtop; "
                    "run 'make' or 'make install'\n", exe, dir);
    return -1;
}

static int exit_code_for(enum target_status st)
{
    switch (st) {
    case TARGET_OK: return EXIT_OK;
    case TARGET_NO_PROCESS:
    case TARGET_GONE: return EXIT_GONE;
    case TARGET_NO_SAFE_POINT:
    case TARGET_TIMEOUT: return EXIT_TIMEOUT;
    case TARGET_AGENT_ERROR:
    case TARGET_INJECT_FAILED: return EXIT_INTERNAL;
    default: return EXIT_REFUSED;
    }
}

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
static int run_once(struct session *s, bool json)
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
        session_json_write(s, stdout, s_types_cap);
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

static void print_command_json(const struct session *s, const struct command *c, int rc)
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
            session_json_types(&j, s, s_types_cap);
        else if (!strcmp(c->name, "hunt") && s->have_hunt)
            session_json_hunt_fields(&j, &s->hunt);
        if (!strcmp(c->name, "snapshot") && s->have_sites_top)
            session_json_sites(&j, "sites", &s->sites_top);
        if (!strcmp(c->name, "diff")) {
            json_string(&j, "against", c->arg ? "baseline" : "previous");
            if (s->have_diff)
                session_json_diff_types(&j, &s->diff, s_types_cap);
            if (s->have_sites_diff)
                session_json_sites(&j, "sites", &s->sites_diff);
        }
    }
    json_object_end(&j);
    fputc('\n', stdout);
}

/* --command ...: each in order, one JSON line (or message line) per command.
 * Stops at the first failure. */
static int run_commands(struct session *s, const struct cli *cli, int tm_frames)
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
            print_command_json(s, c, rc);
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

int main(int argc, char **argv)
{
    struct cli cli;
    if (cli_parse(argc, argv, &cli) < 0)
        return EXIT_USAGE;
    signal(SIGPIPE, SIG_IGN);

    struct config cfg;
    char err[512], warn[1024];
    config_defaults(&cfg);
    if (config_load(&cfg, cli.config_path, err, sizeof(err), warn, sizeof(warn)) < 0) {
        fprintf(stderr, "pymemtop: %s\n", err);
        return EXIT_USAGE;
    }
    if (warn[0])
        fprintf(stderr, "pymemtop: warning: %s\n", warn);
    if (cli.interval_s > 0)
        cfg.interval_ms = (unsigned)lround(cli.interval_s * 1000);
    if (cli.attach_timeout_s > 0)
        cfg.attach_timeout_ms = (unsigned)lround(cli.attach_timeout_s * 1000);

    char agent_path[PATH_MAX];
    if (find_agent(cli.agent_path, agent_path, sizeof(agent_path)) < 0)
        return EXIT_INTERNAL;

    struct session_opts so = {
        .agent_path = agent_path,
        .interval_ms = cfg.interval_ms,
        .attach_timeout_ms = cfg.attach_timeout_ms,
        .history = cfg.history,
        .suspect_window = cfg.suspect_window,
    };
    s_types_cap = cfg.json_types;
    static struct session s; /* large: keep it off the stack */
    char msg[1024];
    enum target_status st = session_open(&s, cli.pid, &so, msg, sizeof(msg));
    if (st != TARGET_OK) {
        if (cli.json)
            session_json_error(stdout, cli.pid, target_status_name(st), msg);
        fprintf(stderr, "pymemtop: %s\n", msg);
        session_close(&s);
        return exit_code_for(st);
    }
    int rc;
    if (cli.once) {
        rc = run_once(&s, cli.json);
    } else if (cli.n_commands) {
        rc = run_commands(&s, &cli,
                          cli.tracemalloc_frames > 0 ? cli.tracemalloc_frames
                                                     : (int)cfg.tracemalloc_frames);
    } else {
        struct dashboard_opts dopt = {
            .ascii = cli.ascii || cfg.ascii,
            .no_color = cli.no_color || !cfg.color,
            .max_frames = cli.max_frames,
            .tracemalloc_frames = cli.tracemalloc_frames > 0 ? (unsigned)cli.tracemalloc_frames
                                                             : cfg.tracemalloc_frames,
        };
        rc = dashboard_run(&s, &dopt) < 0 ? EXIT_INTERNAL : EXIT_OK;
    }
    session_close(&s);
    return rc;
}

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
};

struct cli {
    int pid;
    bool once, json, ascii, no_color;
    const char *config_path;
    const char *agent_path;
    double interval_s, attach_timeout_s; /* <0: not given */
    unsigned max_frames;
};

static void usage(FILE *f)
{
    fprintf(f,
            "usage: pymemtop [options] PID\n"
            "Live memory and GC monitor for a running CPython 3.8+ process.\n"
            "\n"
            "  --once              take one sample, print it and exit\n"
            "  --json              with --once: print the sample as JSON (schema in README)\n"
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
            "5 target reached no safe point in time.\n");
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

static int cli_parse(int argc, char **argv, struct cli *c)
{
    enum { O_ONCE = 256, O_JSON, O_TIMEOUT, O_CONFIG, O_ASCII, O_NOCOLOR, O_AGENT, O_FRAMES };
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
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    memset(c, 0, sizeof(*c));
    c->interval_s = c->attach_timeout_s = -1;
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
    if (c->json && !c->once) {
        fprintf(stderr, "pymemtop: --json needs --once\n");
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

/* --once: wait until the agent's first sample and a /proc sample are in. */
static int run_once(struct session *s, bool json)
{
    uint64_t end = session_now_ns() + 5000000000ull;
    while (s->agent_samples == 0 && s->state == SESSION_LIVE && session_now_ns() < end) {
        struct pollfd pf = {.fd = session_fd(s), .events = POLLIN};
        if (poll(&pf, 1, 100) > 0)
            session_on_readable(s);
    }
    session_tick(s, session_now_ns());
    if (s->agent_samples == 0) {
        fprintf(stderr, "pymemtop: PID %d: the agent sent no sample (%s)\n", s->target.pid,
                s->state == SESSION_TARGET_EXITED ? "target exited" : "agent lost");
        return s->state == SESSION_TARGET_EXITED ? EXIT_GONE : EXIT_INTERNAL;
    }
    if (json) {
        session_json_write(s, stdout);
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
    };
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
    } else {
        struct dashboard_opts dopt = {
            .ascii = cli.ascii || cfg.ascii,
            .no_color = cli.no_color || !cfg.color,
            .max_frames = cli.max_frames,
        };
        rc = dashboard_run(&s, &dopt) < 0 ? EXIT_INTERNAL : EXIT_OK;
    }
    session_close(&s);
    return rc;
}

/* Command-line parsing: every option checked, every error one line that
 * says what to do. */
#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"

/* The dashboard keys of a command as the help overlay labels them. */
static void key_labels(const struct command_def *d, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = 0;
    for (int k = 0; k < COMMAND_KEYS_MAX && used < len; k++)
        if (d->keys[k].label)
            used += (size_t)snprintf(buf + used, len - used, "%s%s", used ? ", " : "",
                                     d->keys[k].label);
}

/* --list-commands (for tests and scripts): one tab-separated line per
 * --command: name, argument, dashboard keys, answer keys. */
static void list_commands(void)
{
    for (int i = 0; i < CMD_COUNT; i++) {
        const struct command_def *d = &commands[i];
        char keys[64];
        if (!d->cli)
            continue;
        key_labels(d, keys, sizeof(keys));
        printf("%s\t%s\t%s\t%s\n", d->name, d->syntax, keys, d->answers);
    }
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: pymemtop [options] PID\n"
            "       pymemtop [options] -- COMMAND [ARGS...]   (run a Python program under pymemtop)\n"
            "Live memory and GC monitor for a running CPython 3.8+ process.\n"
            "\n"
            "  --once              take one sample (with a census), print it and exit\n"
            "  --json              with --once or --command: JSON on stdout (schema in README)\n"
            "  --command NAME[=ARG]  run a command in the target, print its result, exit;\n"
            "                      repeat to run several in one attach, in order (below)\n"
            "  --force             run hunt, collect=2 and big tracemalloc snapshots even when\n"
            "                      their predicted pause is over [agent] confirm_pause_ms\n"
            "                      (else they fail, exit 6)\n"
            "  --tracemalloc-frames N  frames per allocation for tracemalloc=on (default 1)\n"
            "  --record FILE       write every sample as a JSON line (same schema as --once --json)\n"
            "                      plus event lines, until --duration, target exit or Ctrl-C\n"
            "  --duration S        how long to record or gate (seconds)\n"
            "  --tracemalloc[=SECONDS]  with --record/--max-growth: tracemalloc on for the run\n"
            "                      (SECONDS: a lease from now that outlives pymemtop); growth per\n"
            "                      line every minute and at the end; the leak gate names lines\n"
            "  --max-growth RATE   leak gate: RATE like 10MiB/min or 500KiB/min; with --duration,\n"
            "                      exit 7 if RSS or the Python heap grew faster, and say what grew\n"
            "  --replay FILE       the dashboard over a --record file: <-/-> step, [ ] jump,\n"
            "                      { } first/last, . play; commands need a live target\n"
            "  --serve [ADDR:]PORT PID... | --all\n"
            "                      Prometheus exporter: GET /metrics for these targets,\n"
            "                      or with --all every CPython process of this user\n"
            "                      (address 127.0.0.1 unless given; README \"Fleet\")\n"
            "  --check PID         diagnose without attaching: exit 0 only if an attach would work\n"
            "  --list              the CPython processes this user can see (PID, version, RSS)\n"
            "  -i, --interval S    seconds between samples (0.1-60, default 1)\n"
            "  --attach-timeout S  wait this long for the target's safe point (default 5)\n"
            "  --config FILE       settings file (default: see README)\n"
            "  --ascii             ASCII graphs instead of UTF-8\n"
            "  --no-color          monochrome (NO_COLOR is respected too)\n"
            "  --agent PATH        agent shared object to load (default: next to the binary)\n"
            "  -h, --help          this help;  -V, --version  the version\n"
            "\n"
            "Commands (--command NAME[=ARG]; dashboard key in brackets):\n");
    for (int i = 0; i < CMD_COUNT; i++) {
        const struct command_def *d = &commands[i];
        char name[48], keys[64];
        if (!d->cli)
            continue;
        snprintf(name, sizeof(name), "%s%s", d->name, d->syntax);
        key_labels(d, keys, sizeof(keys));
        fprintf(f, "  %-26s %s%s%s%s\n", name, d->help, keys[0] ? " [" : "", keys,
                keys[0] ? "]" : "");
    }
    fprintf(f,
            "\n"
            "Keys in the dashboard: ? lists them all;  q detach and quit\n"
            "\n"
            "Exit codes: 0 ok, 1 internal error, 2 usage error, 3 attach refused\n"
            "(permissions, not CPython 3.8+, already traced or watched), 4 target gone,\n"
            "5 target reached no safe point in time, 6 a --command failed, 7 leak gate failed.\n");
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

/* "10MiB/min", "500KiB/min", "1.5GiB/min" (the "/min" may be left out). */
static int parse_rate(const char *s, double *kib_per_min)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || !isfinite(v) || v < 0)
        return -1;
    double mult;
    if (!strncmp(end, "KiB", 3))
        mult = 1;
    else if (!strncmp(end, "MiB", 3))
        mult = 1024;
    else if (!strncmp(end, "GiB", 3))
        mult = 1024 * 1024;
    else
        return -1;
    end += 3;
    if (*end && strcmp(end, "/min"))
        return -1;
    *kib_per_min = v * mult;
    return 0;
}

/* [ADDR:]PORT, [IPV6]:PORT or PORT into host (maybe "") and port. */
static int parse_serve(const char *spec, struct cli *c)
{
    const char *port = spec;
    size_t hl = 0;
    const char *host = spec;
    if (spec[0] == '[') {
        const char *close = strchr(spec, ']');
        if (!close || close[1] != ':')
            return -1;
        host = spec + 1;
        hl = (size_t)(close - host);
        port = close + 2;
    } else if (strrchr(spec, ':')) {
        hl = (size_t)(strrchr(spec, ':') - spec);
        port = spec + hl + 1;
    }
    if ((port != spec && !hl) || hl >= sizeof(c->serve_host))
        return -1;
    char *end;
    errno = 0;
    long v = strtol(port, &end, 10);
    if (errno || end == port || *end || v < 0 || v > 65535 || !isdigit((unsigned char)port[0]))
        return -1;
    memcpy(c->serve_host, host, hl);
    c->serve_host[hl] = 0;
    snprintf(c->serve_port, sizeof(c->serve_port), "%ld", v);
    return 0;
}

/* --serve: PIDs, or --all. */
static int check_serve(int argc, char **argv, int first, struct cli *c)
{
    if (c->once || c->n_commands || c->check || c->list || c->record_path || c->replay_path ||
        c->run_argv || c->max_growth_kib_per_min >= 0 || c->json) {
        fprintf(stderr, "pymemtop: --serve is a mode of its own: give it PIDs or --all only\n");
        return -1;
    }
    if (c->serve_all == (first < argc)) {
        fprintf(stderr, "pymemtop: --serve %s: give the PIDs to serve, or --all (not both)\n",
                c->serve);
        return -1;
    }
    for (int i = first; i < argc; i++) {
        if (c->n_serve_pids == MAX_SERVE_PIDS) {
            fprintf(stderr, "pymemtop: --serve takes at most %d PIDs (or --all)\n",
                    MAX_SERVE_PIDS);
            return -1;
        }
        if (parse_pid(argv[i], &c->serve_pids[c->n_serve_pids++]) < 0) {
            fprintf(stderr, "pymemtop: '%s' is not a PID (a positive number, see 'pgrep python')\n",
                    argv[i]);
            return -1;
        }
    }
    return 0;
}

/* NAME[=ARG] into a protocol command (lib/commands.c); -1 with a message. */
static int parse_command(const char *spec, struct command *c)
{
    char err[512];
    memset(c, 0, sizeof(*c));
    c->spec = spec;
    if (commands_parse(spec, &c->def, &c->arg, &c->lease_s, c->text, sizeof(c->text), err,
                       sizeof(err)) < 0) {
        fprintf(stderr, "pymemtop: %s\n", err);
        return -1;
    }
    snprintf(c->name, sizeof(c->name), "%s", c->def->name);
    return 0;
}

int cli_parse(int argc, char **argv, struct cli *c)
{
    /* Everything after "--" is the program to run, untouched by getopt. */
    int opt_argc = argc;
    char **run_argv = NULL;
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--")) {
            opt_argc = i;
            run_argv = &argv[i + 1];
            break;
        }
    enum { O_ONCE = 256, O_JSON, O_TIMEOUT, O_CONFIG, O_ASCII, O_NOCOLOR, O_AGENT, O_FRAMES, O_FRAME_STATS,
           O_COMMAND, O_TMFRAMES, O_CHECK, O_LIST, O_RECORD, O_DURATION, O_MAXGROWTH,
           O_REPLAY, O_LIST_COMMANDS, O_FORCE, O_TRACEMALLOC, O_SERVE, O_ALL };
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
        {"frame-stats", required_argument, NULL, O_FRAME_STATS}, /* bench/dashboard.py */
        {"command", required_argument, NULL, O_COMMAND},
        {"tracemalloc-frames", required_argument, NULL, O_TMFRAMES},
        {"check", no_argument, NULL, O_CHECK},
        {"record", required_argument, NULL, O_RECORD},
        {"replay", required_argument, NULL, O_REPLAY},
        {"duration", required_argument, NULL, O_DURATION},
        {"max-growth", required_argument, NULL, O_MAXGROWTH},
        {"list", no_argument, NULL, O_LIST},
        {"list-commands", no_argument, NULL, O_LIST_COMMANDS}, /* tests: README's table */
        {"force", no_argument, NULL, O_FORCE},
        {"tracemalloc", optional_argument, NULL, O_TRACEMALLOC},
        {"serve", required_argument, NULL, O_SERVE},
        {"all", no_argument, NULL, O_ALL},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    memset(c, 0, sizeof(*c));
    c->interval_s = c->attach_timeout_s = -1;
    c->tracemalloc_frames = -1;
    c->tracemalloc_lease_s = -1;
    c->duration_s = c->max_growth_kib_per_min = -1;
    int o;
    c->run_argv = run_argv;
    while ((o = getopt_long(opt_argc, argv, "i:hV", opts, NULL)) != -1) {
        switch (o) {
        case O_ONCE: c->once = true; break;
        case O_JSON: c->json = true; break;
        case O_FORCE: c->force = true; break;
        case O_ASCII: c->ascii = true; break;
        case O_NOCOLOR: c->no_color = true; break;
        case O_CONFIG: c->config_path = optarg; break;
        case O_AGENT: c->agent_path = optarg; break;
        case O_FRAMES: c->max_frames = (unsigned)strtoul(optarg, NULL, 10); break;
        case O_FRAME_STATS: c->frame_stats = optarg; break;
        case O_CHECK: c->check = true; break;
        case O_RECORD: c->record_path = optarg; break;
        case O_REPLAY: c->replay_path = optarg; break;
        case O_DURATION:
            if (parse_seconds(optarg, 0.1, 1e7, &c->duration_s) < 0) {
                fprintf(stderr, "pymemtop: --duration '%s': give seconds (0.1 or more)\n", optarg);
                return -1;
            }
            break;
        case O_MAXGROWTH:
            if (parse_rate(optarg, &c->max_growth_kib_per_min) < 0) {
                fprintf(stderr, "pymemtop: --max-growth '%s': give a rate like 10MiB/min or "
                                "500KiB/min\n", optarg);
                return -1;
            }
            break;
        case O_LIST: c->list = true; break;
        case O_ALL: c->serve_all = true; break;
        case O_SERVE:
            c->serve = optarg;
            if (parse_serve(optarg, c) < 0) {
                fprintf(stderr, "pymemtop: --serve '%s': give [ADDR:]PORT, a port from 0 to "
                                "65535 (e.g. 9464 or 0.0.0.0:9464 or [::1]:9464)\n", optarg);
                return -1;
            }
            break;
        case O_COMMAND:
            if (c->n_commands == MAX_COMMANDS) {
                fprintf(stderr, "pymemtop: at most %d --command options\n", MAX_COMMANDS);
                return -1;
            }
            if (parse_command(optarg, &c->commands[c->n_commands++]) < 0)
                return -1;
            break;
        case O_TRACEMALLOC: {
            char err[256];
            c->tracemalloc_lease_s = 0;
            if (optarg && commands_parse_lease(optarg, &c->tracemalloc_lease_s, err,
                                               sizeof(err)) < 0) {
                fprintf(stderr, "pymemtop: --tracemalloc=%s: %s\n", optarg, err);
                return -1;
            }
            break;
        }
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
        case O_LIST_COMMANDS: list_commands(); exit(EXIT_OK);
        case 'V': printf("pymemtop %s\n", PYMEMTOP_VERSION); exit(EXIT_OK);
        default:
            fprintf(stderr, "Try 'pymemtop --help'.\n");
            return -1;
        }
    }
    if (c->serve)
        return check_serve(opt_argc, argv, optind, c);
    if (c->serve_all) {
        fprintf(stderr, "pymemtop: --all goes with --serve [ADDR:]PORT\n");
        return -1;
    }
    if (c->replay_path) {
        if (optind != opt_argc || c->run_argv || c->once || c->n_commands || c->check ||
            c->list || c->record_path || c->max_growth_kib_per_min >= 0) {
            fprintf(stderr, "pymemtop: --replay FILE takes no PID and no other mode\n");
            return -1;
        }
        return 0;
    }
    if (c->run_argv) {
        if (!c->run_argv[0]) {
            fprintf(stderr, "pymemtop: nothing to run after '--'\n");
            return -1;
        }
        if (optind != opt_argc || c->once || c->n_commands || c->check || c->list) {
            fprintf(stderr, "pymemtop: with '-- COMMAND' give no PID, --once, --command, "
                            "--check or --list\n");
            return -1;
        }
        if (c->tracemalloc_lease_s >= 0 && !c->record_path && c->max_growth_kib_per_min < 0) {
            fprintf(stderr, "pymemtop: --tracemalloc goes with --record or --max-growth\n");
            return -1;
        }
        if (c->record_path && !strcmp(c->record_path, "-")) {
            fprintf(stderr, "pymemtop: --record - would mix with the program's output: "
                            "give a file\n");
            return -1;
        }
        return 0; /* --max-growth without --duration judges the whole run */
    }
    if (c->list) {
        if (optind != opt_argc) {
            fprintf(stderr, "pymemtop: --list takes no PID\n");
            return -1;
        }
        return 0;
    }
    if (optind != opt_argc - 1) {
        fprintf(stderr, "pymemtop: %s\nusage: pymemtop [options] PID   (pymemtop --help for more)\n",
                optind >= opt_argc ? "which process? give its PID" : "give exactly one PID");
        return -1;
    }
    if (parse_pid(argv[optind], &c->pid) < 0) {
        fprintf(stderr, "pymemtop: '%s' is not a PID (a positive number, see 'pgrep python')\n",
                argv[optind]);
        return -1;
    }
    if (c->json && !c->once && !c->n_commands && !c->check && !c->record_path &&
        c->max_growth_kib_per_min < 0) {
        fprintf(stderr, "pymemtop: --json needs --once, --command, --check or --list\n");
        return -1;
    }
    bool watch = c->record_path || c->max_growth_kib_per_min >= 0;
    if ((c->once != 0) + (c->n_commands != 0) + (c->check != 0) + watch > 1) {
        fprintf(stderr, "pymemtop: choose one of --once, --command, --check, --record/--max-growth\n");
        return -1;
    }
    if (c->max_growth_kib_per_min >= 0 && c->duration_s < 0) {
        fprintf(stderr, "pymemtop: --max-growth needs --duration S (how long to watch)\n");
        return -1;
    }
    if (c->tracemalloc_lease_s >= 0 && !watch) {
        fprintf(stderr, "pymemtop: --tracemalloc goes with --record or --max-growth (elsewhere: "
                        "--command tracemalloc=on[:SECONDS])\n");
        return -1;
    }
    if (c->duration_s >= 0 && !watch) {
        fprintf(stderr, "pymemtop: --duration goes with --record or --max-growth\n");
        return -1;
    }
    return 0;
}


/* pymemtop: settings, then the dashboard or a headless mode. */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "config.h"
#include "dashboard.h"
#include "headless.h"
#include "launch.h"
#include "replay.h"
#include "agent_link.h"
#include "session.h"
#include "serve.h"
#include "session_json.h"

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
    case TARGET_STARTING:
    case TARGET_TIMEOUT: return EXIT_TIMEOUT;
    case TARGET_AGENT_ERROR:
    case TARGET_INJECT_FAILED: return EXIT_INTERNAL;
    default: return EXIT_REFUSED;
    }
}

/* Frames per allocation when pymemtop turns tracemalloc on. */
static int tm_frames_for(const struct cli *cli, const struct config *cfg)
{
    return cli->tracemalloc_frames > 0 ? cli->tracemalloc_frames : (int)cfg->tracemalloc_frames;
}

/* Settings and options as the dashboard takes them. */
static struct dashboard_opts dashboard_opts_from(const struct cli *cli, const struct config *cfg)
{
    return (struct dashboard_opts){
        .ascii = cli->ascii || cfg->ascii,
        .no_color = cli->no_color || !cfg->color,
        .max_frames = cli->max_frames,
        .tracemalloc_frames = cli->tracemalloc_frames > 0 ? (unsigned)cli->tracemalloc_frames
                                                          : cfg->tracemalloc_frames,
        .tracemalloc_lease_s = cfg->tracemalloc_lease_s,
        .default_view = cfg->default_view,
        .colors = cfg->colors,
        .pause_alert_ms = cfg->pause_alert_ms,
        .growth_alert_mib_per_min = cfg->growth_alert_mib_per_min,
        .history = cfg->history,
        .json_types = cfg->json_types,
        .frame_stats = cli->frame_stats,
    };
}

/* Run mode: the program's agent starts at interpreter start-up and listens
 * on its abstract socket (probes/agent_link.h); wait for it, or for the
 * program to end. */
static int wait_run_agent(struct launch *l, unsigned timeout_ms)
{
    struct target_info t = {.pid = l->pid};
    struct agent_addr a;
    uint64_t end = session_now_ns() + (uint64_t)timeout_ms * 1000000u;
    while (agent_link_find(&t, &a) != 0) {
        if (launch_exited(l))
            return -1;
        if (session_now_ns() >= end)
            return -2;
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
    return 0;
}

static int run_program(const struct cli *cli, const struct config *cfg, const char *agent_path,
                       const struct session_opts *so, bool dashboard)
{
    struct launch l;
    char msg[1024];
    const char *tmp = getenv("TMPDIR");
    const char *log_dir = !dashboard ? NULL : tmp && *tmp ? tmp : "/tmp";
    if (launch_start(&l, cli->run_argv, agent_path, log_dir, msg, sizeof(msg)) < 0) {
        fprintf(stderr, "pymemtop: %s\n", msg);
        launch_cleanup(&l);
        return EXIT_INTERNAL;
    }
    if (!dashboard)
        signal(SIGINT, SIG_IGN); /* Ctrl-C is the program's to handle; we follow it to its end */
    int w = wait_run_agent(&l, cfg->attach_timeout_ms > 10000 ? cfg->attach_timeout_ms : 10000);
    launch_cleanup(&l); /* started (or not): the bootstrap file is not needed any more */
    if (w == -1) {
        int code = launch_exit_code(&l);
        fprintf(stderr, "pymemtop: %s exited (code %d) before pymemtop could attach%s%s\n",
                cli->run_argv[0], code, l.log_path[0] ? "; its output: " : "", l.log_path);
        return code;
    }
    static struct session s;
    enum target_status st = w == 0 ? session_open(&s, l.pid, so, msg, sizeof(msg)) : TARGET_TIMEOUT;
    if (st != TARGET_OK) {
        fprintf(stderr, "pymemtop: %s did not start a CPython 3.8+ agent (%s); waiting for it to "
                        "end\n", cli->run_argv[0], w == 0 ? msg : "no agent socket appeared");
        session_close(&s);
        return launch_wait(&l);
    }
    int rc = EXIT_OK;
    if (dashboard) {
        struct dashboard_opts dopt = dashboard_opts_from(cli, cfg);
        if (dashboard_run(&s, &dopt) < 0)
            rc = EXIT_INTERNAL;
    } else {
        rc = headless_watch(&s, cli, tm_frames_for(cli, cfg), cfg->json_types);
    }
    bool left_running = s.state == SESSION_LIVE;
    session_close(&s);
    if (left_running && !launch_exited(&l))
        fprintf(stderr, "pymemtop: detached; waiting for %s (PID %d) to exit\n", cli->run_argv[0],
                (int)l.pid);
    int code = launch_wait(&l);
    if (l.log_path[0])
        fprintf(stderr, "pymemtop: the program's output is in %s\n", l.log_path);
    return rc == EXIT_LEAK || rc == EXIT_INTERNAL ? rc : code;
}

/* --replay: the dashboard over a recording, opened at its last sample. */
static int run_replay(const struct cli *cli, const struct config *cfg)
{
    static struct replay r;
    static struct session s;
    char msg[512];
    if (replay_open(&r, cli->replay_path, msg, sizeof(msg)) < 0) {
        fprintf(stderr, "pymemtop: %s\n", msg);
        return EXIT_USAGE;
    }
    if (replay_session_init(&s, cfg->history) < 0 || replay_apply(&r, &s, r.n - 1) < 0) {
        fprintf(stderr, "pymemtop: %s: cannot read its last sample\n", cli->replay_path);
        replay_close(&r);
        return EXIT_INTERNAL;
    }
    struct dashboard_opts o = dashboard_opts_from(cli, cfg);
    o.replay = &r;
    int rc = dashboard_run(&s, &o) < 0 ? EXIT_INTERNAL : EXIT_OK;
    session_close(&s);
    replay_close(&r);
    return rc;
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

    if (cli.list)
        return headless_list(cli.json);
    if (cli.replay_path)
        return run_replay(&cli, &cfg);
    char agent_path[PATH_MAX];
    bool have_agent = find_agent(cli.agent_path, agent_path, sizeof(agent_path)) == 0;
    if (cli.check)
        return headless_check(cli.pid, have_agent ? agent_path : NULL, cli.json);
    if (!have_agent)
        return EXIT_INTERNAL;

    struct session_opts so = {
        .agent_path = agent_path,
        .interval_ms = cfg.interval_ms,
        .attach_timeout_ms = cfg.attach_timeout_ms,
        .history = cfg.history,
        .suspect_window = cfg.suspect_window,
        .census_interval_ms = cfg.census_interval_ms,
        .census_budget_pct = cfg.census_budget_pct,
        .cycle_capture_off = !cfg.cycle_capture,
        .cycle_capture_pct = cfg.cycle_capture_pct,
        .pause_alert_ms = cfg.pause_alert_ms,
        .growth_alert_mib_per_min = cfg.growth_alert_mib_per_min,
        .max_pause_ms = cfg.max_pause_ms,
        .confirm_pause_ms = cfg.confirm_pause_ms,
    };
    if (cli.serve)
        return serve_run(&cli, &cfg, &so);
    if (cli.run_argv)
        return run_program(&cli, &cfg, agent_path, &so,
                           !cli.record_path && cli.max_growth_kib_per_min < 0);
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
        rc = headless_once(&s, cli.json, cfg.json_types);
    } else if (cli.record_path || cli.max_growth_kib_per_min >= 0) {
        rc = headless_watch(&s, &cli, tm_frames_for(&cli, &cfg), cfg.json_types);
    } else if (cli.n_commands) {
        rc = headless_commands(&s, &cli, tm_frames_for(&cli, &cfg), cfg.json_types);
    } else {
        struct dashboard_opts dopt = dashboard_opts_from(&cli, &cfg);
        rc = dashboard_run(&s, &dopt) < 0 ? EXIT_INTERNAL : EXIT_OK;
    }
    session_close(&s);
    return rc;
}

/* The command line: options, commands and exit codes. */
#ifndef PYMEMTOP_TUI_CLI_H
#define PYMEMTOP_TUI_CLI_H

#include <stdbool.h>
#include <stdint.h>

#include "model.h"

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
    EXIT_LEAK = 7,    /* --max-growth: memory grew faster than the limit */
};

#define MAX_COMMANDS 16
#define MAX_SERVE_PIDS 256

struct command_def;

struct command {
    char text[PM_TYPE_NAME_MAX]; /* why: the type name */
    const char *spec; /* as given: "collect=1" */
    char name[32];    /* protocol name */
    const struct command_def *def; /* its entry in lib/commands.c */
    int64_t arg;
    int64_t lease_s; /* tracemalloc=on:SECONDS; 0 none */
};

struct cli {
    int pid;
    bool once, json, ascii, no_color;
    bool force; /* --force: stop-the-world commands run whatever pause they predict */
    const char *config_path;
    const char *agent_path;
    double interval_s, attach_timeout_s; /* <0: not given */
    unsigned max_frames;
    const char *frame_stats; /* --frame-stats FILE: frame times as JSON at exit (benchmarks) */
    int tracemalloc_frames; /* <0: not given */
    int64_t tracemalloc_lease_s; /* --tracemalloc[=S]: <0 not given, 0 for the run, S a lease */
    bool check, list;       /* --check PID, --list */
    const char *record_path; /* --record FILE ("-" = stdout) */
    double duration_s;       /* --duration; <0: until the target exits or Ctrl-C */
    double max_growth_kib_per_min; /* --max-growth; <0: no gate */
    char **run_argv;         /* -- COMMAND [ARGS...]: run mode; NULL otherwise */
    const char *replay_path; /* --replay FILE */
    const char *serve;       /* --serve [ADDR:]PORT as given */
    char serve_host[64];     /* "" when only a port was given ([serve] address then) */
    char serve_port[8];
    bool serve_all;          /* --all */
    int serve_pids[MAX_SERVE_PIDS];
    int n_serve_pids;
    struct command commands[MAX_COMMANDS];
    int n_commands;
};

/* Parses argv into c; -1 after printing a usage error. --help and
 * --version print and exit. */
int cli_parse(int argc, char **argv, struct cli *c);

#endif

/* The one definition of every command pymemtop sends to its agent: its
 * protocol name, how --command spells its argument, its help line, its
 * dashboard keys and the keys of its --command --json answer. CLI parsing,
 * --help, the dashboard's keys and help overlay, the agent's dispatch,
 * --list-commands and README's command table (checked by a test) all read
 * this table. Plain C, no I/O: the agent links it too. */
#ifndef PYMEMTOP_LIB_COMMANDS_H
#define PYMEMTOP_LIB_COMMANDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum command_id {
    CMD_COLLECT,
    CMD_CENSUS,
    CMD_SNAPSHOT,
    CMD_DIFF,
    CMD_TRACEMALLOC,
    CMD_HUNT,
    CMD_ALLOC_HOOK,
    CMD_WHY,
    /* Settings and plumbing: not for --command. */
    CMD_INTERVAL,
    CMD_CENSUS_INTERVAL,
    CMD_CENSUS_BUDGET,
    CMD_MAX_PAUSE,
    CMD_CONFIRM_PAUSE,
    CMD_TM_GROWTH,
    CMD_CYCLE_CAPTURE,
    CMD_PING,
    CMD_DETACH,
    CMD_COUNT
};

/* How --command NAME[=ARG] spells the argument, and what it becomes. */
enum command_arg {
    COMMAND_ARG_NONE,       /* no argument */
    COMMAND_ARG_GENERATION, /* [=0|1|2], default 2 */
    COMMAND_ARG_AGAINST,    /* [=previous|baseline]: 0 or 1, default previous */
    COMMAND_ARG_ON_OFF,     /* =on|off (or 1|0): 1 or 0 */
    COMMAND_ARG_LEASE,      /* =on[:SECONDS]|off: 1 or 0, and a lease of SECONDS */
    COMMAND_ARG_WHY,        /* =TYPE[:MS]: text TYPE, arg MS (1-10000; 0 = agent's default) */
    COMMAND_ARG_NUMBER,     /* internal: a number */
};

/* A dashboard key bound to a command. */
struct command_key {
    const char *chars; /* keys that trigger it ("+=": '=' is '+' unshifted); NULL: none */
    const char *label; /* as the help overlay shows it ("g 0|1|2"); NULL: shown with the previous */
    const char *help;  /* the help overlay's line for it */
};

#define COMMAND_KEYS_MAX 2

struct command_def {
    enum command_id id;
    const char *name;    /* protocol name, also --command NAME */
    enum command_arg arg;
    const char *syntax;  /* "[=0|1|2]" after the name in --help and README; "" none */
    const char *help;    /* one line for --help and README */
    const char *answers; /* keys of its --command --json line beyond command, status,
                            message, pause_ns; "" none */
    bool cli;            /* offered by --command (and listed in --help, README) */
    bool log_arg;        /* the event log shows the argument (generation, on/off, ms) */
    struct command_key keys[COMMAND_KEYS_MAX];
};

extern const struct command_def commands[CMD_COUNT];

/* The definition of a protocol name; NULL when unknown. */
const struct command_def *commands_find(const char *name);
/* The command and binding a dashboard key triggers; NULL when none. */
const struct command_def *commands_for_key(int ch, int *binding);

/* --command NAME[=ARG]: the argument as the agent takes it (lease_s: the
 * tracemalloc lease, 0 none). 0, or -1 with a one-line reason in err
 * ("unknown command ...", "bad argument ...", the lease's range). */
int commands_parse(const char *spec, const struct command_def **def, int64_t *arg,
                   int64_t *lease_s, char *text, size_t text_len, char *err, size_t err_len);

/* A tracemalloc lease as typed ("300", "5m", "2h", "1d"; 0 = none): seconds
 * into *lease_s, or -1 with a one-line reason naming the range. */
#define COMMANDS_LEASE_MAX_S 604800 /* 7 days: the agent refuses more */
int commands_parse_lease(const char *a, int64_t *lease_s, char *err, size_t err_len);

#endif

/* The command table: every fact about a command, once. */
#include "commands.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Indexed by enum command_id. */
const struct command_def commands[CMD_COUNT] = {
    [CMD_COLLECT] = {CMD_COLLECT, "collect", COMMAND_ARG_GENERATION, "[=0|1|2]",
                     "full collection, or one generation", "collected",
                     true, true,
                     {{"c", "c", "full collection (gc.collect())"},
                      {"g", "g 0|1|2", "collect generation 0, 1 or 2"}}},
    [CMD_CENSUS] = {CMD_CENSUS, "census", COMMAND_ARG_NONE, "",
                    "count tracked objects per type now", "types, types_total", true, false,
                    {{"n", "n", "count objects per type now (census)"}}},
    [CMD_SNAPSHOT] = {CMD_SNAPSHOT, "snapshot", COMMAND_ARG_NONE, "",
                      "keep a census for diff (and tracemalloc sites)",
                      "types, types_total, sites", true, false,
                      {{"s", "s", "snapshot (census, and tracemalloc sites when on)"}}},
    [CMD_DIFF] = {CMD_DIFF, "diff", COMMAND_ARG_AGAINST, "[=previous|baseline]",
                  "latest snapshot vs the previous / the first", "against, types, sites",
                  true, true,
                  {{"d", "d", "diff the last two snapshots (Objects view); d again: live"},
                   {"D", "D", "diff the latest snapshot against the first"}}},
    [CMD_TRACEMALLOC] = {CMD_TRACEMALLOC, "tracemalloc", COMMAND_ARG_LEASE, "=on[:SECONDS]|off",
                         "tracemalloc on (SECONDS: a lease, kept after pymemtop leaves) or off",
                         "", true, true,
                         {{"t", "t", "tracemalloc on (asks for how long) / off; slows allocation 4-10x"}}},
    [CMD_HUNT] = {CMD_HUNT, "hunt", COMMAND_ARG_NONE, "",
                  "cycle hunt: garbage grouped by shape",
                  "time_ns, objects, cycles, truncated, cost_ns, shapes", true, false,
                  {{"y", "y", "cycle hunt (a full collection; shapes in the Cycles view)"}}},
    [CMD_ALLOC_HOOK] = {CMD_ALLOC_HOOK, "alloc_hook", COMMAND_ARG_ON_OFF, "=on|off",
                        "allocation counters per domain on or off", "", true, true,
                        {{"a", "a", "allocation counters on/off"}}},
    [CMD_WHY] = {CMD_WHY, "why", COMMAND_ARG_WHY, "=TYPE[:MS]",
                 "who holds TYPE's instances (MS: budget)",
                 "type, sampled, visited, budget_ms, complete, chains", true, false,
                 {{"w", "w", "why is it alive: who holds the selected type (Objects view)"}}},
    [CMD_INTERVAL] = {CMD_INTERVAL, "interval", COMMAND_ARG_NUMBER, "=MS", "sampling interval",
                      "", false, true,
                      {{"+=", "+ -", "sample more / less often"}, {"-_", NULL, NULL}}},
    [CMD_CENSUS_INTERVAL] = {CMD_CENSUS_INTERVAL, "census_interval", COMMAND_ARG_NUMBER, "=MS",
                             "periodic census floor (0: adaptive)", "", false, false, {{0}}},
    [CMD_CENSUS_BUDGET] = {CMD_CENSUS_BUDGET, "census_budget", COMMAND_ARG_NUMBER, "=BP",
                           "census share of wall time, basis points", "", false, false, {{0}}},
    [CMD_MAX_PAUSE] = {CMD_MAX_PAUSE, "max_pause", COMMAND_ARG_NUMBER, "=MS",
                       "longest GIL hold per slice of agent work ([agent] max_pause_ms)", "",
                       false, false, {{0}}},
    [CMD_CONFIRM_PAUSE] = {CMD_CONFIRM_PAUSE, "confirm_pause", COMMAND_ARG_NUMBER, "=MS",
                           "stop-the-world commands predicted longer ask first "
                           "([agent] confirm_pause_ms)", "", false, false, {{0}}},
    [CMD_TM_GROWTH] = {CMD_TM_GROWTH, "tm_growth", COMMAND_ARG_NUMBER, "=0|1|2",
                       "tracemalloc sites: mark now (0), growth since the mark (1), the same "
                       "within [agent] max_pause_ms (2, periodic)", "", false,
                       false, {{0}}},
    [CMD_CYCLE_CAPTURE] = {CMD_CYCLE_CAPTURE, "cycle_capture", COMMAND_ARG_NUMBER, "=BP",
                           "cycle shapes from the program's own collections: share of wall "
                           "time, basis points, 0 off ([cycles] capture, capture_budget)",
                           "", false, false, {{0}}},
    [CMD_PING] = {CMD_PING, "ping", COMMAND_ARG_NONE, "", "liveness", "", false, false, {{0}}},
    [CMD_DETACH] = {CMD_DETACH, "detach", COMMAND_ARG_NONE, "", "the monitor leaves", "", false,
                    false, {{0}}},
};

const struct command_def *commands_find(const char *name)
{
    for (int i = 0; i < CMD_COUNT; i++)
        if (!strcmp(commands[i].name, name))
            return &commands[i];
    return NULL;
}

const struct command_def *commands_for_key(int ch, int *binding)
{
    if (ch <= 0 || ch > 127)
        return NULL;
    for (int i = 0; i < CMD_COUNT; i++)
        for (int k = 0; k < COMMAND_KEYS_MAX; k++)
            if (commands[i].keys[k].chars && strchr(commands[i].keys[k].chars, ch)) {
                if (binding)
                    *binding = k;
                return &commands[i];
            }
    return NULL;
}

/* WHY: TYPE[:MS], the type into text. */
static int commands_parse_why(const char *a, int64_t *arg, char *text, size_t text_len)
{
    if (!a || !a[0])
        return -1;
    const char *colon = strrchr(a, ':');
    size_t tl = colon ? (size_t)(colon - a) : strlen(a);
    if (!tl || tl >= text_len)
        return -1;
    memcpy(text, a, tl);
    text[tl] = 0;
    if (colon) {
        char *end;
        long ms = strtol(colon + 1, &end, 10);
        if (*end || ms < 1 || ms > 10000)
            return -1;
        *arg = ms;
    }
    return 0;
}

int commands_parse_lease(const char *a, int64_t *lease_s, char *err, size_t err_len)
{
    char *end;
    double v = strtod(a, &end);
    double mult = !*end ? 1 : !strcmp(end, "s") ? 1 : !strcmp(end, "m") ? 60
                : !strcmp(end, "h") ? 3600 : !strcmp(end, "d") ? 86400 : -1;
    if (end == a || mult < 0 || !(v >= 0) || v * mult > COMMANDS_LEASE_MAX_S ||
        (v > 0 && v * mult < 1)) {
        snprintf(err, err_len, "tracemalloc lease '%s': give 0 (none: off when pymemtop leaves) "
                 "or 1 s to 7 days, as seconds or with s, m, h, d (300, 5m, 2h)", a);
        return -1;
    }
    *lease_s = (int64_t)(v * mult + 0.5);
    return 0;
}

static int commands_parse_arg(const struct command_def *d, const char *a, int64_t *arg,
                              int64_t *lease_s, char *text, size_t text_len, char *err,
                              size_t err_len)
{
    switch (d->arg) {
    case COMMAND_ARG_NONE:
        return a ? -1 : 0;
    case COMMAND_ARG_GENERATION:
        if (a && (strlen(a) != 1 || a[0] < '0' || a[0] > '2'))
            return -1;
        *arg = a ? a[0] - '0' : 2;
        return 0;
    case COMMAND_ARG_AGAINST:
        if (a && strcmp(a, "previous") && strcmp(a, "baseline"))
            return -1;
        *arg = a && !strcmp(a, "baseline");
        return 0;
    case COMMAND_ARG_LEASE: /* on:SECONDS here, on|off as ON_OFF */
        if (a && !strncmp(a, "on:", 3)) {
            *arg = 1;
            return commands_parse_lease(a + 3, lease_s, err, err_len);
        }
        /* fall through */
    case COMMAND_ARG_ON_OFF:
        if (a && (!strcmp(a, "on") || !strcmp(a, "1")))
            *arg = 1;
        else if (a && (!strcmp(a, "off") || !strcmp(a, "0")))
            *arg = 0;
        else
            return -1;
        return 0;
    case COMMAND_ARG_WHY:
        return commands_parse_why(a, arg, text, text_len);
    case COMMAND_ARG_NUMBER:
        break;
    }
    return -1;
}

int commands_parse(const char *spec, const struct command_def **def, int64_t *arg,
                   int64_t *lease_s, char *text, size_t text_len, char *err, size_t err_len)
{
    char name[32];
    const char *eq = strchr(spec, '=');
    size_t n = eq ? (size_t)(eq - spec) : strlen(spec);
    if (n >= sizeof(name))
        n = sizeof(name) - 1;
    memcpy(name, spec, n);
    name[n] = 0;
    *arg = 0;
    *lease_s = 0;
    if (text_len)
        text[0] = 0;
    const struct command_def *d = commands_find(name);
    if (!d || !d->cli) {
        size_t used = (size_t)snprintf(err, err_len, "unknown command '%s'; commands:", name);
        for (int i = 0; i < CMD_COUNT && used < err_len; i++)
            if (commands[i].cli)
                used += (size_t)snprintf(err + used, err_len - used, " %s%s", commands[i].name,
                                         commands[i].syntax);
        return -1;
    }
    *def = d;
    char why[200] = "";
    if (commands_parse_arg(d, eq ? eq + 1 : NULL, arg, lease_s, text, text_len, why,
                           sizeof(why)) < 0) {
        if (why[0])
            snprintf(err, err_len, "--command %s: %s", spec, why);
        else
            snprintf(err, err_len, "--command %s: bad argument (%s%s); see pymemtop --help",
                     spec, d->name, d->syntax);
        return -1;
    }
    return 0;
}

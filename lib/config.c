/* Config file reading with inih: every key checked against its range. */
#include "config.h"

#include "commands.h"

#include <errno.h>
#include <ini.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

void config_defaults(struct config *c)
{
    memset(c, 0, sizeof(*c));
    c->interval_ms = 1000;
    c->history = 600;
    c->attach_timeout_ms = 5000;
    c->ascii = false;
    c->color = true;
    c->suspect_window = 5;
    c->json_types = 200;
    c->tracemalloc_frames = 1;
    c->census_interval_ms = 0;
    c->census_budget_pct = 1.0;
    c->cycle_capture = true;
    c->cycle_capture_pct = 1.0;
    c->pause_alert_ms = 100;
    c->max_pause_ms = 5;
    c->confirm_pause_ms = 200;
    c->growth_alert_mib_per_min = 10.0;
    c->default_view = CONFIG_VIEW_OVERVIEW;
    c->serve_types = 20;
    c->serve_scan_ms = 5000;
    snprintf(c->serve_address, sizeof(c->serve_address), "127.0.0.1");
    static const int colors[CONFIG_COLOR_ROLES] = {6, 6, 5, 3, 2, 3, 1};
    memcpy(c->colors, colors, sizeof(colors));
}

static const char *const view_names[CONFIG_VIEWS] = {"overview", "objects", "cycles",
                                                      "allocations", "events"};
static const char *const color_roles[CONFIG_COLOR_ROLES] = {"accent", "rss",  "alloc", "traced",
                                                            "good",   "warn", "bad"};
static const char *const color_names[8] = {"black", "red",     "green", "yellow",
                                           "blue",  "magenta", "cyan",  "white"};

const char *config_view_name(enum config_view v)
{
    return (unsigned)v < CONFIG_VIEWS ? view_names[v] : "overview";
}

const char *config_color_role_name(enum config_color_role r)
{
    return (unsigned)r < CONFIG_COLOR_ROLES ? color_roles[r] : "?";
}

struct config_parse {
    struct config *c;
    const char *path;
    int line; /* inih gives no line to handlers: we count keys to report the error */
    char *err;
    size_t err_len;
    char *warn;
    size_t warn_len;
};

static int config_number(struct config_parse *p, const char *key, const char *v, double lo,
                         double hi, double *out)
{
    char *end;
    errno = 0;
    double d = strtod(v, &end);
    if (errno || end == v || *end || !isfinite(d) || d < lo || d > hi) {
        snprintf(p->err, p->err_len, "%s: %s = '%s' is out of range (%g to %g)", p->path, key, v,
                 lo, hi);
        return 0;
    }
    *out = d;
    return 1;
}

static int config_bool(struct config_parse *p, const char *key, const char *v, bool *out)
{
    if (!strcasecmp(v, "true") || !strcasecmp(v, "yes") || !strcmp(v, "1") || !strcasecmp(v, "on"))
        *out = true;
    else if (!strcasecmp(v, "false") || !strcasecmp(v, "no") || !strcmp(v, "0") ||
             !strcasecmp(v, "off"))
        *out = false;
    else {
        snprintf(p->err, p->err_len, "%s: %s = '%s' must be true or false", p->path, key, v);
        return 0;
    }
    return 1;
}

/* A view by name ("objects", also "alloc") or number 1-5. */
static int config_view(struct config_parse *p, const char *key, const char *v,
                       enum config_view *out)
{
    for (int i = 0; i < CONFIG_VIEWS; i++)
        if (!strcasecmp(v, view_names[i]) || (v[0] == '1' + i && !v[1])) {
            *out = (enum config_view)i;
            return 1;
        }
    if (!strcasecmp(v, "alloc")) {
        *out = CONFIG_VIEW_ALLOC;
        return 1;
    }
    snprintf(p->err, p->err_len,
             "%s: %s = '%s' is not a view (overview, objects, cycles, allocations, events or "
             "1 to 5)",
             p->path, key, v);
    return 0;
}

static int config_color(struct config_parse *p, const char *key, const char *v, int *out)
{
    if (!strcasecmp(v, "default")) {
        *out = CONFIG_COLOR_DEFAULT;
        return 1;
    }
    for (int i = 0; i < 8; i++)
        if (!strcasecmp(v, color_names[i])) {
            *out = i;
            return 1;
        }
    snprintf(p->err, p->err_len,
             "%s: %s = '%s' is not a colour (default, black, red, green, yellow, blue, magenta, "
             "cyan, white)",
             p->path, key, v);
    return 0;
}

static int config_handler(void *user, const char *section, const char *name, const char *value)
{
    struct config_parse *p = user;
    struct config *c = p->c;
    double d;
    char key[128];
    snprintf(key, sizeof(key), "[%s] %s", section, name);
    if (!strcmp(section, "sampling") && !strcmp(name, "interval")) {
        if (!config_number(p, key, value, 0.1, 60, &d))
            return 0;
        c->interval_ms = (unsigned)lround(d * 1000);
    } else if (!strcmp(section, "sampling") && !strcmp(name, "history")) {
        if (!config_number(p, key, value, 10, 100000, &d))
            return 0;
        c->history = (unsigned)d;
    } else if (!strcmp(section, "attach") && !strcmp(name, "timeout")) {
        if (!config_number(p, key, value, 0.1, 600, &d))
            return 0;
        c->attach_timeout_ms = (unsigned)lround(d * 1000);
    } else if (!strcmp(section, "census") && !strcmp(name, "suspect_window")) {
        if (!config_number(p, key, value, 2, 1000, &d))
            return 0;
        c->suspect_window = (unsigned)d;
    } else if (!strcmp(section, "census") && !strcmp(name, "json_types")) {
        if (!config_number(p, key, value, 1, 100000, &d))
            return 0;
        c->json_types = (unsigned)d;
    } else if (!strcmp(section, "tracemalloc") && !strcmp(name, "frames")) {
        if (!config_number(p, key, value, 1, 100, &d))
            return 0;
        c->tracemalloc_frames = (unsigned)d;
    } else if (!strcmp(section, "tracemalloc") && !strcmp(name, "lease")) {
        int64_t lease_s;
        char why[240];
        if (commands_parse_lease(value, &lease_s, why, sizeof(why)) < 0) {
            snprintf(p->err, p->err_len, "%s: %s = '%s' is out of range (0 for none, or 1 s to 7 "
                     "days: 300, 5m, 2h, 1d)", p->path, key, value);
            return 0;
        }
        c->tracemalloc_lease_s = (unsigned)lease_s;
    } else if (!strcmp(section, "census") && !strcmp(name, "interval")) {
        /* 0 sits below the range: it means "adaptive". */
        if (strcmp(value, "0") && !config_number(p, key, value, 1, 3600, &d)) {
            snprintf(p->err, p->err_len, "%s: %s = '%s' is out of range (0 for adaptive, or 1 to "
                     "3600 seconds)", p->path, key, value);
            return 0;
        }
        c->census_interval_ms = strcmp(value, "0") ? (unsigned)lround(d * 1000) : 0;
    } else if (!strcmp(section, "census") && !strcmp(name, "pause_budget")) {
        if (!config_number(p, key, value, 0.1, 50, &d))
            return 0;
        c->census_budget_pct = d;
    } else if (!strcmp(section, "cycles") && !strcmp(name, "capture")) {
        return config_bool(p, key, value, &c->cycle_capture);
    } else if (!strcmp(section, "cycles") && !strcmp(name, "capture_budget")) {
        if (!config_number(p, key, value, 0.01, 50, &d))
            return 0;
        c->cycle_capture_pct = d;
    } else if (!strcmp(section, "agent") && !strcmp(name, "max_pause_ms")) {
        if (!config_number(p, key, value, 1, 1000, &d))
            return 0;
        c->max_pause_ms = (unsigned)lround(d);
    } else if (!strcmp(section, "agent") && !strcmp(name, "confirm_pause_ms")) {
        if (!config_number(p, key, value, 0, 600000, &d))
            return 0;
        c->confirm_pause_ms = (unsigned)lround(d);
    } else if (!strcmp(section, "alerts") && !strcmp(name, "pause_ms")) {
        if (!config_number(p, key, value, 0, 60000, &d))
            return 0;
        /* 0 alone means never: a fraction of a millisecond must not round
         * down into it, so it counts as the smallest threshold, 1 ms. */
        c->pause_alert_ms = d > 0 && d < 1 ? 1 : (unsigned)lround(d);
    } else if (!strcmp(section, "alerts") && !strcmp(name, "growth_mib_per_min")) {
        if (!config_number(p, key, value, 0, 1000000, &d))
            return 0;
        c->growth_alert_mib_per_min = d;
    } else if (!strcmp(section, "serve") && !strcmp(name, "types")) {
        if (!config_number(p, key, value, 0, 1000, &d))
            return 0;
        c->serve_types = (unsigned)d;
    } else if (!strcmp(section, "serve") && !strcmp(name, "scan_interval")) {
        if (!config_number(p, key, value, 1, 3600, &d))
            return 0;
        c->serve_scan_ms = (unsigned)lround(d * 1000);
    } else if (!strcmp(section, "serve") && !strcmp(name, "address")) {
        if (!value[0] || strlen(value) >= sizeof(c->serve_address) || strchr(value, ' ')) {
            snprintf(p->err, p->err_len, "%s: %s = '%s' is not an address (an IP address or "
                     "host name, e.g. 127.0.0.1 or ::1)", p->path, key, value);
            return 0;
        }
        snprintf(c->serve_address, sizeof(c->serve_address), "%s", value);
    } else if (!strcmp(section, "display") && !strcmp(name, "default_view")) {
        return config_view(p, key, value, &c->default_view);
    } else if (!strcmp(section, "display") && !strncmp(name, "color_", 6)) {
        for (int i = 0; i < CONFIG_COLOR_ROLES; i++)
            if (!strcmp(name + 6, color_roles[i]))
                return config_color(p, key, value, &c->colors[i]);
        size_t used = strlen(p->warn);
        snprintf(p->warn + used, p->warn_len - used, "%s%s: unknown key %s (ignored)",
                 used ? "\n" : "", p->path, key);
    } else if (!strcmp(section, "display") && !strcmp(name, "ascii")) {
        return config_bool(p, key, value, &c->ascii);
    } else if (!strcmp(section, "display") && !strcmp(name, "color")) {
        return config_bool(p, key, value, &c->color);
    } else {
        size_t used = strlen(p->warn);
        snprintf(p->warn + used, p->warn_len - used, "%s%s: unknown key %s (ignored)",
                 used ? "\n" : "", p->path, key);
    }
    return 1;
}

static const char *config_find(char *buf, size_t len)
{
    const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
    if (xdg && *xdg) {
        snprintf(buf, len, "%s/pymemtop/pymemtop.ini", xdg);
        if (access(buf, F_OK) == 0)
            return buf;
    }
    if (home && *home) {
        snprintf(buf, len, "%s/.config/pymemtop/pymemtop.ini", home);
        if (access(buf, F_OK) == 0)
            return buf;
    }
    return access("/etc/pymemtop.ini", F_OK) == 0 ? "/etc/pymemtop.ini" : NULL;
}

int config_load(struct config *c, const char *path, char *err, size_t err_len, char *warn,
                size_t warn_len)
{
    char found[PATH_MAX];
    err[0] = 0;
    if (warn_len)
        warn[0] = 0;
    if (!path && !(path = config_find(found, sizeof(found))))
        return 0;
    struct config_parse p = {c, path, 0, err, err_len, warn, warn_len};
    int r = ini_parse(path, config_handler, &p);
    if (r == -1) {
        snprintf(err, err_len, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    if (r == -2) {
        snprintf(err, err_len, "%s: out of memory", path);
        return -1;
    }
    if (r > 0) {
        /* inih stops at the first bad line: a syntax error, or a value our
         * handler refused (then err already says which key and range). */
        char what[400];
        snprintf(what, sizeof(what), "%s", err[0] ? err : "");
        if (what[0])
            snprintf(err, err_len, "%s (line %d)", what, r);
        else
            snprintf(err, err_len, "%s:%d: malformed line (expected [section] or key = value)",
                     path, r);
        return -1;
    }
    snprintf(c->source, sizeof(c->source), "%s", path);
    return 0;
}

/* Settings: built-in defaults, then a config file (inih), then the command
 * line. The only file that sees inih. */
#ifndef PYMEMTOP_LIB_CONFIG_H
#define PYMEMTOP_LIB_CONFIG_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

/* [display] colours: the eight ANSI colours, numbered as curses numbers them
 * (COLOR_BLACK 0 ... COLOR_WHITE 7); CONFIG_COLOR_DEFAULT: the terminal's own. */
#define CONFIG_COLOR_DEFAULT (-1)
enum config_color_role {
    CONFIG_COLOR_ACCENT, /* titles, selected tab */
    CONFIG_COLOR_RSS,    /* RSS graph */
    CONFIG_COLOR_ALLOC,  /* Python allocator line */
    CONFIG_COLOR_TRACED, /* tracemalloc line */
    CONFIG_COLOR_GOOD,
    CONFIG_COLOR_WARN,
    CONFIG_COLOR_BAD,
    CONFIG_COLOR_ROLES
};

/* [display] default_view */
enum config_view { CONFIG_VIEW_OVERVIEW, CONFIG_VIEW_OBJECTS, CONFIG_VIEW_CYCLES,
                   CONFIG_VIEW_ALLOC, CONFIG_VIEW_EVENTS, CONFIG_VIEWS };

struct config {
    unsigned interval_ms;       /* [sampling] interval (seconds in the file) */
    unsigned history;           /* [sampling] history: points kept per graph */
    unsigned attach_timeout_ms; /* [attach] timeout (seconds in the file) */
    bool ascii;                 /* [display] ascii: no UTF-8 graphs */
    bool color;                 /* [display] color */
    unsigned suspect_window;    /* [census] suspect_window: K censuses of growth */
    unsigned json_types;        /* [census] json_types: rows in JSON "types" */
    unsigned tracemalloc_frames; /* [tracemalloc] frames */
    unsigned tracemalloc_lease_s; /* [tracemalloc] lease: the 't' key's default; 0 none */
    unsigned census_interval_ms; /* [census] interval (seconds in the file); 0: adaptive */
    double census_budget_pct;    /* [census] pause_budget: % of wall time censuses may take */
    bool cycle_capture;          /* [cycles] capture: shapes from the program's own collections */
    double cycle_capture_pct;    /* [cycles] capture_budget: % of wall time the capture may take */
    unsigned pause_alert_ms;     /* [alerts] pause_ms; 0: off */
    unsigned max_pause_ms;       /* [agent] max_pause_ms: longest GIL hold of sliced work */
    unsigned confirm_pause_ms;   /* [agent] confirm_pause_ms: stop-the-world commands
                                    predicted longer ask first; 0: always ask */
    double growth_alert_mib_per_min; /* [alerts] growth_mib_per_min; 0: off */
    enum config_view default_view;   /* [display] default_view */
    unsigned serve_types;            /* [serve] types: python_objects rows per target */
    unsigned serve_scan_ms;          /* [serve] scan_interval (seconds in the file) */
    char serve_address[64];          /* [serve] address: when --serve gives only a port */
    int colors[CONFIG_COLOR_ROLES];  /* [display] color_* : 0..7 or CONFIG_COLOR_DEFAULT */
    char source[PATH_MAX];      /* the file read, "" for defaults only */
};

void config_defaults(struct config *c);
/* "overview", "objects", ...; the names [display] default_view accepts. */
const char *config_view_name(enum config_view v);
/* The key of a colour role without "color_": "accent", "rss", ... */
const char *config_color_role_name(enum config_color_role r);

/* Reads `path`, or when NULL the first that exists of
 * $XDG_CONFIG_HOME/pymemtop/pymemtop.ini, ~/.config/pymemtop/pymemtop.ini,
 * /etc/pymemtop.ini. 0 ok; -1 with err set ("FILE:LINE: what, range").
 * Unknown keys are warnings, written to `warn` (may be empty). */
int config_load(struct config *c, const char *path, char *err, size_t err_len, char *warn,
                size_t warn_len);

#endif

/* The interactive dashboard: a header, a tab line, one of five views
 * (overview, objects, cycles, allocations, events) and a status line,
 * refreshed every second and whenever the agent sends data. */
#ifndef PYMEMTOP_TUI_DASHBOARD_H
#define PYMEMTOP_TUI_DASHBOARD_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "session.h"

struct replay;

struct dashboard_opts {
    bool ascii;          /* force ASCII glyphs even on a UTF-8 terminal */
    bool no_color;       /* monochrome (also when NO_COLOR is set in the environment) */
    unsigned refresh_ms; /* redraw period without new data; 0: 1000 */
    unsigned max_frames; /* quit after this many frames (tests, sanitizer runs); 0: never */
    unsigned tracemalloc_frames; /* for the 't' key; 0: 1 */
    enum config_view default_view;
    const int *colors;   /* CONFIG_COLOR_ROLES entries; NULL: built-in */
    unsigned pause_alert_ms;          /* pauses over it are coloured as bad; 0: 100 */
    double growth_alert_mib_per_min;  /* growth over it is coloured as bad; 0: 10 */
    size_t history;      /* points per derived series (as the session's); 0: 600 */
    size_t json_types;   /* rows of "types" in an export; 0: 200 */
    const char *frame_stats; /* benchmarks: write frame times as JSON here at exit */
    struct replay *replay;   /* --replay: the session is rebuilt from this recording */
};

/* Takes over the terminal until the user quits (q, or SIGINT/SIGTERM/SIGHUP),
 * then restores it. Does not close the session. Returns 0, or -errno when the
 * terminal cannot be used (message already printed to stderr). */
int dashboard_run(struct session *s, const struct dashboard_opts *o);

#endif

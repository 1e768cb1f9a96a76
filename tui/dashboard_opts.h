/* The dashboard's options, apart from its entry point so that the parts of
 * the dashboard (dash.h) can read them without depending on the frame loop. */
#ifndef PYMEMTOP_TUI_DASHBOARD_OPTS_H
#define PYMEMTOP_TUI_DASHBOARD_OPTS_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

struct replay;

struct dashboard_opts {
    bool ascii;          /* force ASCII glyphs even on a UTF-8 terminal */
    bool no_color;       /* monochrome (also when NO_COLOR is set in the environment) */
    unsigned refresh_ms; /* redraw period without new data; 0: 1000 */
    unsigned max_frames; /* quit after this many frames (tests, sanitizer runs); 0: never */
    unsigned tracemalloc_frames; /* for the 't' key; 0: 1 */
    unsigned tracemalloc_lease_s; /* the 't' prompt's default ([tracemalloc] lease); 0 none */
    enum config_view default_view;
    const int *colors;   /* CONFIG_COLOR_ROLES entries; NULL: built-in */
    unsigned pause_alert_ms;          /* pauses over it are coloured as bad; 0: 100 */
    double growth_alert_mib_per_min;  /* growth over it is coloured as bad; 0: 10 */
    size_t history;      /* points per derived series (as the session's); 0: 600 */
    size_t json_types;   /* rows of "types" in an export; 0: 200 */
    const char *frame_stats; /* benchmarks: write frame times as JSON here at exit */
    struct replay *replay;   /* --replay: the session is rebuilt from this recording */
};

#endif

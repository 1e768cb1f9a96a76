/* The interactive overview screen: header, memory, Python allocator, GC and a
 * status line, refreshed every second and whenever the agent sends data. */
#ifndef PYMEMTOP_TUI_DASHBOARD_H
#define PYMEMTOP_TUI_DASHBOARD_H

#include <stdbool.h>

#include "session.h"

struct dashboard_opts {
    bool ascii;          /* force ASCII glyphs even on a UTF-8 terminal */
    bool no_color;       /* monochrome (also when NO_COLOR is set in the environment) */
    unsigned refresh_ms; /* redraw period without new data; 0: 1000 */
    unsigned max_frames; /* quit after this many frames (tests, sanitizer runs); 0: never */
    unsigned tracemalloc_frames; /* for the 't' key; 0: 1 */
};

/* Takes over the terminal until the user quits (q, or SIGINT/SIGTERM/SIGHUP),
 * then restores it. Does not close the session. Returns 0, or -errno when the
 * terminal cannot be used (message already printed to stderr). */
int dashboard_run(struct session *s, const struct dashboard_opts *o);

#endif

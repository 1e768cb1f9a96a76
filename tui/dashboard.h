/* The interactive dashboard: a header, a tab line, one of five views
 * (overview, objects, cycles, allocations, events) and a status line,
 * refreshed every second and whenever the agent sends data. */
#ifndef PYMEMTOP_TUI_DASHBOARD_H
#define PYMEMTOP_TUI_DASHBOARD_H

#include "dashboard_opts.h"
#include "session.h"

/* Takes over the terminal until the user quits (q, or SIGINT/SIGTERM/SIGHUP),
 * then restores it. Does not close the session. Returns 0, or -errno when the
 * terminal cannot be used (message already printed to stderr). */
int dashboard_run(struct session *s, const struct dashboard_opts *o);

#endif

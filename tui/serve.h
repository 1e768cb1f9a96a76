/* --serve: the Prometheus exporter's listening socket, HTTP clients and the
 * one poll loop that also feeds the targets (probes/fleet.h). No curses. */
#ifndef PYMEMTOP_TUI_SERVE_H
#define PYMEMTOP_TUI_SERVE_H

#include "cli.h"
#include "config.h"
#include "session.h"

/* Runs until SIGINT or SIGTERM; returns an exit code (cli.h). */
int serve_run(const struct cli *cli, const struct config *cfg, const struct session_opts *so);

#endif

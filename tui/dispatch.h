/* Sending commands from the dashboard's keys to the agent. */
#ifndef PYMEMTOP_TUI_DISPATCH_H
#define PYMEMTOP_TUI_DISPATCH_H

#include <stdbool.h>
#include <stdint.h>

#include "dash.h"

/* Why no command can be sent now (target exited, replay, ...); NULL when
 * one can. */
const char *dispatch_refusal(const struct session *s);
/* Sends name(arg[, text]) and shows progress on the status line; false (and
 * an error on the status line) when it could not be sent. */
bool dispatch_send(struct dash *d, const char *name, int64_t arg, const char *progress);
bool dispatch_send_text(struct dash *d, const char *name, int64_t arg, const char *text,
                        const char *progress);
/* The same with a tracemalloc lease in seconds (0 none). */
bool dispatch_send_lease(struct dash *d, const char *name, int64_t arg, const char *text,
                         int64_t lease_s, const char *progress);
/* A stop-the-world command (hunt, collect=2): sent as dispatch_send, with
 * --force's meaning when the agent just refused the same command for its
 * predicted pause (a second press confirms). */
bool dispatch_send_stw(struct dash *d, const char *name, int64_t arg, const char *progress,
                       uint64_t now);
/* '+' (dir > 0: sample more often) and '-': the next step of the interval. */
void dispatch_interval(struct dash *d, int dir);

#endif

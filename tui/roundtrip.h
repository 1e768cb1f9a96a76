/* Headless exchanges with the agent (--once, --command, the watch modes):
 * no screen, blocking waits with deadlines. */
#ifndef PYMEMTOP_TUI_ROUNDTRIP_H
#define PYMEMTOP_TUI_ROUNDTRIP_H

#include <stdint.h>

#include "cli.h"
#include "session.h"

/* Reads agent data until the first sample (at most 5 s). */
void roundtrip_first_sample(struct session *s);
/* Sends a command (with a tracemalloc lease, 0 none) and waits for its
 * answer in s->last_reply: 0, or the exit code (cli.h). */
int roundtrip_command(struct session *s, const char *name, int64_t arg, const char *text,
                      int64_t lease_s);

#endif

/* The modes without a screen: --once and --command. Machine output on
 * stdout, messages on stderr; each returns an exit code (cli.h). */
#ifndef PYMEMTOP_TUI_HEADLESS_H
#define PYMEMTOP_TUI_HEADLESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cli.h"
#include "session.h"

int headless_once(struct session *s, bool json, size_t types_cap);
int headless_commands(struct session *s, const struct cli *cli, int tracemalloc_frames,
                      size_t types_cap);
/* --record and/or --max-growth: watch until the duration ends, the target
 * exits or SIGINT/SIGTERM; write JSON lines (gc_pause events for pauses of
 * the session's pause_alert_ns or more, none when it is 0; tracemalloc_growth
 * records with tracing on, watch_tm.h); judge the growth. */
int headless_watch(struct session *s, const struct cli *cli, int tracemalloc_frames,
                   size_t types_cap);
/* --check and --list never attach. agent_path may be NULL (not found). */
int headless_check(int pid, const char *agent_path, bool json);
int headless_list(bool json);

#endif

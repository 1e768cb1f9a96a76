/* tracemalloc in the watch modes (--record, --max-growth): turns tracing on
 * for the run when asked (--tracemalloc[=SECONDS]), marks the traces at the
 * start, and reports the sites that grew since: a "tracemalloc_growth"
 * record every minute and at the end, and the top growing lines in the
 * leak gate's verdict. */
#ifndef PYMEMTOP_TUI_WATCH_TM_H
#define PYMEMTOP_TUI_WATCH_TM_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "cli.h"
#include "session.h"

#define WATCH_TM_PERIOD_NS (60ull * 1000000000ull) /* a growth record a minute */

struct watch_tm {
    bool marked;       /* growth is measured from a mark taken at the start */
    uint64_t mark_ns;  /* when */
    uint64_t next_ns;  /* the next periodic record */
    bool have_final;   /* the end's growth is in the session's sites_growth */
};

/* At the start of the run: tracing on if --tracemalloc asked (frames, and
 * its lease), then the mark if tracing is on (ours or the program's).
 * 0, or an exit code when the agent refused to trace. */
int watch_tm_start(struct watch_tm *w, struct session *s, const struct cli *cli, int frames);
/* Every loop turn: a growth record when a minute has passed. */
void watch_tm_tick(struct watch_tm *w, struct session *s, FILE *out, uint64_t now);
/* At the end: the final growth (into the recording when out is not NULL). */
void watch_tm_finish(struct watch_tm *w, struct session *s, FILE *out);
/* The gate's lines: the top growing lines since the start (stderr). */
void watch_tm_print_gate(const struct watch_tm *w, const struct session *s, FILE *f);

#endif

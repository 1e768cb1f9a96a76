/* Frame timing for benchmarks (--frame-stats FILE): every frame's time, per
 * view, and how much of it was terminal output, written as JSON at exit. */
#ifndef PYMEMTOP_TUI_FRAME_STATS_H
#define PYMEMTOP_TUI_FRAME_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

struct frame_stats {
    uint64_t count[CONFIG_VIEWS], total_ns[CONFIG_VIEWS], max_ns[CONFIG_VIEWS];
    uint64_t update_ns_total, update_ns_max; /* of that, doupdate (terminal output) */
    uint64_t last_update_ns;
    uint32_t *ns;   /* every frame's time, up to FRAME_STATS_MAX; NULL: not recording */
    uint32_t *draw; /* the same without doupdate: our own drawing */
    size_t n;
};

/* Starts recording (fs zeroed by the caller); without memory it stays off. */
void frame_stats_start(struct frame_stats *fs);
/* One frame of view v that took frame_ns, last_update_ns of it in doupdate. */
void frame_stats_add(struct frame_stats *fs, int view, uint64_t frame_ns);
void frame_stats_write(struct frame_stats *fs, const char *path);
void frame_stats_free(struct frame_stats *fs);

#endif

/* Numbers derived from samples, computed here only: the dashboard's views,
 * --json and --record (session_json.c), replay (the same functions over the
 * recording's samples) and the dashboard's export all call these, so they
 * cannot disagree. */
#ifndef PYMEMTOP_PROBES_DERIVE_H
#define PYMEMTOP_PROBES_DERIVE_H

#include <stdint.h>

#include "model.h"
#include "series.h"

#define DERIVE_FREED_WINDOW_NS 10000000000ull  /* freed per second: the last 10 s */
#define DERIVE_GROWTH_WINDOW_NS 60000000000ull /* growth slopes: the last minute */

/* Objects freed by the collector per second in generation gen, from the
 * interpreter's own cumulative gc.get_stats() "collected" counter: its rise
 * over the agent samples of the last DERIVE_FREED_WINDOW_NS (at least the
 * last two samples) divided by the time between them. Not from the pause
 * events: those can be dropped (ring overflow), a recording keeps only the
 * long ones, and a reused agent's events start at attach, while the counter
 * is exact, in every sample and so in every recording line. `collected`
 * is one generation's series of that counter (session.collected[gen]).
 * 0 with fewer than two samples. */
double derive_freed_per_s(const struct series *collected);
/* pymalloc's free bytes in pools and arenas over used + free, 0..1; -1
 * when the allocator walk has not run. */
double derive_fragmentation(const struct pm_alloc *a);
/* How much of the heap the type table's bytes explain: census bytes over
 * pymalloc's used bytes plus malloc's (pymalloc arenas are mmapped, not
 * malloc'd, so the two do not overlap), 0..; -1 when either is unknown. It
 * can pass 1 a little: the census counts what each object asked for, the
 * allocators round up; and tracked objects' buffers (str, bytes, numbers,
 * NumPy arrays) are not in the census at all. */
double derive_bytes_share(uint64_t census_bytes, const struct pm_alloc *a);
/* Uncollectable objects since process start, all generations (unknown
 * generations, -1, count as 0). */
int64_t derive_uncollectable_total(const struct pm_agent_sample *a);
/* Least-squares slope over the last DERIVE_GROWTH_WINDOW_NS of a KiB
 * series, KiB per minute; NAN with fewer than two points. */
double derive_growth_kib_per_min(const struct series *kib);
/* A SHAPES frame into the kept capture: its counters always, its shapes
 * unless the frame says they did not change. */
void derive_capture_merge(struct pm_capture *kept, const struct pm_capture *in);
/* Objects freed per minute in cycles of one recent shape: its estimate of
 * all such objects (each capture scaled by its generation's collections per
 * capture) over the time since the capture began. 0 before any time passed. */
double derive_shape_objects_per_min(const struct pm_capture *c, const struct pm_recent_shape *r);
/* Share of wall time the capture took since it began, 0..1. */
double derive_capture_wall_share(const struct pm_capture *c);

#endif

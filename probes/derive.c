/* Derived numbers, each defined once (see derive.h for why each is so). */
#include "derive.h"

#include <math.h>
#include <string.h>

double derive_freed_per_s(const struct series *c)
{
    size_t n = series_len(c);
    if (n < 2)
        return 0;
    uint64_t t1 = series_time_at(c, n - 1);
    size_t i = n - 2; /* sparser samples than the window: the last interval */
    while (i > 0 && series_time_at(c, i - 1) + DERIVE_FREED_WINDOW_NS >= t1)
        i--;
    uint64_t t0 = series_time_at(c, i);
    double d = series_value_at(c, n - 1) - series_value_at(c, i);
    return t1 > t0 && d > 0 ? d / ((double)(t1 - t0) / 1e9) : 0;
}

double derive_fragmentation(const struct pm_alloc *a)
{
    if (a->pymalloc_used_bytes < 0 || a->pymalloc_free_bytes < 0 ||
        a->pymalloc_used_bytes + a->pymalloc_free_bytes <= 0)
        return -1;
    return (double)a->pymalloc_free_bytes /
           (double)(a->pymalloc_used_bytes + a->pymalloc_free_bytes);
}

double derive_bytes_share(uint64_t census_bytes, const struct pm_alloc *a)
{
    if (a->pymalloc_used_bytes < 0 || a->malloc_used_bytes < 0 ||
        a->pymalloc_used_bytes + a->malloc_used_bytes <= 0)
        return -1;
    return (double)census_bytes / (double)(a->pymalloc_used_bytes + a->malloc_used_bytes);
}

int64_t derive_uncollectable_total(const struct pm_agent_sample *a)
{
    int64_t total = 0;
    for (int g = 0; g < PM_GENERATIONS; g++)
        total += a->uncollectable[g] > 0 ? a->uncollectable[g] : 0;
    return total;
}

double derive_growth_kib_per_min(const struct series *kib)
{
    if (series_len(kib) < 2)
        return NAN;
    return series_slope_per_min(kib, DERIVE_GROWTH_WINDOW_NS);
}

void derive_capture_merge(struct pm_capture *kept, const struct pm_capture *in)
{
    if (!in->unchanged) {
        *kept = *in;
        return;
    }
    uint32_t n = kept->n_shapes;
    struct pm_recent_shape *shapes = kept->shapes;
    struct pm_recent_shape saved[PM_MAX_RECENT_SHAPES];
    memcpy(saved, shapes, n * sizeof(*shapes));
    *kept = *in;
    memcpy(kept->shapes, saved, n * sizeof(*shapes));
    kept->n_shapes = n;
}

double derive_shape_objects_per_min(const struct pm_capture *c, const struct pm_recent_shape *r)
{
    if (c->time_ns <= c->since_ns)
        return 0;
    return (double)r->est_objects * 60e9 / (double)(c->time_ns - c->since_ns);
}

double derive_capture_wall_share(const struct pm_capture *c)
{
    if (c->time_ns <= c->since_ns)
        return 0;
    return (double)c->cost_ns / (double)(c->time_ns - c->since_ns);
}

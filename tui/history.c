/* Derived series for the views, fed from the session's latest sample. */
#include "history.h"

#include <errno.h>
#include <string.h>

#include "session.h"

static struct series *all(struct history *h, size_t *n)
{
    *n = 3 + PM_GENERATIONS;
    return &h->pymalloc_kib; /* the series are consecutive members */
}

int history_init(struct history *h, size_t cap)
{
    memset(h, 0, sizeof *h);
    struct series *list[] = {&h->pymalloc_kib, &h->malloc_kib, &h->traced_kib,
                             &h->freed_per_s[0], &h->freed_per_s[1], &h->freed_per_s[2]};
    for (size_t i = 0; i < sizeof list / sizeof list[0]; i++)
        if (series_init(list[i], cap ? cap : 600) < 0)
            return -ENOMEM;
    return 0;
}

void history_free(struct history *h)
{
    struct series *list[] = {&h->pymalloc_kib, &h->malloc_kib, &h->traced_kib,
                             &h->freed_per_s[0], &h->freed_per_s[1], &h->freed_per_s[2]};
    for (size_t i = 0; i < sizeof list / sizeof list[0]; i++)
        series_free(list[i]);
}

void history_update(struct history *h, const struct session *s)
{
    if (s->agent_samples == h->seen_samples)
        return;
    bool first = h->seen_samples == 0;
    h->seen_samples = s->agent_samples;
    const struct pm_agent_sample *a = &s->agent;
    uint64_t t = a->time_ns;
    if (a->alloc.pymalloc_used_bytes >= 0)
        series_push(&h->pymalloc_kib, t, (double)a->alloc.pymalloc_used_bytes / 1024.0);
    if (a->alloc.malloc_used_bytes >= 0)
        series_push(&h->malloc_kib, t, (double)a->alloc.malloc_used_bytes / 1024.0);
    if (a->tracemalloc_on && a->traced_bytes >= 0)
        series_push(&h->traced_kib, t, (double)a->traced_bytes / 1024.0);
    if (!first && t > h->last_ns) {
        double dt = (double)(t - h->last_ns) / 1e9;
        for (int g = 0; g < PM_GENERATIONS; g++) {
            int64_t d = a->collected[g] - h->last_collected[g];
            series_push(&h->freed_per_s[g], t, d > 0 ? (double)d / dt : 0);
        }
    }
    h->last_ns = t;
    memcpy(h->last_collected, a->collected, sizeof h->last_collected);
}

int history_clone(struct history *dst, const struct history *src)
{
    *dst = *src;
    size_t n;
    struct series *d = all(dst, &n);
    const struct series *sr = &src->pymalloc_kib;
    /* Nothing shared with src, even if a clone below fails. */
    memset(d, 0, n * sizeof *d);
    for (size_t i = 0; i < n; i++)
        if (series_clone(&d[i], &sr[i]) < 0)
            return -ENOMEM;
    return 0;
}

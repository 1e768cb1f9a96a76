/* Derived series for the views, fed from the session's latest sample. */
#include "history.h"

#include <errno.h>
#include <string.h>

#include "derive.h"
#include "session.h"

static struct series *all(struct history *h, size_t *n)
{
    *n = 2 + PM_GENERATIONS;
    return &h->malloc_kib; /* the series are consecutive members */
}

int history_init(struct history *h, size_t cap)
{
    memset(h, 0, sizeof *h);
    struct series *list[] = {&h->malloc_kib, &h->traced_kib,
                             &h->freed_per_s[0], &h->freed_per_s[1], &h->freed_per_s[2]};
    for (size_t i = 0; i < sizeof list / sizeof list[0]; i++)
        if (series_init(list[i], cap ? cap : 600) < 0)
            return -ENOMEM;
    return 0;
}

void history_free(struct history *h)
{
    struct series *list[] = {&h->malloc_kib, &h->traced_kib,
                             &h->freed_per_s[0], &h->freed_per_s[1], &h->freed_per_s[2]};
    for (size_t i = 0; i < sizeof list / sizeof list[0]; i++)
        series_free(list[i]);
}

void history_update(struct history *h, const struct session *s)
{
    if (s->agent_samples == h->seen_samples)
        return;
    h->seen_samples = s->agent_samples;
    const struct pm_agent_sample *a = &s->agent;
    uint64_t t = a->time_ns;
    if (a->alloc.malloc_used_bytes >= 0)
        series_push(&h->malloc_kib, t, (double)a->alloc.malloc_used_bytes / 1024.0);
    if (a->tracemalloc_on && a->traced_bytes >= 0)
        series_push(&h->traced_kib, t, (double)a->traced_bytes / 1024.0);
    if (series_len(&s->collected[0]) >= 2)
        for (int g = 0; g < PM_GENERATIONS; g++)
            series_push(&h->freed_per_s[g], t, derive_freed_per_s(&s->collected[g]));
}

int history_clone(struct history *dst, const struct history *src)
{
    *dst = *src;
    size_t n;
    struct series *d = all(dst, &n);
    const struct series *sr = &src->malloc_kib;
    /* Nothing shared with src, even if a clone below fails. */
    memset(d, 0, n * sizeof *d);
    for (size_t i = 0; i < n; i++)
        if (series_clone(&d[i], &sr[i]) < 0)
            return -ENOMEM;
    return 0;
}

/* 'p': the screen freezes on a copy of the session and its derived series
 * while the live session keeps sampling; 'p' again drops the copy. */
#include "freeze.h"

#include <stdlib.h>
#include <string.h>

void freeze_release(struct dash *d)
{
    if (!d->frozen_s)
        return;
    struct session *f = d->frozen_s;
    series_free(&f->rss_kib);
    series_free(&f->anon_kib);
    series_free(&f->alloc_blocks);
    series_free(&f->observer_ns);
    free(f->diff.types);
    free(f);
    d->frozen_s = NULL;
    history_free(&d->frozen_h);
    d->ui.s = d->s;
    d->ui.h = &d->hist;
    d->ui.frozen = false;
    d->ui.events_upto = UINT64_MAX;
}

/* A deep copy of what the views read; the live session keeps sampling. */
bool freeze_take(struct dash *d, uint64_t now)
{
    struct session *f = malloc(sizeof *f);
    if (!f)
        return false;
    *f = *d->s;
    memset(&f->rss_kib, 0, sizeof f->rss_kib);
    memset(&f->anon_kib, 0, sizeof f->anon_kib);
    memset(&f->alloc_blocks, 0, sizeof f->alloc_blocks);
    memset(&f->observer_ns, 0, sizeof f->observer_ns);
    f->diff.types = NULL;
    d->frozen_s = f;
    memset(&d->frozen_h, 0, sizeof d->frozen_h);
    bool ok = history_series_clone(&f->rss_kib, &d->s->rss_kib) == 0 &&
              history_series_clone(&f->anon_kib, &d->s->anon_kib) == 0 &&
              history_series_clone(&f->alloc_blocks, &d->s->alloc_blocks) == 0 &&
              history_series_clone(&f->observer_ns, &d->s->observer_ns) == 0 &&
              history_clone(&d->frozen_h, &d->hist) == 0;
    if (ok && d->s->diff.n_types) {
        f->diff.types = malloc(d->s->diff.n_types * sizeof *f->diff.types);
        ok = f->diff.types != NULL;
        if (ok)
            memcpy(f->diff.types, d->s->diff.types, d->s->diff.n_types * sizeof *f->diff.types);
    }
    if (!ok) {
        d->ui.frozen = true; /* so unfreeze frees what was made */
        freeze_release(d);
        return false;
    }
    d->frozen_ns = d->ui.now_ns ? d->ui.now_ns : now;
    d->ui.s = f;
    d->ui.h = &d->frozen_h;
    d->ui.frozen = true;
    d->ui.events_upto = eventlog_total(d->s->events);
    return true;
}

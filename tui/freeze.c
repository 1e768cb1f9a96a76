/* 'p': the screen freezes on a deep copy of the session (session_clone) and
 * of the derived series while the live session keeps sampling; 'p' again
 * drops the copy. */
#include "freeze.h"

#include <string.h>

void freeze_release(struct dash *d)
{
    if (!d->frozen_s)
        return;
    session_clone_free(d->frozen_s);
    d->frozen_s = NULL;
    history_free(&d->frozen_h);
    d->ui.s = d->s;
    d->ui.h = &d->hist;
    d->ui.frozen = false;
    d->ui.events_upto = UINT64_MAX;
}

bool freeze_take(struct dash *d, uint64_t now)
{
    struct session *f = session_clone(d->s);
    if (!f)
        return false;
    if (history_clone(&d->frozen_h, &d->hist) < 0) {
        history_free(&d->frozen_h);
        session_clone_free(f);
        return false;
    }
    d->frozen_s = f;
    d->frozen_ns = d->ui.now_ns ? d->ui.now_ns : now;
    d->ui.s = f;
    d->ui.h = &d->frozen_h;
    d->ui.frozen = true;
    d->ui.events_upto = eventlog_total(f->events);
    return true;
}

/* Replay stepping: moving through a recording (<- -> one sample, [ ] a
 * tenth, { } the ends, . play one sample a second). */
#include "replay_step.h"

#include "replay.h"

/* Replay: moves to sample i and rebuilds everything drawn from it. The
 * derived series restart, since they only run forward. */
void replay_step_goto(struct dash *d, long long i)
{
    struct replay *r = d->o->replay;
    if (i < 0)
        i = 0;
    if ((size_t)i >= r->n)
        i = (long long)r->n - 1;
    bool back = (size_t)i < r->pos;
    if (replay_apply(r, d->s, (size_t)i) < 0) {
        ui_err(&d->ui, "replay: cannot read sample %lld of the recording", i + 1);
        return;
    }
    if (back || (size_t)i > r->pos + 1) {
        history_free(&d->hist);
        history_init(&d->hist, d->o->history ? d->o->history : 600);
    }
    ui_msg(&d->ui, "sample %lld of %zu  (<-/-> step, [ ] jump, { } first/last, . play)",
           i + 1, r->n);
}

/* Keys that move through a recording; true when the key was one of them. */
bool replay_step_key(struct dash *d, int ch, uint64_t now)
{
    struct replay *r = d->o->replay;
    long long pos = (long long)r->pos, jump = r->n / 10 > 1 ? (long long)(r->n / 10) : 1;
    switch (ch) {
    case KEY_LEFT: replay_step_goto(d, pos - 1); return true;
    case KEY_RIGHT: replay_step_goto(d, pos + 1); return true;
    case '[': replay_step_goto(d, pos - jump); return true;
    case ']': replay_step_goto(d, pos + jump); return true;
    case '{': replay_step_goto(d, 0); return true;
    case '}': replay_step_goto(d, (long long)r->n - 1); return true;
    case '.':
        d->playing = !d->playing;
        d->next_play_ns = now;
        ui_msg(&d->ui, d->playing ? "playing: one sample per second (. to pause)" : "paused");
        return true;
    default:
        return false;
    }
}


void replay_step_tick(struct dash *d, uint64_t now)
{
    struct replay *r = d->o->replay;
    if (!d->playing || now < d->next_play_ns)
        return;
    if (r->pos + 1 < r->n)
        replay_step_goto(d, (long long)r->pos + 1);
    else
        d->playing = false;
    d->next_play_ns = now + NS_PER_S;
}

/* Moving through a recording in --replay. */
#ifndef PYMEMTOP_TUI_REPLAY_STEP_H
#define PYMEMTOP_TUI_REPLAY_STEP_H

#include <stdbool.h>
#include <stdint.h>

#include "dash.h"

/* Shows sample i (clamped) and rebuilds what is drawn from it. */
void replay_step_goto(struct dash *d, long long i);
/* A stepping key: true when it was one. */
bool replay_step_key(struct dash *d, int ch, uint64_t now);
/* While playing ('.'): the next sample once a second. */
void replay_step_tick(struct dash *d, uint64_t now);

#endif

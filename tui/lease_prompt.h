/* The 't' key's prompt: how long to trace ("trace for how long?"), typed on
 * the status line; Enter takes [tracemalloc] lease, 0 traces while attached. */
#ifndef PYMEMTOP_TUI_LEASE_PROMPT_H
#define PYMEMTOP_TUI_LEASE_PROMPT_H

#include "dash.h"

void lease_prompt_open(struct dash *d);
/* A key while the prompt is open: Enter starts tracing, Esc cancels. */
void lease_prompt_key(struct dash *d, int ch);
void lease_prompt_draw(struct dash *d, WINDOW *w, int cols);

#endif

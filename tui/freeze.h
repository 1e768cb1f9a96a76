/* Freezing the screen ('p'): the views read a copy while sampling goes on. */
#ifndef PYMEMTOP_TUI_FREEZE_H
#define PYMEMTOP_TUI_FREEZE_H

#include <stdbool.h>
#include <stdint.h>

#include "dash.h"

/* Copies the session and history and points the views at the copy; false
 * (nothing changed) without memory. */
bool freeze_take(struct dash *d, uint64_t now);
/* Back to live data; frees the copy. Nothing happens when not frozen. */
void freeze_release(struct dash *d);

#endif

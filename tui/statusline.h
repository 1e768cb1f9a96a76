/* The dashboard's last line: feedback, progress, prompts and key hints. */
#ifndef PYMEMTOP_TUI_STATUSLINE_H
#define PYMEMTOP_TUI_STATUSLINE_H

#include <stdint.h>

#include "dash.h"

/* now: the frame's time, for the spinner and a running command's elapsed time. */
void statusline_draw(struct dash *d, WINDOW *w, uint64_t now);

#endif

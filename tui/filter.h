/* The type filter prompt ('/'). */
#ifndef PYMEMTOP_TUI_FILTER_H
#define PYMEMTOP_TUI_FILTER_H

#include "dash.h"

/* Opens the prompt over the Objects view, starting from the current filter. */
void filter_open(struct dash *d);
/* A key while the prompt is open: Enter keeps, Esc clears, text edits. */
void filter_key(struct dash *d, int ch);

#endif

/* The dashboard's frame around the view: header, tabs, overlays. */
#ifndef PYMEMTOP_TUI_CHROME_H
#define PYMEMTOP_TUI_CHROME_H

#include "dash.h"

void chrome_draw_header(struct dash *d, WINDOW *w);
void chrome_draw_tabs(struct dash *d, WINDOW *w);
/* Overlays over the body: every key (help), the answer to 'w' (why). */
void chrome_draw_help(struct dash *d);
void chrome_draw_why(struct dash *d);
/* Below 40x12: a notice centred on the whole screen. */
void chrome_draw_too_small(struct dash *d);

#endif
